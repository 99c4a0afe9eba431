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
//! (the registry entry's `next_due_ns` tells them without the lock whether anything is due) —
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
//! The express ring ([`express`]) holds the queue instead of the blocks while nothing needs
//! them; the registry entry's ring mode says which. Taking the queue lock folds the ring into
//! the blocks; releasing it hands the queue back to the ring when it can. In express mode no
//! block is QUEUED, so repair drops any it finds: the copies of a fold (or an unfold) that a
//! process did not live to commit (or finish).

use std::cell::UnsafeCell;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::raw::c_int;
use std::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

mod express;

pub use express::{init_ring, ring_counts, Express};

use super::caller::{now_sec, realtime_ns};
use super::layout::{
    area_offset, block_state, class_for_message, class_units, ring_offset, waiter_state, waiters_offset, Entry, MsgBlock, QueueHeader, QueueState, TypeNode,
    Waiter, CLASSES, INITIAL_AREA_UNITS, LAYOUT_VERSION, QUEUE_HEADER_SIZE, QUEUE_MAGIC, RESULT_RETRY, RING_BYTES, SCHEDULED_MAX, UNIT, WAITER_SLOTS,
};
use super::registry::{self, write_stats};
use super::treap::{self, type_key, Corrupt, Nodes};
use crate::emu::engine::arena::{self, Mapping};
use crate::emu::engine::layout::wake_word;
use crate::emu::engine::lock::{self, Acquired, Liveness};
use crate::errno::{Errno, Result};
use crate::os::sys;

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

/// Why a segment cannot be used.
fn corrupt() -> Errno {
    Errno::EIO
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
    // SAFETY: the descriptor is owned by the caller and closed once.
    unsafe { crate::real::close(fd) };
}

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
    pub id: i32,
    pub nonce: u64,
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
    pub nonce: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
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

impl Queue {
    /// Creates the segment file `file` under `dir` (it must not exist) and initialises it.
    pub fn create(dir: c_int, file: &str, init: &Init) -> Result<Queue> {
        let name = CString::new(file).map_err(|_| Errno::EINVAL)?;
        let fd = openat(dir, &name, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o600).map_err(|e| if e == Errno::EEXIST { Errno::ENOMEM } else { e })?;
        let result = (|| {
            let size = area_offset() + INITIAL_AREA_UNITS as u64 * UNIT;
            if sys::ftruncate(fd, size) != 0 {
                return Err(Errno::ENOMEM);
            }
            // SAFETY: an all-zero stat is a valid out-buffer.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            if sys::fstat(fd, &mut st) != 0 {
                return Err(Errno::last());
            }
            let map = Mapping::map(fd, size)?;
            let h = map.base() as *mut QueueHeader;
            let mut seed = 0u64;
            // SAFETY: 8 bytes of random seed into a local; failure leaves a fixed seed.
            unsafe { libc::getrandom((&raw mut seed).cast(), 8, libc::GRND_NONBLOCK) };
            // SAFETY: the file is not yet visible to anyone (its entry is committed later); the
            // header is written through the raw pointer before any reference to it exists.
            unsafe {
                (*h).magic = QUEUE_MAGIC;
                (*h).header_size = QUEUE_HEADER_SIZE as u32;
                (*h).id = init.id;
                (*h).key = init.key;
                (*h).nonce = init.nonce;
                (*h).waiters_offset = waiters_offset();
                (*h).waiter_slots = WAITER_SLOTS;
                (*h).area_offset = area_offset();
                (*h).ring_offset = ring_offset();
                (*h).ring_bytes = RING_BYTES;
                (*h).area_units.store(INITIAL_AREA_UNITS, Ordering::Relaxed);
                (*h).file_uid = st.st_uid;
                (*h).file_gid = st.st_gid;
                (*h).tree_seed = seed ^ (init.nonce << 32) ^ init.id as u64;
                (*h).spin.recent_cpus[0].store(u32::MAX, Ordering::Relaxed);
                (*h).spin.recent_cpus[1].store(u32::MAX, Ordering::Relaxed);
                lock::init(&raw mut (*h).lock.mutex)?;
                (*h).version.store(LAYOUT_VERSION, Ordering::Release);
            }
            sys::fchmod(fd, file_mode(init.mode, init.uid, init.gid, st.st_uid, st.st_gid));
            Queue::from_mapping(map, dir, name.clone(), init.id, init.nonce)
        })();
        close(fd);
        if result.is_err() {
            sys::unlinkat(dir, &name, 0);
        }
        result
    }

    /// Maps the existing segment `file` of queue `id`. EACCES when the file refuses the caller;
    /// EIDRM when it is gone (the queue was removed meanwhile).
    pub fn attach(dir: c_int, file: &str, id: i32, nonce: u64) -> Result<Queue> {
        let name = CString::new(file).map_err(|_| Errno::EINVAL)?;
        let fd = openat(dir, &name, libc::O_RDWR, 0).map_err(|e| match e {
            Errno::ENOENT => Errno::EIDRM,
            Errno::EACCES | Errno::EPERM => Errno::EACCES,
            e => e,
        })?;
        let mapped = arena::file_size(fd).and_then(|size| if size < area_offset() { Err(corrupt()) } else { Mapping::map(fd, size) });
        close(fd);
        Queue::from_mapping(mapped?, dir, name, id, nonce)
    }

    /// Checks a mapped segment before any use.
    fn from_mapping(map: Mapping, dir: c_int, file: CString, id: i32, nonce: u64) -> Result<Queue> {
        if (map.len() as u64) < area_offset() {
            return Err(corrupt());
        }
        // SAFETY: the mapping holds the header; plain data and atomics.
        let h = unsafe { &*(map.base() as *const QueueHeader) };
        let ok = h.magic == QUEUE_MAGIC
            && h.version.load(Ordering::Acquire) == LAYOUT_VERSION
            && h.header_size as u64 == QUEUE_HEADER_SIZE
            && h.id == id
            && h.nonce == nonce
            && h.waiters_offset == waiters_offset()
            && h.waiter_slots == WAITER_SLOTS
            && h.area_offset == area_offset()
            && h.ring_offset == ring_offset()
            && h.ring_bytes == RING_BYTES;
        if !ok {
            return Err(corrupt());
        }
        let (base, len) = (map.base(), map.len());
        Ok(Queue { first: map, extra: UnsafeCell::new(Vec::new()), area_base: AtomicPtr::new(base), area_len: AtomicUsize::new(len), dir, file, id, nonce })
    }

    pub fn header(&self) -> &QueueHeader {
        // SAFETY: validated to lie in the first mapping; plain data and atomics.
        unsafe { &*(self.first.base() as *const QueueHeader) }
    }

    fn header_ptr(&self) -> *mut QueueHeader {
        self.first.base() as *mut QueueHeader
    }

    fn lock_ptr(&self) -> *mut libc::pthread_mutex_t {
        // SAFETY: the header is in the first mapping.
        unsafe { &raw mut (*self.header_ptr()).lock.mutex }
    }

    /// Waiter record `w` (callers check `w < WAITER_SLOTS`).
    fn waiter_ptr(&self, w: u32) -> *mut Waiter {
        debug_assert!(w < WAITER_SLOTS);
        // SAFETY: the waiter records lie below area_offset, inside the first mapping.
        unsafe { self.first.base().add((waiters_offset() + w as u64 * std::mem::size_of::<Waiter>() as u64) as usize) as *mut Waiter }
    }

    /// The futex word of waiter `w`.
    pub fn wake_word(&self, w: u32) -> &AtomicU32 {
        // SAFETY: the record is in the mapping; `word` is atomic.
        unsafe { &(*self.waiter_ptr(w.min(WAITER_SLOTS - 1))).word }
    }

    /// Notes that the caller blocks on or wakes someone on the queue from its current CPU
    /// (writing only on a change).
    pub fn note_cpu(&self) {
        let recent = &self.header().spin.recent_cpus;
        let cpu = crate::emu::engine::spin::current_cpu();
        let last = recent[0].load(Ordering::Relaxed);
        if last != cpu {
            recent[1].store(last, Ordering::Relaxed);
            recent[0].store(cpu, Ordering::Relaxed);
        }
    }

    /// A CPU other than the caller's that recently used the queue (`u32::MAX`: none known).
    pub fn peer_cpu(&self) -> u32 {
        let me = crate::emu::engine::spin::current_cpu();
        self.header().spin.recent_cpus.iter().map(|c| c.load(Ordering::Relaxed)).find(|&c| c != u32::MAX && c != me).unwrap_or(u32::MAX)
    }

    /// Whether the queue was removed (set under the lock by IPC_RMID).
    pub fn removed(&self) -> bool {
        self.header().removed.load(Ordering::Acquire) != 0
    }

    /// Takes the queue lock, repairing the queue first if its last owner died holding it.
    /// `entry` is the queue's registry entry (its statistics are kept there).
    pub fn lock<'q>(&'q self, entry: &'q Entry) -> Result<Locked<'q>> {
        self.wait_until_lock_looks_free();
        // SAFETY: the lock was initialised before the segment was published.
        let how = unsafe { lock::lock(self.lock_ptr())? };
        let mut locked = Locked { q: self, entry, wakes: [0; 4], nwakes: 0, dst_writable: 0 };
        if how == Acquired::OwnerDied {
            locked.repair();
            // SAFETY: held, acquired with EOWNERDEAD, now repaired.
            unsafe { lock::mark_consistent(self.lock_ptr()) };
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

    /// Test and test-and-set: while the lock is held, watch its word (a read keeps the cache
    /// line shared) instead of hammering it with compare-and-swaps; bounded, then the robust
    /// lock takes over (and deals with a dead owner, whose word is never 0 again by itself).
    fn wait_until_lock_looks_free(&self) {
        // glibc's mutex starts with its lock word: 0 when free, the owner's tid when held.
        // SAFETY: the mutex is in the mapping, 4-aligned; only read, atomically.
        let word = unsafe { &*(self.lock_ptr() as *const AtomicU32) };
        for _ in 0..4000 {
            if word.load(Ordering::Relaxed) == 0 {
                return;
            }
            std::hint::spin_loop();
        }
    }

    /// Makes the block area reachable up to `bytes` from the file's start (the lock is held).
    fn ensure_mapped(&self, bytes: u64) -> Result<()> {
        if bytes <= self.area_len.load(Ordering::Acquire) as u64 {
            return Ok(());
        }
        let fd = openat(self.dir, &self.file, libc::O_RDWR, 0)?;
        let mapped = arena::file_size(fd).and_then(|size| if size < bytes { Err(corrupt()) } else { Mapping::map(fd, size) });
        close(fd);
        let map = mapped?;
        let (base, len) = (map.base(), map.len());
        // SAFETY: `extra` is only touched by the holder of the queue lock, which the caller is.
        unsafe { (*self.extra.get()).push(map) };
        self.area_base.store(base, Ordering::Release);
        self.area_len.store(len, Ordering::Release);
        Ok(())
    }

    /// Extends the file so the area holds at least `units` units (the lock is held).
    fn grow(&self, units: u64) -> Result<()> {
        let h = self.header();
        let current = h.area_units.load(Ordering::Acquire) as u64;
        if units > current {
            let new = units.max(current.saturating_mul(2)).min(u32::MAX as u64);
            if units > new {
                return Err(Errno::ENOMEM);
            }
            let fd = openat(self.dir, &self.file, libc::O_RDWR, 0)?;
            let size = area_offset() + new * UNIT;
            // The file only ever grows.
            let grown = arena::file_size(fd).map(|now| now >= size || sys::ftruncate(fd, size) == 0);
            close(fd);
            if grown != Ok(true) {
                return Err(Errno::ENOMEM);
            }
            h.area_units.store(new as u32, Ordering::Release);
        }
        self.ensure_mapped(area_offset() + units * UNIT)
    }
}

/// The queue, locked. Dropping it unlocks, then wakes the sleepers it served.
pub struct Locked<'q> {
    q: &'q Queue,
    entry: &'q Entry,
    /// Waiters to FUTEX_WAKE once the lock is released.
    wakes: [u32; 4],
    nwakes: usize,
    /// Bytes at the receive buffer already found writable before the lock was taken, so the
    /// check need not run inside the critical section.
    dst_writable: usize,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.unfold_if_idle();
        // SAFETY: this guard holds the lock.
        unsafe { lock::unlock(self.q.lock_ptr()) };
        for &w in &self.wakes[..self.nwakes] {
            crate::emu::engine::futex::wake(self.q.wake_word(w), 1);
        }
    }
}

/// Statistics a send or receive changes, written to the registry entry in one go.
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

    /// Whether the queue is still the live one its registry entry names.
    pub fn valid(&self) -> bool {
        !self.q.removed() && self.entry.id1.load(Ordering::Acquire) == self.q.id as u32 + 1 && self.entry.nonce.load(Ordering::Relaxed) == self.q.nonce
    }

    /// Maps the area up to its top if another process grew it.
    fn sync_mapping(&mut self) -> Result<()> {
        let top = self.st().top as u64;
        if top > self.q.header().area_units.load(Ordering::Acquire) as u64 {
            return Err(corrupt());
        }
        self.q.ensure_mapped(area_offset() + top * UNIT)
    }

    // ----- blocks -----

    /// The start of the block named `r` (unit + 1), if `r` names a carved unit.
    fn block_ptr(&self, r: u32) -> Option<*mut u8> {
        // SAFETY: the state is read under the lock.
        let top = unsafe { (*self.q.header_ptr()).state.top };
        let unit = r.checked_sub(1).filter(|&u| u < top)?;
        let offset = area_offset() + unit as u64 * UNIT;
        // The mapping covers the area up to top (sync_mapping / grow).
        if offset + UNIT > self.q.area_len.load(Ordering::Acquire) as u64 {
            return None;
        }
        // SAFETY: offset + UNIT lies inside the current mapping.
        Some(unsafe { self.q.area_base.load(Ordering::Acquire).add(offset as usize) })
    }

    /// The block `r` as a message header, checked to be a whole block inside the area.
    fn msg(&mut self, r: u32) -> std::result::Result<&mut MsgBlock, Corrupt> {
        let p = self.block_ptr(r).ok_or(Corrupt)? as *mut MsgBlock;
        // SAFETY: p is a 64-byte block header in the mapping; plain data and an atomic.
        let b = unsafe { &mut *p };
        let top = self.st().top as u64;
        if (b.class as usize) >= CLASSES || (r as u64 - 1) + class_units(b.class as usize) > top {
            return Err(Corrupt);
        }
        // SAFETY: as above (reborrowed after the shared read of `top`).
        Ok(unsafe { &mut *p })
    }

    /// The type node `r`.
    fn node(&mut self, r: u32) -> std::result::Result<&mut TypeNode, Corrupt> {
        let p = self.block_ptr(r).ok_or(Corrupt)? as *mut TypeNode;
        // SAFETY: p is a 64-byte block in the mapping; plain data and an atomic.
        let n = unsafe { &mut *p };
        if n.state.load(Ordering::Relaxed) != block_state::TYPE {
            return Err(Corrupt);
        }
        Ok(n)
    }

    /// The text of message block `r` (capacity: the block's size minus its header).
    fn text_ptr(&mut self, r: u32) -> std::result::Result<(*mut u8, u64), Corrupt> {
        let class = self.msg(r)?.class as usize;
        let p = self.block_ptr(r).ok_or(Corrupt)?;
        // SAFETY: the block (class_units(class) units, checked by `msg`) is in the mapping.
        Ok((unsafe { p.add(UNIT as usize) }, class_units(class) * UNIT - UNIT))
    }

    /// Takes a block of size class `class` (its state FREE), from the free list or carved.
    fn alloc(&mut self, class: usize) -> Result<u32> {
        let head = self.st().free_blocks[class];
        if head != 0 {
            let ok = matches!(self.msg(head), Ok(b) if b.class as usize == class && b.state.load(Ordering::Relaxed) == block_state::FREE);
            if ok {
                let next = self.msg(head).map(|b| b.next).unwrap_or(0);
                self.st().free_blocks[class] = next;
                return Ok(head);
            }
            // A broken free list: forget it (repair finds its blocks again).
            self.st().free_blocks[class] = 0;
        }
        let units = class_units(class);
        let unit = self.st().top as u64;
        if unit + units > u32::MAX as u64 {
            return Err(Errno::ENOMEM);
        }
        self.q.grow(unit + units)?;
        let offset = area_offset() + unit * UNIT;
        // SAFETY: grow mapped the area up to unit + units.
        let b = unsafe { &mut *(self.q.area_base.load(Ordering::Acquire).add(offset as usize) as *mut MsgBlock) };
        // The class is written before `top` moves past the block: a walk of the area always
        // finds whole blocks.
        b.state.store(block_state::FREE, Ordering::Relaxed);
        b.class = class as u32;
        b.next = 0;
        self.st().top = (unit + units) as u32;
        Ok(unit as u32 + 1)
    }

    fn free(&mut self, r: u32) {
        let Ok(b) = self.msg(r) else { return };
        b.state.store(block_state::FREE, Ordering::Release);
        let class = b.class as usize;
        b.owner = 0;
        let head = self.st().free_blocks[class];
        if let Ok(b) = self.msg(r) {
            b.next = head;
        }
        self.st().free_blocks[class] = r;
    }

    // ----- statistics -----

    /// Makes the registry entry's statistics match the queue (one sequence-locked write).
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

    fn root(&mut self, tree: usize) -> u32 {
        if tree == 0 {
            self.st().root_by_type
        } else {
            self.st().root_by_age
        }
    }

    fn set_root(&mut self, tree: usize, root: u32) {
        if tree == 0 {
            self.st().root_by_type = root;
        } else {
            self.st().root_by_age = root;
        }
    }

    fn tfind(&mut self, tree: usize, key: u64) -> std::result::Result<u32, Corrupt> {
        let root = self.root(tree);
        treap::find(self, tree, root, key)
    }

    fn tmin(&mut self, tree: usize) -> std::result::Result<u32, Corrupt> {
        let root = self.root(tree);
        treap::min(self, tree, root)
    }

    fn tsecond_min(&mut self, tree: usize) -> std::result::Result<u32, Corrupt> {
        let root = self.root(tree);
        treap::second_min(self, tree, root)
    }

    fn tinsert(&mut self, tree: usize, node: u32) -> std::result::Result<(), Corrupt> {
        let root = self.root(tree);
        if root == 0 {
            // The first type: no walk needed.
            let n = self.node(node)?;
            n.left[tree] = 0;
            n.right[tree] = 0;
            self.set_root(tree, node);
            return Ok(());
        }
        let root = treap::insert(self, tree, root, node)?;
        self.set_root(tree, root);
        Ok(())
    }

    fn tremove(&mut self, tree: usize, key: u64) -> std::result::Result<(), Corrupt> {
        let root = self.root(tree);
        if root != 0 {
            // The last type: no walk needed.
            let n = self.node(root)?;
            let lone = n.left[tree] == 0 && n.right[tree] == 0;
            let k = if tree == 0 { type_key(n.mtype) } else { n.head_seq };
            if lone && k == key {
                self.set_root(tree, 0);
                return Ok(());
            }
        }
        let (root, _) = treap::remove(self, tree, root, key)?;
        self.set_root(tree, root);
        Ok(())
    }

    // ----- sending -----

    /// Sends a message (the caller checked that it fits, and that `text` holds `len` readable
    /// bytes): to the first blocked receiver it matches, else into the queue. Records the
    /// sender (`pid`) and the time.
    pub fn send(&mut self, mtype: i64, text: *const u8, len: usize, pid: i32, now: i64) -> Result<()> {
        match self.try_send(mtype, text, len, pid, now) {
            Ok(r) => r,
            Err(Corrupt) => {
                self.repair();
                Err(corrupt())
            }
        }
    }

    /// Writes a message into a new block (still FREE: not committed anywhere).
    fn write_message(&mut self, mtype: i64, text: *const u8, len: usize) -> std::result::Result<Result<u32>, Corrupt> {
        let Some(class) = class_for_message(len as u64) else { return Ok(Err(Errno::ENOMEM)) };
        let r = match self.alloc(class) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let (data, capacity) = self.text_ptr(r)?;
        if len as u64 > capacity {
            return Err(Corrupt);
        }
        // SAFETY: the block's text holds `capacity` >= len bytes; the caller checked that `len`
        // bytes at `text` are readable.
        unsafe { std::ptr::copy_nonoverlapping(text, data, len) };
        let b = self.msg(r)?;
        b.mtype = mtype;
        b.len = len as u64;
        b.next = 0;
        b.prev = 0;
        b.tnext = 0;
        b.owner = 0;
        Ok(Ok(r))
    }

    fn try_send(&mut self, mtype: i64, text: *const u8, len: usize, pid: i32, now: i64) -> std::result::Result<Result<()>, Corrupt> {
        let r = match self.write_message(mtype, text, len)? {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        self.deliver(r, mtype, len as u64, pid, now)
    }

    /// Queues a copy of a message (a fold: nobody waits, the caller checked the length and
    /// publishes the statistics).
    fn queue_copy(&mut self, mtype: i64, text: *const u8, len: usize) -> Result<()> {
        let queued = match self.write_message(mtype, text, len) {
            Ok(Ok(r)) => self.enqueue_new(r, mtype),
            Ok(Err(e)) => Ok(Err(e)),
            Err(Corrupt) => Err(Corrupt),
        };
        queued.unwrap_or_else(|Corrupt| Err(corrupt()))
    }

    /// Commits the written message block `r` of type `mtype` into the queue, with a new type
    /// node if its type is not there yet; frees it should no node be had.
    fn enqueue_new(&mut self, r: u32, mtype: i64) -> std::result::Result<Result<()>, Corrupt> {
        let mut node = self.tfind(0, type_key(mtype))?;
        let new_type = node == 0;
        if new_type {
            node = match self.alloc(0) {
                Ok(n) => n,
                Err(e) => {
                    self.free(r);
                    return Ok(Err(e));
                }
            };
        }
        self.enqueue(r, node, new_type).map(Ok)
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

    /// The kernel's `pipelined_send`: gives message block `r` to the first blocked receiver it
    /// matches (E2BIG to each matching one whose buffer is too small, on the way). Returns the
    /// receiving thread's id when handed over.
    fn pipelined_send(&mut self, r: u32, mtype: i64, len: u64) -> std::result::Result<Option<i32>, Corrupt> {
        let mut cur = self.st().recv_head;
        let mut steps = 0;
        while cur != 0 {
            steps += 1;
            let w = cur - 1;
            if w >= WAITER_SLOTS || steps > WAITER_SLOTS {
                return Err(Corrupt);
            }
            let (next, typ, mode, size, state) = {
                let rec = self.waiter(w);
                (rec.next, rec.msgtyp, rec.mode, rec.size, rec.state)
            };
            if state != waiter_state::RECEIVING {
                return Err(Corrupt);
            }
            if testmsg(mtype, typ, mode) {
                if !self.alive(w) {
                    self.release(w);
                } else if size < len {
                    self.unlink_waiter(w)?;
                    self.serve(w, libc::E2BIG, 0);
                } else {
                    self.unlink_waiter(w)?;
                    let b = self.msg(r)?;
                    b.owner = w + 1;
                    // The commit point of a hand-over.
                    b.state.store(block_state::HANDED, Ordering::Release);
                    let tid = self.waiter(w).tid;
                    self.serve(w, 0, r);
                    return Ok(Some(tid));
                }
            }
            cur = next;
        }
        Ok(None)
    }

    /// Commits message block `r` into the queue and links it (type node `node`, fresh when
    /// `new_type`).
    fn enqueue(&mut self, r: u32, node: u32, new_type: bool) -> std::result::Result<(), Corrupt> {
        let seq = self.st().next_seq;
        self.st().next_seq = seq + 1;
        let tail = self.st().fifo_tail;
        let (mtype, len) = {
            let b = self.msg(r)?;
            b.seq = seq;
            b.prev = tail;
            b.next = 0;
            b.tnext = 0;
            b.owner = 0;
            // The commit point of a send.
            b.state.store(block_state::QUEUED, Ordering::Release);
            (b.mtype, b.len)
        };
        if tail != 0 {
            self.msg(tail)?.next = r;
        } else {
            self.st().fifo_head = r;
        }
        self.st().fifo_tail = r;
        if new_type {
            {
                let p = self.block_ptr(node).ok_or(Corrupt)? as *mut TypeNode;
                // SAFETY: a freshly allocated one-unit block in the mapping.
                let n = unsafe { &mut *p };
                n.mtype = mtype;
                n.head_seq = seq;
                n.head = r;
                n.tail = r;
                n.count = 1;
                n.left = [0; 2];
                n.right = [0; 2];
                n.state.store(block_state::TYPE, Ordering::Release);
            }
            self.tinsert(0, node)?;
            self.tinsert(1, node)?;
            self.st().types += 1;
        } else {
            let old_tail = self.node(node)?.tail;
            self.msg(old_tail)?.tnext = r;
            let n = self.node(node)?;
            n.tail = r;
            n.count += 1;
        }
        let st = self.st();
        st.qnum += 1;
        st.cbytes += len;
        Ok(())
    }

    // ----- receiving -----

    /// The message a receiver with (`mode`, `typ`) takes now, if any (the kernel's `find_msg`).
    pub fn find(&mut self, mode: u32, typ: i64) -> Result<Option<u32>> {
        match self.try_find(mode, typ) {
            Ok(r) => Ok((r != 0).then_some(r)),
            Err(Corrupt) => {
                self.repair();
                Err(corrupt())
            }
        }
    }

    fn try_find(&mut self, mode: u32, typ: i64) -> std::result::Result<u32, Corrupt> {
        let head_of = |l: &mut Self, n: u32| -> std::result::Result<u32, Corrupt> {
            if n == 0 {
                Ok(0)
            } else {
                Ok(l.node(n)?.head)
            }
        };
        match mode {
            search::ANY => Ok(self.st().fifo_head),
            search::EQUAL => {
                let n = self.tfind(0, type_key(typ))?;
                head_of(self, n)
            }
            search::NOTEQUAL => {
                let oldest = self.tmin(1)?;
                if oldest == 0 || self.node(oldest)?.mtype != typ {
                    return head_of(self, oldest);
                }
                let next = self.tsecond_min(1)?;
                head_of(self, next)
            }
            search::LESSEQUAL => {
                let lowest = self.tmin(0)?;
                if lowest != 0 && self.node(lowest)?.mtype <= typ {
                    head_of(self, lowest)
                } else {
                    Ok(0)
                }
            }
            search::NUMBER => {
                if typ < 0 || typ as u64 >= self.st().qnum {
                    return Ok(0);
                }
                let mut cur = self.st().fifo_head;
                for _ in 0..typ {
                    cur = self.msg(cur)?.next;
                }
                Ok(cur)
            }
            _ => Ok(0),
        }
    }

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
    pub fn take(&mut self, r: u32, dst: *mut u8, bufsz: usize, pid: i32, now: i64) -> Result<Received> {
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

    /// Removes queued message `r` (the oldest of its type) and frees it.
    fn dequeue(&mut self, r: u32) -> std::result::Result<(), Corrupt> {
        let (mtype, len, prev, next, tnext, seq) = {
            let b = self.msg(r)?;
            if b.state.load(Ordering::Relaxed) != block_state::QUEUED {
                return Err(Corrupt);
            }
            (b.mtype, b.len, b.prev, b.next, b.tnext, b.seq)
        };
        let node = self.tfind(0, type_key(mtype))?;
        if node == 0 || self.node(node)?.head != r {
            return Err(Corrupt);
        }
        // The commit point of a receive.
        self.msg(r)?.state.store(block_state::FREE, Ordering::Release);
        if prev != 0 {
            self.msg(prev)?.next = next;
        } else {
            self.st().fifo_head = next;
        }
        if next != 0 {
            self.msg(next)?.prev = prev;
        } else {
            self.st().fifo_tail = prev;
        }
        {
            let st = self.st();
            st.qnum = st.qnum.saturating_sub(1);
            st.cbytes = st.cbytes.saturating_sub(len);
        }
        if tnext == 0 {
            self.tremove(0, type_key(mtype))?;
            self.tremove(1, seq)?;
            self.st().types = self.st().types.saturating_sub(1);
            self.free(node);
        } else {
            let next_seq = self.msg(tnext)?.seq;
            // The only type present (the common case): re-key the lone node in place.
            let alone = self.root(1) == node && {
                let n = self.node(node)?;
                n.left[1] == 0 && n.right[1] == 0
            };
            if !alone {
                self.tremove(1, seq)?;
            }
            {
                let n = self.node(node)?;
                n.head = tnext;
                n.count = n.count.saturating_sub(1);
                n.head_seq = next_seq;
            }
            if !alone {
                self.tinsert(1, node)?;
            }
        }
        self.free(r);
        Ok(())
    }

    // ----- waiters -----

    /// Whether waiter `w`'s thread is alive (a live thread holds its life lock).
    fn alive(&mut self, w: u32) -> bool {
        if self.waiter(w).inited == 0 {
            return false;
        }
        // SAFETY: the record's life mutex was initialised (inited).
        match unsafe { lock::probe(&raw mut (*self.q.waiter_ptr(w)).life) } {
            Liveness::Alive => true,
            Liveness::Dead | Liveness::Unheld => {
                // SAFETY: probe left us holding it.
                unsafe { lock::unlock(&raw mut (*self.q.waiter_ptr(w)).life) };
                false
            }
        }
    }

    fn list_of(&mut self, role: u32) -> (u32, u32) {
        let st = self.st();
        if role == waiter_state::RECEIVING {
            (st.recv_head, st.recv_tail)
        } else {
            (st.send_head, st.send_tail)
        }
    }

    fn set_list(&mut self, role: u32, head: u32, tail: u32) {
        let st = self.st();
        if role == waiter_state::RECEIVING {
            st.recv_head = head;
            st.recv_tail = tail;
        } else {
            st.send_head = head;
            st.send_tail = tail;
        }
    }

    fn link_tail(&mut self, w: u32, role: u32) {
        let (head, tail) = self.list_of(role);
        {
            let rec = self.waiter(w);
            rec.next = 0;
            rec.prev = tail;
        }
        if tail != 0 && tail - 1 < WAITER_SLOTS {
            self.waiter(tail - 1).next = w + 1;
            self.set_list(role, head, w + 1);
        } else {
            self.set_list(role, w + 1, w + 1);
        }
        let st = self.st();
        if role == waiter_state::RECEIVING {
            st.recv_waiting += 1;
        } else {
            st.send_waiting += 1;
        }
    }

    /// Takes registered waiter `w` out of its list.
    fn unlink_waiter(&mut self, w: u32) -> std::result::Result<(), Corrupt> {
        let role = self.waiter(w).state;
        if role != waiter_state::RECEIVING && role != waiter_state::SENDING {
            return Ok(());
        }
        let (prev, next) = {
            let rec = self.waiter(w);
            (rec.prev, rec.next)
        };
        if prev > WAITER_SLOTS || next > WAITER_SLOTS {
            return Err(Corrupt);
        }
        let (head, tail) = self.list_of(role);
        let head = if prev != 0 {
            self.waiter(prev - 1).next = next;
            head
        } else {
            next
        };
        let tail = if next != 0 {
            self.waiter(next - 1).prev = prev;
            tail
        } else {
            prev
        };
        self.set_list(role, head, tail);
        let rec = self.waiter(w);
        rec.next = 0;
        rec.prev = 0;
        let st = self.st();
        if role == waiter_state::RECEIVING {
            st.recv_waiting = st.recv_waiting.saturating_sub(1);
        } else {
            st.send_waiting = st.send_waiting.saturating_sub(1);
        }
        Ok(())
    }

    /// Hands waiter `w` (already out of its list) its result, and schedules its wake-up.
    fn serve(&mut self, w: u32, result: i32, handed: u32) {
        self.q.note_cpu();
        let rec = self.waiter(w);
        rec.state = waiter_state::SERVED;
        rec.result = result;
        rec.handed = handed;
        if rec.word.swap(wake_word::WOKEN, Ordering::AcqRel) == wake_word::SLEEPING {
            if self.nwakes < self.wakes.len() {
                self.wakes[self.nwakes] = w;
                self.nwakes += 1;
            } else {
                crate::emu::engine::futex::wake(self.q.wake_word(w), 1);
            }
        }
    }

    /// Registers the calling thread as a blocked receiver (`typ`, `mode`, largest message
    /// `size`) at the tail of the receivers' FIFO. Returns the waiter index.
    pub fn register_receiver(&mut self, typ: i64, mode: u32, size: u64, pid: i32, tid: i32) -> Result<u32> {
        self.register(waiter_state::RECEIVING, typ, mode, size, pid, tid, 0)
    }

    /// Registers the calling thread as a blocked sender of (`mtype`, `len` bytes at `text`),
    /// at the tail of the senders' FIFO: the message is written now, PENDING, so a receive that
    /// makes room can send it for the sender. Returns the waiter index.
    pub fn register_sender(&mut self, mtype: i64, text: *const u8, len: usize, pid: i32, tid: i32) -> Result<u32> {
        let r = match self.write_message(mtype, text, len) {
            Ok(r) => r?,
            Err(Corrupt) => {
                self.repair();
                return Err(corrupt());
            }
        };
        match self.register(waiter_state::SENDING, 0, 0, len as u64, pid, tid, r) {
            Ok(w) => Ok(w),
            Err(e) => {
                self.free(r);
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn register(&mut self, role: u32, typ: i64, mode: u32, size: u64, pid: i32, tid: i32, pending: u32) -> Result<u32> {
        let w = self.alloc_waiter().ok_or(Errno::ENOMEM)?;
        self.q.note_cpu();
        if self.waiter(w).inited == 0 {
            // SAFETY: the record is in the mapping and not in use by anyone.
            unsafe { lock::init(&raw mut (*self.q.waiter_ptr(w)).life)? };
            self.waiter(w).inited = 1;
        }
        // Take the life lock first: while it is held, others know this waiter is alive.
        // SAFETY: the record's mutex is initialised.
        match unsafe { lock::lock(&raw mut (*self.q.waiter_ptr(w)).life) } {
            Ok(Acquired::Clean) => {}
            // SAFETY: held, acquired with EOWNERDEAD; the record is re-initialised below.
            Ok(Acquired::OwnerDied) => unsafe { lock::mark_consistent(&raw mut (*self.q.waiter_ptr(w)).life) },
            Err(e) => {
                self.push_free_waiter(w);
                return Err(e);
            }
        }
        let ticket = self.st().next_ticket;
        self.st().next_ticket = ticket + 1;
        let generation = self.st().perm_generation;
        if pending != 0 {
            if let Ok(b) = self.msg(pending) {
                b.owner = w + 1;
                // The pending message belongs to this waiter from here on.
                b.state.store(block_state::PENDING, Ordering::Release);
            }
        }
        let rec = self.waiter(w);
        rec.word.store(wake_word::WAITING, Ordering::Release);
        rec.state = role;
        rec.tid = tid;
        rec.pid = pid;
        rec.ticket = ticket;
        rec.msgtyp = typ;
        rec.mode = mode;
        rec.size = size;
        rec.result = 0;
        rec.handed = pending;
        rec.generation = generation;
        self.link_tail(w, role);
        Ok(w)
    }

    fn alloc_waiter(&mut self) -> Option<u32> {
        for attempt in 0..2 {
            let head = self.st().free_waiter;
            if let Some(w) = head.checked_sub(1).filter(|&w| w < WAITER_SLOTS) {
                if self.waiter(w).state == waiter_state::FREE {
                    let next = self.waiter(w).next;
                    self.st().free_waiter = next;
                    return Some(w);
                }
                self.st().free_waiter = 0;
            }
            let top = self.st().waiter_top;
            if top < WAITER_SLOTS {
                self.st().waiter_top = top + 1;
                let rec = self.waiter(top);
                rec.state = waiter_state::FREE;
                return Some(top);
            }
            if attempt == 0 {
                self.reap_dead_waiters();
            }
        }
        None
    }

    fn push_free_waiter(&mut self, w: u32) {
        let head = self.st().free_waiter;
        let rec = self.waiter(w);
        rec.state = waiter_state::FREE;
        rec.handed = 0;
        rec.prev = 0;
        rec.next = head;
        self.st().free_waiter = w + 1;
    }

    /// Frees waiter `w`'s record (and a message handed to it and not collected).
    fn release(&mut self, w: u32) {
        if self.unlink_waiter(w).is_err() {
            self.repair();
        }
        let handed = self.waiter(w).handed;
        if handed != 0 {
            let owned =
                matches!(self.msg(handed), Ok(b) if matches!(b.state.load(Ordering::Relaxed), block_state::HANDED | block_state::PENDING) && b.owner == w + 1);
            if owned {
                self.free(handed);
            }
        }
        self.push_free_waiter(w);
    }

    fn reap_dead_waiters(&mut self) {
        let top = self.st().waiter_top.min(WAITER_SLOTS);
        for w in 0..top {
            if self.waiter(w).state != waiter_state::FREE && !self.alive(w) {
                self.release(w);
            }
        }
    }

    /// After waking (or giving up): the waiter's outcome, with a handed message copied to the
    /// caller's `dst` (at most `bufsz` bytes of text). The record is released either way.
    pub fn finish(&mut self, w: u32, dst: *mut u8, bufsz: usize) -> Finished {
        let rec = self.waiter(w);
        let outcome = if rec.state == waiter_state::SERVED {
            match (rec.result, rec.handed) {
                (0, 0) => Finished::Sent,
                (0, handed) => match self.copy_out(handed, dst, bufsz) {
                    Ok(got) => Finished::Handed(got),
                    Err(e) => Finished::Failed(e),
                },
                (RESULT_RETRY, _) => Finished::Retry,
                (e, _) if e > 0 => Finished::Failed(Errno::from_raw(e)),
                _ => Finished::Failed(Errno::EIO),
            }
        } else {
            Finished::NotServed
        };
        self.release(w);
        // SAFETY: the calling thread took this life lock in `register`.
        unsafe { lock::unlock(&raw mut (*self.q.waiter_ptr(w)).life) };
        outcome
    }

    /// The kernel's `ss_wakeup` (without kill): wakes, in FIFO order, each blocked sender whose
    /// message fits now (it will look again), moving the others to the tail.
    fn wake_senders(&mut self) {
        let mut stop = 0;
        let mut cur = self.st().send_head;
        let mut steps = 0;
        while cur != 0 && cur != stop && steps <= WAITER_SLOTS {
            steps += 1;
            let w = cur - 1;
            if w >= WAITER_SLOTS {
                break;
            }
            let (next, size) = {
                let rec = self.waiter(w);
                (rec.next, rec.size)
            };
            if !self.alive(w) {
                self.release(w);
            } else if !self.fits(size) {
                if stop == 0 {
                    stop = cur;
                }
                if self.unlink_waiter(w).is_err() {
                    self.repair();
                    return;
                }
                let ticket = self.st().next_ticket;
                self.st().next_ticket = ticket + 1;
                self.waiter(w).ticket = ticket;
                self.link_tail(w, waiter_state::SENDING);
            } else {
                if self.unlink_waiter(w).is_err() {
                    self.repair();
                    return;
                }
                let result = if self.commit_pending(w) { 0 } else { RESULT_RETRY };
                self.serve(w, result, 0);
            }
            cur = next;
        }
    }

    /// Sends blocked sender `w`'s pending message for it (true), unless the sender must look
    /// again itself: IPC_SET happened since it blocked, or there is no room for a type node.
    /// The block's own state change (PENDING to QUEUED or HANDED) commits the send; if this
    /// process dies before serving the sender, repair sees that and serves it.
    fn commit_pending(&mut self, w: u32) -> bool {
        let (r, pid, generation) = {
            let rec = self.waiter(w);
            (rec.handed, rec.pid, rec.generation)
        };
        if r == 0 || generation != self.st().perm_generation {
            return false;
        }
        let (mtype, len) = match self.msg(r) {
            Ok(b) if b.state.load(Ordering::Relaxed) == block_state::PENDING && b.owner == w + 1 => (b.mtype, b.len),
            _ => return false,
        };
        match self.deliver(r, mtype, len, pid, now_sec()) {
            Ok(Ok(())) => true,
            Ok(Err(_)) => {
                // No room for a type node: deliver freed the block; the sender sends again.
                self.waiter(w).handed = 0;
                false
            }
            Err(Corrupt) => {
                self.repair();
                false
            }
        }
    }

    /// Repair's view of a live blocked sender whose pending message may have been committed by
    /// a process that died before serving it: served (sent) if its block was committed, told to
    /// look again if the block is gone.
    fn settle_sender(&mut self, w: u32) {
        let r = self.waiter(w).handed;
        let state = match self.msg(r) {
            Ok(b) if b.state.load(Ordering::Relaxed) == block_state::PENDING && b.owner == w + 1 => return,
            Ok(b) if r != 0 => b.state.load(Ordering::Relaxed),
            _ => block_state::FREE,
        };
        let committed = matches!(state, block_state::QUEUED | block_state::HANDED);
        if self.unlink_waiter(w).is_err() {
            return;
        }
        self.waiter(w).handed = 0;
        self.serve(w, if committed { 0 } else { RESULT_RETRY }, 0);
    }

    /// IPC_SET: every blocked receiver looks again (its permission may be gone), and so does
    /// every blocked sender whose message now fits (`qbytes` may have grown).
    pub fn recheck_all(&mut self) {
        let st = self.st();
        st.perm_generation = st.perm_generation.wrapping_add(1);
        self.serve_all(waiter_state::RECEIVING, RESULT_RETRY);
        self.wake_senders();
        self.promote_if_due();
    }

    /// IPC_RMID: the queue is gone; every blocked sender and receiver fails with EIDRM.
    /// Pending scheduled messages are discarded.
    pub fn remove_all(&mut self) {
        self.q.header().removed.store(1, Ordering::Release);
        self.serve_all(waiter_state::RECEIVING, libc::EIDRM);
        self.serve_all(waiter_state::SENDING, libc::EIDRM);
        self.discard_scheduled();
    }

    fn serve_all(&mut self, role: u32, result: i32) {
        let mut steps = 0;
        loop {
            let (head, _) = self.list_of(role);
            if head == 0 || head > WAITER_SLOTS || steps > WAITER_SLOTS {
                break;
            }
            steps += 1;
            let w = head - 1;
            if self.unlink_waiter(w).is_err() {
                self.repair();
                continue;
            }
            self.serve(w, result, 0);
        }
    }

    // ----- scheduled messages -----

    /// Schedules a message (the caller checked its size, and that `text` holds `len` readable
    /// bytes) to be sent at `due_ns` (CLOCK_REALTIME ns) as if process `pid` sent it then. Returns
    /// its handle; EAGAIN when `SCHEDULED_MAX` are pending already. One already due is sent now.
    pub fn schedule(&mut self, mtype: i64, text: *const u8, len: usize, due_ns: u64, pid: i32) -> Result<u64> {
        // Those already due are no longer pending.
        self.promote_if_due();
        if self.st().scheduled >= SCHEDULED_MAX {
            return Err(Errno::EAGAIN);
        }
        let r = match self.write_message(mtype, text, len) {
            Ok(r) => r?,
            Err(Corrupt) => {
                self.repair();
                return Err(corrupt());
            }
        };
        let handle = self.st().next_handle.max(1);
        self.st().next_handle = handle + 1;
        match self.msg(r) {
            Ok(b) => {
                b.due_ns = due_ns;
                b.handle = handle;
                b.owner = pid as u32;
                // The commit point of a scheduling: the message belongs to the queue from here.
                b.state.store(block_state::SCHEDULED, Ordering::Release);
            }
            Err(Corrupt) => {
                self.repair();
                return Err(corrupt());
            }
        }
        match self.link_scheduled(r) {
            Ok(()) => self.st().scheduled += 1,
            // The list was broken: repair relinks every SCHEDULED block, this one included.
            Err(Corrupt) => self.repair(),
        }
        let next_due = self.settle_schedule(realtime_ns());
        if next_due == due_ns {
            // Blocked receivers sleep until the next due time, which this message moved closer.
            self.rouse_receivers();
        }
        Ok(handle)
    }

    /// Cancels the pending scheduled message `handle`: ENOENT unless it is pending and not yet
    /// due (it was sent, or fell due and waits for room, or was cancelled, or never existed).
    pub fn cancel(&mut self, handle: u64) -> Result<()> {
        let now = realtime_ns();
        self.settle_schedule(now);
        let limit = SCHEDULED_MAX.max(self.st().scheduled);
        let (mut prev, mut cur, mut steps) = (0u32, self.st().sched_head, 0u32);
        while cur != 0 {
            steps += 1;
            let (next, h, due) = match self.msg(cur) {
                Ok(b) if b.state.load(Ordering::Relaxed) == block_state::SCHEDULED && steps <= limit => (b.next, b.handle, b.due_ns),
                _ => {
                    self.repair();
                    return Err(Errno::ENOENT);
                }
            };
            if h == handle {
                if due <= now {
                    return Err(Errno::ENOENT);
                }
                if prev == 0 {
                    self.st().sched_head = next;
                } else if let Ok(p) = self.msg(prev) {
                    p.next = next;
                }
                // The commit point of a cancellation.
                self.free(cur);
                self.st().scheduled = self.st().scheduled.saturating_sub(1);
                self.publish_schedule(now);
                return Ok(());
            }
            (prev, cur) = (cur, next);
        }
        Err(Errno::ENOENT)
    }

    /// Scheduled messages pending (due ones waiting for room included).
    pub fn scheduled(&mut self) -> u32 {
        self.st().scheduled
    }

    /// Sends the scheduled messages that are due, if the earliest is (one clock read when any
    /// are pending, nothing otherwise).
    pub fn promote_if_due(&mut self) {
        let head = self.st().sched_head;
        if head == 0 {
            return;
        }
        let now = realtime_ns();
        match self.msg(head) {
            Ok(b) if b.due_ns > now => {}
            _ => {
                self.settle_schedule(now);
            }
        }
    }

    /// Inserts SCHEDULED block `r` into the due-ordered list (ties by handle).
    fn link_scheduled(&mut self, r: u32) -> std::result::Result<(), Corrupt> {
        let key = {
            let b = self.msg(r)?;
            (b.due_ns, b.handle)
        };
        let limit = SCHEDULED_MAX.max(self.st().scheduled);
        let (mut prev, mut cur, mut steps) = (0u32, self.st().sched_head, 0u32);
        while cur != 0 {
            steps += 1;
            let b = self.msg(cur)?;
            if steps > limit || b.state.load(Ordering::Relaxed) != block_state::SCHEDULED {
                return Err(Corrupt);
            }
            if (b.due_ns, b.handle) > key {
                break;
            }
            (prev, cur) = (cur, b.next);
        }
        self.msg(r)?.next = cur;
        if prev == 0 {
            self.st().sched_head = r;
        } else {
            self.msg(prev)?.next = r;
        }
        Ok(())
    }

    /// Sends what is due by `now`, then publishes the next due time; returns it (0: none).
    fn settle_schedule(&mut self, now: u64) -> u64 {
        if self.promote_due(now).is_err() {
            self.repair();
        }
        self.publish_schedule(now)
    }

    /// Sends the scheduled messages due by `now`, in due order, each as msgsnd would send it at
    /// this moment: if it fits, to the first matching blocked receiver or into the queue; if not,
    /// it stays and waits for a receive to make room, as a blocked sender does.
    fn promote_due(&mut self, now: u64) -> std::result::Result<(), Corrupt> {
        let limit = SCHEDULED_MAX.max(self.st().scheduled);
        let (mut prev, mut cur, mut steps) = (0u32, self.st().sched_head, 0u32);
        while cur != 0 {
            steps += 1;
            let (next, due, mtype, len, pid) = {
                let b = self.msg(cur)?;
                if steps > limit || b.state.load(Ordering::Relaxed) != block_state::SCHEDULED {
                    return Err(Corrupt);
                }
                (b.next, b.due_ns, b.mtype, b.len, b.owner as i32)
            };
            if due > now {
                break;
            }
            if !self.fits(len) {
                (prev, cur) = (cur, next);
                continue;
            }
            let sent_at = now_sec();
            let mut update = StatUpdate { sent_by: Some((pid, sent_at)), received_by: None };
            // A hand-over commits by itself; else the type node must exist before the message
            // is committed to the queue, so that no message is lost for want of room for it.
            let handed = self.pipelined_send(cur, mtype, len)?;
            let node = match handed {
                Some(_) => None,
                None => {
                    let node = self.tfind(0, type_key(mtype))?;
                    if node != 0 {
                        Some((node, false))
                    } else {
                        match self.alloc(0) {
                            Ok(n) => Some((n, true)),
                            // No room even for a type node: it stays due, for a later operation.
                            Err(_) => break,
                        }
                    }
                }
            };
            if prev == 0 {
                self.st().sched_head = next;
            } else {
                self.msg(prev)?.next = next;
            }
            self.st().scheduled = self.st().scheduled.saturating_sub(1);
            match (handed, node) {
                (Some(tid), _) => update.received_by = Some((tid, sent_at)),
                (None, Some((node, new_type))) => self.enqueue(cur, node, new_type)?,
                (None, None) => {}
            }
            self.publish(update);
            cur = next;
        }
        Ok(())
    }

    /// Publishes to the registry entry the earliest due time after `after` (those due by then
    /// were tried already and wait for room) and the number pending. Returns that due time.
    /// Written after `qnum` (see `publish`), so a reader that loads `next_due_ns` first and then
    /// `qnum` never misses a message that was promoted.
    fn publish_schedule(&mut self, after: u64) -> u64 {
        let limit = SCHEDULED_MAX.max(self.st().scheduled);
        let (mut cur, mut steps, mut next_due) = (self.st().sched_head, 0u32, 0u64);
        while cur != 0 && steps <= limit {
            steps += 1;
            let Ok(b) = self.msg(cur) else { break };
            if b.due_ns > after {
                next_due = b.due_ns;
                break;
            }
            cur = b.next;
        }
        if self.valid() {
            let pending = self.st().scheduled;
            if self.entry.next_due_ns.load(Ordering::Relaxed) != next_due {
                self.entry.next_due_ns.store(next_due, Ordering::Release);
            }
            if self.entry.scheduled.load(Ordering::Relaxed) != pending {
                self.entry.scheduled.store(pending, Ordering::Release);
            }
        }
        next_due
    }

    /// Makes every blocked receiver that sleeps look again at the next due time, which a new
    /// scheduled message moved closer. Its word goes back from SLEEPING to WAITING (so a receiver
    /// about to sleep does not), and the fences pair with the receiver's (`SysvEmulation::wait`):
    /// either it reads the new due time or its word is changed here.
    fn rouse_receivers(&mut self) {
        fence(Ordering::SeqCst);
        let (mut cur, mut steps) = (self.st().recv_head, 0u32);
        while cur != 0 && cur <= WAITER_SLOTS && steps <= WAITER_SLOTS {
            steps += 1;
            let w = cur - 1;
            cur = self.waiter(w).next;
            let word = self.q.wake_word(w);
            if word.compare_exchange(wake_word::SLEEPING, wake_word::WAITING, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                crate::emu::engine::futex::wake(word, 1);
            }
        }
    }

    /// Frees every pending scheduled message (IPC_RMID).
    fn discard_scheduled(&mut self) {
        let limit = SCHEDULED_MAX.max(self.st().scheduled);
        let (mut cur, mut steps) = (self.st().sched_head, 0u32);
        while cur != 0 && steps <= limit {
            steps += 1;
            let next = match self.msg(cur) {
                Ok(b) if b.state.load(Ordering::Relaxed) == block_state::SCHEDULED => b.next,
                _ => break,
            };
            self.free(cur);
            cur = next;
        }
        let st = self.st();
        st.sched_head = 0;
        st.scheduled = 0;
    }

    // ----- repair -----

    /// Rebuilds everything derived from the block and waiter states: waiters whose threads
    /// died are released, blocks nobody owns are freed, and the FIFO, the type index, the
    /// scheduled list, the free lists, the waiter lists and the counts are recomputed — arrival
    /// order restored from the sequence numbers and tickets, due order from the due times — and
    /// published to the registry entry.
    pub fn repair(&mut self) {
        // Waiters: keep the live ones, in ticket order.
        let top = self.st().waiter_top.min(WAITER_SLOTS);
        self.st().waiter_top = top;
        let mut recv: Vec<(u64, u32)> = Vec::new();
        let mut send: Vec<(u64, u32)> = Vec::new();
        let mut free: Vec<u32> = Vec::new();
        let mut max_ticket = 0;
        for w in 0..top {
            let state = self.waiter(w).state;
            let keep = match state {
                waiter_state::RECEIVING | waiter_state::SENDING | waiter_state::SERVED => self.alive(w),
                _ => false,
            };
            if !keep {
                let rec = self.waiter(w);
                rec.state = waiter_state::FREE;
                rec.handed = 0;
                free.push(w);
                continue;
            }
            let ticket = self.waiter(w).ticket;
            max_ticket = max_ticket.max(ticket + 1);
            match state {
                waiter_state::RECEIVING => recv.push((ticket, w)),
                waiter_state::SENDING => send.push((ticket, w)),
                _ => {}
            }
        }
        recv.sort_unstable();
        send.sort_unstable();
        {
            let st = self.st();
            st.next_ticket = st.next_ticket.max(max_ticket);
            st.recv_head = 0;
            st.recv_tail = 0;
            st.send_head = 0;
            st.send_tail = 0;
            st.recv_waiting = 0;
            st.send_waiting = 0;
            st.free_waiter = 0;
        }
        for &(_, w) in &recv {
            self.link_tail(w, waiter_state::RECEIVING);
        }
        for &(_, w) in &send {
            self.link_tail(w, waiter_state::SENDING);
        }
        for &w in free.iter().rev() {
            self.push_free_waiter(w);
        }
        // A sender whose pending message was committed by a process that died before serving
        // it is served now (its block says so); a fresh area mapping is needed to look.
        let area_units = self.q.header().area_units.load(Ordering::Acquire);
        let top_units = self.st().top.min(area_units);
        if self.q.ensure_mapped(area_offset() + top_units as u64 * UNIT).is_err() {
            return;
        }
        for &(_, w) in &send {
            self.settle_sender(w);
        }

        // Blocks: walk the area; keep queued and scheduled messages and messages handed to live
        // waiters.
        let area_units = self.q.header().area_units.load(Ordering::Acquire);
        let top_units = self.st().top.min(area_units);
        if self.q.ensure_mapped(area_offset() + top_units as u64 * UNIT).is_err() {
            // The grown area cannot be mapped now: leave the blocks as they are (operations that
            // find them inconsistent repair again later) rather than lose messages.
            return;
        }
        self.st().top = top_units;
        let express = self.in_express_mode();
        let mut queued: Vec<(u64, u32)> = Vec::new();
        let mut scheduled: Vec<(u64, u64, u32)> = Vec::new();
        let mut handoffs: Vec<(u32, u32)> = Vec::new();
        let mut frees: Vec<u32> = Vec::new();
        let mut unit = 0u64;
        while unit < top_units as u64 {
            let r = unit as u32 + 1;
            let Some(p) = self.block_ptr(r) else { break };
            // SAFETY: a block header inside the mapping.
            let b = unsafe { &*(p as *const MsgBlock) };
            let class = b.class as usize;
            if class >= CLASSES || unit + class_units(class) > top_units as u64 {
                // Not a whole block: nothing beyond here can be trusted.
                self.st().top = unit as u32;
                break;
            }
            let capacity = class_units(class) * UNIT - UNIT;
            let keep = match b.state.load(Ordering::Acquire) {
                // In express mode the ring holds the queue: queued blocks are the copies of a
                // fold cut short.
                block_state::QUEUED => b.len <= capacity && !express,
                block_state::SCHEDULED => b.len <= capacity,
                state @ (block_state::HANDED | block_state::PENDING) => {
                    b.len <= capacity && {
                        let owner = b.owner;
                        let wanted = if state == block_state::HANDED { waiter_state::SERVED } else { waiter_state::SENDING };
                        owner.checked_sub(1).filter(|&w| w < top).is_some_and(|w| {
                            let rec = self.waiter(w);
                            if state == block_state::HANDED && rec.state == waiter_state::RECEIVING && rec.handed == 0 {
                                // Committed to a live receiver by a process that died before serving
                                // it: it is served below (a scheduled message's sender is long gone).
                                handoffs.push((w, r));
                                return true;
                            }
                            rec.state == wanted && rec.handed == r
                        })
                    }
                }
                _ => false,
            };
            if !keep {
                frees.push(r);
            } else if b.state.load(Ordering::Relaxed) == block_state::QUEUED {
                queued.push((b.seq, r));
            } else if b.state.load(Ordering::Relaxed) == block_state::SCHEDULED {
                scheduled.push((b.due_ns, b.handle, r));
            }
            unit += class_units(class);
        }
        {
            let st = self.st();
            st.free_blocks = [0; CLASSES];
            st.fifo_head = 0;
            st.fifo_tail = 0;
            st.root_by_type = 0;
            st.root_by_age = 0;
            st.types = 0;
            st.qnum = 0;
            st.cbytes = 0;
        }
        for &r in frees.iter().rev() {
            if let Some(p) = self.block_ptr(r) {
                // SAFETY: a block header inside the mapping.
                let b = unsafe { &mut *(p as *mut MsgBlock) };
                let class = b.class as usize;
                if class >= CLASSES {
                    continue;
                }
                b.state.store(block_state::FREE, Ordering::Release);
                b.owner = 0;
                b.next = self.st().free_blocks[class];
                self.st().free_blocks[class] = r;
            }
        }
        for &(w, r) in &handoffs {
            if self.waiter(w).state == waiter_state::RECEIVING && self.unlink_waiter(w).is_ok() {
                self.serve(w, 0, r);
            } else {
                // A second block handed to the same receiver: only one can be its message.
                self.free(r);
            }
        }
        // The scheduled messages in due order, then handle.
        scheduled.sort_unstable();
        let mut head = 0;
        for &(_, _, r) in scheduled.iter().rev() {
            if let Ok(b) = self.msg(r) {
                b.next = head;
                head = r;
            }
        }
        let max_handle = scheduled.iter().map(|&(_, h, _)| h).max().unwrap_or(0);
        {
            let st = self.st();
            st.sched_head = head;
            st.scheduled = scheduled.len() as u32;
            st.next_handle = st.next_handle.max(max_handle.saturating_add(1));
        }
        queued.sort_unstable();
        if let Some(&(last, _)) = queued.last() {
            let st = self.st();
            st.next_seq = st.next_seq.max(last + 1);
        }
        // The FIFO and each type's list, then a type node per type.
        let mut by_type: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        let mut prev = 0;
        for &(_, r) in &queued {
            let Some(p) = self.block_ptr(r) else { continue };
            // SAFETY: a kept block header inside the mapping.
            let b = unsafe { &mut *(p as *mut MsgBlock) };
            b.prev = prev;
            b.next = 0;
            b.tnext = 0;
            by_type.entry(b.mtype).or_default().push(r);
            let len = b.len;
            if prev != 0 {
                if let Some(pp) = self.block_ptr(prev) {
                    // SAFETY: as above.
                    unsafe { (*(pp as *mut MsgBlock)).next = r };
                }
            } else {
                self.st().fifo_head = r;
            }
            self.st().fifo_tail = r;
            prev = r;
            let st = self.st();
            st.qnum += 1;
            st.cbytes += len;
        }
        for (mtype, msgs) in by_type {
            let node = match self.alloc(0) {
                Ok(n) => n,
                // No room left even for a type node: these messages cannot be indexed, so
                // they cannot stay (only when the namespace's file system is full).
                Err(_) => {
                    self.drop_messages(&msgs);
                    continue;
                }
            };
            for pair in msgs.windows(2) {
                if let Ok(b) = self.msg(pair[0]) {
                    b.tnext = pair[1];
                }
            }
            let head_seq = self.msg(msgs[0]).map(|b| b.seq).unwrap_or(0);
            if let Some(p) = self.block_ptr(node) {
                // SAFETY: a freshly allocated one-unit block in the mapping.
                let n = unsafe { &mut *(p as *mut TypeNode) };
                n.mtype = mtype;
                n.head_seq = head_seq;
                n.head = msgs[0];
                n.tail = msgs[msgs.len() - 1];
                n.count = msgs.len() as u32;
                n.left = [0; 2];
                n.right = [0; 2];
                n.state.store(block_state::TYPE, Ordering::Release);
            }
            let ok = self.tinsert(0, node).and_then(|()| self.tinsert(1, node));
            match ok {
                Ok(()) => {
                    self.st().types += 1;
                }
                Err(Corrupt) => {
                    // Only a pathological tree gets here: start the index afresh with a new seed.
                    let h = self.q.header_ptr();
                    // SAFETY: under the lock; a plain field of the header.
                    unsafe { (*h).tree_seed = (*h).tree_seed.wrapping_mul(6364136223846793005).wrapping_add(1) };
                }
            }
        }
        if self.valid() {
            registry::settle_stats(self.entry);
            self.publish(StatUpdate::default());
            // Not knowing which of them were found due already, publish the earliest of all.
            self.publish_schedule(0);
        } else {
            // A remover died between clearing the entry and waking everyone: finish its job.
            self.remove_all();
        }
    }

    /// Frees queued messages that cannot be kept (repair without room for their type node).
    fn drop_messages(&mut self, msgs: &[u32]) {
        for &r in msgs {
            let (prev, next, len) = match self.msg(r) {
                Ok(b) => (b.prev, b.next, b.len),
                Err(_) => continue,
            };
            if prev != 0 {
                if let Ok(p) = self.msg(prev) {
                    p.next = next;
                }
            } else {
                self.st().fifo_head = next;
            }
            if next != 0 {
                if let Ok(n) = self.msg(next) {
                    n.prev = prev;
                }
            } else {
                self.st().fifo_tail = prev;
            }
            let st = self.st();
            st.qnum = st.qnum.saturating_sub(1);
            st.cbytes = st.cbytes.saturating_sub(len);
            self.free(r);
        }
    }

    /// Frees the queued messages `msgs` (all of one type, the whole queue) once the ring has
    /// taken them over, and the type node: the general structure is empty again.
    fn drop_taken_over(&mut self, msgs: &[(u32, i64, u64)]) {
        let node = self.st().root_by_type;
        for &(r, _, _) in msgs {
            self.free(r);
        }
        if node != 0 {
            self.free(node);
        }
        let st = self.st();
        st.fifo_head = 0;
        st.fifo_tail = 0;
        st.root_by_type = 0;
        st.root_by_age = 0;
        st.types = 0;
        st.qnum = 0;
        st.cbytes = 0;
    }

    /// Counts for `mqshim ipcs` and the tests: (messages, bytes, types, receivers, senders).
    pub fn counts(&mut self) -> (u64, u64, u32, u32, u32) {
        let st = self.st();
        (st.qnum, st.cbytes, st.types, st.recv_waiting, st.send_waiting)
    }
}

impl Nodes for Locked<'_> {
    fn valid(&self, n: u32) -> bool {
        // SAFETY: block_ptr checked the block lies in the mapping; state is atomic.
        self.block_ptr(n).is_some_and(|p| unsafe { (*(p as *const TypeNode)).state.load(Ordering::Relaxed) } == block_state::TYPE)
    }

    fn key(&self, n: u32, tree: usize) -> u64 {
        match self.block_ptr(n) {
            // SAFETY: a block in the mapping (validated by the treap before use).
            Some(p) => unsafe {
                let node = &*(p as *const TypeNode);
                if tree == 0 {
                    type_key(node.mtype)
                } else {
                    node.head_seq
                }
            },
            None => 0,
        }
    }

    fn left(&self, n: u32, tree: usize) -> u32 {
        // SAFETY: as for `key`.
        self.block_ptr(n).map_or(0, |p| unsafe { (*(p as *const TypeNode)).left[tree & 1] })
    }

    fn right(&self, n: u32, tree: usize) -> u32 {
        // SAFETY: as for `key`.
        self.block_ptr(n).map_or(0, |p| unsafe { (*(p as *const TypeNode)).right[tree & 1] })
    }

    fn set_left(&mut self, n: u32, tree: usize, child: u32) {
        if let Some(p) = self.block_ptr(n) {
            // SAFETY: under the lock; a block in the mapping.
            unsafe { (*(p as *mut TypeNode)).left[tree & 1] = child };
        }
    }

    fn set_right(&mut self, n: u32, tree: usize, child: u32) {
        if let Some(p) = self.block_ptr(n) {
            // SAFETY: under the lock; a block in the mapping.
            unsafe { (*(p as *mut TypeNode)).right[tree & 1] = child };
        }
    }

    fn seed(&self) -> u64 {
        self.q.header().tree_seed
    }
}

#[cfg(test)]
mod tests {
    use super::super::registry::{NewEntry, Registry};
    use super::*;
    use std::collections::VecDeque;

    /// A queue in a fresh directory, with its registry entry.
    pub(super) struct Fixture {
        path: String,
        dir: c_int,
        registry: Registry,
        pub(super) queue: Queue,
        idx: u32,
    }

    impl Fixture {
        pub(super) fn new(qbytes: u64) -> Fixture {
            static N: AtomicU32 = AtomicU32::new(0);
            let path = format!("/tmp/mqshim-sysv-queue-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
            let c = CString::new(path.clone()).unwrap();
            // SAFETY: NUL-terminated path.
            unsafe { libc::mkdir(c.as_ptr(), 0o700) };
            // SAFETY: as above.
            let dir = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
            assert!(dir >= 0);
            let registry = Registry::open(dir).unwrap();
            let (slot, nonce) = {
                let mut l = registry.lock().unwrap();
                let slot = l.allocate(100).unwrap();
                (slot, l.next_nonce())
            };
            let init = Init { id: slot.id, key: 42, nonce, mode: 0o600, uid: 0, gid: 0 };
            let queue = Queue::create(dir, &format!("msq.{}.{nonce:x}", slot.id), &init).unwrap();
            registry.lock().unwrap().commit(slot, &NewEntry { key: 42, mode: 0o600, uid: 0, gid: 0, qbytes, ctime: 1, nonce });
            Fixture { path, dir, registry, queue, idx: slot.idx }
        }

        pub(super) fn entry(&self) -> &Entry {
            self.registry.entry(self.idx)
        }

        pub(super) fn lock(&self) -> Locked<'_> {
            self.queue.lock(self.entry()).unwrap()
        }

        pub(super) fn send(&self, mtype: i64, text: &[u8]) {
            let mut l = self.lock();
            assert!(l.fits(text.len() as u64));
            l.send(mtype, text.as_ptr(), text.len(), 1, 2).unwrap();
        }

        /// Receives like msgrcv(IPC_NOWAIT): (type, text) or None.
        pub(super) fn receive(&self, msgtyp: i64, flags: i32) -> Option<(i64, Vec<u8>)> {
            let (mode, typ) = convert_mode(msgtyp, flags);
            let mut l = self.lock();
            let r = l.find(mode, typ).unwrap()?;
            let mut buf = vec![0u8; 8 + 70_000];
            let got = l.take(r, buf.as_mut_ptr(), buf.len() - 8, 1, 2).unwrap();
            assert!(got.copied);
            let mtype = i64::from_ne_bytes(buf[..8].try_into().unwrap());
            Some((mtype, buf[8..8 + got.len].to_vec()))
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            // SAFETY: the fixture's directory descriptor.
            unsafe { crate::real::close(self.dir) };
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    /// The kernel's find_msg on a model queue (arrival order).
    pub(super) fn model_find(model: &VecDeque<(i64, Vec<u8>)>, msgtyp: i64, flags: i32) -> Option<usize> {
        let (mode, typ) = convert_mode(msgtyp, flags);
        match mode {
            search::LESSEQUAL => {
                let lowest = model.iter().map(|m| m.0).filter(|&t| t <= typ).min()?;
                model.iter().position(|m| m.0 == lowest)
            }
            _ => model.iter().position(|m| testmsg(m.0, typ, mode)),
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn selection_by_type_matches_the_kernel_with_10000_messages_of_1000_types() {
        let f = Fixture::new(1 << 20);
        let mut model: VecDeque<(i64, Vec<u8>)> = VecDeque::new();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for i in 0..10_000u64 {
            let t = 1 + (rng.next() % 1000) as i64;
            let text = format!("m{i}-{t}").into_bytes();
            f.send(t, &text);
            model.push_back((t, text));
        }
        assert_eq!(f.lock().counts().2, 1000.min(model.iter().map(|m| m.0).collect::<std::collections::BTreeSet<_>>().len()) as u32);
        let started = std::time::Instant::now();
        for step in 0..12_000u64 {
            let (msgtyp, flags) = match rng.next() % 5 {
                0 => (0, 0),
                1 => (1 + (rng.next() % 1001) as i64, 0),
                2 => (1 + (rng.next() % 1001) as i64, libc::MSG_EXCEPT),
                3 => (-(1 + (rng.next() % 1001) as i64), 0),
                _ => (if rng.next() % 8 == 0 { i64::MIN } else { -(1 + (rng.next() % 5) as i64) }, 0),
            };
            let want = model_find(&model, msgtyp, flags).and_then(|i| model.remove(i));
            let got = f.receive(msgtyp, flags);
            assert_eq!(got, want, "step {step}: msgtyp {msgtyp} flags {flags:#o}");
            if step % 4 == 0 {
                let t = 1 + (rng.next() % 1000) as i64;
                let text = format!("late{step}").into_bytes();
                f.send(t, &text);
                model.push_back((t, text));
            }
        }
        // Sublinear per receive: 12,000 selections over thousands of messages stay fast.
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
        let (qnum, cbytes, ..) = f.lock().counts();
        assert_eq!(qnum as usize, model.len());
        assert_eq!(cbytes as usize, model.iter().map(|m| m.1.len()).sum::<usize>());
        let s = registry::snapshot(f.entry());
        assert_eq!((s.qnum, s.cbytes), (qnum, cbytes));
    }

    #[test]
    fn the_area_grows_and_other_mappings_follow() {
        let f = Fixture::new(1 << 30);
        let other = Queue::attach(f.dir, &format!("msq.{}.{:x}", f.queue.id, f.queue.nonce), f.queue.id, f.queue.nonce).unwrap();
        let big = vec![7u8; 60_000];
        for i in 0..200 {
            f.send(1 + i % 3, &big[..(i as usize * 6007) % 60_000]);
        }
        assert!(f.queue.header().area_units.load(Ordering::Relaxed) > INITIAL_AREA_UNITS);
        // A second mapping (as in another process) maps the grown file when it next locks.
        let mut l = other.lock(f.entry()).unwrap();
        let mut seen = 0;
        while let Some(r) = l.find(search::ANY, 0).unwrap() {
            let mut buf = vec![0u8; 8 + 60_000];
            let got = l.take(r, buf.as_mut_ptr(), 60_000, 1, 2).unwrap();
            assert_eq!(got.len, (seen * 6007) % 60_000);
            assert!(buf[8..8 + got.len].iter().all(|&b| b == 7));
            seen += 1;
        }
        assert_eq!(seen, 200);
    }

    /// Wipes everything repair must be able to rebuild.
    fn wipe_derived(l: &mut Locked<'_>) {
        let st = l.st();
        st.fifo_head = 0;
        st.fifo_tail = 0;
        st.root_by_type = 0;
        st.root_by_age = 0;
        st.free_blocks = [0; CLASSES];
        st.qnum = 12345;
        st.cbytes = 0;
        st.types = 999;
        st.recv_head = 0;
        st.send_head = 0;
        st.free_waiter = 0;
    }

    #[test]
    fn repair_rebuilds_the_queue_from_block_states() {
        let f = Fixture::new(1 << 20);
        let mut model: VecDeque<(i64, Vec<u8>)> = VecDeque::new();
        for i in 0..300i64 {
            let text = vec![b'a' + (i % 26) as u8; (i * 7 % 100) as usize];
            f.send(1 + i % 17, &text);
            model.push_back((1 + i % 17, text));
        }
        for _ in 0..50 {
            let want = model.pop_front();
            assert_eq!(f.receive(0, 0), want);
        }
        {
            let mut l = f.lock();
            wipe_derived(&mut l);
            l.repair();
            assert_eq!(l.counts().0 as usize, model.len());
            assert_eq!(l.counts().2, 17);
        }
        // Everything comes back in the kernel's order, and the freed blocks are reused.
        for msgtyp in [-3i64, 5, 0, -17, 16] {
            let want = model_find(&model, msgtyp, 0).and_then(|i| model.remove(i));
            assert_eq!(f.receive(msgtyp, 0), want);
        }
        let top_before = f.lock().st().top;
        f.send(99, b"reuses a freed block");
        assert_eq!(f.lock().st().top, top_before);
        model.push_back((99, b"reuses a freed block".to_vec()));
        while let Some(want) = model.pop_front() {
            assert_eq!(f.receive(0, 0), Some(want));
        }
        assert_eq!(f.receive(0, 0), None);
    }

    #[test]
    fn a_lock_owner_dying_mid_send_leaves_no_trace() {
        let f = Fixture::new(1 << 20);
        f.send(3, b"before");
        std::thread::scope(|s| {
            s.spawn(|| {
                // Write a message and die (thread exit: the robust lock is marked
                // owner-dead) before committing it.
                let mut l = f.lock();
                let r = l.write_message(4, b"half".as_ptr(), 4).unwrap().unwrap();
                assert!(r != 0);
                std::mem::forget(l);
            });
        });
        // The next locker repairs: the half-written message is not there.
        assert_eq!(f.receive(0, 0), Some((3, b"before".to_vec())));
        assert_eq!(f.receive(0, 0), None);
        std::thread::scope(|s| {
            s.spawn(|| {
                // Commit a message, then die before linking it anywhere.
                let mut l = f.lock();
                let r = l.write_message(5, b"committed".as_ptr(), 9).unwrap().unwrap();
                let node = l.alloc(0).unwrap();
                {
                    let b = l.msg(r).unwrap();
                    b.seq = 1000;
                    b.state.store(block_state::QUEUED, Ordering::Release);
                }
                let _ = node;
                std::mem::forget(l);
            });
        });
        assert_eq!(f.receive(5, 0), Some((5, b"committed".to_vec())));
        assert_eq!(f.lock().counts().0, 0);
    }

    #[test]
    fn a_pending_send_committed_by_a_dead_process_is_not_sent_twice() {
        let f = Fixture::new(1 << 20);
        let w = {
            let mut l = f.lock();
            l.register_sender(8, b"pending".as_ptr(), 7, 1, 1).unwrap()
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                // A receiver commits the pending message for the sender, and dies before
                // serving it.
                let mut l = f.lock();
                let r = l.waiter(w).handed;
                let (mtype, len) = l.describe(r).unwrap();
                l.deliver(r, mtype, len, 1, 2).unwrap().unwrap();
                std::mem::forget(l);
            });
        });
        let mut l = f.lock();
        // Repair served the sender: sent, once.
        assert_eq!(l.waiter(w).state, waiter_state::SERVED);
        assert_eq!(l.finish(w, std::ptr::null_mut(), 0), Finished::Sent);
        drop(l);
        assert_eq!(f.receive(0, 0), Some((8, b"pending".to_vec())));
        assert_eq!(f.receive(0, 0), None);
    }

    #[test]
    fn a_receive_that_makes_room_sends_for_blocked_senders_in_order() {
        let f = Fixture::new(10);
        f.send(1, b"0123456789");
        let (a, b) = {
            let mut l = f.lock();
            assert!(!l.fits(6));
            let a = l.register_sender(2, b"sixsix".as_ptr(), 6, 1, 1).unwrap();
            let b = l.register_sender(3, b"four".as_ptr(), 4, 1, 1).unwrap();
            (a, b)
        };
        assert_eq!(f.receive(0, 0), Some((1, b"0123456789".to_vec())));
        let mut l = f.lock();
        assert_eq!(l.finish(a, std::ptr::null_mut(), 0), Finished::Sent);
        assert_eq!(l.finish(b, std::ptr::null_mut(), 0), Finished::Sent);
        drop(l);
        assert_eq!(f.receive(0, 0), Some((2, b"sixsix".to_vec())));
        assert_eq!(f.receive(0, 0), Some((3, b"four".to_vec())));
        // After IPC_SET a blocked sender looks again instead.
        f.send(1, b"0123456789");
        let c = f.lock().register_sender(2, b"x".as_ptr(), 1, 1, 1).unwrap();
        f.lock().recheck_all();
        let mut l = f.lock();
        assert_eq!(l.finish(c, std::ptr::null_mut(), 0), Finished::NotServed);
    }

    // ----- scheduled messages -----

    impl Fixture {
        /// Schedules (mtype, text) at `due_ns`; returns the handle.
        fn schedule(&self, mtype: i64, text: &[u8], due_ns: u64) -> Result<u64> {
            self.lock().schedule(mtype, text.as_ptr(), text.len(), due_ns, 77)
        }
    }

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_scheduled_message_is_invisible_and_uncounted_until_due_then_sent_in_type_order() {
        let f = Fixture::new(1 << 20);
        let now = realtime_ns();
        f.send(3, b"three");
        let h1 = f.schedule(2, b"two", now + 3600 * SECOND).unwrap();
        let h2 = f.schedule(1, b"one", now + 7200 * SECOND).unwrap();
        assert!(h1 != 0 && h2 > h1);
        {
            let mut l = f.lock();
            assert_eq!((l.counts().0, l.counts().1, l.scheduled()), (1, 5, 2));
            assert_eq!(l.find(search::EQUAL, 2).unwrap(), None);
        }
        // The registry entry tells lock-free readers when to look, and ipcs how many are pending.
        assert_eq!(f.entry().next_due_ns.load(Ordering::Relaxed), now + 3600 * SECOND);
        assert_eq!(f.entry().scheduled.load(Ordering::Relaxed), 2);
        assert_eq!(registry::snapshot(f.entry()).qnum, 1);
        // Due (as if the clock had moved on): sent as msgsnd would send it then.
        {
            let mut l = f.lock();
            l.settle_schedule(now + 3600 * SECOND);
            assert_eq!((l.counts().0, l.scheduled()), (2, 1));
        }
        assert_eq!(f.entry().next_due_ns.load(Ordering::Relaxed), now + 7200 * SECOND);
        let s = registry::snapshot(f.entry());
        assert_eq!((s.qnum, s.cbytes, s.lspid), (2, 8, 77));
        // Lowest type first: the scheduled message takes its place among the others by type.
        assert_eq!(f.receive(-10, 0), Some((2, b"two".to_vec())));
        assert_eq!(f.receive(-10, 0), Some((3, b"three".to_vec())));
        assert_eq!(f.receive(0, 0), None);
        assert_eq!(f.lock().cancel(h2), Ok(()));
        assert_eq!(f.entry().next_due_ns.load(Ordering::Relaxed), 0);
        assert_eq!(f.entry().scheduled.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_message_scheduled_in_the_past_is_sent_at_once_and_cannot_be_cancelled() {
        let f = Fixture::new(1 << 20);
        let h = f.schedule(4, b"late", 1).unwrap();
        assert_eq!(f.lock().cancel(h), Err(Errno::ENOENT));
        assert_eq!(f.lock().scheduled(), 0);
        assert_eq!(f.receive(0, 0), Some((4, b"late".to_vec())));
        assert_eq!(f.lock().cancel(h + 1000), Err(Errno::ENOENT));
    }

    #[test]
    fn cancel_before_due_frees_the_message_once() {
        let f = Fixture::new(1 << 20);
        let far = realtime_ns() + 3600 * SECOND;
        let a = f.schedule(1, b"a", far).unwrap();
        let b = f.schedule(1, b"b", far).unwrap();
        let top = f.lock().st().top;
        assert_eq!(f.lock().cancel(a), Ok(()));
        assert_eq!(f.lock().cancel(a), Err(Errno::ENOENT));
        assert_eq!(f.lock().scheduled(), 1);
        // The freed block is reused.
        f.schedule(1, b"c", far).unwrap();
        assert_eq!(f.lock().st().top, top);
        assert_eq!(f.lock().cancel(b), Ok(()));
        f.lock().settle_schedule(far);
        assert_eq!(f.receive(0, 0), Some((1, b"c".to_vec())));
    }

    #[test]
    fn at_most_64_are_pending_per_queue() {
        let f = Fixture::new(1 << 20);
        let far = realtime_ns() + 3600 * SECOND;
        let handles: Vec<u64> = (0..SCHEDULED_MAX).map(|i| f.schedule(1, &[i as u8], far + i as u64).unwrap()).collect();
        assert_eq!(f.schedule(1, b"x", far), Err(Errno::EAGAIN));
        assert_eq!(f.lock().cancel(handles[10]), Ok(()));
        assert!(f.schedule(1, b"x", far).is_ok());
    }

    #[test]
    fn a_due_message_that_does_not_fit_waits_for_room_and_enters_when_a_receive_makes_it() {
        let f = Fixture::new(10);
        f.send(1, b"0123456789");
        let h = f.schedule(2, b"xyz", 1).unwrap();
        {
            let mut l = f.lock();
            // Due, but qbytes is full: it waits, uncounted, and is no longer cancellable.
            assert_eq!((l.counts().0, l.scheduled()), (1, 1));
            assert_eq!(l.cancel(h), Err(Errno::ENOENT));
        }
        // Nothing is left to wake a receiver for: a receive that makes room sends it.
        assert_eq!(f.entry().next_due_ns.load(Ordering::Relaxed), 0);
        assert_eq!(f.entry().scheduled.load(Ordering::Relaxed), 1);
        assert_eq!(f.receive(0, 0), Some((1, b"0123456789".to_vec())));
        assert_eq!(f.lock().counts().0, 1);
        assert_eq!(f.lock().scheduled(), 0);
        assert_eq!(f.receive(0, 0), Some((2, b"xyz".to_vec())));
    }

    #[test]
    fn a_due_message_goes_to_a_matching_blocked_receiver() {
        let f = Fixture::new(1 << 20);
        let w = f.lock().register_receiver(5, search::EQUAL, 100, 1, 1).unwrap();
        let now = realtime_ns();
        f.schedule(4, b"other", now + 1000 * SECOND).unwrap();
        f.schedule(5, b"mine", now + 2000 * SECOND).unwrap();
        f.lock().settle_schedule(now + 1500 * SECOND);
        assert_eq!(f.lock().waiter(w).state, waiter_state::RECEIVING);
        f.lock().settle_schedule(now + 2000 * SECOND);
        let mut buf = [0u8; 8 + 100];
        let got = f.lock().finish(w, buf.as_mut_ptr(), 100);
        assert_eq!(got, Finished::Handed(Received { len: 4, copied: true }));
        assert_eq!(&buf[8..12], b"mine");
        assert_eq!(f.receive(0, 0), Some((4, b"other".to_vec())));
    }

    #[test]
    fn repair_rebuilds_the_scheduled_list_from_block_states() {
        let f = Fixture::new(1 << 20);
        let base = realtime_ns() + 3600 * SECOND;
        let dues = [5u64, 1, 4, 1, 3];
        let handles: Vec<u64> = dues.iter().enumerate().map(|(i, &d)| f.schedule(10 + i as i64, b"s", base + d * SECOND).unwrap()).collect();
        f.send(1, b"plain");
        {
            let mut l = f.lock();
            wipe_derived(&mut l);
            let st = l.st();
            st.sched_head = 0;
            st.scheduled = 0;
            st.next_handle = 0;
            l.repair();
            assert_eq!((l.counts().0, l.scheduled()), (1, 5));
            // New handles stay unique.
            assert!(l.st().next_handle > *handles.iter().max().unwrap());
        }
        assert_eq!(f.entry().next_due_ns.load(Ordering::Relaxed), base + SECOND);
        // Due order, then handle order: types 11, 13, 14, 12, 10.
        f.lock().settle_schedule(base + 10 * SECOND);
        let order: Vec<i64> = std::iter::from_fn(|| f.receive(0, 0).map(|m| m.0)).collect();
        assert_eq!(order, vec![1, 11, 13, 14, 12, 10]);
    }

    #[test]
    fn a_scheduler_dying_after_its_commit_leaves_the_message_to_the_queue() {
        let f = Fixture::new(1 << 20);
        let far = realtime_ns() + 3600 * SECOND;
        std::thread::scope(|s| {
            s.spawn(|| {
                // Commit a scheduled message, then die (thread exit: the robust lock is marked
                // owner-dead) before linking or counting it.
                let mut l = f.lock();
                let r = l.write_message(6, b"orphan".as_ptr(), 6).unwrap().unwrap();
                let b = l.msg(r).unwrap();
                b.due_ns = far;
                b.handle = 900;
                b.state.store(block_state::SCHEDULED, Ordering::Release);
                std::mem::forget(l);
            });
        });
        let mut l = f.lock();
        assert_eq!(l.scheduled(), 1);
        assert_eq!(l.cancel(900), Ok(()));
        assert_eq!(l.scheduled(), 0);
    }

    #[test]
    fn a_promoter_dying_after_handing_over_still_serves_the_receiver() {
        let f = Fixture::new(1 << 20);
        let w = f.lock().register_receiver(0, search::ANY, 100, 1, 1).unwrap();
        let far = realtime_ns() + 3600 * SECOND;
        f.schedule(7, b"handed", far).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                // The commit of the hand-over, then death before the receiver is served.
                let mut l = f.lock();
                let r = l.st().sched_head;
                l.unlink_waiter(w).unwrap();
                let b = l.msg(r).unwrap();
                b.owner = w + 1;
                b.state.store(block_state::HANDED, Ordering::Release);
                std::mem::forget(l);
            });
        });
        let mut l = f.lock();
        assert_eq!(l.scheduled(), 0);
        assert_eq!(l.waiter(w).state, waiter_state::SERVED);
        let mut buf = [0u8; 8 + 100];
        assert_eq!(l.finish(w, buf.as_mut_ptr(), 100), Finished::Handed(Received { len: 6, copied: true }));
        assert_eq!(&buf[8..14], b"handed");
    }

    #[test]
    fn removal_discards_pending_scheduled_messages() {
        let f = Fixture::new(1 << 20);
        f.schedule(1, b"gone", realtime_ns() + 3600 * SECOND).unwrap();
        let mut l = f.lock();
        l.remove_all();
        assert_eq!(l.scheduled(), 0);
        assert_eq!(l.st().sched_head, 0);
    }
}
