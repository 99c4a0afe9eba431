//! System V message queues in userspace: `msgget`, `msgsnd`, `msgrcv` and `msgctl` with the
//! kernel's semantics (`ipc/msg.c`, `ipc/util.c`), in the `sysv/` directory of the `MQSHIM_DIR`
//! namespace.
//!
//! - [`registry`]: keys, ids (the kernel's index + sequence number), permissions and statistics
//!   of every queue, in one shared file.
//! - [`queue`]: one queue's segment: messages, the type index, blocked callers, crash repair.
//! - [`treap`]: the type index's trees.
//! - [`layout`]: the `#[repr(C)]` structures of both files.
//! - [`caller`]: the caller's pid, credentials and the time, cached so the fast paths make no
//!   system call.
//!
//! ```text
//! $MQSHIM_DIR/sysv/             1777
//!   registry                    0666: every queue's key, id, owner, mode and statistics
//!   msq.<id>.<nonce>            one queue's segment, owned by its creator; mode rw for the
//!                               owner and for each class the queue grants any access
//! ```
//!
//! Permissions are checked by mqshim exactly as `ipcperms` does, for the bits each call needs;
//! the operating system backs the all-or-nothing part (a process the queue's mode refuses any
//! access cannot open its segment). `msgget(key, 0)` needs no access at all, and `IPC_STAT`,
//! `MSG_STAT_ANY` and `mqshim ipcs` read only the registry. The registry itself must be writable
//! by every user of the namespace, who are trusted not to corrupt it on purpose.
//!
//! Speed: a call finds its queue's mapping in a small per-thread cache, checks permissions
//! against cached credentials (see [`caller`]) and the registry's permission line, and takes
//! the queue's lock only when it must: `msgrcv(IPC_NOWAIT)` on an empty queue, a
//! `msgsnd(IPC_NOWAIT)` on a full one and `IPC_STAT` answer from the registry without it. No
//! system call is made unless someone must sleep or be woken. A streaming queue does not take
//! the queue's lock at all: its messages go through the express ring (`queue::express`), with a
//! lock per side.
//!
//! Scheduled messages (`mqshim_msgsnd_at`, `mqshim_msg_cancel`) are kept by each queue (see
//! [`queue`]): a call sends those that have fallen due before it does its own work, a blocked
//! receiver sleeps no longer than the next due time, and `IPC_STAT` and `mqshim ipcs` count
//! only what has been sent (`mqshim ipcs` shows the pending ones apart).
//!
//! Blocked calls spin briefly when someone else recently used the queue from another CPU, then
//! sleep on a futex with the kernel's restart rule for these calls: EINTR after any signal
//! handler, even with SA_RESTART; a stop and continue is invisible. A sleeper also looks every
//! few seconds whether its queue still exists, so even a remover killed before it could wake
//! anyone leaves no one blocked forever.
//!
//! Known differences from the kernel: permissions use credentials cached per thread, refreshed
//! by `msgget` and on every slow path (see [`caller`]); the segment file of a queue removed by
//! a user who may not unlink it (not its creator, not root) stays until the namespace is
//! cleaned; at most `WAITER_SLOTS` (4096) callers can be blocked on one queue at once (ENOMEM
//! beyond); a blocked call is not a pthread cancellation point.

pub mod caller;
pub mod layout;
pub mod queue;
pub mod registry;
pub mod treap;

use std::collections::HashMap;
use std::os::raw::{c_int, c_long, c_void};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use libc::{key_t, msqid_ds};

use caller::{ident, now_sec, realtime_ns, Freshness, Ident};
use layout::{Entry, IPCMNI, MSGMAP, MSGPOOL, MSGSEG, MSGSSZ, MSGTQL};
use queue::{convert_mode, msg_fits_inqueue, Express, Finished, Queue, MSG_COPY};
use registry::{perms, queued, snapshot, stats, NewEntry, Registry, Snapshot};

use crate::emu::engine::futex::{self, Restart, Woke};
use crate::emu::engine::layout::wake_word;
use crate::emu::engine::spin;
use crate::errno::{Errno, Result};
use crate::os::creds::cap;
use crate::os::forksafe::ForkSafe;
use crate::os::usermem::{checked_read, checked_write, probe_read, probe_write};

/// `msgctl` commands (`<linux/ipc.h>`, `<linux/msg.h>`).
pub mod cmd {
    pub const IPC_RMID: i32 = 0;
    pub const IPC_SET: i32 = 1;
    pub const IPC_STAT: i32 = 2;
    pub const IPC_INFO: i32 = 3;
    pub const MSG_STAT: i32 = 11;
    pub const MSG_INFO: i32 = 12;
    pub const MSG_STAT_ANY: i32 = 13;
}

/// Read and write permission, as `ipcperms` is asked for them.
const S_IRUGO: i32 = 0o444;
const S_IWUGO: i32 = 0o222;

/// How often a blocked caller looks whether its queue still exists, in seconds.
const LIVENESS_POLL_SECONDS: i64 = 2;

pub use crate::emu::limits::SysvLimits;

/// The kernel's `ipcperms`: whether `who` may have the access `flag` asks for (its permission
/// bits in any class: the kernel folds them, as a `short`) on a queue with `perm`.
pub fn ipcperms(perm: &Snapshot, who: &Ident, flag: i32) -> bool {
    let flag = flag as i16 as i32;
    let requested = ((flag >> 6) | (flag >> 3) | flag) & 0o7;
    let mut granted = perm.mode as i32;
    if who.euid == perm.cuid || who.euid == perm.uid {
        granted >>= 6;
    } else if who.in_group(perm.cgid) || who.in_group(perm.gid) {
        granted >>= 3;
    }
    requested & !granted & 0o7 == 0 || who.has(cap::IPC_OWNER)
}

/// What `mqshim ipcs` shows of one queue (the columns of `/proc/sysvipc/msg`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueInfo {
    pub key: i32,
    pub id: i32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub cbytes: u64,
    pub qnum: u64,
    pub qbytes: u64,
    pub lspid: i32,
    pub lrpid: i32,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    /// Scheduled messages not yet sent (not in `qnum`).
    pub scheduled: u32,
}

/// The first line of `/proc/sysvipc/msg`.
pub const PROC_SYSVIPC_MSG_HEADER: &str =
    "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n";

/// One queue's line of `/proc/sysvipc/msg`, in the kernel's format.
pub fn proc_line(q: &QueueInfo) -> String {
    format!(
        "{:>10} {:>10}  {:>4o}  {:>10} {:>10} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>10} {:>10} {:>10}\n",
        q.key, q.id, q.mode, q.cbytes, q.qnum, q.lspid as u32, q.lrpid as u32, q.uid, q.gid, q.cuid, q.cgid, q.stime as u64, q.rtime as u64, q.ctime as u64
    )
}

/// The System V half of the emulation, bound to one namespace.
pub struct SysvEmulation {
    dir: c_int,
    registry: Registry,
    limits: SysvLimits,
}

/// Queues this process has mapped, by (namespace, index); a forked child inherits them (the
/// mappings are shared).
type AttachedMap = Option<HashMap<(usize, u32), Arc<Queue>>>;
static ATTACHED: ForkSafe<AttachedMap> = ForkSafe::new(None, None);

/// A few recently used queues per thread, so the common call takes no lock to find its queue.
const THREAD_CACHE: usize = 4;
/// (namespace, queue) pairs, and the slot to replace next.
type Recent = ([Option<(usize, Arc<Queue>)>; THREAD_CACHE], usize);
thread_local! {
    static RECENT: std::cell::RefCell<Recent> = const { std::cell::RefCell::new(([const { None }; THREAD_CACHE], 0)) };
}

/// How a blocked caller's wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waited {
    Served,
    Interrupted,
    Removed,
}

fn file_name(id: i32, nonce: u64) -> String {
    format!("msq.{id}.{nonce:x}")
}

/// Whether a scheduled message of the queue at `entry` may have fallen due, so that a call must
/// take the queue's lock to send it first (no lock; a clock read only when one is pending).
fn scheduled_due(entry: &Entry) -> bool {
    let due = entry.next_due_ns.load(Ordering::Acquire);
    due != 0 && realtime_ns() >= due
}

use crate::os::clock::timespec_of_ns;

impl SysvEmulation {
    /// Opens the `sysv/` directory and registry of the namespace at `root`.
    pub fn new(root: &[u8], limits: SysvLimits) -> Result<SysvEmulation> {
        let dir = crate::emu::namespace::open_subdir(root, b"sysv", 0o1777)?;
        match Registry::open(dir) {
            Ok(registry) => Ok(SysvEmulation { dir, registry, limits }),
            Err(e) => {
                // SAFETY: dir was opened above.
                unsafe { crate::real::close(dir) };
                Err(e)
            }
        }
    }

    pub fn limits(&self) -> SysvLimits {
        self.limits
    }

    fn ns_key(&self) -> usize {
        self.registry.entry(0) as *const Entry as usize
    }

    /// Whether the caller may have `flag` on a queue: the cached credentials first, a fresh read
    /// before refusing.
    fn permitted(&self, perm: &Snapshot, flag: i32) -> bool {
        caller::check(Freshness::Cached, |who| ipcperms(perm, who, flag)) || caller::check(Freshness::Fresh, |who| ipcperms(perm, who, flag))
    }

    /// The mapped segment of live queue `id` (whose entry is `entry`).
    fn attach(&self, id: i32, entry: &Entry) -> Result<Arc<Queue>> {
        let ns = self.ns_key();
        let nonce = entry.nonce.load(Ordering::Acquire);
        let matches = |q: &Queue| q.id == id && q.nonce == nonce;
        let hit = RECENT
            .try_with(|r| r.try_borrow().ok().and_then(|r| r.0.iter().flatten().find(|(n, q)| *n == ns && matches(q)).map(|(_, q)| q.clone())))
            .ok()
            .flatten();
        if let Some(q) = hit {
            return Ok(q);
        }
        let idx = id as u32 & (IPCMNI - 1);
        let q = match ATTACHED.with(|m| m.as_ref().and_then(|m| m.get(&(ns, idx)).filter(|q| matches(q)).cloned())) {
            Some(q) => q,
            None => {
                let q = Arc::new(Queue::attach(self.dir, &file_name(id, nonce), id, nonce)?);
                let registry = &self.registry;
                ATTACHED.with(|m| {
                    let m = m.get_or_insert_with(HashMap::new);
                    // Forget queues of this namespace that were removed meanwhile.
                    m.retain(|(n, i), q| {
                        *n != ns || registry.lookup(q.id).is_some_and(|e| e.nonce.load(Ordering::Relaxed) == q.nonce && *i == q.id as u32 & (IPCMNI - 1))
                    });
                    m.insert((ns, idx), q.clone());
                });
                q
            }
        };
        let _ = RECENT.try_with(|r| {
            if let Ok(mut r) = r.try_borrow_mut() {
                let slot = r.1 % THREAD_CACHE;
                r.0[slot] = Some((ns, q.clone()));
                r.1 = slot + 1;
            }
        });
        Ok(q)
    }

    /// Forgets this process's mapping of index `idx` (after removing its queue).
    fn detach(&self, idx: u32) {
        let ns = self.ns_key();
        ATTACHED.with(|m| {
            if let Some(m) = m.as_mut() {
                m.remove(&(ns, idx));
            }
        });
    }

    // ----- msgget -----

    /// `msgget`.
    pub fn msgget(&self, key: key_t, flags: c_int) -> Result<c_int> {
        let who = ident(Freshness::Fresh);
        let mut locked = self.registry.lock()?;
        if key != libc::IPC_PRIVATE {
            if let Some(idx) = locked.find_key(key) {
                if flags & libc::IPC_CREAT != 0 && flags & libc::IPC_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                let e = self.registry.entry(idx);
                if !ipcperms(&perms(e), &who, flags) {
                    return Err(Errno::EACCES);
                }
                return Ok((e.id1.load(Ordering::Acquire) as c_int).wrapping_sub(1));
            }
            if flags & libc::IPC_CREAT == 0 {
                return Err(Errno::ENOENT);
            }
        }
        let slot = locked.allocate(self.limits.msgmni as u32)?;
        let nonce = locked.next_nonce();
        let mode = flags as u32 & 0o777;
        let init = queue::Init { id: slot.id, key, nonce, mode, uid: who.euid, gid: who.egid };
        let q = Queue::create(self.dir, &file_name(slot.id, nonce), &init).map_err(|e| match e {
            Errno::ENOSPC | Errno::EDQUOT => Errno::ENOSPC,
            _ => Errno::ENOMEM,
        })?;
        locked.commit(slot, &NewEntry { key, mode, uid: who.euid, gid: who.egid, qbytes: self.limits.msgmnb as u64, ctime: now_sec(), nonce });
        drop(locked);
        // The creator is likely to use it next: keep the mapping.
        let (ns, q) = (self.ns_key(), Arc::new(q));
        ATTACHED.with(|m| {
            m.get_or_insert_with(HashMap::new).insert((ns, slot.idx), q);
        });
        Ok(slot.id)
    }

    // ----- waiting -----

    /// Sleeps until waiter `w` is served, a signal handler runs, or the queue is found removed.
    /// Spins first when someone else recently used the queue from another CPU (one queue often
    /// carries both directions, so "the last sender" may well be the waiter itself).
    ///
    /// A receiver (`receiving`) sleeps no longer than the queue's next due time: then it sends
    /// what has fallen due (perhaps to itself) and goes on waiting. A new scheduled message
    /// that falls due earlier rouses it to look again (`Locked::schedule`).
    fn wait(&self, q: &Queue, entry: &Entry, w: u32, receiving: bool) -> Waited {
        let word = q.wake_word(w);
        let h = q.header();
        let started = crate::os::clock::monotonic_ns();
        if spin::spin_if_peer_elsewhere(&h.spin.spin_avg_ns, word, q.peer_cpu()) {
            return Waited::Served;
        }
        // A due time already acted on: not slept until again (no busy loop if it stays).
        let mut done_due = 0;
        loop {
            match word.load(Ordering::Acquire) {
                wake_word::WOKEN => {
                    // The spin budget follows whole waits, also those that ended asleep.
                    spin::record_wait(&h.spin.spin_avg_ns, crate::os::clock::monotonic_ns() - started);
                    return Waited::Served;
                }
                wake_word::WAITING if word.compare_exchange(wake_word::WAITING, wake_word::SLEEPING, Ordering::SeqCst, Ordering::Acquire).is_err() => continue,
                _ => {}
            }
            let mut deadline = caller::realtime_in(LIVENESS_POLL_SECONDS);
            let mut for_due = 0;
            if receiving {
                // Pairs with the fence of `Locked::rouse_receivers`: either the new due time is
                // seen here, or the word is reset to WAITING there.
                std::sync::atomic::fence(Ordering::SeqCst);
                let due = entry.next_due_ns.load(Ordering::SeqCst);
                let poll_ns = deadline.tv_sec as u64 * 1_000_000_000 + deadline.tv_nsec as u64;
                if due != 0 && due != done_due && due < poll_ns {
                    deadline = timespec_of_ns(due);
                    for_due = due;
                }
            }
            match futex::wait(word, wake_word::SLEEPING, Some(&deadline), Restart::Never) {
                Woke::Maybe => continue,
                Woke::Interrupted => return Waited::Interrupted,
                Woke::TimedOut => {
                    let live = !q.removed() && entry.id1.load(Ordering::Acquire) == q.id as u32 + 1 && entry.nonce.load(Ordering::Relaxed) == q.nonce;
                    if !live {
                        return Waited::Removed;
                    }
                    if receiving && scheduled_due(entry) {
                        // Sends what is due, which moves the next due time on; should it stay
                        // (the lock cannot be had), it is retried only at the next poll.
                        done_due = for_due;
                        if let Ok(mut locked) = q.lock(entry) {
                            if locked.valid() {
                                locked.promote_if_due();
                            }
                        }
                    }
                }
            }
        }
    }

    // ----- msgsnd -----

    /// `msgsnd`, in the kernel's order of checks.
    pub fn msgsnd(&self, id: c_int, msgp: *const c_void, msgsz: usize, flags: c_int) -> Result<c_int> {
        let mtype = checked_read(msgp as *const c_long).ok_or(Errno::EFAULT)?;
        if msgsz > self.limits.msgmax as usize || (msgsz as isize) < 0 || id < 0 {
            return Err(Errno::EINVAL);
        }
        if mtype < 1 {
            return Err(Errno::EINVAL);
        }
        let text = (msgp as *const u8).wrapping_add(std::mem::size_of::<c_long>());
        if !probe_read(text, msgsz) {
            return Err(Errno::EFAULT);
        }
        let entry = self.registry.lookup(id).ok_or(Errno::EINVAL)?;
        let still_live = || entry.id1.load(Ordering::Acquire) == id as u32 + 1;
        // Room as the statistics show it, without the lock (a hint for the spin below).
        let fits_now = || {
            let s = stats(entry);
            msg_fits_inqueue(msgsz as u64, s.qnum, s.cbytes, s.qbytes)
        };
        let mut spun = flags & libc::IPC_NOWAIT != 0;
        loop {
            if !self.permitted(&perms(entry), S_IWUGO) {
                return Err(Errno::EACCES);
            }
            let q = self.attach(id, entry)?;
            match q.express_send(entry, mtype, text, msgsz, caller::pid(), now_sec())? {
                Express::Done(()) => return Ok(0),
                Express::Refused if flags & libc::IPC_NOWAIT != 0 => return Err(Errno::EAGAIN),
                Express::Refused if !spun => {
                    spun = true;
                    if spin::spin_until(&q.header().spin.spin_avg_ns, q.peer_cpu(), fits_now) {
                        continue;
                    }
                }
                Express::Refused | Express::Unavailable => {}
            }
            // A full queue and IPC_NOWAIT: answer from the statistics, without the lock.
            if flags & libc::IPC_NOWAIT != 0 {
                let s = stats(entry);
                if !msg_fits_inqueue(msgsz as u64, s.qnum, s.cbytes, s.qbytes) {
                    return Err(if still_live() { Errno::EAGAIN } else { Errno::EIDRM });
                }
            }
            if !spun && !fits_now() {
                // Visibly full: room usually comes within microseconds when the receiver runs
                // on another CPU; wait for it before taking the lock and registering.
                spun = true;
                spin::spin_until(&q.header().spin.spin_avg_ns, q.peer_cpu(), fits_now);
            }
            let mut locked = q.lock(entry)?;
            if !locked.valid() {
                return Err(Errno::EIDRM);
            }
            locked.promote_if_due();
            if locked.fits(msgsz as u64) {
                locked.send(mtype, text, msgsz, caller::pid(), now_sec())?;
                return Ok(0);
            }
            if flags & libc::IPC_NOWAIT != 0 {
                return Err(Errno::EAGAIN);
            }
            let w = locked.register_sender(mtype, text, msgsz, caller::pid(), caller::tid())?;
            drop(locked);
            let waited = self.wait(&q, entry, w, false);
            let mut locked = q.lock(entry)?;
            let finished = locked.finish(w, std::ptr::null_mut(), 0);
            let valid = locked.valid();
            drop(locked);
            match (finished, waited) {
                (Finished::Failed(e), _) => return Err(e),
                // Sent for it (even if a handler ran meanwhile: the message is in).
                (Finished::Sent, _) | (Finished::Handed(_), _) => return Ok(0),
                // Woken to look again, but a handler ran: the kernel checks for a pending
                // signal before looking again.
                (Finished::Retry, Waited::Interrupted) => return Err(Errno::EINTR),
                (Finished::Retry, _) => continue,
                (Finished::NotServed, _) if !valid => return Err(Errno::EIDRM),
                (Finished::NotServed, Waited::Interrupted) => return Err(Errno::EINTR),
                (Finished::NotServed, _) => continue,
            }
        }
    }

    // ----- msgrcv -----

    /// `msgrcv`, in the kernel's order of checks.
    pub fn msgrcv(&self, id: c_int, msgp: *mut c_void, bufsz: usize, msgtyp: c_long, flags: c_int) -> Result<isize> {
        if id < 0 || (bufsz as isize) < 0 {
            return Err(Errno::EINVAL);
        }
        let copy = flags & MSG_COPY != 0;
        // MSG_COPY's buffer is read first (the kernel loads it to copy into).
        let copy_limit = bufsz.min(self.limits.msgmax as usize);
        if copy {
            if flags & libc::MSG_EXCEPT != 0 || flags & libc::IPC_NOWAIT == 0 {
                return Err(Errno::EINVAL);
            }
            if !probe_read(msgp as *const u8, copy_limit) {
                return Err(Errno::EFAULT);
            }
        }
        let (mode, typ) = convert_mode(msgtyp, flags);
        let noerror = flags & libc::MSG_NOERROR != 0;
        let dst = msgp as *mut u8;
        let entry = self.registry.lookup(id).ok_or(Errno::EINVAL)?;
        let still_live = || entry.id1.load(Ordering::Acquire) == id as u32 + 1;
        // Checked before the lock so the critical section need not (a buffer not wholly
        // writable is checked again, for the message's own length, as the kernel does); not
        // before an empty queue's ENOMSG, which never looks at the buffer.
        let mut writable_checked = None;
        let mut writable = || *writable_checked.get_or_insert_with(|| if copy { 0 } else { crate::os::usermem::writable_prefix(dst, 8 + copy_limit) });
        let mut spun = flags & libc::IPC_NOWAIT != 0;
        loop {
            if !self.permitted(&perms(entry), S_IRUGO) {
                return Err(Errno::EACCES);
            }
            // An empty queue and IPC_NOWAIT: answer from the statistics, without the lock — unless
            // a scheduled message has fallen due (read first: see `Locked::publish_schedule`).
            if flags & libc::IPC_NOWAIT != 0 && !scheduled_due(entry) && queued(entry) == 0 {
                return Err(if still_live() { Errno::ENOMSG } else { Errno::EIDRM });
            }
            let q = self.attach(id, entry)?;
            if !copy {
                match q.express_receive(entry, mode, typ, dst, bufsz, noerror, writable(), caller::pid(), now_sec())? {
                    Express::Done(got) => return if got.copied { Ok(got.len as isize) } else { Err(Errno::EFAULT) },
                    Express::Refused if flags & libc::IPC_NOWAIT != 0 => return Err(Errno::ENOMSG),
                    Express::Refused if !spun => {
                        spun = true;
                        // Empty: wait for a message; nothing of this receiver's type: for the
                        // next message sent.
                        let sent = q.ring_sent(entry);
                        let ready = || {
                            if mode == queue::search::ANY {
                                q.ring_message_ready(entry).unwrap_or_else(|| queued(entry) != 0)
                            } else {
                                q.ring_sent(entry) != sent
                            }
                        };
                        if spin::spin_until(&q.header().spin.spin_avg_ns, q.peer_cpu(), ready) {
                            continue;
                        }
                    }
                    Express::Refused | Express::Unavailable => {}
                }
            }
            if !spun && queued(entry) == 0 && !scheduled_due(entry) {
                // Visibly empty: wait for a message before taking the lock and registering
                // (see msgsnd).
                spun = true;
                spin::spin_until(&q.header().spin.spin_avg_ns, q.peer_cpu(), || queued(entry) != 0);
            }
            let mut locked = q.lock(entry)?;
            locked.assume_writable(writable());
            if !locked.valid() {
                return Err(Errno::EIDRM);
            }
            locked.promote_if_due();
            if let Some(r) = locked.find(mode, typ)? {
                let (_, len) = locked.describe(r)?;
                if (bufsz as u64) < len && !noerror {
                    return Err(Errno::E2BIG);
                }
                let got = if copy {
                    // MSG_COPY copies the whole message into a buffer of min(bufsz, msgmax).
                    if len > copy_limit as u64 {
                        return Err(Errno::EINVAL);
                    }
                    locked.copy_out(r, dst, bufsz)?
                } else {
                    locked.take(r, dst, bufsz, caller::pid(), now_sec())?
                };
                return if got.copied { Ok(got.len as isize) } else { Err(Errno::EFAULT) };
            }
            if flags & libc::IPC_NOWAIT != 0 {
                return Err(Errno::ENOMSG);
            }
            let maxsize = if noerror { i32::MAX as u64 } else { bufsz as u64 };
            let w = locked.register_receiver(typ, mode, maxsize, caller::pid(), caller::tid())?;
            drop(locked);
            let waited = self.wait(&q, entry, w, true);
            let mut locked = q.lock(entry)?;
            let finished = locked.finish(w, dst, bufsz);
            let valid = locked.valid();
            drop(locked);
            match (finished, waited) {
                // A message handed over wins over a signal, as in the kernel.
                (Finished::Handed(got), _) => return if got.copied { Ok(got.len as isize) } else { Err(Errno::EFAULT) },
                (Finished::Failed(e), _) => return Err(e),
                (Finished::Sent, _) => return Err(Errno::EIO),
                (Finished::Retry, Waited::Interrupted) => return Err(Errno::EINTR),
                (Finished::Retry, _) => continue,
                (Finished::NotServed, _) if !valid => return Err(Errno::EIDRM),
                (Finished::NotServed, Waited::Interrupted) => return Err(Errno::EINTR),
                (Finished::NotServed, _) => continue,
            }
        }
    }

    // ----- scheduled messages -----

    /// `mqshim_msgsnd_at`: the message at `msgp` is sent to queue `id` at `due` (absolute
    /// CLOCK_REALTIME), as msgsnd would send it then; until then it is pending, and its handle
    /// comes back through `handle`. Checks in msgsnd's order — the message's type and size
    /// before the id, then `due` and `msgflg` (0 or IPC_NOWAIT: the call never blocks either
    /// way), the id, write permission, and the handle's storage last; EAGAIN when the queue holds
    /// `SCHEDULED_MAX` pending messages.
    pub fn msgsnd_at(&self, id: c_int, msgp: *const c_void, msgsz: usize, flags: c_int, due: *const libc::timespec, handle: *mut u64) -> Result<c_int> {
        let mtype = checked_read(msgp as *const c_long).ok_or(Errno::EFAULT)?;
        if msgsz > self.limits.msgmax as usize || (msgsz as isize) < 0 || id < 0 {
            return Err(Errno::EINVAL);
        }
        if mtype < 1 {
            return Err(Errno::EINVAL);
        }
        if due.is_null() {
            return Err(Errno::EINVAL);
        }
        let due = checked_read(due).ok_or(Errno::EFAULT)?;
        if due.tv_sec < 0 || !(0..1_000_000_000).contains(&due.tv_nsec) || flags & !libc::IPC_NOWAIT != 0 {
            return Err(Errno::EINVAL);
        }
        let text = (msgp as *const u8).wrapping_add(std::mem::size_of::<c_long>());
        if !probe_read(text, msgsz) {
            return Err(Errno::EFAULT);
        }
        let entry = self.registry.lookup(id).ok_or(Errno::EINVAL)?;
        if !self.permitted(&perms(entry), S_IWUGO) {
            return Err(Errno::EACCES);
        }
        if !probe_write(handle.cast(), std::mem::size_of::<u64>()) {
            return Err(Errno::EFAULT);
        }
        let due_ns = due.tv_sec as u64 * 1_000_000_000 + due.tv_nsec as u64;
        let q = self.attach(id, entry)?;
        let mut locked = q.lock(entry)?;
        if !locked.valid() {
            return Err(Errno::EIDRM);
        }
        let h = locked.schedule(mtype, text, msgsz, due_ns, caller::pid())?;
        drop(locked);
        if !checked_write(handle, &h) {
            return Err(Errno::EFAULT);
        }
        Ok(0)
    }

    /// `mqshim_msg_cancel`: cancels the pending scheduled message `handle` of queue `id`
    /// (EINVAL for a stale id, EACCES without write permission, ENOENT when it is not pending
    /// or already due).
    pub fn msg_cancel(&self, id: c_int, handle: u64) -> Result<c_int> {
        let entry = self.registry.lookup(id).ok_or(Errno::EINVAL)?;
        if !self.permitted(&perms(entry), S_IWUGO) {
            return Err(Errno::EACCES);
        }
        let q = self.attach(id, entry)?;
        let mut locked = q.lock(entry)?;
        if !locked.valid() {
            return Err(Errno::EIDRM);
        }
        locked.cancel(handle)?;
        Ok(0)
    }

    /// Sends the scheduled messages of queue `id` that have fallen due (for a call that reads
    /// the registry only). Best effort: a caller that cannot open the queue leaves them to the
    /// next call that does.
    fn send_due(&self, id: c_int, entry: &Entry) {
        if let Ok(q) = self.attach(id, entry) {
            if let Ok(mut locked) = q.lock(entry) {
                if locked.valid() {
                    locked.promote_if_due();
                }
            }
        }
    }

    // ----- msgctl -----

    /// `msgctl`.
    pub fn msgctl(&self, id: c_int, command: c_int, buf: *mut msqid_ds) -> Result<c_int> {
        if id < 0 || command < 0 {
            return Err(Errno::EINVAL);
        }
        match command {
            cmd::IPC_INFO | cmd::MSG_INFO => self.info(command, buf.cast()),
            cmd::IPC_STAT | cmd::MSG_STAT | cmd::MSG_STAT_ANY => self.stat(id, command, buf),
            cmd::IPC_SET => self.set(id, buf),
            cmd::IPC_RMID => self.remove_id(id).map(|()| 0),
            _ => Err(Errno::EINVAL),
        }
    }

    /// IPC_INFO / MSG_INFO: the limits (and, for MSG_INFO, what is in use) and the highest
    /// index in use.
    fn info(&self, command: c_int, buf: *mut libc::msginfo) -> Result<c_int> {
        // SAFETY: msginfo is plain C data; all-zero is valid (and zeroes the padding).
        let mut info: libc::msginfo = unsafe { std::mem::zeroed() };
        info.msgmni = self.limits.msgmni;
        info.msgmax = self.limits.msgmax;
        info.msgmnb = self.limits.msgmnb;
        info.msgssz = MSGSSZ;
        info.msgseg = MSGSEG;
        let max_idx = {
            let _locked = self.registry.lock()?;
            let (max_idx, in_use) = self.registry.max_idx_and_in_use();
            if command == cmd::MSG_INFO {
                let (mut messages, mut bytes) = (0u64, 0u64);
                for i in 0..self.registry.high_water() {
                    let e = self.registry.entry(i);
                    if e.id1.load(Ordering::Acquire) != 0 {
                        let s = stats(e);
                        messages += s.qnum;
                        bytes += s.cbytes;
                    }
                }
                info.msgpool = in_use as i32;
                info.msgmap = messages.min(i32::MAX as u64) as i32;
                info.msgtql = bytes.min(i32::MAX as u64) as i32;
            } else {
                info.msgpool = MSGPOOL;
                info.msgmap = MSGMAP;
                info.msgtql = MSGTQL;
            }
            max_idx
        };
        if !checked_write(buf, &info) {
            return Err(Errno::EFAULT);
        }
        Ok(max_idx.max(0))
    }

    /// IPC_STAT (by id), MSG_STAT and MSG_STAT_ANY (by index: they return the full id).
    fn stat(&self, id: c_int, command: c_int, buf: *mut msqid_ds) -> Result<c_int> {
        let (entry, full_id) = if command == cmd::IPC_STAT {
            (self.registry.lookup(id).ok_or(Errno::EINVAL)?, id)
        } else {
            let e = self.registry.entry(id as u32 & (IPCMNI - 1));
            match e.id1.load(Ordering::Acquire) {
                0 => return Err(Errno::EINVAL),
                id1 => (e, (id1 as c_int).wrapping_sub(1)),
            }
        };
        let mut s = snapshot(entry);
        if command != cmd::MSG_STAT_ANY && !self.permitted(&s, S_IRUGO) {
            return Err(Errno::EACCES);
        }
        if entry.id1.load(Ordering::Acquire) != full_id as u32 + 1 {
            return Err(Errno::EIDRM);
        }
        if scheduled_due(entry) {
            // What has fallen due counts from now on.
            self.send_due(full_id, entry);
            s = snapshot(entry);
        }
        // SAFETY: msqid_ds is plain C data; all-zero is valid (and zeroes the reserved fields).
        let mut ds: msqid_ds = unsafe { std::mem::zeroed() };
        ds.msg_perm.__key = s.key;
        ds.msg_perm.uid = s.uid;
        ds.msg_perm.gid = s.gid;
        ds.msg_perm.cuid = s.cuid;
        ds.msg_perm.cgid = s.cgid;
        ds.msg_perm.mode = s.mode as u16;
        ds.msg_perm.__seq = s.seq as u16;
        ds.msg_stime = s.stime;
        ds.msg_rtime = s.rtime;
        ds.msg_ctime = s.ctime;
        ds.__msg_cbytes = s.cbytes;
        ds.msg_qnum = s.qnum;
        ds.msg_qbytes = s.qbytes;
        ds.msg_lspid = s.lspid;
        ds.msg_lrpid = s.lrpid;
        if !checked_write(buf, &ds) {
            return Err(Errno::EFAULT);
        }
        Ok(if command == cmd::IPC_STAT { 0 } else { full_id })
    }

    /// May `who` change or remove a queue with `perm` (the kernel's `ipcctl_obtain_check`)?
    fn owner_or_admin(perm: &Snapshot, who: &Ident) -> bool {
        who.euid == perm.cuid || who.euid == perm.uid || who.has(cap::SYS_ADMIN)
    }

    /// IPC_SET: owner, group, mode and qbytes; wakes every waiter to look again.
    fn set(&self, id: c_int, buf: *mut msqid_ds) -> Result<c_int> {
        let ds = checked_read(buf as *const msqid_ds).ok_or(Errno::EFAULT)?;
        let who = ident(Freshness::Fresh);
        let _registry = self.registry.lock()?;
        let entry = self.registry.lookup(id).ok_or(Errno::EINVAL)?;
        let perm = perms(entry);
        if !Self::owner_or_admin(&perm, &who) {
            return Err(Errno::EPERM);
        }
        // The kernel passes msg_qbytes on as an int, and checks capable(CAP_SYS_RESOURCE), in
        // the initial user namespace (Creds leaves it out elsewhere).
        let qbytes = ds.msg_qbytes as i32;
        if qbytes as u32 > self.limits.msgmnb as u32 && !who.has(cap::SYS_RESOURCE) {
            return Err(Errno::EPERM);
        }
        let q = self.attach(id, entry)?;
        let mut locked = q.lock(entry)?;
        if !locked.valid() {
            return Err(Errno::EIDRM);
        }
        if ds.msg_perm.uid == u32::MAX || ds.msg_perm.gid == u32::MAX {
            return Err(Errno::EINVAL);
        }
        let mode = (perm.mode & !0o777) | (ds.msg_perm.mode as u32 & 0o777);
        registry::write_perms_and_stats(entry, |e| {
            e.uid.store(ds.msg_perm.uid, Ordering::Relaxed);
            e.gid.store(ds.msg_perm.gid, Ordering::Relaxed);
            e.mode.store(mode, Ordering::Relaxed);
            e.qbytes.store(qbytes as i64 as u64, Ordering::Relaxed);
            e.ctime.store(now_sec(), Ordering::Relaxed);
        });
        locked.recheck_all();
        drop(locked);
        // The segment file's mode follows (possible for its owner or CAP_FOWNER; when not, the
        // queue's owner is not the file's and the file is already open to all).
        let h = q.header();
        let fmode = queue::file_mode(mode, ds.msg_perm.uid, ds.msg_perm.gid, h.file_uid, h.file_gid);
        if let Ok(c) = std::ffi::CString::new(file_name(q.id, q.nonce)) {
            crate::os::sys::fchmodat(self.dir, &c, fmode);
        }
        Ok(0)
    }

    /// IPC_RMID (and `mqshim ipcrm -q`): removes queue `id` at once; every blocked sender and
    /// receiver fails with EIDRM.
    pub fn remove_id(&self, id: c_int) -> Result<()> {
        let who = ident(Freshness::Fresh);
        let mut registry = self.registry.lock()?;
        let entry = self.registry.lookup(id).ok_or(Errno::EINVAL)?;
        if !Self::owner_or_admin(&perms(entry), &who) {
            return Err(Errno::EPERM);
        }
        let nonce = entry.nonce.load(Ordering::Acquire);
        match self.attach(id, entry) {
            Ok(q) => {
                let mut locked = q.lock(entry)?;
                // The commit point of a removal.
                entry.id1.store(0, Ordering::Release);
                locked.remove_all();
            }
            // No segment to wake anyone in (or none we may open): the entry goes all the same.
            Err(_) => entry.id1.store(0, Ordering::Release),
        }
        registry.released();
        drop(registry);
        self.detach(id as u32 & (IPCMNI - 1));
        if let Ok(c) = std::ffi::CString::new(file_name(id, nonce)) {
            crate::os::sys::unlinkat(self.dir, &c, 0);
        }
        Ok(())
    }

    /// `mqshim ipcrm -Q`: removes the queue with `key` (not IPC_PRIVATE).
    pub fn remove_key(&self, key: key_t) -> Result<()> {
        if key == libc::IPC_PRIVATE {
            return Err(Errno::EINVAL);
        }
        let id = {
            let locked = self.registry.lock()?;
            let idx = locked.find_key(key).ok_or(Errno::EINVAL)?;
            (self.registry.entry(idx).id1.load(Ordering::Acquire) as c_int).wrapping_sub(1)
        };
        self.remove_id(id)
    }

    /// The text the kernel's `/proc/sysvipc/msg` would hold for the namespace's queues (what
    /// util-linux `ipcs` reads first; see `sysvipc_msg_proc_show`).
    pub fn proc_sysvipc_msg(&self) -> String {
        let mut out = String::from(PROC_SYSVIPC_MSG_HEADER);
        for q in self.list() {
            out.push_str(&proc_line(&q));
        }
        out
    }

    /// Every queue of the namespace, by index (for `mqshim ipcs`).
    pub fn list(&self) -> Vec<QueueInfo> {
        let mut out = Vec::new();
        for i in 0..self.registry.high_water() {
            let e = self.registry.entry(i);
            let id1 = e.id1.load(Ordering::Acquire);
            if id1 == 0 {
                continue;
            }
            let s = snapshot(e);
            out.push(QueueInfo {
                key: s.key,
                id: (id1 as i32).wrapping_sub(1),
                mode: s.mode,
                uid: s.uid,
                gid: s.gid,
                cuid: s.cuid,
                cgid: s.cgid,
                cbytes: s.cbytes,
                qnum: s.qnum,
                qbytes: s.qbytes,
                lspid: s.lspid,
                lrpid: s.lrpid,
                stime: s.stime,
                rtime: s.rtime,
                ctime: s.ctime,
                scheduled: e.scheduled.load(Ordering::Acquire),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ns {
        path: String,
        emu: SysvEmulation,
    }

    impl Ns {
        fn new(limits: SysvLimits) -> Ns {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let path = format!("/tmp/mqshim-sysv-ops-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
            let emu = SysvEmulation::new(path.as_bytes(), limits).unwrap();
            Ns { path, emu }
        }
    }

    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    #[repr(C)]
    struct Msg {
        mtype: c_long,
        text: [u8; 64],
    }

    const LIMITS: SysvLimits = SysvLimits { msgmax: 64, msgmnb: 100, msgmni: 3 };

    #[test]
    fn ids_limits_and_listing() {
        let ns = Ns::new(LIMITS);
        let e = &ns.emu;
        // A fresh namespace hands out 0, 1, 2 like a fresh IPC namespace; msgmni is 3.
        assert_eq!(e.msgget(7, libc::IPC_CREAT | 0o640), Ok(0));
        assert_eq!(e.msgget(libc::IPC_PRIVATE, 0o600), Ok(1));
        assert_eq!(e.msgget(-1, libc::IPC_CREAT | 0o600), Ok(2));
        assert_eq!(e.msgget(8, libc::IPC_CREAT | 0o600), Err(Errno::ENOSPC));
        assert_eq!(e.msgget(7, libc::IPC_CREAT | libc::IPC_EXCL), Err(Errno::EEXIST));
        assert_eq!(e.msgget(-1, 0), Ok(2));
        assert_eq!(e.msgget(9, 0), Err(Errno::ENOENT));
        // msgmax and msgmnb (the new queue's qbytes) are the configured ones.
        let mut m = Msg { mtype: 1, text: [b'x'; 64] };
        let p = &mut m as *mut Msg as *mut c_void;
        assert_eq!(e.msgsnd(0, p, 65, 0), Err(Errno::EINVAL));
        assert_eq!(e.msgsnd(0, p, 64, 0), Ok(0));
        assert_eq!(e.msgsnd(0, p, 37, libc::IPC_NOWAIT), Err(Errno::EAGAIN));
        assert_eq!(e.msgsnd(0, p, 36, libc::IPC_NOWAIT), Ok(0));
        // SAFETY: an all-zero msginfo is valid.
        let mut info: libc::msginfo = unsafe { std::mem::zeroed() };
        assert_eq!(e.msgctl(0, cmd::MSG_INFO, (&mut info as *mut libc::msginfo).cast()), Ok(2));
        assert_eq!((info.msgmax, info.msgmnb, info.msgmni, info.msgpool, info.msgmap, info.msgtql), (64, 100, 3, 3, 2, 100));
        // Listing (mqshim ipcs) and removal by key (mqshim ipcrm -Q).
        let list = e.list();
        assert_eq!(
            list.iter().map(|q| (q.key, q.id, q.mode, q.qnum, q.cbytes)).collect::<Vec<_>>(),
            vec![(7, 0, 0o640, 2, 100), (0, 1, 0o600, 0, 0), (-1, 2, 0o600, 0, 0)]
        );
        assert_eq!(e.remove_key(7), Ok(()));
        assert_eq!(e.remove_key(7), Err(Errno::EINVAL));
        assert_eq!(e.remove_key(libc::IPC_PRIVATE), Err(Errno::EINVAL));
        assert_eq!(e.msgsnd(0, p, 1, 0), Err(Errno::EINVAL));
        assert_eq!(e.list().len(), 2);
        // The index is reused cyclically: the next queue is index 3, not 0.
        assert_eq!(e.msgget(8, libc::IPC_CREAT | 0o600), Ok(3));
        assert_eq!(e.remove_id(3), Ok(()));
        assert_eq!(e.remove_id(1), Ok(()));
        assert_eq!(e.remove_id(2), Ok(()));
        assert_eq!(e.list(), vec![]);
    }

    #[test]
    fn proc_lines_have_the_kernels_format() {
        // A real kernel queue and the line mqshim makes from the same values must be identical.
        // (Raw system calls: in this test binary `msgget` & co. are mqshim's own exports.)
        // SAFETY: plain System V system calls on a private queue of our own, removed below.
        let id = unsafe { libc::syscall(libc::SYS_msgget, libc::IPC_PRIVATE, 0o640) } as i32;
        assert!(id >= 0);
        let mut m = Msg { mtype: 3, text: [b'y'; 64] };
        // SAFETY: as above; m is a valid msgbuf with 64 bytes of text.
        assert_eq!(unsafe { libc::syscall(libc::SYS_msgsnd, id, &mut m as *mut Msg, 10, 0) }, 0);
        // SAFETY: as above; an all-zero msqid_ds is valid (x86_64's msgctl takes this layout).
        let mut ds: msqid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::syscall(libc::SYS_msgctl, id, libc::IPC_STAT, &mut ds as *mut msqid_ds) }, 0);
        let text = std::fs::read_to_string("/proc/sysvipc/msg").unwrap();
        // SAFETY: as above.
        unsafe { libc::syscall(libc::SYS_msgctl, id, libc::IPC_RMID, 0usize) };
        assert!(text.starts_with(PROC_SYSVIPC_MSG_HEADER), "{text}");
        let id_text = id.to_string();
        let kernel_line = text.lines().find(|l| l.split_whitespace().nth(1) == Some(id_text.as_str())).unwrap();
        let q = QueueInfo {
            key: ds.msg_perm.__key,
            id,
            mode: ds.msg_perm.mode as u32,
            uid: ds.msg_perm.uid,
            gid: ds.msg_perm.gid,
            cuid: ds.msg_perm.cuid,
            cgid: ds.msg_perm.cgid,
            cbytes: ds.__msg_cbytes,
            qnum: ds.msg_qnum,
            qbytes: ds.msg_qbytes,
            lspid: ds.msg_lspid,
            lrpid: ds.msg_lrpid,
            stime: ds.msg_stime,
            rtime: ds.msg_rtime,
            ctime: ds.msg_ctime,
            scheduled: 0,
        };
        assert_eq!(proc_line(&q), format!("{kernel_line}\n"));
    }

    #[test]
    fn permissions_follow_ipcperms() {
        let perm = Snapshot { mode: 0o640, uid: 10, gid: 20, cuid: 11, cgid: 21, ..Snapshot::default() };
        let creds = |euid, fsgid, caps| {
            Ident::from_creds(&crate::os::creds::Creds { uid: euid, euid, fsuid: euid, gid: fsgid, egid: fsgid, fsgid, groups: vec![], caps })
        };
        // Owner class by uid or cuid; group class by gid or cgid; the bits asked for only.
        assert!(ipcperms(&perm, &creds(10, 0, 0), 0o600));
        assert!(ipcperms(&perm, &creds(11, 0, 0), 0o200));
        assert!(ipcperms(&perm, &creds(12, 20, 0), 0o400));
        assert!(!ipcperms(&perm, &creds(12, 21, 0), 0o200));
        assert!(!ipcperms(&perm, &creds(12, 22, 0), 0o004));
        assert!(ipcperms(&perm, &creds(12, 22, 0), 0));
        assert!(ipcperms(&perm, &creds(12, 22, 0), libc::IPC_CREAT | libc::IPC_EXCL));
        // CAP_IPC_OWNER bypasses.
        assert!(ipcperms(&perm, &creds(12, 22, 1 << cap::IPC_OWNER), 0o666));
    }

    /// An absolute CLOCK_REALTIME time `ms` from now.
    fn in_ms(ms: u64) -> libc::timespec {
        timespec_of_ns(realtime_ns() + ms * 1_000_000)
    }

    #[test]
    fn scheduling_checks_in_msgsnd_order() {
        let ns = Ns::new(LIMITS);
        let e = &ns.emu;
        let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
        let mut m = Msg { mtype: 1, text: [b'x'; 64] };
        let msg: *mut Msg = &mut m;
        let p = msg as *const c_void;
        let mut h = 0u64;
        let due = in_ms(60_000);
        let bad_nsec = libc::timespec { tv_sec: due.tv_sec, tv_nsec: 1_000_000_000 };
        let negative = libc::timespec { tv_sec: -1, tv_nsec: 0 };
        assert_eq!(e.msgsnd_at(id, std::ptr::null(), 1, 0, &due, &mut h), Err(Errno::EFAULT));
        assert_eq!(e.msgsnd_at(id + 1, p, 65, 0, &bad_nsec, std::ptr::null_mut()), Err(Errno::EINVAL));
        assert_eq!(e.msgsnd_at(id, p, 1, 0, &bad_nsec, &mut h), Err(Errno::EINVAL));
        assert_eq!(e.msgsnd_at(id, p, 1, 0, &negative, &mut h), Err(Errno::EINVAL));
        assert_eq!(e.msgsnd_at(id, p, 1, 0, std::ptr::null(), &mut h), Err(Errno::EINVAL));
        assert_eq!(e.msgsnd_at(id, p, 1, libc::MSG_NOERROR, &due, &mut h), Err(Errno::EINVAL));
        assert_eq!(e.msgsnd_at(id, p, 1, 0, 8 as *const libc::timespec, &mut h), Err(Errno::EFAULT));
        assert_eq!(e.msgsnd_at(id + 1, p, 1, 0, &due, std::ptr::null_mut()), Err(Errno::EINVAL));
        assert_eq!(e.msgsnd_at(id, p, 1, 0, &due, std::ptr::null_mut()), Err(Errno::EFAULT));
        // SAFETY: msg points to m, alive for the whole test.
        unsafe { (*msg).mtype = 0 };
        assert_eq!(e.msgsnd_at(id + 1, p, 1, 0, &due, &mut h), Err(Errno::EINVAL));
        // SAFETY: msg points to m, alive for the whole test.
        unsafe { (*msg).mtype = 1 };
        assert_eq!(e.msgsnd_at(id, p, 1, libc::IPC_NOWAIT, &due, &mut h), Ok(0));
        assert!(h != 0);
        assert_eq!(e.msg_cancel(id + 1, h), Err(Errno::EINVAL));
        assert_eq!(e.msg_cancel(-1, h), Err(Errno::EINVAL));
        assert_eq!(e.msg_cancel(id, h + 1), Err(Errno::ENOENT));
        assert_eq!(e.list()[0].scheduled, 1);
        assert_eq!(e.msg_cancel(id, h), Ok(0));
        assert_eq!(e.msg_cancel(id, h), Err(Errno::ENOENT));
        assert_eq!(e.list()[0].scheduled, 0);
        // IPC_RMID discards what is pending.
        assert_eq!(e.msgsnd_at(id, p, 1, 0, &due, &mut h), Ok(0));
        assert_eq!(e.remove_id(id), Ok(()));
        assert_eq!(e.msg_cancel(id, h), Err(Errno::EINVAL));
    }

    #[test]
    fn a_blocked_receiver_wakes_at_the_due_time_and_counts_follow() {
        let ns = Ns::new(LIMITS);
        let e = &ns.emu;
        let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
        let mut m = Msg { mtype: 3, text: [b'y'; 64] };
        let msg: *mut Msg = &mut m;
        let p = msg as *const c_void;
        let mut h = 0u64;
        let stat = || {
            // SAFETY: an all-zero msqid_ds is valid.
            let mut ds: msqid_ds = unsafe { std::mem::zeroed() };
            e.msgctl(id, cmd::IPC_STAT, &mut ds).unwrap();
            ds.msg_qnum
        };
        std::thread::scope(|s| {
            let receiver = s.spawn(|| {
                let mut r = Msg { mtype: 0, text: [0; 64] };
                let got = e.msgrcv(id, (&mut r as *mut Msg).cast(), 64, 3, 0);
                (got, r.mtype, realtime_ns())
            });
            // Schedule only once the receiver sleeps: the new due time must rouse it.
            let entry = e.registry.lookup(id).unwrap();
            let q = e.attach(id, entry).unwrap();
            while q.lock(entry).unwrap().counts().3 == 0 {
                std::thread::yield_now();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            // Another type falls due first: the receiver sends it into the queue and sleeps on.
            let first = in_ms(150);
            assert_eq!(e.msgsnd_at(id, p, 5, 0, &first, &mut h), Ok(0));
            // SAFETY: msg points to m, alive for the whole test.
            unsafe { (*msg).mtype = 4 };
            let other = in_ms(60);
            assert_eq!(e.msgsnd_at(id, p, 6, 0, &other, &mut h), Ok(0));
            assert_eq!(stat(), 0);
            let (got, mtype, at) = receiver.join().unwrap();
            let due_ns = first.tv_sec as u64 * 1_000_000_000 + first.tv_nsec as u64;
            assert_eq!((got, mtype), (Ok(5), 3));
            assert!(at >= due_ns && at < due_ns + 1_000_000_000, "woke {} ms after the due time", (at as i64 - due_ns as i64) / 1_000_000);
        });
        // The other type entered the queue when it fell due.
        assert_eq!(stat(), 1);
        let mut r = Msg { mtype: 0, text: [0; 64] };
        assert_eq!(e.msgrcv(id, (&mut r as *mut Msg).cast(), 64, 0, libc::IPC_NOWAIT), Ok(6));
        assert_eq!(r.mtype, 4);
        // IPC_STAT and a non-blocking receive find a due message without anyone waiting.
        // SAFETY: msg points to m, alive for the whole test.
        unsafe { (*msg).mtype = 9 };
        let soon = in_ms(30);
        assert_eq!(e.msgsnd_at(id, p, 1, 0, &soon, &mut h), Ok(0));
        assert_eq!(e.msgrcv(id, (&mut r as *mut Msg).cast(), 64, 0, libc::IPC_NOWAIT), Err(Errno::ENOMSG));
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(stat(), 1);
        assert_eq!(e.msgrcv(id, (&mut r as *mut Msg).cast(), 64, 0, libc::IPC_NOWAIT), Ok(1));
        assert_eq!(e.msgsnd_at(id, p, 1, 0, &in_ms(30), &mut h), Ok(0));
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(e.msgrcv(id, (&mut r as *mut Msg).cast(), 64, 9, libc::IPC_NOWAIT), Ok(1));
        assert_eq!(e.remove_id(id), Ok(()));
    }
}
