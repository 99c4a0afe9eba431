//! `MQSHIM_SYSCALLS=trap`: the queue system calls a program makes itself — `syscall(SYS_mq_timedsend,
//! …)`, an inline `syscall` instruction, a language runtime's own wrappers — reach the dispatch
//! layer like the library functions do, instead of the kernel (which would answer EBADF on an
//! emulated descriptor).
//!
//! How: at load, a seccomp filter makes the ten queue system calls (`mq_open`, `mq_unlink`,
//! `mq_timedsend`, `mq_timedreceive`, `mq_notify`, `mq_getsetattr`, `msgget`, `msgsnd`, `msgrcv`,
//! `msgctl`) raise SIGSYS instead of running, unless their sixth argument register holds
//! [`COOKIE`]. None of the ten takes a sixth argument, so the kernel ignores that register; only
//! [`queue_syscall`], this module's one inline-`syscall` stub, sets it. (A cookie rather than the
//! stub's address: the filter survives `exec`, and the next program's copy of the library sits
//! at another address — its stub must still pass.) The SIGSYS handler (ffi's) reads the number
//! and the arguments from the signal context, and [`serve`] turns them into the [`Call`] the
//! library function would have made: tracing, limits and faults apply as to any call. Its value
//! goes back in RAX, as the kernel's would (a negative errno on failure).
//!
//! Under the kernel backend the library's own calls go through libc's wrappers (glibc's
//! `mq_notify` with SIGEV_THREAD runs a netlink helper that no stub could replace), so they are
//! trapped too; [`serve`] recognises them (the thread is inside mqshim) and makes them through
//! [`queue_syscall`] unchanged: one more trap per call, and only under the kernel backend.
//!
//! x86_64 only: another architecture needs its registers in [`SyscallArgs::from_context`], its
//! `AUDIT_ARCH_*` and system call numbers in [`filter`], and its own stub (the cookie in an
//! argument register its kernel ignores for the ten calls; on architectures with the `ipc`
//! multiplexer instead of `msgget` & co. — i386, s390 — the multiplexer's sub-calls too).

use std::os::raw::{c_char, c_int, c_long};

use crate::call::Call;
use crate::config::{self, BackendKind, SyscallMode};
use crate::os::owned_signals;

/// What the stub puts in the sixth argument register: the filter lets the call through.
pub const COOKIE: u64 = 0x6d71_7368_696d_2121; // "mqshim!!"

/// The stub's value for a probe, asking whether a filter of ours is already in force.
const PROBE_COOKIE: u64 = 0x6d71_7368_696d_3f3f; // "mqshim??"

/// The SIGSYS our filter raises carries this in `si_errno` (SECCOMP_RET_DATA), to tell it from
/// the program's own filters' and from a SIGSYS sent with kill.
pub const TRAP_DATA: u16 = 0x4d51;

/// `si_code` of a SIGSYS raised by a seccomp filter.
const SYS_SECCOMP: c_int = 1;

const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_SET_MODE_FILTER: u32 = 1;
const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// The queue system calls the filter traps.
pub const TRAPPED: [c_long; 10] = [
    libc::SYS_mq_open,
    libc::SYS_mq_unlink,
    libc::SYS_mq_timedsend,
    libc::SYS_mq_timedreceive,
    libc::SYS_mq_notify,
    libc::SYS_mq_getsetattr,
    libc::SYS_msgget,
    libc::SYS_msgsnd,
    libc::SYS_msgrcv,
    libc::SYS_msgctl,
];

/// Whether the trap is in force in this process: its SIGSYS handler is the real one (see
/// `os::owned_signals`), which [`install`] makes it only for the trap and gives back if the
/// filter cannot follow.
#[inline]
pub fn installed() -> bool {
    owned_signals::owned(libc::SIGSYS)
}

/// A queue system call's number and its six argument registers.
#[derive(Clone, Copy, Debug)]
pub struct SyscallArgs {
    pub number: c_long,
    pub args: [u64; 6],
}

impl SyscallArgs {
    /// The trapped call a SIGSYS reports: its number from `si_syscall`, its arguments from the
    /// registers saved in the signal context.
    ///
    /// # Safety
    /// `info` and `context` are a SIGSYS handler's (SA_SIGINFO) second and third arguments.
    pub unsafe fn from_context(info: *const libc::siginfo_t, context: *const libc::c_void) -> SyscallArgs {
        // SAFETY: the kernel's siginfo for SIGSYS holds si_call_addr (8 bytes at offset 16),
        // then si_syscall (an int at offset 24); `info` is that siginfo (this function's contract).
        let number = unsafe { *info.cast::<u8>().add(24).cast::<c_int>() } as c_long;
        // SAFETY: the third argument of an SA_SIGINFO handler is the interrupted ucontext_t.
        let gregs = unsafe { &(*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
        let reg = |r: c_int| gregs[r as usize] as u64;
        SyscallArgs { number, args: [reg(libc::REG_RDI), reg(libc::REG_RSI), reg(libc::REG_RDX), reg(libc::REG_R10), reg(libc::REG_R8), reg(libc::REG_R9)] }
    }
}

/// Whether a SIGSYS is our filter's (rather than the program's own filter's, or sent by kill).
///
/// # Safety
/// `info` is a SIGSYS handler's siginfo.
pub unsafe fn is_ours(info: *const libc::siginfo_t) -> bool {
    // SAFETY: `info` is valid (this function's contract).
    let (code, data) = unsafe { ((*info).si_code, (*info).si_errno) };
    code == SYS_SECCOMP && data == c_int::from(TRAP_DATA)
}

/// The one place the library makes a queue system call itself (or another the filter stops,
/// e.g. a supervised child's `close` of its listener): the kernel's value (a negative errno on
/// failure), past the filter.
///
/// # Safety
/// The arguments are what system call `number` requires of them.
#[inline(never)]
pub unsafe fn queue_syscall(number: c_long, args: [u64; 5]) -> i64 {
    // SAFETY: the caller's arguments; `stub` clobbers only what its asm declares.
    unsafe { stub(number, args, COOKIE) }
}

/// The inline `syscall` instruction, with `cookie` in the sixth argument register.
#[inline(always)]
unsafe fn stub(number: c_long, args: [u64; 5], cookie: u64) -> i64 {
    let ret: i64;
    // SAFETY: a Linux x86_64 system call: number in rax, arguments in rdi, rsi, rdx, r10, r8,
    // r9; the kernel clobbers rcx and r11 and returns in rax. Memory the call reads or writes is
    // the caller's (see `queue_syscall`).
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") number => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") cookie,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// What the filter does with a queue call that lacks the cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// SIGSYS in the calling thread, for the library's handler (`MQSHIM_SYSCALLS=trap`).
    Trap,
    /// A notification on the filter's listener, for a supervisor outside the process (`mqshim
    /// run` on a statically linked program).
    Notify,
}

impl Verdict {
    fn action(self) -> u32 {
        match self {
            Verdict::Trap => SECCOMP_RET_TRAP | u32::from(TRAP_DATA),
            Verdict::Notify => libc::SECCOMP_RET_USER_NOTIF,
        }
    }
}

/// The calls a supervisor is notified of besides the queue calls: `close`, which is glibc's
/// `mq_close`, and `dup2`/`dup3`, which close the descriptor they replace (see
/// `cli/src/supervise.rs`). The library sees the program's own calls of them.
pub const SUPERVISED_TOO: [c_long; 3] = [libc::SYS_close, libc::SYS_dup2, libc::SYS_dup3];

/// The classic-BPF program: `verdict` for the ten calls of the x86_64 ABI (and for a
/// supervisor, [`SUPERVISED_TOO`]) unless the cookie is there. The one filter of both the trap
/// and the supervisor (see [`Verdict`]).
pub fn filter(verdict: Verdict) -> Vec<libc::sock_filter> {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let stmt = |code: u16, k: u32| libc::sock_filter { code, jt: 0, jf: 0, k };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter { code: JEQ_K, jt, jf, k };
    // struct seccomp_data: nr at 0, arch at 4, instruction_pointer at 8, args[6] from 16.
    let arg5_low = 16 + 5 * 8;
    let also: &[c_long] = if verdict == Verdict::Notify { &SUPERVISED_TOO } else { &[] };
    let calls: Vec<c_long> = TRAPPED.iter().chain(also).copied().collect();
    let n = calls.len() as u8;
    // Another architecture (an i386 process's `int 0x80`): to the final "allow".
    let mut prog = vec![stmt(LD_W_ABS, 4), jump(AUDIT_ARCH_X86_64, 0, n + 7), stmt(LD_W_ABS, 0)];
    for (i, nr) in calls.iter().enumerate() {
        // A match jumps to the cookie check; no match of the last falls through to "allow".
        prog.push(jump(*nr as u32, n - i as u8, 0));
    }
    prog.push(stmt(RET_K, SECCOMP_RET_ALLOW));
    // The cookie check: low word, then high word.
    prog.push(stmt(LD_W_ABS, arg5_low));
    prog.push(jump(COOKIE as u32, 0, 2));
    prog.push(stmt(LD_W_ABS, arg5_low + 4));
    prog.push(jump((COOKIE >> 32) as u32, 1, 0));
    prog.push(stmt(RET_K, verdict.action()));
    prog.push(stmt(RET_K, SECCOMP_RET_ALLOW));
    prog
}

/// Whether a filter of ours is already in force (inherited across `exec` from a process that
/// had the library with the trap): a probe call with [`PROBE_COOKIE`] is trapped, and the
/// handler — which must already be installed — answers it with 1, a value the kernel never
/// gives `mq_getsetattr(-1, NULL, NULL)` (EBADF).
fn already_filtered() -> bool {
    // SAFETY: mq_getsetattr on descriptor -1 with no attribute pointers touches no memory.
    unsafe { stub(libc::SYS_mq_getsetattr, [u64::MAX, 0, 0, 0, 0], PROBE_COOKIE) == 1 }
}

/// Why the trap could not be installed.
#[derive(Debug)]
pub struct InstallError(pub String);

/// Installs the trap when `MQSHIM_SYSCALLS=trap`: the SIGSYS action `handler` gives becomes
/// the real one (the program's is recorded, see `os::owned_signals`), then the filter follows
/// (with no_new_privs unless the process has CAP_SYS_ADMIN, which seccomp requires). Problems are reported on stderr and leave the trap off.
pub fn install_from_env(handler: impl FnOnce() -> libc::sigaction) {
    let (mode, problem) = config::syscall_mode(|name| std::env::var_os(name).map(std::os::unix::ffi::OsStringExt::into_vec));
    if let Some(p) = problem {
        config::report(&[p]);
    }
    if mode != SyscallMode::Trap {
        return;
    }
    if let Err(InstallError(why)) = install(handler) {
        config::report(&[config::ConfigProblem::ignored("MQSHIM_SYSCALLS", format!("trap: {why} (queue system calls reach the kernel)"))]);
    }
}

fn install(handler: impl FnOnce() -> libc::sigaction) -> Result<(), InstallError> {
    if !cfg!(target_arch = "x86_64") {
        return Err(InstallError("only x86_64 is supported".into()));
    }
    owned_signals::take(libc::SIGSYS, &handler()).map_err(|e| InstallError(format!("sigaction(SIGSYS): {e}")))?;
    if already_filtered() {
        return Ok(());
    }
    if needs_no_new_privs() {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            owned_signals::give_back(libc::SIGSYS);
            return Err(InstallError(format!("PR_SET_NO_NEW_PRIVS: {}", crate::errno::Errno::last())));
        }
    }
    let mut prog = filter(Verdict::Trap);
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_mut_ptr() };
    // SAFETY: `fprog` points to `prog`, alive for the call; the kernel copies the program.
    let rc = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog as *const libc::sock_fprog) };
    if rc != 0 {
        owned_signals::give_back(libc::SIGSYS);
        return Err(InstallError(format!("seccomp: {}", crate::errno::Errno::last())));
    }
    Ok(())
}

/// Whether installing a filter needs no_new_privs first: seccomp requires it of a process
/// without CAP_SYS_ADMIN.
pub fn needs_no_new_privs() -> bool {
    !crate::os::creds::Creds::current().has(crate::os::creds::cap::SYS_ADMIN)
}

/// Installs `prog` (a [`filter`] with [`Verdict::Notify`]) with a listener, after
/// no_new_privs when `no_new_privs`: the listener's descriptor (close-on-exec), or the errno.
/// Once the supervisor has read a notification, the caller waits for the answer killably
/// (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, Linux 5.19): a signal then stays pending, and the
/// supervisor ends the call the way the kernel's own would end for it. Only system calls: safe
/// between `fork` and `exec`.
pub fn install_listener(prog: &[libc::sock_filter], no_new_privs: bool) -> Result<c_int, c_int> {
    // SAFETY: prctl with integer arguments only.
    if no_new_privs && unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(crate::errno::current());
    }
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr().cast_mut() };
    // SAFETY: `fprog` points to `prog`, alive for the call; the kernel copies the program.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
            &fprog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(crate::errno::current());
    }
    Ok(fd as c_int)
}

/// Longest name a trapped `mq_open`/`mq_unlink` may pass (the kernel's getname limit, PATH_MAX
/// with its NUL), plus the '/' the library functions' names start with.
const NAME_BUFFER: usize = libc::PATH_MAX as usize + 1;

/// Serves one trapped queue system call: the kernel's value (a negative errno on failure).
///
/// Under the kernel backend the call is made as the program made it, through
/// [`queue_syscall`], with policy and tracing around it ([`dispatch::run_with`]); a call the
/// library itself made through libc (`from_library`: the thread was running mqshim's code) is
/// only made. The other backends get the [`Call`] the library function would have made.
///
/// # Safety
/// `call` is a trapped system call's number and registers, as the program passed them.
pub unsafe fn serve(call: SyscallArgs, from_library: bool) -> i64 {
    let a = call.args;
    if call.number == libc::SYS_mq_getsetattr && a[5] == PROBE_COOKIE {
        return 1;
    }
    let to_kernel = crate::init::state().backend.kind() == BackendKind::Kernel;
    // SAFETY: the program's (or the library's) own call, with its arguments.
    let make_it = || unsafe { queue_syscall(call.number, [a[0], a[1], a[2], a[3], a[4]]) };
    if from_library && to_kernel {
        return make_it();
    }
    let fd = a[0] as c_int;
    let mut name = [0u8; NAME_BUFFER + 1];
    let mut attr_scratch: libc::mq_attr = {
        // SAFETY: an all-zero mq_attr is valid.
        unsafe { std::mem::zeroed() }
    };
    // An mq_notify's SIGEV_THREAD in the system call's form, under the emulation.
    let mut netlink = None;
    let library_call = match call.number {
        libc::SYS_mq_open | libc::SYS_mq_unlink => {
            // The system call's name has no leading '/': the library functions' has (and they
            // strip it). An unreadable name is passed as it is, for the backend's EFAULT.
            name[0] = b'/';
            // SAFETY: read defensively: any address is allowed.
            let name = match unsafe { crate::os::usermem::read_cstr(a[0] as *const u8, &mut name[1..NAME_BUFFER], crate::os::usermem::Trust::Unknown) } {
                None => a[0] as *const c_char,
                Some((_, false)) => return -i64::from(libc::ENAMETOOLONG),
                Some(_) => name.as_ptr().cast(),
            };
            if call.number == libc::SYS_mq_open {
                Call::MqOpen { name, oflag: a[1] as c_int, mode: a[2] as libc::mode_t, attr: a[3] as *const libc::mq_attr, fortify: false }
            } else {
                Call::MqUnlink { name }
            }
        }
        libc::SYS_mq_timedsend => Call::MqSend { mqdes: fd, msg: a[1] as *const _, len: a[2] as usize, prio: a[3] as u32, timeout: Some(a[4] as *const _) },
        libc::SYS_mq_timedreceive => {
            Call::MqReceive { mqdes: fd, msg: a[1] as *mut _, len: a[2] as usize, prio: a[3] as *mut _, timeout: Some(a[4] as *const _) }
        }
        libc::SYS_mq_notify => {
            let sev = a[1] as *const libc::sigevent;
            // The system call's SIGEV_THREAD is the kernel's netlink notification (sigev_signo
            // a netlink socket, 32 bytes of cookie), not glibc's thread: the emulation and the
            // Redis backend take it as such (`netlink_form`).
            // SAFETY: read defensively: a bad pointer is reported, not followed.
            let given = if to_kernel || sev.is_null() { None } else { unsafe { crate::os::usermem::checked_read(sev) } };
            if let Some(s) = given.filter(|s| s.sigev_notify == libc::SIGEV_THREAD) {
                netlink = Some(netlink_target(&s));
            }
            Call::MqNotify { mqdes: fd, sev }
        }
        libc::SYS_mq_getsetattr => match (a[1] as *const libc::mq_attr, a[2] as *mut libc::mq_attr) {
            (new, old) if !new.is_null() => Call::MqSetattr { mqdes: fd, new, old },
            (_, old) if !old.is_null() => Call::MqGetattr { mqdes: fd, attr: old },
            // Neither: the kernel only checks the descriptor.
            _ => Call::MqGetattr { mqdes: fd, attr: &mut attr_scratch },
        },
        libc::SYS_msgget => Call::Msgget { key: a[0] as libc::key_t, flags: a[1] as c_int },
        libc::SYS_msgsnd => Call::Msgsnd { id: fd, msgp: a[1] as *const _, size: a[2] as usize, flags: a[3] as c_int },
        libc::SYS_msgrcv => Call::Msgrcv { id: fd, msgp: a[1] as *mut _, size: a[2] as usize, typ: a[3] as c_long, flags: a[4] as c_int },
        libc::SYS_msgctl => Call::Msgctl { id: fd, cmd: a[1] as c_int, buf: a[2] as *mut _ },
        _ => return -i64::from(libc::ENOSYS),
    };
    // The kernel call of a getattr with neither pointer gets the scratch as its old-attributes
    // pointer (the kernel checks only the descriptor either way), so the trace shows what the
    // kernel gave, as the other backends' traces do, not a zeroed scratch.
    let mut kernel_args = [a[0], a[1], a[2], a[3], a[4]];
    if let Call::MqGetattr { attr, .. } = &library_call {
        if call.number == libc::SYS_mq_getsetattr && a[2] == 0 {
            kernel_args[2] = *attr as u64;
        }
    }
    // SAFETY: the program's arguments, or the library's scratch in place of a missing
    // old-attributes pointer (alive until the end of this function).
    let make_kernel_call = || unsafe { queue_syscall(call.number, kernel_args) };
    // SAFETY: the program's arguments, as it passed them to the system call (whose memory
    // rules are the library function's); `name` and `attr_scratch` outlive the call.
    let outcome = unsafe {
        if to_kernel {
            crate::dispatch::run_with(library_call, |_| match make_kernel_call() {
                made if made < 0 => Err(crate::errno::Errno::from_raw(-made as i32)),
                made => Ok(made),
            })
        } else if let Some(target) = netlink {
            match target {
                Ok(target) => crate::emu::posix::notify::netlink_form(target, || crate::dispatch::run(library_call)),
                // Traced as the call it is, with the kernel's errno.
                Err(e) => crate::dispatch::run_with(library_call, |_| Err(e)),
            }
        } else {
            crate::dispatch::run(library_call)
        }
    };
    match outcome {
        Ok(v) => v,
        Err(e) => -(e as i64),
    }
}

/// The netlink socket and cookie of a trapped `mq_notify`'s SIGEV_THREAD, as the kernel takes
/// them: EFAULT when the cookie cannot be read, then EBADF when `sigev_signo` is no descriptor.
fn netlink_target(sev: &libc::sigevent) -> crate::errno::Result<crate::emu::posix::notify::NetlinkTarget> {
    use crate::emu::posix::notify::{NetlinkTarget, NOTIFY_COOKIE_LEN};
    let cookie_at = sev.sigev_value.sival_ptr as *const [u8; NOTIFY_COOKIE_LEN];
    // SAFETY: read defensively: a bad pointer is EFAULT, not followed.
    let cookie = unsafe { crate::os::usermem::checked_read(cookie_at) }.ok_or(crate::errno::Errno::EFAULT)?;
    NetlinkTarget::new(sev.sigev_signo, cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the filter on one call (the three instruction kinds it uses).
    fn verdict(arch: u32, nr: u32, arg5: u64) -> u32 {
        run_filter(Verdict::Trap, arch, nr, arg5)
    }

    fn run_filter(kind: Verdict, arch: u32, nr: u32, arg5: u64) -> u32 {
        let data = |offset: u32| match offset {
            0 => nr,
            4 => arch,
            56 => arg5 as u32,
            60 => (arg5 >> 32) as u32,
            _ => 0,
        };
        let prog = filter(kind);
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let ins = prog[pc];
            match ins.code as u32 {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => acc = data(ins.k),
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                    pc += usize::from(if acc == ins.k { ins.jt } else { ins.jf });
                }
                c if c == libc::BPF_RET | libc::BPF_K => return ins.k,
                c => panic!("unexpected instruction {c:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn the_filter_traps_the_queue_calls_without_the_cookie_only() {
        let trap = SECCOMP_RET_TRAP | u32::from(TRAP_DATA);
        for nr in TRAPPED {
            assert_eq!(verdict(AUDIT_ARCH_X86_64, nr as u32, 0), trap);
            assert_eq!(verdict(AUDIT_ARCH_X86_64, nr as u32, COOKIE), SECCOMP_RET_ALLOW);
            assert_eq!(verdict(AUDIT_ARCH_X86_64, nr as u32, COOKIE & 0xffff_ffff), trap);
            assert_eq!(verdict(AUDIT_ARCH_X86_64, nr as u32, COOKIE & !0xffff_ffff), trap);
            assert_eq!(verdict(0x4000_0003, nr as u32, 0), SECCOMP_RET_ALLOW);
        }
        for nr in [libc::SYS_read, libc::SYS_close, libc::SYS_msgget - 1, libc::SYS_mq_getsetattr + 1] {
            assert_eq!(verdict(AUDIT_ARCH_X86_64, nr as u32, 0), SECCOMP_RET_ALLOW);
        }
    }

    #[test]
    fn the_supervisor_filter_notifies_the_same_calls_and_close() {
        for nr in TRAPPED.iter().chain(&SUPERVISED_TOO) {
            assert_eq!(run_filter(Verdict::Notify, AUDIT_ARCH_X86_64, *nr as u32, 0), libc::SECCOMP_RET_USER_NOTIF);
            assert_eq!(run_filter(Verdict::Notify, AUDIT_ARCH_X86_64, *nr as u32, COOKIE), SECCOMP_RET_ALLOW);
            assert_eq!(run_filter(Verdict::Notify, 0x4000_0003, *nr as u32, 0), SECCOMP_RET_ALLOW);
        }
        for nr in [libc::SYS_read, libc::SYS_close_range, libc::SYS_dup, libc::SYS_fcntl] {
            assert_eq!(run_filter(Verdict::Notify, AUDIT_ARCH_X86_64, nr as u32, 0), SECCOMP_RET_ALLOW);
        }
    }

    #[test]
    fn the_stub_reaches_the_kernel() {
        // Without a filter the cookie changes nothing: EBADF from the kernel.
        // SAFETY: descriptor -1, no memory.
        assert_eq!(unsafe { queue_syscall(libc::SYS_mq_getsetattr, [u64::MAX, 0, 0, 0, 0]) }, -i64::from(libc::EBADF));
    }
}
