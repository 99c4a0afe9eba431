//! The priority order: a FIFO list of slots per priority, and a two-level bitmap that finds
//! the highest non-empty priority in constant time (highest first, FIFO within a priority).

use super::*;
use crate::emu::engine::Repair;

impl<'q> Locked<'q> {
    #[inline]
    pub(super) fn set_bit(&mut self, prio: u32) {
        let (w, b) = (prio as usize / 64, prio % 64);
        let st = self.st();
        st.bitmap[w] |= 1 << b;
        st.summary[w / 64] |= 1 << (w % 64);
    }

    #[inline]
    pub(super) fn clear_bit(&mut self, prio: u32) {
        let (w, b) = (prio as usize / 64, prio % 64);
        let st = self.st();
        st.bitmap[w] &= !(1 << b);
        if st.bitmap[w] == 0 {
            st.summary[w / 64] &= !(1 << (w % 64));
        }
    }

    #[inline]
    pub(super) fn has_bit(&mut self, prio: u32) -> bool {
        self.st().bitmap[prio as usize / 64] & (1 << (prio % 64)) != 0
    }

    #[inline]
    pub(super) fn highest_prio(&mut self) -> Option<u32> {
        let st = self.st();
        let top = st.summary.iter().rposition(|&s| s != 0)?;
        let w = top * 64 + 63 - st.summary[top].leading_zeros() as usize;
        let b = 63 - st.bitmap[w].leading_zeros() as usize;
        (st.bitmap[w] != 0).then_some((w * 64 + b) as u32)
    }

    /// Makes slot `i` (already filled) the newest message of its priority and commits it.
    /// Err when its priority's list is found broken: the slot is committed (QUEUED) but not
    /// linked or counted, and the caller must repair.
    #[inline]
    pub(super) fn enqueue(&mut self, i: u32) -> std::result::Result<(), Corrupt> {
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
        self.link(i, prio)?;
        let st = self.st();
        // Written only under the lock: a plain store, not a locked read-modify-write, keeps the
        // critical section short (readers without the lock only load).
        st.curmsgs.store(st.curmsgs.load(Ordering::Relaxed) + 1, Ordering::Release);
        st.curbytes.store(st.curbytes.load(Ordering::Relaxed) + len as u64, Ordering::Release);
        Ok(())
    }

    /// [`Locked::enqueue`] for a caller that goes on whatever happens: a list found broken is
    /// rebuilt by `repair`, which then holds and counts this message too (it is committed).
    #[inline]
    pub(super) fn enqueue_committed(&mut self, i: u32) {
        let enqueued = self.enqueue(i);
        self.or_repair(enqueued, ());
    }

    /// Appends slot `i` to its priority's list.
    #[inline]
    pub(super) fn link(&mut self, i: u32, prio: u32) -> std::result::Result<(), Corrupt> {
        if self.has_bit(prio) {
            let tail = self.prio_list(prio).tail;
            let t = self.index(tail, self.q.geo.slot_count).ok_or(Corrupt)?;
            self.slot(t).next = i + 1;
            self.prio_list(prio).tail = i + 1;
        } else {
            *self.prio_list(prio) = PrioList { head: i + 1, tail: i + 1 };
            self.set_bit(prio);
        }
        Ok(())
    }

    /// Unlinks and returns the first message of the highest priority (None: the queue is
    /// empty).
    #[inline]
    pub(super) fn dequeue_head(&mut self) -> std::result::Result<Option<u32>, Corrupt> {
        let Some(prio) = self.highest_prio() else { return Ok(None) };
        let head = self.prio_list(prio).head;
        let i = self.index(head, self.q.geo.slot_count).ok_or(Corrupt)?;
        if self.slot(i).state.load(Ordering::Acquire) != slot_state::QUEUED {
            return Err(Corrupt);
        }
        let next = self.slot(i).next;
        if next == 0 {
            self.clear_bit(prio);
        } else {
            self.prio_list(prio).head = next;
        }
        Ok(Some(i))
    }

    /// [`Locked::dequeue_head`], rebuilding a queue found damaged and looking once more.
    #[inline]
    pub(super) fn dequeue_head_or_repair(&mut self) -> Option<u32> {
        match self.dequeue_head() {
            Ok(found) => found,
            Err(Corrupt) => {
                self.repair();
                self.dequeue_head().ok().flatten()
            }
        }
    }
}
