//! `<sys/stat.h>` and the path calls of `<unistd.h>`: `stat`, `lstat`, `fstatat`, their `64`
//! twins, `statx`, `access`, `faccessat`, `unlink`, `unlinkat`, `remove`, `chmod`, `chown` and their variants,
//! `getxattr` and `lgetxattr` of `/dev/mqueue/NAME` under a
//! backend that serves `/dev/mqueue` (the emulation: see `devmqueue`), with the kernel's mode,
//! owner, size and errnos for its queue NAME. Every other path, and every path when mqshim
//! itself makes the call, goes straight to libc after the prefix comparison of
//! `stdio::served_path` (a relative one after one load, until the program goes near
//! `/dev/mqueue`: see `devmqueue`). `fstat`
//! and `fstat64` of a queue descriptor show the queue's file; every other descriptor goes to
//! libc after one load.

use std::borrow::Cow;
use std::os::raw::{c_char, c_int, c_uint, c_void};

use libc::size_t;

use crate::real;
use crate::reentry::Inside;
use crate::stdio::{served_path_at, ServedPath};

// `stat64` is `stat` on the 64-bit targets mqshim builds for: one conversion serves both.
const _: () = assert!(std::mem::size_of::<libc::stat>() == std::mem::size_of::<libc::stat64>());

/// The path under `/dev/mqueue/` `path` (relative to `dir`: AT_FDCWD for the working
/// directory) names, when the program (not mqshim) asks about one.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
unsafe fn dev_mqueue_path<'a>(dir: c_int, path: *const c_char) -> Option<Cow<'a, [u8]>> {
    if Inside::active() {
        return None;
    }
    // SAFETY: per this function's contract.
    match unsafe { served_path_at(dir, path) }? {
        ServedPath::DevMqueue(p) => Some(p),
        ServedPath::Proc(_) => None,
    }
}

/// The backend's `stat` of `path` (relative to `dir`) into `buf` as a C result, or None to let libc answer.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `buf` may be any address (EFAULT).
unsafe fn served_stat(dir: c_int, path: *const c_char, buf: *mut libc::stat) -> Option<c_int> {
    // SAFETY: per this function's contract.
    let p = unsafe { dev_mqueue_path(dir, path) }?;
    // SAFETY: `buf` is the caller's, written only when writable.
    let result = ffi_boundary!(unsafe { crate::devmqueue::stat(&p, buf) })?;
    Some(ffi_boundary!(errno c_int, result.map(|()| 0)))
}

/// `int stat(const char *path, struct stat *buf)`.
///
/// # Safety
/// As stat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn stat(path: *const c_char, buf: *mut libc::stat) -> c_int {
    // SAFETY: the caller's arguments, per this function's contract.
    if let Some(r) = unsafe { served_stat(libc::AT_FDCWD, path, buf) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::stat(path, buf) }
}

/// `int stat64(const char *path, struct stat64 *buf)`.
///
/// # Safety
/// As stat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn stat64(path: *const c_char, buf: *mut libc::stat64) -> c_int {
    // SAFETY: the caller's arguments; stat64 is stat's layout (asserted above).
    if let Some(r) = unsafe { served_stat(libc::AT_FDCWD, path, buf.cast()) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::stat64(path, buf) }
}

/// `int lstat(const char *path, struct stat *buf)`: a queue's file is no link, as for `stat`.
///
/// # Safety
/// As lstat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lstat(path: *const c_char, buf: *mut libc::stat) -> c_int {
    // SAFETY: the caller's arguments, per this function's contract.
    if let Some(r) = unsafe { served_stat(libc::AT_FDCWD, path, buf) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::lstat(path, buf) }
}

/// `int lstat64(const char *path, struct stat64 *buf)`.
///
/// # Safety
/// As lstat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lstat64(path: *const c_char, buf: *mut libc::stat64) -> c_int {
    // SAFETY: the caller's arguments; stat64 is stat's layout (asserted above).
    if let Some(r) = unsafe { served_stat(libc::AT_FDCWD, path, buf.cast()) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::lstat64(path, buf) }
}

/// The backend's `fstat` of its queue descriptor `fd` as a C result, or None to let libc
/// answer (one load when the backend made no queue descriptor).
///
/// # Safety
/// `buf` may be any address (EFAULT).
unsafe fn served_fstat(fd: c_int, buf: *mut libc::stat) -> Option<c_int> {
    if Inside::active() || !crate::dispatch::descriptors_exist() {
        return None;
    }
    // SAFETY: `buf` is the caller's, written only when writable.
    let result = ffi_boundary!(unsafe { crate::devmqueue::fstat(fd, buf) })?;
    Some(ffi_boundary!(errno c_int, result.map(|()| 0)))
}

/// `int fstat(int fd, struct stat *buf)`: a queue descriptor (from `mq_open` or from `open` of
/// `/dev/mqueue/NAME`) is the queue's regular file, as on the kernel.
///
/// # Safety
/// As fstat(2) requires.
#[no_mangle]
pub unsafe extern "C" fn fstat(fd: c_int, buf: *mut libc::stat) -> c_int {
    // SAFETY: the caller's arguments, per this function's contract.
    if let Some(r) = unsafe { served_fstat(fd, buf) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fstat(fd, buf) }
}

/// `int fstat64(int fd, struct stat64 *buf)`.
///
/// # Safety
/// As fstat(2) requires.
#[no_mangle]
pub unsafe extern "C" fn fstat64(fd: c_int, buf: *mut libc::stat64) -> c_int {
    // SAFETY: the caller's arguments; stat64 is stat's layout (asserted above).
    if let Some(r) = unsafe { served_fstat(fd, buf.cast()) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fstat64(fd, buf) }
}

/// Whether `path` (relative to `dir`) with `flags` names the descriptor `dir` itself
/// (`AT_EMPTY_PATH` with an empty or NULL path) while the backend has queue descriptors that
/// `dir` may be; an unreadable path is left to libc (EFAULT).
///
/// # Safety
/// `path` is any address the caller passed.
unsafe fn names_the_descriptor(dir: c_int, path: *const c_char, flags: c_int) -> bool {
    if flags & libc::AT_EMPTY_PATH == 0 || dir < 0 || Inside::active() || !crate::dispatch::descriptors_exist() {
        return false;
    }
    // SAFETY: a checked read of the caller's first byte (None when unreadable).
    path.is_null() || unsafe { crate::os::usermem::checked_read(path) } == Some(0)
}

/// Whether `fstatat`'s flags are ones the kernel accepts (else libc gives its EINVAL).
fn fstatat_flags_valid(flags: c_int) -> bool {
    flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT | libc::AT_EMPTY_PATH) == 0
}

/// `int fstatat(int dir, const char *path, struct stat *buf, int flags)`.
///
/// # Safety
/// As fstatat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fstatat(dir: c_int, path: *const c_char, buf: *mut libc::stat, flags: c_int) -> c_int {
    if fstatat_flags_valid(flags) {
        // SAFETY: the caller's arguments, per this function's contract.
        if unsafe { names_the_descriptor(dir, path, flags) } {
            // SAFETY: as above.
            if let Some(r) = unsafe { served_fstat(dir, buf) } {
                return r;
            }
        }
        // SAFETY: the caller's arguments, per this function's contract.
        if let Some(r) = unsafe { served_stat(dir, path, buf) } {
            return r;
        }
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fstatat(dir, path, buf, flags) }
}

/// `int fstatat64(int dir, const char *path, struct stat64 *buf, int flags)` (Rust's standard
/// library's `metadata` falls back to it).
///
/// # Safety
/// As fstatat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fstatat64(dir: c_int, path: *const c_char, buf: *mut libc::stat64, flags: c_int) -> c_int {
    if fstatat_flags_valid(flags) {
        // SAFETY: the caller's arguments, per this function's contract.
        if unsafe { names_the_descriptor(dir, path, flags) } {
            // SAFETY: as above; stat64 is stat's layout (asserted above).
            if let Some(r) = unsafe { served_fstat(dir, buf.cast()) } {
                return r;
            }
        }
        // SAFETY: the caller's arguments; stat64 is stat's layout (asserted above).
        if let Some(r) = unsafe { served_stat(dir, path, buf.cast()) } {
            return r;
        }
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fstatat64(dir, path, buf, flags) }
}

/// `int statx(int dir, const char *path, int flags, unsigned mask, struct statx *buf)`
/// (Rust's standard library's `metadata` calls it first): every basic field is given, whatever
/// `mask` asks, as the kernel may.
///
/// # Safety
/// As statx(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn statx(dir: c_int, path: *const c_char, flags: c_int, mask: c_uint, buf: *mut libc::statx) -> c_int {
    // SAFETY: the caller's arguments, per this function's contract.
    if unsafe { names_the_descriptor(dir, path, flags) } {
        // SAFETY: `buf` is the caller's, written only when writable.
        if let Some(result) = ffi_boundary!(unsafe { crate::devmqueue::fstatx(dir, flags, buf) }) {
            return ffi_boundary!(errno c_int, result.map(|()| 0));
        }
    }
    // SAFETY: the caller's path, per this function's contract.
    if let Some(p) = unsafe { dev_mqueue_path(dir, path) } {
        // SAFETY: `buf` is the caller's, written only when writable.
        if let Some(result) = ffi_boundary!(unsafe { crate::devmqueue::statx(&p, flags, buf) }) {
            return ffi_boundary!(errno c_int, result.map(|()| 0));
        }
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::statx(dir, path, flags, mask, buf) }
}

/// The backend's answer to `faccessat(…, path, amode, flags)` as a C result, or None to let
/// libc answer.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
unsafe fn served_access(dir: c_int, path: *const c_char, amode: c_int, flags: c_int) -> Option<c_int> {
    // SAFETY: per this function's contract.
    let p = unsafe { dev_mqueue_path(dir, path) }?;
    let result = ffi_boundary!(crate::devmqueue::access(&p, amode, flags))?;
    Some(ffi_boundary!(errno c_int, result.map(|()| 0)))
}

/// `int access(const char *path, int amode)`: checked as the real user, as the kernel does.
///
/// # Safety
/// As access(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn access(path: *const c_char, amode: c_int) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_access(libc::AT_FDCWD, path, amode, 0) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::access(path, amode) }
}

/// `int faccessat(int dir, const char *path, int amode, int flags)` (`AT_EACCESS`: as the
/// effective user; glibc makes it the `faccessat2` system call).
///
/// # Safety
/// As faccessat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn faccessat(dir: c_int, path: *const c_char, amode: c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_access(dir, path, amode, flags) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::faccessat(dir, path, amode, flags) }
}

/// The backend's answer to `unlinkat(…, path, flags)` as a C result, or None to let libc
/// answer.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
unsafe fn served_unlink(dir: c_int, path: *const c_char, flags: c_int) -> Option<c_int> {
    // SAFETY: per this function's contract.
    let p = unsafe { dev_mqueue_path(dir, path) }?;
    let result = ffi_boundary!(crate::devmqueue::unlink(&p, flags))?;
    Some(ffi_boundary!(errno c_int, result.map(|()| 0)))
}

/// `int unlink(const char *path)`: of `/dev/mqueue/NAME`, `mq_unlink` of NAME.
///
/// # Safety
/// As unlink(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn unlink(path: *const c_char) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_unlink(libc::AT_FDCWD, path, 0) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::unlink(path) }
}

/// `int remove(const char *path)` (`<stdio.h>`; glibc's calls its internal `unlink`): of a
/// queue's file, as [`unlink`] — never a directory, so glibc's fallback to `rmdir` never
/// applies.
///
/// # Safety
/// As remove(3) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn remove(path: *const c_char) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_unlink(libc::AT_FDCWD, path, 0) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::remove(path) }
}

/// `int unlinkat(int dir, const char *path, int flags)` (`rm` calls it).
///
/// # Safety
/// As unlinkat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn unlinkat(dir: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_unlink(dir, path, flags) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::unlinkat(dir, path, flags) }
}

/// The backend's answer to a `chmod`/`chown` of `path` (`served`: the core's function for it)
/// as a C result, or None to let libc answer.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
unsafe fn served_change(dir: c_int, path: *const c_char, served: impl FnOnce(&[u8]) -> Option<crate::errno::Result<()>>) -> Option<c_int> {
    // SAFETY: per this function's contract.
    let p = unsafe { dev_mqueue_path(dir, path) }?;
    let result = ffi_boundary!(served(&p))?;
    Some(ffi_boundary!(errno c_int, result.map(|()| 0)))
}

/// `int chmod(const char *path, mode_t mode)`: of `/dev/mqueue/NAME`, the queue's mode.
///
/// # Safety
/// As chmod(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn chmod(path: *const c_char, mode: libc::mode_t) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_change(libc::AT_FDCWD, path, |p| crate::devmqueue::chmod(p, mode, 0)) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::chmod(path, mode) }
}

/// `int fchmodat(int dir, const char *path, mode_t mode, int flags)`.
///
/// # Safety
/// As fchmodat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fchmodat(dir: c_int, path: *const c_char, mode: libc::mode_t, flags: c_int) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_change(dir, path, |p| crate::devmqueue::chmod(p, mode, flags)) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fchmodat(dir, path, mode, flags) }
}

/// `int chown(const char *path, uid_t uid, gid_t gid)`: of `/dev/mqueue/NAME`, the queue's
/// owner and group.
///
/// # Safety
/// As chown(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn chown(path: *const c_char, uid: libc::uid_t, gid: libc::gid_t) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_change(libc::AT_FDCWD, path, |p| crate::devmqueue::chown(p, uid, gid, 0)) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::chown(path, uid, gid) }
}

/// `int lchown(const char *path, uid_t uid, gid_t gid)`: a queue's file is no link.
///
/// # Safety
/// As lchown(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lchown(path: *const c_char, uid: libc::uid_t, gid: libc::gid_t) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_change(libc::AT_FDCWD, path, |p| crate::devmqueue::chown(p, uid, gid, libc::AT_SYMLINK_NOFOLLOW)) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::lchown(path, uid, gid) }
}

/// `int fchownat(int dir, const char *path, uid_t uid, gid_t gid, int flags)`.
///
/// # Safety
/// As fchownat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fchownat(dir: c_int, path: *const c_char, uid: libc::uid_t, gid: libc::gid_t, flags: c_int) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_change(dir, path, |p| crate::devmqueue::chown(p, uid, gid, flags)) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fchownat(dir, path, uid, gid, flags) }
}

/// The backend's answer to `fchmod`/`fchown` of `fd` (`served`: the core's function for it)
/// as a C result, or None to let libc answer (one load when the backend made no queue
/// descriptor).
fn served_descriptor_change(served: impl FnOnce() -> Option<crate::errno::Result<()>>) -> Option<c_int> {
    if !crate::dispatch::descriptors_exist() || Inside::active() {
        return None;
    }
    let result = ffi_boundary!(served())?;
    Some(ffi_boundary!(errno c_int, result.map(|()| 0)))
}

/// `int fchmod(int fd, mode_t mode)`: of a queue descriptor, its queue's mode.
///
/// # Safety
/// None beyond fchmod(2)'s: no pointer arguments.
#[no_mangle]
pub unsafe extern "C" fn fchmod(fd: c_int, mode: libc::mode_t) -> c_int {
    if let Some(r) = served_descriptor_change(|| crate::devmqueue::fchmod(fd, mode)) {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fchmod(fd, mode) }
}

/// `int fchown(int fd, uid_t uid, gid_t gid)`: of a queue descriptor, its queue's owner and
/// group.
///
/// # Safety
/// None beyond fchown(2)'s: no pointer arguments.
#[no_mangle]
pub unsafe extern "C" fn fchown(fd: c_int, uid: libc::uid_t, gid: libc::gid_t) -> c_int {
    if let Some(r) = served_descriptor_change(|| crate::devmqueue::fchown(fd, uid, gid)) {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fchown(fd, uid, gid) }
}

/// The backend's answer to `getxattr`/`lgetxattr` of `path` as a C result, or None to let
/// libc answer.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
unsafe fn served_getxattr(path: *const c_char) -> Option<libc::ssize_t> {
    // SAFETY: per this function's contract.
    let p = unsafe { dev_mqueue_path(libc::AT_FDCWD, path) }?;
    let result = ffi_boundary!(crate::devmqueue::getxattr(&p))?;
    Some(ffi_boundary!(errno libc::ssize_t, result.map(|()| 0)))
}

/// `ssize_t getxattr(const char *path, const char *name, void *value, size_t size)`: a queue's
/// file has no extended attributes (`ls -l` asks for its ACL).
///
/// # Safety
/// As getxattr(2) requires.
#[no_mangle]
pub unsafe extern "C" fn getxattr(path: *const c_char, name: *const c_char, value: *mut c_void, size: size_t) -> libc::ssize_t {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_getxattr(path) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::getxattr(path, name, value, size) }
}

/// `ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)` (`ls -l`
/// asks for its security label).
///
/// # Safety
/// As lgetxattr(2) requires.
#[no_mangle]
pub unsafe extern "C" fn lgetxattr(path: *const c_char, name: *const c_char, value: *mut c_void, size: size_t) -> libc::ssize_t {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(r) = unsafe { served_getxattr(path) } {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::lgetxattr(path, name, value, size) }
}

same_signature_as_libc! {
    fchmod: unsafe extern "C" fn(c_int, libc::mode_t) -> c_int;
    remove: unsafe extern "C" fn(*const c_char) -> c_int;
    fchown: unsafe extern "C" fn(c_int, libc::uid_t, libc::gid_t) -> c_int;
    getxattr: unsafe extern "C" fn(*const c_char, *const c_char, *mut c_void, size_t) -> libc::ssize_t;
    lgetxattr: unsafe extern "C" fn(*const c_char, *const c_char, *mut c_void, size_t) -> libc::ssize_t;
    chmod: unsafe extern "C" fn(*const c_char, libc::mode_t) -> c_int;
    fchmodat: unsafe extern "C" fn(c_int, *const c_char, libc::mode_t, c_int) -> c_int;
    chown: unsafe extern "C" fn(*const c_char, libc::uid_t, libc::gid_t) -> c_int;
    lchown: unsafe extern "C" fn(*const c_char, libc::uid_t, libc::gid_t) -> c_int;
    fchownat: unsafe extern "C" fn(c_int, *const c_char, libc::uid_t, libc::gid_t, c_int) -> c_int;
    unlink: unsafe extern "C" fn(*const c_char) -> c_int;
    unlinkat: unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
    stat: unsafe extern "C" fn(*const c_char, *mut libc::stat) -> c_int;
    stat64: unsafe extern "C" fn(*const c_char, *mut libc::stat64) -> c_int;
    lstat: unsafe extern "C" fn(*const c_char, *mut libc::stat) -> c_int;
    lstat64: unsafe extern "C" fn(*const c_char, *mut libc::stat64) -> c_int;
    fstat: unsafe extern "C" fn(c_int, *mut libc::stat) -> c_int;
    fstat64: unsafe extern "C" fn(c_int, *mut libc::stat64) -> c_int;
    fstatat: unsafe extern "C" fn(c_int, *const c_char, *mut libc::stat, c_int) -> c_int;
    fstatat64: unsafe extern "C" fn(c_int, *const c_char, *mut libc::stat64, c_int) -> c_int;
    statx: unsafe extern "C" fn(c_int, *const c_char, c_int, c_uint, *mut libc::statx) -> c_int;
    access: unsafe extern "C" fn(*const c_char, c_int) -> c_int;
    faccessat: unsafe extern "C" fn(c_int, *const c_char, c_int, c_int) -> c_int;
}
