//! The connection to the server: one TCP connection per (process, thread), made on first use,
//! remade on the next call after any failure.
//!
//! Why per thread and not a pool: a blocking call (`BLPOP`) holds its connection for as long as
//! it waits, and a library loaded into arbitrary programs must not start threads of its own or
//! make one thread wait for another's reply. Why the pid is remembered: after `fork` the child
//! inherits the parent's socket, whose byte stream the parent still owns; the child closes its
//! copy (never writing on it) and connects anew. A signal handler that makes a queue call while
//! the interrupted code is using the thread's connection finds the slot empty and uses a
//! connection of its own (see [`with`]).
//!
//! Sockets are made with libc's `socket`/`connect`/`send`/`recv`, which mqshim does not
//! interpose; `close` and `poll` are interposed by mqshim, so they are reached through
//! [`crate::os::sys`] / the system call. Each socket is `SOCK_CLOEXEC`, moved above
//! [`crate::os::sys::PRIVATE_FD_FLOOR`] (the program's descriptors keep their numbers),
//! `TCP_NODELAY`, with keepalive (1 s idle, 1 s interval, 3 probes) and `TCP_USER_TIMEOUT`
//! 3 s, so that a server that vanished ends any wait within about 4 s. Writes use
//! `MSG_NOSIGNAL`: a library cannot rely on the program ignoring SIGPIPE.
//!
//! A server that is there but does not answer — stopped (SIGSTOP), hung, or behind a network
//! that drops its packets while its kernel still acknowledges ours — defeats all of that: its
//! kernel acknowledges the data and the keepalives. So every wait for a reply is bounded too
//! (see [`Connection::read`]): by [`SILENCE_MS`] without a byte, and in a timed call also by
//! the call's deadline plus [`DEADLINE_GRACE_MS`]. Past the bound the connection is closed
//! and the call fails with EIO, the outcome unknown, as when a connection is lost mid-call:
//! closing it is what guarantees that a late reply is never read as the answer to a later
//! request (the next call connects anew). What the server does with the request when it
//! resumes is its business: a script it then runs completes on the server (a message it took
//! is lost to the caller — the at-most-once case of a broken connection), a `BLPOP` of the
//! closed connection is forgotten.
//!
//! Replies are always read to their end — a reply is never abandoned after its request was
//! sent, except the one reply a wait may abandon (`BLPOP` on a marker that carries no message:
//! see `remote::wait`) and a reply the server did not send within the bound above, and then
//! the connection is closed with it.
//!
//! The protocol (RESP2) is encoded and decoded by the `redis-protocol` crate, built without its
//! default features (`std`, `resp2`, and `resp3`, which its RESP2 module does not compile
//! without): plain functions over byte slices, no I/O, no threads, no async runtime (those are
//! its `codec` feature), so it fits a preloaded library. What it does not do — socket handling, fork and signal rules
//! — is what this module is for.

use std::cell::Cell;
use std::os::raw::c_int;
use std::sync::atomic::AtomicBool;

use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::encode::encode_borrowed;
use redis_protocol::resp2::types::{BorrowedFrame, OwnedFrame};

use super::url::RedisUrl;
use crate::errno::{Errno, Result};

/// A reply from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Status(Vec<u8>),
    /// An error reply (`-ERR …`, `-NOSCRIPT …`): an answer, not a failure of the connection.
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
}

impl Reply {
    fn of(frame: OwnedFrame) -> Reply {
        match frame {
            OwnedFrame::SimpleString(s) => Reply::Status(s),
            OwnedFrame::Error(e) => Reply::Error(e),
            OwnedFrame::Integer(i) => Reply::Int(i),
            OwnedFrame::BulkString(b) => Reply::Bulk(b),
            OwnedFrame::Array(a) => Reply::Array(a.into_iter().map(Reply::of).collect()),
            OwnedFrame::Null => Reply::Nil,
        }
    }

    /// The integer of an integer reply, or of a bulk/status reply holding a decimal number.
    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            Reply::Bulk(b) | Reply::Status(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// The bytes of a bulk or status reply.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) | Reply::Status(b) => Some(b),
            _ => None,
        }
    }

    /// The elements of an array reply (empty for anything else).
    pub fn into_array(self) -> Vec<Reply> {
        match self {
            Reply::Array(a) => a,
            _ => Vec::new(),
        }
    }
}

/// How a reply is waited for.
#[derive(Clone, Copy)]
pub enum Await {
    /// Until it has come, whatever signals arrive (a script's reply: never dropped).
    Always,
    /// A wait's reply (`BLPOP`), abandoned (and the connection closed) when any signal handler
    /// runs before it begins to arrive: `ppoll` on the socket, with this signal mask for the
    /// wait (None: the thread's), which it sets and restores atomically — so a signal held back
    /// until then is delivered by the wait itself and ends it. A stop and continue is invisible
    /// (msgrcv's rule).
    UnlessAnyHandler(Option<libc::sigset_t>),
    /// A wait's reply (`BLPOP`), abandoned when a handler without `SA_RESTART` runs before it
    /// begins to arrive (the mqueue rule). The signals of those handlers (this set; None: there
    /// are none) are blocked in the thread: `ppoll` on the socket and on a `signalfd` of them,
    /// which is readable once one is pending — its handler runs when the caller restores its
    /// mask. Any other handler (with `SA_RESTART`) runs during the wait, which goes on after it
    /// as the kernel restarts the call.
    UnlessHandlerWithoutRestart(Option<libc::sigset_t>),
}

/// Connect and handshake timeout.
const CONNECT_TIMEOUT_MS: c_int = 3000;
/// The least time a connect made for a timed call gets, even when the call's deadline is nearer
/// or has passed: a reachable server answers within it, so a call that can complete without
/// waiting does, as the kernel's does whatever its deadline (see [`within_deadline`]).
const CONNECT_FLOOR_MS: u64 = 100;
/// `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged before the connection fails.
const USER_TIMEOUT_MS: c_int = 3000;
/// The longest a server may stay silent while a reply is awaited (no byte of it) before the
/// connection is given up (EIO). A healthy server answers every request within about
/// [`super::wait::SLICE_MS`] — the longest `BLPOP` — plus the run of one script; the scripts
/// are short, and a server whose script runs longer than Redis's `busy-reply-threshold` (5 s
/// by default) answers the others BUSY, so a silence twice that long means the server is
/// stopped, hung, or cut off — not slow.
pub const SILENCE_MS: u64 = 10_000;
/// How long after a timed call's deadline its reply may still come before the connection is
/// given up (EIO): a loaded but healthy server whose script was merely slow is not turned into
/// a failure, and a call whose deadline had passed when it began still gets this long for a
/// reply (a reachable server answers within it, and the call completes if it can, as the
/// kernel's does whatever its deadline).
pub const DEADLINE_GRACE_MS: u64 = 1_000;
/// How often a wait looks at the signals that end it when no `signalfd` can be made for them.
const SIGNAL_LOOK_MS: u64 = 10;
/// Receive buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// One connection to the server.
pub struct Connection {
    fd: c_int,
    /// The process that made it: a forked child must not use it.
    pid: i32,
    url: RedisUrl,
    /// Received bytes not yet decoded.
    rbuf: Vec<u8>,
    /// The server's id of this connection (`CLIENT ID`), by which others can tell whether it
    /// is still open (`CLIENT LIST ID`): a waiter's liveness.
    client_id: i64,
    /// Set when the stream's state is unknown (a failed read or write, an abandoned reply): the
    /// connection is closed instead of being kept.
    broken: bool,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Only closed, even in a forked child: the parent's stream is left untouched.
        crate::os::sys::close(self.fd);
    }
}

thread_local! {
    /// This thread's connection, taken out while in use.
    static SLOT: Cell<Option<Box<Connection>>> = const { Cell::new(None) };
    /// The absolute CLOCK_REALTIME deadline (ns) of the timed call this thread is in, if any.
    static CALL_DEADLINE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Runs `f` (a timed call's attempts and waits) with every connect it makes bounded by the
/// call's `deadline` too: such a connect ends at the earlier of the deadline and the connect
/// timeout — but gets at least [`CONNECT_FLOOR_MS`] — and one that the deadline ended is
/// ETIMEDOUT (the kernel's errno for a call whose deadline passed), not ECONNREFUSED: the
/// server was not found unusable, the call ran out of the time it was given.
pub fn within_deadline<R>(deadline: Option<&libc::timespec>, f: impl FnOnce() -> R) -> R {
    let ns = deadline.map(|d| (d.tv_sec.max(0) as u64).saturating_mul(1_000_000_000).saturating_add(d.tv_nsec.clamp(0, 999_999_999) as u64));
    let outer = CALL_DEADLINE.with(|c| c.replace(ns));
    let result = f();
    CALL_DEADLINE.with(|c| c.set(outer));
    result
}

/// Until when (CLOCK_MONOTONIC ns) a connect that starts now may wait, and whether the call's
/// deadline (rather than the connect timeout) set it.
fn connect_bound() -> (u64, bool) {
    let now = crate::os::clock::monotonic_ns();
    let timeout = CONNECT_TIMEOUT_MS as u64 * 1_000_000;
    let Some(deadline) = CALL_DEADLINE.with(Cell::get) else { return (now + timeout, false) };
    let left = deadline.saturating_sub(crate::os::clock::realtime_ns()).max(CONNECT_FLOOR_MS * 1_000_000);
    if left < timeout {
        (now + left, true)
    } else {
        (now + timeout, false)
    }
}

/// Until when (CLOCK_MONOTONIC ns) a reply awaited from now on may be silent: [`SILENCE_MS`]
/// from now, and in a timed call (see [`within_deadline`]) no later than its deadline plus
/// [`DEADLINE_GRACE_MS`] — nor earlier than that grace from now.
fn reply_bound() -> u64 {
    let now = crate::os::clock::monotonic_ns();
    let silence = now + SILENCE_MS * 1_000_000;
    match CALL_DEADLINE.with(Cell::get) {
        None => silence,
        Some(deadline) => silence.min(now + deadline.saturating_sub(crate::os::clock::realtime_ns()) + DEADLINE_GRACE_MS * 1_000_000),
    }
}

/// Whether a signal of `set` is pending for the calling thread (or its process).
pub fn signal_pending_among(set: &libc::sigset_t) -> bool {
    // SAFETY: sigset_t is plain data, filled by sigpending.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid sigset_t to fill.
    if unsafe { libc::sigpending(&mut pending) } != 0 {
        return false;
    }
    // SAFETY: valid sigset_t values and signal numbers in range.
    (1..=libc::SIGRTMAX()).any(|sig| unsafe { libc::sigismember(&pending, sig) == 1 && libc::sigismember(set, sig) == 1 })
}

/// A `signalfd` for the signals of a set (readable while one of them is pending), closed when
/// dropped; -1 when none could be made (a full descriptor table).
struct SignalFd(c_int);

impl SignalFd {
    fn of(set: &libc::sigset_t) -> SignalFd {
        // SAFETY: a valid signal set; makes a new descriptor.
        let fd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        SignalFd(if fd < 0 { -1 } else { crate::os::sys::move_high(fd) })
    }
}

impl Drop for SignalFd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            crate::os::sys::close(self.0);
        }
    }
}

/// Set once "cannot connect" has been reported (once per process).
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Runs `f` on this thread's connection to `url` (made if needed). A connection that `f` left
/// broken is closed; the next call connects again. A call made after the thread's storage was
/// destroyed (from an `atexit` handler, which runs after the main thread's) gets a connection
/// of its own, closed after it.
pub fn with<R>(url: &RedisUrl, f: impl FnOnce(&mut Connection) -> Result<R>) -> Result<R> {
    let me = crate::os::ids::pid();
    let mut conn = match SLOT.try_with(|s| s.take()).ok().flatten() {
        Some(c) if c.pid == me && c.url == *url && !c.peer_closed() => c,
        // Another process's (forked), another server's, or closed by the server: dropped
        // (closed, never written to).
        _ => Box::new(Connection::open(url)?),
    };
    let result = f(&mut conn);
    if !conn.broken {
        // If a signal handler's call left its own connection here meanwhile, it is dropped.
        let _ = SLOT.try_with(|s| s.set(Some(conn)));
    }
    result
}

/// Which of the connections `ids` (`CLIENT ID`s) are no longer open on the server; None when
/// the server will not say (an ACL that denies `CLIENT LIST`).
pub fn closed_among(url: &RedisUrl, ids: &[i64]) -> Option<Vec<i64>> {
    if ids.is_empty() {
        return Some(Vec::new());
    }
    let texts: Vec<String> = ids.iter().map(i64::to_string).collect();
    let mut command: Vec<&[u8]> = vec![b"CLIENT", b"LIST", b"ID"];
    command.extend(texts.iter().map(|t| t.as_bytes()));
    let Ok(Reply::Bulk(list)) = with(url, |c| c.request(&command)) else { return None };
    let list = String::from_utf8_lossy(&list);
    let open: Vec<i64> = list.lines().filter_map(|l| l.strip_prefix("id=")?.split(' ').next()?.parse().ok()).collect();
    Some(ids.iter().copied().filter(|id| !open.contains(id)).collect())
}

/// The server's list of client connections (`CLIENT LIST TYPE normal`: one line each, with
/// `name=`, which carries the process token: see `Connection::handshake`); None when the server
/// will not say (an ACL that denies `CLIENT LIST`) or cannot be reached.
pub fn client_names(url: &RedisUrl) -> Option<String> {
    match with(url, |c| c.request(&[b"CLIENT", b"LIST", b"TYPE", b"normal"])) {
        Ok(Reply::Bulk(list)) => Some(String::from_utf8_lossy(&list).into_owned()),
        _ => None,
    }
}

/// Connects this thread to `url` now (keeping the connection for the next calls), or says why
/// it cannot — without the once-per-process report on stderr: for a command (`mqshim ipcs`)
/// that reports the failure itself. Bounded by the connect and handshake timeout.
pub fn check(url: &RedisUrl) -> std::result::Result<(), String> {
    let me = crate::os::ids::pid();
    if let Some(c) = SLOT.with(|s| s.take()) {
        if c.pid == me && c.url == *url && !c.peer_closed() {
            SLOT.with(|s| s.set(Some(c)));
            return Ok(());
        }
    }
    let (until, _) = connect_bound();
    let conn = Connection::connect(url, until)?;
    SLOT.with(|s| s.set(Some(Box::new(conn))));
    Ok(())
}

/// Forgets this thread's connection (closing it).
pub fn drop_thread_connection() {
    SLOT.with(|s| s.take());
}

impl Connection {
    /// Connects and authenticates; ECONNREFUSED (reported once on stderr) when that fails, or
    /// ETIMEDOUT when a timed call's deadline ended the attempt (see [`within_deadline`]).
    fn open(url: &RedisUrl) -> Result<Connection> {
        let (until, by_call) = connect_bound();
        Connection::connect(url, until).map_err(|why| {
            if by_call && crate::os::clock::monotonic_ns() >= until {
                return Errno::ETIMEDOUT;
            }
            let message = format!("cannot use the server {}: {why}", url.shown());
            if !REPORTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                crate::config::report(&[crate::config::ConfigProblem {
                    variable: "MQSHIM_REDIS",
                    message,
                    outcome: crate::config::Outcome::Used("queue calls fail with ECONNREFUSED while it cannot be used".into()),
                }]);
            }
            Errno::ECONNREFUSED
        })
    }

    /// Connects and authenticates by `until` (CLOCK_MONOTONIC ns).
    fn connect(url: &RedisUrl, until: u64) -> std::result::Result<Connection, String> {
        let addrs = resolve(&url.host, url.port)?;
        let mut last = String::from("no address");
        for addr in addrs {
            match connect_to(&addr, until) {
                Ok(fd) => {
                    let mut conn = Connection { fd, pid: crate::os::ids::pid(), url: url.clone(), rbuf: Vec::new(), client_id: 0, broken: false };
                    conn.handshake(until).map_err(|e| format!("handshake failed: {e}"))?;
                    return Ok(conn);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// AUTH, SELECT, CLIENT SETNAME and CLIENT ID in one round trip, answered by `until`
    /// (CLOCK_MONOTONIC ns): a server that accepted but does not answer (stopped, hung) ends it.
    /// The name, `mqshim-` and the process token, says which process the connection is of: a
    /// process on another host is alive while it has a connection open (how the openers of a
    /// queue are judged: `remote::posix`).
    fn handshake(&mut self, until: u64) -> std::result::Result<(), String> {
        let db = self.url.db.to_string();
        let name = format!("mqshim-{}", super::keys::process_token());
        let mut commands: Vec<Vec<&[u8]>> = Vec::new();
        let (user, password) = (self.url.user.clone(), self.url.password.clone());
        match (&user, &password) {
            (Some(u), Some(p)) => commands.push(vec![b"AUTH", u.as_bytes(), p.as_bytes()]),
            (None, Some(p)) => commands.push(vec![b"AUTH", p.as_bytes()]),
            _ => {}
        }
        if self.url.db != 0 {
            commands.push(vec![b"SELECT", db.as_bytes()]);
        }
        commands.push(vec![b"CLIENT", b"SETNAME", name.as_bytes()]);
        commands.push(vec![b"CLIENT", b"ID"]);
        for c in &commands {
            self.send(c).map_err(|e| e.desc().to_string())?;
        }
        for c in &commands {
            if self.rbuf.is_empty() {
                wait_until(self.fd, libc::POLLIN, until).map_err(|e| e.desc().to_string())?;
            }
            match self.read_reply().map_err(|e| e.desc().to_string())? {
                Reply::Error(e) => return Err(format!("{}: {e}", String::from_utf8_lossy(c[0]))),
                Reply::Int(id) => self.client_id = id,
                _ => continue,
            }
        }
        Ok(())
    }

    /// Whether the server closed this (idle) connection — a restart, an idle timeout — so that
    /// a call uses a new one instead of failing with EIO. One non-blocking peek.
    fn peer_closed(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: a one-byte buffer on our own socket; MSG_PEEK consumes nothing.
        let n = unsafe { libc::recv(self.fd, (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        // Nothing to read is the healthy state; anything else (EOF, an error, stray bytes) means
        // the stream is not what this client expects.
        !(n < 0 && matches!(crate::errno::current(), libc::EAGAIN | libc::EINTR))
    }

    /// The server's id of this connection (`CLIENT ID`).
    pub fn client_id(&self) -> i64 {
        self.client_id
    }

    /// Marks the connection unusable (it is closed when the call ends).
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Sends one command (not waiting for its reply).
    pub fn send(&mut self, args: &[&[u8]]) -> Result<()> {
        let parts: Vec<BorrowedFrame> = args.iter().map(|a| BorrowedFrame::BulkString(a)).collect();
        let frame = BorrowedFrame::Array(&parts);
        let mut out = vec![0u8; frame.encode_len(false)];
        let n = encode_borrowed(&mut out, &frame, false).map_err(|_| Errno::EIO)?;
        self.write_all(&out[..n])
    }

    /// Sends a command and reads its reply to the end.
    pub fn request(&mut self, args: &[&[u8]]) -> Result<Reply> {
        self.send(args)?;
        self.read_reply()
    }

    /// Reads the next reply to its end, whatever signals arrive.
    pub fn read_reply(&mut self) -> Result<Reply> {
        self.read(Await::Always).map(|r| r.expect("an uninterruptible read returns a reply"))
    }

    /// Reads the next reply; None when a signal handler interrupted the wait for it as `how`
    /// says (the connection is then broken: its reply abandoned). EIO, the connection broken,
    /// when the server stays silent past [`reply_bound`] (renewed by every byte that arrives).
    pub fn read(&mut self, how: Await) -> Result<Option<Reply>> {
        let mut until = reply_bound();
        let mut tried = 0usize;
        let mut next_try = 0usize;
        let mut drained = false;
        loop {
            let len = self.rbuf.len();
            if len > tried && (drained || len >= next_try) {
                tried = len;
                match decode(&self.rbuf) {
                    Ok(Some((frame, used))) => {
                        self.rbuf.drain(..used);
                        return Ok(Some(Reply::of(frame)));
                    }
                    Ok(None) => next_try = len.saturating_mul(2),
                    Err(_) => return Err(self.fail()),
                }
            }
            // Waits only when what is buffered is known to be incomplete (or nothing is); a
            // handler may end only the wait for a reply that has not begun.
            if len == tried {
                let waiting = if len == 0 { how } else { Await::Always };
                if !self.wait_readable(waiting, until)? {
                    self.broken = true;
                    return Ok(None);
                }
            }
            if self.rbuf.capacity() - len < READ_CHUNK {
                self.rbuf.reserve(READ_CHUNK);
            }
            let spare = self.rbuf.capacity() - len;
            // SAFETY: receives into the vector's spare capacity, `spare` bytes from its end.
            let n = unsafe { libc::recv(self.fd, self.rbuf.as_mut_ptr().add(len).cast(), spare, libc::MSG_DONTWAIT) };
            if n > 0 {
                // SAFETY: recv initialised `n` bytes past the old length.
                unsafe { self.rbuf.set_len(len + n as usize) };
                drained = (n as usize) < spare;
                until = reply_bound();
                continue;
            }
            if n == 0 {
                return Err(self.fail());
            }
            match crate::errno::current() {
                libc::EAGAIN => drained = true,
                libc::EINTR => {}
                _ => return Err(self.fail()),
            }
        }
    }

    /// Waits until the socket is readable (true), a handler ended the wait as `how` says
    /// (false), or `until` (CLOCK_MONOTONIC ns) came with nothing to read (EIO, the connection
    /// broken). A stop and continue of the caller is invisible (`ppoll` is restarted).
    fn wait_readable(&mut self, how: Await, until: u64) -> Result<bool> {
        let (mask, held) = match &how {
            Await::Always | Await::UnlessHandlerWithoutRestart(None) => (None, None),
            Await::UnlessAnyHandler(mask) => (mask.as_ref(), None),
            Await::UnlessHandlerWithoutRestart(Some(held)) => (None, Some(held)),
        };
        let signals = held.map(SignalFd::of);
        // Without a signalfd, the held signals are looked at every SIGNAL_LOOK_MS.
        let look = held.filter(|_| signals.as_ref().is_some_and(|s| s.0 < 0));
        loop {
            let mut left = until.saturating_sub(crate::os::clock::monotonic_ns());
            if look.is_some() {
                left = left.min(SIGNAL_LOOK_MS * 1_000_000);
            }
            let ts = crate::os::clock::timespec_of_ns(left);
            let mut fds = [
                libc::pollfd { fd: self.fd, events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: signals.as_ref().map_or(-1, |s| s.0), events: libc::POLLIN, revents: 0 },
            ];
            let mask = mask.map_or(std::ptr::null(), |m| m as *const libc::sigset_t);
            // SAFETY: two pollfds (one may be -1: ignored), a relative timeout, a valid signal
            // set or NULL (the thread's mask), of which the kernel reads its 8 bytes (ppoll:
            // poll is interposed by mqshim).
            let rc = unsafe { libc::syscall(libc::SYS_ppoll, fds.as_mut_ptr(), 2u64, &ts as *const libc::timespec, mask, 8usize) };
            if rc > 0 && fds[1].revents != 0 || look.is_some_and(signal_pending_among) {
                return Ok(false);
            }
            if rc > 0 {
                return Ok(true);
            }
            if rc < 0 {
                match crate::errno::current() {
                    // After a handler: the end of the wait for UnlessAnyHandler; any other
                    // handler that can run here has SA_RESTART (or the reply is awaited
                    // whatever signals arrive).
                    libc::EINTR if matches!(how, Await::UnlessAnyHandler(_)) => return Ok(false),
                    libc::EINTR => continue,
                    _ => return Err(self.fail()),
                }
            }
            if crate::os::clock::monotonic_ns() >= until {
                return Err(self.fail());
            }
        }
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            // SAFETY: sends from a valid slice; MSG_NOSIGNAL: EPIPE instead of SIGPIPE.
            let n = unsafe { libc::send(self.fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
            if n < 0 {
                if crate::errno::current() == libc::EINTR {
                    continue;
                }
                return Err(self.fail());
            }
            bytes = &bytes[n as usize..];
        }
        Ok(())
    }

    /// The connection failed with the outcome of the call unknown: EIO, and it is closed.
    fn fail(&mut self) -> Errno {
        self.broken = true;
        Errno::EIO
    }
}

/// The addresses of `host` (numeric ones without a lookup).
fn resolve(host: &str, port: u16) -> std::result::Result<Vec<libc::sockaddr_storage>, String> {
    let chost = std::ffi::CString::new(host).map_err(|_| "bad host".to_string())?;
    let cport = std::ffi::CString::new(port.to_string()).expect("digits");
    // SAFETY: an all-zero addrinfo is a valid hints value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_family = libc::AF_UNSPEC;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: NUL-terminated strings, valid hints and out-pointer.
    let rc = unsafe { libc::getaddrinfo(chost.as_ptr(), cport.as_ptr(), &hints, &mut list) };
    if rc != 0 {
        // SAFETY: gai_strerror returns a static string.
        let why = unsafe { std::ffi::CStr::from_ptr(libc::gai_strerror(rc)) };
        return Err(format!("cannot resolve '{host}': {}", why.to_string_lossy()));
    }
    let mut out = Vec::new();
    let mut p = list;
    while !p.is_null() {
        // SAFETY: a node of the list getaddrinfo returned, freed below.
        let ai = unsafe { &*p };
        // SAFETY: an all-zero sockaddr_storage is valid; ai_addr holds ai_addrlen bytes.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = (ai.ai_addrlen as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: copies `len` bytes between valid, non-overlapping buffers.
        unsafe { std::ptr::copy_nonoverlapping(ai.ai_addr.cast::<u8>(), (&mut ss as *mut libc::sockaddr_storage).cast::<u8>(), len) };
        out.push(ss);
        p = ai.ai_next;
    }
    // SAFETY: the list getaddrinfo returned, freed once.
    unsafe { libc::freeaddrinfo(list) };
    Ok(out)
}

fn setsockopt(fd: c_int, level: c_int, name: c_int, value: c_int) {
    // SAFETY: an int option value, alive for the call.
    unsafe { libc::setsockopt(fd, level, name, (&value as *const c_int).cast(), std::mem::size_of::<c_int>() as libc::socklen_t) };
}

/// Waits until `fd` has one of `events` or `until` (CLOCK_MONOTONIC ns) has come (ETIMEDOUT);
/// signals do not end it.
fn wait_until(fd: c_int, events: libc::c_short, until: u64) -> Result<()> {
    loop {
        let left = until.saturating_sub(crate::os::clock::monotonic_ns());
        if left == 0 {
            return Err(Errno::ETIMEDOUT);
        }
        let ts = crate::os::clock::timespec_of_ns(left);
        let mut p = libc::pollfd { fd, events, revents: 0 };
        // SAFETY: one pollfd and a relative timeout, alive for the call (ppoll: poll is
        // interposed by mqshim).
        let n = unsafe {
            libc::syscall(libc::SYS_ppoll, &mut p as *mut libc::pollfd, 1u64, &ts as *const libc::timespec, std::ptr::null::<libc::sigset_t>(), 8usize)
        };
        if n > 0 {
            return Ok(());
        }
        if n < 0 && crate::errno::current() != libc::EINTR {
            return Err(Errno::last());
        }
    }
}

/// A connected socket to `addr`, set up as the module says, connected by `until`
/// (CLOCK_MONOTONIC ns).
fn connect_to(addr: &libc::sockaddr_storage, until: u64) -> std::result::Result<c_int, String> {
    let family = addr.ss_family as c_int;
    let len = if family == libc::AF_INET6 { std::mem::size_of::<libc::sockaddr_in6>() } else { std::mem::size_of::<libc::sockaddr_in>() };
    // SAFETY: creates a socket; no memory is passed.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
    if fd < 0 {
        return Err(Errno::last().desc().to_string());
    }
    let fd = crate::os::sys::move_high(fd);
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 1);
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 1);
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, USER_TIMEOUT_MS);
    let fail = |fd: c_int, e: Errno| {
        crate::os::sys::close(fd);
        Err(e.desc().to_string())
    };
    // SAFETY: `addr` holds a socket address of `len` bytes for this family.
    let rc = unsafe { libc::connect(fd, (addr as *const libc::sockaddr_storage).cast(), len as libc::socklen_t) };
    if rc != 0 && crate::errno::current() != libc::EINPROGRESS {
        return fail(fd, Errno::last());
    }
    if rc != 0 {
        if let Err(e) = wait_until(fd, libc::POLLOUT, until) {
            return fail(fd, e);
        }
        let mut err: c_int = 0;
        let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
        // SAFETY: an int out-value and its length.
        unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, (&mut err as *mut c_int).cast(), &mut len) };
        if err != 0 {
            return fail(fd, Errno::from_raw(err));
        }
    }
    // Blocking from now on: waits are blocking reads (their restart rules depend on it).
    let flags = crate::os::sys::fcntl(fd, libc::F_GETFL, 0);
    crate::os::sys::fcntl(fd, libc::F_SETFL, (flags & !libc::O_NONBLOCK) as libc::c_long);
    Ok(fd)
}
