//! Changes of the notification registration made behind a held lock.
//!
//! `mq_notify` and the close that removes its owner's registration change the queue's
//! registration under the queue lock. When that lock is held by a process that does not let go
//! of it — stopped (SIGSTOP, a debugger) inside its critical section — waiting would be a hang,
//! and EAGAIN an errno the kernel's calls never give. So the change is left in
//! `PosixHeader::pending_notify` for the lock's next holder, which makes it before anything
//! else ([`Locked::apply_pending_changes`], called by `Queue::lock` and by a send before it
//! looks for a registration to fire):
//!
//! - **A registration posted** ([`Queue::post_pending_notification`]) by `mq_notify`. A post is
//!   made only while the general structure holds the queue (checked with both side locks of
//!   the express ring held; no mode change happens without them), so no message enters or
//!   leaves the queue without the queue lock until the post is taken; and every other
//!   registration is made with both side locks too (`notify::register`), after taking any
//!   post first, so two registrants never both succeed. A send that makes the queue non-empty
//!   takes a post before it looks for a registration to fire, after a SeqCst fence, as the
//!   registrant fences after its post: a registrant that can see the queue empty after its
//!   call is seen by that sender. An unfold of the ring looks for a post with both side locks
//!   held, and leaves the general structure in force while one waits.
//! - **A removal** ([`Queue::cancel_pending_notification`]) by the owner's close (or its
//!   `mq_notify(NULL)`): the owner's pid, whose registration the next holder removes; a post
//!   of that owner's still waiting is withdrawn in the same step.
//!
//! Both live in one word changed by compare-and-swap, so that a close racing with the taking of
//! its owner's post either withdraws the post or finds it taken and leaves its removal for the
//! registration the post became; and the next holder makes both in one step, the removal
//! first, so that a removal left before a post (its owner closed, then registered again) takes
//! the registration it was meant for and never the post.

use std::sync::atomic::{fence, Ordering};

use super::super::layout::{NotifyRegistration, PendingRegistration};
use super::{Locked, Queue};
use crate::emu::engine::ring::{self, Side};
use crate::errno::{Errno, Result};

/// The sequence numbers of posted registrations have this bit set; those given under the lock
/// (`Locked::next_registration`) do not, so the two never meet.
pub const POSTED_SEQ: u32 = 0x8000_0000;

/// What [`Queue::post_pending_notification`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    /// The registration is posted, with this sequence number.
    Posted(u32),
    /// The lock changed hands meanwhile: the caller goes round again.
    LockMoved,
}

/// The pending word's two halves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Word {
    /// Odd while a registration is posted.
    post_state: u32,
    /// The owner whose registration a close removed; 0: none.
    cancelled_pid: u32,
}

impl Word {
    fn from(word: u64) -> Word {
        Word { post_state: word as u32, cancelled_pid: (word >> 32) as u32 }
    }

    fn bits(self) -> u64 {
        u64::from(self.post_state) | (u64::from(self.cancelled_pid) << 32)
    }

    fn posted(self) -> bool {
        self.post_state % 2 == 1
    }

    /// The post taken or withdrawn.
    fn emptied(self) -> Word {
        Word { post_state: self.post_state.wrapping_add(1), ..self }
    }
}

impl Queue {
    fn pending(&self) -> &PendingRegistration {
        &self.header().pending_notify
    }

    fn pending_word(&self) -> Word {
        Word::from(self.pending().word.load(Ordering::Acquire))
    }

    fn swap_pending_word(&self, old: Word, new: Word) -> bool {
        self.pending().word.compare_exchange(old.bits(), new.bits(), Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The pending word, and the registration posted and not yet taken, if any, read at it.
    fn pending_changes(&self) -> (Word, Option<NotifyRegistration>) {
        let word = self.pending_word();
        if !word.posted() {
            return (word, None);
        }
        // SAFETY: a volatile copy of plain data in the mapping. It may be torn by a poster that
        // made a new post meanwhile, but then the word moved, and the compare-and-swap that
        // takes or withdraws the post read at `word` fails: nothing read here is acted on.
        let reg = unsafe { (&raw const self.pending().reg).read_volatile() };
        (word, Some(reg))
    }

    /// The registration posted and not yet taken, if any, with the word it was read at.
    fn posted_registration(&self) -> Option<(Word, NotifyRegistration)> {
        let (word, posted) = self.pending_changes();
        posted.map(|reg| (word, reg))
    }

    /// Whether a registration is posted for the lock's next holder (a hint without the side
    /// locks).
    pub fn has_pending_notification(&self) -> bool {
        self.pending_word().posted()
    }

    /// Whether a change waits for the lock's next holder: the quick look `Queue::lock` makes.
    fn has_pending_changes(&self) -> bool {
        let word = Word::from(self.pending().word.load(Ordering::Relaxed));
        word.posted() || word.cancelled_pid != 0
    }

    /// Withdraws the post if `mine(post)` says it is the caller's (a registration undone).
    /// Whether it withdrew one.
    pub fn withdraw_pending_notification(&self, mine: impl Fn(&NotifyRegistration) -> bool) -> bool {
        match self.posted_registration() {
            Some((word, reg)) if mine(&reg) => self.swap_pending_word(word, word.emptied()),
            _ => false,
        }
    }

    /// Leaves the removal of `owner`'s registration (pid, and its program image) to the lock's
    /// next holder: its close found the lock held by a process that does not let go of it. A
    /// post of that owner's is withdrawn in the same step. Whether one was.
    pub fn cancel_pending_notification(&self, owner: i32, image: u64) -> bool {
        loop {
            let (word, posted) = self.pending_changes();
            let withdraw = posted.is_some_and(|reg| reg.owner_pid == owner && reg.image == image);
            let new = if withdraw { word.emptied() } else { word };
            if self.swap_pending_word(word, Word { cancelled_pid: owner as u32, ..new }) {
                return withdraw;
            }
        }
    }

    /// Posts `reg` for the lock's next holder, without the queue lock (which the caller found
    /// held by a process that does not let go of it): with both side locks of the ring, and only
    /// while the general structure holds the queue (else EAGAIN, as before). `stands(current)`
    /// says whether the current registration — a post not yet taken, else the queue's own, read
    /// without the lock (its writer is the stalled holder at most: see `notify::register`) —
    /// still stands: EBUSY if so.
    pub fn post_pending_notification(&self, reg: NotifyRegistration, stands: impl FnOnce(&NotifyRegistration) -> bool) -> Result<Posted> {
        let _sides = ring::lock_both_sides(|side: Side| self.lock_side(side))?;
        if self.is_express() {
            return Err(Errno::EAGAIN);
        }
        let posted = self.posted_registration();
        let current = match posted {
            Some((_, reg)) => reg,
            None => self.notification_unlocked(),
        };
        if current.owner_pid != 0 && stands(&current) {
            return Err(Errno::EBUSY);
        }
        // The post that does not stand goes (a failed swap: the lock's next holder took it).
        if let Some((word, _)) = posted {
            if !self.swap_pending_word(word, word.emptied()) {
                return Ok(Posted::LockMoved);
            }
        }
        let word = self.pending_word();
        if word.posted() {
            return Ok(Posted::LockMoved);
        }
        let seq = POSTED_SEQ | (word.post_state.wrapping_add(1) >> 1);
        // SAFETY: a volatile write of plain data in the mapping; no post is made, so no one acts
        // on what it holds until the swap below (posters are one at a time: the side locks).
        unsafe { (&raw mut (*(self.map.base() as *mut super::PosixHeader)).pending_notify.reg).write_volatile(NotifyRegistration { seq, ..reg }) };
        // The commit: the post's state goes odd (it was even, and only posters, one at a time,
        // make it odd: no carry reaches the removal's half).
        self.pending().word.fetch_add(1, Ordering::Release);
        // Against a sender's look for a post after it made the queue non-empty (`after_insert`).
        fence(Ordering::SeqCst);
        Ok(Posted::Posted(seq))
    }

    /// The queue's registration read without the lock, as a registrant behind a held lock sees
    /// it: none when its owner's close left its removal to the lock's next holder.
    fn notification_unlocked(&self) -> NotifyRegistration {
        // SAFETY: a volatile copy of plain data in the mapping, racing at most with the holder
        // of the queue lock, which is stalled; a torn copy is judged as it reads.
        let reg = unsafe { (&raw const (*self.state()).notify).read_volatile() };
        if reg.owner_pid != 0 && self.pending_word().cancelled_pid == reg.owner_pid as u32 {
            return NotifyRegistration::default();
        }
        reg
    }
}

impl<'q> Locked<'q> {
    /// Makes the changes left for the lock's next holder (the queue lock held): first the
    /// removal of an owner's registration, then a post becomes the registration. The result is
    /// written before the word says the changes are made (and written back if the word moved
    /// meanwhile), so that a registrant that finds no post finds the registration it became.
    pub fn apply_pending_changes(&mut self) {
        if !self.q.has_pending_changes() {
            return;
        }
        loop {
            let (word, posted) = self.q.pending_changes();
            let st = self.st();
            let before = st.notify;
            let removed = word.cancelled_pid != 0 && before.owner_pid == word.cancelled_pid as i32;
            st.notify = posted.unwrap_or(if removed { NotifyRegistration::default() } else { before });
            let new = Word { cancelled_pid: 0, ..if posted.is_some() { word.emptied() } else { word } };
            if self.q.swap_pending_word(word, new) {
                return;
            }
            self.st().notify = before;
        }
    }

    /// As [`Self::apply_pending_changes`], by a sender that has just made the queue non-empty
    /// and is about to look for a registration to fire.
    pub(super) fn apply_pending_before_firing(&mut self) {
        fence(Ordering::SeqCst);
        self.apply_pending_changes();
    }

    /// Both side locks of the ring, for a change of the registration under the queue lock (so
    /// that it and a post are one at a time): None, with any post taken first, when a post
    /// came in since the lock was taken (the caller judges again).
    pub fn lock_sides_for_registration(&mut self) -> Result<Option<ring::BothSides<'q>>> {
        let q = self.q;
        let sides = ring::lock_both_sides(|side| q.lock_side(side))?;
        if q.has_pending_notification() {
            drop(sides);
            self.apply_pending_changes();
            return Ok(None);
        }
        Ok(Some(sides))
    }
}
