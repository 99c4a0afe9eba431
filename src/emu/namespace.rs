//! The emulation's namespace: the `MQSHIM_DIR` directory tree, the equivalent of an IPC
//! namespace. Tests and containers isolate themselves by pointing `MQSHIM_DIR` elsewhere.
//!
//! ```text
//! $MQSHIM_DIR/            1777 (shared, sticky), like the kernel's mqueue root
//!   posix/                1777: one directory per queue name
//!     <name>/             owned by the creator
//!       data              the segment (mode: rw for every class the queue grants any access)
//!       fifo              the descriptor programs hold (same mode); its readiness is the queue's
//!       meta              0444: owner, mode, attributes and charge, readable by anyone
//!   posix.lock            flock: shared to open, exclusive to create, unlink or destroy
//!   posix-dead/           0777: unlinked queues that are still open, until their last close
//!   posix-tmp/            1777: queues being built, renamed into posix/ once complete
//!   sysv/                 1777: the System V emulation (see `emu::sysv`)
//! ```
//!
//! Directories are created with `mkdirat` relative to an `O_NOFOLLOW` descriptor of their
//! parent and checked after opening (a directory, not a link, owned by root or the caller, and
//! sticky when world-writable), so a planted symlink cannot redirect the emulation.

use std::ffi::CString;
use std::os::raw::c_int;

use crate::errno::{Errno, Result};
use crate::os::sys;

pub use crate::os::sys::move_high;

/// An open namespace.
pub struct Namespace {
    pub root: Vec<u8>,
    pub posix: c_int,
    pub dead: c_int,
    pub tmp: c_int,
    lock: c_int,
}

fn cstr(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

/// Opens directory `name` under `parent` (or the absolute path when `parent` is AT_FDCWD),
/// creating it with `mode` if missing, and checks it is safe to use.
fn open_dir(parent: c_int, name: &[u8], mode: u32) -> Result<c_int> {
    let c = cstr(name)?;
    // The namespace's own system calls go straight to the kernel (see `os::sys`).
    if sys::mkdirat(parent, &c, 0o700) == 0 {
        // Set the exact mode (mkdir is subject to the umask, and 0700 kept it private until
        // now).
        sys::fchmodat(parent, &c, mode);
    } else if crate::errno::current() != libc::EEXIST {
        return Err(Errno::last());
    }
    // O_NOFOLLOW|O_DIRECTORY refuses links and non-directories.
    let fd = sys::openat(parent, &c, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0);
    if fd < 0 {
        return Err(Errno::last());
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: an all-zero stat is a valid out-buffer.
    if sys::fstat(fd, unsafe { st.assume_init_mut() }) != 0 {
        let e = Errno::last();
        crate::os::sys::close(fd);
        return Err(e);
    }
    // SAFETY: fstat succeeded.
    let st = unsafe { st.assume_init() };
    let me = sys::ids().1;
    let world_writable = st.st_mode & 0o002 != 0;
    let sticky = st.st_mode & libc::S_ISVTX != 0;
    let trusted_owner = st.st_uid == 0 || st.st_uid == me;
    if !trusted_owner || (world_writable && !sticky && mode & libc::S_ISVTX != 0) {
        crate::os::sys::close(fd);
        return Err(Errno::EACCES);
    }
    Ok(fd)
}

impl Namespace {
    /// Opens (creating as needed) the namespace at `root`, an absolute path.
    pub fn open(root: &[u8]) -> Result<Namespace> {
        let root_fd = open_root(root)?;
        let result = (|| {
            let posix = move_high(open_dir(root_fd, b"posix", 0o1777)?);
            let dead = move_high(open_dir(root_fd, b"posix-dead", 0o777)?);
            let tmp = move_high(open_dir(root_fd, b"posix-tmp", 0o1777)?);
            let c = cstr(b"posix.lock")?;
            // O_NOFOLLOW refuses a planted link.
            let lock = sys::openat(root_fd, &c, libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0o666);
            if lock < 0 {
                return Err(Errno::last());
            }
            // The lock file must be usable by every user of the namespace.
            sys::fchmod(lock, 0o666);
            let lock = move_high(lock);
            Ok(Namespace { root: root.to_vec(), posix, dead, tmp, lock })
        })();
        crate::os::sys::close(root_fd);
        result
    }

    /// Holds the namespace lock shared (opening a queue) or exclusive (creating, unlinking,
    /// destroying) until dropped.
    pub fn lock(&self, exclusive: bool) -> Result<NamespaceLock<'_>> {
        let op = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
        loop {
            // SAFETY: self.lock is an open fd.
            if crate::os::sys::flock(self.lock, op) == 0 {
                return Ok(NamespaceLock { ns: self });
            }
            if crate::errno::current() != libc::EINTR {
                return Err(Errno::last());
            }
        }
    }
}

/// The namespace lock, released on drop.
pub struct NamespaceLock<'a> {
    ns: &'a Namespace,
}

impl Drop for NamespaceLock<'_> {
    fn drop(&mut self) {
        // SAFETY: the lock fd is open.
        crate::os::sys::flock(self.ns.lock, libc::LOCK_UN);
    }
}

/// Opens (creating as needed) the directory `name` with `mode` in the namespace at `root` — the
/// System V emulation's `sysv/` — with the same checks as the namespace's own directories; the
/// descriptor is moved above the program's.
pub fn open_subdir(root: &[u8], name: &[u8], mode: u32) -> Result<c_int> {
    let root_fd = open_root(root)?;
    let dir = open_dir(root_fd, name, mode).map(move_high);
    crate::os::sys::close(root_fd);
    dir
}

/// Opens the root directory, creating missing components (the last one 1777, sticky).
fn open_root(root: &[u8]) -> Result<c_int> {
    if root.first() != Some(&b'/') {
        return Err(Errno::EINVAL);
    }
    let c = cstr(b"/")?;
    let mut fd = sys::openat(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0);
    if fd < 0 {
        return Err(Errno::last());
    }
    let parts: Vec<&[u8]> = root.split(|&b| b == b'/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let next = if last {
            open_dir(fd, part, 0o1777)
        } else {
            let c = cstr(part)?;
            // Intermediate components are followed as the user wrote them (they may be links,
            // e.g. /dev/shm); only the namespace itself must be a real directory.
            if sys::mkdirat(fd, &c, 0o755) != 0 && crate::errno::current() != libc::EEXIST {
                let e = Errno::last();
                crate::os::sys::close(fd);
                return Err(e);
            }
            let n = sys::openat(fd, &c, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0);
            if n < 0 {
                Err(Errno::last())
            } else {
                Ok(n)
            }
        };
        crate::os::sys::close(fd);
        fd = next?;
    }
    Ok(fd)
}
