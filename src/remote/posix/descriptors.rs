//! This process's descriptors of queues on the server: fd number → open description.
//!
//! A Redis queue's `mqd_t` is a real descriptor — an eventfd, made close-on-exec as glibc's
//! `mq_open` makes queue descriptors — so it never collides with other descriptors, counts
//! against RLIMIT_NOFILE and closes on exec. Its file status flags hold O_NONBLOCK, shared by
//! `dup` and `fork` as the kernel shares an open description's. (The emulation's table,
//! `emu::posix::fdtable`, is bound to mapped queues and FIFOs; this one holds a queue id.)
//! Polled, it is replaced by a descriptor of a pipe whose readiness follows the queue
//! (`ready`).
//!
//! The server counts, per queue and per process, the descriptions open on it (the queue's
//! openers), so that an unlinked queue lives until its last close. It counts a description
//! once per process that holds it: the opening process at `mq_open`, and a forked child when it
//! first uses the description (`adopt`); a process gives its count back when its last
//! descriptor of the description closes. A child that never used an inherited description adds
//! nothing; so when a process that forked since it made a description gives its count back
//! while children of it live, the count stays for them (the server keeps it while any of those
//! children lives), and the queue does not go under a child that has not used it yet. What a
//! process that died with descriptors open (killed, or exiting without `mq_close`) held is
//! given back when a client
//! finds it dead (`RemotePosix::reclaim_openers`).

use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use crate::os::forksafe::ForkSafe;

/// An open description of a queue on the server.
pub struct Description {
    /// The queue's incarnation id on the server.
    pub id: u64,
    pub read: bool,
    pub write: bool,
    pub maxmsg: i64,
    pub msgsize: i64,
    /// The process whose count on the server this description holds.
    counted_by: AtomicI32,
    /// `os::ids::forks_made` when it was made: a child forked since may hold it un-adopted.
    pub forks_at_open: u32,
}

impl Description {
    pub fn new(id: u64, read: bool, write: bool, maxmsg: i64, msgsize: i64) -> Description {
        Description { id, read, write, maxmsg, msgsize, counted_by: AtomicI32::new(crate::os::ids::pid()), forks_at_open: crate::os::ids::forks_made() }
    }

    /// Whether the calling process is counted among the queue's openers for this description.
    pub fn counted_here(&self) -> bool {
        self.counted_by.load(Ordering::Acquire) == crate::os::ids::pid()
    }

    /// Records that the calling process is now counted (after `adopt`).
    pub fn set_counted_here(&self) {
        self.counted_by.store(crate::os::ids::pid(), Ordering::Release);
    }
}

/// Whether `fd`'s open description has O_NONBLOCK.
pub fn nonblock(fd: c_int) -> bool {
    let flags = crate::os::sys::fcntl(fd, libc::F_GETFL, 0);
    flags >= 0 && flags & libc::O_NONBLOCK != 0
}

/// fd number → description (index = fd).
static TABLE: ForkSafe<Vec<Option<Arc<Description>>>> = ForkSafe::new(Vec::new(), None);
/// Set once any descriptor was made, so the descriptor functions stay free until then.
static ANY: AtomicBool = AtomicBool::new(false);

/// Whether this process ever had a descriptor of a queue on the server.
pub fn any() -> bool {
    ANY.load(Ordering::Relaxed)
}

/// Records `fd` as referring to `d`.
pub fn insert(fd: c_int, d: Arc<Description>) {
    ANY.store(true, Ordering::Relaxed);
    let Ok(i) = usize::try_from(fd) else { return };
    TABLE.with(|t| {
        if t.len() <= i {
            t.resize(i + 1, None);
        }
        t[i] = Some(d);
    });
}

/// The description `fd` refers to.
pub fn get(fd: c_int) -> Option<Arc<Description>> {
    if !any() {
        return None;
    }
    let i = usize::try_from(fd).ok()?;
    TABLE.with(|t| t.get(i).cloned().flatten())
}

/// Forgets `fd`, returning its description and whether it was this process's last descriptor
/// of that description.
pub fn take(fd: c_int) -> Option<(Arc<Description>, bool)> {
    if !any() {
        return None;
    }
    let i = usize::try_from(fd).ok()?;
    TABLE.with(|t| {
        let d = t.get_mut(i).and_then(Option::take)?;
        let last = !t.iter().flatten().any(|other| Arc::ptr_eq(other, &d));
        Some((d, last))
    })
}

/// This process's descriptors of `d`.
pub fn fds_of(d: &Arc<Description>) -> Vec<c_int> {
    TABLE.with(|t| t.iter().enumerate().filter(|(_, e)| e.as_ref().is_some_and(|e| Arc::ptr_eq(e, d))).map(|(i, _)| i as c_int).collect())
}

/// `new` now refers to what `old` refers to.
pub fn duplicated(old: c_int, new: c_int) {
    if let Some(d) = get(old) {
        insert(new, d);
    }
}
