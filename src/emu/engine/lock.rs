//! Process-shared robust locks in shared memory: the emulation's own, not glibc's.
//!
//! A [`RobustMutex`] is a futex word with the kernel's robust-futex protocol (the word holds
//! the owner's tid, plus FUTEX_WAITERS when someone sleeps on it), linked into the calling
//! thread's robust list while held ([`robust_list`]), so that when its owner dies the kernel
//! marks it OWNER_DIED and wakes a sleeper, and the next locker gets [`Acquired::OwnerDied`] —
//! and must repair what the dead owner left half-done before it unlocks. Lockers spin briefly
//! before sleeping, since queue critical sections are short.
//!
//! glibc's robust mutexes did this before, but glibc trusts the mutex's memory: it reads the
//! mutex's type word at every call (a garbled one sent it down the priority-ceiling path,
//! which asserts: SIGABRT) and follows the robust-list links stored in it (a garbled one made
//! it write through a wild pointer). In a queue's segment that memory is writable by other
//! processes, so this lock trusts nothing it reads there but the lock word, whose every value
//! it handles: it has no type word, and it never reads a link.
//!
//! # No wait on another process is unbounded
//!
//! The holder of a lock is another process: it may be stopped (SIGSTOP, a debugger) while it
//! holds it, and a lock word in shared memory may be corrupt (a tid no thread has), on which a
//! plain futex lock would sleep forever. So a locker that has to sleep ([`lock_spinning`] after
//! its spin) sleeps in slices of [`SLICE_NS`] (FUTEX_WAIT_BITSET to a CLOCK_MONOTONIC
//! instant), and between slices:
//!
//! - checks the owner the lock word names ([`owner_is_impossible`]): a tid above the kernel's
//!   `PID_MAX_LIMIT`, or a tid no thread has (`kill(tid, 0)` → ESRCH). (A word that names no
//!   owner, whatever its other bits, is simply taken; one that names the calling thread, which
//!   does not hold it, is EIO at once.) Found so twice in a row, with the word unchanged across a slice, it is corruption:
//!   the call fails with **EIO**, within two slices. (A holder that died is not this: the
//!   kernel rewrites its lock word, marked OWNER_DIED, before its tid is freed.)
//! - stops when the calling thread's [`LockWait`] runs out. The call sets it for its duration
//!   ([`waits`]); the default, for every call that does not sleep in the kernel, is
//!   [`LockWait::Bounded`]:
//!
//! | the call | waits for a live holder | then fails with |
//! |---|---|---|
//! | does not sleep in the kernel ([`LockWait::Bounded`], the default) | up to [`BOUND_NS`] | EAGAIN |
//! | goes on without the lock when its holder is stopped ([`LockWait::Brief`]) | up to [`BRIEF_NS`] | EAGAIN (the call then goes on) |
//! | timed (`mq_timedsend`, `mq_timedreceive`: [`LockWait::Until`]) | to its deadline + [`BOUND_NS`] | ETIMEDOUT |
//! | blocking ([`LockWait::AsLongAsHeld`]) | as long as the holder lives (the kernel's blocked callers wait too) | — |
//! | blocking `mq_send`/`mq_receive`/`msgsnd`/`msgrcv` ([`LockWait::Blocking`]) | as long as the holder lives, the queue does, its permissions stay and no handler interrupts | EIDRM, EAGAIN (look again), EINTR |
//!
//! — where the holder is asleep (in a page fault or a file operation, from which it goes on by
//! itself). A holder found **stopped** (SIGSTOP, a debugger: `T` or `t` in `/proc/TID/stat`)
//! lets go of nothing until someone continues it, so every wait but a blocking one gives up on
//! it as soon as it has found it so at two looks, the first [`FIRST_LOOK_NS`] into the wait and
//! the second [`SECOND_LOOK_NS`] later (a timed call at its deadline, if that is later):
//! about 1.5 ms, not the bound (see [`StopLooks`]). A holder found running or runnable when the
//! time is up was preempted inside its critical section, which it leaves microseconds after
//! it next runs; one asleep waiting for another of these locks (a fold holds the queue lock
//! and waits for a side of the ring, which a receiver polling in a tight loop may keep taking)
//! goes on as soon as that one is free. So that a busy machine does not turn into spurious
//! EAGAINs, such a holder is waited for up to [`PREEMPTED_HOLDER_NS`] longer (the bound on a
//! hostile holder that keeps a lock while it runs, or sleeps). The check reads
//! `/proc/TID/stat`, and for a sleeping holder `/proc/TID/syscall` (which only a caller that
//! may ptrace the holder can read: for any other, a sleeping holder counts as stopped), once
//! per slice past the bound, the locker asleep in between (the unlock wakes it; a locker that
//! spun on the holder's state would take the CPU the holder waits for). A thread's state is
//! momentary, so a holder found neither is looked at once more, [`SECOND_LOOK_NS`] later,
//! before the locker gives up on it. Having given up, the locker tries the lock once more: the
//! holder may have let go between the two looks.
//!
//! EAGAIN is the "would block" answer of `mq_send`/`mq_receive` on an O_NONBLOCK description
//! and of `msgsnd` with IPC_NOWAIT; `msgrcv` with IPC_NOWAIT turns it into its own, ENOMSG.
//! Calls that have no "would block" errno (`mq_getattr` and `mq_setattr` promoting due
//! scheduled messages, `msgget`, `msgctl`, the lookups of `mq_open`) answer from
//! lock-free state where they can, and otherwise also fail with EAGAIN after [`BOUND_NS`]:
//! the kernel has no such case (its holders cannot be stopped inside a critical section), and
//! EAGAIN — "try again" — is the truth (a stopped holder is not corruption, so not EIO; to wait
//! on would be to hang). System V's `IPC_RMID` and `IPC_SET` do not give up there: they go on
//! without the lock (see `emu::sysv::queue::Queue::remove_unlocked` and
//! `Queue::recheck_unlocked`), nor do `mq_notify` and the POSIX close that drops a notification
//! registration (they leave the change for the lock's next holder: `emu::posix::queue::pending`).
//! A call meets at most one such wait per lock whose holder is stopped.
//! One lock is waited for as long as its holder lives however the call was made: the queue
//! lock a registered waiter that was served takes to collect its outcome
//! (`waiter::lock_to_collect`), since a message handed to it, or its own message sent, is
//! reachable only under that lock and giving up would lose it. A waiter not served leaves
//! without the lock instead, after the brief wait ([`LockWait::Brief`]). Waits that are not a lock's but also depend on another
//! process (a signal relayed to a notification's owner) take their limit from the same
//! [`LockWait`] ([`wait_left_ns`]).
//!
//! The uncontended path is untouched: the wait is read only when the spin has failed. Nor
//! does a call set its wait up front: `mq_send`, `mq_receive`, `msgsnd` and `msgrcv` first
//! run with the default, and go round again with their own wait only when a lock gave EAGAIN
//! ([`LongerWait`]). So a timed call whose deadline falls inside that first, bounded, try may
//! return up to [`BOUND_NS`] later than the table says (behind a stopped holder, the two looks:
//! about 1.5 ms).
//!
//! Where a critical section changes nothing until its last step, one system call, a stopped
//! holder need not cost its waiters an EAGAIN: [`takeover`] is the lock for that, which a
//! waiter takes over from a holder found stopped at the same two looks.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::errno::{Errno, Result};

/// How a lock was acquired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// Normally: the protected data is consistent.
    Clean,
    /// From an owner that died holding it: the caller must repair before it unlocks.
    OwnerDied,
}

mod robust_list;
pub mod takeover;

/// A lock in shared memory, laid out like glibc's `pthread_mutex_t` where the kernel looks
/// (the word, and the robust-list link 32 bytes after it) and nowhere else. All zeroes is a
/// free lock.
#[repr(C)]
pub struct RobustMutex {
    /// 0 when free; the holder's tid, with [`WAITERS`] when someone sleeps on it; [`OWNER_DIED`]
    /// (and no tid) once the kernel found its holder dead.
    word: AtomicU32,
    _unused: [u32; 5],
    /// Where glibc's mutex has its previous-entry link: glibc writes it when it links one of
    /// the program's mutexes in front of this one; nothing reads it.
    list_prev: AtomicUsize,
    /// The robust-list link, for the kernel: written by the holder, never read here.
    list_next: AtomicUsize,
}

const _: () = {
    assert!(std::mem::size_of::<RobustMutex>() == 40);
    assert!(std::mem::offset_of!(RobustMutex, list_next) as isize == -robust_list::FUTEX_OFFSET);
};

/// Makes `m` a free lock, unlinked.
///
/// # Safety
/// `m` points to a [`RobustMutex`] in mapped memory that no one else uses yet.
pub unsafe fn init(m: *const RobustMutex) -> Result<()> {
    // Through its atomics only (the caller may hold `m` by a shared reference); the unused
    // words are never read.
    lock_word(m).store(0, Ordering::Relaxed);
    link(m).store(0, Ordering::Relaxed);
    // SAFETY: as for `lock_word`.
    unsafe { (*m).list_prev.store(0, Ordering::Relaxed) };
    Ok(())
}

/// Polls of the lock word before blocking in the kernel.
pub const SPIN_TRIES: u32 = 2000;

/// The lock word of `m`.
fn lock_word<'a>(m: *const RobustMutex) -> &'a AtomicU32 {
    // SAFETY: `m` points into a mapping that outlives the call (every caller's contract); the
    // word is only ever accessed atomically, here and by the kernel.
    unsafe { &(*m).word }
}

/// The robust-list link of `m`.
fn link<'a>(m: *const RobustMutex) -> &'a AtomicUsize {
    // SAFETY: as for `lock_word`.
    unsafe { &(*m).list_next }
}

/// Takes `m` if its word names no owner (free, or its owner died), keeping `waiters` (the
/// FUTEX_WAITERS bit, for a locker that slept and so may not be the only one) — on the calling
/// thread's robust list. `None` when it is held.
#[inline]
fn try_take(m: *const RobustMutex, list: Option<&robust_list::ThisThread<'_>>, tid: u32, waiters: u32) -> Option<Acquired> {
    let word = lock_word(m);
    let mut seen = word.load(Ordering::Relaxed);
    loop {
        if seen & TID_MASK != 0 {
            return None;
        }
        // FUTEX_WAITERS is kept: a sleeper may be left, whom the unlock must wake.
        let new = tid | (seen & WAITERS) | waiters;
        match word.compare_exchange_weak(seen, new, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => {
                if let Some(list) = list {
                    list.link(link(m));
                }
                return Some(if seen & OWNER_DIED != 0 { Acquired::OwnerDied } else { Acquired::Clean });
            }
            Err(now) => seen = now,
        }
    }
}

/// Takes `m` if nobody holds it, without waiting.
///
/// # Safety
/// `m` is a [`RobustMutex`] in mapped memory.
pub unsafe fn try_lock(m: *const RobustMutex) -> Option<Acquired> {
    let tid = crate::os::ids::tid() as u32;
    robust_list::with(|list| {
        if let Some(list) = list {
            list.pending(link(m) as *const AtomicUsize as usize);
        }
        let got = try_take(m, list, tid, 0);
        if let Some(list) = list {
            list.pending(0);
        }
        got
    })
}

/// Locks `m`, spinning briefly first. The spin reads the lock word and tries to take the lock
/// only when it looks free (test-and-test-and-set), so two processes contending for a queue
/// do not bounce its cache line with failed atomic writes.
///
/// # Safety
/// `m` is a [`RobustMutex`] in mapped memory.
pub unsafe fn lock(m: *const RobustMutex) -> Result<Acquired> {
    // SAFETY: per the caller.
    unsafe { lock_spinning(m, SPIN_TRIES) }
}

/// [`lock`], polling the lock word up to `tries` times before blocking.
///
/// # Safety
/// As for [`lock`].
pub unsafe fn lock_spinning(m: *const RobustMutex, tries: u32) -> Result<Acquired> {
    let tid = crate::os::ids::tid() as u32;
    robust_list::with(|list| {
        // Pending from the first try to the last: a thread that dies having just taken it, not
        // yet linked, is found too.
        if let Some(list) = list {
            list.pending(link(m) as *const AtomicUsize as usize);
        }
        let word = lock_word(m);
        let mut got = None;
        for _ in 0..tries {
            if word.load(Ordering::Relaxed) & TID_MASK == 0 {
                got = try_take(m, list, tid, 0);
                if got.is_some() {
                    break;
                }
            }
            std::hint::spin_loop();
        }
        let result = match got {
            Some(how) => Ok(how),
            None => lock_sleeping(m, list, tid),
        };
        if let Some(list) = list {
            list.pending(0);
        }
        result
    })
}

/// How long a call that does not sleep in the kernel waits for a lock another process holds
/// when its holder is not stopped (see the module docs).
pub const BOUND_NS: u64 = 20_000_000;

/// How long a call that goes on without a lock whose holder is stopped waits for that lock
/// before it looks at the holder ([`LockWait::Brief`]).
pub const BRIEF_NS: u64 = 2_000_000;

/// How long a locker sleeps before it looks at the owner again.
pub const SLICE_NS: u64 = 4_000_000;

/// How long the calling thread's call may wait for a lock that another thread holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockWait {
    /// Up to [`BOUND_NS`], then EAGAIN: a call that does not sleep in the kernel.
    Bounded,
    /// Up to [`BRIEF_NS`] for a holder found asleep at two looks, then EAGAIN; a holder found
    /// runnable is waited for as under `Bounded`. For a call that goes on without
    /// the lock when its holder is stopped (`IPC_RMID`, `IPC_SET`, the close that drops a
    /// notification registration): it has nothing to wait for ([`briefly`]).
    Brief,
    /// Until this CLOCK_REALTIME instant (ns since the epoch), plus [`BOUND_NS`] (none for a
    /// stopped holder), then ETIMEDOUT: a timed call.
    Until(u64),
    /// As long as the holder lives: a blocking call.
    AsLongAsHeld,
    /// As `AsLongAsHeld`, for a blocking call, which does not wait for a holder (stopped
    /// inside its critical section) once it would fail on the kernel (see [`BlockingWait`]).
    Blocking(BlockingWait),
}

/// What ends a blocking call's wait for a lock besides the lock ([`LockWait::Blocking`]), looked
/// at between sleeps. The words are null, or in a mapping the call keeps while it waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockingWait {
    /// EIDRM once this word is not 0: a System V queue's `removed`.
    pub removed: *const AtomicU32,
    /// EAGAIN once this word moved since the wait began: a System V queue's permissions'
    /// sequence (IPC_SET): the call looks again (whether it may still wait) and waits anew.
    pub changed: *const AtomicU32,
    /// EINTR once a signal handler interrupted a sleep by this rule (System V's calls after
    /// any handler, the `mq_*` calls after one installed without SA_RESTART). The call then
    /// fails with EINTR if, by what it can see without the lock, it would block; otherwise it
    /// goes round again.
    pub restart: super::futex::Restart,
}

impl BlockingWait {
    /// An `mq_*` call's: only a handler installed without SA_RESTART ends it.
    pub const MQUEUE: BlockingWait = BlockingWait { removed: std::ptr::null(), changed: std::ptr::null(), restart: super::futex::Restart::LikeMqueue };
}

thread_local! {
    static LOCK_WAIT: Cell<LockWait> = const { Cell::new(LockWait::Bounded) };
}

/// The calling thread's [`LockWait`] while it lives; the one before comes back when it is
/// dropped.
/// It keeps the cell's address, so that a call pays one thread-local lookup, not two (it
/// is on the blocking calls' fast path); the raw pointer also keeps it on its thread.
#[must_use = "the wait applies only while the scope lives"]
pub struct LockWaitScope {
    cell: *const Cell<LockWait>,
    previous: LockWait,
}

impl Drop for LockWaitScope {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the cell is this thread's (the scope cannot leave it), and a const-initialised
        // thread-local without a destructor lives as long as its thread.
        unsafe { (*self.cell).set(self.previous) };
    }
}

/// Sets how long the calling thread's locks may wait, until the returned scope is dropped.
#[inline]
pub fn waits(wait: LockWait) -> LockWaitScope {
    LOCK_WAIT.with(|cell| LockWaitScope { cell, previous: cell.replace(wait) })
}

/// Runs `take`, which takes a lock, waiting as [`LockWait::Brief`] says.
pub fn briefly<R>(take: impl FnOnce() -> R) -> R {
    let _brief = waits(LockWait::Brief);
    take()
}

/// How long a call that waits for locks as `wait` says may still wait for other processes, at
/// most `cap_ns`: for a wait that is not a lock's but, like one, depends on another process.
pub fn wait_left_ns(wait: LockWait, cap_ns: u64) -> u64 {
    match wait {
        LockWait::Bounded => BOUND_NS.min(cap_ns),
        LockWait::Brief => BRIEF_NS.min(cap_ns),
        LockWait::Until(deadline) => (deadline.saturating_sub(crate::os::clock::realtime_ns()) + BOUND_NS).min(cap_ns),
        LockWait::AsLongAsHeld | LockWait::Blocking(..) => cap_ns,
    }
}

/// A call's wait for locks beyond the bounded default, set only once a lock gave EAGAIN: the
/// calls that may block (`mq_send`, `mq_receive`, `msgsnd`, `msgrcv`) run first with the
/// default, since setting their wait up front (a thread-local store and restore) cost a
/// blocking send-receive pair 5 ns; EAGAIN from a lock means nothing was changed yet, so such
/// a call may go round again, waiting as it may. It also remembers that a signal handler
/// interrupted one of the call's lock waits ([`LongerWait::go_round_after_handler`]).
#[derive(Default)]
pub struct LongerWait {
    scope: Option<LockWaitScope>,
    interrupted: bool,
}

impl LongerWait {
    /// Whether the call goes round again after the error `e`: a lock's EAGAIN, in a call that
    /// may block (`may_wait` gives its wait) and has not yet gone round for it. If so, the
    /// call's locks wait as `may_wait` says from now on.
    #[cold]
    pub fn go_round(&mut self, e: Errno, may_wait: impl FnOnce() -> Option<LockWait>) -> bool {
        if e != Errno::EAGAIN || self.scope.is_some() {
            return false;
        }
        let Some(wait) = may_wait() else { return false };
        self.scope = Some(waits(wait));
        true
    }

    /// After a lock wait that a signal handler interrupted (EINTR): whether the call goes round
    /// again, which it does when, by what it can see without the lock, it would not block
    /// (`would_not_block`). The interruption is remembered either way: wherever the call then
    /// finds it would block, it fails with EINTR ([`Self::interrupted`]), as the kernel's call
    /// finds the signal pending when it sleeps.
    #[cold]
    pub fn go_round_after_handler(&mut self, would_not_block: bool) -> bool {
        self.interrupted = true;
        would_not_block
    }

    /// Whether a signal handler interrupted one of the call's lock waits: a call that would
    /// block fails with EINTR instead.
    #[inline]
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }
}

/// The lock-wait for a call with an optional absolute CLOCK_REALTIME deadline that may block:
/// [`LockWait::Until`] it, or [`LockWait::Blocking`] (on a queue that is not removed under it).
#[inline]
pub fn wait_for_deadline(deadline: Option<&libc::timespec>) -> LockWait {
    match deadline {
        Some(d) => LockWait::Until(crate::os::clock::ns_of(d)),
        None => LockWait::Blocking(BlockingWait::MQUEUE),
    }
}

/// Sleeps for `m` in slices, as long as the calling thread's [`LockWait`] allows, checking the
/// owner between slices (see the module docs). Cold: reached only when the spin failed.
#[cold]
#[inline(never)]
fn lock_sleeping(m: *const RobustMutex, list: Option<&robust_list::ThisThread<'_>>, tid: u32) -> Result<Acquired> {
    use crate::os::clock::{monotonic_ns, realtime_ns};
    let wait = LOCK_WAIT.with(|w| w.get());
    let start = monotonic_ns();
    let (mut give_up_at, busy) = match wait {
        LockWait::Bounded => (start + BOUND_NS, Errno::EAGAIN),
        LockWait::Brief => (start + BRIEF_NS, Errno::EAGAIN),
        LockWait::Until(deadline) => (start + deadline.saturating_sub(realtime_ns()) + BOUND_NS, Errno::ETIMEDOUT),
        LockWait::AsLongAsHeld | LockWait::Blocking(..) => (u64::MAX, Errno::EAGAIN),
    };
    let word = lock_word(m);
    // The words a blocking wait watches, and where `changed` was when it began.
    let blocking = if let LockWait::Blocking(b) = wait { Some(b) } else { None };
    // SAFETY: per `BlockingWait`, a word is null or mapped while the call waits.
    let watched = |w: *const AtomicU32| (!w.is_null()).then(|| unsafe { (*w).load(Ordering::Acquire) });
    let changed_at = blocking.and_then(|b| watched(b.changed));
    // The lock word last found impossible: corruption once it is found so again, unchanged.
    let mut suspect = None;
    // Past the bound, how long a runnable holder is waited for (see below).
    let mut wait_until = give_up_at;
    // Whether the holder was found neither runnable nor waiting at the last look past the bound.
    let mut holder_seen_stuck = false;
    // Before the bound, a wait that gives up looks whether the holder is stopped.
    let mut looks = if give_up_at == u64::MAX { StopLooks::never() } else { StopLooks::new(start) };
    loop {
        let slice_end = monotonic_ns().saturating_add(SLICE_NS).min(wait_until).min(looks.next_at());
        let mut interrupted = false;
        let restart = blocking.map_or(super::futex::Restart::Never, |b| b.restart);
        if let Some(how) = sleep_slice(m, list, tid, slice_end, restart, &mut interrupted) {
            return Ok(how);
        }
        if let Some(b) = blocking {
            if watched(b.removed).is_some_and(|r| r != 0) {
                return Err(Errno::EIDRM);
            }
            if watched(b.changed) != changed_at {
                return Err(Errno::EAGAIN);
            }
            if interrupted {
                return Err(Errno::EINTR);
            }
        }
        let seen = word.load(Ordering::Acquire);
        // The calling thread, which does not hold it (no lock is taken twice): corruption.
        if seen & TID_MASK == tid {
            return Err(Errno::EIO);
        }
        if owner_is_impossible(seen) {
            if suspect == Some(seen) {
                return Err(Errno::EIO);
            }
            suspect = Some(seen);
        } else {
            suspect = None;
        }
        let now = monotonic_ns();
        if now >= give_up_at {
            // (The looks below take over.)
            looks.stop();
        } else if looks.stopped_twice(now, (seen & TID_MASK) as i32) {
            // It lets go of nothing until someone continues it: given up on now (a timed call
            // at its deadline), without the second look past the bound below.
            give_up_at = match wait {
                LockWait::Until(_) => give_up_at - BOUND_NS,
                _ => now,
            }
            .max(now);
            wait_until = give_up_at;
            holder_seen_stuck = true;
            looks.stop();
        }
        if now >= give_up_at {
            // A holder that is merely waiting for a CPU (preempted inside its critical section:
            // common on a busy machine) lets go within microseconds of running: worth waiting
            // for, a while longer, asleep (so as not to take the CPU it waits for: the unlock
            // wakes this sleeper). A stopped (or sleeping) one is not. A thread's state is
            // momentary (a fault may put a running one to sleep for microseconds): a holder is
            // given up on only when found so at two looks, a short sleep apart.
            let preempted_until = give_up_at.saturating_add(PREEMPTED_HOLDER_NS);
            if now < preempted_until {
                if owner_is_runnable(seen) {
                    holder_seen_stuck = false;
                    wait_until = preempted_until;
                    continue;
                }
                if !holder_seen_stuck {
                    holder_seen_stuck = true;
                    wait_until = (now + SECOND_LOOK_NS).min(preempted_until);
                    continue;
                }
            }
            // The holder may have let go since `seen` was read, and be asleep or gone by the
            // time its state was looked at: a lock free now is taken, not given up on.
            if let Some(how) = try_take(m, list, tid, WAITERS) {
                return Ok(how);
            }
            // A word found naming no thread at this look is looked at once more now, rather
            // than a slice later: on a loaded machine the bound may have passed before the
            // second look, and corruption is EIO whatever the wait.
            if suspect == Some(seen) && word.load(Ordering::Acquire) == seen && owner_is_impossible(seen) {
                return Err(Errno::EIO);
            }
            return Err(busy);
        }
    }
}

/// Takes `m`, sleeping on its word (with FUTEX_WAITERS set) until the CLOCK_MONOTONIC instant
/// `until`; `None` if it is still held then, or once a signal handler interrupted the sleep by
/// `restart`'s rule (`interrupted` then says so). The kernel's robust protocol wakes a sleeper
/// when the holder unlocks (or dies).
fn sleep_slice(
    m: *const RobustMutex,
    list: Option<&robust_list::ThisThread<'_>>,
    tid: u32,
    until: u64,
    restart: super::futex::Restart,
    interrupted: &mut bool,
) -> Option<Acquired> {
    let word = lock_word(m);
    let until_ts = crate::os::clock::timespec_of_ns(until);
    loop {
        // Having slept, this locker may not be the only one: it keeps FUTEX_WAITERS set.
        if let Some(how) = try_take(m, list, tid, WAITERS) {
            return Some(how);
        }
        let seen = word.load(Ordering::Relaxed);
        if seen & TID_MASK == 0 {
            continue;
        }
        if seen & WAITERS == 0 && word.compare_exchange(seen, seen | WAITERS, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            continue;
        }
        if crate::os::clock::monotonic_ns() >= until {
            return None;
        }
        // Woken or timed out alike: look again.
        if super::futex::wait_monotonic(word, seen | WAITERS, &until_ts, restart) {
            *interrupted = true;
            return None;
        }
    }
}

/// The looks a wait takes at a thread it depends on (a lock's holder, a creator at work) so as
/// to give up on it once it is stopped (SIGSTOP, a debugger: `T` or `t` in `/proc/TID/stat`,
/// which every user may read). Such a thread lets go of nothing until someone continues it, so
/// the wait need not run out its bound, as it does for one asleep (in a page fault or a file
/// operation, from which it goes on by itself). The first look is [`FIRST_LOOK_NS`] into the
/// wait, the next [`SLICE_NS`] later, or [`SECOND_LOOK_NS`] after one that found the thread
/// stopped: a state is momentary, so the thread is given up on only once found stopped at two
/// looks in a row.
pub struct StopLooks {
    next_at: u64,
    found: Option<i32>,
    gone_counts: bool,
    /// When the wait began, and its pauses so far ([`StopLooks::pause`]).
    start: u64,
    pauses: u32,
}

/// A wait that polls ([`StopLooks::pause`]) yields the CPU at most this many times, and for at
/// most [`FIRST_LOOK_NS`], before it sleeps between its polls.
const YIELDING_PAUSES: u32 = 64;

/// How long a polling wait sleeps at a time once it no longer yields.
const PAUSE_SLEEP_NS: u64 = 50_000;

/// How long a wait for a thread waits before its first look whether the thread is stopped:
/// far longer than a running holder's critical section, so that a lock that merely changes
/// hands costs no look.
const FIRST_LOOK_NS: u64 = 500_000;

impl StopLooks {
    /// The tid of a wait's thread when nobody is doing the work waited for: its thread died,
    /// and the kernel took its tid out of the lock word it held. Counted as gone.
    pub const NOBODY: i32 = -1;

    /// For a wait that began at `start` (CLOCK_MONOTONIC ns).
    pub fn new(start: u64) -> StopLooks {
        StopLooks { next_at: start.saturating_add(FIRST_LOOK_NS), found: None, gone_counts: false, start, pauses: 0 }
    }

    /// As [`StopLooks::new`], where a thread that is gone (or a zombie) counts as stopped too:
    /// for a tid read from shared memory that no kernel mechanism clears when its thread dies.
    pub fn counting_gone(start: u64) -> StopLooks {
        StopLooks { gone_counts: true, ..StopLooks::new(start) }
    }

    /// The same, its first look due at once: for a wait whose thread, when stopped, most likely
    /// was so before the wait began, and whose later looks are far apart.
    pub fn first_look_now(self) -> StopLooks {
        StopLooks { next_at: 0, ..self }
    }

    /// For a wait that never gives up: no looks.
    pub fn never() -> StopLooks {
        StopLooks { next_at: u64::MAX, ..StopLooks::new(0) }
    }

    /// When the next look is due (CLOCK_MONOTONIC ns; `u64::MAX`: none).
    pub fn next_at(&self) -> u64 {
        self.next_at
    }

    /// Takes no more looks.
    pub fn stop(&mut self) {
        self.next_at = u64::MAX;
    }

    /// Waits a moment before a wait that polls for the thread's work looks again: yields the
    /// CPU (to the thread, should it have been preempted on this one) at first, then, once
    /// [`YIELDING_PAUSES`] pauses or [`FIRST_LOOK_NS`] went by, sleeps [`PAUSE_SLEEP_NS`]: on a
    /// loaded machine, where a yield may last another thread's whole time slice, a sleeper
    /// wakes in time for its looks.
    pub fn pause(&mut self) {
        let waited = crate::os::clock::monotonic_ns().saturating_sub(self.start);
        if self.pauses < YIELDING_PAUSES && waited < FIRST_LOOK_NS {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_nanos(PAUSE_SLEEP_NS));
        }
        self.pauses = self.pauses.saturating_add(1);
    }

    /// [`StopLooks::stopped_twice`] of the thread `tid()` names, asked only when a look is due
    /// at `now`: for a wait that must read its thread from shared memory or a system call.
    pub fn stopped_twice_of(&mut self, now: u64, tid: impl FnOnce() -> i32) -> bool {
        now >= self.next_at && self.stopped_twice(now, tid())
    }

    /// Whether thread `tid` has now been found stopped at two looks in a row; looks only when
    /// a look is due at `now`. `tid` may be [`StopLooks::NOBODY`]: counted as gone.
    pub fn stopped_twice(&mut self, now: u64, tid: i32) -> bool {
        if now < self.next_at {
            return false;
        }
        let stopped = match tid {
            StopLooks::NOBODY => self.gone_counts,
            tid if tid <= 0 => false,
            tid => match crate::os::sys::process_stat(tid) {
                Some(('T' | 't', _)) => true,
                Some(('Z' | 'X', _)) | None => self.gone_counts,
                Some(_) => false,
            },
        };
        let twice = stopped && self.found == Some(tid);
        self.found = stopped.then_some(tid);
        self.next_at = now.saturating_add(if stopped { SECOND_LOOK_NS } else { SLICE_NS });
        twice
    }
}

/// How much longer than its [`LockWait`] a call waits for a holder that is runnable, not
/// stopped: one that was preempted (or, if hostile, keeps the lock while it runs).
pub const PREEMPTED_HOLDER_NS: u64 = 200_000_000;

/// How long after finding a holder neither runnable nor waiting, past the bound, or stopped
/// before it ([`StopLooks`]), the holder is looked at again before the call gives up on it.
const SECOND_LOOK_NS: u64 = 1_000_000;

/// Whether the thread that the lock word `word` names is running or waiting for a CPU
/// (`R` in `/proc/TID/stat`), or asleep waiting for another of these locks (as a fold holds the
/// queue lock and waits for a side of the ring: it goes on as soon as that one is free), or the
/// word names nobody now (the lock is changing hands). A holder whose system call the caller
/// may not look at (another user's) is taken for stopped when asleep.
fn owner_is_runnable(word: u32) -> bool {
    let tid = (word & TID_MASK) as i32;
    tid == 0 || thread_is_runnable(tid)
}

/// Whether thread `tid` is running or waiting for a CPU, or asleep waiting for one of these
/// locks (see [`owner_is_runnable`]): one worth waiting for a while past a bound, as one that
/// is stopped is not.
fn thread_is_runnable(tid: i32) -> bool {
    match crate::os::sys::process_stat(tid) {
        Some(('R', _)) => true,
        // (Read again: it may have woken since.)
        Some(('S', _)) => crate::os::sys::runs_or_waits_on_shared_futex(tid),
        _ => false,
    }
}

/// The bits of a robust lock word that hold its owner's tid (the kernel's FUTEX_TID_MASK), and
/// the two flags around them: someone sleeps on it (FUTEX_WAITERS), its owner died
/// (FUTEX_OWNER_DIED).
const TID_MASK: u32 = 0x3fff_ffff;
const WAITERS: u32 = 0x8000_0000;
const OWNER_DIED: u32 = 0x4000_0000;

/// The kernel's `PID_MAX_LIMIT` on 64-bit: no tid is larger.
const PID_MAX_LIMIT: u32 = 4 * 1024 * 1024;

/// Whether the lock word `word` names an owner that cannot hold it: a tid no thread can have
/// or has. A word that names no owner (free, or left by a dead owner) is possible: it is taken.
/// (A holder that died is not this: the kernel rewrites its lock word, marked OWNER_DIED, as
/// it dies.)
///
/// A live thread of another pid namespace would be taken for none: the processes sharing a
/// namespace directory must share a pid namespace (tids are what the robust futex protocol
/// records anyway).
pub fn owner_is_impossible(word: u32) -> bool {
    let tid = word & TID_MASK;
    if tid == 0 {
        return false;
    }
    if tid > PID_MAX_LIMIT {
        return true;
    }
    // SAFETY: signal 0 only checks that the thread exists (EPERM: it does, another user's).
    let rc = unsafe { libc::kill(tid as libc::pid_t, 0) };
    rc != 0 && Errno::last() == Errno::ESRCH
}

/// Whether `m`'s word names an owner no thread is (see [`owner_is_impossible`]): corruption, which
/// a locker finds only after its bound. A system call when the lock is held; none when free.
///
/// # Safety
/// `m` is a [`RobustMutex`] in mapped memory.
pub unsafe fn holder_is_impossible(m: *const RobustMutex) -> bool {
    owner_is_impossible(lock_word(m).load(Ordering::Acquire))
}

impl RobustMutex {
    /// The thread holding the lock now, as its word says (0: free, or its holder died): a hint,
    /// for a reader waiting out what the holder writes (`seqlock::read_watching_writer`).
    pub fn holder_tid(&self) -> i32 {
        (self.word.load(Ordering::Relaxed) & TID_MASK) as i32
    }
}

/// Unlocks `m`, waking a sleeper if the word says there is one.
///
/// # Safety
/// The calling thread holds `m`.
pub unsafe fn unlock(m: *const RobustMutex) {
    let word = lock_word(m);
    robust_list::with(|list| {
        if let Some(list) = list {
            list.pending(link(m) as *const AtomicUsize as usize);
            list.unlink(link(m));
        }
        if word.swap(0, Ordering::Release) & WAITERS != 0 {
            super::futex::wake(word, 1);
        }
        if let Some(list) = list {
            list.pending(0);
        }
    });
}

/// What a probe of a waiter's life lock found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Its owner holds it: alive.
    Alive,
    /// Its owner died holding it (now held by the caller, and must be unlocked).
    Dead,
    /// Nobody held it (now held by the caller, and must be unlocked).
    Unheld,
}

/// Probes whether the thread holding `m` is alive, without blocking and without a system call
/// when it is: a live holder's tid is in the word, which the kernel rewrites when it dies.
///
/// # Safety
/// `m` is a [`RobustMutex`] in mapped memory.
pub unsafe fn probe(m: *const RobustMutex) -> Liveness {
    // SAFETY: per the caller.
    match unsafe { try_lock(m) } {
        Some(Acquired::Clean) => Liveness::Unheld,
        Some(Acquired::OwnerDied) => Liveness::Dead,
        None => Liveness::Alive,
    }
}

#[cfg(test)]
mod tests;
