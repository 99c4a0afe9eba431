//! `mq_notify` on emulated queues: one registration per queue, owned by a process, fired once
//! when a message arrives on an empty queue that no receiver is waiting on (the sender clears it
//! under the queue lock, see `queue::Locked::send`).
//!
//! - SIGEV_SIGNAL is delivered with `rt_sigqueueinfo` as the kernel would: `si_code` SI_MESGQ,
//!   the registration's value, and the sender's pid and real uid — by the owner's process, from
//!   its own record of what it registered, never by a sender from the registration in the
//!   queue's memory (which anyone who may write that memory could have written: a sender
//!   running as root would signal any process for them). A sender of another process leaves it
//!   in the queue's relay slot and waits until the owner's relay thread has sent it to its own
//!   process (for a served process — a static program under `mqshim run` — its supervisor's
//!   relay thread, which sends it to the program); a send of the owner itself signals it at
//!   once (`own_signals`).
//! - SIGEV_NONE only consumes the registration.
//! - SIGEV_THREAD always goes through the relay: the relay thread starts the function on a new
//!   detached thread with a copy of the program's attributes (glibc copies them too).
//!
//! A process has one relay thread, started by its first SIGEV_SIGNAL or SIGEV_THREAD
//! registration and serving up to 120 of them (another beyond, up to 16 threads); registering
//! a signal allocates nothing, so a program (like the notes' `notify_sig`) finds its heap as
//! it would without mqshim.
//!
//! The registration is removed when its owner closes any descriptor of the queue, unregisters,
//! exits or execs. A dead or exec'd owner cannot clean up, so a registration is treated as gone
//! when its program image is: its relay thread no longer exists (`tgkill(pid, tid, 0)`), or —
//! for the caller's own pid — its image token is not the caller's; a SIGEV_NONE registration of
//! another process, or any of a served process, is gone when that process no longer has the
//! queue open (or no longer exists). (A served process's `close` of a descriptor of the queue
//! is seen by its supervisor, which removes the registration then, as the owner's own close
//! does; the test is for the closes nobody sees, `exec`'s.)

use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use super::fdtable::QueueHandle;
use super::layout::{NotifyRegistration, NotifyRelay};
use super::queue::{Posted, Queue, RelayedSignal};
use crate::emu::engine::futex::{self, Restart};
use crate::errno::{Errno, Result};
use crate::os::forksafe::ForkSafe;

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

/// The program-image token of a registration made for a served process (`ids::serving`): its
/// owner is judged by its pid and its descriptors alone.
const SERVED_IMAGE: u64 = u64::MAX;

/// Whose registration the caller makes and may remove: the served process's (pid, real uid,
/// image token), else this process's.
fn registrant() -> (i32, u32, u64) {
    match crate::os::ids::served() {
        Some((pid, uid)) => (pid, uid, SERVED_IMAGE),
        // SAFETY: getuid cannot fail.
        None => (crate::os::ids::pid(), unsafe { libc::getuid() }, image_token()),
    }
}

/// This program image's token (0 until first needed; a new image starts again from 0).
static IMAGE: AtomicU64 = AtomicU64::new(0);

fn image_token() -> u64 {
    let t = IMAGE.load(Ordering::Relaxed);
    if t != 0 {
        return t;
    }
    let token = crate::os::random::u64().max(1);
    match IMAGE.compare_exchange(0, token, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => token,
        Err(existing) => existing,
    }
}

fn needs_relay(kind: c_int, signo: c_int) -> bool {
    kind == libc::SIGEV_THREAD || (kind == libc::SIGEV_SIGNAL && signo != 0)
}

impl Request {
    /// The registration asked for; None: remove the caller's (the Redis backend keeps its own
    /// registrations, and delivers them as this module does).
    pub fn registration(&self) -> Option<&NotifyRegistration> {
        self.0.as_ref()
    }

    /// Reads and validates `sev` before the descriptor is looked at, as the kernel does:
    /// EINVAL for an unknown kind or (for SIGEV_SIGNAL) an invalid signal; signal 0 is valid.
    pub fn read(sev: *const libc::sigevent) -> Result<Request> {
        if sev.is_null() {
            return Ok(Request(None));
        }
        // SAFETY: `sev` is the program's mq_notify argument, as checked_read requires.
        let s: SigeventHead = unsafe { crate::os::usermem::checked_read(sev.cast()) }.ok_or(Errno::EFAULT)?;
        match s.notify {
            libc::SIGEV_NONE | libc::SIGEV_THREAD => {}
            libc::SIGEV_SIGNAL => {
                if !(0..=NSIG).contains(&s.signo) {
                    return Err(Errno::EINVAL);
                }
            }
            _ => return Err(Errno::EINVAL),
        }
        let (pid, uid, image) = registrant();
        Ok(Request(Some(NotifyRegistration {
            owner_pid: pid,
            kind: s.notify,
            signo: s.signo,
            owner_uid: uid,
            value: s.value as u64,
            function: s.function as u64,
            attributes: s.attributes as u64,
            image,
            seq: 0,
            relay_tid: 0,
            relay_pid: 0,
            _reserved: 0,
        })))
    }
}

/// Whether a thread exists (EPERM: it exists, but belongs to another user).
fn thread_exists(pid: i32, tid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, 0) == 0 || crate::errno::current() == libc::EPERM }
}

/// Whether process `pid` has a descriptor of the FIFO `fifo_id` open for reading, as every
/// queue descriptor is (true when it cannot be told, e.g. another user's process); a
/// write-only one is mqshim's own (`store::HeldFifo`), no queue descriptor.
fn has_open(pid: i32, fifo_id: (u64, u64)) -> bool {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return true };
    dir.flatten().any(|e| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(e.path()).is_ok_and(|m| (m.dev(), m.ino()) == fifo_id) && !write_only(pid, &e.file_name())
    })
}

/// Whether descriptor `fd` (its name in `/proc/PID/fd`) of process `pid` is open write-only,
/// by its `flags:` line in `/proc/PID/fdinfo` (false when that cannot be read).
fn write_only(pid: i32, fd: &std::ffi::OsStr) -> bool {
    let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.to_string_lossy())) else { return false };
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).and_then(|v| i32::from_str_radix(v.trim(), 8).ok());
    flags.is_some_and(|f| f & libc::O_ACCMODE == libc::O_WRONLY)
}

/// Whether the thread that relays `reg`'s notifications exists (true when it has none).
fn relay_alive(reg: &NotifyRegistration) -> bool {
    let pid = if reg.relay_pid != 0 { reg.relay_pid } else { reg.owner_pid };
    reg.relay_tid == 0 || thread_exists(pid, reg.relay_tid)
}

/// Whether the program image that registered `reg` still exists (checked by a sender before it
/// delivers, and by a registrant before it reports EBUSY): its relay thread, or, for a served
/// process, the process and its supervisor's relay.
pub fn owner_image_alive(reg: &NotifyRegistration) -> bool {
    if reg.image == SERVED_IMAGE {
        return !crate::os::sys::process_gone(reg.owner_pid) && relay_alive(reg);
    }
    relay_alive(reg)
}

/// Whether registration `cur` still stands against a new one, as far as system calls on its
/// owner tell; None when only its owner's descriptors can (a SIGEV_NONE registration of
/// another process, or a served process's: [`owner_keeps_queue_open`]).
fn stands_by_owner(cur: &NotifyRegistration, me: i32) -> Option<bool> {
    if cur.owner_pid == me && cur.image != SERVED_IMAGE {
        return Some(cur.image == image_token());
    }
    if cur.relay_tid != 0 && cur.image != SERVED_IMAGE {
        return Some(owner_image_alive(cur));
    }
    // SAFETY: signal 0 only checks existence.
    let exists = unsafe { libc::kill(cur.owner_pid, 0) } == 0 || crate::errno::current() == libc::EPERM;
    (!exists).then_some(false)
}

/// Whether the owner of registration `cur` still has `handle`'s queue open: a read of every
/// descriptor in `/proc/PID/fd`, which a caller does without the queue's lock.
fn owner_keeps_queue_open(cur: &NotifyRegistration, handle: &QueueHandle) -> bool {
    has_open(cur.owner_pid, handle.fifo_id)
}

/// How many times `register` judges a registration by its owner's descriptors without the
/// lock (the registration changing meanwhile each time) before it judges one under the lock.
const JUDGED_UNLOCKED: u32 = 3;

/// Set once this process registered anything, so closes of other processes' queues skip the
/// registration check.
static MAY_HAVE: AtomicBool = AtomicBool::new(false);

/// Registers (or, with a NULL request, unregisters) the caller on `handle`'s queue.
pub fn register(handle: &Arc<QueueHandle>, request: Request) -> Result<()> {
    let me = registrant().0;
    let q = &handle.queue;
    match request.0 {
        None => {
            // Only the owner's NULL removes it (and stamps the queue's times, as the kernel's
            // does); anyone else's silently succeeds.
            if drop_if_owner(handle) {
                q.note_attr_change();
            }
            Ok(())
        }
        Some(mut reg) => {
            let served = reg.image == SERVED_IMAGE;
            // A SIGEV_THREAD of the system call's own form — a served process's always, a
            // trapped system call's — is the kernel's netlink notification to a socket of the
            // program's, which the caller hands over ([`netlink_form`]); no function runs here.
            let target = if reg.kind == libc::SIGEV_THREAD { take_netlink_form() } else { None };
            if served && reg.kind == libc::SIGEV_THREAD && target.is_none() {
                return Err(Errno::EINVAL);
            }
            // The owner's relay thread delivers every notification that does something: it
            // alone knows what was registered (the registration in the queue's memory is
            // written by whoever may write that memory, and a sender that signalled what it
            // says would signal any process for them: see `fire`). A served process's relay
            // thread is its supervisor's (this process's). With no room left on any relay
            // thread, the registration is ENOMEM.
            let needs = needs_relay(reg.kind, reg.signo);
            let room = if needs { relay::reserve() } else { None };
            if needs && room.is_none() {
                return Err(Errno::ENOMEM);
            }
            let relayed = room.is_some();
            let relay_tid = match &room {
                Some(room) => room.relay_tid()?,
                None => 0,
            };
            if relayed && served {
                reg.relay_pid = crate::os::ids::pid();
            }
            let attr = (reg.kind == libc::SIGEV_THREAD && target.is_none()).then(|| relay::copy_attr(reg.attributes as usize));
            reg.relay_tid = relay_tid;
            // Whether a registration stands may take reading its owner's descriptors: done
            // without the lock (a long critical section would hold up every sender), and the
            // verdict used once the lock finds the same registration again.
            let mut judged: Option<(u32, i32, bool)> = None;
            let mut attempts = 0u32;
            let mut posts_refused = 0u32;
            let posted = loop {
                let mut locked = match q.lock() {
                    Ok(locked) => locked,
                    // Its holder does not let go of it (stopped inside its critical section):
                    // the registration is posted for the lock's next holder (`queue::pending`).
                    Err(Errno::EAGAIN) => {
                        let stands = |cur: &NotifyRegistration| stands_by_owner(cur, me).unwrap_or_else(|| owner_keeps_queue_open(cur, handle));
                        match q.post_pending_notification(reg, stands) {
                            Ok(Posted::Posted(seq)) => break seq,
                            Ok(Posted::LockMoved) => continue,
                            // The ring in force, or a side lock held, by a stopped process; or
                            // the holder went on meanwhile and let the ring take the queue back
                            // (then the lock is free): looked at again, twice at most.
                            Err(Errno::EAGAIN) if posts_refused < 2 => {
                                posts_refused += 1;
                                continue;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Err(e) => return Err(e),
                };
                let cur = locked.notification();
                if cur.owner_pid != 0 {
                    let stands = match (stands_by_owner(&cur, me), judged) {
                        (Some(stands), _) => stands,
                        (None, Some((seq, owner, stands))) if (seq, owner) == (cur.seq, cur.owner_pid) => stands,
                        (None, _) if attempts < JUDGED_UNLOCKED => {
                            drop(locked);
                            attempts += 1;
                            judged = Some((cur.seq, cur.owner_pid, owner_keeps_queue_open(&cur, handle)));
                            continue;
                        }
                        (None, _) => owner_keeps_queue_open(&cur, handle),
                    };
                    if stands {
                        return Err(Errno::EBUSY);
                    }
                }
                // With both side locks, so that this change and a post are one at a time; a
                // post made since the lock was taken is the registration to judge now.
                let Some(_sides) = locked.lock_sides_for_registration()? else { continue };
                let seq = locked.next_registration();
                locked.set_notification(NotifyRegistration { seq, ..reg });
                break seq;
            };
            reg.seq = posted;
            // Only once the registration is made: a carrier that is closed unfired tells the
            // program its registration was removed, which must not follow a failed call.
            let carrier = match target.as_ref().map(carrier::Carrier::register) {
                Some(Err(e)) => {
                    match q.lock() {
                        Ok(mut locked) => {
                            if locked.notification().seq == reg.seq {
                                locked.set_notification(NotifyRegistration::default());
                            }
                        }
                        Err(_) => {
                            q.withdraw_pending_notification(|posted| posted.seq == reg.seq);
                        }
                    }
                    return Err(e);
                }
                Some(Ok(c)) => Some(c),
                None => None,
            };
            q.note_attr_change();
            MAY_HAVE.store(true, Ordering::Release);
            if reg.kind == libc::SIGEV_SIGNAL && reg.signo != 0 && !served {
                own_signals::remember(q, &reg);
            }
            if let Some(room) = room {
                relay::watch(room, handle.clone(), reg, attr, carrier);
            }
            Ok(())
        }
    }
}

/// Removes the caller's registration on `handle`'s queue, if it has one (every close by the
/// owner process of any descriptor of the queue does this, as the kernel's `mqueue_flush_file`).
/// Whether it had one.
pub fn drop_if_owner(handle: &Arc<QueueHandle>) -> bool {
    if !MAY_HAVE.load(Ordering::Acquire) {
        return false;
    }
    let (me, _, image) = registrant();
    match crate::emu::engine::lock::briefly(|| handle.queue.lock()) {
        Ok(mut locked) => {
            let cur = locked.notification();
            if cur.owner_pid == me && cur.image == image {
                locked.set_notification(NotifyRegistration::default());
                drop(locked);
                relay::rescan();
                return true;
            }
        }
        // A process stopped inside the queue's critical section holds the lock: the lock's
        // next holder removes this owner's registration (`queue::pending`; an image's
        // registrations are its pid's, as an exec closes every queue descriptor), so that no
        // send fires it after this close, nor does a new one meet it (EBUSY); one it posted
        // behind the same holder is withdrawn.
        Err(Errno::EAGAIN) => return handle.queue.cancel_pending_notification(me, image),
        Err(_) => {}
    }
    false
}

/// The current registration of `q` (for inspection).
/// A registration whose owner is gone shows as none, as the kernel's does once the owner's exit
/// closed its descriptors (here nobody removed it yet: the next `mq_notify` or send does).
pub fn snapshot(q: &Queue) -> NotifyRegistration {
    let reg = q.lock().map(|mut l| l.notification()).unwrap_or_default();
    if reg.owner_pid != 0 && owner_gone(&reg) {
        NotifyRegistration::default()
    } else {
        reg
    }
}

/// Whether the process (or, for a relayed registration, the program image) that registered
/// `reg` no longer exists, as an onlooker can tell.
fn owner_gone(reg: &NotifyRegistration) -> bool {
    crate::os::sys::process_gone(reg.owner_pid) || !owner_image_alive(reg)
}

/// The line the kernel shows in `/dev/mqueue/NAME`: bytes queued, and the registration's kind,
/// signal and owner.
pub fn status_line(q: &Queue) -> String {
    let reg = snapshot(q);
    let owned = reg.owner_pid != 0;
    format_status_line(
        q.curbytes(),
        if owned { reg.kind } else { 0 },
        if owned && reg.kind == libc::SIGEV_SIGNAL { reg.signo } else { 0 },
        if owned { reg.owner_pid } else { 0 },
    )
}

/// The `/dev/mqueue/NAME` line of a queue with `qsize` bytes queued and a registration of kind
/// `notify`, signal `signo` and owner `notify_pid` (all 0 without one), whatever backend holds it.
pub fn format_status_line(qsize: u64, notify: i32, signo: i32, notify_pid: i32) -> String {
    format!("QSIZE:{qsize:<10} NOTIFY:{notify:<5} SIGNO:{signo:<5} NOTIFY_PID:{notify_pid:<6}\n")
}

/// Fires `reg` in the sender, under the queue lock (the kernel's `__do_notify`): a signal of
/// the sender's own process is sent now; what the owner's relay thread must do comes back as
/// the relay.
pub fn fire(q: &Queue, reg: &NotifyRegistration) -> Option<NotifyRelay> {
    // The sender: the served process, or this one.
    let (pid, uid, image) = registrant();
    let relay = NotifyRelay { seq: reg.seq, sender_pid: pid, sender_uid: uid, _reserved: [0; 5] };
    // This process's own signal registration: sent at once, from this process's copy of it.
    if reg.kind == libc::SIGEV_SIGNAL && reg.owner_pid == pid && reg.image == image && image != SERVED_IMAGE {
        if let Some((signo, value)) = own_signals::take(q, reg.seq) {
            send_signal(pid, &NotifyRegistration { signo, value, ..*reg }, &relay);
            return None;
        }
    }
    // Handed to the owner's relay thread, which sends the signal it registered itself (or,
    // for a served process, its supervisor's, which also tells whether the program still
    // has a descriptor of the queue: see `deliver`). Never sent by the sender to the pid
    // and signal the queue's memory names: anyone who may write that memory (a user who may
    // only send, say) could name any process and signal, and a sender running as root
    // would send it. One whose relay is not a live thread of its owner's image was never
    // made by `register` (which makes none without a relay) or is over: nothing is sent.
    (reg.relay_tid != 0 && needs_relay(reg.kind, reg.signo)).then_some(relay)
}

/// This process's own signal registrations (signal and value), by queue and sequence number, so
/// that a send of this process that fires one signals this process at once, from what this
/// process registered ([`fire`]), rather than through its relay thread. A fixed table of
/// atomics: filled without a lock (a sender takes from it under the queue lock, which the relay
/// thread holds its own lock around), allocating nothing; a registration that finds it full is
/// delivered through the relay thread, as any other's. An entry goes when its registration
/// fires, or when the relay thread finds the registration over.
mod own_signals {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const FREE: u32 = 0;
    const WRITING: u32 = 1;
    const SET: u32 = 2;

    struct Entry {
        state: AtomicU32,
        /// The queue's header address and its FIFO's inode: which queue.
        queue: AtomicUsize,
        fifo_ino: AtomicU64,
        seq: AtomicU32,
        signo: AtomicI32,
        value: AtomicU64,
    }

    const ENTRIES: usize = 64;
    static TABLE: [Entry; ENTRIES] = [const {
        Entry {
            state: AtomicU32::new(FREE),
            queue: AtomicUsize::new(0),
            fifo_ino: AtomicU64::new(0),
            seq: AtomicU32::new(0),
            signo: AtomicI32::new(0),
            value: AtomicU64::new(0),
        }
    }; ENTRIES];

    fn queue_of(q: &Queue) -> (usize, u64) {
        (q.header() as *const _ as usize, q.header().fifo_ino.load(Ordering::Acquire))
    }

    /// Remembers `reg` (this process's, just made on `q`), if there is room.
    pub fn remember(q: &Queue, reg: &NotifyRegistration) {
        let (queue, fifo_ino) = queue_of(q);
        for e in &TABLE {
            if e.state.compare_exchange(FREE, WRITING, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                e.queue.store(queue, Ordering::Relaxed);
                e.fifo_ino.store(fifo_ino, Ordering::Relaxed);
                e.seq.store(reg.seq, Ordering::Relaxed);
                e.signo.store(reg.signo, Ordering::Relaxed);
                e.value.store(reg.value, Ordering::Relaxed);
                e.state.store(SET, Ordering::Release);
                return;
            }
        }
    }

    /// Takes the entry of registration `seq` on `q`: its signal and value.
    pub fn take(q: &Queue, seq: u32) -> Option<(i32, u64)> {
        let (queue, fifo_ino) = queue_of(q);
        for e in &TABLE {
            if e.state.load(Ordering::Acquire) != SET || e.queue.load(Ordering::Relaxed) != queue || e.seq.load(Ordering::Relaxed) != seq {
                continue;
            }
            // Claimed before it is read (a sender and the relay thread may both look), so that
            // what is read is the entry that is freed.
            if e.state.compare_exchange(SET, WRITING, Ordering::Acquire, Ordering::Relaxed).is_err() {
                continue;
            }
            let found = (e.queue.load(Ordering::Relaxed), e.seq.load(Ordering::Relaxed), e.fifo_ino.load(Ordering::Relaxed));
            let what = (e.signo.load(Ordering::Relaxed), e.value.load(Ordering::Relaxed));
            if (found.0, found.1) != (queue, seq) {
                e.state.store(SET, Ordering::Release);
                continue;
            }
            e.state.store(FREE, Ordering::Release);
            // (One of a queue that was at this address before, with the same sequence number,
            // is stale: freed, and not this one's.)
            if found.2 == fifo_ino {
                return Some(what);
            }
        }
        None
    }
}

/// Queues the notification signal to `target` with SI_MESGQ, the value, and the sender's pid
/// and uid. False when the caller may not signal it.
pub fn send_signal(target: i32, reg: &NotifyRegistration, relay: &NotifyRelay) -> bool {
    let mut info = [0u8; 128];
    // siginfo_t on Linux: si_signo, si_errno, si_code, then (for SI_MESGQ, the _rt member)
    // si_pid, si_uid and si_value at offsets 16, 20 and 24.
    info[0..4].copy_from_slice(&reg.signo.to_ne_bytes());
    info[8..12].copy_from_slice(&libc::SI_MESGQ.to_ne_bytes());
    info[16..20].copy_from_slice(&relay.sender_pid.to_ne_bytes());
    info[20..24].copy_from_slice(&relay.sender_uid.to_ne_bytes());
    info[24..32].copy_from_slice(&reg.value.to_ne_bytes());
    // SAFETY: info is a 128-byte siginfo_t image; the kernel copies it.
    let rc = unsafe { libc::syscall(libc::SYS_rt_sigqueueinfo, target, reg.signo, info.as_ptr()) };
    rc == 0 || crate::errno::current() != libc::EPERM
}

/// Waits (briefly, bounded) until the owner's relay thread has delivered the signal this sender
/// relayed, so that the signal is pending when `mq_send` returns, as with the kernel. The owner
/// may be slow: a send that waits for locks as `wait` says waits no longer than for a lock
/// (`lock::wait_left_ns`), and a blocking one up to half a second. It may be stopped (SIGSTOP,
/// a debugger), or gone: the relay thread, found so at two looks (`lock::StopLooks`, about
/// 1.5 ms), delivers nothing until someone continues it, and the send returns then, as the
/// kernel's returns at once to a stopped owner (its signal pending).
pub fn await_relay(q: &Queue, relayed: RelayedSignal, wait: crate::emu::engine::lock::LockWait) {
    use crate::emu::engine::lock;
    use crate::os::clock::monotonic_ns;
    let word = &q.header().notify_events;
    let start = monotonic_ns();
    let deadline = start.saturating_add(lock::wait_left_ns(wait, 500_000_000));
    let mut looks = lock::StopLooks::counting_gone(start);
    loop {
        let seen = word.load(Ordering::Acquire);
        // A lock that cannot be had now (held, or contended past its bound) says nothing: the
        // relay may still be pending, and the wait is bounded anyway.
        let pending = q.lock().map(|mut l| l.relay().seq == relayed.seq).unwrap_or(true);
        let now = monotonic_ns();
        if !pending || now >= deadline || looks.stopped_twice(now, relayed.relay_tid) {
            return;
        }
        // Woken by the relay's delivery, or at the next look, 20 ms at most.
        let until = deadline.min(looks.next_at()).min(now + 20_000_000);
        let ts = crate::os::clock::timespec_of_ns(crate::os::clock::realtime_ns() + (until - now));
        futex::wait(word, seen, Some(&ts), Restart::LikeMqueue);
    }
}

/// The length of the kernel's netlink notification cookie (`NOTIFY_COOKIE_LEN`).
pub const NOTIFY_COOKIE_LEN: usize = 32;

/// A SIGEV_THREAD `mq_notify` in the system call's own form (glibc's `mq_notify` makes it, for
/// the kernel): a netlink socket of the program's (the caller's copy) and the cookie the kernel
/// sends it when the notification fires. A supervisor hands it over for a served process, the
/// trap for a trapped system call.
pub struct NetlinkTarget {
    socket: std::os::fd::OwnedFd,
    cookie: [u8; NOTIFY_COOKIE_LEN],
}

impl NetlinkTarget {
    /// The target of a SIGEV_THREAD whose `sigev_signo` is `socket` (a descriptor of the
    /// caller's: duplicated here) and whose cookie is `cookie`: EBADF when `socket` is no
    /// descriptor, as the kernel's `mq_notify` (the kernel checks the rest of it itself, on
    /// the carrier).
    pub fn new(socket: c_int, cookie: [u8; NOTIFY_COOKIE_LEN]) -> Result<NetlinkTarget> {
        use std::os::fd::FromRawFd;
        let own = crate::os::sys::fcntl(socket, libc::F_DUPFD_CLOEXEC, 0);
        if own < 0 {
            return Err(Errno::EBADF);
        }
        // SAFETY: a descriptor just made here, owned by the target from now on.
        let socket = unsafe { std::os::fd::OwnedFd::from_raw_fd(own) };
        Ok(NetlinkTarget { socket, cookie })
    }
}

thread_local! {
    static NETLINK_FORM: std::cell::RefCell<Option<NetlinkTarget>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (an `mq_notify` whose SIGEV_THREAD is the system call's netlink form) with `target`
/// as its socket and cookie.
pub fn netlink_form<R>(target: NetlinkTarget, f: impl FnOnce() -> R) -> R {
    NETLINK_FORM.with(|t| *t.borrow_mut() = Some(target));
    let r = f();
    NETLINK_FORM.with(|t| t.borrow_mut().take());
    r
}

/// The netlink form handed over for the `mq_notify` being made, if any (taken once).
pub fn take_netlink_form() -> Option<NetlinkTarget> {
    NETLINK_FORM.with(|t| t.borrow_mut().take())
}

/// The kernel's netlink notification, for a SIGEV_THREAD registration in the system call's form
/// ([`netlink_form`]): the emulation cannot write a netlink message to the program's socket as
/// the kernel does (a user may not send to a NETLINK_ROUTE socket without CAP_NET_ADMIN), so
/// each such registration has a *carrier*: a kernel queue of this process's, unlinked at once,
/// on which this process registered the program's socket and cookie. Firing sends the carrier
/// a message — the kernel then sends the cookie marked NOTIFY_WOKENUP, and glibc's helper
/// thread in the program starts the function; a carrier closed unfired makes the kernel send it
/// marked NOTIFY_REMOVED, as the kernel does when a registration is removed. The carrier's
/// queue calls are made past the trap's filter (`trap::queue_syscall`): this library's own
/// calls must not come back to it as the program's.
pub mod carrier {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    pub struct Carrier {
        queue: OwnedFd,
    }

    impl Carrier {
        /// A carrier of `target`: ENOMEM when no kernel queue can be made (queues_max,
        /// RLIMIT_MSGQUEUE, descriptors), else what the kernel's `mq_notify` says of the
        /// socket.
        pub fn register(target: &NetlinkTarget) -> Result<Carrier> {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let name = format!("mqshim-carrier-{}-{}-{:x}\0", crate::os::ids::pid(), NEXT.fetch_add(1, Ordering::Relaxed), image_token());
            // SAFETY: an all-zero mq_attr is valid.
            let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
            attr.mq_maxmsg = 1;
            attr.mq_msgsize = 1;
            let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
            let args = [name.as_ptr() as u64, flags as u64, 0o600, &attr as *const libc::mq_attr as u64, 0];
            // SAFETY: a NUL-terminated name (the system call takes it without the slash) and a
            // valid attribute structure, both alive for the call.
            let fd = unsafe { crate::trap::queue_syscall(libc::SYS_mq_open, args) };
            if fd < 0 {
                return Err(Errno::ENOMEM);
            }
            // SAFETY: a descriptor the kernel just made for us.
            let queue = unsafe { OwnedFd::from_raw_fd(fd as c_int) };
            // SAFETY: the same name; the carrier needs none once open.
            unsafe { crate::trap::queue_syscall(libc::SYS_mq_unlink, [name.as_ptr() as u64, 0, 0, 0, 0]) };
            // SAFETY: an all-zero sigevent is valid; the fields set are the kernel's.
            let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
            sev.sigev_notify = libc::SIGEV_THREAD;
            sev.sigev_signo = target.socket.as_raw_fd();
            sev.sigev_value = libc::sigval { sival_ptr: target.cookie.as_ptr() as *mut libc::c_void };
            // SAFETY: the kernel reads the sigevent and NOTIFY_COOKIE_LEN bytes of the cookie
            // during the call; both are live.
            let rc = unsafe { crate::trap::queue_syscall(libc::SYS_mq_notify, [queue.as_raw_fd() as u64, &sev as *const libc::sigevent as u64, 0, 0, 0]) };
            if rc < 0 {
                return Err(Errno::from_raw(-rc as i32));
            }
            Ok(Carrier { queue })
        }

        /// Fires the notification: the kernel sends the cookie to the program's socket.
        pub fn fire(&self) {
            // SAFETY: one byte from a static buffer to our own queue, without waiting.
            unsafe { crate::trap::queue_syscall(libc::SYS_mq_timedsend, [self.queue.as_raw_fd() as u64, b"!".as_ptr() as u64, 1, 0, 0]) };
        }
    }
}

/// The process's relay thread: delivers what senders could not, and runs SIGEV_THREAD
/// functions.
pub mod relay {
    use super::*;

    /// A copy of the program's thread attributes, made at registration.
    pub struct Attr(libc::pthread_attr_t);

    // SAFETY: a pthread_attr_t owned by this value; only read by pthread_create.
    unsafe impl Send for Attr {}

    impl Drop for Attr {
        fn drop(&mut self) {
            // SAFETY: initialised by pthread_attr_init in `copy_attr`.
            unsafe { libc::pthread_attr_destroy(&mut self.0) };
        }
    }

    /// Copies what a program can set in a `pthread_attr_t` (stack size and guard, scheduling,
    /// CPU affinity; Linux has only the system scope); the notification thread is always
    /// detached.
    pub fn copy_attr(src: usize) -> Box<Attr> {
        // SAFETY: a zeroed pthread_attr_t is initialised by pthread_attr_init; `src`, when not
        // NULL, is the program's initialised attribute object (as mq_notify requires), read
        // only through the pthread_attr_get* functions.
        unsafe {
            let mut a: libc::pthread_attr_t = std::mem::zeroed();
            libc::pthread_attr_init(&mut a);
            if src != 0 {
                let s = src as *const libc::pthread_attr_t;
                let mut size = 0usize;
                if libc::pthread_attr_getstacksize(s, &mut size) == 0 {
                    libc::pthread_attr_setstacksize(&mut a, size);
                }
                if libc::pthread_attr_getguardsize(s, &mut size) == 0 {
                    libc::pthread_attr_setguardsize(&mut a, size);
                }
                let mut v: c_int = 0;
                if libc::pthread_attr_getinheritsched(s, &mut v) == 0 {
                    libc::pthread_attr_setinheritsched(&mut a, v);
                }
                if libc::pthread_attr_getschedpolicy(s, &mut v) == 0 {
                    libc::pthread_attr_setschedpolicy(&mut a, v);
                }
                let mut p = libc::sched_param { sched_priority: 0 };
                if libc::pthread_attr_getschedparam(s, &mut p) == 0 {
                    libc::pthread_attr_setschedparam(&mut a, &p);
                }
                let mut cpus: libc::cpu_set_t = std::mem::zeroed();
                if libc::pthread_attr_getaffinity_np(s, std::mem::size_of::<libc::cpu_set_t>(), &mut cpus) == 0 {
                    libc::pthread_attr_setaffinity_np(&mut a, std::mem::size_of::<libc::cpu_set_t>(), &cpus);
                }
            }
            libc::pthread_attr_setdetachstate(&mut a, libc::PTHREAD_CREATE_DETACHED);
            Box::new(Attr(a))
        }
    }

    /// A registration the relay thread serves.
    pub struct Watch {
        handle: Arc<QueueHandle>,
        reg: NotifyRegistration,
        attr: Option<Box<Attr>>,
        /// A served process's SIGEV_THREAD: the kernel queue that notifies it.
        carrier: Option<super::carrier::Carrier>,
    }

    /// Registrations one relay thread serves at most (futex_waitv takes 128 words: one per
    /// queue watched, and its own).
    pub const PER_THREAD: usize = 120;
    /// Relay threads a process starts at most, one more each time the others are full: so a
    /// process may hold `PER_THREAD * THREADS` registrations that need one.
    pub const THREADS: usize = 16;

    type Slots = [Option<Watch>; PER_THREAD];

    /// The registrations served, by relay thread, and how many more are being made
    /// ([`Room`]s). The first thread's slots are static, so that registering a signal allocates
    /// nothing from the program's heap; the others' are allocated when first needed.
    pub struct Watches {
        first: Slots,
        more: Vec<Box<Slots>>,
        reserved: [usize; THREADS],
    }

    impl Watches {
        fn slots(&mut self, thread: usize) -> Option<&mut Slots> {
            match thread {
                0 => Some(&mut self.first),
                n => self.more.get_mut(n - 1).map(|b| &mut **b),
            }
        }
    }

    static WATCHES: ForkSafe<Watches> = ForkSafe::new(
        Watches { first: [const { None }; PER_THREAD], more: Vec::new(), reserved: [0; THREADS] },
        Some(|w| {
            // A forked child has no relay thread and owns none of its parent's registrations.
            for (thread, relay) in RELAYS.iter().enumerate() {
                for slot in w.slots(thread).into_iter().flat_map(|s| s.iter_mut()) {
                    if let Some(watch) = slot.take() {
                        std::mem::forget(watch);
                    }
                }
                relay.tid.store(0, Ordering::Relaxed);
            }
            w.reserved = [0; THREADS];
        }),
    );

    /// One relay thread's state.
    struct Relay {
        /// Its tid, 0 when there is none.
        tid: AtomicI32,
        starting: AtomicBool,
        /// Bumped (and woken) when it must look at its registrations again.
        word: AtomicU32,
    }

    static RELAYS: [Relay; THREADS] = [const { Relay { tid: AtomicI32::new(0), starting: AtomicBool::new(false), word: AtomicU32::new(0) } }; THREADS];

    /// Room on a relay thread for one registration being made, given back when dropped (filled
    /// by [`watch`], or not).
    pub struct Room(usize);

    impl Room {
        /// The tid of the relay thread this room is on, starting it if needed.
        pub fn relay_tid(&self) -> Result<i32> {
            ensure(self.0)
        }
    }

    impl Drop for Room {
        fn drop(&mut self) {
            WATCHES.with(|w| w.reserved[self.0] = w.reserved[self.0].saturating_sub(1));
        }
    }

    /// Room for one more registration on a relay thread, if there is any: so that one the
    /// relay could not serve is refused when it is made, never lost when it fires.
    pub fn reserve() -> Option<Room> {
        WATCHES.with(|w| {
            for thread in 0..THREADS {
                if w.slots(thread).is_none() {
                    w.more.push(Box::new([const { None }; PER_THREAD]));
                }
                let reserved = w.reserved[thread];
                let used = w.slots(thread).map_or(PER_THREAD, |s| s.iter().filter(|s| s.is_some()).count()) + reserved;
                if used < PER_THREAD {
                    w.reserved[thread] += 1;
                    return Some(Room(thread));
                }
            }
            None
        })
    }

    /// The tid of relay thread `thread`, starting it if needed.
    fn ensure(thread: usize) -> Result<i32> {
        let relay = &RELAYS[thread];
        loop {
            let tid = relay.tid.load(Ordering::Acquire);
            if tid != 0 {
                return Ok(tid);
            }
            if relay.starting.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                let started = std::thread::Builder::new().name("mqshim-notify".into()).stack_size(256 * 1024).spawn(move || run(thread));
                if started.is_err() {
                    relay.starting.store(false, Ordering::Release);
                    return Err(Errno::EAGAIN);
                }
                while relay.tid.load(Ordering::Acquire) == 0 {
                    std::thread::yield_now();
                }
                relay.starting.store(false, Ordering::Release);
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Serves `reg` (just set on `handle`'s queue), in the room reserved for it.
    pub fn watch(room: Room, handle: Arc<QueueHandle>, reg: NotifyRegistration, attr: Option<Box<Attr>>, carrier: Option<super::carrier::Carrier>) {
        let thread = room.0;
        WATCHES.with(|w| {
            if let Some(slot) = w.slots(thread).and_then(|s| s.iter_mut().find(|s| s.is_none())) {
                *slot = Some(Watch { handle, reg, attr, carrier });
            }
        });
        drop(room);
        wake(thread);
    }

    /// Wakes the relay threads to look at their registrations again.
    pub fn rescan() {
        for thread in 0..THREADS {
            wake(thread);
        }
    }

    fn wake(thread: usize) {
        let relay = &RELAYS[thread];
        if relay.tid.load(Ordering::Acquire) != 0 {
            relay.word.fetch_add(1, Ordering::AcqRel);
            futex::wake(&relay.word, 1);
        }
    }

    fn run(thread: usize) {
        let relay = &RELAYS[thread];
        // The relay must not take the program's signals; but SIGBUS stays deliverable, so that
        // a segment truncated under it is contained (see `segment::containment`).
        // SAFETY: blocks signals for this thread only; gettid cannot fail.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::sigdelset(&mut all, libc::SIGBUS);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
            relay.tid.store(libc::gettid(), Ordering::Release);
        }
        // The queues watched, with the event count seen (the handles keep their words mapped).
        let mut watched: Vec<(Arc<QueueHandle>, u32)> = Vec::with_capacity(PER_THREAD);
        loop {
            watched.clear();
            let word_seen = relay.word.load(Ordering::Acquire);
            // Take out the registrations that are over, keeping the others' event words.
            let finished: Vec<Watch> = WATCHES.with(|w| {
                let mut done = Vec::new();
                for slot in w.slots(thread).into_iter().flat_map(|s| s.iter_mut()) {
                    let Some(watch) = slot else { continue };
                    let events = &watch.handle.queue.header().notify_events;
                    let seen = events.load(Ordering::Acquire);
                    let current = match watch.handle.queue.lock() {
                        Ok(mut l) => l.notification().seq,
                        // Its holder does not let go of the lock (stopped inside its critical
                        // section): nothing fired meanwhile, so the registration stands.
                        Err(Errno::EAGAIN) => watch.reg.seq,
                        Err(_) => 0,
                    };
                    if current == watch.reg.seq {
                        watched.push((watch.handle.clone(), seen));
                    } else if let Some(w) = slot.take() {
                        done.push(w);
                    }
                }
                done
            });
            for mut watch in finished {
                own_signals::take(&watch.handle.queue, watch.reg.seq);
                deliver(&mut watch);
            }
            let words: Vec<(&AtomicU32, u32)> =
                std::iter::once((&relay.word, word_seen)).chain(watched.iter().map(|(h, seen)| (&h.queue.header().notify_events, *seen))).collect();
            // Every signal is blocked in this thread, so only a wake-up or a change ends it.
            futex::wait_any(&words, None);
        }
    }

    /// A registration that is over: if it fired and was relayed to us, deliver it.
    fn deliver(watch: &mut Watch) {
        let q = &watch.handle.queue;
        let relay = {
            let Ok(mut l) = q.lock() else { return };
            if l.relay().seq != watch.reg.seq {
                return;
            }
            *l.relay()
        };
        // A served program that closed every descriptor of the queue since it registered had
        // its registration removed, on the kernel, at that close (which nobody here saw).
        let closed = watch.reg.image == SERVED_IMAGE && !has_open(watch.reg.owner_pid, watch.handle.fifo_id);
        match &watch.carrier {
            Some(_) if closed => {}
            Some(carrier) => carrier.fire(),
            None => {}
        }
        match &watch.attr {
            _ if closed => {}
            Some(attr) => fire_thread(attr, watch.reg.function as usize, watch.reg.value),
            None if watch.carrier.is_some() => {}
            // Signalling our own process is always allowed; a served one, as its supervisor,
            // is too (it runs as the program's user, or as root).
            None => {
                let target = if watch.reg.image == SERVED_IMAGE { watch.reg.owner_pid } else { crate::os::ids::pid() };
                send_signal(target, &watch.reg, &relay);
            }
        }
        // Only now is the relay done: a sender waits in `await_relay` until it is cleared, so
        // that the signal is pending when its `mq_send` returns (cleared before the signal was
        // sent, the sender could return first: seen under load, a program's sigtimedwait right
        // after its mq_send found nothing).
        if let Ok(mut l) = q.lock() {
            if l.relay().seq == relay.seq {
                *l.relay() = NotifyRelay::default();
            }
        }
        // Tell a sender waiting in `await_relay` that it is delivered.
        q.header().notify_events.fetch_add(1, Ordering::AcqRel);
        futex::wake(&q.header().notify_events, i32::MAX);
    }

    struct Call {
        function: usize,
        value: u64,
    }

    extern "C" fn run_notification(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `arg` is the Box<Call> leaked by `fire_thread`, owned by this thread now.
        let call = unsafe { Box::from_raw(arg as *mut Call) };
        // SAFETY: the notification thread runs with every signal unblocked, as glibc's; the
        // function pointer is the program's sigev_notify_function, whose C type is
        // `void (*)(union sigval)` (a union of int and pointer, passed like a pointer).
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &all, std::ptr::null_mut());
            let f: extern "C" fn(usize) = std::mem::transmute::<usize, extern "C" fn(usize)>(call.function);
            f(call.value as usize);
        }
        std::ptr::null_mut()
    }

    /// Runs the program's SIGEV_THREAD `function(value)` on a new detached thread with `attr`.
    pub fn fire_thread(attr: &Attr, function: usize, value: u64) {
        if function == 0 {
            return;
        }
        let call = Box::into_raw(Box::new(Call { function, value }));
        let mut t: libc::pthread_t = 0;
        // SAFETY: attr is initialised; run_notification takes ownership of `call`.
        if unsafe { libc::pthread_create(&mut t, &attr.0, run_notification, call.cast()) } != 0 {
            // SAFETY: the thread was not created, so `call` is still ours.
            drop(unsafe { Box::from_raw(call) });
        }
    }
}
