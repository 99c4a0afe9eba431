//! Blocking on a queue: register as a waiter under the lock, then spin briefly and adaptively
//! while the peer is running on another CPU, then sleep on the waiter's futex word.
//!
//! Spinning pays off when the peer is about to act on another core (a cross-core wake-up costs
//! tens of microseconds here); it is skipped when the peer last ran on this CPU or the process
//! may use only one, and its length follows how long recent successful spins took. A waker
//! that finds its waiter still spinning serves it without any system call.

use std::sync::atomic::{AtomicU32, Ordering};

use super::queue::{Locked, Queue, Received};
use crate::emu::shm::futex::{self, Restart, Woke};
use crate::emu::shm::layout::wake_word;
use crate::errno::{Errno, Result};

/// Shortest and longest spin, ns.
const MIN_SPIN_NS: u64 = 2_000;
const MAX_SPIN_NS: u64 = 60_000;

/// CPUs this process may run on (0 = not yet known; affinity is inherited across fork, and a
/// program that narrows it later is still counted as it was when it first waited).
static CPUS_ALLOWED: AtomicU32 = AtomicU32::new(0);

fn cpus_allowed() -> u32 {
    let n = CPUS_ALLOWED.load(Ordering::Relaxed);
    if n != 0 {
        return n;
    }
    // SAFETY: a zeroed cpu_set_t is a valid out-buffer for sched_getaffinity.
    let count = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            libc::CPU_COUNT(&set) as u32
        } else {
            1
        }
    };
    CPUS_ALLOWED.store(count.max(1), Ordering::Relaxed);
    count.max(1)
}

/// The CPU the caller runs on (glibc reads it from rseq: no system call).
fn current_cpu() -> u32 {
    // SAFETY: no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    if cpu < 0 {
        u32::MAX
    } else {
        cpu as u32
    }
}

/// Records the caller's CPU in `slot` (a sender's or receiver's "last CPU"), writing only when
/// it changed so the shared line is not dirtied on every call.
pub fn note_cpu(slot: &AtomicU32) {
    let cpu = current_cpu();
    if slot.load(Ordering::Relaxed) != cpu {
        slot.store(cpu, Ordering::Relaxed);
    }
}

/// The caller's scheduling priority when it matters: only when others already wait, since the
/// order among waiters is what it decides.
pub fn sched_prio_if_contended(locked: &mut Locked<'_>, role: u32) -> Option<i32> {
    (locked.waiting(role) > 0).then(|| super::queue::sched_prio_of(0))
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn deadline_passed(deadline: Option<&libc::timespec>) -> bool {
    let Some(d) = deadline else { return false };
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    (now.tv_sec, now.tv_nsec) >= (d.tv_sec, d.tv_nsec)
}

/// Spins while waiter `w` is not served, for as long as recent spins suggest. True if served.
fn spin(q: &Queue, word: &AtomicU32, peer_cpu: &AtomicU32) -> bool {
    if cpus_allowed() <= 1 || peer_cpu.load(Ordering::Relaxed) == current_cpu() {
        return false;
    }
    let avg = q.header().spin_avg_ns.load(Ordering::Relaxed) as u64;
    let budget = (2 * avg).clamp(MIN_SPIN_NS, MAX_SPIN_NS);
    let start = monotonic_ns();
    let mut elapsed = 0;
    let mut i = 0u32;
    while elapsed < budget {
        if word.load(Ordering::Acquire) == wake_word::WOKEN {
            let took = monotonic_ns() - start;
            let new_avg = avg + took.saturating_sub(avg) / 8 - avg.saturating_sub(took) / 8;
            q.header().spin_avg_ns.store(new_avg.min(MAX_SPIN_NS) as u32, Ordering::Relaxed);
            return true;
        }
        std::hint::spin_loop();
        i += 1;
        if i % 64 == 0 {
            elapsed = monotonic_ns() - start;
        }
    }
    q.header().spin_avg_ns.store((avg - avg / 8) as u32, Ordering::Relaxed);
    false
}

/// Waits until waiter `w` is served, the deadline passes, or a signal interrupts (per
/// `restart`). A served waiter always wins, as in the kernel's `wq_sleep`: a receiver gets its
/// message (copied to `buf`) even if the timeout fired meanwhile.
pub fn wait_served(q: &Queue, w: u32, deadline: Option<&libc::timespec>, restart: Restart, buf: *mut u8, peer_cpu: &AtomicU32) -> Result<Option<Received>> {
    let word = q.wake_word(w);
    let mut gave_up = None;
    if deadline_passed(deadline) || !spin(q, word, peer_cpu) {
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
            match futex::wait(word, wake_word::SLEEPING, deadline, restart) {
                Woke::Maybe => continue,
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
    let mut locked = q.lock()?;
    match locked.finish_wait(w, buf) {
        Some(Ok(received)) => Ok(received),
        Some(Err(e)) => Err(e),
        None => Err(gave_up.unwrap_or(Errno::EINTR)),
    }
}
