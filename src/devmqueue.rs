//! `/dev/mqueue/NAME`: a backend's queue as the kernel's mqueue filesystem shows it, for the
//! path calls mqshim interposes (`stat` and its variants, `access`, `faccessat`).
//!
//! Only the one-component form `/dev/mqueue/NAME` is served (not `/dev/mqueue/./NAME`): it is
//! how programs name a queue's file. A relative path is served when it names one from the
//! working directory `/`, `/dev` or `/dev/mqueue`, or from a descriptor of `/dev/mqueue`
//! (see [`absolute`]); `..` and links are not followed. A backend that does not serve
//! `/dev/mqueue` (the kernel's, whose queues are there already; Redis') leaves every such
//! call to libc.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::errno::{Errno, Result};
use crate::os::creds::{cap, class_bits, Creds};
use crate::os::forksafe::ForkSafe;

/// Where the kernel's mqueue filesystem is conventionally mounted: the prefix of every path
/// this module may serve.
pub const MOUNT: &[u8] = b"/dev/mqueue";

/// The kernel's `i_size` of every queue's inode (`FILENT_SIZE` in ipc/mqueue.c): it never
/// changes with the messages queued (the status line's QSIZE says that).
const FILENT_SIZE: i64 = 80;
/// What each entry adds to the size of the mqueue filesystem's root (`DIRENT_SIZE`), `.` and
/// `..` included.
const DIRENT_SIZE: i64 = 20;
/// The block size `stat` gives for an mqueue inode (`PAGE_SIZE`).
const BLOCK_SIZE: i64 = 4096;

/// The queue name `path` names under `/dev/mqueue`, when it is `/dev/mqueue/NAME` with NAME one
/// component other than `.` and `..`.
pub fn queue_name(path: &[u8]) -> Option<&[u8]> {
    let name = path.strip_prefix(MOUNT)?.strip_prefix(b"/")?;
    (!name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/')).then_some(name)
}

/// What relative paths may name under `/dev/mqueue` in this process, in one byte so that a
/// program that never goes near it pays one load per relative path: the working directory
/// (one of the `WORKING_*` values) and whether it opened a descriptor of `/dev/mqueue`
/// (`DIRECTORY_OPENED`).
static RELATIVE: AtomicU8 = AtomicU8::new(WORKING_UNKNOWN);
/// Not yet looked at (the first relative path does, with `getcwd`).
const WORKING_UNKNOWN: u8 = 0;
/// Another directory: no relative path from it is served.
const WORKING_ELSEWHERE: u8 = 1;
/// `/`, `/dev` or `/dev/mqueue`: relative paths are served under the prefix of that name.
const WORKING_ROOT: u8 = 2;
const WORKING_DEV: u8 = 3;
const WORKING_MOUNT: u8 = 4;
const WORKING_MASK: u8 = 0x7;
/// A descriptor of `/dev/mqueue` was opened: a path relative to a descriptor may be under it.
const DIRECTORY_OPENED: u8 = 0x8;

/// The identities (device, inode) a descriptor of `/dev/mqueue` may have in this process: the
/// directory mounted there, and the one the backend lists its queues from (`opendir`'s).
static DIRECTORY_IDS: ForkSafe<Vec<(u64, u64)>> = ForkSafe::new(Vec::new(), None);

/// Whether a relative path may be served at all (one load): the working directory is one of
/// those above or not yet known, or a descriptor of `/dev/mqueue` was opened.
pub fn relative_paths_possible() -> bool {
    RELATIVE.load(Ordering::Relaxed) != WORKING_ELSEWHERE
}

/// The working directory's kind, from `getcwd`.
fn working_directory_kind() -> u8 {
    let mut buf = [0u8; 64];
    // SAFETY: a valid buffer of its length; getcwd writes a NUL-terminated path into it or
    // fails (ERANGE for a longer path: not one of the three).
    if unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) }.is_null() {
        return WORKING_ELSEWHERE;
    }
    let path = &buf[..buf.iter().position(|&b| b == 0).unwrap_or(0)];
    match path {
        b"/" => WORKING_ROOT,
        b"/dev" => WORKING_DEV,
        MOUNT => WORKING_MOUNT,
        _ => WORKING_ELSEWHERE,
    }
}

/// The working directory changed (`chdir`, `fchdir` succeeded): the next relative path
/// looks at it again.
pub fn working_directory_changed() {
    RELATIVE.fetch_and(DIRECTORY_OPENED, Ordering::Relaxed);
}

/// Records the working directory's kind (after it was found unknown).
fn classify_working_directory() {
    let kind = working_directory_kind();
    let _ = RELATIVE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| Some((r & DIRECTORY_OPENED) | kind));
}

/// A descriptor of the directory with identity `id` is a descriptor of `/dev/mqueue`.
fn directory_opened(id: (u64, u64)) {
    DIRECTORY_IDS.with(|ids| {
        if !ids.contains(&id) {
            ids.push(id);
        }
    });
    RELATIVE.fetch_or(DIRECTORY_OPENED, Ordering::Relaxed);
}

/// `path` relative to the directory descriptor `dir` (or to the working directory for
/// AT_FDCWD) as the absolute path under `/dev/mqueue` it names, when it names one; None for
/// every other path (also `..` forms and links, which are not followed). Call only for a
/// relative `path`, when [`relative_paths_possible`].
pub fn absolute(dir: i32, path: &[u8]) -> Option<Vec<u8>> {
    if path.is_empty() {
        return None;
    }
    let prefix: &[u8] = if dir == libc::AT_FDCWD {
        let mut state = RELATIVE.load(Ordering::Relaxed);
        if state & WORKING_MASK == WORKING_UNKNOWN {
            classify_working_directory();
            state = RELATIVE.load(Ordering::Relaxed);
        }
        match state & WORKING_MASK {
            WORKING_ROOT => b"/",
            WORKING_DEV => b"/dev/",
            WORKING_MOUNT => b"/dev/mqueue/",
            _ => return None,
        }
    } else {
        if RELATIVE.load(Ordering::Relaxed) & DIRECTORY_OPENED == 0 {
            return None;
        }
        let st = crate::os::sys::stat_of(dir).ok()?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR || !DIRECTORY_IDS.with(|ids| ids.contains(&(st.st_dev, st.st_ino))) {
            return None;
        }
        b"/dev/mqueue/"
    };
    // Under the mount unless the prefix stops short of it and the path does not go on into it
    // (checked before anything is allocated: from `/`, most relative paths are elsewhere).
    if let Some(rest_of_mount) = MOUNT.get(prefix.len()..) {
        if !path.starts_with(rest_of_mount) || !matches!(path.get(rest_of_mount.len()), None | Some(b'/')) {
            return None;
        }
    }
    Some([prefix, path].concat())
}

/// Which of the mqueue filesystem's inodes an [`Entry`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A queue's file.
    Queue,
    /// The root directory (`/dev/mqueue` itself) holding this many queues.
    Root { queues: usize },
}

/// What the kernel's inode of a queue (or of the root) says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// The permission bits (no file type).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// An identity for the file: device and inode numbers, unique among the backend's queues.
    pub dev: u64,
    pub ino: u64,
    /// Access, modification and status-change times, (seconds, nanoseconds).
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl Entry {
    /// `stat`'s view: a queue is a regular file of one link and `FILENT_SIZE` bytes; the root
    /// a directory of two links and `DIRENT_SIZE` bytes per entry; no blocks.
    pub fn to_stat(&self) -> libc::stat {
        let (file_type, nlink, size) = match self.kind {
            Kind::Queue => (libc::S_IFREG, 1, FILENT_SIZE),
            Kind::Root { queues } => (libc::S_IFDIR, 2, DIRENT_SIZE * (queues as i64 + 2)),
        };
        // SAFETY: an all-zero stat is valid plain data (the padding fields included).
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        st.st_dev = self.dev;
        st.st_ino = self.ino;
        st.st_nlink = nlink;
        st.st_mode = file_type | self.mode;
        st.st_uid = self.uid;
        st.st_gid = self.gid;
        st.st_size = size;
        st.st_blksize = BLOCK_SIZE;
        st.st_blocks = 0;
        (st.st_atime, st.st_atime_nsec) = self.atime;
        (st.st_mtime, st.st_mtime_nsec) = self.mtime;
        (st.st_ctime, st.st_ctime_nsec) = self.ctime;
        st
    }

    /// `statx`'s view of the same: the basic fields, all of them valid (the kernel's mqueue
    /// inodes have no birth time).
    pub fn to_statx(&self) -> libc::statx {
        let time = |(sec, nsec): (i64, i64)| {
            // SAFETY: an all-zero timestamp is valid plain data (its padding included).
            let mut t: libc::statx_timestamp = unsafe { std::mem::zeroed() };
            (t.tv_sec, t.tv_nsec) = (sec, nsec as u32);
            t
        };
        let st = self.to_stat();
        // SAFETY: an all-zero statx is valid plain data.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        stx.stx_mask = libc::STATX_BASIC_STATS;
        stx.stx_blksize = BLOCK_SIZE as u32;
        stx.stx_nlink = st.st_nlink as u32;
        stx.stx_uid = self.uid;
        stx.stx_gid = self.gid;
        stx.stx_mode = st.st_mode as u16;
        stx.stx_ino = self.ino;
        stx.stx_size = st.st_size as u64;
        stx.stx_blocks = 0;
        stx.stx_atime = time(self.atime);
        stx.stx_mtime = time(self.mtime);
        stx.stx_ctime = time(self.ctime);
        stx.stx_dev_major = libc::major(self.dev);
        stx.stx_dev_minor = libc::minor(self.dev);
        stx
    }

    /// `faccessat`'s answer for `amode` (`R_OK`, `W_OK`, `X_OK` or'ed; 0 is `F_OK`): with the
    /// real ids unless `effective` (`AT_EACCESS`), as `generic_permission` decides for a
    /// regular file — the class's bits, else CAP_DAC_OVERRIDE (execution only when some
    /// execute bit is set), else CAP_DAC_READ_SEARCH for reading alone.
    pub fn access(&self, amode: u32, effective: bool) -> Result<()> {
        let mut creds = Creds::current();
        if !effective {
            // access(2) checks as the real user; one that is not root has no capabilities.
            (creds.fsuid, creds.fsgid) = (creds.uid, creds.gid);
            if creds.uid != 0 {
                creds.caps = 0;
            }
        }
        let want = amode & 0o7;
        if class_bits(self.mode, self.uid, self.gid, &creds) & want == want {
            return Ok(());
        }
        if creds.has(cap::DAC_OVERRIDE) && (want & 1 == 0 || self.mode & 0o111 != 0) {
            return Ok(());
        }
        if want == 4 && creds.has(cap::DAC_READ_SEARCH) {
            return Ok(());
        }
        Err(Errno::EACCES)
    }
}

/// The entry `/dev/mqueue/NAME` is under the backend, or its errno (ENOENT: no such queue);
/// None when `path` is not such a path or the backend leaves it to the kernel.
pub fn entry(path: &[u8]) -> Option<Result<Entry>> {
    let name = queue_name(path)?;
    crate::init::state().backend.dev_mqueue_entry(name)
}

/// What `stat` of `path` shows: a queue's entry, or the root's for `/dev/mqueue` itself (the
/// sticky directory, mode 1777, with the owner, identity and times of the directory the
/// backend keeps its queues in). None: neither, or the backend leaves it to the kernel.
fn stat_entry(path: &[u8]) -> Option<Result<Entry>> {
    if !is_directory(path) {
        return entry(path);
    }
    let root = crate::init::state().backend.dev_mqueue_root()?;
    Some(root.map(|(dir, queues)| Entry {
        kind: Kind::Root { queues },
        mode: 0o1777,
        uid: dir.st_uid,
        gid: dir.st_gid,
        dev: dir.st_dev,
        ino: dir.st_ino,
        atime: (dir.st_atime, dir.st_atime_nsec),
        mtime: (dir.st_mtime, dir.st_mtime_nsec),
        ctime: (dir.st_ctime, dir.st_ctime_nsec),
    }))
}

/// Writes `value` to the caller's `out`: EFAULT when it is not writable, as the kernel's copy
/// to user space.
///
/// # Safety
/// `out` is any address the caller passed; it is written only if writable.
unsafe fn copy_out<T: Copy>(out: *mut T, value: &T) -> Result<()> {
    // SAFETY: a checked write (this function's contract).
    if unsafe { crate::os::usermem::checked_write(out, value) } {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// `stat`/`lstat`/`fstatat` of `path` into the caller's `out` (a queue's file is no link, so
/// the three agree); None: not this module's path, libc serves it.
///
/// # Safety
/// `out` is the caller's argument: any address (a bad one is EFAULT, as the kernel's copy).
pub unsafe fn stat(path: &[u8], out: *mut libc::stat) -> Option<Result<()>> {
    let result = stat_entry(path)?.and_then(|e| {
        // SAFETY: the caller's buffer (this function's contract).
        unsafe { copy_out(out, &e.to_stat()) }
    });
    Some(result)
}

/// `statx` of `path` with `flags` into the caller's `out`; None: libc serves it (not this
/// module's path, or flags the kernel refuses with EINVAL whatever the path).
///
/// # Safety
/// As for [`stat`].
pub unsafe fn statx(path: &[u8], flags: i32, out: *mut libc::statx) -> Option<Result<()>> {
    if !statx_flags_valid(flags) {
        return None;
    }
    let result = stat_entry(path)?.and_then(|e| {
        // SAFETY: the caller's buffer (this function's contract).
        unsafe { copy_out(out, &e.to_statx()) }
    });
    Some(result)
}

/// Whether the kernel accepts `statx`'s `flags` (else it gives EINVAL whatever the file).
fn statx_flags_valid(flags: i32) -> bool {
    let known = libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT | libc::AT_EMPTY_PATH | libc::AT_STATX_SYNC_TYPE;
    flags & !known == 0 && flags & libc::AT_STATX_SYNC_TYPE != libc::AT_STATX_SYNC_TYPE
}

/// `faccessat(dir, path, amode, flags)` for an absolute `path` (`access` is flags 0); None:
/// libc serves it (not this module's path, or a mode or flags the kernel refuses with EINVAL
/// before looking at the path).
pub fn access(path: &[u8], amode: i32, flags: i32) -> Option<Result<()>> {
    let known = libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH;
    if amode & !(libc::R_OK | libc::W_OK | libc::X_OK) != 0 || flags & !known != 0 {
        return None;
    }
    Some(entry(path)?.and_then(|e| e.access(amode as u32, flags & libc::AT_EACCESS != 0)))
}

/// Whether `path` names the mount point itself (`/dev/mqueue`, `/dev/mqueue/`).
pub fn is_directory(path: &[u8]) -> bool {
    matches!(path.strip_prefix(MOUNT), Some(b"" | b"/"))
}

/// `opendir` of `/dev/mqueue`: a new descriptor of a directory whose entries are named as the
/// backend's queues, for the caller's `fdopendir` (its entries' `d_type` must then be
/// corrected by [`entry_type`]); None: not the mount point, or the backend leaves it to libc.
pub fn open_directory(path: &[u8]) -> Option<Result<i32>> {
    if !is_directory(path) {
        return None;
    }
    let opened = crate::init::state().backend.dev_mqueue_directory()?;
    if let Ok(st) = opened.and_then(crate::os::sys::stat_of) {
        directory_opened((st.st_dev, st.st_ino));
    }
    Some(opened)
}

/// The `d_type` `readdir` of `/dev/mqueue` gives for the entry `name`: a directory for `.` and
/// `..`, a regular file for every queue.
pub fn entry_type(name: &[u8]) -> u8 {
    if name == b"." || name == b".." {
        libc::DT_DIR
    } else {
        libc::DT_REG
    }
}

/// The `DIR` streams `opendir("/dev/mqueue")` returned in this process (their addresses).
static LISTINGS: ForkSafe<Vec<usize>> = ForkSafe::new(Vec::new(), None);
/// How many there are: 0 makes `readdir` and `closedir` go straight to libc.
static LISTING_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Records the stream `dir` as a listing of `/dev/mqueue`.
pub fn listing_opened(dir: usize) {
    LISTINGS.with(|l| l.push(dir));
    LISTING_COUNT.fetch_add(1, Ordering::Relaxed);
}

/// Whether `dir` is such a listing (one relaxed load when there is none).
pub fn is_listing(dir: usize) -> bool {
    LISTING_COUNT.load(Ordering::Relaxed) != 0 && LISTINGS.with(|l| l.contains(&dir))
}

/// The stream `dir` is being closed.
pub fn listing_closing(dir: usize) {
    if LISTING_COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let removed = LISTINGS.with(|l| l.iter().position(|&d| d == dir).map(|i| l.swap_remove(i)));
    if removed.is_some() {
        LISTING_COUNT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `open(path, flags, mode)` of `/dev/mqueue/NAME`: the backend's queue descriptor (reading
/// it gives the status line, see [`read`]); None: not this module's path, libc opens it.
pub fn open(path: &[u8], flags: i32, mode: u32) -> Option<Result<i32>> {
    if is_directory(path) {
        // The directory mounted there, which libc opens: a path relative to the descriptor
        // may name a queue.
        if let Ok(st) = crate::os::sys::stat_at(libc::AT_FDCWD, c"/dev/mqueue", 0) {
            directory_opened((st.st_dev, st.st_ino));
        }
        return None;
    }
    let name = queue_name(path)?;
    crate::init::state().backend.dev_mqueue_open(name, flags, mode)
}

/// `getxattr`/`lgetxattr` of `/dev/mqueue/NAME`: the mqueue filesystem has no extended
/// attributes (EOPNOTSUPP, which `ls -l` takes as "no ACL, no label"); ENOENT for no queue.
/// None: libc serves it.
pub fn getxattr(path: &[u8]) -> Option<Result<()>> {
    Some(entry(path)?.and(Err(Errno::EOPNOTSUPP)))
}

/// A `chmod` or `chown` of a queue's file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeChange {
    /// The new permission bits.
    Mode(u32),
    /// The new owner and group (None: unchanged, chown's -1).
    Owner(Option<u32>, Option<u32>),
}

impl AttributeChange {
    /// The owner, group and mode `(uid, gid, mode)` become, or EPERM where the kernel refuses
    /// (`setattr_prepare`): a mode only by the owner or with CAP_FOWNER; another owner only
    /// with CAP_CHOWN; another group by the owner to one of its own groups, or with
    /// CAP_CHOWN. The set-id bits go as the kernel drops them: a chmod by a caller outside
    /// the (new) group without CAP_FSETID cannot set setgid; a chown, of a non-directory
    /// as a queue's file is, always clears setuid, and setgid when group execution is set
    /// or the caller could not set it (`setattr_should_drop_sgid`).
    pub fn apply(self, (uid, gid, mode): (u32, u32, u32), creds: &Creds) -> Result<(u32, u32, u32)> {
        let may_keep_setgid = |group: u32| creds.in_group_fs(group) || creds.has(cap::FSETID);
        match self {
            AttributeChange::Mode(new) => {
                if creds.fsuid != uid && !creds.has(cap::FOWNER) {
                    return Err(Errno::EPERM);
                }
                let new = new & 0o7777;
                Ok((uid, gid, if may_keep_setgid(gid) { new } else { new & !libc::S_ISGID }))
            }
            AttributeChange::Owner(new_uid, new_gid) => {
                let new_uid = new_uid.unwrap_or(uid);
                let new_gid = new_gid.unwrap_or(gid);
                let chown = creds.has(cap::CHOWN);
                if new_uid != uid && !chown {
                    return Err(Errno::EPERM);
                }
                if new_gid != gid && !chown && !(creds.fsuid == uid && creds.in_group_fs(new_gid)) {
                    return Err(Errno::EPERM);
                }
                let drop_setgid = mode & libc::S_IXGRP != 0 || !may_keep_setgid(gid);
                let cleared = libc::S_ISUID | if drop_setgid { libc::S_ISGID } else { 0 };
                Ok((new_uid, new_gid, mode & !cleared))
            }
        }
    }
}

/// `chmod`/`fchmodat` (`flags` 0 or AT_SYMLINK_NOFOLLOW) of `/dev/mqueue/NAME` for an absolute
/// `path`: the queue's mode, as `mq_open`'s permission check then sees it. None: libc serves
/// it.
pub fn chmod(path: &[u8], mode: u32, flags: i32) -> Option<Result<()>> {
    if flags & !libc::AT_SYMLINK_NOFOLLOW != 0 {
        return None;
    }
    change(path, AttributeChange::Mode(mode))
}

/// `chown`/`lchown`/`fchownat` (`flags` within AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) of
/// `/dev/mqueue/NAME` for an absolute `path` (-1: unchanged). None: libc serves it.
pub fn chown(path: &[u8], uid: u32, gid: u32, flags: i32) -> Option<Result<()>> {
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return None;
    }
    let given = |id: u32| (id != u32::MAX).then_some(id);
    change(path, AttributeChange::Owner(given(uid), given(gid)))
}

/// `fchmod(fd, mode)` when `fd` is a queue descriptor of the backend's: as [`chmod`] of its
/// queue (also once unlinked); None: libc serves it.
pub fn fchmod(fd: i32, mode: u32) -> Option<Result<()>> {
    backend_with_descriptors()?.descriptor_change(fd, AttributeChange::Mode(mode))
}

/// `fchown(fd, uid, gid)` when `fd` is a queue descriptor of the backend's: as [`chown`] of
/// its queue; None: libc serves it.
pub fn fchown(fd: i32, uid: u32, gid: u32) -> Option<Result<()>> {
    let given = |id: u32| (id != u32::MAX).then_some(id);
    backend_with_descriptors()?.descriptor_change(fd, AttributeChange::Owner(given(uid), given(gid)))
}

fn change(path: &[u8], change: AttributeChange) -> Option<Result<()>> {
    let name = queue_name(path)?;
    crate::init::state().backend.dev_mqueue_change(name, change)
}

/// `unlinkat(dir, path, flags)` of `/dev/mqueue/NAME` for an absolute `path` (`unlink` is
/// flags 0): `mq_unlink` of NAME, with the errnos of unlinking a file of the sticky mqueue root
/// — EPERM where `mq_unlink` says EACCES (neither owner nor privileged), and, for
/// `AT_REMOVEDIR`, ENOTDIR to whoever may remove it. None: libc serves it (not this module's
/// path, or flags the kernel refuses with EINVAL whatever the path).
pub fn unlink(path: &[u8], flags: i32) -> Option<Result<()>> {
    if flags & !libc::AT_REMOVEDIR != 0 {
        return None;
    }
    let name = queue_name(path)?;
    let backend = crate::init::state().backend;
    let removable = |e: &Entry| {
        let creds = Creds::current();
        creds.fsuid == e.uid || creds.fsuid == 0 || creds.has(cap::FOWNER)
    };
    if flags & libc::AT_REMOVEDIR != 0 {
        let entry = backend.dev_mqueue_entry(name)?;
        return Some(entry.and_then(|e| Err(if removable(&e) { Errno::ENOTDIR } else { Errno::EPERM })));
    }
    Some(backend.dev_mqueue_unlink(name)?.map_err(|e| if e == Errno::EACCES { Errno::EPERM } else { e }))
}

/// The backend, when it has made queue descriptors in this process (the one check `read` and
/// `fstat` make for every other descriptor).
fn backend_with_descriptors() -> Option<&'static dyn crate::backend::Backend> {
    crate::dispatch::descriptors_exist().then(|| crate::init::state().backend)
}

/// `fstat` of `fd` into the caller's `out` when it is a queue descriptor of the backend's
/// (from `mq_open` or from `open` of `/dev/mqueue/NAME`: the kernel's are the same file);
/// None: libc serves it.
///
/// # Safety
/// As for [`stat`].
pub unsafe fn fstat(fd: i32, out: *mut libc::stat) -> Option<Result<()>> {
    let result = backend_with_descriptors()?.descriptor_entry(fd)?.and_then(|e| {
        // SAFETY: the caller's buffer (this function's contract).
        unsafe { copy_out(out, &e.to_stat()) }
    });
    Some(result)
}

/// `statx(fd, "", flags | AT_EMPTY_PATH, …)` of `fd` into the caller's `out` when it is a queue
/// descriptor of the backend's: what [`fstat`] shows, as [`statx`] gives it; None: libc serves
/// it (not such a descriptor, or flags the kernel refuses).
///
/// # Safety
/// As for [`stat`].
pub unsafe fn fstatx(fd: i32, flags: i32, out: *mut libc::statx) -> Option<Result<()>> {
    if !statx_flags_valid(flags) {
        return None;
    }
    let result = backend_with_descriptors()?.descriptor_entry(fd)?.and_then(|e| {
        // SAFETY: the caller's buffer (this function's contract).
        unsafe { copy_out(out, &e.to_statx()) }
    });
    Some(result)
}

/// `read(fd, buf, count)`, or `pread` at `at`, when `fd` is a queue descriptor of the
/// backend's: the kernel's status line (`QSIZE:… NOTIFY:… SIGNO:… NOTIFY_PID:…`), made afresh
/// at each read, from the position `at` or the description's offset (which the read moves on);
/// EFAULT first for a range the kernel's `access_ok` refuses (a count past the user address
/// space), whatever is left to read; None: libc reads.
///
/// # Safety
/// `buf` is the caller's argument: any address (a bad one is EFAULT).
pub unsafe fn read(fd: i32, buf: *mut u8, count: usize, at: Option<u64>) -> Option<Result<usize>> {
    let backend = backend_with_descriptors()?;
    if !crate::os::usermem::access_ok(buf, count) {
        // `vfs_read`'s order: EBADF for a descriptor not open for reading, then EFAULT for a
        // range past the user address space, before anything is read.
        let (readable, _) = backend.descriptor_access(fd)?;
        return Some(Err(if readable { Errno::EFAULT } else { Errno::EBADF }));
    }
    // SAFETY: the caller's buffer (this function's contract).
    unsafe { read_status(backend, fd, buf, count, at) }
}

/// One `read` of the status line through the backend's hook (see [`read`]).
///
/// # Safety
/// As for [`read`].
unsafe fn read_status(backend: &dyn crate::backend::Backend, fd: i32, buf: *mut u8, count: usize, at: Option<u64>) -> Option<Result<usize>> {
    let mut copy_out = |bytes: &[u8]| {
        if !crate::os::usermem::probe_write(buf, bytes.len()) {
            return Err(Errno::EFAULT);
        }
        // SAFETY: `buf` was just found writable for `bytes.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
        Ok(())
    };
    backend.descriptor_status_read(fd, at, count, &mut copy_out)
}

/// `readv(fd, iov, iovcnt)`, or `preadv`/`preadv2` at `at` with `flags`, when `fd` is a queue
/// descriptor of the backend's. The kernel's queue file has a `read` method only, so the
/// vector is read piece by piece (`do_loop_readv_writev`): EBADF when not open for reading, a
/// bad vector as `usermem::read_iovecs` says, nothing to read is 0, any flag but RWF_HIPRI
/// EOPNOTSUPP; then each piece is one [`read`] from where the last ended, stopping at a short
/// one, and an error after some bytes were read gives their count. None: libc reads.
///
/// # Safety
/// `iov` and its pieces are the caller's arguments: any address (a bad one is EFAULT).
pub unsafe fn readv(fd: i32, iov: *const libc::iovec, iovcnt: i32, at: Option<u64>, flags: i32) -> Option<Result<usize>> {
    let backend = backend_with_descriptors()?;
    let (readable, _) = backend.descriptor_access(fd)?;
    let pieces = match crate::os::usermem::readv_pieces(readable, iov, iovcnt) {
        Ok(Some(pieces)) => pieces,
        Ok(None) => return Some(Ok(0)),
        Err(e) => return Some(Err(e)),
    };
    if flags & !libc::RWF_HIPRI != 0 {
        return Some(Err(Errno::EOPNOTSUPP));
    }
    let mut done = 0usize;
    for piece in pieces.iter().filter(|p| p.iov_len != 0) {
        let piece_at = at.map(|pos| pos.saturating_add(done as u64));
        // SAFETY: the caller's piece (this function's contract).
        match unsafe { read_status(backend, fd, piece.iov_base.cast(), piece.iov_len, piece_at) }? {
            Err(e) if done == 0 => return Some(Err(e)),
            Err(_) => break,
            Ok(n) => {
                done += n;
                if n < piece.iov_len {
                    break;
                }
            }
        }
    }
    Some(Ok(done))
}

/// `write`/`pwrite`/`writev` and their variants of `fd` when it is a queue descriptor of the
/// backend's: the kernel's queue file has no write method, so EINVAL — EBADF first when it is
/// not open for writing (the order of `vfs_write`); None: libc writes.
pub fn write(fd: i32) -> Option<Result<usize>> {
    let (_, writable) = backend_with_descriptors()?.descriptor_access(fd)?;
    Some(Err(if writable { Errno::EINVAL } else { Errno::EBADF }))
}

/// `lseek(fd, offset, whence)` when `fd` is a queue descriptor of the backend's: the kernel's
/// `default_llseek` over a file of `FILENT_SIZE` bytes, moving the offset `read` goes on from;
/// None: libc seeks.
pub fn lseek(fd: i32, offset: i64, whence: i32) -> Option<Result<i64>> {
    let seek = |pos: u64| default_llseek(pos as i64, offset, whence).map(|p| p as u64);
    Some(backend_with_descriptors()?.descriptor_seek(fd, &seek)?.map(|p| p as i64))
}

/// The offset `default_llseek` (fs/read_write.c) moves a file of `FILENT_SIZE` bytes at `pos`
/// to: SEEK_END counts from the size, SEEK_DATA and SEEK_HOLE see no holes (ENXIO at or past
/// the end), a negative result or an unknown whence is EINVAL.
fn default_llseek(pos: i64, offset: i64, whence: i32) -> Result<i64> {
    let new = match whence {
        libc::SEEK_SET => offset,
        libc::SEEK_CUR => offset.checked_add(pos).ok_or(Errno::EINVAL)?,
        libc::SEEK_END => offset.checked_add(FILENT_SIZE).ok_or(Errno::EINVAL)?,
        libc::SEEK_DATA | libc::SEEK_HOLE if offset >= FILENT_SIZE => return Err(Errno::ENXIO),
        libc::SEEK_DATA => offset,
        libc::SEEK_HOLE => FILENT_SIZE,
        _ => return Err(Errno::EINVAL),
    };
    if new < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_component_under_the_mount_is_a_queue() {
        assert_eq!(queue_name(b"/dev/mqueue/q"), Some(&b"q"[..]));
        for other in [&b"/dev/mqueue"[..], b"/dev/mqueue/", b"/dev/mqueue/.", b"/dev/mqueue/..", b"/dev/mqueue/a/b", b"/dev/mqueuex/a", b"/proc/sys/x"] {
            assert_eq!(queue_name(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn a_relative_path_is_under_the_mount_only_from_the_working_directories_above_it() {
        RELATIVE.store(WORKING_ROOT, Ordering::Relaxed);
        assert_eq!(absolute(libc::AT_FDCWD, b"dev/mqueue/q").as_deref(), Some(&b"/dev/mqueue/q"[..]));
        assert_eq!(absolute(libc::AT_FDCWD, b"dev/mqueue").as_deref(), Some(&b"/dev/mqueue"[..]));
        assert_eq!(absolute(libc::AT_FDCWD, b"dev/mqueuex/q"), None);
        assert_eq!(absolute(libc::AT_FDCWD, b"etc/passwd"), None);
        RELATIVE.store(WORKING_DEV, Ordering::Relaxed);
        assert_eq!(absolute(libc::AT_FDCWD, b"mqueue/q").as_deref(), Some(&b"/dev/mqueue/q"[..]));
        assert_eq!(absolute(libc::AT_FDCWD, b"shm/q"), None);
        RELATIVE.store(WORKING_MOUNT, Ordering::Relaxed);
        assert_eq!(absolute(libc::AT_FDCWD, b"q").as_deref(), Some(&b"/dev/mqueue/q"[..]));
        RELATIVE.store(WORKING_ELSEWHERE, Ordering::Relaxed);
        assert_eq!(absolute(libc::AT_FDCWD, b"q"), None);
        assert_eq!(absolute(0, b"q"), None);
        RELATIVE.store(WORKING_UNKNOWN, Ordering::Relaxed);
    }

    #[test]
    fn seeking_is_the_kernels_default_llseek_over_80_bytes() {
        assert_eq!(default_llseek(5, 10, libc::SEEK_CUR), Ok(15));
        assert_eq!(default_llseek(5, -20, libc::SEEK_END), Ok(60));
        assert_eq!(default_llseek(5, -6, libc::SEEK_CUR), Err(Errno::EINVAL));
        assert_eq!(default_llseek(5, 79, libc::SEEK_HOLE), Ok(80));
        assert_eq!(default_llseek(5, 80, libc::SEEK_DATA), Err(Errno::ENXIO));
        assert_eq!(default_llseek(5, 0, 5), Err(Errno::EINVAL));
        assert_eq!(default_llseek(5, i64::MAX, libc::SEEK_END), Err(Errno::EINVAL));
    }

    #[test]
    fn chown_drops_set_id_bits_as_the_kernel() {
        let root = Creds { uid: 0, euid: 0, fsuid: 0, gid: 0, egid: 0, fsgid: 0, groups: vec![], caps: !0 };
        let nobody = Creds { uid: 9, euid: 9, fsuid: 9, gid: 9, egid: 9, fsgid: 9, groups: vec![], caps: 0 };
        let same = AttributeChange::Owner(None, None);
        assert_eq!(same.apply((0, 0, 0o6777), &root), Ok((0, 0, 0o777)));
        assert_eq!(same.apply((0, 0, 0o6767), &root), Ok((0, 0, 0o2767)));
        assert_eq!(same.apply((9, 0, 0o2600), &nobody), Ok((9, 0, 0o600)));
        assert_eq!(same.apply((9, 9, 0o2600), &nobody), Ok((9, 9, 0o2600)));
        assert_eq!(AttributeChange::Mode(0o2640).apply((9, 0, 0o600), &nobody), Ok((9, 0, 0o640)));
        assert_eq!(AttributeChange::Mode(0o6640).apply((0, 0, 0o600), &root), Ok((0, 0, 0o6640)));
    }

    #[test]
    fn stat_shows_a_regular_file_of_the_kernels_size() {
        let e = Entry { kind: Kind::Queue, mode: 0o640, uid: 7, gid: 8, dev: 1, ino: 2, atime: (1, 2), mtime: (3, 4), ctime: (5, 6) };
        let st = e.to_stat();
        assert_eq!((st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_nlink), (libc::S_IFREG | 0o640, 7, 8, 80, 1));
        let stx = e.to_statx();
        assert_eq!((stx.stx_mode as u32, stx.stx_size, stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec), (libc::S_IFREG | 0o640, 80, 3, 4));
        let root = Entry { kind: Kind::Root { queues: 2 }, mode: 0o1777, ..e }.to_stat();
        assert_eq!((root.st_mode, root.st_nlink, root.st_size), (libc::S_IFDIR | 0o1777, 2, 80));
    }
}
