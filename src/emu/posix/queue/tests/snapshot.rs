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
            l.schedule(&Message { ptr: text.as_ptr(), len: text.len(), prio }, due, -1).unwrap();
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
