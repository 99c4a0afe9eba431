//! Sleeping and waking on a 32-bit word in shared memory, with the kernel's rules for signals.
//!
//! A handler that interrupts a blocked call must have the same effect as on the kernel's queues:
//! - POSIX `mq_*` calls are restarted when the handler has `SA_RESTART` and fail with EINTR
//!   otherwise; a restarted timed call keeps its absolute deadline. `futex_waitv` returns
//!   `-ERESTARTSYS` when interrupted, with or without a timeout, so the kernel applies exactly
//!   that rule for us ([`Restart::LikeMqueue`]).
//! - System V `msgsnd`/`msgrcv` are never restarted after a handler (EINTR even with
//!   SA_RESTART), yet a stop and continue is invisible. A `FUTEX_WAIT_BITSET` *with a timeout*
//!   returns `-ERESTART_RESTARTBLOCK`, which the kernel turns into EINTR when a handler ran and
//!   restarts transparently otherwise ([`Restart::Never`]).

use std::sync::atomic::AtomicU32;

/// Which restart rule a wait follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// `mq_*`: restart after an `SA_RESTART` handler, EINTR otherwise.
    LikeMqueue,
    /// `msgsnd`/`msgrcv`: EINTR after any handler.
    Never,
}

/// Why a wait returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woke {
    /// Woken, or the word no longer held the expected value: re-check the condition.
    Maybe,
    /// The absolute CLOCK_REALTIME deadline passed.
    TimedOut,
    /// A signal handler ran and the call must fail with EINTR.
    Interrupted,
}

const FUTEX_32: u32 = 2;

/// `struct futex_waitv`.
#[repr(C)]
#[derive(Clone, Copy)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

impl FutexWaitv {
    const NONE: FutexWaitv = FutexWaitv { val: 0, uaddr: 0, flags: 0, reserved: 0 };

    fn of(word: &AtomicU32, expected: u32) -> FutexWaitv {
        FutexWaitv { val: expected as u64, uaddr: word.as_ptr() as u64, flags: FUTEX_32, reserved: 0 }
    }
}

/// Most words one [`wait_any`] may watch (the kernel's `FUTEX_WAITV_MAX`).
pub const WAIT_ANY_MAX: usize = 128;

/// Sleeps while `*word == expected`, until woken, the CLOCK_REALTIME `deadline` passes, or a
/// signal handler runs (see [`Restart`]).
pub fn wait(word: &AtomicU32, expected: u32, deadline: Option<&libc::timespec>, restart: Restart) -> Woke {
    match restart {
        Restart::LikeMqueue => wait_any(&[(word, expected)], deadline),
        Restart::Never => wait_never_restarted(word, expected, deadline),
    }
}

/// Sleeps while every `(word, expected)` pair still holds (at most [`WAIT_ANY_MAX`]), until
/// one is woken, the CLOCK_REALTIME `deadline` passes, or a signal handler runs (restarted
/// after an `SA_RESTART` handler, EINTR otherwise: [`Restart::LikeMqueue`]). On a kernel
/// without `futex_waitv` (before Linux 5.16) it sleeps on the first word alone, and then at most
/// 10 ms at a time when there are others.
pub fn wait_any(words: &[(&AtomicU32, u32)], deadline: Option<&libc::timespec>) -> Woke {
    let one;
    let mut many;
    let (ptr, n): (*const FutexWaitv, usize) = match words {
        // The common case, without filling an array.
        [(word, expected)] => {
            one = FutexWaitv::of(word, *expected);
            (&one, 1)
        }
        _ => {
            many = [FutexWaitv::NONE; WAIT_ANY_MAX];
            for (w, (word, expected)) in many.iter_mut().zip(words) {
                *w = FutexWaitv::of(word, *expected);
            }
            (many.as_ptr(), words.len().min(WAIT_ANY_MAX))
        }
    };
    let timeout = deadline.map_or(std::ptr::null(), |d| d as *const libc::timespec);
    // SAFETY: `ptr` holds `n` entries describing live, aligned u32 words (the caller's
    // references); `timeout` is NULL or a valid absolute timespec; the kernel only reads them.
    let rc = unsafe { libc::syscall(libc::SYS_futex_waitv, ptr, n as u32, 0u32, timeout, libc::CLOCK_REALTIME) };
    if rc >= 0 {
        return Woke::Maybe;
    }
    match crate::errno::current() {
        libc::ETIMEDOUT => Woke::TimedOut,
        libc::EINTR => Woke::Interrupted,
        libc::ENOSYS => match words {
            [] => Woke::Maybe,
            [(word, expected)] => wait_bitset(word, *expected, deadline, true),
            [(word, expected), ..] => {
                let soon = crate::os::clock::timespec_of_ns(crate::os::clock::realtime_ns() + 10_000_000);
                let until = match deadline {
                    Some(d) if (d.tv_sec, d.tv_nsec) < (soon.tv_sec, soon.tv_nsec) => d,
                    _ => &soon,
                };
                match wait_bitset(word, *expected, Some(until), true) {
                    Woke::TimedOut if !crate::os::clock::deadline_passed(deadline) => Woke::Maybe,
                    other => other,
                }
            }
        },
        _ => Woke::Maybe,
    }
}

fn wait_never_restarted(word: &AtomicU32, expected: u32, deadline: Option<&libc::timespec>) -> Woke {
    match deadline {
        Some(d) => wait_bitset(word, expected, Some(d), true),
        None => {
            // A far deadline on the monotonic clock: having a timeout is what makes the kernel
            // use -ERESTART_RESTARTBLOCK (EINTR after a handler). On expiry, simply wait again.
            let mut far = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: valid out-pointer.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut far) };
            far.tv_sec += 3600;
            match wait_bitset(word, expected, Some(&far), false) {
                Woke::TimedOut => Woke::Maybe,
                other => other,
            }
        }
    }
}

/// `FUTEX_WAIT_BITSET` with an absolute deadline on CLOCK_REALTIME (`realtime`) or
/// CLOCK_MONOTONIC.
fn wait_bitset(word: &AtomicU32, expected: u32, deadline: Option<&libc::timespec>, realtime: bool) -> Woke {
    let op = libc::FUTEX_WAIT_BITSET | if realtime { libc::FUTEX_CLOCK_REALTIME } else { 0 };
    let timeout = deadline.map_or(std::ptr::null(), |d| d as *const libc::timespec);
    // SAFETY: word is a live aligned u32; timeout is NULL or a valid timespec.
    let rc = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), op, expected, timeout, std::ptr::null::<u32>(), u32::MAX) };
    if rc >= 0 {
        return Woke::Maybe;
    }
    match crate::errno::current() {
        libc::ETIMEDOUT => Woke::TimedOut,
        libc::EINTR => Woke::Interrupted,
        _ => Woke::Maybe,
    }
}

/// Wakes up to `n` sleepers on `word` (shared futex: waiters may be in other processes).
pub fn wake(word: &AtomicU32, n: i32) {
    // SAFETY: word is a live aligned u32 in mapped memory.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
}

/// Sleeps while `*word == expected`, until woken or the CLOCK_MONOTONIC instant `until`; a
/// signal handler ends it too. The caller looks at the word again whatever the reason; true
/// when the handler interrupts by `restart`'s rule: any handler for [`Restart::Never`], one
/// installed without SA_RESTART for [`Restart::LikeMqueue`] (one with it restarts the sleep;
/// without `futex_waitv`, before Linux 5.16, any handler interrupts).
pub fn wait_monotonic(word: &AtomicU32, expected: u32, until: &libc::timespec, restart: Restart) -> bool {
    if restart == Restart::LikeMqueue {
        let one = FutexWaitv::of(word, expected);
        // SAFETY: one entry describing a live, aligned u32 word; `until` is a valid absolute
        // timespec; the kernel only reads them.
        let rc = unsafe { libc::syscall(libc::SYS_futex_waitv, &one as *const FutexWaitv, 1u32, 0u32, until as *const libc::timespec, libc::CLOCK_MONOTONIC) };
        if rc >= 0 {
            return false;
        }
        match crate::errno::current() {
            libc::EINTR => return true,
            libc::ENOSYS => {}
            _ => return false,
        }
    }
    // With a timeout, the kernel ends the sleep with EINTR after any handler.
    wait_bitset(word, expected, Some(until), false) == Woke::Interrupted
}
