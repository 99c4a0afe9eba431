//! POSIX queues held by the server: `mq_open` … `mq_notify` with the kernel's semantics, each
//! state change one run of `scripts/posix.lua` (one round trip).
//!
//! Checks that need only the caller's arguments and its descriptor (the timeout, the
//! priority, the access mode, the message size against the cached `mq_msgsize`, the caller's
//! memory) are made here, in the kernel's order, before anything is sent; the rest is the
//! script's. Blocking goes through `remote::wait` with the mqueue restart rule. The script
//! reproduces the kernel's pipelining, so what a program can observe matches it:
//! - a send to a queue with receivers waiting hands the message to the one waiting longest
//!   (it is no longer counted, and no other receiver can take it);
//! - a receive from a full queue with senders waiting moves the message of the one waiting
//!   longest into the queue (so `mq_curmsgs` stays at `mq_maxmsg`), and that sender returns;
//! - a waiter interrupted by a signal, or at its deadline, still succeeds if it was served
//!   before.
//!
//! Round trips: `mq_open`, `mq_send`, `mq_receive`, `mq_getattr`: one each when they need not
//! wait (a forked child's first use of an inherited descriptor adds one). A blocked call adds
//! a `BLPOP` and one more script run per wake-up or half-second slice. `mq_close` needs one
//! only for the last descriptor of a description (or the owner of a notification).

pub mod admin;
mod descriptors;
pub mod notify;
mod ready;

use std::os::raw::{c_char, c_int, c_uint};
use std::sync::Arc;

use libc::{mode_t, mq_attr, sigevent, timespec};

use super::connection::Reply;
use super::script::{Script, Step};
use super::wait::{self, Waiter};
use super::Remote;
use crate::emu::engine::futex::Restart;
use crate::emu::posix::limits::{PosixLimits, MQ_PRIO_MAX};
use crate::emu::posix::read_timeout;
use crate::emu::posix::store::QueueName;
use crate::errno::{Errno, Result};
use crate::os::creds::Creds;
use crate::os::usermem::{checked_read, checked_write, probe_read, probe_write};
use descriptors::Description;

/// Every POSIX operation (ARGV[1] names it).
pub(crate) static POSIX: Script = Script::new("posix", include_str!("scripts/posix.lua"));

/// The POSIX half of the Redis backend.
pub struct RemotePosix {
    pub remote: Remote,
    pub limits: PosixLimits,
    /// The limits the client states at each creation (`remote::sysctl`): the namespace's
    /// sysctls apply over them.
    stated: String,
}

/// The values of a script that must complete (a `wait` is EIO).
fn done(step: Result<Step>) -> Result<Vec<Reply>> {
    match step? {
        Step::Done(values) => Ok(values),
        Step::Wait(_) => Err(Errno::EIO),
    }
}

/// Whether a script's values say "would block" (`W`, then the waiters holding a message or a
/// slot, as token/connection pairs).
fn would_block(values: &[Reply]) -> bool {
    values.first().and_then(Reply::bytes) == Some(b"W")
}

/// How this process is known among a queue's openers: "PTOKEN PID HOST START".
fn opener_identity() -> String {
    let pid = crate::os::ids::pid();
    let start = crate::os::sys::process_stat(pid).map_or(0, |(_, start)| start);
    format!("{} {pid} {} {start}", notify::process_token(), notify::host_id())
}

/// Whether process `pid`, started at `start` (clock ticks after boot), no longer runs on this
/// host: gone, a zombie, or the pid is another process's now.
fn process_ended(pid: i32, start: u64) -> bool {
    pid <= 0 || crate::os::sys::process_gone_or_zombie(pid) || crate::os::sys::process_stat(pid).is_some_and(|(_, now)| now != start)
}

/// The processes an opener entry stands for: its own ("PID HOST START", pid 0 for counts kept
/// for children) and the children it kept counts for ("CPID:CSTART ..."), as (pid, start).
fn opener_processes(who: &str) -> (&str, Vec<(i32, u64)>) {
    let mut f = who.split(' ');
    let (pid, host, start) = (f.next().and_then(|p| p.parse().ok()).unwrap_or(0), f.next().unwrap_or(""), f.next().and_then(|s| s.parse().ok()).unwrap_or(0));
    let mut processes = vec![(pid, start)];
    processes.extend(f.filter_map(|c| c.split_once(':')).filter_map(|(p, s)| Some((p.parse().ok()?, s.parse().ok()?))));
    processes.retain(|&(pid, _)| pid > 0);
    (host, processes)
}

/// Whether the opener `ptoken`, known as `who` (see `opener_processes`), is gone — every process
/// it stands for: on this host, ended (`process_ended`); on another host, none of their
/// connections is open on the server (each is named after its process token, image-PID:
/// `clients` is `CLIENT LIST`, None when the server will not say: then it is taken to be alive).
fn opener_gone(ptoken: &str, who: &str, clients: &mut Option<Option<String>>, remote: &Remote) -> bool {
    let (host, processes) = opener_processes(who);
    if host == notify::host_id() {
        return processes.iter().all(|&(pid, start)| process_ended(pid, start));
    }
    let image = ptoken.trim_end_matches('+').rsplit_once('-').map_or(ptoken, |(image, _)| image);
    let list = clients.get_or_insert_with(|| super::connection::client_names(&remote.url));
    list.as_ref().is_some_and(|list| processes.iter().all(|(pid, _)| !list.contains(&format!("-{image}-{pid} "))))
}

/// The live children of this process (of any of its threads), as "PID:START ...".
fn live_children() -> String {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
            if let Some((_, start)) = crate::os::sys::process_stat(pid).filter(|(state, _)| !matches!(state, 'Z' | 'X')) {
                out.push(format!("{pid}:{start}"));
            }
        }
    }
    out.join(" ")
}

/// How a waiter is known on the server: its connection id, pid and host ("id pid host").
fn waiter_identity(c: &super::connection::Connection) -> String {
    format!("{} {} {}", c.client_id(), crate::os::ids::pid(), notify::host_id())
}

fn int_at(values: &[Reply], i: usize) -> Result<i64> {
    values.get(i).and_then(Reply::int).ok_or(Errno::EIO)
}

/// The process's file mode creation mask.
fn umask() -> mode_t {
    // SAFETY: umask is read by setting and restoring it (no other way exists); the window is a
    // few instructions long.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    }
}

impl RemotePosix {
    /// `limits` are the client's (its stock or `/proc` ones, and its own settings), as `stated`
    /// says them (`remote::sysctl::stated`).
    pub fn new(remote: Remote, limits: PosixLimits, stated: String) -> RemotePosix {
        RemotePosix { remote, limits, stated }
    }

    /// The description behind `fd`, counted on the server for this process (a forked child
    /// adopts an inherited one on first use).
    fn resolve(&self, fd: c_int) -> Result<Arc<Description>> {
        let d = descriptors::get(fd).ok_or(Errno::EBADF)?;
        if !d.counted_here() {
            let id = d.id.to_string();
            let me = opener_identity();
            done(self.remote.run(&POSIX, &[b"adopt", id.as_bytes(), me.as_bytes()]))?;
            d.set_counted_here();
        }
        Ok(d)
    }

    /// Tells the server which of `holders` (token / "connection-id pid host" pairs: the
    /// queue's waiters) are gone — so that a message handed to one, or a slot reserved for one,
    /// goes to others now rather than when their registrations go stale. A waiter on
    /// this host is gone when its process is (or is a zombie); one on another host when its
    /// connection is closed on the server (its process died, `CLIENT LIST ID`). Whether any was.
    fn reap_gone(&self, id: &str, holders: &[Reply]) -> bool {
        let mut gone: Vec<&[u8]> = Vec::new();
        let mut remote: Vec<(&[u8], i64)> = Vec::new();
        for pair in holders.chunks(2) {
            let (Some(token), Some(who)) = (pair.first().and_then(Reply::bytes), pair.get(1).and_then(Reply::bytes)) else { continue };
            let who = String::from_utf8_lossy(who);
            let mut f = who.split(' ');
            let (conn, pid, host) =
                (f.next().and_then(|c| c.parse().ok()).unwrap_or(0), f.next().and_then(|p| p.parse().ok()).unwrap_or(0), f.next().unwrap_or(""));
            if host == notify::host_id() && pid > 0 {
                if crate::os::sys::process_gone_or_zombie(pid) {
                    gone.push(token);
                }
            } else {
                remote.push((token, conn));
            }
        }
        if !remote.is_empty() {
            let ids: Vec<i64> = remote.iter().map(|p| p.1).collect();
            if let Some(closed) = super::connection::closed_among(&self.remote.url, &ids) {
                gone.extend(remote.iter().filter(|p| closed.contains(&p.1)).map(|p| p.0));
            }
        }
        if gone.is_empty() {
            return false;
        }
        let mut args: Vec<&[u8]> = vec![b"reap", id.as_bytes()];
        args.extend(gone);
        done(self.remote.run(&POSIX, &args)).is_ok()
    }

    /// Gives back what openers that are gone held open — of queue `id`, or of every orphan (an
    /// unlinked queue still open): the kernel closes a process's descriptors when it dies, so
    /// an unlinked queue goes with its last opener, however it ended. Whether any was gone.
    /// Run when an unlinked queue stays open (`mq_unlink`, `mq_close`), when `mq_open` is told
    /// to (at most once a second per namespace while orphans exist), before `mq_open` answers
    /// ENOSPC or EMFILE, and before a listing (`mqshim ipcs`).
    pub(crate) fn reclaim_openers(&self, id: Option<&str>) -> bool {
        let args: Vec<&[u8]> = match id {
            Some(id) => vec![b"openers", id.as_bytes()],
            None => vec![b"openers"],
        };
        let Ok(held) = done(self.remote.run(&POSIX, &args)) else { return false };
        let mut clients = None;
        let mut gone: Vec<&[u8]> = vec![b"sweep"];
        for opener in held.chunks_exact(3) {
            let (Some(id), Some(ptoken), Some(who)) = (opener[0].bytes(), opener[1].bytes(), opener[2].bytes()) else { continue };
            if opener_gone(&String::from_utf8_lossy(ptoken), &String::from_utf8_lossy(who), &mut clients, &self.remote) {
                gone.extend([id, ptoken]);
            }
        }
        gone.len() > 1 && done(self.remote.run(&POSIX, &gone)).is_ok()
    }

    /// Runs mq_send's or mq_receive's script on queue `id` — `head` (the operation and its own
    /// arguments), then the waiter's token, wait mode and identity — until it is done: without
    /// waiting on a non-blocking descriptor `fd` (EAGAIN), else waiting with mqueue's restart
    /// rule until `deadline` (ETIMEDOUT once it has passed).
    fn until_done(&self, fd: c_int, id: &str, head: &[&[u8]], deadline: Option<&timespec>) -> Result<Vec<Reply>> {
        let run = |c: &mut super::connection::Connection, token: &str, mode: &[u8], waiter: Option<&Waiter>| -> Result<Option<Vec<Reply>>> {
            let conn = waiter_identity(c);
            let mut args = head.to_vec();
            args.extend_from_slice(&[token.as_bytes(), mode, conn.as_bytes()]);
            Ok(match POSIX.run(c, &self.remote.keys, &args)? {
                Step::Done(values) => Some(values),
                Step::Wait(due_in_ms) => {
                    if let Some(w) = waiter {
                        w.wait_at_most(due_in_ms);
                    }
                    None
                }
            })
        };
        let values = if descriptors::nonblock(fd) {
            self.without_waiting(id, |c| run(c, "", b"0", None))?
        } else {
            wait::blocking_or_else(
                &self.remote,
                deadline,
                Restart::LikeMqueue,
                |c, w: &Waiter| run(c, w.token, w.may_wait_arg(), Some(w)),
                |c, token| run(c, token, b"x", None),
            )?
        };
        if would_block(&values) {
            // The deadline passed: a blocking call's last attempt may not wait.
            return Err(Errno::ETIMEDOUT);
        }
        Ok(values)
    }

    /// Runs a send or receive that must not wait: its values, or EAGAIN (after giving what
    /// waiters found gone held to others, and trying again).
    fn without_waiting(&self, id: &str, run: impl Fn(&mut super::connection::Connection) -> Result<Option<Vec<Reply>>>) -> Result<Vec<Reply>> {
        for _ in 0..2 {
            let values = self.remote.with(&run)?.ok_or(Errno::EAGAIN)?;
            if !would_block(&values) {
                return Ok(values);
            }
            if !self.reap_gone(id, &values[1..]) {
                break;
            }
        }
        Err(Errno::EAGAIN)
    }

    /// `mq_open`: `mode` and `attr` are used only with `O_CREAT`.
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does).
    pub unsafe fn open(&self, name: *const c_char, oflag: c_int, mode: mode_t, attr: *const mq_attr) -> Result<c_int> {
        let creat = oflag & libc::O_CREAT != 0;
        // SAFETY: `attr` is the program's mq_open argument, as checked_read requires.
        let attr = if creat && !attr.is_null() { Some(unsafe { checked_read(attr) }.ok_or(Errno::EFAULT)?) } else { None };
        let name = QueueName::read(name)?;
        let mut full = b"/".to_vec();
        full.extend_from_slice(name.bytes());
        // The descriptor first, as the kernel takes it before looking the name up (EMFILE).
        let nonblock = if oflag & libc::O_NONBLOCK != 0 { libc::EFD_NONBLOCK } else { 0 };
        // SAFETY: creates a descriptor; no memory is passed.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | nonblock) };
        if fd < 0 {
            return Err(Errno::last());
        }
        let mut result = self.open_on_server(&full, oflag, mode, attr.as_ref());
        // A queue of a process that died may be holding the slot or the bytes.
        if matches!(result, Err(Errno::ENOSPC | Errno::EMFILE)) && self.reclaim_openers(None) {
            result = self.open_on_server(&full, oflag, mode, attr.as_ref());
        }
        match result {
            Ok((id, maxmsg, msgsize)) => {
                let acc = oflag & libc::O_ACCMODE;
                let read = acc == libc::O_RDONLY || acc == libc::O_RDWR;
                let write = acc == libc::O_WRONLY || acc == libc::O_RDWR;
                descriptors::insert(fd, Arc::new(Description::new(id, read, write, maxmsg, msgsize)));
                Ok(fd)
            }
            Err(e) => {
                crate::os::sys::close(fd);
                Err(e)
            }
        }
    }

    fn open_on_server(&self, name: &[u8], oflag: c_int, mode: mode_t, attr: Option<&mq_attr>) -> Result<(u64, i64, i64)> {
        let creds = Creds::current();
        let flag = |set: bool| if set { "1" } else { "0" };
        let acc = (oflag & libc::O_ACCMODE).to_string();
        let mode = (mode & 0o7777 & !umask()).to_string();
        let (maxmsg, msgsize) = attr.map_or((0, 0), |a| (a.mq_maxmsg, a.mq_msgsize));
        let (maxmsg, msgsize) = (maxmsg.to_string(), msgsize.to_string());
        let rlimit = match self.limits.rlimit_msgqueue() {
            u64::MAX => "inf".to_string(),
            n => n.to_string(),
        };
        let who = super::script::caller(&creds);
        let charge_uid = creds.uid.to_string();
        let me = opener_identity();
        let args: [&[u8]; 14] = [
            b"open",
            name,
            flag(oflag & libc::O_CREAT != 0).as_bytes(),
            flag(oflag & libc::O_EXCL != 0).as_bytes(),
            acc.as_bytes(),
            mode.as_bytes(),
            flag(attr.is_some()).as_bytes(),
            maxmsg.as_bytes(),
            msgsize.as_bytes(),
            who.as_bytes(),
            self.stated.as_bytes(),
            rlimit.as_bytes(),
            charge_uid.as_bytes(),
            me.as_bytes(),
        ];
        let values = done(self.remote.run(&POSIX, &args))?;
        if int_at(&values, 3) == Ok(1) {
            self.reclaim_openers(None);
        }
        Ok((int_at(&values, 0)? as u64, int_at(&values, 1)?, int_at(&values, 2)?))
    }

    /// `mq_unlink`.
    ///
    /// # Safety
    /// `name` is the program's argument (invalid: EFAULT).
    pub unsafe fn unlink(&self, name: *const c_char) -> Result<c_int> {
        self.remove(&QueueName::read(name)?)?;
        Ok(0)
    }

    /// `fd` is being closed (`mq_close`, `close`, `dup2` onto it): None when it is not one of
    /// this backend's. The descriptor is closed whatever the server says (close cannot fail
    /// for a queue descriptor on the kernel either).
    pub fn descriptor_closing(&self, fd: c_int) -> Option<Result<c_int>> {
        let (d, last) = descriptors::take(fd)?;
        ready::closing(fd);
        let release = last && d.counted_here();
        let notified = notify::closing(d.id);
        if release || notified {
            let id = d.id.to_string();
            let ptoken = notify::process_token();
            // Children forked since the description was made may hold it without counting.
            let children = if release && crate::os::ids::forks_made() != d.forks_at_open { live_children() } else { String::new() };
            let flag: &[u8] = if release { b"1" } else { b"0" };
            let answer = done(self.remote.run(&POSIX, &[b"close", id.as_bytes(), flag, ptoken.as_bytes(), children.as_bytes()]));
            if answer.is_ok_and(|values| values.first().and_then(Reply::bytes) == Some(b"orphan")) {
                self.reclaim_openers(Some(&id));
            }
        }
        if crate::os::sys::close(fd) != 0 {
            return Some(Err(Errno::last()));
        }
        Some(Ok(0))
    }

    /// `mq_send` / `mq_timedsend`, in the kernel's order of checks.
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does).
    pub unsafe fn send(&self, fd: c_int, msg: *const c_char, len: usize, prio: c_uint, timeout: Option<*const timespec>) -> Result<c_int> {
        let deadline = read_timeout(timeout)?;
        // SAFETY: the program's buffer, as this function's contract passes it.
        let body = unsafe { message_to_send(fd, msg, len, prio, || true) }?;
        let d = self.resolve(fd)?;
        let (id, prio) = (d.id.to_string(), prio.to_string());
        let values = self.until_done(fd, &id, &[b"send", id.as_bytes(), body, prio.as_bytes()], deadline.as_ref())?;
        let fired = values.first().and_then(Reply::bytes) == Some(b"N");
        ready::after_call(d.id, &values, if fired { 8 } else { 0 });
        if fired {
            notify::deliver_fired(&self.remote, d.id, &values[1..]);
        }
        Ok(0)
    }

    /// `mqshim_mq_send_at`: `mq_timedsend`'s checks (the due time and the priority before the
    /// descriptor), then at most 64 pending per queue (EAGAIN). The due time is compared with
    /// the server's clock (lib.lua's `promote_due`).
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the emulation's does).
    pub unsafe fn send_at(&self, fd: c_int, msg: *const c_char, len: usize, prio: c_uint, due: *const timespec, handle: *mut u64) -> Result<c_int> {
        let due = read_timeout(Some(due))?.ok_or(Errno::EINVAL)?;
        // SAFETY: the program's buffer, as this function's contract passes it.
        let body = unsafe { message_to_send(fd, msg, len, prio, || probe_write(handle.cast(), std::mem::size_of::<u64>())) }?;
        let d = self.resolve(fd)?;
        let due_ns = due.tv_sec as u64 * 1_000_000_000 + due.tv_nsec as u64;
        let (due_us, due_ns) = (due_ns.div_ceil(1000).to_string(), due_ns.to_string());
        let (id, prio) = (d.id.to_string(), prio.to_string());
        let (pid, uid) = (crate::os::ids::pid().to_string(), crate::os::sys::ids().0.to_string());
        let args: [&[u8]; 8] = [b"send_at", id.as_bytes(), body, prio.as_bytes(), due_us.as_bytes(), due_ns.as_bytes(), pid.as_bytes(), uid.as_bytes()];
        let values = done(self.remote.run(&POSIX, &args))?;
        let h = int_at(&values, 0)? as u64;
        // SAFETY: `handle` was probed writable above (the program's storage).
        if !unsafe { checked_write(handle, &h) } {
            return Err(Errno::EFAULT);
        }
        Ok(0)
    }

    /// `mqshim_mq_cancel`: ENOENT when `handle` is not pending (due already, cancelled, or
    /// never scheduled on this queue).
    pub fn cancel(&self, fd: c_int, handle: u64) -> Result<c_int> {
        let d = self.resolve(fd)?;
        let (id, handle) = (d.id.to_string(), handle.to_string());
        done(self.remote.run(&POSIX, &[b"unschedule", id.as_bytes(), handle.as_bytes()]))?;
        Ok(0)
    }

    /// `mq_receive` / `mq_timedreceive`, in the kernel's order of checks.
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does).
    pub unsafe fn receive(&self, fd: c_int, buf: *mut c_char, len: usize, prio_out: *mut c_uint, timeout: Option<*const timespec>) -> Result<isize> {
        let deadline = read_timeout(timeout)?;
        let d = descriptors::get(fd).ok_or(Errno::EBADF)?;
        if !d.read {
            return Err(Errno::EBADF);
        }
        if (len as i64) < d.msgsize {
            return Err(Errno::EMSGSIZE);
        }
        let d = self.resolve(fd)?;
        let id = d.id.to_string();
        let values = self.until_done(fd, &id, &[b"receive", id.as_bytes()], deadline.as_ref())?;
        // ok M BODY PRIO [CURMSGS CHG] (the tag keeps a body of "W" from reading as would-block).
        ready::after_call(d.id, &values, 3);
        let body = values.get(1).and_then(Reply::bytes).ok_or(Errno::EIO)?;
        let prio = int_at(&values, 2)? as c_uint;
        // As in the kernel, the message is already dequeued when a bad pointer is found.
        if !probe_write(buf.cast(), body.len()) {
            return Err(Errno::EFAULT);
        }
        // SAFETY: `body.len()` bytes at `buf` were just probed writable; the regions are distinct.
        unsafe { std::ptr::copy_nonoverlapping(body.as_ptr(), buf.cast::<u8>(), body.len()) };
        // SAFETY: `prio_out` is the program's mq_receive argument, as checked_write requires.
        if !prio_out.is_null() && !unsafe { checked_write(prio_out, &prio) } {
            return Err(Errno::EFAULT);
        }
        Ok(body.len() as isize)
    }

    /// `mq_setattr` (and `mq_getattr` with `new` NULL): only O_NONBLOCK changes, on the open
    /// description; invalid flags are refused before the descriptor is looked at.
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does).
    pub unsafe fn setattr(&self, fd: c_int, new: *const mq_attr, old: *mut mq_attr) -> Result<c_int> {
        // SAFETY: `new` is the program's mq_setattr argument, as checked_read requires.
        let new = if new.is_null() { None } else { Some(unsafe { checked_read(new) }.ok_or(Errno::EFAULT)?) };
        if let Some(n) = &new {
            if n.mq_flags & !(libc::O_NONBLOCK as libc::c_long) != 0 {
                return Err(Errno::EINVAL);
            }
        }
        let d = descriptors::get(fd).ok_or(Errno::EBADF)?;
        // New attributes set the queue's atime and ctime (as the kernel's mq_getsetattr): in the
        // one round trip that also reads the old ones, or its own.
        let stamp: &[u8] = if new.is_some() { b"1" } else { b"0" };
        if !old.is_null() {
            let d = self.resolve(fd)?;
            let id = d.id.to_string();
            let mut values = done(self.remote.run(&POSIX, &[b"attr", id.as_bytes(), stamp]))?;
            if values.len() > 1 && self.reap_gone(&id, &values[1..]) {
                values = done(self.remote.run(&POSIX, &[b"attr", id.as_bytes(), b"0"]))?;
            }
            // SAFETY: mq_attr is plain C data; all-zero is valid (and zeroes the padding).
            let mut current: mq_attr = unsafe { std::mem::zeroed() };
            current.mq_flags = if descriptors::nonblock(fd) { libc::O_NONBLOCK as libc::c_long } else { 0 };
            current.mq_maxmsg = d.maxmsg as libc::c_long;
            current.mq_msgsize = d.msgsize as libc::c_long;
            current.mq_curmsgs = int_at(&values, 0)? as libc::c_long;
            // SAFETY: `old` is the program's mq_getattr/mq_setattr argument, as checked_write requires.
            if !unsafe { checked_write(old, &current) } {
                return Err(Errno::EFAULT);
            }
        }
        drop(d);
        if let Some(n) = new {
            if old.is_null() {
                let id = self.resolve(fd)?.id.to_string();
                done(self.remote.run(&POSIX, &[b"attr", id.as_bytes(), stamp]))?;
            }
            let flags = crate::os::sys::fcntl(fd, libc::F_GETFL, 0);
            if flags < 0 {
                return Err(Errno::EBADF);
            }
            let wanted = if n.mq_flags & libc::O_NONBLOCK as libc::c_long != 0 { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
            if crate::os::sys::fcntl(fd, libc::F_SETFL, wanted as libc::c_long) < 0 {
                return Err(Errno::last());
            }
        }
        Ok(0)
    }

    /// `mq_notify`.
    ///
    /// # Safety
    /// `sev` is the program's argument (invalid: EFAULT).
    pub unsafe fn notify(&self, fd: c_int, sev: *const sigevent) -> Result<c_int> {
        let request = crate::emu::posix::notify::Request::read(sev)?;
        let d = self.resolve(fd)?;
        notify::register(&self.remote, d.id, request)?;
        Ok(0)
    }

    /// Whether this process ever made a descriptor of a queue on the server.
    pub fn has_descriptors(&self) -> bool {
        descriptors::any()
    }

    pub fn owns_descriptor(&self, fd: c_int) -> bool {
        descriptors::get(fd).is_some()
    }

    pub fn descriptor_duplicated(&self, old: c_int, new: c_int) {
        descriptors::duplicated(old, new);
        ready::duplicated(old, new);
    }

    /// `fd` is about to be polled: if it is one of this backend's, its readiness is kept from
    /// now on (`ready`).
    pub fn descriptor_polled(&self, fd: c_int) {
        if let Some(d) = descriptors::get(fd) {
            ready::arm(&self.remote, fd, &d);
        }
    }
}

/// `mq_timedsend`'s checks after the timeout, in the kernel's order — the priority (EINVAL),
/// the descriptor open for writing (EBADF), the size (EMSGSIZE), then the buffer readable and
/// whatever else `also_readable` probes (EFAULT) — and the message's bytes.
///
/// # Safety
/// `msg` is the calling program's buffer of `len` bytes, possibly invalid; the bytes returned
/// are read in place, so the program must not unmap them during the call (as for the kernel).
unsafe fn message_to_send<'a>(fd: c_int, msg: *const c_char, len: usize, prio: c_uint, also_readable: impl FnOnce() -> bool) -> Result<&'a [u8]> {
    if prio >= MQ_PRIO_MAX {
        return Err(Errno::EINVAL);
    }
    let d = descriptors::get(fd).ok_or(Errno::EBADF)?;
    if !d.write {
        return Err(Errno::EBADF);
    }
    if len as i64 > d.msgsize {
        return Err(Errno::EMSGSIZE);
    }
    if !probe_read(msg.cast(), len) || !also_readable() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: `len` bytes at `msg` were just probed readable (the program's buffer, which it
    // must not unmap during the call).
    Ok(unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::testing::Server;

    fn limits() -> PosixLimits {
        PosixLimits { msg_max: 10, msgsize_max: 8192, msg_default: 10, msgsize_default: 8192, queues_max: 256, rlimit_msgqueue: Some(u64::MAX) }
    }

    #[test]
    fn priority_order_nonblock_and_unlink_while_open() {
        let Some(server) = Server::start() else { return };
        let p = RemotePosix::new(server.remote("px"), limits(), crate::remote::testing::stock_stated());
        // SAFETY: a zeroed mq_attr is valid; the pointers below are this test's own buffers.
        let mut attr: mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = 2;
        attr.mq_msgsize = 8;
        // SAFETY: as above.
        unsafe {
            let q = p.open(c"/q".as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NONBLOCK, 0o600, &attr).unwrap();
            assert_eq!(p.open(c"/q".as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o600, &attr), Err(Errno::EEXIST));
            assert_eq!(p.send(q, c"low".as_ptr(), 3, 1, None), Ok(0));
            assert_eq!(p.send(q, c"high".as_ptr(), 4, 9, None), Ok(0));
            assert_eq!(p.send(q, c"x".as_ptr(), 1, 1, None), Err(Errno::EAGAIN));
            assert_eq!(p.send(q, c"too long!".as_ptr(), 9, 1, None), Err(Errno::EMSGSIZE));
            assert_eq!(p.unlink(c"/q".as_ptr()), Ok(0));
            let (mut buf, mut prio) = ([0u8; 8], 0u32);
            assert_eq!(p.receive(q, buf.as_mut_ptr().cast(), 8, &mut prio, None), Ok(4));
            assert_eq!((&buf[..4], prio), (&b"high"[..], 9));
            assert_eq!(p.receive(q, buf.as_mut_ptr().cast(), 8, &mut prio, None), Ok(3));
            assert_eq!(p.receive(q, buf.as_mut_ptr().cast(), 8, &mut prio, None), Err(Errno::EAGAIN));
            assert_eq!(p.open(c"/q".as_ptr(), libc::O_RDWR, 0, std::ptr::null()), Err(Errno::ENOENT));
            assert_eq!(p.descriptor_closing(q), Some(Ok(0)));
        }
        // The last close of the unlinked queue removed its keys.
        let left = p.remote.with(|c| c.request(&[b"KEYS", b"{px}:pq:1*"])).unwrap();
        assert_eq!(left, Reply::Array(vec![]));
    }

    #[test]
    fn an_unlinked_queue_goes_with_its_last_live_opener_whatever_the_dead_held() {
        let Some(server) = Server::start() else { return };
        let p = RemotePosix::new(server.remote("dead"), limits(), crate::remote::testing::stock_stated());
        // A process that has ended (and been reaped).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        // SAFETY: a zeroed mq_attr is valid; the pointers are this test's own.
        let q = unsafe {
            let mut attr: mq_attr = std::mem::zeroed();
            attr.mq_maxmsg = 2;
            attr.mq_msgsize = 8;
            p.open(c"/d".as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_NONBLOCK, 0o600, &attr).unwrap()
        };
        // The dead process had it open twice, as its mq_open calls would have recorded.
        let who = format!("deadtoken-{dead} {dead} {} 0", notify::host_id());
        for _ in 0..2 {
            assert!(done(p.remote.run(&POSIX, &[b"adopt", b"1", who.as_bytes()])).is_ok());
        }
        let count = |key: &str| p.remote.with(|c| c.request(&[b"HGET", key.as_bytes(), b"opens"])).unwrap().int();
        assert_eq!(count("{dead}:pq:1"), Some(3));
        // Unlinked: the dead process's counts go at once; the live one keeps it usable.
        // SAFETY: the test's own strings and buffers.
        unsafe {
            assert_eq!(p.unlink(c"/d".as_ptr()), Ok(0));
            assert_eq!(count("{dead}:pq:1"), Some(1));
            assert_eq!(p.send(q, c"hi".as_ptr(), 2, 0, None), Ok(0));
        }
        // Its close is the last: the keys, the queues_max slot and the charge go.
        assert_eq!(p.descriptor_closing(q), Some(Ok(0)));
        let left = p.remote.with(|c| c.request(&[b"KEYS", b"{dead}:pq:1*"])).unwrap();
        assert_eq!(left, Reply::Array(vec![]));
        assert_eq!(p.remote.with(|c| c.request(&[b"SCARD", b"{dead}:pq:live"])), Ok(Reply::Int(0)));
        let uid = crate::os::sys::ids().0.to_string();
        assert_eq!(p.remote.with(|c| c.request(&[b"HGET", b"{dead}:pq:charge", uid.as_bytes()])).unwrap().int(), Some(0));
    }

    /// A receiver blocked on its own connection wakes when a scheduled message falls due (its
    /// wait's slice ends by the due time: nobody pushes its marker); a queue holds at most 64
    /// pending (EAGAIN), and a cancel after the due time is ENOENT.
    #[test]
    fn a_blocked_receiver_wakes_at_the_due_time_and_64_are_pending_at_most() {
        let Some(server) = Server::start() else { return };
        let p = Arc::new(RemotePosix::new(server.remote("sched"), limits(), crate::remote::testing::stock_stated()));
        // SAFETY: a zeroed mq_attr is valid; the pointers below are this test's own buffers.
        let mut attr: mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = 2;
        attr.mq_msgsize = 8;
        // SAFETY: as above.
        let q = unsafe { p.open(c"/s".as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_NONBLOCK, 0o600, &attr).unwrap() };
        let far = crate::os::clock::timespec_of_ns(crate::os::clock::realtime_ns() + 600_000_000_000);
        let mut handles = Vec::new();
        for _ in 0..64 {
            let mut h = 0u64;
            // SAFETY: the test's own buffers.
            assert_eq!(unsafe { p.send_at(q, c"x".as_ptr(), 1, 0, &far, &mut h) }, Ok(0));
            handles.push(h);
        }
        let mut h = 0u64;
        // SAFETY: the test's own buffers.
        assert_eq!(unsafe { p.send_at(q, c"x".as_ptr(), 1, 0, &far, &mut h) }, Err(Errno::EAGAIN));
        for h in handles {
            assert_eq!(p.cancel(q, h), Ok(0));
        }
        // A blocking descriptor for the receiver thread (its own connection).
        // SAFETY: the test's own strings.
        let rq = unsafe { p.open(c"/s".as_ptr(), libc::O_RDONLY, 0, std::ptr::null()).unwrap() };
        let receiver = {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8];
                // SAFETY: this thread's own buffer.
                let n = unsafe { p.receive(rq, buf.as_mut_ptr().cast(), 8, std::ptr::null_mut(), None) };
                (n, buf, crate::os::clock::realtime_ns())
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        // Due 230 ms from now: not on a slice boundary of the receiver's 500 ms waits.
        let due_ns = crate::os::clock::realtime_ns() + 230_000_000;
        let due = crate::os::clock::timespec_of_ns(due_ns);
        // SAFETY: the test's own buffers.
        assert_eq!(unsafe { p.send_at(q, c"due".as_ptr(), 3, 1, &due, &mut h) }, Ok(0));
        let (n, buf, woke) = receiver.join().unwrap();
        assert_eq!((n, &buf[..3]), (Ok(3), &b"due"[..]));
        assert!(woke >= due_ns, "received {} ms before the due time", (due_ns - woke) / 1_000_000);
        eprintln!("woke {:.1} ms after the due time", (woke - due_ns) as f64 / 1e6);
        assert!(woke - due_ns < 400_000_000, "woke {} ms late", (woke - due_ns) / 1_000_000);
        assert_eq!(p.cancel(q, h), Err(Errno::ENOENT));
        assert_eq!(p.descriptor_closing(rq), Some(Ok(0)));
        assert_eq!(p.descriptor_closing(q), Some(Ok(0)));
    }

    #[test]
    fn a_send_hands_its_message_to_the_waiting_receiver() {
        let Some(server) = Server::start() else { return };
        let p = Arc::new(RemotePosix::new(server.remote("hx"), limits(), crate::remote::testing::stock_stated()));
        // SAFETY: a zeroed mq_attr is valid; the pointers below are this test's own buffers.
        let mut attr: mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = 2;
        attr.mq_msgsize = 8;
        // SAFETY: as above.
        let (q, nb) = unsafe {
            (
                p.open(c"/h".as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600, &attr).unwrap(),
                p.open(c"/h".as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK, 0, std::ptr::null()).unwrap(),
            )
        };
        let receiver = {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8];
                // SAFETY: this thread's own buffer.
                let n = unsafe { p.receive(q, buf.as_mut_ptr().cast(), 8, std::ptr::null_mut(), None) };
                (n, buf)
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        // SAFETY: the test's own buffers.
        unsafe {
            assert_eq!(p.send(q, c"hi".as_ptr(), 2, 0, None), Ok(0));
            // Handed over: not counted, and no other receiver can take it.
            let mut a: mq_attr = std::mem::zeroed();
            assert_eq!(p.setattr(q, std::ptr::null(), &mut a), Ok(0));
            assert_eq!(a.mq_curmsgs, 0);
            let mut buf = [0u8; 8];
            assert_eq!(p.receive(nb, buf.as_mut_ptr().cast(), 8, std::ptr::null_mut(), None), Err(Errno::EAGAIN));
        }
        let (n, buf) = receiver.join().unwrap();
        assert_eq!((n, &buf[..2]), (Ok(2), &b"hi"[..]));
        assert_eq!(p.descriptor_closing(q), Some(Ok(0)));
        assert_eq!(p.descriptor_closing(nb), Some(Ok(0)));
    }
}
