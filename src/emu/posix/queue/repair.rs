//! Crash repair: what the next holder of the queue lock does when its last owner died holding
//! it. Everything derived is rebuilt from the per-slot and per-waiter state words.

use super::*;

/// What a repair finds in the slots.
#[derive(Default)]
struct Census {
    /// Queued messages: (sequence number, slot).
    queued: Vec<(u64, u32)>,
    /// Their bytes.
    bytes: u64,
    /// Scheduled messages: (due time, handle, slot + 1).
    scheduled: Vec<(u64, u64, u32)>,
    /// The free lists rebuilt (slot + 1 of their heads).
    free_queue_slots: u32,
    free_extra_slots: u32,
}

impl<'q> Locked<'q> {
    /// Rebuilds everything derived from the slot and waiter states: waiters whose threads died
    /// are released, slots nobody owns are freed, and the priority lists, bitmap, counters and
    /// free list are recomputed, FIFO order restored from the sequence numbers.
    pub fn repair(&mut self) {
        let (recv, send) = self.repair_waiters();
        let mut census = self.take_census();
        census.queued.sort_unstable();
        let maxmsg = self.q.geo.maxmsg;
        let ready = self.q.header().ring.send.slots_ready.load(Ordering::Acquire).min(maxmsg);
        let express = self.q.is_express();
        {
            let st = self.st();
            st.free_slot = census.free_queue_slots;
            st.free_extra = census.free_extra_slots;
            // The queue slots never made ready are free and on no list: the lazy range.
            (st.lazy_next, st.lazy_left) = if express { (0, 0) } else { (ready % maxmsg, maxmsg - ready) };
            st.summary = [0; PRIO_LEVELS / 64 / 64];
            st.bitmap = [0; PRIO_LEVELS / 64];
            st.recv_waiting = recv;
            st.send_waiting = send;
            st.curmsgs.store(census.queued.len() as u32, Ordering::Release);
            st.curbytes.store(census.bytes, Ordering::Release);
            if let Some(&(last, _)) = census.queued.last() {
                st.next_seq = st.next_seq.max(last + 1);
            }
        }
        for &(_, i) in &census.queued {
            let prio = self.slot(i).prio;
            self.slot(i).next = 0;
            // The lists were emptied above: linking cannot find one broken.
            let _ = self.link(i, prio);
        }
        self.settle_senders();
        let max_handle = crate::emu::engine::schedule::relink(self, &mut census.scheduled);
        let st = self.st();
        st.scheduled = census.scheduled.len() as u32;
        st.next_handle = st.next_handle.max(max_handle + 1);
        self.refresh_next_due();
    }

    /// Keeps the live waiters and frees the others' records; returns how many receivers and
    /// senders wait.
    fn repair_waiters(&mut self) -> (u32, u32) {
        {
            let st = self.st();
            st.receivers = [0; 2];
            st.senders = [0; 2];
        }
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
            self.mark_waiting(w, role, true);
        }
        (recv, send)
    }

    /// Sorts every slot by what its state says: queued messages (by sequence) and scheduled
    /// ones kept, a handed or pending message kept while its waiter still claims it, the rest
    /// put on their pool's free list.
    fn take_census(&mut self) -> Census {
        let slot_count = self.q.geo.slot_count;
        let mut census = Census::default();
        let maxmsg = self.q.geo.maxmsg;
        // In express mode the queue slots are the ring's (its positions are the truth); their
        // states must read FREE, should the ring be folded later. Otherwise the lazy range is free.
        let express = self.q.is_express();
        let (lazy_next, lazy_left) = (self.st().lazy_next % maxmsg, self.st().lazy_left.min(maxmsg));
        let lazy = |i: u32| i < maxmsg && (i + maxmsg - lazy_next) % maxmsg < lazy_left;
        // Fresh extra slots were never used: they stay fresh, untouched (out of range, all
        // are looked at and put on the list).
        let fresh = self.st().extra_fresh;
        let scanned = if (maxmsg..=slot_count).contains(&fresh) { fresh } else { slot_count };
        self.st().extra_fresh = scanned;
        // Queue slots never made ready were never written either: not touched here (see
        // `repair`, which hands them to the lazy range).
        let ready = self.q.header().ring.send.slots_ready.load(Ordering::Acquire).min(maxmsg);
        for i in (0..scanned).rev() {
            if i < maxmsg && i >= ready {
                continue;
            }
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
                census.queued.push((seq, i));
                census.bytes += len as u64;
            } else if keep && state == slot_state::SCHEDULED {
                let due = self.slot(i).visible_ns;
                census.scheduled.push((due, seq, i + 1));
            } else if !keep {
                let list = if i < maxmsg { &mut census.free_queue_slots } else { &mut census.free_extra_slots };
                let s = self.slot(i);
                s.state.store(slot_state::FREE, Ordering::Release);
                s.owner = 0;
                s.next = *list;
                *list = i + 1;
            }
        }
        census
    }

    /// A receiver that died while pulling a blocked sender's message in may have committed it
    /// (QUEUED) without serving the sender: the sender was served, and must not be again.
    fn settle_senders(&mut self) {
        let slot_count = self.q.geo.slot_count;
        for w in 0..WAITER_SLOTS {
            if self.waiter(w).core.state != waiter_state::SENDING {
                continue;
            }
            let slot = self.waiter(w).slot;
            let committed = self.index(slot, slot_count).is_some_and(|i| self.slot(i).state.load(Ordering::Acquire) == slot_state::QUEUED);
            if committed && self.claim(w) {
                self.waiter(w).slot = 0;
                self.serve(w, None);
            }
        }
    }
}

/// Where damage found by the engine's shared mechanisms (`engine::Corrupt`) ends up.
impl crate::emu::engine::Repair for Locked<'_> {
    fn repair(&mut self) {
        Locked::repair(self);
    }
}
