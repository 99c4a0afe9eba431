//! `mq_notify` on queues held by the server.
//!
//! The registration lives in the queue's meta (`n_*` fields: the owner's process token, pid,
//! helper thread id and host, the sigevent's kind, signal and value); what only the owner can
//! hold (a SIGEV_THREAD function and its copied attributes) stays in the owner's process. The
//! send that makes the empty queue non-empty with no receiver waiting takes the registration
//! off the queue in its script and hands it to the sender, which delivers it as the emulation
//! does (`emu::posix::notify`: SI_MESGQ, the value, the sender's pid and real uid):
//! - to its own process, at once;
//! - a signal to a process on the same host that it may signal, at once;
//! - otherwise through the owner's helper thread: the sender pushes the event onto the owner's
//!   list `{P}:note:<ptoken>` and waits (at most half a second) for the helper's
//!   acknowledgement, so that the signal is pending, or the thread started, when `mq_send`
//!   returns, as with the kernel.
//!
//! The owner runs one helper thread only while it has registrations: it waits on its list
//! (`BLPOP`, on its own connection, named `mqshim-note-<ptoken>`) and also tells anyone who
//! finds its registration whether it still exists: on the same host its thread id answers
//! (`tgkill(pid, tid, 0)`; a dead, killed or exec'd owner has no helper thread), from another
//! host the server's client list does (the helper's connection closes when the process goes).
//! A registration whose owner is gone is replaced by the next `mq_notify`.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crate::emu::posix::layout::{NotifyRegistration, NotifyRelay};
use crate::emu::posix::notify::{carrier::Carrier, relay, send_signal, take_netlink_form, Request};
use crate::errno::{Errno, Result};
use crate::os::forksafe::ForkSafe;
use crate::remote::connection::Reply;
use crate::remote::script::Step;
use crate::remote::Remote;

use super::POSIX;

/// A registration this process holds.
struct Local {
    queue: u64,
    reg: NotifyRegistration,
    attr: Option<Box<relay::Attr>>,
    /// A SIGEV_THREAD in the system call's netlink form (a trapped `mq_notify`): the kernel
    /// queue that notifies the program's socket (`emu::posix::notify::carrier`).
    carrier: Option<Carrier>,
}

struct State {
    regs: Vec<Local>,
    /// Registrations being made (the helper must not exit meanwhile).
    pending: usize,
    helper_running: bool,
}

static STATE: ForkSafe<State> = ForkSafe::new(
    State { regs: Vec::new(), pending: 0, helper_running: false },
    Some(|s| {
        // A forked child owns none of its parent's registrations and has no helper.
        for local in s.regs.drain(..) {
            std::mem::forget(local);
        }
        s.pending = 0;
        s.helper_running = false;
        HELPER_TID.store(0, Ordering::Relaxed);
        HELPER_NAMED.store(false, Ordering::Relaxed);
    }),
);
static HELPER_TID: AtomicI32 = AtomicI32::new(0);
/// Set once the helper's connection carries its name (so others can see the owner alive).
static HELPER_NAMED: AtomicBool = AtomicBool::new(false);

pub use crate::remote::keys::process_token;

/// This host, as far as signals go: the boot id and the pid namespace.
pub fn host_id() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        let ns = std::fs::read_link("/proc/self/ns/pid").map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        format!("{}/{}", boot.trim(), ns.trim_start_matches("pid:").trim_matches(|c| c == '[' || c == ']'))
    })
}

fn has_local(queue: u64) -> bool {
    STATE.with(|s| s.regs.iter().any(|l| l.queue == queue))
}

fn take_local(queue: u64) -> Option<Local> {
    STATE.with(|s| s.regs.iter().position(|l| l.queue == queue).map(|i| s.regs.swap_remove(i)))
}

/// `mq_notify` on queue `queue` (the request already read and validated).
pub fn register(remote: &Remote, queue: u64, request: Request) -> Result<()> {
    let ptoken = process_token();
    let id = queue.to_string();
    let Some(reg) = request.registration().copied() else {
        // Only the owner's NULL removes the registration; anyone else's succeeds silently.
        if has_local(queue) {
            expect_done(remote.run(&POSIX, &[b"notify_clear", id.as_bytes(), ptoken.as_bytes()]))?;
            drop(take_local(queue));
        }
        return Ok(());
    };
    STATE.with(|s| s.pending += 1);
    let result = register_with_helper(remote, queue, &ptoken, reg);
    STATE.with(|s| s.pending -= 1);
    result
}

fn register_with_helper(remote: &Remote, queue: u64, ptoken: &str, reg: NotifyRegistration) -> Result<()> {
    ensure_helper(remote)?;
    let id = queue.to_string();
    let netlink = if reg.kind == libc::SIGEV_THREAD { take_netlink_form() } else { None };
    let attr = (reg.kind == libc::SIGEV_THREAD && netlink.is_none()).then(|| relay::copy_attr(reg.attributes as usize));
    let (pid, tid) = (crate::os::ids::pid().to_string(), HELPER_TID.load(Ordering::Acquire).to_string());
    let (kind, signo, value) = (reg.kind.to_string(), reg.signo.to_string(), reg.value.to_string());
    let mut replace = String::new();
    for _ in 0..2 {
        let args: [&[u8]; 10] = [
            b"notify_set",
            id.as_bytes(),
            ptoken.as_bytes(),
            pid.as_bytes(),
            tid.as_bytes(),
            host_id().as_bytes(),
            kind.as_bytes(),
            signo.as_bytes(),
            value.as_bytes(),
            replace.as_bytes(),
        ];
        let values = expect_done(remote.run(&POSIX, &args))?;
        let text = |i: usize| values.get(i).and_then(Reply::bytes).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        if text(0) == "set" {
            // Only once the registration is made (see `emu::posix::notify::register`).
            let carrier = match netlink.as_ref().map(Carrier::register) {
                Some(Err(e)) => {
                    let _ = remote.run(&POSIX, &[b"notify_clear", id.as_bytes(), ptoken.as_bytes()]);
                    return Err(e);
                }
                Some(Ok(c)) => Some(c),
                None => None,
            };
            STATE.with(|s| s.regs.push(Local { queue, reg, attr, carrier }));
            return Ok(());
        }
        // Busy: does its owner still exist?
        let (owner_pid, owner_tid, owner_host, owner_token) = (text(1), text(2), text(3), text(4));
        if owner_token == ptoken || owner_alive(remote, &owner_pid, &owner_tid, &owner_host, &owner_token) {
            return Err(Errno::EBUSY);
        }
        replace = owner_token;
    }
    Err(Errno::EBUSY)
}

/// Whether the owner of a registration still exists (see the module's comment).
pub(super) fn owner_alive(remote: &Remote, pid: &str, tid: &str, host: &str, ptoken: &str) -> bool {
    if host == host_id() {
        return pid.parse().is_ok_and(|pid| thread_alive(pid, tid));
    }
    // Not allowed to look (an ACL): assume it exists.
    crate::remote::connection::client_names(&remote.url).is_none_or(|list| list.contains(&format!("name=mqshim-note-{ptoken} ")))
}

/// Whether the owner's helper thread `tid` of process `pid` (on this host) exists.
fn thread_alive(pid: i32, tid: &str) -> bool {
    let Ok(tid) = tid.parse::<i32>() else { return false };
    // SAFETY: signal 0 only checks that the thread exists.
    tid != 0 && (unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, 0) } == 0 || crate::errno::current() == libc::EPERM)
}

/// The values of a script that must complete (a `wait` is EIO).
fn expect_done(step: Result<Step>) -> Result<Vec<Reply>> {
    match step? {
        Step::Done(values) => Ok(values),
        Step::Wait(_) => Err(Errno::EIO),
    }
}

/// The caller closed a descriptor of `queue` (any, as `mqueue_flush_file`): whether its
/// registration there must be removed on the server (done by the close script).
pub fn closing(queue: u64) -> bool {
    take_local(queue).is_some()
}

/// A send fired a notification: `values` are the script's answer after `N` (kind, signo,
/// value, pid, tid, host, ptoken). Delivers it (see the module's comment).
pub fn deliver_fired(remote: &Remote, queue: u64, values: &[Reply]) {
    let text = |i: usize| values.get(i).and_then(Reply::bytes).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let (kind, signo) = (text(0).parse().unwrap_or(libc::SIGEV_NONE), text(1).parse().unwrap_or(0));
    let (pid, host, ptoken) = (text(3).parse::<i32>().unwrap_or(0), text(5), text(6));
    if host == host_id() && !thread_alive(pid, &text(4)) && ptoken != process_token() {
        // Its owner exited or exec'd (which closed its descriptors on the kernel, taking the
        // registration with them): there is nobody to notify.
        return;
    }
    let me = crate::os::ids::pid();
    let sender_uid = crate::os::sys::ids().0;
    let relay_info = NotifyRelay { seq: 0, sender_pid: me, sender_uid, _reserved: [0; 5] };
    if ptoken == process_token() {
        if let Some(local) = take_local(queue) {
            deliver(&local, &relay_info);
        }
        return;
    }
    let note = remote.keys.note(&ptoken);
    let id = queue.to_string();
    // A signal is sent by the owner's helper thread, from its own record of what it
    // registered: never by this sender to the pid and signal the server names, which any client
    // that may write the server could have written (this sender may run as root).
    let direct = match kind {
        libc::SIGEV_NONE => true,
        libc::SIGEV_SIGNAL => signo == 0,
        _ => false,
    };
    if direct {
        // Only tell the owner its registration is used up.
        let _ = remote.with(|c| c.request(&[b"LPUSH", note.as_bytes(), format!("{id} done").as_bytes()]));
        return;
    }
    let ack = crate::remote::keys::new_token();
    let item = format!("{id} relay {me} {sender_uid} {ack}");
    if remote.with(|c| c.request(&[b"LPUSH", note.as_bytes(), item.as_bytes()])).is_err() {
        return;
    }
    await_ack(remote, &ack, (host == host_id()).then(|| text(4).parse().ok()).flatten());
}

/// Waits up to half a second for the owner's helper thread to acknowledge the relay `ack` (the
/// signal is then pending when `mq_send` returns, as with the kernel), or until that thread,
/// when it is on this host (`helper_tid`), is found stopped (SIGSTOP, a debugger) or gone at
/// two looks (`lock::StopLooks`, about 1.5 ms): stopped with its process, it acknowledges
/// nothing until someone continues it, and the kernel's send returns at once to a stopped
/// owner (its signal pending).
fn await_ack(remote: &Remote, ack: &str, helper_tid: Option<i32>) {
    use crate::emu::engine::{futex::Woke, lock::StopLooks};
    use crate::os::clock::{monotonic_ns, realtime_ns, timespec_of_ns};
    let start = monotonic_ns();
    let end = start + 500_000_000;
    // The first look at once: later ones come only as often as the `BLPOP`s below end.
    let mut looks = helper_tid.map_or_else(StopLooks::never, |_| StopLooks::counting_gone(start).first_look_now());
    loop {
        let now = monotonic_ns();
        if now >= end || helper_tid.is_some_and(|tid| looks.stopped_twice(now, tid)) {
            return;
        }
        let next = end.min(looks.next_at());
        // A look due within 2 ms is waited for here: a `BLPOP` times out only as finely as the
        // server's clock ticks (100 ms at Redis's default `hz`).
        if next - now <= 2_000_000 {
            std::thread::sleep(std::time::Duration::from_nanos(next - now));
            continue;
        }
        let until = timespec_of_ns(realtime_ns() + (next - now));
        // Anything but the time running out (the acknowledgement, a handler, a lost
        // connection) ends the wait.
        if !matches!(crate::remote::wait::wait_for_marker(remote, ack, Some(&until), crate::emu::engine::futex::Restart::LikeMqueue), Ok(Woke::TimedOut)) {
            return;
        }
    }
}

/// Delivers a registration of this process (a signal to itself, or the thread).
fn deliver(local: &Local, relay_info: &NotifyRelay) {
    if let Some(carrier) = &local.carrier {
        carrier.fire();
        return;
    }
    match (&local.attr, local.reg.kind) {
        (Some(attr), _) => relay::fire_thread(attr, local.reg.function as usize, local.reg.value),
        (None, libc::SIGEV_SIGNAL) if local.reg.signo != 0 => {
            send_signal(crate::os::ids::pid(), &local.reg, relay_info);
        }
        _ => {}
    }
}

/// Starts the helper thread if it is not running, and waits until its connection is named.
pub(super) fn ensure_helper(remote: &Remote) -> Result<()> {
    let start = STATE.with(|s| !std::mem::replace(&mut s.helper_running, true));
    if start {
        HELPER_NAMED.store(false, Ordering::Release);
        let r = remote.clone();
        let spawned = std::thread::Builder::new().name("mqshim-note".into()).stack_size(256 * 1024).spawn(move || helper(r));
        if spawned.is_err() {
            STATE.with(|s| s.helper_running = false);
            return Err(Errno::EAGAIN);
        }
    }
    // Bounded: a server that cannot be reached fails the registration itself.
    let until = crate::os::clock::monotonic_ns() + 4_000_000_000;
    while !HELPER_NAMED.load(Ordering::Acquire) && crate::os::clock::monotonic_ns() < until {
        if !STATE.with(|s| s.helper_running) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}

/// The helper thread: names its connection, waits for events on the process's list, delivers
/// relayed ones and acknowledges them; also keeps the readiness of the process's polled queues
/// (`ready`: woken by its marker, renewing every RENEW_NS); exits when no registration and no
/// polled queue is left.
fn helper(remote: Remote) {
    // SAFETY: blocks every signal in this thread only (the program's signals are not ours to
    // take); gettid cannot fail.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
        HELPER_TID.store(libc::gettid(), Ordering::Release);
    }
    let ptoken = process_token();
    let name = format!("mqshim-note-{ptoken}");
    let note = remote.keys.note(&ptoken);
    let marker = super::ready::marker(&remote);
    let mut renewed = crate::os::clock::monotonic_ns();
    loop {
        if crate::os::clock::monotonic_ns() >= renewed + super::ready::RENEW_NS {
            super::ready::refresh(&remote);
            renewed = crate::os::clock::monotonic_ns();
        }
        let done = STATE.with(|s| {
            // (Asked under this lock: `ready::arm` arms before it makes sure the helper runs.)
            let done = s.regs.is_empty() && s.pending == 0 && !super::ready::polling();
            if done {
                s.helper_running = false;
            }
            done
        });
        if done {
            HELPER_TID.store(0, Ordering::Release);
            crate::remote::connection::drop_thread_connection();
            return;
        }
        let got = remote.with(|c| {
            c.send(&[b"CLIENT", b"SETNAME", name.as_bytes()])?;
            c.send(&[b"BLPOP", note.as_bytes(), marker.as_bytes(), b"0.5"])?;
            c.read_reply()?;
            HELPER_NAMED.store(true, Ordering::Release);
            c.read_reply()
        });
        match got {
            Ok(Reply::Array(kv)) if kv.first().and_then(Reply::bytes) == Some(marker.as_bytes()) => {
                super::ready::refresh(&remote);
                renewed = crate::os::clock::monotonic_ns();
            }
            Ok(Reply::Array(kv)) => {
                if let Some(item) = kv.get(1).and_then(Reply::bytes) {
                    handle(&remote, &String::from_utf8_lossy(item));
                }
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}

/// One event on the list: "<queue> done" (a sender delivered it) or "<queue> relay <pid>
/// <uid> <ack>" (deliver it here, then acknowledge).
fn handle(remote: &Remote, item: &str) {
    let f: Vec<&str> = item.split(' ').collect();
    let Some(queue) = f.first().and_then(|q| q.parse::<u64>().ok()) else { return };
    let local = take_local(queue);
    if f.get(1) != Some(&"relay") {
        return;
    }
    if let Some(local) = local {
        let sender_pid = f.get(2).and_then(|p| p.parse().ok()).unwrap_or(0);
        let sender_uid = f.get(3).and_then(|u| u.parse().ok()).unwrap_or(0);
        deliver(&local, &NotifyRelay { seq: 0, sender_pid, sender_uid, _reserved: [0; 5] });
    }
    if let Some(ack) = f.get(4) {
        let marker = remote.keys.waiter(ack);
        let _ = remote.with(|c| {
            c.send(&[b"LPUSH", marker.as_bytes(), b"1"])?;
            c.send(&[b"EXPIRE", marker.as_bytes(), b"60"])?;
            c.read_reply()?;
            c.read_reply()
        });
    }
}

/// Whether this process's helper thread is running (for tests).
pub fn helper_running() -> bool {
    STATE.with(|s| s.helper_running)
}
