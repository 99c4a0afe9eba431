//! Blocking on a queue: register as a waiter under the lock, then spin briefly and adaptively
//! while the peer is running on another CPU (`emu::engine::spin`, shared with System V queues),
//! then sleep on the waiter's futex word.

use std::sync::atomic::{AtomicU32, Ordering};

use super::queue::{Locked, Queue, Received};
use crate::emu::engine::futex::{self, Restart, Woke};
use crate::emu::engine::layout::wake_word;
use crate::errno::{Errno, Result};

pub use crate::emu::engine::spin::note_cpu;
use crate::emu::engine::spin::spin_if_peer_elsewhere;
use crate::os::clock::deadline_passed;

/// The caller's scheduling priority when it matters: only when others already wait, since the
/// order among waiters is what it decides.
pub fn sched_prio_if_contended(locked: &mut Locked<'_>, role: u32) -> Option<i32> {
    (locked.waiting(role) > 0).then(|| super::queue::sched_prio_of(0))
}

/// Waits until waiter `w` is served, the deadline passes, or a signal interrupts (per
/// `restart`). A served waiter always wins, as in the kernel's `wq_sleep`: a receiver gets its
/// message (copied to `buf`) even if the timeout fired meanwhile.
///
/// A receiver also wakes when the earliest scheduled message falls due, promotes it (which may
/// hand it to this very receiver) and goes on waiting: no polling loop.
pub fn wait_served(
    q: &Queue,
    w: u32,
    deadline: Option<&libc::timespec>,
    restart: Restart,
    buf: *mut u8,
    peer_cpu: &AtomicU32,
    program_fd: i32,
) -> Result<Option<Received>> {
    let word = q.wake_word(w);
    let mut gave_up = None;
    let started = crate::os::clock::monotonic_ns();
    // Spin whenever the peer last ran on another CPU, even when this process is pinned to one.
    if deadline_passed(deadline) || !spin_if_peer_elsewhere(&q.header().spin_avg_ns, word, peer_cpu.load(Ordering::Relaxed)) {
        loop {
            match word.load(Ordering::Acquire) {
                wake_word::WOKEN => break,
                wake_word::WAITING => {
                    if word.compare_exchange(wake_word::WAITING, wake_word::SLEEPING, Ordering::AcqRel, Ordering::Acquire).is_err() {
                        continue;
                    }
                }
                _ => {}
            }
            // The due time is read after the word says SLEEPING (fence: pairs with
            // `Locked::rouse_receivers`): a message scheduled meanwhile either shows here or
            // sets the word back to WAITING, which ends the sleep below at once.
            std::sync::atomic::fence(Ordering::SeqCst);
            let due = q.next_due_ns();
            let due_ts = (due != 0).then(|| libc::timespec { tv_sec: (due / 1_000_000_000) as libc::time_t, tv_nsec: (due % 1_000_000_000) as libc::c_long });
            let (until, for_due) = match (deadline, &due_ts) {
                (Some(d), Some(t)) if (t.tv_sec, t.tv_nsec) < (d.tv_sec, d.tv_nsec) => (Some(t), true),
                (None, Some(t)) => (Some(t), true),
                (d, _) => (d, false),
            };
            let woke = futex::wait(word, wake_word::SLEEPING, until, restart);
            match woke {
                Woke::Maybe => continue,
                Woke::TimedOut if for_due => {
                    if let Ok(mut locked) = q.lock() {
                        locked.promote_if_due(program_fd);
                    }
                    continue;
                }
                Woke::TimedOut => {
                    gave_up = Some(Errno::ETIMEDOUT);
                    break;
                }
                Woke::Interrupted => {
                    gave_up = Some(Errno::EINTR);
                    break;
                }
            }
        }
    }
    if gave_up.is_none() {
        crate::emu::engine::spin::record_wait(&q.header().spin_avg_ns, crate::os::clock::monotonic_ns() - started);
    }
    let mut locked = q.lock_for_waiter()?;
    match locked.finish_wait(w, buf) {
        Some(Ok(received)) => Ok(received),
        Some(Err(e)) => Err(e),
        None => Err(gave_up.unwrap_or(Errno::EINTR)),
    }
}
