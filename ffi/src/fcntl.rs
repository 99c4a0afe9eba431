//! `<fcntl.h>`: `open` and its variants (`open64`, `openat`, `openat64`, and the fortified
//! `__open_2`, `__open64_2`, `__openat_2`) of the `/proc` files the backend answers for.
//! Read-only, they get the backend's view (util-linux `ipcs -l` and `lsipc` read
//! `/proc/sys/kernel/msg*` this way, `cat` reads `/proc/sys/fs/mqueue/*` so; the same contents
//! as `fopen`, see `stdio`); for writing, under the emulation, they get a descriptor whose writes
//! set the namespace's sysctls (see `procfs`). Under a backend that serves `/dev/mqueue`,
//! `/dev/mqueue/NAME` opens the queue NAME (see `devmqueue`). Every other open goes straight to
//! libc after one prefix comparison.

use std::os::raw::{c_char, c_int, c_uint};

use crate::real;
use crate::stdio::{served_path_at, served_proc_file, ServedPath};

/// The backend's descriptor for `path` (relative to `dir`) opened with `flags` (and `mode` with O_CREAT): a `/proc`
/// file or a `/dev/mqueue` queue it answers for, the errno of that open as a C result, or None
/// to let libc open it.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
unsafe fn served_open(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> Option<c_int> {
    // SAFETY: per this function's contract.
    let p = match unsafe { served_path_at(dir, path) }? {
        ServedPath::Proc(p) => p,
        ServedPath::DevMqueue(p) => {
            if crate::reentry::Inside::active() {
                return None;
            }
            let opened = ffi_boundary!(crate::devmqueue::open(&p, flags, mode))?;
            return Some(ffi_boundary!(errno c_int, opened.map(i64::from)));
        }
    };
    let cloexec = flags & libc::O_CLOEXEC != 0;
    if flags & libc::O_ACCMODE == libc::O_RDONLY {
        let fd = ffi_boundary!(served_proc_file(p, cloexec))?;
        ffi_boundary!(crate::procfs::opened_for_reading(fd, p));
        return Some(fd);
    }
    let opened = ffi_boundary!(crate::procfs::open_for_write(p, cloexec, flags & libc::O_ACCMODE == libc::O_RDWR))?;
    Some(ffi_boundary!(errno c_int, opened.map(i64::from)))
}

/// `int open(const char *path, int flags, ... /* mode_t mode */)`.
///
/// C's variadic `open` is defined with the mode as a fixed third argument (Rust cannot define a
/// variadic function): on x86_64 and aarch64 Linux a variadic integer argument is passed where
/// a fixed one is, and when the caller passed none the value read is unused (it matters only
/// with O_CREAT or O_TMPFILE, when the caller must pass it).
///
/// # Safety
/// As open(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(fd) = unsafe { served_open(libc::AT_FDCWD, path, flags, mode) } {
        return fd;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::open(path, flags, mode) }
}

/// `int open64(const char *path, int flags, ...)`: `open` of programs built with 64-bit offsets
/// (dash, Python); the mode as for [`open`].
///
/// # Safety
/// As open(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(fd) = unsafe { served_open(libc::AT_FDCWD, path, flags, mode) } {
        return fd;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::open64(path, flags, mode) }
}

/// `int openat(int dir, const char *path, int flags, ...)`: relative to `dir`, a queue's file
/// when `dir` is a descriptor of `/dev/mqueue` (`/proc` files are served by absolute path
/// only); the mode as for [`open`].
///
/// # Safety
/// As openat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn openat(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(fd) = unsafe { served_open(dir, path, flags, mode) } {
        return fd;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::openat_named(b"openat\0", dir, path, flags, mode) }
}

/// `int openat64(int dir, const char *path, int flags, ...)`: as [`openat`].
///
/// # Safety
/// As openat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn openat64(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(fd) = unsafe { served_open(dir, path, flags, mode) } {
        return fd;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::openat_named(b"openat64\0", dir, path, flags, mode) }
}

/// `int __open_2(const char *path, int flags)`: glibc's checked two-argument `open`.
///
/// # Safety
/// As open(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(fd) = unsafe { served_open(libc::AT_FDCWD, path, flags, 0) } {
        return fd;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::__open_2(path, flags) }
}

/// `int __open64_2(const char *path, int flags)`: the checked `open64` (Python calls it).
///
/// # Safety
/// As open(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(fd) = unsafe { served_open(libc::AT_FDCWD, path, flags, 0) } {
        return fd;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::__open64_2(path, flags) }
}

/// `int __openat_2(int dir, const char *path, int flags)`: the checked `openat` (procps'
/// `sysctl` calls it).
///
/// # Safety
/// As openat(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn __openat_2(dir: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(fd) = unsafe { served_open(dir, path, flags, 0) } {
        return fd;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::__openat_2(dir, path, flags) }
}
