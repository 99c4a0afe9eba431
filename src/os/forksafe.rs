//! Process-local locks that survive `fork`.
//!
//! A lock held by another thread at the instant of `fork` stays held forever in the child,
//! where that thread does not exist. Every process-local lock mqshim has is a [`ForkSafe`],
//! and all of them are taken by one `pthread_atfork` prepare handler (in the order they were
//! first used) and released after the fork in parent and child (socket_wrapper's
//! `SWRAP_LOCK_ALL`). A value may also ask to be reset in the child.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// A spin lock around a value, registered for fork handling on first use.
pub struct ForkSafe<T> {
    busy: AtomicBool,
    registered: Once,
    /// Called in the child after fork, with the lock held, to reset process-specific content.
    child_reset: Option<fn(&mut T)>,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through `with`, which holds the lock.
unsafe impl<T: Send> Sync for ForkSafe<T> {}

/// The registered locks (as type-erased handlers), fixed capacity so registering never
/// allocates.
const MAX_LOCKS: usize = 16;
struct Entry {
    lock: fn(usize),
    unlock: fn(usize, bool),
    addr: usize,
}
static COUNT: AtomicUsize = AtomicUsize::new(0);
static mut ENTRIES: [Option<Entry>; MAX_LOCKS] = [const { None }; MAX_LOCKS];
static ATFORK: Once = Once::new();
static REGISTER: AtomicBool = AtomicBool::new(false);

extern "C" fn prepare() {
    for i in 0..COUNT.load(Ordering::Acquire) {
        // SAFETY: entries below COUNT were fully written before COUNT was raised.
        if let Some(e) = unsafe { (*std::ptr::addr_of!(ENTRIES))[i].as_ref() } {
            (e.lock)(e.addr);
        }
    }
}

fn release(child: bool) {
    for i in (0..COUNT.load(Ordering::Acquire)).rev() {
        // SAFETY: as in `prepare`.
        if let Some(e) = unsafe { (*std::ptr::addr_of!(ENTRIES))[i].as_ref() } {
            (e.unlock)(e.addr, child);
        }
    }
}

extern "C" fn parent() {
    release(false);
}

extern "C" fn child() {
    release(true);
}

impl<T: 'static> ForkSafe<T> {
    pub const fn new(value: T, child_reset: Option<fn(&mut T)>) -> ForkSafe<T> {
        ForkSafe { busy: AtomicBool::new(false), registered: Once::new(), child_reset, value: UnsafeCell::new(value) }
    }

    fn acquire(&self) {
        while self.busy.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
            std::thread::yield_now();
        }
    }

    fn lock_at(addr: usize) {
        // SAFETY: addr is the address of a 'static ForkSafe<T> registered below.
        unsafe { &*(addr as *const ForkSafe<T>) }.acquire();
    }

    fn unlock_at(addr: usize, in_child: bool) {
        // SAFETY: as in lock_at; the lock is held (taken in prepare).
        let this = unsafe { &*(addr as *const ForkSafe<T>) };
        if in_child {
            if let Some(reset) = this.child_reset {
                // SAFETY: the lock is held, so this is the only reference to the value.
                reset(unsafe { &mut *this.value.get() });
            }
        }
        this.busy.store(false, Ordering::Release);
    }

    /// Runs `f` with the value, under the lock. `f` must not call back into the same lock.
    pub fn with<R>(&'static self, f: impl FnOnce(&mut T) -> R) -> R {
        self.registered.call_once(|| self.register());
        self.acquire();
        // SAFETY: the lock is held, so this is the only reference to the value.
        let r = f(unsafe { &mut *self.value.get() });
        self.busy.store(false, Ordering::Release);
        r
    }

    /// Runs `f` with the value if the lock is free at once, else None: for an exit handler,
    /// which must not wait for a thread that may never run again.
    pub fn try_with<R>(&'static self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.registered.call_once(|| self.register());
        if self.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return None;
        }
        // SAFETY: the lock is held, so this is the only reference to the value.
        let r = f(unsafe { &mut *self.value.get() });
        self.busy.store(false, Ordering::Release);
        Some(r)
    }

    fn register(&'static self) {
        while REGISTER.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
        let n = COUNT.load(Ordering::Acquire);
        if n < MAX_LOCKS {
            // SAFETY: registration is serialised by REGISTER; slot n is not yet visible to the
            // fork handlers (COUNT is raised after it is written).
            unsafe {
                (*std::ptr::addr_of_mut!(ENTRIES))[n] = Some(Entry { lock: Self::lock_at, unlock: Self::unlock_at, addr: self as *const Self as usize });
            }
            COUNT.store(n + 1, Ordering::Release);
        }
        REGISTER.store(false, Ordering::Release);
        ATFORK.call_once(|| {
            // SAFETY: registers plain extern "C" handlers.
            unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        });
    }
}
