use super::*;
use crate::emu::engine::testing::{gone_pid, SharedMapping};
use std::sync::Barrier;

/// A lock in a shared anonymous mapping, so that a forked child can hold it.
type Shared = SharedMapping<TakeoverLock>;

/// A tid no thread has, as a lock word.
fn gone_tid() -> u32 {
    gone_pid() as u32
}

#[test]
fn a_free_lock_or_one_whose_word_names_no_thread_is_taken_at_once() {
    let l = Shared::zeroed();
    assert_eq!(l.lock(), Ok(Took::Free));
    assert!(l.holds());
    l.unlock();
    assert_eq!(l.word.load(Ordering::Relaxed), 0);
    assert!(!l.holds());
    for garbage in [gone_tid(), gone_tid() | WAITERS, 0x3fff_fff0] {
        l.word.store(garbage, Ordering::Relaxed);
        let start = monotonic_ns();
        assert_eq!(l.lock(), Ok(Took::FromGone), "{garbage:#x}");
        assert!(monotonic_ns() - start < BOUND_NS, "taken without waiting out the bound");
        assert!(l.holds());
        l.unlock();
        assert!(l.try_lock(), "{garbage:#x}");
        l.unlock();
    }
}

/// A holder stopped in its section loses the lock once found stopped at two looks, well before
/// the bound (which the code before waited out); continued, it sees that it no longer holds
/// it, and its unlock leaves the lock to the one that took it. Three rounds: the quickest
/// take-over is timed (a loaded machine may delay any one).
#[test]
fn a_stopped_holder_loses_the_lock_once_found_stopped_and_knows_it() {
    let looks = crate::emu::engine::lock::FIRST_LOOK_NS + crate::emu::engine::lock::SECOND_LOOK_NS;
    let quickest = (0..3).map(|_| a_stopped_holder_loses_the_lock_after(looks)).min().unwrap();
    assert!(quickest < BOUND_NS, "taken over {quickest} ns after the first try, at the quickest");
}

/// One round of the test above: how long the take-over took.
fn a_stopped_holder_loses_the_lock_after(looks: u64) -> u64 {
    let l = Shared::zeroed();
    // SAFETY: the child only takes the lock, stops, looks and unlocks (atomics and system
    // calls: no allocation, no lock of this process), then exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let took = l.lock();
        // SAFETY: plain system calls in the child.
        unsafe { libc::raise(libc::SIGSTOP) };
        let held_after = l.holds();
        l.unlock();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe {
            libc::_exit(if took != Ok(Took::Free) {
                3
            } else if held_after {
                1
            } else {
                0
            })
        };
    }
    let mut status = 0;
    // SAFETY: our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) }, pid);
    assert!(libc::WIFSTOPPED(status));
    let taken_early = l.try_lock();
    let start = monotonic_ns();
    let took = l.lock();
    let waited = monotonic_ns() - start;
    // SAFETY: our child, continued and reaped (before any assertion, so that a failing test
    // leaves no stopped process behind).
    unsafe {
        libc::kill(pid, libc::SIGCONT);
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
    }
    assert!(!taken_early, "a live holder's lock is not taken without waiting");
    assert_eq!(took, Ok(Took::FromStopped));
    assert!(waited >= looks, "taken over only after two looks found the holder stopped: {waited} ns");
    assert!(libc::WIFEXITED(status));
    assert_eq!(libc::WEXITSTATUS(status), 0, "the holder, continued, knows it lost the lock (1: it thought it held it)");
    assert!(l.holds(), "the overtaken holder's unlock left the lock to its new holder");
    l.unlock();
    waited
}

/// A holder that is not stopped (here asleep) may be inside its one change: it is not taken
/// over, and a locker fails with EAGAIN past the bound and the longer wait for a live holder.
#[test]
fn a_holder_that_is_not_stopped_is_not_taken_over() {
    let l = Shared::zeroed();
    let (held, release) = (Barrier::new(2), Barrier::new(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(l.lock(), Ok(Took::Free));
            held.wait();
            release.wait();
            assert!(l.holds());
            l.unlock();
        });
        held.wait();
        let start = monotonic_ns();
        let r = l.lock();
        let waited = monotonic_ns() - start;
        release.wait();
        assert_eq!(r, Err(Errno::EAGAIN));
        assert!(waited >= BOUND_NS + PREEMPTED_HOLDER_NS, "waited {waited} ns");
    });
    assert_eq!(l.word.load(Ordering::Relaxed) & TID_MASK, 0);
}
