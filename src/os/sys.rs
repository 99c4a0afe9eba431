//! System calls the emulation makes for itself — on its own files and about the caller's
//! identity — made directly, not through libc's wrappers.
//!
//! Another preloaded library may interpose those wrappers. fakeroot's does: its `fstat`,
//! `fchmod`, `mkdirat`, `unlinkat`, … ask its daemon over a System V queue, which (mqshim being
//! preloaded too) re-enters the emulation in the middle of its own work — under a lock, or while
//! it initialises — and its `geteuid` & co. return the faked root instead of who the caller
//! really is, which is what the kernel's permission checks see. Each function returns what the
//! system call returns (-1 and errno on failure), like the libc function of the same name.

use std::ffi::CStr;
use std::os::raw::{c_int, c_long};

/// `fstatat(2)` into `st`.
pub fn fstatat(dir: c_int, path: &CStr, st: &mut libc::stat, flags: c_int) -> c_int {
    // SAFETY: a NUL-terminated path and a valid out-pointer.
    unsafe { libc::syscall(libc::SYS_newfstatat, dir, path.as_ptr(), st as *mut libc::stat, flags) as c_int }
}

/// `mknodat(2)`.
pub fn mknodat(dir: c_int, path: &CStr, mode: u32, dev: u64) -> c_int {
    // SAFETY: a NUL-terminated path; the kernel validates the rest.
    unsafe { libc::syscall(libc::SYS_mknodat, dir, path.as_ptr(), mode, dev) as c_int }
}

/// `flock(2)`.
pub fn flock(fd: c_int, op: c_int) -> c_int {
    // SAFETY: no memory is passed.
    unsafe { libc::syscall(libc::SYS_flock, fd, op) as c_int }
}

/// `openat(2)`.
pub fn openat(dir: c_int, path: &CStr, flags: c_int, mode: u32) -> c_int {
    // SAFETY: a NUL-terminated path; the kernel validates the rest.
    unsafe { libc::syscall(libc::SYS_openat, dir, path.as_ptr(), flags, mode) as c_int }
}

/// `fstat(2)` into `st` (the kernel's `struct stat` is glibc's on this architecture).
pub fn fstat(fd: c_int, st: &mut libc::stat) -> c_int {
    // SAFETY: st is a valid out-pointer of the right type.
    unsafe { libc::syscall(libc::SYS_fstat, fd, st as *mut libc::stat) as c_int }
}

/// [`fstat`] as a value: the status of `fd`, or the errno.
pub fn stat_of(fd: c_int) -> crate::errno::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if fstat(fd, &mut st) != 0 {
        return Err(crate::errno::Errno::last());
    }
    Ok(st)
}

/// [`fstatat`] as a value: the status of `path` under `dir` (`flags` as fstatat's), or the
/// errno.
pub fn stat_at(dir: c_int, path: &CStr, flags: c_int) -> crate::errno::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if fstatat(dir, path, &mut st, flags) != 0 {
        return Err(crate::errno::Errno::last());
    }
    Ok(st)
}

/// `fchown(2)`.
pub fn fchown(fd: c_int, uid: u32, gid: u32) -> c_int {
    // SAFETY: plain integer arguments.
    unsafe { libc::syscall(libc::SYS_fchown, fd, uid, gid) as c_int }
}

/// `fchownat(2)`.
pub fn fchownat(dir: c_int, path: &CStr, uid: u32, gid: u32, flags: c_int) -> c_int {
    // SAFETY: a NUL-terminated path relative to `dir`; plain integer arguments.
    unsafe { libc::syscall(libc::SYS_fchownat, dir, path.as_ptr(), uid, gid, flags) as c_int }
}

/// `fremovexattr(2)`: removes the extended attribute `name` of `fd`.
pub fn fremovexattr(fd: c_int, name: &CStr) -> c_int {
    // SAFETY: a NUL-terminated attribute name.
    unsafe { libc::syscall(libc::SYS_fremovexattr, fd, name.as_ptr()) as c_int }
}

/// `fchmod(2)`.
pub fn fchmod(fd: c_int, mode: u32) -> c_int {
    // SAFETY: plain integer arguments.
    unsafe { libc::syscall(libc::SYS_fchmod, fd, mode) as c_int }
}

/// `fchmodat(dir, path, mode, 0)`.
pub fn fchmodat(dir: c_int, path: &CStr, mode: u32) -> c_int {
    // SAFETY: a NUL-terminated path.
    unsafe { libc::syscall(libc::SYS_fchmodat, dir, path.as_ptr(), mode) as c_int }
}

/// `mkdirat(2)`.
pub fn mkdirat(dir: c_int, path: &CStr, mode: u32) -> c_int {
    // SAFETY: a NUL-terminated path.
    unsafe { libc::syscall(libc::SYS_mkdirat, dir, path.as_ptr(), mode) as c_int }
}

/// `unlinkat(2)`.
pub fn unlinkat(dir: c_int, path: &CStr, flags: c_int) -> c_int {
    // SAFETY: a NUL-terminated path.
    unsafe { libc::syscall(libc::SYS_unlinkat, dir, path.as_ptr(), flags) as c_int }
}

/// `symlinkat(2)`: a link `path` under `dir` whose target is `target`.
pub fn symlinkat(target: &CStr, dir: c_int, path: &CStr) -> c_int {
    // SAFETY: NUL-terminated strings.
    unsafe { libc::syscall(libc::SYS_symlinkat, target.as_ptr(), dir, path.as_ptr()) as c_int }
}

/// `readlinkat(2)` into `buf`: the target's length, or -1.
pub fn readlinkat(dir: c_int, path: &CStr, buf: &mut [u8]) -> isize {
    // SAFETY: a NUL-terminated path and a buffer of `buf.len()` writable bytes.
    unsafe { libc::syscall(libc::SYS_readlinkat, dir, path.as_ptr(), buf.as_mut_ptr(), buf.len()) as isize }
}

/// `linkat(2)` without flags: a new name `to` under `to_dir` for `from` under `from_dir` (a link
/// there is linked itself, never followed).
pub fn linkat(from_dir: c_int, from: &CStr, to_dir: c_int, to: &CStr) -> c_int {
    // SAFETY: NUL-terminated paths.
    unsafe { libc::syscall(libc::SYS_linkat, from_dir, from.as_ptr(), to_dir, to.as_ptr(), 0) as c_int }
}

/// `renameat2(2)`.
pub fn renameat2(from_dir: c_int, from: &CStr, to_dir: c_int, to: &CStr, flags: u32) -> c_int {
    // SAFETY: NUL-terminated paths.
    unsafe { libc::syscall(libc::SYS_renameat2, from_dir, from.as_ptr(), to_dir, to.as_ptr(), flags) as c_int }
}

/// `ftruncate(2)`.
pub fn ftruncate(fd: c_int, len: u64) -> c_int {
    // SAFETY: plain integer arguments.
    unsafe { libc::syscall(libc::SYS_ftruncate, fd, len as c_long) as c_int }
}

/// `fallocate(2)`.
pub fn fallocate(fd: c_int, mode: c_int, offset: u64, len: u64) -> c_int {
    // SAFETY: plain integer arguments.
    unsafe { libc::syscall(libc::SYS_fallocate, fd, mode, offset as c_long, len as c_long) as c_int }
}

/// `fcntl(2)` with an integer or pointer argument (passed as a long, as the system call takes it).
pub fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: the kernel validates the descriptor and command; a pointer argument is the
    // caller's, valid for the command.
    unsafe { libc::syscall(libc::SYS_fcntl, fd, cmd, arg) as c_int }
}

/// `close(2)`.
pub fn close(fd: c_int) -> c_int {
    // SAFETY: no memory is passed; the descriptor is the caller's to close.
    unsafe { libc::syscall(libc::SYS_close, fd) as c_int }
}

/// Lowest descriptor number mqshim uses for its own long-lived descriptors, so that the
/// program's descriptors are numbered as they would be without mqshim (an emulated queue's
/// descriptor is the lowest free one, like the kernel's).
pub const PRIVATE_FD_FLOOR: c_int = 200;

/// Moves `fd` to a descriptor ≥ PRIVATE_FD_FLOOR (close-on-exec), if the limit allows.
pub fn move_high(fd: c_int) -> c_int {
    let high = fcntl(fd, libc::F_DUPFD_CLOEXEC, PRIVATE_FD_FLOOR as c_long);
    if high < 0 {
        return fd;
    }
    close(fd);
    high
}

/// The soft limit on `resource` now (`libc::RLIMIT_*`); None where it is infinite or unknown.
pub fn soft_rlimit(resource: libc::__rlimit_resource_t) -> Option<u64> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `r` is a valid out-pointer for the call's duration.
    let read = unsafe { libc::getrlimit(resource, &mut r) } == 0;
    (read && r.rlim_cur != libc::RLIM_INFINITY).then_some(r.rlim_cur)
}

/// Whether no process `pid` exists (in the caller's pid namespace): `kill(pid, 0)` says ESRCH.
pub fn process_gone(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    pid > 0 && unsafe { libc::syscall(libc::SYS_kill, pid, 0) } != 0 && crate::errno::current() == libc::ESRCH
}

/// Whether process `pid` is gone, or has ended and waits to be reaped (a zombie: it runs
/// nothing more, and the kernel has let go of what it held).
pub fn process_gone_or_zombie(pid: i32) -> bool {
    process_gone(pid) || process_stat(pid).is_some_and(|(state, _)| matches!(state, 'Z' | 'X'))
}

/// Process `pid`'s state letter and start time (clock ticks after boot: with the pid, it names
/// one process, whatever reuses the pid later), from `/proc/PID/stat`.
pub fn process_stat(pid: i32) -> Option<(char, u64)> {
    let stat = super::files::read_small_file(std::path::Path::new(&format!("/proc/{pid}/stat")), 1024).ok()?;
    // After the command's ")": state (field 3) … starttime (field 22).
    let mut fields = stat.rsplit_once(") ")?.1.split(' ');
    let state = fields.next()?.chars().next()?;
    Some((state, fields.nth(18)?.parse().ok()?))
}

/// Whether thread `tid` is running, or asleep in the futex wait the emulation's locks sleep in
/// (`FUTEX_WAIT_BITSET` on a process-shared word, CLOCK_MONOTONIC), from `/proc/TID/syscall`:
/// false when it is in another system call, or when the caller may not look (the file asks
/// for ptrace access: another user's thread, or under Yama another process not descended from
/// the caller, without CAP_SYS_PTRACE).
pub fn runs_or_waits_on_shared_futex(tid: i32) -> bool {
    let Ok(text) = super::files::read_small_file(std::path::Path::new(&format!("/proc/{tid}/syscall")), 256) else { return false };
    // "running", or "NR ARG1 ARG2 …" (arguments in hexadecimal) while in a system call.
    if text.trim() == "running" {
        return true;
    }
    let mut fields = text.split(' ');
    let nr = fields.next().and_then(|f| f.trim().parse::<i64>().ok());
    let op = fields.nth(1).and_then(|f| i64::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok());
    nr == Some(libc::SYS_futex) && op == Some(libc::FUTEX_WAIT_BITSET as i64)
}

/// The caller's real, effective and filesystem user and group ids: (uid, euid, fsuid, gid, egid,
/// fsgid). `setfsuid(-1)` changes nothing and returns the current fsuid.
pub fn ids() -> (u32, u32, u32, u32, u32, u32) {
    let (mut uid, mut euid, mut suid) = (0u32, 0u32, 0u32);
    let (mut gid, mut egid, mut sgid) = (0u32, 0u32, 0u32);
    // SAFETY: these system calls only read the caller's credentials into the locals passed
    // (getresuid/getresgid: one call for three ids each, where getuid+geteuid took two).
    unsafe {
        libc::syscall(libc::SYS_getresuid, &mut uid as *mut u32, &mut euid as *mut u32, &mut suid as *mut u32);
        libc::syscall(libc::SYS_getresgid, &mut gid as *mut u32, &mut egid as *mut u32, &mut sgid as *mut u32);
        (uid, euid, fsuid(), gid, egid, fsgid())
    }
}

/// The caller's real user id and filesystem user and group ids: what a new POSIX queue records
/// (three system calls, where [`ids`] takes four).
pub fn creation_ids() -> (u32, u32, u32) {
    // SAFETY: a plain getter without arguments.
    let uid = unsafe { libc::syscall(libc::SYS_getuid) as u32 };
    (uid, fsuid(), fsgid())
}

/// The caller's effective user and group ids and filesystem group id: what System V's
/// permission checks use (three system calls, where [`ids`] takes four).
pub fn effective_ids() -> (u32, u32, u32) {
    // SAFETY: plain getters without arguments.
    unsafe { (libc::syscall(libc::SYS_geteuid) as u32, libc::syscall(libc::SYS_getegid) as u32, fsgid()) }
}

/// The caller's effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: a plain getter without arguments.
    unsafe { libc::syscall(libc::SYS_geteuid) as u32 }
}

/// The caller's filesystem user id (`setfsuid(-1)` changes nothing and returns it).
pub fn fsuid() -> u32 {
    // SAFETY: an invalid id changes nothing; the call only returns the current one.
    unsafe { libc::syscall(libc::SYS_setfsuid, u32::MAX) as u32 }
}

/// The caller's filesystem group id (`setfsgid(-1)`, as [`fsuid`]).
pub fn fsgid() -> u32 {
    // SAFETY: an invalid id changes nothing; the call only returns the current one.
    unsafe { libc::syscall(libc::SYS_setfsgid, u32::MAX) as u32 }
}

/// `struct open_how` of `openat2(2)`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS`: for a path none of whose
/// components is `..` (each checked by the caller), as strict as adding `RESOLVE_BENEATH`
/// — the walk can only go down, through no link and no mount — without the final
/// `path_is_under` check that `RESOLVE_BENEATH` adds under the mount lock (25–100 ns an open
/// on tmpfs).
pub const RESOLVE_DOWNWARD_NO_LINKS: u64 = 0x01 | 0x02 | 0x04;

/// `openat2(2)` with `flags` and `resolve` (ENOSYS where the kernel predates it).
pub fn openat2(dir: c_int, path: &CStr, flags: c_int, resolve: u64) -> c_int {
    let how = OpenHow { flags: flags as u64, mode: 0, resolve };
    // SAFETY: a NUL-terminated path and an open_how of the size passed, alive for the call.
    unsafe { libc::syscall(libc::SYS_openat2, dir, path.as_ptr(), &how as *const OpenHow, std::mem::size_of::<OpenHow>()) as c_int }
}

/// `getgroups(2)`: the number of supplementary groups, filling `groups` when it is large enough.
pub fn getgroups(groups: &mut [u32]) -> c_int {
    // SAFETY: the buffer holds groups.len() entries.
    unsafe { libc::syscall(libc::SYS_getgroups, groups.len() as c_int, groups.as_mut_ptr()) as c_int }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agree_with_libc() {
        // SAFETY: plain getters.
        let (uid, euid, gid, egid) = unsafe { (libc::getuid(), libc::geteuid(), libc::getgid(), libc::getegid()) };
        let (u, e, _, g, eg, _) = ids();
        assert_eq!((u, e, g, eg), (uid, euid, gid, egid));
        let path = format!("/tmp/mqshim-sys-test-{}", std::process::id());
        std::fs::write(&path, b"12345").unwrap();
        let c = std::ffi::CString::new(path.clone()).unwrap();
        let fd = openat(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_CLOEXEC, 0);
        assert!(fd >= 0);
        // SAFETY: an all-zero stat is a valid out-buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        assert_eq!(fstat(fd, &mut st), 0);
        assert_eq!(st.st_size, 5);
        let st2 = stat_at(libc::AT_FDCWD, &c, 0).unwrap();
        assert_eq!((st2.st_ino, st2.st_size), (st.st_ino, 5));
        // SAFETY: plain getters.
        assert_eq!((fsuid(), fsgid()), unsafe { (libc::geteuid(), libc::getegid()) });
        // The file through openat2 below its directory; never through a link.
        let tmp = openat(libc::AT_FDCWD, c"/tmp", libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0);
        let name = std::ffi::CString::new(path.trim_start_matches("/tmp/")).unwrap();
        let again = openat2(tmp, &name, libc::O_RDONLY | libc::O_CLOEXEC, RESOLVE_DOWNWARD_NO_LINKS);
        assert!(again >= 0);
        assert_eq!(stat_of(again).unwrap().st_ino, st.st_ino);
        let link = format!("{path}.link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let link_name = std::ffi::CString::new(link.trim_start_matches("/tmp/")).unwrap();
        assert_eq!(openat2(tmp, &link_name, libc::O_RDONLY | libc::O_CLOEXEC, RESOLVE_DOWNWARD_NO_LINKS), -1);
        assert_eq!(crate::errno::Errno::last(), crate::errno::Errno::ELOOP);
        std::fs::remove_file(&link).unwrap();
        let mut link = [0u8; 64];
        let n = readlinkat(libc::AT_FDCWD, c"/proc/self/ns/user", &mut link);
        assert!(n > 0 && link.starts_with(b"user:["));
        close(again);
        close(tmp);
        assert_eq!(fchmod(fd, 0o640), 0);
        assert_eq!(close(fd), 0);
        assert_eq!(unlinkat(libc::AT_FDCWD, &c, 0), 0);
        let mut groups = [0u32; 256];
        assert!(getgroups(&mut groups) >= 0);
    }
}
