//! `<unistd.h>`'s `execve`, `execv`, `execvp`, `execvpe` and `<spawn.h>`'s `posix_spawn`,
//! `posix_spawnp`: a statically linked program they start is run through the launcher (`mqshim
//! run`) when the environment it gets names one, so that its queue calls are served too (see
//! `launcher`); everything else is libc's call, unchanged. (glibc's `execl`, `execlp` and
//! `execle` call its internal `execve`, which no preload reaches.)
//!
//! Not traced (not queue calls), and safe between `vfork` and the exec: nothing is allocated.

use std::os::raw::{c_char, c_int};

use crate::launcher;
use crate::real;

extern "C" {
    /// The process's environment (`<unistd.h>`).
    static environ: *const *const c_char;
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
    if let Some(r) = unsafe { launcher::redirect(file, argv, environment, search_path) } {
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
    match unsafe { launcher::redirect(file, argv.cast(), envp.cast(), search_path) } {
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
