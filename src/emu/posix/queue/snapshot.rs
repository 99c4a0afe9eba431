//! A read-only copy of what a queue holds (`mqshim peek`): its messages in the order receivers
//! would take them — scheduled messages already due among them, where the next operation would
//! queue them — and its pending scheduled messages in due order.
//!
//! Taken under the queue lock without folding the express ring: with the lock held the mode
//! cannot change, and in express mode both side locks are taken too (as a fold takes them), so
//! neither express senders nor receivers move while the ring is read. Nothing is written: no
//! position advances, no scheduled message is promoted, no notification fires, no waiter is
//! served or woken.

use super::*;
use crate::emu::peek::{PeekedMessage, Placement, QueueSnapshot};

impl Queue {
    /// The snapshot of the queue, each message's first `preview` bytes copied.
    pub fn snapshot(&self, preview: usize) -> Result<QueueSnapshot> {
        let mut locked = self.lock_general(false)?;
        let mut snap = QueueSnapshot::default();
        if self.is_express() {
            let _sides = crate::emu::engine::ring::lock_both_sides(|side| self.lock_side(side))?;
            snap.messages = self.ring_messages(preview);
        } else {
            snap.messages = locked.general_messages(preview);
        }
        snap.scheduled = locked.scheduled_messages(preview);
        drop(locked);
        let maxmsg = self.geo.maxmsg as usize;
        snap.place_due(crate::os::clock::realtime_ns(), Placement::ByPriority, |_, queued| queued.len() < maxmsg);
        Ok(snap)
    }

    /// A copy of slot `i`'s message (the caller holds what keeps the slot from changing).
    pub(super) fn peek_slot(&self, i: u32, preview: usize, due_ns: Option<u64>) -> PeekedMessage {
        // SAFETY: i < slot_count (checked by the callers); the slot's fields and data are
        // stable under the locks the caller holds, and its data area holds msgsize >= len bytes.
        unsafe {
            let s = self.slot(i);
            let len = ((&raw const (*s).len).read() as u64).min(self.geo.msgsize) as usize;
            let prio = (&raw const (*s).prio).read();
            let visible_ns = (&raw const (*s).visible_ns).read();
            PeekedMessage::copy(prio.into(), self.slot_data(i), len, preview, visible_ns, due_ns)
        }
    }
}

impl Locked<'_> {
    /// The general structure's messages: highest priority first, FIFO within one.
    fn general_messages(&mut self, preview: usize) -> Vec<PeekedMessage> {
        let q = self.q;
        let limit = q.geo.slot_count;
        let mut out = Vec::new();
        for prio in (0..PRIO_LEVELS as u32).rev() {
            if !self.has_bit(prio) {
                continue;
            }
            let mut link = self.prio_list(prio).head;
            // Bounded: a damaged list cannot loop for ever.
            for _ in 0..limit {
                let Some(i) = self.index(link, limit) else { break };
                if self.slot(i).state.load(Ordering::Acquire) != slot_state::QUEUED {
                    break;
                }
                out.push(q.peek_slot(i, preview, None));
                link = self.slot(i).next;
            }
        }
        out
    }

    /// The pending scheduled messages, in due order.
    fn scheduled_messages(&mut self, preview: usize) -> Vec<PeekedMessage> {
        let q = self.q;
        let limit = q.geo.slot_count;
        let mut out = Vec::new();
        let mut link = self.st().scheduled_head;
        for _ in 0..limit {
            let Some(i) = self.index(link, limit) else { break };
            if self.slot(i).state.load(Ordering::Acquire) != slot_state::SCHEDULED {
                break;
            }
            let due = self.slot(i).visible_ns;
            out.push(q.peek_slot(i, preview, Some(due)));
            link = self.slot(i).next;
        }
        out
    }
}
