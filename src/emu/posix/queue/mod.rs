//! One emulated POSIX queue in shared memory: the message store, its priority order, and the
//! blocked senders and receivers — the kernel's `mqueue_inode_info`.
//!
//! Order: highest priority first, FIFO within a priority. A two-level bitmap finds the highest
//! non-empty priority in constant time; each priority has a FIFO list of slots. Sends and
//! receives are O(1) whatever the depth.
//!
//! Crash safety: every change happens under the queue's robust lock, and the truth is the state
//! word of each slot and waiter; the lists, bitmap and counters are derived from them. A send
//! writes the whole message into a free slot before the one store that makes it QUEUED; a
//! receive copies the message out before the store that frees its slot. When a process dies
//! holding the lock, the next locker rebuilds everything derived ([`Locked::repair`]), so a
//! message is never half-visible, lost from the queue by a dead receiver that had not yet
//! taken it, or received twice.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use super::layout::{
    slot_state, Geometry, NotifyRegistration, NotifyRelay, PosixHeader, PrioList, QueueState, SlotHeader, Waiter, HEADER_SIZE, NAME_CAPACITY, POSIX_SEGMENT,
    PRIO_LEVELS, SCHEDULED_SLOTS, WAITER_SLOTS,
};
use crate::emu::engine::layout::{ring_mode, waiter_state};
use crate::emu::engine::lock::{self, Acquired};
use crate::emu::engine::segment::{self, Mapping, SegmentError};
use crate::emu::engine::waiter::PendingWakes;
use crate::emu::engine::Corrupt;
use crate::errno::{Errno, Result};

mod express;
mod order;
mod pending;
mod repair;
mod schedule;
mod snapshot;
mod storage;
mod waiters;

pub use express::Express;
pub use pending::Posted;
use pending::POSTED_SEQ;
pub use waiters::sched_prio_of;

/// A mapped, validated queue segment.
pub struct Queue {
    map: Mapping,
    geo: Geometry,
    /// This process's non-blocking descriptor of the queue's FIFO for readiness tokens (-1 until
    /// needed, and again once this process has no descriptor of the queue: see
    /// `ready::release_if_unused`).
    pub token_fd: AtomicI32,
    /// This process has armed readiness (so it need not take the lock to check again).
    pub armed_here: AtomicBool,
    /// How this process made the queue's files, when it made them (see `posix::spare`).
    pub made: Option<crate::emu::posix::spare::Made>,
}

impl Drop for Queue {
    fn drop(&mut self) {
        let fd = self.token_fd.load(Ordering::Acquire);
        if fd >= 0 {
            crate::os::sys::close(fd);
        }
    }
}

/// Why a segment cannot be used.
fn corrupt() -> Errno {
    SegmentError::Corrupt.into()
}

impl Queue {
    /// Checks a mapped segment before any use: its prefix (see `segment::validate`), then that
    /// its geometry is exactly what its attributes imply and fits the mapping.
    pub fn from_mapping(map: Mapping) -> Result<Queue> {
        let geo = Queue::checked_geometry(&map)?;
        Ok(Queue { map, geo, token_fd: AtomicI32::new(-1), armed_here: AtomicBool::new(false), made: None })
    }

    /// The checks of [`Queue::from_mapping`] again, on a mapping this process kept (another
    /// process may have written anything since): the same geometry, or EIO.
    pub fn recheck(&self) -> Result<()> {
        match Queue::checked_geometry(&self.map)? {
            geo if geo == self.geo => Ok(()),
            _ => Err(corrupt()),
        }
    }

    fn checked_geometry(map: &Mapping) -> Result<Geometry> {
        segment::validate(map, &POSIX_SEGMENT, HEADER_SIZE)?;
        // SAFETY: validated: the mapping holds at least the header, which is plain data and
        // atomics, valid for any bit pattern.
        let h = unsafe { &*(map.base() as *const PosixHeader) };
        let geo = Geometry::new(h.maxmsg, h.msgsize).ok_or_else(corrupt)?;
        let consistent = geo.total_size == h.total_size
            && geo.slot_count == h.slot_count
            && geo.slot_stride == h.slot_stride
            && geo.waiters_offset == h.waiters_offset
            && geo.prio_offset == h.prio_offset
            && geo.slots_offset == h.slots_offset
            && geo.total_size <= map.len() as u64
            && h.maxmsg >= 1;
        if !consistent {
            return Err(corrupt());
        }
        Ok(geo)
    }

    /// Initialises a fresh zero-filled segment (created aside: not yet visible to anyone) and
    /// publishes it, its version last.
    pub fn initialise(map: Mapping, init: &Init<'_>) -> Result<Queue> {
        let geo = Geometry::new(init.maxmsg, init.msgsize).ok_or(Errno::ENOMEM)?;
        if (map.len() as u64) < geo.total_size {
            return Err(Errno::ENOMEM);
        }
        let h = map.base() as *mut PosixHeader;
        // SAFETY: the mapping is private to this process until published and large enough for
        // the header; fields are written through the raw pointer before any reference exists.
        unsafe {
            (*h).total_size = geo.total_size;
            (*h).maxmsg = geo.maxmsg;
            (*h).slot_count = geo.slot_count;
            (*h).msgsize = geo.msgsize;
            (*h).slot_stride = geo.slot_stride;
            (*h).waiters_offset = geo.waiters_offset;
            (*h).prio_offset = geo.prio_offset;
            (*h).slots_offset = geo.slots_offset;
            (*h).uid = init.uid;
            (*h).gid = init.gid;
            (*h).mode = init.mode;
            (*h).charge_uid = init.charge_uid;
            (*h).charge_bytes = init.charge_bytes;
            (*h).created_ns = init.created_ns;
            (*h).fifo_ino.store(init.fifo_ino, Ordering::Relaxed);
            let n = init.name.len().min(NAME_CAPACITY);
            std::ptr::copy_nonoverlapping(init.name.as_ptr(), (&raw mut (*h).name).cast::<u8>(), n);
            (*h).name_len = n as u32;
            (*h).last_send_cpu.store(u32::MAX, Ordering::Relaxed);
            (*h).last_recv_cpu.store(u32::MAX, Ordering::Relaxed);
            lock::init(&raw mut (*h).lock.mutex)?;
            lock::init(&raw mut (*h).ring.send.mutex)?;
            lock::init(&raw mut (*h).ring.recv.mutex)?;
            // Empty, so the express ring serves it; its queue slots are the ring's.
            (*h).ring.mode.store(ring_mode::EXPRESS, Ordering::Relaxed);
        }
        let q = Queue { map, geo, token_fd: AtomicI32::new(-1), armed_here: AtomicBool::new(false), made: None };
        // Every extra slot fresh (on no list, its pages untouched); the queue slots are the
        // ring's.
        // SAFETY: not yet shared.
        unsafe {
            let st = q.state();
            (*st).free_extra = 0;
            (*st).extra_fresh = geo.maxmsg;
        }
        segment::publish(&q.map, &POSIX_SEGMENT, HEADER_SIZE as u32);
        Ok(q)
    }

    /// Whether the segment is still the queue whose FIFO has inode `fifo_ino` (see
    /// `PosixHeader::fifo_ino`).
    pub fn is_of_fifo(&self, fifo_ino: u64) -> bool {
        self.header().fifo_ino.load(Ordering::Acquire) == fifo_ino
    }

    /// Whether no caller ever waited in the queue or registered a notification on it: no
    /// waiter record or relay of it was ever written, no registration posted (see
    /// `posix::spare`).
    pub fn never_waited_on(&self) -> bool {
        // SAFETY: plain data read without the lock: a racing change makes the answer "no" at
        // worst, and the caller holds the only descriptor-free mapping of a destroyed queue.
        let st = unsafe { &*self.state() };
        st.next_ticket == 0 && st.next_registration == 0 && self.header().pending_notify.word.load(Ordering::Acquire) == 0
    }

    /// Whether the queue's readiness is armed, read without the lock (a hint: arming itself
    /// looks again under the lock).
    pub fn readiness_armed_hint(&self) -> bool {
        // SAFETY: a volatile read of an aligned word of the mapped state, without the lock: a
        // racing change (only arming sets it, only a new queue's header clears it) makes the
        // answer stale, which the caller tolerates.
        unsafe { std::ptr::addr_of!((*self.state()).readiness_armed).read_volatile() != 0 }
    }

    /// The segment's mapping, for a spare (see `posix::spare`): this process's readiness
    /// descriptor of the queue, if any, is closed.
    pub fn into_mapping(self) -> Mapping {
        let fd = self.token_fd.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            crate::os::sys::close(fd);
        }
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped or used again, so the mapping is moved out exactly
        // once; the other fields own nothing (the descriptor was closed above).
        unsafe { std::ptr::read(&this.map) }
    }

    /// Whether this mapping was poisoned (its file truncated under it: see
    /// `segment::containment`).
    pub fn poisoned(&self) -> bool {
        self.map.poisoned()
    }

    pub fn header(&self) -> &PosixHeader {
        // SAFETY: validated to be in the mapping; plain data and atomics.
        unsafe { &*(self.map.base() as *const PosixHeader) }
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }

    fn state(&self) -> *mut QueueState {
        // SAFETY: the header (which contains the state) is inside the mapping.
        unsafe { &raw mut (*(self.map.base() as *mut PosixHeader)).state }
    }

    fn lock_ptr(&self) -> *const lock::RobustMutex {
        // SAFETY: as for `state`.
        unsafe { &raw mut (*(self.map.base() as *mut PosixHeader)).lock.mutex }
    }

    /// Waiter record `i` (0-based; callers check `i < WAITER_SLOTS`).
    fn waiter(&self, i: u32) -> *mut Waiter {
        debug_assert!(i < WAITER_SLOTS);
        // SAFETY: offset validated against the mapping size in from_mapping/initialise.
        unsafe { self.map.base().add(self.geo.waiters_offset as usize + i as usize * std::mem::size_of::<Waiter>()) as *mut Waiter }
    }

    fn prio_list(&self, prio: u32) -> *mut PrioList {
        debug_assert!((prio as usize) < PRIO_LEVELS);
        // SAFETY: as for `waiter`.
        unsafe { self.map.base().add(self.geo.prio_offset as usize + prio as usize * std::mem::size_of::<PrioList>()) as *mut PrioList }
    }

    /// Slot `i` (0-based; callers check `i < slot_count`).
    fn slot(&self, i: u32) -> *mut SlotHeader {
        debug_assert!(i < self.geo.slot_count);
        // SAFETY: as for `waiter`.
        unsafe { self.map.base().add(self.geo.slots_offset as usize + i as usize * self.geo.slot_stride as usize) as *mut SlotHeader }
    }

    /// Makes queue slot `i` and the one after it exist before `i` is first written: ENOMEM
    /// when the filesystem has no room. One ahead, because a receiver of the express ring reads
    /// the seal of the slot after the last message (touching a page makes it, or is SIGBUS on a
    /// full filesystem) without asking. A compare once they exist.
    #[inline]
    pub(super) fn ready_queue_slot(&self, i: u32) -> Result<()> {
        self.ready_queue_slot_by(&self.header().ring.send.slots_ready, i)
    }

    /// [`Queue::ready_queue_slot`] through the watermark `ready` (the express sender passes its
    /// own side's, which it holds `&mut`).
    #[inline]
    pub(super) fn ready_queue_slot_by(&self, ready: &AtomicU32, i: u32) -> Result<()> {
        let now = ready.load(Ordering::Relaxed);
        if i + 1 < now || now >= self.geo.maxmsg {
            return Ok(());
        }
        self.make_queue_slots_ready(ready, i)
    }

    /// Slots are made ready at least this many bytes at a time, so a deep queue of small
    /// messages makes one system call per chunk, not per message, on its first lap.
    const READY_CHUNK: u64 = 32 * 1024;

    #[cold]
    #[inline(never)]
    fn make_queue_slots_ready(&self, ready: &AtomicU32, i: u32) -> Result<()> {
        let from = ready.load(Ordering::Acquire).min(i) as u64;
        let (offset, stride) = (self.geo.slots_offset, self.geo.slot_stride);
        let upto = (i as u64 + 2).max(from + Queue::READY_CHUNK.div_ceil(stride)).min(self.geo.maxmsg as u64);
        self.map.populate((offset + from * stride) as usize, ((upto - from) * stride) as usize, Errno::ENOMEM)?;
        ready.fetch_max(upto as u32, Ordering::AcqRel);
        Ok(())
    }

    /// Makes extra slot `i` exist before its first use.
    pub(super) fn ready_extra_slot(&self, i: u32) -> Result<()> {
        let (offset, stride) = (self.geo.slots_offset, self.geo.slot_stride);
        self.map.populate((offset + i as u64 * stride) as usize, stride as usize, Errno::ENOMEM)
    }

    /// Makes the page of priority `prio`'s list exist before a message of that priority can be
    /// linked there: by every send the general structure takes (so that a blocked sender's
    /// message pulled in, or a scheduled one falling due, cannot fail for want of room), and for
    /// the ring's messages before a fold moves them there (a failure abandons the fold).
    #[inline]
    pub fn ready_prio(&self, prio: u32) -> Result<()> {
        let per_page = 4096 / std::mem::size_of::<PrioList>() as u32;
        let bit = 1u64 << ((prio / per_page) % 64);
        if self.header().prio_pages_ready.load(Ordering::Acquire) & bit != 0 {
            return Ok(());
        }
        self.make_prio_ready(prio, bit)
    }

    #[cold]
    fn make_prio_ready(&self, prio: u32, bit: u64) -> Result<()> {
        let entry = std::mem::size_of::<PrioList>() as u64;
        self.map.populate((self.geo.prio_offset + prio as u64 * entry) as usize, entry as usize, Errno::ENOMEM)?;
        self.header().prio_pages_ready.fetch_or(bit, Ordering::AcqRel);
        Ok(())
    }

    fn slot_data(&self, i: u32) -> *mut u8 {
        // SAFETY: the data follows the header inside the slot's stride.
        unsafe { (self.slot(i) as *mut u8).add(std::mem::size_of::<SlotHeader>()) }
    }

    /// Messages in the queue now (no lock: an instant's view, as `mq_getattr` gives).
    pub fn curmsgs(&self) -> u32 {
        self.count_now()
    }

    /// Bytes of user data queued (the kernel's QSIZE).
    pub fn curbytes(&self) -> u64 {
        self.bytes_now()
    }

    /// The queue's times, as `stat` of `/dev/mqueue/NAME` shows them on the kernel (no lock:
    /// each is a word written by whoever last changed it).
    pub fn times(&self) -> QueueTimes {
        let h = self.header();
        let sent = h.ring.send.last_ns.load(Ordering::Relaxed);
        let received = h.ring.recv.last_ns.load(Ordering::Relaxed);
        let mtime_ns = h.created_ns.max(sent).max(received);
        let atime_ns = mtime_ns.max(h.attr_changed_ns.load(Ordering::Relaxed));
        QueueTimes { atime_ns, mtime_ns, ctime_ns: atime_ns }
    }

    /// Records a change the kernel stamps into atime and ctime (`mq_notify`, `mq_setattr`).
    pub fn note_attr_change(&self) {
        self.header().attr_changed_ns.store(crate::os::clock::coarse_realtime_ns(), Ordering::Relaxed);
    }

    /// Takes the queue lock, repairing the queue first if its last owner died holding it, and
    /// moves the express ring's messages into the general structure (see `express`).
    pub fn lock(&self) -> Result<Locked<'_>> {
        self.lock_general(true)
    }

    fn lock_general(&self, fold: bool) -> Result<Locked<'_>> {
        // Zeros since its file was truncated: no loop goes round again on them.
        if self.poisoned() {
            return Err(Errno::EIO);
        }
        // SAFETY: the lock was initialised before the segment was published.
        let how = unsafe { lock::lock(self.lock_ptr())? };
        let mut locked = Locked { q: self, wakes: PendingWakes::default(), wake_notify: false, relayed_signal: None, buf_writable: 0 };
        if how == Acquired::OwnerDied {
            locked.repair();
        }
        locked.apply_pending_changes();
        if fold && self.is_express() {
            locked.fold()?;
        }
        Ok(locked)
    }
}

/// What a new queue is made of.
pub struct Init<'a> {
    pub maxmsg: u32,
    pub msgsize: u64,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub charge_uid: u32,
    pub charge_bytes: u64,
    /// CLOCK_REALTIME_COARSE ns.
    pub created_ns: u64,
    pub name: &'a [u8],
    /// The inode of the queue's FIFO (see `PosixHeader::fifo_ino`).
    pub fifo_ino: u64,
}

/// Where a slot comes from (see the layout): queue slots hold what `mq_send` queues and are
/// the express ring's; extra slots hold what waiters and scheduled messages own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pool {
    Queue,
    Extra,
}

/// A message waiting to be copied: a pointer into the caller's memory and its length.
#[derive(Clone, Copy)]
pub struct Message {
    pub ptr: *const u8,
    pub len: usize,
    pub prio: u32,
    /// The time of the send call (CLOCK_REALTIME_COARSE ns): the message's `visible_ns` when
    /// it is queued or handed now, and the send side's `last_ns`.
    pub sent_ns: u64,
}

/// An mqueue inode's times as the kernel keeps them (CLOCK_REALTIME_COARSE ns): every
/// successful send or receive sets all three (`simple_inode_init_ts`), a notification
/// registered or removed by its owner and an `mq_setattr` set atime and ctime; creation sets
/// all three.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueTimes {
    pub atime_ns: u64,
    pub mtime_ns: u64,
    pub ctime_ns: u64,
}

/// What a send did.
pub enum Sent {
    /// Queued (or handed to a receiver).
    Done,
    /// The queue is full.
    Full,
}

/// A received message.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    pub len: usize,
    pub prio: u32,
    /// False when the destination was not writable (the message is lost: EFAULT).
    pub copied: bool,
}

/// A signal notification a sender handed to the owner's relay thread (see
/// `notify::await_relay`).
#[derive(Clone, Copy, Debug)]
pub struct RelayedSignal {
    /// The registration it fired (`NotifyRegistration::seq`).
    pub seq: u32,
    /// The thread that delivers it (`NotifyRegistration::relay_tid`).
    pub relay_tid: i32,
}

/// The queue, locked. Dropping it unlocks, then wakes any sleepers it served.
pub struct Locked<'q> {
    q: &'q Queue,
    /// Waiters to FUTEX_WAKE once the lock is released.
    wakes: PendingWakes,
    /// Wake the notification helpers once the lock is released.
    wake_notify: bool,
    /// A signal notification this sender handed to the owner's relay thread: the send returns
    /// only once it is delivered, as the kernel's does.
    pub relayed_signal: Option<RelayedSignal>,
    /// Bytes at the receive buffer already found writable before the lock was taken, so the
    /// check need not run inside the critical section.
    buf_writable: usize,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.unfold_if_idle();
        // SAFETY: this guard holds the lock.
        unsafe { lock::unlock(self.q.lock_ptr()) };
        self.wakes.flush();
        if self.wake_notify {
            crate::emu::engine::futex::wake(&self.q.header().notify_events, i32::MAX);
        }
    }
}

impl<'q> Locked<'q> {
    /// Records that `n` bytes of the receive buffer are known to be writable.
    pub fn assume_writable(&mut self, n: usize) {
        self.buf_writable = n;
    }

    /// The queue this guard locks.
    pub fn queue(&self) -> &'q Queue {
        self.q
    }

    /// (armed, tokens): the readiness state (see `ready`).
    pub fn readiness(&mut self) -> (&mut u32, &mut u32) {
        let st = self.st();
        (&mut st.readiness_armed, &mut st.tokens)
    }

    fn st(&mut self) -> &mut QueueState {
        // SAFETY: the lock is held, so no one else touches the non-atomic state.
        unsafe { &mut *self.q.state() }
    }

    fn slot(&mut self, i: u32) -> &mut SlotHeader {
        // SAFETY: under the lock; callers pass checked indices.
        unsafe { &mut *self.q.slot(i) }
    }

    fn waiter(&mut self, w: u32) -> &mut Waiter {
        // SAFETY: under the lock; callers pass w < WAITER_SLOTS.
        unsafe { &mut *self.q.waiter(w) }
    }

    fn prio_list(&mut self, prio: u32) -> &mut PrioList {
        // SAFETY: under the lock; prio < PRIO_LEVELS checked by callers.
        unsafe { &mut *self.q.prio_list(prio) }
    }

    /// Converts a stored index-plus-one into an index, or None when out of range.
    fn index(&self, stored: u32, limit: u32) -> Option<u32> {
        stored.checked_sub(1).filter(|&i| i < limit)
    }

    // ----- slots -----

    // ----- the priority index -----

    // ----- send and receive -----

    /// Sends `m` (whose length the caller checked against msgsize): to the first blocked
    /// receiver if there is one, else into the queue unless it is full.
    pub fn send(&mut self, m: &Message, program_fd: i32) -> Result<Sent> {
        self.promote_if_due(program_fd);
        // Whatever happens to it next (queued, handed, pending), it may be linked by priority.
        self.q.ready_prio(m.prio)?;
        while self.st().recv_waiting > 0 {
            let Some(w) = self.first_live_waiter(waiter_state::RECEIVING) else { break };
            let i = self.alloc_slot(Pool::Extra)?;
            if !self.claim(w) {
                // Left unserved (forgotten now): the next receiver, if any.
                self.free_slot(i);
                continue;
            }
            self.fill_slot(i, m, slot_state::HANDED, w + 1);
            self.serve(w, Some(i));
            self.note_sent(m.sent_ns);
            return Ok(Sent::Done);
        }
        if self.st().curmsgs.load(Ordering::Relaxed) >= self.q.geo.maxmsg {
            return Ok(Sent::Full);
        }
        let i = self.alloc_slot(Pool::Queue)?;
        self.fill_slot(i, m, slot_state::FREE, 0);
        self.enqueue_committed(i);
        self.after_insert(program_fd);
        self.note_sent(m.sent_ns);
        Ok(Sent::Done)
    }

    /// A message entered the queue or a receiver's hands at `at_ns`: the queue's times follow
    /// (the kernel's send stamps the inode). Never backwards (a scheduled message found due
    /// late counts at its due time). Under the queue lock in general mode, the only writer of
    /// the send side's time then, so no read-modify-write is needed.
    fn note_sent(&mut self, at_ns: u64) {
        let last = &self.q.header().ring.send.last_ns;
        if at_ns > last.load(Ordering::Relaxed) {
            last.store(at_ns, Ordering::Relaxed);
        }
    }

    /// What follows a message entering the queue: pollers are woken, and an empty→non-empty
    /// change fires the notification registration, once (the kernel's `__do_notify`).
    fn after_insert(&mut self, program_fd: i32) {
        super::ready::after_change(self, program_fd);
        if self.st().curmsgs.load(Ordering::Relaxed) != 1 {
            return;
        }
        // What was left for the lock's next holder while this one held it (`pending`) counts
        // from now on: a holder that was stopped as the owner closed does not fire the owner's
        // registration, and one posted behind it is fired.
        self.apply_pending_before_firing();
        if self.st().notify.owner_pid != 0 {
            let reg = self.st().notify;
            self.st().notify = Default::default();
            if super::notify::owner_image_alive(&reg) {
                if let Some(relay) = super::notify::fire(self.q, &reg) {
                    *self.relay() = relay;
                    if reg.kind == libc::SIGEV_SIGNAL {
                        self.relayed_signal = Some(RelayedSignal { seq: reg.seq, relay_tid: reg.relay_tid });
                    }
                }
            }
            self.q.header().notify_events.fetch_add(1, Ordering::AcqRel);
            self.wake_notify = true;
        }
    }

    // ----- scheduled messages -----

    /// Receives the highest-priority message into `buf` (at least msgsize bytes, checked by the
    /// caller), then lets the first blocked sender's message in.
    pub fn receive(&mut self, buf: *mut u8, program_fd: i32) -> Option<Received> {
        self.promote_if_due(program_fd);
        let i = self.dequeue_head_or_repair()?;
        let got = self.take_slot(i, buf);
        let now = crate::os::clock::coarse_realtime_ns();
        self.q.header().ring.recv.last_ns.store(now, Ordering::Relaxed);
        let st = self.st();
        // Under the lock: plain stores (see `enqueue`).
        st.curmsgs.store(st.curmsgs.load(Ordering::Relaxed).saturating_sub(1), Ordering::Release);
        st.curbytes.store(st.curbytes.load(Ordering::Relaxed).saturating_sub(got.len as u64), Ordering::Release);
        if self.st().send_waiting > 0 {
            if let Some(w) = self.first_claimed_waiter(waiter_state::SENDING) {
                let pending = self.waiter(w).slot;
                if let Some(s) = self.index(pending, self.q.geo.slot_count) {
                    // Its age counts from now, when a receiver could first take it.
                    self.slot(s).visible_ns = now;
                    self.enqueue_committed(s);
                }
                self.waiter(w).slot = 0;
                self.serve(w, None);
                // Still full, and the kernel wakes no poller here (pipelined_receive).
                return Some(got);
            }
        }
        super::ready::after_change(self, program_fd);
        Some(got)
    }

    // ----- waiters -----

    // ----- notification -----

    /// The relay slot of fired notifications (see `notify`).
    pub fn relay(&mut self) -> &mut NotifyRelay {
        // SAFETY: under the lock, which guards the relay slot.
        unsafe { &mut (*(self.q.map.base() as *mut PosixHeader)).relay }
    }

    /// A fresh registration sequence number (never 0, nor one of a post's: [`POSTED_SEQ`]).
    pub fn next_registration(&mut self) -> u32 {
        let st = self.st();
        st.next_registration = (st.next_registration.wrapping_add(1) & !POSTED_SEQ).max(1);
        st.next_registration
    }

    /// Whether a notification registration exists (a blocked receiver suppresses it).
    pub fn has_notification(&mut self) -> bool {
        self.st().notify.owner_pid != 0
    }

    /// The current notification registration.
    pub fn notification(&mut self) -> NotifyRegistration {
        self.st().notify
    }

    pub fn set_notification(&mut self, reg: NotifyRegistration) {
        self.st().notify = reg;
    }

    // ----- repair -----
}

#[cfg(test)]
mod tests;
