//! The order (priority, then FIFO) against a model over seeded-random sequences, in a deep
//! queue (maxmsg 65536) and a shallow one, and the cost per message at depth 65536 against
//! depth 10 (printed, not asserted).

use super::*;

#[test]
fn order_matches_the_model_in_a_queue_of_65536_with_priorities_0_to_32767_and_0_to_3() {
    let q = new_queue(65536, 64);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut model = Model::default();
    for prio_range in [32768, 4] {
        let (full, empty) = against_model(&q, &mut model, &mut rng, prio_range, 400_000);
        // The tides must have reached both ends, or the test proved less than it says.
        assert!(full > 0 && empty > 0, "prio 0..{prio_range}: full {full}, empty {empty}");
    }
    // Fill to the top in one go, then drain: the whole order at depth 65536.
    let mut l = q.lock().unwrap();
    while model.len() < 65536 {
        let prio = rng.below(32768) as u32;
        let data = payload(&mut rng, model.serial + 1, 64);
        assert!(send(&mut l, prio, &data));
        model.push(prio, data);
    }
    assert!(!send(&mut l, 0, b"one too many"));
    check_consistent(&mut l);
    drop(l);
    assert_eq!(drain(&q), model.in_order());
    let mut l = q.lock().unwrap();
    check_consistent(&mut l);
    assert_eq!(free_slots(&mut l), 2 * 65536 + WAITER_SLOTS + SCHEDULED_SLOTS);
}

#[test]
fn order_matches_the_model_in_a_queue_of_10() {
    let q = new_queue(10, 16);
    let mut rng = Rng(0x243F_6A88_85A3_08D3);
    let mut model = Model::default();
    for prio_range in [32768, 4, 1] {
        let (full, empty) = against_model(&q, &mut model, &mut rng, prio_range, 50_000);
        assert!(full > 0 && empty > 0, "prio 0..{prio_range}: full {full}, empty {empty}");
    }
}

/// Nanoseconds per message — one send then one receive, each under its own lock as separate
/// calls take it — with the queue held at `depth` messages (depth + 1 between the two).
fn cost_at_depth(q: &Queue, depth: u32, prio_range: u32, rounds: u32) -> f64 {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1 ^ depth as u64);
    let mut buf = [0u8; 64];
    let data = [7u8; 48];
    {
        let mut l = q.lock().unwrap();
        while l.q.curmsgs() > depth {
            l.receive(buf.as_mut_ptr(), -1).unwrap();
        }
        while l.q.curmsgs() < depth {
            assert!(send(&mut l, rng.below(prio_range as u64) as u32, &data));
        }
    }
    let prios: Vec<u32> = (0..rounds).map(|_| rng.below(prio_range as u64) as u32).collect();
    let t0 = Instant::now();
    for &prio in &prios {
        let mut l = q.lock().unwrap();
        std::hint::black_box(l.send(&Message { ptr: data.as_ptr(), len: data.len(), prio, sent_ns: 0 }, -1).unwrap());
        drop(l);
        let mut l = q.lock().unwrap();
        std::hint::black_box(l.receive(buf.as_mut_ptr(), -1).unwrap());
    }
    t0.elapsed().as_nanos() as f64 / rounds as f64
}

#[test]
fn cost_per_message_at_depth_65536_and_10_is_printed() {
    let q = new_queue(65536, 64);
    for prio_range in [32768u32, 4] {
        // Best of three runs each, to keep scheduling noise out of the comparison.
        let best = |depth| (0..3).map(|_| cost_at_depth(&q, depth, prio_range, 200_000)).fold(f64::MAX, f64::min);
        let shallow = best(10);
        let deep = best(65535);
        println!(
            "posix queue, priorities 0..{}: one send + one receive at depth 10: {shallow:.0} ns; at depth 65536: {deep:.0} ns ({:.2}x)",
            prio_range - 1,
            deep / shallow
        );
    }
    let mut l = q.lock().unwrap();
    check_consistent(&mut l);
}

// ----- (b) repair -------------------------------------------------------------------------
