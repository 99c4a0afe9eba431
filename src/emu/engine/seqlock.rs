//! Sequence locks in shared memory: how a value several words wide is read without a lock while
//! one writer (holding some lock of its own) may be changing it.
//!
//! A writer makes the sequence word odd, changes the value, then makes it even again ([`write()`]);
//! a reader reads the sequence, the value, then the sequence again, and trusts what it read only
//! when the sequence was even and unchanged around it ([`read`]). A writer that died mid-write
//! leaves its sequence odd until whoever repairs after it makes it even ([`settle`]); meanwhile a
//! reader gives up after a while ([`Patience`]) and is told its value was not stable, so that it
//! never waits on a dead process: each caller decides what it falls back to. A reader that
//! knows who may be writing ([`read_watching_writer`]) gives up sooner on a writer stopped
//! mid-write (SIGSTOP, a debugger), or gone: at two looks (`lock::StopLooks`, about 1.5 ms).
//!
//! Used by the System V registry (an entry's permissions and statistics) and by both queues'
//! express ring (its mode word, see [`super::ring`]).

use std::sync::atomic::{fence, AtomicU32, Ordering};

use super::lock::StopLooks;

/// How long a reader retries across a write before it settles for what it has (and, once it
/// no longer spins, for at most `lock::BOUND_NS`, or until the writer it watches is found
/// stopped or gone at two looks: a writer may be stopped mid-write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patience {
    /// Tries at most (a try that finds a write running skips the read); the last one reads,
    /// and its value is returned whether stable or not.
    pub tries: u32,
    /// Tries that are followed by a spin hint; later ones pause (`lock::StopLooks::pause`:
    /// they yield the CPU, so that a writer preempted on this CPU can finish, then sleep).
    pub spins_before_yield: u32,
}

/// What a reader read, and whether it may be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Read<T> {
    pub value: T,
    /// No write ran while it was read. False when the reader ran out of patience: a writer
    /// ran all the while (or died mid-write), and `value` may be torn.
    pub stable: bool,
}

impl<T> Read<T> {
    /// The value if it is stable.
    #[inline]
    pub fn stable(self) -> Option<T> {
        self.stable.then_some(self.value)
    }
}

/// Reads through the sequence locks `seqs`: `read` is retried until every one of them was even
/// and unchanged around it, for at most `patience.tries` tries.
///
/// After a try that met a write, `read` runs again only once the sequences look even, or on
/// the last try, which always yields a value (then not stable). What `read` reads must be safe
/// to read torn: this tells the caller when it was.
#[inline]
pub fn read<T, const N: usize>(seqs: [&AtomicU32; N], patience: Patience, read: impl Fn() -> T) -> Read<T> {
    read_watching_writer(seqs, patience, || 0, read)
}

/// As [`read()`], where `writer()` names the thread that may be writing now (the holder of
/// the lock the writers need; 0 when not known, `StopLooks::NOBODY` when nobody holds it),
/// read from shared memory as the reader waits: once the reader no longer spins, it looks at
/// that thread as a lock's waiter does (`lock::StopLooks`, counting a thread that is gone, or
/// nobody), and takes what is there as soon as the thread was found stopped or gone at two
/// looks in a row, rather than at its bound. Nothing on the reader's first try: `writer` is
/// called only while it waits out a write.
#[inline]
pub fn read_watching_writer<T, const N: usize>(seqs: [&AtomicU32; N], patience: Patience, writer: impl Fn() -> i32, read: impl Fn() -> T) -> Read<T> {
    let mut tries = 0u32;
    loop {
        let before = seqs.map(|s| s.load(Ordering::Acquire));
        let value = read();
        fence(Ordering::Acquire);
        let stable = seqs.iter().zip(before).all(|(s, b)| b & 1 == 0 && s.load(Ordering::Relaxed) == b);
        tries += 1;
        if stable || tries >= patience.tries {
            return Read { value, stable };
        }
        tries = wait_out_a_write(seqs, tries, patience, &writer);
    }
}

/// After `tries` tries of a read that met a write: spins (then pauses) until the sequences look
/// even or one try is left. Returns the tries used: one short of `patience.tries` when the
/// reader gives up (paused `lock::BOUND_NS`, or `writer` found stopped or gone at two looks).
/// Cold, so that a caller's first try stays a straight line.
#[cold]
#[inline(never)]
fn wait_out_a_write<const N: usize>(seqs: [&AtomicU32; N], mut tries: u32, patience: Patience, writer: &dyn Fn() -> i32) -> u32 {
    // Pauses are bounded in time too: behind other runnable threads a yield may take a time
    // slice.
    let mut pausing: Option<(u64, StopLooks)> = None;
    loop {
        if tries > patience.spins_before_yield {
            let now = crate::os::clock::monotonic_ns();
            let (since, looks) = pausing.get_or_insert_with(|| (now, StopLooks::counting_gone(now)));
            if now.saturating_sub(*since) >= super::lock::BOUND_NS || looks.stopped_twice_of(now, writer) {
                return patience.tries.saturating_sub(1).max(tries);
            }
            looks.pause();
        } else {
            std::hint::spin_loop();
        }
        if tries + 1 >= patience.tries || seqs.iter().all(|s| s.load(Ordering::Relaxed) & 1 == 0) {
            return tries;
        }
        tries += 1;
    }
}

/// Writes under the sequence locks `seqs` (the caller is their only writer): `write` runs
/// between the stores that make each odd, then even.
#[inline]
pub fn write<const N: usize>(seqs: [&AtomicU32; N], write: impl FnOnce()) {
    let odd = seqs.map(|s| {
        let odd = s.load(Ordering::Relaxed) | 1;
        s.store(odd, Ordering::Relaxed);
        odd
    });
    fence(Ordering::Release);
    write();
    for (s, odd) in seqs.iter().zip(odd) {
        s.store(odd.wrapping_add(1), Ordering::Release);
    }
}

/// Makes a sequence left odd by a writer that died mid-write even again. The caller is the
/// only one who could write now (it holds the lock writers need) and has repaired the value.
#[inline]
pub fn settle(seq: &AtomicU32) {
    let s = seq.load(Ordering::Acquire);
    if s & 1 == 1 {
        seq.store(s.wrapping_add(1), Ordering::Release);
    }
}

#[cfg(test)]
mod tests;
