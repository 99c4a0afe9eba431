//! A queue's entry (`layout::Entry`, in its own segment): consistent reads of its permissions
//! and statistics without a lock, and their writes by the holder of the queue's lock.

use std::sync::atomic::{AtomicU32, Ordering};

use super::layout::{Entry, QueueHeader};
use crate::emu::engine::lock::StopLooks;
use crate::emu::engine::seqlock::{self, Patience};
use crate::errno::{Errno, Result};

/// A consistent view of an entry's permissions and statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub key: i32,
    pub seq: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub qnum: u64,
    pub cbytes: u64,
    pub qbytes: u64,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub lspid: i32,
    pub lrpid: i32,
}

/// How long a reader of an entry waits out a writer: a writer that died mid-write leaves its
/// sequence odd until the queue's repair, so after a while the reader takes what is there.
const READ_PATIENCE: Patience = Patience { tries: 20_001, spins_before_yield: 1000 };

/// Reads the entry of the queue whose header is `h` through sequence locks (see
/// [`seqlock::read_watching_writer`]), taking what is there should a writer seem never to
/// finish, or be found stopped or gone mid-write ([`writer_of`]).
fn read_consistent<T, const N: usize>(h: &QueueHeader, seqs: [&AtomicU32; N], read: impl Fn() -> T) -> T {
    seqlock::read_watching_writer(seqs, READ_PATIENCE, || writer_of(h), read).value
}

/// The thread that may be writing the entry of the queue whose header is `h` now: IPC_SET's
/// claimed writer while the permissions' sequence is odd (it may write without the queue's
/// lock), otherwise the holder of the queue's lock, which every other writer holds.
fn writer_of(h: &QueueHeader) -> i32 {
    let e = &h.entry;
    let perm_writer = e.perm_writer.load(Ordering::Relaxed);
    if perm_writer != 0 && e.perm_seq.load(Ordering::Relaxed) & 1 == 1 {
        perm_writer
    } else {
        lock_holder(h)
    }
}

/// The holder of the queue's lock, or [`StopLooks::NOBODY`] when none: a sequence still odd
/// while nobody holds the lock was left so by a writer that died (the kernel took its tid out
/// of the lock word), until the lock's next holder repairs the queue.
fn lock_holder(h: &QueueHeader) -> i32 {
    match h.lock.mutex.holder_tid() {
        0 => StopLooks::NOBODY,
        tid => tid,
    }
}

fn read_perms(e: &Entry, s: &mut Snapshot) {
    s.key = e.key.load(Ordering::Relaxed);
    s.seq = e.seq.load(Ordering::Relaxed);
    s.mode = e.mode.load(Ordering::Relaxed);
    s.uid = e.uid.load(Ordering::Relaxed);
    s.gid = e.gid.load(Ordering::Relaxed);
    s.cuid = e.cuid.load(Ordering::Relaxed);
    s.cgid = e.cgid.load(Ordering::Relaxed);
}

fn read_stats(e: &Entry, s: &mut Snapshot) {
    s.qnum = e.qnum.load(Ordering::Relaxed);
    s.cbytes = e.cbytes.load(Ordering::Relaxed);
    s.qbytes = e.qbytes.load(Ordering::Relaxed);
    s.stime = e.stime.load(Ordering::Relaxed);
    s.rtime = e.rtime.load(Ordering::Relaxed);
    s.ctime = e.ctime.load(Ordering::Relaxed);
    s.lspid = e.lspid.load(Ordering::Relaxed);
    s.lrpid = e.lrpid.load(Ordering::Relaxed);
    if super::queue::ring_mode_of(e).is_express() {
        // The ring holds the queue: its sides keep the counts and who moved what last.
        (s.qnum, s.cbytes) = super::queue::ring_counts(e);
        s.lspid = e.send.pid.load(Ordering::Relaxed);
        s.stime = e.send.time.load(Ordering::Relaxed);
        s.lrpid = e.recv.pid.load(Ordering::Relaxed);
        s.rtime = e.recv.time.load(Ordering::Relaxed);
    }
}

/// Messages queued now in the queue whose header is `h` (for the hints of the fast paths).
pub fn queued(h: &QueueHeader) -> u64 {
    let e = &h.entry;
    let counts = |express| if express { super::queue::ring_counts(e).0 } else { e.qnum.load(Ordering::Acquire) };
    super::queue::ring_mode_of(e).read_watching_writer(READ_PATIENCE, || lock_holder(h), counts).value
}

/// The permissions of the queue whose header is `h` (the statistics left zero): the one cache
/// line every call reads.
pub fn perms(h: &QueueHeader) -> Snapshot {
    let e = &h.entry;
    read_consistent(h, [&e.perm_seq], || {
        let mut s = Snapshot::default();
        read_perms(e, &mut s);
        s
    })
}

/// The statistics of the queue whose header is `h` (the permissions left zero).
pub fn stats(h: &QueueHeader) -> Snapshot {
    let e = &h.entry;
    read_consistent(h, [&e.stat_seq, &e.ring_mode_seq], || {
        let mut s = Snapshot::default();
        read_stats(e, &mut s);
        s
    })
}

/// The permissions and statistics of the queue whose header is `h`, consistent with each
/// other (IPC_STAT).
pub fn snapshot(h: &QueueHeader) -> Snapshot {
    let e = &h.entry;
    read_consistent(h, [&e.perm_seq, &e.stat_seq, &e.ring_mode_seq], || {
        let mut s = Snapshot::default();
        read_perms(e, &mut s);
        read_stats(e, &mut s);
        s
    })
}

/// Writes an entry's statistics (the caller holds the queue's lock, so it is the only writer):
/// `f` runs between the stores that make `stat_seq` odd, then even.
pub fn write_stats(e: &Entry, f: impl FnOnce(&Entry)) {
    seqlock::write([&e.stat_seq], || f(e));
}

/// Writes an entry's permissions and statistics together (creation, before the queue is live).
pub fn write_perms_and_stats(e: &Entry, f: impl FnOnce(&Entry)) {
    seqlock::write([&e.perm_seq, &e.stat_seq], || f(e));
}

/// IPC_SET's write of the permissions, `qbytes` and `ctime` of the queue whose id plus one is
/// `id1` (`f` runs between the stores that make `perm_seq` odd, then even). IPC_SET goes on
/// without the queue's lock when its holder is a stopped process, so its writers exclude each
/// other by `perm_writer` instead (see [`claim_perm_writer`]), and only they write these fields
/// (`qbytes` and `ctime` too, though they sit among the statistics, which every send writes
/// under the lock). EIDRM, with nothing written, when the queue is no longer live once the
/// claim is held: a removal came first, and the segment may already be a new queue's. EAGAIN
/// when another IPC_SET is stopped in the middle of its write.
pub fn write_perms(e: &Entry, id1: u32, f: impl FnOnce(&Entry)) -> Result<()> {
    let me = crate::os::ids::tid();
    claim_perm_writer(e, me)?;
    let written = if e.id1.load(Ordering::Acquire) == id1 {
        // A writer that died mid-write left the sequence odd: this write makes it even again,
        // the value whole.
        seqlock::write([&e.perm_seq], || f(e));
        Ok(())
    } else {
        Err(Errno::EIDRM)
    };
    let _ = e.perm_writer.compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed);
    written
}

/// Makes thread `me` the one writer of an entry's permissions (`Entry::perm_writer`): at once
/// when nobody is, after a few stores when another IPC_SET is (it writes in a few stores), in
/// its place when that thread is gone (it died in the middle), and EAGAIN once it was found
/// stopped in the middle at two looks (`lock::StopLooks`, about 1.5 ms), or is still there after
/// `lock::BOUND_NS`, waiting as every wait for another thread's work does
/// ([`StopLooks::pause`]).
fn claim_perm_writer(e: &Entry, me: i32) -> Result<()> {
    let start = crate::os::clock::monotonic_ns();
    let mut looks = StopLooks::new(start);
    loop {
        let writer = match e.perm_writer.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return Ok(()),
            Err(writer) => writer,
        };
        if writer == me || crate::os::sys::process_gone_or_zombie(writer) {
            if e.perm_writer.compare_exchange(writer, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return Ok(());
            }
        } else {
            let now = crate::os::clock::monotonic_ns();
            if looks.stopped_twice(now, writer) || now.saturating_sub(start) >= crate::emu::engine::lock::BOUND_NS {
                return Err(Errno::EAGAIN);
            }
        }
        looks.pause();
    }
}

/// Makes an entry's sequence locks even again after a writer died mid-write (queue repair).
pub fn settle_stats(e: &Entry) {
    seqlock::settle(&e.perm_seq);
    seqlock::settle(&e.stat_seq);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emu::engine::lock::{self, BOUND_NS};
    use crate::emu::engine::testing::{SharedMapping, StoppedChild};
    use crate::os::clock::monotonic_ns;

    /// A queue header in memory of its own, all zeros (a valid, empty header, as in a fresh
    /// segment: atomics, integers and locks, all free), shared with forked children.
    fn zeroed_header() -> SharedMapping<QueueHeader> {
        SharedMapping::zeroed()
    }

    #[test]
    fn snapshots_are_consistent_and_survive_a_dead_writer() {
        let h = zeroed_header();
        write_stats(&h.entry, |e| {
            e.qnum.store(2, Ordering::Relaxed);
            e.cbytes.store(10, Ordering::Relaxed);
        });
        let s = snapshot(&h);
        assert_eq!((s.qnum, s.cbytes), (2, 10));
        // A writer that died mid-write: the sequence stays odd until settled.
        h.entry.stat_seq.fetch_add(1, Ordering::Relaxed);
        assert_eq!(snapshot(&h).qnum, 2);
        settle_stats(&h.entry);
        assert_eq!(h.entry.stat_seq.load(Ordering::Relaxed) & 1, 0);
    }

    /// A child process that takes the queue's lock, makes the statistics' and the ring mode's
    /// sequences odd (a write, a mode change begun) and stops itself (SIGSTOP) there.
    fn stopped_writer(h: &QueueHeader) -> StoppedChild {
        // SAFETY: the child only locks and stores (atomics and system calls on the shared
        // mapping).
        unsafe {
            StoppedChild::start(|| {
                // SAFETY: the lock is shared and free (all zeros).
                let _ = lock::lock(&h.lock.mutex);
                h.entry.stat_seq.fetch_add(1, Ordering::Relaxed);
                h.entry.ring_mode_seq.fetch_add(1, Ordering::Relaxed);
            })
        }
    }

    /// Microseconds `read` took, the quickest of three tries (a loaded machine may delay any
    /// one of them).
    fn quickest_us(read: impl Fn()) -> u64 {
        (0..3)
            .map(|_| {
                let start = monotonic_ns();
                read();
                (monotonic_ns() - start) / 1_000
            })
            .min()
            .unwrap()
    }

    /// A reader waiting out a write gives up on a writer stopped in the middle of it (SIGSTOP, a
    /// debugger) once it has found it stopped at two looks, about 1.5 ms: the holder of the
    /// queue's lock for the statistics and the ring mode, IPC_SET's claimed writer for the
    /// permissions, whether stopped or gone; and reads what is there. (That the looks, not the
    /// bound, end the wait is `seqlock`'s test; who is looked at,
    /// `the_watched_writer_is_the_lock_holder_or_the_permissions_writer_mid_write`. Here, each
    /// read ends after the looks and within a few bounds: the unit stress, two test processes
    /// beside a CPU hog per core, once kept the quickest of three 24 ms from the CPU.)
    #[test]
    fn a_reader_gives_up_on_a_writer_stopped_or_gone_mid_write_at_two_looks() {
        let h = zeroed_header();
        write_perms_and_stats(&h.entry, |e| {
            e.mode.store(0o600, Ordering::Relaxed);
            e.qnum.store(3, Ordering::Relaxed);
        });
        // A few bounds (see above); the two looks alone take 1.5 ms.
        let soon_us = 3 * BOUND_NS / 1_000;
        let looks_us = 1_500;
        let writer = stopped_writer(&h);
        assert_eq!(h.lock.mutex.holder_tid(), writer.pid());
        for (what, us) in [
            ("stats", quickest_us(|| assert_eq!(stats(&h).qnum, 3))),
            ("snapshot", quickest_us(|| assert_eq!(snapshot(&h).qnum, 3))),
            ("queued", quickest_us(|| assert_eq!(queued(&h), 3))),
        ] {
            assert!((looks_us..soon_us).contains(&us), "{what}: {us} us");
        }

        // IPC_SET's writer, stopped mid-write of the permissions (it needs no lock).
        h.entry.perm_seq.fetch_add(1, Ordering::Relaxed);
        h.entry.perm_writer.store(writer.pid(), Ordering::Relaxed);
        let us = quickest_us(|| assert_eq!(perms(&h).mode, 0o600));
        assert!((looks_us..soon_us).contains(&us), "perms, stopped writer: {us} us");
        // The same writer gone (killed): no thread of that tid is left to finish, and the
        // queue's lock names nobody (the kernel marked its holder dead).
        drop(writer);
        let us = quickest_us(|| assert_eq!(perms(&h).mode, 0o600));
        assert!((looks_us..soon_us).contains(&us), "perms, gone writer: {us} us");
        assert_eq!(h.lock.mutex.holder_tid(), 0);
        let us = quickest_us(|| assert_eq!(stats(&h).qnum, 3));
        assert!((looks_us..soon_us).contains(&us), "stats, the lock's holder died: {us} us");
    }

    /// The writer a reader watches: the holder of the queue's lock, or IPC_SET's claimed writer
    /// while the permissions' sequence is odd (a claim that outlived its write names nobody
    /// writing them).
    #[test]
    fn the_watched_writer_is_the_lock_holder_or_the_permissions_writer_mid_write() {
        let h = zeroed_header();
        assert_eq!(writer_of(&h), StopLooks::NOBODY, "nobody");
        let holder = stopped_writer(&h);
        assert_eq!(writer_of(&h), holder.pid(), "the lock's holder");
        h.entry.perm_writer.store(holder.pid() + 1, Ordering::Relaxed);
        assert_eq!(writer_of(&h), holder.pid(), "a claim with no write running");
        h.entry.perm_seq.fetch_add(1, Ordering::Relaxed);
        assert_eq!(writer_of(&h), holder.pid() + 1, "IPC_SET's writer mid-write");
        h.entry.perm_seq.fetch_add(1, Ordering::Relaxed);
        drop(holder);
        assert_eq!(writer_of(&h), StopLooks::NOBODY, "the lock's holder died");
    }

    /// A writer that runs, or sleeps (here in `nanosleep`; in earnest in a page fault), is
    /// waited for: its write, ended while the reader waits, is read whole.
    #[test]
    fn a_reader_waits_for_a_writer_that_is_not_stopped() {
        let h = zeroed_header();
        let (began_tx, began_rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                h.entry.perm_writer.store(crate::os::ids::tid(), Ordering::Relaxed);
                h.entry.perm_seq.fetch_add(1, Ordering::Relaxed);
                began_tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(3));
                h.entry.mode.store(0o640, Ordering::Relaxed);
                h.entry.perm_seq.fetch_add(1, Ordering::Release);
            });
            began_rx.recv().unwrap();
            assert_eq!(perms(&h).mode, 0o640);
        });
    }
}
