//! Scheduled messages (`mqshim_msgsnd_at`): SCHEDULED blocks in due order, sent as `msgsnd`
//! would send them by the first operation that finds them due.

use super::*;
use crate::emu::engine::schedule::{self, Due, DueRecords};

impl<'q> Locked<'q> {
    /// Schedules a message (the caller checked its size, and that `text` holds `len` readable
    /// bytes) to be sent at `due_ns` (CLOCK_REALTIME ns) as if process `pid` sent it then. Returns
    /// its handle; EAGAIN when `SCHEDULED_MAX` are pending already. One already due is sent now.
    pub fn schedule(&mut self, mtype: i64, text: *const u8, len: usize, due_ns: u64, pid: i32) -> Result<u64> {
        // Those already due are no longer pending.
        self.promote_if_due();
        if self.st().scheduled >= SCHEDULED_MAX {
            return Err(Errno::EAGAIN);
        }
        let r = match self.write_message(mtype, text, len, due_ns) {
            Ok(r) => r?,
            Err(Corrupt) => {
                self.repair();
                return Err(corrupt());
            }
        };
        let handle = self.st().next_handle.max(1);
        self.st().next_handle = handle + 1;
        match self.msg(r) {
            Ok(b) => {
                b.handle = handle;
                b.owner = pid as u32;
                // The commit point of a scheduling: the message belongs to the queue from here.
                b.state.store(block_state::SCHEDULED, Ordering::Release);
            }
            Err(Corrupt) => {
                self.repair();
                return Err(corrupt());
            }
        }
        match self.link_scheduled(r) {
            Ok(()) => self.st().scheduled += 1,
            // The list was broken: repair relinks every SCHEDULED block, this one included.
            Err(Corrupt) => self.repair(),
        }
        let next_due = self.settle_schedule(realtime_ns());
        if next_due == due_ns {
            // Blocked receivers sleep until the next due time, which this message moved closer.
            self.rouse_receivers();
        }
        Ok(handle)
    }

    /// Cancels the pending scheduled message `handle`: ENOENT unless it is pending and not yet
    /// due (it was sent, or fell due and waits for room, or was cancelled, or never existed).
    pub fn cancel(&mut self, handle: u64) -> Result<()> {
        let now = realtime_ns();
        self.settle_schedule(now);
        let link = schedule::cancel_or_repair(self, handle, now).ok_or(Errno::ENOENT)?;
        // The commit point of a cancellation.
        self.free(link);
        self.st().scheduled = self.st().scheduled.saturating_sub(1);
        self.publish_schedule(now);
        Ok(())
    }

    /// Scheduled messages pending (due ones waiting for room included).
    pub fn scheduled(&mut self) -> u32 {
        self.st().scheduled
    }

    /// Sends the scheduled messages that are due, if the earliest is (one clock read when any
    /// are pending, nothing otherwise).
    pub fn promote_if_due(&mut self) {
        let head = self.st().sched_head;
        if head == 0 {
            return;
        }
        let now = realtime_ns();
        match self.msg(head) {
            Ok(b) if b.visible_ns > now => {}
            _ => {
                self.settle_schedule(now);
            }
        }
    }

    /// Inserts SCHEDULED block `r` into the due list.
    pub(super) fn link_scheduled(&mut self, r: u32) -> std::result::Result<(), Corrupt> {
        schedule::insert(self, r)
    }

    /// Sends what is due by `now`, then publishes the next due time; returns it (0: none).
    pub(super) fn settle_schedule(&mut self, now: u64) -> u64 {
        if self.promote_due(now).is_err() {
            self.repair();
        }
        self.publish_schedule(now)
    }

    /// Sends the scheduled messages due by `now`, in due order, each as msgsnd would send it at
    /// this moment: if it fits, to the first matching blocked receiver or into the queue; if not,
    /// it stays and waits for a receive to make room, as a blocked sender does.
    pub(super) fn promote_due(&mut self, now: u64) -> std::result::Result<(), Corrupt> {
        let limit = SCHEDULED_MAX.max(self.st().scheduled);
        let (mut prev, mut cur, mut steps) = (0u32, self.st().sched_head, 0u32);
        while cur != 0 {
            steps += 1;
            let (next, due, mtype, len, pid) = {
                let b = self.msg(cur)?;
                if steps > limit || b.state.load(Ordering::Relaxed) != block_state::SCHEDULED {
                    return Err(Corrupt);
                }
                (b.next, b.visible_ns, b.mtype, b.len, b.owner as i32)
            };
            if due > now {
                break;
            }
            if !self.fits(len) {
                (prev, cur) = (cur, next);
                continue;
            }
            let sent_at = now_sec();
            let mut update = StatUpdate { sent_by: Some((pid, sent_at)), received_by: None };
            // A hand-over commits by itself; else the type node must exist before the message
            // is committed to the queue, so that no message is lost for want of room for it.
            let handed = self.pipelined_send(cur, mtype, len)?;
            let node = match handed {
                Some(_) => None,
                None => {
                    let node = self.tfind(0, type_key(mtype))?;
                    if node != 0 {
                        Some((node, false))
                    } else {
                        match self.alloc(0) {
                            Ok(n) => Some((n, true)),
                            // No room even for a type node: it stays due, for a later operation.
                            Err(_) => break,
                        }
                    }
                }
            };
            if prev == 0 {
                self.st().sched_head = next;
            } else {
                self.msg(prev)?.next = next;
            }
            self.st().scheduled = self.st().scheduled.saturating_sub(1);
            match (handed, node) {
                (Some(tid), _) => update.received_by = Some((tid, sent_at)),
                (None, Some((node, new_type))) => self.enqueue(cur, node, new_type)?,
                (None, None) => {}
            }
            self.publish(update);
            cur = next;
        }
        Ok(())
    }

    /// Publishes to the entry the earliest due time after `after` (those due by then
    /// were tried already and wait for room) and the number pending. Returns that due time.
    /// Written after `qnum` (see `publish`), so a reader that loads `next_due_ns` first and then
    /// `qnum` never misses a message that was promoted.
    pub(super) fn publish_schedule(&mut self, after: u64) -> u64 {
        let next_due = schedule::next_due_after(self, after);
        if self.valid() {
            let pending = self.st().scheduled;
            if self.entry.next_due_ns.load(Ordering::Relaxed) != next_due {
                self.entry.next_due_ns.store(next_due, Ordering::Release);
            }
            if self.entry.scheduled.load(Ordering::Relaxed) != pending {
                self.entry.scheduled.store(pending, Ordering::Release);
            }
        }
        next_due
    }

    /// Makes every blocked receiver that sleeps look again at the next due time, which a new
    /// scheduled message moved closer. Its word goes back from SLEEPING to WAITING (so a receiver
    /// about to sleep does not: see `engine::waiter::rouse`).
    pub(super) fn rouse_receivers(&mut self) {
        let q = self.q;
        let mut cur = self.st().recv_head;
        // The receivers' list, bounded (a damaged list cannot loop forever).
        let receivers = std::iter::from_fn(|| {
            let w = cur.checked_sub(1).filter(|&w| w < WAITER_SLOTS)?;
            // SAFETY: a record in the mapping; its link is written only under the queue lock,
            // which is held.
            cur = unsafe { (*q.waiter_ptr(w)).next };
            Some(w)
        })
        .take(WAITER_SLOTS as usize + 1);
        crate::emu::engine::waiter::rouse(receivers.map(|w| q.wake_word(w)));
    }

    /// Frees every pending scheduled message (IPC_RMID).
    pub(super) fn discard_scheduled(&mut self) {
        let limit = SCHEDULED_MAX.max(self.st().scheduled);
        let (mut cur, mut steps) = (self.st().sched_head, 0u32);
        while cur != 0 && steps <= limit {
            steps += 1;
            let next = match self.msg(cur) {
                Ok(b) if b.state.load(Ordering::Relaxed) == block_state::SCHEDULED => b.next,
                _ => break,
            };
            self.free(cur);
            cur = next;
        }
        let st = self.st();
        st.sched_head = 0;
        st.scheduled = 0;
    }
}

/// The due list of a System V queue: SCHEDULED blocks, linked by `next`.
impl DueRecords for Locked<'_> {
    fn due_head(&mut self) -> u32 {
        self.st().sched_head
    }

    fn set_due_head(&mut self, head: u32) {
        self.st().sched_head = head;
    }

    fn due_record(&mut self, link: u32) -> std::result::Result<Due, Corrupt> {
        let b = self.msg(link)?;
        if b.state.load(Ordering::Relaxed) != block_state::SCHEDULED {
            return Err(Corrupt);
        }
        Ok(Due { due_ns: b.visible_ns, handle: b.handle, next: b.next })
    }

    fn set_due_next(&mut self, link: u32, next: u32) -> std::result::Result<(), Corrupt> {
        self.msg(link)?.next = next;
        Ok(())
    }

    fn due_limit(&mut self) -> u32 {
        SCHEDULED_MAX.max(self.st().scheduled)
    }
}
