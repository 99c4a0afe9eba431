//! A lock in shared memory that a stopped holder loses: for a critical section that ends in one
//! change (one system call) which its holder makes only after it looked that it still holds
//! the lock ([`TakeoverLock::holds`]), and whose holder leaves nothing to repair when it dies.
//!
//! A [`super::RobustMutex`] protects data that a holder may leave half-changed: its locker
//! waits for a stopped holder up to its bound and then fails with EAGAIN. Where the section
//! changes nothing before its last step, waiting out a stopped holder is all that is needed:
//! a locker that found the holder stopped at two looks (state `T` or `t` in `/proc/TID/stat`:
//! SIGSTOP, or a debugger; see [`StopLooks`], about 1.5 ms) takes the lock over, and the
//! holder, continued,
//! finds at its look that it lost the lock and does not make its change. What is left is the
//! few instructions between that look and the system call, where a stop delivered then makes
//! the two changes race.
//!
//! A holder that is running, waiting for a CPU or asleep is not taken over (asleep, it may be
//! inside its system call, past its look): it is waited for up to [`BOUND_NS`] +
//! [`PREEMPTED_HOLDER_NS`], then the call fails with EAGAIN, as for a robust mutex. A word that names no thread (its
//! holder died, or another user wrote garbage) is taken at once: there is nothing to repair.
//!
//! It is not on the robust list (two threads' lists cannot both run through one lock); a dead
//! holder is found by its tid, which the word names.

use std::sync::atomic::{AtomicU32, Ordering};

use super::{owner_is_impossible, StopLooks, BOUND_NS, PREEMPTED_HOLDER_NS, SLICE_NS, TID_MASK, WAITERS};
use crate::emu::engine::futex;
use crate::errno::{Errno, Result};
use crate::os::clock::{monotonic_ns, timespec_of_ns};

/// A lock word alone, on its own cache line: 0 when free; the holder's tid, with [`WAITERS`]
/// when someone sleeps on it. All zeroes is a free lock.
#[repr(C, align(64))]
pub struct TakeoverLock {
    word: AtomicU32,
    _unused: [u32; 15],
}

const _: () = assert!(std::mem::size_of::<TakeoverLock>() == 64);

/// How a [`TakeoverLock`] was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Took {
    /// It was free.
    Free,
    /// Its word named no thread: a holder that died, or garbage.
    FromGone,
    /// From a holder stopped past the bound, which loses it.
    FromStopped,
}

impl TakeoverLock {
    /// Takes the lock: at once when free or when its word names no thread; from a holder
    /// found stopped at two looks ([`StopLooks`]); EAGAIN when a holder that is not stopped
    /// keeps it past [`BOUND_NS`] + [`PREEMPTED_HOLDER_NS`].
    pub fn lock(&self) -> Result<Took> {
        let me = crate::os::ids::tid() as u32;
        let start = monotonic_ns();
        let last = start + BOUND_NS + PREEMPTED_HOLDER_NS;
        let mut looks = StopLooks::new(start);
        // Having slept, this locker may not be the only one: it keeps FUTEX_WAITERS set.
        let mut waiters = 0;
        loop {
            if let Some(took) = self.take_if_gone(me, waiters) {
                return Ok(took);
            }
            let seen = self.word.load(Ordering::Relaxed);
            if seen & TID_MASK == 0 {
                continue;
            }
            let now = monotonic_ns();
            if looks.stopped_twice(now, (seen & TID_MASK) as i32) {
                if self.take_from(seen, me, waiters) {
                    return Ok(Took::FromStopped);
                }
                continue;
            }
            if now >= last {
                return Err(Errno::EAGAIN);
            }
            if seen & WAITERS == 0 && self.word.compare_exchange(seen, seen | WAITERS, Ordering::Relaxed, Ordering::Relaxed).is_err() {
                continue;
            }
            let until = now.saturating_add(SLICE_NS).min(looks.next_at()).min(last);
            // Woken by the unlock, timed out or interrupted alike: look again.
            let _ = futex::wait_monotonic(&self.word, seen | WAITERS, &timespec_of_ns(until), futex::Restart::Never);
            waiters = WAITERS;
        }
    }

    /// Takes the lock if it is free or its word names no thread, without waiting.
    pub fn try_lock(&self) -> bool {
        self.take_if_gone(crate::os::ids::tid() as u32, 0).is_some()
    }

    /// Takes the lock for thread `me` if its word names no holder, or one no thread is (or
    /// the calling thread itself, which holds no lock twice: garbage too), adding `waiters`.
    fn take_if_gone(&self, me: u32, waiters: u32) -> Option<Took> {
        let seen = self.word.load(Ordering::Relaxed);
        let holder = seen & TID_MASK;
        if holder == 0 {
            return self.take_from(seen, me, waiters).then_some(Took::Free);
        }
        if holder == me || owner_is_impossible(seen) {
            return self.take_from(seen, me, waiters).then_some(Took::FromGone);
        }
        None
    }

    /// Replaces word `seen` by `me`, keeping WAITERS (a sleeper may be left, whom the unlock
    /// must wake) and adding `waiters`: whether it was still `seen`.
    fn take_from(&self, seen: u32, me: u32, waiters: u32) -> bool {
        self.word.compare_exchange(seen, me | (seen & WAITERS) | waiters, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Whether the calling thread holds the lock: false once another took it over.
    pub fn holds(&self) -> bool {
        self.word.load(Ordering::Acquire) & TID_MASK == crate::os::ids::tid() as u32
    }

    /// Makes the lock's word `word` (for the tests, which play another locker's take-over).
    #[cfg(test)]
    pub fn set_word(&self, word: u32) {
        self.word.store(word, Ordering::Release);
    }

    /// Lets the lock go, waking a sleeper if the word says there is one; nothing when another
    /// thread took it over meanwhile.
    pub fn unlock(&self) {
        let me = crate::os::ids::tid() as u32;
        let mut seen = self.word.load(Ordering::Relaxed);
        while seen & TID_MASK == me {
            match self.word.compare_exchange(seen, 0, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    if seen & WAITERS != 0 {
                        futex::wake(&self.word, 1);
                    }
                    return;
                }
                Err(now) => seen = now,
            }
        }
    }
}

#[cfg(test)]
mod tests;
