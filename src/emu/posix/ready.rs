//! Readiness of emulated descriptors for poll, select and epoll.
//!
//! A descriptor is the queue's FIFO, and the kernel decides its readiness from the pipe:
//! readable when the pipe holds data, writable when it has a free slot. mqshim keeps *tokens*
//! (4096-byte writes, one pipe slot each) in a FIFO sized to four slots so that:
//! no token = empty queue (writable only), 1–3 tokens = neither empty nor full (both), 4 tokens
//! = full (readable only). Every process that changes the queue keeps the tokens in step, under
//! the queue lock.
//!
//! The kernel wakes a queue's pollers on every insert and every receive that makes room, so an
//! edge-triggered epoll sees an edge for each change even when readiness did not change. A
//! pipe wakes readers only when written and writers only when read while full; but resizing a
//! pipe (`F_SETPIPE_SZ`, even to its current size) ends with an unkeyed wake-up of its waiters,
//! which epoll counts as an edge for whatever is ready. Each change ends with that poke.
//!
//! Keeping tokens costs system calls, so it starts only once the queue is *armed*: when a
//! descriptor of it is first passed to poll, ppoll, select, pselect or epoll_ctl (which mqshim
//! interposes for that purpose). A program that never polls pays nothing.
//!
//! The Redis backend keeps its descriptors' readiness with the same tokens, in a pipe of its
//! own (`remote::posix::ready`), through [`reset_tokens`], [`change_tokens`] and
//! [`tokens_held`].

use std::os::raw::c_int;
use std::sync::atomic::Ordering;

use super::queue::{Locked, Queue};

/// Bytes per token: a whole page, so two writes never share a pipe slot.
const TOKEN: usize = 4096;
/// Pipe slots: tokens for "full".
const FULL: u32 = 4;

static ZERO_PAGE: [u8; TOKEN] = [0; TOKEN];

/// The process's own non-blocking descriptor of the queue's FIFO, opened on first need from one
/// of the program's descriptors (a new open file description, so the program's O_NONBLOCK is
/// untouched).
fn token_fd(q: &Queue, program_fd: c_int) -> Option<c_int> {
    let fd = q.token_fd.load(Ordering::Acquire);
    if fd >= 0 {
        return Some(fd);
    }
    let path = format!("/proc/self/fd/{program_fd}\0");
    // SAFETY: a NUL-terminated path; the new descriptor is owned by the Queue.
    let new = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if new < 0 {
        return None;
    }
    let new = crate::os::sys::move_high(new);
    match q.token_fd.compare_exchange(-1, new, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Some(new),
        Err(existing) => {
            crate::os::sys::close(new);
            Some(existing)
        }
    }
}

/// Closes this process's token descriptor of `q` when `described()` says no descriptor of the
/// queue remains open here: the descriptor is the FIFO opened for reading, and a FIFO reader
/// is what marks a queue open (see `store`), so kept past the program's last close it would
/// keep an unlinked queue alive as long as this process. Under the queue lock, which every use
/// of the descriptor holds; the next arm or change here opens it again. (Kept when the lock
/// cannot be had: the queue is then destroyed by a later closer or creator instead.)
pub fn release_if_unused(q: &Queue, described: impl FnOnce() -> bool) {
    if q.token_fd.load(Ordering::Acquire) < 0 {
        return;
    }
    let Ok(_locked) = q.lock() else { return };
    if described() {
        return;
    }
    let fd = q.token_fd.swap(-1, Ordering::AcqRel);
    if fd >= 0 {
        crate::os::sys::close(fd);
    }
}

fn put(fd: c_int) -> bool {
    // SAFETY: writes a static page to our own non-blocking FIFO descriptor.
    unsafe { libc::write(fd, ZERO_PAGE.as_ptr().cast(), TOKEN) == TOKEN as isize }
}

fn take(fd: c_int) -> bool {
    let mut page = [0u8; TOKEN];
    // SAFETY: reads into a local page from our own non-blocking FIFO descriptor.
    unsafe { libc::read(fd, page.as_mut_ptr().cast(), TOKEN) == TOKEN as isize }
}

/// The token count the queue's state calls for, given the current count.
fn wanted(curmsgs: u32, maxmsg: u32, tokens: u32) -> u32 {
    if curmsgs == 0 {
        0
    } else if curmsgs >= maxmsg {
        FULL
    } else {
        tokens.clamp(1, FULL - 1)
    }
}

/// Empties the FIFO and writes the tokens the state calls for: on arming, and when a process
/// opens an armed queue (the FIFO's contents vanish when every descriptor of it has closed).
pub fn resync(locked: &mut Locked<'_>, program_fd: c_int) {
    if *locked.readiness().0 == 0 {
        return;
    }
    let Some(fd) = token_fd(locked.queue(), program_fd) else { return };
    let (cur, max) = (locked.queue().curmsgs(), locked.queue().geometry().maxmsg);
    *locked.readiness().1 = reset_tokens(fd, cur, max);
}

/// Empties the pipe behind `fd` (a non-blocking descriptor of it), sizes it to its slots and
/// writes the tokens for a queue holding `curmsgs` of `maxmsg`: how many it holds now.
pub(crate) fn reset_tokens(fd: c_int, curmsgs: u32, maxmsg: u32) -> u32 {
    while take(fd) {}
    // F_SETPIPE_SZ on our own pipe descriptor, whose pipe is now empty.
    crate::os::sys::fcntl(fd, libc::F_SETPIPE_SZ, (FULL as usize * TOKEN) as libc::c_long);
    let target = wanted(curmsgs, maxmsg, 1);
    let mut have = 0;
    while have < target && put(fd) {
        have += 1;
    }
    have
}

/// The tokens the pipe behind `fd` holds (when it is not the process that keeps their count).
pub(crate) fn tokens_held(fd: c_int) -> u32 {
    let mut bytes: c_int = 0;
    // SAFETY: FIONREAD writes one int to the local.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut bytes) } != 0 {
        return 0;
    }
    (bytes.max(0) as usize / TOKEN) as u32
}

/// Arms readiness for `q` (a descriptor of it, `program_fd`, is about to be polled). Armed
/// here before, it is armed still unless its segment now holds another queue (a destroyed
/// queue's segment and FIFO may serve its creator's next queue, with a new header: see
/// `posix::spare`), which this process may reach through a mapping it kept.
pub fn arm(q: &Queue, program_fd: c_int) {
    if q.armed_here.load(Ordering::Acquire) && q.readiness_armed_hint() {
        return;
    }
    let Ok(mut locked) = q.lock() else { return };
    if *locked.readiness().0 == 0 {
        *locked.readiness().0 = 1;
        resync(&mut locked, program_fd);
    }
    q.armed_here.store(true, Ordering::Release);
}

/// Keeps the tokens in step after an insert or a removal, under the lock.
pub fn after_change(locked: &mut Locked<'_>, program_fd: c_int) {
    if *locked.readiness().0 == 0 {
        return;
    }
    let Some(fd) = token_fd(locked.queue(), program_fd) else { return };
    let (cur, max) = (locked.queue().curmsgs(), locked.queue().geometry().maxmsg);
    let have = *locked.readiness().1;
    *locked.readiness().1 = change_tokens(fd, have, cur, max);
}

/// After a change of the queue to `curmsgs` of `maxmsg`: moves the pipe behind `fd` (a
/// non-blocking descriptor of it) from `have` tokens to what the state calls for and ends with
/// the wake-up of every change (see the module comment). How many tokens it holds now.
pub(crate) fn change_tokens(fd: c_int, mut have: u32, curmsgs: u32, maxmsg: u32) -> u32 {
    let target = wanted(curmsgs, maxmsg, have);
    while have < target && put(fd) {
        have += 1;
    }
    while have > target && take(fd) {
        have -= 1;
    }
    // F_SETPIPE_SZ to the size it already has, on our own pipe descriptor.
    crate::os::sys::fcntl(fd, libc::F_SETPIPE_SZ, (FULL as usize * TOKEN) as libc::c_long);
    have
}
