//! Spare segments: the segment of a queue this process created and then removed, kept mapped
//! where it is (`msq.<index>`, marked removed and kept by this process's pid in its header:
//! `QueueHeader::keeper_pid`) for its next creation, which then renames it to its own index
//! instead of making, sizing and mapping a new file, and unmapping the old one (most of what
//! creation and removal cost: see `make bench-floor`). One rename per creation and removal.
//!
//! A spare must give nobody more than a new file would:
//! - **Who may open it.** It serves only a queue whose file would have the same owner, group
//!   and mode, and only if its file is as its creator made it: same inode, mode, owner and size
//!   (`FileStamp`). IPC_SET marks the file for good (`MODE_WAS_SET`, a mode bit only its owner
//!   or root can change): a user let in by a wider mode for a while could still map it, and
//!   would read the next queue's messages.
//! - **Who still maps it.** A process that looked the old queue up keeps its mapping; every
//!   call checks the queue's id under the lock it takes (or, without a lock, in the express
//!   ring), and the new queue's id is another, so it finds the old queue gone, as with a new
//!   file. A queue on which a caller ever blocked is never kept: a waiter record could still
//!   hold a result for a process that has not collected it.
//! - **Its index.** A kept file is no leftover while its keeper lives (`Queue::keeper`), so
//!   nobody removes it, and a creator that chose its index chooses again, as for any file in
//!   its way; the registry's record of the index is free, as it is after any removal.
//! - **Leftovers.** A process keeping spares is registered in the registry's creator table, so
//!   that if it is killed, the next creator finds it gone and a sweep removes its spares (its
//!   pid in their headers is gone). The pool's life (at most
//!   `engine::spare::SPARES_PER_NAMESPACE` per namespace, a forked child forgetting its
//!   parent's, a normal exit removing them) is the engine's (`engine::spare`). (Files named
//!   `msq.spare.<pid>.<n>`, how an earlier library kept spares, are swept once that pid is
//!   gone.)

use std::ffi::CString;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use super::Queue;
pub use crate::emu::engine::segment::FileStamp;
use crate::emu::engine::spare::{self, SparePool};
use crate::os::sys;

/// One spare: its namespace (`SysvEmulation`'s key), the queue it was, its file's name now,
/// and the file's owner, group and mode.
struct Spare {
    ns: usize,
    queue: Arc<Queue>,
    name: CString,
    owner: (u32, u32, u32),
}

impl spare::Spare for Spare {
    fn namespace(&self) -> usize {
        self.ns
    }
}

/// A spare taken for a creation: the removed queue, mapped, and its file's name.
pub struct Taken {
    pub queue: Queue,
    pub name: CString,
}

/// This process's slot in a namespace's creator table while it has spares there: a pointer
/// into that registry's mapping, which stays mapped while its emulation lives
/// (`forget_namespace` runs first).
struct Enlisted {
    ns: usize,
    slot: *const AtomicI32,
}

// SAFETY: the pointer is to shared memory that outlives the entry (see `Enlisted`), and it is
// only used for an atomic compare-exchange, from whichever thread holds the entry.
unsafe impl Send for Enlisted {}

impl spare::Hold for Enlisted {
    fn namespace(&self) -> usize {
        self.ns
    }

    /// The slot names the parent, which keeps it.
    fn let_go_in_child(self) {}
}

static SPARES: SparePool<Spare, Enlisted> = SparePool::new(remove_all_at_exit);

/// How an earlier library named the spares it kept aside (see the module's doc).
const PREFIX: &str = "msq.spare.";

/// The pid a spare's name of an earlier library carries, or None for another name.
pub fn keeper_of(name: &str) -> Option<i32> {
    name.strip_prefix(PREFIX)?.split_once('.')?.0.parse().ok()
}

/// Keeps the segment of queue `q`, which this process created and has just removed (under its
/// lock, with no caller ever blocked on it), for its next creation in namespace `ns`, rather
/// than removing its file `file`: true when kept (where it is, marked with this process's pid:
/// `Queue::keep_in_place`), false when the caller removes the file as usual. `enlist`
/// registers this process in the namespace's creator table (see the module's doc) and says
/// where.
pub fn keep(ns: usize, dir: c_int, file: &str, q: &Arc<Queue>, enlist: impl FnOnce() -> Option<*const AtomicI32>) -> bool {
    let Some(made) = q.made else { return false };
    let Ok(name) = CString::new(file) else { return false };
    // The file as its creator left it: nobody changed its mode or owner since.
    if !made.still_at(dir, &name) || q.dir != dir {
        return false;
    }
    SPARES.with(|kept| {
        if !kept.has_room(ns) {
            return false;
        }
        if kept.hold(ns).is_none() {
            let Some(slot) = enlist() else { return false };
            kept.holds.push(Enlisted { ns, slot });
        }
        // Before its remover is done (`Queue::end_removal`): the file is never without a live
        // process that says it is not a leftover.
        q.keep_in_place();
        kept.spares.push(Spare { ns, queue: q.clone(), name, owner: made.owner() });
        true
    })
}

/// A spare of namespace `ns` whose file has owner `uid`, group `gid` and mode `mode` (what a new
/// file for the queue would have), if this process has one that no other thread still holds.
pub fn take(ns: usize, uid: u32, gid: u32, mode: u32) -> Option<Taken> {
    let spare = SPARES.with(|kept| kept.take(|k| k.ns == ns && k.owner == (uid, gid, mode) && Arc::strong_count(&k.queue) == 1))?;
    let name = spare.name;
    Arc::try_unwrap(spare.queue).ok().map(|queue| Taken { queue, name })
}

/// Returns a spare [`take`] gave, unused (the name its queue was to have was taken).
pub fn put_back(ns: usize, taken: Taken) {
    let Some(made) = taken.queue.made else { return discard(taken.queue.dir, &taken.name) };
    let spare = Spare { ns, queue: Arc::new(taken.queue), name: taken.name, owner: made.owner() };
    SPARES.with(|kept| kept.spares.push(spare));
}

/// The names of this process's spare files in namespace `ns` (for tests).
#[cfg(test)]
pub fn names(ns: usize) -> Vec<String> {
    SPARES.with(|kept| kept.spares.iter().filter(|k| k.ns == ns).map(|k| k.name.to_string_lossy().into_owned()).collect())
}

/// Gives up this process's spare of namespace `ns` whose file is `file` (in the way of a
/// creation that needs its index: `msg_next_id`, or the allocator gone round), removing the
/// file: whether there was one.
pub fn give_up(ns: usize, file: &str) -> bool {
    let Some(spare) = SPARES.with(|kept| kept.take(|k| k.ns == ns && k.name.as_bytes() == file.as_bytes())) else { return false };
    discard(spare.queue.dir, &spare.name);
    settle(ns);
    true
}

/// Removes the file of a spare named `name` under `dir` (spent, or no longer wanted).
pub fn discard(dir: c_int, name: &std::ffi::CStr) {
    sys::unlinkat(dir, name, 0);
}

/// Leaves the creator table of namespace `ns` once this process keeps no spare there.
pub fn settle(ns: usize) {
    let _ = SPARES.try_with(|kept| {
        if kept.spares.iter().any(|k| k.ns == ns) {
            return;
        }
        let (_, enlisted) = kept.take_namespace(Some(ns));
        leave(enlisted);
    });
}

/// Gives back this process's slots in creator tables.
fn leave(enlisted: Vec<Enlisted>) {
    let me = crate::os::ids::pid();
    for e in enlisted {
        // SAFETY: see `Enlisted`: the registry's mapping outlives the entry.
        let _ = unsafe { &*e.slot }.compare_exchange(me, 0, Ordering::AcqRel, Ordering::Relaxed);
    }
}

/// Removes every spare of namespace `ns` (its emulation is going away), or of all namespaces
/// (at exit: then only if no other thread is using the spares at that instant).
pub fn forget_namespace(ns: Option<usize>) {
    let (gone, enlisted) = SPARES.take_namespace(ns);
    for spare in gone {
        discard(spare.queue.dir, &spare.name);
    }
    leave(enlisted);
}

/// Removes this process's spares when it exits normally (a process killed leaves them to the
/// sweep). Not in a forked child that has not kept any of its own.
fn remove_all_at_exit() {
    forget_namespace(None);
}
