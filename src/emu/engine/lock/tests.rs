use super::*;
use crate::os::clock::{monotonic_ns, realtime_ns};

/// A robust mutex in a shared anonymous mapping, so that a forked child can hold it.
struct SharedMutex(*mut libc::pthread_mutex_t);

// SAFETY: a process-shared pthread mutex is made to be used from several threads.
unsafe impl Sync for SharedMutex {}
// SAFETY: as above.
unsafe impl Send for SharedMutex {}

impl SharedMutex {
    fn new() -> SharedMutex {
        let size = std::mem::size_of::<libc::pthread_mutex_t>();
        // SAFETY: a fresh anonymous shared mapping, checked below.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0) };
        assert_ne!(p, libc::MAP_FAILED);
        let m = p as *mut libc::pthread_mutex_t;
        // SAFETY: fresh, zeroed, unused.
        unsafe { init(m).unwrap() };
        SharedMutex(m)
    }

    fn word(&self) -> &AtomicI32 {
        lock_word(self.0)
    }

    fn lock(&self) -> Result<Acquired> {
        // SAFETY: initialised in new; mapped until drop.
        unsafe { lock(self.0) }
    }

    fn unlock(&self) {
        // SAFETY: the caller holds it.
        unsafe { unlock(self.0) };
    }
}

impl Drop for SharedMutex {
    fn drop(&mut self) {
        // SAFETY: mapped in new, with this size.
        unsafe { libc::munmap(self.0.cast(), std::mem::size_of::<libc::pthread_mutex_t>()) };
    }
}

/// A tid no thread has now (the highest free one below PID_MAX_LIMIT).
fn free_tid() -> u32 {
    (1000..PID_MAX_LIMIT)
        .rev()
        .find(|&t| {
            // SAFETY: signal 0 only checks existence.
            unsafe { libc::kill(t as libc::pid_t, 0) != 0 && Errno::last() == Errno::ESRCH }
        })
        .unwrap()
}

/// Runs `f` with the calling thread's lock-wait set to `wait`; returns its result and the
/// milliseconds it took.
fn timed<T>(wait: LockWait, f: impl FnOnce() -> T) -> (T, u64) {
    let _scope = waits(wait);
    let start = monotonic_ns();
    let r = f();
    (r, (monotonic_ns() - start) / 1_000_000)
}

const BOUND_MS: u64 = BOUND_NS / 1_000_000;
const SLICE_MS: u64 = SLICE_NS / 1_000_000;
/// What a loaded machine may add to a wait that should end at a given instant (`make test`
/// runs beside builds and servers on 2 cores).
const SLACK_MS: u64 = 100;

#[test]
fn uncontended_lock_is_taken_at_once_whatever_the_wait() {
    let m = SharedMutex::new();
    for wait in [LockWait::Bounded, LockWait::Until(0), LockWait::AsLongAsHeld] {
        let (r, ms) = timed(wait, || m.lock());
        assert_eq!(r, Ok(Acquired::Clean));
        assert!(ms < 5, "{wait:?}: {ms} ms");
        m.unlock();
    }
}

#[test]
fn a_fake_owner_tid_is_eio_within_two_slices_even_for_a_blocking_call() {
    let tid = free_tid();
    for wait in [LockWait::Bounded, LockWait::Until(realtime_ns() + 10 * BOUND_NS), LockWait::AsLongAsHeld] {
        let m = SharedMutex::new();
        m.word().store(tid as i32, Ordering::Relaxed);
        let (r, ms) = timed(wait, || m.lock());
        assert_eq!(r, Err(Errno::EIO), "{wait:?}");
        assert!(ms <= 2 * SLICE_MS + SLACK_MS, "{wait:?}: {ms} ms");
    }
}

#[test]
fn lock_words_glibc_never_writes_are_eio_within_two_slices() {
    // A tid above PID_MAX_LIMIT, all tid bits, and FUTEX_WAITERS with no owner.
    for word in [(PID_MAX_LIMIT + 1) as i32, TID_MASK as i32, i32::MIN] {
        let m = SharedMutex::new();
        m.word().store(word, Ordering::Relaxed);
        let (r, ms) = timed(LockWait::AsLongAsHeld, || m.lock());
        assert_eq!(r, Err(Errno::EIO), "{word:#x}");
        assert!(ms <= 2 * SLICE_MS + SLACK_MS, "{word:#x}: {ms} ms");
    }
}

#[test]
fn possible_owners_are_not_taken_for_corruption() {
    assert!(!owner_is_impossible(0));
    assert!(!owner_is_impossible(OWNER_DIED as i32));
    // SAFETY: gettid cannot fail.
    let me = unsafe { libc::gettid() };
    assert!(!owner_is_impossible(me));
    // A thread that is not its process's first is found too.
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        // SAFETY: gettid cannot fail.
        tx.send(unsafe { libc::gettid() }).unwrap();
        done_rx.recv().unwrap();
    });
    let other = rx.recv().unwrap();
    assert!(!owner_is_impossible(other | 0x8000_0000u32 as i32));
    done_tx.send(()).unwrap();
    t.join().unwrap();
}

/// A child process that takes `m` and stops itself (SIGSTOP) holding it; returned once it is
/// stopped.
fn stopped_holder(m: &SharedMutex) -> libc::pid_t {
    // SAFETY: the child only locks, stops and exits (async-signal-safe enough for a test: no
    // allocation, no locks of this process).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: in the child; the mutex is shared and initialised.
        unsafe {
            libc::pthread_mutex_lock(m.0);
            libc::raise(libc::SIGSTOP);
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) }, pid);
    assert!(libc::WIFSTOPPED(status));
    pid
}

fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: our child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

#[test]
fn a_stopped_holder_bounds_every_wait_but_a_blocking_one() {
    let m = SharedMutex::new();
    let holder = stopped_holder(&m);

    let (r, ms) = timed(LockWait::Bounded, || m.lock());
    assert_eq!(r, Err(Errno::EAGAIN));
    assert!((BOUND_MS..=BOUND_MS + SLACK_MS).contains(&ms), "bounded: {ms} ms");

    let deadline_ms = 50;
    let (r, ms) = timed(LockWait::Until(realtime_ns() + deadline_ms * 1_000_000), || m.lock());
    assert_eq!(r, Err(Errno::ETIMEDOUT));
    assert!((deadline_ms + BOUND_MS..=deadline_ms + BOUND_MS + SLACK_MS).contains(&ms), "timed: {ms} ms");

    // A deadline already past: the bound alone.
    let (r, ms) = timed(LockWait::Until(realtime_ns() - 1_000_000_000), || m.lock());
    assert_eq!(r, Err(Errno::ETIMEDOUT));
    assert!((BOUND_MS..=BOUND_MS + SLACK_MS).contains(&ms), "past deadline: {ms} ms");

    // A blocking locker waits for the live holder: still waiting when the holder is killed
    // 100 ms later, then gets the lock from the dead owner — only after the kill (compared as
    // instants: the thread's own start may lag the spawn on a loaded machine).
    let m = std::sync::Arc::new(m);
    let blocked = {
        let m = m.clone();
        std::thread::spawn(move || {
            let _scope = waits(LockWait::AsLongAsHeld);
            let r = m.lock();
            (r, monotonic_ns())
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!blocked.is_finished());
    let killed_at = monotonic_ns();
    kill_and_reap(holder);
    let (r, acquired_at) = blocked.join().unwrap();
    assert_eq!(r, Ok(Acquired::OwnerDied));
    assert!(acquired_at >= killed_at, "blocking: the lock was taken {} ns before the holder was killed", killed_at - acquired_at);
}

#[test]
fn a_holder_that_lets_go_in_time_is_waited_for() {
    let m = std::sync::Arc::new(SharedMutex::new());
    assert_eq!(m.lock(), Ok(Acquired::Clean));
    let waiter = {
        let m = m.clone();
        std::thread::spawn(move || {
            let r = timed(LockWait::Until(realtime_ns() + 1_000_000_000), || m.lock());
            m.unlock();
            r
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(3 * SLICE_MS));
    m.unlock();
    let (r, ms) = waiter.join().unwrap();
    assert_eq!(r, Ok(Acquired::Clean));
    assert!(ms < 1000, "{ms} ms");
}

#[test]
fn the_wait_comes_back_when_its_scope_ends() {
    let read = || LOCK_WAIT.with(|w| w.get());
    assert_eq!(read(), LockWait::Bounded);
    {
        let _outer = waits(LockWait::AsLongAsHeld);
        {
            let _inner = waits(LockWait::Until(7));
            assert_eq!(read(), LockWait::Until(7));
        }
        assert_eq!(read(), LockWait::AsLongAsHeld);
    }
    assert_eq!(read(), LockWait::Bounded);
}

#[test]
fn other_waits_on_processes_take_their_limit_from_the_lock_wait() {
    assert_eq!(wait_left_ns(LockWait::Bounded, u64::MAX), BOUND_NS);
    assert_eq!(wait_left_ns(LockWait::Bounded, 1), 1);
    assert_eq!(wait_left_ns(LockWait::AsLongAsHeld, 500), 500);
    assert_eq!(wait_left_ns(LockWait::Until(realtime_ns() - 1), u64::MAX), BOUND_NS);
}

#[test]
fn a_running_holder_is_waited_for_past_the_bound() {
    // A holder that runs (as a preempted one does once it gets a CPU back) lets go soon: a
    // bounded locker waits for it rather than failing at the bound.
    // The holder lets go 3 bounds after the locker has started (not after it took the lock:
    // on a loaded machine the locker may start late), so the locker meets the bound.
    let m = std::sync::Arc::new(SharedMutex::new());
    let locker_started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let holder = {
        let (m, locker_started) = (m.clone(), locker_started.clone());
        std::thread::spawn(move || {
            assert_eq!(m.lock(), Ok(Acquired::Clean));
            held_tx.send(()).unwrap();
            while !locker_started.load(std::sync::atomic::Ordering::Acquire) {
                std::hint::spin_loop();
            }
            let until = monotonic_ns() + 3 * BOUND_NS;
            while monotonic_ns() < until {
                std::hint::spin_loop();
            }
            m.unlock();
        })
    };
    held_rx.recv().unwrap();
    let (r, ms) = timed(LockWait::Bounded, || {
        locker_started.store(true, std::sync::atomic::Ordering::Release);
        m.lock()
    });
    assert_eq!(r, Ok(Acquired::Clean), "after {ms} ms");
    assert!(ms >= 2 * BOUND_MS, "{ms} ms");
    m.unlock();
    holder.join().unwrap();
}

#[test]
fn a_mutex_whose_type_another_process_changed_is_eio_not_an_abort() {
    // The fuzzer's find: glibc took a robust mutex whose type word was garbled to "priority
    // protected" down its priority-ceiling path and asserted (SIGABRT) in the locker.
    let m = SharedMutex::new();
    let kind = kind_word(m.0);
    let sound = kind.load(Ordering::Relaxed);
    const PTHREAD_MUTEX_PRIO_PROTECT_NP: i32 = 64;
    for garbled in [sound | PTHREAD_MUTEX_PRIO_PROTECT_NP | (0x7fff << 19), sound | 32, 3, -1] {
        kind.store(garbled, Ordering::Relaxed);
        assert_eq!(m.lock(), Err(Errno::EIO), "type {garbled:#x}");
        // SAFETY: initialised and mapped.
        assert_eq!(unsafe { probe(m.0) }, Liveness::Alive);
    }
    // Put back, it works again; garbled while held, it is unlocked as the mutex it was.
    kind.store(sound, Ordering::Relaxed);
    assert_eq!(m.lock(), Ok(Acquired::Clean));
    kind.store(sound | PTHREAD_MUTEX_PRIO_PROTECT_NP, Ordering::Relaxed);
    m.unlock();
    assert_eq!(m.word().load(Ordering::Relaxed), 0);
    assert_eq!(m.lock(), Ok(Acquired::Clean));
    m.unlock();
}
