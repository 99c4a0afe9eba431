//! Shared memory done carefully: the segment files ([`arena`]), their `#[repr(C)]` layout
//! ([`layout`]), the robust lock that survives a killed owner ([`lock`]), futex waits with the
//! kernel's signal-restart rules ([`futex`]) and the adaptive spin before them ([`spin`]),
//! sequence locks for lock-free readers ([`seqlock`]); and [`Express`], what an operation on
//! either queue's express ring did.

pub mod arena;
pub mod futex;
pub mod layout;
pub mod lock;
pub mod seqlock;
pub mod spin;

/// What an express-ring send (`T` = `()`) or receive (`T` = what it received) did (see
/// `posix::queue::express` and `sysv::queue::express`).
pub enum Express<T> {
    /// Sent, or received.
    Done(T),
    /// The ring holds the whole queue and says no: it is full (send), or has nothing this
    /// receiver takes (receive). This is the queue's answer.
    Refused,
    /// Not in express mode, or the call needs the general structure.
    Unavailable,
}
