//! Tests of one queue in-process: selection by type against a model, growth, repair, blocked
//! senders, scheduled messages.

use super::*;
use std::collections::VecDeque;

/// A live queue in a fresh directory.
pub(super) struct Fixture {
    path: String,
    dir: c_int,
    pub(super) queue: Queue,
}

impl Fixture {
    pub(super) fn new(qbytes: u64) -> Fixture {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = format!("/tmp/mqshim-sysv-queue-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let c = CString::new(path.clone()).unwrap();
        // SAFETY: NUL-terminated path.
        unsafe { libc::mkdir(c.as_ptr(), 0o700) };
        // SAFETY: as above.
        let dir = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
        assert!(dir >= 0);
        let init = Init { id: 7, key: 42, mode: 0o600, uid: 0, gid: 0, qbytes, ctime: 1 };
        let queue = Queue::create(dir, "msq.7", &init).unwrap();
        assert!(queue.commit());
        Fixture { path, dir, queue }
    }

    pub(super) fn entry(&self) -> &Entry {
        self.queue.entry()
    }

    pub(super) fn lock(&self) -> Locked<'_> {
        self.queue.lock(self.entry()).unwrap()
    }

    pub(super) fn send(&self, mtype: i64, text: &[u8]) {
        let mut l = self.lock();
        assert!(l.fits(text.len() as u64));
        l.send(mtype, text.as_ptr(), text.len(), 1, 2).unwrap();
    }

    /// Receives like msgrcv(IPC_NOWAIT): (type, text) or None.
    pub(super) fn receive(&self, msgtyp: i64, flags: i32) -> Option<(i64, Vec<u8>)> {
        let (mode, typ) = convert_mode(msgtyp, flags);
        let mut l = self.lock();
        let r = l.find(mode, typ).unwrap()?;
        let mut buf = vec![0u8; 8 + 70_000];
        let got = l.take(r, buf.as_mut_ptr(), buf.len() - 8, 1, 2).unwrap();
        assert!(got.copied);
        let mtype = i64::from_ne_bytes(buf[..8].try_into().unwrap());
        Some((mtype, buf[8..8 + got.len].to_vec()))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        crate::os::sys::close(self.dir);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The kernel's find_msg on a model queue (arrival order).
pub(super) fn model_find(model: &VecDeque<(i64, Vec<u8>)>, msgtyp: i64, flags: i32) -> Option<usize> {
    let (mode, typ) = convert_mode(msgtyp, flags);
    match mode {
        search::LESSEQUAL => {
            let lowest = model.iter().map(|m| m.0).filter(|&t| t <= typ).min()?;
            model.iter().position(|m| m.0 == lowest)
        }
        _ => model.iter().position(|m| testmsg(m.0, typ, mode)),
    }
}

use crate::emu::engine::testing::Rng;

#[test]
fn selection_by_type_matches_the_kernel_with_10000_messages_of_1000_types() {
    let f = Fixture::new(1 << 20);
    let mut model: VecDeque<(i64, Vec<u8>)> = VecDeque::new();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for i in 0..10_000u64 {
        let t = 1 + (rng.next_u64() % 1000) as i64;
        let text = format!("m{i}-{t}").into_bytes();
        f.send(t, &text);
        model.push_back((t, text));
    }
    assert_eq!(f.lock().counts().2, 1000.min(model.iter().map(|m| m.0).collect::<std::collections::BTreeSet<_>>().len()) as u32);
    let started = std::time::Instant::now();
    for step in 0..12_000u64 {
        let (msgtyp, flags) = match rng.next_u64() % 5 {
            0 => (0, 0),
            1 => (1 + (rng.next_u64() % 1001) as i64, 0),
            2 => (1 + (rng.next_u64() % 1001) as i64, libc::MSG_EXCEPT),
            3 => (-(1 + (rng.next_u64() % 1001) as i64), 0),
            _ => (if rng.next_u64() % 8 == 0 { i64::MIN } else { -(1 + (rng.next_u64() % 5) as i64) }, 0),
        };
        let want = model_find(&model, msgtyp, flags).and_then(|i| model.remove(i));
        let got = f.receive(msgtyp, flags);
        assert_eq!(got, want, "step {step}: msgtyp {msgtyp} flags {flags:#o}");
        if step % 4 == 0 {
            let t = 1 + (rng.next_u64() % 1000) as i64;
            let text = format!("late{step}").into_bytes();
            f.send(t, &text);
            model.push_back((t, text));
        }
    }
    // Sublinear per receive: 12,000 selections over thousands of messages stay fast.
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    let (qnum, cbytes, ..) = f.lock().counts();
    assert_eq!(qnum as usize, model.len());
    assert_eq!(cbytes as usize, model.iter().map(|m| m.1.len()).sum::<usize>());
    let s = entry::snapshot(f.queue.header());
    assert_eq!((s.qnum, s.cbytes), (qnum, cbytes));
}

#[test]
fn a_segment_of_another_layout_version_attaches_with_eio() {
    use super::super::layout::LAYOUT_VERSION;
    let f = Fixture::new(16384);
    let file = format!("msq.{}", f.queue.id);
    let version = &f.queue.header().prefix.version;
    // As a later mqshim (another layout) would have left it in the file.
    version.store(LAYOUT_VERSION + 1, Ordering::Release);
    assert_eq!(Queue::attach(f.dir, &file, Some(f.queue.id)).err(), Some(Errno::EIO));
    // Half-built (version 0) is no queue yet, as if its file were not there; the layout's own
    // version attaches again.
    version.store(0, Ordering::Release);
    assert_eq!(Queue::attach(f.dir, &file, Some(f.queue.id)).err(), Some(Errno::EIDRM));
    version.store(LAYOUT_VERSION, Ordering::Release);
    assert!(Queue::attach(f.dir, &file, Some(f.queue.id)).is_ok());
    // A file that is gone is a removed queue; creating over an existing one is EEXIST (which
    // msgget resolves: see `a_file_in_the_way_of_a_new_segment_is_removed_or_skipped`).
    assert_eq!(Queue::attach(f.dir, "msq.absent", Some(f.queue.id)).err(), Some(Errno::EIDRM));
    let init = Init { id: f.queue.id, key: 42, mode: 0o600, uid: 0, gid: 0, qbytes: 16384, ctime: 1 };
    assert_eq!(Queue::create(f.dir, &file, &init).err(), Some(Errno::EEXIST));
    assert!(Queue::attach(f.dir, &file, Some(f.queue.id)).is_ok(), "the existing file is left alone");
    // The file of another queue (its index reused since): not this queue, as if gone.
    assert_eq!(Queue::attach(f.dir, &file, Some(f.queue.id + (1 << 15))).err(), Some(Errno::EIDRM));
}

#[test]
fn the_area_grows_and_other_mappings_follow() {
    let f = Fixture::new(1 << 30);
    let other = Queue::attach(f.dir, &format!("msq.{}", f.queue.id), None).unwrap();
    let big = vec![7u8; 60_000];
    for i in 0..200 {
        f.send(1 + i % 3, &big[..(i as usize * 6007) % 60_000]);
    }
    assert!(f.queue.header().area_units.load(Ordering::Relaxed) > INITIAL_AREA_UNITS);
    // A second mapping (as in another process) maps the grown file when it next locks.
    let mut l = other.lock(f.entry()).unwrap();
    let mut seen = 0;
    while let Some(r) = l.find(search::ANY, 0).unwrap() {
        let mut buf = vec![0u8; 8 + 60_000];
        let got = l.take(r, buf.as_mut_ptr(), 60_000, 1, 2).unwrap();
        assert_eq!(got.len, (seen * 6007) % 60_000);
        assert!(buf[8..8 + got.len].iter().all(|&b| b == 7));
        seen += 1;
    }
    assert_eq!(seen, 200);
}

/// Wipes everything repair must be able to rebuild.
fn wipe_derived(l: &mut Locked<'_>) {
    let st = l.st();
    st.fifo_head = 0;
    st.fifo_tail = 0;
    st.root_by_type = 0;
    st.root_by_age = 0;
    st.free_blocks = [0; CLASSES];
    st.qnum = 12345;
    st.cbytes = 0;
    st.types = 999;
    st.recv_head = 0;
    st.send_head = 0;
    st.free_waiter = 0;
}

#[test]
fn repair_rebuilds_the_queue_from_block_states() {
    let f = Fixture::new(1 << 20);
    let mut model: VecDeque<(i64, Vec<u8>)> = VecDeque::new();
    for i in 0..300i64 {
        let text = vec![b'a' + (i % 26) as u8; (i * 7 % 100) as usize];
        f.send(1 + i % 17, &text);
        model.push_back((1 + i % 17, text));
    }
    for _ in 0..50 {
        let want = model.pop_front();
        assert_eq!(f.receive(0, 0), want);
    }
    {
        let mut l = f.lock();
        wipe_derived(&mut l);
        l.repair();
        assert_eq!(l.counts().0 as usize, model.len());
        assert_eq!(l.counts().2, 17);
    }
    // Everything comes back in the kernel's order, and the freed blocks are reused.
    for msgtyp in [-3i64, 5, 0, -17, 16] {
        let want = model_find(&model, msgtyp, 0).and_then(|i| model.remove(i));
        assert_eq!(f.receive(msgtyp, 0), want);
    }
    let top_before = f.lock().st().top;
    f.send(99, b"reuses a freed block");
    assert_eq!(f.lock().st().top, top_before);
    model.push_back((99, b"reuses a freed block".to_vec()));
    while let Some(want) = model.pop_front() {
        assert_eq!(f.receive(0, 0), Some(want));
    }
    assert_eq!(f.receive(0, 0), None);
}

#[test]
fn a_lock_owner_dying_mid_send_leaves_no_trace() {
    let f = Fixture::new(1 << 20);
    f.send(3, b"before");
    std::thread::scope(|s| {
        s.spawn(|| {
            // Write a message and die (thread exit: the robust lock is marked
            // owner-dead) before committing it.
            let mut l = f.lock();
            let r = l.write_message(4, b"half".as_ptr(), 4, 0).unwrap().unwrap();
            assert!(r != 0);
            std::mem::forget(l);
        });
    });
    // The next locker repairs: the half-written message is not there.
    assert_eq!(f.receive(0, 0), Some((3, b"before".to_vec())));
    assert_eq!(f.receive(0, 0), None);
    std::thread::scope(|s| {
        s.spawn(|| {
            // Commit a message, then die before linking it anywhere.
            let mut l = f.lock();
            let r = l.write_message(5, b"committed".as_ptr(), 9, 0).unwrap().unwrap();
            let node = l.alloc(0).unwrap();
            {
                let b = l.msg(r).unwrap();
                b.seq = 1000;
                b.state.store(block_state::QUEUED, Ordering::Release);
            }
            let _ = node;
            std::mem::forget(l);
        });
    });
    assert_eq!(f.receive(5, 0), Some((5, b"committed".to_vec())));
    assert_eq!(f.lock().counts().0, 0);
}

#[test]
fn a_pending_send_committed_by_a_dead_process_is_not_sent_twice() {
    let f = Fixture::new(1 << 20);
    let w = {
        let mut l = f.lock();
        l.register_sender(8, b"pending".as_ptr(), 7).unwrap()
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            // A receiver commits the pending message for the sender, and dies before
            // serving it.
            let mut l = f.lock();
            let r = l.waiter(w).handed;
            let (mtype, len) = l.describe(r).unwrap();
            l.deliver(r, mtype, len, 1, 2).unwrap().unwrap();
            std::mem::forget(l);
        });
    });
    let mut l = f.lock();
    // Repair served the sender: sent, once.
    assert_eq!(l.waiter(w).core.state, waiter_state::SERVED);
    assert_eq!(l.finish(w, std::ptr::null_mut(), 0), Finished::Sent);
    drop(l);
    assert_eq!(f.receive(0, 0), Some((8, b"pending".to_vec())));
    assert_eq!(f.receive(0, 0), None);
}

#[test]
fn a_receive_that_makes_room_sends_for_blocked_senders_in_order() {
    let f = Fixture::new(10);
    f.send(1, b"0123456789");
    let (a, b) = {
        let mut l = f.lock();
        assert!(!l.fits(6));
        let a = l.register_sender(2, b"sixsix".as_ptr(), 6).unwrap();
        let b = l.register_sender(3, b"four".as_ptr(), 4).unwrap();
        (a, b)
    };
    assert_eq!(f.receive(0, 0), Some((1, b"0123456789".to_vec())));
    let mut l = f.lock();
    assert_eq!(l.finish(a, std::ptr::null_mut(), 0), Finished::Sent);
    assert_eq!(l.finish(b, std::ptr::null_mut(), 0), Finished::Sent);
    drop(l);
    assert_eq!(f.receive(0, 0), Some((2, b"sixsix".to_vec())));
    assert_eq!(f.receive(0, 0), Some((3, b"four".to_vec())));
    // After IPC_SET a blocked sender looks again instead.
    f.send(1, b"0123456789");
    let c = f.lock().register_sender(2, b"x".as_ptr(), 1).unwrap();
    f.lock().recheck_all();
    let mut l = f.lock();
    assert_eq!(l.finish(c, std::ptr::null_mut(), 0), Finished::NotServed);
}

// ----- scheduled messages -----

impl Fixture {
    /// Schedules (mtype, text) at `due_ns`; returns the handle.
    fn schedule(&self, mtype: i64, text: &[u8], due_ns: u64) -> Result<u64> {
        self.lock().schedule(mtype, text.as_ptr(), text.len(), due_ns, 77)
    }
}

const SECOND: u64 = 1_000_000_000;

#[test]
fn a_scheduled_message_is_invisible_and_uncounted_until_due_then_sent_in_type_order() {
    let f = Fixture::new(1 << 20);
    let now = realtime_ns();
    f.send(3, b"three");
    let h1 = f.schedule(2, b"two", now + 3600 * SECOND).unwrap();
    let h2 = f.schedule(1, b"one", now + 7200 * SECOND).unwrap();
    assert!(h1 != 0 && h2 > h1);
    {
        let mut l = f.lock();
        assert_eq!((l.counts().0, l.counts().1, l.scheduled()), (1, 5, 2));
        assert_eq!(l.find(search::EQUAL, 2).unwrap(), None);
    }
    // The entry tells lock-free readers when to look, and ipcs how many are pending.
    assert_eq!(f.entry().next_due_ns.load(Ordering::Relaxed), now + 3600 * SECOND);
    assert_eq!(f.entry().scheduled.load(Ordering::Relaxed), 2);
    assert_eq!(entry::snapshot(f.queue.header()).qnum, 1);
    // Due (as if the clock had moved on): sent as msgsnd would send it then.
    {
        let mut l = f.lock();
        l.settle_schedule(now + 3600 * SECOND);
        assert_eq!((l.counts().0, l.scheduled()), (2, 1));
    }
    assert_eq!(f.entry().next_due_ns.load(Ordering::Relaxed), now + 7200 * SECOND);
    let s = entry::snapshot(f.queue.header());
    assert_eq!((s.qnum, s.cbytes, s.lspid), (2, 8, 77));
    // Lowest type first: the scheduled message takes its place among the others by type.
    assert_eq!(f.receive(-10, 0), Some((2, b"two".to_vec())));
    assert_eq!(f.receive(-10, 0), Some((3, b"three".to_vec())));
    assert_eq!(f.receive(0, 0), None);
    assert_eq!(f.lock().cancel(h2), Ok(()));
    assert_eq!(f.entry().next_due_ns.load(Ordering::Relaxed), 0);
    assert_eq!(f.entry().scheduled.load(Ordering::Relaxed), 0);
}

#[test]
fn a_message_scheduled_in_the_past_is_sent_at_once_and_cannot_be_cancelled() {
    let f = Fixture::new(1 << 20);
    let h = f.schedule(4, b"late", 1).unwrap();
    assert_eq!(f.lock().cancel(h), Err(Errno::ENOENT));
    assert_eq!(f.lock().scheduled(), 0);
    assert_eq!(f.receive(0, 0), Some((4, b"late".to_vec())));
    assert_eq!(f.lock().cancel(h + 1000), Err(Errno::ENOENT));
}

#[test]
fn cancel_before_due_frees_the_message_once() {
    let f = Fixture::new(1 << 20);
    let far = realtime_ns() + 3600 * SECOND;
    let a = f.schedule(1, b"a", far).unwrap();
    let b = f.schedule(1, b"b", far).unwrap();
    let top = f.lock().st().top;
    assert_eq!(f.lock().cancel(a), Ok(()));
    assert_eq!(f.lock().cancel(a), Err(Errno::ENOENT));
    assert_eq!(f.lock().scheduled(), 1);
    // The freed block is reused.
    f.schedule(1, b"c", far).unwrap();
    assert_eq!(f.lock().st().top, top);
    assert_eq!(f.lock().cancel(b), Ok(()));
    f.lock().settle_schedule(far);
    assert_eq!(f.receive(0, 0), Some((1, b"c".to_vec())));
}

#[test]
fn at_most_64_are_pending_per_queue() {
    let f = Fixture::new(1 << 20);
    let far = realtime_ns() + 3600 * SECOND;
    let handles: Vec<u64> = (0..SCHEDULED_MAX).map(|i| f.schedule(1, &[i as u8], far + i as u64).unwrap()).collect();
    assert_eq!(f.schedule(1, b"x", far), Err(Errno::EAGAIN));
    assert_eq!(f.lock().cancel(handles[10]), Ok(()));
    assert!(f.schedule(1, b"x", far).is_ok());
}

#[test]
fn a_due_message_that_does_not_fit_waits_for_room_and_enters_when_a_receive_makes_it() {
    let f = Fixture::new(10);
    f.send(1, b"0123456789");
    let h = f.schedule(2, b"xyz", 1).unwrap();
    {
        let mut l = f.lock();
        // Due, but qbytes is full: it waits, uncounted, and is no longer cancellable.
        assert_eq!((l.counts().0, l.scheduled()), (1, 1));
        assert_eq!(l.cancel(h), Err(Errno::ENOENT));
    }
    // Nothing is left to wake a receiver for: a receive that makes room sends it.
    assert_eq!(f.entry().next_due_ns.load(Ordering::Relaxed), 0);
    assert_eq!(f.entry().scheduled.load(Ordering::Relaxed), 1);
    assert_eq!(f.receive(0, 0), Some((1, b"0123456789".to_vec())));
    assert_eq!(f.lock().counts().0, 1);
    assert_eq!(f.lock().scheduled(), 0);
    assert_eq!(f.receive(0, 0), Some((2, b"xyz".to_vec())));
}

#[test]
fn a_due_message_goes_to_a_matching_blocked_receiver() {
    let f = Fixture::new(1 << 20);
    let w = f.lock().register_receiver(5, search::EQUAL, 100).unwrap();
    let now = realtime_ns();
    f.schedule(4, b"other", now + 1000 * SECOND).unwrap();
    f.schedule(5, b"mine", now + 2000 * SECOND).unwrap();
    f.lock().settle_schedule(now + 1500 * SECOND);
    assert_eq!(f.lock().waiter(w).core.state, waiter_state::RECEIVING);
    f.lock().settle_schedule(now + 2000 * SECOND);
    let mut buf = [0u8; 8 + 100];
    let got = f.lock().finish(w, buf.as_mut_ptr(), 100);
    assert_eq!(got, Finished::Handed(Received { len: 4, copied: true }));
    assert_eq!(&buf[8..12], b"mine");
    assert_eq!(f.receive(0, 0), Some((4, b"other".to_vec())));
}

#[test]
fn repair_rebuilds_the_scheduled_list_from_block_states() {
    let f = Fixture::new(1 << 20);
    let base = realtime_ns() + 3600 * SECOND;
    let dues = [5u64, 1, 4, 1, 3];
    let handles: Vec<u64> = dues.iter().enumerate().map(|(i, &d)| f.schedule(10 + i as i64, b"s", base + d * SECOND).unwrap()).collect();
    f.send(1, b"plain");
    {
        let mut l = f.lock();
        wipe_derived(&mut l);
        let st = l.st();
        st.sched_head = 0;
        st.scheduled = 0;
        st.next_handle = 0;
        l.repair();
        assert_eq!((l.counts().0, l.scheduled()), (1, 5));
        // New handles stay unique.
        assert!(l.st().next_handle > *handles.iter().max().unwrap());
    }
    assert_eq!(f.entry().next_due_ns.load(Ordering::Relaxed), base + SECOND);
    // Due order, then handle order: types 11, 13, 14, 12, 10.
    f.lock().settle_schedule(base + 10 * SECOND);
    let order: Vec<i64> = std::iter::from_fn(|| f.receive(0, 0).map(|m| m.0)).collect();
    assert_eq!(order, vec![1, 11, 13, 14, 12, 10]);
}

#[test]
fn a_scheduler_dying_after_its_commit_leaves_the_message_to_the_queue() {
    let f = Fixture::new(1 << 20);
    let far = realtime_ns() + 3600 * SECOND;
    std::thread::scope(|s| {
        s.spawn(|| {
            // Commit a scheduled message, then die (thread exit: the robust lock is marked
            // owner-dead) before linking or counting it.
            let mut l = f.lock();
            let r = l.write_message(6, b"orphan".as_ptr(), 6, 0).unwrap().unwrap();
            let b = l.msg(r).unwrap();
            b.visible_ns = far;
            b.handle = 900;
            b.state.store(block_state::SCHEDULED, Ordering::Release);
            std::mem::forget(l);
        });
    });
    let mut l = f.lock();
    assert_eq!(l.scheduled(), 1);
    assert_eq!(l.cancel(900), Ok(()));
    assert_eq!(l.scheduled(), 0);
}

#[test]
fn a_promoter_dying_after_handing_over_still_serves_the_receiver() {
    let f = Fixture::new(1 << 20);
    let w = f.lock().register_receiver(0, search::ANY, 100).unwrap();
    let far = realtime_ns() + 3600 * SECOND;
    f.schedule(7, b"handed", far).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            // The commit of the hand-over, then death before the receiver is served.
            let mut l = f.lock();
            let r = l.st().sched_head;
            l.unlink_waiter(w).unwrap();
            let b = l.msg(r).unwrap();
            b.owner = w + 1;
            b.state.store(block_state::HANDED, Ordering::Release);
            std::mem::forget(l);
        });
    });
    let mut l = f.lock();
    assert_eq!(l.scheduled(), 0);
    assert_eq!(l.waiter(w).core.state, waiter_state::SERVED);
    let mut buf = [0u8; 8 + 100];
    assert_eq!(l.finish(w, buf.as_mut_ptr(), 100), Finished::Handed(Received { len: 6, copied: true }));
    assert_eq!(&buf[8..14], b"handed");
}

#[test]
fn removal_discards_pending_scheduled_messages() {
    let f = Fixture::new(1 << 20);
    f.schedule(1, b"gone", realtime_ns() + 3600 * SECOND).unwrap();
    let mut l = f.lock();
    l.remove_all();
    assert_eq!(l.scheduled(), 0);
    assert_eq!(l.st().sched_head, 0);
}

#[test]
fn a_due_scheduled_message_is_listed_after_the_queue_as_msgsnd_would_send_it() {
    // Nobody touches the queue once the due times pass: the snapshot lists the due messages
    // that fit (qbytes 10: "ab" and "due-1" fit, "due-too-big" does not) after the queued
    // ones, in due order, and the one that does not fit among the scheduled; it sends nothing.
    let f = Fixture::new(10);
    f.send(1, b"ab");
    let now = realtime_ns();
    let soon = now + 30_000_000;
    for (mtype, text, due) in [(7, &b"due-too-big"[..], soon), (3, b"due-1", soon + 1), (4, b"later", now + 3_600 * SECOND)] {
        f.schedule(mtype, text, due).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    let snap = f.lock().snapshot(16).unwrap();
    let texts = |v: &[crate::emu::peek::PeekedMessage]| v.iter().map(|m| m.preview.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&snap.messages), [b"ab".to_vec(), b"due-1".to_vec()]);
    assert_eq!(snap.messages[1].visible_ns, soon + 1);
    assert_eq!(texts(&snap.scheduled), [b"due-too-big".to_vec(), b"later".to_vec()]);
    assert_eq!(f.lock().counts().0, 1, "the snapshot sent nothing");
    assert_eq!(f.receive(0, 0), Some((1, b"ab".to_vec())));
}

/// A receiver or sender that left unserved (`engine::waiter`) is handed nothing and has
/// nothing sent for it: a send serves the next matching receiver, or queues the message, and a
/// receive that makes room sends only for the senders still there. Here they left and have not
/// yet let go of their life locks (the few instructions after their compare-and-swap), so they
/// still look alive: the claim is what refuses them. Their records are freed once they let go.
#[test]
fn waiters_that_left_unserved_are_handed_nothing_and_sent_for_by_no_one() {
    use crate::emu::engine::layout::wake_word;
    use crate::emu::engine::waiter::WaiterCore;
    let f = Fixture::new(10);
    let mut l = f.lock();
    // This thread registers them all (holding their life locks).
    let left = l.register_receiver(5, search::EQUAL, 64).unwrap();
    let next = l.register_receiver(5, search::EQUAL, 64).unwrap();
    f.queue.wake_word(left).store(wake_word::LEFT, Ordering::Release);
    drop(l);
    f.send(5, b"one");
    let mut l = f.lock();
    assert_eq!(l.waiter(next).core.state, waiter_state::SERVED, "the next receiver got the message");
    assert_eq!(l.counts().3, 0, "the receiver that left no longer waits");
    drop(l);
    f.send(5, b"two");
    assert_eq!(f.lock().counts().0, 1, "with no receiver left, the message is queued");
    let mut buf = [0u8; 72];
    assert!(matches!(f.lock().finish(next, buf.as_mut_ptr(), 64), Finished::Handed(got) if got.len == 3 && &buf[8..11] == b"one"));
    f.send(1, b"0123456");
    let mut l = f.lock();
    let gone = l.register_sender(2, b"gone".as_ptr(), 4).unwrap();
    let there = l.register_sender(3, b"here".as_ptr(), 4).unwrap();
    f.queue.wake_word(gone).store(wake_word::LEFT, Ordering::Release);
    drop(l);
    assert_eq!(f.receive(1, 0), Some((1, b"0123456".to_vec())));
    assert_eq!(f.lock().finish(there, std::ptr::null_mut(), 0), Finished::Sent);
    assert_eq!(f.receive(5, 0), Some((5, b"two".to_vec())));
    assert_eq!(f.receive(3, 0), Some((3, b"here".to_vec())));
    assert_eq!(f.receive(0, 0), None, "nothing was sent for the sender that left");
    let mut l = f.lock();
    for w in [left, gone] {
        // SAFETY: this thread registered in the record and has not left it.
        unsafe { WaiterCore::leave(l.core(w)) };
    }
    l.reap_dead_waiters();
    for w in [left, gone] {
        assert_eq!(l.waiter(w).core.state, waiter_state::FREE, "freed once its thread let go");
    }
    assert_eq!(l.counts(), (0, 0, 0, 0, 0));
}
