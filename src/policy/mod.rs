//! Policy layered over either backend: the limits in force ([`limits`]).
//!
//! Under `emulate` the limits are the emulation's own; under `kernel` they are enforced in
//! front of the kernel.

pub mod limits;
