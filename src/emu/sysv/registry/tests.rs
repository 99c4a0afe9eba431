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

fn entry_for(slot: Slot) -> NewEntry {
    NewEntry { key: 100 + slot.idx as i32, mode: 0o600, uid: 0, gid: 0, qbytes: 16384, ctime: 1, nonce: 1 }
}

#[test]
fn ids_cycle_like_the_kernel() {
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    let r2 = Registry::open(dir).unwrap();
    let mut l = r.lock().unwrap();
    // A fresh namespace: 0, 1, 2, ... up to the minimum cycle of 64.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let s = l.allocate(32000).unwrap();
        l.commit(s, &entry_for(s));
        ids.push(s.id);
    }
    assert_eq!(ids, vec![0, 1, 2]);
    assert_eq!(r2.lookup(1).map(|e| e.key.load(Ordering::Relaxed)), Some(101));
    assert!(r2.lookup(1 + (1 << 15)).is_none());
    // Removing 1 and creating again gives index 3 (cyclic), not 1.
    r.entry(1).id1.store(0, Ordering::Release);
    l.released(1, 101);
    let s = l.allocate(32000).unwrap();
    assert_eq!(s.id, 3);
    l.commit(s, &entry_for(s));
    assert_eq!(l.find_key(103), Some(3));
    assert_eq!(l.find_key(101), None);
    assert_eq!(r.max_idx_and_in_use(), (3, 3));
    // Run the cursor to the end of the cycle: the index wraps to the first free one (1) and
    // the sequence number is bumped.
    for i in 4..64 {
        let s = l.allocate(32000).unwrap();
        assert_eq!(s.id, i);
        l.commit(s, &entry_for(s));
    }
    // 63 live queues now: the cycle widens to 94, so the next index is 64.
    let s = l.allocate(32000).unwrap();
    assert_eq!(s.id, 64);
    for i in 0..64 {
        r.entry(i).id1.store(0, Ordering::Release);
        l.released(i, r.entry(i).key.load(Ordering::Relaxed));
    }
    // With every queue gone the cycle is 64 again: the cursor (65) is past it, so the index
    // wraps to 0 and the sequence number is bumped.
    let s = l.allocate(32000).unwrap();
    assert_eq!((s.idx, s.seq, s.id), (0, 1, 1 << 15));
    l.commit(s, &entry_for(s));
    assert!(r2.lookup(0).is_none());
    assert!(r2.lookup(1 << 15).is_some());
    assert_eq!(l.allocate(1).err(), Some(Errno::ENOSPC));
    drop(l);
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

#[test]
fn snapshots_are_consistent_and_survive_a_dead_writer() {
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    let e = r.entry(5);
    write_stats(e, |e| {
        e.qnum.store(2, Ordering::Relaxed);
        e.cbytes.store(10, Ordering::Relaxed);
    });
    let s = snapshot(e);
    assert_eq!((s.qnum, s.cbytes), (2, 10));
    // A writer that died mid-write: the sequence stays odd until settled.
    e.stat_seq.fetch_add(1, Ordering::Relaxed);
    assert_eq!(snapshot(e).qnum, 2);
    settle_stats(e);
    assert_eq!(e.stat_seq.load(Ordering::Relaxed) & 1, 0);
    crate::os::sys::close(dir);
    std::fs::remove_dir_all(path).unwrap();
}

/// The key table against a model, through heavy churn (tombstones pile up and the table is
/// rebuilt), then after a crash-style rebuild; and the live count and highest index follow
/// creations and removals without a scan.
#[test]
fn keys_are_found_through_churn_and_counts_stay_exact() {
    let (path, dir) = temp_dir();
    let r = Registry::open(dir).unwrap();
    let mut l = r.lock().unwrap();
    let mut live: std::collections::HashMap<i32, u32> = std::collections::HashMap::new();
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
            Some(idx) if next() % 2 == 0 => {
                r.entry(idx).id1.store(0, Ordering::Release);
                l.released(idx, key);
                live.remove(&key);
            }
            Some(_) => {}
            None => {
                let s = l.allocate(32000).unwrap();
                l.commit(s, &NewEntry { key, mode: 0o600, uid: 0, gid: 0, qbytes: 16384, ctime: 1, nonce: step as u64 });
                live.insert(key, s.idx);
            }
        }
        if step % 997 == 0 {
            for k in 1..=3000 {
                assert_eq!(l.find_key(k), live.get(&k).copied(), "step {step}: key {k}");
            }
            let max = live.values().map(|&i| i as i32).max().unwrap_or(-1);
            assert_eq!(r.max_idx_and_in_use(), if live.is_empty() { (-1, 0) } else { (max, live.len() as u32) }, "step {step}");
        }
    }
    l.repair();
    for k in 1..=3000 {
        assert_eq!(l.find_key(k), live.get(&k).copied(), "after repair: key {k}");
    }
    // A key-table slot pointing at the wrong entry is never taken for a match.
    let (&k, &idx) = live.iter().next().unwrap();
    r.entry(idx).key.store(k + 100_000, Ordering::Relaxed);
    assert_eq!(l.find_key(k), None);
    drop(l);
    crate::os::sys::close(dir);
    let _ = std::fs::remove_dir_all(path);
}
