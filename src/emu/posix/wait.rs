//! Blocking on a POSIX queue: a caller registered as a waiter (see `queue::waiters`) sleeps in
//! the engine's sleep loop (`engine::sleep`) with the `mq_*` rules — an absolute deadline, and
//! a restart after an `SA_RESTART` handler — then collects its outcome under the queue lock, or
//! leaves without it when it was not served and the lock's holder is stopped.

use std::sync::atomic::{AtomicU32, Ordering};

use super::queue::{Locked, Queue, Received};
use crate::emu::engine::futex::Restart;
use crate::emu::engine::sleep::{self, Sleep, SleepWatch, Slept};
use crate::errno::{Errno, Result};

pub use crate::emu::engine::spin::note_cpu;

/// The caller's scheduling priority when it matters: only when others already wait, since the
/// order among waiters is what it decides.
pub fn sched_prio_if_contended(locked: &mut Locked<'_>, role: u32) -> Option<i32> {
    (locked.waiting(role) > 0).then(|| super::queue::sched_prio_of(0))
}

/// What a POSIX waiter watches while it sleeps: every waiter wakes when the earliest scheduled
/// message falls due, and promotes it (which may hand it to this very receiver).
struct Watch<'q> {
    q: &'q Queue,
    program_fd: i32,
}

impl SleepWatch for Watch<'_> {
    fn next_due_ns(&self) -> u64 {
        self.q.next_due_ns()
    }

    fn send_due(&self) {
        if let Ok(mut locked) = self.q.lock() {
            locked.promote_if_due(self.program_fd);
        }
    }
}

/// Waits until waiter `w` is served, the deadline passes, or a signal interrupts (per
/// `restart`). A served waiter always wins, as in the kernel's `wq_sleep`: a receiver gets its
/// message (copied to `buf`) even if the timeout fired meanwhile.
pub fn wait_served(
    q: &Queue,
    w: u32,
    deadline: Option<&libc::timespec>,
    restart: Restart,
    buf: *mut u8,
    peer_cpu: &AtomicU32,
    program_fd: i32,
) -> Result<Option<Received>> {
    let how = Sleep {
        word: q.wake_word(w),
        spin_avg_ns: &q.header().spin_avg_ns,
        peer_cpu: peer_cpu.load(Ordering::Relaxed),
        deadline,
        restart,
        // A file truncated under the sleeper wakes no one: it looks (see `sleep`).
        liveness_poll: Some(sleep::LIVENESS_POLL_SECONDS),
    };
    let gave_up = match sleep::until_served(&how, &Watch { q, program_fd }) {
        Slept::Served => None,
        Slept::TimedOut => Some(Errno::ETIMEDOUT),
        Slept::Interrupted | Slept::Removed | Slept::ShutOut => Some(Errno::EINTR),
    };
    let Some(mut locked) = q.lock_to_collect(w, gave_up.is_none())? else {
        // Left unserved: its lock's holder is stopped (see `Queue::lock_to_collect`).
        return Err(gave_up.unwrap_or(Errno::EINTR));
    };
    match locked.finish_wait(w, buf) {
        Some(Ok(received)) => Ok(received),
        Some(Err(e)) => Err(e),
        None => Err(gave_up.unwrap_or(Errno::EINTR)),
    }
}
