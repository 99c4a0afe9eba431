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
        Step::Wait => Err(Errno::EIO),
    }
}

/// Whether a script's values say "would block" (`W`, then the waiters holding a message or a
/// slot, as token/connection pairs).
fn would_block(values: &[Reply]) -> bool {
    values.first().and_then(Reply::bytes) == Some(b"W")
}

/// Whether process `pid` no longer runs: gone, or dead and not yet reaped.
fn process_gone_or_zombie(pid: i32) -> bool {
    crate::os::sys::process_gone(pid)
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with(['Z', 'X'])))
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
            done(self.remote.run(&POSIX, &[b"adopt", id.as_bytes()]))?;
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
                if process_gone_or_zombie(pid) {
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

    /// Runs mq_send's or mq_receive's script on queue `id` — `head` (the operation and its own
    /// arguments), then the waiter's token, wait mode and identity — until it is done: without
    /// waiting on a non-blocking descriptor `fd` (EAGAIN), else waiting with mqueue's restart
    /// rule until `deadline` (ETIMEDOUT once it has passed).
    fn until_done(&self, fd: c_int, id: &str, head: &[&[u8]], deadline: Option<&timespec>) -> Result<Vec<Reply>> {
        let run = |c: &mut super::connection::Connection, token: &str, mode: &[u8]| -> Result<Option<Vec<Reply>>> {
            let conn = waiter_identity(c);
            let mut args = head.to_vec();
            args.extend_from_slice(&[token.as_bytes(), mode, conn.as_bytes()]);
            Ok(match POSIX.run(c, &self.remote.keys, &args)? {
                Step::Done(values) => Some(values),
                Step::Wait => None,
            })
        };
        let values = if descriptors::nonblock(fd) {
            self.without_waiting(id, |c| run(c, "", b"0"))?
        } else {
            wait::blocking_or_else(
                &self.remote,
                deadline,
                Restart::LikeMqueue,
                |c, w: &Waiter| run(c, w.token, w.may_wait_arg()),
                |c, token| run(c, token, b"x"),
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
        let result = self.open_on_server(&full, oflag, mode, attr.as_ref());
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
        let args: [&[u8]; 13] = [
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
        ];
        let values = done(self.remote.run(&POSIX, &args))?;
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
        let release = last && d.counted_here();
        let notified = notify::closing(d.id);
        if release || notified {
            let id = d.id.to_string();
            let ptoken = notify::process_token();
            let _ = self.remote.run(&POSIX, &[b"close", id.as_bytes(), if release { b"1" } else { b"0" }, ptoken.as_bytes()]);
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
        if !probe_read(msg.cast(), len) {
            return Err(Errno::EFAULT);
        }
        // SAFETY: `len` bytes at `msg` were just probed readable (the program's buffer, which it
        // must not unmap during the call).
        let body = unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) };
        let d = self.resolve(fd)?;
        let (id, prio) = (d.id.to_string(), prio.to_string());
        let values = self.until_done(fd, &id, &[b"send", id.as_bytes(), body, prio.as_bytes()], deadline.as_ref())?;
        if values.first().and_then(Reply::bytes) == Some(b"N") {
            notify::deliver_fired(&self.remote, d.id, &values[1..]);
        }
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
        // ok M BODY PRIO (the tag keeps a body of "W" from reading as would-block).
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
        if !old.is_null() {
            let d = self.resolve(fd)?;
            let id = d.id.to_string();
            let mut values = done(self.remote.run(&POSIX, &[b"attr", id.as_bytes()]))?;
            if values.len() > 1 && self.reap_gone(&id, &values[1..]) {
                values = done(self.remote.run(&POSIX, &[b"attr", id.as_bytes()]))?;
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
    }
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
