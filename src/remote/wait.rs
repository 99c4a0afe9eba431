//! The one blocking mechanism of the Redis backend, for both APIs.
//!
//! A blocking operation's script either completes, or — nothing to receive, no room, and the
//! caller may wait — registers the caller's token among the queue's waiters in the same script
//! and answers `wait`. The caller then waits on its private marker `{P}:w:<token>` with
//! `BLPOP` for at most [`SLICE_MS`] (or what is left until its deadline) and runs the script
//! again (which first removes the registration). Any script that can satisfy a waiter pushes a
//! "1" onto its marker. The marker carries no message, so a `BLPOP` abandoned by a timeout, a
//! signal or `kill -9` can lose a wake-up — costing at most one slice — never a message.
//!
//! Signals follow the kernel's rule for the call ([`Restart`]): a handler that runs while the
//! call waits, or before it would begin to wait, ends it with EINTR — for `LikeMqueue` only a
//! handler without `SA_RESTART` (the kernel restarts the call after the others), for `Never`
//! any handler — unless the call was served meanwhile; a stop and continue is invisible. The
//! kernel checks for a pending signal before it sleeps, so a signal that arrives while a
//! script's round trip is in flight counts too. To see it, [`SignalHold`] holds back, for the
//! whole call, the signals whose handler would end it; one arriving meanwhile stays pending
//! (the reply of a script is always read to its end). The wait on the marker is a `ppoll`
//! given the caller's own signal mask, which the kernel sets and restores atomically: a held
//! signal already pending is delivered by the wait itself, which ends with EINTR — no window
//! between "nothing pending" and "waiting". One case cannot be served that way: `LikeMqueue`
//! in a program that also has `SA_RESTART` handlers (`ppoll` fails with EINTR after any
//! handler, whether or not it has `SA_RESTART`): there the held signals stay held, the wait
//! watches them with a `signalfd` (it ends once one is pending; its handler runs when the call
//! restores the caller's mask), and the `SA_RESTART` handlers run during the wait, which goes
//! on after them (see `connection::Await`).
//!
//! Every wait for a reply is bounded (`connection::SILENCE_MS`, and a timed call's deadline
//! plus `connection::DEADLINE_GRACE_MS`): a server that stops answering ends the call with EIO
//! instead of holding it for ever.
//!
//! On EINTR the connection, with its pending `BLPOP`, is closed (the server forgets the
//! `BLPOP`), and the operation's `interrupted` step runs on a new connection: it collects what
//! was handed to the caller meanwhile (the kernel's served waiter returns its message rather
//! than EINTR) or unregisters it. A timed call never returns before its absolute
//! CLOCK_REALTIME deadline: a `BLPOP` that times out early is followed by another.

use libc::timespec;

use std::os::raw::c_int;

use super::connection::{self, Await, Connection, Reply};
use super::Remote;
use crate::emu::engine::futex::{Restart, Woke};
use crate::errno::{Errno, Result};
use crate::os::clock;

/// Longest single `BLPOP`: a waiter re-runs its script (renewing its registration) at least
/// this often, so a lost wake-up costs at most this long.
pub const SLICE_MS: u64 = 500;

/// What an attempt of a blocking operation is told about waiting.
pub struct Waiter<'a> {
    /// The caller's token for this call (the same in every attempt).
    pub token: &'a str,
    /// Whether the script may register the caller (false once the deadline has passed: the
    /// script then only removes an earlier registration, and `wait` means ETIMEDOUT).
    pub may_wait: bool,
    /// How long the coming wait may last at most (ms), as the attempt's script said: a
    /// scheduled message falls due then (see [`Waiter::wait_at_most`]).
    due_in_ms: std::cell::Cell<Option<u64>>,
}

impl Waiter<'_> {
    /// The attempt's script said `wait`, with `due_in_ms` (`Step::Wait`): a receiver's wait
    /// ends no later than when the queue's next scheduled message falls due, so that it
    /// wakes then without anyone pushing its marker.
    pub fn wait_at_most(&self, due_in_ms: Option<u64>) {
        self.due_in_ms.set(due_in_ms);
    }

    /// `may_wait` as a script argument: "1" or "0".
    pub fn may_wait_arg(&self) -> &'static [u8] {
        if self.may_wait {
            b"1"
        } else {
            b"0"
        }
    }
}

/// Runs a blocking operation until it completes: `attempt` runs the operation's script and
/// answers `Some(value)` when done, None when the script said `wait`. ETIMEDOUT once the
/// deadline has passed and an attempt still could not complete, EINTR when a handler
/// interrupted the wait (as `restart` says).
pub fn blocking<T>(
    remote: &Remote,
    deadline: Option<&timespec>,
    restart: Restart,
    attempt: impl FnMut(&mut Connection, &Waiter) -> Result<Option<T>>,
) -> Result<T> {
    blocking_or_else(remote, deadline, restart, attempt, |_, _| Ok(None))
}

/// [`blocking`], with `interrupted` run (on a new connection) when a handler interrupted the
/// call: given the call's token, it may still complete the call (`Some`) — the kernel's answer
/// when the peer had already served the caller before the signal — or clean up and answer None
/// (EINTR). An error it answers is the call's (EIDRM), except a failure of the server (EIO,
/// ECONNREFUSED, or ETIMEDOUT reconnecting), which is EINTR as well.
pub fn blocking_or_else<T>(
    remote: &Remote,
    deadline: Option<&timespec>,
    restart: Restart,
    attempt: impl FnMut(&mut Connection, &Waiter) -> Result<Option<T>>,
    interrupted: impl FnOnce(&mut Connection, &str) -> Result<Option<T>>,
) -> Result<T> {
    // A connect this call makes ends by its deadline too (ETIMEDOUT).
    connection::within_deadline(deadline, || blocking_loop(remote, deadline, restart, attempt, interrupted))
}

fn blocking_loop<T>(
    remote: &Remote,
    deadline: Option<&timespec>,
    restart: Restart,
    mut attempt: impl FnMut(&mut Connection, &Waiter) -> Result<Option<T>>,
    interrupted: impl FnOnce(&mut Connection, &str) -> Result<Option<T>>,
) -> Result<T> {
    let hold = SignalHold::for_call(restart);
    let token = super::keys::new_token();
    loop {
        let may_wait = !clock::deadline_passed(deadline);
        let waiter = Waiter { token: &token, may_wait, due_in_ms: std::cell::Cell::new(None) };
        if let Some(value) = connection::with(&remote.url, |c| attempt(c, &waiter))? {
            return Ok(value);
        }
        if !may_wait {
            return Err(Errno::ETIMEDOUT);
        }
        match hold.wait_for_marker(remote, &token, deadline, waiter.due_in_ms.get())? {
            Woke::Interrupted => {
                return match connection::with(&remote.url, |c| interrupted(c, &token)) {
                    Ok(Some(value)) => Ok(value),
                    Err(e) if !matches!(e, Errno::EINTR | Errno::EIO | Errno::ECONNREFUSED | Errno::ETIMEDOUT) => Err(e),
                    _ => Err(Errno::EINTR),
                };
            }
            // Woken, a slice over, or the deadline reached: the next attempt says which.
            Woke::Maybe | Woke::TimedOut => continue,
        }
    }
}

/// Signals a fault raises: never held (a held one would kill the process).
const FAULT_SIGNALS: [c_int; 7] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP, libc::SIGSYS, libc::SIGABRT];

/// The signals held back in the calling thread for the length of a blocking call, except while
/// it waits on its marker: those the program handles with a handler that would end the call
/// (any handler for `Restart::Never`; one without `SA_RESTART` for `Restart::LikeMqueue`). A
/// signal whose default action ends or stops the process acts at once, as on the kernel, and
/// an `SA_RESTART` handler of an mq_* call runs at once (the kernel restarts the call after
/// it). Dropping it restores the caller's mask, which delivers what is still pending.
struct SignalHold {
    /// The caller's signal mask.
    old: libc::sigset_t,
    /// The signals held.
    held: libc::sigset_t,
    /// Whether any signal is held (else the mask is never changed).
    any: bool,
    /// `LikeMqueue` with an `SA_RESTART` handler the caller does not block: the wait cannot be
    /// a `ppoll` (see the module's text).
    restarting_handlers: bool,
}

fn member(set: &libc::sigset_t, sig: c_int) -> bool {
    // SAFETY: a valid sigset_t and a signal number in range.
    unsafe { libc::sigismember(set, sig) == 1 }
}

/// The program's handler flags for `sig`: None for SIG_DFL and SIG_IGN.
fn handler_flags(sig: c_int) -> Option<c_int> {
    // SAFETY: sigaction is plain data; all-zero is valid for the kernel to overwrite.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: reads the current disposition into a valid struct; installs nothing.
    if unsafe { libc::sigaction(sig, std::ptr::null(), &mut sa) } != 0 {
        return None;
    }
    (sa.sa_sigaction != libc::SIG_DFL && sa.sa_sigaction != libc::SIG_IGN).then_some(sa.sa_flags)
}

impl SignalHold {
    fn for_call(restart: Restart) -> SignalHold {
        // SAFETY: sigset_t is plain data; both sets are initialised below before use.
        let mut h: SignalHold = unsafe { std::mem::zeroed() };
        // SAFETY: valid sigset_t values to fill (`old` with the current mask).
        unsafe {
            libc::sigemptyset(&mut h.held);
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut h.old);
        }
        for sig in 1..=libc::SIGRTMAX() {
            if FAULT_SIGNALS.contains(&sig) || member(&h.old, sig) {
                continue;
            }
            let Some(flags) = handler_flags(sig) else { continue };
            if restart == Restart::LikeMqueue && flags & libc::SA_RESTART != 0 {
                h.restarting_handlers = true;
                continue;
            }
            // SAFETY: a valid sigset_t and a signal number in range.
            unsafe { libc::sigaddset(&mut h.held, sig) };
            h.any = true;
        }
        if h.any {
            // SAFETY: a valid signal set.
            unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &h.held, std::ptr::null_mut()) };
        }
        h
    }

    /// Whether a held signal is pending (its handler will run once it is released).
    fn handler_pending(&self) -> bool {
        self.any && connection::signal_pending_among(&self.held)
    }

    /// One wait on the marker of `token`, ended by a held signal (let through for the wait, or
    /// watched: see the module's text), or by `due_in_ms` (see [`wait_on_marker`]).
    fn wait_for_marker(&self, remote: &Remote, token: &str, deadline: Option<&timespec>, due_in_ms: Option<u64>) -> Result<Woke> {
        if !self.restarting_handlers {
            return wait_on_marker(remote, token, deadline, due_in_ms, Await::UnlessAnyHandler(Some(self.old)));
        }
        if self.handler_pending() {
            return Ok(Woke::Interrupted);
        }
        wait_on_marker(remote, token, deadline, due_in_ms, Await::UnlessHandlerWithoutRestart(self.any.then_some(self.held)))
    }
}

impl Drop for SignalHold {
    fn drop(&mut self) {
        if self.any {
            // SAFETY: a valid signal set.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
        }
    }
}

/// One `BLPOP` on the marker of `token`, for a slice or until `deadline`, ended by a signal
/// handler as `restart` says (a handler that ran before it is not seen).
pub fn wait_for_marker(remote: &Remote, token: &str, deadline: Option<&timespec>, restart: Restart) -> Result<Woke> {
    SignalHold::for_call(restart).wait_for_marker(remote, token, deadline, None)
}

/// One `BLPOP` on the marker of `token`: for a slice, or until `deadline`, or for `due_in_ms`
/// (a scheduled message falls due then), whichever ends first. `TimedOut` once the deadline
/// passed with nothing popped; `Maybe` when the marker was popped or a slice ended.
fn wait_on_marker(remote: &Remote, token: &str, deadline: Option<&timespec>, due_in_ms: Option<u64>, how: Await) -> Result<Woke> {
    let slice_ns = due_in_ms.map_or(SLICE_MS, |due| due.min(SLICE_MS)) * 1_000_000;
    let wait_ns = match deadline {
        Some(d) => {
            let left = clock::ns_of(d).saturating_sub(clock::realtime_ns());
            if left == 0 {
                return Ok(Woke::TimedOut);
            }
            left.min(slice_ns)
        }
        None => slice_ns,
    };
    // Whole milliseconds, rounded up (never 0, which would mean "forever").
    let ms = wait_ns.div_ceil(1_000_000).max(1);
    let secs = format!("{}.{:03}", ms / 1000, ms % 1000);
    let marker = remote.keys.waiter(token);
    connection::with(&remote.url, |c| {
        c.send(&[b"BLPOP", marker.as_bytes(), secs.as_bytes()])?;
        match c.read(how)? {
            None => Ok(Woke::Interrupted),
            Some(Reply::Error(_)) => {
                c.mark_broken();
                Err(Errno::EIO)
            }
            // Nothing popped, and the deadline (not just a slice) passed.
            Some(Reply::Nil) if deadline.is_some_and(|d| clock::ns_of(d) <= clock::realtime_ns()) => Ok(Woke::TimedOut),
            Some(_) => Ok(Woke::Maybe),
        }
    })
}

/// Signals landing while a blocking call's script round trip is in flight (the server's writes
/// paused with `CLIENT PAUSE … WRITE`, so the script is held by the server), for both APIs:
/// EINTR as on the kernel — which checks for a pending signal before it sleeps — unless the
/// handler has `SA_RESTART` and the call is an mq_* one, or the caller was served meanwhile.
/// One test: the handlers are the process's, and which ones exist decides how a call waits.
#[cfg(test)]
mod tests {
    use std::os::raw::{c_int, c_long};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::{Duration, Instant};

    use crate::emu::posix::limits::PosixLimits;
    use crate::emu::sysv::SysvLimits;
    use crate::errno::{Errno, Result};
    use crate::remote::connection::Reply;
    use crate::remote::posix::RemotePosix;
    use crate::remote::sysv::RemoteSysv;
    use crate::remote::testing::Server;
    use crate::remote::Remote;

    static HANDLED: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn count(_: c_int) {
        HANDLED.fetch_add(1, Ordering::SeqCst);
    }

    /// A signal without SA_RESTART, and one with it.
    fn plain() -> c_int {
        libc::SIGRTMIN() + 3
    }
    fn restarting() -> c_int {
        libc::SIGRTMIN() + 4
    }

    fn install(sig: c_int, flags: c_int) {
        // SAFETY: sigaction is plain data; the handler only touches an atomic.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = count as extern "C" fn(c_int) as usize;
            sa.sa_flags = flags;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
        }
    }

    fn command(remote: &Remote, args: &[&[u8]]) -> Reply {
        remote.with(|c| c.request(args)).unwrap()
    }

    /// Pauses the server's writes (scripts wait in the server) for at most 10 s.
    fn pause(remote: &Remote) {
        assert_eq!(command(remote, &[b"CLIENT", b"PAUSE", b"10000", b"WRITE"]), Reply::Status(b"OK".to_vec()));
    }

    fn unpause(remote: &Remote) {
        command(remote, &[b"CLIENT", b"UNPAUSE"]);
    }

    /// Waits (at most 5 s) until `n` scripts are held by the pause.
    fn until_scripts_held(remote: &Remote, n: usize) {
        let started = Instant::now();
        loop {
            let Reply::Bulk(list) = command(remote, &[b"CLIENT", b"LIST"]) else { panic!("CLIENT LIST") };
            let held = String::from_utf8_lossy(&list).lines().filter(|l| l.contains(" flags=b ") && l.contains(" cmd=evalsha ")).count();
            if held >= n {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "{held} scripts held, not {n}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends `sig` to the thread `tid` (of this process) and waits (at most 5 s) until its
    /// handler ran or it is pending in that thread.
    fn signal_thread(tid: i32, sig: c_int, handled_before: usize) {
        // SAFETY: a signal to a thread of this process, which has a handler for it.
        assert_eq!(unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, sig) }, 0);
        let bit = 1u64 << (sig - 1);
        let started = Instant::now();
        loop {
            let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap_or_default();
            let pending = status.lines().find_map(|l| l.strip_prefix("SigPnd:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok()).unwrap_or(0);
            if pending & bit != 0 || HANDLED.load(Ordering::SeqCst) > handled_before {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "signal {sig} neither pending nor handled");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn tid() -> i32 {
        // SAFETY: no arguments.
        unsafe { libc::syscall(libc::SYS_gettid) as i32 }
    }

    /// Starts `call` on a thread; answers its kernel thread id and the channel of its outcome
    /// (with how long it took).
    fn start<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> (i32, mpsc::Receiver<(T, Duration)>) {
        let (tx, rx) = mpsc::channel();
        let (ttx, trx) = mpsc::channel();
        std::thread::spawn(move || {
            ttx.send(tid()).unwrap();
            let started = Instant::now();
            let outcome = call();
            let _ = tx.send((outcome, started.elapsed()));
        });
        (trx.recv().unwrap(), rx)
    }

    fn deadline_in(ms: u64) -> libc::timespec {
        crate::os::clock::timespec_of_ns(crate::os::clock::realtime_ns() + ms * 1_000_000)
    }

    fn posix_receive(p: &RemotePosix, q: c_int, timeout_ms: u64) -> Result<Vec<u8>> {
        let mut buf = [0u8; 8];
        let deadline = deadline_in(timeout_ms);
        // SAFETY: this thread's own buffer and deadline.
        let n = unsafe { p.receive(q, buf.as_mut_ptr().cast(), 8, std::ptr::null_mut(), Some(&deadline)) }?;
        Ok(buf[..n as usize].to_vec())
    }

    #[repr(C)]
    struct Msg {
        mtype: c_long,
        text: [u8; 8],
    }

    fn sysv_receive(s: &RemoteSysv, id: c_int) -> Result<Vec<u8>> {
        let mut m = Msg { mtype: 0, text: [0; 8] };
        // SAFETY: a writable buffer of 8 bytes of text.
        let n = unsafe { s.msgrcv(id, (&mut m as *mut Msg).cast(), 8, 0, 0) }?;
        Ok(m.text[..n as usize].to_vec())
    }

    fn sysv_send(s: &RemoteSysv, id: c_int, text: &[u8], flags: c_int) -> Result<c_int> {
        let mut m = Msg { mtype: 1, text: [0; 8] };
        m.text[..text.len()].copy_from_slice(text);
        // SAFETY: a valid message of `text.len()` bytes.
        unsafe { s.msgsnd(id, (&m as *const Msg).cast(), text.len(), flags) }
    }

    /// Starts `call` on a thread while the server holds scripts and, once its script is held,
    /// signals the thread with `sig` (a handled one): the call's outcome, and how many signals
    /// were handled before.
    fn start_signalled<T: Send + 'static>(admin: &Remote, sig: c_int, call: impl FnOnce() -> T + Send + 'static) -> (mpsc::Receiver<(T, Duration)>, usize) {
        pause(admin);
        let (tid, rx) = start(call);
        until_scripts_held(admin, 1);
        let before = HANDLED.load(Ordering::SeqCst);
        signal_thread(tid, sig, before);
        (rx, before)
    }

    /// The outcome of a call that must end by itself within 2 s; else `unblock` runs (so that
    /// the test ends) and the test fails.
    fn outcome<T: std::fmt::Debug>(rx: &mpsc::Receiver<(T, Duration)>, unblock: impl FnOnce()) -> T {
        match rx.recv_timeout(Duration::from_secs(2)) {
            Ok((value, took)) => {
                assert!(took < Duration::from_secs(2), "{value:?} after {took:?}");
                value
            }
            Err(_) => {
                unblock();
                let (value, took) = rx.recv().unwrap();
                panic!("still blocked after 2 s (then {value:?} after {took:?})");
            }
        }
    }

    #[test]
    fn a_signal_during_a_scripts_round_trip_is_seen_as_the_kernel_sees_it() {
        let Some(server) = Server::start() else { return };
        let limits = PosixLimits { msg_max: 10, msgsize_max: 8192, msg_default: 10, msgsize_default: 8192, queues_max: 256, rlimit_msgqueue: Some(u64::MAX) };
        let p = Arc::new(RemotePosix::new(server.remote("sig"), limits, crate::remote::testing::stock_stated()));
        let s =
            Arc::new(RemoteSysv::new(server.remote("sig"), SysvLimits { msgmax: 8192, msgmnb: 16384, msgmni: 32000 }, crate::remote::testing::stock_stated()));
        let admin = server.remote("sig");
        // SAFETY: a zeroed mq_attr is valid.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = 4;
        attr.mq_msgsize = 8;
        // SAFETY: the test's own name and attributes. Both scripts are loaded before any pause.
        let q = unsafe { p.open(c"/sig".as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600, &attr) }.unwrap();
        let id = s.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
        assert_eq!(sysv_send(&s, id, b"", libc::IPC_NOWAIT), Ok(0));
        assert_eq!(sysv_receive(&s, id), Ok(vec![]));

        // 1. mq_timedreceive, a handler without SA_RESTART (the only handler): EINTR at once,
        //    not at the deadline (the wait is a ppoll given the caller's mask).
        install(plain(), 0);
        let interrupt_posix = |sig: c_int, expected: Result<Vec<u8>>| {
            let (rx, before) = start_signalled(&admin, sig, {
                let p = p.clone();
                move || posix_receive(&p, q, 3000)
            });
            unpause(&admin);
            // SAFETY: the test's own message.
            let unblock = || assert_eq!(unsafe { p.send(q, c"late".as_ptr(), 4, 0, None) }, Ok(0));
            let got = outcome(&rx, unblock);
            assert_eq!(got, expected, "signal {sig}");
            assert_eq!(HANDLED.load(Ordering::SeqCst), before + 1);
        };
        interrupt_posix(plain(), Err(Errno::EINTR));

        // 2. msgrcv: EINTR at once.
        let interrupt_sysv = |sig: c_int| {
            let (rx, before) = start_signalled(&admin, sig, {
                let s = s.clone();
                move || sysv_receive(&s, id)
            });
            unpause(&admin);
            let got = outcome(&rx, || assert_eq!(sysv_send(&s, id, b"late", libc::IPC_NOWAIT), Ok(0)));
            assert_eq!(got, Err(Errno::EINTR), "signal {sig}");
            assert_eq!(HANDLED.load(Ordering::SeqCst), before + 1);
        };
        interrupt_sysv(plain());

        // 3. A message handed to the caller while the signal was pending wins over it: the
        //    sender's script runs after the receiver's registered it, before its EINTR step.
        let served_anyway = |sig: c_int, sysv: bool| {
            let (rx, before) = start_signalled(&admin, sig, {
                let (p, s) = (p.clone(), s.clone());
                move || if sysv { sysv_receive(&s, id) } else { posix_receive(&p, q, 3000) }
            });
            let sender = {
                let (p, s) = (p.clone(), s.clone());
                std::thread::spawn(move || {
                    if sysv {
                        sysv_send(&s, id, b"won", 0)
                    } else {
                        // SAFETY: the test's own message.
                        unsafe { p.send(q, c"won".as_ptr(), 3, 0, None) }
                    }
                })
            };
            until_scripts_held(&admin, 2);
            unpause(&admin);
            assert_eq!(sender.join().unwrap(), Ok(0));
            let got = outcome(&rx, || {});
            assert_eq!(got, Ok(b"won".to_vec()), "sysv {sysv}");
            assert_eq!(HANDLED.load(Ordering::SeqCst), before + 1);
        };
        served_anyway(plain(), false);
        served_anyway(plain(), true);

        // 4. With an SA_RESTART handler as well: mq_timedreceive goes on waiting after it (and
        //    gets a message sent later) but still fails with EINTR after the other; msgrcv
        //    fails with EINTR after either.
        install(restarting(), libc::SA_RESTART);
        {
            let (rx, before) = start_signalled(&admin, restarting(), {
                let p = p.clone();
                move || posix_receive(&p, q, 3000)
            });
            unpause(&admin);
            assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "an SA_RESTART handler ended mq_timedreceive");
            assert_eq!(HANDLED.load(Ordering::SeqCst), before + 1);
            // SAFETY: the test's own message.
            assert_eq!(unsafe { p.send(q, c"after".as_ptr(), 5, 0, None) }, Ok(0));
            assert_eq!(outcome(&rx, || {}), Ok(b"after".to_vec()));
        }
        interrupt_posix(plain(), Err(Errno::EINTR));
        interrupt_sysv(restarting());
        interrupt_sysv(plain());
        served_anyway(plain(), false);
        served_anyway(restarting(), true);
        // SAFETY: the test's own descriptor.
        assert_eq!(p.descriptor_closing(q), Some(Ok(0)));
    }
}
