//! `mq_notify` on emulated queues: one registration per queue, owned by a process, fired once
//! when a message arrives on an empty queue that no receiver is waiting on.
//!
//! SIGEV_SIGNAL is delivered with `rt_sigqueueinfo` as the kernel would: `si_code` SI_MESGQ,
//! the registration's value, and the sender's pid and real uid. SIGEV_NONE only consumes the
//! registration. SIGEV_THREAD runs the function on a new thread in the owner's process: the
//! owner keeps one helper thread per queue it is registered on, sleeping on the registration's
//! event counter (see [`thread`]).

use std::os::raw::c_int;

use super::queue::Queue;
use crate::emu::shm::layout::NotifyRegistration;
use crate::errno::{Errno, Result};

/// A validated `mq_notify` argument: None removes the caller's registration.
pub struct Request(Option<NotifyRegistration>);

/// The `sigevent` fields used here (glibc layout: value, signo, notify, then the SIGEV_THREAD
/// function and attributes).
#[repr(C)]
#[derive(Clone, Copy)]
struct SigeventHead {
    value: usize,
    signo: c_int,
    notify: c_int,
    function: usize,
    attributes: usize,
}

/// Linux's highest signal number (`_NSIG`).
const NSIG: c_int = 64;

impl Request {
    /// Reads and validates `sev` before the descriptor is looked at, as the kernel does:
    /// EINVAL for an unknown kind or (for SIGEV_SIGNAL) an invalid signal; signal 0 is valid.
    pub fn read(sev: *const libc::sigevent) -> Result<Request> {
        if sev.is_null() {
            return Ok(Request(None));
        }
        let s: SigeventHead = crate::usermem::checked_read(sev.cast()).ok_or(Errno::EFAULT)?;
        match s.notify {
            libc::SIGEV_NONE | libc::SIGEV_THREAD => {}
            libc::SIGEV_SIGNAL => {
                if !(0..=NSIG).contains(&s.signo) {
                    return Err(Errno::EINVAL);
                }
            }
            _ => return Err(Errno::EINVAL),
        }
        // SAFETY: getpid/getuid cannot fail.
        let (pid, uid) = unsafe { (libc::getpid(), libc::getuid()) };
        Ok(Request(Some(NotifyRegistration {
            owner_pid: pid,
            kind: s.notify,
            signo: s.signo,
            owner_uid: uid,
            value: s.value as u64,
            function: s.function as u64,
            attributes: s.attributes as u64,
            owner_start: process_start(pid).unwrap_or(0),
            thread_events: 0,
            _reserved: [0; 3],
        })))
    }
}

/// Start time of process `pid` in clock ticks since boot (field 22 of /proc/PID/stat), which
/// tells a live owner from an unrelated process that reused its pid.
fn process_start(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that registered `reg` is still alive.
fn owner_alive(reg: &NotifyRegistration) -> bool {
    // SAFETY: signal 0 only checks existence.
    let exists = unsafe { libc::kill(reg.owner_pid, 0) } == 0 || crate::errno::current() == libc::EPERM;
    exists && (reg.owner_start == 0 || process_start(reg.owner_pid) == Some(reg.owner_start))
}

/// Registers (or, with a NULL request, unregisters) the caller on `q`.
pub fn register(q: &Queue, request: Request) -> Result<()> {
    // SAFETY: no preconditions.
    let me = unsafe { libc::getpid() };
    let mut locked = q.lock()?;
    let current = locked.notification();
    match request.0 {
        None => {
            // Only the owner's NULL removes it; anyone else's silently succeeds.
            if current.owner_pid == me {
                locked.set_notification(NotifyRegistration { thread_events: current.thread_events, ..Default::default() });
                drop(locked);
                thread::stop(q);
            }
            Ok(())
        }
        Some(mut reg) => {
            if current.owner_pid != 0 && (current.owner_pid == me || owner_alive(&current)) {
                return Err(Errno::EBUSY);
            }
            reg.thread_events = current.thread_events;
            if reg.kind == libc::SIGEV_THREAD {
                thread::start(q, &reg)?;
            }
            locked.set_notification(reg);
            Ok(())
        }
    }
}

/// Removes the caller's registration on `q`, if it has one (every close by the owner process of
/// any descriptor of the queue does this, as the kernel's `mqueue_flush_file`).
pub fn drop_if_owner(q: &Queue) {
    // SAFETY: no preconditions.
    let me = unsafe { libc::getpid() };
    if let Ok(mut locked) = q.lock() {
        let current = locked.notification();
        if current.owner_pid == me {
            locked.set_notification(NotifyRegistration { thread_events: current.thread_events, ..Default::default() });
            drop(locked);
            thread::stop(q);
        }
    }
}

/// The current registration of `q` (for inspection).
pub fn snapshot(q: &Queue) -> NotifyRegistration {
    q.lock().map(|mut l| l.notification()).unwrap_or_default()
}

/// The line the kernel shows in `/dev/mqueue/NAME`: bytes queued, and the registration's kind,
/// signal and owner.
pub fn status_line(q: &Queue) -> String {
    let reg = snapshot(q);
    let owned = reg.owner_pid != 0;
    format!(
        "QSIZE:{:<10} NOTIFY:{:<5} SIGNO:{:<5} NOTIFY_PID:{:<6}\n",
        q.curbytes(),
        if owned { reg.kind } else { 0 },
        if owned && reg.kind == libc::SIGEV_SIGNAL { reg.signo } else { 0 },
        if owned { reg.owner_pid } else { 0 }
    )
}

/// Delivers a notification that fired (already removed from the queue by the sender).
pub fn deliver(reg: &NotifyRegistration) {
    match reg.kind {
        libc::SIGEV_SIGNAL if reg.signo != 0 => {
            let mut info = [0u8; 128];
            // SAFETY: getpid/getuid cannot fail.
            let (pid, uid) = unsafe { (libc::getpid(), libc::getuid()) };
            // siginfo_t on Linux: si_signo, si_errno, si_code, then (for SI_MESGQ, the _rt
            // member) si_pid, si_uid and si_value at offset 16, 20 and 24.
            info[0..4].copy_from_slice(&reg.signo.to_ne_bytes());
            info[8..12].copy_from_slice(&libc::SI_MESGQ.to_ne_bytes());
            info[16..20].copy_from_slice(&pid.to_ne_bytes());
            info[20..24].copy_from_slice(&uid.to_ne_bytes());
            info[24..32].copy_from_slice(&reg.value.to_ne_bytes());
            // SAFETY: info is a 128-byte siginfo_t image; the kernel copies it.
            unsafe { libc::syscall(libc::SYS_rt_sigqueueinfo, reg.owner_pid, reg.signo, info.as_ptr()) };
        }
        _ => {}
    }
}

/// SIGEV_THREAD delivery: implemented with the readiness work; until then the registration is
/// kept and fires nothing.
pub mod thread {
    use super::*;

    pub fn start(_q: &Queue, _reg: &NotifyRegistration) -> Result<()> {
        Ok(())
    }

    pub fn stop(_q: &Queue) {}
}
