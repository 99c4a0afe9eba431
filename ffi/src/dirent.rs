//! `<dirent.h>`: `opendir` of `/dev/mqueue` under a backend that serves it (the emulation)
//! lists the backend's queues, as the kernel's mqueue filesystem does: the stream reads a
//! directory whose entries are named as the queues (the namespace's `posix/`), and `readdir`
//! gives each the kernel's `d_type` (a regular file; `.` and `..` directories). Every other
//! path goes to libc after the prefix comparison of `stdio::served_path`, and `readdir` and
//! `closedir` of every other stream after one load.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

use crate::real;
use crate::reentry::Inside;
use crate::stdio::{served_path, serves_dev_mqueue, ServedPath};

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

/// `int scandir(const char *path, struct dirent ***namelist, filter, compar)`. glibc's own
/// `scandir` opens the directory through its internal `opendir`, which no interposer sees: of
/// `/dev/mqueue` it would list the kernel's queues, not the backend's. So for `/dev/mqueue`
/// the listing is made here from this library's `opendir` and `readdir`, as glibc makes it
/// (each kept entry copied into its own `malloc`ed record, the array `malloc`ed, sorted by
/// `compar`, for the caller to `free`); every other path is libc's. Outside `ffi_boundary!`,
/// as `nftw` (see `ftw`): it calls the program's filter and this library's `opendir` and
/// `readdir`; nothing in it can panic.
///
/// # Safety
/// As scandir(3) requires: `path` is a NUL-terminated string, `namelist` writable, `filter`
/// and `compar` NULL or functions of those types.
#[no_mangle]
pub unsafe extern "C" fn scandir(
    path: *const c_char,
    namelist: *mut *mut *mut libc::dirent,
    filter: real::ScandirFilter,
    compar: real::ScandirCompar,
) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if unsafe { serves_dev_mqueue(path) } {
        // SAFETY: the caller's arguments, per this function's contract.
        return unsafe { scan_listing(path, namelist, filter, compar) };
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::scandir(path, namelist, filter, compar) }
}

/// `scandir64`: [`scandir`] with `struct dirent64`, the same layout here.
///
/// # Safety
/// As for [`scandir`].
#[no_mangle]
pub unsafe extern "C" fn scandir64(
    path: *const c_char,
    namelist: *mut *mut *mut libc::dirent64,
    filter: real::ScandirFilter64,
    compar: real::ScandirCompar64,
) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if unsafe { serves_dev_mqueue(path) } {
        // SAFETY: dirent and dirent64 are one layout (checked below), so are the function
        // pointer types that take them; the caller's arguments otherwise.
        return unsafe {
            scan_listing(
                path,
                namelist.cast(),
                std::mem::transmute::<real::ScandirFilter64, real::ScandirFilter>(filter),
                std::mem::transmute::<real::ScandirCompar64, real::ScandirCompar>(compar),
            )
        };
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::scandir64(path, namelist, filter, compar) }
}

/// [`scandir`] of a `/dev/mqueue` path, from this library's `opendir` and `readdir`.
///
/// # Safety
/// As for [`scandir`].
unsafe fn scan_listing(path: *const c_char, namelist: *mut *mut *mut libc::dirent, filter: real::ScandirFilter, compar: real::ScandirCompar) -> c_int {
    // SAFETY: the caller's path.
    let dir = unsafe { opendir(path) };
    if dir.is_null() {
        return -1;
    }
    let mut kept: Vec<*mut libc::dirent> = Vec::new();
    let failed;
    loop {
        crate::errno::set(0);
        // SAFETY: our open stream.
        let entry = unsafe { readdir(dir) };
        if entry.is_null() {
            // 0: the end of the listing.
            failed = crate::errno::current();
            break;
        }
        if let Some(keep) = filter {
            // SAFETY: the caller's filter, on an entry readdir just returned.
            let kept_it = unsafe { keep(entry) } != 0;
            // As glibc's: what the filter left in errno is no error of the listing.
            crate::errno::set(0);
            if !kept_it {
                continue;
            }
        }
        // SAFETY: the entry readdir returned holds d_reclen bytes (its name included).
        let len = usize::from(unsafe { (*entry).d_reclen });
        // SAFETY: malloc of a size; checked below.
        let copy = unsafe { libc::malloc(len) }.cast::<libc::dirent>();
        if copy.is_null() {
            failed = libc::ENOMEM;
            break;
        }
        // SAFETY: both hold `len` bytes and do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(entry.cast::<u8>(), copy.cast::<u8>(), len) };
        kept.push(copy);
    }
    // SAFETY: our open stream, closed once.
    unsafe { closedir(dir) };
    if failed == 0 && kept.is_empty() {
        // As glibc's: no array for no entries.
        // SAFETY: the caller's writable `namelist`.
        unsafe { *namelist = std::ptr::null_mut() };
        return 0;
    }
    let size = kept.len() * std::mem::size_of::<*mut libc::dirent>();
    // SAFETY: malloc of a size; checked below.
    let array = if failed == 0 { unsafe { libc::malloc(size) }.cast::<*mut libc::dirent>() } else { std::ptr::null_mut() };
    if array.is_null() {
        for copy in kept {
            // SAFETY: each malloced above, freed once.
            unsafe { libc::free(copy.cast()) };
        }
        crate::errno::set(if failed == 0 { libc::ENOMEM } else { failed });
        return -1;
    }
    // SAFETY: `array` holds kept.len() pointers.
    unsafe { std::ptr::copy_nonoverlapping(kept.as_ptr(), array, kept.len()) };
    if let Some(compare) = compar {
        // SAFETY: qsort's comparison takes two pointers to elements, which here are pointers to
        // entries: the caller's `compar` type (as alphasort's), called on `array`'s elements.
        unsafe {
            let compare = std::mem::transmute::<
                unsafe extern "C" fn(*mut *const libc::dirent, *mut *const libc::dirent) -> c_int,
                extern "C" fn(*const libc::c_void, *const libc::c_void) -> c_int,
            >(compare);
            libc::qsort(array.cast(), kept.len(), std::mem::size_of::<*mut libc::dirent>(), Some(compare));
        }
    }
    // SAFETY: the caller's writable `namelist`.
    unsafe { *namelist = array };
    c_int::try_from(kept.len()).unwrap_or(c_int::MAX)
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
