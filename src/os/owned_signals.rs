//! Signals whose real disposition is mqshim's, while the program goes on believing it owns
//! them: SIGSYS while the trap is installed (its handler serves trapped queue calls, see
//! `trap`) and SIGBUS once a segment is mapped (its handler contains truncated segments, see
//! `emu::engine::segment::containment`).
//!
//! Were the program's `sigaction(SIGBUS, ...)` to reach the kernel, it would replace mqshim's
//! handler: the next truncation of a queue by another user would then reach the program's
//! handler (or kill it) instead of failing a call with EIO. So the interposed `sigaction`,
//! `signal` and the other functions that set a disposition record the program's action here
//! ([`set_program_action`]) and report the one recorded ([`program_action`]), as the kernel
//! would have; mqshim's handler passes every signal that is not its own to that action
//! ([`pass_on`]), with the action's mask, SA_NODEFER and SA_RESETHAND honoured.
//!
//! A disposition set past those functions (a raw `rt_sigaction`) still replaces mqshim's
//! handler.

use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};

/// The program's recorded action for one owned signal.
struct Recorded {
    /// Whether mqshim's handler is the real one (set once it is installed).
    owned: AtomicBool,
    /// mqshim's handler and its flags, as installed.
    ours: AtomicUsize,
    our_flags: AtomicI32,
    /// `sa_sigaction` (or SIG_DFL / SIG_IGN).
    handler: AtomicUsize,
    flags: AtomicI32,
    /// Signals 1..=64 of `sa_mask` (bit `n - 1` for signal `n`), all the kernel keeps.
    mask: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const NOT_OWNED: Recorded = Recorded {
    owned: AtomicBool::new(false),
    ours: AtomicUsize::new(libc::SIG_DFL),
    our_flags: AtomicI32::new(0),
    handler: AtomicUsize::new(libc::SIG_DFL),
    flags: AtomicI32::new(0),
    mask: AtomicU64::new(0),
};

/// SIGSYS's record, then SIGBUS's.
static RECORDS: [Recorded; 2] = [NOT_OWNED; 2];

fn record(signum: c_int) -> Option<&'static Recorded> {
    match signum {
        libc::SIGSYS => Some(&RECORDS[0]),
        libc::SIGBUS => Some(&RECORDS[1]),
        _ => None,
    }
}

/// Whether mqshim's handler is `signum`'s real one, so that the program's action is the one
/// recorded here.
pub fn owned(signum: c_int) -> bool {
    record(signum).is_some_and(|r| r.owned.load(Ordering::Acquire))
}

/// Makes `ours` (mqshim's handler, through the real `sigaction`) `signum`'s real action; the
/// action it replaces becomes the program's recorded one, and `signum` owned. The errno when
/// the kernel refuses (nothing changes then). (`signum` is SIGSYS or SIGBUS.)
pub fn take(signum: c_int, ours: &libc::sigaction) -> crate::errno::Result<()> {
    let Some(r) = record(signum) else { return Err(crate::errno::Errno::EINVAL) };
    // SAFETY: an all-zero sigaction is valid storage for the previous action.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to the two actions. This also binds the real `sigaction`, so
    // that `pass_on` never resolves it from a signal handler.
    if unsafe { crate::real::sigaction(signum, ours, &mut previous) } != 0 {
        return Err(crate::errno::Errno::last());
    }
    r.ours.store(ours.sa_sigaction, Ordering::Release);
    r.our_flags.store(ours.sa_flags, Ordering::Release);
    store(r, &previous);
    r.owned.store(true, Ordering::Release);
    Ok(())
}

/// The program set `act` for `signum` through the real `sigaction` while `signum` was not
/// owned, and it is owned now (mqshim's handler was installed meanwhile, by another thread):
/// `act` may have replaced mqshim's handler, so mqshim's is put back and `act` recorded.
pub fn retake(signum: c_int, act: &libc::sigaction) {
    let Some(r) = record(signum) else { return };
    // SAFETY: an all-zero sigaction is a valid value, then given mqshim's handler and flags.
    let mut ours: libc::sigaction = unsafe { std::mem::zeroed() };
    ours.sa_sigaction = r.ours.load(Ordering::Acquire);
    ours.sa_flags = r.our_flags.load(Ordering::Acquire);
    // SAFETY: a valid action.
    unsafe { crate::real::sigaction(signum, &ours, std::ptr::null_mut()) };
    store(r, act);
}

/// mqshim's handler is no longer `signum`'s real action (it could not be made so after all).
pub fn give_back(signum: c_int) {
    if let Some(r) = record(signum) {
        r.owned.store(false, Ordering::Release);
    }
}

/// The program's action for an owned `signum`, as `sigaction` reports one (SIG_DFL for a
/// signal that is not owned).
pub fn program_action(signum: c_int) -> libc::sigaction {
    // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, no flags, empty mask).
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    if let Some(r) = record(signum) {
        act.sa_sigaction = r.handler.load(Ordering::Acquire);
        act.sa_flags = r.flags.load(Ordering::Acquire);
        set_mask_word(&mut act.sa_mask, r.mask.load(Ordering::Acquire));
    }
    act
}

/// Records `act` as the program's action for `signum` (mqshim's handler stays the real one).
pub fn set_program_action(signum: c_int, act: &libc::sigaction) {
    if let Some(r) = record(signum) {
        store(r, act);
    }
}

fn store(r: &Recorded, act: &libc::sigaction) {
    r.flags.store(act.sa_flags, Ordering::Release);
    r.mask.store(mask_word(&act.sa_mask), Ordering::Release);
    r.handler.store(act.sa_sigaction, Ordering::Release);
}

/// Signals 1..=64 of `set`: the first eight bytes of glibc's `sigset_t`, which the kernel
/// reads as its mask.
fn mask_word(set: &libc::sigset_t) -> u64 {
    // SAFETY: sigset_t is at least eight bytes of plain data.
    unsafe { std::ptr::read_unaligned((set as *const libc::sigset_t).cast::<u64>()) }
}

fn set_mask_word(set: &mut libc::sigset_t, word: u64) {
    // SAFETY: as for `mask_word`.
    unsafe { std::ptr::write_unaligned((set as *mut libc::sigset_t).cast::<u64>(), word) }
}

/// The set of signals 1..=64 whose bits (bit `n - 1` for signal `n`) `word` has, as a
/// `sigset_t`.
pub fn sigset_of(word: u64) -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is empty; its first word is then set.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    set_mask_word(&mut set, word);
    set
}

/// Hands `signum` (delivered to mqshim's handler, not mqshim's own) to the program's recorded
/// action, from that handler: a handler is called with its mask applied (the action's
/// `sa_mask`, and `signum` itself unless SA_NODEFER; SIGSYS never while it is owned) and reset
/// to SIG_DFL first under SA_RESETHAND; SIG_IGN ignores it unless it is `forced` (a fault, or
/// a seccomp filter's SIGSYS, which the kernel would not let be ignored); the default action
/// is the real one restored and the signal raised again, so the process ends as it would have
/// without mqshim. Async-signal-safe: atomics, `rt_sigprocmask`, `sigaction`, `raise`.
///
/// # Safety
/// The kernel's arguments for `signum`, from a handler installed with SA_SIGINFO.
pub unsafe fn pass_on(signum: c_int, info: *mut libc::siginfo_t, context: *mut c_void, forced: bool) {
    let Some(r) = record(signum) else { return };
    let handler = r.handler.load(Ordering::Acquire);
    let flags = r.flags.load(Ordering::Acquire);
    let mask = r.mask.load(Ordering::Acquire);
    let handled = handler != libc::SIG_DFL && handler != libc::SIG_IGN;
    if handled && flags & libc::SA_RESETHAND != 0 {
        r.handler.store(libc::SIG_DFL, Ordering::Release);
        r.flags.store(0, Ordering::Release);
        r.mask.store(0, Ordering::Release);
    }
    if handler == libc::SIG_IGN && !forced {
        return;
    }
    if !handled {
        // SAFETY: an all-zero sigaction is SIG_DFL; restoring it and raising the signal again
        // are async-signal-safe. The raised signal is delivered once this handler returns (or
        // at once where it is not blocked), and a fault re-executes into the default action.
        unsafe {
            let default: libc::sigaction = std::mem::zeroed();
            crate::real::sigaction(signum, &default, std::ptr::null_mut());
            libc::raise(signum);
        }
        return;
    }
    let bit = |s: c_int| 1u64 << (s - 1);
    let mut block = mask;
    if flags & libc::SA_NODEFER == 0 {
        block |= bit(signum);
    }
    if owned(libc::SIGSYS) {
        block &= !bit(libc::SIGSYS);
    }
    thread_mask(libc::SIG_BLOCK, block);
    if flags & libc::SA_NODEFER != 0 {
        thread_mask(libc::SIG_UNBLOCK, bit(signum));
    }
    if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the program set this address as a three-argument handler for `signum`.
        let f = unsafe { std::mem::transmute::<usize, extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void)>(handler) };
        f(signum, info, context);
    } else {
        // SAFETY: the program set this address as a one-argument handler for `signum`.
        let f = unsafe { std::mem::transmute::<usize, extern "C" fn(c_int)>(handler) };
        f(signum);
    }
    // The mask the handler was entered with comes back with the return from the signal.
}

/// Blocks or unblocks the signals of `word` in the calling thread, by the raw system call.
fn thread_mask(how: c_int, word: u64) {
    let set = sigset_of(word);
    // SAFETY: a valid set, no old set wanted, the kernel's sigset size (8 bytes on Linux).
    unsafe { libc::syscall(libc::SYS_rt_sigprocmask, how, &set as *const libc::sigset_t, std::ptr::null_mut::<libc::sigset_t>(), 8usize) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the program sets for an owned signal is what it reads back, mask included; a
    /// signal mqshim does not own reads as the default.
    #[test]
    fn the_program_reads_back_what_it_set() {
        // SAFETY: an all-zero sigaction is valid; then filled in.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = 0x1234;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_RESETHAND;
        // SAFETY: a valid set and signal numbers.
        unsafe {
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaddset(&mut act.sa_mask, libc::SIGUSR1);
            libc::sigaddset(&mut act.sa_mask, libc::SIGRTMIN() + 3);
        }
        set_program_action(libc::SIGBUS, &act);
        let got = program_action(libc::SIGBUS);
        assert_eq!((got.sa_sigaction, got.sa_flags), (0x1234, libc::SA_SIGINFO | libc::SA_RESETHAND));
        // SAFETY: a valid set.
        let members = |s: &libc::sigset_t, sig| unsafe { libc::sigismember(s, sig) } == 1;
        assert!(members(&got.sa_mask, libc::SIGUSR1) && members(&got.sa_mask, libc::SIGRTMIN() + 3));
        assert!(!members(&got.sa_mask, libc::SIGUSR2));
        assert_eq!(program_action(libc::SIGUSR1).sa_sigaction, libc::SIG_DFL);
        assert!(!owned(libc::SIGUSR1));
        // Back to the default for the other tests of this process.
        // SAFETY: an all-zero sigaction is SIG_DFL.
        set_program_action(libc::SIGBUS, &unsafe { std::mem::zeroed() });
    }
}
