//! SIGBUS containment: a segment file that someone truncates (any user who may write it can)
//! or that a full tmpfs cannot back makes every access past its end raise SIGBUS, which would
//! kill every process that has it mapped. Instead:
//!
//! - every segment mapping mqshim makes is listed in a fixed table ([`register`]): base, length
//!   and state, lock-free and readable from a signal handler;
//! - a SIGBUS handler, installed when the first segment is mapped (the previous action saved),
//!   looks the faulting address up: inside a listed mapping, it replaces the *whole* mapping in
//!   place with zero-filled private anonymous memory (`mmap(MAP_FIXED)` is a plain system call,
//!   async-signal-safe), marks it poisoned and returns, so the access re-executes on zeros;
//!   anywhere else it hands the signal on exactly as if mqshim had never installed one, to the
//!   program's own action (`os::owned_signals`: the one it had, or set since through the
//!   interposed `sigaction`, `signal`, ...; a default action is restored and the signal raised
//!   again, so the process dies as it would have);
//! - the operation that used the mapping then fails with EIO: the emulation backend checks, in
//!   one place, before each call whether the call's queue is poisoned and after it whether a
//!   poisoning happened meanwhile ([`poisonings`]); the sleep loop stops sleeping on a poisoned
//!   word ([`poisoned_at`]).
//!
//! A poisoned queue is not recovered: its file is damaged for every process, and each call on
//! it fails with EIO until it is removed (a new queue of the same name is a new file). A
//! poisoned mapping's address range stays reserved (zero-filled, never unmapped) when the
//! mapping is dropped: a robust mutex in it may still be linked into a thread's robust-futex
//! list, which glibc walks and writes; the file's memory itself is released.
//!
//! A SIGBUS the faulting thread blocks is not delivered: the kernel kills the process instead.
//! Programs commonly block every signal in worker threads (`sigfillset` + `pthread_sigmask`),
//! so mqshim's calls run with SIGBUS deliverable ([`deliverable`]): a thread whose mask blocks
//! it has it unblocked for the call and its mask put back after. The library keeps, per
//! thread, whether the mask blocks SIGBUS (read once from the kernel, then followed through
//! the interposed `sigprocmask`, `pthread_sigmask` and raw `rt_sigprocmask`: [`mask_changed`]),
//! and looks at all only once some thread may block it (blocked through those functions, or
//! by the mask of the thread that mapped the first segment): until then a call pays one load.
//!
//! Limitations: the containment lasts only while mqshim's handler is the process's SIGBUS
//! action (a program's SIGBUS handler set with a raw `rt_sigaction` replaces it and gets the
//! signal itself); and a mask changed past those functions
//! (`siglongjmp`'s restore, a handler's `sa_mask`, an inline system call) is not seen, so a
//! call made under such a mask that blocks SIGBUS is not contained.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Once;

use crate::errno::{Errno, Result};
use crate::os::owned_signals;

/// How many segment mappings a process can have at once (a POSIX descriptor holds one, a System
/// V queue one per growth of its file, a namespace one registry). Beyond it mapping fails with
/// ENOMEM rather than go unprotected.
pub const CAPACITY: usize = 16384;

/// An entry's state.
mod state {
    /// Unused.
    pub const FREE: u32 = 0;
    /// Being filled in by [`super::register`]: the handler ignores it.
    pub const CLAIMED: u32 = 1;
    /// A live file mapping.
    pub const LIVE: u32 = 2;
    /// The handler is replacing it.
    pub const POISONING: u32 = 3;
    /// Replaced by zeros: every use of it fails with EIO.
    pub const POISONED: u32 = 4;
}

struct Entry {
    base: AtomicUsize,
    len: AtomicUsize,
    state: AtomicU32,
}

#[allow(clippy::declare_interior_mutable_const)]
const UNUSED: Entry = Entry { base: AtomicUsize::new(0), len: AtomicUsize::new(0), state: AtomicU32::new(state::FREE) };

static TABLE: [Entry; CAPACITY] = [UNUSED; CAPACITY];
/// One past the highest entry ever used: the handler scans no further.
static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);
/// The entry freed last: where [`register`] looks first.
static LAST_FREED: AtomicUsize = AtomicUsize::new(0);
/// How many mappings were poisoned in this process so far.
static POISONINGS: AtomicU32 = AtomicU32::new(0);
static INSTALL: Once = Once::new();

/// A registered mapping's place in the table.
#[derive(Debug)]
pub struct Registration(usize);

impl Registration {
    /// Whether the handler replaced this mapping by zeros (a plain load).
    pub fn poisoned(&self) -> bool {
        TABLE[self.0].state.load(Ordering::Acquire) >= state::POISONING
    }
}

/// Lists the mapping `[base, base + len)` (installing the handler first, once per process).
/// ENOMEM when the table is full.
pub fn register(base: *mut u8, len: usize) -> Result<Registration> {
    INSTALL.call_once(install);
    // The entry freed last, then the never-used ones, then all: O(1) unless the table is busy.
    let (freed, high) = (LAST_FREED.load(Ordering::Relaxed), HIGH_WATER.load(Ordering::Relaxed));
    for i in std::iter::once(freed).chain(high..CAPACITY).chain(0..high) {
        let e = &TABLE[i];
        if e.state.load(Ordering::Relaxed) == state::FREE && e.state.compare_exchange(state::FREE, state::CLAIMED, Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            e.base.store(base as usize, Ordering::Relaxed);
            e.len.store(len, Ordering::Relaxed);
            HIGH_WATER.fetch_max(i + 1, Ordering::AcqRel);
            e.state.store(state::LIVE, Ordering::Release);
            return Ok(Registration(i));
        }
    }
    Err(Errno::ENOMEM)
}

/// Removes a mapping from the table (before it is unmapped); says whether it had been poisoned,
/// in which case its range must stay mapped (see the module documentation).
pub fn unregister(r: Registration) -> bool {
    let e = &TABLE[r.0];
    let was = e.state.swap(state::CLAIMED, Ordering::AcqRel);
    e.base.store(0, Ordering::Relaxed);
    e.len.store(0, Ordering::Relaxed);
    e.state.store(state::FREE, Ordering::Release);
    LAST_FREED.store(r.0, Ordering::Relaxed);
    was >= state::POISONING
}

/// How many mappings were poisoned in this process so far: a call that sees this change while
/// it ran asks whether its own queue was one of them.
pub fn poisonings() -> u32 {
    POISONINGS.load(Ordering::Acquire)
}

/// Whether `addr` lies in a poisoned mapping (a scan of the table, made only once some mapping
/// was poisoned in this process).
pub fn poisoned_at(addr: usize) -> bool {
    poisonings() != 0
        && TABLE[..HIGH_WATER.load(Ordering::Acquire)].iter().any(|e| {
            let base = e.base.load(Ordering::Relaxed);
            e.state.load(Ordering::Acquire) >= state::POISONING && addr >= base && addr - base < e.len.load(Ordering::Relaxed)
        })
}

thread_local! {
    /// Whether this thread's signal mask blocks SIGBUS; None until read from the kernel.
    static SIGBUS_BLOCKED: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// The calling thread's signal mask, by the raw system call (the library's own
/// `sigprocmask` would report its view of it); `set`/`how` as rt_sigprocmask takes them.
fn thread_mask(how: libc::c_int, set: Option<&libc::sigset_t>) -> Option<libc::sigset_t> {
    // SAFETY: sigset_t is plain data, filled by the call.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    let set = set.map_or(std::ptr::null(), |s| s as *const libc::sigset_t);
    // SAFETY: valid (or null) set pointers and the kernel's sigset size (8 bytes on Linux).
    let rc = unsafe { libc::syscall(libc::SYS_rt_sigprocmask, how, set, &mut old as *mut libc::sigset_t, 8usize) };
    (rc == 0).then_some(old)
}

/// Whether the calling thread's mask blocks SIGBUS (read from the kernel once per thread).
fn sigbus_blocked() -> bool {
    SIGBUS_BLOCKED
        .try_with(|b| {
            b.get().unwrap_or_else(|| {
                // SAFETY: a sigset_t read by sigismember.
                let blocked = thread_mask(libc::SIG_BLOCK, None).is_some_and(|m| unsafe { libc::sigismember(&m, libc::SIGBUS) } == 1);
                b.set(Some(blocked));
                blocked
            })
        })
        .unwrap_or(false)
}

/// Whether any thread of the process may block SIGBUS: set when the program blocks it through
/// an interposed function ([`mask_changed`]) or when the thread that maps the first segment
/// already blocks it (a mask inherited across `exec`). Until then a call pays one load.
static MAY_BLOCK: AtomicBool = AtomicBool::new(false);

/// Runs `f` (a call of mqshim's that touches segments) with SIGBUS deliverable in this
/// thread: when the thread's mask blocks it, it is unblocked for `f` and the mask put back
/// after, so a truncated segment is contained (EIO) rather than fatal.
#[inline(always)]
pub fn deliverable<R>(f: impl FnOnce() -> R) -> R {
    if !MAY_BLOCK.load(Ordering::Relaxed) || !sigbus_blocked() {
        return f();
    }
    deliverable_slow(f)
}

#[cold]
#[inline(never)]
fn deliverable_slow<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: sigset_t is plain data, made {SIGBUS} by sigemptyset and sigaddset.
    let only_sigbus = unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        libc::sigaddset(&mut s, libc::SIGBUS);
        s
    };
    let before = thread_mask(libc::SIG_UNBLOCK, Some(&only_sigbus));
    let result = f();
    if let Some(before) = before {
        thread_mask(libc::SIG_SETMASK, Some(&before));
    }
    result
}

/// The program changed the calling thread's mask (`how` and `set` as `sigprocmask` took them,
/// after the change succeeded): whether it blocks SIGBUS is known again.
pub fn mask_changed(how: libc::c_int, set: &libc::sigset_t) {
    // SAFETY: a sigset_t read by sigismember.
    let names = unsafe { libc::sigismember(set, libc::SIGBUS) } == 1;
    if names && how != libc::SIG_UNBLOCK {
        MAY_BLOCK.store(true, Ordering::Relaxed);
    }
    let _ = SIGBUS_BLOCKED.try_with(|b| match how {
        libc::SIG_SETMASK => b.set(Some(names)),
        libc::SIG_BLOCK if names => b.set(Some(true)),
        libc::SIG_UNBLOCK if names => b.set(Some(false)),
        _ => {}
    });
}

fn install() {
    // A mask that blocks SIGBUS from before the library saw any (inherited across exec).
    if sigbus_blocked() {
        MAY_BLOCK.store(true, Ordering::Relaxed);
    }
    // SAFETY: an all-zero sigaction is a valid value (an empty mask), then filled in.
    let mut ours: libc::sigaction = unsafe { std::mem::zeroed() };
    ours.sa_sigaction = on_sigbus as *const () as usize;
    ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // Refused: the program's action stays, uncontained (mappings are still made).
    let _ = owned_signals::take(libc::SIGBUS, &ours);
}

/// The SIGBUS handler. Only async-signal-safe work: atomics, `mmap`, `sigaction`, `raise`.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    // Only a fault names an address: a SIGBUS sent by kill or sigqueue (a code <= 0) is not
    // mqshim's, whatever its fields hold.
    if code <= 0 {
        pass_on(sig, info, context);
        return;
    }
    let high = HIGH_WATER.load(Ordering::Acquire);
    for e in &TABLE[..high] {
        let base = e.base.load(Ordering::Acquire);
        let len = e.len.load(Ordering::Acquire);
        if base == 0 || addr < base || addr - base >= len {
            continue;
        }
        match e.state.compare_exchange(state::LIVE, state::POISONING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                // SAFETY: [base, base + len) is a mapping of ours (LIVE in the table); replacing
                // it in place by private zeros keeps every pointer into it valid.
                let zeros = unsafe {
                    libc::mmap(
                        base as *mut libc::c_void,
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    )
                };
                if zeros == libc::MAP_FAILED {
                    break;
                }
                POISONINGS.fetch_add(1, Ordering::AcqRel);
                e.state.store(state::POISONED, Ordering::Release);
                return;
            }
            // Another thread is replacing it (the access faults again until it has) or has.
            Err(state::POISONING) | Err(state::POISONED) => return,
            Err(_) => continue,
        }
    }
    pass_on(sig, info, context);
}

/// Hands a SIGBUS that is not mqshim's to the program's own action: a fault (a code > 0)
/// cannot be ignored, as the kernel would not let it be.
fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel's siginfo for this signal.
    let forced = unsafe { (*info).si_code } > 0;
    // SAFETY: the kernel's arguments for this SIGBUS, from an SA_SIGINFO handler.
    unsafe { owned_signals::pass_on(sig, info, context, forced) }
}
