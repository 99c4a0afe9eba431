//! `<poll.h>`, `<sys/select.h>`, `<sys/epoll.h>`: seen by mqshim only so that a queue whose
//! descriptor is polled gets its readiness kept up to date (see `emu::posix::ready`). The calls
//! themselves are libc's, unchanged and untraced, except that under the trap the signal mask
//! of `ppoll`, `pselect`, `epoll_pwait` and `epoll_pwait2` never blocks SIGSYS (see `signal`).

use std::os::raw::c_int;

use libc::{epoll_event, fd_set, nfds_t, pollfd, sigset_t, timespec, timeval};

use crate::dispatch;
use crate::real;

/// Tells the backend which of `fds` are being polled.
///
/// # Safety
/// `fds` is NULL or points to `nfds` `struct pollfd`, as poll(2) requires.
unsafe fn arm_pollfds(fds: *const pollfd, nfds: nfds_t) {
    if fds.is_null() {
        return;
    }
    for i in 0..nfds as usize {
        // SAFETY: `i < nfds`, and `fds` holds `nfds` pollfd structures (this function's contract).
        let fd = unsafe { (*fds.add(i)).fd };
        dispatch::note_polled(fd);
    }
}

/// Tells the backend which descriptors below `nfds` are in any of `sets`.
///
/// # Safety
/// Each of `sets` is NULL or an `fd_set` holding at least `nfds` bits, as select(2) requires.
unsafe fn arm_fdsets(nfds: c_int, sets: [*mut fd_set; 3]) {
    for fd in 0..nfds.clamp(0, libc::FD_SETSIZE as c_int) {
        // SAFETY: the program's fd_sets hold at least nfds bits, as select requires.
        if sets.iter().any(|s| !s.is_null() && unsafe { libc::FD_ISSET(fd, *s) }) {
            dispatch::note_polled(fd);
        }
    }
}

/// `int poll(struct pollfd *fds, nfds_t nfds, int timeout)`.
///
/// # Safety
/// `fds` points to `nfds` `struct pollfd`, as poll(2) requires.
#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    if dispatch::descriptors_exist() {
        // SAFETY: the caller's `fds`, as this function's contract describes them.
        ffi_boundary!(unsafe { arm_pollfds(fds, nfds) });
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::poll(fds, nfds, timeout) }
}

/// `int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *sigmask)`.
///
/// # Safety
/// `fds` points to `nfds` `struct pollfd`; `tmo` and `sigmask` are NULL or valid, as
/// ppoll(2) requires.
#[no_mangle]
pub unsafe extern "C" fn ppoll(fds: *mut pollfd, nfds: nfds_t, tmo: *const timespec, sigmask: *const sigset_t) -> c_int {
    if dispatch::descriptors_exist() {
        // SAFETY: the caller's `fds`, as this function's contract describes them.
        ffi_boundary!(unsafe { arm_pollfds(fds, nfds) });
    }
    let copy = crate::signal::without_sigsys(sigmask);
    let sigmask = copy.as_ref().map_or(sigmask, |c| c as *const sigset_t);
    // SAFETY: the caller's arguments, the mask possibly replaced by a valid copy.
    unsafe { real::ppoll(fds, nfds, tmo, sigmask) }
}

/// `int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout)`.
///
/// # Safety
/// Each non-NULL set holds at least `nfds` bits and `tv` is NULL or valid, as select(2)
/// requires.
#[no_mangle]
pub unsafe extern "C" fn select(nfds: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tv: *mut timeval) -> c_int {
    if dispatch::descriptors_exist() {
        // SAFETY: the caller's sets, as this function's contract describes them.
        ffi_boundary!(unsafe { arm_fdsets(nfds, [r, w, e]) });
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::select(nfds, r, w, e, tv) }
}

/// `int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *timeout, const sigset_t *sigmask)`.
///
/// # Safety
/// Each non-NULL set holds at least `nfds` bits; `tmo` and `sigmask` are NULL or valid, as
/// pselect(2) requires.
#[no_mangle]
pub unsafe extern "C" fn pselect(nfds: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tmo: *const timespec, sigmask: *const sigset_t) -> c_int {
    if dispatch::descriptors_exist() {
        // SAFETY: the caller's sets, as this function's contract describes them.
        ffi_boundary!(unsafe { arm_fdsets(nfds, [r, w, e]) });
    }
    let copy = crate::signal::without_sigsys(sigmask);
    let sigmask = copy.as_ref().map_or(sigmask, |c| c as *const sigset_t);
    // SAFETY: the caller's arguments, the mask possibly replaced by a valid copy.
    unsafe { real::pselect(nfds, r, w, e, tmo, sigmask) }
}

/// `int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)`.
///
/// # Safety
/// `event` is valid for `op` (it may be NULL for `EPOLL_CTL_DEL`), as epoll_ctl(2) requires.
#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut epoll_event) -> c_int {
    if op != libc::EPOLL_CTL_DEL && dispatch::descriptors_exist() {
        ffi_boundary!(dispatch::note_polled(fd));
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::epoll_ctl(epfd, op, fd, event) }
}

/// `int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *sigmask)`:
/// libc's, with a mask that under the trap never blocks SIGSYS.
///
/// # Safety
/// As epoll_pwait(2) requires.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(epfd: c_int, events: *mut epoll_event, maxevents: c_int, timeout: c_int, sigmask: *const sigset_t) -> c_int {
    let copy = crate::signal::without_sigsys(sigmask);
    let sigmask = copy.as_ref().map_or(sigmask, |c| c as *const sigset_t);
    // SAFETY: the caller's arguments, the mask possibly replaced by a valid copy.
    unsafe { real::epoll_pwait(epfd, events, maxevents, timeout, sigmask) }
}

/// `int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout, const sigset_t *sigmask)`:
/// libc's, with a mask that under the trap never blocks SIGSYS.
///
/// # Safety
/// As epoll_pwait2(2) requires.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(epfd: c_int, events: *mut epoll_event, maxevents: c_int, timeout: *const timespec, sigmask: *const sigset_t) -> c_int {
    let copy = crate::signal::without_sigsys(sigmask);
    let sigmask = copy.as_ref().map_or(sigmask, |c| c as *const sigset_t);
    // SAFETY: the caller's arguments, the mask possibly replaced by a valid copy.
    unsafe { real::epoll_pwait2(epfd, events, maxevents, timeout, sigmask) }
}

same_signature_as_libc! {
    poll: unsafe extern "C" fn(*mut pollfd, nfds_t, c_int) -> c_int;
    ppoll: unsafe extern "C" fn(*mut pollfd, nfds_t, *const timespec, *const sigset_t) -> c_int;
    select: unsafe extern "C" fn(c_int, *mut fd_set, *mut fd_set, *mut fd_set, *mut timeval) -> c_int;
    epoll_pwait: unsafe extern "C" fn(c_int, *mut epoll_event, c_int, c_int, *const sigset_t) -> c_int;
    pselect: unsafe extern "C" fn(c_int, *mut fd_set, *mut fd_set, *mut fd_set, *const timespec, *const sigset_t) -> c_int;
    epoll_ctl: unsafe extern "C" fn(c_int, c_int, c_int, *mut epoll_event) -> c_int;
}
