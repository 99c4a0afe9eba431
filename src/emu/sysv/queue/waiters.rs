//! Blocked senders and receivers: FIFO lists of waiter records, the hand-off of a message to a
//! matching blocked receiver (the kernel's `pipelined_send`), sending blocked senders' pending
//! messages when room appears (`ss_wakeup`), IPC_SET and IPC_RMID wake-ups, and reclaiming the
//! dead and those that left unserved (see `engine::waiter`): every waiter is claimed
//! ([`Locked::claim`]) before anything is handed to it or sent for it.

use super::*;
use crate::emu::engine::waiter::WaiterCore;

impl Queue {
    /// The futex word of waiter `w`.
    pub fn wake_word(&self, w: u32) -> &AtomicU32 {
        // SAFETY: the record is in the mapping; `word` is atomic.
        unsafe { &(*self.waiter_ptr(w.min(WAITER_SLOTS - 1))).core.word }
    }

    /// Notes that the caller blocks on or wakes someone on the queue from its current CPU
    /// (writing only on a change).
    pub fn note_cpu(&self) {
        let recent = &self.header().spin.recent_cpus;
        let cpu = crate::emu::engine::spin::current_cpu();
        let last = recent[0].load(Ordering::Relaxed);
        if last != cpu {
            recent[1].store(last, Ordering::Relaxed);
            recent[0].store(cpu, Ordering::Relaxed);
        }
    }

    /// Takes the queue lock for waiter `w` (the calling thread) to collect its outcome once its
    /// sleep ended, `served` or not, or leaves unserved without it (None): see
    /// `engine::waiter::lock_to_collect`.
    pub fn lock_to_collect<'q>(&'q self, entry: &'q Entry, w: u32, served: bool) -> Result<Option<Locked<'q>>> {
        // SAFETY: a record in the mapping, in which the calling thread registered (the caller's
        // `w`) and which it has not left.
        unsafe { crate::emu::engine::waiter::lock_to_collect(&raw mut (*self.waiter_ptr(w.min(WAITER_SLOTS - 1))).core, served, || self.lock(entry)) }
    }

    /// Sends every sleeping waiter back to look again, without the lock: its queue was removed
    /// or its permissions changed by a caller that could not take the lock (see
    /// [`Queue::remove_unlocked`], [`Queue::recheck_unlocked`]), and a waiter that finds the
    /// queue gone or itself shut out leaves at once if the lock's holder is still stopped.
    pub(super) fn rouse_waiters(&self) {
        // Read without the lock, as a bound only: a record past it was never used, and each
        // word is only compare-and-swapped from SLEEPING.
        // SAFETY: the field is in the mapped header; an aligned u32 read whatever it holds.
        let top = unsafe { std::ptr::read_volatile(&raw const (*self.header_ptr()).state.waiter_top) }.min(WAITER_SLOTS);
        crate::emu::engine::waiter::rouse((0..top).map(|w| self.wake_word(w)));
    }

    /// A CPU other than the caller's that recently used the queue (`u32::MAX`: none known).
    pub fn peer_cpu(&self) -> u32 {
        let me = crate::emu::engine::spin::current_cpu();
        self.header().spin.recent_cpus.iter().map(|c| c.load(Ordering::Relaxed)).find(|&c| c != u32::MAX && c != me).unwrap_or(u32::MAX)
    }
}

impl<'q> Locked<'q> {
    /// The kernel's `pipelined_send`: gives message block `r` to the first blocked receiver it
    /// matches (E2BIG to each matching one whose buffer is too small, on the way). Returns the
    /// receiving thread's id when handed over.
    pub(super) fn pipelined_send(&mut self, r: u32, mtype: i64, len: u64) -> std::result::Result<Option<i32>, Corrupt> {
        let mut cur = self.st().recv_head;
        let mut steps = 0;
        while cur != 0 {
            steps += 1;
            let w = cur - 1;
            if w >= WAITER_SLOTS || steps > WAITER_SLOTS {
                return Err(Corrupt);
            }
            let (next, typ, mode, size, state) = {
                let rec = self.waiter(w);
                (rec.next, rec.msgtyp, rec.mode, rec.size, rec.core.state)
            };
            if state != waiter_state::RECEIVING {
                return Err(Corrupt);
            }
            if testmsg(mtype, typ, mode) {
                if !self.alive(w) {
                    self.release(w);
                } else if !self.claim(w) {
                    // Left unserved: forgotten, and the next receiver is looked at.
                } else if size < len {
                    self.unlink_waiter(w)?;
                    self.serve(w, libc::E2BIG, 0);
                } else {
                    self.unlink_waiter(w)?;
                    let b = self.msg(r)?;
                    b.owner = w + 1;
                    // The commit point of a hand-over.
                    b.state.store(block_state::HANDED, Ordering::Release);
                    let tid = self.waiter(w).core.tid;
                    self.serve(w, 0, r);
                    return Ok(Some(tid));
                }
            }
            cur = next;
        }
        Ok(None)
    }

    /// Waiter `w`'s shared record.
    pub(super) fn core(&self, w: u32) -> *mut WaiterCore {
        // SAFETY: only the field's address is taken; callers pass w < WAITER_SLOTS.
        unsafe { &raw mut (*self.q.waiter_ptr(w)).core }
    }

    /// Whether waiter `w`'s thread is alive (a live thread holds its life lock).
    pub(super) fn alive(&mut self, w: u32) -> bool {
        // SAFETY: a record in the mapping; the queue lock is held.
        unsafe { WaiterCore::alive(self.core(w)) }
    }

    pub(super) fn list_of(&mut self, role: u32) -> (u32, u32) {
        let st = self.st();
        if role == waiter_state::RECEIVING {
            (st.recv_head, st.recv_tail)
        } else {
            (st.send_head, st.send_tail)
        }
    }

    pub(super) fn set_list(&mut self, role: u32, head: u32, tail: u32) {
        let st = self.st();
        if role == waiter_state::RECEIVING {
            st.recv_head = head;
            st.recv_tail = tail;
        } else {
            st.send_head = head;
            st.send_tail = tail;
        }
    }

    pub(super) fn link_tail(&mut self, w: u32, role: u32) {
        let (head, tail) = self.list_of(role);
        {
            let rec = self.waiter(w);
            rec.next = 0;
            rec.prev = tail;
        }
        if tail != 0 && tail - 1 < WAITER_SLOTS {
            self.waiter(tail - 1).next = w + 1;
            self.set_list(role, head, w + 1);
        } else {
            self.set_list(role, w + 1, w + 1);
        }
        let st = self.st();
        if role == waiter_state::RECEIVING {
            st.recv_waiting += 1;
        } else {
            st.send_waiting += 1;
        }
    }

    /// Takes registered waiter `w` out of its list.
    pub(super) fn unlink_waiter(&mut self, w: u32) -> std::result::Result<(), Corrupt> {
        let role = self.waiter(w).core.state;
        if role != waiter_state::RECEIVING && role != waiter_state::SENDING {
            return Ok(());
        }
        let (prev, next) = {
            let rec = self.waiter(w);
            (rec.prev, rec.next)
        };
        if prev > WAITER_SLOTS || next > WAITER_SLOTS {
            return Err(Corrupt);
        }
        let (head, tail) = self.list_of(role);
        let head = if prev != 0 {
            self.waiter(prev - 1).next = next;
            head
        } else {
            next
        };
        let tail = if next != 0 {
            self.waiter(next - 1).prev = prev;
            tail
        } else {
            prev
        };
        self.set_list(role, head, tail);
        let rec = self.waiter(w);
        rec.next = 0;
        rec.prev = 0;
        let st = self.st();
        if role == waiter_state::RECEIVING {
            st.recv_waiting = st.recv_waiting.saturating_sub(1);
        } else {
            st.send_waiting = st.send_waiting.saturating_sub(1);
        }
        Ok(())
    }

    /// Claims registered waiter `w` (still in its list) for serving, the commit point of
    /// whatever is then handed to it or sent for it (see `engine::waiter`), and schedules its
    /// wake-up: it must be served ([`Locked::serve`]) before the lock is let go. False when
    /// its thread left unserved: the record is forgotten ([`Locked::forget_left`]).
    pub(super) fn claim(&mut self, w: u32) -> bool {
        // SAFETY: a record in the mapping; the queue lock is held.
        let claimed = unsafe { (*self.core(w)).claim_owing_wake(&mut self.wakes) };
        if !claimed {
            self.forget_left(w);
        }
        claimed
    }

    /// Takes waiter `w`, whose thread left unserved, out of its list, and frees its record (and
    /// the pending message of a sender) — once its thread let go of the record's life lock,
    /// which it does just after leaving; until then the record stays taken, out of every list
    /// (as SERVED: a record served and not yet collected), for [`Locked::reap_dead_waiters`].
    pub(super) fn forget_left(&mut self, w: u32) {
        if self.unlink_waiter(w).is_err() {
            self.repair();
            return;
        }
        self.waiter(w).core.state = waiter_state::SERVED;
        if !self.alive(w) {
            self.release(w);
        }
    }

    /// Hands claimed waiter `w` (already out of its list) its result.
    pub(super) fn serve(&mut self, w: u32, result: i32, handed: u32) {
        self.q.note_cpu();
        let rec = self.waiter(w);
        rec.handed = handed;
        rec.core.fill(result);
    }

    /// Registers the calling thread as a blocked receiver (`typ`, `mode`, largest message
    /// `size`) at the tail of the receivers' FIFO. Returns the waiter index.
    pub fn register_receiver(&mut self, typ: i64, mode: u32, size: u64) -> Result<u32> {
        self.register(waiter_state::RECEIVING, typ, mode, size, 0)
    }

    /// Registers the calling thread as a blocked sender of (`mtype`, `len` bytes at `text`),
    /// at the tail of the senders' FIFO: the message is written now, PENDING, so a receive that
    /// makes room can send it for the sender. Returns the waiter index.
    pub fn register_sender(&mut self, mtype: i64, text: *const u8, len: usize) -> Result<u32> {
        // Stamped again when it enters the queue (`commit_pending`).
        let r = match self.write_message(mtype, text, len, coarse_realtime_ns()) {
            Ok(r) => r?,
            Err(Corrupt) => {
                self.repair();
                return Err(corrupt());
            }
        };
        match self.register(waiter_state::SENDING, 0, 0, len as u64, r) {
            Ok(w) => Ok(w),
            Err(e) => {
                self.free(r);
                Err(e)
            }
        }
    }

    /// Registers the calling thread as a waiter of `role` (a receiver's criteria, or a
    /// sender's size and written `pending` block) at the tail of its FIFO.
    pub(super) fn register(&mut self, role: u32, typ: i64, mode: u32, size: u64, pending: u32) -> Result<u32> {
        let w = self.alloc_waiter().ok_or(Errno::ENOMEM)?;
        self.q.note_cpu();
        let ticket = self.st().next_ticket;
        // SAFETY: a FREE record in the mapping; the queue lock is held.
        if let Err(e) = unsafe { WaiterCore::enter(self.core(w), role, ticket) } {
            self.push_free_waiter(w);
            return Err(e);
        }
        self.st().next_ticket = ticket + 1;
        let generation = self.st().perm_generation;
        if pending != 0 {
            if let Ok(b) = self.msg(pending) {
                b.owner = w + 1;
                // The pending message belongs to this waiter from here on.
                b.state.store(block_state::PENDING, Ordering::Release);
            }
        }
        let rec = self.waiter(w);
        rec.msgtyp = typ;
        rec.mode = mode;
        rec.size = size;
        rec.handed = pending;
        rec.generation = generation;
        self.link_tail(w, role);
        Ok(w)
    }

    pub(super) fn alloc_waiter(&mut self) -> Option<u32> {
        for attempt in 0..2 {
            let head = self.st().free_waiter;
            if let Some(w) = head.checked_sub(1).filter(|&w| w < WAITER_SLOTS) {
                if self.waiter(w).core.state == waiter_state::FREE {
                    let next = self.waiter(w).next;
                    self.st().free_waiter = next;
                    return Some(w);
                }
                self.st().free_waiter = 0;
            }
            let top = self.st().waiter_top;
            if top < WAITER_SLOTS {
                // Its storage first (see `storage`): no room is no record.
                let size = std::mem::size_of::<Waiter>() as u64;
                self.q.reserve(&self.q.reserved_waiters, waiters_offset(), (top as u64 + 1) * size, WAITER_SLOTS as u64 * size).ok()?;
                self.st().waiter_top = top + 1;
                let rec = self.waiter(top);
                rec.core.state = waiter_state::FREE;
                return Some(top);
            }
            if attempt == 0 {
                self.reap_dead_waiters();
            }
        }
        None
    }

    pub(super) fn push_free_waiter(&mut self, w: u32) {
        let head = self.st().free_waiter;
        let rec = self.waiter(w);
        rec.core.state = waiter_state::FREE;
        rec.handed = 0;
        rec.prev = 0;
        rec.next = head;
        self.st().free_waiter = w + 1;
    }

    /// Frees waiter `w`'s record (and a message handed to it and not collected).
    pub(super) fn release(&mut self, w: u32) {
        if self.unlink_waiter(w).is_err() {
            self.repair();
        }
        let handed = self.waiter(w).handed;
        if handed != 0 {
            let owned =
                matches!(self.msg(handed), Ok(b) if matches!(b.state.load(Ordering::Relaxed), block_state::HANDED | block_state::PENDING) && b.owner == w + 1);
            if owned {
                self.free(handed);
            }
        }
        self.push_free_waiter(w);
    }

    pub(super) fn reap_dead_waiters(&mut self) {
        let top = self.st().waiter_top.min(WAITER_SLOTS);
        for w in 0..top {
            if self.waiter(w).core.state != waiter_state::FREE && !self.alive(w) {
                self.release(w);
            }
        }
    }

    /// After waking (or giving up): the waiter's outcome, with a handed message copied to the
    /// caller's `dst` (at most `bufsz` bytes of text). The record is released either way.
    pub fn finish(&mut self, w: u32, dst: *mut u8, bufsz: usize) -> Finished {
        let rec = self.waiter(w);
        let outcome = if rec.core.state == waiter_state::SERVED {
            match (rec.core.result, rec.handed) {
                (0, 0) => Finished::Sent,
                (0, handed) => match self.copy_out(handed, dst, bufsz) {
                    Ok(got) => Finished::Handed(got),
                    Err(e) => Finished::Failed(e),
                },
                (RESULT_RETRY, _) => Finished::Retry,
                (e, _) if e > 0 => Finished::Failed(Errno::from_raw(e)),
                _ => Finished::Failed(Errno::EIO),
            }
        } else {
            Finished::NotServed
        };
        self.release(w);
        // SAFETY: the calling thread registered in this record (`register`).
        unsafe { WaiterCore::leave(self.core(w)) };
        outcome
    }

    /// The kernel's `ss_wakeup` (without kill): wakes, in FIFO order, each blocked sender whose
    /// message fits now (it will look again), moving the others to the tail.
    pub(super) fn wake_senders(&mut self) {
        let mut stop = 0;
        let mut cur = self.st().send_head;
        let mut steps = 0;
        while cur != 0 && cur != stop && steps <= WAITER_SLOTS {
            steps += 1;
            let w = cur - 1;
            if w >= WAITER_SLOTS {
                break;
            }
            let (next, size) = {
                let rec = self.waiter(w);
                (rec.next, rec.size)
            };
            if !self.alive(w) {
                self.release(w);
            } else if !self.fits(size) {
                if stop == 0 {
                    stop = cur;
                }
                if self.unlink_waiter(w).is_err() {
                    self.repair();
                    return;
                }
                let ticket = self.st().next_ticket;
                self.st().next_ticket = ticket + 1;
                self.waiter(w).core.ticket = ticket;
                self.link_tail(w, waiter_state::SENDING);
            } else if self.claim(w) {
                if self.unlink_waiter(w).is_err() {
                    self.repair();
                    return;
                }
                let result = if self.commit_pending(w) { 0 } else { RESULT_RETRY };
                self.serve(w, result, 0);
            }
            cur = next;
        }
    }

    /// Sends blocked sender `w`'s pending message for it (true), unless the sender must look
    /// again itself: IPC_SET happened since it blocked, or there is no room for a type node.
    /// The block's own state change (PENDING to QUEUED or HANDED) commits the send; if this
    /// process dies before serving the sender, repair sees that and serves it.
    pub(super) fn commit_pending(&mut self, w: u32) -> bool {
        let (r, pid, generation) = {
            let rec = self.waiter(w);
            (rec.handed, rec.core.pid, rec.generation)
        };
        if r == 0 || generation != self.st().perm_generation {
            return false;
        }
        let now_ns = coarse_realtime_ns();
        let (mtype, len) = match self.msg(r) {
            Ok(b) if b.state.load(Ordering::Relaxed) == block_state::PENDING && b.owner == w + 1 => {
                // Its age counts from now, when a receiver could first take it.
                b.visible_ns = now_ns;
                (b.mtype, b.len)
            }
            _ => return false,
        };
        match self.deliver(r, mtype, len, pid, seconds_of_ns(now_ns)) {
            Ok(Ok(())) => true,
            Ok(Err(_)) => {
                // No room for a type node: deliver freed the block; the sender sends again.
                self.waiter(w).handed = 0;
                false
            }
            Err(Corrupt) => {
                self.repair();
                false
            }
        }
    }

    /// Repair's view of a live blocked sender whose pending message may have been committed by
    /// a process that died before serving it: served (sent) if its block was committed, told to
    /// look again if the block is gone.
    pub(super) fn settle_sender(&mut self, w: u32) {
        let r = self.waiter(w).handed;
        let state = match self.msg(r) {
            Ok(b) if b.state.load(Ordering::Relaxed) == block_state::PENDING && b.owner == w + 1 => return,
            Ok(b) if r != 0 => b.state.load(Ordering::Relaxed),
            _ => block_state::FREE,
        };
        let committed = matches!(state, block_state::QUEUED | block_state::HANDED);
        if !self.claim(w) || self.unlink_waiter(w).is_err() {
            return;
        }
        self.waiter(w).handed = 0;
        self.serve(w, if committed { 0 } else { RESULT_RETRY }, 0);
    }

    /// IPC_SET: every blocked receiver looks again (its permission may be gone), and so does
    /// every blocked sender whose message now fits (`qbytes` may have grown).
    pub fn recheck_all(&mut self) {
        let st = self.st();
        st.perm_generation = st.perm_generation.wrapping_add(1);
        self.serve_all(waiter_state::RECEIVING, RESULT_RETRY);
        self.wake_senders();
        self.promote_if_due();
    }

    /// IPC_RMID: the queue is gone; every blocked sender and receiver fails with EIDRM.
    /// Pending scheduled messages are discarded.
    pub fn remove_all(&mut self) {
        self.q.header().removed.store(REMOVED, Ordering::Release);
        self.serve_all(waiter_state::RECEIVING, libc::EIDRM);
        self.serve_all(waiter_state::SENDING, libc::EIDRM);
        self.discard_scheduled();
    }

    pub(super) fn serve_all(&mut self, role: u32, result: i32) {
        let mut steps = 0;
        loop {
            let (head, _) = self.list_of(role);
            if head == 0 || head > WAITER_SLOTS || steps > WAITER_SLOTS {
                break;
            }
            steps += 1;
            let w = head - 1;
            if !self.claim(w) {
                continue;
            }
            if self.unlink_waiter(w).is_err() {
                self.repair();
                continue;
            }
            self.serve(w, result, 0);
        }
    }
}
