//! One emulated System V queue in shared memory: its messages, the index that selects them by
//! type, and its blocked senders and receivers — the kernel's `struct msg_queue`.
//!
//! Storage. The segment file is sparse and grows: a fixed part (header, waiter records) and a
//! block area carved from the bottom up into blocks of 64-byte units. Each block has one size
//! class for life (1..8 units, then four steps per doubling: at most 25% waste); a message is
//! one block holding its 64-byte header and its text, so sending and receiving copy the text
//! once, contiguously. Freed blocks go to their class's free list. When no block fits, the file
//! is extended (at least doubling the area) and every process maps the larger file when it next
//! finds the area's top beyond its mapping (old mappings stay valid until the queue is
//! detached, so a pointer taken before a remap never dangles). The kernel bounds a queue by
//! `msg_qbytes` bytes *and* messages, so the area stays within a few times `msg_qbytes`.
//!
//! Selection by type. Messages are in one FIFO (doubly linked) and each type's messages in a
//! FIFO of their own; one type node per type present sits in two treaps: by type (`msgtyp > 0`
//! finds its type, `msgtyp < 0` takes the lowest type) and by the sequence number of each
//! type's oldest message (MSG_EXCEPT takes the oldest, or the second oldest when the oldest is
//! of the excluded type). Every receive is O(log types), however many messages are queued;
//! only MSG_COPY's ordinal walks the FIFO, as the kernel's does.
//!
//! Waiters. A blocked caller owns a waiter record (a robust "life" mutex it holds while
//! registered, a futex word, its criteria) linked into the receivers' or senders' FIFO list. A
//! sender gives a matching blocked receiver the message directly (the kernel's
//! `pipelined_send`), and wakes with E2BIG one whose buffer is too small. A blocked sender has
//! already written its message into a PENDING block: a receive that makes room sends it for
//! the sender (to a blocked receiver or into the queue), in FIFO order, and moves a sender whose
//! message still does not fit to the tail — the order the kernel's `ss_wakeup` and its woken
//! senders' retries produce, without the sender having to wake up and lock again. After an
//! IPC_SET (which bumps `perm_generation`) a sender that blocked before is only woken to look
//! again, since its permission may be gone, as in the kernel; IPC_SET also wakes every blocked
//! receiver to look again; IPC_RMID wakes everyone with EIDRM.
//!
//! Scheduled messages (`mqshim_msgsnd_at`). A scheduled message is written at once into a block
//! of its own, SCHEDULED, linked in due order (ties by handle); it is neither counted (`qnum`,
//! `cbytes`) nor seen by receivers until it is *sent*, as msgsnd would send it at that moment, by
//! the first operation that finds it due — every send, receive, IPC_STAT and cancel looks first
//! (the entry's `next_due_ns` tells them without the lock whether anything is due) —
//! or by a blocked receiver, which sleeps no longer than the next due time and then sends what
//! is due (to itself, when it matches): no polling loop. When it fits, it goes to the first
//! matching blocked receiver or into the queue; when it does not fit (`qbytes`), it stays
//! SCHEDULED and waits like a blocked sender: a receive that makes room sends it, after the
//! blocked senders. A message found due can no longer be cancelled. IPC_RMID discards the
//! pending ones; they belong to the queue, not to the process that scheduled them.
//!
//! Crash safety. Everything changes under the queue's robust lock, and the truth is one state
//! word per block and per waiter record: a send writes the whole message before the store that
//! makes it QUEUED (or HANDED to a receiver, or PENDING for its blocked sender, or SCHEDULED), a
//! receive copies it out before the store that frees it, and sending a scheduled message is the
//! one store that makes its block QUEUED or HANDED. Everything else — the FIFO, the type lists and
//! treaps, the free lists, the waiter lists and every count, and the statistics in the registry
//! entry — is derived, and rebuilt by [`Locked::repair`] when a process dies holding the lock:
//! blocks owned by dead waiters are freed, a blocked sender whose PENDING block a dead process
//! already committed is told it was sent (not asked to send again), a live receiver whose HANDED
//! block a dead process committed is served it, and the scheduled list is rebuilt from the
//! SCHEDULED blocks. So a message is never half-visible, never lost by a receiver that died
//! before taking it, and never received or sent twice.
//!
//! The express ring (`express`) holds the queue instead of the blocks while nothing needs
//! them; the entry's ring mode says which. Taking the queue lock folds the ring into
//! the blocks; releasing it hands the queue back to the ring when it can. In express mode no
//! block is QUEUED, so repair drops any it finds: the copies of a fold (or an unfold) that a
//! process did not live to commit (or finish).

use std::cell::UnsafeCell;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

mod express;
mod order;
mod repair;
mod schedule;
mod snapshot;
pub mod spare;
mod storage;
pub mod treap;
mod waiters;

pub use express::{init_ring, ring_counts, ring_mode_of, Express};

use super::caller::{coarse_realtime_ns, now_sec, realtime_ns, seconds_of_ns};
use super::entry::{self, write_stats};
use super::layout::{
    area_offset, block_state, class_for_message, class_units, ring_offset, waiter_state, waiters_offset, Entry, MsgBlock, QueueHeader, QueueState, TypeNode,
    Waiter, CLASSES, INITIAL_AREA_UNITS, QUEUE_HEADER_SIZE, QUEUE_SEGMENT, REMOVED, REMOVED_WAITERS_UNSERVED, RESULT_RETRY, RING_BYTES, SCHEDULED_MAX, UNIT,
    WAITER_SLOTS,
};
use crate::emu::engine::lock::{self, Acquired};
use crate::emu::engine::segment::{self, Mapping, Populated, SegmentError};
use crate::emu::engine::waiter::PendingWakes;
use crate::errno::{Errno, Result};
use crate::os::sys;
use spare::FileStamp;
use treap::{type_key, Corrupt, Nodes};

/// How a receiver selects (the kernel's `SEARCH_*`, plus MSG_COPY's ordinal).
pub mod search {
    pub const ANY: u32 = 1;
    pub const EQUAL: u32 = 2;
    pub const NOTEQUAL: u32 = 3;
    pub const LESSEQUAL: u32 = 4;
    pub const NUMBER: u32 = 5;
}

/// The kernel's `msg_fits_inqueue`: a queue holding `qnum` messages of `cbytes` bytes, limited
/// to `qbytes`, has room for `msgsz` more bytes *and* one more message.
pub fn msg_fits_inqueue(msgsz: u64, qnum: u64, cbytes: u64, qbytes: u64) -> bool {
    msgsz.wrapping_add(cbytes) <= qbytes && qnum.wrapping_add(1) <= qbytes
}

/// The kernel's `convert_mode`: the search mode and the type it compares with.
pub fn convert_mode(msgtyp: i64, flags: i32) -> (u32, i64) {
    if flags & MSG_COPY != 0 {
        return (search::NUMBER, msgtyp);
    }
    if msgtyp == 0 {
        return (search::ANY, 0);
    }
    if msgtyp < 0 {
        return (search::LESSEQUAL, if msgtyp == i64::MIN { i64::MAX } else { -msgtyp });
    }
    if flags & libc::MSG_EXCEPT != 0 {
        (search::NOTEQUAL, msgtyp)
    } else {
        (search::EQUAL, msgtyp)
    }
}

/// `MSG_COPY` (not in the libc crate for glibc targets).
pub const MSG_COPY: i32 = 0o40000;

/// The kernel's `testmsg`: whether a message of type `mtype` matches a receiver.
pub fn testmsg(mtype: i64, typ: i64, mode: u32) -> bool {
    match mode {
        search::ANY | search::NUMBER => true,
        search::LESSEQUAL => mtype <= typ,
        search::EQUAL => mtype == typ,
        search::NOTEQUAL => mtype != typ,
        _ => false,
    }
}

/// A segment file mode bit set by every IPC_SET (with the file mode it computes), which no
/// file mode of a queue's otherwise has: only the file's owner or root can set or clear it, so
/// a file without it never had a mode other than its creator gave it (see `spare`).
pub const MODE_WAS_SET: u32 = 0o100;

/// The segment file's mode for a queue's permissions: read-write for the file's owner always
/// (the queue's owner may always IPC_SET or remove it), and for the file's group and others
/// when the queue grants them any access — so a process the kernel would refuse every access
/// cannot even map the queue. When the queue's owner or group is not the file's (after an
/// IPC_SET), everyone gets the file and mqshim's own check is all there is.
pub fn file_mode(mode: u32, uid: u32, gid: u32, file_uid: u32, file_gid: u32) -> u32 {
    if uid != file_uid || gid != file_gid {
        return 0o666;
    }
    let class = |shift: u32| if (mode >> shift) & 0o7 != 0 { 0o6 << shift } else { 0 };
    0o600 | class(3) | class(0)
}

/// What a segment file's name gets while it is built aside, before its creator's tid: one
/// name per thread, since two threads of a process may build one index at once (creation takes
/// no lock: see `super::registry`).
const ASIDE: &str = ".new-";

/// A queue entry's `id1` once its creation was given up ([`Queue::give_up`]): never `id + 1`,
/// as ids are below 2^31.
const GIVEN_UP: u32 = u32::MAX;

/// Why a segment cannot be used.
fn corrupt() -> Errno {
    SegmentError::Corrupt.into()
}

fn openat(dir: c_int, name: &CString, flags: c_int, mode: u32) -> Result<c_int> {
    let fd = sys::openat(dir, name, flags | libc::O_CLOEXEC | libc::O_NOFOLLOW, mode);
    if fd < 0 {
        Err(Errno::last())
    } else {
        Ok(fd)
    }
}

fn close(fd: c_int) {
    crate::os::sys::close(fd);
}

/// Polls of the queue lock's word before sleeping for it: a queue's general path often waits
/// for a peer's critical section on another CPU (a search by type, a fold), longer than the
/// engine's default.
const QUEUE_LOCK_SPIN_TRIES: u32 = lock::SPIN_TRIES + 4000;

/// A mapped, validated queue segment.
pub struct Queue {
    /// The mapping made when attaching: the header and waiter records are always read here.
    first: Mapping,
    /// Later, larger mappings of the grown file (pushed only under the queue lock).
    extra: UnsafeCell<Vec<Mapping>>,
    /// The mapping the block area is reached through, and its length.
    area_base: AtomicPtr<u8>,
    area_len: AtomicUsize,
    /// The `sysv/` directory and the file's name there (to grow and remap it).
    dir: c_int,
    file: CString,
    /// Bytes of the block area, the express ring and the waiter records known (to this process)
    /// to have their pages: a write past them makes more first (`storage`, `express`,
    /// `waiters`), so a full filesystem is an errno, never a SIGBUS.
    reserved_area: Populated,
    reserved_ring: Populated,
    reserved_waiters: Populated,
    pub id: i32,
    /// The file as this process left it when it created the queue (None when another process
    /// did): a removal that finds it unchanged may keep the segment for reuse (`spare`).
    made: Option<FileStamp>,
}

// SAFETY: the mappings are shared memory reached through atomics or under the queue's
// process-shared lock; `extra` is only pushed to while that lock is held.
unsafe impl Send for Queue {}
// SAFETY: as above.
unsafe impl Sync for Queue {}

/// What a new queue records about itself.
pub struct Init {
    pub id: i32,
    pub key: i32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub qbytes: u64,
    pub ctime: i64,
}

/// A message copied out to a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes of text copied (the message's length, or the buffer's with MSG_NOERROR).
    pub len: usize,
    /// False when the caller's buffer was not writable (the message is lost: EFAULT).
    pub copied: bool,
}

/// How a waiter was served, collected by its thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// A message was handed over (and copied out).
    Handed(Received),
    /// A blocked sender's message was sent for it (into the queue or to a receiver).
    Sent,
    /// Look again (IPC_SET, or a sender whose message may now fit).
    Retry,
    /// Fail with this errno (E2BIG, EIDRM).
    Failed(Errno),
    /// Not served: the registration was withdrawn.
    NotServed,
}

/// Who has a live queue's removal ([`Locked::claim_removal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// This thread.
    Mine,
    /// Another thread, still there.
    By(i32),
}

/// What [`Queue::reuse`] made of a spare.
pub enum Reused {
    /// The new queue.
    Queue(Queue),
    /// The name it was to have is taken: still a spare.
    NameTaken(Queue),
    /// Spent (its file removed or never to be used again): the caller makes a new file.
    Spent,
}

/// Writes a segment's header `h` and its entry `e` for a queue created as `init`: the layout,
/// the identity and zero statistics. For a new file (whose size, owner and lock its creator
/// sets), and for a spare made a new queue (see [`Queue::reuse`]).
///
/// # Safety
/// `h` points to a mapped queue header whose plain fields no one else reads or writes now (the
/// file is not yet visible, or its lock is held), and `e` is its entry.
unsafe fn write_header(h: *mut QueueHeader, e: &Entry, init: &Init) {
    // SAFETY: the caller's contract.
    unsafe {
        (*h).waiters_offset = waiters_offset();
        (*h).waiter_slots = WAITER_SLOTS;
        (*h).area_offset = area_offset();
        (*h).ring_offset = ring_offset();
        (*h).ring_bytes = RING_BYTES;
        (*h).id = init.id;
        (*h).key = init.key;
        (*h).tree_seed = crate::os::random::mixed_u64() ^ init.id as u64;
        (*h).creator_tid = crate::os::ids::tid();
        (*h).spin.recent_cpus[0].store(u32::MAX, Ordering::Relaxed);
        (*h).spin.recent_cpus[1].store(u32::MAX, Ordering::Relaxed);
    }
    entry::write_perms_and_stats(e, |e| {
        e.key.store(init.key, Ordering::Relaxed);
        e.seq.store((init.id as u32) >> super::layout::IPCMNI_SHIFT, Ordering::Relaxed);
        e.mode.store(init.mode & 0o777, Ordering::Relaxed);
        e.uid.store(init.uid, Ordering::Relaxed);
        e.cuid.store(init.uid, Ordering::Relaxed);
        e.gid.store(init.gid, Ordering::Relaxed);
        e.cgid.store(init.gid, Ordering::Relaxed);
        e.qbytes.store(init.qbytes, Ordering::Relaxed);
        e.ctime.store(init.ctime, Ordering::Relaxed);
        for stat in [&e.qnum, &e.cbytes, &e.next_due_ns] {
            stat.store(0, Ordering::Relaxed);
        }
        for pid in [&e.lspid, &e.lrpid] {
            pid.store(0, Ordering::Relaxed);
        }
        for time in [&e.stime, &e.rtime] {
            time.store(0, Ordering::Relaxed);
        }
        e.scheduled.store(0, Ordering::Relaxed);
    });
}

impl Queue {
    /// Creates the segment file `file` under `dir` (it must not exist: EEXIST), its entry
    /// filled in but not live: [`Queue::commit`] makes it so, once the caller has made its key
    /// (if any) point at it. It is built aside (`<file>.new-<tid>`) and renamed into place
    /// published, so a file under a segment's name is always a whole segment: one found
    /// short or unpublished there was damaged by a user who may write it, not left by a
    /// creator that died (whose aside file the sweep removes: [`Queue::aside_leftover`]).
    pub fn create(dir: c_int, file: &str, init: &Init) -> Result<Queue> {
        let name = CString::new(file).map_err(|_| Errno::EINVAL)?;
        let tmp = CString::new(format!("{file}{ASIDE}{}", crate::os::ids::tid())).map_err(|_| Errno::EINVAL)?;
        let size = area_offset() + INITIAL_AREA_UNITS as u64 * UNIT;
        // No room is ENOMEM to msgget; a file in the way is EEXIST, which msgget resolves (an
        // aside file of this thread's tid is a dead namesake's: replaced).
        let (aside, map) = match segment::create_aside(dir, &tmp, size, waiters_offset(), Errno::ENOMEM) {
            Err(Errno::EEXIST) if sys::unlinkat(dir, &tmp, 0) == 0 => segment::create_aside(dir, &tmp, size, waiters_offset(), Errno::ENOMEM)?,
            made => made?,
        };
        let st = sys::stat_of(aside.fd())?;
        let h = map.base() as *mut QueueHeader;
        // SAFETY: the file is not yet visible to anyone (its entry is committed later); the
        // header is written through the raw pointer before any reference to it exists.
        unsafe {
            (*h).area_units.store(INITIAL_AREA_UNITS, Ordering::Relaxed);
            (*h).file_uid.store(st.st_uid, Ordering::Relaxed);
            (*h).file_gid.store(st.st_gid, Ordering::Relaxed);
            lock::init(&raw mut (*h).lock.mutex)?;
        }
        // SAFETY: the header (and so the entry) lies in the mapping; from here on the entry is
        // only read and written through atomics.
        let e = unsafe { &(*h).entry };
        // SAFETY: as for the header's fields above.
        unsafe { write_header(h, e, init) };
        init_ring(e)?;
        segment::publish(&map, &QUEUE_SEGMENT, QUEUE_HEADER_SIZE as u32);
        let fmode = file_mode(init.mode, init.uid, init.gid, st.st_uid, st.st_gid);
        // As its creator leaves it: a removal that finds it so may keep it for reuse (`spare`).
        let made = (sys::fchmod(aside.fd(), fmode) == 0).then(|| FileStamp::of(&st).with_mode(libc::S_IFREG | fmode));
        if sys::renameat2(dir, &tmp, dir, &name, libc::RENAME_NOREPLACE) != 0 {
            return Err(Errno::last());
        }
        aside.keep();
        let mut q = Queue::from_mapping(map, dir, name, Some(init.id))?;
        q.made = made;
        Ok(q)
    }

    /// Makes a removed queue's segment that this process kept under the name `spare` (see the
    /// `spare` module: the name it had) queue `init.id`, under `file` (renamed there, unless
    /// that is its name already): what [`Queue::create`] does, with a segment already made and
    /// mapped. Its state is cleared under its own lock, so a process that still
    /// maps the queue it was (and holds no waiter record in it: a spare never had one) finds,
    /// when it next locks it, a queue that is not the one it looked up, as with a new file.
    pub fn reuse(mut self, spare: &std::ffi::CStr, file: &str, init: &Init) -> Reused {
        let Ok(name) = CString::new(file) else { return Reused::Spent };
        let old = self.id;
        if old == init.id || self.poisoned() || self.header().area_units.load(Ordering::Relaxed) != INITIAL_AREA_UNITS {
            return Reused::Spent;
        }
        self.id = init.id;
        {
            let entry = self.entry();
            let Ok(mut locked) = self.lock(entry) else { return Reused::Spent };
            // Still a removed queue, as it was kept: not one that another process (a child
            // that forked with this process's spares, say) has made a queue again.
            if entry.id1.load(Ordering::Acquire) != 0 || !self.removed() {
                return Reused::Spent;
            }
            locked.clear_for_reuse();
            let h = self.header_ptr();
            // SAFETY: the queue lock is held: nobody else writes the header's plain fields, and
            // everyone reads the entry through atomics.
            unsafe { write_header(h, entry, init) };
            // No longer removed: a queue being created (its creator's tid is in the header).
            // Nothing is left for the lock's next holder, and no IPC_SET of the removed queue
            // is writing (one that died mid-write left its mark).
            self.header().remover_tid.store(0, Ordering::Release);
            self.header().recheck_pending.store(0, Ordering::Release);
            entry.perm_writer.store(0, Ordering::Release);
            self.header().removed.store(0, Ordering::Release);
        }
        segment::publish(&self.first, &QUEUE_SEGMENT, QUEUE_HEADER_SIZE as u32);
        if spare != name.as_c_str() && sys::renameat2(self.dir, spare, self.dir, &name, libc::RENAME_NOREPLACE) != 0 {
            if Errno::last() != Errno::EEXIST {
                return Reused::Spent;
            }
            // A spare again, for another index.
            self.header().removed.store(REMOVED, Ordering::Release);
            return Reused::NameTaken(self);
        }
        // Its clearing did not fault (a user its mode lets write it may have truncated it
        // meanwhile, as it may truncate any queue it may write): else withdrawn, and the caller
        // makes a new file.
        if self.poisoned() {
            sys::unlinkat(self.dir, &name, 0);
            return Reused::Spent;
        }
        self.header().keeper_pid.store(0, Ordering::Release);
        self.file = name;
        Reused::Queue(self)
    }

    /// Whether `file` is a segment a creator was building aside when it died (its thread is
    /// gone), or a spare of a process that is gone (see `spare`).
    pub fn aside_leftover(file: &str) -> bool {
        spare::keeper_of(file).or_else(|| file.split_once(ASIDE).and_then(|(_, tid)| tid.parse::<i32>().ok())).is_some_and(sys::process_gone_or_zombie)
    }

    /// Makes a queue made by [`Queue::create`] live: the commit point of its creation. False
    /// when another creator of its key gave its creation up first ([`Queue::give_up`]): the
    /// queue is then never live, and the caller withdraws it and looks the key up again.
    pub fn commit(&self) -> bool {
        self.entry().id1.compare_exchange(0, self.id as u32 + 1, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Gives up the creation of this queue, not yet committed: for another creator of its key
    /// that found its creator stopped (or at work far longer than a creation takes), and for
    /// its creator when it withdraws it after making the key's link. Its creator's
    /// [`Queue::commit`] then fails, so the key's link naming it is stale from here on, for the
    /// next creator of the key to remove as any stale link (under the key's lock: a creator
    /// never takes its own link away once another may have given its creation up). Its file
    /// stays its creator's to remove while that thread lives ([`Queue::creator`]). False when
    /// it was committed first.
    pub fn give_up(&self) -> bool {
        match self.entry().id1.compare_exchange(0, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(id1) => id1 == GIVEN_UP,
        }
    }

    /// Whether the queue's creation was given up ([`Queue::give_up`]).
    pub fn given_up(&self) -> bool {
        self.entry().id1.load(Ordering::Acquire) == GIVEN_UP
    }

    /// The queue's identity, permissions and statistics.
    pub fn entry(&self) -> &Entry {
        &self.header().entry
    }

    /// The thread creating the queue, if it is still being created: not yet committed (its
    /// creation perhaps given up, which that thread has yet to see), not removed, and its
    /// creator still there (one gone, or ended, left it: a leftover).
    pub fn creator(&self) -> Option<i32> {
        let tid = self.header().creator_tid;
        let id1 = self.entry().id1.load(Ordering::Acquire);
        ((id1 == 0 || id1 == GIVEN_UP) && !self.removed() && tid > 0 && !sys::process_gone_or_zombie(tid)).then_some(tid)
    }

    /// The thread removing the queue, while it removes it: removed, and the remover (see
    /// [`Locked::begin_removal`]) still there and not done (one gone, or done, left nothing
    /// to wait for).
    pub fn remover(&self) -> Option<i32> {
        let tid = self.header().remover_tid.load(Ordering::Acquire);
        (self.removed() && tid > 0 && !sys::process_gone_or_zombie(tid)).then_some(tid)
    }

    /// The process keeping the removed queue's segment in place for its next creation (see
    /// `spare`), while it lives: the file is then no leftover.
    pub fn keeper(&self) -> Option<i32> {
        let pid = self.header().keeper_pid.load(Ordering::Acquire);
        (self.removed() && pid > 0 && !sys::process_gone_or_zombie(pid)).then_some(pid)
    }

    /// Marks the removed queue's segment as kept in place by this process (see `spare`).
    pub fn keep_in_place(&self) {
        self.header().keeper_pid.store(crate::os::ids::pid(), Ordering::Release);
    }

    /// Whether a remover has claimed the live queue ([`Locked::claim_removal`]), or a user who
    /// may write the segment says so: either way its key's link may be on its way out, so a
    /// lookup of the key by a remembered queue looks at the link instead.
    pub fn removal_claimed(&self) -> bool {
        self.header().remover_tid.load(Ordering::Acquire) != 0 && !self.removed()
    }

    /// Whether this thread's claim on the queue's removal ([`Locked::claim_removal`]) is still
    /// its own: another remover takes it over once this thread was stopped long enough.
    pub fn removal_claimed_by_this_thread(&self) -> bool {
        self.header().remover_tid.load(Ordering::Acquire) == crate::os::ids::tid()
    }

    /// Leaves this thread's claim on the live queue's removal to anyone
    /// ([`Queue::removal_abandoned`] says so from now on): its remover took the key's link
    /// away and then could not take the queue's lock to commit.
    pub fn abandon_removal(&self) {
        let _ = self.header().remover_tid.compare_exchange(crate::os::ids::tid(), -1, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// The commit point of a removal, under the lock or not (see [`Locked::begin_removal`] and
    /// [`Queue::remove_unlocked`]): the live queue's id no longer live, by compare-and-swap, so
    /// that of two removers only one commits, and with this thread recorded as its remover
    /// first (so that no sweep takes its file meanwhile). False when it was not live.
    fn commit_removal(&self, entry: &Entry) -> bool {
        let me = crate::os::ids::tid();
        let word = &self.header().remover_tid;
        let before = word.swap(me, Ordering::AcqRel);
        if entry.id1.compare_exchange(self.id as u32 + 1, 0, Ordering::AcqRel, Ordering::Acquire).is_err() {
            // The remover that committed keeps its record (if it is not overwritten meanwhile).
            let _ = word.compare_exchange(me, before, Ordering::AcqRel, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Removes the live queue without its lock, for the remover whose removal it is (see
    /// `SysvEmulation::remove_id`) when the lock's holder is a process stopped inside its
    /// critical section (the kernel's IPC_RMID never fails for one). The commit point is
    /// [`Locked::begin_removal`]'s: from then on no call reaches the queue by its id, and a
    /// holder that goes on finishes what it was doing as if before the removal. Its waiters
    /// are served EIDRM by the lock's next holder as it lets go ([`REMOVED_WAITERS_UNSERVED`]):
    /// the stopped one once it goes on, the next one if it dies, or this thread now if the
    /// lock is free by then. Meanwhile each sleeper is roused: one that finds its queue gone
    /// and the lock still held by a stopped process leaves unserved, with EIDRM, as the
    /// kernel's would at once (see `engine::waiter`). False when it was removed meanwhile.
    pub fn remove_unlocked(&self, entry: &Entry) -> bool {
        if !self.commit_removal(entry) {
            return false;
        }
        self.header().removed.store(REMOVED_WAITERS_UNSERVED, Ordering::Release);
        self.serve_left_work_if_free(entry);
        self.rouse_waiters();
        true
    }

    /// Takes the lock and lets go of it at once, if nobody holds it now, so that its release
    /// does the work a caller that went on without it left for its next holder (see
    /// `Locked`'s `Drop`): a holder that let go before that work was left would not have.
    fn serve_left_work_if_free(&self, entry: &Entry) {
        if let Some(Ok(locked)) = self.try_lock(entry) {
            drop(locked);
        }
    }

    /// IPC_SET's waking of every waiter (see [`Locked::recheck_all`]), for an IPC_SET that
    /// changed the permissions or `qbytes` without the lock because its holder is a process
    /// stopped inside its critical section (the kernel's IPC_SET never waits for one). The
    /// lock's next holder does it as it lets go ([`QueueHeader::recheck_pending`]): the stopped
    /// one once it goes on, the next one if it dies, or this thread now if the lock is free by
    /// then. Meanwhile each sleeper is roused: one whose permission is gone and whose lock's
    /// holder is still stopped leaves unserved, with EACCES, as the kernel's would at once (see
    /// `engine::waiter`); the others sleep on (a sender whose message now fits needs the lock
    /// to send it).
    pub fn recheck_unlocked(&self, entry: &Entry) {
        self.header().recheck_pending.store(1, Ordering::Release);
        self.serve_left_work_if_free(entry);
        self.rouse_waiters();
    }

    /// The segment file's owner and group as recorded (see [`QueueHeader::file_uid`]).
    pub fn file_owner(&self) -> (u32, u32) {
        let h = self.header();
        (h.file_uid.load(Ordering::Relaxed), h.file_gid.load(Ordering::Relaxed))
    }

    /// Records that the segment file now belongs to `uid` and `gid` (its caller, IPC_SET by
    /// root, chowned it).
    pub fn set_file_owner(&self, uid: u32, gid: u32) {
        let h = self.header();
        h.file_uid.store(uid, Ordering::Relaxed);
        h.file_gid.store(gid, Ordering::Relaxed);
    }

    /// [`Locked::claim_removal`] without the lock, for a remover that cannot take it (see
    /// [`Queue::remove_unlocked`]): by compare-and-swap from the word it judged, so that of two
    /// removers claiming at once one is told the other has it. (A word that changes at every
    /// look is a user who may write the segment at work: after a few looks it is overwritten,
    /// as under the lock.) EIDRM once the queue is not live: a claim stored as it was removed
    /// is taken back.
    pub fn claim_removal_unlocked(&self, take_over: bool) -> Result<Claimed> {
        /// Looks at a word that changed under the compare-and-swap before it is overwritten.
        const LOOKS: u32 = 8;
        if !self.live() {
            return Err(Errno::EIDRM);
        }
        let me = crate::os::ids::tid();
        let word = &self.header().remover_tid;
        let mut claimed = false;
        for _ in 0..LOOKS {
            let seen = word.load(Ordering::Acquire);
            if let Some(tid) = self.removal_claimant().filter(|&tid| !take_over && tid == seen) {
                return Ok(Claimed::By(tid));
            }
            if word.compare_exchange(seen, me, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                claimed = true;
                break;
            }
        }
        if !claimed {
            word.store(me, Ordering::Release);
        }
        if !self.live() {
            let _ = self.header().remover_tid.compare_exchange(me, 0, Ordering::AcqRel, Ordering::Relaxed);
            return Err(Errno::EIDRM);
        }
        Ok(Claimed::Mine)
    }

    /// Another thread that claimed the live queue's removal ([`Locked::claim_removal`]), while
    /// it is still there.
    pub fn removal_claimant(&self) -> Option<i32> {
        let tid = self.header().remover_tid.load(Ordering::Acquire);
        (tid > 0 && tid != crate::os::ids::tid() && self.live() && !sys::process_gone_or_zombie(tid)).then_some(tid)
    }

    /// The live queue's removal was claimed by a thread that is gone (killed half-way through
    /// `IPC_RMID`, before its commit), or by a tid a user who may write the segment put there.
    pub fn removal_abandoned(&self) -> bool {
        let tid = self.header().remover_tid.load(Ordering::Acquire);
        self.live() && tid != 0 && (tid < 0 || sys::process_gone_or_zombie(tid))
    }

    /// Says that this thread's removal of the queue is done (see [`Locked::begin_removal`]).
    pub fn end_removal(&self) {
        self.header().remover_tid.store(0, Ordering::Release);
    }

    /// Whether the queue is live: created, committed, not removed.
    pub fn live(&self) -> bool {
        self.entry().id1.load(Ordering::Acquire) == self.id as u32 + 1 && !self.removed()
    }

    /// Whether a mapping of this queue was poisoned (its file truncated under it: see
    /// `segment::containment`).
    pub fn poisoned(&self) -> bool {
        self.first.poisoned() || segment::containment::poisoned_at(self.area_base.load(Ordering::Acquire) as usize)
    }

    /// Maps the existing segment `file` of queue `id` (any queue's, for None). EACCES when the
    /// file refuses the caller; EIDRM when it is gone, or another queue's (the queue was
    /// removed meanwhile, and its index reused).
    pub fn attach(dir: c_int, file: &str, id: Option<i32>) -> Result<Queue> {
        let name = CString::new(file).map_err(|_| Errno::EINVAL)?;
        let map = segment::open_mapped(dir, &name, area_offset(), |e| match e {
            Errno::ENOENT => Errno::EIDRM,
            Errno::EACCES | Errno::EPERM => Errno::EACCES,
            e => e,
        })?;
        Queue::from_mapping(map, dir, name, id)
    }

    /// Checks a mapped segment before any use: its prefix (see `segment::validate`), then that
    /// it is queue `id`'s and laid out as this mqshim lays out a queue.
    fn from_mapping(map: Mapping, dir: c_int, file: CString, id: Option<i32>) -> Result<Queue> {
        // Not yet published: its creator is still making it (or died doing so), so it is not
        // a queue yet (EIDRM, as for a file that is gone).
        segment::validate(&map, &QUEUE_SEGMENT, QUEUE_HEADER_SIZE).map_err(|e| if e == SegmentError::NotPublished { Errno::EIDRM } else { e.into() })?;
        // SAFETY: validated: the mapping holds at least the header, plain data and atomics.
        let h = unsafe { &*(map.base() as *const QueueHeader) };
        let ok = map.len() as u64 >= area_offset()
            && h.waiters_offset == waiters_offset()
            && h.waiter_slots == WAITER_SLOTS
            && h.area_offset == area_offset()
            && h.ring_offset == ring_offset()
            && h.ring_bytes == RING_BYTES;
        if !ok {
            return Err(corrupt());
        }
        if id.is_some_and(|id| id != h.id) {
            return Err(Errno::EIDRM);
        }
        let id = h.id;
        let (base, len) = (map.base(), map.len());
        Ok(Queue {
            first: map,
            extra: UnsafeCell::new(Vec::new()),
            area_base: AtomicPtr::new(base),
            area_len: AtomicUsize::new(len),
            dir,
            file,
            reserved_area: Populated::default(),
            reserved_ring: Populated::default(),
            reserved_waiters: Populated::default(),
            id,
            made: None,
        })
    }

    pub fn header(&self) -> &QueueHeader {
        // SAFETY: validated to lie in the first mapping; plain data and atomics.
        unsafe { &*(self.first.base() as *const QueueHeader) }
    }

    fn header_ptr(&self) -> *mut QueueHeader {
        self.first.base() as *mut QueueHeader
    }

    fn lock_ptr(&self) -> *const lock::RobustMutex {
        // SAFETY: the header is in the first mapping.
        unsafe { &raw mut (*self.header_ptr()).lock.mutex }
    }

    /// Waiter record `w` (callers check `w < WAITER_SLOTS`).
    fn waiter_ptr(&self, w: u32) -> *mut Waiter {
        debug_assert!(w < WAITER_SLOTS);
        // SAFETY: the waiter records lie below area_offset, inside the first mapping.
        unsafe { self.first.base().add((waiters_offset() + w as u64 * std::mem::size_of::<Waiter>() as u64) as usize) as *mut Waiter }
    }

    /// Whether the queue was removed (set under the lock by IPC_RMID).
    pub fn removed(&self) -> bool {
        self.header().removed.load(Ordering::Acquire) != 0
    }

    /// Takes the queue lock, repairing the queue first if its last owner died holding it.
    /// `entry` is the queue's entry ([`Queue::entry`]).
    pub fn lock<'q>(&'q self, entry: &'q Entry) -> Result<Locked<'q>> {
        // Zeros since its file was truncated: no loop goes round again on them.
        if self.poisoned() {
            return Err(Errno::EIO);
        }
        // SAFETY: the lock was initialised before the segment was published.
        let how = unsafe { lock::lock_spinning(self.lock_ptr(), QUEUE_LOCK_SPIN_TRIES)? };
        self.locked(entry, how)
    }

    /// [`Queue::lock`] if nobody holds the lock, without waiting (None when someone does).
    pub fn try_lock<'q>(&'q self, entry: &'q Entry) -> Option<Result<Locked<'q>>> {
        if self.poisoned() {
            return Some(Err(Errno::EIO));
        }
        // SAFETY: the lock was initialised before the segment was published.
        let how = unsafe { lock::try_lock(self.lock_ptr()) }?;
        Some(self.locked(entry, how))
    }

    /// The queue, its lock just taken as `how` says: repaired if its last owner died holding
    /// it, its mapping brought up to date, the ring folded in.
    fn locked<'q>(&'q self, entry: &'q Entry, how: Acquired) -> Result<Locked<'q>> {
        let mut locked = Locked { q: self, entry, wakes: PendingWakes::default(), dst_writable: 0 };
        if how == Acquired::OwnerDied {
            locked.repair();
        } else if let Err(e) = locked.sync_mapping() {
            if e == corrupt() {
                locked.repair();
            } else {
                // Cannot map what another process added (out of descriptors or memory): fail
                // this call, leaving the queue as it is.
                return Err(Errno::ENOMEM);
            }
        }
        // Everything under the queue lock works on the general structure.
        locked.fold()?;
        Ok(locked)
    }
}

/// The queue, locked. Dropping it unlocks, then wakes the sleepers it served.
pub struct Locked<'q> {
    q: &'q Queue,
    entry: &'q Entry,
    /// Waiters to FUTEX_WAKE once the lock is released.
    wakes: PendingWakes,
    /// Bytes at the receive buffer already found writable before the lock was taken, so the
    /// check need not run inside the critical section.
    dst_writable: usize,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // Removed without the lock while this thread (or the one before it) held it: its
        // waiters are served now (see `Queue::remove_unlocked`).
        let h = self.q.header();
        if h.removed.load(Ordering::Acquire) == REMOVED_WAITERS_UNSERVED {
            self.remove_all();
        } else if h.recheck_pending.load(Ordering::Relaxed) != 0 && h.recheck_pending.swap(0, Ordering::Acquire) != 0 {
            // The permissions or `qbytes` changed without the lock while this thread (or the
            // one before it) held it: every waiter looks again now (see
            // `Queue::recheck_unlocked`).
            self.recheck_all();
        }
        self.unfold_if_idle();
        // SAFETY: this guard holds the lock.
        unsafe { lock::unlock(self.q.lock_ptr()) };
        self.wakes.flush();
    }
}

/// Statistics a send or receive changes, written to the entry in one go.
#[derive(Default)]
struct StatUpdate {
    sent_by: Option<(i32, i64)>,
    received_by: Option<(i32, i64)>,
}

impl<'q> Locked<'q> {
    fn st(&mut self) -> &mut QueueState {
        // SAFETY: the lock is held, so no one else touches the non-atomic state.
        unsafe { &mut (*self.q.header_ptr()).state }
    }

    fn waiter(&mut self, w: u32) -> &mut Waiter {
        // SAFETY: under the lock; callers pass w < WAITER_SLOTS.
        unsafe { &mut *self.q.waiter_ptr(w) }
    }

    /// Whether the queue is still live.
    pub fn valid(&self) -> bool {
        self.q.live()
    }

    /// Claims the live queue's removal for this thread, before its key's link is taken away
    /// (see `SysvEmulation::remove_id`): [`Claimed::Mine`] when nobody else has it, or had it
    /// and is gone ([`Queue::removal_abandoned`]), or `take_over` (the claimant, a live
    /// thread, was waited for long enough); else [`Claimed::By`] that thread.
    pub fn claim_removal(&mut self, take_over: bool) -> Claimed {
        if let Some(tid) = self.q.removal_claimant().filter(|_| !take_over) {
            return Claimed::By(tid);
        }
        self.q.header().remover_tid.store(crate::os::ids::tid(), Ordering::Release);
        Claimed::Mine
    }

    /// Clears the live queue's removal claim (one abandoned: see `Queue::removal_abandoned`).
    pub fn clear_removal_claim(&mut self) {
        self.q.header().remover_tid.store(0, Ordering::Release);
    }

    /// Removes the queue (the commit point: its id no longer live) and serves every waiter with
    /// EIDRM, recording this thread as its remover until [`Queue::end_removal`] (so that no
    /// sweep takes its file meanwhile). False, and nothing done, when it was removed already
    /// (by a remover that committed without the lock: see [`Queue::remove_unlocked`]).
    pub fn begin_removal(&mut self) -> bool {
        if !self.q.commit_removal(self.entry) {
            return false;
        }
        self.remove_all();
        true
    }

    /// Whether no caller ever blocked on the queue: no waiter record was ever handed out, so no
    /// process can be collecting a result from one.
    pub fn never_blocked(&mut self) -> bool {
        self.st().waiter_top == 0
    }

    /// Clears the queue's state as a new file has it (for [`Queue::reuse`]): no message, no
    /// block carved, no waiter record handed out, nothing scheduled.
    fn clear_for_reuse(&mut self) {
        let st: *mut QueueState = self.st();
        // SAFETY: plain data in the mapping, which no one else touches while the lock is held.
        unsafe { std::ptr::write_bytes(st, 0, 1) };
    }

    // ----- blocks -----

    // ----- statistics -----

    /// Makes the entry's statistics match the queue (one sequence-locked write).
    fn publish(&mut self, update: StatUpdate) {
        if !self.valid() {
            return;
        }
        let (qnum, cbytes) = (self.st().qnum, self.st().cbytes);
        write_stats(self.entry, |e| {
            e.qnum.store(qnum, Ordering::Relaxed);
            e.cbytes.store(cbytes, Ordering::Relaxed);
            if let Some((pid, now)) = update.sent_by {
                e.lspid.store(pid, Ordering::Relaxed);
                e.stime.store(now, Ordering::Relaxed);
            }
            if let Some((pid, now)) = update.received_by {
                e.lrpid.store(pid, Ordering::Relaxed);
                e.rtime.store(now, Ordering::Relaxed);
            }
        });
    }

    /// Records that `n` bytes at the receive buffer are known to be writable.
    pub fn assume_writable(&mut self, n: usize) {
        self.dst_writable = n;
    }

    /// Whether the queue has room for a message of `msgsz` bytes ([`msg_fits_inqueue`]).
    pub fn fits(&mut self, msgsz: u64) -> bool {
        let qbytes = self.entry.qbytes.load(Ordering::Relaxed);
        let (qnum, cbytes) = (self.st().qnum, self.st().cbytes);
        msg_fits_inqueue(msgsz, qnum, cbytes, qbytes)
    }

    // ----- the type index -----

    // ----- sending -----

    /// Sends a message (the caller checked that it fits, and that `text` holds `len` readable
    /// bytes): to the first blocked receiver it matches, else into the queue. Records the
    /// sender (`pid`) and the time (`now_ns`, CLOCK_REALTIME_COARSE: the message's too).
    pub fn send(&mut self, mtype: i64, text: *const u8, len: usize, pid: i32, now_ns: u64) -> Result<()> {
        match self.try_send(mtype, text, len, pid, now_ns) {
            Ok(r) => r,
            Err(Corrupt) => {
                self.repair();
                Err(corrupt())
            }
        }
    }

    fn try_send(&mut self, mtype: i64, text: *const u8, len: usize, pid: i32, now_ns: u64) -> std::result::Result<Result<()>, Corrupt> {
        let r = match self.write_message(mtype, text, len, now_ns)? {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        self.deliver(r, mtype, len as u64, pid, seconds_of_ns(now_ns))
    }

    /// Sends the written message block `r`: to a matching blocked receiver, else into the queue.
    fn deliver(&mut self, r: u32, mtype: i64, len: u64, pid: i32, now: i64) -> std::result::Result<Result<()>, Corrupt> {
        let mut update = StatUpdate { sent_by: Some((pid, now)), received_by: None };
        if let Some(tid) = self.pipelined_send(r, mtype, len)? {
            // The kernel records the receiving task's pid here, not its process's.
            update.received_by = Some((tid, now));
            self.publish(update);
            return Ok(Ok(()));
        }
        let queued = self.enqueue_new(r, mtype)?;
        if queued.is_ok() {
            self.publish(update);
        }
        Ok(queued)
    }

    // ----- receiving -----

    /// A queued message's type and length.
    pub fn describe(&mut self, r: u32) -> Result<(i64, u64)> {
        let b = self.msg(r).map_err(|_| corrupt())?;
        Ok((b.mtype, b.len))
    }

    /// Copies message `r` to the caller's `struct msgbuf` at `dst` (mtype, then at most `bufsz`
    /// bytes of text) without removing it. `dst` may be any pointer: it is checked writable
    /// first (`copied` false otherwise).
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    pub fn copy_out(&mut self, r: u32, dst: *mut u8, bufsz: usize) -> Result<Received> {
        let (mtype, len) = self.describe(r)?;
        let n = (len as usize).min(bufsz);
        let (data, capacity) = self.text_ptr(r).map_err(|_| corrupt())?;
        if n as u64 > capacity {
            return Err(corrupt());
        }
        let copied = 8 + n <= self.dst_writable || crate::os::usermem::probe_write(dst, 8 + n);
        if copied {
            // SAFETY: 8 + n bytes at dst were found writable; the block's text holds n bytes.
            unsafe {
                std::ptr::write_unaligned(dst as *mut i64, mtype);
                std::ptr::copy_nonoverlapping(data, dst.add(8), n);
            }
        }
        Ok(Received { len: n, copied })
    }

    /// Receives message `r` (found by [`Locked::find`]): copies it out, removes it, records the
    /// receiver, then wakes the blocked senders whose messages now fit.
    pub fn take(&mut self, r: u32, dst: *mut u8, bufsz: usize, pid: i32, now_ns: u64) -> Result<Received> {
        let now = seconds_of_ns(now_ns);
        // As in the kernel, the message is gone even when the copy-out fails (EFAULT).
        let got = self.copy_out(r, dst, bufsz)?;
        if self.dequeue(r).is_err() {
            self.repair();
            return Err(corrupt());
        }
        self.publish(StatUpdate { sent_by: None, received_by: Some((pid, now)) });
        self.wake_senders();
        // Scheduled messages that fell due on a full queue may fit now.
        self.promote_if_due();
        Ok(got)
    }

    // ----- waiters -----

    // ----- scheduled messages -----

    // ----- repair -----

    /// Counts for `mqshim ipcs` and the tests: (messages, bytes, types, receivers, senders).
    pub fn counts(&mut self) -> (u64, u64, u32, u32, u32) {
        let st = self.st();
        (st.qnum, st.cbytes, st.types, st.recv_waiting, st.send_waiting)
    }
}

#[cfg(test)]
mod tests;
