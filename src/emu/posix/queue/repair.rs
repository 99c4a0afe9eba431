//! Crash repair: what the next holder of the queue lock does when its last owner died holding
//! it. Everything derived is rebuilt from the per-slot and per-waiter state words.

use super::*;

impl<'q> Locked<'q> {
    /// Rebuilds everything derived from the slot and waiter states: waiters whose threads died
    /// are released, slots nobody owns are freed, and the priority lists, bitmap, counters and
    /// free list are recomputed, FIFO order restored from the sequence numbers.
    pub fn repair(&mut self) {
        let slot_count = self.q.geo.slot_count;
        // Waiters: keep the live ones.
        let (mut recv, mut send) = (0, 0);
        for w in 0..WAITER_SLOTS {
            let role = self.waiter(w).core.state;
            if role == waiter_state::FREE {
                continue;
            }
            let alive = self.alive(w);
            let valid_role = matches!(role, waiter_state::RECEIVING | waiter_state::SENDING | waiter_state::SERVED);
            if !alive || !valid_role {
                let rec = self.waiter(w);
                rec.core.state = waiter_state::FREE;
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
                        self.index(owner, WAITER_SLOTS).is_some_and(|w| self.waiter(w).core.state != waiter_state::FREE && self.waiter(w).slot == i + 1)
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
            // The lists were emptied above: linking cannot find one broken.
            let _ = self.link(i, prio);
        }
        // A receiver that died while pulling a blocked sender's message in may have committed it
        // (QUEUED) without serving the sender: the sender was served, and must not be again.
        for w in 0..WAITER_SLOTS {
            if self.waiter(w).core.state != waiter_state::SENDING {
                continue;
            }
            let slot = self.waiter(w).slot;
            let committed = self.index(slot, slot_count).is_some_and(|i| self.slot(i).state.load(Ordering::Acquire) == slot_state::QUEUED);
            if committed {
                self.waiter(w).slot = 0;
                self.serve(w, None);
            }
        }
        let mut found: Vec<(u64, u64, u32)> = scheduled.iter().map(|&(due, handle, i)| (due, handle, i + 1)).collect();
        let max_handle = crate::emu::engine::schedule::relink(self, &mut found);
        let st = self.st();
        st.scheduled = scheduled.len() as u32;
        st.next_handle = st.next_handle.max(max_handle + 1);
        self.refresh_next_due();
    }
}

/// Where damage found by the engine's shared mechanisms (`engine::Corrupt`) ends up.
impl crate::emu::engine::Repair for Locked<'_> {
    fn repair(&mut self) {
        Locked::repair(self);
    }
}
