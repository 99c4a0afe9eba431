//! The express ring: how a System V queue moves messages while nothing needs its general
//! structure.
//!
//! Most queues, most of the time, are a stream: nobody blocked, no scheduled message, and
//! receivers that take the oldest message (`msgtyp` 0, or the type the oldest message has, or
//! MSG_EXCEPT of another type). Then the kernel's order is plain FIFO order, and a ring of bytes
//! does it: senders append records under the ring's send lock, receivers take the oldest under
//! its receive lock, so a sender and a receiver on two CPUs do not contend — each side's lock
//! and mark stay in its own cache lines (in the queue's entry), and a message costs the
//! copy of its record from one CPU to the other.
//!
//! Each side's state is one word, its [`Mark`]: the byte position it has reached in the ring,
//! the text bytes and the messages it has moved, each modulo its field's width. `qnum` and
//! `cbytes` are the differences of the two marks, so `IPC_STAT` reads them without a lock, and
//! the full test (the kernel's `msg_fits_inqueue`) is exact.
//!
//! A send clears the header after its record, writes the record, then stores the record's
//! *seal* (the commit), then its side's mark. A receiver finds the next message by its seal,
//! in the header it must read anyway, rather than by the send mark: so a receiver that keeps up
//! with the sender does not pull the sender's mark away from it on every message (on these
//! machines that doubled the cost of a message). A receive copies the record out, then stores
//! the receive mark (the commit). A process killed at any instant leaves a message committed
//! whole or not at all; the next holder of a dead sender's lock moves the send mark past a
//! record it sealed, and otherwise a side's robust lock needs no repair beyond forgetting what
//! the holder had seen of the other side. (Between a seal and the send mark, the receive mark
//! can be one message ahead of the send mark: readers count that as an empty queue, which it
//! then is.)
//!
//! Whatever the ring cannot do goes to the general structure: a receiver that must search (an
//! oldest message of another type, `msgtyp < 0`, MSG_COPY), a caller that must block or fail
//! with E2BIG, a scheduled message, IPC_SET and IPC_RMID. Taking the queue lock folds the ring
//! into the general structure; releasing it unfolds the ring again when the queue holds one type
//! or none and nobody waits. The protocol both APIs share — the mode word and its sequence, the
//! side locks and their recovery, the order of a fold and an unfold, the seals — is
//! `engine::ring`'s; this module holds the System V ring's format (records, marks) and its own
//! steps: a side's repair after a dead holder, a fold's copies into the general structure and its
//! statistics, an unfold's records and marks. The mode word changes last in both: a process
//! killed during a fold leaves the ring in force, and `Locked::repair` drops the copies it had
//! made.
//!
//! The ring's locks and marks live in the queue's entry, in its segment: a caller that looked
//! the queue up before it was removed finds, under the side lock, that the entry is no longer
//! live (a new queue of the same id has a segment of its own).

use std::sync::atomic::Ordering;

use super::super::entry::write_stats;
use super::super::layout::{Entry, RingRecord, RingSide, RING_ALIGN, RING_BYTES, RING_MSG_MAX, RING_SKIP};
use super::{msg_fits_inqueue, search, testmsg, Locked, Queue, Received};
use crate::emu::engine::lock::{self, RobustMutex};
pub use crate::emu::engine::ring::Express;
use crate::emu::engine::ring::{self, ModeChangeSteps, RingMode, Seal, Side, SideGuard};
use crate::errno::{Errno, Result};

const POS_BITS: u32 = 24;
const TEXT_BITS: u32 = 24;
const POS_MASK: u64 = (1 << POS_BITS) - 1;
const TEXT_MASK: u64 = (1 << TEXT_BITS) - 1;
const COUNT_MASK: u64 = (1 << (64 - POS_BITS - TEXT_BITS)) - 1;
/// The most records the ring can hold (each takes at least RING_ALIGN bytes).
const RING_RECORDS_MAX: u64 = RING_BYTES / RING_ALIGN;

/// A side's progress through the ring, packed in one word: byte position (24 bits), text bytes
/// (24 bits) and messages (16 bits), each modulo its width. The ring holds at most `RING_BYTES`
/// (2^18) bytes, so at most that many text bytes and 2^14 records: every difference between the
/// two sides' marks fits its field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark(pub u64);

/// What lies between a receive mark and a send mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Ring bytes (records and skipped ends).
    pub used: u64,
    pub text: u64,
    pub count: u64,
}

impl Mark {
    pub fn pos(self) -> u64 {
        self.0 & POS_MASK
    }

    fn text(self) -> u64 {
        (self.0 >> POS_BITS) & TEXT_MASK
    }

    pub fn count(self) -> u64 {
        self.0 >> (POS_BITS + TEXT_BITS)
    }

    /// Offset in the ring of this position.
    fn offset(self) -> u64 {
        self.pos() % RING_BYTES
    }

    /// The mark after moving `bytes` of ring holding one message of `text` bytes.
    fn advanced(self, bytes: u64, text: u64) -> Mark {
        let pos = (self.pos() + bytes) & POS_MASK;
        let text = (self.text() + text) & TEXT_MASK;
        let count = (self.count() + 1) & COUNT_MASK;
        Mark(pos | text << POS_BITS | count << (POS_BITS + TEXT_BITS))
    }

    /// What lies between `self` (a receive mark) and `tail` (a send mark), or None when the two
    /// cannot belong to one ring (a damaged entry).
    pub fn until(self, tail: Mark) -> Option<Span> {
        let used = tail.pos().wrapping_sub(self.pos()) & POS_MASK;
        let text = tail.text().wrapping_sub(self.text()) & TEXT_MASK;
        let count = tail.count().wrapping_sub(self.count()) & COUNT_MASK;
        let plausible = used <= RING_BYTES && text <= used && count * RING_ALIGN <= used && used % RING_ALIGN == 0;
        plausible.then_some(Span { used, text, count })
    }
}

/// Ring bytes of a record of `len` text bytes.
fn record_bytes(len: u64) -> u64 {
    (std::mem::size_of::<RingRecord>() as u64 + len).div_ceil(RING_ALIGN) * RING_ALIGN
}

/// The ring's `qnum` and `cbytes` from an entry's two marks (a racy but never torn reading;
/// 0, 0 when the marks are implausible).
pub fn ring_counts(e: &Entry) -> (u64, u64) {
    let head = Mark(e.recv.mark.load(Ordering::Acquire));
    let tail = Mark(e.send.mark.load(Ordering::Acquire));
    head.until(tail).map_or((0, 0), |s| (s.count, s.text))
}

/// The mode word of the ring of the queue at `e`, and its sequence.
pub fn ring_mode_of(e: &Entry) -> RingMode<'_> {
    RingMode { mode: &e.ring_mode, seq: &e.ring_mode_seq }
}

fn side_of(e: &Entry, which: Side) -> &RingSide {
    match which {
        Side::Send => &e.send,
        Side::Recv => &e.recv,
    }
}

fn mutex_of(side: &RingSide) -> *const RobustMutex {
    // The lock functions take a pointer (as for the registry's and the queue's own locks).
    &side.mutex
}

/// Initialises an entry's ring locks when its queue is created (before its segment is
/// published: nobody can be using them).
pub fn init_ring(e: &Entry) -> Result<()> {
    if e.ring_inited.load(Ordering::Acquire) == 0 {
        for side in [&e.send, &e.recv] {
            // SAFETY: the mutex lies in the segment's mapping and is not in use (see above).
            unsafe { lock::init(mutex_of(side))? };
        }
        e.ring_inited.store(1, Ordering::Release);
    }
    ring_mode_of(e).reset_to_general();
    Ok(())
}

/// What the header at a receive position holds.
enum Sealed {
    /// Nothing committed there yet.
    Empty,
    /// A committed message: its ring offset, type, length, and the ring bytes it takes
    /// including a skipped end.
    Message(u64, i64, u64, u64),
    /// Not a record this position can hold (a damaged segment).
    Damaged,
}

/// Records `pid` and the second of `now_ns` as the side's statistics (written only on a
/// change).
fn note_stats(side: &RingSide, pid: i32, now_ns: u64) {
    let now = crate::os::clock::seconds_of_ns(now_ns);
    if side.pid.load(Ordering::Relaxed) != pid {
        side.pid.store(pid, Ordering::Relaxed);
    }
    if side.time.load(Ordering::Relaxed) != now {
        side.time.store(now, Ordering::Relaxed);
    }
}

impl Queue {
    fn ring_base(&self) -> *mut u8 {
        // SAFETY: the ring lies below area_offset, inside the first mapping (from_mapping).
        unsafe { self.first.base().add(super::super::layout::ring_offset() as usize) }
    }

    /// Whether `e` holds this queue in express mode (stable under either side lock).
    fn ring_is_ours(&self, e: &Entry) -> bool {
        ring_mode_of(e).is_express() && e.id1.load(Ordering::Acquire) == self.id as u32 + 1
    }

    /// Allocates the ring's storage up to byte `upto` of it (see `storage`'s `reserve`).
    fn reserve_ring(&self, upto: u64) -> Result<()> {
        self.reserve(&self.reserved_ring, super::super::layout::ring_offset(), upto, RING_BYTES)
    }

    /// The record at ring offset `off` (16-aligned, below RING_BYTES).
    fn record(&self, off: u64) -> *mut RingRecord {
        debug_assert!(off % RING_ALIGN == 0 && off < RING_BYTES);
        // SAFETY: off + 16 <= RING_BYTES: inside the ring.
        unsafe { self.ring_base().add(off as usize) as *mut RingRecord }
    }

    /// The seal word of the header at ring offset `off`.
    fn seal(&self, off: u64) -> &std::sync::atomic::AtomicU32 {
        // SAFETY: a header inside the ring (record), 4-aligned; the seal is only accessed
        // atomically.
        unsafe { &(*self.record(off)).seal }
    }

    /// What the header at receive position `head` holds.
    fn sealed_at(&self, head: Mark) -> Sealed {
        let mut off = head.offset();
        let mut skipped = 0;
        match ring::read_seal(self.seal(off), head.count()) {
            Seal::Unsealed => return Sealed::Empty,
            Seal::Other => return Sealed::Damaged,
            Seal::Sealed => {}
        }
        // SAFETY: a sealed header (Acquire above: written before the seal) inside the ring.
        let (mut len, mut mtype) = unsafe { ((*self.record(off)).len, (*self.record(off)).mtype) };
        if len == RING_SKIP {
            skipped = RING_BYTES - off;
            off = 0;
            // SAFETY: as above: the record at the start was written before the skip's seal.
            (len, mtype) = unsafe { ((*self.record(0)).len, (*self.record(0)).mtype) };
        }
        let len = len as u64;
        let bytes = record_bytes(len);
        if len <= RING_MSG_MAX && off + bytes <= RING_BYTES && skipped + bytes <= RING_BYTES - RING_ALIGN {
            Sealed::Message(off, mtype, len, skipped + bytes)
        } else {
            Sealed::Damaged
        }
    }

    /// Ring bytes a message of `len` bytes takes at send position `tail`: the record and the
    /// skipped end before it, if any.
    fn bytes_at(tail: Mark, len: u64) -> (u64, u64) {
        let need = record_bytes(len);
        let skip = if tail.offset() + need > RING_BYTES { RING_BYTES - tail.offset() } else { 0 };
        (skip, need)
    }

    /// Writes a message at send position `tail` and seals it (the commit of a send); returns
    /// the send mark after it. The header after the record is cleared first, so a receiver
    /// never mistakes older bytes there for a record.
    ///
    /// # Safety
    /// The caller holds the send lock (or the queue in general mode with both); the ring has
    /// `skip + need + RING_ALIGN` free bytes from `tail` (the receive mark, read with Acquire,
    /// is that far behind, so a receiver that had them finished with them); `len` <=
    /// RING_MSG_MAX bytes at `text` are readable.
    unsafe fn write_record(&self, tail: Mark, mtype: i64, text: *const u8, len: u64, sent_ns: u64) -> Mark {
        let (skip, need) = Self::bytes_at(tail, len);
        let after = tail.advanced(skip + need, len);
        ring::clear_seal(self.seal(after.offset()));
        let off = if skip > 0 { 0 } else { tail.offset() };
        // SAFETY: per the caller, the record's bytes are free and inside the ring.
        unsafe {
            let r = self.record(off);
            (&raw mut (*r).len).write(len as u32);
            (&raw mut (*r).mtype).write(mtype);
            (&raw mut (*r).sent_ns).write(sent_ns);
            std::ptr::copy_nonoverlapping(text, (r as *mut u8).add(std::mem::size_of::<RingRecord>()), len as usize);
        }
        if skip > 0 {
            // The record past the skip carries the skip's seal; the skip's own is the commit.
            self.seal(0).store(ring::seal_of(tail.count()), Ordering::Relaxed);
            // SAFETY: the skipped end is free, as above.
            unsafe {
                let r = self.record(tail.offset());
                (&raw mut (*r).len).write(RING_SKIP);
                (&raw mut (*r).mtype).write(0);
            }
        }
        // The commit point of a send through the ring.
        ring::commit_seal(self.seal(tail.offset()), tail.count());
        after
    }

    /// Locks one side of the ring of the queue at `e`. After a holder died, what it had seen
    /// of the other side is forgotten (re-read), and a record a dead sender sealed is counted
    /// in the send mark.
    #[inline]
    fn lock_side<'e>(&self, e: &'e Entry, which: Side) -> Result<SideGuard<'e>> {
        if e.ring_inited.load(Ordering::Acquire) == 0 {
            return Err(Errno::EIDRM);
        }
        let side = side_of(e, which);
        let recover_after_death = || {
            let other = match which {
                Side::Send => &e.recv,
                Side::Recv => &e.send,
            };
            side.peer_seen.store(other.mark.load(Ordering::Acquire), Ordering::Relaxed);
            if which == Side::Send && self.ring_is_ours(e) {
                // At most one record can be sealed past the mark: its sender's.
                let tail = Mark(side.mark.load(Ordering::Relaxed));
                if let Sealed::Message(_, _, len, bytes) = self.sealed_at(tail) {
                    side.mark.store(tail.advanced(bytes, len).0, Ordering::Release);
                }
            }
        };
        // SAFETY: initialised (ring_inited); it lives as long as the segment's mapping.
        unsafe { ring::lock_side(mutex_of(side), ring_mode_of(e), recover_after_death) }
    }

    /// The send mark of the ring of the queue at `e`, or None when the ring does not hold the
    /// queue: a receiver that found nothing of its type waits for it to change.
    pub fn ring_sent(&self, e: &Entry) -> Option<u64> {
        self.ring_is_ours(e).then(|| e.send.mark.load(Ordering::Acquire))
    }

    /// Whether the ring of the queue at `e` shows a message to take, or None when the ring does
    /// not hold the queue (a hint for a spinning receiver: no lock, and no look at the sender's
    /// lines).
    pub fn ring_message_ready(&self, e: &Entry) -> Option<bool> {
        if !self.ring_is_ours(e) {
            return None;
        }
        let head = Mark(e.recv.mark.load(Ordering::Acquire));
        Some(ring::read_seal(self.seal(head.offset()), head.count()) != Seal::Unsealed)
    }

    /// Sends a message (type and length checked by the caller, `len` bytes at `text` readable)
    /// through the ring of the queue at `e`.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    pub fn express_send(&self, e: &Entry, mtype: i64, text: *const u8, len: usize, pid: i32, now_ns: u64) -> Result<Express<()>> {
        let len64 = len as u64;
        if len64 > RING_MSG_MAX || !ring_mode_of(e).looks_express() {
            return Ok(Express::Unavailable);
        }
        let _held = self.lock_side(e, Side::Send)?;
        if !self.ring_is_ours(e) {
            return Ok(Express::Unavailable);
        }
        let side = &e.send;
        let tail = Mark(side.mark.load(Ordering::Relaxed));
        let (skip, need) = Self::bytes_at(tail, len64);
        let qbytes = e.qbytes.load(Ordering::Relaxed);
        // (fits the queue, fits the ring with the next header), or None for a damaged entry.
        let room = |head: Mark| head.until(tail).map(|s| (msg_fits_inqueue(len64, s.count, s.text, qbytes), s.used + skip + need + RING_ALIGN <= RING_BYTES));
        if room(Mark(side.peer_seen.load(Ordering::Relaxed))) != Some((true, true)) {
            let head = e.recv.mark.load(Ordering::Acquire);
            side.peer_seen.store(head, Ordering::Relaxed);
            match room(Mark(head)) {
                Some((true, true)) => {}
                Some((false, _)) => return Ok(Express::Refused),
                _ => return Ok(Express::Unavailable),
            }
        }
        // The newest run of one type: restarted by a new type, and kept no longer than the
        // ring can hold (older messages are gone), so its start stays comparable. Written
        // before the seal, for receivers that look.
        let count = tail.count();
        if side.last_type.load(Ordering::Relaxed) != mtype {
            side.last_type.store(mtype, Ordering::Relaxed);
            side.run_start.store(count as u32, Ordering::Relaxed);
        } else if count.wrapping_sub(side.run_start.load(Ordering::Relaxed) as u64) & COUNT_MASK > RING_RECORDS_MAX {
            side.run_start.store((count.wrapping_sub(RING_RECORDS_MAX) & COUNT_MASK) as u32, Ordering::Relaxed);
        }
        // The ring's storage is allocated as its first lap reaches it: a full filesystem sends
        // the message the general way, whose block allocation says ENOMEM.
        if self.reserve_ring((tail.offset() + skip + need + RING_ALIGN).min(RING_BYTES)).is_err() {
            return Ok(Express::Unavailable);
        }
        note_stats(side, pid, now_ns);
        // SAFETY: we hold the send lock; room checked above; the caller checked `text`.
        let after = unsafe { self.write_record(tail, mtype, text, len64, now_ns) };
        side.mark.store(after.0, Ordering::Release);
        Ok(Express::Done(()))
    }

    /// Receives the queue's oldest message if the receiver (`mode`, `typ` as converted by
    /// `convert_mode`; not MSG_COPY) takes it: its type to `dst`, then at most `bufsz` bytes
    /// of text (`writable` bytes at `dst` already known writable).
    #[allow(clippy::too_many_arguments, clippy::not_unsafe_ptr_arg_deref)]
    pub fn express_receive(
        &self,
        e: &Entry,
        mode: u32,
        typ: i64,
        dst: *mut u8,
        bufsz: usize,
        noerror: bool,
        writable: usize,
        pid: i32,
        now_ns: u64,
    ) -> Result<Express<Received>> {
        if !ring_mode_of(e).looks_express() || mode == search::NUMBER {
            return Ok(Express::Unavailable);
        }
        let _held = self.lock_side(e, Side::Recv)?;
        if !self.ring_is_ours(e) {
            return Ok(Express::Unavailable);
        }
        let side = &e.recv;
        let head = Mark(side.mark.load(Ordering::Relaxed));
        let (off, mtype, len, bytes) = match self.sealed_at(head) {
            Sealed::Empty => return Ok(Express::Refused),
            Sealed::Damaged => return Ok(Express::Unavailable),
            Sealed::Message(off, mtype, len, bytes) => (off, mtype, len, bytes),
        };
        // The oldest message is the one taken when it matches (`msgtyp` 0, its type, or
        // MSG_EXCEPT of another); when the ring holds one type only, the answer is known
        // either way (`msgtyp < 0` included). Anything else searches the general structure (as
        // does E2BIG, which leaves the message queued).
        let one_type = || self.ring_holds_one_type(e, head);
        let takes = match mode {
            search::ANY | search::EQUAL | search::NOTEQUAL if testmsg(mtype, typ, mode) => true,
            search::EQUAL | search::NOTEQUAL | search::LESSEQUAL if one_type() => {
                if mode == search::LESSEQUAL && testmsg(mtype, typ, mode) {
                    true
                } else {
                    return Ok(Express::Refused);
                }
            }
            _ => false,
        };
        if !takes || (len > bufsz as u64 && !noerror) {
            return Ok(Express::Unavailable);
        }
        let n = (len as usize).min(bufsz);
        // As in the kernel, the message is gone even when the copy-out fails (EFAULT).
        let copied = 8 + n <= writable || crate::os::usermem::probe_write(dst, 8 + n);
        if copied {
            // SAFETY: 8 + n bytes at dst are writable; the record (sealed, read with Acquire)
            // holds len >= n bytes of text inside the ring.
            unsafe {
                std::ptr::write_unaligned(dst as *mut i64, mtype);
                let text = (self.record(off) as *const u8).add(std::mem::size_of::<RingRecord>());
                std::ptr::copy_nonoverlapping(text, dst.add(8), n);
            }
        }
        note_stats(side, pid, now_ns);
        // The commit point of an express receive (after the copy: the bytes may be reused).
        side.mark.store(head.advanced(bytes, len).0, Ordering::Release);
        Ok(Express::Done(Received { len: n, copied }))
    }
}

impl Queue {
    /// Whether every message from receive mark `head` on has one type (the caller holds the
    /// receive lock, so `head` is current and the ring cannot drain under it). False when it
    /// cannot tell.
    fn ring_holds_one_type(&self, e: &Entry, head: Mark) -> bool {
        let tail = e.send.mark.load(Ordering::Acquire);
        let run_start = e.send.run_start.load(Ordering::Acquire) as u64;
        // The run start belongs to this tail unless a send committed meanwhile (a newer start
        // could otherwise seem to lie before the head). A run start written for a send not yet
        // committed equals the tail's count: then the answer is a conservative "no".
        if e.send.mark.load(Ordering::Acquire) != tail {
            return false;
        }
        let since = |count: u64| count.wrapping_sub(run_start) & COUNT_MASK;
        since(head.count()) <= since(Mark(tail).count())
    }
}

impl Locked<'_> {
    /// Whether the entry holds this queue in express mode.
    pub(super) fn in_express_mode(&self) -> bool {
        self.q.ring_is_ours(self.entry)
    }

    /// Moves the ring's messages into the general structure (called with the queue lock held;
    /// see [`ring::fold`]).
    pub(super) fn fold(&mut self) -> Result<()> {
        ring::fold(self)
    }

    /// Hands the queue to the ring when the general structure is not needed (called with the
    /// queue lock held, just before it is released; see [`ring::unfold_if_idle`]).
    pub(super) fn unfold_if_idle(&mut self) {
        ring::unfold_if_idle(self)
    }

    /// The queued messages the ring would take over (block, type, length, in FIFO order), or
    /// None when the general structure holds what the ring cannot: a waiter, a scheduled
    /// message, messages of more than one type, or more than fits the ring.
    fn messages_to_take_over(&mut self) -> Option<Vec<(u32, i64, u64)>> {
        let st = self.st();
        let (qnum, cbytes) = (st.qnum, st.cbytes);
        let idle = st.recv_waiting == 0 && st.send_waiting == 0 && st.scheduled == 0 && st.types <= 1 && self.entry.next_due_ns.load(Ordering::Relaxed) == 0;
        // An upper bound of the ring bytes (a record's header is less than 2 RING_ALIGN, it
        // rounds up by less than one more, and a skipped end is shorter than the longest record).
        let bound = qnum.checked_mul(3 * RING_ALIGN).and_then(|b| b.checked_add(cbytes)).map(|b| b + RING_MSG_MAX + 2 * RING_ALIGN);
        if !idle || !matches!(bound, Some(b) if b <= RING_BYTES) {
            return None;
        }
        let mut msgs = Vec::with_capacity(qnum as usize);
        let mut r = self.st().fifo_head;
        while r != 0 && msgs.len() < qnum as usize {
            let b = self.msg(r).ok()?;
            if b.len > RING_MSG_MAX {
                return None;
            }
            msgs.push((r, b.mtype, b.len));
            r = b.next;
        }
        (msgs.len() as u64 == qnum && r == 0).then_some(msgs)
    }
}

/// The System V queue's steps of the ring's mode changes, which `ring::fold` and
/// `ring::unfold_if_idle` run in their order (with the queue lock and, for the moves, both
/// side locks held).
impl<'q> ModeChangeSteps<'q> for Locked<'q> {
    /// The queued messages, all of one type, that an unfold writes into the ring.
    type Takeover = Vec<(u32, i64, u64)>;

    #[inline]
    fn ring_mode(&self) -> RingMode<'q> {
        ring_mode_of(self.entry)
    }

    #[inline]
    fn lock_side(&self, side: Side) -> Result<SideGuard<'q>> {
        self.q.lock_side(self.entry, side)
    }

    #[inline]
    fn ring_holds_queue(&self) -> bool {
        self.in_express_mode()
    }

    /// Each message is queued in ring order, then the statistics are published (the mode then
    /// changes: the commit). Should a block not be had (ENOMEM), the copies are dropped again
    /// by repair, and the ring stays in force.
    #[inline]
    fn move_ring_to_general(&mut self) -> Result<()> {
        let e = self.entry;
        let mut head = Mark(e.recv.mark.load(Ordering::Acquire));
        let tail = Mark(e.send.mark.load(Ordering::Acquire));
        // A damaged ring yields what can be read of it.
        while head.until(tail).is_some_and(|s| s.used > 0) {
            let Sealed::Message(off, mtype, len, bytes) = self.q.sealed_at(head) else { break };
            // SAFETY: the record holds its header and `len` bytes of text inside the ring.
            let (text, sent_ns) = unsafe { ((self.q.record(off) as *const u8).add(std::mem::size_of::<RingRecord>()), (*self.q.record(off)).sent_ns) };
            if let Err(err) = self.queue_copy(mtype.max(1), text, len as usize, sent_ns) {
                self.repair();
                return Err(err);
            }
            head = head.advanced(bytes, len);
        }
        let (sent, received) = (
            (e.send.pid.load(Ordering::Relaxed), e.send.time.load(Ordering::Relaxed)),
            (e.recv.pid.load(Ordering::Relaxed), e.recv.time.load(Ordering::Relaxed)),
        );
        let (qnum, cbytes) = (self.st().qnum, self.st().cbytes);
        write_stats(e, |e| {
            e.qnum.store(qnum, Ordering::Relaxed);
            e.cbytes.store(cbytes, Ordering::Relaxed);
            e.lspid.store(sent.0, Ordering::Relaxed);
            e.stime.store(sent.1, Ordering::Relaxed);
            e.lrpid.store(received.0, Ordering::Relaxed);
            e.rtime.store(received.1, Ordering::Relaxed);
        });
        Ok(())
    }

    #[inline]
    fn woke_a_sleeper(&self) -> bool {
        !self.wakes.is_empty()
    }

    #[inline]
    fn ring_takeover(&mut self) -> Option<Self::Takeover> {
        if !self.valid() {
            return None;
        }
        self.messages_to_take_over()
    }

    /// The queued messages are written into the ring in order, and the marks and the sides'
    /// statistics set from the general structure's.
    #[inline]
    fn move_general_to_ring(&mut self, msgs: &Self::Takeover) -> bool {
        let e = self.entry;
        // Positions stay 16-aligned whatever a damaged entry held.
        let head = Mark(e.send.mark.load(Ordering::Acquire) & !(RING_ALIGN - 1));
        // The ring's storage as far as these records reach (all of it if they wrap).
        let reach = head.offset() + msgs.iter().map(|m| record_bytes(m.2)).sum::<u64>() + RING_ALIGN;
        if self.q.reserve_ring(reach.min(RING_BYTES)).is_err() {
            return false;
        }
        // Nothing at the head until a record is written there.
        ring::clear_seal(self.q.seal(head.offset()));
        let mut tail = head;
        for &(r, mtype, len) in msgs {
            let (Ok((text, _)), Ok(sent_ns)) = (self.text_ptr(r), self.msg(r).map(|b| b.visible_ns)) else {
                // Unreadable after all: leave the general structure in force.
                return false;
            };
            // SAFETY: we hold both side locks; the ring is unused in general mode and the
            // records fit it (messages_to_take_over's bound); the block holds `len` bytes of text.
            tail = unsafe { self.q.write_record(tail, mtype, text, len, sent_ns) };
        }
        e.recv.mark.store(head.0, Ordering::Release);
        e.send.mark.store(tail.0, Ordering::Release);
        e.send.peer_seen.store(head.0, Ordering::Relaxed);
        e.recv.peer_seen.store(tail.0, Ordering::Relaxed);
        e.send.last_type.store(msgs.last().map_or(0, |m| m.1), Ordering::Relaxed);
        e.send.run_start.store(head.count() as u32, Ordering::Relaxed);
        e.send.pid.store(e.lspid.load(Ordering::Relaxed), Ordering::Relaxed);
        e.send.time.store(e.stime.load(Ordering::Relaxed), Ordering::Relaxed);
        e.recv.pid.store(e.lrpid.load(Ordering::Relaxed), Ordering::Relaxed);
        e.recv.time.store(e.rtime.load(Ordering::Relaxed), Ordering::Relaxed);
        true
    }

    /// The general structure's copies are dropped once the ring holds the messages (by repair,
    /// should the process die first).
    #[inline]
    fn after_unfold(&mut self, msgs: Self::Takeover) {
        if !msgs.is_empty() {
            self.drop_taken_over(&msgs);
        }
    }
}

#[cfg(test)]
mod tests;
