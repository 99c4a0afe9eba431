//! A queue's entry (`layout::Entry`, in its own segment): consistent reads of its permissions
//! and statistics without a lock, and their writes by the holder of the queue's lock.

use std::sync::atomic::{AtomicU32, Ordering};

use super::layout::Entry;
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

/// Reads through sequence locks (see [`seqlock::read`]), taking what is there should a writer
/// seem never to finish.
fn read_consistent<T, const N: usize>(seqs: [&AtomicU32; N], read: impl Fn() -> T) -> T {
    seqlock::read(seqs, READ_PATIENCE, read).value
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

/// Messages queued now (for the hints of the fast paths).
pub fn queued(e: &Entry) -> u64 {
    let counts = |express| if express { super::queue::ring_counts(e).0 } else { e.qnum.load(Ordering::Acquire) };
    super::queue::ring_mode_of(e).read(READ_PATIENCE, counts).value
}

/// An entry's permissions (the statistics left zero): the one cache line every call reads.
pub fn perms(e: &Entry) -> Snapshot {
    read_consistent([&e.perm_seq], || {
        let mut s = Snapshot::default();
        read_perms(e, &mut s);
        s
    })
}

/// An entry's statistics (the permissions left zero).
pub fn stats(e: &Entry) -> Snapshot {
    read_consistent([&e.stat_seq, &e.ring_mode_seq], || {
        let mut s = Snapshot::default();
        read_stats(e, &mut s);
        s
    })
}

/// An entry's permissions and statistics, consistent with each other (IPC_STAT).
pub fn snapshot(e: &Entry) -> Snapshot {
    read_consistent([&e.perm_seq, &e.stat_seq, &e.ring_mode_seq], || {
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
/// `lock::BOUND_NS`, waiting as the System V calls wait for another thread's work
/// (`super::pause`).
fn claim_perm_writer(e: &Entry, me: i32) -> Result<()> {
    let start = crate::os::clock::monotonic_ns();
    let mut looks = crate::emu::engine::lock::StopLooks::new(start);
    let mut round = 0u32;
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
        super::pause(round);
        round = round.saturating_add(1);
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

    #[test]
    fn snapshots_are_consistent_and_survive_a_dead_writer() {
        // SAFETY: an entry is atomics, integers and a mutex that is never used here: all
        // zeros is a valid (empty) entry, as in a fresh segment.
        let e: Box<Entry> = Box::new(unsafe { std::mem::zeroed() });
        write_stats(&e, |e| {
            e.qnum.store(2, Ordering::Relaxed);
            e.cbytes.store(10, Ordering::Relaxed);
        });
        let s = snapshot(&e);
        assert_eq!((s.qnum, s.cbytes), (2, 10));
        // A writer that died mid-write: the sequence stays odd until settled.
        e.stat_seq.fetch_add(1, Ordering::Relaxed);
        assert_eq!(snapshot(&e).qnum, 2);
        settle_stats(&e);
        assert_eq!(e.stat_seq.load(Ordering::Relaxed) & 1, 0);
    }
}
