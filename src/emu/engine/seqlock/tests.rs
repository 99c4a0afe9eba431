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
    // partly before and partly after a write. It reads for a while, as writes go on, and
    // until it has trusted a read (on a loaded machine 200 ms may pass without one).
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
        let enough = |stable: u64| {
            let elapsed = start.elapsed();
            elapsed >= std::time::Duration::from_secs(10) || (elapsed >= std::time::Duration::from_millis(200) && stable > 0)
        };
        while !enough(stable) {
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

#[test]
fn a_reader_yields_to_a_stopped_writer_for_a_bounded_time_only() {
    let seq = AtomicU32::new(1);
    let patience = Patience { tries: u32::MAX, spins_before_yield: 10 };
    let start = crate::os::clock::monotonic_ns();
    let r = read([&seq], patience, || 7);
    let ms = (crate::os::clock::monotonic_ns() - start) / 1_000_000;
    assert!(!r.stable);
    let bound_ms = crate::emu::engine::lock::BOUND_NS / 1_000_000;
    // What a loaded machine may add (as the lock tests allow): each yield behind a CPU hog may
    // take a time slice, and the reader looks at the clock only between yields (55 ms was seen
    // under `make stress`).
    let slack_ms = 100;
    assert!((bound_ms..=bound_ms + slack_ms).contains(&ms), "{ms} ms");
}

/// Milliseconds a read through `seq` (left odd) took when it watches `writer`, with the
/// patience of a reader that would otherwise yield out the whole bound.
fn ms_to_give_up(seq: &AtomicU32, writer: i32) -> u64 {
    let patience = Patience { tries: u32::MAX, spins_before_yield: 0 };
    let start = crate::os::clock::monotonic_ns();
    let got = read_watching_writer([seq], patience, || writer, || ());
    assert!(!got.stable);
    (crate::os::clock::monotonic_ns() - start) / 1_000_000
}

/// A reader that knows who writes gives up on a writer stopped mid-write (SIGSTOP, a
/// debugger), or gone, or on nobody writing (the lock the writers need held by nobody), once
/// it has found it so at two looks (about 1.5 ms), not at the bound (`lock::BOUND_NS`, 20 ms),
/// which it waits out when it does not know. (The quickest of five tries, and less than the
/// bound: a loaded machine may keep any one from the CPU for a while.)
#[test]
fn a_reader_gives_up_on_a_stopped_or_gone_writer_at_two_looks() {
    let bound_ms = super::super::lock::BOUND_NS / 1_000_000;
    let seq = AtomicU32::new(1);
    // SAFETY: the child does nothing before it stops.
    let stopped = unsafe { crate::emu::engine::testing::StoppedChild::start(|| ()) };
    let quickest = |writer| (0..5).map(|_| ms_to_give_up(&seq, writer)).min().unwrap();
    let ms = quickest(stopped.pid());
    assert!((1..bound_ms).contains(&ms), "stopped: {ms} ms");
    let gone = stopped.pid();
    drop(stopped);
    let ms = quickest(gone);
    assert!((1..bound_ms).contains(&ms), "gone: {ms} ms");
    let ms = quickest(super::super::lock::StopLooks::NOBODY);
    assert!((1..bound_ms).contains(&ms), "nobody: {ms} ms");
    let ms = ms_to_give_up(&seq, 0);
    assert!(ms >= bound_ms, "not known: {ms} ms");
}

/// A writer that runs, or sleeps (in earnest, in a page fault), is waited for to the bound.
#[test]
fn a_reader_waits_out_a_writer_that_is_not_stopped() {
    let bound_ms = super::super::lock::BOUND_NS / 1_000_000;
    let seq = AtomicU32::new(1);
    let me = crate::os::ids::tid();
    assert!(ms_to_give_up(&seq, me) >= bound_ms);
}
