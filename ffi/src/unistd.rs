//! `<unistd.h>` and `<fcntl.h>`: the descriptor functions mqshim must see because an emulated
//! `mqd_t` is a real descriptor: closing one is closing a queue, `dup2`/`dup3` onto one closes
//! it, and `dup`, `dup2`, `dup3` and `fcntl(F_DUPFD)` of one make another.
//!
//! They are not traced (they are not queue calls). When mqshim itself runs (the re-entrancy
//! guard is up) or the backend never made a queue descriptor, they go straight to libc.

use std::os::raw::{c_char, c_int, c_long, c_void};

use libc::{size_t, ssize_t};

use crate::dispatch;
use crate::procfs;
use crate::real;
use crate::reentry::Inside;

/// Whether mqshim has nothing to do with a descriptor call: it comes from mqshim itself, or no
/// queue descriptor exists in this process.
fn straight_to_libc() -> bool {
    Inside::active() || !(dispatch::descriptors_exist() || procfs::any_open())
}

/// `ssize_t write(int fd, const void *buf, size_t count)`: a write to a sysctl opened under
/// the emulation sets it (see `procfs`); a queue descriptor of the backend's refuses it as the
/// kernel's queue file does (see `devmqueue`); every other write goes to libc after one load
/// while neither exists.
///
/// # Safety
/// As write(2) requires: `buf` is readable for `count` bytes (else EFAULT, as the kernel's).
#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    // The loads first: the thread-local guard only once one of them says mqshim may serve it.
    if !(procfs::any_open() || dispatch::descriptors_exist()) || Inside::active() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::write(fd, buf, count) };
    }
    ffi_boundary!(
        errno ssize_t,
        match sysctl_write(fd, buf, count, None).or_else(|| queue_write(fd)) {
            Some(r) => r,
            // SAFETY: the caller's arguments, passed on.
            None => crate::errno::check(unsafe { real::write(fd, buf, count) }).map(|n| n as i64),
        }
    )
}

/// `pwrite`/`writev` and their variants of a queue descriptor, at `at` (None: at its offset),
/// as a C result, or None to let libc write (a negative `at`: libc's EINVAL, whatever the
/// descriptor, as the kernel's).
fn queue_write_at(fd: c_int, at: Option<i64>) -> Option<ssize_t> {
    if at.is_some_and(|o| o < 0) || !dispatch::descriptors_exist() || Inside::active() {
        return None;
    }
    let result = ffi_boundary!(queue_write(fd))?;
    Some(ffi_boundary!(errno ssize_t, result))
}

/// `write` of a queue descriptor (None: `fd` is not one).
fn queue_write(fd: c_int) -> Option<crate::errno::Result<i64>> {
    crate::devmqueue::write(fd).map(|r| r.map(|n| n as i64))
}

/// `off_t lseek(int fd, off_t offset, int whence)`: a queue descriptor of the backend's seeks
/// in the kernel's status line (see `devmqueue`); every other descriptor goes to libc after
/// one load.
///
/// # Safety
/// None beyond lseek(2)'s: no pointer arguments.
#[no_mangle]
pub unsafe extern "C" fn lseek(fd: c_int, offset: libc::off_t, whence: c_int) -> libc::off_t {
    if let Some(r) = served_lseek(fd, offset, whence) {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::lseek(fd, offset, whence) }
}

/// `off64_t lseek64(int fd, off64_t offset, int whence)`.
///
/// # Safety
/// As for [`lseek`].
#[no_mangle]
pub unsafe extern "C" fn lseek64(fd: c_int, offset: libc::off64_t, whence: c_int) -> libc::off64_t {
    if let Some(r) = served_lseek(fd, offset, whence) {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::lseek64(fd, offset, whence) }
}

/// `lseek` of a queue descriptor as a C result, or None to let libc seek.
fn served_lseek(fd: c_int, offset: i64, whence: c_int) -> Option<libc::off_t> {
    if !dispatch::descriptors_exist() || Inside::active() {
        return None;
    }
    let result = ffi_boundary!(crate::devmqueue::lseek(fd, offset, whence))?;
    // off_t is ssize_t's width on the 64-bit targets mqshim builds for.
    Some(ffi_boundary!(errno ssize_t, result) as libc::off_t)
}

/// `ssize_t read(int fd, void *buf, size_t count)`: reading a queue descriptor of the backend's
/// gives the kernel's status line (see `devmqueue`), reading a sysctl past its start nothing
/// and at its start, opened for writing too, the value in force (see `procfs`); every other
/// read goes to libc after two loads (three once the backend made queue descriptors: the
/// descriptor's bit in a table).
///
/// # Safety
/// As read(2) requires: `buf` is writable for `count` bytes (else EFAULT, as the kernel's).
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    if straight_to_libc() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::read(fd, buf, count) };
    }
    if procfs::any_open() {
        if let Some(result) = ffi_boundary!(procfs::read_at(fd, buf.cast(), count, None)) {
            return ffi_boundary!(errno ssize_t, result.map(|n| n as i64));
        }
    }
    // SAFETY: the caller's buffer, written only when writable.
    match ffi_boundary!(unsafe { crate::devmqueue::read(fd, buf.cast(), count, None) }) {
        Some(result) => ffi_boundary!(errno ssize_t, result.map(|n| n as i64)),
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::read(fd, buf, count) },
    }
}

/// A `pread` of a sysctl into `buf` at `offset`: nothing at a position other than 0, the value
/// at 0 of one opened for writing (see `procfs::read_at`); None: libc's.
fn sysctl_pread(fd: c_int, buf: *mut c_void, count: size_t, offset: i64) -> Option<ssize_t> {
    if !procfs::any_open() || Inside::active() {
        return None;
    }
    let result = ffi_boundary!(procfs::read_at(fd, buf.cast(), count, Some(offset)))?;
    Some(ffi_boundary!(errno ssize_t, result.map(|n| n as i64)))
}

/// A `pread` of a queue descriptor: its status line at `offset` (see `devmqueue`); None:
/// libc's (a negative offset is libc's EINVAL, whatever the descriptor, as the kernel's).
///
/// # Safety
/// `buf` may be any address (EFAULT).
unsafe fn queue_pread(fd: c_int, buf: *mut c_void, count: size_t, offset: i64) -> Option<ssize_t> {
    if offset < 0 || !dispatch::descriptors_exist() || Inside::active() {
        return None;
    }
    // SAFETY: the caller's buffer, written only when writable.
    let result = ffi_boundary!(unsafe { crate::devmqueue::read(fd, buf.cast(), count, Some(offset as u64)) })?;
    Some(ffi_boundary!(errno ssize_t, result.map(|n| n as i64)))
}

/// `ssize_t pread(int fd, void *buf, size_t count, off_t offset)`: as [`read`] for a sysctl
/// or a queue descriptor, at `offset`; every other pread goes to libc after two loads.
///
/// # Safety
/// As pread(2) requires: `buf` is writable for `count` bytes (else EFAULT, as the kernel's).
#[no_mangle]
pub unsafe extern "C" fn pread(fd: c_int, buf: *mut c_void, count: size_t, offset: libc::off_t) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    unsafe { sysctl_pread(fd, buf, count, offset).or_else(|| queue_pread(fd, buf, count, offset)).unwrap_or_else(|| real::pread(fd, buf, count, offset)) }
}

/// `ssize_t pread64(int fd, void *buf, size_t count, off64_t offset)`: `pread` of programs
/// built with 64-bit offsets.
///
/// # Safety
/// As for [`pread`].
#[no_mangle]
pub unsafe extern "C" fn pread64(fd: c_int, buf: *mut c_void, count: size_t, offset: libc::off64_t) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    unsafe { sysctl_pread(fd, buf, count, offset).or_else(|| queue_pread(fd, buf, count, offset)).unwrap_or_else(|| real::pread64(fd, buf, count, offset)) }
}

/// Where a `preadv2`/`pwritev2` given `offset` works: at the description's offset for -1
/// (`Some(None)`), else at `offset`; None for a position below -1, which is libc's EINVAL
/// whatever the descriptor, as for every other `p` form given a negative one.
fn v2_position(offset: i64) -> Option<Option<i64>> {
    match offset {
        -1 => Some(None),
        o if o < 0 => None,
        o => Some(Some(o)),
    }
}

/// `readv`/`preadv`/`preadv2` of a sysctl at `at` (None: its offset) with `flags` as a C
/// result (see `procfs::readv_at`); None: libc's, also for a negative `at`.
fn sysctl_readv(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, at: Option<i64>, flags: c_int) -> Option<ssize_t> {
    if at.is_some_and(|o| o < 0) || !procfs::any_open() || Inside::active() {
        return None;
    }
    let result = ffi_boundary!(procfs::readv_at(fd, iov, iovcnt, at, flags))?;
    Some(ffi_boundary!(errno ssize_t, result.map(|n| n as i64)))
}

/// `readv` of a sysctl or a queue descriptor, at `at` (None: the descriptor's offset) with
/// `flags`, as a C result; None: libc's.
///
/// # Safety
/// `iov` and its pieces may be any address (EFAULT).
unsafe fn served_readv(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, at: Option<i64>, flags: c_int) -> Option<ssize_t> {
    // SAFETY: per this function's contract.
    sysctl_readv(fd, iov, iovcnt, at, flags).or_else(|| unsafe { queue_readv(fd, iov, iovcnt, at, flags) })
}

/// `readv`/`preadv`/`preadv2` of a queue descriptor at `at` (None: its offset) with `flags`
/// as a C result (see `devmqueue::readv`); None: libc's, also for a negative `at`.
///
/// # Safety
/// `iov` and its pieces may be any address (EFAULT).
unsafe fn queue_readv(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, at: Option<i64>, flags: c_int) -> Option<ssize_t> {
    if at.is_some_and(|o| o < 0) || !dispatch::descriptors_exist() || Inside::active() {
        return None;
    }
    // SAFETY: the caller's vector, read and written only where accessible.
    let result = ffi_boundary!(unsafe { crate::devmqueue::readv(fd, iov, iovcnt, at.map(|o| o as u64), flags) })?;
    Some(ffi_boundary!(errno ssize_t, result.map(|n| n as i64)))
}

/// `ssize_t readv(int fd, const struct iovec *iov, int iovcnt)`: of a queue descriptor, its
/// status line piece by piece, as the kernel's queue file (see `devmqueue`); every other readv
/// goes to libc after one load.
///
/// # Safety
/// As readv(2) requires.
#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, iovcnt: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    unsafe { served_readv(fd, iov, iovcnt, None, 0).unwrap_or_else(|| real::readv(fd, iov, iovcnt)) }
}

/// `ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t offset)`: as [`readv`]
/// at `offset`.
///
/// # Safety
/// As preadv(2) requires.
#[no_mangle]
pub unsafe extern "C" fn preadv(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off_t) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    unsafe { served_readv(fd, iov, iovcnt, Some(offset), 0).unwrap_or_else(|| real::preadv(fd, iov, iovcnt, offset)) }
}

/// `ssize_t preadv64(...)`: `preadv` of programs built with 64-bit offsets.
///
/// # Safety
/// As for [`preadv`].
#[no_mangle]
pub unsafe extern "C" fn preadv64(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off64_t) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    unsafe { served_readv(fd, iov, iovcnt, Some(offset), 0).unwrap_or_else(|| real::preadv64(fd, iov, iovcnt, offset)) }
}

/// `ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)`: as
/// [`readv`] at `offset`, or at the descriptor's offset for -1; for a queue descriptor any
/// flag but RWF_HIPRI is EOPNOTSUPP, as for every file with only a `read` method.
///
/// # Safety
/// As preadv2(2) requires.
#[no_mangle]
pub unsafe extern "C" fn preadv2(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off_t, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    unsafe { v2_position(offset).and_then(|at| served_readv(fd, iov, iovcnt, at, flags)).unwrap_or_else(|| real::preadv2(fd, iov, iovcnt, offset, flags)) }
}

/// `ssize_t preadv64v2(...)`: `preadv2` of programs built with 64-bit offsets.
///
/// # Safety
/// As for [`preadv2`].
#[no_mangle]
pub unsafe extern "C" fn preadv64v2(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off64_t, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    unsafe { v2_position(offset).and_then(|at| served_readv(fd, iov, iovcnt, at, flags)).unwrap_or_else(|| real::preadv64v2(fd, iov, iovcnt, offset, flags)) }
}

/// A write to a sysctl descriptor, at its offset or at `at` (None: `fd` is not one).
fn sysctl_write(fd: c_int, buf: *const c_void, count: size_t, at: Option<i64>) -> Option<crate::errno::Result<i64>> {
    // SAFETY: the caller's buffer, read without trusting it (EFAULT when unreadable).
    unsafe { procfs::write_from_caller(fd, buf.cast(), count, at) }.map(|r| r.map(|n| n as i64))
}

/// `pwrite`/`pwrite64` to a sysctl descriptor: the C result (None: libc's call).
fn sysctl_pwrite(fd: c_int, buf: *const c_void, count: size_t, offset: i64) -> Option<ssize_t> {
    if !procfs::any_open() || Inside::active() {
        return None;
    }
    let result = ffi_boundary!(sysctl_write(fd, buf, count, Some(offset)))?;
    Some(ffi_boundary!(errno ssize_t, result))
}

/// `writev`/`pwritev`/`pwritev64` to a sysctl descriptor: the C result (None: libc's call).
fn sysctl_writev(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, at: Option<i64>, flags: c_int) -> Option<ssize_t> {
    if !procfs::any_open() || Inside::active() {
        return None;
    }
    // SAFETY: the caller's vector, read without trusting it (EFAULT when unreadable).
    let result = ffi_boundary!(unsafe { procfs::writev_from_caller(fd, iov, iovcnt, at, flags) })?;
    Some(ffi_boundary!(errno ssize_t, result.map(|n| n as i64)))
}

/// `ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)`: as [`write`] for a
/// sysctl, at `offset`, and for a queue descriptor of the backend's (refused as the kernel's
/// queue file refuses it); every other pwrite goes to libc after two loads.
///
/// # Safety
/// As pwrite(2) requires.
#[no_mangle]
pub unsafe extern "C" fn pwrite(fd: c_int, buf: *const c_void, count: size_t, offset: libc::off_t) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    sysctl_pwrite(fd, buf, count, offset).or_else(|| queue_write_at(fd, Some(offset))).unwrap_or_else(|| unsafe { real::pwrite(fd, buf, count, offset) })
}

/// `ssize_t pwrite64(...)`: `pwrite` of programs built with 64-bit offsets.
///
/// # Safety
/// As for [`pwrite`].
#[no_mangle]
pub unsafe extern "C" fn pwrite64(fd: c_int, buf: *const c_void, count: size_t, offset: libc::off64_t) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    sysctl_pwrite(fd, buf, count, offset).or_else(|| queue_write_at(fd, Some(offset))).unwrap_or_else(|| unsafe { real::pwrite64(fd, buf, count, offset) })
}

/// `writev` of a sysctl or a queue descriptor, at `at` (None: at the descriptor's offset), as
/// a C result; None: libc's.
fn served_writev(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, at: Option<i64>) -> Option<ssize_t> {
    sysctl_writev(fd, iov, iovcnt, at, 0).or_else(|| queue_write_at(fd, at))
}

/// `ssize_t writev(int fd, const struct iovec *iov, int iovcnt)`: to a sysctl, the pieces as
/// one write; to a queue descriptor of the backend's, refused as `write` is; every other
/// writev goes to libc after two loads.
///
/// # Safety
/// As writev(2) requires.
#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, iovcnt: c_int) -> ssize_t {
    if let Some(r) = served_writev(fd, iov, iovcnt, None) {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::writev(fd, iov, iovcnt) }
}

/// `ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)`: as [`writev`]
/// at `offset`.
///
/// # Safety
/// As pwritev(2) requires.
#[no_mangle]
pub unsafe extern "C" fn pwritev(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off_t) -> ssize_t {
    if let Some(r) = served_writev(fd, iov, iovcnt, Some(offset)) {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::pwritev(fd, iov, iovcnt, offset) }
}

/// `ssize_t pwritev64(...)`: `pwritev` of programs built with 64-bit offsets.
///
/// # Safety
/// As for [`pwritev`].
#[no_mangle]
pub unsafe extern "C" fn pwritev64(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off64_t) -> ssize_t {
    if let Some(r) = served_writev(fd, iov, iovcnt, Some(offset)) {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::pwritev64(fd, iov, iovcnt, offset) }
}

/// `pwritev2` of a sysctl (with the flags its file takes) or a queue descriptor, at `offset`
/// or at the descriptor's offset for -1; None: libc's.
fn served_pwritev2(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: i64, flags: c_int) -> Option<ssize_t> {
    let at = v2_position(offset)?;
    sysctl_writev(fd, iov, iovcnt, at, flags).or_else(|| queue_write_at(fd, at))
}

/// `ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)`:
/// as [`pwritev`], or as [`writev`] for offset -1.
///
/// # Safety
/// As pwritev2(2) requires.
#[no_mangle]
pub unsafe extern "C" fn pwritev2(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off_t, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    served_pwritev2(fd, iov, iovcnt, offset, flags).unwrap_or_else(|| unsafe { real::pwritev2(fd, iov, iovcnt, offset, flags) })
}

/// `ssize_t pwritev64v2(...)`: `pwritev2` of programs built with 64-bit offsets.
///
/// # Safety
/// As for [`pwritev2`].
#[no_mangle]
pub unsafe extern "C" fn pwritev64v2(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off64_t, flags: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    served_pwritev2(fd, iov, iovcnt, offset, flags).unwrap_or_else(|| unsafe { real::pwritev64v2(fd, iov, iovcnt, offset, flags) })
}

/// A successful `chdir`/`fchdir`: relative paths may now name files under `/dev/mqueue` (see
/// `devmqueue`); `result` and errno are the real call's.
fn working_directory_changed(result: c_int) -> c_int {
    if result == 0 && !Inside::active() {
        let saved = crate::errno::current();
        ffi_boundary!(crate::devmqueue::working_directory_changed());
        crate::errno::set(saved);
    }
    result
}

/// `int chdir(const char *path)`.
///
/// # Safety
/// As chdir(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn chdir(path: *const c_char) -> c_int {
    // SAFETY: the caller's argument, passed on.
    working_directory_changed(unsafe { real::chdir(path) })
}

/// `int fchdir(int fd)`.
///
/// # Safety
/// None: no pointer arguments.
#[no_mangle]
pub unsafe extern "C" fn fchdir(fd: c_int) -> c_int {
    // SAFETY: the caller's argument, passed on.
    working_directory_changed(unsafe { real::fchdir(fd) })
}

/// `int close(int fd)`.
///
/// # Safety
/// `fd` is not a descriptor that other code owns and still uses, as for close(2) anywhere.
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if straight_to_libc() {
        // SAFETY: the caller's descriptor, passed on.
        return unsafe { real::close(fd) };
    }
    ffi_boundary!(errno c_int, {
        procfs::closing(fd);
        match dispatch::close_if_queue_descriptor(fd) {
            Some(r) => r.map(i64::from),
            // SAFETY: the caller's descriptor, passed on.
            None => crate::errno::check(unsafe { real::close(fd) }).map(i64::from),
        }
    })
}

/// `int dup(int oldfd)`: a duplicate of an emulated descriptor is one too.
///
/// # Safety
/// None: no pointer arguments, and a bad descriptor is EBADF.
#[no_mangle]
pub unsafe extern "C" fn dup(oldfd: c_int) -> c_int {
    if straight_to_libc() {
        // SAFETY: the caller's descriptor, passed on.
        return unsafe { real::dup(oldfd) };
    }
    ffi_boundary!(errno c_int, {
        // SAFETY: the caller's descriptor, passed on.
        let fd = crate::errno::check(unsafe { real::dup(oldfd) })?;
        dispatch::note_duplicate(oldfd, fd);
        Ok(i64::from(fd))
    })
}

/// `int fcntl(int fd, int cmd, ...)` and glibc's `fcntl64`: `F_DUPFD`/`F_DUPFD_CLOEXEC` of an
/// emulated descriptor make an emulated descriptor. Variadic in C, defined with the optional
/// argument as a fixed `long` for the reason given at `mq_open` (it is an int or a pointer, in
/// the third argument register either way); it is passed on untouched, and its result and errno
/// are libc's.
///
/// # Safety
/// `arg` is what `cmd` requires (a valid pointer for the commands that take one), as
/// fcntl(2) requires; for `F_DUPFD`-like commands it is an int.
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: the caller's arguments, passed on (and forwarded as-is by the fcntl64 alias).
    let ret = unsafe { real::fcntl(fd, cmd, arg) };
    if ret >= 0 && (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC) && !straight_to_libc() {
        let saved = crate::errno::current();
        ffi_boundary!(dispatch::note_duplicate(fd, ret));
        crate::errno::set(saved);
    }
    ret
}

/// glibc's `fcntl64` (what programs built with 64-bit file offsets call): the same as `fcntl`.
///
/// # Safety
/// As for [`fcntl`].
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: as for fcntl.
    unsafe { fcntl(fd, cmd, arg) }
}

/// `int dup2(int oldfd, int newfd)`.
///
/// # Safety
/// `newfd` is not a descriptor that other code owns and still uses (it is closed), as for
/// dup2(2) anywhere.
#[no_mangle]
pub unsafe extern "C" fn dup2(oldfd: c_int, newfd: c_int) -> c_int {
    if straight_to_libc() {
        // SAFETY: the caller's descriptors, passed on.
        return unsafe { real::dup2(oldfd, newfd) };
    }
    // SAFETY: the caller's descriptors, passed on.
    ffi_boundary!(errno c_int, duplicate(oldfd, newfd, |o, n| unsafe { real::dup2(o, n) }))
}

/// `int dup3(int oldfd, int newfd, int flags)`.
///
/// # Safety
/// `newfd` is not a descriptor that other code owns and still uses (it is closed), as for
/// dup3(2) anywhere.
#[no_mangle]
pub unsafe extern "C" fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> c_int {
    if straight_to_libc() {
        // SAFETY: the caller's descriptors, passed on.
        return unsafe { real::dup3(oldfd, newfd, flags) };
    }
    // SAFETY: the caller's descriptors, passed on.
    ffi_boundary!(errno c_int, duplicate(oldfd, newfd, |o, n| unsafe { real::dup3(o, n, flags) }))
}

/// Runs a real dup2/dup3; a queue descriptor `newfd` it replaces is closed as one first (unless
/// it is `oldfd` itself), and a queue descriptor `oldfd` makes `newfd` one too.
fn duplicate(oldfd: c_int, newfd: c_int, real_dup: impl Fn(c_int, c_int) -> c_int) -> crate::errno::Result<i64> {
    if oldfd != newfd && procfs::any_open() {
        // SAFETY: F_GETFD only inspects the descriptor.
        if unsafe { real::fcntl(oldfd, libc::F_GETFD, 0) } >= 0 {
            procfs::closing(newfd);
        }
    }
    if oldfd != newfd && (dispatch::is_queue_descriptor(oldfd) || dispatch::is_queue_descriptor(newfd)) {
        // Only when the duplicate will succeed: oldfd must be open.
        // SAFETY: F_GETFD only inspects the descriptor.
        if unsafe { real::fcntl(oldfd, libc::F_GETFD, 0) } >= 0 {
            if let Some(Err(e)) = dispatch::close_if_queue_descriptor(newfd) {
                return Err(e);
            }
        }
    }
    let fd = crate::errno::check(real_dup(oldfd, newfd))?;
    dispatch::note_duplicate(oldfd, fd);
    Ok(fd.into())
}

// libc declares fcntl variadic; ours takes the optional argument as a fixed long (see above).
const _: unsafe extern "C" fn(c_int, c_int, ...) -> c_int = libc::fcntl;
const _: unsafe extern "C" fn(c_int, c_int, c_long) -> c_int = fcntl;

same_signature_as_libc! {
    read: unsafe extern "C" fn(c_int, *mut c_void, size_t) -> ssize_t;
    pread: unsafe extern "C" fn(c_int, *mut c_void, size_t, libc::off_t) -> ssize_t;
    pread64: unsafe extern "C" fn(c_int, *mut c_void, size_t, libc::off64_t) -> ssize_t;
    dup: unsafe extern "C" fn(c_int) -> c_int;
    chdir: unsafe extern "C" fn(*const c_char) -> c_int;
    fchdir: unsafe extern "C" fn(c_int) -> c_int;
    close: unsafe extern "C" fn(c_int) -> c_int;
    write: unsafe extern "C" fn(c_int, *const c_void, size_t) -> ssize_t;
    pwrite: unsafe extern "C" fn(c_int, *const c_void, size_t, libc::off_t) -> ssize_t;
    pwrite64: unsafe extern "C" fn(c_int, *const c_void, size_t, libc::off64_t) -> ssize_t;
    writev: unsafe extern "C" fn(c_int, *const libc::iovec, c_int) -> ssize_t;
    pwritev: unsafe extern "C" fn(c_int, *const libc::iovec, c_int, libc::off_t) -> ssize_t;
    pwritev64: unsafe extern "C" fn(c_int, *const libc::iovec, c_int, libc::off64_t) -> ssize_t;
    pwritev2: unsafe extern "C" fn(c_int, *const libc::iovec, c_int, libc::off_t, c_int) -> ssize_t;
    pwritev64v2: unsafe extern "C" fn(c_int, *const libc::iovec, c_int, libc::off64_t, c_int) -> ssize_t;
    readv: unsafe extern "C" fn(c_int, *const libc::iovec, c_int) -> ssize_t;
    preadv: unsafe extern "C" fn(c_int, *const libc::iovec, c_int, libc::off_t) -> ssize_t;
    preadv64: unsafe extern "C" fn(c_int, *const libc::iovec, c_int, libc::off64_t) -> ssize_t;
    preadv2: unsafe extern "C" fn(c_int, *const libc::iovec, c_int, libc::off_t, c_int) -> ssize_t;
    preadv64v2: unsafe extern "C" fn(c_int, *const libc::iovec, c_int, libc::off64_t, c_int) -> ssize_t;
    lseek: unsafe extern "C" fn(c_int, libc::off_t, c_int) -> libc::off_t;
    lseek64: unsafe extern "C" fn(c_int, libc::off64_t, c_int) -> libc::off64_t;
    dup2: unsafe extern "C" fn(c_int, c_int) -> c_int;
    dup3: unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
}
