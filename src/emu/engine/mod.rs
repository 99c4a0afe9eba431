//! Shared memory done carefully: the segment files ([`arena`]), their `#[repr(C)]` layout
//! ([`layout`]), the robust lock that survives a killed owner ([`lock`]), futex waits with the
//! kernel's signal-restart rules ([`futex`]) and the adaptive spin before them ([`spin`]),
//! sequence locks for lock-free readers ([`seqlock`]), and the express ring's protocol both
//! queues share ([`ring`]).

pub mod arena;
pub mod futex;
pub mod layout;
pub mod lock;
pub mod ring;
pub mod seqlock;
pub mod spin;
