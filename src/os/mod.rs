//! The floor: plain operating-system helpers that every layer may use and that use nothing of
//! mqshim's above them.
//!
//! - [`sys`]: system calls made directly, past any other interposer (fakeroot's, mqshim's own).
//! - [`files`]: small files read whole.
//! - [`creds`]: the caller's credentials and capabilities, as the kernel's checks see them.
//! - [`ids`]: the caller's pid and tid, cached and renewed across `fork`.
//! - [`owned_signals`]: the program's own actions for the signals whose real handler is
//!   mqshim's (SIGSYS under the trap, SIGBUS once a segment is mapped).
//! - [`clock`]: clocks and time conversions.
//! - [`random`]: random values for tokens and seeds.
//! - [`usermem`]: reading and writing the calling program's memory without crashing on a bad
//!   pointer.
//! - [`forksafe`]: the one kind of process-local lock, held across `fork`.
//! - [`stderr`]: mqshim's own messages.

pub mod clock;
pub mod creds;
pub mod files;
pub mod forksafe;
pub mod ids;
pub mod owned_signals;
pub mod random;
pub mod stderr;
pub mod sys;
pub mod usermem;
