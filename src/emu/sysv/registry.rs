//! The registry of a namespace's System V queues: the id allocator (the kernel's `struct
//! ipc_ids`), the counts `msgmni` and `MSG_INFO` need, the namespace's sysctl fields, and per
//! index a display [`Record`] of the queue living there — for `mqshim ipcs`, `MSG_STAT_ANY` and
//! `MSG_INFO` of callers who may not open the queue, and for the allocator.
//!
//! Ids are the kernel's: `(seq << 15) + index`, the index allocated cyclically below
//! `max(in_use * 3 / 2, 64)` (`ipc_idr_alloc` with `idr_alloc_cyclic`), `seq` bumped whenever the
//! chosen index is not above the last one. So a fresh namespace hands out 0, 1, 2, … like a
//! fresh IPC namespace, and a removed id is not reused until `seq` wraps.
//!
//! Every user of the namespace must write the registry (to create queues), so nothing in it
//! decides anything about a queue: a queue's key, id, mode, owner and statistics are in its own
//! segment (`layout::Entry`), which only the users its mode lets in may open, and its key is a
//! link only its creator (or root) may remove (see `super::keys`). What a hostile writer of the
//! registry can still do is listed on [`Registry`].
//!
//! Neither creation nor removal takes a lock, so a process that is stopped, slow or hostile
//! keeps no one else from creating or removing: the allocator's cursor is one word, moved by
//! compare-and-swap, and the counts are atomics; the segment file, made exclusively under its
//! index's name, decides between two creators that chose one index. A creator or remover
//! registers its pid in the creator table while it works ([`Registry::begin_work`]): one killed
//! half-way is found gone by the next creator, and a sweep of the directory (under the registry
//! lock, which only sweeps, the replacement of a stale key link and rebuilds take, never waiting
//! for it long) removes what it left and frees the records of queues that no longer exist.

use std::ffi::{CStr, CString};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU16, Ordering};

use super::entry::Snapshot;
use super::layout::{
    key_lock_index, Record, RegistryHeader, IPCID_SEQ_MAX, IPCMNI, IPCMNI_SHIFT, IPC_MIN_CYCLE, RECORDS_PER_BLOCK, RECORD_SIZE, REGISTRY_HEADER_SIZE,
    REGISTRY_SEGMENT, REGISTRY_SIZE,
};
use crate::emu::engine::lock::takeover::TakeoverLock;
use crate::emu::engine::lock::{self, Acquired};
use crate::emu::engine::segment::{self, Mapping, Populated, SegmentError};
use crate::errno::{Errno, Result};
use crate::os::sys;
use std::sync::atomic::AtomicI32;

/// The registry's file name in the `sysv/` directory.
const REGISTRY_NAME: &CStr = c"registry";
/// The registry's mode: every user of the namespace creates and looks up queues in it.
const REGISTRY_MODE: u32 = 0o666;

/// A mapped, validated registry.
///
/// What a hostile user who writes it can do (it must be writable by all): deny creation — fake
/// the counts or mark every index used (ENOSPC, as filling the kernel's table would), or
/// corrupt the file (EIO until its owner or root rebuilds it) —, set `msg_next_id`, delay a
/// removal by holding the lock (a bounded wait: see `lock`), make creators sweep the directory
/// (by writing the creator table); and falsify the display records, which only a caller who may
/// not open a queue reads (`MSG_STAT_ANY`, `ipcs` and `MSG_STAT` indices of another user's
/// queues, `MSG_INFO`'s counts). It cannot remove a queue, change its key, id, mode, owner or
/// messages, make `msgget(key)` find another queue or none, or keep creation waiting.
pub struct Registry {
    map: Mapping,
    /// Bytes of records known (to this process) to have their pages.
    reserved: Populated,
    /// The inode its file had just after it was mapped (0: unknown): another one there now
    /// means that it was replaced (rebuilt) since.
    file_ino: u64,
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

    /// In the default namespace, a root caller takes over a registry another user made, whose
    /// owner could otherwise make it unusable to everyone else (see `namespace::claim_file`).
    pub fn claim(root: &[u8], dir: c_int) {
        crate::emu::namespace::claim_file(root, dir, REGISTRY_NAME, REGISTRY_MODE);
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

    /// Whether the file named `registry` in `dir` is still the one this mapping is of.
    pub fn is_current(&self, dir: c_int) -> bool {
        sys::stat_at(dir, REGISTRY_NAME, libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| st.st_ino == self.file_ino)
    }

    /// Checks the prefix (see `segment::validate`), then the registry's own geometry.
    fn validate(map: Mapping, dir: c_int) -> Result<Registry> {
        segment::validate(&map, &REGISTRY_SEGMENT, REGISTRY_HEADER_SIZE)?;
        // SAFETY: validated: the mapping holds at least the header, plain data and atomics.
        let h = unsafe { &*(map.base() as *const RegistryHeader) };
        let ok = h.entry_size as u64 == RECORD_SIZE && h.entry_count == IPCMNI && h.total_size == REGISTRY_SIZE && map.len() as u64 >= REGISTRY_SIZE;
        if ok {
            let file_ino = sys::stat_at(dir, REGISTRY_NAME, libc::AT_SYMLINK_NOFOLLOW).map_or(0, |st| st.st_ino);
            Ok(Registry { map, reserved: Populated::default(), file_ino })
        } else {
            Err(SegmentError::Corrupt.into())
        }
    }

    /// Replaces a damaged registry by a fresh one (renamed over it: only its owner or root
    /// may, in the sticky directory; others get EIO) and opens that. Its records and counts are
    /// empty: the caller shows the live queues in it ([`RegistryLocked::adopt`]).
    pub fn rebuild(dir: c_int) -> Result<Registry> {
        Registry::build_and_place(dir, 0)?;
        Registry::open_existing(dir)
    }

    /// Builds a registry aside and renames it into place (losing the race is fine: the
    /// winner's is used).
    fn build(dir: c_int) -> Result<()> {
        Registry::build_and_place(dir, libc::RENAME_NOREPLACE)
    }

    /// Builds a registry aside and renames it to `registry` with `rename_flags`.
    fn build_and_place(dir: c_int, rename_flags: u32) -> Result<()> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let tmp = CString::new(format!("registry.new-{}-{}", super::caller::pid(), COUNTER.fetch_add(1, Ordering::Relaxed))).map_err(|_| Errno::EINVAL)?;
        let (aside, map) = segment::create_aside(dir, &tmp, REGISTRY_SIZE, REGISTRY_HEADER_SIZE, Errno::ENOSPC)?;
        let h = map.base() as *mut RegistryHeader;
        // SAFETY: the file is private to this process until renamed into place; fields are
        // written through the raw pointer before any reference to them exists.
        unsafe {
            (*h).entry_size = RECORD_SIZE as u32;
            (*h).entry_count = IPCMNI;
            (*h).total_size = REGISTRY_SIZE;
            (*h).alloc.max_idx.store(-1, Ordering::Relaxed);
            // Random, so that a registry rebuilt is never at the generation of the one it
            // replaces (see `SysvEmulation::id_generation`).
            (*h).sysctl_generation.store(crate::os::random::u64(), Ordering::Relaxed);
            lock::init(&raw mut (*h).lock.mutex)?;
        }
        segment::publish(&map, &REGISTRY_SEGMENT, REGISTRY_HEADER_SIZE as u32);
        sys::fchmod(aside.fd(), REGISTRY_MODE);
        if sys::renameat2(dir, &tmp, dir, REGISTRY_NAME, rename_flags) == 0 {
            aside.keep();
            return Ok(());
        }
        match Errno::last() {
            // Another process placed its registry first: ours goes (dropping `aside` removes it).
            Errno::EEXIST => Ok(()),
            // Another user's registry (the sticky directory keeps it).
            Errno::EPERM | Errno::EACCES => Err(Errno::EIO),
            e => Err(e),
        }
    }

    /// Whether the registry's mapping was poisoned (its file truncated under it: see
    /// `segment::containment`); every System V call of this process then fails with EIO.
    pub fn poisoned(&self) -> bool {
        self.map.poisoned()
    }

    /// Makes the pages of the first `records` records (a page at a time; creators racing to
    /// make one page both make it, which is harmless), so that reading and filling them cannot
    /// SIGBUS for want of room: ENOSPC when the filesystem is full. A plain load once done.
    fn reserve_records(&self, records: u32) -> Result<()> {
        // The records below the high-water mark have their pages: whoever raised the mark past
        // them made them first (every reader below it relies on that). Otherwise a process's
        // first creation faults in every page below the index it takes: 640 KB, about 100 µs,
        // among 10 000 queues.
        self.reserved.known(self.high_water() as u64 * RECORD_SIZE);
        self.reserved.ensure(&self.map, REGISTRY_HEADER_SIZE, records as u64 * RECORD_SIZE, REGISTRY_SIZE - REGISTRY_HEADER_SIZE, Errno::ENOSPC)
    }

    fn header(&self) -> &RegistryHeader {
        // SAFETY: validated; plain data and atomics.
        unsafe { &*(self.map.base() as *const RegistryHeader) }
    }

    /// The record at `idx` (any value: it is reduced to an index, as `ipcid_to_idx` does).
    /// Past the high-water mark its storage may not exist: callers stay below it.
    pub fn record(&self, idx: u32) -> &Record {
        let idx = (idx % IPCMNI) as u64;
        // SAFETY: the mapping holds IPCMNI records after the header; records are atomics and
        // padding, valid for any bit pattern.
        unsafe { &*(self.map.base().add((REGISTRY_HEADER_SIZE + idx * RECORD_SIZE) as usize) as *const Record) }
    }

    /// The id the record at `idx` shows, if any (below the high-water mark only).
    pub fn shown_id(&self, idx: u32) -> Option<i32> {
        if idx >= self.high_water() {
            return None;
        }
        match self.record(idx).id1.load(Ordering::Acquire) {
            0 => None,
            id1 => Some((id1 as i32).wrapping_sub(1)),
        }
    }

    /// The display copy of queue `id` (the statistics left zero), if its record shows it.
    pub fn shown(&self, id: i32) -> Option<Snapshot> {
        let idx = id as u32 & (IPCMNI - 1);
        if id < 0 || self.shown_id(idx) != Some(id) {
            return None;
        }
        let r = self.record(idx);
        Some(Snapshot {
            key: r.key.load(Ordering::Relaxed),
            seq: r.seq.load(Ordering::Relaxed),
            mode: r.mode.load(Ordering::Relaxed),
            uid: r.uid.load(Ordering::Relaxed),
            gid: r.gid.load(Ordering::Relaxed),
            cuid: r.cuid.load(Ordering::Relaxed),
            cgid: r.cgid.load(Ordering::Relaxed),
            qbytes: r.qbytes.load(Ordering::Relaxed),
            ctime: r.ctime.load(Ordering::Relaxed),
            ..Snapshot::default()
        })
    }

    /// Copies queue `id`'s permissions (after IPC_SET) into its record, if it shows that queue.
    pub fn show_perms(&self, id: i32, s: &Snapshot) {
        let idx = id as u32 & (IPCMNI - 1);
        if self.shown_id(idx) == Some(id) {
            write_record(self.record(idx), s);
        }
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

    /// Forgets removed queue `id`: its record is cleared (when it shows it) and the counts
    /// follow. Atomics only: a remover takes no lock. `max_idx` is never left below a live
    /// record (which would hide it from `MSG_INFO` and `ipcs`), but may be left above one
    /// whose queue is gone, until that one's removal.
    pub fn released(&self, id: i32) {
        self.released_with(id, &|| {});
    }

    /// [`Registry::released`], with `between` run after the next live index below was looked
    /// for and before `max_idx` is lowered to it (for the tests, which commit a queue there).
    fn released_with(&self, id: i32, between: &dyn Fn()) {
        let idx = id as u32 & (IPCMNI - 1);
        if idx >= self.high_water() || self.record(idx).id1.compare_exchange(id as u32 + 1, 0, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        let a = &self.header().alloc;
        let _ = a.in_use.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_sub(1)));
        let _ = self.live_in_block(idx).fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_sub(1)));
        // The highest live index moves down to the next live one — unless a creator raised it
        // meanwhile (the compare-and-swap fails). A creator committing below `idx` during the
        // look may not have been seen: the look is made again after the lowering, and raises
        // `max_idx` to what it finds. With the creator's own raise after its record goes live
        // (see `commit`), one of the two sees the other (both sequentially consistent).
        if a.max_idx.load(Ordering::Acquire) == idx as i32 {
            let below = self.highest_live_below(idx);
            between();
            if a.max_idx.compare_exchange(idx as i32, below, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                let now = self.highest_live_below(idx);
                if now > below {
                    a.max_idx.fetch_max(now, Ordering::SeqCst);
                }
            }
        }
    }

    /// The count of live records in the block of index `idx` (see
    /// [`RegistryHeader::live_in_block`]).
    fn live_in_block(&self, idx: u32) -> &AtomicU16 {
        &self.header().live_in_block[(idx / RECORDS_PER_BLOCK) as usize]
    }

    /// The highest index below `idx` whose record shows a live queue, -1 when none: record by
    /// record within a block that counts one, past every block that counts none. At most the
    /// rest of `idx`'s block, the block counts, and one more block of records (as long as the
    /// counts are right: a garbled one costs a block's records).
    fn highest_live_below(&self, idx: u32) -> i32 {
        let mut i = idx as i64 - 1;
        while i >= 0 {
            let block_start = i - i % RECORDS_PER_BLOCK as i64;
            if self.live_in_block(i as u32).load(Ordering::SeqCst) == 0 {
                i = block_start - 1;
                continue;
            }
            while i >= block_start {
                if self.record(i as u32).id1.load(Ordering::SeqCst) != 0 {
                    return i as i32;
                }
                i -= 1;
            }
        }
        -1
    }

    /// Asks the next creator to look for files no live queue owns.
    pub fn sweep_soon(&self) {
        self.header().sweep_due_sec.store(1, Ordering::Relaxed);
    }

    /// Takes the registry lock (a bounded wait: see `lock`), repairing the derived counts if
    /// its last owner died.
    pub fn lock(&self) -> Result<RegistryLocked<'_>> {
        if self.poisoned() {
            return Err(Errno::EIO);
        }
        // SAFETY: initialised before the registry was published.
        let how = unsafe { lock::lock(&self.header().lock.mutex)? };
        Ok(self.locked(how))
    }

    /// Whether the registry lock's word names an owner no thread is: garbage another user
    /// wrote, which no locker could ever take (see `lock::holder_is_impossible`).
    pub fn lock_is_garbage(&self) -> bool {
        // SAFETY: initialised before the registry was published.
        unsafe { lock::holder_is_impossible(&self.header().lock.mutex) }
    }

    /// Takes `key`'s lock (see [`RegistryHeader::key_locks`]): from a holder stopped past the
    /// bound, or one gone (which leaves nothing to repair: what it does under the lock, one
    /// `unlinkat` or one `symlinkat`, is whole or not done); EAGAIN when a live holder that is
    /// not stopped keeps it past the bound for one (see `lock::takeover`).
    pub fn lock_key(&self, key: i32) -> Result<KeyLocked<'_>> {
        if self.poisoned() {
            return Err(Errno::EIO);
        }
        let lock = self.key_lock(key);
        lock.lock()?;
        Ok(KeyLocked { lock })
    }

    /// The lock `key` takes (one of [`RegistryHeader::key_locks`], shared by hash).
    pub fn key_lock(&self, key: i32) -> &TakeoverLock {
        &self.header().key_locks[key_lock_index(key)]
    }

    /// Takes `key`'s lock if nobody holds it (or its holder is gone), without waiting.
    pub fn try_lock_key(&self, key: i32) -> Option<KeyLocked<'_>> {
        if self.poisoned() {
            return None;
        }
        let lock = self.key_lock(key);
        lock.try_lock().then_some(KeyLocked { lock })
    }

    /// Takes the registry lock if nobody holds it, without waiting.
    pub fn try_lock(&self) -> Option<RegistryLocked<'_>> {
        if self.poisoned() {
            return None;
        }
        // SAFETY: initialised before the registry was published.
        let how = unsafe { lock::try_lock(&self.header().lock.mutex)? };
        Some(self.locked(how))
    }

    fn locked(&self, how: Acquired) -> RegistryLocked<'_> {
        let mut locked = RegistryLocked { r: self };
        if how == Acquired::OwnerDied {
            locked.repair();
        }
        locked
    }

    /// Chooses the index and sequence number of a new queue like `ipc_addid`/`ipc_idr_alloc`,
    /// without a lock: ENOSPC when `limit` (msgmni, at most IPCMNI) queues exist or no index is
    /// free. The cursor moves on at once (by compare-and-swap: a creator that lost the race
    /// chooses again from where the winner left it), so a creation that dies before committing
    /// only skips an id. Two creators can choose one index only when the cursor went all the way
    /// round while the first had not yet committed (it was stopped): the segment file, made
    /// exclusively, then decides. Creators racing each other at the limit may all pass this
    /// check; [`Registry::admit`] lets in only as many as there is room for.
    pub fn allocate(&self, limit: u32) -> Result<Slot> {
        let limit = limit.min(IPCMNI);
        let alloc = &self.header().alloc;
        let mut in_use = alloc.in_use.load(Ordering::Acquire);
        if in_use >= limit {
            in_use = self.lower_overstated_count(in_use, limit).ok_or(Errno::ENOSPC)?;
        }
        let next_id1 = self.header().next_id1.swap(0, Ordering::AcqRel);
        if (1..=i32::MAX as i64 + 1).contains(&next_id1) {
            return self.allocate_next_id((next_id1 - 1) as u32);
        }
        let max_idx = (in_use * 3 / 2).clamp(IPC_MIN_CYCLE, IPCMNI);
        // An entry never used before has its storage allocated before it is read (the scan
        // reads at most one such: it is free); no room makes it unusable, and the end ENOSPC.
        let free = |i: &u32| self.reserve_records(i + 1).is_ok() && self.record(*i).id1.load(Ordering::Acquire) == 0;
        for attempt in 0.. {
            let word = alloc.cursor.load(Ordering::Acquire);
            let at = Cursor::unpack(word);
            let start = at.next_idx;
            let idx = (start..max_idx).find(free).or_else(|| if start > 0 { (0..max_idx).find(free) } else { None }).ok_or(Errno::ENOSPC)?;
            let mut seq = at.seq;
            if idx as i32 <= at.last_idx {
                seq += 1;
                if seq >= IPCID_SEQ_MAX {
                    seq = 0;
                }
            }
            let moved = Cursor { seq, last_idx: idx as i32, next_idx: idx + 1 };
            // A cursor that never holds still (a hostile writer's) does not keep the creator
            // going round: past a bound it takes its choice as is, for the file to decide.
            if alloc.cursor.compare_exchange(word, moved.pack(), Ordering::AcqRel, Ordering::Acquire).is_ok() || attempt >= CURSOR_ATTEMPTS {
                alloc.high_water.fetch_max(idx + 1, Ordering::AcqRel);
                return Ok(Slot { idx, seq, id: ((seq << IPCMNI_SHIFT) + idx) as i32 });
            }
        }
        unreachable!("the loop returns by its bound")
    }

    /// The count says `limit` queues or more exist (`seen`): when fewer records are live than
    /// that, even with one more for every creator and remover at work (each is registered in the
    /// creator table before it counts or uncounts a queue, and counted there until it is done),
    /// the count is wrong — another user who may write the registry garbled it, or a creator
    /// killed between its count and its commit left it high — and is lowered to that bound,
    /// which is never below the truth: the bound, if it is below `limit`, else None (ENOSPC).
    /// Only on the way to ENOSPC: a look at every record up to the high-water mark.
    fn lower_overstated_count(&self, seen: u32, limit: u32) -> Option<u32> {
        let at_work = self.header().creators.iter().filter(|slot| slot.load(Ordering::Acquire) != 0).count() as u32;
        let live = (0..self.high_water()).filter(|&i| self.record(i).id1.load(Ordering::Acquire) != 0).count() as u32;
        let bound = live + at_work;
        (bound < limit && self.header().alloc.in_use.compare_exchange(seen, bound, Ordering::AcqRel, Ordering::Acquire).is_ok()).then_some(bound)
    }

    /// `ipc_idr_alloc` with `msg_next_id` set: its sequence number, and its index or the first
    /// free one above it; the cyclic allocator is left as it was.
    fn allocate_next_id(&self, next_id: u32) -> Result<Slot> {
        let seq = next_id >> IPCMNI_SHIFT;
        let start = next_id & (IPCMNI - 1);
        let free = |i: &u32| self.reserve_records(i + 1).is_ok() && self.record(*i).id1.load(Ordering::Acquire) == 0;
        let idx = (start..IPCMNI).find(free).ok_or(Errno::ENOSPC)?;
        self.header().alloc.high_water.fetch_max(idx + 1, Ordering::AcqRel);
        Ok(Slot { idx, seq, id: ((seq << IPCMNI_SHIFT) + idx) as i32 })
    }

    /// Sets `msg_next_id` (0..=INT_MAX).
    pub fn set_next_id(&self, id: i32) {
        self.header().next_id1.store(id as i64 + 1, Ordering::Release);
    }

    /// Counts a queue about to go live, unless `limit` (msgmni, at most IPCMNI) queues are
    /// counted already: false then, and the caller withdraws it (ENOSPC). Creators that passed
    /// [`Registry::allocate`]'s check at the limit together are counted one at a time here, so
    /// exactly as many go live as the limit has room for, as `ipc_addid` admits them under the
    /// kernel's lock. (A creator killed between this and [`Registry::commit`], a few stores
    /// later, leaves the count one too high until a sweep heals it: `heal_count`.)
    pub fn admit(&self, limit: u32) -> bool {
        if self.header().alloc.in_use.fetch_add(1, Ordering::AcqRel) < limit.min(IPCMNI) {
            return true;
        }
        self.unadmit();
        false
    }

    /// Takes back a count [`Registry::admit`] made, for a queue that is not going live after
    /// all (its creation was given up: see `Queue::give_up`).
    pub fn unadmit(&self) {
        let _ = self.header().alloc.in_use.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_sub(1)));
    }

    /// Shows the queue being created at `slot` (its segment about to be committed, and counted by
    /// [`Registry::admit`]) in its record, `id1` last. Its block's count and `max_idx` are
    /// raised first, so that a creator killed half-way leaves them high, never low: a count
    /// too high costs a later search a block's records, one too low would hide the queue from
    /// every search below it (and `ipcs`, which goes up to `max_idx`) for good.
    pub fn commit(&self, slot: Slot, s: &Snapshot) {
        let r = self.record(slot.idx);
        write_record(r, s);
        let max_idx = &self.header().alloc.max_idx;
        self.live_in_block(slot.idx).fetch_add(1, Ordering::SeqCst);
        max_idx.fetch_max(slot.idx as i32, Ordering::SeqCst);
        r.id1.store(slot.id as u32 + 1, Ordering::SeqCst);
        // A remover of the highest index may have lowered `max_idx` below this one since the
        // raise above, having looked for the next live record before this one was: raised
        // again (see `released_with`).
        max_idx.fetch_max(slot.idx as i32, Ordering::SeqCst);
    }

    /// Registers a creation or removal of this process in the creator table until the result
    /// is dropped, and looks at the others registered there: one that is gone (killed half-way:
    /// it unregisters even when its work fails) is taken off, and a sweep falls due for what it
    /// left. A `kill(pid, 0)` for each other process at work; nothing when there is none.
    pub fn begin_work(&self) -> Working<'_> {
        let me = super::caller::pid();
        let mut mine = None;
        let mut now_ms = None;
        for (i, slot) in self.header().creators.iter().enumerate() {
            let pid = slot.load(Ordering::Acquire);
            if pid == 0 {
                if mine.is_none() && slot.compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                    mine = Some(i);
                }
            } else if pid != me
                && (pid < 0 || gone_unless_seen_lately(i, pid, now_ms.get_or_insert_with(|| (crate::os::clock::monotonic_ns() / 1_000_000) as u32)))
                && slot.compare_exchange(pid, 0, Ordering::AcqRel, Ordering::Relaxed).is_ok()
            {
                self.sweep_soon();
            }
        }
        Working { slots: &self.header().creators, mine, pid: me }
    }

    /// Takes a slot of the creator table for this process while it keeps spare segments (see
    /// `queue::spare`), so that if it is killed the next creator finds it gone and a sweep
    /// removes them. None when half the table is taken already: the rest stays for creators.
    pub fn enlist_keeper(&self) -> Option<*const AtomicI32> {
        let slots = &self.header().creators;
        if slots.iter().filter(|s| s.load(Ordering::Relaxed) != 0).count() >= slots.len() / 2 {
            return None;
        }
        let me = super::caller::pid();
        slots.iter().find(|s| s.compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed).is_ok()).map(|s| s as *const AtomicI32)
    }

    /// The creator table, for tests that play a killed creator.
    #[cfg(test)]
    pub fn creator_table(&self) -> &[AtomicI32] {
        &self.header().creators
    }

    /// When a sweep is due and nobody holds the registry lock, removes what creators and
    /// removers killed half-way left (see [`RegistryLocked::sweep_if_due`]); else leaves it to a
    /// later creator. EIO when the lock's word names an owner no thread is (garbage another
    /// user wrote): no sweep could ever take it, and the caller rebuilds the registry.
    pub fn sweep_if_due(&self, dir: c_int, leftover: impl Fn(&str) -> bool, queue_gone: impl Fn(i32) -> bool) -> Result<()> {
        if self.header().sweep_due_sec.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        match self.try_lock() {
            Some(mut locked) => locked.sweep_if_due(dir, leftover, queue_gone),
            None if self.lock_is_garbage() => return Err(Errno::EIO),
            None => {}
        }
        Ok(())
    }
}

/// Times a creator chooses again after losing the cursor to another (each loss is another
/// creator's win) before it keeps its choice without moving the cursor.
const CURSOR_ATTEMPTS: u32 = 64;

/// The allocator's cursor ([`super::layout::IdAllocator::cursor`]), unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    seq: u32,
    last_idx: i32,
    next_idx: u32,
}

impl Cursor {
    /// Any word is a cursor: a field out of range (a hostile writer's) starts over (0, -1, 0).
    fn unpack(word: u64) -> Cursor {
        let field = |shift: u32| (word >> shift) as u32 & 0xffff;
        let (seq, last1, next) = (field(0), field(16), field(32));
        Cursor {
            seq: if seq < IPCID_SEQ_MAX { seq } else { 0 },
            last_idx: if last1 <= IPCMNI { last1 as i32 - 1 } else { -1 },
            next_idx: if next <= IPCMNI { next } else { 0 },
        }
    }

    fn pack(self) -> u64 {
        self.seq as u64 | ((self.last_idx + 1) as u64) << 16 | (self.next_idx as u64) << 32
    }
}

/// Per slot of a creator table, the pid this process last found there alive and when (the
/// monotonic clock's milliseconds, wrapping): `pid << 32 | ms`.
static SEEN_ALIVE: [std::sync::atomic::AtomicU64; super::layout::CREATOR_SLOTS] =
    [const { std::sync::atomic::AtomicU64::new(0) }; super::layout::CREATOR_SLOTS];

/// How long a pid this process found alive in a slot is taken to be so without looking again.
const SEEN_ALIVE_MS: u32 = 100;

/// Whether process `pid`, registered in slot `i` of a creator table, is gone: looked at with
/// `kill(pid, 0)` unless this process found it there alive less than `SEEN_ALIVE_MS` ago. Every
/// creation and removal looks at every other registered process, and processes keeping spare
/// segments stay registered: without this, 8 such processes made 13 `kill`s per create and
/// remove. A process killed is then noticed up to that much later.
fn gone_unless_seen_lately(i: usize, pid: i32, now_ms: &mut u32) -> bool {
    let seen = SEEN_ALIVE[i].load(Ordering::Relaxed);
    if (seen >> 32) as i32 == pid && now_ms.wrapping_sub(seen as u32) < SEEN_ALIVE_MS {
        return false;
    }
    if sys::process_gone(pid) {
        return true;
    }
    SEEN_ALIVE[i].store((pid as u32 as u64) << 32 | *now_ms as u64, Ordering::Relaxed);
    false
}

/// A creation or removal registered in the creator table (see [`Registry::begin_work`]);
/// dropping it takes it off. Unregistered (`mine` None) when the table was full: a process
/// killed then is found only when its leftovers are in another's way.
pub struct Working<'r> {
    slots: &'r [AtomicI32],
    mine: Option<usize>,
    pid: i32,
}

impl Drop for Working<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.mine {
            let _ = self.slots[i].compare_exchange(self.pid, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }
}

/// Writes a record's fields but `id1`.
fn write_record(r: &Record, s: &Snapshot) {
    r.key.store(s.key, Ordering::Relaxed);
    r.seq.store(s.seq, Ordering::Relaxed);
    r.mode.store(s.mode, Ordering::Relaxed);
    r.uid.store(s.uid, Ordering::Relaxed);
    r.gid.store(s.gid, Ordering::Relaxed);
    r.cuid.store(s.cuid, Ordering::Relaxed);
    r.cgid.store(s.cgid, Ordering::Relaxed);
    r.qbytes.store(s.qbytes, Ordering::Relaxed);
    r.ctime.store(s.ctime, Ordering::Relaxed);
}

/// An index and sequence number chosen for a new queue (not yet committed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub idx: u32,
    pub seq: u32,
    pub id: i32,
}

/// A key's lock, taken (see [`Registry::lock_key`]): its holder looks that it still holds it
/// ([`KeyLocked::holds`]) just before the one change it makes under it.
pub struct KeyLocked<'r> {
    lock: &'r TakeoverLock,
}

impl KeyLocked<'_> {
    /// Whether the calling thread still holds the lock: false once another locker found it
    /// stopped and took the lock over (and may be making the change this thread was about to).
    pub fn holds(&self) -> bool {
        self.lock.holds()
    }
}

impl Drop for KeyLocked<'_> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

/// The registry, locked.
pub struct RegistryLocked<'r> {
    r: &'r Registry,
}

impl Drop for RegistryLocked<'_> {
    fn drop(&mut self) {
        // SAFETY: this guard holds the lock.
        unsafe { lock::unlock(&self.r.header().lock.mutex) };
    }
}

impl<'r> RegistryLocked<'r> {
    pub fn registry(&self) -> &'r Registry {
        self.r
    }

    /// Shows live queue `id`, found in the directory after a rebuild: its record, the counts,
    /// and the allocator moved past it, so that ids go on from the newest.
    pub fn adopt(&mut self, id: i32, s: &Snapshot) {
        let (idx, seq) = (id as u32 & (IPCMNI - 1), id as u32 >> IPCMNI_SHIFT);
        if self.r.reserve_records(idx + 1).is_err() || self.r.record(idx).id1.load(Ordering::Acquire) != 0 {
            return;
        }
        self.r.header().alloc.high_water.fetch_max(idx + 1, Ordering::AcqRel);
        self.r.commit(Slot { idx, seq, id }, s);
        let cursor = &self.r.header().alloc.cursor;
        let _ = cursor.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            let at = Cursor::unpack(word);
            ((seq, idx as i32) > (at.seq, at.last_idx)).then(|| Cursor { seq: seq.min(IPCID_SEQ_MAX - 1), last_idx: idx as i32, next_idx: idx + 1 }.pack())
        });
    }

    /// Recomputes `in_use` and `max_idx` from the records, and raises each block's count to
    /// what its records show (never lowers it: creators, who take no lock, may be counting
    /// meanwhile, and a count too high only costs a search that block's records).
    fn recount(&mut self) {
        let hw = self.r.high_water();
        let mut in_use = 0;
        let mut max_idx = -1;
        let mut live_in_block = [0u16; (IPCMNI / RECORDS_PER_BLOCK) as usize];
        for i in 0..hw {
            if self.r.record(i).id1.load(Ordering::Acquire) != 0 {
                in_use += 1;
                max_idx = i as i32;
                live_in_block[(i / RECORDS_PER_BLOCK) as usize] += 1;
            }
        }
        for (count, live) in self.r.header().live_in_block.iter().zip(live_in_block) {
            count.fetch_max(live, Ordering::AcqRel);
        }
        let a = &self.r.header().alloc;
        a.in_use.store(in_use, Ordering::Release);
        a.max_idx.store(max_idx, Ordering::Release);
    }

    /// Sets `in_use` to the live records' number when no other process is at work on a
    /// creation or removal: a creator killed between its count ([`Registry::admit`]) and its
    /// commit left it one too high, and a sweep is what such a death makes due. The count is
    /// read first and replaced only if unchanged, and only while the creator table shows no
    /// other worker, so a creation counted meanwhile is not lost. (A process keeping spares
    /// holds a slot too: with one alive, the count waits for a quieter sweep.)
    fn heal_count(&mut self) {
        let me = super::caller::pid();
        let a = &self.r.header().alloc;
        let others_at_work = || {
            self.r.header().creators.iter().any(|slot| {
                let pid = slot.load(Ordering::Acquire);
                pid != 0 && pid != me
            })
        };
        let before = a.in_use.load(Ordering::Acquire);
        if others_at_work() {
            return;
        }
        let live = (0..self.r.high_water()).filter(|&i| self.r.record(i).id1.load(Ordering::Acquire) != 0).count() as u32;
        if live != before && !others_at_work() {
            let _ = a.in_use.compare_exchange(before, live, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// After a process died holding the lock: everything derived is recomputed (the cursor
    /// needs nothing: any word reads as one), and a sweep falls due.
    fn repair(&mut self) {
        // Entries above the high-water mark cannot be live; in range, its value stands.
        self.recount();
        self.sweep_soon();
    }

    /// Asks the next creator to look for files no live queue owns.
    pub fn sweep_soon(&mut self) {
        self.r.sweep_soon();
    }

    /// When a sweep is due, removes from the `sysv/` directory `dir` every file `leftover`
    /// says belongs to no queue (segments and key links left by a creator or remover killed
    /// half-way: see `SysvEmulation::leftover`) and registries a killed builder left aside,
    /// and frees every record whose queue `queue_gone` says no longer exists (a remover killed
    /// before it freed it). Files this caller may not remove (another user's) stay, and
    /// another sweep falls due a little later.
    pub fn sweep_if_due(&mut self, dir: c_int, leftover: impl Fn(&str) -> bool, queue_gone: impl Fn(i32) -> bool) {
        const RETRY_SECONDS: i64 = 10;
        let due = &self.r.header().sweep_due_sec;
        let at = due.load(Ordering::Relaxed);
        let now = crate::os::clock::now_sec();
        if at == 0 || at > now {
            return;
        }
        let mut stuck = false;
        // A file built aside whose builder still exists: a creator at work, or one killed that
        // is still exiting; the sweep stays due (a second later: creators at work build aside
        // all the time) rather than forgotten.
        let mut builder_exiting = false;
        for name in crate::emu::namespace::list_dir(dir) {
            let Ok(text) = std::str::from_utf8(&name) else { continue };
            // A key's link is judged and removed under its key's lock, so that no creator
            // replacing it meanwhile has its new link removed; one that is busy is looked at
            // again by the next sweep.
            let mut key_locked = None;
            if let Some((key, _)) = super::keys::key_of_name(text) {
                key_locked = self.r.try_lock_key(key);
                if key_locked.is_none() {
                    stuck = true;
                    continue;
                }
            }
            let gone = if let Some(rest) = text.strip_prefix("registry.new-") {
                rest.split('-').next().and_then(|p| p.parse::<i32>().ok()).is_some_and(sys::process_gone_or_zombie)
            } else {
                leftover(text)
            };
            // (A key's lock taken over meanwhile: its new holder judges the link.)
            if gone && key_locked.as_ref().is_some_and(|l| !l.holds()) {
                stuck = true;
            } else if gone {
                let Ok(c) = CString::new(name) else { continue };
                if sys::unlinkat(dir, &c, 0) != 0 && crate::errno::current() != libc::ENOENT {
                    stuck = true;
                }
            } else if text.contains(".new-") {
                builder_exiting = true;
            }
            drop(key_locked);
        }
        for idx in 0..self.r.high_water() {
            let id1 = self.r.record(idx).id1.load(Ordering::Acquire);
            if id1 != 0 && queue_gone(id1 as i32 - 1) {
                self.r.released(id1 as i32 - 1);
            }
        }
        self.heal_count();
        let next = if stuck {
            now + RETRY_SECONDS
        } else if builder_exiting {
            now + 1
        } else {
            0
        };
        due.store(next, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
