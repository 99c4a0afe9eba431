//! Process-shared robust mutexes in shared memory.
//!
//! glibc owns the robust futex list (never call `set_robust_list` yourself): a mutex made with
//! `PTHREAD_MUTEX_ROBUST` is on it, so when its owner dies the kernel marks it and the next
//! locker gets `EOWNERDEAD` — and must repair what the dead owner left half-done before calling
//! `pthread_mutex_consistent`. Lockers spin briefly on `trylock` before sleeping, since queue
//! critical sections are short.
//!
//! # No wait on another process is unbounded
//!
//! The holder of a lock is another process: it may be stopped (SIGSTOP, a debugger) while it
//! holds it, and a lock word in shared memory may be corrupt (a tid no thread has, bits glibc
//! never sets), on which `pthread_mutex_lock` would sleep forever. So a locker that has to
//! sleep ([`lock_spinning`] after its spin) sleeps in slices of [`SLICE_NS`]
//! (`pthread_mutex_clocklock` on CLOCK_MONOTONIC), and between slices:
//!
//! - checks the owner the lock word names ([`owner_is_impossible`]): a tid above the kernel's
//!   `PID_MAX_LIMIT`, no owner but stray bits, or a tid no thread has (`kill(tid, 0)` →
//!   ESRCH). Found so twice in a row, with the word unchanged across a slice, it is corruption:
//!   the call fails with **EIO**, within two slices. (A holder that died is not this: the
//!   kernel rewrites its lock word, marked OWNER_DIED, before its tid is freed.)
//! - stops when the calling thread's [`LockWait`] runs out. The call sets it for its duration
//!   ([`waits`]); the default, for every call that does not sleep in the kernel, is
//!   [`LockWait::Bounded`]:
//!
//! | the call | waits for a live holder | then fails with |
//! |---|---|---|
//! | does not sleep in the kernel ([`LockWait::Bounded`], the default) | up to [`BOUND_NS`] | EAGAIN |
//! | timed (`mq_timedsend`, `mq_timedreceive`: [`LockWait::Until`]) | to its deadline + [`BOUND_NS`] | ETIMEDOUT |
//! | blocking ([`LockWait::AsLongAsHeld`]) | as long as the holder lives (the kernel's blocked callers wait too) | — |
//!
//! — where the holder is stopped, or sleeping. A holder found running or runnable when the
//! time is up was preempted inside its critical section, which it leaves microseconds after
//! it next runs: so that a busy machine does not turn into spurious EAGAINs, such a holder is
//! waited for up to [`PREEMPTED_HOLDER_NS`] longer (the bound on a hostile holder that keeps
//! a lock while it runs). The check reads `/proc/TID/stat`, once per slice past the bound.
//!
//! EAGAIN is the "would block" answer of `mq_send`/`mq_receive` on an O_NONBLOCK description
//! and of `msgsnd` with IPC_NOWAIT; `msgrcv` with IPC_NOWAIT turns it into its own, ENOMSG.
//! Calls that have no "would block" errno (`mq_getattr` and `mq_setattr` promoting due
//! scheduled messages, `mq_notify`, `msgget`, `msgctl`, the lookups of `mq_open`) answer from
//! lock-free state where they can, and otherwise also fail with EAGAIN after [`BOUND_NS`]:
//! the kernel has no such case (its holders cannot be stopped inside a critical section), and
//! EAGAIN — "try again" — is the truth (a stopped holder is not corruption, so not EIO; to wait
//! on would be to hang). A call meets at most one such wait per lock whose holder is stopped.
//! One lock is waited for as long as its holder lives however the call was made: the queue
//! lock a registered POSIX waiter takes to collect its outcome (`lock_for_waiter`), since a
//! message handed to it is reachable only under that lock and giving up would lose it. So a
//! timed call that already sleeps as a waiter when a holder stops returns when the holder goes
//! on (or dies), past its deadline. Waits that are not a lock's but also depend on another
//! process (a signal relayed to a notification's owner) take their limit from the same
//! [`LockWait`] ([`wait_left_ns`]).
//!
//! The uncontended path is untouched: the wait is read only when the spin has failed. Nor
//! does a call set its wait up front: `mq_send`, `mq_receive`, `msgsnd` and `msgrcv` first
//! run with the default, and go round again with their own wait only when a lock gave EAGAIN
//! ([`LongerWait`]). So a timed call whose deadline falls inside that first, bounded, try may
//! return up to [`BOUND_NS`] later than the table says.

use std::cell::Cell;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::errno::{Errno, Result};

/// How a lock was acquired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// Normally: the protected data is consistent.
    Clean,
    /// From an owner that died holding it: the caller must repair, then [`mark_consistent`].
    OwnerDied,
}

/// Initialises a robust, process-shared mutex in place.
///
/// # Safety
/// `m` points to writable memory for a `pthread_mutex_t` that no one else uses yet.
pub unsafe fn init(m: *mut libc::pthread_mutex_t) -> Result<()> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: attr is initialised by pthread_mutexattr_init before use and destroyed after;
    // `m` is valid per the caller.
    unsafe {
        let a = attr.as_mut_ptr();
        if libc::pthread_mutexattr_init(a) != 0 {
            return Err(Errno::ENOMEM);
        }
        let ok = libc::pthread_mutexattr_setpshared(a, libc::PTHREAD_PROCESS_SHARED) == 0
            && libc::pthread_mutexattr_setrobust(a, libc::PTHREAD_MUTEX_ROBUST) == 0
            && libc::pthread_mutex_init(m, a) == 0;
        libc::pthread_mutexattr_destroy(a);
        if ok {
            Ok(())
        } else {
            Err(Errno::ENOMEM)
        }
    }
}

/// The mutex's type word, glibc's `__kind` (x86_64: the fifth int), which glibc reads at every
/// call to choose its path.
fn kind_word(m: *mut libc::pthread_mutex_t) -> &'static AtomicI32 {
    const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() >= 5 * std::mem::size_of::<i32>());
    // SAFETY: glibc's x86_64 pthread_mutex_t begins with the ints __lock, __count, __owner,
    // __nusers and __kind; the mutex lives in a mapping that outlives the call, and another
    // process may write the word at any time, hence atomically.
    unsafe { &*(m as *const AtomicI32).add(4) }
}

/// The type word of a mutex [`init`] makes (robust, process-shared, normal), read once from one
/// made here.
fn sound_kind() -> i32 {
    static KIND: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *KIND.get_or_init(|| {
        let mut template = std::mem::MaybeUninit::<libc::pthread_mutex_t>::zeroed();
        // SAFETY: a local, zeroed mutex that nobody else uses; destroyed below.
        unsafe {
            let m = template.as_mut_ptr();
            let _ = init(m);
            let kind = kind_word(m).load(Ordering::Relaxed);
            libc::pthread_mutex_destroy(m);
            kind
        }
    })
}

/// Whether glibc may be handed `m`: its type word is the one [`init`] made. Another process can
/// write anything there (a crash mid-write, a bug, a hostile user with write access), and a
/// type glibc never made for us sends it down paths — priority protection, priority
/// inheritance — that assert (killing the caller with SIGABRT) or sleep on what the words say.
/// A lock with a corrupt type is EIO. (A writer racing the check could still change it between
/// the check and glibc's read: the check closes corruption, not a concurrent attack.)
fn sound(m: *mut libc::pthread_mutex_t) -> bool {
    kind_word(m).load(Ordering::Relaxed) == sound_kind()
}

/// Puts back the type word of `m`, which the caller holds, if another process changed it: glibc
/// must unlock it as the mutex it locked.
fn restore_kind(m: *mut libc::pthread_mutex_t) {
    let word = kind_word(m);
    if word.load(Ordering::Relaxed) != sound_kind() {
        word.store(sound_kind(), Ordering::Relaxed);
    }
}

/// Polls of the lock word before blocking in the kernel.
pub const SPIN_TRIES: u32 = 2000;

/// The lock word of a glibc mutex: its first int, the owner's tid for a robust mutex (plus the
/// FUTEX_WAITERS / FUTEX_OWNER_DIED bits), 0 when free.
fn lock_word(m: *mut libc::pthread_mutex_t) -> &'static AtomicI32 {
    const _: () = assert!(std::mem::align_of::<libc::pthread_mutex_t>() >= std::mem::align_of::<AtomicI32>());
    // SAFETY: glibc's pthread_mutex_t begins with `int __lock`, which the kernel and glibc update
    // atomically; reading it atomically is what glibc's own spinning does. The mutex lives in a
    // mapping that outlives the call.
    unsafe { &*(m as *const AtomicI32) }
}

/// Locks `m`, spinning briefly first. The spin reads the lock word and tries to take the lock
/// only when it looks free (test-and-test-and-set), so two processes contending for a queue
/// do not bounce its cache line with failed atomic writes.
///
/// # Safety
/// `m` is an initialised robust mutex in mapped memory.
pub unsafe fn lock(m: *mut libc::pthread_mutex_t) -> Result<Acquired> {
    // SAFETY: per the caller.
    unsafe { lock_spinning(m, SPIN_TRIES) }
}

/// [`lock`], polling the lock word up to `tries` times before blocking.
///
/// # Safety
/// As for [`lock`].
pub unsafe fn lock_spinning(m: *mut libc::pthread_mutex_t, tries: u32) -> Result<Acquired> {
    if !sound(m) {
        return Err(Errno::EIO);
    }
    let word = lock_word(m);
    for _ in 0..tries {
        let v = word.load(Ordering::Relaxed);
        // Free, or free because its owner died (only the OWNER_DIED bit left).
        if v == 0 || v & 0x3fff_ffff == 0 {
            // SAFETY: per the caller.
            match unsafe { libc::pthread_mutex_trylock(m) } {
                0 => return Ok(Acquired::Clean),
                libc::EOWNERDEAD => return Ok(Acquired::OwnerDied),
                libc::EBUSY => {}
                e => return Err(lock_error(e)),
            }
        }
        std::hint::spin_loop();
    }
    // SAFETY: per the caller.
    unsafe { lock_sleeping(m) }
}

/// How long a call that does not sleep in the kernel waits for a lock another process holds
/// (see the module docs).
pub const BOUND_NS: u64 = 20_000_000;

/// How long a locker sleeps before it looks at the owner again.
pub const SLICE_NS: u64 = 4_000_000;

/// How long the calling thread's call may wait for a lock that another thread holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockWait {
    /// Up to [`BOUND_NS`], then EAGAIN: a call that does not sleep in the kernel.
    Bounded,
    /// Until this CLOCK_REALTIME instant (ns since the epoch), plus [`BOUND_NS`], then
    /// ETIMEDOUT: a timed call.
    Until(u64),
    /// As long as the holder lives: a blocking call.
    AsLongAsHeld,
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

/// How long a call that waits for locks as `wait` says may still wait for other processes, at
/// most `cap_ns`: for a wait that is not a lock's but, like one, depends on another process.
pub fn wait_left_ns(wait: LockWait, cap_ns: u64) -> u64 {
    match wait {
        LockWait::Bounded => BOUND_NS.min(cap_ns),
        LockWait::Until(deadline) => (deadline.saturating_sub(crate::os::clock::realtime_ns()) + BOUND_NS).min(cap_ns),
        LockWait::AsLongAsHeld => cap_ns,
    }
}

/// A call's wait for locks beyond the bounded default, set only once a lock gave EAGAIN: the
/// calls that may block (`mq_send`, `mq_receive`, `msgsnd`, `msgrcv`) run first with the
/// default, since setting their wait up front (a thread-local store and restore) cost a
/// blocking send-receive pair 5 ns; EAGAIN from a lock means nothing was changed yet, so such
/// a call may go round again, waiting as it may.
#[derive(Default)]
pub struct LongerWait(Option<LockWaitScope>);

impl LongerWait {
    /// Whether the call goes round again after the error `e`: a lock's EAGAIN, in a call that
    /// may block (`may_wait` gives its wait) and has not yet gone round for it. If so, the
    /// call's locks wait as `may_wait` says from now on.
    #[cold]
    pub fn go_round(&mut self, e: Errno, may_wait: impl FnOnce() -> Option<LockWait>) -> bool {
        if e != Errno::EAGAIN || self.0.is_some() {
            return false;
        }
        let Some(wait) = may_wait() else { return false };
        self.0 = Some(waits(wait));
        true
    }
}

/// The lock-wait for a call with an optional absolute CLOCK_REALTIME deadline that may block:
/// [`LockWait::Until`] it, or [`LockWait::AsLongAsHeld`].
#[inline]
pub fn wait_for_deadline(deadline: Option<&libc::timespec>) -> LockWait {
    match deadline {
        Some(d) => LockWait::Until(crate::os::clock::ns_of(d)),
        None => LockWait::AsLongAsHeld,
    }
}

extern "C" {
    // glibc 2.30 and later; not (yet) in the libc crate for this target.
    fn pthread_mutex_clocklock(m: *mut libc::pthread_mutex_t, clock: libc::clockid_t, abstime: *const libc::timespec) -> libc::c_int;
}

/// Sleeps for `m` in slices, as long as the calling thread's [`LockWait`] allows, checking the
/// owner between slices (see the module docs). Cold: reached only when the spin failed.
///
/// # Safety
/// As for [`lock`].
#[cold]
#[inline(never)]
unsafe fn lock_sleeping(m: *mut libc::pthread_mutex_t) -> Result<Acquired> {
    use crate::os::clock::{monotonic_ns, realtime_ns, timespec_of_ns};
    let wait = LOCK_WAIT.with(|w| w.get());
    let start = monotonic_ns();
    let (give_up_at, busy) = match wait {
        LockWait::Bounded => (start + BOUND_NS, Errno::EAGAIN),
        LockWait::Until(deadline) => (start + deadline.saturating_sub(realtime_ns()) + BOUND_NS, Errno::ETIMEDOUT),
        LockWait::AsLongAsHeld => (u64::MAX, Errno::EAGAIN),
    };
    let word = lock_word(m);
    // The lock word last found impossible: corruption once it is found so again, unchanged.
    let mut suspect = None;
    loop {
        let slice_end = monotonic_ns().saturating_add(SLICE_NS).min(give_up_at);
        let until = timespec_of_ns(slice_end);
        if !sound(m) {
            return Err(Errno::EIO);
        }
        // SAFETY: `m` per the caller; `until` is a valid timespec.
        match unsafe { pthread_mutex_clocklock(m, libc::CLOCK_MONOTONIC, &until) } {
            0 => return Ok(Acquired::Clean),
            libc::EOWNERDEAD => return Ok(Acquired::OwnerDied),
            libc::ETIMEDOUT => {}
            e => return Err(lock_error(e)),
        }
        let seen = word.load(Ordering::Acquire);
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
            // A holder that is merely waiting for a CPU (preempted inside its critical section:
            // common on a busy machine) lets go within microseconds of running: worth waiting
            // for, a while longer. A stopped (or sleeping) one is not.
            if now < give_up_at.saturating_add(PREEMPTED_HOLDER_NS) && owner_is_runnable(seen) {
                continue;
            }
            return Err(busy);
        }
    }
}

/// How much longer than its [`LockWait`] a call waits for a holder that is runnable, not
/// stopped: one that was preempted (or, if hostile, keeps the lock while it runs).
pub const PREEMPTED_HOLDER_NS: u64 = 200_000_000;

/// Whether the thread that the lock word `word` names is running or waiting for a CPU
/// (`R` in `/proc/TID/stat`), or the word names nobody now (the lock is changing hands).
fn owner_is_runnable(word: i32) -> bool {
    let tid = word as u32 & TID_MASK;
    if tid == 0 {
        return true;
    }
    let Ok(stat) = crate::os::files::read_small_file(std::path::Path::new(&format!("/proc/{tid}/stat")), 1024) else { return false };
    // The state follows the command name, which is in parentheses and may hold anything.
    stat.rfind(')').and_then(|i| stat[i..].chars().nth(2)) == Some('R')
}

/// The bits of a robust mutex's lock word that hold its owner's tid (the kernel's
/// FUTEX_TID_MASK), and the two flags around them.
const TID_MASK: u32 = 0x3fff_ffff;
const OWNER_DIED: u32 = 0x4000_0000;

/// The kernel's `PID_MAX_LIMIT` on 64-bit: no tid is larger.
const PID_MAX_LIMIT: u32 = 4 * 1024 * 1024;

/// Whether the lock word `word` names an owner that cannot hold it: a tid no thread can have
/// or has, or no owner with bits set that only an owner's lock sets. A free word (0), or one
/// a dead owner left (OWNER_DIED), is possible.
///
/// A live thread of another pid namespace would be taken for none: the processes sharing a
/// namespace directory must share a pid namespace (tids are what the robust futex protocol
/// records anyway).
pub fn owner_is_impossible(word: i32) -> bool {
    let word = word as u32;
    let tid = word & TID_MASK;
    if tid == 0 {
        return word != 0 && word & OWNER_DIED == 0;
    }
    if tid > PID_MAX_LIMIT {
        return true;
    }
    // SAFETY: signal 0 only checks that the thread exists (EPERM: it does, another user's).
    let rc = unsafe { libc::kill(tid as libc::pid_t, 0) };
    rc != 0 && Errno::last() == Errno::ESRCH
}

/// A lock that cannot be taken: ENOTRECOVERABLE (a repair was abandoned) or a corrupt mutex.
fn lock_error(e: i32) -> Errno {
    let _ = e;
    Errno::EIO
}

/// Unlocks `m`.
///
/// # Safety
/// The calling thread holds `m`.
pub unsafe fn unlock(m: *mut libc::pthread_mutex_t) {
    restore_kind(m);
    // SAFETY: per the caller.
    unsafe { libc::pthread_mutex_unlock(m) };
}

/// Declares the data protected by `m` repaired after `Acquired::OwnerDied`.
///
/// # Safety
/// The calling thread holds `m`, acquired with `OwnerDied`.
pub unsafe fn mark_consistent(m: *mut libc::pthread_mutex_t) {
    restore_kind(m);
    // SAFETY: per the caller.
    unsafe { libc::pthread_mutex_consistent(m) };
}

/// What a probe of a waiter's life lock found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Its owner holds it: alive.
    Alive,
    /// Its owner died holding it (now held by the caller, consistent, and must be unlocked).
    Dead,
    /// Nobody held it (now held by the caller, and must be unlocked).
    Unheld,
}

/// Probes whether the thread holding `m` is alive, without blocking and without a system call
/// when it is.
///
/// # Safety
/// `m` is an initialised robust mutex in mapped memory.
pub unsafe fn probe(m: *mut libc::pthread_mutex_t) -> Liveness {
    // A corrupt mutex is unusable: like a live owner (see below).
    if !sound(m) {
        return Liveness::Alive;
    }
    // SAFETY: per the caller.
    match unsafe { libc::pthread_mutex_trylock(m) } {
        0 => Liveness::Unheld,
        libc::EOWNERDEAD => {
            restore_kind(m);
            // SAFETY: we hold it now, acquired with EOWNERDEAD.
            unsafe { libc::pthread_mutex_consistent(m) };
            Liveness::Dead
        }
        // EBUSY: held by a live thread. EDEADLK cannot happen (not error-checking); anything else
        // means the lock word is unusable, which the caller treats like a live owner.
        _ => Liveness::Alive,
    }
}

#[cfg(test)]
mod tests;
