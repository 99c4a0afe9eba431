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
//!   pid in their headers is gone). A normal exit removes them (`remove_all_at_exit`). At most
//!   `SPARES_PER_NAMESPACE` per process and namespace; a forked child forgets its parent's. (Files named
//!   `msq.spare.<pid>.<n>`, how an earlier library kept spares, are swept once that pid is
//!   gone.)

use std::ffi::CString;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use super::Queue;
pub use crate::emu::engine::segment::FileStamp;
use crate::emu::engine::segment::SPARES_PER_NAMESPACE;
use crate::os::forksafe::ForkSafe;
use crate::os::sys;

/// One spare: its namespace (`SysvEmulation`'s key), the queue it was, its file's name now,
/// and the file's owner, group and mode.
struct Spare {
    ns: usize,
    queue: Arc<Queue>,
    name: CString,
    owner: (u32, u32, u32),
}

/// A spare taken for a creation: the removed queue, mapped, and its file's name.
pub struct Taken {
    pub queue: Queue,
    pub name: CString,
}

/// This process's spares, and its slot in each namespace's creator table while it has spares
/// there (a pointer into that registry's mapping, which stays mapped while its emulation
/// lives: `forget_namespace` runs first).
#[derive(Default)]
struct Spares {
    kept: Vec<Spare>,
    enlisted: Vec<(usize, *const AtomicI32)>,
}

// SAFETY: the pointers are to shared memory that outlives the entries (see `Spares`); they are
// only used under the ForkSafe lock.
unsafe impl Send for Spares {}

/// The child of a fork forgets its parent's spares (unmapping them; the files are the
/// parent's): two processes must never make one spare two queues.
fn forget_in_child(s: &mut Option<Spares>) {
    if let Some(s) = s.as_mut() {
        s.kept.clear();
        s.enlisted.clear();
    }
}

static SPARES: ForkSafe<Option<Spares>> = ForkSafe::new(None, Some(forget_in_child));

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
    if sys::stat_at(dir, &name, libc::AT_SYMLINK_NOFOLLOW).ok().map(|st| FileStamp::of(&st)) != Some(made) || q.dir != dir {
        return false;
    }
    SPARES.with(|s| {
        let s = s.get_or_insert_with(Spares::default);
        if s.kept.iter().filter(|k| k.ns == ns).count() >= SPARES_PER_NAMESPACE {
            return false;
        }
        if !s.enlisted.iter().any(|(n, _)| *n == ns) {
            let Some(slot) = enlist() else { return false };
            s.enlisted.push((ns, slot));
        }
        // Before its remover is done (`Queue::end_removal`): the file is never without a live
        // process that says it is not a leftover.
        q.keep_in_place();
        s.kept.push(Spare { ns, queue: q.clone(), name, owner: made.owner() });
        true
    })
}

/// A spare of namespace `ns` whose file has owner `uid`, group `gid` and mode `mode` (what a new
/// file for the queue would have), if this process has one that no other thread still holds.
pub fn take(ns: usize, uid: u32, gid: u32, mode: u32) -> Option<Taken> {
    SPARES.with(|s| {
        let s = s.as_mut()?;
        let at = s.kept.iter().position(|k| k.ns == ns && k.owner == (uid, gid, mode) && Arc::strong_count(&k.queue) == 1)?;
        let spare = s.kept.swap_remove(at);
        let name = spare.name;
        Arc::try_unwrap(spare.queue).ok().map(|queue| Taken { queue, name })
    })
}

/// Returns a spare [`take`] gave, unused (the name its queue was to have was taken).
pub fn put_back(ns: usize, taken: Taken) {
    let Some(made) = taken.queue.made else { return discard(taken.queue.dir, &taken.name) };
    let spare = Spare { ns, queue: Arc::new(taken.queue), name: taken.name, owner: made.owner() };
    SPARES.with(|s| s.get_or_insert_with(Spares::default).kept.push(spare));
}

/// The names of this process's spare files in namespace `ns` (for tests).
#[cfg(test)]
pub fn names(ns: usize) -> Vec<String> {
    SPARES.with(|s| s.as_ref().map_or(Vec::new(), |s| s.kept.iter().filter(|k| k.ns == ns).map(|k| k.name.to_string_lossy().into_owned()).collect()))
}

/// Removes the file of a spare named `name` under `dir` (spent, or no longer wanted).
pub fn discard(dir: c_int, name: &std::ffi::CStr) {
    sys::unlinkat(dir, name, 0);
}

/// Leaves the creator table of namespace `ns` once this process keeps no spare there.
pub fn settle(ns: usize) {
    let me = crate::os::ids::pid();
    let _ = SPARES.try_with(|s| {
        let Some(s) = s.as_mut() else { return };
        if s.kept.iter().any(|k| k.ns == ns) {
            return;
        }
        s.enlisted.retain(|&(n, slot)| {
            if n == ns {
                // SAFETY: see `Spares`: the registry's mapping outlives the entry.
                let _ = unsafe { &*slot }.compare_exchange(me, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
            n != ns
        });
    });
}

/// Removes every spare of namespace `ns` (its emulation is going away), or of all namespaces
/// (at exit: then only if no other thread is using the spares at that instant).
pub fn forget_namespace(ns: Option<usize>) {
    let split = |s: &mut Option<Spares>| -> Vec<Spare> {
        let Some(s) = s.as_mut() else { return Vec::new() };
        let (gone, kept) = std::mem::take(&mut s.kept).into_iter().partition(|k| ns.is_none_or(|n| k.ns == n));
        s.kept = kept;
        gone
    };
    let gone = match ns {
        Some(_) => SPARES.with(split),
        None => SPARES.try_with(split).unwrap_or_default(),
    };
    let namespaces: Vec<usize> = gone.iter().map(|k| k.ns).collect();
    for spare in gone {
        discard(spare.queue.dir, &spare.name);
    }
    for n in namespaces {
        settle(n);
    }
}

/// Removes this process's spares when it exits normally (a process killed leaves them to the
/// sweep). Not in a forked child that has not kept any of its own.
extern "C" fn remove_all_at_exit() {
    let _ = std::panic::catch_unwind(|| forget_namespace(None));
}

#[used]
#[link_section = ".fini_array"]
static REMOVE_AT_EXIT: extern "C" fn() = remove_all_at_exit;
