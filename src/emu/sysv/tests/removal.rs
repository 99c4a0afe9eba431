//! Removal without a lock: a process holding the registry lock (any user may) delays no
//! `IPC_RMID`, a creator of a key waits for the remover of the key's queue rather than
//! replacing its link, and a remover killed half-way leaves nothing that the next creator's
//! sweep does not take away, its queue's record included.

use super::creation::{files, gone_pid, while_registry_lock_held, ROOMY};
use super::*;
use std::sync::Barrier;

/// A thread holds the registry lock (as a stopped process, or a hostile user, could) while this
/// one removes queues: no removal waits for it. Each used to wait 20 ms for it.
#[test]
fn a_held_registry_lock_delays_no_removal() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let ids: Vec<i32> =
        (0..10).map(|i| if i % 2 == 0 { e.msgget(libc::IPC_PRIVATE, 0o600) } else { e.msgget(0x5eed_4000 + i, libc::IPC_CREAT | 0o600) }.unwrap()).collect();
    let (removed, took) = while_registry_lock_held(e, || {
        let start = std::time::Instant::now();
        let removed: Vec<Result<c_int>> = ids.iter().map(|&id| msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut())).collect();
        (removed, start.elapsed())
    });
    assert!(removed.iter().all(|r| *r == Ok(0)), "{removed:?}");
    // Ten waits of 20 ms would be 200 ms; ten removals take well under a millisecond.
    assert!(took < std::time::Duration::from_millis(100), "10 removals took {took:?} while another held the registry lock");
    for i in (1..10).step_by(2) {
        assert_eq!(e.msgget(0x5eed_4000 + i, 0), Err(Errno::ENOENT));
    }
    assert_eq!(files(&ns), vec!["registry".to_string()]);
}

/// A creator of a key whose queue is being removed finds the key's link still there: it waits
/// for the remover to take it away rather than replacing it, so the remover (which found the
/// link its queue's before) never takes away the creator's new link. The remover here is this
/// test's own thread, pausing between reading the link and removing it.
#[test]
fn a_creator_of_a_key_waits_for_the_remover_of_its_queue() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let key = 0x5eed_4101;
    let old = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
    let removing = Barrier::new(2);
    std::thread::scope(|s| {
        let remover = s.spawn(|| {
            let q = e.find(old).unwrap();
            q.lock(q.entry()).unwrap().begin_removal();
            let ours = keys::read(e.dir, key, 0) == Ok(Some(old));
            removing.wait();
            // Long enough for a creator that does not wait to have replaced the link (it takes
            // microseconds); short of the creator's bound for a remover that is not stopped
            // (220 ms) by a margin a loaded machine needs (`make stress` once failed a 30 ms one).
            std::thread::sleep(std::time::Duration::from_millis(5));
            if ours {
                assert!(keys::remove(e.dir, key, 0));
            }
            let name = std::ffi::CString::new(file_name(old)).unwrap();
            crate::os::sys::unlinkat(e.dir, &name, 0);
            e.registry().unwrap().released(old);
            q.end_removal();
        });
        removing.wait();
        let new = e.msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600).expect("a new queue of the key, once its old one's remover is done");
        remover.join().unwrap();
        assert_ne!(new, old);
        // Another process's view, which finds the key by its link.
        let other = SysvEmulation::new(ns.path.as_bytes(), ROOMY).unwrap();
        assert_eq!(other.msgget(key, 0), Ok(new), "the new queue keeps its key's link");
        msgctl(e, new, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    });
    assert_eq!(files(&ns), vec!["registry".to_string()]);
}

/// A remover killed after removing its queue (the commit), before taking its key's link away,
/// removing its segment and freeing its record, registered in the creator table: the next
/// creator finds it gone and sweeps all three, so the queue counts no more against `msgmni`
/// and its key is free.
#[test]
fn a_killed_remover_s_leftovers_and_record_are_swept_by_the_next_creator() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let key = 0x5eed_4201;
    let id = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
    let registry = e.registry().unwrap();
    let in_use = || registry.max_idx_and_in_use().1;
    assert_eq!(in_use(), 1);
    // What the killed remover left: its queue removed by a thread that has ended, and its pid,
    // gone, in the creator table.
    std::thread::scope(|s| {
        s.spawn(|| {
            let q = e.find(id).unwrap();
            q.lock(q.entry()).unwrap().begin_removal();
        })
        .join()
        .unwrap()
    });
    e.detach(id, false);
    registry.creator_table()[7].store(gone_pid(), Ordering::Release);
    assert_eq!(msgctl(e, id, cmd::IPC_STAT, &mut unsafe_zeroed_ds()), Err(Errno::EINVAL));
    let private = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    assert_eq!(in_use(), 1, "the removed queue's record is freed");
    assert_eq!(e.list().iter().map(|q| q.id).collect::<Vec<_>>(), vec![private]);
    msgctl(e, private, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert_eq!(files(&ns), vec!["registry".to_string()], "the segment and the link were swept");
    let again = e.msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600).unwrap();
    msgctl(e, again, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert_eq!(in_use(), 0);
}

#[test]
fn a_process_remembers_its_last_removed_ids_until_the_sysctls_change() {
    let mut attached = Attached::default();
    for id in 0..=DEAD_IDS_REMEMBERED as i32 {
        attached.bury(1, id, Some(7));
    }
    assert!(!attached.is_dead(1, 0, Some(7)), "the oldest is forgotten");
    assert!(attached.is_dead(1, 1, Some(7)) && attached.is_dead(1, DEAD_IDS_REMEMBERED as i32, Some(7)));
    assert!(!attached.is_dead(2, 1, Some(7)), "per namespace");
    assert!(!attached.is_dead(1, 1, Some(8)), "a sysctl write (msg_next_id) may have made it again");
    assert!(!attached.is_dead(1, 1, None), "a registry that cannot say");
    attached.bury(1, 1, Some(8));
    assert!(attached.is_dead(1, 1, Some(8)));
    assert!(!attached.is_dead(1, 1, Some(7)), "in the place of the oldest");
    assert!(attached.is_dead(1, 2, Some(7)));
    attached.bury(1, 3, None);
    assert!(attached.is_dead(1, 2, Some(7)) && attached.is_dead(1, 3, Some(7)), "nothing buried without a generation");
}

/// A registry rebuilt by another process (after a user damaged it) may give a removed id out
/// again: a process that remembered that id dead then finds the new queue, not EINVAL.
#[test]
fn an_id_given_out_again_by_a_rebuilt_registry_is_no_longer_dead() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    e.find(id).unwrap();
    let other = SysvEmulation::new(ns.path.as_bytes(), ROOMY).unwrap();
    msgctl(&other, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    drop(other);
    assert_eq!(e.find(id).err(), Some(Errno::EINVAL), "remembered dead");
    Registry::rebuild(e.dir).unwrap();
    let rebuilt = SysvEmulation::new(ns.path.as_bytes(), ROOMY).unwrap();
    rebuilt.set_next_id(id).unwrap();
    assert_eq!(rebuilt.msgget(libc::IPC_PRIVATE, 0o600), Ok(id));
    assert_eq!(e.find(id).map(|q| q.id), Ok(id), "the new queue of that id");
    msgctl(&rebuilt, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
}
