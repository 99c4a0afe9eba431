//! A process's pool of spare segments: a queue's segment that this process made and then
//! removed or destroyed, kept for its next creation in the same namespace, which then reuses it
//! instead of making, sizing and mapping a new file (most of what creation and removal cost:
//! `make bench-floor`). What a spare is, what it must fit and where its file waits is each
//! API's (`posix::spare`, `sysv::queue::spare`); the pool's life is the same for both, and is
//! here once:
//! - at most [`SPARES_PER_NAMESPACE`] spares per namespace ([`Kept::has_room`]);
//! - what the process holds in a namespace while it keeps spares there (a locked directory, a
//!   slot in a creator table: a [`Hold`]) lives beside them, one per namespace;
//! - a forked child forgets its parent's spares and lets go of its copies of the parent's
//!   holds ([`Hold::let_go_in_child`]): two processes must never make one spare two queues;
//! - a normal exit empties every pool (each pool's `on_exit`, run once from one
//!   `.fini_array` handler); a process killed leaves its spares to the sweeps, which find
//!   their keeper gone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use crate::os::forksafe::ForkSafe;

/// Spare segments one process keeps at most in one namespace, per API.
pub const SPARES_PER_NAMESPACE: usize = 4;

/// A spare, of one namespace (the API's key for it).
pub trait Spare: Send + 'static {
    fn namespace(&self) -> usize;
}

/// What a process holds in one namespace while it keeps spares there.
pub trait Hold: Send + 'static {
    fn namespace(&self) -> usize;

    /// In the child of a fork: lets go of the child's copy of the hold, leaving the parent's.
    fn let_go_in_child(self);
}

/// A pool's content: its spares and its holds (at most one per namespace).
pub struct Kept<S, H> {
    pub spares: Vec<S>,
    pub holds: Vec<H>,
}

impl<S: Spare, H: Hold> Kept<S, H> {
    /// Whether namespace `ns` may take another spare.
    pub fn has_room(&self, ns: usize) -> bool {
        self.spares.iter().filter(|s| s.namespace() == ns).count() < SPARES_PER_NAMESPACE
    }

    /// The hold in namespace `ns`, if any.
    pub fn hold(&self, ns: usize) -> Option<&H> {
        self.holds.iter().find(|h| h.namespace() == ns)
    }

    /// Takes out the first spare that `pick` chooses.
    pub fn take(&mut self, pick: impl Fn(&S) -> bool) -> Option<S> {
        let at = self.spares.iter().position(pick)?;
        Some(self.spares.swap_remove(at))
    }

    /// Takes out everything of namespace `ns`, or of every namespace (allocating only for
    /// what it takes: a creation and removal cycle comes through here).
    pub fn take_namespace(&mut self, ns: Option<usize>) -> (Vec<S>, Vec<H>) {
        let ours = |n: usize| ns.is_none_or(|ns| ns == n);
        (take_where(&mut self.spares, |s| ours(s.namespace())), take_where(&mut self.holds, |h| ours(h.namespace())))
    }
}

/// Moves the elements of `from` that `pick` chooses into a new vector (which allocates only if
/// one is chosen; `from` keeps its allocation, not its order).
fn take_where<T>(from: &mut Vec<T>, pick: impl Fn(&T) -> bool) -> Vec<T> {
    let mut taken = Vec::new();
    let mut at = 0;
    while at < from.len() {
        if pick(&from[at]) {
            taken.push(from.swap_remove(at));
        } else {
            at += 1;
        }
    }
    taken
}

/// One API's pool of spares in this process.
pub struct SparePool<S, H> {
    kept: ForkSafe<Kept<S, H>>,
    /// Removes every spare of the pool (its API's, which knows how), at a normal exit.
    on_exit: fn(),
    at_exit: Once,
}

impl<S: Spare, H: Hold> SparePool<S, H> {
    pub const fn new(on_exit: fn()) -> SparePool<S, H> {
        SparePool { kept: ForkSafe::new(Kept { spares: Vec::new(), holds: Vec::new() }, Some(Self::forget_in_child)), on_exit, at_exit: Once::new() }
    }

    fn forget_in_child(kept: &mut Kept<S, H>) {
        kept.spares.clear();
        for hold in kept.holds.drain(..) {
            hold.let_go_in_child();
        }
    }

    /// Runs `f` with the pool, under its lock (`f` must not come back into the pool).
    pub fn with<R>(&'static self, f: impl FnOnce(&mut Kept<S, H>) -> R) -> R {
        self.at_exit.call_once(|| register_exit_handler(self.on_exit));
        self.kept.with(f)
    }

    /// Runs `f` with the pool if no other thread is using it at this instant (for what must
    /// not wait: an exit handler, a look on the way).
    pub fn try_with<R>(&'static self, f: impl FnOnce(&mut Kept<S, H>) -> R) -> Option<R> {
        self.kept.try_with(f)
    }

    /// Takes out everything of namespace `ns` (its store is going away), or of all namespaces
    /// (at exit: then only if no other thread is using the pool at that instant, else nothing),
    /// for the caller to remove.
    pub fn take_namespace(&'static self, ns: Option<usize>) -> (Vec<S>, Vec<H>) {
        match ns {
            Some(_) => self.with(|k| k.take_namespace(ns)),
            None => self.try_with(|k| k.take_namespace(None)).unwrap_or_default(),
        }
    }
}

/// The pools' exit handlers (as function addresses; one per API).
const MAX_EXIT_HANDLERS: usize = 4;
static EXIT_HANDLERS: [AtomicUsize; MAX_EXIT_HANDLERS] = [const { AtomicUsize::new(0) }; MAX_EXIT_HANDLERS];

fn register_exit_handler(handler: fn()) {
    let address = handler as usize;
    for slot in &EXIT_HANDLERS {
        match slot.compare_exchange(0, address, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(taken) if taken == address => return,
            Err(_) => {}
        }
    }
}

/// Empties every pool when the process exits normally.
extern "C" fn run_exit_handlers() {
    for slot in &EXIT_HANDLERS {
        let address = slot.load(Ordering::Acquire);
        if address != 0 {
            // SAFETY: every non-zero slot holds a `fn()` stored by `register_exit_handler`.
            let handler: fn() = unsafe { std::mem::transmute::<usize, fn()>(address) };
            let _ = std::panic::catch_unwind(handler);
        }
    }
}

#[used]
#[link_section = ".fini_array"]
static RUN_AT_EXIT: extern "C" fn() = run_exit_handlers;

#[cfg(test)]
mod tests {
    use super::*;

    struct TestSpare(usize, u32);
    impl Spare for TestSpare {
        fn namespace(&self) -> usize {
            self.0
        }
    }
    struct TestHold(usize);
    impl Hold for TestHold {
        fn namespace(&self) -> usize {
            self.0
        }
        fn let_go_in_child(self) {}
    }

    #[test]
    fn a_namespace_holds_at_most_its_share_and_goes_whole() {
        let mut kept = Kept { spares: Vec::new(), holds: vec![TestHold(1), TestHold(2)] };
        for n in 0..SPARES_PER_NAMESPACE as u32 {
            assert!(kept.has_room(1));
            kept.spares.push(TestSpare(1, n));
        }
        assert!(!kept.has_room(1));
        assert!(kept.has_room(2));
        kept.spares.push(TestSpare(2, 9));
        assert_eq!(kept.take(|s| s.0 == 1 && s.1 == 2).map(|s| s.1), Some(2));
        assert!(kept.has_room(1));
        let (gone, let_go) = kept.take_namespace(Some(1));
        assert_eq!((gone.len(), let_go.len()), (SPARES_PER_NAMESPACE - 1, 1));
        assert!(kept.hold(1).is_none() && kept.hold(2).is_some());
        assert_eq!(kept.spares.iter().map(|s| s.1).collect::<Vec<_>>(), vec![9]);
        let (gone, let_go) = kept.take_namespace(None);
        assert_eq!((gone.len(), let_go.len(), kept.spares.len(), kept.holds.len()), (1, 1, 0, 0));
    }
}
