use super::*;
use std::sync::atomic::AtomicUsize;

/// A robust mutex on the heap (process-private use is enough for the protocol's tests).
struct Mutex(Box<lock::RobustMutex>);

// SAFETY: a RobustMutex is made to be used from several threads.
unsafe impl Sync for Mutex {}

impl Mutex {
    fn new() -> Mutex {
        // SAFETY: all zeroes is a free RobustMutex.
        Mutex(Box::new(unsafe { std::mem::zeroed() }))
    }

    fn lock<'a>(&'a self, mode: RingMode<'_>, recovered: &AtomicU32) -> SideGuard<'a> {
        let recover = || {
            recovered.fetch_add(1, Ordering::Relaxed);
        };
        // SAFETY: initialised in new; lives as long as self.
        unsafe { lock_side(&*self.0, mode, recover).unwrap() }
    }
}

struct Ring {
    mode: AtomicU32,
    seq: AtomicU32,
    send: Mutex,
    recv: Mutex,
    recovered: [AtomicU32; 2],
}

impl Ring {
    fn new(mode: u32) -> Ring {
        Ring { mode: AtomicU32::new(mode), seq: AtomicU32::new(0), send: Mutex::new(), recv: Mutex::new(), recovered: Default::default() }
    }

    fn mode(&self) -> RingMode<'_> {
        RingMode { mode: &self.mode, seq: &self.seq }
    }

    fn lock_side(&self, side: Side) -> Result<SideGuard<'_>> {
        Ok(match side {
            Side::Send => self.send.lock(self.mode(), &self.recovered[0]),
            Side::Recv => self.recv.lock(self.mode(), &self.recovered[1]),
        })
    }

    fn both(&self) -> BothSides<'_> {
        lock_both_sides(|side| self.lock_side(side)).unwrap()
    }

    fn seq(&self) -> u32 {
        self.seq.load(Ordering::Acquire)
    }
}

/// A queue whose steps only count, or fail, for the fold and unfold skeletons.
struct Steps<'q> {
    ring: &'q Ring,
    holds: bool,
    moved: u32,
    fail_move: bool,
    idle: bool,
    after: u32,
    seq_during_move: u32,
}

impl<'q> ModeChangeSteps<'q> for Steps<'q> {
    type Takeover = ();
    fn ring_mode(&self) -> RingMode<'q> {
        self.ring.mode()
    }
    fn lock_side(&self, side: Side) -> Result<SideGuard<'q>> {
        self.ring.lock_side(side)
    }
    fn ring_holds_queue(&self) -> bool {
        self.holds
    }
    fn move_ring_to_general(&mut self) -> Result<()> {
        self.seq_during_move = self.ring.seq();
        self.moved += 1;
        if self.fail_move {
            Err(crate::errno::Errno::ENOMEM)
        } else {
            Ok(())
        }
    }
    fn woke_a_sleeper(&self) -> bool {
        false
    }
    fn ring_takeover(&mut self) -> Option<()> {
        self.idle.then_some(())
    }
    fn move_general_to_ring(&mut self, _: &()) -> bool {
        self.seq_during_move = self.ring.seq();
        self.moved += 1;
        !self.fail_move
    }
    fn after_unfold(&mut self, _: ()) {
        self.after += 1;
    }
}

fn steps(ring: &Ring) -> Steps<'_> {
    Steps { ring, holds: true, moved: 0, fail_move: false, idle: true, after: 0, seq_during_move: 0 }
}

#[test]
fn a_mode_change_commits_its_mode_and_an_abandoned_one_keeps_the_old() {
    let ring = Ring::new(ring_mode::EXPRESS);
    {
        let both = ring.both();
        let change = ring.mode().begin_change(&both);
        assert_eq!(ring.seq(), 1);
        change.commit(ring_mode::GENERAL);
    }
    assert_eq!((ring.mode.load(Ordering::Relaxed), ring.seq()), (ring_mode::GENERAL, 2));
    {
        let both = ring.both();
        let change = ring.mode().begin_change(&both);
        assert_eq!(ring.seq(), 3);
        drop(change);
    }
    assert_eq!((ring.mode.load(Ordering::Relaxed), ring.seq()), (ring_mode::GENERAL, 4));
}

#[test]
fn fold_and_unfold_run_the_steps_inside_a_change_and_abandon_on_failure() {
    let ring = Ring::new(ring_mode::EXPRESS);
    // A fold whose move fails: abandoned, the ring stays, the sequence is even.
    let mut s = Steps { fail_move: true, ..steps(&ring) };
    assert!(fold(&mut s).is_err());
    assert_eq!((s.moved, s.seq_during_move), (1, 1));
    assert_eq!((ring.mode.load(Ordering::Relaxed), ring.seq()), (ring_mode::EXPRESS, 2));
    // Not the ring's queue any more (System V: the index reused): nothing happens.
    let mut s = Steps { holds: false, ..steps(&ring) };
    fold(&mut s).unwrap();
    assert_eq!((s.moved, ring.seq()), (0, 2));
    // A fold.
    let mut s = steps(&ring);
    fold(&mut s).unwrap();
    assert_eq!((s.moved, s.seq_during_move), (1, 3));
    assert_eq!((ring.mode.load(Ordering::Relaxed), ring.seq()), (ring_mode::GENERAL, 4));
    // Folding a folded queue does nothing.
    fold(&mut s).unwrap();
    assert_eq!((s.moved, ring.seq()), (1, 4));
    // Not idle: no unfold.
    let mut s = Steps { idle: false, ..steps(&ring) };
    unfold_if_idle(&mut s);
    assert_eq!((s.moved, ring.seq()), (0, 4));
    // An unfold that cannot set the ring up: abandoned.
    let mut s = Steps { fail_move: true, ..steps(&ring) };
    unfold_if_idle(&mut s);
    assert_eq!((s.moved, s.after, s.seq_during_move), (1, 0, 5));
    assert_eq!((ring.mode.load(Ordering::Relaxed), ring.seq()), (ring_mode::GENERAL, 6));
    // An unfold.
    let mut s = steps(&ring);
    unfold_if_idle(&mut s);
    assert_eq!((s.moved, s.after, s.seq_during_move), (1, 1, 7));
    assert_eq!((ring.mode.load(Ordering::Relaxed), ring.seq()), (ring_mode::EXPRESS, 8));
    // Every lock was released.
    drop(ring.both());
}

#[test]
fn a_mode_change_whose_maker_died_is_evened_by_the_next_side_lock_holder() {
    for (dead_side, next_side) in [(Side::Send, Side::Send), (Side::Recv, Side::Recv), (Side::Recv, Side::Send)] {
        let ring = Ring::new(ring_mode::EXPRESS);
        std::thread::scope(|s| {
            s.spawn(|| {
                // Takes both sides, starts a change, and dies holding one of the locks
                // (having released the other, whose next holder finds nothing to repair).
                let send = ring.lock_side(Side::Send).unwrap();
                let recv = ring.lock_side(Side::Recv).unwrap();
                let both = BothSides { _recv: recv, _send: send };
                std::mem::forget(ring.mode().begin_change(&both));
                let BothSides { _recv: recv, _send: send } = both;
                let (dead, released) = if dead_side == Side::Send { (send, recv) } else { (recv, send) };
                drop(released);
                std::mem::forget(dead);
            });
        });
        assert_eq!(ring.seq() & 1, 1);
        // Readers without a lock cannot trust what they read meanwhile.
        assert!(!ring.mode().read(Patience { tries: 10, spins_before_yield: 1 }, |express| express).stable);
        let held = ring.lock_side(next_side).unwrap();
        let recovered = ring.recovered.each_ref().map(|r| r.load(Ordering::Relaxed));
        if dead_side == next_side {
            assert_eq!(ring.seq(), 2, "settled by the next holder of the dead one's lock");
            assert_eq!(recovered[dead_side as usize], 1, "after the API's recovery");
        } else {
            assert_eq!(ring.seq(), 1);
            assert_eq!(recovered, [0, 0]);
        }
        drop(held);
        // Either way, the next mode change (which needs both locks) finds it settled.
        let both = ring.both();
        assert_eq!(ring.seq() & 1, 0);
        assert_eq!(ring.mode.load(Ordering::Relaxed), ring_mode::EXPRESS);
        ring.mode().begin_change(&both).commit(ring_mode::GENERAL);
        assert_eq!(ring.seq() & 1, 0);
        drop(both);
        // Recovered once only.
        drop(ring.both());
        assert_eq!(ring.recovered.each_ref().map(|r| r.load(Ordering::Relaxed)).iter().sum::<u32>(), 1);
    }
}

#[test]
fn a_reader_across_an_unfinished_change_falls_back() {
    let ring = Ring::new(ring_mode::GENERAL);
    let patience = Patience { tries: 50, spins_before_yield: 10 };
    let count = |express: bool| if express { 7 } else { 3 };
    assert_eq!(ring.mode().read(patience, count).stable(), Some(3));
    let both = ring.both();
    let change = ring.mode().begin_change(&both);
    ring.mode.store(ring_mode::EXPRESS, Ordering::Release);
    // Mid-change: whatever it read, it is not trusted.
    assert_eq!(ring.mode().read(patience, count).stable(), None);
    drop(change);
    drop(both);
    assert_eq!(ring.mode().read(patience, count).stable(), Some(7));
    // A change made while a read runs (here, inside it): that read is not the one returned.
    let reads = AtomicU32::new(0);
    let got = ring.mode().read(patience, |express| {
        if reads.fetch_add(1, Ordering::Relaxed) == 0 {
            let both = ring.both();
            ring.mode().begin_change(&both).commit(ring_mode::GENERAL);
        }
        count(express)
    });
    assert_eq!((got.stable(), reads.load(Ordering::Relaxed)), (Some(3), 2));
}

/// The read-only page holding the mode word of
/// [`a_mode_change_stores_its_mode_before_evening_its_sequence`], its sequence word, and
/// what the sequence was when the mode was stored.
static WATCHED_PAGE: AtomicUsize = AtomicUsize::new(0);
static WATCHED_SEQ: AtomicUsize = AtomicUsize::new(0);
static SEQ_AT_MODE_STORE: AtomicU32 = AtomicU32::new(u32::MAX);

extern "C" fn on_write_to_watched_page(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let page = WATCHED_PAGE.load(Ordering::SeqCst);
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    if page == 0 || addr & !(4095) != page {
        // Not ours: let the fault be fatal as it would be.
        // SAFETY: restores the default action; the faulting store then kills the process.
        unsafe { libc::signal(libc::SIGSEGV, libc::SIG_DFL) };
        return;
    }
    // SAFETY: the watched sequence word is live for the test's duration.
    let seq = unsafe { &*(WATCHED_SEQ.load(Ordering::SeqCst) as *const AtomicU32) };
    SEQ_AT_MODE_STORE.store(seq.load(Ordering::SeqCst), Ordering::SeqCst);
    // SAFETY: the page is the test's own mapping; the store is retried once it is writable.
    unsafe { libc::mprotect(page as *mut libc::c_void, 4096, libc::PROT_READ | libc::PROT_WRITE) };
}

#[test]
fn a_mode_change_stores_its_mode_before_evening_its_sequence() {
    // The mode word on a page of its own, made read-only: the commit's store faults, and the
    // handler notes the sequence at that instant, then lets the store through.
    // SAFETY: a fresh anonymous mapping of two pages, unmapped at the end.
    let pages = unsafe { libc::mmap(std::ptr::null_mut(), 8192, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
    assert_ne!(pages, libc::MAP_FAILED);
    // SAFETY: two zeroed, aligned words in the mapping; atomics valid for any bit pattern.
    let (mode, seq) = unsafe { (&*(pages as *const AtomicU32), &*((pages as usize + 4096) as *const AtomicU32)) };
    mode.store(ring_mode::EXPRESS, Ordering::Relaxed);
    let ring = Ring::new(ring_mode::EXPRESS);
    // SAFETY: a zeroed sigaction is valid storage for sigaction's output.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: installs a handler that only acts on faults at the watched page; restored below.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_write_to_watched_page as *const () as libc::sighandler_t;
        act.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut act.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGSEGV, &act, &mut old), 0);
    }
    WATCHED_SEQ.store(seq as *const AtomicU32 as usize, Ordering::SeqCst);
    WATCHED_PAGE.store(pages as usize, Ordering::SeqCst);
    {
        let both = ring.both();
        let change = RingMode { mode, seq }.begin_change(&both);
        // SAFETY: the test's own page.
        assert_eq!(unsafe { libc::mprotect(pages, 4096, libc::PROT_READ) }, 0);
        change.commit(ring_mode::GENERAL);
    }
    WATCHED_PAGE.store(0, Ordering::SeqCst);
    // SAFETY: restores the handler saved above, and unmaps the test's pages.
    unsafe {
        libc::sigaction(libc::SIGSEGV, &old, std::ptr::null_mut());
        libc::munmap(pages, 8192);
    }
    assert_eq!(SEQ_AT_MODE_STORE.load(Ordering::SeqCst), 1, "the mode was stored while the change still ran");
}

#[test]
fn seals_are_told_apart_from_empty_and_stale_records() {
    let word = AtomicU32::new(0);
    assert_eq!(read_seal(&word, 5), Seal::Unsealed);
    commit_seal(&word, 5);
    assert_eq!(read_seal(&word, 5), Seal::Sealed);
    // A lap later the same record is expected to carry another message's seal.
    assert_eq!(read_seal(&word, 5 + 64), Seal::Other);
    clear_seal(&word);
    assert_eq!(read_seal(&word, 5), Seal::Unsealed);
    // Only the low 32 bits count: a 64-bit position far along seals as its low bits do.
    assert_eq!(seal_of((7 << 32) + 5), seal_of(5));
    assert_eq!(seal_of(u64::from(u16::MAX)), 1 << 16);
}
