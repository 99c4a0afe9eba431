//! `<stdio.h>`: `fopen` of the `/proc` files the backend answers for (`dispatch::proc_file`):
//! `/proc/sysvipc/msg`, the file `ipcs -q` (util-linux) and other tools read to list System V
//! queues, and the limit files `/proc/sys/kernel/msg*` and `/proc/sys/fs/mqueue/*`. Under the
//! emulation they show the emulated namespace's queues and the limits the emulation enforces,
//! in the kernel's format, so an unchanged `ipcs` run by a program under mqshim (the notes'
//! `system("ipcs -q")`) sees the same queues and limits the program does. Every other path, and
//! every path under the kernel backend, goes straight to libc after one prefix comparison.
//! (`open` of the same files is in `fcntl`.)

use std::borrow::Cow;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};

use crate::real;

/// The prefix of every `/proc` path the backend may answer for (`/proc/sysvipc/…`, `/proc/sys/…`).
const PROC_SYS: &[u8] = b"/proc/sys";

/// A path the backend may answer for (the cheap test every open, stat and access makes).
pub(crate) enum ServedPath<'a> {
    /// A `/proc` file (`dispatch::proc_file`, `procfs`).
    Proc(&'a [u8]),
    /// A file under `/dev/mqueue/` (`devmqueue`), absolute (made so when the program named it
    /// relative to the working directory or to a descriptor of `/dev/mqueue`).
    DevMqueue(Cow<'a, [u8]>),
}

/// Which kind of served path `path` may be, by its first two bytes and one prefix comparison;
/// None for every other path. A relative path costs one load more while the program has not
/// been near `/dev/mqueue` (see `devmqueue::absolute`).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
pub(crate) unsafe fn served_path<'a>(path: *const c_char) -> Option<ServedPath<'a>> {
    // SAFETY: per this function's contract.
    unsafe { served_path_at(libc::AT_FDCWD, path) }
}

/// Whether `path` names `/dev/mqueue` (or a path under it) as this library serves it, to a
/// call the program made (not one this library makes itself): for the listing and walking
/// functions (`scandir`, `nftw`, `ftw`) that glibc makes from its internal calls.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
pub(crate) unsafe fn serves_dev_mqueue(path: *const c_char) -> bool {
    // SAFETY: per this function's contract.
    !crate::reentry::Inside::active() && matches!(unsafe { served_path(path) }, Some(ServedPath::DevMqueue(_)))
}

/// [`served_path`] of `path` relative to the directory descriptor `dir` (AT_FDCWD: the
/// working directory), as the `…at` calls name files.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
pub(crate) unsafe fn served_path_at<'a>(dir: c_int, path: *const c_char) -> Option<ServedPath<'a>> {
    if path.is_null() {
        return None;
    }
    // SAFETY: `path` is a NUL-terminated string: its first byte is readable, and its second
    // when the first is not the NUL.
    let (first, second) = unsafe { (*path as u8, if *path == 0 { 0 } else { *path.add(1) as u8 }) };
    let prefix = match (first, second) {
        (b'/', b'p') => PROC_SYS,
        (b'/', b'd') => crate::devmqueue::MOUNT,
        (b'/', _) | (0, _) => return None,
        _ if !crate::devmqueue::relative_paths_possible() => return None,
        _ => {
            // SAFETY: as above.
            let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
            return crate::devmqueue::absolute(dir, bytes).map(|p| ServedPath::DevMqueue(Cow::Owned(p)));
        }
    };
    // SAFETY: as above; strncmp stops at its NUL or the first difference.
    if unsafe { libc::strncmp(path, prefix.as_ptr().cast(), prefix.len()) } != 0 {
        return None;
    }
    // SAFETY: as above.
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    Some(if prefix == PROC_SYS { ServedPath::Proc(bytes) } else { ServedPath::DevMqueue(Cow::Borrowed(bytes)) })
}

/// The path, when it may be a `/proc` file the backend answers for.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
pub(crate) unsafe fn maybe_proc_file<'a>(path: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: per this function's contract.
    match unsafe { served_path(path) }? {
        ServedPath::Proc(p) => Some(p),
        ServedPath::DevMqueue(_) => None,
    }
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

/// glibc's `cookie_io_functions_t` (the libc crate does not declare it).
#[repr(C)]
struct CookieIoFunctions {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> isize>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> isize>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

extern "C" {
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, funcs: CookieIoFunctions) -> *mut libc::FILE;
}

/// The descriptor a sysctl stream's cookie carries.
fn cookie_fd(cookie: *mut c_void) -> c_int {
    cookie as usize as c_int
}

/// A sysctl stream's write: stdio's flush, handed to the sysctl as one write(2).
unsafe extern "C" fn sysctl_stream_write(cookie: *mut c_void, buf: *const c_char, size: usize) -> isize {
    // SAFETY: stdio passes its buffer, valid for `size` bytes.
    let data = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), size) };
    let fd = cookie_fd(cookie);
    ffi_boundary!(errno isize, crate::procfs::write(fd, data, None).unwrap_or(Err(crate::errno::Errno::EBADF)).map(|n| n as i64))
}

/// A sysctl stream's seek: the descriptor's offset, as the kernel's file has.
unsafe extern "C" fn sysctl_stream_seek(cookie: *mut c_void, offset: *mut i64, whence: c_int) -> c_int {
    // SAFETY: stdio passes a valid pointer to the offset, in and out.
    let pos = unsafe { libc::lseek(cookie_fd(cookie), *offset, whence) };
    if pos < 0 {
        return -1;
    }
    // SAFETY: as above.
    unsafe { *offset = pos };
    0
}

/// A sysctl stream's read (one opened "r+", "w+" or "a+"; stdio refuses it to the others): its
/// descriptor's, as `read` (see `procfs::read_at`).
unsafe extern "C" fn sysctl_stream_read(cookie: *mut c_void, buf: *mut c_char, size: usize) -> isize {
    let fd = cookie_fd(cookie);
    ffi_boundary!(errno isize, crate::procfs::read_at(fd, buf.cast(), size, None).unwrap_or(Ok(0)).map(|n| n as i64))
}

/// A sysctl stream's close: the descriptor's.
unsafe extern "C" fn sysctl_stream_close(cookie: *mut c_void) -> c_int {
    let fd = cookie_fd(cookie);
    ffi_boundary!(crate::procfs::closing(fd));
    // SAFETY: the stream's own descriptor, closed once.
    unsafe { real::close(fd) }
}

/// Whether an fopen `mode` writes ("w", "a", "r+", …).
///
/// # Safety
/// `mode` is a NUL-terminated string.
unsafe fn writes(mode: *const c_char) -> bool {
    // SAFETY: a NUL-terminated string, read up to its NUL.
    let mode = unsafe { CStr::from_ptr(mode) }.to_bytes();
    matches!(mode.first(), Some(b'w' | b'a')) || mode.contains(&b'+')
}

/// The backend's stream for `path` opened with `mode`, or None to let libc open it (an
/// error is a NULL stream with errno set, as fopen's).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `mode` is a NUL-terminated string.
unsafe fn served_stream(path: *const c_char, mode: *const c_char) -> Option<*mut libc::FILE> {
    // SAFETY: per this function's contract.
    let p = unsafe { maybe_proc_file(path) }.filter(|_| !mode.is_null())?;
    // SAFETY: `mode` is a NUL-terminated string (checked non-NULL).
    if unsafe { reads_only(mode) } {
        return ffi_boundary!(served_proc_stream(p));
    }
    // SAFETY: as above.
    if !unsafe { writes(mode) } {
        return None;
    }
    // SAFETY: as above.
    let readable = unsafe { CStr::from_ptr(mode) }.to_bytes().contains(&b'+');
    let fd = match ffi_boundary!(crate::procfs::open_for_write(p, true, readable))? {
        Ok(fd) => fd,
        Err(e) => {
            crate::errno::set(e as c_int);
            return Some(std::ptr::null_mut());
        }
    };
    let funcs = CookieIoFunctions {
        read: Some(sysctl_stream_read),
        write: Some(sysctl_stream_write),
        seek: Some(sysctl_stream_seek),
        close: Some(sysctl_stream_close),
    };
    // SAFETY: the cookie is the descriptor (an integer, never dereferenced); the functions
    // above take it as such; `mode` is the caller's valid string.
    let file = unsafe { fopencookie(fd as usize as *mut c_void, mode, funcs) };
    if file.is_null() {
        ffi_boundary!(crate::procfs::closing(fd));
        // SAFETY: ours, never handed out.
        unsafe { real::close(fd) };
    }
    Some(file)
}

/// `FILE *fopen(const char *path, const char *mode)`.
///
/// # Safety
/// `path` and `mode` are NUL-terminated strings, as fopen(3) requires.
#[no_mangle]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: both are NUL-terminated strings by this function's contract.
    if let Some(file) = unsafe { served_stream(path, mode) } {
        return file;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fopen(path, mode) }
}

/// `FILE *fopen64(const char *path, const char *mode)`: `fopen` of programs built with 64-bit
/// offsets (Python).
///
/// # Safety
/// `path` and `mode` are NUL-terminated strings, as fopen(3) requires.
#[no_mangle]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: both are NUL-terminated strings by this function's contract.
    if let Some(file) = unsafe { served_stream(path, mode) } {
        return file;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::fopen64(path, mode) }
}

same_signature_as_libc! {
    fopen: unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
    fopen64: unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
}
