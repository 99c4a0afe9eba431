//! Scheduled messages (`mqshim_mq_send_at`): held in extra slots in due order, invisible and
//! uncounted until due, then queued (or handed to a blocked receiver) by the first operation
//! that finds them due.

use super::*;
use crate::emu::engine::schedule::{self, Due, DueRecords};

impl Queue {
    /// The earliest pending scheduled message's due time (ns), 0 when none (no lock).
    #[inline]
    pub fn next_due_ns(&self) -> u64 {
        // SAFETY: state is in the mapping; next_due_ns is atomic.
        unsafe { (*self.state()).next_due_ns.load(Ordering::Acquire) }
    }

    /// Scheduled messages pending (for `mqshim ipcs`): read under the queue lock, leaving the
    /// express ring in place (it never coexists with a scheduled message).
    pub fn scheduled_now(&self) -> Result<u32> {
        self.lock_general(false).map(|mut l| l.scheduled())
    }
}

impl<'q> Locked<'q> {
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
            s.visible_ns = due_ns;
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
    /// those of the sleep loop: `engine::sleep`).
    pub(super) fn rouse_receivers(&mut self) {
        let q = self.q;
        let set = self.st().receivers;
        let registered = (0..WAITER_SLOTS).filter(|&w| set[(w / 64) as usize] & (1 << (w % 64)) != 0);
        // SAFETY: records in the mapping; only their state (written under the queue lock, which
        // is held) and their atomic words are read.
        let receivers = registered.map(|w| unsafe { &(*q.waiter(w)).core }).filter(|rec| rec.state == waiter_state::RECEIVING);
        crate::emu::engine::waiter::rouse(receivers.map(|rec| &rec.word));
    }

    /// Cancels the pending scheduled message `handle`: ENOENT when there is none (already
    /// due and in the queue, already cancelled, or never scheduled here) or it is due already
    /// (waiting for room in a full queue, like a blocked sender, it is as good as sent).
    pub fn cancel(&mut self, handle: u64) -> Result<()> {
        let now = crate::os::clock::realtime_ns();
        let link = schedule::cancel_or_repair(self, handle, now).ok_or(Errno::ENOENT)?;
        self.free_slot(link - 1);
        self.st().scheduled -= 1;
        self.refresh_next_due();
        Ok(())
    }

    /// Scheduled messages pending.
    pub fn scheduled(&mut self) -> u32 {
        self.st().scheduled
    }

    /// Inserts SCHEDULED slot `i` into the due list; a list found broken is rebuilt by
    /// `repair`, this slot included.
    pub(super) fn link_scheduled(&mut self, i: u32) {
        if schedule::insert(self, i + 1).is_err() {
            self.repair();
        }
    }

    pub(super) fn refresh_next_due(&mut self) {
        let head = self.st().scheduled_head;
        let due = match self.index(head, self.q.geo.slot_count) {
            Some(i) => self.slot(i).visible_ns.max(1),
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
            if self.slot(i).visible_ns > now {
                break;
            }
            let receiver = if self.st().recv_waiting > 0 { self.first_claimed_waiter(waiter_state::RECEIVING) } else { None };
            if receiver.is_none() && self.st().curmsgs.load(Ordering::Relaxed) >= self.q.geo.maxmsg {
                break;
            }
            self.st().scheduled_head = self.slot(i).next;
            self.st().scheduled -= 1;
            // As good as sent at its due time (its `visible_ns`), whenever it is found due.
            let due = self.slot(i).visible_ns;
            self.note_sent(due);
            match receiver {
                Some(w) => {
                    let s = self.slot(i);
                    s.owner = w + 1;
                    s.next = 0;
                    s.state.store(slot_state::HANDED, Ordering::Release);
                    self.serve(w, Some(i));
                }
                None => {
                    self.enqueue_committed(i);
                    self.after_insert(program_fd);
                }
            }
        }
        self.refresh_next_due();
    }

    /// Promotes due scheduled messages if any are pending and due (one clock read when some
    /// are pending; nothing otherwise).
    #[inline]
    pub fn promote_if_due(&mut self, program_fd: i32) {
        let due = self.st().next_due_ns.load(Ordering::Acquire);
        if due != 0 {
            let now = crate::os::clock::realtime_ns();
            if now >= due {
                self.promote_due(now, program_fd);
            }
        }
    }
}

/// The due list of a POSIX queue: SCHEDULED extra slots, linked by `next`, a slot's `seq`
/// being its handle.
impl DueRecords for Locked<'_> {
    fn due_head(&mut self) -> u32 {
        self.st().scheduled_head
    }

    fn set_due_head(&mut self, head: u32) {
        self.st().scheduled_head = head;
    }

    fn due_record(&mut self, link: u32) -> std::result::Result<Due, Corrupt> {
        let i = self.index(link, self.q.geo.slot_count).ok_or(Corrupt)?;
        let s = self.slot(i);
        if s.state.load(Ordering::Acquire) != slot_state::SCHEDULED {
            return Err(Corrupt);
        }
        Ok(Due { due_ns: s.visible_ns, handle: s.seq, next: s.next })
    }

    fn set_due_next(&mut self, link: u32, next: u32) -> std::result::Result<(), Corrupt> {
        let i = self.index(link, self.q.geo.slot_count).ok_or(Corrupt)?;
        self.slot(i).next = next;
        Ok(())
    }

    fn due_limit(&mut self) -> u32 {
        SCHEDULED_SLOTS.max(self.st().scheduled)
    }
}
