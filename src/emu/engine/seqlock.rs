//! Sequence locks in shared memory: how a value several words wide is read without a lock while
//! one writer (holding some lock of its own) may be changing it.
//!
//! A writer makes the sequence word odd, changes the value, then makes it even again ([`write`]);
//! a reader reads the sequence, the value, then the sequence again, and trusts what it read only
//! when the sequence was even and unchanged around it ([`read`]). A writer that died mid-write
//! leaves its sequence odd until whoever repairs after it makes it even ([`settle`]); meanwhile a
//! reader gives up after a while ([`Patience`]) and is told its value was not stable, so that it
//! never waits on a dead process: each caller decides what it falls back to.
//!
//! Used by the System V registry (an entry's permissions and statistics) and by both queues'
//! express ring (its mode word, see [`super::ring`]).

use std::sync::atomic::{fence, AtomicU32, Ordering};

/// How long a reader retries across a write before it settles for what it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patience {
    /// Tries at most (a try that finds a write running skips the read); the last one reads,
    /// and its value is returned whether stable or not.
    pub tries: u32,
    /// Tries that are followed by a spin hint; later ones yield the CPU (so that a writer
    /// preempted on this CPU can finish).
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
        tries = wait_out_a_write(seqs, tries, patience);
    }
}

/// After `tries` tries of a read that met a write: spins (then yields) until the sequences look
/// even or one try is left. Returns the tries used. Cold, so that a caller's first try stays a
/// straight line.
#[cold]
#[inline(never)]
fn wait_out_a_write<const N: usize>(seqs: [&AtomicU32; N], mut tries: u32, patience: Patience) -> u32 {
    loop {
        if tries > patience.spins_before_yield {
            std::thread::yield_now();
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
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    const QUICK: Patience = Patience { tries: 100, spins_before_yield: 10 };

    #[test]
    fn a_read_across_an_unfinished_write_is_not_stable() {
        let seq = AtomicU32::new(6);
        let value = AtomicU64::new(1);
        assert_eq!(read([&seq], QUICK, || value.load(Ordering::Relaxed)), Read { value: 1, stable: true });
        // A writer that died (or still runs) mid-write: the reader gives up, and says so.
        seq.store(7, Ordering::Relaxed);
        value.store(2, Ordering::Relaxed);
        let got = read([&seq], QUICK, || value.load(Ordering::Relaxed));
        assert!(!got.stable);
        assert_eq!(got.stable(), None);
        // Any one of several odd sequences makes the read unstable.
        let other = AtomicU32::new(0);
        assert!(!read([&other, &seq], QUICK, || ()).stable);
        // Made even by the repairer: readable again.
        settle(&seq);
        assert_eq!(seq.load(Ordering::Relaxed), 8);
        assert_eq!(read([&other, &seq], QUICK, || value.load(Ordering::Relaxed)).stable(), Some(2));
        settle(&seq);
        assert_eq!(seq.load(Ordering::Relaxed), 8, "an even sequence is left alone");
    }

    #[test]
    fn a_read_that_a_write_overtook_is_read_again() {
        // The write runs inside the first read, between its two loads: that read is torn, and
        // must not be the one returned.
        let seq = AtomicU32::new(0);
        let (a, b) = (AtomicU64::new(1), AtomicU64::new(1));
        let reads = AtomicU32::new(0);
        let got = read([&seq], QUICK, || {
            let first = a.load(Ordering::Relaxed);
            if reads.fetch_add(1, Ordering::Relaxed) == 0 {
                write([&seq], || {
                    a.store(2, Ordering::Relaxed);
                    b.store(2, Ordering::Relaxed);
                });
            }
            (first, b.load(Ordering::Relaxed))
        });
        assert_eq!(got, Read { value: (2, 2), stable: true });
        assert_eq!(reads.load(Ordering::Relaxed), 2);
        assert_eq!(seq.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_read_gives_up_after_its_tries_and_does_not_read_while_a_write_runs() {
        let seq = AtomicU32::new(1);
        let reads = AtomicU32::new(0);
        let got = read([&seq], QUICK, || reads.fetch_add(1, Ordering::Relaxed));
        assert!(!got.stable);
        // The first try and the last read the value; those between found the write running.
        assert_eq!(reads.load(Ordering::Relaxed), 2);
        assert_eq!(got.value, 1);
    }

    #[test]
    fn a_stable_read_is_never_torn() {
        // Words written together under one sequence, first to last, and read last to first (so
        // that a read overlapping a write sees both): a reader must never trust a set read
        // partly before and partly after a write. It reads for a while, as writes go on.
        let seq = AtomicU32::new(0);
        let words: [AtomicU64; 32] = Default::default();
        let done = AtomicBool::new(false);
        let patience = Patience { tries: 1_000_000, spins_before_yield: 1000 };
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut i = 0u64;
                while !done.load(Ordering::Relaxed) {
                    i += 1;
                    write([&seq], || words.iter().for_each(|w| w.store(i, Ordering::Relaxed)));
                }
            });
            while seq.load(Ordering::Relaxed) == 0 {
                std::hint::spin_loop();
            }
            let (mut stable, mut torn) = (0u64, 0u64);
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_millis(200) {
                let got = read([&seq], patience, || {
                    let mut seen = [0u64; 32];
                    for (w, v) in words.iter().zip(&mut seen).rev() {
                        *v = w.load(Ordering::Relaxed);
                    }
                    seen
                });
                if got.stable {
                    stable += 1;
                    torn += got.value.iter().any(|&w| w != got.value[0]) as u64;
                }
            }
            done.store(true, Ordering::Relaxed);
            assert_eq!(torn, 0, "{torn} torn reads of {stable} trusted");
            assert!(stable > 0);
        });
    }
}
