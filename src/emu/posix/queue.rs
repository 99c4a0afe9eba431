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

use super::super::engine::arena::Mapping;
use super::super::engine::lock::{self, Acquired, Liveness};
use super::layout::{
    slot_state, Geometry, NotifyRegistration, NotifyRelay, PosixHeader, PrioList, QueueState, SlotHeader, Waiter, LAYOUT_VERSION, NAME_CAPACITY, POSIX_MAGIC,
    PRIO_LEVELS, SCHEDULED_SLOTS, WAITER_SLOTS,
};
use crate::emu::engine::layout::{ring_mode, waiter_state, wake_word};
use crate::errno::{Errno, Result};

mod express;
pub use express::Express;

/// A waiter record that has been served and not yet collected by its thread.
const SERVED: u32 = waiter_state::SERVED;

/// A mapped, validated queue segment.
pub struct Queue {
    map: Mapping,
    geo: Geometry,
    /// This process's non-blocking descriptor of the queue's FIFO for readiness tokens (-1 until
    /// needed; see `ready`).
    pub token_fd: AtomicI32,
    /// This process has armed readiness (so it need not take the lock to check again).
    pub armed_here: AtomicBool,
}

impl Drop for Queue {
    fn drop(&mut self) {
        let fd = self.token_fd.load(Ordering::Acquire);
        if fd >= 0 {
            // SAFETY: the token descriptor is owned by this Queue.
            unsafe { crate::real::close(fd) };
        }
    }
}

/// Why a segment cannot be used.
fn corrupt() -> Errno {
    Errno::EIO
}

impl Queue {
    /// Checks a mapped segment before any use: magic, published version, and that its geometry
    /// is exactly what its attributes imply and fits the mapping.
    pub fn from_mapping(map: Mapping) -> Result<Queue> {
        if map.len() < std::mem::size_of::<PosixHeader>() {
            return Err(corrupt());
        }
        // SAFETY: the mapping is at least a header long; the header is plain data and atomics,
        // valid for any bit pattern.
        let h = unsafe { &*(map.base() as *const PosixHeader) };
        if h.magic != POSIX_MAGIC || h.version.load(Ordering::Acquire) != LAYOUT_VERSION {
            return Err(corrupt());
        }
        let geo = Geometry::new(h.maxmsg, h.msgsize).ok_or_else(corrupt)?;
        let consistent = geo.header_size == h.header_size as u64
            && geo.total_size == h.total_size
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
        Ok(Queue { map, geo, token_fd: AtomicI32::new(-1), armed_here: AtomicBool::new(false) })
    }

    /// Initialises a fresh zero-filled segment (not yet visible to anyone) and publishes its
    /// version last.
    pub fn initialise(map: Mapping, init: &Init<'_>) -> Result<Queue> {
        let geo = Geometry::new(init.maxmsg, init.msgsize).ok_or(Errno::ENOMEM)?;
        if (map.len() as u64) < geo.total_size {
            return Err(Errno::ENOMEM);
        }
        let h = map.base() as *mut PosixHeader;
        // SAFETY: the mapping is private to this process until published and large enough for
        // the header; fields are written through the raw pointer before any reference exists.
        unsafe {
            (*h).magic = POSIX_MAGIC;
            (*h).header_size = geo.header_size as u32;
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
            (*h).created_sec = init.created_sec;
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
        let q = Queue { map, geo, token_fd: AtomicI32::new(-1), armed_here: AtomicBool::new(false) };
        for w in 0..WAITER_SLOTS {
            // SAFETY: index in range; not yet shared.
            unsafe { lock::init(&raw mut (*q.waiter(w)).life)? };
        }
        // Every extra slot on its free list, in order (the queue slots are the ring's).
        // SAFETY: not yet shared; indices in range.
        unsafe {
            let st = q.state();
            for i in geo.maxmsg..geo.slot_count {
                (*q.slot(i)).next = if i + 1 < geo.slot_count { i + 2 } else { 0 };
            }
            (*st).free_extra = geo.maxmsg + 1;
        }
        q.header().version.store(LAYOUT_VERSION, Ordering::Release);
        Ok(q)
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

    fn lock_ptr(&self) -> *mut libc::pthread_mutex_t {
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

    fn slot_data(&self, i: u32) -> *mut u8 {
        // SAFETY: the data follows the header inside the slot's stride.
        unsafe { (self.slot(i) as *mut u8).add(std::mem::size_of::<SlotHeader>()) }
    }

    /// The earliest pending scheduled message's due time (ns), 0 when none (no lock).
    pub fn next_due_ns(&self) -> u64 {
        // SAFETY: state is in the mapping; next_due_ns is atomic.
        unsafe { (*self.state()).next_due_ns.load(Ordering::Acquire) }
    }

    /// Messages in the queue now (no lock: an instant's view, as `mq_getattr` gives).
    pub fn curmsgs(&self) -> u32 {
        self.count_now()
    }

    /// Bytes of user data queued (the kernel's QSIZE).
    pub fn curbytes(&self) -> u64 {
        self.bytes_now()
    }

    /// The futex word of waiter `w`.
    pub fn wake_word(&self, w: u32) -> &AtomicU32 {
        // SAFETY: the record is in the mapping; `word` is atomic.
        unsafe { &(*self.waiter(w)).word }
    }

    /// Takes the queue lock for a waiter collecting its outcome ([`Locked::finish_wait`]),
    /// leaving the express ring in place: a served waiter owns only an extra slot, and while a
    /// waiter is still registered the ring is folded already.
    pub fn lock_for_waiter(&self) -> Result<Locked<'_>> {
        self.lock_general(false)
    }

    /// Scheduled messages pending (for `mqshim ipcs`): read under the queue lock, leaving the
    /// express ring in place (it never coexists with a scheduled message).
    pub fn scheduled_now(&self) -> Result<u32> {
        self.lock_general(false).map(|mut l| l.scheduled())
    }

    /// Takes the queue lock, repairing the queue first if its last owner died holding it, and
    /// moves the express ring's messages into the general structure (see `express`).
    pub fn lock(&self) -> Result<Locked<'_>> {
        self.lock_general(true)
    }

    fn lock_general(&self, fold: bool) -> Result<Locked<'_>> {
        // SAFETY: the lock was initialised before the segment was published.
        let how = unsafe { lock::lock(self.lock_ptr())? };
        let mut locked = Locked { q: self, wakes: [None; 2], wake_notify: false, relayed_signal: None, buf_writable: 0 };
        if how == Acquired::OwnerDied {
            locked.repair();
            // SAFETY: held, acquired with EOWNERDEAD, now repaired.
            unsafe { lock::mark_consistent(self.lock_ptr()) };
        }
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
    pub created_sec: i64,
    pub name: &'a [u8],
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

/// The queue, locked. Dropping it unlocks, then wakes any sleepers it served.
pub struct Locked<'q> {
    q: &'q Queue,
    /// Waiters to FUTEX_WAKE once the lock is released.
    wakes: [Option<u32>; 2],
    /// Wake the notification helpers once the lock is released.
    wake_notify: bool,
    /// A signal notification this sender handed to the owner's helper (its registration
    /// number): the send returns only once it is delivered, as the kernel's does.
    pub relayed_signal: Option<u32>,
    /// Bytes at the receive buffer already found writable before the lock was taken, so the
    /// check need not run inside the critical section.
    buf_writable: usize,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.unfold_if_idle();
        // SAFETY: this guard holds the lock.
        unsafe { lock::unlock(self.q.lock_ptr()) };
        for w in self.wakes.iter().flatten() {
            super::super::engine::futex::wake(self.q.wake_word(*w), 1);
        }
        if self.wake_notify {
            super::super::engine::futex::wake(&self.q.header().notify_events, i32::MAX);
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

    /// A free slot from `pool`.
    fn alloc_slot(&mut self, pool: Pool) -> Result<u32> {
        for attempt in 0..2 {
            let head = *self.free_list(pool);
            if let Some(i) = self.index(head, self.q.geo.slot_count) {
                let next = self.slot(i).next;
                *self.free_list(pool) = next;
                return Ok(i);
            }
            if pool == Pool::Queue && self.st().lazy_left > 0 {
                let maxmsg = self.q.geo.maxmsg;
                let st = self.st();
                let i = st.lazy_next % maxmsg;
                st.lazy_next = (i + 1) % maxmsg;
                st.lazy_left -= 1;
                return Ok(i);
            }
            if attempt == 1 && pool == Pool::Queue {
                // Only a damaged queue gets here (a queue slot is free whenever the queue has
                // room): an extra slot serves as well.
                return self.alloc_slot(Pool::Extra);
            }
            if attempt == 0 {
                // The free list should never run dry (one slot per queued message and per waiter);
                // if it did, something is inconsistent: rebuild and look again.
                self.repair();
            }
        }
        Err(Errno::ENOMEM)
    }

    /// The head of `pool`'s free list.
    fn free_list(&mut self, pool: Pool) -> &mut u32 {
        match pool {
            Pool::Queue => &mut self.st().free_slot,
            Pool::Extra => &mut self.st().free_extra,
        }
    }

    fn free_slot(&mut self, i: u32) {
        self.slot(i).state.store(slot_state::FREE, Ordering::Release);
        let pool = if i < self.q.geo.maxmsg { Pool::Queue } else { Pool::Extra };
        let head = *self.free_list(pool);
        let s = self.slot(i);
        s.next = head;
        s.owner = 0;
        *self.free_list(pool) = i + 1;
    }

    /// Copies a caller's message into slot `i`.
    fn fill_slot(&mut self, i: u32, m: &Message, state: u32, owner: u32) {
        // SAFETY: the slot's data area holds msgsize bytes and m.len <= msgsize (checked by the
        // caller); m.ptr is the caller's buffer of m.len bytes.
        unsafe { std::ptr::copy_nonoverlapping(m.ptr, self.q.slot_data(i), m.len) };
        let s = self.slot(i);
        s.len = m.len as u32;
        s.prio = m.prio;
        s.owner = owner;
        s.next = 0;
        s.state.store(state, Ordering::Release);
    }

    // ----- the priority index -----

    fn set_bit(&mut self, prio: u32) {
        let (w, b) = (prio as usize / 64, prio % 64);
        let st = self.st();
        st.bitmap[w] |= 1 << b;
        st.summary[w / 64] |= 1 << (w % 64);
    }

    fn clear_bit(&mut self, prio: u32) {
        let (w, b) = (prio as usize / 64, prio % 64);
        let st = self.st();
        st.bitmap[w] &= !(1 << b);
        if st.bitmap[w] == 0 {
            st.summary[w / 64] &= !(1 << (w % 64));
        }
    }

    fn has_bit(&mut self, prio: u32) -> bool {
        self.st().bitmap[prio as usize / 64] & (1 << (prio % 64)) != 0
    }

    fn highest_prio(&mut self) -> Option<u32> {
        let st = self.st();
        let top = st.summary.iter().rposition(|&s| s != 0)?;
        let w = top * 64 + 63 - st.summary[top].leading_zeros() as usize;
        let b = 63 - st.bitmap[w].leading_zeros() as usize;
        (st.bitmap[w] != 0).then_some((w * 64 + b) as u32)
    }

    /// Makes slot `i` (already filled) the newest message of its priority and commits it.
    fn enqueue(&mut self, i: u32) {
        let seq = self.st().next_seq;
        self.st().next_seq = seq + 1;
        let (prio, len) = {
            let s = self.slot(i);
            s.seq = seq;
            s.next = 0;
            s.owner = 0;
            // The commit point of a send.
            s.state.store(slot_state::QUEUED, Ordering::Release);
            (s.prio, s.len)
        };
        // A list found broken is rebuilt by `repair`, which then counts this message too.
        if self.link(i, prio) {
            let st = self.st();
            // Written only under the lock: a plain store, not a locked read-modify-write, keeps
            // the critical section short (readers without the lock only load).
            st.curmsgs.store(st.curmsgs.load(Ordering::Relaxed) + 1, Ordering::Release);
            st.curbytes.store(st.curbytes.load(Ordering::Relaxed) + len as u64, Ordering::Release);
        }
    }

    /// Appends slot `i` to its priority's list. False when the list was found broken and the
    /// whole queue was rebuilt instead (the slot, already QUEUED, is then in it and counted).
    fn link(&mut self, i: u32, prio: u32) -> bool {
        if self.has_bit(prio) {
            let tail = self.prio_list(prio).tail;
            match self.index(tail, self.q.geo.slot_count) {
                Some(t) => self.slot(t).next = i + 1,
                None => {
                    self.repair();
                    return false;
                }
            }
            self.prio_list(prio).tail = i + 1;
        } else {
            *self.prio_list(prio) = PrioList { head: i + 1, tail: i + 1 };
            self.set_bit(prio);
        }
        true
    }

    /// Unlinks and returns the first message of the highest priority.
    fn dequeue_head(&mut self) -> Option<u32> {
        for _ in 0..2 {
            let prio = self.highest_prio()?;
            let head = self.prio_list(prio).head;
            if let Some(i) = self.index(head, self.q.geo.slot_count) {
                if self.slot(i).state.load(Ordering::Acquire) == slot_state::QUEUED {
                    let next = self.slot(i).next;
                    if next == 0 {
                        self.clear_bit(prio);
                    } else {
                        self.prio_list(prio).head = next;
                    }
                    return Some(i);
                }
            }
            self.repair();
        }
        None
    }

    // ----- send and receive -----

    /// Sends `m` (whose length the caller checked against msgsize): to the first blocked
    /// receiver if there is one, else into the queue unless it is full.
    pub fn send(&mut self, m: &Message, program_fd: i32) -> Result<Sent> {
        self.promote_if_due(program_fd);
        if self.st().recv_waiting > 0 {
            if let Some(w) = self.first_live_waiter(waiter_state::RECEIVING) {
                let i = self.alloc_slot(Pool::Extra)?;
                self.fill_slot(i, m, slot_state::HANDED, w + 1);
                self.serve(w, Some(i));
                return Ok(Sent::Done);
            }
        }
        if self.st().curmsgs.load(Ordering::Relaxed) >= self.q.geo.maxmsg {
            return Ok(Sent::Full);
        }
        let i = self.alloc_slot(Pool::Queue)?;
        self.fill_slot(i, m, slot_state::FREE, 0);
        self.enqueue(i);
        self.after_insert(program_fd);
        Ok(Sent::Done)
    }

    /// What follows a message entering the queue: pollers are woken, and an empty→non-empty
    /// change fires the notification registration, once (the kernel's `__do_notify`).
    fn after_insert(&mut self, program_fd: i32) {
        super::ready::after_change(self, program_fd);
        if self.st().curmsgs.load(Ordering::Relaxed) == 1 && self.st().notify.owner_pid != 0 {
            let reg = self.st().notify;
            self.st().notify = Default::default();
            if super::notify::owner_image_alive(&reg) {
                if let Some(relay) = super::notify::fire(&reg) {
                    *self.relay() = relay;
                    if reg.kind == libc::SIGEV_SIGNAL {
                        self.relayed_signal = Some(reg.seq);
                    }
                }
            }
            self.q.header().notify_events.fetch_add(1, Ordering::AcqRel);
            self.wake_notify = true;
        }
    }

    // ----- scheduled messages -----

    /// Schedules `m` to become visible at `due_ns` (CLOCK_REALTIME ns): it waits in a slot of
    /// its own, not counted by `curmsgs`, until promoted. Returns its handle.
    pub fn schedule(&mut self, m: &Message, due_ns: u64, program_fd: i32) -> Result<u64> {
        if self.st().scheduled >= SCHEDULED_SLOTS {
            return Err(Errno::EAGAIN);
        }
        let i = self.alloc_slot(Pool::Extra)?;
        self.fill_slot(i, m, slot_state::FREE, 0);
        let handle = self.st().next_handle.max(1);
        self.st().next_handle = handle + 1;
        {
            let s = self.slot(i);
            s.seq = handle;
            s.due_ns = due_ns;
            s.state.store(slot_state::SCHEDULED, Ordering::Release);
        }
        self.link_scheduled(i);
        self.st().scheduled += 1;
        self.refresh_next_due();
        self.promote_due(crate::os::clock::realtime_ns(), program_fd);
        self.rouse_receivers();
        Ok(handle)
    }

    /// Blocked receivers sleep until the earliest due time, which a new scheduled message may
    /// have moved earlier: each asleep one is set back to "waiting" and woken, so it looks
    /// again (one that has not gone to sleep yet reads the new due time: the fences pair with
    /// those of `wait::wait_served`).
    fn rouse_receivers(&mut self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        for w in 0..WAITER_SLOTS {
            let rec = self.waiter(w);
            if rec.state == waiter_state::RECEIVING
                && rec.word.compare_exchange(wake_word::SLEEPING, wake_word::WAITING, Ordering::AcqRel, Ordering::Relaxed).is_ok()
            {
                super::super::engine::futex::wake(&rec.word, 1);
            }
        }
    }

    /// Cancels the pending scheduled message `handle`: ENOENT when there is none (already
    /// due and in the queue, already cancelled, or never scheduled here) or it is due already
    /// (waiting for room in a full queue, like a blocked sender, it is as good as sent).
    pub fn cancel(&mut self, handle: u64) -> Result<()> {
        let now = crate::os::clock::realtime_ns();
        let mut prev: Option<u32> = None;
        let mut cur = self.st().scheduled_head;
        let mut steps = 0;
        while let Some(i) = self.index(cur, self.q.geo.slot_count) {
            steps += 1;
            if steps > self.q.geo.slot_count {
                break;
            }
            if self.slot(i).seq == handle && self.slot(i).state.load(Ordering::Acquire) == slot_state::SCHEDULED {
                if self.slot(i).due_ns <= now {
                    return Err(Errno::ENOENT);
                }
                let next = self.slot(i).next;
                match prev {
                    None => self.st().scheduled_head = next,
                    Some(p) => self.slot(p).next = next,
                }
                self.free_slot(i);
                self.st().scheduled -= 1;
                self.refresh_next_due();
                return Ok(());
            }
            prev = Some(i);
            cur = self.slot(i).next;
        }
        Err(Errno::ENOENT)
    }

    /// Scheduled messages pending.
    pub fn scheduled(&mut self) -> u32 {
        self.st().scheduled
    }

    /// Inserts SCHEDULED slot `i` into the due-ordered list (ties by handle).
    fn link_scheduled(&mut self, i: u32) {
        let key = (self.slot(i).due_ns, self.slot(i).seq);
        let mut prev: Option<u32> = None;
        let mut cur = self.st().scheduled_head;
        while let Some(j) = self.index(cur, self.q.geo.slot_count) {
            if (self.slot(j).due_ns, self.slot(j).seq) > key {
                break;
            }
            prev = Some(j);
            cur = self.slot(j).next;
        }
        self.slot(i).next = cur;
        match prev {
            None => self.st().scheduled_head = i + 1,
            Some(p) => self.slot(p).next = i + 1,
        }
    }

    fn refresh_next_due(&mut self) {
        let head = self.st().scheduled_head;
        let due = match self.index(head, self.q.geo.slot_count) {
            Some(i) => self.slot(i).due_ns.max(1),
            None => 0,
        };
        self.st().next_due_ns.store(due, Ordering::Release);
    }

    /// Moves the scheduled messages whose time has come, in due order, to a blocked receiver or
    /// into the queue while it has room (a due message finding the queue full waits, like a
    /// blocked sender, until a receive makes room).
    pub fn promote_due(&mut self, now: u64, program_fd: i32) {
        loop {
            let head = self.st().scheduled_head;
            let Some(i) = self.index(head, self.q.geo.slot_count) else { break };
            if self.slot(i).due_ns > now {
                break;
            }
            let receiver = if self.st().recv_waiting > 0 { self.first_live_waiter(waiter_state::RECEIVING) } else { None };
            if receiver.is_none() && self.st().curmsgs.load(Ordering::Relaxed) >= self.q.geo.maxmsg {
                break;
            }
            self.st().scheduled_head = self.slot(i).next;
            self.st().scheduled -= 1;
            match receiver {
                Some(w) => {
                    let s = self.slot(i);
                    s.owner = w + 1;
                    s.next = 0;
                    s.state.store(slot_state::HANDED, Ordering::Release);
                    self.serve(w, Some(i));
                }
                None => {
                    self.enqueue(i);
                    self.after_insert(program_fd);
                }
            }
        }
        self.refresh_next_due();
    }

    /// Promotes due scheduled messages if any are pending and due (one clock read when some
    /// are pending; nothing otherwise).
    pub fn promote_if_due(&mut self, program_fd: i32) {
        let due = self.st().next_due_ns.load(Ordering::Acquire);
        if due != 0 {
            let now = crate::os::clock::realtime_ns();
            if now >= due {
                self.promote_due(now, program_fd);
            }
        }
    }

    /// Receives the highest-priority message into `buf` (at least msgsize bytes, checked by the
    /// caller), then lets the first blocked sender's message in.
    pub fn receive(&mut self, buf: *mut u8, program_fd: i32) -> Option<Received> {
        self.promote_if_due(program_fd);
        let i = self.dequeue_head()?;
        let got = self.take_slot(i, buf);
        let st = self.st();
        // Under the lock: plain stores (see `enqueue`).
        st.curmsgs.store(st.curmsgs.load(Ordering::Relaxed).saturating_sub(1), Ordering::Release);
        st.curbytes.store(st.curbytes.load(Ordering::Relaxed).saturating_sub(got.len as u64), Ordering::Release);
        if self.st().send_waiting > 0 {
            if let Some(w) = self.first_live_waiter(waiter_state::SENDING) {
                let pending = self.waiter(w).slot;
                if let Some(s) = self.index(pending, self.q.geo.slot_count) {
                    self.enqueue(s);
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

    /// Copies slot `i` out to `buf` and frees it (the copy happens before the slot is freed).
    /// An unwritable `buf` loses the message with EFAULT, as the kernel's copy-out after dequeue.
    fn take_slot(&mut self, i: u32, buf: *mut u8) -> Received {
        let msgsize = self.q.geo.msgsize as u32;
        let (len, prio) = {
            let s = self.slot(i);
            (s.len.min(msgsize) as usize, s.prio)
        };
        let copied = len <= self.buf_writable || crate::os::usermem::probe_write(buf, len);
        if copied {
            // SAFETY: the slot holds `len` <= msgsize bytes; `len` bytes at `buf` are writable.
            unsafe { std::ptr::copy_nonoverlapping(self.q.slot_data(i), buf, len) };
        }
        self.free_slot(i);
        Received { len, prio, copied }
    }

    // ----- waiters -----

    /// Registers the calling thread as a blocked receiver or sender (`pending`: the message of a
    /// blocked send, copied now). Returns the waiter index.
    pub fn register(&mut self, role: u32, pending: Option<&Message>, sched_prio: Option<i32>) -> Result<u32> {
        let w = match self.free_waiter() {
            Some(w) => w,
            None => return Err(Errno::ENOMEM),
        };
        // Take the life lock first: while it is held, others know this waiter is alive.
        // SAFETY: the record is in the mapping; its mutex was initialised with the segment.
        match unsafe { lock::lock(&raw mut (*self.q.waiter(w)).life) }? {
            Acquired::Clean => {}
            // SAFETY: held, acquired with EOWNERDEAD; the record is re-initialised below.
            Acquired::OwnerDied => unsafe { lock::mark_consistent(&raw mut (*self.q.waiter(w)).life) },
        }
        let slot = match pending {
            Some(m) => {
                let i = self.alloc_slot(Pool::Extra)?;
                self.fill_slot(i, m, slot_state::PENDING, w + 1);
                i + 1
            }
            None => 0,
        };
        let ticket = self.st().next_ticket;
        self.st().next_ticket = ticket + 1;
        let (pid, tid) = crate::os::ids::current();
        let rec = self.waiter(w);
        rec.word.store(wake_word::WAITING, Ordering::Release);
        rec.state = role;
        rec.tid = tid;
        rec.pid = pid;
        rec.slot = slot;
        rec.result = 0;
        rec.sched_prio = sched_prio.unwrap_or(0);
        rec.prio_known = sched_prio.is_some() as u32;
        rec.ticket = ticket;
        match role {
            waiter_state::RECEIVING => self.st().recv_waiting += 1,
            _ => self.st().send_waiting += 1,
        }
        Ok(w)
    }

    /// How many waiters of `role` are registered.
    pub fn waiting(&mut self, role: u32) -> u32 {
        match role {
            waiter_state::RECEIVING => self.st().recv_waiting,
            _ => self.st().send_waiting,
        }
    }

    fn free_waiter(&mut self) -> Option<u32> {
        if let Some(w) = (0..WAITER_SLOTS).find(|&w| self.waiter(w).state == waiter_state::FREE) {
            return Some(w);
        }
        // Every record taken: reclaim those whose threads died, then look again.
        self.reap_dead_waiters();
        (0..WAITER_SLOTS).find(|&w| self.waiter(w).state == waiter_state::FREE)
    }

    /// The waiter of `role` to serve first: the highest scheduling priority, then the longest
    /// waiting (the kernel's `wq_add` order). Dead waiters found on the way are reclaimed.
    fn first_live_waiter(&mut self, role: u32) -> Option<u32> {
        loop {
            let mut best: Option<(i32, u64, u32)> = None;
            let several = self.waiting(role) > 1;
            for w in 0..WAITER_SLOTS {
                let rec = self.waiter(w);
                if rec.state != role {
                    continue;
                }
                let prio = if several { effective_sched_prio(rec) } else { 0 };
                let key = (prio, rec.ticket, w);
                if best.is_none_or(|b| (key.0, key.1) < (b.0, b.1)) {
                    best = Some(key);
                }
            }
            let (_, _, w) = best?;
            // SAFETY: the record's life mutex was initialised with the segment.
            match unsafe { lock::probe(&raw mut (*self.q.waiter(w)).life) } {
                Liveness::Alive => return Some(w),
                Liveness::Dead | Liveness::Unheld => {
                    // SAFETY: probe left us holding it.
                    unsafe { lock::unlock(&raw mut (*self.q.waiter(w)).life) };
                    self.release_waiter(w);
                }
            }
        }
    }

    /// Hands waiter `w` its result (a handed message slot for a receiver) and schedules its wake.
    fn serve(&mut self, w: u32, handed: Option<u32>) {
        let role = self.waiter(w).state;
        match role {
            waiter_state::RECEIVING => self.st().recv_waiting -= 1,
            _ => self.st().send_waiting -= 1,
        }
        let rec = self.waiter(w);
        if let Some(i) = handed {
            rec.slot = i + 1;
        }
        rec.result = 0;
        rec.state = SERVED;
        if rec.word.swap(wake_word::WOKEN, Ordering::AcqRel) == wake_word::SLEEPING {
            let free = self.wakes.iter_mut().find(|x| x.is_none());
            match free {
                Some(slot) => *slot = Some(w),
                None => super::super::engine::futex::wake(self.q.wake_word(w), 1),
            }
        }
    }

    /// Frees waiter `w`'s record and any slot it owns (its thread is gone or has given up).
    fn release_waiter(&mut self, w: u32) {
        let (role, slot) = {
            let rec = self.waiter(w);
            (rec.state, rec.slot)
        };
        match role {
            waiter_state::RECEIVING => self.st().recv_waiting = self.st().recv_waiting.saturating_sub(1),
            waiter_state::SENDING => self.st().send_waiting = self.st().send_waiting.saturating_sub(1),
            _ => {}
        }
        if let Some(i) = self.index(slot, self.q.geo.slot_count) {
            if self.slot(i).state.load(Ordering::Acquire) != slot_state::QUEUED {
                self.free_slot(i);
            }
        }
        let rec = self.waiter(w);
        rec.slot = 0;
        rec.state = waiter_state::FREE;
    }

    /// After waking (or giving up): the waiter's outcome. `Some(result)` when it was served —
    /// for a receiver, with the handed message copied to `buf` — else None, and the
    /// registration is withdrawn. Either way the record is released.
    pub fn finish_wait(&mut self, w: u32, buf: *mut u8) -> Option<std::result::Result<Option<Received>, Errno>> {
        let served = self.waiter(w).state == SERVED;
        let outcome = if served {
            let result = self.waiter(w).result;
            let slot = self.waiter(w).slot;
            let handed = self.index(slot, self.q.geo.slot_count);
            self.waiter(w).slot = 0;
            Some(if result != 0 { Err(Errno::from_raw(result)) } else { Ok(handed.map(|i| self.take_slot(i, buf))) })
        } else {
            None
        };
        self.release_waiter(w);
        // SAFETY: the calling thread took this life lock in `register`.
        unsafe { lock::unlock(&raw mut (*self.q.waiter(w)).life) };
        outcome
    }

    /// Whether waiter `w` has been served (checked under the lock after a timeout or signal).
    pub fn is_served(&mut self, w: u32) -> bool {
        self.waiter(w).state == SERVED
    }

    fn reap_dead_waiters(&mut self) {
        for w in 0..WAITER_SLOTS {
            if self.waiter(w).state == waiter_state::FREE {
                continue;
            }
            // SAFETY: initialised life mutex.
            match unsafe { lock::probe(&raw mut (*self.q.waiter(w)).life) } {
                Liveness::Alive => {}
                Liveness::Dead | Liveness::Unheld => {
                    // SAFETY: probe left us holding it.
                    unsafe { lock::unlock(&raw mut (*self.q.waiter(w)).life) };
                    self.release_waiter(w);
                }
            }
        }
    }

    // ----- notification -----

    /// The relay slot of fired notifications (see `notify`).
    pub fn relay(&mut self) -> &mut NotifyRelay {
        // SAFETY: under the lock, which guards the relay slot.
        unsafe { &mut (*(self.q.map.base() as *mut PosixHeader)).relay }
    }

    /// A fresh registration sequence number (never 0).
    pub fn next_registration(&mut self) -> u32 {
        let st = self.st();
        st.next_registration = st.next_registration.wrapping_add(1).max(1);
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

    /// Rebuilds everything derived from the slot and waiter states: waiters whose threads died
    /// are released, slots nobody owns are freed, and the priority lists, bitmap, counters and
    /// free list are recomputed, FIFO order restored from the sequence numbers.
    pub fn repair(&mut self) {
        let slot_count = self.q.geo.slot_count;
        // Waiters: keep the live ones.
        let (mut recv, mut send) = (0, 0);
        for w in 0..WAITER_SLOTS {
            let role = self.waiter(w).state;
            if role == waiter_state::FREE {
                continue;
            }
            // SAFETY: initialised life mutex.
            let alive = match unsafe { lock::probe(&raw mut (*self.q.waiter(w)).life) } {
                Liveness::Alive => true,
                Liveness::Dead | Liveness::Unheld => {
                    // SAFETY: probe left us holding it.
                    unsafe { lock::unlock(&raw mut (*self.q.waiter(w)).life) };
                    false
                }
            };
            let valid_role = matches!(role, waiter_state::RECEIVING | waiter_state::SENDING | SERVED);
            if !alive || !valid_role {
                let rec = self.waiter(w);
                rec.state = waiter_state::FREE;
                rec.slot = 0;
                continue;
            }
            match role {
                waiter_state::RECEIVING => recv += 1,
                waiter_state::SENDING => send += 1,
                _ => {}
            }
        }
        // Slots: queued ones by sequence; owned ones only if their owner still claims them.
        let mut queued: Vec<(u64, u32)> = Vec::new();
        let mut scheduled: Vec<(u64, u64, u32)> = Vec::new();
        let mut free_head = 0u32;
        let mut free_extra = 0u32;
        let mut bytes = 0u64;
        let maxmsg = self.q.geo.maxmsg;
        // In express mode the queue slots are the ring's (its positions are the truth); their
        // states must read FREE, should the ring be folded later. Otherwise the lazy range is free.
        let express = self.q.is_express();
        let (lazy_next, lazy_left) = (self.st().lazy_next % maxmsg, self.st().lazy_left.min(maxmsg));
        let lazy = |i: u32| i < maxmsg && (i + maxmsg - lazy_next) % maxmsg < lazy_left;
        for i in (0..slot_count).rev() {
            if express && i < maxmsg {
                // SAFETY: in the mapping; only the atomic state is touched (an express sender
                // may be writing the slot's other fields).
                unsafe { (*self.q.slot(i)).state.store(slot_state::FREE, Ordering::Release) };
                continue;
            }
            let (state, owner, seq, len, prio) = {
                let s = self.slot(i);
                (s.state.load(Ordering::Acquire), s.owner, s.seq, s.len, s.prio)
            };
            let keep = !lazy(i)
                && match state {
                    slot_state::QUEUED | slot_state::SCHEDULED => (prio as usize) < PRIO_LEVELS && (len as u64) <= self.q.geo.msgsize,
                    slot_state::HANDED | slot_state::PENDING => {
                        self.index(owner, WAITER_SLOTS).is_some_and(|w| self.waiter(w).state != waiter_state::FREE && self.waiter(w).slot == i + 1)
                    }
                    _ => false,
                };
            if keep && state == slot_state::QUEUED {
                queued.push((seq, i));
                bytes += len as u64;
            } else if keep && state == slot_state::SCHEDULED {
                let due = self.slot(i).due_ns;
                scheduled.push((due, seq, i));
            } else if !keep {
                let list = if i < maxmsg { &mut free_head } else { &mut free_extra };
                let s = self.slot(i);
                s.state.store(slot_state::FREE, Ordering::Release);
                s.owner = 0;
                s.next = *list;
                *list = i + 1;
            }
        }
        queued.sort_unstable();
        {
            let st = self.st();
            st.free_slot = free_head;
            st.free_extra = free_extra;
            st.lazy_left = 0;
            st.summary = [0; PRIO_LEVELS / 64 / 64];
            st.bitmap = [0; PRIO_LEVELS / 64];
            st.recv_waiting = recv;
            st.send_waiting = send;
            st.curmsgs.store(queued.len() as u32, Ordering::Release);
            st.curbytes.store(bytes, Ordering::Release);
            if let Some(&(last, _)) = queued.last() {
                st.next_seq = st.next_seq.max(last + 1);
            }
        }
        for &(_, i) in &queued {
            let prio = self.slot(i).prio;
            self.slot(i).next = 0;
            self.link(i, prio);
        }
        // A receiver that died while pulling a blocked sender's message in may have committed it
        // (QUEUED) without serving the sender: the sender was served, and must not be again.
        for w in 0..WAITER_SLOTS {
            if self.waiter(w).state != waiter_state::SENDING {
                continue;
            }
            let slot = self.waiter(w).slot;
            let committed = self.index(slot, slot_count).is_some_and(|i| self.slot(i).state.load(Ordering::Acquire) == slot_state::QUEUED);
            if committed {
                self.waiter(w).slot = 0;
                self.serve(w, None);
            }
        }
        scheduled.sort_unstable();
        let mut head = 0u32;
        for &(_, _, i) in scheduled.iter().rev() {
            self.slot(i).next = head;
            head = i + 1;
        }
        let max_handle = scheduled.iter().map(|&(_, h, _)| h).max().unwrap_or(0);
        let st = self.st();
        st.scheduled_head = head;
        st.scheduled = scheduled.len() as u32;
        st.next_handle = st.next_handle.max(max_handle + 1);
        self.refresh_next_due();
    }
}

/// The kernel's `task->prio` of a waiter: lower is served first. Read from the waiting thread
/// itself when it was not recorded at registration.
fn effective_sched_prio(w: &Waiter) -> i32 {
    if w.prio_known != 0 {
        w.sched_prio
    } else {
        sched_prio_of(w.tid)
    }
}

/// The kernel's task priority of thread `tid` (0 = the caller): RT policies 0..98 (99 - rt
/// priority), others 100..139 (120 + nice).
pub fn sched_prio_of(tid: i32) -> i32 {
    // SAFETY: plain syscalls on a thread id; failures fall back to the default priority.
    unsafe {
        let policy = libc::sched_getscheduler(tid);
        if policy == libc::SCHED_FIFO || policy == libc::SCHED_RR {
            let mut p = libc::sched_param { sched_priority: 0 };
            if libc::sched_getparam(tid, &mut p) == 0 {
                return 99 - p.sched_priority;
            }
        }
        crate::errno::set(0);
        let nice = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        if nice == -1 && crate::errno::current() != 0 {
            120
        } else {
            120 + nice
        }
    }
}

#[cfg(test)]
mod tests;
