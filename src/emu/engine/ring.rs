//! The express ring's protocol, which the POSIX and System V queues share: how a queue moves
//! messages without its lock while nothing needs its general structure. Each API keeps its
//! ring's record format and its own steps (`posix::queue::express`, `sysv::queue::express`);
//! this module owns the order in which they happen.
//!
//! - **The mode word** ([`RingMode`]) says which structure holds the queue's messages
//!   (`ring_mode::GENERAL` or `EXPRESS`). Its sequence is odd while a mode change runs, so that
//!   readers without a lock can tell ([`RingMode::read`], a sequence lock: [`super::seqlock`]).
//! - **Side locks** ([`lock_side`], [`lock_both_sides`]): one robust mutex for senders, one
//!   for receivers, so a sender and a receiver on two CPUs do not contend. A mode change holds
//!   both (after the queue lock, in the order send → receive). The next holder after one that
//!   died repairs the API's side state, then makes a half-finished mode change's sequence even.
//! - **Mode changes** ([`fold`], [`unfold_if_idle`]) run under the queue lock and both side
//!   locks: the sequence goes odd, the API moves the messages, then the mode word is stored (the
//!   commit) and the sequence goes even ([`ModeChange`]). A change cut short — abandoned, or its
//!   maker killed — leaves the old mode in force, and each API's repair rebuilds from it.
//! - **Seals** ([`commit_seal`], [`read_seal`], [`clear_seal`]): a send stores its record's seal
//!   last (the commit), and a receiver finds the next message by the seal it expects there,
//!   rather than by the sender's position, so a receiver that keeps up does not pull the
//!   sender's line away on every message. The seal of the `n`th message is derived from `n`
//!   ([`seal_of`]), so a stale seal (a lap of the ring ago) does not pass for a new one.
//!
//! And [`Express`], what an operation on either ring did.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};

use super::layout::ring_mode;
use super::lock::{self, Acquired};
use super::seqlock::{self, Patience, Read};
use crate::errno::Result;

/// What an express-ring send (`T` = `()`) or receive (`T` = what it received) did.
pub enum Express<T> {
    /// Sent, or received.
    Done(T),
    /// The ring holds the whole queue and says no: it is full (send), or has nothing this
    /// receiver takes (receive). This is the queue's answer.
    Refused,
    /// Not in express mode, or the call needs the general structure.
    Unavailable,
}

/// A side of the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Send,
    Recv,
}

/// A queue's ring mode word (`ring_mode::*`) and its sequence, in shared memory.
#[derive(Clone, Copy)]
pub struct RingMode<'a> {
    pub mode: &'a AtomicU32,
    /// Odd while a mode change runs.
    pub seq: &'a AtomicU32,
}

impl<'a> RingMode<'a> {
    /// Whether the ring looks in force: a hint without a lock, for a fast path's first check.
    #[inline]
    pub fn looks_express(self) -> bool {
        self.mode.load(Ordering::Relaxed) == ring_mode::EXPRESS
    }

    /// Whether the general structure looks in force: a hint, as [`Self::looks_express`].
    #[inline]
    pub fn looks_general(self) -> bool {
        self.mode.load(Ordering::Relaxed) == ring_mode::GENERAL
    }

    /// Whether the ring is in force: stable while either side lock is held (a mode change
    /// needs both), and then what the ring's positions were written under.
    #[inline]
    pub fn is_express(self) -> bool {
        self.mode.load(Ordering::Acquire) == ring_mode::EXPRESS
    }

    /// `f(express)` read consistently with the mode, without a lock: retried across a mode
    /// change, with `patience`. Not stable if a change seemed never to end (its maker died:
    /// the next side-lock holder settles it); each caller has its own fallback.
    #[inline]
    pub fn read<T>(self, patience: Patience, f: impl Fn(bool) -> T) -> Read<T> {
        self.read_watching_writer(patience, || 0, f)
    }

    /// As [`Self::read`], giving up sooner on a mode change whose maker `writer()` (the holder
    /// of the queue lock) is stopped or gone: see [`seqlock::read_watching_writer`].
    #[inline]
    pub fn read_watching_writer<T>(self, patience: Patience, writer: impl Fn() -> i32, f: impl Fn(bool) -> T) -> Read<T> {
        seqlock::read_watching_writer([self.seq], patience, writer, || f(self.is_express()))
    }

    /// Puts a ring nobody uses (a new queue's) in general mode, no change running.
    pub fn reset_to_general(self) {
        self.mode.store(ring_mode::GENERAL, Ordering::Release);
        seqlock::settle(self.seq);
    }

    /// Starts a mode change: the sequence goes odd until the returned change is dropped.
    /// `_held` proves the caller holds both side locks (and it holds the queue lock).
    #[inline]
    pub fn begin_change(self, _held: &BothSides<'_>) -> ModeChange<'a> {
        self.seq.fetch_add(1, Ordering::AcqRel);
        ModeChange { ring: self }
    }
}

/// A mode change running (its sequence odd). [`ModeChange::commit`] stores the new mode, then
/// the sequence goes even; dropped without a commit, the change is abandoned (the sequence
/// goes even, the mode stays).
#[must_use = "dropping a mode change abandons it"]
pub struct ModeChange<'a> {
    ring: RingMode<'a>,
}

impl ModeChange<'_> {
    /// The commit point of a mode change: the mode word, stored before the sequence goes even
    /// (so a reader that finds the sequence even after the change finds the new mode).
    #[inline]
    pub fn commit(self, new_mode: u32) {
        self.ring.mode.store(new_mode, Ordering::Release);
    }
}

impl Drop for ModeChange<'_> {
    #[inline]
    fn drop(&mut self) {
        self.ring.seq.fetch_add(1, Ordering::AcqRel);
    }
}

/// One side's lock, held; unlocked on drop.
pub struct SideGuard<'a> {
    mutex: *const lock::RobustMutex,
    _side: PhantomData<&'a lock::RobustMutex>,
}

impl Drop for SideGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: this guard holds the mutex (lock_side), which lives for 'a.
        unsafe { lock::unlock(self.mutex) };
    }
}

/// Locks one side of a ring whose mode is `mode`. When its last holder died, the next one runs
/// `recover_after_death` (the API's repair of the side's state, under the lock), then makes a
/// mode change the dead holder left half-finished even (nobody else can be changing the mode:
/// that needs this lock), then declares the lock consistent.
///
/// # Safety
/// `mutex` is an initialised robust mutex in memory that stays mapped for `'a`.
#[inline]
pub unsafe fn lock_side<'a>(mutex: *const lock::RobustMutex, mode: RingMode<'_>, recover_after_death: impl FnOnce()) -> Result<SideGuard<'a>> {
    // SAFETY: per the caller.
    let how = unsafe { lock::lock(mutex)? };
    if how == Acquired::OwnerDied {
        recover_after_death();
        seqlock::settle(mode.seq);
    }
    // (Only now a guard: a lock whose repair did not finish is never unlocked as if it had.)
    Ok(SideGuard { mutex, _side: PhantomData })
}

/// Both side locks, held; unlocked on drop (receive side first).
pub struct BothSides<'a> {
    _recv: SideGuard<'a>,
    _send: SideGuard<'a>,
}

/// Takes both side locks in the one order every mode change uses: send, then receive.
#[inline]
pub fn lock_both_sides<'a>(lock_side: impl Fn(Side) -> Result<SideGuard<'a>>) -> Result<BothSides<'a>> {
    let send = lock_side(Side::Send)?;
    let recv = lock_side(Side::Recv)?;
    Ok(BothSides { _recv: recv, _send: send })
}

/// What each API does in a mode change, implemented by its locked queue (the queue lock held).
pub trait ModeChangeSteps<'q> {
    /// What an unfold takes over from the general structure.
    type Takeover;

    /// The queue's mode word and sequence.
    fn ring_mode(&self) -> RingMode<'q>;

    /// Locks one side of the queue's ring (with [`lock_side`] and the API's recovery).
    fn lock_side(&self, side: Side) -> Result<SideGuard<'q>>;

    /// Whether the ring holds this queue (asked with both side locks held).
    fn ring_holds_queue(&self) -> bool;

    /// Moves the ring's messages into the general structure, in ring order. An error abandons
    /// the fold (after undoing what was moved): the ring stays in force.
    fn move_ring_to_general(&mut self) -> Result<()>;

    /// Whether this lock holder woke a sleeper.
    fn woke_a_sleeper(&self) -> bool;

    /// What the ring would take over, or None when the general structure holds what the ring
    /// cannot (checked before the side locks are taken).
    fn ring_takeover(&mut self) -> Option<Self::Takeover>;

    /// Sets the ring up to hold the queue (with both side locks). False abandons the unfold:
    /// the general structure stays in force.
    fn move_general_to_ring(&mut self, takeover: &Self::Takeover) -> bool;

    /// What follows a committed unfold, with both side locks still held.
    fn after_unfold(&mut self, takeover: Self::Takeover) {
        let _ = takeover;
    }
}

/// Folds the ring into the general structure (the queue lock held): with both side locks, if
/// the ring still holds the queue, its messages move and the mode becomes GENERAL (the
/// commit). Killed before the commit, the change leaves the ring in force.
#[inline]
pub fn fold<'q>(q: &mut impl ModeChangeSteps<'q>) -> Result<()> {
    if !q.ring_mode().is_express() {
        return Ok(());
    }
    let sides = lock_both_sides(|side| q.lock_side(side))?;
    if !q.ring_holds_queue() {
        return Ok(());
    }
    let change = q.ring_mode().begin_change(&sides);
    // An error abandons the change (dropped: its sequence goes even, the mode stays).
    q.move_ring_to_general()?;
    change.commit(ring_mode::GENERAL);
    Ok(())
}

/// Hands the queue back to the ring when the general structure is not needed (the queue lock
/// held, just before it is released): with both side locks the ring is set up, and the mode
/// becomes EXPRESS (the commit). Killed before the commit, the change leaves the general
/// structure in force.
#[inline]
pub fn unfold_if_idle<'q, Q: ModeChangeSteps<'q>>(q: &mut Q) {
    // A sleeper just woken (a hand-off on one CPU, typically) will be back within microseconds
    // to block again: the ring would be folded right back.
    if !q.ring_mode().looks_general() || q.woke_a_sleeper() {
        return;
    }
    let Some(takeover) = q.ring_takeover() else { return };
    let Ok(sides) = lock_both_sides(|side| q.lock_side(side)) else { return };
    let change = q.ring_mode().begin_change(&sides);
    if !q.move_general_to_ring(&takeover) {
        // Abandoned (dropped: its sequence goes even, the mode stays).
        return;
    }
    change.commit(ring_mode::EXPRESS);
    q.after_unfold(takeover);
}

/// The seal the `n`th message through a ring carries (`n` a position or a count; only its low
/// 32 bits matter): `n + 1`, never 0 (a cleared record's) unless those bits are all ones.
#[inline]
pub fn seal_of(n: u64) -> u32 {
    (n as u32).wrapping_add(1)
}

/// What a seal word holds, for the `n`th message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seal {
    /// The `n`th message's seal: it is committed, and what was written before the seal is
    /// visible (read with Acquire).
    Sealed,
    /// 0: nothing committed there.
    Unsealed,
    /// Another message's seal: one from an earlier lap of the ring (or a damaged ring).
    Other,
}

/// Reads the seal word `word` of the record where the `n`th message belongs.
#[inline]
pub fn read_seal(word: &AtomicU32, n: u64) -> Seal {
    let seal = word.load(Ordering::Acquire);
    if seal == seal_of(n) {
        Seal::Sealed
    } else if seal == 0 {
        Seal::Unsealed
    } else {
        Seal::Other
    }
}

/// The commit point of a send through a ring: seals the `n`th message's record (after
/// everything else in it is written).
#[inline]
pub fn commit_seal(word: &AtomicU32, n: u64) {
    word.store(seal_of(n), Ordering::Release);
}

/// Unseals a record before it is written (a receiver then finds nothing there until the
/// record's commit, a Release store of its seal, which orders this store too).
#[inline]
pub fn clear_seal(word: &AtomicU32) {
    word.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests;
