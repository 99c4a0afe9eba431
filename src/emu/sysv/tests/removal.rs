//! Removal without a lock: a process holding the registry lock (any user may) delays no
//! `IPC_RMID`, a creator of a key never waits for the remover of the key's queue, and a
//! remover killed half-way leaves nothing that the next creator's sweep does not take away,
//! its queue's record included, and a process stopped while it holds a queue's own lock fails
//! no removal of that queue, nor keeps its blocked callers from failing at once.

use super::creation::{files, gone_pid, while_held, while_registry_lock_held, ROOMY};
use super::*;
use crate::emu::sysv::layout::{REMOVED, REMOVED_WAITERS_UNSERVED};
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

/// What a remover killed half-way leaves: queue `id`'s removal claimed by a thread that has
/// ended, after it took `key`'s link away too when `took_link`.
fn claimed_by_a_thread_that_ended(e: &SysvEmulation, id: i32, key: key_t, took_link: bool) {
    in_a_thread_that_ends(|| {
        let q = e.find(id).unwrap();
        assert_eq!(q.lock(q.entry()).unwrap().claim_removal(false), queue::Claimed::Mine);
        if took_link {
            assert!(keys::remove_of(e.dir, key, id));
        }
    })
}

/// The rest of `remove_id` for queue `q`, whose removal this thread claimed and whose key's
/// link it took away: the commit, the file, the record.
fn commit_removal(e: &SysvEmulation, q: &Queue) {
    assert!(q.lock(q.entry()).unwrap().begin_removal());
    crate::os::sys::unlinkat(e.dir, &std::ffi::CString::new(file_name(q.id)).unwrap(), 0);
    e.registry().unwrap().released(q.id);
    q.end_removal();
}

/// The removal of a keyed queue as `remove_id` makes it, paused (as a stopped remover would be)
/// after each step: its claim, the key's link taken away, its commit. A creator of the key
/// waits at none of them: it finds the old queue while the link is there, as before the
/// kernel's IPC_RMID, and makes a new one once the link is gone, which the remover, going on,
/// never takes away. Before, the remover committed first and took the link away after, and a
/// creator that found the link then waited for it, failing with EAGAIN once it was stopped
/// 20 ms (`fault_stopped_remover_keeps_the_name_from_no_one`).
#[test]
fn a_creator_of_a_key_never_waits_for_the_remover_of_its_queue() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let key = 0x5eed_4101;
    let old = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
    let step = Barrier::new(2);
    std::thread::scope(|s| {
        let remover = s.spawn(|| {
            let q = e.find(old).unwrap();
            assert_eq!(q.lock(q.entry()).unwrap().claim_removal(false), queue::Claimed::Mine);
            step.wait();
            step.wait();
            assert!(keys::remove_of(e.dir, key, old));
            step.wait();
            step.wait();
            commit_removal(e, &q);
        });
        let timed = |f: &dyn Fn() -> Result<c_int>| {
            let start = std::time::Instant::now();
            let r = f();
            (r, start.elapsed())
        };
        step.wait();
        let (with_link, with_link_took) = timed(&|| e.msgget(key, libc::IPC_CREAT | 0o600));
        step.wait();
        step.wait();
        let (link_gone, link_gone_took) = timed(&|| e.msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600));
        step.wait();
        remover.join().unwrap();
        // Checked once the remover is done: a failure at a step would leave it waiting at the
        // next. The remover here is a thread asleep at the barrier, never stopped, so a wait
        // for it would run out the bound for a holder that is not stopped (220 ms: see
        // `waited_out`); a call that does not wait may still be descheduled for tens of
        // milliseconds beside the unit stress's second test process (once 21.6 ms, against
        // the 19 ms this allowed before).
        let waited = std::time::Duration::from_nanos(lock::BOUND_NS + lock::PREEMPTED_HOLDER_NS);
        for (what, took) in [("msgget with the link there", with_link_took), ("msgget with the link gone", link_gone_took)] {
            assert!(took < waited / 2, "{what} took {took:?}");
        }
        assert_eq!(with_link, Ok(old), "claimed, not yet removed");
        let new = link_gone.expect("a new queue of the key");
        assert_ne!(new, old);
        // Another process's view, which finds the key by its link.
        let other = SysvEmulation::new(ns.path.as_bytes(), ROOMY).unwrap();
        assert_eq!(other.msgget(key, 0), Ok(new), "the new queue keeps its key's link");
        assert_eq!(msgctl(&other, old, cmd::IPC_STAT, &mut unsafe_zeroed_ds()), Err(Errno::EINVAL));
        msgctl(e, new, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    });
    assert_eq!(files(&ns), vec!["registry".to_string()]);
}

/// A remover killed after taking its key's link away, before its commit, left a live queue
/// nobody finds by its key, its removal claimed by a thread that is gone: the next creator's
/// sweep finishes that removal, as the remover would have, and frees its record.
#[test]
fn a_remover_killed_after_taking_the_link_away_has_its_removal_finished_by_the_next_creator() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let key = 0x5eed_4151;
    let id = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
    let registry = e.registry().unwrap();
    claimed_by_a_thread_that_ended(e, id, key, true);
    registry.creator_table()[5].store(gone_pid(), Ordering::Release);
    assert_eq!(e.msgget(key, 0), Err(Errno::ENOENT), "the key's link is gone");
    let private = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    assert_eq!(msgctl(e, id, cmd::IPC_STAT, &mut unsafe_zeroed_ds()), Err(Errno::EINVAL), "removed by the sweep");
    assert_eq!(e.list().iter().map(|q| q.id).collect::<Vec<_>>(), vec![private]);
    assert_eq!(registry.max_idx_and_in_use().1, 1, "its record is freed");
    msgctl(e, private, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert_eq!(files(&ns), vec!["registry".to_string()]);
}

/// The same killed remover's queue, before any creator sweeps: a process that maps it (here a
/// thread that never had it) finishes the removal at sight, so that no `IPC_STAT`, `MSG_STAT`
/// or `ipcs` shows a live queue of a key that makes a new one (two live queues of one key,
/// which the kernel never shows).
#[test]
fn a_remover_killed_after_taking_the_link_away_has_its_removal_finished_by_whoever_maps_the_queue() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let key = 0x5eed_4152;
    let id = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
    let registry = e.registry().unwrap();
    claimed_by_a_thread_that_ended(e, id, key, true);
    let (listed, stat) = std::thread::scope(|s| {
        s.spawn(|| (e.list().iter().map(|q| q.id).collect::<Vec<_>>(), msgctl(e, id, cmd::IPC_STAT, &mut unsafe_zeroed_ds()))).join().unwrap()
    });
    assert_eq!((listed, stat), (vec![], Err(Errno::EINVAL)));
    assert_eq!(registry.max_idx_and_in_use().1, 0, "its record is freed");
    let again = e.msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600).unwrap();
    msgctl(e, again, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert_eq!(files(&ns), vec!["registry".to_string()]);
}

/// A remover killed after its claim, before taking the link away, left the queue as an
/// IPC_RMID that never ran would: live and found by its key (the sweep clears the claim); and
/// its owner's IPC_RMID takes that claim over at once.
#[test]
fn a_remover_killed_before_taking_the_link_away_leaves_the_queue_whole() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let key = 0x5eed_4161;
    let id = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
    claimed_by_a_thread_that_ended(e, id, key, false);
    assert_eq!(e.msgget(key, 0), Ok(id));
    e.registry().unwrap().creator_table()[5].store(gone_pid(), Ordering::Release);
    let private = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    assert!(!e.find(id).unwrap().removal_claimed(), "the sweep cleared the claim");
    assert_eq!(e.msgget(key, 0), Ok(id));
    claimed_by_a_thread_that_ended(e, id, key, false);
    let start = std::time::Instant::now();
    msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert!(start.elapsed() < std::time::Duration::from_millis(15), "a gone claimant is not waited for: {:?}", start.elapsed());
    assert_eq!(e.msgget(key, 0), Err(Errno::ENOENT));
    msgctl(e, private, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert_eq!(files(&ns), vec!["registry".to_string()]);
}

/// A claim on a queue's removal by a thread that is there and never goes on (stopped, or a tid
/// a user who may write the segment put there) delays its owner's IPC_RMID, which waits it out
/// and takes it over, and does not deny it.
#[test]
fn a_removal_claimed_by_a_thread_that_never_goes_on_is_taken_over() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let key = 0x5eed_4171;
    let id = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
    let (claimed, done) = (Barrier::new(2), Barrier::new(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            let q = e.find(id).unwrap();
            assert_eq!(q.lock(q.entry()).unwrap().claim_removal(false), queue::Claimed::Mine);
            claimed.wait();
            done.wait();
        });
        claimed.wait();
        assert_eq!(msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut()), Ok(0));
        done.wait();
    });
    assert_eq!(e.msgget(key, 0), Err(Errno::ENOENT));
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
            assert!(q.lock(q.entry()).unwrap().begin_removal());
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

/// A remover that took its key's link away and then cannot take the queue's lock to commit for
/// anything but a stopped holder (its segment found damaged: EIO) leaves its claim to anyone
/// (`Queue::abandon_removal`, what `remove_id` does then): the first process that maps
/// the queue finishes the removal, though the remover lives on. Its claim alone would keep
/// that process from it: a live claimant may still commit. (The remover's steps are played
/// here: no test can take the lock between them.)
#[test]
fn a_remover_that_cannot_commit_leaves_its_removal_to_whoever_maps_the_queue() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let key = 0x5eed_4181;
    let id = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
    // The remover is this thread, which goes on living.
    let q = e.find(id).unwrap();
    assert_eq!(q.lock(q.entry()).unwrap().claim_removal(false), queue::Claimed::Mine);
    assert!(keys::remove_of(e.dir, key, id));
    let stat_elsewhere = || std::thread::scope(|s| s.spawn(|| msgctl(e, id, cmd::IPC_STAT, &mut unsafe_zeroed_ds())).join().unwrap());
    assert_eq!(stat_elsewhere(), Ok(0), "claimed by a live remover: not another's to finish");
    q.abandon_removal();
    assert_eq!(stat_elsewhere(), Err(Errno::EINVAL), "left to anyone: finished by a thread that maps the queue");
    let again = e.msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600).unwrap();
    msgctl(e, again, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert_eq!(files(&ns), vec!["registry".to_string()]);
}

/// A remover stopped after reading its key's link, long enough for a second `IPC_RMID` of the
/// queue to take its claim over and remove the queue, and for a creator to make the key's next
/// queue under the same link name: going on, it leaves that link alone (its claim is lost, and
/// the queue it came to remove is gone: EIDRM). Before, it took the link away by name, and the
/// key's live queue was found by no key (`msgget(key, 0)`: ENOENT).
#[test]
fn a_remover_whose_claim_was_taken_over_leaves_the_next_queue_of_its_key_alone() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let key = 0x5eed_4191;
    let old = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
    let step = Barrier::new(2);
    std::thread::scope(|s| {
        let stopped = s.spawn(|| {
            let q = e.find(old).unwrap();
            let mut first = true;
            e.claim_and_take_key_link(&q, q.entry(), key, old, || {
                if std::mem::take(&mut first) {
                    step.wait();
                    step.wait();
                }
            })
        });
        step.wait();
        // The second remover, as `claim_removal` takes a claim over once its claimant was
        // stopped long enough, then the rest of `remove_id`.
        let q = e.find(old).unwrap();
        assert_eq!(q.lock(q.entry()).unwrap().claim_removal(true), queue::Claimed::Mine);
        assert!(keys::remove_of(e.dir, key, old));
        commit_removal(e, &q);
        let new = e.msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600).expect("the key's next queue");
        assert_ne!(new, old);
        step.wait();
        assert_eq!(stopped.join().unwrap(), Err(Errno::EIDRM));
        let other = SysvEmulation::new(ns.path.as_bytes(), ROOMY).unwrap();
        assert_eq!(other.msgget(key, 0), Ok(new), "the next queue keeps its key's link");
        msgctl(e, new, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    });
    assert_eq!(files(&ns), vec!["registry".to_string()]);
}

/// Whether thread `tid` of this process sleeps (`S` in its `/proc` stat).
fn thread_sleeps(tid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('S'))
}

/// A process stopped inside a queue's critical section (here a thread that holds the queue's
/// lock and sleeps) makes no `IPC_RMID` of the queue fail, private or keyed: past the lock's
/// bound the removal commits without the lock (`Queue::remove_unlocked`). The callers blocked in
/// the queue fail with EIDRM while the holder is still stopped, as the kernel's would at once:
/// a receiver and a sender registered as waiters leave unserved (`engine::waiter`), and a
/// receiver that was waiting for the lock itself stops waiting (`LockWait::Blocking`). The
/// holder, as it lets go, finishes the removal. The waiters used to wait for the holder to go
/// on, however long it stayed stopped; before that, each removal failed with EAGAIN.
#[test]
fn a_queue_whose_lock_a_stopped_process_holds_is_removed_and_its_blocked_callers_fail_at_once() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    for key in [libc::IPC_PRIVATE, 0x5eed_41a1] {
        let id = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
        let q = e.find(id).unwrap();
        let entry = q.entry();
        let full = Msg { mtype: 1, text: [7; 64] };
        assert_eq!(msgsnd(e, id, (&raw const full).cast(), 60, 0), Ok(0));
        let late_tid = &std::sync::atomic::AtomicI32::new(0);
        let receive = move || {
            let mut got = Msg { mtype: 0, text: [0; 64] };
            msgrcv(e, id, (&raw mut got).cast(), 64, 2, 0)
        };
        std::thread::scope(|s| {
            let receiver = s.spawn(receive);
            let sender = s.spawn(|| msgsnd(e, id, (&raw const full).cast(), 60, 0));
            wait_until_blocked("receiver and sender", || {
                let counts = q.lock(entry).unwrap().counts();
                counts.3 > 0 && counts.4 > 0
            });
            let (removed, stat, found, served_before, left_at_once) = while_held(
                || q.lock(entry).unwrap(),
                || {
                    // A receiver that finds the lock held, and waits for it.
                    let late = s.spawn(move || {
                        late_tid.store(crate::os::ids::tid(), Ordering::Release);
                        receive()
                    });
                    wait_until_blocked("late receiver", || {
                        let tid = late_tid.load(Ordering::Acquire);
                        tid != 0 && thread_sleeps(tid)
                    });
                    let removed = msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut());
                    let stat = msgctl(e, id, cmd::IPC_STAT, &mut unsafe_zeroed_ds());
                    let found = (key != libc::IPC_PRIVATE).then(|| e.msgget(key, 0));
                    let served_before = q.header().removed.load(Ordering::Acquire);
                    // Bounded, so that the old code fails here rather than hangs (its waiters
                    // returned only once the holder let go, after this), and shorter than a
                    // sleeper's liveness look (`sleep::LIVENESS_POLL_SECONDS`), so that the
                    // waiters must have been roused: they leave within milliseconds.
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
                    let done = || receiver.is_finished() && sender.is_finished() && late.is_finished();
                    while !done() && std::time::Instant::now() < deadline {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    (removed, stat, found, served_before, (receiver.is_finished(), sender.is_finished(), late.is_finished(), late))
                },
            );
            if removed.is_err() {
                // Removed now that the lock is free, so that the waiters return and the
                // failure is reported (the scope joins them).
                let _ = msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut());
            }
            let (receiver_left, sender_left, late_left, late) = left_at_once;
            assert_eq!(removed, Ok(0), "key {key:#x}: IPC_RMID while the queue's lock was held");
            assert_eq!(stat, Err(Errno::EINVAL), "key {key:#x}: its id is gone at once");
            assert!(found.is_none_or(|found| found == Err(Errno::ENOENT)), "key {key:#x}: {found:?}");
            assert_eq!(served_before, REMOVED_WAITERS_UNSERVED, "key {key:#x}: the removal was left to the lock's holder");
            assert_eq!(
                (receiver_left, sender_left, late_left),
                (true, true, true),
                "key {key:#x}: receiver, sender and late receiver returned while the holder held the lock"
            );
            // The holder has let go (`while_held` joined it): it finished the removal.
            assert_eq!(q.header().removed.load(Ordering::Acquire), REMOVED, "key {key:#x}: finished by the holder as it let go");
            assert_eq!(receiver.join().unwrap(), Err(Errno::EIDRM), "key {key:#x}: the blocked receiver");
            assert_eq!(sender.join().unwrap(), Err(Errno::EIDRM), "key {key:#x}: the blocked sender");
            assert_eq!(late.join().unwrap(), Err(Errno::EIDRM), "key {key:#x}: the receiver waiting for the lock");
        });
    }
    assert_eq!(files(&ns), vec!["registry".to_string()]);
}

/// Of two removers of one queue, one under its lock and one without it, only one commits (the
/// id's compare-and-swap): the other is told it was removed, and does none of the rest — the
/// queue's file and record, which may be a new queue's by then.
#[test]
fn of_two_removers_with_and_without_the_lock_only_one_commits() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    for unlocked_first in [true, false] {
        let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
        let q = e.find(id).unwrap();
        let entry = q.entry();
        if unlocked_first {
            assert!(q.remove_unlocked(entry));
            assert!(!q.lock(entry).unwrap().begin_removal(), "the second, under the lock");
        } else {
            assert!(q.lock(entry).unwrap().begin_removal());
            assert!(!q.remove_unlocked(entry), "the second, without the lock");
        }
        assert!(q.removed());
        crate::os::sys::unlinkat(e.dir, &std::ffi::CString::new(file_name(id)).unwrap(), 0);
        e.registry().unwrap().released(id);
        q.end_removal();
    }
    assert_eq!(files(&ns), vec!["registry".to_string()]);
}
