//! The caller's pid and tid without a system call per use: the pid cached per process and the
//! tid per thread, both forgotten in a forked child (whose pid and thread ids are new). One
//! `pthread_atfork` handler for every user; [`fork_generation`] lets other per-thread caches
//! (credentials) know that a fork happened.

use std::cell::Cell;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::Once;

static PID: AtomicI32 = AtomicI32::new(0);
/// Bumped in every forked child, so per-thread caches know they are stale.
static FORK_GENERATION: AtomicU32 = AtomicU32::new(1);
/// Bumped in the parent at every fork: what a process shares with children it made since.
static FORKS_MADE: AtomicU32 = AtomicU32::new(0);
static ATFORK: Once = Once::new();

thread_local! {
    static TID: Cell<(u32, i32)> = const { Cell::new((0, 0)) };
}

extern "C" fn in_parent() {
    FORKS_MADE.fetch_add(1, Ordering::Relaxed);
}

extern "C" fn in_child() {
    PID.store(0, Ordering::Relaxed);
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

fn register_atfork() {
    ATFORK.call_once(|| {
        // SAFETY: registers plain extern "C" handlers that only touch atomics.
        unsafe { libc::pthread_atfork(None, Some(in_parent), Some(in_child)) };
    });
}

/// Changes in every forked child: a per-thread cache tagged with an older value is stale.
pub fn fork_generation() -> u32 {
    register_atfork();
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// How many times this process has forked (counted once anything asked for the pid or this):
/// a child made since a value was read may share what the process held then.
pub fn forks_made() -> u32 {
    register_atfork();
    FORKS_MADE.load(Ordering::Relaxed)
}

/// The calling process's pid (tgid).
pub fn pid() -> libc::pid_t {
    let pid = PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    register_atfork();
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// The calling thread's id.
pub fn tid() -> libc::pid_t {
    let generation = fork_generation();
    if let Ok((g, tid)) = TID.try_with(|t| t.get()) {
        if g == generation {
            return tid;
        }
    }
    // SAFETY: gettid cannot fail.
    let tid = unsafe { libc::gettid() };
    let _ = TID.try_with(|t| t.set((generation, tid)));
    tid
}

/// (pid, tid) of the caller.
pub fn current() -> (libc::pid_t, libc::pid_t) {
    (pid(), tid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_agree_with_the_system_and_are_renewed_in_a_child() {
        // SAFETY: plain getters.
        assert_eq!(current(), unsafe { (libc::getpid(), libc::gettid()) });
        // SAFETY: the child only calls async-signal-safe functions and the caches (atomics and
        // a thread-local), then _exits.
        unsafe {
            let child = libc::fork();
            if child == 0 {
                let ok = current() == (libc::getpid(), libc::gettid());
                libc::_exit(if ok { 0 } else { 1 });
            }
            let mut status = 0;
            libc::waitpid(child, &mut status, 0);
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
    }
}

thread_local! {
    /// The process this thread serves a call for (pid, real uid), if any: see [`serving`].
    static SERVED: Cell<Option<(libc::pid_t, u32)>> = const { Cell::new(None) };
}

/// Runs `f` as serving a call for process `pid` (whose real uid is `uid`): a supervisor making a
/// statically linked program's queue calls. What the emulation records as the caller's *own*
/// (a notification registration's owner) is then that process's.
pub fn serving<R>(pid: libc::pid_t, uid: u32, f: impl FnOnce() -> R) -> R {
    let before = SERVED.with(|s| s.replace(Some((pid, uid))));
    let result = f();
    SERVED.with(|s| s.set(before));
    result
}

/// The process this thread serves a call for (pid, real uid), if it serves one.
pub fn served() -> Option<(libc::pid_t, u32)> {
    SERVED.try_with(Cell::get).ok().flatten()
}
