//! `<stdio.h>`: `fopen` of the `/proc` files the backend answers for (`dispatch::proc_file`):
//! `/proc/sysvipc/msg`, the file `ipcs -q` (util-linux) and other tools read to list System V
//! queues, and the limit files `/proc/sys/kernel/msg*` and `/proc/sys/fs/mqueue/*`. Under the
//! emulation they show the emulated namespace's queues and the limits the emulation enforces,
//! in the kernel's format, so an unchanged `ipcs` run by a program under mqshim (the notes'
//! `system("ipcs -q")`) sees the same queues and limits the program does. Every other path, and
//! every path under the kernel backend, goes straight to libc after one prefix comparison.
//! (`open` of the same files is in `fcntl`.)

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

use crate::real;

/// The prefix of every path the backend may answer for (`/proc/sysvipc/…`, `/proc/sys/…`).
const PROC_SYS: &[u8] = b"/proc/sys";

/// The path, when it may be one the backend answers for (the cheap test every open makes).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
pub(crate) unsafe fn maybe_proc_file<'a>(path: *const c_char) -> Option<&'a [u8]> {
    if path.is_null() {
        return None;
    }
    // SAFETY: `path` is a NUL-terminated string; strncmp stops at its NUL or the first difference.
    if unsafe { libc::strncmp(path, PROC_SYS.as_ptr().cast(), PROC_SYS.len()) } != 0 {
        return None;
    }
    // SAFETY: as above.
    Some(unsafe { CStr::from_ptr(path) }.to_bytes())
}

/// What the backend says the `/proc` file `path` holds, as a private read-only descriptor at
/// offset 0 (close-on-exec when asked); None to let libc open the file.
pub(crate) fn served_proc_file(path: &[u8], cloexec: bool) -> Option<c_int> {
    let content = crate::dispatch::proc_file(path)?;
    let flags = if cloexec { libc::MFD_CLOEXEC } else { 0 };
    // SAFETY: a private anonymous file, written and rewound; closed again if that fails.
    unsafe {
        let fd = libc::memfd_create(c"mqshim-proc".as_ptr(), flags);
        if fd < 0 {
            return None;
        }
        let written = libc::write(fd, content.as_ptr().cast(), content.len());
        if written != content.len() as isize || libc::lseek(fd, 0, libc::SEEK_SET) != 0 {
            real::close(fd);
            return None;
        }
        Some(fd)
    }
}

/// The backend's view of `path` as a read-only stream, or None to let libc open the file.
fn served_proc_stream(path: &[u8]) -> Option<*mut libc::FILE> {
    let fd = served_proc_file(path, true)?;
    // SAFETY: `fd` is ours, open; fdopen owns it from here when it succeeds.
    let file = unsafe { libc::fdopen(fd, c"r".as_ptr()) };
    if file.is_null() {
        // SAFETY: `fd` is still ours.
        unsafe { real::close(fd) };
        return None;
    }
    Some(file)
}

/// Whether an fopen `mode` opens for reading only ("r", "re", "rb", not "r+").
///
/// # Safety
/// `mode` is a NUL-terminated string.
unsafe fn reads_only(mode: *const c_char) -> bool {
    // SAFETY: a NUL-terminated string, read up to its NUL.
    let mode = unsafe { CStr::from_ptr(mode) }.to_bytes();
    mode.first() == Some(&b'r') && !mode.contains(&b'+')
}

/// `FILE *fopen(const char *path, const char *mode)`.
///
/// # Safety
/// `path` and `mode` are NUL-terminated strings, as fopen(3) requires.
#[no_mangle]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: both are NUL-terminated strings by this function's contract (mode checked non-NULL).
    if let Some(p) = unsafe { maybe_proc_file(path) }.filter(|_| !mode.is_null() && unsafe { reads_only(mode) }) {
        if let Some(file) = ffi_boundary!(served_proc_stream(p)) {
            return file;
        }
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fopen(path, mode) }
}

same_signature_as_libc! {
    fopen: unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
}
