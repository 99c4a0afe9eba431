//! Refusal and damage: a truncated or corrupt segment is an error, never a crash; damage to a
//! mapped queue's state neither crashes nor hangs an operation, and `repair()` makes any such
//! state consistent again.

use super::*;

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
                    1 => l.st().bitmap[rng.below(512) as usize] = rng.next_u64(),
                    2 => l.st().summary[rng.below(8) as usize] = rng.next_u64(),
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

/// A tid no thread has now.
fn tid_of_nobody() -> i32 {
    (1000..4 * 1024 * 1024)
        .rev()
        .find(|&t| {
            // SAFETY: signal 0 only checks existence.
            unsafe { libc::kill(t, 0) != 0 && Errno::last() == Errno::ESRCH }
        })
        .unwrap()
}

#[test]
fn a_queue_lock_naming_no_thread_is_eio_even_for_a_blocking_call() {
    let q = new_queue(4, 16);
    let word = q.lock_ptr() as *const AtomicU32;
    // SAFETY: the mutex's first word, in the mapping; glibc reads it atomically too.
    unsafe { &*word }.store(tid_of_nobody() as u32, Ordering::Relaxed);
    let _blocking = lock::waits(lock::LockWait::AsLongAsHeld);
    let start = Instant::now();
    assert_eq!(q.lock().err(), Some(Errno::EIO));
    assert!(start.elapsed().as_millis() < 100, "{:?}", start.elapsed());
}

#[test]
fn a_queue_lock_held_past_the_bound_is_would_block_for_calls_that_do_not_block() {
    let q = std::sync::Arc::new(new_queue(4, 16));
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let q = q.clone();
        std::thread::spawn(move || {
            let locked = q.lock().unwrap();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            drop(locked);
        })
    };
    held_rx.recv().unwrap();
    let start = Instant::now();
    assert_eq!(q.lock().err(), Some(Errno::EAGAIN));
    let took = start.elapsed().as_millis() as u64;
    let bound = lock::BOUND_NS / 1_000_000;
    assert!((bound..bound + 50).contains(&took), "{took} ms");
    {
        let _timed = lock::waits(lock::LockWait::Until(crate::os::clock::realtime_ns() + 30_000_000));
        assert_eq!(q.lock().err(), Some(Errno::ETIMEDOUT));
    }
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(q.lock().is_ok());
}

/// A notification registration written into a queue's memory by someone who may write it (a
/// user who may only send, say) makes a sender signal no one: the sender — here root, who may
/// signal any process — hands a fired registration to its owner's relay thread, which sends
/// only what its own process registered; it never sends the pid and signal the memory names.
/// Before, it sent them: any writer of a root-used queue could have root signal any process.
#[test]
fn a_registration_written_into_the_queue_signals_no_one() {
    use crate::emu::posix::layout::NotifyRegistration;
    // The victim: a child that waits (SIGUSR2 blocked) and exits 1 if the signal comes.
    let (rd, wr) = {
        let mut fds = [0; 2];
        // SAFETY: a pipe into a valid array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        (fds[0], fds[1])
    };
    // SAFETY: the child makes only system calls (no allocation, no lock), then exits.
    let victim = unsafe { libc::fork() };
    assert!(victim >= 0);
    if victim == 0 {
        // SAFETY: plain system calls in the child.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR2);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            libc::write(wr, b"r".as_ptr().cast(), 1);
            let wait = libc::timespec { tv_sec: 0, tv_nsec: 300_000_000 };
            let got = libc::sigtimedwait(&set, std::ptr::null_mut(), &wait);
            libc::_exit(i32::from(got == libc::SIGUSR2));
        }
    }
    let mut ready = [0u8; 1];
    // SAFETY: reads one byte into a valid buffer.
    assert_eq!(unsafe { libc::read(rd, ready.as_mut_ptr().cast(), 1) }, 1);
    let q = new_queue(4, 16);
    for relay_tid in [0, victim] {
        let forged = NotifyRegistration { owner_pid: victim, kind: libc::SIGEV_SIGNAL, signo: libc::SIGUSR2, relay_tid, ..Default::default() };
        let mut l = q.lock().unwrap();
        l.set_notification(forged);
        assert!(send(&mut l, 1, b"first"));
        assert!(receive(&mut l, 16).is_some());
        // (A relayed one waits in the relay slot for a relay thread that never takes it.)
        *l.relay() = Default::default();
    }
    let mut status = 0;
    // SAFETY: our child, reaped once.
    unsafe {
        assert_eq!(libc::waitpid(victim, &mut status, 0), victim);
        libc::close(rd);
        libc::close(wr);
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the victim was signalled (status {status:#x})");
}
