//! Repair: a send or receive cut short at each of its steps (as a process killed holding the
//! lock leaves it), then `repair()`: exactly the committed messages remain, in order, and the
//! derived state is whole again; dead waiters; broken lists.

use super::*;

/// A queue of `maxmsg` (msgsize 64) holding `n` seeded-random messages of priorities 0..3, and
/// its model.
fn filled(maxmsg: u32, n: usize, seed: u64) -> (Queue, Model, Rng) {
    let q = new_queue(maxmsg, 64);
    let mut rng = Rng(seed);
    let mut model = Model::default();
    {
        let mut l = q.lock().unwrap();
        for _ in 0..n {
            let prio = rng.below(4) as u32;
            let data = payload(&mut rng, model.serial + 1, 64);
            assert!(send(&mut l, prio, &data));
            model.push(prio, data);
        }
    }
    (q, model, rng)
}

/// The steps of `send` (alloc_slot, fill_slot, enqueue: seq, commit, link, counters), stopped
/// after `steps` of them as a killed sender leaves them. Returns whether it got past its commit
/// point (the store of QUEUED). `steps` 5 stops in the middle of `link`.
fn send_cut_short(l: &mut Locked<'_>, m: &Message, steps: u32) -> bool {
    let i = l.alloc_slot(Pool::Queue).unwrap();
    if steps == 1 {
        return false;
    }
    l.fill_slot(i, m, slot_state::FREE, 0);
    if steps == 2 {
        return false;
    }
    let seq = l.st().next_seq;
    l.st().next_seq = seq + 1;
    if steps == 3 {
        return false;
    }
    {
        let s = l.slot(i);
        s.seq = seq;
        s.next = 0;
        s.owner = 0;
        s.state.store(slot_state::QUEUED, Ordering::Release);
    }
    if steps == 4 {
        return true;
    }
    if steps == 5 {
        // Half a link: the old tail points at the slot, the list's tail does not yet.
        if l.has_bit(m.prio) {
            let tail = l.prio_list(m.prio).tail;
            let t = l.index(tail, l.q.geo.slot_count).unwrap();
            l.slot(t).next = i + 1;
        }
        return true;
    }
    l.link(i, m.prio).unwrap();
    if steps == 6 {
        return true;
    }
    l.st().curmsgs.fetch_add(1, Ordering::AcqRel);
    if steps == 7 {
        return true;
    }
    l.st().curbytes.fetch_add(m.len as u64, Ordering::AcqRel);
    true
}
const SEND_STEPS: u32 = 8;

/// The steps of `receive` (dequeue_head, copy out, the FREE store, the free-list push,
/// counters), stopped after `steps` of them. Returns whether it got past its commit point (the
/// store of FREE).
fn receive_cut_short(l: &mut Locked<'_>, steps: u32) -> bool {
    let i = l.dequeue_head().unwrap().unwrap();
    if steps == 1 {
        return false;
    }
    let mut buf = [0u8; 64];
    let len = l.slot(i).len as usize;
    // SAFETY: the slot holds len <= 64 bytes.
    unsafe { std::ptr::copy_nonoverlapping(l.q.slot_data(i), buf.as_mut_ptr(), len) };
    if steps == 2 {
        return false;
    }
    l.slot(i).state.store(slot_state::FREE, Ordering::Release);
    if steps == 3 {
        return true;
    }
    let head = l.st().free_slot;
    l.slot(i).next = head;
    l.slot(i).owner = 0;
    l.st().free_slot = i + 1;
    if steps == 4 {
        return true;
    }
    l.st().curmsgs.fetch_sub(1, Ordering::AcqRel);
    if steps == 5 {
        return true;
    }
    l.st().curbytes.fetch_sub(len as u64, Ordering::AcqRel);
    true
}
const RECEIVE_STEPS: u32 = 6;

/// After a repair: the queue holds exactly `model`, its derived state is whole, every slot not
/// holding a message is free, and it still works: it fills to maxmsg (and refuses one more)
/// and drains in order.
fn check_repaired(q: &Queue, model: &mut Model, rng: &mut Rng, what: &str) {
    let maxmsg = q.geometry().maxmsg as usize;
    {
        let mut l = q.lock().unwrap();
        check_consistent(&mut l);
        assert_eq!(l.q.curmsgs() as usize, model.len(), "{what}: curmsgs");
        assert_eq!(free_slots(&mut l) as usize, (l.q.geo.slot_count as usize) - model.len(), "{what}: free slots");
        while model.len() < maxmsg {
            let prio = rng.below(4) as u32;
            let data = payload(rng, model.serial + 1, 64);
            assert!(send(&mut l, prio, &data), "{what}: send refused with {} queued", model.len());
            model.push(prio, data);
        }
        assert!(!send(&mut l, 0, b"x"), "{what}: send accepted beyond maxmsg");
    }
    assert_eq!(drain(q), model.in_order(), "{what}: contents after repair");
    *model = Model::default();
}

#[test]
fn repair_after_a_send_cut_short_at_each_step_keeps_exactly_the_committed_messages() {
    for steps in 1..=SEND_STEPS {
        for seed in 1..=20u64 {
            let (q, mut model, mut rng) = filled(16, (seed % 12) as usize, seed * 7919 + steps as u64);
            let prio = rng.below(4) as u32;
            let data = payload(&mut rng, model.serial + 1, 64);
            let committed = {
                let mut l = q.lock().unwrap();
                let committed = send_cut_short(&mut l, &Message { ptr: data.as_ptr(), len: data.len(), prio, sent_ns: 0 }, steps);
                l.repair();
                committed
            };
            if committed {
                model.push(prio, data);
            }
            check_repaired(&q, &mut model, &mut rng, &format!("send cut after step {steps} (seed {seed})"));
        }
    }
}

#[test]
fn repair_after_a_receive_cut_short_at_each_step_keeps_exactly_the_messages_not_taken() {
    for steps in 1..=RECEIVE_STEPS {
        for seed in 1..=20u64 {
            let (q, mut model, mut rng) = filled(16, 1 + (seed % 16) as usize, seed * 104_729 + steps as u64);
            let taken = {
                let mut l = q.lock().unwrap();
                let taken = receive_cut_short(&mut l, steps);
                l.repair();
                taken
            };
            if taken {
                model.pop();
            }
            check_repaired(&q, &mut model, &mut rng, &format!("receive cut after step {steps} (seed {seed})"));
        }
    }
}

#[test]
fn repair_rebuilds_a_bitmap_and_summary_left_half_updated() {
    let (q, mut model, mut rng) = filled(16, 10, 5);
    {
        let mut l = q.lock().unwrap();
        // clear_bit cut short: a word cleared but its summary bit still set, for a priority
        // above every message; and a stale bit for an empty priority.
        l.st().summary[(PRIO_LEVELS / 64 - 1) / 64] |= 1 << ((PRIO_LEVELS / 64 - 1) % 64);
        l.st().bitmap[100] |= 1 << 3;
        l.repair();
    }
    check_repaired(&q, &mut model, &mut rng, "half-updated bitmap");
}

#[test]
fn the_next_locker_repairs_when_a_thread_dies_holding_the_lock() {
    // A thread takes the lock, gets part way through a send and a receive (the receive past
    // its unlink, before its copy) and exits without unlocking: the robust lock passes
    // EOWNERDEAD to the next locker, which repairs.
    let (q, mut model, mut rng) = filled(16, 8, 99);
    let prio = 3;
    let data = payload(&mut rng, model.serial + 1, 64);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut l = q.lock().unwrap();
            assert!(!receive_cut_short(&mut l, 1));
            assert!(send_cut_short(&mut l, &Message { ptr: data.as_ptr(), len: data.len(), prio, sent_ns: 0 }, 5));
            std::mem::forget(l);
        })
        .join()
        .unwrap();
    });
    model.push(prio, data);
    check_repaired(&q, &mut model, &mut rng, "lock owner died");
}

#[test]
fn a_dead_blocked_sender_s_message_never_enters_and_a_dead_receiver_is_skipped() {
    // Each dying thread is joined (pthread_join): only then has its exit released its robust
    // locks — the end of a scope waits for the closure, not for the thread's exit.
    let (q, mut model, mut rng) = filled(4, 4, 3);
    // A sender blocks on the full queue, and its thread dies while blocked (holding its life
    // lock, as a killed process would).
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut l = q.lock().unwrap();
            let m = b"from a dead sender";
            l.register(waiter_state::SENDING, Some(&Message { ptr: m.as_ptr(), len: m.len(), prio: 3, sent_ns: 0 }), Some(120)).unwrap();
        })
        .join()
        .unwrap();
    });
    {
        let mut l = q.lock().unwrap();
        assert_eq!(receive(&mut l, 64), model.pop());
        assert_eq!(l.waiting(waiter_state::SENDING), 0);
        check_consistent(&mut l);
    }
    assert_eq!(drain(&q), model.in_order());
    model = Model::default();
    // A receiver blocks on the empty queue and dies: a send goes into the queue instead.
    std::thread::scope(|s| {
        s.spawn(|| {
            q.lock().unwrap().register(waiter_state::RECEIVING, None, Some(120)).unwrap();
        })
        .join()
        .unwrap();
    });
    {
        let mut l = q.lock().unwrap();
        assert!(send(&mut l, 2, b"after the dead receiver"));
        model.push(2, b"after the dead receiver".to_vec());
        assert_eq!(l.waiting(waiter_state::RECEIVING), 0);
    }
    check_repaired(&q, &mut model, &mut rng, "dead waiters");
}

/// A full queue (maxmsg 4) with a live blocked sender (this thread), and a receive cut short
/// as a receiver killed at that point leaves it: it took a message and pulled the sender's
/// message in (`enqueue` of its PENDING slot) but had not yet cleared the waiter's slot and
/// served it. Then `repair()`. Returns the queue, its model (the sender's message included:
/// it is in the queue) and the waiter.
fn receive_cut_short_while_pulling_in_a_sender() -> (Queue, Model, u32) {
    let (q, mut model, _rng) = filled(4, 4, 11);
    let pending = b"pending from a live blocked sender".to_vec();
    let w = {
        let mut l = q.lock().unwrap();
        let w = l.register(waiter_state::SENDING, Some(&Message { ptr: pending.as_ptr(), len: pending.len(), prio: 1, sent_ns: 0 }), Some(120)).unwrap();
        assert!(receive_cut_short(&mut l, RECEIVE_STEPS));
        model.pop();
        let pending_slot = l.waiter(w).slot;
        let s = l.index(pending_slot, l.q.geo.slot_count).unwrap();
        l.enqueue(s).unwrap();
        model.push(1, pending);
        l.repair();
        check_consistent(&mut l);
        w
    };
    (q, model, w)
}

/// After that repair the sender's record still names its slot, now QUEUED, and counts as a
/// blocked sender: the next receive that makes room "pulls it in" again — `enqueue` of a slot
/// already on its list (the tail's `next` pointing at itself) and `curmsgs` one too high.
#[test]
fn after_repair_a_sender_whose_message_is_queued_is_not_pulled_in_again() {
    let (q, mut model, w) = receive_cut_short_while_pulling_in_a_sender();
    let mut l = q.lock().unwrap();
    assert_eq!(receive(&mut l, 64), model.pop());
    check_consistent(&mut l);
    assert_eq!(l.q.curmsgs() as usize, model.len());
    drop(l);
    assert_eq!(drain(&q), model.in_order());
    let mut l = q.lock().unwrap();
    let _ = l.finish_wait(w, std::ptr::null_mut());
}

/// ... and a sender that gives up then (its deadline passed) is told it was not served, so
/// `mq_timedsend` fails with ETIMEDOUT — while its message is in the queue and will be
/// received. Its send succeeded: it must be reported served.
#[test]
fn after_repair_a_sender_whose_message_is_queued_is_reported_served() {
    let (q, model, w) = receive_cut_short_while_pulling_in_a_sender();
    let outcome = q.lock().unwrap().finish_wait(w, std::ptr::null_mut());
    assert!(matches!(outcome, Some(Ok(None))), "the sender was told: {outcome:?} (None = not served: ETIMEDOUT)");
    assert_eq!(drain(&q), model.in_order());
}

/// `link` repairs the queue when a priority's bit is set but its tail is not a slot — and
/// `repair` counts the slot being linked (already QUEUED) — but `enqueue` then adds it to
/// `curmsgs`/`curbytes` a second time.
#[test]
fn a_send_that_finds_a_broken_list_and_repairs_counts_its_message_once() {
    let (q, mut model, mut rng) = filled(16, 3, 21);
    {
        let mut l = q.lock().unwrap();
        // Priority 9 marked non-empty with no list behind it (as only corruption leaves it).
        l.set_bit(9);
        *l.prio_list(9) = PrioList { head: 0, tail: 0 };
        assert!(send(&mut l, 9, b"finds the broken list"));
        model.push(9, b"finds the broken list".to_vec());
        assert_eq!(l.q.curmsgs() as usize, model.len(), "curmsgs after the send that repaired");
    }
    check_repaired(&q, &mut model, &mut rng, "broken list found by a send");
}

// ----- (c) segments that must be refused --------------------------------------------------

#[test]
fn repair_keeps_live_waiters_findable_and_served_in_order() {
    let q = new_queue(1, 64);
    let mut l = q.lock().unwrap();
    // Two live receivers (this thread holds both life locks), then everything derived wiped, as
    // a lock owner killed mid-change may leave it.
    let first = l.register(waiter_state::RECEIVING, None, Some(120)).unwrap();
    let second = l.register(waiter_state::RECEIVING, None, Some(120)).unwrap();
    {
        let st = l.st();
        st.receivers = [0; 2];
        st.senders = [u64::MAX; 2];
        st.recv_waiting = 0;
    }
    l.repair();
    check_consistent(&mut l);
    assert_eq!(l.waiting(waiter_state::RECEIVING), 2);
    // The first to register is served first; the second on the next send.
    assert!(send(&mut l, 0, b"one"));
    assert!(l.is_served(first) && !l.is_served(second));
    assert!(send(&mut l, 0, b"two"));
    assert!(l.is_served(second));
    let mut buf = [0u8; 64];
    for (w, want) in [(first, &b"one"[..]), (second, &b"two"[..])] {
        let got = l.finish_wait(w, buf.as_mut_ptr()).unwrap().unwrap().unwrap();
        assert_eq!(&buf[..got.len], want);
    }
    check_consistent(&mut l);
}
