//! `<dirent.h>`: `opendir` of `/dev/mqueue` under a backend that serves it (the emulation)
//! lists the backend's queues, as the kernel's mqueue filesystem does: the stream reads a
//! directory whose entries are named as the queues (the namespace's `posix/`), and `readdir`
//! gives each the kernel's `d_type` (a regular file; `.` and `..` directories). Every other
//! path goes to libc after the prefix comparison of `stdio::served_path`, and `readdir` and
//! `closedir` of every other stream after one load.

use std::ffi::CStr;
use std::os::raw::c_char;

use crate::real;
use crate::reentry::Inside;
use crate::stdio::{served_path, ServedPath};

/// `DIR *opendir(const char *path)`.
///
/// # Safety
/// As opendir(3) requires: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn opendir(path: *const c_char) -> *mut libc::DIR {
    if !Inside::active() {
        // SAFETY: the caller's path, per this function's contract.
        if let Some(ServedPath::DevMqueue(p)) = unsafe { served_path(path) } {
            if let Some(opened) = ffi_boundary!(crate::devmqueue::open_directory(&p)) {
                let fd = match opened {
                    Ok(fd) => fd,
                    Err(e) => {
                        crate::errno::set(e as i32);
                        return std::ptr::null_mut();
                    }
                };
                // SAFETY: `fd` is a directory descriptor of ours; fdopendir owns it on success.
                let dir = unsafe { libc::fdopendir(fd) };
                if dir.is_null() {
                    // SAFETY: still ours.
                    unsafe { real::close(fd) };
                } else {
                    ffi_boundary!(crate::devmqueue::listing_opened(dir as usize));
                }
                return dir;
            }
        }
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::opendir(path) }
}

/// The kernel's `d_type` for an entry of a `/dev/mqueue` listing.
///
/// # Safety
/// `entry` is NULL or an entry `readdir` just returned (its name NUL-terminated).
unsafe fn correct_type(entry: *mut libc::dirent64) {
    if entry.is_null() {
        return;
    }
    // SAFETY: a valid entry, per this function's contract; libc's own buffer, writable.
    unsafe {
        let name = CStr::from_ptr((*entry).d_name.as_ptr()).to_bytes();
        (*entry).d_type = crate::devmqueue::entry_type(name);
    }
}

/// `struct dirent *readdir(DIR *dir)`.
///
/// # Safety
/// As readdir(3) requires: `dir` is an open stream.
#[no_mangle]
pub unsafe extern "C" fn readdir(dir: *mut libc::DIR) -> *mut libc::dirent {
    // SAFETY: the caller's stream, passed on.
    let entry = unsafe { real::readdir(dir) };
    if crate::devmqueue::is_listing(dir as usize) {
        // SAFETY: the entry readdir just returned; dirent is dirent64 on this target.
        unsafe { correct_type(entry.cast()) };
    }
    entry
}

/// `struct dirent64 *readdir64(DIR *dir)` (Rust's standard library's `read_dir` calls it).
///
/// # Safety
/// As readdir(3) requires: `dir` is an open stream.
#[no_mangle]
pub unsafe extern "C" fn readdir64(dir: *mut libc::DIR) -> *mut libc::dirent64 {
    // SAFETY: the caller's stream, passed on.
    let entry = unsafe { real::readdir64(dir) };
    if crate::devmqueue::is_listing(dir as usize) {
        // SAFETY: the entry readdir64 just returned.
        unsafe { correct_type(entry) };
    }
    entry
}

/// `int closedir(DIR *dir)`.
///
/// # Safety
/// As closedir(3) requires: `dir` is an open stream.
#[no_mangle]
pub unsafe extern "C" fn closedir(dir: *mut libc::DIR) -> std::os::raw::c_int {
    crate::devmqueue::listing_closing(dir as usize);
    // SAFETY: the caller's stream, passed on.
    unsafe { real::closedir(dir) }
}

// dirent and dirent64 are one layout on the targets mqshim builds for.
const _: () = assert!(std::mem::size_of::<libc::dirent>() == std::mem::size_of::<libc::dirent64>());

same_signature_as_libc! {
    opendir: unsafe extern "C" fn(*const c_char) -> *mut libc::DIR;
    readdir: unsafe extern "C" fn(*mut libc::DIR) -> *mut libc::dirent;
    readdir64: unsafe extern "C" fn(*mut libc::DIR) -> *mut libc::dirent64;
    closedir: unsafe extern "C" fn(*mut libc::DIR) -> std::os::raw::c_int;
}
