//! The engine: every mechanism the POSIX and System V emulations share, once, generic over
//! what differs between them. Each API (`emu::posix`, `emu::sysv`) keeps its rules, record
//! formats and order policies, and calls down into this.
//!
//! - [`segment`]: the life of every shared file — created aside, initialised, version stored
//!   last, published; opened and validated, with one typed error; its storage reserved before
//!   it is touched, and a mapping whose file is truncated under it contained (SIGBUS → EIO).
//! - [`layout`]: the `#[repr(C)]` state words both use (waiter roles, wake words, ring mode,
//!   the queue lock's line).
//! - [`lock`]: the robust process-shared lock that survives a killed owner, and
//!   `lock::takeover`, the lock a stopped holder loses.
//! - [`futex`]: sleeping on shared words with the kernel's signal-restart rules.
//! - [`spin`]: the adaptive spin before a sleep.
//! - [`waiter`]: the waiter-record protocol (register, liveness, serve, rouse, leave).
//! - [`sleep`]: the one sleep loop (deadline, due time, restart rule, liveness).
//! - [`ring`] and [`seqlock`]: the express ring's protocol (mode word, side locks,
//!   fold/unfold, seals) and the sequence locks of lock-free readers.
//! - [`schedule`]: the due list of scheduled messages.
//! - [`spare`]: the pool of a process's spare segments (kept for its next creation), its
//!   limit, fork and exit.
//! - [`Corrupt`] and [`Repair`]: how damage found anywhere is handled.

pub mod futex;
pub mod layout;
pub mod lock;
pub mod ring;
pub mod schedule;
pub mod segment;
pub mod seqlock;
pub mod sleep;
pub mod spare;
pub mod spin;
#[cfg(test)]
pub mod testing;
pub mod waiter;

/// Derived state of a queue found inconsistent — a list, tree, index or count that its state
/// words contradict (a process died mid-change, or someone scribbled on the segment).
///
/// The one way both APIs handle damage: the code that finds it returns `Err(Corrupt)` and
/// changes nothing more; the operation that called it rebuilds the queue from its state words
/// (its `repair`, under the queue lock) and then either goes on, when what it had committed is
/// kept by the rebuild, or fails with [`Corrupt::ERRNO`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

impl Corrupt {
    /// What a call that could not go on after a repair fails with.
    pub const ERRNO: crate::errno::Errno = crate::errno::Errno::EIO;
}

/// A locked queue that can rebuild its derived state from its state words (each API's
/// `Locked::repair`): where [`Corrupt`] ends up.
pub trait Repair {
    fn repair(&mut self);

    /// `result`, or — when it found the queue damaged — the queue repaired and `otherwise`.
    fn or_repair<T>(&mut self, result: Result<T, Corrupt>, otherwise: T) -> T {
        result.unwrap_or_else(|Corrupt| {
            self.repair();
            otherwise
        })
    }
}
