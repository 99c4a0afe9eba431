//! Adaptive spinning before a futex sleep, shared by the POSIX and System V queues.
//!
//! Spinning pays off when the peer is about to act on another core (a cross-core wake-up costs
//! tens of microseconds here); it is skipped when the peer last ran on this CPU, and its length
//! follows how long recent waits took (an average kept in the queue's segment, see
//! [`record_wait`]). A waker that finds its waiter still spinning serves it without
//! any system call.

use std::sync::atomic::{AtomicU32, Ordering};

use super::layout::wake_word;
use crate::os::clock::monotonic_ns;

/// Shortest and longest spin, ns. The shortest is about what a sleep costs the other side
/// (a cross-core wake-up takes ~35 us here): spinning that long before sleeping never costs
/// more than twice the best choice. Shorter spins made a producer and a consumer streaming
/// across two CPUs fall into taking turns to sleep — each finding the other still waking up —
/// at a fiftieth of their speed, for whole runs.
const MIN_SPIN_NS: u64 = 50_000;
const MAX_SPIN_NS: u64 = 100_000;

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
pub fn current_cpu() -> u32 {
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

/// Spins while `word` is not `WOKEN`, for as long as recent spins (`spin_avg_ns`, shared by the
/// queue's users) suggest, unless the peer (`peer_cpu`) shares the caller's CPU or the process
/// may use only one CPU. True if woken.
pub fn spin(spin_avg_ns: &AtomicU32, word: &AtomicU32, peer_cpu: &AtomicU32) -> bool {
    if cpus_allowed() <= 1 || peer_cpu.load(Ordering::Relaxed) == current_cpu() {
        return false;
    }
    spin_while_unwoken(spin_avg_ns, word)
}

/// Like [`spin`], for a caller that knows its peer's CPU (`peer_cpu`, `u32::MAX` if unknown):
/// spins only when the peer is known to run on another CPU — also when the caller itself is
/// pinned to one CPU (a producer and a consumer pinned to two cores is the case spinning is
/// for). True if woken.
pub fn spin_if_peer_elsewhere(spin_avg_ns: &AtomicU32, word: &AtomicU32, peer_cpu: u32) -> bool {
    if peer_cpu == u32::MAX || peer_cpu == current_cpu() {
        return false;
    }
    spin_while_unwoken(spin_avg_ns, word)
}

fn spin_while_unwoken(spin_avg_ns: &AtomicU32, word: &AtomicU32) -> bool {
    spin_for(spin_avg_ns, || word.load(Ordering::Acquire) == wake_word::WOKEN)
}

/// Spins until `done()` holds, for as long as recent waits suggest (`spin_avg_ns`); records
/// the wait when it ends so. True if it did.
#[inline(always)]
fn spin_for(spin_avg_ns: &AtomicU32, done: impl Fn() -> bool) -> bool {
    let avg = spin_avg_ns.load(Ordering::Relaxed) as u64;
    let budget = (2 * avg).clamp(MIN_SPIN_NS, MAX_SPIN_NS);
    let start = monotonic_ns();
    let mut elapsed = 0;
    let mut i = 0u32;
    while elapsed < budget {
        if done() {
            record_wait(spin_avg_ns, monotonic_ns() - start);
            return true;
        }
        std::hint::spin_loop();
        i += 1;
        if i % 64 == 0 {
            elapsed = monotonic_ns() - start;
        }
    }
    false
}

/// Records how long a whole wait took (`took`, from registration to being served, whether it
/// ended spinning or asleep): the spin budget follows recent waits, so a peer that typically
/// answers in 5 us gets a 10 us spin, while waits longer than the cap end up asleep.
///
/// Below half the shortest spin the average does not change any budget, so it is not stored
/// there: a stream whose sides wait a few hundred ns at a time would otherwise write the line
/// both read on every call.
pub fn record_wait(spin_avg_ns: &AtomicU32, took: u64) {
    let avg = spin_avg_ns.load(Ordering::Relaxed) as u64;
    let took = took.min(MAX_SPIN_NS);
    let new_avg = avg + took.saturating_sub(avg) / 8 - avg.saturating_sub(took) / 8;
    let moot = MIN_SPIN_NS / 2;
    if new_avg != avg && (new_avg >= moot || avg >= moot) {
        spin_avg_ns.store(new_avg as u32, Ordering::Relaxed);
    }
}

/// Spins, before registering as a waiter, until `ready()` holds (room in a full queue, a
/// message in an empty one), for as long as recent waits suggest and only while the peer
/// (`peer_cpu`) runs on another CPU. True if it did: the caller then retries the fast path.
///
/// A caller spinning here is not yet a registered waiter; the window is at most the spin, and a
/// caller that goes on to sleep registers first, so one observed blocked (asleep) is always
/// registered, as on the kernel.
pub fn spin_until(spin_avg_ns: &AtomicU32, peer_cpu: u32, ready: impl Fn() -> bool) -> bool {
    if peer_cpu == u32::MAX || peer_cpu == current_cpu() {
        return false;
    }
    spin_for(spin_avg_ns, ready)
}
