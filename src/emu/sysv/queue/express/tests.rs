use super::super::super::entry;
use super::super::super::layout::ring_mode;
use super::super::tests::{model_find, Fixture};
use super::super::{convert_mode, Locked};
use super::*;
use std::collections::VecDeque;

/// Pids and times the two paths record, so the statistics show which one ran.
const EXPRESS_PID: i32 = 7;
const EXPRESS_TIME: i64 = 9;
const GENERAL_PID: i32 = 1;
const GENERAL_TIME: i64 = 2;

/// A second of the statistics as the clock time (ns) the calls take.
fn ns(secs: i64) -> u64 {
    secs as u64 * crate::os::clock::SECOND_NS
}

impl Fixture {
    /// msgsnd(IPC_NOWAIT) as `SysvEmulation::msgsnd` does it: the ring first, else the
    /// general structure. False when the queue is full.
    fn send_any(&self, mtype: i64, text: &[u8]) -> (bool, bool) {
        match self.queue.express_send(self.entry(), mtype, text.as_ptr(), text.len(), EXPRESS_PID, ns(EXPRESS_TIME)).unwrap() {
            Express::Done(()) => (true, true),
            Express::Refused => (false, true),
            Express::Unavailable => {
                let mut l = self.lock();
                if !l.fits(text.len() as u64) {
                    return (false, false);
                }
                l.send(mtype, text.as_ptr(), text.len(), GENERAL_PID, ns(GENERAL_TIME)).unwrap();
                (true, false)
            }
        }
    }

    /// msgrcv(IPC_NOWAIT) as `SysvEmulation::msgrcv` does it; also whether the ring answered.
    fn receive_any(&self, msgtyp: i64, flags: i32) -> (Option<(i64, Vec<u8>)>, bool) {
        let (mode, typ) = convert_mode(msgtyp, flags);
        let mut buf = vec![0u8; 8 + 70_000];
        match self.queue.express_receive(self.entry(), mode, typ, buf.as_mut_ptr(), buf.len() - 8, false, 0, EXPRESS_PID + 1, ns(EXPRESS_TIME + 1)).unwrap() {
            Express::Done(got) => {
                assert!(got.copied);
                (Some((i64::from_ne_bytes(buf[..8].try_into().unwrap()), buf[8..8 + got.len].to_vec())), true)
            }
            Express::Refused => (None, true),
            Express::Unavailable => (self.receive(msgtyp, flags), false),
        }
    }

    /// The queue lock without the fold, as a process that dies during one holds it.
    fn lock_unfolded(&self) -> Locked<'_> {
        // SAFETY: initialised with the segment; released by the returned guard (or by death).
        unsafe { lock::lock(self.queue.lock_ptr()).unwrap() };
        Locked { q: &self.queue, entry: self.entry(), wakes: crate::emu::engine::waiter::PendingWakes::default(), dst_writable: 0 }
    }

    fn mode(&self) -> u32 {
        self.entry().ring_mode.load(Ordering::Acquire)
    }
}

fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *state >> 24
}

#[test]
fn the_ring_and_the_general_structure_together_keep_the_kernels_order_and_statistics() {
    // Small: full by bytes and by count; default; larger than the ring holds.
    for qbytes in [300u64, 16384, 1 << 20] {
        let f = Fixture::new(qbytes);
        let mut model: VecDeque<(i64, Vec<u8>)> = VecDeque::new();
        let mut state = qbytes;
        let (mut by_ring, mut lspid, mut lrpid) = ([0u32; 2], 0, 0);
        let mut run_type = 1;
        for step in 0..30_000u32 {
            let r = next(&mut state);
            match r % 16 {
                0..=6 => {
                    // Mostly runs of one type, sometimes another; now and then longer than
                    // the ring takes.
                    if r % 29 == 0 {
                        run_type = 1 + (r >> 8) as i64 % 4;
                    }
                    let mtype = if r % 7 == 0 { 1 + (r >> 12) as i64 % 4 } else { run_type };
                    let len = if qbytes > 1 << 19 && r % 97 == 0 { RING_MSG_MAX as usize + 100 } else { (r >> 16) as usize % 70 };
                    let text: Vec<u8> = (0..len).map(|i| (step as usize + i) as u8).collect();
                    let bytes: u64 = model.iter().map(|m| m.1.len() as u64).sum();
                    let fits = msg_fits_inqueue(len as u64, model.len() as u64, bytes, qbytes);
                    let (sent, ring) = f.send_any(mtype, &text);
                    assert_eq!(sent, fits, "step {step}: send of {len} with {} queued", model.len());
                    if sent {
                        model.push_back((mtype, text));
                        by_ring[ring as usize] += 1;
                        lspid = if ring { EXPRESS_PID } else { GENERAL_PID };
                    }
                }
                7..=14 => {
                    let (msgtyp, flags) = match r % 9 {
                        0..=3 => (0, 0),
                        4 | 5 => (1 + (r >> 8) as i64 % 4, 0),
                        6 => (1 + (r >> 8) as i64 % 4, libc::MSG_EXCEPT),
                        _ => (-(1 + (r >> 8) as i64 % 4), 0),
                    };
                    let want = model_find(&model, msgtyp, flags).map(|i| model.remove(i).unwrap());
                    let (got, ring) = f.receive_any(msgtyp, flags);
                    assert_eq!(got, want, "step {step}: msgtyp {msgtyp} flags {flags:#o}");
                    if got.is_some() {
                        lrpid = if ring { EXPRESS_PID + 1 } else { GENERAL_PID };
                    }
                }
                _ => drop(f.lock()),
            }
            let s = entry::stats(f.queue.header());
            let bytes: u64 = model.iter().map(|m| m.1.len() as u64).sum();
            assert_eq!((s.qnum, s.cbytes), (model.len() as u64, bytes), "step {step}");
            assert_eq!((s.lspid, s.lrpid), (lspid, lrpid), "step {step}");
            assert_eq!(
                s.stime,
                if lspid == EXPRESS_PID {
                    EXPRESS_TIME
                } else if lspid == 0 {
                    0
                } else {
                    GENERAL_TIME
                },
                "step {step}"
            );
        }
        // Both paths carried a good share.
        assert!(by_ring[0] > 1000 && by_ring[1] > 1000, "qbytes {qbytes}: {by_ring:?}");
    }
}

#[test]
fn a_fold_cut_short_leaves_the_ring_in_force_and_repair_drops_its_copies() {
    let f = Fixture::new(16384);
    drop(f.lock());
    assert_eq!(f.mode(), ring_mode::EXPRESS);
    let msgs: Vec<(i64, Vec<u8>)> = (0..5).map(|i| (1 + i % 3, vec![i as u8; 10 + i as usize])).collect();
    for (t, m) in &msgs {
        assert_eq!(f.send_any(*t, m), (true, true));
    }
    // A process copies three of them into the general structure, then dies.
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut l = f.lock_unfolded();
            for (t, m) in &msgs[..3] {
                l.queue_copy(*t, m.as_ptr(), m.len(), 0).unwrap();
            }
            std::mem::forget(l);
        });
    });
    assert_eq!(f.mode(), ring_mode::EXPRESS);
    assert_eq!(entry::stats(f.queue.header()).qnum, 5);
    // The next locker repairs (dropping the copies), then folds for real.
    {
        let mut l = f.lock();
        assert_eq!(f.mode(), ring_mode::GENERAL);
        assert_eq!(l.counts().0, 5);
    }
    let mut got = Vec::new();
    while let (Some(m), _) = f.receive_any(0, 0) {
        got.push(m);
    }
    assert_eq!(got, msgs);
}

#[test]
fn an_unfold_cut_short_after_its_commit_leaves_each_message_once() {
    let f = Fixture::new(16384);
    // Messages in the general structure (a blocked-receiver-free queue of one type).
    {
        let mut l = f.lock();
        for i in 0..4u8 {
            l.send(5, [i; 3].as_ptr(), 3, GENERAL_PID, ns(GENERAL_TIME)).unwrap();
        }
    }
    // Released: the ring took them over.
    assert_eq!(f.mode(), ring_mode::EXPRESS);
    // The state of a process that died after the commit, before dropping the copies.
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut l = f.lock_unfolded();
            for i in 0..4u8 {
                l.queue_copy(5, [i; 3].as_ptr(), 3, 0).unwrap();
            }
            std::mem::forget(l);
        });
    });
    drop(f.lock());
    let mut got = Vec::new();
    while let (Some(m), _) = f.receive_any(5, 0) {
        got.push(m.1[0]);
    }
    assert_eq!(got, vec![0, 1, 2, 3]);
    assert_eq!(entry::stats(f.queue.header()).qnum, 0);
}

#[test]
fn a_side_lock_holder_that_dies_leaves_the_ring_working() {
    let f = Fixture::new(16384);
    drop(f.lock());
    assert_eq!(f.send_any(1, b"one"), (true, true));
    std::thread::scope(|s| {
        s.spawn(|| {
            // Dies holding both side locks in the middle of a mode change.
            let e = f.entry();
            std::mem::forget(f.queue.lock_side(e, Side::Send).unwrap());
            std::mem::forget(f.queue.lock_side(e, Side::Recv).unwrap());
            e.ring_mode_seq.fetch_add(1, Ordering::AcqRel);
        });
    });
    assert_eq!(f.send_any(1, b"two"), (true, true));
    assert_eq!(f.receive_any(0, 0), (Some((1, b"one".to_vec())), true));
    assert_eq!(f.entry().ring_mode_seq.load(Ordering::Acquire) & 1, 0);
    assert_eq!(entry::stats(f.queue.header()).qnum, 1);
    drop(f.lock());
    assert_eq!(f.receive_any(0, 0).0, Some((1, b"two".to_vec())));
}

#[test]
fn a_record_sealed_by_a_sender_that_died_before_its_mark_is_received_once() {
    let f = Fixture::new(16384);
    drop(f.lock());
    assert_eq!(f.send_any(3, b"first"), (true, true));
    std::thread::scope(|s| {
        s.spawn(|| {
            // Seals a record (the commit), then dies before storing the send mark.
            let e = f.entry();
            let held = f.queue.lock_side(e, Side::Send).unwrap();
            let tail = Mark(e.send.mark.load(Ordering::Relaxed));
            // SAFETY: the send lock is held and the ring nearly empty.
            unsafe { f.queue.write_record(tail, 3, b"second".as_ptr(), 6, 0) };
            std::mem::forget(held);
        });
    });
    // Visible to receivers at once (sealed), though the send mark lags.
    assert_eq!(f.receive_any(0, 0), (Some((3, b"first".to_vec())), true));
    assert_eq!(f.receive_any(0, 0), (Some((3, b"second".to_vec())), true));
    assert_eq!(entry::stats(f.queue.header()).qnum, 0);
    // The next sender finds the dead one's lock, counts its record, and goes on after it.
    assert_eq!(f.send_any(3, b"third"), (true, true));
    let s = entry::stats(f.queue.header());
    assert_eq!((s.qnum, s.cbytes), (1, 5));
    assert_eq!(f.receive_any(0, 0), (Some((3, b"third".to_vec())), true));
    assert_eq!(f.receive_any(0, 0), (None, true));
    drop(f.lock());
    assert_eq!(entry::stats(f.queue.header()).qnum, 0);
}

#[test]
fn a_receiver_of_another_type_is_answered_by_a_ring_of_one_type() {
    let f = Fixture::new(16384);
    drop(f.lock());
    for i in 0..3u8 {
        assert_eq!(f.send_any(4, &[i]), (true, true));
    }
    // Nothing of type 2, nothing but type 4, nothing at or below 3: answered, no fold.
    assert_eq!(f.receive_any(2, 0), (None, true));
    assert_eq!(f.receive_any(4, libc::MSG_EXCEPT), (None, true));
    assert_eq!(f.receive_any(-3, 0), (None, true));
    assert_eq!(f.mode(), ring_mode::EXPRESS);
    assert_eq!(f.receive_any(-4, 0), (Some((4, vec![0])), true));
    // Another type behind the head: the ring cannot tell, the general structure can.
    assert_eq!(f.send_any(2, &[9]), (true, true));
    assert_eq!(f.receive_any(2, 0), (Some((2, vec![9])), false));
    assert_eq!(f.receive_any(0, 0).0, Some((4, vec![1])));
}

/// Sets its flag when dropped.
struct Done<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_stream_through_the_ring_survives_concurrent_folds() {
    let f = Fixture::new(2000);
    drop(f.lock());
    const N: u32 = 200_000;
    let done = std::sync::atomic::AtomicBool::new(false);
    // Every thread waits for the locks as a blocking call does: on a loaded machine a bounded
    // wait may give EAGAIN, which would stop the sender and leave the receiver waiting for
    // messages that never come.
    std::thread::scope(|s| {
        let sender = s.spawn(|| {
            let _wait = lock::waits(lock::LockWait::AsLongAsHeld);
            for i in 0..N {
                let text = i.to_ne_bytes();
                while !f.send_any(1, &text).0 {
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                    std::hint::spin_loop();
                }
            }
        });
        s.spawn(|| {
            let _wait = lock::waits(lock::LockWait::AsLongAsHeld);
            while !done.load(Ordering::Relaxed) {
                drop(f.lock());
                std::thread::yield_now();
            }
        });
        let _wait = lock::waits(lock::LockWait::AsLongAsHeld);
        // Ends the other threads however this one ends (a failed assertion included), so
        // that the scope, which joins them, ends too.
        let _done = Done(&done);
        let mut expect = 0u32;
        while expect < N {
            // Looked at before the receive: a sender that had finished had sent everything.
            let sender_finished = sender.is_finished();
            if let (Some((t, m)), _) = f.receive_any(0, 0) {
                assert_eq!((t, u32::from_ne_bytes(m[..4].try_into().unwrap())), (1, expect));
                expect += 1;
            } else if sender_finished {
                // A sender gone before its last message (it panicked) fails the test, not
                // hangs it.
                panic!("the sender stopped before message {expect}");
            }
        }
    });
    assert_eq!(entry::stats(f.queue.header()).qnum, 0);
}

#[test]
fn marks_count_across_their_wrap() {
    let mut head = Mark(0);
    let mut tail = Mark(0);
    let mut queued = std::collections::VecDeque::new();
    let mut state = 7u64;
    let mut sent = 0u64;
    for step in 0..2_000_000u64 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let len = (state >> 33) % 300;
        if (state >> 20) % 2 == 0 && queued.len() < 500 {
            tail = tail.advanced(record_bytes(len), len);
            queued.push_back(len);
            sent += 1;
        } else if let Some(l) = queued.pop_front() {
            head = head.advanced(record_bytes(l), l);
        }
        let span = head.until(tail).unwrap_or_else(|| panic!("step {step}"));
        assert_eq!(span.count, queued.len() as u64);
        assert_eq!(span.text, queued.iter().sum::<u64>());
        assert_eq!(span.used, queued.iter().map(|&l| record_bytes(l)).sum::<u64>());
    }
    // Every field wrapped, many times.
    assert!(sent > 10 * (COUNT_MASK + 1));
    assert_eq!(Mark(0).until(Mark(5)), None);
    assert_eq!(Mark(0).until(Mark(RING_BYTES + RING_ALIGN)), None);
}

#[test]
fn each_message_keeps_its_send_time_through_folds_and_unfolds() {
    // Sent through the ring at 100 s and 200 s: a lock folds them into blocks (the snapshot
    // reads those), its release writes them back into the ring (one type, nobody waiting), and
    // the times survive both moves; a message of another type sent at 300 s keeps the queue in
    // its blocks, with its own time.
    let f = Fixture::new(16384);
    drop(f.lock());
    assert_eq!(f.mode(), ring_mode::EXPRESS);
    let express_send = |mtype: i64, text: &[u8], at: u64| {
        assert!(matches!(f.queue.express_send(f.entry(), mtype, text.as_ptr(), text.len(), EXPRESS_PID, at).unwrap(), Express::Done(())));
    };
    express_send(1, b"first", ns(100) + 1);
    express_send(1, b"second", ns(200) + 2);
    let times = |f: &Fixture| f.lock().snapshot(8).unwrap().messages.iter().map(|m| (m.preview.clone(), m.visible_ns)).collect::<Vec<_>>();
    let first_two = [(b"first".to_vec(), ns(100) + 1), (b"second".to_vec(), ns(200) + 2)];
    assert_eq!(times(&f), first_two);
    assert_eq!(f.mode(), ring_mode::EXPRESS, "back in the ring");
    assert_eq!(times(&f), first_two);
    f.lock().send(2, b"third".as_ptr(), 5, GENERAL_PID, ns(300)).unwrap();
    assert_ne!(f.mode(), ring_mode::EXPRESS);
    assert_eq!(times(&f), [first_two[0].clone(), first_two[1].clone(), (b"third".to_vec(), ns(300))]);
    assert_eq!(entry::stats(f.queue.header()).stime, 300);
}
