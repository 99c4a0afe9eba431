//! Process-shared robust mutexes in shared memory.
//!
//! glibc owns the robust futex list (never call `set_robust_list` yourself): a mutex made with
//! `PTHREAD_MUTEX_ROBUST` is on it, so when its owner dies the kernel marks it and the next
//! locker gets `EOWNERDEAD` — and must repair what the dead owner left half-done before calling
//! `pthread_mutex_consistent`. Lockers spin briefly on `trylock` before sleeping, since queue
//! critical sections are short.

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

/// Polls of the lock word before blocking in the kernel.
pub const SPIN_TRIES: u32 = 2000;

/// The lock word of a glibc mutex: its first int, the owner's tid for a robust mutex (plus the
/// FUTEX_WAITERS / FUTEX_OWNER_DIED bits), 0 when free.
fn lock_word(m: *mut libc::pthread_mutex_t) -> &'static std::sync::atomic::AtomicI32 {
    const _: () = assert!(std::mem::align_of::<libc::pthread_mutex_t>() >= std::mem::align_of::<std::sync::atomic::AtomicI32>());
    // SAFETY: glibc's pthread_mutex_t begins with `int __lock`, which the kernel and glibc update
    // atomically; reading it atomically is what glibc's own spinning does. The mutex lives in a
    // mapping that outlives the call.
    unsafe { &*(m as *const std::sync::atomic::AtomicI32) }
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
    let word = lock_word(m);
    for _ in 0..tries {
        let v = word.load(std::sync::atomic::Ordering::Relaxed);
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
    match unsafe { libc::pthread_mutex_lock(m) } {
        0 => Ok(Acquired::Clean),
        libc::EOWNERDEAD => Ok(Acquired::OwnerDied),
        e => Err(lock_error(e)),
    }
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
    // SAFETY: per the caller.
    unsafe { libc::pthread_mutex_unlock(m) };
}

/// Declares the data protected by `m` repaired after `Acquired::OwnerDied`.
///
/// # Safety
/// The calling thread holds `m`, acquired with `OwnerDied`.
pub unsafe fn mark_consistent(m: *mut libc::pthread_mutex_t) {
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
    // SAFETY: per the caller.
    match unsafe { libc::pthread_mutex_trylock(m) } {
        0 => Liveness::Unheld,
        libc::EOWNERDEAD => {
            // SAFETY: we hold it now, acquired with EOWNERDEAD.
            unsafe { libc::pthread_mutex_consistent(m) };
            Liveness::Dead
        }
        // EBUSY: held by a live thread. EDEADLK cannot happen (not error-checking); anything else
        // means the lock word is unusable, which the caller treats like a live owner.
        _ => Liveness::Alive,
    }
}
