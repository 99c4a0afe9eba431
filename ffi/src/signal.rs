//! `<signal.h>` and the trap's entry point (`MQSHIM_SYSCALLS=trap`, see the core's `trap`).
//!
//! At load, when the variable asks for the trap, the library installs its SIGSYS handler and
//! the seccomp filter (the one thing done in a constructor: the program's first raw queue call
//! may come before any library call). The handler is the third way into `dispatch`, beside the
//! queue functions and mqshim's own API; it writes the call's value into the interrupted RAX.
//!
//! The handler owns the real SIGSYS disposition from then on, as the segments' containment owns
//! SIGBUS's once a segment is mapped (`os::owned_signals`): `sigaction`, `signal` and the other
//! functions that set a disposition (`bsd_signal`, `ssignal`, `sysv_signal`, `__sysv_signal`,
//! `sigset`, `sigignore`, `siginterrupt`) on such a signal record the program's action instead,
//! and a SIGSYS that is not a trapped queue call (the program's own seccomp filter's, or one
//! sent with kill), like a SIGBUS outside mqshim's mappings, goes to it. SIGSYS also stays
//! unblocked: a trapped call in a thread that blocks it would be killed (the kernel's rule for a
//! signal a filter forces), so `sigprocmask`, `pthread_sigmask`, `sighold`, `sigset(SIG_HOLD)`, `sigblock`,
//! `sigsetmask`, a `syscall(SYS_rt_sigprocmask, ...)`, the masks of other signals' handlers
//! and those `sigsuspend`, `ppoll`, `pselect`, `epoll_pwait` and `epoll_pwait2` wait with leave
//! it out.

use std::os::raw::{c_int, c_long, c_void};

use libc::{sighandler_t, siginfo_t};

use crate::errno;
use crate::os::owned_signals;
use crate::real;
use crate::reentry::Inside;
use crate::trap::{self, SyscallArgs};

#[used]
#[link_section = ".init_array"]
static AT_LOAD: extern "C" fn() = at_load;

/// Installs the trap if `MQSHIM_SYSCALLS=trap` (reporting on stderr why not, if it cannot be).
extern "C" fn at_load() {
    ffi_boundary!(trap::install_from_env(sigsys_action))
}

/// The SIGSYS action that makes [`on_sigsys`] the handler.
///
/// SA_SIGINFO for the registers; SA_NODEFER and an empty mask so that the mask while a trapped
/// call blocks is the program's at the call — its other signals interrupt the call as they
/// would interrupt the kernel's (EINTR, or a restart after an SA_RESTART handler), and a
/// trapped call made by one of its handlers meanwhile is served too (a blocked SIGSYS from a
/// filter would kill the process). No SA_ONSTACK: the handler runs on the stack the call was
/// made from, as the library function would have.
fn sigsys_action() -> libc::sigaction {
    // SAFETY: an all-zero sigaction is a valid value (an empty mask), then filled in.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = on_sigsys as *const () as sighandler_t;
    act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
    act
}

/// The SIGSYS handler: serves a trapped queue call, or hands the signal to the program's own
/// disposition.
extern "C" fn on_sigsys(signum: c_int, info: *mut siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel's siginfo for this signal.
    if !unsafe { trap::is_ours(info) } {
        // SAFETY: the kernel's arguments for this signal, passed on.
        unsafe { chain(signum, info, context) };
        return;
    }
    let saved_errno = errno::current();
    let from_library = Inside::active();
    // SAFETY: an SA_SIGINFO handler's siginfo and context.
    let call = unsafe { SyscallArgs::from_context(info, context) };
    // SAFETY: the registers of the trapped call, as the program set them.
    let value = ffi_boundary!(Some(unsafe { trap::serve(call, from_library) })).unwrap_or(-(crate::PANIC_ERRNO as i64));
    // SAFETY: the context is the interrupted thread's, restored by sigreturn: its RAX becomes
    // the system call's value.
    unsafe { (*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs[libc::REG_RAX as usize] = value };
    errno::set(saved_errno);
}

/// A SIGSYS that is not ours: what the program's own disposition says (a filter's, which the
/// kernel forces, is not ignorable).
///
/// # Safety
/// The kernel's arguments for a SIGSYS.
unsafe fn chain(signum: c_int, info: *mut siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel's siginfo.
    let forced = unsafe { (*info).si_code } == 1;
    // SAFETY: the kernel's arguments, from an SA_SIGINFO handler.
    unsafe { owned_signals::pass_on(signum, info, context, forced) }
}

/// `set` without SIGSYS, when the trap is installed and `set` (readable, with SIGSYS) would
/// block it; None: use `set` as it is.
pub(crate) fn without_sigsys(set: *const libc::sigset_t) -> Option<libc::sigset_t> {
    if !trap::installed() || set.is_null() {
        return None;
    }
    // SAFETY: a checked read: a bad pointer is left to the real function's EFAULT.
    let mut copy = unsafe { crate::os::usermem::checked_read(set) }?;
    // SAFETY: `copy` is a valid sigset_t.
    if unsafe { libc::sigismember(&copy, libc::SIGSYS) } != 1 {
        return None;
    }
    // SAFETY: as above.
    unsafe { libc::sigdelset(&mut copy, libc::SIGSYS) };
    Some(copy)
}

/// `int sigprocmask(int how, const sigset_t *set, sigset_t *oldset)`: as libc's, except that
/// under the trap SIGSYS is never blocked.
///
/// # Safety
/// As sigprocmask(2) requires.
#[no_mangle]
pub unsafe extern "C" fn sigprocmask(how: c_int, set: *const libc::sigset_t, oldset: *mut libc::sigset_t) -> c_int {
    let copy = if how == libc::SIG_UNBLOCK { None } else { without_sigsys(set) };
    let given = copy.as_ref().map_or(set, |c| c as *const libc::sigset_t);
    // SAFETY: the caller's arguments, the set possibly replaced by a valid copy.
    let rc = unsafe { real::sigprocmask(how, given, oldset) };
    // SAFETY: the kernel just read the set: it is valid.
    mask_changed(rc == 0, how, unsafe { set.as_ref() });
    rc
}

/// Tells the library which mask a successful change set (see `dispatch::signal_mask_changed`).
fn mask_changed(succeeded: bool, how: c_int, set: Option<&libc::sigset_t>) {
    if let (true, Some(set)) = (succeeded, set) {
        crate::dispatch::signal_mask_changed(how, set);
    }
}

/// `int pthread_sigmask(int how, const sigset_t *set, sigset_t *oldset)`: as libc's, except
/// that under the trap SIGSYS is never blocked.
///
/// # Safety
/// As pthread_sigmask(3) requires.
#[no_mangle]
pub unsafe extern "C" fn pthread_sigmask(how: c_int, set: *const libc::sigset_t, oldset: *mut libc::sigset_t) -> c_int {
    let copy = if how == libc::SIG_UNBLOCK { None } else { without_sigsys(set) };
    let given = copy.as_ref().map_or(set, |c| c as *const libc::sigset_t);
    // SAFETY: the caller's arguments, the set possibly replaced by a valid copy.
    let rc = unsafe { real::pthread_sigmask(how, given, oldset) };
    // SAFETY: the kernel just read the set: it is valid.
    mask_changed(rc == 0, how, unsafe { set.as_ref() });
    rc
}

/// `int sigsuspend(const sigset_t *mask)`: as libc's, except that under the trap the mask it
/// waits with never blocks SIGSYS (a handler that runs meanwhile may make a trapped call).
///
/// # Safety
/// As sigsuspend(2) requires.
#[no_mangle]
pub unsafe extern "C" fn sigsuspend(mask: *const libc::sigset_t) -> c_int {
    let copy = without_sigsys(mask);
    let mask = copy.as_ref().map_or(mask, |c| c as *const libc::sigset_t);
    // SAFETY: the caller's mask, possibly replaced by a valid copy.
    unsafe { real::sigsuspend(mask) }
}

/// `long syscall(long number, ...)`: libc's, except that under the trap a raw
/// `rt_sigprocmask` never blocks SIGSYS, as `sigprocmask` does not, and that a call changing
/// credentials makes mqshim's copies of them stale (see `credentials`). (`rt_sigtimedwait` and
/// `signalfd` block nothing; `rt_sigsuspend`, `ppoll` and the others made raw are not seen.)
///
/// Declared with six fixed arguments after the number: on x86_64 a variadic caller passes them
/// where a fixed-argument callee reads them (five registers and the stack slot glibc's own
/// `syscall` reads), whatever the call uses.
///
/// # Safety
/// As syscall(2) requires of the call `number` makes.
#[cfg(target_arch = "x86_64")]
#[no_mangle]
pub unsafe extern "C" fn syscall(number: c_long, a1: c_long, a2: c_long, a3: c_long, a4: c_long, a5: c_long, a6: c_long) -> c_long {
    let mut args = [a1, a2, a3, a4, a5, a6];
    let copy = if number == libc::SYS_rt_sigprocmask && a1 != libc::SIG_UNBLOCK as c_long { without_sigsys(a2 as *const libc::sigset_t) } else { None };
    if let Some(c) = copy.as_ref() {
        args[1] = c as *const libc::sigset_t as c_long;
    }
    // The library's own system calls come through here too (reading the filesystem ids with
    // setfsuid(-1), a supervisor taking on its caller's ids): only the program's count.
    let credentials = crate::credentials::changes_credentials(number, a1) && !Inside::active();
    if credentials {
        crate::os::creds::changing();
    }
    // SAFETY: the caller's call, its set possibly replaced by a valid copy that lives until
    // the call returns.
    let rc = unsafe { real::syscall(number, args) };
    if credentials {
        crate::os::creds::changing();
    }
    if number == libc::SYS_rt_sigprocmask {
        // SAFETY: the kernel just read the set (when the call succeeded): it is valid.
        mask_changed(rc == 0, a1 as c_int, unsafe { (a2 as *const libc::sigset_t).as_ref() });
    }
    rc
}

/// `int sigaction(int signum, const struct sigaction *act, struct sigaction *oldact)`: on a
/// signal whose real handler is mqshim's (SIGSYS under the trap, SIGBUS once a segment is
/// mapped: see `os::owned_signals`), the program's action is recorded (and reported) instead
/// of replacing mqshim's handler. Another signal's handler gets its mask without SIGSYS under
/// the trap.
///
/// # Safety
/// As sigaction(2) requires (a bad pointer gives EFAULT on an owned signal too).
#[no_mangle]
pub unsafe extern "C" fn sigaction(signum: c_int, act: *const libc::sigaction, oldact: *mut libc::sigaction) -> c_int {
    if !owned_signals::owned(signum) {
        let copy = if act.is_null() || !trap::installed() {
            None
        } else {
            // SAFETY: a checked read: a bad pointer is left to the real function's EFAULT.
            unsafe { crate::os::usermem::checked_read(act) }.and_then(|mut copy| {
                copy.sa_mask = without_sigsys(&copy.sa_mask)?;
                Some(copy)
            })
        };
        let given = copy.as_ref().map_or(act, |c| c as *const libc::sigaction);
        // SAFETY: the caller's arguments, the action possibly replaced by a valid copy.
        let rc = unsafe { real::sigaction(signum, given, oldact) };
        if rc == 0 && owned_signals::owned(signum) {
            // mqshim's handler was installed meanwhile (by another thread), and this action
            // may have replaced it.
            // SAFETY: the kernel just read the action: it is valid.
            if let Some(act) = unsafe { act.as_ref() } {
                owned_signals::retake(signum, act);
            }
        }
        return rc;
    }
    let previous = owned_signals::program_action(signum);
    let new = if act.is_null() {
        None
    } else {
        // SAFETY: a checked read: a bad pointer is reported, not followed.
        match unsafe { crate::os::usermem::checked_read(act) } {
            Some(a) => Some(a),
            None => {
                errno::set(libc::EFAULT);
                return -1;
            }
        }
    };
    // SAFETY: a checked write (see above).
    if !oldact.is_null() && !unsafe { crate::os::usermem::checked_write(oldact, &previous) } {
        errno::set(libc::EFAULT);
        return -1;
    }
    if let Some(a) = new {
        owned_signals::set_program_action(signum, &a);
    }
    0
}

/// A new handler of the program's for a signal whose real handler is mqshim's, set by one of
/// the `signal`-like functions with `flags` (their semantics): recorded as `sigaction` records
/// it, the previous handler returned (SIG_ERR and EINVAL for SIG_ERR, as glibc's). None: a
/// signal that is not owned — the real function serves it.
fn record_owned_handler(signum: c_int, handler: sighandler_t, flags: c_int) -> Option<sighandler_t> {
    if !owned_signals::owned(signum) {
        return None;
    }
    if handler == libc::SIG_ERR {
        errno::set(libc::EINVAL);
        return Some(libc::SIG_ERR);
    }
    let previous = owned_signals::program_action(signum).sa_sigaction;
    // SAFETY: an all-zero sigaction is valid.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler;
    act.sa_flags = flags;
    owned_signals::set_program_action(signum, &act);
    Some(previous)
}

/// `sighandler_t signal(int signum, sighandler_t handler)`: on a signal whose real handler is
/// mqshim's (see [`sigaction`]), records the program's handler (glibc's BSD semantics:
/// SA_RESTART) and returns the previous one.
///
/// # Safety
/// As signal(2) requires.
#[no_mangle]
pub unsafe extern "C" fn signal(signum: c_int, handler: sighandler_t) -> sighandler_t {
    // SAFETY: the caller's arguments, passed on.
    record_owned_handler(signum, handler, libc::SA_RESTART).unwrap_or_else(|| unsafe { real::signal(signum, handler) })
}

/// `sighandler_t bsd_signal(int signum, sighandler_t handler)`: glibc's `signal`, as
/// [`signal`].
///
/// # Safety
/// As signal(2) requires.
#[no_mangle]
pub unsafe extern "C" fn bsd_signal(signum: c_int, handler: sighandler_t) -> sighandler_t {
    // SAFETY: the caller's arguments, passed on.
    record_owned_handler(signum, handler, libc::SA_RESTART).unwrap_or_else(|| unsafe { real::bsd_signal(signum, handler) })
}

/// `sighandler_t ssignal(int signum, sighandler_t handler)`: glibc's `signal` too.
///
/// # Safety
/// As signal(2) requires.
#[no_mangle]
pub unsafe extern "C" fn ssignal(signum: c_int, handler: sighandler_t) -> sighandler_t {
    // SAFETY: the caller's arguments, passed on.
    record_owned_handler(signum, handler, libc::SA_RESTART).unwrap_or_else(|| unsafe { real::ssignal(signum, handler) })
}

/// The flags of System V's `signal`: the handler is reset when it runs, does not block its
/// signal, and does not restart calls.
const SYSV_SIGNAL_FLAGS: c_int = libc::SA_RESETHAND | libc::SA_NODEFER;

/// `sighandler_t sysv_signal(int signum, sighandler_t handler)`: on a signal whose real handler
/// is mqshim's, as [`signal`] with System V's one-shot semantics.
///
/// # Safety
/// As signal(2) requires.
#[no_mangle]
pub unsafe extern "C" fn sysv_signal(signum: c_int, handler: sighandler_t) -> sighandler_t {
    // SAFETY: the caller's arguments, passed on.
    record_owned_handler(signum, handler, SYSV_SIGNAL_FLAGS).unwrap_or_else(|| unsafe { real::sysv_signal(signum, handler) })
}

/// `sighandler_t __sysv_signal(int signum, sighandler_t handler)`: what `signal` is in a
/// program built with `-D_XOPEN_SOURCE` and no `_DEFAULT_SOURCE`; as [`sysv_signal`].
///
/// # Safety
/// As signal(2) requires.
#[no_mangle]
pub unsafe extern "C" fn __sysv_signal(signum: c_int, handler: sighandler_t) -> sighandler_t {
    // SAFETY: the caller's arguments, passed on.
    record_owned_handler(signum, handler, SYSV_SIGNAL_FLAGS).unwrap_or_else(|| unsafe { real::__sysv_signal(signum, handler) })
}

/// glibc's `SIG_HOLD` (`<signal.h>`; not in the libc crate): `sigset`'s "block the signal".
const SIG_HOLD: sighandler_t = 2;

/// `sighandler_t sigset(int signum, sighandler_t disposition)`: on a signal whose real handler
/// is mqshim's, a disposition is recorded as [`signal`] records it (no flags, as System V's
/// `sigset`) and the signal unblocked; SIG_HOLD blocks it (never SIGSYS under the trap) and
/// changes no disposition; either returns the program's previous handler.
///
/// # Safety
/// As sigset(3) requires.
#[no_mangle]
pub unsafe extern "C" fn sigset(signum: c_int, disposition: sighandler_t) -> sighandler_t {
    if !owned_signals::owned(signum) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::sigset(signum, disposition) };
    }
    let how = if disposition == SIG_HOLD { libc::SIG_BLOCK } else { libc::SIG_UNBLOCK };
    let previous = if disposition == SIG_HOLD {
        owned_signals::program_action(signum).sa_sigaction
    } else {
        match record_owned_handler(signum, disposition, 0) {
            Some(previous) if previous != libc::SIG_ERR => previous,
            _ => return libc::SIG_ERR,
        }
    };
    if let Some(set) = only(signum) {
        // SAFETY: a valid set, changed through the interposed function (which keeps SIGSYS
        // unblocked under the trap and tells the library of the change).
        unsafe { sigprocmask(how, &set, std::ptr::null_mut()) };
    }
    previous
}

/// The set of `signum` alone; None (errno EINVAL, from `sigaddset`) for a bad signal number.
fn only(signum: c_int) -> Option<libc::sigset_t> {
    let mut set = owned_signals::sigset_of(0);
    // SAFETY: a valid set.
    (unsafe { libc::sigaddset(&mut set, signum) } == 0).then_some(set)
}

/// `int sigignore(int signum)`: on a signal whose real handler is mqshim's, records SIG_IGN as
/// the program's.
///
/// # Safety
/// None: no pointer arguments.
#[no_mangle]
pub unsafe extern "C" fn sigignore(signum: c_int) -> c_int {
    if record_owned_handler(signum, libc::SIG_IGN, 0).is_some() {
        return 0;
    }
    // SAFETY: the caller's argument, passed on.
    unsafe { real::sigignore(signum) }
}

/// `int sighold(int signum)`: as libc's, through the interposed [`sigprocmask`] (under the trap
/// SIGSYS is never blocked, so holding it changes nothing).
///
/// # Safety
/// None: no pointer arguments.
#[no_mangle]
pub unsafe extern "C" fn sighold(signum: c_int) -> c_int {
    let Some(set) = only(signum) else { return -1 };
    // SAFETY: a valid set; glibc's sighold is this call.
    unsafe { sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) }
}

/// `int siginterrupt(int signum, int flag)`: on a signal whose real handler is mqshim's, sets or
/// clears SA_RESTART in the program's recorded action (glibc's would change mqshim's).
///
/// # Safety
/// None: no pointer arguments.
#[no_mangle]
pub unsafe extern "C" fn siginterrupt(signum: c_int, flag: c_int) -> c_int {
    if !owned_signals::owned(signum) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::siginterrupt(signum, flag) };
    }
    let mut act = owned_signals::program_action(signum);
    act.sa_flags = if flag != 0 { act.sa_flags & !libc::SA_RESTART } else { act.sa_flags | libc::SA_RESTART };
    owned_signals::set_program_action(signum, &act);
    0
}

/// `mask` (a BSD signal mask: bit `n - 1` for signal `n`) without SIGSYS when the trap is
/// installed.
fn bsd_mask_without_sigsys(mask: c_int) -> c_int {
    if trap::installed() {
        mask & !(1 << (libc::SIGSYS - 1))
    } else {
        mask
    }
}

/// Tells the library of a mask change made with a BSD mask (see [`mask_changed`]).
fn bsd_mask_changed(how: c_int, mask: c_int) {
    // A BSD mask's bit `n - 1` is signal `n`, as in a sigset_t's first word.
    mask_changed(true, how, Some(&owned_signals::sigset_of(u64::from(mask as u32))));
}

/// `int sigblock(int mask)`: as libc's, except that under the trap SIGSYS is never blocked.
///
/// # Safety
/// None: no pointer arguments.
#[no_mangle]
pub unsafe extern "C" fn sigblock(mask: c_int) -> c_int {
    let mask = bsd_mask_without_sigsys(mask);
    // SAFETY: the caller's argument, passed on (possibly without SIGSYS).
    let previous = unsafe { real::sigblock(mask) };
    bsd_mask_changed(libc::SIG_BLOCK, mask);
    previous
}

/// `int sigsetmask(int mask)`: as libc's, except that under the trap SIGSYS is never blocked.
///
/// # Safety
/// None: no pointer arguments.
#[no_mangle]
pub unsafe extern "C" fn sigsetmask(mask: c_int) -> c_int {
    let mask = bsd_mask_without_sigsys(mask);
    // SAFETY: the caller's argument, passed on (possibly without SIGSYS).
    let previous = unsafe { real::sigsetmask(mask) };
    bsd_mask_changed(libc::SIG_SETMASK, mask);
    previous
}

same_signature_as_libc! {
    sigprocmask: unsafe extern "C" fn(c_int, *const libc::sigset_t, *mut libc::sigset_t) -> c_int;
    pthread_sigmask: unsafe extern "C" fn(c_int, *const libc::sigset_t, *mut libc::sigset_t) -> c_int;
    sigaction: unsafe extern "C" fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;
    sigsuspend: unsafe extern "C" fn(*const libc::sigset_t) -> c_int;
    signal: unsafe extern "C" fn(c_int, sighandler_t) -> sighandler_t;
}
