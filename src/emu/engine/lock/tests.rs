use super::*;
use crate::emu::engine::testing::{SharedMapping, StoppedChild};
use crate::os::clock::{monotonic_ns, realtime_ns};

/// A robust mutex in a shared anonymous mapping, so that a forked child can hold it.
struct SharedMutex(SharedMapping<RobustMutex>);

impl SharedMutex {
    fn new() -> SharedMutex {
        let m = SharedMapping::<RobustMutex>::zeroed();
        // SAFETY: fresh, zeroed, unused.
        unsafe { init(m.as_ptr()).unwrap() };
        SharedMutex(m)
    }

    fn word(&self) -> &AtomicU32 {
        lock_word(self.0.as_ptr())
    }

    fn lock(&self) -> Result<Acquired> {
        // SAFETY: initialised in new; mapped until drop.
        unsafe { lock(self.0.as_ptr()) }
    }

    fn unlock(&self) {
        // SAFETY: the caller holds it.
        unsafe { unlock(self.0.as_ptr()) };
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

/// The quickest of a few takes is timed: a thread the machine preempted for a while (the unit
/// stress runs beside a CPU hog per core; one take there took 20 ms) is not a wait, and a lock
/// that waited its bound would wait it every time.
#[test]
fn uncontended_lock_is_taken_at_once_whatever_the_wait() {
    let m = SharedMutex::new();
    for wait in [LockWait::Bounded, LockWait::Until(0), LockWait::AsLongAsHeld] {
        let quickest = (0..5)
            .map(|_| {
                let (r, ms) = timed(wait, || m.lock());
                assert_eq!(r, Ok(Acquired::Clean));
                m.unlock();
                ms
            })
            .min()
            .unwrap();
        assert!(quickest < 5, "{wait:?}: {quickest} ms");
    }
}

#[test]
fn a_fake_owner_tid_is_eio_within_two_slices_even_for_a_blocking_call() {
    let tid = free_tid();
    for wait in [LockWait::Bounded, LockWait::Until(realtime_ns() + 10 * BOUND_NS), LockWait::AsLongAsHeld] {
        let m = SharedMutex::new();
        m.word().store(tid, Ordering::Relaxed);
        let (r, ms) = timed(wait, || m.lock());
        assert_eq!(r, Err(Errno::EIO), "{wait:?}");
        assert!(ms <= 2 * SLICE_MS + SLACK_MS, "{wait:?}: {ms} ms");
    }
}

#[test]
fn a_word_naming_the_locker_itself_is_eio_within_a_slice_even_for_a_blocking_call() {
    // Another process wrote the locker's own tid (a stale value put back, say): waiting for
    // the holder to let go would be waiting for itself.
    let m = SharedMutex::new();
    m.word().store(crate::os::ids::tid() as u32 | WAITERS, Ordering::Relaxed);
    let (r, ms) = timed(LockWait::AsLongAsHeld, || m.lock());
    assert_eq!(r, Err(Errno::EIO));
    assert!(ms <= SLICE_MS + SLACK_MS, "{ms} ms");
}

#[test]
fn lock_words_naming_impossible_tids_are_eio_within_two_slices() {
    // A tid above PID_MAX_LIMIT, and all tid bits.
    for word in [PID_MAX_LIMIT + 1, TID_MASK, TID_MASK | WAITERS] {
        let m = SharedMutex::new();
        m.word().store(word, Ordering::Relaxed);
        let (r, ms) = timed(LockWait::AsLongAsHeld, || m.lock());
        assert_eq!(r, Err(Errno::EIO), "{word:#x}");
        assert!(ms <= 2 * SLICE_MS + SLACK_MS, "{word:#x}: {ms} ms");
    }
}

#[test]
fn possible_owners_are_not_taken_for_corruption() {
    for nobody in [0, OWNER_DIED, WAITERS, WAITERS | OWNER_DIED] {
        assert!(!owner_is_impossible(nobody));
    }
    // SAFETY: gettid cannot fail.
    let me = unsafe { libc::gettid() } as u32;
    assert!(!owner_is_impossible(me));
    // A thread that is not its process's first is found too.
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        // SAFETY: gettid cannot fail.
        tx.send(unsafe { libc::gettid() } as u32).unwrap();
        done_rx.recv().unwrap();
    });
    let other = rx.recv().unwrap();
    assert!(!owner_is_impossible(other | WAITERS));
    done_tx.send(()).unwrap();
    t.join().unwrap();
}

/// A child process, killed and reaped when this is dropped (so that a failing test leaves no
/// stopped process behind).
struct Child(libc::pid_t);

impl Drop for Child {
    fn drop(&mut self) {
        kill_and_reap(self.0);
    }
}

/// A child process that takes `m` and stops itself (SIGSTOP) holding it; returned once it is
/// stopped.
fn stopped_holder(m: &SharedMutex) -> StoppedChild {
    // SAFETY: the child only locks (atomics and system calls on the shared mapping).
    unsafe {
        StoppedChild::start(|| {
            // SAFETY: the mutex is shared and initialised.
            let _ = lock(m.0.as_ptr());
        })
    }
}

fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: our child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// Microseconds, the quickest of three tries of `f` with the lock-wait `wait` (a loaded machine
/// may delay any one of them), each of which must fail with `want`.
fn quickest_failure_us(wait: impl Fn() -> LockWait, want: Errno, f: impl Fn() -> Result<Acquired>) -> u64 {
    (0..3)
        .map(|_| {
            let _scope = waits(wait());
            let start = monotonic_ns();
            assert_eq!(f(), Err(want), "{:?}", wait());
            (monotonic_ns() - start) / 1_000
        })
        .min()
        .unwrap()
}

/// A call that may give up gives up on a stopped holder (SIGSTOP, a debugger) as soon as it has
/// found it stopped at two looks, the first `FIRST_LOOK_NS` into the wait and the second
/// `SECOND_LOOK_NS` later, without waiting out its bound: such a holder lets go of nothing until
/// someone continues it. A timed call still fails only at its deadline.
#[test]
fn a_stopped_holder_bounds_every_wait_but_a_blocking_one() {
    let m = SharedMutex::new();
    let holder = stopped_holder(&m);
    let looks_us = (FIRST_LOOK_NS + SECOND_LOOK_NS) / 1_000;
    // Half the bound, which the code before waited out (the brief wait: 3 ms), and which a
    // loaded machine's delays may approach (the unit stress runs beside a CPU hog per core).
    let soon_us = BOUND_NS / 2_000;

    for (what, wait) in [("bounded", LockWait::Bounded), ("brief", LockWait::Brief)] {
        let us = quickest_failure_us(|| wait, Errno::EAGAIN, || m.lock());
        assert!((looks_us..soon_us).contains(&us), "{what}: {us} us");
    }

    let deadline_us = 50_000;
    let us = quickest_failure_us(|| LockWait::Until(realtime_ns() + deadline_us * 1_000), Errno::ETIMEDOUT, || m.lock());
    assert!((deadline_us..deadline_us + soon_us).contains(&us), "timed: {us} us");

    // A deadline already past: the two looks alone.
    let us = quickest_failure_us(|| LockWait::Until(realtime_ns() - 1_000_000_000), Errno::ETIMEDOUT, || m.lock());
    assert!((looks_us..soon_us).contains(&us), "past deadline: {us} us");

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
    drop(holder);
    let (r, acquired_at) = blocked.join().unwrap();
    assert_eq!(r, Ok(Acquired::OwnerDied));
    assert!(acquired_at >= killed_at, "blocking: the lock was taken {} ns before the holder was killed", killed_at - acquired_at);
}

/// A holder asleep, not stopped (here in `nanosleep`; in earnest in a page fault or a file
/// operation, from which it goes on by itself), is not given up on before the bound.
#[test]
fn a_holder_asleep_but_not_stopped_is_waited_for_the_bound() {
    let m = SharedMutex::new();
    let mut ready = [0; 2];
    // SAFETY: two descriptors written into `ready`.
    assert_eq!(unsafe { libc::pipe(ready.as_mut_ptr()) }, 0);
    // SAFETY: the child only locks, writes a byte, sleeps and exits (no allocation, no locks
    // of this process).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: in the child; the mutex is shared and initialised; a valid buffer.
        unsafe {
            let _ = lock(m.0.as_ptr());
            libc::write(ready[1], b"x".as_ptr().cast(), 1);
            libc::sleep(60);
            libc::_exit(0);
        }
    }
    let _holder = Child(pid);
    let mut byte = 0u8;
    // SAFETY: reads one byte into `byte`; then closes our two descriptors.
    unsafe {
        assert_eq!(libc::read(ready[0], (&mut byte as *mut u8).cast(), 1), 1);
        libc::close(ready[0]);
        libc::close(ready[1]);
    }
    let (r, ms) = timed(LockWait::Bounded, || m.lock());
    assert_eq!(r, Err(Errno::EAGAIN));
    assert!((BOUND_MS..=BOUND_MS + SLACK_MS).contains(&ms), "bounded: {ms} ms");
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// A blocking call's wait for a stopped holder ends, as the kernel's blocked caller would fail:
/// with EIDRM once its queue's `removed` word is set, with EAGAIN (to look again at its
/// permission) once its `changed` word moves, and with EINTR once a signal handler
/// runs — for an `mq_*` call only one installed without SA_RESTART (the kernel restarts it
/// after one installed with it, and the wait goes on), for `msgsnd`/`msgrcv` any.
#[test]
fn a_blocking_wait_ends_on_removal_or_an_interrupting_handler() {
    let m = std::sync::Arc::new(SharedMutex::new());
    let _holder = stopped_holder(&m);
    let removed = std::sync::Arc::new(AtomicU32::new(0));
    let waiter = |removed: std::sync::Arc<AtomicU32>, restart: super::super::futex::Restart| {
        let (m, tid) = (m.clone(), std::sync::Arc::new(AtomicU32::new(0)));
        let t = tid.clone();
        let thread = std::thread::spawn(move || {
            t.store(crate::os::ids::tid() as u32, Ordering::Release);
            let _scope = waits(LockWait::Blocking(BlockingWait { removed: &*removed, changed: std::ptr::null(), restart }));
            m.lock()
        });
        while tid.load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        (thread, tid.load(Ordering::Acquire) as i32)
    };
    let finishes_within = |thread: &std::thread::JoinHandle<Result<Acquired>>, ms: u64| {
        let until = monotonic_ns() + ms * 1_000_000;
        while !thread.is_finished() && monotonic_ns() < until {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        thread.is_finished()
    };

    let (thread, _) = waiter(removed.clone(), super::super::futex::Restart::Never);
    std::thread::sleep(std::time::Duration::from_millis(30));
    assert!(!thread.is_finished(), "a blocking call waits for a stopped holder");
    removed.store(1, Ordering::Release);
    assert!(finishes_within(&thread, SLICE_MS + SLACK_MS), "ended within a slice of the removal");
    assert_eq!(thread.join().unwrap(), Err(Errno::EIDRM));

    // The permissions changed (the word `changed` moved): EAGAIN, to look again.
    let changed = std::sync::Arc::new(AtomicU32::new(4));
    let thread = {
        let (m, changed) = (m.clone(), changed.clone());
        std::thread::spawn(move || {
            let _scope =
                waits(LockWait::Blocking(BlockingWait { removed: std::ptr::null(), changed: &*changed, restart: super::super::futex::Restart::Never }));
            m.lock()
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(30));
    assert!(!thread.is_finished(), "a blocking call waits while nothing changes");
    changed.store(6, Ordering::Release);
    assert!(finishes_within(&thread, SLICE_MS + SLACK_MS), "ended within a slice of the change");
    assert_eq!(thread.join().unwrap(), Err(Errno::EAGAIN));

    // SIGURG: ignored by default, sent to nobody else by these tests.
    use super::super::futex::Restart;
    for (restart, flags, interrupts) in
        [(Restart::LikeMqueue, libc::SA_RESTART, false), (Restart::LikeMqueue, 0, true), (Restart::Never, libc::SA_RESTART, true)]
    {
        // SAFETY: a handler that does nothing, for a signal these tests use alone.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = flags;
            libc::sigaction(libc::SIGURG, &sa, std::ptr::null_mut());
        }
        let stop = std::sync::Arc::new(AtomicU32::new(0));
        let (thread, tid) = waiter(stop.clone(), restart);
        // Signalled while it sleeps for the lock (again, should one land before it does).
        let mut ended = false;
        for _ in 0..5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            // SAFETY: signals a thread of this process.
            unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGURG) };
            if finishes_within(&thread, 20) {
                ended = true;
                break;
            }
        }
        if !ended {
            // Let it go (the holder stays stopped until the test ends).
            stop.store(1, Ordering::Release);
        }
        let r = thread.join().unwrap();
        assert_eq!(ended, interrupts, "{restart:?}, sa_flags {flags:#x}: the wait ended ({r:?})");
        assert_eq!(r, Err(if interrupts { Errno::EINTR } else { Errno::EIDRM }), "{restart:?}, sa_flags {flags:#x}");
    }
    // SAFETY: back to the default disposition.
    unsafe { libc::signal(libc::SIGURG, libc::SIG_DFL) };
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
    assert_eq!(wait_left_ns(LockWait::Brief, u64::MAX), BRIEF_NS);
    assert_eq!(wait_left_ns(LockWait::AsLongAsHeld, 500), 500);
    assert_eq!(wait_left_ns(LockWait::Until(realtime_ns() - 1), u64::MAX), BOUND_NS);
}

#[test]
fn a_running_holder_is_waited_for_past_the_bound() {
    for brief in [false, true] {
        a_running_holder_is_waited_for_past_the_bound_when(brief);
    }
}

fn a_running_holder_is_waited_for_past_the_bound_when(brief: bool) {
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
    let cpu_before = thread_cpu_ns();
    // Under the brief wait too: it gives up on stopped holders only.
    let (r, ms) = timed(if brief { LockWait::Brief } else { LockWait::Bounded }, || {
        locker_started.store(true, std::sync::atomic::Ordering::Release);
        m.lock()
    });
    let cpu_ms = (thread_cpu_ns() - cpu_before) / 1_000_000;
    assert_eq!(r, Ok(Acquired::Clean), "after {ms} ms");
    assert!(ms >= 2 * BOUND_MS, "{ms} ms");
    // Waited for asleep, looking at the holder between slices, not spinning on its state: on a
    // busy machine the holder needs the CPU a spinning locker would take.
    assert!(cpu_ms * 4 < ms, "{cpu_ms} ms of CPU in {ms} ms");
    m.unlock();
    holder.join().unwrap();
}

/// The CPU time the calling thread has used, in ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec to fill; CLOCK_THREAD_CPUTIME_ID always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[test]
fn a_word_naming_no_owner_is_taken_whatever_its_other_bits() {
    // FUTEX_WAITERS alone (no unlock leaves it) is taken like a free word; OWNER_DIED, with or
    // without it, as a dead owner's.
    for (word, how) in [(WAITERS, Acquired::Clean), (OWNER_DIED, Acquired::OwnerDied), (WAITERS | OWNER_DIED, Acquired::OwnerDied)] {
        let m = SharedMutex::new();
        m.word().store(word, Ordering::Relaxed);
        assert_eq!(m.lock(), Ok(how), "{word:#x}");
        m.unlock();
        assert_eq!(m.word().load(Ordering::Relaxed), 0);
    }
}

/// A child process that takes `m` and dies holding it (killed while stopped, or exiting).
fn dead_holder(m: &SharedMutex, how: &str) {
    // SAFETY: the child only locks, then stops or exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: in the child; the mutex is shared and initialised.
        unsafe {
            let _ = lock(m.0.as_ptr());
            if how == "killed" {
                libc::raise(libc::SIGSTOP);
            }
            libc::_exit(0);
        }
    }
    let mut status = 0;
    if how == "killed" {
        // SAFETY: our child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) }, pid);
        kill_and_reap(pid);
    } else {
        // SAFETY: our child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    }
}

#[test]
fn a_holder_that_dies_passes_the_lock_on_as_owner_died() {
    for how in ["killed", "exited"] {
        let m = SharedMutex::new();
        dead_holder(&m, how);
        assert_eq!(m.word().load(Ordering::Relaxed) & (TID_MASK | OWNER_DIED), OWNER_DIED, "{how}");
        assert_eq!(m.lock(), Ok(Acquired::OwnerDied), "{how}");
        m.unlock();
        assert_eq!(m.lock(), Ok(Acquired::Clean), "{how}");
        m.unlock();
    }
}

#[test]
fn a_thread_that_dies_holding_locks_nested_and_released_out_of_order_passes_the_rest_on() {
    // Taken a, b, c, d; b released (from the middle of the list), then the thread dies: the
    // kernel finds a, c and d on its list, not b, which another thread holds by then.
    let locks: Vec<SharedMutex> = (0..4).map(|_| SharedMutex::new()).collect();
    let locks = std::sync::Arc::new(locks);
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let dying = {
        let locks = locks.clone();
        std::thread::spawn(move || {
            for m in locks.iter() {
                assert_eq!(m.lock(), Ok(Acquired::Clean));
            }
            locks[1].unlock();
            assert_eq!(robust_list::held_count(), 3);
            tx.send(()).unwrap();
            go_rx.recv().unwrap();
            // The thread ends holding a, c and d.
        })
    };
    rx.recv().unwrap();
    assert_eq!(locks[1].lock(), Ok(Acquired::Clean));
    go_tx.send(()).unwrap();
    dying.join().unwrap();
    for (i, how) in [(0, Acquired::OwnerDied), (2, Acquired::OwnerDied), (3, Acquired::OwnerDied)] {
        assert_eq!(locks[i].lock(), Ok(how), "lock {i}");
        locks[i].unlock();
    }
    locks[1].unlock();
    assert_eq!(robust_list::held_count(), 0);
}

#[test]
fn garbled_links_of_held_locks_are_never_followed() {
    // Another process may write anything into a lock's memory while this thread holds it: the
    // links glibc's mutexes kept there were followed when unlocking (a write through a wild
    // pointer). Here every byte but the lock word is garbage, at every step.
    let locks: Vec<SharedMutex> = (0..3).map(|_| SharedMutex::new()).collect();
    let garble = |m: &SharedMutex| {
        // SAFETY: the mapping is ours and live; everything after the word, as a hostile writer
        // would.
        unsafe { std::ptr::write_bytes((m.0.as_ptr() as *mut u8).add(4), 0xa5, std::mem::size_of::<RobustMutex>() - 4) };
    };
    for _ in 0..3 {
        for m in &locks {
            assert_eq!(m.lock(), Ok(Acquired::Clean));
            garble(m);
        }
        // Released out of order: the middle one first.
        for i in [1, 0, 2] {
            garble(&locks[i]);
            locks[i].unlock();
        }
    }
    // The thread's list is intact: a glibc robust mutex still works on it, and so do these.
    // SAFETY: a local robust mutex, initialised, locked, unlocked and destroyed here.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        libc::pthread_mutexattr_init(attr.as_mut_ptr());
        libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST);
        let mut g = std::mem::MaybeUninit::<libc::pthread_mutex_t>::zeroed();
        assert_eq!(libc::pthread_mutex_init(g.as_mut_ptr(), attr.as_ptr()), 0);
        assert_eq!(locks[0].lock(), Ok(Acquired::Clean));
        assert_eq!(libc::pthread_mutex_lock(g.as_mut_ptr()), 0);
        assert_eq!(locks[1].lock(), Ok(Acquired::Clean));
        garble(&locks[0]);
        garble(&locks[1]);
        locks[1].unlock();
        assert_eq!(libc::pthread_mutex_unlock(g.as_mut_ptr()), 0);
        locks[0].unlock();
        libc::pthread_mutex_destroy(g.as_mut_ptr());
        libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
    }
    assert_eq!(robust_list::held_count(), 0);
}

#[test]
fn a_forked_child_starts_with_an_empty_list() {
    let m = SharedMutex::new();
    let other = SharedMutex::new();
    assert_eq!(m.lock(), Ok(Acquired::Clean));
    // SAFETY: the child only uses the lock functions (no allocation) and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let fresh = robust_list::held_count() == 0;
        let ok = fresh && other.lock() == Ok(Acquired::Clean) && robust_list::held_count() == 1;
        // SAFETY: in the child.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    // The child died holding `other`: passed on.
    assert_eq!(other.lock(), Ok(Acquired::OwnerDied));
    other.unlock();
    m.unlock();
}

#[test]
fn a_holder_waiting_for_another_lock_is_waited_for_past_the_bound() {
    // A holder asleep waiting for a second lock (as a fold holds the queue lock and waits for a
    // side of the ring) is not stopped: it goes on as soon as that lock is free. A bounded
    // locker of the first lock waits for it rather than failing at the bound.
    let (first, second) = (std::sync::Arc::new(SharedMutex::new()), std::sync::Arc::new(SharedMutex::new()));
    let (second_held_tx, second_held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let other = {
        let second = second.clone();
        std::thread::spawn(move || {
            assert_eq!(second.lock(), Ok(Acquired::Clean));
            second_held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            second.unlock();
        })
    };
    second_held_rx.recv().unwrap();
    let (first_held_tx, first_held_rx) = std::sync::mpsc::channel();
    let holder = {
        let (first, second) = (first.clone(), second.clone());
        std::thread::spawn(move || {
            assert_eq!(first.lock(), Ok(Acquired::Clean));
            first_held_tx.send(()).unwrap();
            let _wait = waits(LockWait::AsLongAsHeld);
            assert_eq!(second.lock(), Ok(Acquired::Clean));
            second.unlock();
            first.unlock();
        })
    };
    first_held_rx.recv().unwrap();
    // The holder is asleep on the second lock once it has marked it as waited for.
    while second.word().load(Ordering::Acquire) & WAITERS == 0 {
        std::thread::yield_now();
    }
    // The second lock is let go 3 bounds after the locker has started.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_nanos(3 * BOUND_NS));
        release_tx.send(()).unwrap();
    });
    let (r, ms) = timed(LockWait::Bounded, || first.lock());
    assert_eq!(r, Ok(Acquired::Clean), "after {ms} ms");
    assert!(ms >= 2 * BOUND_MS, "{ms} ms");
    first.unlock();
    for t in [other, holder, releaser] {
        t.join().unwrap();
    }
}
