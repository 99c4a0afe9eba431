//! Blocked senders and receivers: registration, the order they are served in (scheduling
//! priority, then arrival: the kernel's `wq_add`), serving, and reclaiming the dead and those
//! that left unserved (see `engine::waiter`): every waiter is claimed before anything is handed
//! to it or sent for it ([`Locked::first_claimed_waiter`]).

use super::*;
use crate::emu::engine::waiter::WaiterCore;

impl Queue {
    /// The futex word of waiter `w`.
    #[inline]
    pub fn wake_word(&self, w: u32) -> &AtomicU32 {
        // SAFETY: the record is in the mapping; `word` is atomic.
        unsafe { &(*self.waiter(w)).core.word }
    }

    /// Takes the queue lock for waiter `w` (the calling thread) to collect its outcome
    /// ([`Locked::finish_wait`]) once its sleep ended, `served` or not, or leaves unserved
    /// without it (None): see `engine::waiter::lock_to_collect`. The express ring is left in
    /// place: a served waiter owns only an extra slot, and while a waiter is still registered
    /// the ring is folded already.
    pub fn lock_to_collect(&self, w: u32, served: bool) -> Result<Option<Locked<'_>>> {
        // SAFETY: a record in the mapping, in which the calling thread registered (the caller's
        // `w`) and which it has not left.
        unsafe { crate::emu::engine::waiter::lock_to_collect(&raw mut (*self.waiter(w.min(WAITER_SLOTS - 1))).core, served, || self.lock_general(false)) }
    }
}

impl<'q> Locked<'q> {
    /// Registers the calling thread as a blocked receiver or sender (`pending`: the message of a
    /// blocked send, copied now). Returns the waiter index.
    #[inline]
    pub fn register(&mut self, role: u32, pending: Option<&Message>, sched_prio: Option<i32>) -> Result<u32> {
        let w = match self.free_waiter() {
            Some(w) => w,
            None => return Err(Errno::ENOMEM),
        };
        let slot = match pending {
            Some(m) => {
                // It will be linked by priority when a receiver pulls it in.
                self.q.ready_prio(m.prio)?;
                let i = self.alloc_slot(Pool::Extra)?;
                self.fill_slot(i, m, slot_state::PENDING, w + 1);
                i + 1
            }
            None => 0,
        };
        let ticket = self.st().next_ticket;
        // SAFETY: a FREE record in the mapping; the queue lock is held.
        if let Err(e) = unsafe { WaiterCore::enter(self.core(w), role, ticket) } {
            if let Some(i) = slot.checked_sub(1) {
                self.free_slot(i);
            }
            return Err(e);
        }
        self.st().next_ticket = ticket + 1;
        let rec = self.waiter(w);
        rec.slot = slot;
        rec.sched_prio = sched_prio.unwrap_or(0);
        rec.prio_known = sched_prio.is_some() as u32;
        match role {
            waiter_state::RECEIVING => self.st().recv_waiting += 1,
            _ => self.st().send_waiting += 1,
        }
        self.mark_waiting(w, role, true);
        Ok(w)
    }

    /// The set of waiter records registered in `role` (see `QueueState::receivers`).
    #[inline]
    fn role_set(&mut self, role: u32) -> &mut [u64; 2] {
        match role {
            waiter_state::RECEIVING => &mut self.st().receivers,
            _ => &mut self.st().senders,
        }
    }

    /// Adds waiter `w` to (or takes it out of) the set of `role`'s waiters.
    #[inline]
    pub(super) fn mark_waiting(&mut self, w: u32, role: u32, waiting: bool) {
        if !matches!(role, waiter_state::RECEIVING | waiter_state::SENDING) || w >= WAITER_SLOTS {
            return;
        }
        let (word, bit) = ((w / 64) as usize, 1u64 << (w % 64));
        let set = self.role_set(role);
        if waiting {
            set[word] |= bit;
        } else {
            set[word] &= !bit;
        }
    }

    /// How many waiters of `role` are registered.
    #[inline]
    pub fn waiting(&mut self, role: u32) -> u32 {
        match role {
            waiter_state::RECEIVING => self.st().recv_waiting,
            _ => self.st().send_waiting,
        }
    }

    #[inline]
    pub(super) fn free_waiter(&mut self) -> Option<u32> {
        if let Some(w) = (0..WAITER_SLOTS).find(|&w| self.waiter(w).core.state == waiter_state::FREE) {
            return Some(w);
        }
        // Every record taken: reclaim those whose threads died, then look again.
        self.reap_dead_waiters();
        (0..WAITER_SLOTS).find(|&w| self.waiter(w).core.state == waiter_state::FREE)
    }

    /// The waiter of `role` to serve first: the highest scheduling priority, then the longest
    /// waiting (the kernel's `wq_add` order). Dead waiters found on the way are reclaimed.
    #[inline]
    pub(super) fn first_live_waiter(&mut self, role: u32) -> Option<u32> {
        loop {
            let mut best: Option<(i32, u64, u32)> = None;
            let several = self.waiting(role) > 1;
            let set = *self.role_set(role);
            for (i, mut bits) in set.into_iter().enumerate() {
                while bits != 0 {
                    let w = i as u32 * 64 + bits.trailing_zeros();
                    bits &= bits - 1;
                    let rec = self.waiter(w);
                    if rec.core.state != role {
                        // Stale: no longer of this role.
                        self.mark_waiting(w, role, false);
                        continue;
                    }
                    let prio = if several { effective_sched_prio(rec) } else { 0 };
                    let key = (prio, rec.core.ticket, w);
                    if best.is_none_or(|b| (key.0, key.1) < (b.0, b.1)) {
                        best = Some(key);
                    }
                }
            }
            let (_, _, w) = best?;
            if self.alive(w) {
                return Some(w);
            }
            self.release_waiter(w);
        }
    }

    /// The waiter of `role` to serve first ([`Locked::first_live_waiter`]), claimed: it must
    /// be served ([`Locked::serve`]) before the lock is let go. Those found to have left
    /// unserved on the way are forgotten.
    #[inline]
    pub(super) fn first_claimed_waiter(&mut self, role: u32) -> Option<u32> {
        loop {
            let w = self.first_live_waiter(role)?;
            if self.claim(w) {
                return Some(w);
            }
        }
    }

    /// Claims registered waiter `w` for serving, the commit point of whatever is then handed
    /// to it or sent for it (see `engine::waiter`), and schedules its wake-up. False when its
    /// thread left unserved: the record is forgotten ([`Locked::forget_left`]).
    #[inline]
    pub(super) fn claim(&mut self, w: u32) -> bool {
        // SAFETY: a record in the mapping; the queue lock is held.
        let claimed = unsafe { (*self.core(w)).claim_owing_wake(&mut self.wakes) };
        if !claimed {
            self.forget_left(w);
        }
        claimed
    }

    /// Takes waiter `w`, whose thread left unserved, out of its role, and frees its record (and
    /// the pending message of a sender) — once its thread let go of the record's life lock,
    /// which it does just after leaving; until then the record stays taken (as SERVED: a record
    /// served and not yet collected), for [`Locked::reap_dead_waiters`].
    pub(super) fn forget_left(&mut self, w: u32) {
        let role = self.waiter(w).core.state;
        match role {
            waiter_state::RECEIVING => self.st().recv_waiting = self.st().recv_waiting.saturating_sub(1),
            waiter_state::SENDING => self.st().send_waiting = self.st().send_waiting.saturating_sub(1),
            _ => {}
        }
        self.mark_waiting(w, role, false);
        self.waiter(w).core.state = waiter_state::SERVED;
        if !self.alive(w) {
            self.release_waiter(w);
        }
    }

    /// Hands claimed waiter `w` its result (a handed message slot for a receiver).
    #[inline]
    pub(super) fn serve(&mut self, w: u32, handed: Option<u32>) {
        let role = self.waiter(w).core.state;
        match role {
            waiter_state::RECEIVING => self.st().recv_waiting -= 1,
            _ => self.st().send_waiting -= 1,
        }
        self.mark_waiting(w, role, false);
        let rec = self.waiter(w);
        if let Some(i) = handed {
            rec.slot = i + 1;
        }
        rec.core.fill(0);
    }

    /// Frees waiter `w`'s record and any slot it owns (its thread is gone or has given up).
    #[inline]
    pub(super) fn release_waiter(&mut self, w: u32) {
        let (role, slot) = {
            let rec = self.waiter(w);
            (rec.core.state, rec.slot)
        };
        match role {
            waiter_state::RECEIVING => self.st().recv_waiting = self.st().recv_waiting.saturating_sub(1),
            waiter_state::SENDING => self.st().send_waiting = self.st().send_waiting.saturating_sub(1),
            _ => {}
        }
        self.mark_waiting(w, role, false);
        if let Some(i) = self.index(slot, self.q.geo.slot_count) {
            if self.slot(i).state.load(Ordering::Acquire) != slot_state::QUEUED {
                self.free_slot(i);
            }
        }
        let rec = self.waiter(w);
        rec.slot = 0;
        rec.core.state = waiter_state::FREE;
    }

    /// After waking (or giving up): the waiter's outcome. `Some(result)` when it was served —
    /// for a receiver, with the handed message copied to `buf` — else None, and the
    /// registration is withdrawn. Either way the record is released.
    #[inline]
    pub fn finish_wait(&mut self, w: u32, buf: *mut u8) -> Option<std::result::Result<Option<Received>, Errno>> {
        let served = self.waiter(w).core.state == waiter_state::SERVED;
        let outcome = if served {
            let result = self.waiter(w).core.result;
            let slot = self.waiter(w).slot;
            let handed = self.index(slot, self.q.geo.slot_count);
            self.waiter(w).slot = 0;
            Some(if result != 0 { Err(Errno::from_raw(result)) } else { Ok(handed.map(|i| self.take_slot(i, buf))) })
        } else {
            None
        };
        self.release_waiter(w);
        // SAFETY: the calling thread registered in this record (`register`).
        unsafe { WaiterCore::leave(self.core(w)) };
        outcome
    }

    /// Whether waiter `w` has been served (checked under the lock after a timeout or signal).
    pub fn is_served(&mut self, w: u32) -> bool {
        self.waiter(w).core.state == waiter_state::SERVED
    }

    /// Waiter `w`'s shared record.
    #[inline]
    pub(super) fn core(&self, w: u32) -> *mut WaiterCore {
        // SAFETY: only the field's address is taken; callers pass w < WAITER_SLOTS.
        unsafe { &raw mut (*self.q.waiter(w)).core }
    }

    /// Whether waiter `w`'s thread is alive.
    #[inline]
    pub(super) fn alive(&mut self, w: u32) -> bool {
        // SAFETY: a record in the mapping; the queue lock is held.
        unsafe { WaiterCore::alive(self.core(w)) }
    }

    pub(super) fn reap_dead_waiters(&mut self) {
        for w in 0..WAITER_SLOTS {
            if self.waiter(w).core.state != waiter_state::FREE && !self.alive(w) {
                self.release_waiter(w);
            }
        }
    }
}

/// The kernel's `task->prio` of a waiter: lower is served first. Read from the waiting thread
/// itself when it was not recorded at registration.
pub(super) fn effective_sched_prio(w: &Waiter) -> i32 {
    if w.prio_known != 0 {
        w.sched_prio
    } else {
        sched_prio_of(w.core.tid)
    }
}

/// The kernel's task priority of thread `tid` (0 = the caller): RT policies 0..98 (99 - rt
/// priority), others 100..139 (120 + nice).
pub fn sched_prio_of(tid: i32) -> i32 {
    // SAFETY: plain syscalls on a thread id; failures fall back to the default priority.
    unsafe {
        let policy = libc::sched_getscheduler(tid);
        if policy == libc::SCHED_FIFO || policy == libc::SCHED_RR {
            let mut p = libc::sched_param { sched_priority: 0 };
            if libc::sched_getparam(tid, &mut p) == 0 {
                return 99 - p.sched_priority;
            }
        }
        crate::errno::set(0);
        let nice = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        if nice == -1 && crate::errno::current() != 0 {
            120
        } else {
            120 + nice
        }
    }
}
