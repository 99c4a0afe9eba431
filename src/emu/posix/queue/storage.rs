//! Message slots: the free lists of the two pools (queue slots and extra slots), writing a
//! message into a slot and copying one out.

use super::*;

impl<'q> Locked<'q> {
    /// A free slot from `pool`.
    #[inline]
    pub(super) fn alloc_slot(&mut self, pool: Pool) -> Result<u32> {
        for attempt in 0..2 {
            let head = *self.free_list(pool);
            if let Some(i) = self.index(head, self.q.geo.slot_count) {
                let next = self.slot(i).next;
                *self.free_list(pool) = next;
                return Ok(i);
            }
            if pool == Pool::Extra && self.st().extra_fresh < self.q.geo.slot_count {
                let i = self.st().extra_fresh.max(self.q.geo.maxmsg);
                self.q.ready_extra_slot(i)?;
                self.st().extra_fresh = i + 1;
                return Ok(i);
            }
            if pool == Pool::Queue && self.st().lazy_left > 0 {
                let maxmsg = self.q.geo.maxmsg;
                self.q.ready_queue_slot(self.st().lazy_next % maxmsg)?;
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
    #[inline]
    pub(super) fn free_list(&mut self, pool: Pool) -> &mut u32 {
        match pool {
            Pool::Queue => &mut self.st().free_slot,
            Pool::Extra => &mut self.st().free_extra,
        }
    }

    #[inline]
    pub(super) fn free_slot(&mut self, i: u32) {
        self.slot(i).state.store(slot_state::FREE, Ordering::Release);
        let pool = if i < self.q.geo.maxmsg { Pool::Queue } else { Pool::Extra };
        let head = *self.free_list(pool);
        let s = self.slot(i);
        s.next = head;
        s.owner = 0;
        *self.free_list(pool) = i + 1;
    }

    /// Copies a caller's message into slot `i`.
    #[inline]
    pub(super) fn fill_slot(&mut self, i: u32, m: &Message, state: u32, owner: u32) {
        // SAFETY: the slot's data area holds msgsize bytes and m.len <= msgsize (checked by the
        // caller); m.ptr is the caller's buffer of m.len bytes.
        unsafe { std::ptr::copy_nonoverlapping(m.ptr, self.q.slot_data(i), m.len) };
        let s = self.slot(i);
        s.len = m.len as u32;
        s.prio = m.prio;
        s.visible_ns = m.sent_ns;
        s.owner = owner;
        s.next = 0;
        s.state.store(state, Ordering::Release);
    }

    /// Copies slot `i` out to `buf` and frees it (the copy happens before the slot is freed).
    /// An unwritable `buf` loses the message with EFAULT, as the kernel's copy-out after dequeue.
    #[inline]
    pub(super) fn take_slot(&mut self, i: u32, buf: *mut u8) -> Received {
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
}
