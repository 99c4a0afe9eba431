//! The pid and tid a record shows, without two system calls per record: cached per process and
//! per thread, and refreshed in a forked child (whose pid and main tid are new).

use std::cell::Cell;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::Once;

static PID: AtomicI32 = AtomicI32::new(0);
/// Bumped in every forked child, so threads know their cached tid is stale.
static FORK_GENERATION: AtomicU32 = AtomicU32::new(1);
static ATFORK: Once = Once::new();

thread_local! {
    static TID: Cell<(u32, i32)> = const { Cell::new((0, 0)) };
}

extern "C" fn in_child() {
    PID.store(0, Ordering::Relaxed);
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// (pid, tid) of the caller.
pub fn current() -> (libc::pid_t, libc::pid_t) {
    ATFORK.call_once(|| {
        // SAFETY: registers a plain extern "C" handler.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
    let mut pid = PID.load(Ordering::Relaxed);
    if pid == 0 {
        // SAFETY: getpid cannot fail.
        pid = unsafe { libc::getpid() };
        PID.store(pid, Ordering::Relaxed);
    }
    let generation = FORK_GENERATION.load(Ordering::Relaxed);
    let tid = TID.with(|t| {
        let (g, tid) = t.get();
        if g == generation {
            tid
        } else {
            // SAFETY: gettid cannot fail.
            let tid = unsafe { libc::gettid() };
            t.set((generation, tid));
            tid
        }
    });
    (pid, tid)
}
