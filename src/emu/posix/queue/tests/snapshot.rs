//! `Queue::snapshot` (`mqshim peek`): in either structure, it lists exactly what receivers
//! would take, in their order, and changes nothing — not the mode, the counts, the scheduled
//! messages or the notification registration.

use super::express::{receive_any, send_any};
use super::*;

fn snapshot_of(q: &Queue) -> Vec<(u32, Vec<u8>)> {
    let snap = q.snapshot(usize::MAX).unwrap();
    snap.messages
        .into_iter()
        .map(|m| {
            assert_eq!(m.len, m.preview.len());
            assert_eq!(m.due_ns, None);
            (m.priority_or_type as u32, m.preview)
        })
        .collect()
}

#[test]
fn a_snapshot_lists_what_receivers_would_take_and_changes_nothing() {
    // Seeded-random sends (priorities mostly falling, so the ring serves them, sometimes
    // rising, which moves them to the general structure) and receives, with a snapshot after
    // every step: it equals the model's order, and the mode and counts are as they were.
    let q = new_queue(10, 48);
    let mut model = Model::default();
    let mut rng = Rng(11);
    let mut prio = 5u32;
    let (mut in_ring, mut in_general) = (0, 0);
    for step in 0..5_000u64 {
        if rng.below(2) == 0 {
            prio = if rng.below(8) == 0 { (prio + 1 + rng.below(3) as u32).min(20) } else { prio.saturating_sub(rng.below(2) as u32) };
            let data = payload(&mut rng, step, 48);
            if send_any(&q, prio, &data) {
                model.push(prio, data);
            }
        } else {
            assert_eq!(receive_any(&q), model.pop(), "step {step}: receive");
        }
        let (express, count, bytes) = (q.is_express(), q.curmsgs(), q.curbytes());
        if model.len() > 1 {
            if express {
                in_ring += 1;
            } else {
                in_general += 1;
            }
        }
        assert_eq!(snapshot_of(&q), model.in_order(), "step {step}: snapshot");
        assert_eq!((q.is_express(), q.curmsgs(), q.curbytes()), (express, count, bytes), "step {step}: the snapshot changed the queue");
    }
    assert!(in_ring > 100 && in_general > 100, "both structures seen ({in_ring} in the ring, {in_general} in the general structure)");
}

#[test]
fn a_snapshot_shows_scheduled_messages_without_sending_them_and_keeps_a_registration() {
    let q = new_queue(4, 16);
    let now = crate::os::clock::realtime_ns();
    {
        let mut l = q.lock().unwrap();
        send(&mut l, 1, b"queued");
        for (due, prio, text) in [(now + 7_200_000_000_000, 2u32, &b"later"[..]), (now + 3_600_000_000_000, 9, b"sooner")] {
            l.schedule(&Message { ptr: text.as_ptr(), len: text.len(), prio, sent_ns: 0 }, due, -1).unwrap();
        }
        l.set_notification(NotifyRegistration { owner_pid: 1, kind: libc::SIGEV_NONE, ..Default::default() });
    }
    let snap = q.snapshot(3).unwrap();
    assert_eq!(snap.messages.iter().map(|m| (m.priority_or_type, m.len, m.preview.clone())).collect::<Vec<_>>(), [(1, 6, b"que".to_vec())]);
    let scheduled: Vec<_> = snap.scheduled.iter().map(|m| (m.priority_or_type, m.len, m.preview.clone(), m.due_ns)).collect();
    assert_eq!(scheduled, [(9, 6, b"soo".to_vec(), Some(now + 3_600_000_000_000)), (2, 5, b"lat".to_vec(), Some(now + 7_200_000_000_000))]);
    let mut l = q.lock().unwrap();
    assert_eq!(l.scheduled(), 2);
    assert_eq!(l.notification().owner_pid, 1);
    assert_eq!(receive(&mut l, 16), Some((1, b"queued".to_vec())));
}

/// Sends through the ring (else under the lock) with the send time `sent_ns`.
fn send_at_time(q: &Queue, prio: u32, data: &[u8], sent_ns: u64) {
    let m = Message { ptr: data.as_ptr(), len: data.len(), prio, sent_ns };
    match q.express_send(&m).unwrap() {
        Express::Done(_) => {}
        Express::Refused => panic!("full"),
        Express::Unavailable => assert!(matches!(q.lock().unwrap().send(&m, -1).unwrap(), Sent::Done)),
    }
}

#[test]
fn each_message_keeps_its_send_time_and_the_queue_the_kernel_s_times() {
    // Created at 100 s; sends at 200, 300 (ring) and 250 (a higher priority: the general
    // structure, after a fold). Each message shows its own time in either structure, and
    // mtime is the latest send (times never go back).
    let sec = crate::os::clock::SECOND_NS;
    let geo = Geometry::new(8, 16).unwrap();
    let q = Queue::initialise(map_whole(shm_file(geo.total_size)), &Init { created_ns: 100 * sec, ..init(8, 16) }).unwrap();
    assert_eq!(q.times(), QueueTimes { atime_ns: 100 * sec, mtime_ns: 100 * sec, ctime_ns: 100 * sec });
    send_at_time(&q, 1, b"a", 200 * sec);
    send_at_time(&q, 1, b"b", 300 * sec);
    assert!(q.is_express());
    let times_of = |q: &Queue| q.snapshot(8).unwrap().messages.iter().map(|m| (m.preview.clone(), m.visible_ns)).collect::<Vec<_>>();
    assert_eq!(times_of(&q), [(b"a".to_vec(), 200 * sec), (b"b".to_vec(), 300 * sec)]);
    send_at_time(&q, 5, b"c", 250 * sec);
    assert!(!q.is_express());
    assert_eq!(times_of(&q), [(b"c".to_vec(), 250 * sec), (b"a".to_vec(), 200 * sec), (b"b".to_vec(), 300 * sec)]);
    assert_eq!(q.times().mtime_ns, 300 * sec);
    // A receive stamps all three with the clock; an attribute change (mq_notify, mq_setattr)
    // only atime and ctime.
    let before = crate::os::clock::coarse_realtime_ns();
    assert_eq!(receive_any(&q).map(|m| m.1), Some(b"c".to_vec()));
    let t = q.times();
    assert!(t.mtime_ns >= before && t.atime_ns == t.mtime_ns && t.ctime_ns == t.mtime_ns, "{t:?}");
    q.header().ring.recv.last_ns.store(400 * sec, Ordering::Relaxed);
    q.header().attr_changed_ns.store(500 * sec, Ordering::Relaxed);
    assert_eq!(q.times(), QueueTimes { atime_ns: 500 * sec, mtime_ns: 400 * sec, ctime_ns: 500 * sec });
    q.note_attr_change();
    assert!(q.times().atime_ns >= before && q.times().mtime_ns == 400 * sec);
}

#[test]
fn a_due_scheduled_message_is_listed_where_the_next_operation_puts_it() {
    // Nobody touches the queue after the due times pass, so both stay unpromoted; the snapshot
    // lists the one that fits in its priority's place, age from its due time, and leaves the
    // one that finds the queue full among the scheduled — and promotes nothing itself.
    let q = new_queue(3, 16);
    let now = crate::os::clock::realtime_ns();
    let soon = now + 30_000_000;
    {
        let mut l = q.lock().unwrap();
        send(&mut l, 5, b"high");
        send(&mut l, 1, b"low");
        for (prio, text, due) in [(3u32, &b"due-mid"[..], soon), (9, b"due-top", soon + 1), (0, b"not-yet", now + 3_600_000_000_000)] {
            l.schedule(&Message { ptr: text.as_ptr(), len: text.len(), prio, sent_ns: 0 }, due, -1).unwrap();
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    let snap = q.snapshot(16).unwrap();
    let listed = |v: &[crate::emu::peek::PeekedMessage]| v.iter().map(|m| (m.preview.clone(), m.due_ns.is_some())).collect::<Vec<_>>();
    assert_eq!(listed(&snap.messages), [(b"high".to_vec(), false), (b"due-mid".to_vec(), true), (b"low".to_vec(), false)]);
    assert_eq!(snap.messages[1].visible_ns, soon);
    assert_eq!(listed(&snap.scheduled), [(b"due-top".to_vec(), true), (b"not-yet".to_vec(), true)]);
    let mut l = q.lock().unwrap();
    assert_eq!(l.scheduled(), 3, "the snapshot promoted nothing");
    // What receivers then get is what the snapshot listed (the receive that makes room lets
    // the waiting due message in, at the top).
    assert_eq!(receive(&mut l, 16), Some((5, b"high".to_vec())));
    assert_eq!(receive(&mut l, 16), Some((9, b"due-top".to_vec())));
    assert_eq!(receive(&mut l, 16), Some((3, b"due-mid".to_vec())));
}
