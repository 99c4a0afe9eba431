//! The express ring and the general structure together: the kernel's order through folds and
//! unfolds, a fold cut short, a stream across threads, a message sealed by a dead sender.

use super::*;

/// Sends as `PosixEmulation::send` does: through the ring, else under the queue lock. False
/// when the queue is full.
pub(super) fn send_any(q: &Queue, prio: u32, data: &[u8]) -> bool {
    let m = Message { ptr: data.as_ptr(), len: data.len(), prio, sent_ns: 0 };
    match q.express_send(&m).unwrap() {
        Express::Done(_) => true,
        Express::Refused => false,
        Express::Unavailable => send(&mut q.lock().unwrap(), prio, data),
    }
}

/// Receives as `PosixEmulation::receive` does. None when the queue is empty.
pub(super) fn receive_any(q: &Queue) -> Option<(u32, Vec<u8>)> {
    let msgsize = q.geometry().msgsize as usize;
    let mut buf = vec![0u8; msgsize];
    match q.express_receive(buf.as_mut_ptr(), msgsize).unwrap() {
        Express::Done(got) => {
            assert!(got.copied);
            buf.truncate(got.len);
            Some((got.prio, buf))
        }
        Express::Refused => None,
        Express::Unavailable => receive(&mut q.lock().unwrap(), msgsize),
    }
}

#[test]
fn the_ring_and_the_general_structure_together_keep_the_kernel_s_order() {
    // Seeded-random sends (priorities mostly falling or equal, sometimes rising, which the
    // ring must refuse), receives, and a lock taken now and then (which folds the ring), in
    // queues of 1, 10 and 64: every message comes out as the model says, and the count is
    // right after every step, in whichever mode the queue is.
    for (maxmsg, seed) in [(1u32, 3u64), (10, 5), (64, 7)] {
        let q = new_queue(maxmsg, 48);
        let mut model = Model::default();
        let mut rng = Rng(seed);
        let mut prio = 5u32;
        let (mut express_sends, mut folds) = (0, 0);
        for step in 0..40_000u64 {
            match rng.below(9) {
                0..=3 => {
                    prio = match rng.below(10) {
                        0 => prio + 1 + rng.below(3) as u32,
                        1 => prio.saturating_sub(1),
                        _ => prio,
                    }
                    .min(20);
                    let data = payload(&mut rng, step, 48);
                    let was_express = q.is_express();
                    let sent = send_any(&q, prio, &data);
                    assert_eq!(sent, model.len() < maxmsg as usize, "step {step}: send refused or accepted wrongly");
                    if sent {
                        express_sends += was_express as u32;
                        model.push(prio, data);
                    }
                }
                4..=7 => assert_eq!(receive_any(&q), model.pop(), "step {step}: receive"),
                _ => {
                    folds += q.is_express() as u32;
                    let mut l = q.lock().unwrap();
                    assert!(!q.is_express(), "locked in express mode");
                    check_consistent(&mut l);
                }
            }
            assert_eq!(q.curmsgs() as usize, model.len(), "step {step}: curmsgs");
            assert_eq!(q.curbytes(), model.bytes, "step {step}: curbytes");
        }
        assert!(express_sends > 300 && folds > 100, "maxmsg {maxmsg}: the ring was used ({express_sends} sends, {folds} folds)");
        assert_eq!(drain(&q), model.in_order());
    }
}

#[test]
fn a_fold_cut_short_leaves_the_ring_in_force_and_repair_makes_the_rest_consistent() {
    // A process killed while folding has made some ring slots QUEUED and linked them, without
    // moving the mode: the ring is still the truth, so nothing is lost or doubled.
    for cut in 0..=5u32 {
        let q = new_queue(8, 32);
        let sent: Vec<Vec<u8>> = (0..5u8).map(|k| vec![k; 4 + k as usize]).collect();
        for m in &sent {
            assert!(send_any(&q, 3, m));
        }
        assert!(q.is_express());
        {
            // The queue lock taken by hand, as `lock` does before it folds.
            // SAFETY: the mutex was initialised with the segment.
            unsafe { lock::lock(q.lock_ptr()).unwrap() };
            let mut l = Locked { q: &q, wakes: PendingWakes::default(), wake_notify: false, relayed_signal: None, buf_writable: 0 };
            for i in 0..cut {
                l.enqueue_committed(i);
            }
            // Here the folder died; the next locker repairs.
            l.repair();
            assert_eq!(l.st().curmsgs.load(Ordering::Relaxed), 0, "cut {cut}: the general structure holds ring messages");
            assert!(q.is_express());
        }
        assert_eq!(q.curmsgs(), 5, "cut {cut}");
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| {
            receive_any(&q).map(|(p, d)| {
                assert_eq!(p, 3);
                d
            })
        })
        .collect();
        assert_eq!(got, sent, "cut {cut}");
        let mut l = q.lock().unwrap();
        check_consistent(&mut l);
        assert_eq!(free_slots(&mut l), l.q.geo.slot_count, "cut {cut}: every slot free");
    }
}

#[test]
fn a_stream_across_threads_keeps_fifo_order_through_folds() {
    // A sender and a receiver thread stream numbered messages while a third thread keeps
    // taking the queue lock (folding the ring under them): every message arrives once, in
    // order, whichever path each send and receive took. Every thread waits for the locks as a
    // blocking call does: on a loaded machine a bounded wait may give EAGAIN, which would stop
    // the sender and leave the receiver waiting for messages that never come.
    let q = std::sync::Arc::new(new_queue(10, 16));
    const N: u64 = 200_000;
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let sender = {
        let q = q.clone();
        std::thread::spawn(move || {
            let _wait = lock::waits(lock::LockWait::AsLongAsHeld);
            for n in 0..N {
                while !send_any(&q, 1, &n.to_le_bytes()) {
                    std::hint::spin_loop();
                }
            }
        })
    };
    let folder = {
        let (q, done) = (q.clone(), done.clone());
        std::thread::spawn(move || {
            let mut folds = 0u64;
            while !done.load(Ordering::Acquire) {
                // A lock not taken within its bound (EAGAIN: on a loaded machine the holder may
                // be preempted that long) is simply one fold fewer.
                if let Ok(l) = q.lock() {
                    drop(l);
                    folds += 1;
                }
                std::thread::yield_now();
            }
            folds
        })
    };
    let _wait = lock::waits(lock::LockWait::AsLongAsHeld);
    for n in 0..N {
        let got = loop {
            // Looked at before the receive: a sender that had finished had sent everything.
            let sender_finished = sender.is_finished();
            if let Some(m) = receive_any(&q) {
                break m;
            }
            // A sender gone before its last message (it panicked) fails the test, not hangs it.
            assert!(!sender_finished, "the sender stopped before message {n}");
            std::hint::spin_loop();
        };
        assert_eq!(got, (1, n.to_le_bytes().to_vec()), "message {n}");
    }
    done.store(true, Ordering::Release);
    sender.join().unwrap();
    let folds = folder.join().unwrap();
    assert!(folds > 10, "the folder ran ({folds} times)");
    assert_eq!(receive_any(&q), None);
    check_consistent(&mut q.lock().unwrap());
}

#[test]
fn a_message_sealed_by_a_sender_that_died_before_moving_the_tail_is_received_once() {
    let q = new_queue(4, 16);
    drop(q.lock().unwrap());
    assert!(q.is_express());
    assert!(send_any(&q, 1, b"first"));
    assert!(send_any(&q, 1, b"second"));
    std::thread::scope(|s| {
        s.spawn(|| {
            let held = q.lock_side(Side::Send).unwrap();
            // SAFETY: test: the ring's tail moved back over the message just sealed — the state
            // a sender leaves when it dies between its seal and its tail; then it dies.
            unsafe { (*q.ring()).tail.pos.fetch_sub(1, Ordering::AcqRel) };
            std::mem::forget(held);
        });
    });
    assert_eq!(q.curmsgs(), 1);
    assert_eq!(receive_any(&q), Some((1, b"first".to_vec())));
    // Sealed: visible to receivers before the tail moves.
    assert_eq!(receive_any(&q), Some((1, b"second".to_vec())));
    assert_eq!(q.curmsgs(), 0);
    // The next sender finds the dead one's lock and counts its message.
    assert!(send_any(&q, 1, b"third"));
    assert_eq!(q.curmsgs(), 1);
    assert_eq!(receive_any(&q), Some((1, b"third".to_vec())));
    assert_eq!(receive_any(&q), None);
    check_consistent(&mut q.lock().unwrap());
}

#[test]
fn ring_positions_another_process_garbled_neither_panic_nor_overrun() {
    // Found by attack_concurrent_writer_never_kills: a head near the top of the range made the
    // fold's bound overflow (a panic, turned into a lost call at the library's boundary).
    for (head, tail) in [(u64::MAX, 3), (u64::MAX - 2, u64::MAX), (5, 2), (0, u64::MAX), (u64::MAX, u64::MAX)] {
        let q = new_queue(8, 32);
        assert!(send_any(&q, 1, b"x"));
        assert!(q.is_express());
        q.set_ring_positions(head, tail);
        match q.lock() {
            Ok(mut l) => assert!(l.st().curmsgs.load(Ordering::Relaxed) <= 8, "{head:#x}..{tail:#x}"),
            Err(e) => assert_eq!(e, Errno::EIO, "{head:#x}..{tail:#x}"),
        }
        while receive_any(&q).is_some() {}
    }
}
