//! `<fcntl.h>`: `open` (and `__open_2`, what `_FORTIFY_SOURCE` makes of a two-argument `open`)
//! of the `/proc` files the backend answers for, read-only: util-linux `ipcs -l` and `lsipc`
//! read `/proc/sys/kernel/msg*` this way, `cat` reads `/proc/sys/fs/mqueue/*` so. The same
//! files and contents as `fopen` (see `stdio`); every other open goes straight to libc after
//! one prefix comparison. `openat`, `open64` and their fortified forms are not interposed.

use std::os::raw::{c_char, c_int, c_uint};

use crate::real;
use crate::stdio::{maybe_proc_file, served_proc_file};

/// The backend's view of `path` when `flags` open it read-only, else None.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
unsafe fn served_open(path: *const c_char, flags: c_int) -> Option<c_int> {
    if flags & libc::O_ACCMODE != libc::O_RDONLY {
        return None;
    }
    // SAFETY: per this function's contract.
    let p = unsafe { maybe_proc_file(path) }?;
    ffi_boundary!(served_proc_file(p, flags & libc::O_CLOEXEC != 0))
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
    if let Some(fd) = unsafe { served_open(path, flags) } {
        return fd;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::open(path, flags, mode) }
}

/// `int __open_2(const char *path, int flags)`: glibc's checked two-argument `open`.
///
/// # Safety
/// As open(2) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if let Some(fd) = unsafe { served_open(path, flags) } {
        return fd;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::__open_2(path, flags) }
}
