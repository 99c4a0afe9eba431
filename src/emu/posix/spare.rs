//! Spare segments of POSIX queues: the segment of a queue this process made, destroyed (its
//! name unlinked and its last descriptor closed), kept mapped for the process's next queue of
//! the same owner, group, mode and size, which then renames it into its directory instead of
//! making, sizing, reserving, mapping and writing a new file, and unmapping and removing the
//! old one (about 17 µs of a creation and removal's 36: `make bench-floor`) — with the queue's
//! whole directory where it can (below).
//!
//! A spare is kept in a directory of this process's in `posix-tmp/`, named as a build is
//! (`new-<pid>-…`) and locked with `flock` while the process lives, so that the sweep every
//! creator makes of `posix-tmp/` (see `Store::collect_dead`) removes it once the process is
//! gone, as it removes a killed creator's build. The pool's life (at most
//! `engine::spare::SPARES_PER_NAMESPACE` per namespace, a forked child forgetting its parent's,
//! a normal exit removing them) is the engine's (`engine::spare`).
//!
//! A spare must give nobody more than a new file would:
//! - **Who may open it.** It serves only a queue whose segment file would have the same owner,
//!   group and mode, and only if the file is as its creator made it (same inode, mode, owner,
//!   size: [`FileStamp`]) and the queue's `meta` was never replaced — every change of its owner
//!   or mode replaces it, so a queue whose mode was widened for a while (when another user could
//!   map the segment) is never kept.
//! - **Who still maps it.** Only this process's mapping is taken (no descriptor or handle of
//!   this process refers to it any more); another process may still have the segment mapped
//!   from the queue it was, but reaches that mapping only through that queue's FIFO, and the
//!   segment now names another FIFO (`PosixHeader::fifo_ino`), so it finds the old queue gone.
//!   A queue on which a caller ever blocked or registered a notification is never kept: a
//!   waiter record or a relay could still be read by a process that has not collected it.
//!
//! **Whole directories.** When the queue's directory and FIFO are also as their creator left
//! them (see `store::whole_as_made`: its owner, group, mode 0755, no subdirectory; the FIFO with
//! the queue's file mode and exactly its two names), the whole directory is kept, as
//! `queue.<n>` in the spare directory, renamed there from `posix-dead/` (and checked to be that
//! directory after the rename: anyone may rename in `posix-dead/`). The next queue that fits
//! takes it with its FIFO: it gets a new `meta`, then a new second name for its FIFO (the old
//! one goes), and is renamed from the spare directory into `posix/` — no directory, FIFO or
//! segment made or removed, and the unlink renames it once more instead of renaming the
//! segment out and removing three names and the directory (`bench/run.sh --control`: 25.9–28.1
//! µs a creation and removal before, 21.2–21.6 after). Everything that tells one queue from the next keeps
//! working, because a queue's identity as other processes see it is its FIFO's second name:
//! - a process that remembers the old queue opens it again only by its second name, which is
//!   gone;
//! - an open that found the old queue's directory before it was destroyed opens the FIFO by
//!   the second name of the `meta` it read (`Store::attach`), which is gone too, and looks the
//!   name up again; one that read the new queue's `meta` (FIFO and `meta` agree then) finds
//!   the directory under another name than the one it opened, or its second name gone after
//!   that, and looks the name up again too (`posix_names_reused_stress.c`: three processes
//!   creating, opening and unlinking names received another name's message once in every few
//!   one-second runs before that check);
//! - every cached `meta` is checked against the FIFO's ctime, which the new second name moves
//!   after the new `meta` is in place (`store::MetaSeen`);
//! - a pipe that still holds bytes (readiness tokens, written for the old queue by a process
//!   that polled it and still holds the FIFO for writing) is not reused.
//!
//! What it leaves: a `chmod` or `chown` by name (`/dev/mqueue`) that found the old queue's
//! directory just before it was destroyed and given to the next queue changes that next queue
//! (of the same owner, group, file mode and size), where the kernel's would have changed the
//! destroyed one; and an `mq_unlink` in the same instant marks it unlinked while it is named
//! (it is then opened again by the slower path, and destroyed as any other at its unlink).

use std::ffi::{CStr, CString};
use std::os::raw::c_int;

use super::queue_dir::{remove_queue_dir, DATA};
use crate::emu::engine::segment::{FileStamp, Mapping};
use crate::emu::engine::spare::{self, Kept, SparePool};
use crate::os::sys;

/// What a queue's segment file must match to serve another queue: the file's owner, group and
/// mode, and the queue's geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    pub uid: u32,
    pub gid: u32,
    pub file_mode: u32,
    pub maxmsg: u32,
    pub msgsize: u64,
}

/// How its creator left a queue's files: the segment's stamp and the inode of the `meta` it
/// wrote (replaced by every change of the queue's owner or mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Made {
    pub data: FileStamp,
    pub meta_ino: u64,
}

/// A queue's directory kept whole with its segment: the directory, its FIFO and the FIFO's
/// second name (`fifo.<fifo_link>`) as its creator left them, its `meta` still the one it wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WholeDir {
    pub dir: FileStamp,
    pub fifo: FileStamp,
    pub fifo_link: u64,
}

/// One spare: its namespace (the `posix-tmp/` descriptor of its store), what it fits, its
/// mapping, its name in the spare directory (the segment file's, or the queue directory's
/// when kept whole) and its segment file's stamp.
struct Spare {
    ns: c_int,
    fit: Fit,
    map: Mapping,
    name: CString,
    stamp: FileStamp,
    whole: Option<WholeDir>,
}

impl spare::Spare for Spare {
    fn namespace(&self) -> usize {
        self.ns as usize
    }
}

/// This process's spare directory in one namespace, open and locked, and its identity: the
/// pool's hold there.
struct SpareDir {
    ns: c_int,
    name: CString,
    fd: c_int,
    id: (u64, u64),
}

impl SpareDir {
    /// Whether its descriptor is still that directory: a program that closes descriptors it
    /// does not know may have closed it (and the lock with it) and reused the number.
    fn still_open(&self) -> bool {
        sys::stat_of(self.fd).is_ok_and(|st| (st.st_dev, st.st_ino) == self.id)
    }
}

impl spare::Hold for SpareDir {
    fn namespace(&self) -> usize {
        self.ns as usize
    }

    /// The child closes its copy of the descriptor (whose lock it shares with the parent): the
    /// parent's spares must be swept once the parent is gone.
    fn let_go_in_child(self) {
        if self.still_open() {
            sys::close(self.fd);
        }
    }
}

static SPARES: SparePool<Spare, SpareDir> = SparePool::new(remove_all_at_exit);

/// Numbers the spares' names.
static NEXT_NAME: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Keeps the segment `map` of a queue this process made and is destroying, whose directory
/// `dir` (in `posix-dead/`) still holds its `data`, as a spare of namespace `tmp` (its
/// `posix-tmp/` descriptor) fitting `fit`: true when kept (the file renamed out of `dir`),
/// false when the caller removes it with the directory. The caller has found the queue's
/// `meta` to be the one this process wrote (`Made::meta_ino`); the segment's file must still
/// be as it was made (`made`). `reserved` is how much of the segment its creation reserved: the
/// pages after it go now (a new queue makes them as it needs them).
pub fn keep(tmp: c_int, dir: c_int, map: Mapping, fit: Fit, made: FileStamp, reserved: usize, make_dir_name: impl FnOnce() -> String) -> bool {
    let enlisted = enlist(tmp, dir, map, fit, made, None, reserved, make_dir_name, |spare_dir, name| {
        sys::renameat2(dir, DATA, spare_dir, name, libc::RENAME_NOREPLACE) == 0
    });
    enlisted.is_ok()
}

/// Keeps the destroyed queue `dead/<entry>` (`dead`: the namespace's `posix-dead/`), whose
/// directory is open as `dir`, whole: renamed into this process's spare directory with its
/// segment (mapped as `map`, stamped `made`), FIFO and `meta`, for the process's next queue
/// that fits `fit` (see [`keep`] for the rest). The caller has found the directory and FIFO as
/// their creator left them (`whole`). Err gives the mapping back when it could not be kept so.
#[allow(clippy::too_many_arguments)]
pub fn keep_whole(
    tmp: c_int,
    dead: c_int,
    entry: &[u8],
    dir: c_int,
    map: Mapping,
    fit: Fit,
    made: FileStamp,
    whole: WholeDir,
    reserved: usize,
    make_dir_name: impl FnOnce() -> String,
) -> Result<(), Mapping> {
    let Ok(entry) = CString::new(entry) else { return Err(map) };
    enlist(tmp, dir, map, fit, made, Some(whole), reserved, make_dir_name, |spare_dir, name| {
        if sys::renameat2(dead, &entry, spare_dir, name, libc::RENAME_NOREPLACE) != 0 {
            return false;
        }
        // `posix-dead/` is everyone's to write: what the name named at the rename must be the
        // directory checked, or it goes back.
        if !whole.dir.still_at(spare_dir, name) {
            sys::renameat2(spare_dir, name, dead, &entry, libc::RENAME_NOREPLACE);
            return false;
        }
        true
    })
}

/// [`keep`] and [`keep_whole`]: with room in namespace `tmp` and the segment file in `dir`
/// still as made, `move_in` moves the spare's file or directory into this process's spare
/// directory under the name it is given (`data.<n>`, or `queue.<n>` for a directory kept
/// `whole`); then the segment's pages past `reserved` go and the pool records it. Err gives the
/// mapping back.
#[allow(clippy::too_many_arguments)]
fn enlist(
    tmp: c_int,
    dir: c_int,
    map: Mapping,
    fit: Fit,
    made: FileStamp,
    whole: Option<WholeDir>,
    reserved: usize,
    make_dir_name: impl FnOnce() -> String,
    move_in: impl FnOnce(c_int, &CStr) -> bool,
) -> Result<(), Mapping> {
    if !made.still_at(dir, DATA) {
        return Err(map);
    }
    SPARES.with(|kept| {
        if !kept.has_room(tmp as usize) {
            return Err(map);
        }
        let Some(spare_dir) = dir_of(kept, tmp, make_dir_name) else { return Err(map) };
        let kind = if whole.is_some() { "queue" } else { "data" };
        let Ok(name) = CString::new(format!("{kind}.{}", NEXT_NAME.fetch_add(1, std::sync::atomic::Ordering::Relaxed))) else { return Err(map) };
        if !move_in(spare_dir, &name) {
            return Err(map);
        }
        map.remove_pages(reserved, map.len().saturating_sub(reserved));
        kept.spares.push(Spare { ns: tmp, fit, map, name, stamp: made, whole });
        Ok(())
    })
}

/// A queue directory kept whole (see [`keep_whole`]), taken out of the pool for a new queue:
/// still in the spare directory `spare_dir` as `name`, where the caller opens it (only this
/// process or root can have changed it since it was kept: the spare directory is this
/// process's, 0700), gives it a new `meta` and second name, and renames it into place.
pub struct PlacedWhole {
    pub spare_dir: c_int,
    pub name: CString,
    pub map: Mapping,
    pub stamp: FileStamp,
    pub whole: WholeDir,
}

/// Takes a queue directory of namespace `tmp` kept whole that fits `fit`, if this process has
/// one (its spare directory still its own).
pub fn place_whole(tmp: c_int, fit: Fit) -> Option<PlacedWhole> {
    SPARES.with(|kept| {
        let spare_dir = kept.hold(tmp as usize)?;
        if !spare_dir.still_open() {
            lose_dir(kept, tmp);
            return None;
        }
        let spare_dir = spare_dir.fd;
        let spare = kept.take(|k| k.ns == tmp && k.fit == fit && k.whole.is_some())?;
        let whole = spare.whole?;
        Some(PlacedWhole { spare_dir, name: spare.name, map: spare.map, stamp: spare.stamp, whole })
    })
}

/// This process's spare directory in namespace `tmp`, made (and locked) if it has none.
fn dir_of(kept: &mut Kept<Spare, SpareDir>, tmp: c_int, make_dir_name: impl FnOnce() -> String) -> Option<c_int> {
    if let Some(dir) = kept.hold(tmp as usize) {
        if dir.still_open() {
            return Some(dir.fd);
        }
        lose_dir(kept, tmp);
    }
    let name = CString::new(make_dir_name()).ok()?;
    if sys::mkdirat(tmp, &name, 0o700) != 0 {
        return None;
    }
    let fd = sys::openat(tmp, &name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0);
    if fd < 0 {
        sys::unlinkat(tmp, &name, libc::AT_REMOVEDIR);
        return None;
    }
    let fd = sys::move_high(fd);
    // Held while this process lives: the sweep leaves a locked directory alone.
    let id = sys::stat_of(fd).ok().map(|st| (st.st_dev, st.st_ino));
    let (Some(id), 0) = (id, sys::flock(fd, libc::LOCK_EX | libc::LOCK_NB)) else {
        sys::close(fd);
        sys::unlinkat(tmp, &name, libc::AT_REMOVEDIR);
        return None;
    };
    kept.holds.push(SpareDir { ns: tmp, name, fd, id });
    Some(fd)
}

/// Forgets the spare directory of namespace `tmp`, whose descriptor is no longer its own, and
/// its spares (unmapped; their files are left to the sweep, which finds the directory
/// unlocked).
fn lose_dir(kept: &mut Kept<Spare, SpareDir>, tmp: c_int) {
    kept.take_namespace(Some(tmp as usize));
}

/// Puts a spare of namespace `tmp` that fits `fit` in the directory `dir` as its `data`
/// (renamed there), and gives its mapping and its file's stamp; None when this process has
/// none, or the one it had could not be placed (then it is gone, and the caller makes a new
/// file).
pub fn place(tmp: c_int, fit: Fit, dir: c_int) -> Option<(Mapping, FileStamp)> {
    let (spare, spare_dir) = SPARES.with(|kept| {
        let spare_dir = kept.hold(tmp as usize)?;
        if !spare_dir.still_open() {
            lose_dir(kept, tmp);
            return None;
        }
        let fd = spare_dir.fd;
        Some((kept.take(|k| k.ns == tmp && k.fit == fit && k.whole.is_none())?, fd))
    })?;
    if sys::renameat2(spare_dir, &spare.name, dir, DATA, libc::RENAME_NOREPLACE) != 0 {
        sys::unlinkat(spare_dir, &spare.name, 0);
        return None;
    }
    // The file moved is the one mapped (only this process or root can rename it: the spare
    // directory is this process's, 0700).
    if !spare.stamp.still_at(dir, DATA) {
        sys::unlinkat(dir, DATA, 0);
        return None;
    }
    Some((spare.map, spare.stamp))
}

/// How many directories this process keeps spares in under namespace `tmp` (0 or 1): the
/// sweep of `posix-tmp/` has nothing to look at when these are all it holds.
pub fn own_dirs(tmp: c_int) -> u64 {
    SPARES.try_with(|kept| u64::from(kept.hold(tmp as usize).is_some())).unwrap_or(0)
}

/// Whether `posix-tmp/<entry>` is one of this process's spare directories.
pub fn is_own_dir(tmp: c_int, entry: &[u8]) -> bool {
    SPARES.try_with(|kept| kept.hold(tmp as usize).is_some_and(|d| d.name.as_bytes() == entry)).unwrap_or(false)
}

/// Removes every spare of namespace `tmp` (its store is going away), or of all namespaces (at
/// exit: then only if no other thread is using the spares at that instant), and their
/// directories.
pub fn forget_namespace(tmp: Option<c_int>) {
    let (gone, dirs) = SPARES.take_namespace(tmp.map(|t| t as usize));
    for d in dirs.into_iter().filter(SpareDir::still_open) {
        for spare in gone.iter().filter(|k| k.ns == d.ns) {
            match spare.whole {
                Some(whole) => {
                    remove_queue_dir(d.fd, spare.name.as_bytes(), None, whole.fifo_link, true);
                }
                None => {
                    sys::unlinkat(d.fd, &spare.name, 0);
                }
            }
        }
        sys::unlinkat(d.ns, &d.name, libc::AT_REMOVEDIR);
        sys::close(d.fd);
    }
}

/// Removes this process's spares when it exits normally (a process killed leaves them to the
/// sweep).
fn remove_all_at_exit() {
    forget_namespace(None);
}

/// This process's spare directory descriptor in namespace `tmp`, for tests.
#[cfg(test)]
pub fn dir_fd(tmp: c_int) -> Option<c_int> {
    SPARES.with(|kept| kept.hold(tmp as usize).map(|d| d.fd))
}
