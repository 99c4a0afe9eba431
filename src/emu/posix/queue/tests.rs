//! In-process tests of the POSIX queue: real segments (files on /dev/shm, mapped like
//! `store::build` maps them) driven through `Locked` directly — no exports, no descriptors.
//!
//! - the order (priority, then FIFO) against a model over seeded-random sequences, in a deep
//!   queue (maxmsg 65536) and a shallow one, with wide and narrow priority ranges, and the cost
//!   per message at depth 65536 against depth 10 (printed, not asserted);
//! - repair: a send or receive cut short at each of its steps (as a process killed holding the
//!   lock leaves it), then `repair()`: exactly the committed messages remain, in order, and the
//!   derived state (lists, bitmap, counters, free list) is whole again;
//! - refusal: a truncated or corrupt segment is an error from `Queue::from_mapping`, never a
//!   crash; and damage to a mapped queue's state neither crashes nor hangs an operation, and
//!   `repair()` makes any such state consistent again.

use super::*;
use crate::emu::engine::ring::Side;
use crate::emu::posix::layout::{LAYOUT_VERSION, SCHEDULED_SLOTS};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::time::Instant;

// ----- segments ---------------------------------------------------------------------------

/// A fresh file of `len` bytes on /dev/shm, already unlinked (nothing to clean up).
fn shm_file(len: u64) -> i32 {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = format!("/dev/shm/mqshim-queue-test-{}-{}\0", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, 0o600) };
    assert!(fd >= 0, "open {path}: {}", std::io::Error::last_os_error());
    // SAFETY: as above; the descriptor keeps the file alive.
    unsafe { libc::unlink(path.as_ptr().cast()) };
    // SAFETY: fd is an open regular file.
    assert_eq!(unsafe { libc::ftruncate(fd, len as libc::off_t) }, 0);
    fd
}

/// Maps all of `fd` (its current size, as `store::attach` does) and closes it.
fn map_whole(fd: i32) -> Mapping {
    let size = crate::emu::engine::segment::file_size(fd).unwrap();
    let map = Mapping::map(fd, size).unwrap();
    crate::os::sys::close(fd);
    map
}

fn init(maxmsg: u32, msgsize: u64) -> Init<'static> {
    Init { maxmsg, msgsize, uid: 0, gid: 0, mode: 0o600, charge_uid: 0, charge_bytes: 0, created_sec: 0, name: b"queue-test" }
}

/// A new, initialised queue in a segment of its own.
fn new_queue(maxmsg: u32, msgsize: u64) -> Queue {
    let geo = Geometry::new(maxmsg, msgsize).unwrap();
    let map = map_whole(shm_file(geo.total_size));
    match Queue::initialise(map, &init(maxmsg, msgsize)) {
        Ok(q) => q,
        Err(e) => panic!("initialise: {e}"),
    }
}

// ----- messages and the model -------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A payload of 0..=msgsize bytes; most start with the message's serial number, so no two
/// are alike.
fn payload(rng: &mut Rng, serial: u64, msgsize: usize) -> Vec<u8> {
    let len = if rng.below(8) == 0 { rng.below(8) as usize } else { 8 + rng.below(msgsize as u64 - 7) as usize };
    let mut v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    if len >= 8 {
        v[..8].copy_from_slice(&serial.to_le_bytes());
    }
    v
}

/// What the kernel's queue holds: highest priority first, FIFO within a priority.
#[derive(Default)]
struct Model {
    msgs: BTreeMap<(Reverse<u32>, u64), Vec<u8>>,
    serial: u64,
    bytes: u64,
}

impl Model {
    fn push(&mut self, prio: u32, data: Vec<u8>) {
        self.serial += 1;
        self.bytes += data.len() as u64;
        self.msgs.insert((Reverse(prio), self.serial), data);
    }

    fn pop(&mut self) -> Option<(u32, Vec<u8>)> {
        let ((Reverse(prio), _), data) = self.msgs.pop_first()?;
        self.bytes -= data.len() as u64;
        Some((prio, data))
    }

    fn len(&self) -> usize {
        self.msgs.len()
    }

    /// The messages in receive order.
    fn in_order(&self) -> Vec<(u32, Vec<u8>)> {
        self.msgs.iter().map(|((Reverse(p), _), d)| (*p, d.clone())).collect()
    }
}

fn send(l: &mut Locked<'_>, prio: u32, data: &[u8]) -> bool {
    match l.send(&Message { ptr: data.as_ptr(), len: data.len(), prio }, -1).unwrap() {
        Sent::Done => true,
        Sent::Full => false,
    }
}

fn receive(l: &mut Locked<'_>, msgsize: usize) -> Option<(u32, Vec<u8>)> {
    let mut buf = vec![0u8; msgsize];
    let got = l.receive(buf.as_mut_ptr(), -1)?;
    assert!(got.copied);
    buf.truncate(got.len);
    Some((got.prio, buf))
}

/// Receives everything (non-blocking), in order.
fn drain(q: &Queue) -> Vec<(u32, Vec<u8>)> {
    let msgsize = q.geometry().msgsize as usize;
    let mut l = q.lock().unwrap();
    std::iter::from_fn(|| receive(&mut l, msgsize)).collect()
}

// ----- the derived state, checked against the slot states ----------------------------------

/// Checks everything `repair` derives: each set bitmap bit heads a well-formed FIFO list of
/// QUEUED slots of that priority in sequence order, the summary matches the bitmap, the
/// counters match the lists, and every other unowned slot is on the free list exactly once.
fn check_consistent(l: &mut Locked<'_>) {
    check_consistent_with(l, true)
}

/// `check_consistent`; with `distinct_seqs` false, equal sequence numbers within a priority
/// pass (slots made QUEUED by damage, not by `enqueue`, share stale ones).
fn check_consistent_with(l: &mut Locked<'_>, distinct_seqs: bool) {
    let slot_count = l.q.geo.slot_count;
    let mut on_list = vec![0u8; slot_count as usize];
    let (mut msgs, mut bytes) = (0u32, 0u64);
    for w in 0..PRIO_LEVELS / 64 {
        let word = l.st().bitmap[w];
        let summary_bit = l.st().summary[w / 64] & (1 << (w % 64)) != 0;
        assert_eq!(summary_bit, word != 0, "summary bit of bitmap word {w}");
        for b in 0..64 {
            if word & (1 << b) == 0 {
                continue;
            }
            let prio = (w * 64 + b) as u32;
            let PrioList { head, tail } = *l.prio_list(prio);
            let mut cur = head;
            let mut last = 0;
            let mut last_seq = None;
            while let Some(i) = l.index(cur, slot_count) {
                assert_eq!(on_list[i as usize], 0, "slot {i} linked twice (prio {prio})");
                on_list[i as usize] = 1;
                let s = l.slot(i);
                assert_eq!(s.state.load(Ordering::Relaxed), slot_state::QUEUED, "slot {i} on list {prio}");
                assert_eq!(s.prio, prio, "slot {i} on the list of another priority");
                assert!(last_seq < Some(s.seq) || (!distinct_seqs && last_seq == Some(s.seq)), "prio {prio}: seq {} after {last_seq:?}", s.seq);
                last_seq = Some(s.seq);
                msgs += 1;
                bytes += s.len as u64;
                last = cur;
                cur = s.next;
            }
            assert_eq!(cur, 0, "prio {prio}: list ends in a bad index");
            assert!(head != 0, "prio {prio}: bit set, list empty");
            assert_eq!(tail, last, "prio {prio}: tail is not the last slot");
        }
    }
    assert_eq!(l.q.curmsgs(), msgs, "curmsgs against the lists");
    assert_eq!(l.q.curbytes(), bytes, "curbytes against the lists");
    let maxmsg = l.q.geo.maxmsg;
    for (list, pool) in [(l.st().free_slot, 0..maxmsg), (l.st().free_extra, maxmsg..slot_count)] {
        let mut cur = list;
        while let Some(i) = l.index(cur, slot_count) {
            assert_eq!(on_list[i as usize], 0, "free slot {i} also linked (or free twice)");
            assert!(pool.contains(&i), "slot {i} on the other pool's free list");
            on_list[i as usize] = 2;
            assert_eq!(l.slot(i).state.load(Ordering::Relaxed), slot_state::FREE, "slot {i} on the free list");
            cur = l.slot(i).next;
        }
        assert_eq!(cur, 0, "free list ends in a bad index");
    }
    let (lazy_next, lazy_left) = (l.st().lazy_next, l.st().lazy_left);
    assert!(lazy_left <= maxmsg, "lazy range longer than the queue slots");
    for k in 0..lazy_left {
        let i = (lazy_next + k) % maxmsg;
        assert_eq!(on_list[i as usize], 0, "lazy free slot {i} also on a list");
        on_list[i as usize] = 2;
        assert_eq!(l.slot(i).state.load(Ordering::Relaxed), slot_state::FREE, "lazy slot {i}");
    }
    for i in 0..slot_count {
        let state = l.slot(i).state.load(Ordering::Relaxed);
        match state {
            slot_state::QUEUED => assert_eq!(on_list[i as usize], 1, "QUEUED slot {i} on no list"),
            slot_state::FREE => assert_eq!(on_list[i as usize], 2, "FREE slot {i} not on the free list"),
            // Owned by a waiter or scheduled: on neither list.
            _ => assert_eq!(on_list[i as usize], 0, "slot {i} in state {state} on a list"),
        }
    }
}

/// Free slots (both free lists and the lazy range).
fn free_slots(l: &mut Locked<'_>) -> u32 {
    let mut n = l.st().lazy_left;
    for list in [l.st().free_slot, l.st().free_extra] {
        let mut cur = list;
        while let Some(i) = l.index(cur, l.q.geo.slot_count) {
            n += 1;
            cur = l.slot(i).next;
        }
    }
    n
}

// ----- (a) order against the model, deep and shallow ---------------------------------------

/// `ops` seeded-random sends and receives checked one by one against the model. The mix comes
/// in tides (mostly sends, even, mostly receives, even) each long enough to take the queue from
/// empty to full or back. Returns (sends refused as full, receives that found it empty).
fn against_model(q: &Queue, model: &mut Model, rng: &mut Rng, prio_range: u32, ops: u64) -> (u64, u64) {
    let maxmsg = q.geometry().maxmsg as usize;
    let msgsize = q.geometry().msgsize as usize;
    let tide = (maxmsg as u64 * 3 / 2).max(40);
    let (mut full, mut empty) = (0, 0);
    let mut l = q.lock().unwrap();
    for op in 0..ops {
        let send_pct = [90, 50, 10, 50][(op / tide % 4) as usize];
        if rng.below(100) < send_pct {
            let prio = rng.below(prio_range as u64) as u32;
            let data = payload(rng, model.serial + 1, msgsize);
            let done = send(&mut l, prio, &data);
            assert_eq!(done, model.len() < maxmsg, "op {op}: send with {} queued", model.len());
            if done {
                model.push(prio, data);
            } else {
                full += 1;
            }
        } else {
            let got = receive(&mut l, msgsize);
            let want = model.pop();
            if want.is_none() {
                empty += 1;
            }
            assert_eq!(got, want, "op {op}: receive ({} queued before)", model.len() + usize::from(got.is_some()));
        }
        assert_eq!(l.q.curmsgs() as usize, model.len(), "op {op}: curmsgs");
        assert_eq!(l.q.curbytes(), model.bytes, "op {op}: curbytes");
        // Re-take the lock now and then, as separate calls do.
        if op % 1024 == 0 {
            drop(l);
            l = q.lock().unwrap();
        }
    }
    check_consistent(&mut l);
    (full, empty)
}

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
        std::hint::black_box(l.send(&Message { ptr: data.as_ptr(), len: data.len(), prio }, -1).unwrap());
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
                let committed = send_cut_short(&mut l, &Message { ptr: data.as_ptr(), len: data.len(), prio }, steps);
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
            assert!(send_cut_short(&mut l, &Message { ptr: data.as_ptr(), len: data.len(), prio }, 5));
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
            l.register(waiter_state::SENDING, Some(&Message { ptr: m.as_ptr(), len: m.len(), prio: 3 }), Some(120)).unwrap();
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
        let w = l.register(waiter_state::SENDING, Some(&Message { ptr: pending.as_ptr(), len: pending.len(), prio: 1 }), Some(120)).unwrap();
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

/// A segment file holding `bytes` (truncated or corrupted copies of a real one), mapped whole.
fn segment_with(bytes: &[u8]) -> Mapping {
    let fd = shm_file(bytes.len() as u64);
    // SAFETY: writes a valid buffer to our own file.
    assert_eq!(unsafe { libc::pwrite(fd, bytes.as_ptr().cast(), bytes.len(), 0) }, bytes.len() as isize);
    map_whole(fd)
}

fn refused(bytes: &[u8]) -> bool {
    match Queue::from_mapping(segment_with(bytes)) {
        Ok(_) => false,
        Err(e) => {
            assert_eq!(e, Errno::EIO);
            true
        }
    }
}

/// The bytes of a fresh, published queue segment (maxmsg 4, msgsize 32).
fn good_segment() -> Vec<u8> {
    let q = new_queue(4, 32);
    let len = q.geometry().total_size as usize;
    // SAFETY: the mapping is `len` bytes long.
    unsafe { std::slice::from_raw_parts(q.map.base(), len) }.to_vec()
}

fn with_field<T: Copy>(bytes: &[u8], offset: usize, value: T) -> Vec<u8> {
    let mut b = bytes.to_vec();
    // SAFETY: offset + size_of::<T>() is inside the header (callers use offset_of!).
    unsafe { std::ptr::write_unaligned(b.as_mut_ptr().add(offset).cast::<T>(), value) };
    b
}

#[test]
fn truncated_and_corrupt_segments_are_refused() {
    use std::mem::offset_of;
    let good = good_segment();
    // The unmodified copy is accepted, and works.
    {
        let q = match Queue::from_mapping(segment_with(&good)) {
            Ok(q) => q,
            Err(e) => panic!("good segment refused: {e}"),
        };
        let mut l = q.lock().unwrap();
        assert!(send(&mut l, 5, b"copy works"));
        assert_eq!(receive(&mut l, 32), Some((5, b"copy works".to_vec())));
    }
    let geo = Geometry::new(4, 32).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("one page", good[..4096].to_vec()),
        ("shorter than a header", good[..100].to_vec()),
        ("header only", good[..geo.header_size as usize].to_vec()),
        ("one byte short", good[..good.len() - 1].to_vec()),
        ("bad magic", with_field(&good, offset_of!(PosixHeader, prefix.magic), u64::from_le_bytes(*b"MQSHIMSQ"))),
        ("unpublished (version 0)", with_field(&good, offset_of!(PosixHeader, prefix.version), 0u32)),
        ("older version", with_field(&good, offset_of!(PosixHeader, prefix.version), LAYOUT_VERSION - 1)),
        ("newer version", with_field(&good, offset_of!(PosixHeader, prefix.version), LAYOUT_VERSION + 1)),
        ("maxmsg 0", with_field(&good, offset_of!(PosixHeader, maxmsg), 0u32)),
        ("maxmsg larger than the segment", with_field(&good, offset_of!(PosixHeader, maxmsg), 5u32)),
        ("maxmsg smaller than the geometry", with_field(&good, offset_of!(PosixHeader, maxmsg), 3u32)),
        ("maxmsg that overflows", with_field(&good, offset_of!(PosixHeader, maxmsg), u32::MAX)),
        ("msgsize larger", with_field(&good, offset_of!(PosixHeader, msgsize), 33u64)),
        ("msgsize that overflows", with_field(&good, offset_of!(PosixHeader, msgsize), u64::MAX)),
        ("header_size", with_field(&good, offset_of!(PosixHeader, prefix.header_size), geo.header_size as u32 + 64)),
        ("total_size", with_field(&good, offset_of!(PosixHeader, total_size), geo.total_size + 4096)),
        ("slot_count", with_field(&good, offset_of!(PosixHeader, slot_count), geo.slot_count - 1)),
        ("slot_stride", with_field(&good, offset_of!(PosixHeader, slot_stride), geo.slot_stride - 8)),
        ("waiters_offset", with_field(&good, offset_of!(PosixHeader, waiters_offset), geo.waiters_offset + 64)),
        ("prio_offset", with_field(&good, offset_of!(PosixHeader, prio_offset), geo.prio_offset - 64)),
        ("slots_offset", with_field(&good, offset_of!(PosixHeader, slots_offset), u64::MAX)),
        ("all zero", vec![0u8; good.len()]),
        ("all ones", vec![0xffu8; good.len()]),
    ];
    for (what, bytes) in &cases {
        assert!(refused(bytes), "{what}: accepted");
    }
    // A consistent header that claims more than the file holds: maxmsg and every derived field
    // of a bigger queue, in this segment's bytes.
    let big = Geometry::new(1000, 32).unwrap();
    let mut b = good.clone();
    for (off, v) in [(offset_of!(PosixHeader, maxmsg), big.maxmsg as u64), (offset_of!(PosixHeader, slot_count), big.slot_count as u64)] {
        b = with_field(&b, off, v as u32);
    }
    b = with_field(&b, offset_of!(PosixHeader, total_size), big.total_size);
    assert!(refused(&b), "a queue bigger than its file: accepted");
}

#[test]
fn random_damage_to_a_segment_header_is_refused_or_harmless() {
    // Flip random bytes of the header's first 128 bytes (identity and geometry up to 72, owner
    // and charge after), truncate at random: from_mapping refuses, or (when the damage missed
    // what it checks) the queue works.
    let good = good_segment();
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    let (mut refused_n, mut accepted) = (0, 0);
    for _ in 0..300 {
        let mut b = good.clone();
        for _ in 0..rng.below(4) {
            let at = rng.below(128) as usize;
            b[at] ^= 1 + rng.below(255) as u8;
        }
        if rng.below(4) == 0 {
            b.truncate(1 + rng.below(good.len() as u64) as usize);
        }
        match Queue::from_mapping(segment_with(&b)) {
            Err(e) => {
                assert_eq!(e, Errno::EIO);
                refused_n += 1;
            }
            Ok(q) => {
                accepted += 1;
                let msgsize = q.geometry().msgsize as usize;
                let mut l = q.lock().unwrap();
                let data = vec![1u8; msgsize.min(32)];
                assert!(send(&mut l, 1, &data));
                assert_eq!(receive(&mut l, msgsize.max(32)), Some((1, data)));
            }
        }
    }
    assert!(refused_n > 100 && accepted > 10, "refused {refused_n}, accepted {accepted}");
}

#[test]
fn damaged_state_neither_crashes_nor_hangs_and_repair_makes_it_consistent() {
    // Random damage to what a header check cannot see — free list head, bitmap and summary
    // words, list heads and tails, slot links, states, priorities, lengths and owners, waiter
    // roles and slots, counters (never the mutexes) — then 300 sends and receives and a
    // repair, on a thread of its own so that a hang is a failure rather than a stuck run.
    for seed in 1..=1000u64 {
        let q = new_queue(8, 32);
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        {
            let mut l = q.lock().unwrap();
            for _ in 0..rng.below(6) {
                send(&mut l, rng.below(32768) as u32, &[1u8; 8]);
            }
            let slots = l.q.geo.slot_count as u64;
            let index = |rng: &mut Rng| rng.below(slots + 3) as u32;
            for _ in 0..1 + rng.below(12) {
                let i = rng.below(slots) as u32;
                match rng.below(10) {
                    0 => l.st().free_slot = index(&mut rng),
                    1 => l.st().bitmap[rng.below(512) as usize] = rng.next(),
                    2 => l.st().summary[rng.below(8) as usize] = rng.next(),
                    3 => *l.prio_list(rng.below(32768) as u32) = PrioList { head: index(&mut rng), tail: index(&mut rng) },
                    4 => l.slot(i).next = index(&mut rng),
                    5 => l.slot(i).state.store(rng.below(6) as u32, Ordering::Relaxed),
                    6 => {
                        l.slot(i).prio = rng.below(40000) as u32;
                        l.slot(i).len = rng.below(80) as u32;
                    }
                    7 => l.slot(i).owner = rng.below(200) as u32,
                    8 => {
                        let w = rng.below(WAITER_SLOTS as u64) as u32;
                        l.waiter(w).core.state = rng.below(5) as u32;
                        l.waiter(w).slot = index(&mut rng);
                    }
                    _ => {
                        l.st().curmsgs.store(rng.below(12) as u32, Ordering::Relaxed);
                        l.st().recv_waiting = rng.below(3) as u32;
                        l.st().send_waiting = rng.below(3) as u32;
                    }
                }
            }
        }
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut l = q.lock().unwrap();
                for k in 0..300usize {
                    if rng.below(2) == 0 {
                        send(&mut l, rng.below(4) as u32, &vec![2u8; k % 33]);
                    } else {
                        receive(&mut l, 32);
                    }
                }
                l.repair();
                check_consistent_with(&mut l, false);
            }));
            let _ = done.send(result.is_ok());
        });
        match finished.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(true) => {}
            Ok(false) => panic!("seed {seed}: panicked (above)"),
            Err(_) => panic!("seed {seed}: hung"),
        }
    }
}

// ----- (d) the express ring ------------------------------------------------------------------

/// Sends as `PosixEmulation::send` does: through the ring, else under the queue lock. False
/// when the queue is full.
fn send_any(q: &Queue, prio: u32, data: &[u8]) -> bool {
    let m = Message { ptr: data.as_ptr(), len: data.len(), prio };
    match q.express_send(&m).unwrap() {
        Express::Done(_) => true,
        Express::Refused => false,
        Express::Unavailable => send(&mut q.lock().unwrap(), prio, data),
    }
}

/// Receives as `PosixEmulation::receive` does. None when the queue is empty.
fn receive_any(q: &Queue) -> Option<(u32, Vec<u8>)> {
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
    // order, whichever path each send and receive took.
    let q = std::sync::Arc::new(new_queue(10, 16));
    const N: u64 = 200_000;
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let sender = {
        let q = q.clone();
        std::thread::spawn(move || {
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
                drop(q.lock().unwrap());
                folds += 1;
                std::thread::yield_now();
            }
            folds
        })
    };
    for n in 0..N {
        let got = loop {
            if let Some(m) = receive_any(&q) {
                break m;
            }
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
