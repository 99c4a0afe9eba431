//! `<unistd.h>`: the descriptor functions mqshim must see because an emulated `mqd_t` is a real
//! descriptor: closing one is closing a queue, and `dup2`/`dup3` onto one closes it.
//!
//! They are not traced (they are not queue calls). When mqshim itself runs (the re-entrancy
//! guard is up) or no emulated descriptor ever existed, they go straight to libc.

use std::os::raw::c_int;

use crate::dispatch;
use crate::real;
use crate::reentry::Inside;

/// `int close(int fd)`.
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if Inside::active() || !crate::emu::posix::fdtable::any() {
        // SAFETY: the caller's descriptor, passed on.
        return unsafe { real::close(fd) };
    }
    ffi_boundary!(c_int, match dispatch::close_if_emulated(fd) {
        Some(r) => r.map(i64::from),
        // SAFETY: the caller's descriptor, passed on.
        None => crate::errno::check(unsafe { real::close(fd) }).map(i64::from),
    })
}

/// `int dup2(int oldfd, int newfd)`.
#[no_mangle]
pub unsafe extern "C" fn dup2(oldfd: c_int, newfd: c_int) -> c_int {
    if Inside::active() || !crate::emu::posix::fdtable::any() {
        // SAFETY: the caller's descriptors, passed on.
        return unsafe { real::dup2(oldfd, newfd) };
    }
    ffi_boundary!(c_int, duplicate(oldfd, newfd, |o, n| unsafe { real::dup2(o, n) }))
}

/// `int dup3(int oldfd, int newfd, int flags)`.
#[no_mangle]
pub unsafe extern "C" fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> c_int {
    if Inside::active() || !crate::emu::posix::fdtable::any() {
        // SAFETY: the caller's descriptors, passed on.
        return unsafe { real::dup3(oldfd, newfd, flags) };
    }
    ffi_boundary!(c_int, duplicate(oldfd, newfd, |o, n| unsafe { real::dup3(o, n, flags) }))
}

/// Runs a real dup2/dup3; an emulated `newfd` it replaces is closed as a queue descriptor first
/// (unless it is `oldfd` itself), and an emulated `oldfd` makes `newfd` one too.
fn duplicate(oldfd: c_int, newfd: c_int, real_dup: impl Fn(c_int, c_int) -> c_int) -> crate::errno::Result<i64> {
    if oldfd != newfd && crate::emu::posix::fdtable::get(oldfd).is_some() || crate::emu::posix::fdtable::get(newfd).is_some() && oldfd != newfd {
        // Only when the duplicate will succeed: oldfd must be open.
        // SAFETY: F_GETFD only inspects the descriptor.
        if unsafe { libc::fcntl(oldfd, libc::F_GETFD) } >= 0 {
            if let Some(Err(e)) = dispatch::close_if_emulated(newfd) {
                return Err(e);
            }
        }
    }
    let fd = crate::errno::check(real_dup(oldfd, newfd))?;
    dispatch::note_duplicate(oldfd, fd);
    Ok(fd.into())
}

same_signature_as_libc! {
    close: unsafe extern "C" fn(c_int) -> c_int;
    dup2: unsafe extern "C" fn(c_int, c_int) -> c_int;
    dup3: unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
}
