//! What the emulation's in-process tests share: a small deterministic random generator, so a
//! failing seeded sequence can be replayed.

/// xorshift64: deterministic per seed (never 0).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A `T` in a shared anonymous mapping of its own, all zeroes at first, so that a forked child
/// can use it too (the lock tests' locks); unmapped on drop.
pub struct SharedMapping<T>(*const T);

// SAFETY: the tests put in it only types made to be used from several threads and processes
// (locks: atomics only).
unsafe impl<T> Sync for SharedMapping<T> {}
// SAFETY: as above.
unsafe impl<T> Send for SharedMapping<T> {}

impl<T> SharedMapping<T> {
    pub fn zeroed() -> SharedMapping<T> {
        // SAFETY: a fresh anonymous shared mapping, checked below; the kernel zeroes it.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), std::mem::size_of::<T>(), libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0)
        };
        assert_ne!(p, libc::MAP_FAILED);
        SharedMapping(p as *const T)
    }

    pub fn as_ptr(&self) -> *const T {
        self.0
    }
}

impl<T> std::ops::Deref for SharedMapping<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: mapped, page-aligned, until drop; the tests use it only as types whose all-zero
        // value is valid.
        unsafe { &*self.0 }
    }
}

impl<T> Drop for SharedMapping<T> {
    fn drop(&mut self) {
        // SAFETY: mapped in new with this size, no longer used.
        unsafe { libc::munmap(self.0.cast_mut().cast(), std::mem::size_of::<T>()) };
    }
}

/// The pid of a process that has ended and been reaped (a tid no thread has, for now).
pub fn gone_pid() -> i32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    child.wait().unwrap();
    pid
}

/// A forked child process stopped (SIGSTOP) where the test wants it: the holder of a lock, a
/// writer in the middle of a write. Killed and reaped on drop, so that a failing test leaves no
/// stopped process behind.
pub struct StoppedChild(libc::pid_t);

impl StoppedChild {
    /// Forks a child that runs `before_stop`, then stops itself; returned once it is stopped.
    ///
    /// # Safety
    /// `before_stop` runs in a child forked from a process that may have other threads: it may
    /// only do what is safe there (atomics and system calls; no allocation, no lock another
    /// thread of this process may hold).
    pub unsafe fn start(before_stop: impl FnOnce()) -> StoppedChild {
        // SAFETY: the child runs only `before_stop` (per the caller) and plain system calls.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            before_stop();
            // SAFETY: plain system calls; the child ends without running the parent's exit
            // handlers.
            unsafe {
                libc::raise(libc::SIGSTOP);
                libc::_exit(0);
            }
        }
        let mut status = 0;
        // SAFETY: our child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) }, pid);
        assert!(libc::WIFSTOPPED(status));
        StoppedChild(pid)
    }

    /// Its pid (its only thread's tid).
    pub fn pid(&self) -> libc::pid_t {
        self.0
    }
}

impl Drop for StoppedChild {
    fn drop(&mut self) {
        // SAFETY: our child, killed and reaped once.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, std::ptr::null_mut(), 0);
        }
    }
}
