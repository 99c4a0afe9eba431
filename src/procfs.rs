//! The `/proc` files a backend answers for, opened for writing: under the emulation, the
//! sysctls of `/proc/sys/fs/mqueue/` and `/proc/sys/kernel/msg*` (see `emu::sysctl`).
//!
//! The program holds a private memfd in place of the file (its own descriptor, offset and
//! close-on-exec flag, shared across `dup` and `fork` as the kernel's file would be), listed
//! here by descriptor and inode. A `write` (or `pwrite`, `writev`, `pwritev`) through libc's exported functions — C programs,
//! `sysctl(8)`, `tee` — is handed to the backend at the memfd's offset, with the kernel's result
//! and errno, and the offset moves on as the kernel's would. Writes mqshim cannot see (made
//! inside libc: stdio's `fflush` of a stream on the descriptor, as a shell's builtin `echo N > file`
//! does) land in the memfd itself; they are applied when the last descriptor this process
//! listed for it is closed (`close`, or `dup2`/`dup3` over it — a shell restoring its standard
//! output), as one write at position 0, and a rejected value is said on stderr since no call is
//! left to fail. A stream from `fopen` of such a file is mqshim's own (`fopencookie`), so its
//! writes are seen (and one opened to read and write reads as its descriptor would).
//!
//! A sysctl opened read-only is listed too (its memfd holds the text the backend gave at the
//! open): a `read`, `pread`, `readv`, `preadv` or `preadv2` of any listed descriptor at a
//! position other than 0 reads nothing, as `__do_proc_dointvec` answers (`*ppos && !write`),
//! so a short read is not continued; at 0, one opened for writing reads the value in force
//! from the backend (its memfd, which holds only writes mqshim did not see, is not read nor
//! filled, so an untouched descriptor applies nothing at its close); a write to a read-only one is EBADF; `preadv2` and
//! `pwritev2` take the flags the kernel's file takes.
//!
//! Nothing here runs until such a file is opened: `write`, `read`, `pread`, `close` and `dup*`
//! ask one counter.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::errno::{Errno, Result};
use crate::os::forksafe::ForkSafe;

/// One descriptor of an open sysctl.
#[derive(Clone, Copy)]
struct Open {
    fd: c_int,
    /// The memfd's inode: a listed number whose file changed (closed behind mqshim's back and
    /// reused) is not ours.
    ino: u64,
    path: &'static [u8],
    /// Opened for writing (O_WRONLY or O_RDWR); else read-only.
    writable: bool,
    /// Opened for reading (O_RDONLY or O_RDWR); else write-only.
    readable: bool,
}

const SLOTS: usize = 32;
static OPEN: ForkSafe<[Option<Open>; SLOTS]> = ForkSafe::new([None; SLOTS], None);
/// How many slots are in use: 0 makes every descriptor function go straight to libc.
static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Whether any sysctl is open for writing in this process (one relaxed load).
#[inline(always)]
pub fn any_open() -> bool {
    IN_USE.load(Ordering::Relaxed) != 0
}

fn inode(fd: c_int) -> Option<u64> {
    crate::os::sys::stat_of(fd).ok().map(|st| st.st_ino)
}

fn insert(entry: Open) -> Result<()> {
    OPEN.with(|slots| {
        let free = slots.iter_mut().find(|s| s.is_none()).ok_or(Errno::ENFILE)?;
        *free = Some(entry);
        IN_USE.fetch_add(1, Ordering::Relaxed);
        Ok(())
    })
}

/// The listed entry for `fd`, if it is still the same file.
fn find(fd: c_int) -> Option<Open> {
    let entry = OPEN.with(|slots| slots.iter().flatten().find(|o| o.fd == fd).copied())?;
    if inode(fd) == Some(entry.ino) {
        Some(entry)
    } else {
        forget(fd);
        None
    }
}

/// Takes `fd` off the list; whether another listed descriptor has the same file.
fn forget(fd: c_int) -> Option<Open> {
    OPEN.with(|slots| {
        let slot = slots.iter_mut().find(|s| s.is_some_and(|o| o.fd == fd))?;
        let entry = slot.take();
        IN_USE.fetch_sub(1, Ordering::Relaxed);
        entry
    })
}

/// Opening `path` for writing (and reading too when `readable`: O_RDWR), when the backend
/// answers for it: the descriptor (close-on-exec when asked) or the errno the kernel's open
/// would give. None: libc opens the file.
pub fn open_for_write(path: &[u8], cloexec: bool, readable: bool) -> Option<Result<c_int>> {
    let path = crate::emu::sysctl::file(path)?.path;
    let state = crate::init::state();
    if let Err(e) = state.backend.proc_file_open_write(path)? {
        return Some(Err(e));
    }
    let flags = if cloexec { libc::MFD_CLOEXEC } else { 0 };
    // SAFETY: creates a private anonymous file; the name is a static C string.
    let fd = unsafe { libc::memfd_create(c"mqshim-sysctl".as_ptr(), flags) };
    if fd < 0 {
        return Some(Err(Errno::last()));
    }
    let listed = inode(fd).ok_or(Errno::EIO).and_then(|ino| insert(Open { fd, ino, path, writable: true, readable }));
    Some(match listed {
        Ok(()) => Ok(fd),
        Err(e) => {
            crate::os::sys::close(fd);
            Err(e)
        }
    })
}

/// The sysctl `path` was opened read-only as the memfd `fd` (holding its text): listed, so
/// that its reads follow the kernel's rule (see [`read_at`]). Not one of the sysctls: nothing.
pub fn opened_for_reading(fd: c_int, path: &[u8]) {
    let Some(file) = crate::emu::sysctl::file(path) else { return };
    if let Some(ino) = inode(fd) {
        // A full list leaves the descriptor a plain memfd (reads continue past a short one).
        let _ = insert(Open { fd, ino, path: file.path, writable: false, readable: true });
    }
}

/// A `read` or `pread` of `fd` into the caller's `count` bytes at `buf`, at `pos` (None: its
/// offset) when `fd` is an open sysctl: see [`read_pieces`]. None: libc reads.
pub fn read_at(fd: c_int, buf: *mut u8, count: usize, pos: Option<i64>) -> Option<Result<usize>> {
    let entry = find(fd)?;
    read_pieces(fd, entry, &[libc::iovec { iov_base: buf.cast(), iov_len: count }], pos)
}

/// A read of the listed `entry` (descriptor `fd`) into the caller's `pieces` at `pos` (None:
/// its offset), as the kernel's sysctl file reads: EBADF when opened write-only; at a position other than 0 nothing, as
/// `__do_proc_dointvec` answers (`*ppos && !write`), so a short read is not continued; at 0,
/// for one opened for writing, the value in force from the backend, copied across the pieces
/// as far as they hold it, the offset (for a `read`) moving on by the count — its memfd holds
/// only what was written behind mqshim's back, so is not read. A piece not writable is EFAULT
/// with the offset left alone, as the kernel's copy fails. None: libc reads (a negative
/// position, libc's EINVAL; at 0 of a read-only one, whose memfd holds the text; a value the
/// backend cannot give).
fn read_pieces(fd: c_int, entry: Open, pieces: &[libc::iovec], pos: Option<i64>) -> Option<Result<usize>> {
    // SAFETY: lseek with SEEK_CUR on the caller's descriptor only reads its offset.
    let at = pos.unwrap_or_else(|| unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) });
    if at < 0 {
        return None;
    }
    if !entry.readable {
        return Some(Err(Errno::EBADF));
    }
    if at > 0 {
        return Some(Ok(0));
    }
    if !entry.writable {
        return None;
    }
    let text = crate::init::state().backend.proc_file(entry.path)?;
    let text = text.as_bytes();
    let pid = crate::os::ids::pid();
    let mut done = 0;
    for piece in pieces {
        let n = piece.iov_len.min(text.len() - done);
        if !crate::os::usermem::write_to(pid, piece.iov_base as usize, &text[done..done + n]) {
            return Some(Err(Errno::EFAULT));
        }
        done += n;
    }
    if pos.is_none() {
        // SAFETY: lseek on a descriptor of ours only moves its offset.
        unsafe { libc::lseek(fd, done as i64, libc::SEEK_SET) };
    }
    Some(Ok(done))
}

/// The `RWF_*` flags of `preadv2`/`pwritev2` (include/uapi/linux/fs.h, 6.18).
mod rwf {
    pub const HIPRI: i32 = 0x01;
    pub const DSYNC: i32 = 0x02;
    pub const SYNC: i32 = 0x04;
    pub const NOWAIT: i32 = 0x08;
    pub const APPEND: i32 = 0x10;
    pub const NOAPPEND: i32 = 0x20;
    pub const ATOMIC: i32 = 0x40;
    pub const DONTCACHE: i32 = 0x80;
    pub const NOSIGNAL: i32 = 0x100;
    pub const SUPPORTED: i32 = HIPRI | DSYNC | SYNC | NOWAIT | APPEND | NOAPPEND | ATOMIC | DONTCACHE | NOSIGNAL;
}

/// Whether a sysctl's file takes `flags` for a `preadv2`/`pwritev2` that has bytes to move, as
/// `kiocb_set_rw_flags` decides for it: an unknown flag is EOPNOTSUPP, APPEND with NOAPPEND
/// EINVAL, and NOWAIT, ATOMIC and DONTCACHE EOPNOTSUPP, since the file allows none of them
/// (the memfd behind it would). The others change nothing the handler does.
fn rw_flags_check(flags: i32) -> Result<()> {
    if flags & !rwf::SUPPORTED != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if flags & rwf::APPEND != 0 && flags & rwf::NOAPPEND != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & (rwf::NOWAIT | rwf::ATOMIC | rwf::DONTCACHE) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(())
}

/// A `readv`, `preadv` or `preadv2` (with `flags`) of `fd` at `pos` (None: its offset) when
/// `fd` is an open sysctl, in `vfs_readv`'s order: EBADF when opened write-only, a bad vector as `usermem::read_iovecs`
/// says, nothing to read 0, the flags as [`rw_flags_check`], then the position rule of
/// [`read_pieces`]. None: libc reads the memfd (not a sysctl, or at 0 of a read-only one, where
/// it holds the text, as the kernel's handler copies it across the pieces).
pub fn readv_at(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, pos: Option<i64>, flags: c_int) -> Option<Result<usize>> {
    let entry = find(fd)?;
    let pieces = match crate::os::usermem::readv_pieces(entry.readable, iov, iovcnt) {
        Ok(Some(pieces)) => pieces,
        Ok(None) => return Some(Ok(0)),
        Err(e) => return Some(Err(e)),
    };
    if let Err(e) = rw_flags_check(flags) {
        return Some(Err(e));
    }
    read_pieces(fd, entry, &pieces, pos)
}

/// One write of `data` to `fd` when it is an open sysctl: at its offset, which moves on by the
/// count as the kernel's would (`write`, `writev`), or at `at` with the offset left alone
/// (`pwrite`, `pwritev`). The backend's result (EBADF when it was opened read-only). None: not
/// one.
pub fn write(fd: c_int, data: &[u8], at: Option<i64>) -> Option<Result<usize>> {
    let entry = find(fd)?;
    if !entry.writable {
        return Some(Err(Errno::EBADF));
    }
    let backend = crate::init::state().backend;
    if let Some(pos) = at {
        // A negative position is EINVAL before anything is looked at, as the kernel's pwrite.
        return Some(if pos < 0 { Err(Errno::EINVAL) } else { backend.proc_file_write(entry.path, data, pos) });
    }
    // SAFETY: lseek on a descriptor of ours only reads or moves its offset.
    let pos = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
    let result = backend.proc_file_write(entry.path, data, pos);
    if let Ok(n) = result {
        // SAFETY: as above.
        unsafe { libc::lseek(fd, pos + n as i64, libc::SEEK_SET) };
    }
    Some(result)
}

/// More of a caller's write than mqshim copies: more than the kernel looks at (a page), with
/// room for trailing white space.
const MOST: usize = 1 << 20;

/// [`write`] of the caller's `count` bytes at `buf` (any address: an unreadable one is
/// EFAULT, as the kernel's copy says).
///
/// # Safety
/// None beyond write(2)'s: `buf` may be any address (it is read through `process_vm_readv`).
pub unsafe fn write_from_caller(fd: c_int, buf: *const u8, count: usize, at: Option<i64>) -> Option<Result<usize>> {
    find(fd)?;
    let mut data = vec![0u8; count.min(MOST)];
    // SAFETY: any address is allowed with Trust::Unknown (read through process_vm_readv).
    if !unsafe { crate::os::usermem::read_bytes(buf, &mut data, crate::os::usermem::Trust::Unknown) } {
        return Some(Err(Errno::EFAULT));
    }
    write(fd, &data, at)
}

/// [`write`] of the caller's `iovcnt` pieces at `iov` joined into one text, as the kernel's
/// sysctl handler takes a `writev`, `pwritev` or `pwritev2` with `flags` (any address: an
/// unreadable one is EFAULT; a bad vector as `usermem::read_iovecs` says; with flags,
/// `vfs_writev`'s order: EBADF when read-only, nothing to write 0, then the flags as
/// [`rw_flags_check`]).
///
/// # Safety
/// None beyond writev(2)'s: `iov` and the pieces may be any address (read through
/// `process_vm_readv`).
pub unsafe fn writev_from_caller(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, at: Option<i64>, flags: c_int) -> Option<Result<usize>> {
    let entry = find(fd)?;
    let pieces = match crate::os::usermem::read_iovecs(iov, iovcnt) {
        Ok(pieces) => pieces,
        Err(e) => return Some(Err(e)),
    };
    if flags != 0 {
        if !entry.writable {
            return Some(Err(Errno::EBADF));
        }
        if pieces.iter().all(|p| p.iov_len == 0) {
            return Some(Ok(0));
        }
        if let Err(e) = rw_flags_check(flags) {
            return Some(Err(e));
        }
    }
    let mut data = Vec::new();
    for piece in &pieces {
        let start = data.len();
        let len = piece.iov_len.min(MOST - start);
        data.resize(start + len, 0);
        // SAFETY: any address is allowed with Trust::Unknown (read through process_vm_readv).
        if !unsafe { crate::os::usermem::read_bytes(piece.iov_base.cast(), &mut data[start..], crate::os::usermem::Trust::Unknown) } {
            return Some(Err(Errno::EFAULT));
        }
    }
    write(fd, &data, at)
}

/// `fd` is being closed (or replaced by `dup2`/`dup3`): when it was the last listed descriptor
/// of its sysctl, what was written into the memfd behind mqshim's back is applied.
pub fn closing(fd: c_int) {
    if find(fd).is_none() {
        return;
    }
    let Some(entry) = forget(fd) else { return };
    if !entry.writable || OPEN.with(|slots| slots.iter().flatten().any(|o| o.ino == entry.ino)) {
        return;
    }
    let mut buf = [0u8; 4096];
    // SAFETY: reads into a local buffer from the caller's descriptor, still open.
    let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n <= 0 {
        return;
    }
    // Consumed once, even by a forked child closing its copy.
    crate::os::sys::ftruncate(fd, 0);
    if let Err(e) = crate::init::state().backend.proc_file_write(entry.path, &buf[..n as usize], 0) {
        crate::os::stderr::report(&format!(
            "'{}' written to {} behind mqshim's back (by libc's stdio, e.g. a shell's echo) was rejected: {}",
            String::from_utf8_lossy(&buf[..n as usize]).trim_end(),
            String::from_utf8_lossy(entry.path),
            e.desc()
        ));
    }
}

/// `new` now refers to what `old` refers to.
pub fn duplicated(old: c_int, new: c_int) {
    if let Some(entry) = find(old) {
        let _ = insert(Open { fd: new, ..entry });
    }
}
