//! A read-only copy of what a queue holds (`mqshim peek -q ID`): its messages in arrival order
//! (the order msgrcv with msgtyp 0 takes them; a receiver asking for a type takes the oldest of
//! that type) — scheduled messages already due after them, as the next operation would send
//! them — and its pending scheduled messages in due order.
//!
//! Taken under the queue lock, which, as for every locked operation, holds the queue in its
//! blocks (a fold of the express ring moves messages, unchanged and in order, and releasing the
//! lock hands them back): nothing a program sees changes — no message is taken, no scheduled
//! message sent, no statistic written, no waiter served or woken.

use super::*;
use crate::emu::peek::{PeekedMessage, Placement, QueueSnapshot};

impl Locked<'_> {
    /// The snapshot of the queue, each message's first `preview` bytes copied (EIO when the
    /// queue is found damaged: the next operation repairs it).
    pub fn snapshot(&mut self, preview: usize) -> Result<QueueSnapshot> {
        let qnum = self.st().qnum;
        let mut messages = Vec::new();
        let mut r = self.st().fifo_head;
        // Bounded by the count: a damaged list cannot loop for ever.
        while r != 0 && (messages.len() as u64) < qnum {
            let (message, next) = self.peek_block(r, block_state::QUEUED, preview, false).map_err(|_| corrupt())?;
            messages.push(message);
            r = next;
        }
        let mut scheduled = Vec::new();
        let mut r = self.st().sched_head;
        while r != 0 && scheduled.len() < SCHEDULED_MAX.max(self.st().scheduled) as usize {
            let (message, next) = self.peek_block(r, block_state::SCHEDULED, preview, true).map_err(|_| corrupt())?;
            scheduled.push(message);
            r = next;
        }
        let mut snap = QueueSnapshot { messages, scheduled };
        // Sent as msgsnd would send them, each if it fits what is queued by then.
        let (mut cbytes, qbytes) = (self.st().cbytes, self.entry.qbytes.load(Ordering::Relaxed));
        snap.place_due(realtime_ns(), Placement::AtEnd, |m, queued| {
            let fits = msg_fits_inqueue(m.len as u64, queued.len() as u64, cbytes, qbytes);
            cbytes += if fits { m.len as u64 } else { 0 };
            fits
        });
        Ok(snap)
    }

    /// A copy of block `r`'s message, which must be in `state`, and the next block of its list.
    fn peek_block(&mut self, r: u32, state: u32, preview: usize, with_due: bool) -> std::result::Result<(PeekedMessage, u32), Corrupt> {
        let (mtype, len, next, visible_ns) = {
            let b = self.msg(r)?;
            if b.state.load(Ordering::Acquire) != state {
                return Err(Corrupt);
            }
            (b.mtype, b.len, b.next, b.visible_ns)
        };
        let (text, capacity) = self.text_ptr(r)?;
        if len > capacity {
            return Err(Corrupt);
        }
        // SAFETY: the block's text holds `len` <= capacity bytes, stable under the queue lock.
        let message = unsafe { PeekedMessage::copy(mtype, text, len as usize, preview, visible_ns, with_due.then_some(visible_ns)) };
        Ok((message, next))
    }
}
