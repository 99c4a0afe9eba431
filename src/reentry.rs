//! The re-entrancy guard: a const-initialised thread-local flag that says "this thread is
//! running mqshim's own code".
//!
//! mqshim interposes a few general libc functions (`close`, `dup2`, `dup3`) besides the queue
//! API. When mqshim itself, or the Rust standard library on its behalf, calls one of them, the
//! flag is up and the call goes straight to the real function (libfaketime's `DONT_FAKE_TIME`).
//! A queue call that arrives while the flag is up cannot come from mqshim (it never calls the
//! queue API through its exports); it comes from a signal handler that interrupted mqshim, and is
//! served normally.

use std::cell::Cell;

thread_local! {
    static INSIDE: Cell<u32> = const { Cell::new(0) };
}

/// Held while mqshim code runs on this thread; nesting is allowed.
pub struct Inside(());

impl Inside {
    /// Marks the calling thread as running mqshim code until the guard is dropped.
    pub fn enter() -> Inside {
        INSIDE.with(|d| d.set(d.get() + 1));
        Inside(())
    }

    /// Whether the calling thread is running mqshim code.
    pub fn active() -> bool {
        INSIDE.with(|d| d.get() > 0)
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        INSIDE.with(|d| d.set(d.get().saturating_sub(1)));
    }
}
