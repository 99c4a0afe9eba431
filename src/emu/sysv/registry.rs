//! The registry of a namespace's System V queues: one shared file holding, per index, the
//! queue living there — key, id, permissions and the statistics `IPC_STAT` reports — and the id
//! allocator (the kernel's `struct ipc_ids`).
//!
//! Ids are the kernel's: `(seq << 15) + index`, the index allocated cyclically below
//! `max(in_use * 3 / 2, 64)` (`ipc_idr_alloc` with `idr_alloc_cyclic`), `seq` bumped whenever the
//! chosen index is not above the last one. So a fresh namespace hands out 0, 1, 2, … like a
//! fresh IPC namespace, and a removed id is not reused until `seq` wraps.
//!
//! Everyone can read and write the registry (it must be, for `msgget` and `MSG_STAT_ANY` to work
//! for every user), so its contents are validated like any shared memory, and the emulation
//! trusts the users of one namespace not to scribble on it. Permissions and statistics are read
//! without a lock (each under a sequence lock of its own, on its own cache line, so the
//! statistics every send writes do not disturb the permissions every call reads); they are
//! written only by the holder of the queue's own lock. The registry lock (robust) serialises creation, lookup by
//! key, IPC_SET and removal. `in_use` and `max_idx` are derived from the entries and rebuilt if a
//! process dies holding the lock; a creation commits with its entry's final store of `id1`, a
//! removal with its first (clearing it).

use std::ffi::{CStr, CString};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::layout::{
    Entry, RegistryHeader, ENTRY_SIZE, IPCID_SEQ_MAX, IPCMNI, IPCMNI_SHIFT, IPC_MIN_CYCLE, KEY_TABLE_OFFSET, KEY_TABLE_SLOTS, KEY_TOMBSTONE,
    REGISTRY_HEADER_SIZE, REGISTRY_SEGMENT, REGISTRY_SIZE,
};
use crate::emu::engine::lock::{self, Acquired};
use crate::emu::engine::segment::{self, Mapping, SegmentError};
use crate::emu::engine::seqlock::{self, Patience};
use crate::errno::{Errno, Result};
use crate::os::sys;

/// The registry's file name in the `sysv/` directory.
const REGISTRY_NAME: &CStr = c"registry";

/// A mapped, validated registry.
pub struct Registry {
    map: Mapping,
    /// The `sysv/` directory (its owner keeps it open), to reserve storage through the file.
    dir: c_int,
    /// Bytes of entries known (to this process) to have their storage allocated.
    reserved: AtomicU64,
}

/// A consistent view of an entry's permissions and statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub key: i32,
    pub seq: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub qnum: u64,
    pub cbytes: u64,
    pub qbytes: u64,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub lspid: i32,
    pub lrpid: i32,
}

impl Registry {
    /// Opens the registry of the `sysv/` directory `dir`, creating it if missing: it is built
    /// under a temporary name and renamed into place complete, so nobody sees it half made.
    pub fn open(dir: c_int) -> Result<Registry> {
        for _ in 0..8 {
            match segment::open_mapped(dir, REGISTRY_NAME, REGISTRY_SIZE, |e| e) {
                Ok(map) => return Registry::validate(map, dir),
                Err(Errno::ENOENT) => Registry::build(dir)?,
                Err(e) => return Err(e),
            }
        }
        Err(Errno::EIO)
    }

    /// `msg_next_id` as the kernel's file shows it: the id the next creation takes, or -1.
    pub fn next_id(&self) -> i64 {
        match self.header().next_id1.load(Ordering::Acquire) {
            n @ 1..=0x8000_0000 => n - 1,
            _ => -1,
        }
    }

    /// The namespace's sysctl generation (see `RegistryHeader::sysctl_generation`).
    pub fn sysctl_generation(&self) -> u64 {
        self.header().sysctl_generation.load(Ordering::Acquire)
    }

    /// Says that the namespace's sysctls changed.
    pub fn bump_sysctl_generation(&self) {
        self.header().sysctl_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Opens the registry in `dir` if it exists (ENOENT if not), building nothing.
    pub fn open_existing(dir: c_int) -> Result<Registry> {
        let map = segment::open_mapped(dir, REGISTRY_NAME, REGISTRY_SIZE, |e| e)?;
        Registry::validate(map, dir)
    }

    /// Checks the prefix (see `segment::validate`), then the registry's own geometry.
    fn validate(map: Mapping, dir: c_int) -> Result<Registry> {
        segment::validate(&map, &REGISTRY_SEGMENT, REGISTRY_HEADER_SIZE)?;
        // SAFETY: validated: the mapping holds at least the header, plain data and atomics.
        let h = unsafe { &*(map.base() as *const RegistryHeader) };
        let ok = h.entry_size as u64 == ENTRY_SIZE && h.entry_count == IPCMNI && h.total_size == REGISTRY_SIZE && map.len() as u64 >= REGISTRY_SIZE;
        if ok {
            Ok(Registry { map, dir, reserved: AtomicU64::new(0) })
        } else {
            Err(SegmentError::Corrupt.into())
        }
    }

    /// Builds a registry aside and renames it into place (losing the race is fine: the
    /// winner's is used).
    fn build(dir: c_int) -> Result<()> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let tmp = CString::new(format!("registry.new-{}-{}", super::caller::pid(), COUNTER.fetch_add(1, Ordering::Relaxed))).map_err(|_| Errno::EINVAL)?;
        let (aside, map) = segment::create_aside(dir, &tmp, REGISTRY_SIZE, REGISTRY_HEADER_SIZE, Errno::ENOSPC)?;
        // The key table is probed at hashed places (and a read makes a tmpfs page as a write
        // does): all of it (256 KiB per namespace) exists from the start.
        map.populate(KEY_TABLE_OFFSET as usize, KEY_TABLE_SLOTS as usize * 4).map_err(|_| Errno::ENOSPC)?;
        let h = map.base() as *mut RegistryHeader;
        // SAFETY: the file is private to this process until renamed into place; fields are
        // written through the raw pointer before any reference to them exists.
        unsafe {
            (*h).entry_size = ENTRY_SIZE as u32;
            (*h).entry_count = IPCMNI;
            (*h).total_size = REGISTRY_SIZE;
            (*h).alloc.last_idx = -1;
            (*h).alloc.max_idx.store(-1, Ordering::Relaxed);
            lock::init(&raw mut (*h).lock.mutex)?;
        }
        segment::publish(&map, &REGISTRY_SEGMENT, REGISTRY_HEADER_SIZE as u32);
        // Every user of the namespace creates and looks up queues here.
        sys::fchmod(aside.fd(), 0o666);
        if sys::renameat2(dir, &tmp, dir, REGISTRY_NAME, libc::RENAME_NOREPLACE) == 0 {
            aside.keep();
            return Ok(());
        }
        match Errno::last() {
            // Another process placed its registry first: ours goes (dropping `aside` removes it).
            Errno::EEXIST => Ok(()),
            e => Err(e),
        }
    }

    /// Whether the registry's mapping was poisoned (its file truncated under it: see
    /// `segment::containment`); every System V call of this process then fails with EIO.
    pub fn poisoned(&self) -> bool {
        self.map.poisoned()
    }

    /// Allocates the storage of the first `entries` entries (under the registry lock; a page at
    /// a time), so that reading and filling them cannot SIGBUS for want of room: ENOSPC when
    /// the filesystem is full. A plain load once done.
    fn reserve_entries(&self, entries: u32) -> Result<()> {
        let (done, upto) = (self.reserved.load(Ordering::Relaxed), entries as u64 * ENTRY_SIZE);
        if upto <= done {
            return Ok(());
        }
        let upto = upto.next_multiple_of(4096).min(REGISTRY_SIZE - REGISTRY_HEADER_SIZE);
        let fd = sys::openat(self.dir, REGISTRY_NAME, libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0);
        if fd < 0 {
            return Err(Errno::last());
        }
        let reserved = segment::reserve(fd, REGISTRY_HEADER_SIZE + done, upto - done, Errno::ENOSPC);
        sys::close(fd);
        reserved?;
        self.reserved.fetch_max(upto, Ordering::Relaxed);
        Ok(())
    }

    fn header(&self) -> &RegistryHeader {
        // SAFETY: validated; plain data and atomics.
        unsafe { &*(self.map.base() as *const RegistryHeader) }
    }

    /// The entry at `idx` (any value: it is reduced to an index, as `ipcid_to_idx` does).
    pub fn entry(&self, idx: u32) -> &Entry {
        let idx = (idx % IPCMNI) as u64;
        // SAFETY: the mapping holds IPCMNI entries after the header; entries are atomics and
        // padding, valid for any bit pattern.
        unsafe { &*(self.map.base().add((REGISTRY_HEADER_SIZE + idx * ENTRY_SIZE) as usize) as *const Entry) }
    }

    /// The entry of the live queue `id`, or None (the kernel's EINVAL).
    pub fn lookup(&self, id: i32) -> Option<&Entry> {
        let idx = id as u32 & (IPCMNI - 1);
        // Never an entry past the high-water mark, whose storage may not be allocated (reading
        // it could raise SIGBUS on a full filesystem): no queue was ever there.
        if id < 0 || idx >= self.high_water() {
            return None;
        }
        let e = self.entry(idx);
        (e.id1.load(Ordering::Acquire) == id as u32 + 1).then_some(e)
    }

    /// One more than the highest index ever used.
    pub fn high_water(&self) -> u32 {
        self.header().alloc.high_water.load(Ordering::Acquire).min(IPCMNI)
    }

    /// The highest live index, or -1 (the kernel's `ipc_get_maxidx`), and the number live.
    pub fn max_idx_and_in_use(&self) -> (i32, u32) {
        let a = &self.header().alloc;
        let in_use = a.in_use.load(Ordering::Acquire);
        if in_use == 0 {
            return (-1, 0);
        }
        if in_use >= IPCMNI {
            return (IPCMNI as i32 - 1, in_use);
        }
        (a.max_idx.load(Ordering::Acquire), in_use)
    }

    /// The live queue with `key` (not IPC_PRIVATE), as its index: a probe of the key table,
    /// whose hits are checked against the entries. Without the registry lock it may miss a
    /// queue being created or the table being rebuilt (the caller then asks under the lock),
    /// never find a wrong one.
    pub fn find_key(&self, key: i32) -> Option<u32> {
        self.probe(key, |_, v| v != KEY_TOMBSTONE && v != 0 && self.entry_has_key(v - 1, key)).and_then(|(_, v)| (v != 0).then(|| v - 1))
    }

    pub(crate) fn entry_has_key(&self, idx: u32, key: i32) -> bool {
        let e = self.entry(idx);
        idx < IPCMNI && e.id1.load(Ordering::Acquire) != 0 && e.key.load(Ordering::Relaxed) == key
    }

    /// The key table's slot `i`.
    pub(crate) fn key_slot(&self, i: u32) -> &AtomicU32 {
        // SAFETY: the mapping holds KEY_TABLE_SLOTS u32 from KEY_TABLE_OFFSET (validated size);
        // an AtomicU32 is valid for any bit pattern.
        unsafe { &*(self.map.base().add((KEY_TABLE_OFFSET + (i % KEY_TABLE_SLOTS) as u64 * 4) as usize) as *const AtomicU32) }
    }

    /// Walks `key`'s probe sequence until `stop(slot, value)` or an empty slot (returned with
    /// value 0); None when the whole table was walked.
    pub(crate) fn probe(&self, key: i32, stop: impl Fn(u32, u32) -> bool) -> Option<(u32, u32)> {
        let start = (key as u32).wrapping_mul(0x9e37_79b9) >> 16;
        (0..KEY_TABLE_SLOTS).map(|k| (start + k) % KEY_TABLE_SLOTS).find_map(|i| {
            let v = self.key_slot(i).load(Ordering::Relaxed);
            (v == 0 || stop(i, v)).then_some((i, v))
        })
    }

    /// Takes the registry lock, repairing the derived counts if its last owner died.
    pub fn lock(&self) -> Result<RegistryLocked<'_>> {
        if self.poisoned() {
            return Err(Errno::EIO);
        }
        let m = &self.header().lock.mutex as *const libc::pthread_mutex_t as *mut libc::pthread_mutex_t;
        // SAFETY: initialised before the registry was published.
        let how = unsafe { lock::lock(m)? };
        let mut locked = RegistryLocked { r: self };
        if how == Acquired::OwnerDied {
            locked.repair();
            // SAFETY: held, acquired with EOWNERDEAD, now repaired.
            unsafe { lock::mark_consistent(m) };
        }
        Ok(locked)
    }
}

/// How long a reader of an entry waits out a writer: a writer that died mid-write leaves its
/// sequence odd until the queue's repair, so after a while the reader takes what is there.
const READ_PATIENCE: Patience = Patience { tries: 20_001, spins_before_yield: 1000 };

/// Reads through sequence locks (see [`seqlock::read`]), taking what is there should a writer
/// seem never to finish.
fn read_consistent<T, const N: usize>(seqs: [&AtomicU32; N], read: impl Fn() -> T) -> T {
    seqlock::read(seqs, READ_PATIENCE, read).value
}

fn read_perms(e: &Entry, s: &mut Snapshot) {
    s.key = e.key.load(Ordering::Relaxed);
    s.seq = e.seq.load(Ordering::Relaxed);
    s.mode = e.mode.load(Ordering::Relaxed);
    s.uid = e.uid.load(Ordering::Relaxed);
    s.gid = e.gid.load(Ordering::Relaxed);
    s.cuid = e.cuid.load(Ordering::Relaxed);
    s.cgid = e.cgid.load(Ordering::Relaxed);
}

fn read_stats(e: &Entry, s: &mut Snapshot) {
    s.qnum = e.qnum.load(Ordering::Relaxed);
    s.cbytes = e.cbytes.load(Ordering::Relaxed);
    s.qbytes = e.qbytes.load(Ordering::Relaxed);
    s.stime = e.stime.load(Ordering::Relaxed);
    s.rtime = e.rtime.load(Ordering::Relaxed);
    s.ctime = e.ctime.load(Ordering::Relaxed);
    s.lspid = e.lspid.load(Ordering::Relaxed);
    s.lrpid = e.lrpid.load(Ordering::Relaxed);
    if super::queue::ring_mode_of(e).is_express() {
        // The ring holds the queue: its sides keep the counts and who moved what last.
        (s.qnum, s.cbytes) = super::queue::ring_counts(e);
        s.lspid = e.send.pid.load(Ordering::Relaxed);
        s.stime = e.send.time.load(Ordering::Relaxed);
        s.lrpid = e.recv.pid.load(Ordering::Relaxed);
        s.rtime = e.recv.time.load(Ordering::Relaxed);
    }
}

/// Messages queued now (for the hints of the fast paths).
pub fn queued(e: &Entry) -> u64 {
    let counts = |express| if express { super::queue::ring_counts(e).0 } else { e.qnum.load(Ordering::Acquire) };
    super::queue::ring_mode_of(e).read(READ_PATIENCE, counts).value
}

/// An entry's permissions (the statistics left zero): the one cache line every call reads.
pub fn perms(e: &Entry) -> Snapshot {
    read_consistent([&e.perm_seq], || {
        let mut s = Snapshot::default();
        read_perms(e, &mut s);
        s
    })
}

/// An entry's statistics (the permissions left zero).
pub fn stats(e: &Entry) -> Snapshot {
    read_consistent([&e.stat_seq, &e.ring_mode_seq], || {
        let mut s = Snapshot::default();
        read_stats(e, &mut s);
        s
    })
}

/// An entry's permissions and statistics, consistent with each other (IPC_STAT).
pub fn snapshot(e: &Entry) -> Snapshot {
    read_consistent([&e.perm_seq, &e.stat_seq, &e.ring_mode_seq], || {
        let mut s = Snapshot::default();
        read_perms(e, &mut s);
        read_stats(e, &mut s);
        s
    })
}

/// Writes an entry's statistics (the caller holds the queue's lock, so it is the only writer):
/// `f` runs between the stores that make `stat_seq` odd, then even.
pub fn write_stats(e: &Entry, f: impl FnOnce(&Entry)) {
    seqlock::write([&e.stat_seq], || f(e));
}

/// Writes an entry's permissions and statistics together (IPC_SET; the queue's lock is held).
pub fn write_perms_and_stats(e: &Entry, f: impl FnOnce(&Entry)) {
    seqlock::write([&e.perm_seq, &e.stat_seq], || f(e));
}

/// Makes an entry's sequence locks even again after a writer died mid-write (queue repair).
pub fn settle_stats(e: &Entry) {
    seqlock::settle(&e.perm_seq);
    seqlock::settle(&e.stat_seq);
}

/// What a new queue's entry holds.
pub struct NewEntry {
    pub key: i32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub qbytes: u64,
    pub ctime: i64,
    pub nonce: u64,
}

/// An index and sequence number chosen for a new queue (not yet committed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub idx: u32,
    pub seq: u32,
    pub id: i32,
}

/// The registry, locked.
pub struct RegistryLocked<'r> {
    r: &'r Registry,
}

impl Drop for RegistryLocked<'_> {
    fn drop(&mut self) {
        let m = &self.r.header().lock.mutex as *const libc::pthread_mutex_t as *mut libc::pthread_mutex_t;
        // SAFETY: this guard holds the lock.
        unsafe { lock::unlock(m) };
    }
}

impl<'r> RegistryLocked<'r> {
    fn alloc(&mut self) -> &mut super::layout::IdAllocator {
        // SAFETY: the registry lock is held: no one else touches the allocator's plain fields.
        unsafe { &mut (*(self.r.map.base() as *mut RegistryHeader)).alloc }
    }

    pub fn registry(&self) -> &'r Registry {
        self.r
    }

    /// The live queue with `key` (not IPC_PRIVATE), as its index (see [`Registry::find_key`]).
    pub fn find_key(&self, key: i32) -> Option<u32> {
        self.r.find_key(key)
    }

    /// Enters live queue `idx`'s key in the key table.
    fn index_key(&mut self, key: i32, idx: u32) {
        if key == libc::IPC_PRIVATE {
            return;
        }
        if let Some((i, v)) = self.r.probe(key, |_, v| v == KEY_TOMBSTONE) {
            if v == KEY_TOMBSTONE {
                self.header_mut().key_tombstones = self.header_mut().key_tombstones.saturating_sub(1);
            }
            self.r.key_slot(i).store(idx + 1, Ordering::Relaxed);
        } else {
            // Full of tombstones: rebuilt, with this entry already live.
            self.rebuild_key_table();
        }
    }

    /// Takes queue `idx`'s key out of the key table.
    fn unindex_key(&mut self, key: i32, idx: u32) {
        if key == libc::IPC_PRIVATE {
            return;
        }
        if let Some((i, v)) = self.r.probe(key, |_, v| v == idx + 1) {
            if v == idx + 1 {
                self.r.key_slot(i).store(KEY_TOMBSTONE, Ordering::Relaxed);
                self.header_mut().key_tombstones += 1;
            }
        }
        if self.header_mut().key_tombstones > (KEY_TABLE_SLOTS / 4) as u64 {
            self.rebuild_key_table();
        }
    }

    /// Rebuilds the key table from the live entries (after a crash, or when removed keys
    /// clutter it).
    fn rebuild_key_table(&mut self) {
        for i in 0..KEY_TABLE_SLOTS {
            self.r.key_slot(i).store(0, Ordering::Relaxed);
        }
        self.header_mut().key_tombstones = 0;
        for idx in 0..self.r.high_water() {
            let e = self.r.entry(idx);
            let key = e.key.load(Ordering::Relaxed);
            if e.id1.load(Ordering::Acquire) != 0 && key != libc::IPC_PRIVATE && self.find_key(key).is_none() {
                if let Some((i, _)) = self.r.probe(key, |_, _| false) {
                    self.r.key_slot(i).store(idx + 1, Ordering::Relaxed);
                }
            }
        }
    }

    fn header_mut(&mut self) -> &mut RegistryHeader {
        // SAFETY: the registry lock is held: no one else writes the header's plain fields.
        unsafe { &mut *(self.r.map.base() as *mut RegistryHeader) }
    }

    /// Chooses the index and sequence number of a new queue like `ipc_addid`/`ipc_idr_alloc`:
    /// ENOSPC when `limit` (msgmni, at most IPCMNI) queues exist or no index is free. The
    /// allocator moves on at once, so a creation that dies before committing only skips an id.
    pub fn allocate(&mut self, limit: u32) -> Result<Slot> {
        let limit = limit.min(IPCMNI);
        let in_use = self.r.header().alloc.in_use.load(Ordering::Acquire);
        if in_use >= limit {
            return Err(Errno::ENOSPC);
        }
        let next_id1 = self.r.header().next_id1.swap(0, Ordering::AcqRel);
        if (1..=i32::MAX as i64 + 1).contains(&next_id1) {
            return self.allocate_next_id((next_id1 - 1) as u32);
        }
        let max_idx = (in_use * 3 / 2).clamp(IPC_MIN_CYCLE, IPCMNI);
        // An entry never used before has its storage allocated before it is read (the scan
        // reads at most one such: it is free); no room makes it unusable, and the end ENOSPC.
        let free = |i: u32| self.r.reserve_entries(i + 1).is_ok() && self.r.entry(i).id1.load(Ordering::Acquire) == 0;
        let start = self.r.header().alloc.next_idx;
        let idx = (start..max_idx).find(|&i| free(i)).or_else(|| if start > 0 { (0..max_idx).find(|&i| free(i)) } else { None }).ok_or(Errno::ENOSPC)?;
        let a = self.alloc();
        a.next_idx = idx + 1;
        if idx as i32 <= a.last_idx {
            a.seq += 1;
            if a.seq >= IPCID_SEQ_MAX {
                a.seq = 0;
            }
        }
        a.last_idx = idx as i32;
        let seq = a.seq.min(IPCID_SEQ_MAX - 1);
        a.high_water.fetch_max(idx + 1, Ordering::AcqRel);
        Ok(Slot { idx, seq, id: ((seq << IPCMNI_SHIFT) + idx) as i32 })
    }

    /// `ipc_idr_alloc` with `msg_next_id` set: its sequence number, and its index or the first
    /// free one above it; the cyclic allocator is left as it was.
    fn allocate_next_id(&mut self, next_id: u32) -> Result<Slot> {
        let seq = next_id >> IPCMNI_SHIFT;
        let start = next_id & (IPCMNI - 1);
        let free = |i: u32| self.r.reserve_entries(i + 1).is_ok() && self.r.entry(i).id1.load(Ordering::Acquire) == 0;
        let idx = (start..IPCMNI).find(|&i| free(i)).ok_or(Errno::ENOSPC)?;
        self.r.header().alloc.high_water.fetch_max(idx + 1, Ordering::AcqRel);
        Ok(Slot { idx, seq, id: ((seq << IPCMNI_SHIFT) + idx) as i32 })
    }

    /// Sets `msg_next_id` (0..=INT_MAX).
    pub fn set_next_id(&mut self, id: i32) {
        self.r.header().next_id1.store(id as i64 + 1, Ordering::Release);
    }

    /// A fresh nonce for a segment file name.
    pub fn next_nonce(&mut self) -> u64 {
        let a = self.alloc();
        a.next_nonce = a.next_nonce.wrapping_add(1);
        a.next_nonce
    }

    /// Publishes a new queue at `slot`: every field first, `id1` last.
    pub fn commit(&mut self, slot: Slot, new: &NewEntry) {
        let e = self.r.entry(slot.idx);
        e.key.store(new.key, Ordering::Relaxed);
        e.seq.store(slot.seq, Ordering::Relaxed);
        e.mode.store(new.mode & 0o777, Ordering::Relaxed);
        e.uid.store(new.uid, Ordering::Relaxed);
        e.cuid.store(new.uid, Ordering::Relaxed);
        e.gid.store(new.gid, Ordering::Relaxed);
        e.cgid.store(new.gid, Ordering::Relaxed);
        e.nonce.store(new.nonce, Ordering::Relaxed);
        e.qnum.store(0, Ordering::Relaxed);
        e.cbytes.store(0, Ordering::Relaxed);
        e.qbytes.store(new.qbytes, Ordering::Relaxed);
        e.stime.store(0, Ordering::Relaxed);
        e.rtime.store(0, Ordering::Relaxed);
        e.ctime.store(new.ctime, Ordering::Relaxed);
        e.lspid.store(0, Ordering::Relaxed);
        e.lrpid.store(0, Ordering::Relaxed);
        e.next_due_ns.store(0, Ordering::Relaxed);
        e.scheduled.store(0, Ordering::Relaxed);
        // Should the ring's locks fail to initialise, the queue simply never leaves the
        // general structure.
        let _ = super::queue::init_ring(e);
        settle_stats(e);
        e.id1.store(slot.id as u32 + 1, Ordering::Release);
        self.index_key(new.key, slot.idx);
        let a = &self.r.header().alloc;
        a.in_use.fetch_add(1, Ordering::AcqRel);
        a.max_idx.fetch_max(slot.idx as i32, Ordering::AcqRel);
    }

    /// Forgets a queue whose entry was cleared (`id1` = 0): the derived counts follow.
    pub fn released(&mut self, idx: u32, key: i32) {
        self.unindex_key(key, idx);
        let a = &self.r.header().alloc;
        let _ = a.in_use.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_sub(1)));
        // The highest live index moves down past the dead ones (each index is passed over once
        // per creation above it: amortised O(1)).
        let mut max_idx = a.max_idx.load(Ordering::Acquire);
        if max_idx == idx as i32 {
            while max_idx >= 0 && self.r.entry(max_idx as u32).id1.load(Ordering::Acquire) == 0 {
                max_idx -= 1;
            }
            a.max_idx.store(max_idx, Ordering::Release);
        }
    }

    /// Recomputes `in_use` and `max_idx` from the entries.
    fn recount(&mut self) {
        let hw = self.r.high_water();
        let mut in_use = 0;
        let mut max_idx = -1;
        for i in 0..hw {
            if self.r.entry(i).id1.load(Ordering::Acquire) != 0 {
                in_use += 1;
                max_idx = i as i32;
            }
        }
        let a = &self.r.header().alloc;
        a.in_use.store(in_use, Ordering::Release);
        a.max_idx.store(max_idx, Ordering::Release);
    }

    /// After a process died holding the lock: everything derived is recomputed, and the
    /// allocator's fields are brought back into range.
    fn repair(&mut self) {
        let a = self.alloc();
        if a.seq >= IPCID_SEQ_MAX {
            a.seq = 0;
        }
        if a.next_idx > IPCMNI {
            a.next_idx = 0;
        }
        if a.last_idx >= IPCMNI as i32 || a.last_idx < -1 {
            a.last_idx = -1;
        }
        // Entries above the high-water mark cannot be live; in range, its value stands.
        self.recount();
        self.rebuild_key_table();
        self.sweep_soon();
    }

    /// Asks the next creator to look for segment files no live entry names.
    pub fn sweep_soon(&mut self) {
        self.r.header().sweep_due_sec.store(1, Ordering::Relaxed);
    }

    /// When a sweep is due, removes from the `sysv/` directory `dir` every segment file no live
    /// entry names (left by a creator or remover killed half-way) and registries a killed
    /// builder left aside. Files this caller may not remove (another user's) stay, and another
    /// sweep falls due a little later.
    pub fn sweep_if_due(&mut self, dir: c_int) {
        const RETRY_SECONDS: i64 = 10;
        let due = &self.r.header().sweep_due_sec;
        let at = due.load(Ordering::Relaxed);
        let now = crate::os::clock::now_sec();
        if at == 0 || at > now {
            return;
        }
        let mut stuck = false;
        for name in crate::emu::namespace::list_dir(dir) {
            let Ok(text) = std::str::from_utf8(&name) else { continue };
            // A segment file (`msq.<id>`) whose id is not live: nothing else can be creating it
            // (creation holds the registry lock, as this sweep does).
            let leftover = if let Some(id) = text.strip_prefix("msq.") {
                id.parse::<i32>().is_ok_and(|id| self.r.lookup(id).is_none())
            } else if let Some(rest) = text.strip_prefix("registry.new-") {
                rest.split('-').next().and_then(|p| p.parse::<i32>().ok()).is_some_and(sys::process_gone)
            } else {
                false
            };
            if leftover {
                let Ok(c) = CString::new(name) else { continue };
                if sys::unlinkat(dir, &c, 0) != 0 && crate::errno::current() != libc::ENOENT {
                    stuck = true;
                }
            }
        }
        due.store(if stuck { now + RETRY_SECONDS } else { 0 }, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
