//! `<ftw.h>`: `nftw` and `ftw` of `/dev/mqueue` under a backend that serves it. glibc's own
//! walk the tree through its internal `opendir` and `stat`, which no interposer sees: of
//! `/dev/mqueue` they would walk the kernel's queues, not the backend's. So for `/dev/mqueue`
//! the walk is made here, as glibc makes it, from this library's `opendir`, `readdir`, `stat`
//! and `lstat`: the directory (pre-order, or post-order with FTW_DEPTH), then its entries in
//! listing order, each a regular file at level 1; FTW_PHYS, FTW_CHDIR and FTW_ACTIONRETVAL as
//! documented; the callback's first non-zero answer (FTW_STOP with FTW_ACTIONRETVAL) ends the
//! walk and is its result. Every other path is libc's.
//!
//! The walk runs outside `ffi_boundary!`: it calls the program's callback and this library's
//! own exports (`opendir`, `stat`, …), which must see those calls as the program's, not as
//! mqshim's own. Nothing in it can panic (no unchecked index, no unwrap).

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};

use crate::real;
use crate::stdio::serves_dev_mqueue as served;

use real::{Ftw, FtwFn, NftwFn};

// The type flags and flags of <ftw.h>.
const FTW_F: c_int = 0;
const FTW_D: c_int = 1;
const FTW_NS: c_int = 3;
const FTW_DP: c_int = 5;
const FTW_PHYS: c_int = 1;
const FTW_CHDIR: c_int = 4;
const FTW_DEPTH: c_int = 8;
const FTW_ACTIONRETVAL: c_int = 16;
// FTW_ACTIONRETVAL's answers.
const FTW_CONTINUE: c_int = 0;
const FTW_SKIP_SUBTREE: c_int = 2;
const FTW_SKIP_SIBLINGS: c_int = 3;

/// `int nftw(const char *path, fn, int nopenfd, int flags)`.
///
/// # Safety
/// As nftw(3) requires: `path` is a NUL-terminated string and `f` a function of that type.
#[no_mangle]
pub unsafe extern "C" fn nftw(path: *const c_char, f: NftwFn, nopenfd: c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if unsafe { served(path) } {
        let Some(f) = f else { return 0 };
        // SAFETY: the caller's path and callback, per this function's contract.
        return unsafe {
            walk(path, flags, |p, st, kind, base, level| {
                let mut info = Ftw { base, level };
                f(p, st, kind, &mut info)
            })
        };
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::nftw(path, f, nopenfd, flags) }
}

/// `nftw64`: [`nftw`] (`struct stat64` is `struct stat` here).
///
/// # Safety
/// As for [`nftw`].
#[no_mangle]
pub unsafe extern "C" fn nftw64(path: *const c_char, f: NftwFn, nopenfd: c_int, flags: c_int) -> c_int {
    // SAFETY: as for nftw.
    unsafe { nftw(path, f, nopenfd, flags) }
}

/// `int ftw(const char *path, fn, int nopenfd)`: [`nftw`] without flags, its callback without
/// the `struct FTW`.
///
/// # Safety
/// As ftw(3) requires: `path` is a NUL-terminated string and `f` a function of that type.
#[no_mangle]
pub unsafe extern "C" fn ftw(path: *const c_char, f: FtwFn, nopenfd: c_int) -> c_int {
    // SAFETY: the caller's path, per this function's contract.
    if unsafe { served(path) } {
        let Some(f) = f else { return 0 };
        // SAFETY: the caller's path and callback, per this function's contract.
        return unsafe { walk(path, 0, |p, st, kind, _, _| f(p, st, kind)) };
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::ftw(path, f, nopenfd) }
}

/// `ftw64`: [`ftw`].
///
/// # Safety
/// As for [`ftw`].
#[no_mangle]
pub unsafe extern "C" fn ftw64(path: *const c_char, f: FtwFn, nopenfd: c_int) -> c_int {
    // SAFETY: as for ftw.
    unsafe { ftw(path, f, nopenfd) }
}

const _: () = assert!(std::mem::size_of::<libc::stat>() == std::mem::size_of::<libc::stat64>());

/// What a callback's answer makes of the walk.
enum Next {
    Go,
    /// Leave the directory's remaining entries (FTW_SKIP_SIBLINGS).
    LeaveDirectory,
    /// End the walk with this result.
    End(c_int),
}

fn next(answer: c_int, flags: c_int) -> Next {
    if flags & FTW_ACTIONRETVAL == 0 {
        return if answer == 0 { Next::Go } else { Next::End(answer) };
    }
    match answer {
        FTW_CONTINUE | FTW_SKIP_SUBTREE => Next::Go,
        FTW_SKIP_SIBLINGS => Next::LeaveDirectory,
        other => Next::End(other),
    }
}

/// The walk of the directory `path` (under `/dev/mqueue`), calling `visit(path, stat, type
/// flag, base, level)` as nftw calls its callback.
///
/// # Safety
/// `path` is a NUL-terminated string; `visit` calls the program's callback.
unsafe fn walk(path: *const c_char, flags: c_int, mut visit: impl FnMut(*const c_char, *const libc::stat, c_int, c_int, c_int) -> c_int) -> c_int {
    // SAFETY: per this function's contract.
    let given = unsafe { CStr::from_ptr(path) }.to_bytes();
    // As glibc's: trailing slashes go (one stays for "/").
    let mut root = given.to_vec();
    while root.len() > 1 && root.ends_with(b"/") {
        root.pop();
    }
    let base = root.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1) as c_int;
    let Ok(root_c) = CString::new(root.clone()) else { return -1 };
    let stat_of = |p: &CStr, st: &mut libc::stat| {
        // SAFETY: a NUL-terminated path and a writable stat; this library's own stat and lstat,
        // which serve /dev/mqueue.
        unsafe {
            if flags & FTW_PHYS != 0 {
                crate::stat::lstat(p.as_ptr(), st)
            } else {
                crate::stat::stat(p.as_ptr(), st)
            }
        }
    };
    // SAFETY: plain data, filled by stat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if stat_of(&root_c, &mut st) != 0 {
        return -1;
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        // A queue's own path: one entry, at level 0.
        return match next(visit(root_c.as_ptr(), &st, FTW_F, base, 0), flags) {
            Next::End(r) => r,
            _ => 0,
        };
    }
    // FTW_CHDIR: the callback runs in the directory that holds what it is given.
    let cwd = if flags & FTW_CHDIR != 0 {
        // The real working directory (this library's open would serve a "." that is
        // /dev/mqueue); closed below.
        let fd = crate::os::sys::openat(libc::AT_FDCWD, c".", libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0);
        if fd < 0 {
            return -1;
        }
        Some(fd)
    } else {
        None
    };
    let change_to = |dir: &[u8]| -> bool {
        let Ok(d) = CString::new(if dir.is_empty() { b"/".to_vec() } else { dir.to_vec() }) else { return false };
        // SAFETY: a NUL-terminated path; this library's chdir, which relative /dev/mqueue
        // paths then follow.
        unsafe { crate::unistd::chdir(d.as_ptr()) == 0 }
    };
    let result = 'walk: {
        if cwd.is_some() && base > 0 && !change_to(&root[..base as usize - 1]) {
            break 'walk -1;
        }
        if flags & FTW_DEPTH == 0 {
            match next(visit(root_c.as_ptr(), &st, FTW_D, base, 0), flags) {
                Next::End(r) => break 'walk r,
                Next::LeaveDirectory => break 'walk 0,
                Next::Go => {}
            }
        }
        // SAFETY: the root's path; this library's opendir.
        let dir = unsafe { crate::dirent::opendir(root_c.as_ptr()) };
        if dir.is_null() {
            break 'walk -1;
        }
        if cwd.is_some() && !change_to(&root) {
            // SAFETY: our stream.
            unsafe { crate::dirent::closedir(dir) };
            break 'walk -1;
        }
        let mut ended = None;
        loop {
            // SAFETY: our open stream.
            let entry = unsafe { crate::dirent::readdir(dir) };
            if entry.is_null() {
                break;
            }
            // SAFETY: an entry readdir just returned, its name NUL-terminated.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) }.to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let mut full = root.clone();
            if !full.ends_with(b"/") {
                full.push(b'/');
            }
            let entry_base = full.len() as c_int;
            full.extend_from_slice(name);
            let Ok(full_c) = CString::new(full) else { continue };
            // SAFETY: plain data, filled by stat.
            let mut est: libc::stat = unsafe { std::mem::zeroed() };
            let kind = match stat_of(&full_c, &mut est) {
                0 if est.st_mode & libc::S_IFMT == libc::S_IFDIR => FTW_D,
                0 => FTW_F,
                _ => FTW_NS,
            };
            match next(visit(full_c.as_ptr(), &est, kind, entry_base, 1), flags) {
                Next::Go => {}
                Next::LeaveDirectory => break,
                Next::End(r) => {
                    ended = Some(r);
                    break;
                }
            }
        }
        // SAFETY: our stream, closed once.
        unsafe { crate::dirent::closedir(dir) };
        if let Some(r) = ended {
            break 'walk r;
        }
        if flags & FTW_DEPTH != 0 {
            if cwd.is_some() && base > 0 && !change_to(&root[..base as usize - 1]) {
                break 'walk -1;
            }
            if let Next::End(r) = next(visit(root_c.as_ptr(), &st, FTW_DP, base, 0), flags) {
                break 'walk r;
            }
        }
        0
    };
    if let Some(fd) = cwd {
        let saved = crate::errno::current();
        // SAFETY: the descriptor of the directory we started in; this library's fchdir.
        unsafe {
            crate::unistd::fchdir(fd);
            real::close(fd);
        }
        crate::errno::set(saved);
    }
    result
}
