//! Shared memory done carefully: the segment files ([`arena`]), their `#[repr(C)]` layout
//! ([`layout`]), the robust lock that survives a killed owner ([`lock`]) and futex waits with the
//! kernel's signal-restart rules ([`futex`]).

pub mod arena;
pub mod futex;
pub mod layout;
pub mod lock;
