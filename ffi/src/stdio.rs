//! `<stdio.h>`: `fopen` of `/proc/sysvipc/msg`, the file `ipcs -q` (util-linux) and other tools
//! read to list System V queues. Under the emulation it shows the emulated namespace's queues,
//! in the kernel's format, so an unchanged `ipcs` run by a program under mqshim (the notes'
//! `system("ipcs -q")`) sees the same queues the program does. Every other path, and every path
//! under the kernel backend, goes straight to libc after one prefix comparison.

use std::os::raw::c_char;

use crate::real;

const PROC_SYSVIPC_MSG: &[u8] = b"/proc/sysvipc/msg\0";

/// Whether `fopen(path, mode)` opens `/proc/sysvipc/msg` for reading.
///
/// # Safety
/// `path` and `mode` are NUL-terminated strings.
unsafe fn opens_proc_sysvipc_msg(path: *const c_char, mode: *const c_char) -> bool {
    // SAFETY: fopen's arguments are NUL-terminated strings; only as many bytes as the literal
    // are compared (strncmp stops at the first difference or NUL).
    let matches = unsafe { libc::strncmp(path, PROC_SYSVIPC_MSG.as_ptr().cast(), PROC_SYSVIPC_MSG.len()) } == 0;
    // SAFETY: as above; the mode's first byte.
    matches && unsafe { *mode } == b'r' as c_char
}

/// The backend's `/proc/sysvipc/msg` as a read-only stream, or None to let libc open the file.
fn emulated_proc_msg() -> Option<*mut libc::FILE> {
    let content = crate::dispatch::proc_sysvipc_msg()?;
    // SAFETY: a private anonymous file, written, rewound and handed to fdopen, which owns it.
    unsafe {
        let fd = libc::memfd_create(c"mqshim-sysvipc-msg".as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let written = libc::write(fd, content.as_ptr().cast(), content.len());
        libc::lseek(fd, 0, libc::SEEK_SET);
        let file = if written == content.len() as isize { libc::fdopen(fd, c"r".as_ptr()) } else { std::ptr::null_mut() };
        if file.is_null() {
            real::close(fd);
            return None;
        }
        Some(file)
    }
}

/// `FILE *fopen(const char *path, const char *mode)`.
///
/// # Safety
/// `path` and `mode` are NUL-terminated strings, as fopen(3) requires.
#[no_mangle]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: both are non-NULL here, and NUL-terminated strings by this function's contract.
    if !path.is_null() && !mode.is_null() && unsafe { opens_proc_sysvipc_msg(path, mode) } {
        if let Some(file) = ffi_boundary!(emulated_proc_msg()) {
            return file;
        }
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fopen(path, mode) }
}

same_signature_as_libc! {
    fopen: unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
}
