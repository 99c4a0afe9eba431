//! The waiter-record protocol: how a blocked caller, POSIX or System V, registers in its
//! queue's segment, is known to be alive, is served and woken, and leaves.
//!
//! A waiter record starts with a [`WaiterCore`]; each API appends what it needs (the message
//! slot or block it owns, its selection criteria, its list links) and keeps its own order
//! policy (scheduling priority then arrival for POSIX, FIFO lists for System V). The protocol:
//! - **register** ([`WaiterCore::enter`], under the queue lock): the calling thread takes the
//!   record's robust *life lock* and holds it while registered, so anyone who can take it knows
//!   the thread died (EOWNERDEAD) — no system call is needed to tell that a waiter is alive
//!   ([`WaiterCore::alive`]);
//! - **wait**: on the record's futex word, `WAITING` while the thread spins and `SLEEPING` once
//!   it sleeps in the kernel (see `engine::sleep`);
//! - **serve** ([`WaiterCore::serve`], under the queue lock): the word becomes `WOKEN` first, by
//!   compare-and-swap ([`WaiterCore::claim`]: the commit point, before anything is handed to
//!   the waiter), then the result is written and the state becomes `SERVED`; a sleeper is woken
//!   with FUTEX_WAKE only after the queue lock is released ([`PendingWakes`]), so it does not
//!   wake to find the lock held;
//! - **rouse** ([`rouse`]): a sleeping waiter is sent back to look again (a scheduled message
//!   now falls due earlier than it sleeps, or its queue was removed without the lock);
//! - **leave** ([`WaiterCore::leave`], under the queue lock): the thread collects its outcome and
//!   releases its life lock; the API frees the record;
//! - **leave unserved** ([`WaiterCore::leave_unserved`], without the lock): a waiter that stops
//!   waiting (its queue removed, a signal) while the lock's holder is a process stopped inside
//!   its critical section does not wait for it: its word becomes `LEFT` by compare-and-swap, so
//!   that either a holder claimed it first (and it collects its outcome under the lock, as
//!   usual) or no holder ever will. The lock's next holder that meets the record forgets it.

use std::sync::atomic::{fence, AtomicU32, Ordering};

use super::futex;
use super::layout::{waiter_state, wake_word};
use super::lock::{self, Liveness, LockWait};
use crate::errno::{Errno, Result};

/// The part of a waiter record every API shares; it starts the record.
#[repr(C)]
pub struct WaiterCore {
    /// Held by the waiting thread while it is registered (robust mutex: EOWNERDEAD when it
    /// died); initialised at the record's first use.
    pub life: lock::RobustMutex,
    /// `wake_word::*`: the futex word the thread waits on.
    pub word: AtomicU32,
    /// `waiter_state::*`.
    pub state: u32,
    pub tid: i32,
    pub pid: i32,
    /// Order of arrival (per queue).
    pub ticket: u64,
    /// Set when served: 0, or what the API says the waiter returns (an errno, or a code of its
    /// own such as "look again").
    pub result: i32,
    /// Non-zero once `life` has been initialised.
    pub inited: u32,
}

const _: () = {
    assert!(std::mem::size_of::<WaiterCore>() == 72);
    assert!(std::mem::offset_of!(WaiterCore, word) == 40);
    assert!(std::mem::offset_of!(WaiterCore, ticket) == 56);
};

impl WaiterCore {
    fn life_lock(rec: *mut WaiterCore) -> *const lock::RobustMutex {
        // SAFETY: only the field's address is taken; `rec` points into a mapping (the caller's
        // contract on every function that takes it).
        unsafe { &raw mut (*rec).life }
    }

    /// Registers the calling thread in the free record `rec` as a waiter of `role`, arrived
    /// `ticket`: takes its life lock (initialising it on first use) and sets the word to
    /// WAITING. The API fills in its own fields.
    ///
    /// # Safety
    /// `rec` points to a waiter record in a mapped segment; the caller holds the queue lock and
    /// the record is FREE (nobody else touches it).
    pub unsafe fn enter(rec: *mut WaiterCore, role: u32, ticket: u64) -> Result<()> {
        let life = Self::life_lock(rec);
        // SAFETY: per the caller, the record is ours to change; a mutex that was never
        // initialised is initialised before anyone can use it (under the queue lock).
        unsafe {
            if (*rec).inited == 0 {
                lock::init(life)?;
                (*rec).inited = 1;
            }
            // Taken first: while it is held, others know this waiter is alive.
            // Clean, or a dead thread's lock passed on: the record is re-initialised below.
            lock::lock(life)?;
            let (pid, tid) = crate::os::ids::current();
            (*rec).word.store(wake_word::WAITING, Ordering::Release);
            (*rec).state = role;
            (*rec).tid = tid;
            (*rec).pid = pid;
            (*rec).ticket = ticket;
            (*rec).result = 0;
        }
        Ok(())
    }

    /// Whether the thread registered in `rec` is alive (a live thread holds its life lock; no
    /// system call when it does).
    ///
    /// # Safety
    /// `rec` points to a waiter record in a mapped segment; the caller holds the queue lock.
    pub unsafe fn alive(rec: *mut WaiterCore) -> bool {
        // SAFETY: per the caller; an initialised mutex is probed, and left unheld after.
        unsafe {
            if (*rec).inited == 0 {
                return false;
            }
            let life = Self::life_lock(rec);
            match lock::probe(life) {
                Liveness::Alive => true,
                Liveness::Dead | Liveness::Unheld => {
                    // The probe left us holding it.
                    lock::unlock(life);
                    false
                }
            }
        }
    }

    /// Claims the waiter for serving (under the queue lock): its word becomes WOKEN, so that it
    /// can no longer leave unserved, and the caller must serve it ([`WaiterCore::fill`]) before
    /// it lets go of the lock. `Some(true)` when its thread sleeps in the kernel and must be
    /// woken (after the queue lock is released: [`PendingWakes`]); None when it left unserved
    /// ([`WaiterCore::leave_unserved`]): nothing may be handed to it, and its record is to be
    /// forgotten.
    pub fn claim(&self) -> Option<bool> {
        let mut seen = self.word.load(Ordering::Acquire);
        loop {
            if seen == wake_word::LEFT {
                return None;
            }
            match self.word.compare_exchange_weak(seen, wake_word::WOKEN, Ordering::AcqRel, Ordering::Acquire) {
                Ok(before) => return Some(before == wake_word::SLEEPING),
                Err(now) => seen = now,
            }
        }
    }

    /// Claims the waiter ([`WaiterCore::claim`]) and, when it sleeps in the kernel, owes it a
    /// wake in `wakes` (its word stays mapped as long as the queue lock's guard that holds
    /// `wakes`). False when it left unserved.
    pub fn claim_owing_wake(&self, wakes: &mut PendingWakes) -> bool {
        match self.claim() {
            Some(sleeping) => {
                if sleeping {
                    wakes.push(&self.word);
                }
                true
            }
            None => false,
        }
    }

    /// Writes a claimed waiter's outcome: `result`, and state SERVED.
    pub fn fill(&mut self, result: i32) {
        self.result = result;
        self.state = waiter_state::SERVED;
    }

    /// Claims and fills at once: serves the waiter with `result` (see [`WaiterCore::claim`]).
    pub fn serve(&mut self, result: i32) -> Option<bool> {
        let wake = self.claim()?;
        self.fill(result);
        Some(wake)
    }

    /// The registered thread leaves its record (after collecting its outcome): its life lock
    /// is released. The API frees the record.
    ///
    /// # Safety
    /// `rec` points to a waiter record in a mapped segment whose life lock the calling thread
    /// took in [`WaiterCore::enter`].
    pub unsafe fn leave(rec: *mut WaiterCore) {
        // SAFETY: per the caller, this thread holds the lock.
        unsafe { lock::unlock(Self::life_lock(rec)) };
    }

    /// The registered thread leaves its record without its outcome and without the queue lock
    /// (see the module documentation): true when no holder had claimed it — its word is LEFT
    /// from now on, so none ever will, and its life lock is released (the lock's next holder
    /// that meets the record forgets it); false when one had: the thread collects its outcome
    /// under the lock.
    ///
    /// # Safety
    /// `rec` points to a waiter record in a mapped segment in which the calling thread
    /// registered ([`WaiterCore::enter`]) and which it has not left.
    pub unsafe fn leave_unserved(rec: *mut WaiterCore) -> bool {
        // SAFETY: per the caller, a record in a mapping; the word is atomic.
        let word = unsafe { &(*rec).word };
        let mut seen = word.load(Ordering::Acquire);
        loop {
            if seen != wake_word::WAITING && seen != wake_word::SLEEPING {
                return false;
            }
            match word.compare_exchange_weak(seen, wake_word::LEFT, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        // SAFETY: per the caller, this thread holds the life lock.
        unsafe { Self::leave(rec) };
        true
    }
}

/// Takes the queue lock (`take` takes it) for the calling thread, registered in `rec`, to
/// collect its outcome once its sleep ended, `served` or not. A waiter served waits for the lock
/// as long as its holder lives, however the call waits: its record holds its outcome (a message
/// handed to it, or its own message sent), reachable only under the lock. One not served takes
/// it briefly ([`lock::briefly`]) and, when the holder is a process stopped inside its critical
/// section, leaves unserved instead (None, see [`WaiterCore::leave_unserved`]): the kernel's
/// timed, interrupted or removed caller fails at once, whoever else is stopped — unless a
/// holder claimed it meanwhile, which it then waits for like any served waiter.
///
/// # Safety
/// As for [`WaiterCore::leave_unserved`].
pub unsafe fn lock_to_collect<L>(rec: *mut WaiterCore, served: bool, take: impl Fn() -> Result<L>) -> Result<Option<L>> {
    if !served {
        match lock::briefly(&take) {
            Ok(locked) => return Ok(Some(locked)),
            // SAFETY: per the caller.
            Err(Errno::EAGAIN) if unsafe { WaiterCore::leave_unserved(rec) } => return Ok(None),
            Err(Errno::EAGAIN) => {}
            Err(e) => return Err(e),
        }
    }
    let _as_long_as_held = lock::waits(LockWait::AsLongAsHeld);
    take().map(Some)
}

/// Sends every sleeping waiter among `words` back to look again (a new scheduled message falls
/// due before they would wake): each SLEEPING word goes back to WAITING and is woken. The fence
/// pairs with the sleep loop's (`engine::sleep`): a waiter about to sleep either reads the new
/// due time or has its word changed here.
pub fn rouse<'a>(words: impl Iterator<Item = &'a AtomicU32>) {
    fence(Ordering::SeqCst);
    for word in words {
        if word.compare_exchange(wake_word::SLEEPING, wake_word::WAITING, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
            futex::wake(word, 1);
        }
    }
}

/// Futex wakes a queue-lock holder owes, done once the lock is released.
pub struct PendingWakes {
    words: [*const AtomicU32; 4],
    len: usize,
}

impl Default for PendingWakes {
    fn default() -> Self {
        PendingWakes { words: [std::ptr::null(); 4], len: 0 }
    }
}

impl PendingWakes {
    /// Owes a wake to the waiter sleeping on `word` (woken at once should the list be full).
    /// The word must stay mapped until [`PendingWakes::flush`] (the queue's first mapping does).
    pub fn push(&mut self, word: &AtomicU32) {
        match self.words.get_mut(self.len) {
            Some(slot) => {
                *slot = word;
                self.len += 1;
            }
            None => futex::wake(word, 1),
        }
    }

    /// Whether a sleeper was served (and is about to wake).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Wakes every sleeper owed a wake (call once the queue lock is released).
    pub fn flush(&mut self) {
        for &word in &self.words[..self.len] {
            // SAFETY: pushed from a live reference into a mapping that outlives the guard
            // holding this list (see `push`).
            futex::wake(unsafe { &*word }, 1);
        }
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zeroed record (as in a fresh segment), on the heap so its address is stable.
    fn record() -> Box<WaiterCore> {
        // SAFETY: WaiterCore is plain data, atomics and a pthread mutex, all valid zeroed (a
        // zeroed mutex is what a fresh segment holds; `enter` initialises it).
        Box::new(unsafe { std::mem::zeroed() })
    }

    struct Shared(*mut WaiterCore);
    // SAFETY: the test serialises access as the queue lock would.
    unsafe impl Send for Shared {}

    #[test]
    fn a_registered_thread_is_alive_until_it_leaves_or_dies() {
        let mut rec = record();
        let p: *mut WaiterCore = &mut *rec;
        // SAFETY: a fresh record; this thread plays the queue-lock holder throughout.
        unsafe {
            assert!(!WaiterCore::alive(p), "a record never used has no live thread");
            WaiterCore::enter(p, waiter_state::RECEIVING, 7).unwrap();
            assert_eq!(((*p).state, (*p).ticket, (*p).inited), (waiter_state::RECEIVING, 7, 1));
            assert_eq!((*p).word.load(Ordering::Relaxed), wake_word::WAITING);
        }
        // Another thread sees this one alive.
        let shared = Shared(p);
        // SAFETY: as above.
        assert!(std::thread::spawn(move || unsafe { WaiterCore::alive({ shared }.0) }).join().unwrap());
        // SAFETY: this thread registered.
        unsafe { WaiterCore::leave(p) };
        // SAFETY: as above.
        assert!(!unsafe { WaiterCore::alive(p) }, "left");
        // A thread that dies registered is found dead, and its record can be entered again.
        let shared = Shared(p);
        // SAFETY: as above; the thread exits holding the life lock.
        std::thread::spawn(move || unsafe { WaiterCore::enter({ shared }.0, waiter_state::SENDING, 8).unwrap() }).join().unwrap();
        // SAFETY: as above.
        unsafe {
            assert!(!WaiterCore::alive(p), "died registered");
            WaiterCore::enter(p, waiter_state::RECEIVING, 9).unwrap();
            assert!(WaiterCore::alive(p));
            WaiterCore::leave(p);
        }
    }

    /// A waiter that leaves unserved is never claimed after, and is found dead at once; one
    /// claimed first cannot leave unserved, and collects its outcome.
    #[test]
    fn a_waiter_leaves_unserved_or_is_claimed_never_both() {
        let mut rec = record();
        let p: *mut WaiterCore = &mut *rec;
        // SAFETY: a fresh record; this thread registers in it and plays the lock holder.
        unsafe {
            WaiterCore::enter(p, waiter_state::RECEIVING, 1).unwrap();
            (*p).word.store(wake_word::SLEEPING, Ordering::Relaxed);
            assert!(WaiterCore::leave_unserved(p), "nobody had claimed it");
            assert_eq!((*p).word.load(Ordering::Relaxed), wake_word::LEFT);
            assert_eq!((*p).claim(), None, "no holder may claim a waiter that left");
            assert_eq!((*p).serve(0), None);
            assert_eq!((*p).state, waiter_state::RECEIVING, "nothing was written to it");
            assert!(!WaiterCore::alive(p), "its life lock was let go");

            WaiterCore::enter(p, waiter_state::SENDING, 2).unwrap();
            assert_eq!((*p).claim(), Some(false), "claimed while it spins");
            assert!(!WaiterCore::leave_unserved(p), "claimed: it must collect its outcome");
            assert_eq!((*p).word.load(Ordering::Relaxed), wake_word::WOKEN);
            assert!(WaiterCore::alive(p), "still registered");
            (*p).fill(0);
            assert_eq!((*p).state, waiter_state::SERVED);
            WaiterCore::leave(p);
        }
    }

    #[test]
    fn serving_wakes_only_a_sleeper_and_rousing_only_sleepers() {
        let mut rec = record();
        rec.word.store(wake_word::WAITING, Ordering::Relaxed);
        assert_eq!(rec.serve(42), Some(false), "a spinning waiter needs no FUTEX_WAKE");
        assert_eq!((rec.state, rec.result, rec.word.load(Ordering::Relaxed)), (waiter_state::SERVED, 42, wake_word::WOKEN));
        rec.word.store(wake_word::SLEEPING, Ordering::Relaxed);
        assert_eq!(rec.serve(0), Some(true), "a sleeper must be woken");
        let (sleeping, spinning, woken) = (AtomicU32::new(wake_word::SLEEPING), AtomicU32::new(wake_word::WAITING), AtomicU32::new(wake_word::WOKEN));
        rouse([&sleeping, &spinning, &woken].into_iter());
        assert_eq!(sleeping.load(Ordering::Relaxed), wake_word::WAITING);
        assert_eq!(spinning.load(Ordering::Relaxed), wake_word::WAITING);
        assert_eq!(woken.load(Ordering::Relaxed), wake_word::WOKEN, "a served waiter stays served");
        let mut wakes = PendingWakes::default();
        assert!(wakes.is_empty());
        for _ in 0..6 {
            wakes.push(&sleeping);
        }
        assert!(!wakes.is_empty());
        wakes.flush();
        assert!(wakes.is_empty());
    }
}
