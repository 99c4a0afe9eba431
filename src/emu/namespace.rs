//! The emulation's namespace: the `MQSHIM_DIR` directory tree, the equivalent of an IPC
//! namespace. Tests and containers isolate themselves by pointing `MQSHIM_DIR` elsewhere.
//!
//! ```text
//! $MQSHIM_DIR/            1777 (shared, sticky), like the kernel's mqueue root
//!   posix/                1777: one directory per queue name
//!     <name>/             owned by the creator
//!       data              the segment (mode: rw for every class the queue grants any access)
//!       fifo              the descriptor programs hold (same mode); its readiness is the queue's
//!       fifo.<token>      the FIFO's second name, made anew at every change of `meta`
//!       meta              0444: owner, mode, attributes and charge, readable by anyone
//!   posix-dead/           0777: unlinked queues that are still open, until their last close
//!   posix-tmp/            1777: queues being built, renamed into posix/ once complete, and
//!                         processes' spare segments and queue directories (`posix::spare`)
//!   posix-charge/<uid>    1777: each user's RLIMIT_MSGQUEUE charge (an upper bound; see
//!                         `posix::charge`), 0644, owned by that user
//!   sysv/                 1777: the System V emulation (see `emu::sysv`)
//!   sysctl                0644, root's: the namespace's sysctls as written through /proc
//!                         (see `emu::sysctl`); trusted only as root's and written by nobody else
//! ```
//!
//! There is no namespace-wide lock: a lock file every user can open is a lock every user can
//! hold forever. Names are claimed by `rename(RENAME_NOREPLACE)` and removed by `rename`, both
//! atomic (see `posix::store`).
//!
//! **No path is trusted.** Every directory is opened relative to the descriptor of its verified
//! parent with `O_NOFOLLOW|O_DIRECTORY`, every mode change is made on a descriptor (never by a
//! path a user could swap for a symlink), and a directory is used only if its owner and mode
//! leave no other user a way to swap its entries — like ssh's StrictModes: it must belong to root
//! or to the caller, and be writable by group or others only with the sticky bit. The same holds
//! for every directory on the way to `MQSHIM_DIR` (a link on the way, e.g. `/dev/shm`, is
//! followed as the user wrote it, and what it leads to is checked). A directory that fails is
//! refused with a message naming it and what is wrong, once per process, and the calls fail
//! with EACCES. A new namespace is built private (0700) and opened to everyone (1777) only once
//! its subdirectories exist, so no other user can claim one of them first.
//!
//! **The default namespace is the machine's.** [`DEFAULT_ROOT`] is what every program uses
//! unless told otherwise, as every program shares the kernel's queues; whoever makes it first
//! owns it, and its owner could deny it to everyone else. So a root process that finds the
//! default namespace, one of its subdirectories or the System V registry made by another user
//! takes it over ([`claim`]) instead of refusing it: it becomes root's, with the mode it would
//! have had, any ACL gone, and the other user's queues in it stay theirs. A namespace named by
//! `MQSHIM_DIR` is never taken over: a directory of another user's there is refused.

use std::ffi::CString;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::errno::{Errno, Result};
use crate::os::sys;

pub use crate::os::sys::move_high;

/// A namespace directory as this process last looked into it, so that it looks again only when
/// the directory changed: for what can only come or go by a change of the directory's entries
/// (a queue unlinked into `posix-dead/`, the settings file made or renamed into the root). One
/// `fstat` of the directory's descriptor answers, where a look would take more: reading every
/// remembered queue's header, or looking up a name that is absent (tmpfs keeps no negative
/// dentries, so every lookup of an absent name costs as much as making one: about 0.75 µs,
/// three times a present one's).
#[derive(Default)]
pub struct DirWatch {
    /// [`dir_digest`] of the directory at the last look (0: none yet).
    digest: AtomicU64,
    /// Calls since the last look that found the directory unchanged.
    unchanged: AtomicU32,
}

/// [`DirWatch::look_due`] says to look at least every this many calls, whatever the directory
/// says: a bound on how long a change goes unseen that the digest missed (one made within the
/// tick of the one before where the filesystem's timestamps are coarse, or one made during this
/// process's own change).
pub const LOOK_EVERY: u32 = 32;

impl DirWatch {
    /// Whether the caller is to look into directory `dir` now: it changed since the last look
    /// (or cannot be examined), or [`LOOK_EVERY`] calls went by. When it is, the directory as it
    /// is now is taken as seen; the caller looks after this call, so a change made after it is
    /// seen at the next one.
    pub fn look_due(&self, dir: c_int) -> bool {
        self.look_due_given(sys::stat_of(dir).ok().as_ref())
    }

    /// [`DirWatch::look_due`], given the directory's status just read (None: it could not be).
    pub fn look_due_given(&self, status: Option<&libc::stat>) -> bool {
        let digest = status.map_or(0, dir_digest);
        let unchanged = self.unchanged.fetch_add(1, Ordering::Relaxed);
        if digest != 0 && self.digest.load(Ordering::Acquire) == digest && unchanged + 1 < LOOK_EVERY {
            return false;
        }
        self.digest.store(digest, Ordering::Release);
        self.unchanged.store(0, Ordering::Relaxed);
        true
    }

    /// Takes directory `dir` as it is now as seen, after this process's own change to it, so
    /// that the next [`DirWatch::look_due`] is not due for that change alone. Another process's
    /// change made meanwhile is then seen only by a later look (see [`LOOK_EVERY`]).
    pub fn seen_after_own_change(&self, dir: c_int) {
        if let Ok(st) = sys::stat_of(dir) {
            self.digest.store(dir_digest(&st), Ordering::Release);
        }
    }

    /// Makes the next [`DirWatch::look_due`] due, whatever the directory says.
    pub fn forget(&self) {
        self.digest.store(0, Ordering::Release);
    }
}

/// A digest of a directory's identity, link count, and modification and status-change times:
/// another one after any entry was added or removed, where the filesystem gives a changed
/// directory a new timestamp once its old one was seen (the fine-grained timestamps of tmpfs
/// and ext4 since Linux 6.13; coarse ones may miss a change made within the last one's tick).
fn dir_digest(st: &libc::stat) -> u64 {
    let fields = [st.st_ino, st.st_nlink, st.st_mtime as u64, st.st_mtime_nsec as u64, st.st_ctime as u64, st.st_ctime_nsec as u64];
    fnv1a(fields.iter().flat_map(|f| f.to_ne_bytes())).max(1)
}

/// The FNV-1a hash of `bytes`.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// The subdirectories every namespace has, with their modes. `posix-dead/` is the one
/// directory writable by all without the sticky bit, so that whoever closes an unlinked queue
/// last — whatever their uid — can remove it; nothing in it is ever followed, opened for
/// writing or chmod-ed (see `posix::store`), so a user who renames or removes its entries can
/// only make an unlinked queue's accounting end early.
const SUBDIRS: [(&[u8], u32); 5] = [(b"posix", 0o1777), (b"posix-dead", 0o777), (b"posix-tmp", 0o1777), (b"posix-charge", 0o1777), (b"sysv", 0o1777)];

/// The namespace programs share when `MQSHIM_DIR` is not set.
pub const DEFAULT_ROOT: &str = "/dev/shm/mqshim";

/// What a namespace directory that fails the checks is given: refused, or taken over by this
/// process with the mode it should have (see [`claim`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Foreign {
    Refuse,
    Claim(u32),
}

/// How many times a claim is tried again when the directory was swapped meanwhile.
const CLAIM_TRIES: usize = 4;

/// Whether this process takes over the directories of the namespace at `root` that fail the
/// checks: only the default namespace, and only for creating (`mqshim ipcs` changes nothing).
/// Only root can (the `fchown` to root fails for anyone else, and the directory is refused).
fn claims(root: &[u8], missing: Missing) -> bool {
    root == DEFAULT_ROOT.as_bytes() && missing == Missing::Create
}

/// An open namespace.
pub struct Namespace {
    pub root: Vec<u8>,
    pub posix: c_int,
    pub dead: c_int,
    pub tmp: c_int,
    pub charge: c_int,
}

fn cstr(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

/// Why a directory may not be trusted, or None: it must belong to root or to `me`, and be
/// writable by group or others only if sticky (where nobody but an entry's owner may remove or
/// rename it).
pub fn distrust(st: &libc::stat, me: u32, unsticky_ok: bool) -> Option<String> {
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Some("is not a directory".into());
    }
    if st.st_uid != 0 && st.st_uid != me {
        return Some(format!("belongs to uid {}, not to root or to the caller (uid {me}), so its owner could remove or replace anything in it", st.st_uid));
    }
    if st.st_mode & 0o022 != 0 && st.st_mode & libc::S_ISVTX == 0 && !unsticky_ok {
        return Some(format!(
            "is writable by {} without the sticky bit (mode {:04o}), so others could replace its entries",
            if st.st_mode & 0o002 != 0 { "others" } else { "its group" },
            st.st_mode & 0o7777
        ));
    }
    None
}

/// Says once per process why the namespace at `path` is refused.
fn refuse(path: &[u8], why: &str) -> Errno {
    static SAID: AtomicBool = AtomicBool::new(false);
    crate::os::stderr::report_once(&SAID, &format!("refusing namespace directory '{}': it {why}", String::from_utf8_lossy(path)));
    Errno::EACCES
}

/// Opens directory `name` under `parent` with `O_NOFOLLOW|O_DIRECTORY` and checks it can be
/// trusted; `path` names it in a refusal. One that cannot is refused or, with
/// [`Foreign::Claim`], taken over.
fn open_trusted(parent: c_int, name: &CString, path: &[u8], follow: bool, unsticky_ok: bool, foreign: Foreign) -> Result<c_int> {
    for _ in 0..CLAIM_TRIES {
        match open_once(parent, name, path, follow, unsticky_ok, foreign)? {
            Opened::Trusted(fd) => return Ok(fd),
            // Swapped before it was ours: look again.
            Opened::Swapped => {}
            Opened::Not(e) => {
                return Err(match e {
                    // O_NOFOLLOW on a link.
                    Errno::ELOOP => refuse(path, "is a symbolic link"),
                    Errno::ENOTDIR => refuse(path, "is not a directory"),
                    e => e,
                });
            }
        }
    }
    Err(refuse(path, "was swapped for another directory every time mqshim took it over"))
}

/// What one look at a namespace directory found.
enum Opened {
    /// Opened and trusted (or taken over): its descriptor.
    Trusted(c_int),
    /// Swapped for another before it could be taken over.
    Swapped,
    /// Not opened: the open's errno.
    Not(Errno),
}

/// Opens the directory `name` under `parent` (following a link only if `follow`) and checks it
/// as [`open_trusted`] does, taking it over as `foreign` says; Err when it is refused.
fn open_once(parent: c_int, name: &CString, path: &[u8], follow: bool, unsticky_ok: bool, foreign: Foreign) -> Result<Opened> {
    let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
    let fd = sys::openat(parent, name, libc::O_RDONLY | libc::O_DIRECTORY | nofollow | libc::O_CLOEXEC, 0);
    if fd < 0 {
        return Ok(Opened::Not(Errno::last()));
    }
    let checked = sys::stat_of(fd).and_then(|st| match (distrust(&st, sys::fsuid(), unsticky_ok), foreign) {
        (None, _) => Ok(()),
        (Some(_), Foreign::Claim(mode)) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => claim(parent, name, fd, &st, mode, path),
        (Some(why), _) => Err(refuse(path, &why)),
    });
    match checked {
        Ok(()) => Ok(Opened::Trusted(fd)),
        Err(e) => {
            sys::close(fd);
            if e == Errno::EAGAIN {
                Ok(Opened::Swapped)
            } else {
                Err(e)
            }
        }
    }
}

/// Takes over the directory `fd`, whose status is `st`, found as `name` under the trusted
/// `parent` (`path` names it): root's, with `mode`, without ACLs (a default ACL would give its
/// maker access to every file made in it). Its maker can no longer rename it once it is root's
/// (the parent is sticky or private), so it is then checked to be still the one named: EAGAIN
/// if it was swapped before (the caller looks again).
fn claim(parent: c_int, name: &CString, fd: c_int, st: &libc::stat, mode: u32, path: &[u8]) -> Result<()> {
    if sys::fchown(fd, 0, 0) != 0 {
        return Err(refuse(path, &distrust(st, sys::fsuid(), false).unwrap_or_default()));
    }
    for acl in [c"system.posix_acl_access", c"system.posix_acl_default"] {
        // ENODATA (none) and EOPNOTSUPP (a filesystem without ACLs) leave nothing to remove.
        sys::fremovexattr(fd, acl);
    }
    sys::fchmod(fd, mode);
    let named = sys::stat_at(parent, name, libc::AT_SYMLINK_NOFOLLOW)?;
    if (named.st_dev, named.st_ino) != (st.st_dev, st.st_ino) {
        return Err(Errno::EAGAIN);
    }
    static SAID: AtomicBool = AtomicBool::new(false);
    crate::os::stderr::report_once(
        &SAID,
        &format!("took over '{}' from uid {}: the default namespace is the machine's, and root's once root uses it", String::from_utf8_lossy(path), st.st_uid),
    );
    Ok(())
}

/// Takes over the file `name` in the directory `dir` of the default namespace (see [`claims`])
/// if it is not root's: root's, `mode`, no ACL. Only a regular file with one link is taken
/// (another link would let its maker keep a name for it); anything else is left as it is.
pub fn claim_file(root: &[u8], dir: c_int, name: &std::ffi::CStr, mode: u32) {
    if !claims(root, Missing::Create) || sys::fsuid() != 0 {
        return;
    }
    let fd = sys::openat(dir, name, libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC, 0);
    if fd < 0 {
        return;
    }
    if let Ok(st) = sys::stat_of(fd) {
        if st.st_uid != 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_nlink == 1 && sys::fchown(fd, 0, 0) == 0 {
            sys::fremovexattr(fd, c"system.posix_acl_access");
            sys::fchmod(fd, mode);
        }
    }
    sys::close(fd);
}

/// Creates directory `name` under `parent` private (0700), then opens it and gives it `mode`
/// by its descriptor. Returns the descriptor and whether this call created it; an existing one
/// is opened and checked (and, with [`Foreign::Claim`], taken over — a file or link of another
/// user's in its place is removed first).
fn make_dir(parent: c_int, name: &[u8], mode: u32, path: &[u8], follow: bool, foreign: Foreign) -> Result<(c_int, bool)> {
    let unsticky_ok = mode & 0o1022 == 0o022;
    let c = cstr(name)?;
    // Opened first: the directory is there at every open but the namespace's first (a failed
    // `mkdirat` costs a lookup of its own, and a process's first call makes eight of them).
    // Missing, or not a directory, it is made as below.
    if let Opened::Trusted(fd) = open_once(parent, &c, path, follow, unsticky_ok, foreign)? {
        return Ok((fd, false));
    }
    let mut tries = if foreign == Foreign::Refuse || follow { 1 } else { CLAIM_TRIES };
    let created = loop {
        if sys::mkdirat(parent, &c, 0o700) == 0 {
            break true;
        }
        if crate::errno::current() != libc::EEXIST {
            return Err(Errno::last());
        }
        tries -= 1;
        if tries == 0 || !remove_foreign_non_directory(parent, &c) {
            break false;
        }
    };
    let fd = open_trusted(parent, &c, path, follow && !created, unsticky_ok, foreign)?;
    if created {
        // Ours, private until now (another user cannot have swapped it: the parent is
        // trusted); the exact mode, which mkdir's umask may have narrowed.
        sys::fchmod(fd, mode);
    }
    Ok((fd, created))
}

/// Removes `name` under the trusted `parent` if it is another user's and not a directory (a
/// file or link put where a directory of the namespace goes); whether it did.
fn remove_foreign_non_directory(parent: c_int, name: &CString) -> bool {
    match sys::stat_at(parent, name, libc::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFDIR && st.st_uid != 0 && sys::unlinkat(parent, name, 0) == 0 => {
            static SAID: AtomicBool = AtomicBool::new(false);
            let what = if st.st_mode & libc::S_IFMT == libc::S_IFLNK { "a link" } else { "a file" };
            crate::os::stderr::report_once(
                &SAID,
                &format!("removed {what} of uid {} where the default namespace's directory '{}' goes", st.st_uid, name.to_string_lossy()),
            );
            true
        }
        _ => false,
    }
}

fn join(root: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = root.to_vec();
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

/// What opening a namespace does with a directory that does not exist: the library creates it
/// (a program's first queue makes its namespace); readers such as `mqshim ipcs` get ENOENT, so
/// that a mistyped `--dir` is reported, not made.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Missing {
    Create,
    Fail,
}

impl Namespace {
    /// Opens (creating as needed) the namespace at `root`, an absolute path.
    pub fn open(root: &[u8]) -> Result<Namespace> {
        Namespace::open_or(root, Missing::Create)
    }

    /// Opens the namespace at `root`, an absolute path; with [`Missing::Fail`] nothing is
    /// created and a namespace (or subdirectory) that does not exist is ENOENT.
    pub fn open_or(root: &[u8], missing: Missing) -> Result<Namespace> {
        let root_fd = open_root(root, missing)?;
        let result = (|| {
            let posix = move_high(open_subdir_at(root_fd, root, b"posix", missing)?);
            let dead = move_high(open_subdir_at(root_fd, root, b"posix-dead", missing)?);
            let tmp = move_high(open_subdir_at(root_fd, root, b"posix-tmp", missing)?);
            let charge = move_high(open_subdir_at(root_fd, root, b"posix-charge", missing)?);
            Ok(Namespace { root: root.to_vec(), posix, dead, tmp, charge })
        })();
        sys::close(root_fd);
        result
    }
}

/// Opens (creating as needed, unless `missing` says not to) subdirectory `name` (one of
/// [`SUBDIRS`]) of the open namespace root `root_fd`.
fn open_subdir_at(root_fd: c_int, root: &[u8], name: &[u8], missing: Missing) -> Result<c_int> {
    let mode = SUBDIRS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m).ok_or(Errno::EINVAL)?;
    let foreign = if claims(root, missing) { Foreign::Claim(mode) } else { Foreign::Refuse };
    open_dir(root_fd, name, mode, &join(root, name), false, missing, foreign).map(|(fd, _)| fd)
}

/// [`make_dir`], or with [`Missing::Fail`] only the opening and checks of an existing one.
fn open_dir(parent: c_int, name: &[u8], mode: u32, path: &[u8], follow: bool, missing: Missing, foreign: Foreign) -> Result<(c_int, bool)> {
    match missing {
        Missing::Create => make_dir(parent, name, mode, path, follow, foreign),
        Missing::Fail => open_trusted(parent, &cstr(name)?, path, follow, mode & 0o1022 == 0o022, foreign).map(|fd| (fd, false)),
    }
}

/// Opens (creating as needed, unless `missing` says not to) the namespace's subdirectory
/// `name` — the System V emulation's `sysv/` — with the same checks as the namespace's own
/// directories; the descriptor is moved above the program's.
pub fn open_subdir(root: &[u8], name: &[u8], missing: Missing) -> Result<c_int> {
    let root_fd = open_root(root, missing)?;
    let dir = open_subdir_at(root_fd, root, name, missing).map(move_high);
    sys::close(root_fd);
    dir
}

/// Opens the namespace's root directory itself (creating it as [`Namespace::open`] does, unless
/// `missing` says not to), checked as every directory on the way; the caller closes it.
pub fn open_root_dir(root: &[u8], missing: Missing) -> Result<c_int> {
    open_root(root, missing)
}

/// Opens the root directory, creating missing components (unless `missing` says not to), and
/// checks every directory on the way. A namespace this call creates gets its subdirectories
/// while it is still private, then becomes 1777.
fn open_root(root: &[u8], missing: Missing) -> Result<c_int> {
    if root.first() != Some(&b'/') {
        return Err(Errno::EINVAL);
    }
    let mut fd = open_trusted(libc::AT_FDCWD, &cstr(b"/")?, b"/", true, false, Foreign::Refuse)?;
    let parts: Vec<&[u8]> = root.split(|&b| b == b'/').filter(|p| !p.is_empty()).collect();
    let mut path = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        path.push(b'/');
        path.extend_from_slice(part);
        let last = i + 1 == parts.len();
        // Intermediate components are followed as the user wrote them (they may be links,
        // e.g. /dev/shm) and what they lead to is checked; the namespace itself must be a
        // real directory.
        let next = if last {
            let foreign = if claims(root, missing) { Foreign::Claim(0o1777) } else { Foreign::Refuse };
            open_dir(fd, part, 0o700, &path, false, missing, foreign)
        } else {
            open_dir(fd, part, 0o755, &path, true, missing, Foreign::Refuse)
        };
        sys::close(fd);
        let (next, created) = next?;
        fd = next;
        if last && created {
            for (name, _) in SUBDIRS {
                let sub = open_subdir_at(fd, &path, name, Missing::Create);
                if let Ok(sub) = sub {
                    sys::close(sub);
                }
            }
            sys::fchmod(fd, 0o1777);
        }
    }
    Ok(fd)
}

/// Changes the mode of the file `name` in the directory `dir` — by a descriptor, never by its
/// path: the file is opened with `O_NOFOLLOW|O_NONBLOCK` (a link planted in its place is
/// refused, a FIFO does not block) and changed only if it is of the type `kind`
/// (`S_IFREG`/`S_IFIFO`), belongs to `owner` and has no link but those `own_links` accepts
/// (given its status; `protected_hardlinks` aside, a hard link would let its owner aim the
/// change at another file).
pub fn chmod_entry(dir: c_int, name: &std::ffi::CStr, mode: u32, kind: u32, owner: u32, own_links: impl Fn(&libc::stat) -> bool) -> Result<()> {
    let fd = sys::openat(dir, name, libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC, 0);
    if fd < 0 {
        return Err(Errno::last());
    }
    let result = sys::stat_of(fd).and_then(|st| {
        if st.st_mode & libc::S_IFMT != kind || st.st_uid != owner || !own_links(&st) {
            return Err(Errno::EPERM);
        }
        if sys::fchmod(fd, mode) != 0 {
            return Err(Errno::last());
        }
        Ok(())
    });
    sys::close(fd);
    result
}

/// For [`chmod_entry`]: a file with one name.
pub fn one_link(st: &libc::stat) -> bool {
    st.st_nlink == 1
}

/// The entries of an open directory (excluding `.` and `..`).
pub fn list_dir(dir: c_int) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // SAFETY: a duplicate of the directory descriptor is handed to fdopendir, which owns it
    // until closedir; entries are copied out before the next readdir.
    unsafe {
        let dup = sys::fcntl(dir, libc::F_DUPFD_CLOEXEC, 0);
        if dup < 0 {
            return out;
        }
        let d = libc::fdopendir(dup);
        if d.is_null() {
            sys::close(dup);
            return out;
        }
        libc::rewinddir(d);
        loop {
            let e = libc::readdir(d);
            if e.is_null() {
                break;
            }
            let name = std::ffi::CStr::from_ptr((*e).d_name.as_ptr()).to_bytes();
            if name != b"." && name != b".." {
                out.push(name.to_vec());
            }
        }
        libc::closedir(d);
    }
    out
}
