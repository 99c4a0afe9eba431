//! System V message queues in userspace: `msgget`, `msgsnd`, `msgrcv` and `msgctl` with the
//! kernel's semantics (`ipc/msg.c`, `ipc/util.c`), in the `sysv/` directory of the `MQSHIM_DIR`
//! namespace.
//!
//! - [`registry`]: the id allocator (the kernel's index + sequence number), the counts, and a
//!   display copy of each queue for `ipcs`, in one shared file.
//! - [`keys`]: each key a link the kernel protects, naming its queue's id.
//! - [`queue`]: one queue's segment: its identity, permissions and statistics ([`entry`]),
//!   messages, the type index, blocked callers, crash repair.
//! - [`layout`]: the `#[repr(C)]` structures of both files.
//! - [`caller`]: the caller's pid, credentials and the time, cached so the fast paths make no
//!   system call.
//!
//! ```text
//! $MQSHIM_DIR/sysv/             1777
//!   registry                    0666: the id allocator, counts, a display copy of each queue
//!   msq.<index>                 one queue's segment (its key, id, owner, mode, statistics and
//!                               messages), owned by its creator; mode rw for the owner and
//!                               for each class the queue grants any access
//!   key.<key hex> -> <id>       the queue with that key, a link owned by its creator
//! ```
//!
//! Permissions are checked by mqshim exactly as `ipcperms` does, for the bits each call needs;
//! the operating system backs the all-or-nothing part (a process the queue's mode refuses any
//! access cannot open its segment). A queue's identity is where the operating system protects
//! it: everything about a queue is in its segment, found by its id alone (`msq.<index>`,
//! made exclusively by its creator in the sticky directory, so no other user can remove or
//! replace it, and recording its whole id), and its key is a link only its creator or root can remove ([`keys`]). So a user the
//! queue's mode refuses cannot remove it, change its key, mode, owner or statistics, or hold
//! its locks. `msgget(key, 0)` needs no access at all: for a caller the segment refuses, the
//! link's existence and the segment's are the answer. `MSG_STAT_ANY` and `mqshim ipcs` show a
//! queue the caller may not open from its display copy in the registry ([`registry::Registry`]
//! says what a hostile writer of that file can still do).
//!
//! Speed: a call finds its queue's mapping in a small per-thread cache, checks permissions
//! against cached credentials (see [`caller`]) and the entry's permission line, and takes
//! the queue's lock only when it must: `msgrcv(IPC_NOWAIT)` on an empty queue, a
//! `msgsnd(IPC_NOWAIT)` on a full one and `IPC_STAT` answer from the entry without it. No
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
//! a user who may not unlink it (not its creator, not root) stays until a creator who may
//! sweeps it (see `registry::RegistryLocked::sweep_if_due`), and so does its key link, which
//! until then makes a new queue of that key EACCES to other users; at most `WAITER_SLOTS` (4096) callers can be blocked on one queue at once (ENOMEM
//! beyond); a blocked call is not a pthread cancellation point.

pub mod caller;
pub mod entry;
pub mod front;
pub mod keys;
pub mod layout;
pub mod limits;
mod msgctl;
pub mod queue;
pub mod registry;

pub use msgctl::{cmd, proc_line, QueueInfo, PROC_SYSVIPC_MSG_HEADER};

use std::collections::HashMap;
use std::os::raw::{c_int, c_long, c_void};
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};
use std::sync::Arc;

use libc::{key_t, msqid_ds};

use crate::emu::namespace::Missing;
use caller::{coarse_realtime_ns, ident, now_sec, realtime_ns, Freshness, Ident};
use entry::{perms, queued, snapshot, stats, Snapshot};
use layout::{Entry, IPCMNI};
use queue::{convert_mode, msg_fits_inqueue, spare, Express, Finished, Queue, MSG_COPY};
use registry::Registry;

use crate::emu::engine::futex::Restart;
use crate::emu::engine::lock::{self, LockWait};
use crate::emu::engine::sleep::{self, Sleep, SleepWatch, Slept};
use crate::emu::engine::spin;
use crate::errno::{Errno, Result};
use crate::os::creds::cap;
use crate::os::forksafe::ForkSafe;
use crate::os::usermem::{checked_read, checked_write, probe_write};

/// Read and write permission, as `ipcperms` is asked for them.
const S_IRUGO: i32 = 0o444;
const S_IWUGO: i32 = 0o222;

pub use limits::SysvLimits;

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

/// The System V half of the emulation, bound to one namespace.
pub struct SysvEmulation {
    dir: c_int,
    /// Names this namespace (and this opening of it) in the process's caches.
    ns: usize,
    /// The registry, needed only to create queues (and for what callers may not open, and
    /// counts): a registry another user damaged fails those, nothing else, until a creator
    /// who may replace it rebuilds it (see [`SysvEmulation::registry_for_creation`]). Null when
    /// none could be opened (`registry_error` says why); one replaced is never freed, so a
    /// reference to it stays valid while `self` lives.
    registry: AtomicPtr<Registry>,
    registry_error: AtomicI32,
    limits: limits::LiveSysvLimits,
}

/// Queues this process has mapped, by (namespace, index), and the ids it found for keys, by
/// (namespace, key); a forked child inherits them (the mappings are shared).
#[derive(Default)]
struct Attached {
    queues: HashMap<(usize, u32), Mapped>,
    keys: HashMap<(usize, i32), i32>,
    /// The number of mapped queues at which those removed meanwhile are next forgotten: twice
    /// the number left by the last pruning, so that pruning (which reads every mapped queue)
    /// costs O(1) per new mapping, not O(queues mapped).
    prune_at: usize,
    /// Ids of queues this process removed or found removed, by (namespace, id), with the
    /// namespace's sysctl generation then, the latest last (at most [`DEAD_IDS_REMEMBERED`]):
    /// the kernel gives a removed id out again only when `msg_next_id` asks for it (or its
    /// sequence numbers wrap), and the emulation also when its registry is rebuilt (another
    /// user damaged it), so until the generation moves (a sysctl write bumps it, a rebuilt
    /// registry starts at a random one) a later call on one is EINVAL without a look at what
    /// is at its index now — which, once the queue's file is gone, another user may have put
    /// there (a segment of its own that claims the dead id).
    dead: Vec<(usize, i32, u64)>,
    /// Where the next id buried goes in `dead` once it is full (the oldest there).
    dead_next: usize,
}

/// A queue this process mapped, and the namespace's sysctl generation when it did: while that
/// is unchanged, the queue's id cannot have been made again once the queue is removed (see
/// `Attached::dead`).
struct Mapped {
    queue: Arc<Queue>,
    generation: Option<u64>,
}

/// How many removed ids a process remembers (see `Attached::dead`).
const DEAD_IDS_REMEMBERED: usize = 64;

impl Attached {
    /// Maps queue `q` at (`ns`, `idx`), mapped at sysctl generation `generation`, first
    /// forgetting the removed queues of `ns` when due.
    fn insert(&mut self, ns: usize, idx: u32, q: Arc<Queue>, generation: Option<u64>) {
        if self.queues.len() >= self.prune_at {
            self.queues.retain(|(n, _), m| *n != ns || m.queue.live());
            self.prune_at = (2 * self.queues.len()).max(64);
        }
        self.queues.insert((ns, idx), Mapped { queue: q, generation });
    }

    /// Remembers that queue `id` of namespace `ns`, whose sysctl generation is `generation`,
    /// was removed (nothing, when the generation is not known).
    fn bury(&mut self, ns: usize, id: i32, generation: Option<u64>) {
        let Some(generation) = generation else { return };
        // O(1): every removal comes here (an id buried twice takes two places).
        if self.dead.len() < DEAD_IDS_REMEMBERED {
            self.dead.push((ns, id, generation));
        } else {
            self.dead[self.dead_next] = (ns, id, generation);
            self.dead_next = (self.dead_next + 1) % DEAD_IDS_REMEMBERED;
        }
    }

    /// Whether queue `id` of namespace `ns` was removed and cannot have been made again (the
    /// namespace's sysctls are still at `generation`).
    fn is_dead(&self, ns: usize, id: i32, generation: Option<u64>) -> bool {
        generation.is_some_and(|g| self.dead.contains(&(ns, id, g)))
    }
}
type AttachedMap = Option<Attached>;
static ATTACHED: ForkSafe<AttachedMap> = ForkSafe::new(None, None);

/// A few recently used queues per thread, so the common call takes no lock to find its queue.
const THREAD_CACHE: usize = 4;
/// (namespace, queue) pairs, and the slot to replace next.
type Recent = ([Option<(usize, Arc<Queue>)>; THREAD_CACHE], usize);
thread_local! {
    static RECENT: std::cell::RefCell<Recent> = const { std::cell::RefCell::new(([const { None }; THREAD_CACHE], 0)) };
}

/// Who waits in a queue: a receiver, or a sender of a message of this many bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Blocked {
    Receiver,
    Sender(u64),
}

/// What a System V waiter watches while it sleeps: whether its queue still exists and it may
/// still use it, and — for a receiver — when the next scheduled message falls due.
struct Watch<'q> {
    emu: &'q SysvEmulation,
    q: &'q Queue,
    entry: &'q Entry,
    blocked: Blocked,
}

impl SleepWatch for Watch<'_> {
    fn next_due_ns(&self) -> u64 {
        if self.blocked == Blocked::Receiver {
            self.entry.next_due_ns.load(Ordering::SeqCst)
        } else {
            0
        }
    }

    fn send_due(&self) {
        if let Ok(mut locked) = self.q.lock(self.entry) {
            if locked.valid() {
                locked.promote_if_due();
            }
        }
    }

    fn exists(&self) -> bool {
        self.q.live()
    }

    /// IPC_SET wakes every receiver to look again, and a sender only once its message fits (the
    /// kernel's `expunge_all` and `ss_wakeup`): one that then finds its permission gone fails.
    fn shut_out(&self) -> bool {
        match self.blocked {
            Blocked::Receiver => !self.emu.permitted(&perms(self.q.header()), S_IRUGO),
            Blocked::Sender(size) => {
                let s = stats(self.q.header());
                msg_fits_inqueue(size, s.qnum, s.cbytes, s.qbytes) && !self.emu.permitted(&perms(self.q.header()), S_IWUGO)
            }
        }
    }
}

/// What a waiter that left unserved (see `Queue::lock_to_collect`) returns, as the
/// kernel's blocked caller would on looking again: EIDRM once its queue is gone, EACCES when
/// its permission was taken away, else EINTR (a signal handler ran).
fn left_unserved(q: &Queue, waited: Slept) -> Errno {
    if !q.live() {
        Errno::EIDRM
    } else if waited == Slept::ShutOut {
        Errno::EACCES
    } else {
        Errno::EINTR
    }
}

/// A queue's segment file: named by its id's index alone, so that what a call maps for an id
/// is the file its creator made — exclusively, in the sticky `sysv/`, where no other user can
/// remove or replace it — and one index holds one live queue whatever the registry says (the
/// file records the whole id: another sequence number there is another queue).
fn file_name(id: i32) -> String {
    format!("msq.{}", id as u32 & (IPCMNI - 1))
}

/// The index of a segment file's name (`msq.<index>`), or None for any other name.
fn index_of_name(name: &str) -> Option<u32> {
    name.strip_prefix("msq.").and_then(|t| t.parse::<u32>().ok()).filter(|&i| i < IPCMNI)
}

impl Drop for SysvEmulation {
    fn drop(&mut self) {
        // The spares point into the registry's mapping, which goes now.
        queue::spare::forget_namespace(Some(self.ns));
        let ptr = self.registry.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !ptr.is_null() {
            // SAFETY: made by Box::into_raw; no reference to it outlives `self`.
            drop(unsafe { Box::from_raw(ptr) });
        }
    }
}

/// Whether a scheduled message of the queue at `entry` may have fallen due, so that a call must
/// take the queue's lock to send it first (no lock; a clock read only when one is pending).
fn scheduled_due(entry: &Entry) -> bool {
    let due = entry.next_due_ns.load(Ordering::Acquire);
    due != 0 && realtime_ns() >= due
}

impl SysvEmulation {
    /// Opens the `sysv/` directory and registry of the namespace at `root`.
    pub fn new(root: &[u8], limits: SysvLimits) -> Result<SysvEmulation> {
        SysvEmulation::open_or(root, limits, Missing::Create)
    }

    /// Opens the `sysv/` directory and registry of the namespace at `root`; with
    /// [`Missing::Fail`] (for `mqshim ipcs` and `ipcrm`) nothing is created, and a namespace,
    /// directory or registry that does not exist is ENOENT.
    pub fn open_or(root: &[u8], limits: SysvLimits, missing: Missing) -> Result<SysvEmulation> {
        let dir = crate::emu::namespace::open_subdir(root, b"sysv", missing)?;
        let registry = match missing {
            Missing::Create => {
                Registry::claim(root, dir);
                Registry::open(dir)
            }
            Missing::Fail => Registry::open_existing(dir),
        };
        let st = crate::os::sys::stat_of(dir);
        match (registry, st) {
            // A registry that is not there (and may not be made) is no namespace to `ipcs`.
            (Err(e @ Errno::ENOENT), _) | (_, Err(e)) => {
                crate::os::sys::close(dir);
                Err(e)
            }
            (registry, Ok(st)) => {
                let ns = (st.st_dev as usize).rotate_left(40) ^ (st.st_ino as usize).rotate_left(16) ^ dir as usize;
                let (ptr, error) = match registry {
                    Ok(r) => (Box::into_raw(Box::new(r)), 0),
                    Err(e) => (std::ptr::null_mut(), e as i32),
                };
                Ok(SysvEmulation { dir, ns, registry: AtomicPtr::new(ptr), registry_error: AtomicI32::new(error), limits: limits::LiveSysvLimits::new(limits) })
            }
        }
    }

    /// The registry, or the errno that made it unusable (EIO: damaged by a user who may write
    /// it; or of another layout version).
    fn registry(&self) -> Result<&Registry> {
        let ptr = self.registry.load(Ordering::Acquire);
        if ptr.is_null() {
            return Err(Errno::from_raw(self.registry_error.load(Ordering::Relaxed)));
        }
        // SAFETY: made by Box::into_raw and never freed while `self` lives (see the field).
        Ok(unsafe { &*ptr })
    }

    /// The registry, for a creation. One that cannot serve (EIO: poisoned, damaged) is opened
    /// again — someone may have rebuilt it — and, if still damaged, rebuilt by a caller who may
    /// replace it (its owner or root; for others it stays EIO): a fresh registry renamed over
    /// it, which then shows the live queues found in the directory (under its lock).
    fn registry_for_creation(&self) -> Result<&Registry> {
        match self.registry() {
            Ok(r) if !r.poisoned() => Ok(r),
            Err(e) if e != Errno::EIO => Err(e),
            _ => self.registry_renewed(),
        }
    }

    /// The registry after this process found its mapping unusable (EIO: poisoned, damaged, a
    /// lock word that names no thread): opened again, and rebuilt if it is still so (see
    /// [`SysvEmulation::registry_for_creation`]).
    fn registry_renewed(&self) -> Result<&Registry> {
        let usable = |r: &Registry| !r.poisoned() && !r.lock_is_garbage();
        let (fresh, rebuilt) = match Registry::open(self.dir) {
            Ok(r) if usable(&r) => (r, false),
            Ok(_) | Err(Errno::EIO) => (Registry::rebuild(self.dir)?, true),
            Err(e) => return Err(e),
        };
        // The one replaced stays mapped (a caller may still hold a reference to it).
        self.registry.store(Box::into_raw(Box::new(fresh)), Ordering::Release);
        let registry = self.registry()?;
        if rebuilt {
            let mut locked = registry.lock()?;
            for name in crate::emu::namespace::list_dir(self.dir) {
                let Some(name) = std::str::from_utf8(&name).ok().filter(|t| index_of_name(t).is_some()) else { continue };
                if let Ok(q) = Queue::attach(self.dir, name, None) {
                    if q.live() {
                        locked.adopt(q.id, &snapshot(q.header()));
                    }
                }
            }
            // What the damaged registry's users left is unknown: the next creator sweeps.
            locked.sweep_soon();
        }
        Ok(registry)
    }

    pub fn limits(&self) -> SysvLimits {
        self.limits.get()
    }

    /// Replaces the limits (the namespace's sysctls changed).
    pub fn set_limits(&self, limits: SysvLimits) {
        self.limits.set(limits);
    }

    /// The namespace's sysctl generation: it moves whenever they change.
    pub fn sysctl_generation(&self) -> u64 {
        self.registry().map_or(0, Registry::sysctl_generation)
    }

    /// The namespace's sysctl generation as a witness that no removed id was made again (see
    /// `Attached::dead`): None when the registry cannot say (unusable, or poisoned: it reads
    /// zeros then). A registry rebuilt starts at a random generation.
    fn id_generation(&self) -> Option<u64> {
        let registry = self.registry().ok()?;
        let generation = registry.sysctl_generation();
        (!registry.poisoned()).then_some(generation)
    }

    /// [`SysvEmulation::id_generation`], when this process's registry is still the
    /// namespace's: one rebuilt since (by another process) may have given removed ids out
    /// again, at a generation this process has not seen. One `fstatat`, for a call on an id
    /// this process remembers dead.
    fn current_id_generation(&self) -> Option<u64> {
        self.id_generation().filter(|_| self.registry().is_ok_and(|r| r.is_current(self.dir)))
    }

    /// Says that the namespace's sysctls changed.
    pub fn bump_sysctl_generation(&self) {
        if let Ok(r) = self.registry() {
            r.bump_sysctl_generation();
        }
    }

    /// `msg_next_id`: the id the next creating `msgget` takes, or -1.
    pub fn next_id(&self) -> i64 {
        self.registry().map_or(-1, Registry::next_id)
    }

    /// Sets `msg_next_id` (0..=INT_MAX: the caller checked it), and says that the sysctls
    /// changed.
    pub fn set_next_id(&self, id: i32) -> Result<()> {
        let registry = self.registry()?;
        registry.set_next_id(id);
        // A removed id may be made again now (see `Attached::dead`).
        registry.bump_sysctl_generation();
        Ok(())
    }

    fn ns_key(&self) -> usize {
        self.ns
    }

    /// Whether the caller may have `flag` on a queue (see `caller::may_now`).
    fn permitted(&self, perm: &Snapshot, flag: i32) -> bool {
        caller::may_now(perm.mode, flag, |who| ipcperms(perm, who, flag))
    }

    /// The mapped segment of live queue `id`: EINVAL when there is none (no segment, or one not
    /// live: being created, or removed), EACCES when its file refuses the caller.
    fn find(&self, id: i32) -> Result<Arc<Queue>> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        let ns = self.ns_key();
        let mine = |q: &Queue| q.id == id && q.live();
        let hit = RECENT
            .try_with(|r| r.try_borrow().ok().and_then(|r| r.0.iter().flatten().find(|(n, q)| *n == ns && mine(q)).map(|(_, q)| q.clone())))
            .ok()
            .flatten();
        if let Some(q) = hit {
            return Ok(q);
        }
        let idx = id as u32 & (IPCMNI - 1);
        // What this process knows of the id: its mapping, or that it is dead (a mapping of it
        // no longer live, with no change of the sysctls since it was mapped, or one removed
        // before: see `Attached::dead`).
        let known = ATTACHED.with(|m| {
            let m = m.as_mut()?;
            match m.queues.get(&(ns, idx)) {
                Some(mapped) if mapped.queue.id == id && mapped.queue.live() => Some(Ok(mapped.queue.clone())),
                // (A mapping poisoned by a truncation reads zeros: the file tells, EIO.)
                Some(mapped)
                    if mapped.queue.id == id
                        && !mapped.queue.poisoned()
                        && mapped.generation.is_some()
                        && mapped.generation == self.current_id_generation() =>
                {
                    m.bury(ns, id, mapped.generation);
                    Some(Err(Errno::EINVAL))
                }
                _ => (m.dead.iter().any(|&(n, i, _)| (n, i) == (ns, id)) && m.is_dead(ns, id, self.current_id_generation())).then_some(Err(Errno::EINVAL)),
            }
        });
        let q = match known {
            Some(known) => known?,
            None => {
                let q = match Queue::attach(self.dir, &file_name(id), Some(id)) {
                    Ok(q) if q.live() => Arc::new(q),
                    Ok(_) | Err(Errno::EIDRM) => return Err(Errno::EINVAL),
                    Err(e) => return Err(e),
                };
                let generation = self.id_generation();
                ATTACHED.with(|m| m.get_or_insert_with(Attached::default).insert(ns, idx, q.clone(), generation));
                q
            }
        };
        // A removal whose remover was killed half-way is finished at sight, so that nobody
        // finds the queue by its id once its key makes a new one (see
        // `finish_abandoned_removal`). The thread's recent queues above do not look: they were
        // found live since.
        if q.removal_claimed() && self.finish_abandoned_removal(&q) {
            return Err(Errno::EINVAL);
        }
        let _ = RECENT.try_with(|r| {
            if let Ok(mut r) = r.try_borrow_mut() {
                let slot = r.1 % THREAD_CACHE;
                r.0[slot] = Some((ns, q.clone()));
                r.1 = slot + 1;
            }
        });
        Ok(q)
    }

    /// The live queue with `key` (not IPC_PRIVATE), as far as the caller can tell: one of its
    /// links (see `keys`: the first slot, or a later one where those before are stale) names an
    /// id whose segment is live and records that key. A link naming anything else is stale
    /// (None when every present one is). A segment that refuses the caller is taken on the
    /// link's word: only the queue's creator or root can have made or left that link.
    fn by_key(&self, key: key_t) -> Result<Option<Keyed>> {
        let ns = self.ns_key();
        let is_keys = |q: &Queue| q.entry().key.load(Ordering::Relaxed) == key;
        // A live queue that records the key is the key's (a key's link names one queue, made
        // exclusively), unless its removal is claimed: its remover takes the link away before
        // its commit, so the link says (see `remove_id`). The thread's recent queues first,
        // without a lock.
        let remembered_keys = |q: &Queue| is_keys(q) && !q.removal_claimed();
        let recent = RECENT
            .try_with(|r| {
                r.try_borrow().ok().and_then(|r| r.0.iter().flatten().find(|(n, q)| *n == ns && remembered_keys(q) && q.live()).map(|(_, q)| q.clone()))
            })
            .ok()
            .flatten();
        if let Some(q) = recent {
            return Ok(Some(Keyed::Open(q)));
        }
        if let Some(id) = ATTACHED.with(|m| m.as_ref().and_then(|m| m.keys.get(&(ns, key)).copied())) {
            if let Ok(q) = self.find(id) {
                if remembered_keys(&q) {
                    return Ok(Some(Keyed::Open(q)));
                }
            }
            // Removed (or re-keyed, or its removal claimed) since: forgotten, so that the key's
            // next callers do not look for the dead id's segment again (a file another queue
            // may hold now).
            self.forget_key(key, id);
        }
        for id in keys::links(self.dir, key) {
            let id = id?;
            match self.find(id) {
                Ok(q) if is_keys(&q) => {
                    ATTACHED.with(|m| m.get_or_insert_with(Attached::default).keys.insert((ns, key), id));
                    return Ok(Some(Keyed::Open(q)));
                }
                Err(Errno::EACCES) => return Ok(Some(Keyed::Closed(id))),
                // Stale: the next slot.
                Ok(_) | Err(Errno::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Whether `name` in the `sysv/` directory belongs to no queue (for the sweep, and for a
    /// creator that finds it in its way): a segment that is not live (its creator died
    /// before committing it, or it was removed and no live process keeps it as a spare), one a
    /// creator that died was building aside,
    /// or a key link naming no live queue of its key, unless a later slot of the key has a link
    /// (see `keys`: it goes first). A segment that is damaged (another user
    /// truncated or garbled it) is a queue still, for its owner to remove; what the caller may
    /// not open is not judged.
    fn leftover(&self, name: &str) -> bool {
        if index_of_name(name).is_some() {
            return Queue::attach(self.dir, name, None)
                .is_ok_and(|q| (!q.live() && q.creator().is_none() && q.remover().is_none() && q.keeper().is_none()) || self.finish_abandoned_removal(&q));
        }
        if name.starts_with("msq.") {
            return Queue::aside_leftover(name);
        }
        keys::key_of_name(name).is_some_and(|(key, slot)| {
            let last = slot + 1 == keys::SLOTS || matches!(keys::read(self.dir, key, slot + 1), Ok(None));
            key != libc::IPC_PRIVATE && last && self.key_links(key).is_ok_and(|links| links.found.is_none() && links.worker.is_none())
        })
    }

    /// A live keyed queue whose remover is gone (killed in `IPC_RMID` after it took the key's
    /// link away, before its commit: see `remove_id`) is removed now, as that remover would
    /// have, when no link of its key names it: true, its display record freed, and its file a
    /// leftover (for the sweep, which calls this for every segment, and for `find`, which
    /// calls it for a queue it maps whose removal is claimed). Otherwise the claim alone is
    /// cleared, and the queue stays, keyed, as a kernel IPC_RMID that never ran leaves it. (A
    /// user who may write the segment can make a queue look so; such a user can mark it
    /// removed outright, too.)
    fn finish_abandoned_removal(&self, q: &Queue) -> bool {
        if !q.removal_abandoned() {
            return false;
        }
        let entry = q.entry();
        let Ok(mut locked) = q.lock(entry) else { return false };
        if !q.removal_abandoned() {
            return false;
        }
        let key = entry.key.load(Ordering::Relaxed);
        if key == libc::IPC_PRIVATE || keys::slot_of(self.dir, key, q.id).is_some() {
            locked.clear_removal_claim();
            return false;
        }
        // Removed meanwhile by another remover, which finishes it.
        if !locked.begin_removal() {
            return false;
        }
        drop(locked);
        if let Ok(registry) = self.registry() {
            registry.released(q.id);
            // Its file, for the next creator (when it is not the sweep that called).
            registry.sweep_soon();
        }
        q.end_removal();
        self.detach(q.id, true);
        true
    }

    /// Whether queue `id`, which its display record shows, no longer exists (for the sweep): its
    /// segment is gone or another queue's, or removed with no remover at work on it (one
    /// killed before it freed the record). What the caller may not open is not judged.
    fn queue_gone(&self, id: i32) -> bool {
        match Queue::attach(self.dir, &file_name(id), Some(id)) {
            Ok(q) => !q.live() && q.creator().is_none() && q.remover().is_none(),
            Err(e) => e == Errno::EIDRM,
        }
    }

    /// Whether this process's mapping of queue `id` (when given) was poisoned (see
    /// `segment::containment`). A poisoned queue is forgotten here, so a later queue at its
    /// index is mapped afresh. (A poisoned registry — any user may truncate it — fails only
    /// creation, with EIO: see `Registry::lock`; nothing else needs it.)
    pub fn poisoned(&self, id: Option<c_int>) -> bool {
        let Some(id) = id else { return false };
        let (ns, idx) = (self.ns_key(), id as u32 & (IPCMNI - 1));
        let poisoned = ATTACHED.with(|m| m.as_ref().and_then(|m| m.queues.get(&(ns, idx))).is_some_and(|m| m.queue.id == id && m.queue.poisoned()))
            || RECENT.try_with(|r| r.try_borrow().is_ok_and(|r| r.0.iter().flatten().any(|(n, q)| *n == ns && q.id == id && q.poisoned()))).unwrap_or(false);
        if poisoned {
            self.detach(id, false);
        }
        poisoned
    }

    /// Forgets this process's mapping of queue `id` (after removing it, when `removed`: the id
    /// is then remembered dead): the process's and the thread's, so that it is unmapped now
    /// rather than by whichever later call evicts it.
    fn detach(&self, id: c_int, removed: bool) {
        let (ns, idx) = (self.ns_key(), id as u32 & (IPCMNI - 1));
        ATTACHED.with(|m| {
            let m = m.get_or_insert_with(Attached::default);
            m.queues.remove(&(ns, idx));
            if removed {
                m.bury(ns, id, self.id_generation());
            }
        });
        let _ = RECENT.try_with(|r| {
            if let Ok(mut r) = r.try_borrow_mut() {
                r.0.iter_mut().filter(|s| s.as_ref().is_some_and(|(n, q)| *n == ns && q.id == id)).for_each(|s| *s = None);
            }
        });
    }

    /// Forgets that `key` named queue `id` (removed), unless it names another now.
    fn forget_key(&self, key: key_t, id: c_int) {
        let ns = self.ns_key();
        ATTACHED.with(|m| {
            if let Some(m) = m.as_mut() {
                if m.keys.get(&(ns, key)) == Some(&id) {
                    m.keys.remove(&(ns, key));
                }
            }
        });
    }

    // ----- msgget -----

    /// `msgget`. Nothing in it waits for another process (the kernel's lookup and creation
    /// never wait on a stopped or slow task either), but for one case: a creator of the same
    /// key that made the key's link and has not yet committed its queue, which it does within
    /// microseconds of running (see [`SysvEmulation::wait_for_worker`]; a remover of the key's
    /// queue is never waited for: see `remove_id`); a creator found stopped then (or
    /// at work far longer) has its creation given up, and finds the key's queue once it runs
    /// again, as on the kernel a creator that came second would. An existing key is
    /// found from its link; a creation takes no lock (see `registry`), and its key's link, made
    /// at once or not at all, decides between creators of one key.
    pub fn msgget(&self, key: key_t, flags: c_int) -> Result<c_int> {
        until_not_given_up(|| self.find_or_create(key, flags))
    }

    /// One attempt of [`SysvEmulation::msgget`]: None when another creator of the key gave this
    /// one's creation up before it committed (see [`Queue::give_up`]), for the caller to look
    /// the key up again.
    fn find_or_create(&self, key: key_t, flags: c_int) -> Result<Option<c_int>> {
        if key != libc::IPC_PRIVATE {
            if let Some(found) = self.by_key(key)? {
                return existing_key(&found, flags).map(Some);
            }
            if flags & libc::IPC_CREAT == 0 {
                return Err(Errno::ENOENT);
            }
        }
        // The thread's cached credentials: current unless changed past the library (`caller`).
        let who = ident(Freshness::Cached);
        let mut registry = self.registry_for_creation()?;
        let _creating = registry.begin_work();
        // A sweep is best effort: a lock word that names no thread makes the registry be
        // rebuilt, by a caller who may (for others the sweep waits for one who may).
        if registry.sweep_if_due(self.dir, |name| self.leftover(name), |id| self.queue_gone(id)) == Err(Errno::EIO) {
            if let Ok(renewed) = self.registry_renewed() {
                registry = renewed;
                let _ = registry.sweep_if_due(self.dir, |name| self.leftover(name), |id| self.queue_gone(id));
            }
        }
        let mode = flags as u32 & 0o777;
        let limits = self.limits();
        // A file already under the chosen id's name: a leftover (removed if this caller may),
        // or a spare this process keeps there (given up), or a queue another creator is making
        // there (it chose the index before the cursor went round), or another process's spare
        // (see `queue::spare`), or a live queue whose record another user cleared, or a file
        // another user put there ahead of time — then the id is skipped (the allocator has
        // moved on). Such files can fill many indices in a row (processes stopped while they
        // keep spares, or make queues, near the cursor): up to a whole shortest cycle of them
        // is skipped ([`INDICES_SKIPPED`]; beyond, ENOSPC, as a table full to this caller).
        let mut attempts = 0;
        let (slot, q, name) = loop {
            let slot = registry.allocate(limits.msgmni as u32)?;
            let init = queue::Init { id: slot.id, key, mode, uid: who.euid, gid: who.egid, qbytes: limits.msgmnb as u64, ctime: now_sec() };
            let name = file_name(slot.id);
            let mut created = self.reuse_spare(&name, &init).unwrap_or_else(|| Queue::create(self.dir, &name, &init));
            if created.as_ref().err() == Some(&Errno::EEXIST) && spare::give_up(self.ns, &name) {
                created = Queue::create(self.dir, &name, &init);
            }
            if created.as_ref().err() == Some(&Errno::EEXIST) && self.leftover(&name) {
                if let Ok(c) = std::ffi::CString::new(name.as_str()) {
                    if crate::os::sys::unlinkat(self.dir, &c, 0) == 0 {
                        created = Queue::create(self.dir, &name, &init);
                    }
                }
            }
            match created {
                Ok(q) => break (slot, q, name),
                Err(Errno::EEXIST) if attempts < INDICES_SKIPPED => attempts += 1,
                Err(Errno::EEXIST | Errno::ENOSPC | Errno::EDQUOT) => return Err(Errno::ENOSPC),
                Err(_) => return Err(Errno::ENOMEM),
            }
        };
        // Not yet live: dropped unpublished, it is removed (`withdraw`). The file is this
        // thread's to remove while it lives, even once its creation was given up (see
        // `Queue::creator`): no sweep takes it, and no other creator makes a file of its name.
        let withdraw = |name: &str| {
            if let Ok(c) = std::ffi::CString::new(name) {
                crate::os::sys::unlinkat(self.dir, &c, 0);
            }
        };
        if key != libc::IPC_PRIVATE {
            let mut rounds = 0;
            loop {
                rounds += 1;
                let taken = match keys::create(self.dir, key, 0, slot.id) {
                    Ok(()) => break,
                    Err(Errno::EEXIST) if rounds <= 64 => self.key_taken(registry, key, slot.id, &|| {}),
                    Err(Errno::EEXIST) => Err(Errno::EAGAIN),
                    Err(e) => Err(link_error(e)),
                };
                match taken {
                    // The first slot may be free again (its link was stale, or its creator
                    // left): once more.
                    Ok(KeyTaken::Again) => {}
                    // Linked in a later slot, every one before it stale.
                    Ok(KeyTaken::Linked) => break,
                    Ok(KeyTaken::Found(found)) => {
                        withdraw(&name);
                        return existing_key(&found, flags).map(Some);
                    }
                    Err(e) => {
                        withdraw(&name);
                        return Err(e);
                    }
                }
            }
        }
        // Counted only now, one creator at a time: of creators racing at the limit, those
        // beyond it withdraw. The key's link this one made is left stale (its creation given
        // up), for the next creator of the key to remove under the key's lock: another
        // creator may have given it up already and be replacing it, so taking it away here by
        // its name could take that creator's new link.
        if !registry.admit(limits.msgmni as u32) {
            if key != libc::IPC_PRIVATE {
                q.give_up();
                registry.sweep_soon();
            }
            withdraw(&name);
            return Err(Errno::ENOSPC);
        }
        // The display record first, then the commit point: live, found by its id and key —
        // unless another creator of the key gave this creation up first (this thread was
        // stopped): then the record released (which uncounts it), the segment withdrawn, and
        // the key looked up again. In this order a creator killed between the two leaves a
        // record whose queue is not live, which the sweep releases (`queue_gone`); in the
        // other, it left a live queue with no record, which `MSG_STAT` and `ipcs` never showed.
        registry.commit(slot, &snapshot(q.header()));
        if !q.commit() {
            registry.released(slot.id);
            withdraw(&name);
            return Ok(None);
        }
        // The creator is likely to use it next: keep the mapping.
        let (ns, q, generation) = (self.ns_key(), Arc::new(q), self.id_generation());
        ATTACHED.with(|m| {
            let m = m.get_or_insert_with(Attached::default);
            m.insert(ns, slot.idx, q, generation);
            if key != libc::IPC_PRIVATE {
                m.keys.insert((ns, key), slot.id);
            }
        });
        Ok(Some(slot.id))
    }

    /// Queue `init` made from a spare segment of this process (see `queue::spare`) under the
    /// segment name `name`, or None when it has no spare for it (or the one it had failed: the
    /// caller makes a new file).
    fn reuse_spare(&self, name: &str, init: &queue::Init) -> Option<Result<Queue>> {
        let fmode = queue::file_mode(init.mode, init.uid, init.gid, init.uid, init.gid);
        let spare::Taken { queue, name: spare_name } = spare::take(self.ns, init.uid, init.gid, fmode)?;
        match queue.reuse(&spare_name, name, init) {
            queue::Reused::Queue(q) => {
                spare::settle(self.ns);
                Some(Ok(q))
            }
            queue::Reused::NameTaken(queue) => {
                spare::put_back(self.ns, spare::Taken { queue, name: spare_name });
                Some(Err(Errno::EEXIST))
            }
            queue::Reused::Spent => {
                spare::discard(self.dir, &spare_name);
                spare::settle(self.ns);
                None
            }
        }
    }

    /// A creator of queue `id` found `key`'s first link in its way: the live queue one of the
    /// key's links names ([`KeyTaken::Found`]), or [`KeyTaken::Again`] once the first slot
    /// may be free — the link named a queue another creator was making, which is now live or
    /// left, or a queue removed since, or it was stale and is removed. Stale links (their
    /// queues' creators killed half-way, left by removers that may not remove them, or planted)
    /// are removed under the key's lock (`Registry::lock_key`), the last slot first (see
    /// `keys`), so that two creators replacing one never remove each other's new link. Where
    /// the last one is another user's, which the caller may not remove, `id` is linked in the
    /// next slot, under the lock ([`KeyTaken::Linked`]), and a sweep is asked for; with every
    /// slot taken so, EACCES.
    ///
    /// The key's links are read and their queues looked at once before the lock and once under
    /// it ([`SysvEmulation::key_links`]), so that the locked part is short: the links read, the
    /// queue each names looked for, and the one `unlinkat` or `symlinkat`. A holder stopped
    /// inside keeps the other replacers of the keys that share its lock waiting until they
    /// found it stopped at two looks (about 1.5 ms: `lock::StopLooks`), and then loses the lock
    /// to one of them.
    ///
    /// `before_change` runs under the lock just before the holder looks that it still holds
    /// it (for the tests, which take the lock over there).
    fn key_taken(&self, registry: &Registry, key: key_t, id: c_int, before_change: &dyn Fn()) -> Result<KeyTaken> {
        let seen = self.key_links(key)?;
        if let Some(found) = seen.found {
            return Ok(KeyTaken::Found(found));
        }
        if seen.worker.is_some() {
            self.wait_for_worker(key)?;
            return Ok(KeyTaken::Again);
        }
        // (EIO: the registry's mapping was poisoned, and is opened again.)
        let (registry, locked) = match registry.lock_key(key) {
            Err(Errno::EIO) => {
                let renewed = self.registry_renewed()?;
                (renewed, renewed.lock_key(key)?)
            }
            other => (registry, other?),
        };
        let now = self.key_links(key)?;
        if let Some(found) = now.found {
            return Ok(KeyTaken::Found(found));
        }
        if now.worker.is_some() || now.present == 0 {
            return Ok(KeyTaken::Again);
        }
        before_change();
        // Looked at just before each change: a creator that found this thread stopped took
        // the lock over, and makes the change itself (see `lock::takeover`).
        if !locked.holds() || keys::remove(self.dir, key, now.present - 1) {
            return Ok(KeyTaken::Again);
        }
        registry.sweep_soon();
        if now.present == keys::SLOTS {
            return Err(Errno::EACCES);
        }
        if !locked.holds() {
            return Ok(KeyTaken::Again);
        }
        match keys::create(self.dir, key, now.present, id) {
            Ok(()) => Ok(KeyTaken::Linked),
            Err(Errno::EEXIST) => Ok(KeyTaken::Again),
            Err(e) => Err(link_error(e)),
        }
    }

    /// What `key`'s present links name, each link read and the queue it names mapped once:
    /// the key's live queue as [`SysvEmulation::by_key`] would find it (but looked for in
    /// the files only, past this process's caches: for a creator the key's link is in the way
    /// of), the first queue still being made with its creating thread (see
    /// [`SysvEmulation::worker_of_key`]), and how many links are present. A link naming
    /// anything else is stale.
    fn key_links(&self, key: key_t) -> Result<KeyLinks> {
        let mut links = KeyLinks { found: None, worker: None, present: 0 };
        for id in keys::links(self.dir, key) {
            let id = id?;
            links.present += 1;
            if links.found.is_some() {
                continue;
            }
            match Queue::attach(self.dir, &file_name(id), Some(id)) {
                // A live queue that records the key is the key's, unless its removal was
                // abandoned (its remover killed after it took the key's link away), which is
                // finished now, as `find` does at sight.
                Ok(q) if q.live() => {
                    let keys_own = q.entry().key.load(Ordering::Relaxed) == key;
                    if keys_own && !(q.removal_claimed() && self.finish_abandoned_removal(&q)) {
                        links.found = Some(Keyed::Open(Arc::new(q)));
                    }
                }
                Ok(q) => {
                    if links.worker.is_none() {
                        links.worker = q.creator().filter(|_| !q.given_up()).map(|tid| (q, tid));
                    }
                }
                // Taken on the link's word: only the queue's creator or root can have made or
                // left that link.
                Err(Errno::EACCES) => links.found = Some(Keyed::Closed(id)),
                // Gone, or another queue's file now: stale.
                Err(Errno::EIDRM | Errno::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(links)
    }

    /// The thread making a queue one of `key`'s links names, while it does (see
    /// `Queue::creator`), with that queue: the link is then that thread's to keep (by its
    /// commit), within microseconds of its running. A creation given up (`Queue::give_up`) is
    /// no one's work: its link is stale. (A remover takes its queue's link away before its
    /// commit, so a link naming a removed queue is stale too: see `remove_id`.)
    fn worker_of_key(&self, key: key_t) -> Option<(Queue, i32)> {
        self.key_links(key).ok()?.worker
    }

    /// Waits while `key`'s link names a queue still being created: its creator commits it
    /// within microseconds of running. Until that thread is waited out (`waited_out`); its
    /// creation is then given up (`Queue::give_up`): its link is stale, and the caller goes on
    /// to replace it.
    fn wait_for_worker(&self, key: key_t) -> Result<()> {
        let start = crate::os::clock::monotonic_ns();
        let mut looks = lock::StopLooks::counting_gone(start);
        loop {
            let Some((q, tid)) = self.worker_of_key(key) else { return Ok(()) };
            if waited_out(&mut looks, start, tid) {
                // Given up, or committed meanwhile: either way the key is looked up again.
                q.give_up();
                return Ok(());
            }
            looks.pause();
        }
    }

    // ----- waiting -----

    /// Sleeps until waiter `w` is served, a signal handler runs, or the queue is found removed
    /// (the engine's sleep loop, with the System V rules: no deadline, EINTR after any handler,
    /// a look every few seconds whether the queue still exists). Spins first when someone else
    /// recently used the queue from another CPU (one queue often carries both directions, so
    /// "the last sender" may well be the waiter itself).
    ///
    /// A receiver sleeps no longer than the queue's next due time: then it sends what has
    /// fallen due (perhaps to itself) and goes on waiting. A new scheduled message that falls
    /// due earlier rouses it to look again (`Locked::schedule`).
    fn wait(&self, q: &Queue, entry: &Entry, w: u32, blocked: Blocked) -> Slept {
        let how = Sleep {
            word: q.wake_word(w),
            spin_avg_ns: &q.header().spin.spin_avg_ns,
            peer_cpu: q.peer_cpu(),
            deadline: None,
            restart: Restart::Never,
            liveness_poll: Some(sleep::LIVENESS_POLL_SECONDS),
        };
        sleep::until_served(&how, &Watch { emu: self, q, entry, blocked })
    }

    /// The lock-wait of a blocking call on `q` (None: `flags` has IPC_NOWAIT): as long as the
    /// holder lives, while the queue does, its permissions stay and no handler interrupts (see
    /// [`LockWait::Blocking`]).
    fn blocking_wait(q: &Queue, flags: c_int) -> Option<LockWait> {
        (flags & libc::IPC_NOWAIT == 0)
            .then(|| LockWait::Blocking(lock::BlockingWait { removed: &q.header().removed, changed: &q.entry().perm_seq, restart: Restart::Never }))
    }

    // ----- msgsnd -----

    /// `msgsnd`, in the kernel's order of checks.
    ///
    /// Its locks first wait the bounded default; a lock's EAGAIN is then IPC_NOWAIT's answer,
    /// and sends a blocking call round again waiting for the holder (see `lock::LongerWait`).
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn msgsnd(&self, id: c_int, msgp: *const c_void, msgsz: usize, flags: c_int) -> Result<c_int> {
        // SAFETY: `msgp` is the program's msgsnd argument, as msgsnd_type requires.
        let mtype = unsafe { front::msgsnd_type(id, msgp, msgsz, self.limits.msgmax() as usize) }?;
        let text = front::msgsnd_text(msgp, msgsz)?;
        let q = self.find(id)?;
        let entry = q.entry();
        // Room as the statistics show it, without the lock (a hint for the spin below).
        let fits_now = || {
            let s = stats(q.header());
            msg_fits_inqueue(msgsz as u64, s.qnum, s.cbytes, s.qbytes)
        };
        let mut spun = flags & libc::IPC_NOWAIT != 0;
        let mut longer = lock::LongerWait::default();
        let may_wait = || Self::blocking_wait(&q, flags);
        loop {
            if !self.permitted(&perms(q.header()), S_IWUGO) {
                return Err(Errno::EACCES);
            }
            let sent = match q.express_send(entry, mtype, text, msgsz, caller::pid(), coarse_realtime_ns()) {
                Ok(sent) => sent,
                Err(e) if longer.go_round(e, may_wait) => continue,
                // IPC_SET changed the permissions while it waited for the lock: it looks again.
                Err(Errno::EAGAIN) if flags & libc::IPC_NOWAIT == 0 => continue,
                // A handler ran while it waited for the lock: EINTR only if it would block.
                Err(Errno::EINTR) if longer.go_round_after_handler(fits_now()) => continue,
                Err(e) => return Err(e),
            };
            match sent {
                Express::Done(()) => return Ok(0),
                Express::Refused if flags & libc::IPC_NOWAIT != 0 => return Err(Errno::EAGAIN),
                Express::Refused if longer.interrupted() => return Err(Errno::EINTR),
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
                let s = stats(q.header());
                if !msg_fits_inqueue(msgsz as u64, s.qnum, s.cbytes, s.qbytes) {
                    return Err(if q.live() { Errno::EAGAIN } else { Errno::EIDRM });
                }
            }
            if !spun && !fits_now() {
                // Visibly full: room usually comes within microseconds when the receiver runs
                // on another CPU; wait for it before taking the lock and registering.
                spun = true;
                spin::spin_until(&q.header().spin.spin_avg_ns, q.peer_cpu(), fits_now);
            }
            let mut locked = match q.lock(entry) {
                Ok(locked) => locked,
                Err(e) if longer.go_round(e, may_wait) => continue,
                // IPC_SET changed the permissions while it waited for the lock: it looks again.
                Err(Errno::EAGAIN) if flags & libc::IPC_NOWAIT == 0 => continue,
                // A handler ran while it waited for the lock: EINTR only if it would block.
                Err(Errno::EINTR) if longer.go_round_after_handler(fits_now()) => continue,
                Err(e) => return Err(e),
            };
            if !locked.valid() {
                return Err(Errno::EIDRM);
            }
            locked.promote_if_due();
            if locked.fits(msgsz as u64) {
                locked.send(mtype, text, msgsz, caller::pid(), coarse_realtime_ns())?;
                return Ok(0);
            }
            if flags & libc::IPC_NOWAIT != 0 {
                return Err(Errno::EAGAIN);
            }
            if longer.interrupted() {
                return Err(Errno::EINTR);
            }
            let w = locked.register_sender(mtype, text, msgsz)?;
            drop(locked);
            let waited = self.wait(&q, entry, w, Blocked::Sender(msgsz as u64));
            let Some(mut locked) = q.lock_to_collect(entry, w, waited == Slept::Served)? else {
                return Err(left_unserved(&q, waited));
            };
            let finished = locked.finish(w, std::ptr::null_mut(), 0);
            let valid = locked.valid();
            drop(locked);
            match (finished, waited) {
                (Finished::Failed(e), _) => return Err(e),
                // Sent for it (even if a handler ran meanwhile: the message is in).
                (Finished::Sent, _) | (Finished::Handed(_), _) => return Ok(0),
                // Woken to look again, but a handler ran: the kernel checks for a pending
                // signal before looking again.
                (Finished::Retry, Slept::Interrupted) => return Err(Errno::EINTR),
                (Finished::Retry, _) => continue,
                (Finished::NotServed, _) if !valid => return Err(Errno::EIDRM),
                (Finished::NotServed, Slept::Interrupted) => return Err(Errno::EINTR),
                (Finished::NotServed, _) => continue,
            }
        }
    }

    // ----- msgrcv -----

    /// `msgrcv`, in the kernel's order of checks.
    ///
    /// A busy lock as in [`Self::msgsnd`], except that with IPC_NOWAIT its EAGAIN (which msgrcv
    /// never gives otherwise) becomes msgrcv's "would block", ENOMSG (`busy_is_enomsg`).
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn msgrcv(&self, id: c_int, msgp: *mut c_void, bufsz: usize, msgtyp: c_long, flags: c_int) -> Result<isize> {
        let copy_limit = front::msgrcv_checks(id, msgp, bufsz, flags, self.limits.msgmax() as usize)?;
        let copy = flags & MSG_COPY != 0;
        let (mode, typ) = convert_mode(msgtyp, flags);
        let noerror = flags & libc::MSG_NOERROR != 0;
        let dst = msgp as *mut u8;
        let q = self.find(id)?;
        let entry = q.entry();
        // Checked before the lock so the critical section need not (a buffer not wholly
        // writable is checked again, for the message's own length, as the kernel does); not
        // before an empty queue's ENOMSG, which never looks at the buffer.
        let mut writable_checked = None;
        let mut writable = || *writable_checked.get_or_insert_with(|| if copy { 0 } else { crate::os::usermem::writable_prefix(dst, 8 + copy_limit) });
        let mut spun = flags & libc::IPC_NOWAIT != 0;
        let mut longer = lock::LongerWait::default();
        let may_wait = || Self::blocking_wait(&q, flags);
        loop {
            if !self.permitted(&perms(q.header()), S_IRUGO) {
                return Err(Errno::EACCES);
            }
            // An empty queue and IPC_NOWAIT: answer from the statistics, without the lock — unless
            // a scheduled message has fallen due (read first: see `Locked::publish_schedule`).
            if flags & libc::IPC_NOWAIT != 0 && !scheduled_due(entry) && queued(q.header()) == 0 {
                return Err(if q.live() { Errno::ENOMSG } else { Errno::EIDRM });
            }
            if !copy {
                let received = match q.express_receive(entry, mode, typ, dst, bufsz, noerror, writable(), caller::pid(), coarse_realtime_ns()) {
                    Ok(received) => received,
                    Err(e) if longer.go_round(e, may_wait) => continue,
                    // IPC_SET changed the permissions while it waited for the lock: it looks again.
                    Err(Errno::EAGAIN) if flags & libc::IPC_NOWAIT == 0 => continue,
                    // A handler ran while it waited for the lock: EINTR only if it would block
                    // (a queue holding messages, perhaps none of its type, is looked at again).
                    Err(Errno::EINTR) if longer.go_round_after_handler(queued(q.header()) != 0 || scheduled_due(entry)) => continue,
                    Err(e) => return Err(busy_is_enomsg(e)),
                };
                match received {
                    Express::Done(got) => return if got.copied { Ok(got.len as isize) } else { Err(Errno::EFAULT) },
                    Express::Refused if flags & libc::IPC_NOWAIT != 0 => return Err(Errno::ENOMSG),
                    Express::Refused if longer.interrupted() => return Err(Errno::EINTR),
                    Express::Refused if !spun => {
                        spun = true;
                        // Empty: wait for a message; nothing of this receiver's type: for the
                        // next message sent.
                        let sent = q.ring_sent(entry);
                        let ready = || {
                            if mode == queue::search::ANY {
                                q.ring_message_ready(entry).unwrap_or_else(|| queued(q.header()) != 0)
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
            if !spun && queued(q.header()) == 0 && !scheduled_due(entry) {
                // Visibly empty: wait for a message before taking the lock and registering
                // (see msgsnd).
                spun = true;
                spin::spin_until(&q.header().spin.spin_avg_ns, q.peer_cpu(), || queued(q.header()) != 0);
            }
            let mut locked = match q.lock(entry) {
                Ok(locked) => locked,
                Err(e) if longer.go_round(e, may_wait) => continue,
                // IPC_SET changed the permissions while it waited for the lock: it looks again.
                Err(Errno::EAGAIN) if flags & libc::IPC_NOWAIT == 0 => continue,
                // A handler ran while it waited for the lock: EINTR only if it would block (a
                // queue holding messages, perhaps none of its type, is looked at again).
                Err(Errno::EINTR) if longer.go_round_after_handler(queued(q.header()) != 0 || scheduled_due(entry)) => continue,
                Err(e) => return Err(busy_is_enomsg(e)),
            };
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
                    locked.take(r, dst, bufsz, caller::pid(), coarse_realtime_ns())?
                };
                return if got.copied { Ok(got.len as isize) } else { Err(Errno::EFAULT) };
            }
            if flags & libc::IPC_NOWAIT != 0 {
                return Err(Errno::ENOMSG);
            }
            if longer.interrupted() {
                return Err(Errno::EINTR);
            }
            let maxsize = if noerror { i32::MAX as u64 } else { bufsz as u64 };
            let w = locked.register_receiver(typ, mode, maxsize)?;
            drop(locked);
            let waited = self.wait(&q, entry, w, Blocked::Receiver);
            let Some(mut locked) = q.lock_to_collect(entry, w, waited == Slept::Served)? else {
                return Err(left_unserved(&q, waited));
            };
            let finished = locked.finish(w, dst, bufsz);
            let valid = locked.valid();
            drop(locked);
            match (finished, waited) {
                // A message handed over wins over a signal, as in the kernel.
                (Finished::Handed(got), _) => return if got.copied { Ok(got.len as isize) } else { Err(Errno::EFAULT) },
                (Finished::Failed(e), _) => return Err(e),
                (Finished::Sent, _) => return Err(Errno::EIO),
                (Finished::Retry, Slept::Interrupted) => return Err(Errno::EINTR),
                (Finished::Retry, _) => continue,
                (Finished::NotServed, _) if !valid => return Err(Errno::EIDRM),
                (Finished::NotServed, Slept::Interrupted) => return Err(Errno::EINTR),
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
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn msgsnd_at(&self, id: c_int, msgp: *const c_void, msgsz: usize, flags: c_int, due: *const libc::timespec, handle: *mut u64) -> Result<c_int> {
        // SAFETY: `msgp` is the program's mqshim_msgsnd_at argument, as msgsnd_type requires.
        let mtype = unsafe { front::msgsnd_type(id, msgp, msgsz, self.limits.msgmax() as usize) }?;
        if due.is_null() {
            return Err(Errno::EINVAL);
        }
        // SAFETY: `due` is the program's mqshim_msgsnd_at argument, as checked_read requires.
        let due = unsafe { checked_read(due) }.ok_or(Errno::EFAULT)?;
        if due.tv_sec < 0 || !(0..1_000_000_000).contains(&due.tv_nsec) || flags & !libc::IPC_NOWAIT != 0 {
            return Err(Errno::EINVAL);
        }
        let text = front::msgsnd_text(msgp, msgsz)?;
        let q = self.find(id)?;
        let entry = q.entry();
        if !self.permitted(&perms(q.header()), S_IWUGO) {
            return Err(Errno::EACCES);
        }
        if !probe_write(handle.cast(), std::mem::size_of::<u64>()) {
            return Err(Errno::EFAULT);
        }
        let due_ns = due.tv_sec as u64 * 1_000_000_000 + due.tv_nsec as u64;
        let mut locked = q.lock(entry)?;
        if !locked.valid() {
            return Err(Errno::EIDRM);
        }
        let h = locked.schedule(mtype, text, msgsz, due_ns, caller::pid())?;
        drop(locked);
        // SAFETY: `handle` is the program's mqshim_msgsnd_at argument, as checked_write requires.
        if !unsafe { checked_write(handle, &h) } {
            return Err(Errno::EFAULT);
        }
        Ok(0)
    }

    /// `mqshim_msg_cancel`: cancels the pending scheduled message `handle` of queue `id`
    /// (EINVAL for a stale id, EACCES without write permission, ENOENT when it is not pending
    /// or already due).
    pub fn msg_cancel(&self, id: c_int, handle: u64) -> Result<c_int> {
        let q = self.find(id)?;
        let entry = q.entry();
        if !self.permitted(&perms(q.header()), S_IWUGO) {
            return Err(Errno::EACCES);
        }
        let mut locked = q.lock(entry)?;
        if !locked.valid() {
            return Err(Errno::EIDRM);
        }
        locked.cancel(handle)?;
        Ok(0)
    }

    /// `mqshim peek -q ID`: what queue `id` holds (EINVAL for an id that names no queue, EACCES
    /// without read permission, as msgrcv asks), without changing anything (see
    /// `queue::Locked::snapshot`): due scheduled messages are left for the next operation.
    pub fn peek(&self, id: c_int, preview: usize) -> Result<crate::emu::peek::QueueSnapshot> {
        let q = self.find(id)?;
        let entry = q.entry();
        if !self.permitted(&perms(q.header()), S_IRUGO) {
            return Err(Errno::EACCES);
        }
        let mut locked = q.lock(entry)?;
        if !locked.valid() {
            return Err(Errno::EIDRM);
        }
        locked.snapshot(preview)
    }

    /// Sends the scheduled messages of queue `q` that have fallen due (for a call that reads
    /// its entry only).
    fn send_due(&self, q: &Queue) {
        if let Ok(mut locked) = q.lock(q.entry()) {
            if locked.valid() {
                locked.promote_if_due();
            }
        }
    }

    // ----- msgctl -----
}

/// The live queue of a key, as [`SysvEmulation::by_key`] finds it.
enum Keyed {
    /// Mapped: its entry says who may do what.
    Open(Arc<Queue>),
    /// Its segment refuses the caller: its mode grants the caller's class nothing.
    Closed(c_int),
}

/// What a key's links name (see [`SysvEmulation::key_links`]).
struct KeyLinks {
    /// The key's live queue.
    found: Option<Keyed>,
    /// A queue one of them names that is still being made, and the thread making it.
    worker: Option<(Queue, i32)>,
    /// How many of the key's link slots are taken (see `keys`).
    present: u32,
}

/// What a creator that found its key's first link in its way is to do (see
/// [`SysvEmulation::key_taken`]).
enum KeyTaken {
    /// Take the key's live queue.
    Found(Keyed),
    /// Try the first slot again.
    Again,
    /// Nothing: its queue is linked (in a later slot).
    Linked,
}

/// How many indices in a row a creation skips because a file is in the way of each (see
/// `find_or_create`): the allocator's shortest cycle ([`layout::IPC_MIN_CYCLE`]). Before, 8:
/// processes stopped at random while they created and removed queues of a few keys (each
/// keeping up to 4 spares in place) made a run of 8 now and then, and `msgget` failed with
/// ENOMEM (4 in 2 minutes of 6 such processes).
const INDICES_SKIPPED: u32 = layout::IPC_MIN_CYCLE;

/// Whether thread `tid`, at work on a queue (creating it, or removing it) since `start`
/// (CLOCK_MONOTONIC ns), has been waited for long enough: until `looks` (begun at `start`)
/// found it stopped (SIGSTOP, a debugger) or gone at two looks, about 1.5 ms, and otherwise
/// `lock::BOUND_NS` + `lock::PREEMPTED_HOLDER_NS` (one asleep in the kernel is in the middle of
/// a file operation, which on a loaded machine or a disk can take longer than 20 ms).
fn waited_out(looks: &mut lock::StopLooks, start: u64, tid: i32) -> bool {
    let now = crate::os::clock::monotonic_ns();
    looks.stopped_twice(now, tid) || now - start >= lock::BOUND_NS + lock::PREEMPTED_HOLDER_NS
}

/// Makes `attempt` (a creation, or the lookup that finds the key's queue) again while another
/// creator gave its creation up (None). That happens only after the creating thread was found
/// stopped at two looks (or at work far longer than a creation takes), so a second time in one call is
/// already rare; many times is a user who may write the segment giving every attempt up: EIO,
/// as for a segment it damaged, rather than a loop it could keep going for ever.
fn until_not_given_up(mut attempt: impl FnMut() -> Result<Option<c_int>>) -> Result<c_int> {
    const ATTEMPTS: u32 = 8;
    for _ in 0..ATTEMPTS {
        if let Some(id) = attempt()? {
            return Ok(id);
        }
    }
    Err(Errno::EIO)
}

/// The errno of `msgget` for a key link `symlinkat` could not make (tmpfs full: ENOSPC).
fn link_error(e: Errno) -> Errno {
    if matches!(e, Errno::ENOSPC | Errno::EDQUOT) {
        Errno::ENOSPC
    } else {
        Errno::ENOMEM
    }
}

/// `msgget` of the existing queue `found`: EEXIST for IPC_CREAT|IPC_EXCL, else its id if the
/// caller has the access `flags` asks for (none at all, for a queue that refuses it any). No
/// credentials are read when every class has the access, and the thread's cached ones serve
/// otherwise (`caller::may_now`): the kernel's lookup of a key costs one system call, and four
/// more here would make it six times slower.
fn existing_key(found: &Keyed, flags: c_int) -> Result<c_int> {
    if flags & libc::IPC_CREAT != 0 && flags & libc::IPC_EXCL != 0 {
        return Err(Errno::EEXIST);
    }
    let permitted = match found {
        Keyed::Open(q) => {
            let perm = perms(q.header());
            caller::may_now(perm.mode, flags, |who| ipcperms(&perm, who, flags))
        }
        // Its mode grants the caller's class nothing: only a request for nothing, or
        // CAP_IPC_OWNER, passes.
        Keyed::Closed(_) => caller::may_now(0, flags, |who| who.has(cap::IPC_OWNER)),
    };
    match found {
        _ if !permitted => Err(Errno::EACCES),
        Keyed::Open(q) => Ok(q.id),
        Keyed::Closed(id) => Ok(*id),
    }
}

/// A lock held past its bound (EAGAIN, see `engine::lock`) is msgrcv's "would block" with
/// IPC_NOWAIT: ENOMSG. (msgrcv never fails with EAGAIN otherwise.)
#[cold]
fn busy_is_enomsg(e: Errno) -> Errno {
    if e == Errno::EAGAIN {
        Errno::ENOMSG
    } else {
        e
    }
}

#[cfg(test)]
mod tests;
