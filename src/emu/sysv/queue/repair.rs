//! Crash repair: what the next holder of the queue lock does when its last owner died holding
//! it (or an operation found the structure damaged). Everything derived is rebuilt from the
//! per-block and per-waiter state words.

use super::*;

/// What a repair finds in the block area.
#[derive(Default)]
struct Census {
    /// Queued messages: (sequence number, block).
    queued: Vec<(u64, u32)>,
    /// Scheduled messages: (due time, handle, block).
    scheduled: Vec<(u64, u64, u32)>,
    /// Messages committed to a live receiver that was never served: (waiter, block).
    handoffs: Vec<(u32, u32)>,
    /// Blocks nobody owns.
    frees: Vec<u32>,
}

impl<'q> Locked<'q> {
    /// Rebuilds everything derived from the block and waiter states: waiters whose threads
    /// died are released, blocks nobody owns are freed, and the FIFO, the type index, the
    /// scheduled list, the free lists, the waiter lists and the counts are recomputed — arrival
    /// order restored from the sequence numbers and tickets, due order from the due times — and
    /// published to the entry.
    pub fn repair(&mut self) {
        let senders = self.repair_waiters();
        // A sender whose pending message was committed by a process that died before serving
        // it is served now (its block says so); a fresh area mapping is needed to look.
        if self.map_whole_area().is_err() {
            return;
        }
        for &w in &senders {
            self.settle_sender(w);
        }
        // Settling may have grown the area. Should the grown area not be mappable now, the
        // blocks are left as they are (operations that find them inconsistent repair again
        // later) rather than messages lost.
        let Ok(top_units) = self.map_whole_area() else { return };
        let mut census = self.take_census(top_units);
        self.reset_message_structures();
        self.free_unowned(&census.frees);
        self.serve_handoffs(&census.handoffs);
        let max_handle = crate::emu::engine::schedule::relink(self, &mut census.scheduled);
        {
            let st = self.st();
            st.scheduled = census.scheduled.len() as u32;
            st.next_handle = st.next_handle.max(max_handle.saturating_add(1));
        }
        self.rebuild_queue(&mut census.queued);
        if self.valid() {
            entry::settle_stats(self.entry);
            self.publish(StatUpdate::default());
            // Not knowing which of them were found due already, publish the earliest of all.
            self.publish_schedule(0);
        } else {
            // A remover died between clearing the entry and waking everyone: finish its job.
            self.remove_all();
        }
    }

    /// Keeps the live waiters, relinked in ticket order, and frees the others' records.
    /// Returns the live blocked senders, in order.
    fn repair_waiters(&mut self) -> Vec<u32> {
        let top = self.st().waiter_top.min(WAITER_SLOTS);
        self.st().waiter_top = top;
        let mut recv: Vec<(u64, u32)> = Vec::new();
        let mut send: Vec<(u64, u32)> = Vec::new();
        let mut free: Vec<u32> = Vec::new();
        let mut max_ticket = 0;
        for w in 0..top {
            let state = self.waiter(w).core.state;
            let keep = match state {
                waiter_state::RECEIVING | waiter_state::SENDING | waiter_state::SERVED => self.alive(w),
                _ => false,
            };
            if !keep {
                let rec = self.waiter(w);
                rec.core.state = waiter_state::FREE;
                rec.handed = 0;
                free.push(w);
                continue;
            }
            let ticket = self.waiter(w).core.ticket;
            max_ticket = max_ticket.max(ticket + 1);
            match state {
                waiter_state::RECEIVING => recv.push((ticket, w)),
                waiter_state::SENDING => send.push((ticket, w)),
                _ => {}
            }
        }
        recv.sort_unstable();
        send.sort_unstable();
        {
            let st = self.st();
            st.next_ticket = st.next_ticket.max(max_ticket);
            st.recv_head = 0;
            st.recv_tail = 0;
            st.send_head = 0;
            st.send_tail = 0;
            st.recv_waiting = 0;
            st.send_waiting = 0;
            st.free_waiter = 0;
        }
        for &(_, w) in &recv {
            self.link_tail(w, waiter_state::RECEIVING);
        }
        for &(_, w) in &send {
            self.link_tail(w, waiter_state::SENDING);
        }
        for &w in free.iter().rev() {
            self.push_free_waiter(w);
        }
        send.into_iter().map(|(_, w)| w).collect()
    }

    /// Maps the block area up to its top (which is clamped to the area's size), returning the
    /// top in units.
    fn map_whole_area(&mut self) -> Result<u32> {
        let area_units = self.q.header().area_units.load(Ordering::Acquire);
        let top_units = self.st().top.min(area_units);
        self.q.ensure_mapped(area_offset() + top_units as u64 * UNIT)?;
        Ok(top_units)
    }

    /// Walks the block area and sorts every block by what its state says: queued and
    /// scheduled messages kept, messages handed to or pending for live waiters kept (one
    /// committed to a live receiver that was never served is to be served), the rest free. A
    /// block that is not whole ends the area there.
    fn take_census(&mut self, top_units: u32) -> Census {
        self.st().top = top_units;
        let top = self.st().waiter_top.min(WAITER_SLOTS);
        let express = self.in_express_mode();
        let mut census = Census::default();
        let mut unit = 0u64;
        while unit < top_units as u64 {
            let r = unit as u32 + 1;
            let Some(p) = self.block_ptr(r) else { break };
            // SAFETY: a block header inside the mapping.
            let b = unsafe { &*(p as *const MsgBlock) };
            let class = b.class as usize;
            if class >= CLASSES || unit + class_units(class) > top_units as u64 {
                // Not a whole block: nothing beyond here can be trusted.
                self.st().top = unit as u32;
                break;
            }
            let capacity = class_units(class) * UNIT - UNIT;
            let keep = match b.state.load(Ordering::Acquire) {
                // In express mode the ring holds the queue: queued blocks are the copies of a
                // fold cut short.
                block_state::QUEUED => b.len <= capacity && !express,
                block_state::SCHEDULED => b.len <= capacity,
                state @ (block_state::HANDED | block_state::PENDING) => {
                    b.len <= capacity && {
                        let owner = b.owner;
                        let wanted = if state == block_state::HANDED { waiter_state::SERVED } else { waiter_state::SENDING };
                        owner.checked_sub(1).filter(|&w| w < top).is_some_and(|w| {
                            let rec = self.waiter(w);
                            if state == block_state::HANDED && rec.core.state == waiter_state::RECEIVING && rec.handed == 0 {
                                // Committed to a live receiver by a process that died before serving
                                // it: it is served below (a scheduled message's sender is long gone).
                                census.handoffs.push((w, r));
                                return true;
                            }
                            rec.core.state == wanted && rec.handed == r
                        })
                    }
                }
                _ => false,
            };
            if !keep {
                census.frees.push(r);
            } else if b.state.load(Ordering::Relaxed) == block_state::QUEUED {
                census.queued.push((b.seq, r));
            } else if b.state.load(Ordering::Relaxed) == block_state::SCHEDULED {
                census.scheduled.push((b.visible_ns, b.handle, r));
            }
            unit += class_units(class);
        }
        census
    }

    /// Empties every structure derived from the blocks (rebuilt from the census).
    fn reset_message_structures(&mut self) {
        self.st().free_blocks = [0; CLASSES];
        self.forget_messages();
    }

    /// Empties the general structure's message order, type tree and counts (its blocks are
    /// the caller's to free or rebuild).
    fn forget_messages(&mut self) {
        let st = self.st();
        st.fifo_head = 0;
        st.fifo_tail = 0;
        st.root_by_type = 0;
        st.root_by_age = 0;
        st.types = 0;
        st.qnum = 0;
        st.cbytes = 0;
    }

    /// Puts the blocks nobody owns back on their class's free list.
    fn free_unowned(&mut self, frees: &[u32]) {
        for &r in frees.iter().rev() {
            if let Some(p) = self.block_ptr(r) {
                // SAFETY: a block header inside the mapping.
                let b = unsafe { &mut *(p as *mut MsgBlock) };
                let class = b.class as usize;
                if class >= CLASSES {
                    continue;
                }
                b.state.store(block_state::FREE, Ordering::Release);
                b.owner = 0;
                b.next = self.st().free_blocks[class];
                self.st().free_blocks[class] = r;
            }
        }
    }

    /// Serves each live receiver a message committed to it by a process that died first.
    fn serve_handoffs(&mut self, handoffs: &[(u32, u32)]) {
        for &(w, r) in handoffs {
            if self.waiter(w).core.state == waiter_state::RECEIVING && self.claim(w) && self.unlink_waiter(w).is_ok() {
                self.serve(w, 0, r);
            } else {
                // A second block handed to the same receiver: only one can be its message.
                self.free(r);
            }
        }
    }

    /// Rebuilds the FIFO, each type's list and the type index from the queued blocks (by
    /// sequence number), and the counts.
    fn rebuild_queue(&mut self, queued: &mut [(u64, u32)]) {
        queued.sort_unstable();
        if let Some(&(last, _)) = queued.last() {
            let st = self.st();
            st.next_seq = st.next_seq.max(last + 1);
        }
        // The FIFO and each type's list, then a type node per type.
        let mut by_type: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        let mut prev = 0;
        for &(_, r) in queued.iter() {
            let Some(p) = self.block_ptr(r) else { continue };
            // SAFETY: a kept block header inside the mapping.
            let b = unsafe { &mut *(p as *mut MsgBlock) };
            b.prev = prev;
            b.next = 0;
            b.tnext = 0;
            by_type.entry(b.mtype).or_default().push(r);
            let len = b.len;
            if prev != 0 {
                if let Some(pp) = self.block_ptr(prev) {
                    // SAFETY: as above.
                    unsafe { (*(pp as *mut MsgBlock)).next = r };
                }
            } else {
                self.st().fifo_head = r;
            }
            self.st().fifo_tail = r;
            prev = r;
            let st = self.st();
            st.qnum += 1;
            st.cbytes += len;
        }
        for (mtype, msgs) in by_type {
            let node = match self.alloc(0) {
                Ok(n) => n,
                // No room left even for a type node: these messages cannot be indexed, so
                // they cannot stay (only when the namespace's file system is full).
                Err(_) => {
                    self.drop_messages(&msgs);
                    continue;
                }
            };
            for pair in msgs.windows(2) {
                if let Ok(b) = self.msg(pair[0]) {
                    b.tnext = pair[1];
                }
            }
            let head_seq = self.msg(msgs[0]).map(|b| b.seq).unwrap_or(0);
            if let Some(p) = self.block_ptr(node) {
                // SAFETY: a freshly allocated one-unit block in the mapping.
                let n = unsafe { &mut *(p as *mut TypeNode) };
                n.mtype = mtype;
                n.head_seq = head_seq;
                n.head = msgs[0];
                n.tail = msgs[msgs.len() - 1];
                n.count = msgs.len() as u32;
                n.left = [0; 2];
                n.right = [0; 2];
                n.state.store(block_state::TYPE, Ordering::Release);
            }
            let ok = self.tinsert(0, node).and_then(|()| self.tinsert(1, node));
            match ok {
                Ok(()) => {
                    self.st().types += 1;
                }
                Err(Corrupt) => {
                    // Only a pathological tree gets here: start the index afresh with a new seed.
                    let h = self.q.header_ptr();
                    // SAFETY: under the lock; a plain field of the header.
                    unsafe { (*h).tree_seed = (*h).tree_seed.wrapping_mul(6364136223846793005).wrapping_add(1) };
                }
            }
        }
    }

    /// Frees queued messages that cannot be kept (repair without room for their type node).
    pub(super) fn drop_messages(&mut self, msgs: &[u32]) {
        for &r in msgs {
            let (prev, next, len) = match self.msg(r) {
                Ok(b) => (b.prev, b.next, b.len),
                Err(_) => continue,
            };
            if prev != 0 {
                if let Ok(p) = self.msg(prev) {
                    p.next = next;
                }
            } else {
                self.st().fifo_head = next;
            }
            if next != 0 {
                if let Ok(n) = self.msg(next) {
                    n.prev = prev;
                }
            } else {
                self.st().fifo_tail = prev;
            }
            let st = self.st();
            st.qnum = st.qnum.saturating_sub(1);
            st.cbytes = st.cbytes.saturating_sub(len);
            self.free(r);
        }
    }

    /// Frees the queued messages `msgs` (all of one type, the whole queue) once the ring has
    /// taken them over, and the type node: the general structure is empty again.
    pub(super) fn drop_taken_over(&mut self, msgs: &[(u32, i64, u64)]) {
        let node = self.st().root_by_type;
        for &(r, _, _) in msgs {
            self.free(r);
        }
        if node != 0 {
            self.free(node);
        }
        self.forget_messages();
    }
}

/// Where damage found by the engine's shared mechanisms (`engine::Corrupt`) ends up.
impl crate::emu::engine::Repair for Locked<'_> {
    fn repair(&mut self) {
        Locked::repair(self);
    }
}
