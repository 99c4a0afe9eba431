//! The express ring: how a queue moves messages while nothing needs its general structure.
//!
//! Most queues, most of the time, hold messages of one priority (or of priorities that only
//! fall), have nobody blocked on them, no `mq_notify` registration, no poller and no scheduled
//! message. Then the order the kernel defines (highest priority first, FIFO within one) is
//! plain FIFO order, and a ring does it: senders append under the ring's send lock, receivers
//! take from the head under its receive lock, so a sender and a receiver on two CPUs do not
//! contend — each side's lock and position stay in its own cache, and a message costs the
//! copy of its slot from one CPU to the other.
//!
//! The ring is the queue slots in order: position `p` lives in slot `p % maxmsg`. A send
//! writes the slot, then its *seal* (`p + 1`, the commit), then publishes `tail = p + 1`; a
//! receiver finds the next message by the seal of the head's slot, which it reads with the
//! message anyway, rather than by `tail` — so a receiver that keeps up with the sender does not
//! pull the sender's line away on every message. A receive copies the slot out, then publishes
//! `head = p + 1` (the commit). A process killed at any instant leaves either the message
//! committed whole or not at all, and its side's lock is robust: the next holder recomputes the
//! cached slot index from the position, and moves `tail` past a message a dead sender sealed.
//! (Between a seal and `tail`, `head` can be one ahead of `tail`: counts read that as empty,
//! which the queue then is.) A stale seal never passes for a new one: a slot's seal is
//! rewritten every lap of the ring, and positions only grow.
//!
//! Whatever the ring cannot do goes to the general structure: a send whose priority is above
//! the newest message's, a caller that must block, a notification, a poller, a scheduled
//! message. Taking the queue lock folds the ring into the general structure; releasing it
//! unfolds the ring again when the queue is empty and nothing else needs the general structure.
//! The protocol both APIs share — the mode word and its sequence, the side locks and their
//! recovery, the order of a fold and an unfold, the seals — is `engine::ring`'s; this module
//! holds the POSIX ring's format and its own steps: a side's repair after a dead holder (the
//! cached slot, the tail past a sealed message), a fold's queueing of each message in ring order,
//! an unfold's reset of the positions. A process killed during a mode change leaves the old mode
//! in force and `Locked::repair` rebuilds from it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::super::layout::{ExpressRing, RingSide};
use super::{Locked, Message, Queue, Received};
pub use crate::emu::engine::ring::Express;
use crate::emu::engine::ring::{self, ModeChangeSteps, RingMode, Seal, Side, SideGuard};
use crate::emu::engine::seqlock::Patience;
use crate::errno::Result;

/// How long a lock-free read of the count retries across a mode change before settling for
/// the general structure's count.
const SNAPSHOT_PATIENCE: Patience = Patience { tries: 10_000, spins_before_yield: u32::MAX };

/// The atomic words of the ring.
struct RingAtomics<'q> {
    mode: RingMode<'q>,
    head: &'q AtomicU64,
    tail: &'q AtomicU64,
}

impl Queue {
    pub(super) fn ring(&self) -> *mut ExpressRing {
        // SAFETY: the header, which ends with the ring, is inside the mapping (checked by
        // from_mapping/initialise).
        unsafe { &raw mut (*(self.map.base() as *mut super::PosixHeader)).ring }
    }

    /// Writes the ring's positions as another process might: for the damage tests.
    #[cfg(test)]
    pub(super) fn set_ring_positions(&self, head: u64, tail: u64) {
        let ring = self.ring_ref();
        ring.head.store(head, Ordering::Release);
        ring.tail.store(tail, Ordering::Release);
    }

    /// The ring's atomics (the side records, guarded by their locks, are reached through
    /// [`Queue::side`] only).
    fn ring_ref(&self) -> RingAtomics<'_> {
        let r = self.ring();
        // SAFETY: fields of the ring, in the mapping for as long as `self`; atomics only.
        unsafe { RingAtomics { mode: RingMode { mode: &(*r).mode, seq: &(*r).mode_seq }, head: &(*r).head.pos, tail: &(*r).tail.pos } }
    }

    /// A side's record, for its lock's holder.
    ///
    /// # Safety
    /// The caller holds that side's lock (so no one else touches `peer_seen` and `slot`).
    #[allow(clippy::mut_from_ref)]
    unsafe fn side(&self, which: Side) -> &mut RingSide {
        let r = self.ring();
        // SAFETY: in the mapping; exclusive per the caller.
        unsafe {
            match which {
                Side::Send => &mut (*r).send,
                Side::Recv => &mut (*r).recv,
            }
        }
    }

    /// Whether the queue is in express mode now (a hint without a lock).
    pub fn is_express(&self) -> bool {
        self.ring_ref().mode.is_express()
    }

    /// Locks one side of the ring. After a holder died, the cached slot index is recomputed
    /// from the committed position, and a message a dead sender sealed is counted in the tail.
    #[inline]
    pub(super) fn lock_side(&self, which: Side) -> Result<SideGuard<'_>> {
        let r = self.ring();
        let (side, pos) = match which {
            // SAFETY: fields of the ring, in the mapping.
            Side::Send => (unsafe { &raw mut (*r).send }, self.ring_ref().tail),
            // SAFETY: as above.
            Side::Recv => (unsafe { &raw mut (*r).recv }, self.ring_ref().head),
        };
        // SAFETY: a field of the ring, in the mapping.
        let mutex = unsafe { &raw mut (*side).mutex };
        let recover_after_death = || {
            if which == Side::Send && self.is_express() {
                // At most one message can be sealed past the tail: its dead sender's.
                let tail = pos.load(Ordering::Acquire);
                if self.sealed(tail) {
                    pos.store(tail + 1, Ordering::Release);
                }
            }
            // SAFETY: we hold the side's lock, which guards `slot`.
            unsafe { (*side).slot = (pos.load(Ordering::Acquire) % self.geo.maxmsg as u64) as u32 };
        };
        // SAFETY: the mutex was initialised with the segment; it lives as long as the mapping.
        unsafe { ring::lock_side(mutex, self.ring_ref().mode, recover_after_death) }
    }

    /// The slot of a side's position `pos`: its cached index, recomputed should the segment
    /// have been damaged (every slot index used must be below maxmsg).
    fn checked_slot(&self, side: &RingSide, pos: u64) -> u32 {
        if side.slot < self.geo.maxmsg {
            side.slot
        } else {
            (pos % self.geo.maxmsg as u64) as u32
        }
    }

    /// The seal word of queue slot `slot` (< maxmsg).
    fn seal(&self, slot: u32) -> &AtomicU32 {
        // SAFETY: a slot inside the mapping; the seal is only accessed atomically.
        unsafe { &(*self.slot(slot)).ring_seal }
    }

    /// Whether the message at ring position `pos` is sealed (sent).
    fn sealed(&self, pos: u64) -> bool {
        let slot = (pos % self.geo.maxmsg as u64) as u32;
        ring::read_seal(self.seal(slot), pos) == Seal::Sealed
    }

    /// Whether the ring shows a message at its head, or None when the queue is not in express
    /// mode (a hint for a spinning receiver: no lock, and no look at the sender's lines).
    pub fn ring_message_ready(&self) -> Option<bool> {
        if !self.is_express() {
            return None;
        }
        Some(self.sealed(self.ring_ref().head.load(Ordering::Acquire)))
    }

    fn next_slot(&self, slot: u32) -> u32 {
        if slot + 1 == self.geo.maxmsg {
            0
        } else {
            slot + 1
        }
    }

    /// Sends `m` (length checked by the caller) through the ring.
    pub fn express_send(&self, m: &Message) -> Result<Express<()>> {
        let ring = self.ring_ref();
        if !ring.mode.looks_express() {
            return Ok(Express::Unavailable);
        }
        let _held = self.lock_side(Side::Send)?;
        // Stable while the send lock is held: a mode change needs it.
        if !ring.mode.is_express() {
            return Ok(Express::Unavailable);
        }
        // SAFETY: we hold the send lock.
        let side = unsafe { self.side(Side::Send) };
        let maxmsg = self.geo.maxmsg as u64;
        let tail = ring.tail.load(Ordering::Relaxed);
        // (Wrapping: a damaged segment must not panic; it then looks full, and the general
        // path, which clamps the positions, takes over.)
        if tail.wrapping_sub(side.peer_seen) >= maxmsg {
            side.peer_seen = ring.head.load(Ordering::Acquire);
            if tail.wrapping_sub(side.peer_seen) >= maxmsg {
                return Ok(Express::Refused);
            }
        }
        let slot = self.checked_slot(side, tail);
        self.ready_queue_slot_by(&side.slots_ready, slot)?;
        if tail != side.peer_seen {
            // Not known to be empty: the ring's order is its priority order only while
            // priorities never increase. The newest message's slot is written only by senders,
            // so reading it under the send lock is stable (it may have been received already:
            // then the general path is merely not needed, and still correct).
            let newest = if slot == 0 { self.geo.maxmsg - 1 } else { slot - 1 };
            // SAFETY: newest < maxmsg <= slot_count; the field is written only under the send lock.
            if m.prio > unsafe { (*self.slot(newest)).prio } {
                return Ok(Express::Unavailable);
            }
        }
        // SAFETY: slot < maxmsg is the ring's, not visible to receivers until tail moves past
        // it, and not being read by one (head > tail - maxmsg, checked above with Acquire,
        // so the receiver that had it finished copying before it moved head); m.len <= msgsize.
        unsafe {
            std::ptr::copy_nonoverlapping(m.ptr, self.slot_data(slot), m.len);
            let s = self.slot(slot);
            (&raw mut (*s).len).write(m.len as u32);
            (&raw mut (*s).prio).write(m.prio);
            (&raw mut (*s).visible_ns).write(m.sent_ns);
        }
        side.slot = self.next_slot(slot);
        side.last_ns.store(m.sent_ns, Ordering::Relaxed);
        // The commit point of an express send; then the count.
        ring::commit_seal(self.seal(slot), tail);
        ring.tail.store(tail + 1, Ordering::Release);
        Ok(Express::Done(()))
    }

    /// Receives the ring's oldest message into `buf` (`writable` bytes of it already known
    /// writable; at least msgsize bytes long, checked by the caller).
    pub fn express_receive(&self, buf: *mut u8, writable: usize) -> Result<Express<Received>> {
        let ring = self.ring_ref();
        if !ring.mode.looks_express() {
            return Ok(Express::Unavailable);
        }
        let _held = self.lock_side(Side::Recv)?;
        if !ring.mode.is_express() {
            return Ok(Express::Unavailable);
        }
        // SAFETY: we hold the receive lock.
        let side = unsafe { self.side(Side::Recv) };
        let head = ring.head.load(Ordering::Relaxed);
        let slot = self.checked_slot(side, head);
        if ring::read_seal(self.seal(slot), head) != Seal::Sealed {
            return Ok(Express::Refused);
        }
        let msgsize = self.geo.msgsize as u32;
        // SAFETY: slot < maxmsg, committed by a sender (its seal read with Acquire) and not
        // written again until head moves past it.
        let (len, prio) = unsafe {
            let s = self.slot(slot);
            ((&raw const (*s).len).read().min(msgsize) as usize, (&raw const (*s).prio).read())
        };
        let copied = self.copy_out(slot, len, buf, writable);
        side.slot = self.next_slot(slot);
        side.last_ns.store(crate::os::clock::coarse_realtime_ns(), Ordering::Relaxed);
        // The commit point of an express receive (after the copy: the slot may be reused).
        ring.head.store(head + 1, Ordering::Release);
        Ok(Express::Done(Received { len, prio, copied }))
    }

    /// Copies `len` bytes of queue slot `slot` to `buf` if they are writable there (`writable`
    /// bytes known to be). False when they are not: the message is lost with EFAULT, as the
    /// kernel's copy-out after the dequeue.
    fn copy_out(&self, slot: u32, len: usize, buf: *mut u8, writable: usize) -> bool {
        let copied = len <= writable || crate::os::usermem::probe_write(buf, len);
        if copied {
            // SAFETY: the slot holds `len` <= msgsize bytes; `len` bytes at `buf` are writable.
            unsafe { std::ptr::copy_nonoverlapping(self.slot_data(slot), buf, len) };
        }
        copied
    }

    /// `f(express)` read consistently with the mode, without a lock: retried across a mode
    /// change. None if a change seems never to end (its maker died; the next locker fixes it).
    fn read_with_mode<T>(&self, f: impl Fn(bool) -> T) -> Option<T> {
        self.ring_ref().mode.read(SNAPSHOT_PATIENCE, f).stable()
    }

    /// The ring's messages, oldest first, for a snapshot (the caller holds the queue lock and
    /// both side locks, so nothing moves).
    pub(super) fn ring_messages(&self, preview: usize) -> Vec<crate::emu::peek::PeekedMessage> {
        let ring = self.ring_ref();
        let maxmsg = self.geo.maxmsg as u64;
        let head = ring.head.load(Ordering::Acquire);
        let tail = ring_end(head, ring.tail.load(Ordering::Acquire), maxmsg);
        (head..tail).map(|p| self.peek_slot((p % maxmsg) as u32, preview, None)).collect()
    }

    /// Messages in the ring (head read first, so the count is never negative).
    fn ring_count(&self) -> u32 {
        let ring = self.ring_ref();
        let head = ring.head.load(Ordering::Acquire);
        let tail = ring.tail.load(Ordering::Acquire);
        tail.saturating_sub(head).min(self.geo.maxmsg as u64) as u32
    }

    /// Messages queued now, in whichever structure holds them.
    pub(super) fn count_now(&self) -> u32 {
        // SAFETY: state is in the mapping; curmsgs is atomic.
        let general = || unsafe { (*self.state()).curmsgs.load(Ordering::Acquire) };
        self.read_with_mode(|express| if express { self.ring_count() } else { general() }).unwrap_or_else(general)
    }

    /// Bytes queued now (the ring's are summed: this is for display, never a hot path).
    pub(super) fn bytes_now(&self) -> u64 {
        // SAFETY: as for count_now.
        let general = || unsafe { (*self.state()).curbytes.load(Ordering::Acquire) };
        let ring_bytes = || {
            let ring = self.ring_ref();
            let (head, tail) = (ring.head.load(Ordering::Acquire), ring.tail.load(Ordering::Acquire));
            let maxmsg = self.geo.maxmsg as u64;
            (head..tail.min(head + maxmsg))
                // SAFETY: slot index < maxmsg; a racy read of a length is harmless here.
                .map(|p| unsafe { (&raw const (*self.slot((p % maxmsg) as u32)).len).read_volatile() }.min(self.geo.msgsize as u32) as u64)
                .sum()
        };
        self.read_with_mode(|express| if express { ring_bytes() } else { general() }).unwrap_or_else(general)
    }
}

impl Locked<'_> {
    /// Moves the ring's messages into the general structure (called with the queue lock held,
    /// in express mode; see [`ring::fold`]).
    pub(super) fn fold(&mut self) -> Result<()> {
        ring::fold(self)
    }

    /// Hands the queue back to the ring when the general structure is not needed (called with
    /// the queue lock held, just before it is released; see [`ring::unfold_if_idle`]).
    pub(super) fn unfold_if_idle(&mut self) {
        ring::unfold_if_idle(self)
    }

    /// Whether the general structure holds nothing the ring cannot: no message, no waiter, no
    /// scheduled message, no notification registration (nor one posted: `pending`), no poller.
    fn ring_suffices(&mut self) -> bool {
        if self.q.has_pending_notification() {
            return false;
        }
        let st = self.st();
        st.curmsgs.load(Ordering::Relaxed) == 0
            && st.recv_waiting == 0
            && st.send_waiting == 0
            && st.scheduled == 0
            && st.notify.owner_pid == 0
            && st.readiness_armed == 0
    }
}

/// The POSIX queue's steps of the ring's mode changes, which `ring::fold` and
/// `ring::unfold_if_idle` run in their order (with the queue lock and, for the moves, both
/// side locks held).
impl<'q> ModeChangeSteps<'q> for Locked<'q> {
    /// Every queue slot is free when the ring takes over: only `mq_send` queues messages in
    /// them, and none is queued.
    type Takeover = ();

    #[inline]
    fn ring_mode(&self) -> RingMode<'q> {
        self.q.ring_ref().mode
    }

    #[inline]
    fn lock_side(&self, side: Side) -> Result<SideGuard<'q>> {
        self.q.lock_side(side)
    }

    #[inline]
    fn ring_holds_queue(&self) -> bool {
        self.q.is_express()
    }

    /// Each message becomes QUEUED in ring order, so priorities and FIFO order are kept; the
    /// ring's free slots become the lazy free range.
    #[inline]
    fn move_ring_to_general(&mut self) -> Result<()> {
        let q = self.q;
        let ring = q.ring_ref();
        let maxmsg = q.geo.maxmsg as u64;
        let head = ring.head.load(Ordering::Acquire);
        let tail = ring_end(head, ring.tail.load(Ordering::Acquire), maxmsg);
        // The priority lists' pages first: a failure leaves the ring as it was.
        for p in head..tail {
            let prio = self.slot((p % maxmsg) as u32).prio.min(super::PRIO_LEVELS as u32 - 1);
            q.ready_prio(prio)?;
        }
        for p in head..tail {
            let i = (p % maxmsg) as u32;
            let s = self.slot(i);
            s.len = s.len.min(q.geo.msgsize as u32);
            s.prio = s.prio.min(super::PRIO_LEVELS as u32 - 1);
            self.enqueue_committed(i);
        }
        let st = self.st();
        st.free_slot = 0;
        st.lazy_next = (tail % maxmsg) as u32;
        st.lazy_left = (maxmsg - (tail - head)) as u32;
        Ok(())
    }

    #[inline]
    fn woke_a_sleeper(&self) -> bool {
        !self.wakes.is_empty()
    }

    #[inline]
    fn ring_takeover(&mut self) -> Option<()> {
        self.ring_suffices().then_some(())
    }

    /// Both sides start at the tail, with the slot it names.
    #[inline]
    fn move_general_to_ring(&mut self, _: &()) -> bool {
        let q = self.q;
        // A registration posted since `ring_suffices` (posts are made with both side locks).
        if q.has_pending_notification() {
            return false;
        }
        let ring = q.ring_ref();
        let tail = ring.tail.load(Ordering::Acquire);
        let slot = (tail % q.geo.maxmsg as u64) as u32;
        // Receivers will read this slot's seal: it must exist (else the general structure stays).
        if q.ready_queue_slot(slot).is_err() {
            return false;
        }
        for which in [Side::Send, Side::Recv] {
            // SAFETY: we hold both side locks.
            let side = unsafe { q.side(which) };
            side.slot = slot;
            side.peer_seen = tail;
        }
        ring.head.store(tail, Ordering::Release);
        let st = self.st();
        st.free_slot = 0;
        st.lazy_left = 0;
        true
    }
}

/// The end of the ring's messages from `head`: `tail`, but never before `head` nor more than
/// `maxmsg` after it (and without overflow), whatever another process wrote into either.
fn ring_end(head: u64, tail: u64, maxmsg: u64) -> u64 {
    head.saturating_add(tail.saturating_sub(head).min(maxmsg))
}
