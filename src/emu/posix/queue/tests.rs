//! In-process tests of the POSIX queue: real segments (files on /dev/shm, mapped like
//! `store::build` maps them) driven through `Locked` directly — no exports, no descriptors.
//!
//! This file holds the fixtures and the model; the tests are in `tests/`:
//! - `order`: the order (priority, then FIFO) against a model over seeded-random sequences, in a deep
//!   queue (maxmsg 65536) and a shallow one, with wide and narrow priority ranges, and the cost
//!   per message at depth 65536 against depth 10 (printed, not asserted);
//! - `repair`: a send or receive cut short at each of its steps (as a process killed holding the
//!   lock leaves it), then `repair()`: exactly the committed messages remain, in order, and the
//!   derived state (lists, bitmap, counters, free list) is whole again;
//! - `damage`: a truncated or corrupt segment is an error from `Queue::from_mapping`, never a
//!   crash; and damage to a mapped queue's state neither crashes nor hangs an operation, and
//!   `repair()` makes any such state consistent again;
//! - `express`: the express ring and the general structure together;
//! - `snapshot`: `Queue::snapshot` lists what receivers would take and changes nothing.

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
    Init { maxmsg, msgsize, uid: 0, gid: 0, mode: 0o600, charge_uid: 0, charge_bytes: 0, created_ns: 0, name: b"queue-test", fifo_ino: 0 }
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

use crate::emu::engine::testing::Rng;

/// A payload of 0..=msgsize bytes; most start with the message's serial number, so no two
/// are alike.
fn payload(rng: &mut Rng, serial: u64, msgsize: usize) -> Vec<u8> {
    let len = if rng.below(8) == 0 { rng.below(8) as usize } else { 8 + rng.below(msgsize as u64 - 7) as usize };
    let mut v: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
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
    match l.send(&Message { ptr: data.as_ptr(), len: data.len(), prio, sent_ns: 0 }, -1).unwrap() {
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
    // Queue slots never made ready were never written by mqshim (only by damage): whatever is
    // there is not read before their first use writes them.
    let ready = l.q.header().ring.send.slots_ready.load(Ordering::Relaxed).min(maxmsg);
    let (lazy_next, lazy_left) = (l.st().lazy_next, l.st().lazy_left);
    assert!(lazy_left <= maxmsg, "lazy range longer than the queue slots");
    for k in 0..lazy_left {
        let i = (lazy_next + k) % maxmsg;
        assert_eq!(on_list[i as usize], 0, "lazy free slot {i} also on a list");
        on_list[i as usize] = 2;
        if i < ready {
            assert_eq!(l.slot(i).state.load(Ordering::Relaxed), slot_state::FREE, "lazy slot {i}");
        }
    }
    let fresh = l.st().extra_fresh;
    assert!((maxmsg..=slot_count).contains(&fresh), "extra_fresh {fresh} out of the extra slots");
    // Fresh slots are on no list and never read before their first use (which writes them
    // whole), so what damage wrote in them does not matter (and repair does not touch them).
    for i in fresh..slot_count {
        assert_eq!(on_list[i as usize], 0, "fresh slot {i} also on a list");
    }
    for i in (0..fresh).filter(|&i| i >= maxmsg || i < ready || on_list[i as usize] != 2) {
        let state = l.slot(i).state.load(Ordering::Relaxed);
        match state {
            slot_state::QUEUED => assert_eq!(on_list[i as usize], 1, "QUEUED slot {i} on no list"),
            slot_state::FREE => assert_eq!(on_list[i as usize], 2, "FREE slot {i} not on the free list"),
            // Owned by a waiter or scheduled: on neither list.
            _ => assert_eq!(on_list[i as usize], 0, "slot {i} in state {state} on a list"),
        }
    }
    // Every registered waiter is in its role's set (the set is how waiters are found).
    for w in 0..WAITER_SLOTS {
        let (word, bit) = ((w / 64) as usize, 1u64 << (w % 64));
        let state = l.waiter(w).core.state;
        assert_eq!(l.st().receivers[word] & bit != 0, state == waiter_state::RECEIVING, "waiter {w} ({state}) and the receivers' set");
        assert_eq!(l.st().senders[word] & bit != 0, state == waiter_state::SENDING, "waiter {w} ({state}) and the senders' set");
    }
}

/// Free slots (both free lists, the lazy range and the fresh extra slots).
fn free_slots(l: &mut Locked<'_>) -> u32 {
    let mut n = l.st().lazy_left + (l.q.geo.slot_count - l.st().extra_fresh);
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

mod damage;
mod express;
mod order;
mod pending;
mod repair;
mod snapshot;

/// A receiver that left unserved (`engine::waiter`) is handed nothing: a send serves the next
/// receiver, or queues the message. Here the first receiver left and has not yet let go of its
/// life lock (the few instructions after its compare-and-swap), so it still looks alive: the
/// claim is what refuses it. Its record is freed once it lets go.
#[test]
fn a_receiver_that_left_unserved_is_handed_nothing() {
    use crate::emu::engine::waiter::WaiterCore;
    let q = new_queue(4, 64);
    let mut l = q.lock().unwrap();
    // This thread registers both (holding both life locks).
    let left = l.register(waiter_state::RECEIVING, None, Some(120)).unwrap();
    let next = l.register(waiter_state::RECEIVING, None, Some(120)).unwrap();
    // Its word says LEFT; its life lock is still held.
    q.wake_word(left).store(crate::emu::engine::layout::wake_word::LEFT, Ordering::Release);
    assert!(send(&mut l, 0, b"one"));
    assert!(l.is_served(next), "the next receiver got the message");
    assert_eq!(l.waiting(waiter_state::RECEIVING), 0, "the receiver that left no longer waits");
    assert!(send(&mut l, 0, b"two"));
    assert_eq!(l.q.curmsgs(), 1, "with no receiver left, the message is queued");
    check_consistent(&mut l);
    let mut buf = [0u8; 64];
    let got = l.finish_wait(next, buf.as_mut_ptr()).unwrap().unwrap().unwrap();
    assert_eq!(&buf[..got.len], b"one");
    // SAFETY: this thread registered in the record and has not left it.
    unsafe { WaiterCore::leave(l.core(left)) };
    l.reap_dead_waiters();
    assert_eq!(l.waiter(left).core.state, waiter_state::FREE, "freed once its thread let go");
    assert_eq!(receive(&mut l, 64), Some((0, b"two".to_vec())));
    check_consistent(&mut l);
}
