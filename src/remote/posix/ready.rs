//! Readiness of the server's queue descriptors for poll, select and epoll.
//!
//! A descriptor is armed when it is first passed to poll, ppoll, select, pselect or epoll_ctl
//! (the interposition point the emulation arms its queues at): the process makes one pipe per
//! queue and puts a new open description of it (O_RDWR, with the descriptor's O_NONBLOCK and
//! close-on-exec) in place of the descriptor's eventfd, and of every duplicate of it. The pipe
//! holds the emulation's tokens (`emu::posix::ready`: none = empty, writable only; some =
//! readable and writable; all four slots = full, readable only; each change ends with the
//! wake-up that epoll counts as an edge), written through a non-blocking descriptor of the
//! process's own, so keeping them never blocks.
//!
//! The tokens follow the queue's count:
//! - the process's own sends and receives on a polled queue answer the count and the queue's
//!   change number (meta `chg`, bumped by every change of the count), and the process moves
//!   its tokens at once, so it sees its own change when the call returns;
//! - the process registers on the server as a poller of the queue (a waiter of kind `p`, its
//!   process token as the token); every change of the count by anyone pushes its wake marker,
//!   and the helper thread of `notify` (running while a queue is armed, as while a
//!   notification is registered) then asks for the count (`poll`: one round trip per armed
//!   queue) and moves the tokens when the change number moved. The same call renews the
//!   registration every [`RENEW_NS`]; a process that is gone stops renewing, and the server's
//!   pruning of stale waiters drops it.
//!
//! A forked child shares the pipes (and the armed table, so its own calls keep them in step);
//! it registers, and runs a helper, only when it polls itself. A process that never polls pays
//! nothing: no pipe, no registration, and the scripts of an unpolled queue do no more.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use super::descriptors::{self, Description};
use super::{done, int_at, waiter_identity, POSIX};
use crate::emu::posix::ready::{change_tokens, reset_tokens, tokens_held};
use crate::os::forksafe::ForkSafe;
use crate::remote::connection::Reply;
use crate::remote::Remote;

/// How often the helper renews the registrations (well within lib.lua's STALE_MS of 5 s).
pub const RENEW_NS: u64 = 2_000_000_000;

/// An armed queue.
struct Armed {
    queue: u64,
    maxmsg: u32,
    /// The process's own non-blocking descriptor of the queue's pipe.
    tokens: c_int,
    /// The program's descriptors that are descriptions of the pipe.
    fds: Vec<c_int>,
    /// The change number the tokens show, in a shared page, so that the processes sharing the
    /// pipe after a fork move the tokens once per change.
    chg: &'static AtomicI64,
    /// The process registered as the queue's poller (a forked child's entries are its parent's
    /// until it polls).
    poller: i32,
}

static ARMED: ForkSafe<Vec<Armed>> = ForkSafe::new(Vec::new(), None);
/// Set once a queue was armed, so that calls stay free until then.
static ANY: AtomicBool = AtomicBool::new(false);

/// The helper's poll marker (the waiter token this process registers as a poller with).
pub fn marker(remote: &Remote) -> String {
    remote.keys.waiter(&super::notify::process_token())
}

/// Whether this process has registered queues whose tokens the helper keeps.
pub fn polling() -> bool {
    let me = crate::os::ids::pid();
    ANY.load(Ordering::Acquire) && ARMED.with(|a| a.iter().any(|e| e.poller == me))
}

/// Registers (or renews) this process as a poller of queue `id`: its count and change number.
fn register(remote: &Remote, id: u64) -> Option<(i64, i64)> {
    let (id, ptoken) = (id.to_string(), super::notify::process_token());
    let values = done(remote.with(|c| {
        let who = waiter_identity(c);
        POSIX.run(c, &remote.keys, &[b"poll", id.as_bytes(), ptoken.as_bytes(), who.as_bytes()])
    }))
    .ok()?;
    Some((int_at(&values, 0).ok()?, int_at(&values, 1).ok()?))
}

/// Moves the tokens of queue `queue` to count `cur` if change `chg` is newer than they show.
fn apply(queue: u64, cur: i64, chg: i64) {
    ARMED.with(|a| {
        if let Some(e) = a.iter_mut().find(|e| e.queue == queue) {
            if e.chg.fetch_max(chg, Ordering::AcqRel) < chg {
                let have = tokens_held(e.tokens);
                change_tokens(e.tokens, have, cur.max(0) as u32, e.maxmsg);
            }
        }
    });
}

/// A send or receive on queue `queue` completed with `values`: on a polled queue they end with
/// its count and change number, which the process's tokens take at once.
pub fn after_call(queue: u64, values: &[Reply], answer_len: usize) {
    if !ANY.load(Ordering::Acquire) || values.len() < answer_len + 2 {
        return;
    }
    let n = values.len();
    if let (Some(cur), Some(chg)) = (values[n - 2].int(), values[n - 1].int()) {
        apply(queue, cur, chg);
    }
}

/// The helper thread's turn (woken by the marker, or every RENEW_NS): renews this process's
/// registrations and moves the tokens of the queues that changed.
pub fn refresh(remote: &Remote) {
    let me = crate::os::ids::pid();
    let queues: Vec<u64> = ARMED.with(|a| a.iter().filter(|e| e.poller == me).map(|e| e.queue).collect());
    for queue in queues {
        if let Some((cur, chg)) = register(remote, queue) {
            apply(queue, cur, chg);
        }
    }
}

/// A change number shared with the process's future children (a page of its own).
fn shared_chg(chg: i64) -> Option<&'static AtomicI64> {
    // SAFETY: a new anonymous shared mapping; no existing memory is touched.
    let page = unsafe { libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0) };
    if page == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: the page is ours, zeroed, aligned and lives until `closing` unmaps it after
    // forgetting every reference to it.
    let chg_ref = unsafe { &*page.cast::<AtomicI64>() };
    chg_ref.store(chg, Ordering::Release);
    Some(chg_ref)
}

/// Opens a new description of the pipe behind `fd` (O_RDWR plus `flags`).
fn reopen(fd: c_int, flags: c_int) -> c_int {
    let Ok(path) = std::ffi::CString::new(format!("/proc/self/fd/{fd}")) else { return -1 };
    crate::os::sys::openat(libc::AT_FDCWD, &path, libc::O_RDWR | libc::O_CLOEXEC | flags, 0)
}

/// A new pipe for a queue: the process's own non-blocking descriptor of it.
fn new_pipe() -> Option<c_int> {
    let mut ends = [-1; 2];
    // SAFETY: pipe2 writes two descriptors into the local array.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    let tokens = reopen(ends[0], libc::O_NONBLOCK);
    crate::os::sys::close(ends[0]);
    crate::os::sys::close(ends[1]);
    (tokens >= 0).then(|| crate::os::sys::move_high(tokens))
}

/// A new description of the pipe behind `tokens` for the program's descriptor `fd` (O_RDWR,
/// with `fd`'s O_NONBLOCK), or -1.
fn description_for(tokens: c_int, fd: c_int) -> c_int {
    let status = crate::os::sys::fcntl(fd, libc::F_GETFL, 0);
    if status < 0 {
        return -1;
    }
    reopen(tokens, status & libc::O_NONBLOCK)
}

/// Puts the description `source` refers to in place of the program's descriptor `fd`, keeping
/// its close-on-exec.
fn replace(source: c_int, fd: c_int) -> bool {
    let fd_flags = crate::os::sys::fcntl(fd, libc::F_GETFD, 0);
    if fd_flags < 0 {
        return false;
    }
    let cloexec = if fd_flags & libc::FD_CLOEXEC != 0 { libc::O_CLOEXEC } else { 0 };
    // SAFETY: dup3 of a descriptor we hold onto the program's descriptor, which it replaces
    // atomically; no memory is passed.
    unsafe { libc::syscall(libc::SYS_dup3, source, fd, cloexec) == fd as libc::c_long }
}

/// `fd` (a descriptor of `d`) is about to be polled: arms its queue (see the module comment).
pub fn arm(remote: &Remote, fd: c_int, d: &Arc<Description>) {
    let me = crate::os::ids::pid();
    let known = ANY.load(Ordering::Acquire) && ARMED.with(|a| a.iter().any(|e| e.queue == d.id && e.poller == me && e.fds.contains(&fd)));
    if known {
        return;
    }
    let Some((cur, chg)) = register(remote, d.id) else { return };
    let exists = ARMED.with(|a| a.iter().any(|e| e.queue == d.id));
    if !exists {
        let Some(shared) = shared_chg(chg) else { return };
        let Some(tokens) = new_pipe() else {
            unmap(shared);
            return;
        };
        reset_tokens(tokens, cur.max(0) as u32, d.maxmsg as u32);
        ANY.store(true, Ordering::Release);
        ARMED.with(|a| a.push(Armed { queue: d.id, maxmsg: d.maxmsg as u32, tokens, fds: Vec::new(), chg: shared, poller: me }));
    } else {
        // Inherited from the parent, or armed by another thread: ours to keep now.
        ARMED.with(|a| {
            if let Some(e) = a.iter_mut().find(|e| e.queue == d.id) {
                e.poller = me;
            }
        });
        apply(d.id, cur, chg);
    }
    if super::notify::ensure_helper(remote).is_err() {
        return;
    }
    // Every descriptor of the description gets one new description of the pipe (they share
    // O_NONBLOCK, as before): one already made, or a new one.
    let fds = descriptors::fds_of(d);
    let Some((tokens, made)) = ARMED.with(|a| a.iter().find(|e| e.queue == d.id).map(|e| (e.tokens, fds.iter().copied().find(|f| e.fds.contains(f))))) else {
        return;
    };
    let source = match made {
        Some(f) => f,
        None => description_for(tokens, fd),
    };
    if source < 0 {
        return;
    }
    for other in fds {
        let done = ARMED.with(|a| a.iter().any(|e| e.queue == d.id && e.fds.contains(&other)));
        if done || replace(source, other) {
            ARMED.with(|a| {
                if let Some(e) = a.iter_mut().find(|e| e.queue == d.id) {
                    if !e.fds.contains(&other) {
                        e.fds.push(other);
                    }
                }
            });
        }
    }
    if made.is_none() {
        crate::os::sys::close(source);
    }
}

/// `fd` is being closed: it no longer refers to a pipe; a queue with no armed descriptor left
/// is disarmed (its registration lapses on the server when the helper stops renewing it).
pub fn closing(fd: c_int) {
    if !ANY.load(Ordering::Acquire) {
        return;
    }
    let gone = ARMED.with(|a| {
        let mut last = Vec::new();
        for e in a.iter_mut() {
            let had = e.fds.contains(&fd);
            e.fds.retain(|&f| f != fd);
            if had && e.fds.is_empty() {
                last.push(e.queue);
            }
        }
        // (Only the entries this close emptied: one being armed has no descriptor yet.)
        let (gone, kept): (Vec<Armed>, Vec<Armed>) = std::mem::take(a).into_iter().partition(|e| last.contains(&e.queue));
        *a = kept;
        gone
    });
    for e in gone {
        crate::os::sys::close(e.tokens);
        unmap(e.chg);
    }
}

fn unmap(chg: &'static AtomicI64) {
    // SAFETY: the page `shared_chg` mapped, no longer referenced by any entry.
    unsafe { libc::munmap((chg as *const AtomicI64).cast_mut().cast(), 4096) };
}

/// `new` now refers to what `old` refers to: a duplicate of an armed descriptor is one too.
pub fn duplicated(old: c_int, new: c_int) {
    if !ANY.load(Ordering::Acquire) {
        return;
    }
    ARMED.with(|a| {
        for e in a.iter_mut() {
            e.fds.retain(|&f| f != new);
            if e.fds.contains(&old) {
                e.fds.push(new);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::{RemotePosix, POSIX};
    use crate::emu::posix::limits::PosixLimits;
    use crate::remote::connection::Reply;
    use crate::remote::script::Step;
    use crate::remote::testing::Server;

    #[test]
    fn only_a_polled_queue_answers_its_count_and_wakes_its_pollers_on_each_change() {
        let Some(server) = Server::start() else { return };
        let limits = PosixLimits { msg_max: 10, msgsize_max: 8192, msg_default: 10, msgsize_default: 8192, queues_max: 256, rlimit_msgqueue: Some(u64::MAX) };
        let p = RemotePosix::new(server.remote("rd"), limits, crate::remote::testing::stock_stated());
        // SAFETY: a zeroed mq_attr is valid; the pointers are this test's own.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = 2;
        attr.mq_msgsize = 8;
        // SAFETY: as above.
        let fd = unsafe { p.open(c"/r".as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600, &attr) }.unwrap();
        let id = super::descriptors::get(fd).unwrap().id.to_string();
        let send = |body: &[u8]| p.remote.run(&POSIX, &[b"send", id.as_bytes(), body, b"0", b"", b"0", b"0 1 h"]);
        let int = |i: i64| Reply::Int(i);
        // Not polled: the reply is as before.
        assert_eq!(send(b"a"), Ok(Step::Done(vec![])));
        let poller = "ptok";
        let poll = || p.remote.run(&POSIX, &[b"poll", id.as_bytes(), poller.as_bytes(), b"0 1 h"]);
        assert_eq!(poll(), Ok(Step::Done(vec![int(1), int(0)])));
        let marker = p.remote.keys.waiter(poller);
        let marked = || p.remote.with(|c| c.request(&[b"LPOP", marker.as_bytes()])).unwrap() != Reply::Nil;
        // A send that stores a message: the count and change number, and the poller is woken.
        assert_eq!(send(b"b"), Ok(Step::Done(vec![int(2), int(1)])));
        assert!(marked());
        // A send that fails (full) changes nothing: no wake-up.
        assert!(matches!(send(b"c"), Ok(Step::Done(v)) if v.first().and_then(Reply::bytes) == Some(b"W")));
        assert!(!marked());
        assert_eq!(p.descriptor_closing(fd), Some(Ok(0)));
    }
}
