//! `<unistd.h>`'s `execve`, `execv`, `execvp`, `execvpe`, `execl`, `execlp`, `execle` and
//! `<spawn.h>`'s `posix_spawn`, `posix_spawnp`: a statically linked program they start is run
//! through the launcher (`mqshim run`) when the environment it gets names one, so that its queue
//! calls are served too (see `launcher`); everything else is the call as asked. (glibc's own
//! functions call its internal `execve`, which no preload reaches: each is interposed; the
//! variadic list variants through a stub of their own, x86_64.)
//!
//! Not traced (not queue calls), and safe between `vfork` and the exec: nothing is allocated.

use std::os::raw::{c_char, c_int};

use crate::launcher;
use crate::real;

extern "C" {
    /// The process's environment (`<unistd.h>`).
    static environ: *const *const c_char;
}

/// [`launcher::redirect`], a panic in it taken as "exec as asked" (it must not unwind into C).
///
/// # Safety
/// As `launcher::redirect` requires.
unsafe fn redirect(file: *const c_char, argv: *const *const c_char, environment: *const *const c_char, search_path: bool) -> Option<launcher::Redirected> {
    // SAFETY: the caller's arguments, per this function's contract.
    std::panic::catch_unwind(|| unsafe { launcher::redirect(file, argv, environment, search_path) }).ok().flatten()
}

/// Runs the launcher in place of `file` (see `launcher::redirect`; `search_path`: looked up as
/// `execvp` does), with `environment`; else, or if that exec failed, the call as asked
/// (`as_asked`).
///
/// # Safety
/// As execve(2) requires of `file`, `argv` and `environment`.
unsafe fn exec(
    file: *const c_char,
    argv: *const *const c_char,
    environment: *const *const c_char,
    search_path: bool,
    as_asked: impl FnOnce() -> c_int,
) -> c_int {
    // SAFETY: the caller's arguments, as execve takes them.
    if let Some(r) = unsafe { redirect(file, argv, environment, search_path) } {
        // SAFETY: the launcher's path and argument vector, with the program's environment.
        unsafe { real::execve(r.launcher(), r.argv(), environment) };
    }
    as_asked()
}

/// `int execve(const char *path, char *const argv[], char *const envp[])`.
///
/// # Safety
/// As execve(2) requires of its arguments.
#[no_mangle]
pub unsafe extern "C" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    unsafe { exec(path, argv, envp, false, || real::execve(path, argv, envp)) }
}

/// `int execv(const char *path, char *const argv[])`.
///
/// # Safety
/// As execv(3) requires of its arguments.
#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: the caller's arguments, passed on, and the process's environment.
    unsafe { exec(path, argv, environ, false, || real::execv(path, argv)) }
}

/// `int execvp(const char *file, char *const argv[])`.
///
/// # Safety
/// As execvp(3) requires of its arguments.
#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: the caller's arguments, passed on, and the process's environment.
    unsafe { exec(file, argv, environ, true, || real::execvp(file, argv)) }
}

/// `int execvpe(const char *file, char *const argv[], char *const envp[])` (GNU).
///
/// # Safety
/// As execvpe(3) requires of its arguments.
#[no_mangle]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    unsafe { exec(file, argv, envp, true, || real::execvpe(file, argv, envp)) }
}

/// `execl`, `execlp` and `execle` as [`exec_list`] numbers them.
const LIST_EXECL: c_int = 0;
const LIST_EXECLP: c_int = 1;
const LIST_EXECLE: c_int = 2;

/// Defines a variadic list variant: Rust cannot name variadic arguments, so the stub stores the
/// five argument registers after the first (x86_64: rsi, rdx, rcx, r8, r9) beside the caller's
/// stack arguments that follow them, and hands both to [`exec_list`] with its `kind`, whose
/// result it returns. At entry rsp is 8 past a 16-byte boundary (the return address): 56
/// bytes keep the call below aligned, and the caller's stack arguments start at entry rsp + 8,
/// here rsp + 64.
macro_rules! list_variant {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// As the C function requires: a NULL-terminated list of NUL-terminated strings.
        #[unsafe(naked)]
        #[no_mangle]
        pub unsafe extern "C" fn $name(file: *const c_char, arg: *const c_char) -> c_int {
            core::arch::naked_asm!(
                "sub rsp, 56",
                "mov [rsp], rsi",
                "mov [rsp + 8], rdx",
                "mov [rsp + 16], rcx",
                "mov [rsp + 24], r8",
                "mov [rsp + 32], r9",
                "mov rsi, rsp",
                "lea rdx, [rsp + 64]",
                "mov ecx, {kind}",
                "call {list}",
                "add rsp, 56",
                "ret",
                kind = const $kind,
                list = sym exec_list,
            )
        }
    };
}

list_variant!(
    /// The variadic `int execl(const char *path, const char *arg, ... /* NULL */)`.
    execl,
    LIST_EXECL
);
list_variant!(
    /// The variadic `int execlp(const char *file, const char *arg, ... /* NULL */)`.
    execlp,
    LIST_EXECLP
);
list_variant!(
    /// The variadic `int execle(const char *path, const char *arg, ... /* NULL, char *const
    /// envp[] */)`.
    execle,
    LIST_EXECLE
);

/// The list variants' common part: the variadic arguments are `registers[0..5]`, then
/// `stack[0..]`; they are gathered into an argument vector (in a private mapping: an exec may
/// follow `vfork`) and executed as `execv` (`execl`), `execvp` (`execlp`) or `execve` with the
/// environment that follows the NULL (`execle`) would.
///
/// # Safety
/// `registers` and `stack` are where the stubs above put them; the list is NULL-terminated.
unsafe extern "C" fn exec_list(file: *const c_char, registers: *const *const c_char, stack: *const *const c_char, kind: c_int) -> c_int {
    // SAFETY: the i-th variadic argument, within the NULL-terminated list (and for execle one
    // past it): the five saved registers, then the caller's stack.
    let arg = |i: usize| unsafe {
        if i < 5 {
            *registers.add(i)
        } else {
            *stack.add(i - 5)
        }
    };
    let argc = (0..).find(|&i| arg(i).is_null()).unwrap_or(0);
    let Some(memory) = launcher::Scratch::new((argc + 1) * std::mem::size_of::<*const c_char>()) else { return -1 };
    let argv = memory.base() as *mut *const c_char;
    // SAFETY: `argc + 1` slots of the mapping; the arguments read as above.
    unsafe {
        for i in 0..=argc {
            *argv.add(i) = arg(i);
        }
    }
    let argv = argv.cast_const();
    // SAFETY: a NULL-terminated argument vector; the path and environment are the caller's.
    // (`memory` is unmapped after, keeping errno.)
    unsafe {
        match kind {
            LIST_EXECLP => execvp(file, argv),
            LIST_EXECLE => execve(file, argv, arg(argc + 1) as *const *const c_char),
            _ => execv(file, argv),
        }
    }
}

// libc declares the list variants variadic; the stubs take the fixed arguments only.
const _: unsafe extern "C" fn(*const c_char, *const c_char, ...) -> c_int = libc::execl;
const _: unsafe extern "C" fn(*const c_char, *const c_char, ...) -> c_int = libc::execlp;
const _: unsafe extern "C" fn(*const c_char, *const c_char, ...) -> c_int = libc::execle;

/// The arguments of `posix_spawn` and `posix_spawnp` but the program.
type SpawnRest = (*mut libc::pid_t, *const libc::posix_spawn_file_actions_t, *const libc::posix_spawnattr_t, *const *mut c_char, *const *mut c_char);

/// Spawns the launcher in place of `file` (see [`exec`]), else the call as asked.
///
/// # Safety
/// As posix_spawn(3) requires of `file` and `rest`.
unsafe fn spawn(file: *const c_char, rest: SpawnRest, search_path: bool, as_asked: impl FnOnce() -> c_int) -> c_int {
    let (pid, actions, attr, argv, envp) = rest;
    // SAFETY: the caller's arguments, as posix_spawn takes them; the launcher's path is
    // absolute, so posix_spawn runs it.
    match unsafe { redirect(file, argv.cast(), envp.cast(), search_path) } {
        // SAFETY: the launcher's path and argument vector, with the caller's other arguments.
        Some(r) => unsafe { real::posix_spawn(pid, r.launcher(), actions, attr, r.argv().cast(), envp) },
        None => as_asked(),
    }
}

/// `int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
/// const posix_spawnattr_t *attr, char *const argv[], char *const envp[])`.
///
/// # Safety
/// As posix_spawn(3) requires of its arguments.
#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    unsafe { spawn(path, (pid, actions, attr, argv, envp), false, || real::posix_spawn(pid, path, actions, attr, argv, envp)) }
}

/// `int posix_spawnp(pid_t *pid, const char *file, ...)`: as [`posix_spawn`], `file` looked up
/// in `PATH`.
///
/// # Safety
/// As posix_spawnp(3) requires of its arguments.
#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    unsafe { spawn(file, (pid, actions, attr, argv, envp), true, || real::posix_spawnp(pid, file, actions, attr, argv, envp)) }
}

same_signature_as_libc! {
    execve: unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
    execv: unsafe extern "C" fn(*const c_char, *const *const c_char) -> c_int;
    execvp: unsafe extern "C" fn(*const c_char, *const *const c_char) -> c_int;
    execvpe: unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
    posix_spawn: unsafe extern "C" fn(*mut libc::pid_t, *const c_char, *const libc::posix_spawn_file_actions_t, *const libc::posix_spawnattr_t, *const *mut c_char, *const *mut c_char) -> c_int;
    posix_spawnp: unsafe extern "C" fn(*mut libc::pid_t, *const c_char, *const libc::posix_spawn_file_actions_t, *const libc::posix_spawnattr_t, *const *mut c_char, *const *mut c_char) -> c_int;
}
