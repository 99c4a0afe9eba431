use super::*;

fn temp_dir() -> (String, c_int) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = format!("/tmp/mqshim-sysv-registry-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let c = std::ffi::CString::new(path.clone()).unwrap();
    // SAFETY: a NUL-terminated path.
    unsafe { libc::mkdir(c.as_ptr(), 0o700) };
    // SAFETY: as above.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(fd >= 0);
    (path, fd)
}

fn shown_as(slot: Slot) -> Snapshot {
    Snapshot { key: 100 + slot.idx as i32, mode: 0o600, qbytes: 16384, ctime: 1, ..Snapshot::default() }
}

#[test]
fn ids_cycle_like_the_kernel() {
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    let r2 = Registry::open(dir).unwrap();
    // A fresh namespace: 0, 1, 2, ... up to the minimum cycle of 64.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let s = r.allocate(32000).unwrap();
        assert!(r.admit(IPCMNI));
        r.commit(s, &shown_as(s));
        ids.push(s.id);
    }
    assert_eq!(ids, vec![0, 1, 2]);
    assert_eq!(r2.shown(1).map(|s| s.key), Some(101));
    assert!(r2.shown(1 + (1 << 15)).is_none());
    // Removing 1 and creating again gives index 3 (cyclic), not 1.
    r.released(1);
    let s = r.allocate(32000).unwrap();
    assert_eq!(s.id, 3);
    assert!(r.admit(IPCMNI));
    r.commit(s, &shown_as(s));
    assert_eq!(r.shown_id(3), Some(3));
    assert_eq!(r.shown_id(1), None);
    assert_eq!(r.max_idx_and_in_use(), (3, 3));
    // Run the cursor to the end of the cycle: the index wraps to the first free one (1) and
    // the sequence number is bumped.
    for i in 4..64 {
        let s = r.allocate(32000).unwrap();
        assert_eq!(s.id, i);
        assert!(r.admit(IPCMNI));
        r.commit(s, &shown_as(s));
    }
    // 63 live queues now: the cycle widens to 94, so the next index is 64.
    let s = r.allocate(32000).unwrap();
    assert_eq!(s.id, 64);
    for i in 0..64 {
        r.released(i);
    }
    // With every queue gone the cycle is 64 again: the cursor (65) is past it, so the index
    // wraps to 0 and the sequence number is bumped.
    let s = r.allocate(32000).unwrap();
    assert_eq!((s.idx, s.seq, s.id), (0, 1, 1 << 15));
    assert!(r.admit(IPCMNI));
    r.commit(s, &shown_as(s));
    assert!(r2.shown(0).is_none());
    assert!(r2.shown(1 << 15).is_some());
    assert_eq!(r.allocate(1).err(), Some(Errno::ENOSPC));
    crate::os::sys::close(dir);
    std::fs::remove_dir_all(path).unwrap();
}

#[test]
fn a_registry_of_another_layout_version_opens_with_eio() {
    use super::super::layout::LAYOUT_VERSION;
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    let version = &r.header().prefix.version;
    // As a later mqshim (another layout) would have left it in the file.
    version.store(LAYOUT_VERSION + 1, Ordering::Release);
    assert_eq!(Registry::open(dir).err(), Some(Errno::EIO));
    // Half-built (version 0) is refused the same way, and not rebuilt over; the layout's own
    // version opens again.
    version.store(0, Ordering::Release);
    assert_eq!(Registry::open(dir).err(), Some(Errno::EIO));
    version.store(LAYOUT_VERSION, Ordering::Release);
    assert!(Registry::open(dir).is_ok());
    // Built aside and renamed into place: no temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("registry")]);
    crate::os::sys::close(dir);
    std::fs::remove_dir_all(path).unwrap();
}

/// The live count and highest index follow creations and removals through heavy churn
/// without a scan, and a repair (after a dead lock holder) recounts the same.
#[test]
fn counts_stay_exact_through_churn() {
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    let mut live: std::collections::HashMap<i32, Slot> = std::collections::HashMap::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for step in 0..60_000u32 {
        let key = (next() % 3000) as i32 + 1;
        match live.get(&key).copied() {
            Some(slot) if next() % 2 == 0 => {
                r.released(slot.id);
                live.remove(&key);
            }
            Some(_) => {}
            None => {
                let s = r.allocate(32000).unwrap();
                assert!(r.admit(IPCMNI));
                r.commit(s, &Snapshot { key, ..shown_as(s) });
                live.insert(key, s);
            }
        }
        if step % 997 == 0 {
            for slot in live.values() {
                assert_eq!(r.shown_id(slot.idx), Some(slot.id), "step {step}");
            }
            let max = live.values().map(|s| s.idx as i32).max().unwrap_or(-1);
            assert_eq!(r.max_idx_and_in_use(), if live.is_empty() { (-1, 0) } else { (max, live.len() as u32) }, "step {step}");
            assert_eq!(block_counts(&r), block_counts_of(live.values().map(|s| s.idx)), "step {step}");
        }
    }
    let before = (r.max_idx_and_in_use(), block_counts(&r));
    let garbled = block_counts(&r).iter().position(|&n| n > 0).unwrap();
    r.header().live_in_block[garbled].store(0, Ordering::Release);
    r.lock().unwrap().repair();
    assert_eq!((r.max_idx_and_in_use(), block_counts(&r)), before, "raised again to what the records show");
    crate::os::sys::close(dir);
    let _ = std::fs::remove_dir_all(path);
}

/// The registry's count of live records in each block of indices.
fn block_counts(r: &Registry) -> Vec<u16> {
    r.header().live_in_block.iter().map(|c| c.load(Ordering::Acquire)).collect()
}

/// The counts [`block_counts`] should read with the records at `indices` live.
fn block_counts_of(indices: impl Iterator<Item = u32>) -> Vec<u16> {
    let mut counts = vec![0u16; (IPCMNI / RECORDS_PER_BLOCK) as usize];
    for idx in indices {
        counts[(idx / RECORDS_PER_BLOCK) as usize] += 1;
    }
    counts
}

/// The removal of the highest live queue finds the next one below past the blocks of records
/// that show none (as the kernel's binary search of its idr does, where a walk record by record
/// went over every index between: O(n) per removal in a namespace whose queues sit below the
/// cycle of new ones). A count another user garbled high costs that block's records only.
#[test]
fn the_highest_live_index_is_found_past_the_blocks_that_show_none() {
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    let live = [5, 70, 3000, 3001, 20000];
    {
        let mut locked = r.lock().unwrap();
        for id in live {
            assert!(r.admit(IPCMNI));
            locked.adopt(id, &Snapshot { key: id, ..Snapshot::default() });
        }
    }
    assert_eq!(r.max_idx_and_in_use(), (20000, 5));
    assert_eq!(block_counts(&r), block_counts_of(live.iter().map(|&i| i as u32)));
    r.header().live_in_block[(6400 / RECORDS_PER_BLOCK) as usize].store(7, Ordering::Release);
    for (gone, next) in [(20000, 3001), (3001, 3000), (3000, 70), (70, 5), (5, -1)] {
        r.released(gone);
        assert_eq!(r.max_idx_and_in_use().0, next, "after {gone} went");
    }
    crate::os::sys::close(dir);
    let _ = std::fs::remove_dir_all(path);
}

/// A remover of the highest index that lowers `max_idx` to the next live record it found
/// does not hide a queue committed below the removed one while it looked: `MSG_INFO` (and
/// `ipcs`, which goes up to `max_idx`) still reach it. Before, the lowering was a plain store
/// of what the look found, and a `MSG_STAT` walk missed the new queue (`fault_kill9_storm_leaks`
/// failed, rarely, with "0 live queues, msgget -> <id>").
#[test]
fn a_queue_committed_while_the_highest_is_removed_stays_below_max_idx() {
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    {
        let mut locked = r.lock().unwrap();
        for id in [5, 70] {
            assert!(r.admit(IPCMNI));
            locked.adopt(id, &Snapshot { key: id, ..Snapshot::default() });
        }
    }
    assert!(r.admit(IPCMNI));
    let commit_40 = || r.commit(Slot { idx: 40, seq: 0, id: 40 }, &Snapshot { key: 40, ..Snapshot::default() });
    r.released_with(70, &commit_40);
    assert_eq!(r.max_idx_and_in_use(), (40, 2), "the queue committed during the removal is below max_idx");
    crate::os::sys::close(dir);
    let _ = std::fs::remove_dir_all(path);
}

/// The records' pages are made through this process's mapping of the registry, not by opening
/// `registry` again by name: a registry replaced or removed under a process that has it mapped
/// (a rebuild renames a new one over it) still has its own pages made, and ids are allocated.
/// Before, the name was opened for each page: gone, it was ENOENT, and `allocate` said ENOSPC.
#[test]
fn records_are_made_through_the_mapping_not_the_name() {
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    assert_eq!(crate::os::sys::unlinkat(dir, REGISTRY_NAME, 0), 0);
    // Past the first page of records too.
    let per_page = (4096 / RECORD_SIZE) as i32;
    for i in 0..per_page + 2 {
        let s = r.allocate(32000).unwrap();
        assert_eq!(s.id, i);
        assert!(r.admit(IPCMNI));
        r.commit(s, &shown_as(s));
    }
    crate::os::sys::close(dir);
    let _ = std::fs::remove_dir_all(path);
}

#[test]
fn creators_at_the_limit_are_admitted_one_at_a_time() {
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    // Three creators, at work (as a creator registers before it allocates), all passed
    // allocate's check with no queue live (limit 2): two go live.
    let working: Vec<_> = (0..3).map(|_| r.begin_work()).collect();
    let slots: Vec<Slot> = (0..3).map(|_| r.allocate(2).unwrap()).collect();
    let admitted: Vec<bool> = slots.iter().map(|_| r.admit(2)).collect();
    assert_eq!(admitted, [true, true, false]);
    assert_eq!(r.max_idx_and_in_use().1, 2);
    assert_eq!(r.allocate(2).err(), Some(Errno::ENOSPC));
    drop(working);
    drop(r);
    crate::os::sys::close(dir);
    let _ = std::fs::remove_dir_all(path);
}

#[test]
fn a_count_left_by_a_creator_killed_before_its_commit_is_healed_by_a_quiet_sweep() {
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    let live = r.allocate(8).unwrap();
    assert!(r.admit(8));
    r.commit(live, &shown_as(live));
    // Counted, then killed before its commit: its queue never went live.
    let _dead = r.allocate(8).unwrap();
    assert!(r.admit(8));
    assert_eq!(r.max_idx_and_in_use().1, 2);
    // Another process at work (pid 1 is always there): the count waits.
    r.header().creators[0].store(1, Ordering::Release);
    r.sweep_soon();
    r.try_lock().unwrap().sweep_if_due(dir, |_| false, |_| false);
    assert_eq!(r.max_idx_and_in_use().1, 2, "not while another process may be between its count and its commit");
    // Nobody else at work: the live records' number.
    r.header().creators[0].store(0, Ordering::Release);
    r.sweep_soon();
    r.try_lock().unwrap().sweep_if_due(dir, |_| false, |_| false);
    assert_eq!(r.max_idx_and_in_use().1, 1);
    drop(r);
    crate::os::sys::close(dir);
    let _ = std::fs::remove_dir_all(path);
}

#[test]
fn a_count_garbled_high_is_lowered_to_what_the_records_and_the_workers_allow_at_the_limit() {
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    let live = r.allocate(8).unwrap();
    assert!(r.admit(8));
    r.commit(live, &shown_as(live));
    // Another user wrote the count: every creation would be ENOSPC.
    r.header().alloc.in_use.store(u32::MAX, Ordering::Release);
    // One process at work (pid 1 is always there), perhaps between its count and its commit.
    r.header().creators[0].store(1, Ordering::Release);
    let next = r.allocate(8).unwrap();
    assert_eq!(r.max_idx_and_in_use().1, 2, "the live record and the one at work");
    assert!(r.admit(8));
    r.commit(next, &shown_as(next));
    // A true limit stays one: two live and one at work make three, the limit.
    assert_eq!(r.allocate(3).err(), Some(Errno::ENOSPC));
    assert_eq!(r.max_idx_and_in_use().1, 3, "the count is never lowered below the truth");
    r.header().creators[0].store(0, Ordering::Release);
    drop(r);
    crate::os::sys::close(dir);
    let _ = std::fs::remove_dir_all(path);
}

#[test]
fn a_late_opener_faults_in_no_record_page_below_the_high_water_mark() {
    use crate::emu::engine::segment::POPULATED_BY_THIS_THREAD;
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    // 2048 queues' records (128 KiB) made, with their pages, as by other processes.
    for _ in 0..2048 {
        let s = r.allocate(32000).unwrap();
        assert!(r.admit(IPCMNI));
        r.commit(s, &shown_as(s));
    }
    // A process opening the registry now, and creating: its first allocation takes index 2048,
    // and faults in the new record's page alone, not the 32 pages of records below the mark.
    let late = Registry::open(dir).unwrap();
    let before = POPULATED_BY_THIS_THREAD.with(|b| b.get());
    let s = late.allocate(32000).unwrap();
    assert_eq!(s.idx, 2048);
    let populated = POPULATED_BY_THIS_THREAD.with(|b| b.get()) - before;
    assert!(populated <= 4096, "{populated} bytes faulted in");
    crate::os::sys::close(dir);
    std::fs::remove_dir_all(path).unwrap();
}
