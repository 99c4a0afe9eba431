//! The real functions: the next definitions of the names mqshim exports (libc's), found with
//! `dlsym(RTLD_NEXT, …)` on first use and kept in one table (cwrap's `libc_X`).
//!
//! Binding is lazy (never in a constructor), thread-safe and idempotent: two threads that race
//! resolve the same address. A symbol that cannot be found makes its call fail with ENOSYS.
//! `RTLD_NEXT` searches the objects after libmqshim, so this never finds mqshim's own exports,
//! whether mqshim was preloaded or linked with `-lmqshim`.

use std::os::raw::{c_char, c_int, c_long, c_uint, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{mode_t, mq_attr, mqd_t, msqid_ds, sigevent, size_t, ssize_t, timespec};

/// Sentinel stored for a symbol that `dlsym` could not find.
const MISSING: usize = 1;

/// Looks `name` (NUL-terminated) up once and caches the address in `slot`.
fn resolve(slot: &AtomicUsize, name: &'static [u8]) -> Option<usize> {
    let mut addr = slot.load(Ordering::Acquire);
    if addr == 0 {
        // SAFETY: `name` is a NUL-terminated static string; RTLD_NEXT is valid from a shared
        // object or executable that was loaded by the dynamic linker.
        let found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) } as usize;
        addr = if found == 0 { MISSING } else { found };
        slot.store(addr, Ordering::Release);
    }
    (addr != MISSING).then_some(addr)
}

macro_rules! real_functions {
    ($( $(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; )*) => {
        mod slots {
            use std::sync::atomic::AtomicUsize;
            $( #[allow(non_upper_case_globals)] pub static $name: AtomicUsize = AtomicUsize::new(0); )*
        }
        $(
            $(#[$doc])*
            /// Calls the real function; ENOSYS and -1 when it does not exist.
            ///
            /// # Safety
            /// The caller passes what the C function requires of its arguments.
            pub unsafe fn $name($($arg: $ty),*) -> $ret {
                match resolve(&slots::$name, concat!(stringify!($name), "\0").as_bytes()) {
                    Some(addr) => {
                        // SAFETY: `addr` is the address dlsym returned for this exact C name,
                        // whose C type is the signature written here: glibc's, as the export of
                        // the same name declares it (ffi's same_signature_as_libc! checks that
                        // one against the libc crate).
                        let f = unsafe { std::mem::transmute::<usize, unsafe extern "C" fn($($ty),*) -> $ret>(addr) };
                        // SAFETY: the caller's arguments, per this function's contract.
                        unsafe { f($($arg),*) }
                    }
                    None => {
                        crate::errno::set(libc::ENOSYS);
                        -1
                    }
                }
            }
        )*
    };
}

/// `scandir`'s filter: nonzero keeps the entry.
pub type ScandirFilter = Option<unsafe extern "C" fn(*const libc::dirent) -> c_int>;
/// `scandir`'s comparison (as `alphasort`), of two pointers to entries.
pub type ScandirCompar = Option<unsafe extern "C" fn(*mut *const libc::dirent, *mut *const libc::dirent) -> c_int>;
/// [`ScandirFilter`] of `scandir64`.
pub type ScandirFilter64 = Option<unsafe extern "C" fn(*const libc::dirent64) -> c_int>;
/// [`ScandirCompar`] of `scandir64`.
pub type ScandirCompar64 = Option<unsafe extern "C" fn(*mut *const libc::dirent64, *mut *const libc::dirent64) -> c_int>;

/// `struct FTW` (`<ftw.h>`): the offset of the entry's name in its path, and its depth.
#[repr(C)]
pub struct Ftw {
    pub base: c_int,
    pub level: c_int,
}
/// `nftw`'s callback.
pub type NftwFn = Option<unsafe extern "C" fn(*const c_char, *const libc::stat, c_int, *mut Ftw) -> c_int>;
/// `ftw`'s callback.
pub type FtwFn = Option<unsafe extern "C" fn(*const c_char, *const libc::stat, c_int) -> c_int>;

// `mq_open` is variadic in C; the real one is called through a variadic pointer type.
type MqOpenFn = unsafe extern "C" fn(*const c_char, c_int, ...) -> mqd_t;

// `fcntl` is variadic too; its optional argument is an int or a pointer, passed as a long.
type FcntlFn = unsafe extern "C" fn(c_int, c_int, ...) -> c_int;

/// The real `fcntl` (and `fcntl64`, the same function in glibc), with its optional argument.
///
/// # Safety
/// As for C `fcntl`.
pub unsafe fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    match resolve(&SLOT, b"fcntl\0") {
        Some(addr) => {
            // SAFETY: the address of libc's `fcntl`, whose type is `FcntlFn`.
            let f: FcntlFn = unsafe { std::mem::transmute::<usize, FcntlFn>(addr) };
            // SAFETY: the caller's arguments, per this function's contract; `arg` travels in the
            // register a variadic int or pointer would (see ffi's `fcntl`).
            unsafe { f(fd, cmd, arg) }
        }
        None => {
            crate::errno::set(libc::ENOSYS);
            -1
        }
    }
}

// `syscall` is variadic too: the number and up to six register-sized arguments.
type SyscallFn = unsafe extern "C" fn(c_long, ...) -> c_long;

/// The real `syscall`, called with all six arguments (the kernel reads those the call has).
///
/// # Safety
/// As for C `syscall` with these arguments.
pub unsafe fn syscall(number: c_long, args: [c_long; 6]) -> c_long {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    match resolve(&SLOT, b"syscall\0") {
        Some(addr) => {
            // SAFETY: the address of libc's `syscall`, whose type is `SyscallFn`.
            let f: SyscallFn = unsafe { std::mem::transmute::<usize, SyscallFn>(addr) };
            // SAFETY: the caller's arguments, per this function's contract; each travels as the
            // variadic long it was passed as.
            unsafe { f(number, args[0], args[1], args[2], args[3], args[4], args[5]) }
        }
        None => {
            crate::errno::set(libc::ENOSYS);
            -1
        }
    }
}

/// The real `mq_open`, called with all four arguments (the extra ones are only read by libc
/// when `O_CREAT` is set, as with any variadic call).
///
/// # Safety
/// As for C `mq_open`.
pub unsafe fn mq_open(name: *const c_char, oflag: c_int, mode: mode_t, attr: *mut mq_attr) -> mqd_t {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    match resolve(&SLOT, b"mq_open\0") {
        Some(addr) => {
            // SAFETY: the address of libc's `mq_open`, whose type is `MqOpenFn`.
            let f: MqOpenFn = unsafe { std::mem::transmute::<usize, MqOpenFn>(addr) };
            // SAFETY: the caller's arguments, per this function's contract; libc reads `mode` and
            // `attr` only when `oflag` has O_CREAT.
            unsafe { f(name, oflag, mode, attr) }
        }
        None => {
            crate::errno::set(libc::ENOSYS);
            -1
        }
    }
}

real_functions! {
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
    fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn posix_spawn(pid: *mut libc::pid_t, path: *const c_char, actions: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fn posix_spawnp(pid: *mut libc::pid_t, file: *const c_char, actions: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    /// glibc's `_FORTIFY_SOURCE` entry for a two-argument `mq_open`.
    fn __mq_open_2(name: *const c_char, oflag: c_int) -> mqd_t;
    fn mq_close(mqdes: mqd_t) -> c_int;
    fn mq_unlink(name: *const c_char) -> c_int;
    fn mq_send(mqdes: mqd_t, msg_ptr: *const c_char, msg_len: size_t, msg_prio: c_uint) -> c_int;
    fn mq_timedsend(mqdes: mqd_t, msg_ptr: *const c_char, msg_len: size_t, msg_prio: c_uint, abs_timeout: *const timespec) -> c_int;
    fn mq_receive(mqdes: mqd_t, msg_ptr: *mut c_char, msg_len: size_t, msg_prio: *mut c_uint) -> ssize_t;
    fn mq_timedreceive(mqdes: mqd_t, msg_ptr: *mut c_char, msg_len: size_t, msg_prio: *mut c_uint, abs_timeout: *const timespec) -> ssize_t;
    fn mq_getattr(mqdes: mqd_t, attr: *mut mq_attr) -> c_int;
    fn mq_setattr(mqdes: mqd_t, newattr: *const mq_attr, oldattr: *mut mq_attr) -> c_int;
    fn mq_notify(mqdes: mqd_t, sevp: *const sigevent) -> c_int;
    fn msgget(key: libc::key_t, msgflg: c_int) -> c_int;
    fn msgsnd(msqid: c_int, msgp: *const c_void, msgsz: size_t, msgflg: c_int) -> c_int;
    fn msgrcv(msqid: c_int, msgp: *mut c_void, msgsz: size_t, msgtyp: c_long, msgflg: c_int) -> ssize_t;
    fn msgctl(msqid: c_int, cmd: c_int, buf: *mut msqid_ds) -> c_int;
    fn setuid(uid: libc::uid_t) -> c_int;
    fn setgid(gid: libc::gid_t) -> c_int;
    fn seteuid(uid: libc::uid_t) -> c_int;
    fn setegid(gid: libc::gid_t) -> c_int;
    fn setreuid(ruid: libc::uid_t, euid: libc::uid_t) -> c_int;
    fn setregid(rgid: libc::gid_t, egid: libc::gid_t) -> c_int;
    fn setresuid(ruid: libc::uid_t, euid: libc::uid_t, suid: libc::uid_t) -> c_int;
    fn setresgid(rgid: libc::gid_t, egid: libc::gid_t, sgid: libc::gid_t) -> c_int;
    fn setgroups(size: size_t, list: *const libc::gid_t) -> c_int;
    fn initgroups(user: *const c_char, group: libc::gid_t) -> c_int;
    /// Returns the previous filesystem uid, never an error.
    fn setfsuid(fsuid: libc::uid_t) -> c_int;
    /// Returns the previous filesystem gid, never an error.
    fn setfsgid(fsgid: libc::gid_t) -> c_int;
    fn capset(header: *mut c_void, data: *const c_void) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn dup(oldfd: c_int) -> c_int;
    fn dup2(oldfd: c_int, newfd: c_int) -> c_int;
    fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> c_int;
    fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int;
    fn ppoll(fds: *mut libc::pollfd, nfds: libc::nfds_t, tmo: *const timespec, sigmask: *const libc::sigset_t) -> c_int;
    fn select(nfds: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set, tv: *mut libc::timeval) -> c_int;
    fn pselect(nfds: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set, tmo: *const timespec, sigmask: *const libc::sigset_t) -> c_int;
    fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut libc::epoll_event) -> c_int;
    fn epoll_pwait(epfd: c_int, events: *mut libc::epoll_event, maxevents: c_int, timeout: c_int, sigmask: *const libc::sigset_t) -> c_int;
    /// glibc 2.35's; the libc crate has no binding, so ffi's export is not checked against one.
    fn epoll_pwait2(epfd: c_int, events: *mut libc::epoll_event, maxevents: c_int, timeout: *const timespec, sigmask: *const libc::sigset_t) -> c_int;
    /// `open` as `_FORTIFY_SOURCE` compiles a two-argument call (util-linux's `ipcs` makes it).
    fn __open_2(path: *const c_char, flags: c_int) -> c_int;
    fn __open64_2(path: *const c_char, flags: c_int) -> c_int;
    fn __openat_2(dir: c_int, path: *const c_char, flags: c_int) -> c_int;
    fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t;
    fn pwrite(fd: c_int, buf: *const c_void, count: size_t, offset: libc::off_t) -> ssize_t;
    fn pwrite64(fd: c_int, buf: *const c_void, count: size_t, offset: libc::off64_t) -> ssize_t;
    fn writev(fd: c_int, iov: *const libc::iovec, iovcnt: c_int) -> ssize_t;
    fn pwritev(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off_t) -> ssize_t;
    fn pwritev64(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off64_t) -> ssize_t;
    fn pwritev2(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off_t, flags: c_int) -> ssize_t;
    fn pwritev64v2(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off64_t, flags: c_int) -> ssize_t;
    fn readv(fd: c_int, iov: *const libc::iovec, iovcnt: c_int) -> ssize_t;
    fn preadv(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off_t) -> ssize_t;
    fn preadv64(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off64_t) -> ssize_t;
    fn preadv2(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off_t, flags: c_int) -> ssize_t;
    fn preadv64v2(fd: c_int, iov: *const libc::iovec, iovcnt: c_int, offset: libc::off64_t, flags: c_int) -> ssize_t;
    fn sigsuspend(mask: *const libc::sigset_t) -> c_int;
    fn sigignore(signum: c_int) -> c_int;
    fn siginterrupt(signum: c_int, flag: c_int) -> c_int;
    fn sigblock(mask: c_int) -> c_int;
    fn sigsetmask(mask: c_int) -> c_int;
    fn sigaction(signum: c_int, act: *const libc::sigaction, oldact: *mut libc::sigaction) -> c_int;
    fn sigprocmask(how: c_int, set: *const libc::sigset_t, oldset: *mut libc::sigset_t) -> c_int;
    /// Returns an error number, as the pthread functions do.
    fn pthread_sigmask(how: c_int, set: *const libc::sigset_t, oldset: *mut libc::sigset_t) -> c_int;
    fn stat(path: *const c_char, buf: *mut libc::stat) -> c_int;
    fn stat64(path: *const c_char, buf: *mut libc::stat64) -> c_int;
    fn lstat(path: *const c_char, buf: *mut libc::stat) -> c_int;
    fn lstat64(path: *const c_char, buf: *mut libc::stat64) -> c_int;
    fn fstatat(dir: c_int, path: *const c_char, buf: *mut libc::stat, flags: c_int) -> c_int;
    fn fstatat64(dir: c_int, path: *const c_char, buf: *mut libc::stat64, flags: c_int) -> c_int;
    fn statx(dir: c_int, path: *const c_char, flags: c_int, mask: c_uint, buf: *mut libc::statx) -> c_int;
    fn access(path: *const c_char, amode: c_int) -> c_int;
    fn unlink(path: *const c_char) -> c_int;
    fn remove(path: *const c_char) -> c_int;
    fn getxattr(path: *const c_char, name: *const c_char, value: *mut c_void, size: size_t) -> ssize_t;
    fn lgetxattr(path: *const c_char, name: *const c_char, value: *mut c_void, size: size_t) -> ssize_t;
    fn chmod(path: *const c_char, mode: mode_t) -> c_int;
    fn fchmodat(dir: c_int, path: *const c_char, mode: mode_t, flags: c_int) -> c_int;
    fn chown(path: *const c_char, uid: libc::uid_t, gid: libc::gid_t) -> c_int;
    fn lchown(path: *const c_char, uid: libc::uid_t, gid: libc::gid_t) -> c_int;
    fn fchownat(dir: c_int, path: *const c_char, uid: libc::uid_t, gid: libc::gid_t, flags: c_int) -> c_int;
    fn closedir(dir: *mut libc::DIR) -> c_int;
    fn scandir(path: *const c_char, namelist: *mut *mut *mut libc::dirent, filter: ScandirFilter, compar: ScandirCompar) -> c_int;
    fn scandir64(path: *const c_char, namelist: *mut *mut *mut libc::dirent64, filter: ScandirFilter64, compar: ScandirCompar64) -> c_int;
    fn nftw(path: *const c_char, f: NftwFn, nopenfd: c_int, flags: c_int) -> c_int;
    fn ftw(path: *const c_char, f: FtwFn, nopenfd: c_int) -> c_int;
    fn unlinkat(dir: c_int, path: *const c_char, flags: c_int) -> c_int;
    fn fstat(fd: c_int, buf: *mut libc::stat) -> c_int;
    fn fstat64(fd: c_int, buf: *mut libc::stat64) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t;
    fn pread(fd: c_int, buf: *mut c_void, count: size_t, offset: libc::off_t) -> ssize_t;
    fn pread64(fd: c_int, buf: *mut c_void, count: size_t, offset: libc::off64_t) -> ssize_t;
    fn fchmod(fd: c_int, mode: mode_t) -> c_int;
    fn fchown(fd: c_int, uid: libc::uid_t, gid: libc::gid_t) -> c_int;
    fn lseek(fd: c_int, offset: libc::off_t, whence: c_int) -> libc::off_t;
    fn lseek64(fd: c_int, offset: libc::off64_t, whence: c_int) -> libc::off64_t;
    fn faccessat(dir: c_int, path: *const c_char, amode: c_int, flags: c_int) -> c_int;
    fn chdir(path: *const c_char) -> c_int;
    fn fchdir(fd: c_int) -> c_int;
}

/// Calls the real function `name` of `signal`'s type, bound in `slot`; SIG_ERR with ENOSYS
/// when it does not exist (it returns a handler, so it is not bound by the macro).
///
/// # Safety
/// As for C `signal`; `name` is NUL-terminated and names a function of that type.
unsafe fn call_signal_like(slot: &AtomicUsize, name: &'static [u8], signum: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    match resolve(slot, name) {
        Some(addr) => {
            type SignalFn = unsafe extern "C" fn(c_int, libc::sighandler_t) -> libc::sighandler_t;
            // SAFETY: the address of libc's function `name`, whose type is SignalFn.
            let f: SignalFn = unsafe { std::mem::transmute::<usize, SignalFn>(addr) };
            // SAFETY: the caller's arguments, per this function's contract.
            unsafe { f(signum, handler) }
        }
        None => {
            crate::errno::set(libc::ENOSYS);
            libc::SIG_ERR
        }
    }
}

macro_rules! signal_like_functions {
    ($( $(#[$doc:meta])* fn $name:ident; )*) => {
        $(
            $(#[$doc])*
            ///
            /// # Safety
            /// As for C `signal`.
            pub unsafe fn $name(signum: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
                static SLOT: AtomicUsize = AtomicUsize::new(0);
                // SAFETY: the caller's arguments; the name is libc's function of signal's type.
                unsafe { call_signal_like(&SLOT, concat!(stringify!($name), "\0").as_bytes(), signum, handler) }
            }
        )*
    };
}

signal_like_functions! {
    /// The real `signal` (glibc's BSD semantics).
    fn signal;
    /// The real `bsd_signal` (glibc's `signal`).
    fn bsd_signal;
    /// The real `ssignal` (glibc's `signal` too).
    fn ssignal;
    /// The real `sysv_signal` (a one-shot handler, not deferring, not restarting).
    fn sysv_signal;
    /// The real `__sysv_signal` (the same function).
    fn __sysv_signal;
    /// The real `sigset` (System V's: SIG_HOLD blocks the signal, a disposition unblocks it).
    fn sigset;
}

/// Calls libc's `open`-shaped function `name` (NUL-terminated; variadic, so it is bound by hand
/// rather than by the macro), bound once into `slot`; `mode` is passed on as the third
/// argument, which it reads only with O_CREAT or O_TMPFILE.
///
/// # Safety
/// As for C `open`; `name` names a function of that type.
unsafe fn call_open_like(slot: &AtomicUsize, name: &'static [u8], path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    match resolve(slot, name) {
        Some(addr) => {
            type OpenFn = unsafe extern "C" fn(*const c_char, c_int, ...) -> c_int;
            // SAFETY: the address of libc's `name`, whose type is OpenFn (this function's
            // contract).
            let f: OpenFn = unsafe { std::mem::transmute::<usize, OpenFn>(addr) };
            // SAFETY: the caller's arguments, per this function's contract.
            unsafe { f(path, flags, mode) }
        }
        None => {
            crate::errno::set(libc::ENOSYS);
            -1
        }
    }
}

/// The real `open`.
///
/// # Safety
/// As for C `open`.
pub unsafe fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: `open`'s own type; the caller's arguments, per this function's contract.
    unsafe { call_open_like(&SLOT, b"open\0", path, flags, mode) }
}

/// The real `open64`.
///
/// # Safety
/// As for C `open`.
pub unsafe fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: `open64` has open's type; the caller's arguments, per this function's contract.
    unsafe { call_open_like(&SLOT, b"open64\0", path, flags, mode) }
}

/// The real `openat` or `openat64` (`name`, NUL-terminated; variadic, as `open`).
///
/// # Safety
/// As for C `openat`.
pub unsafe fn openat_named(name: &'static [u8], dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    static SLOT64: AtomicUsize = AtomicUsize::new(0);
    let slot = if name == b"openat64\0" { &SLOT64 } else { &SLOT };
    match resolve(slot, name) {
        Some(addr) => {
            type OpenatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, ...) -> c_int;
            // SAFETY: the address of libc's `openat`/`openat64`, whose type is OpenatFn.
            let f: OpenatFn = unsafe { std::mem::transmute::<usize, OpenatFn>(addr) };
            // SAFETY: the caller's arguments, per this function's contract.
            unsafe { f(dir, path, flags, mode) }
        }
        None => {
            crate::errno::set(libc::ENOSYS);
            -1
        }
    }
}

/// Calls libc's `fopen`-shaped function `name` (NUL-terminated), bound once into `slot`.
///
/// # Safety
/// As for C `fopen`; `name` names a function of that type.
unsafe fn call_fopen_like(slot: &AtomicUsize, name: &'static [u8], path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    match resolve(slot, name) {
        Some(addr) => {
            type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
            // SAFETY: the address of libc's `name`, whose type is FopenFn (this function's
            // contract).
            let f: FopenFn = unsafe { std::mem::transmute::<usize, FopenFn>(addr) };
            // SAFETY: the caller's arguments, per this function's contract.
            unsafe { f(path, mode) }
        }
        None => {
            crate::errno::set(libc::ENOSYS);
            std::ptr::null_mut()
        }
    }
}

/// The real `fopen64`.
///
/// # Safety
/// As for C `fopen`.
pub unsafe fn fopen64(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: `fopen64` has fopen's type; the caller's arguments, per this function's contract.
    unsafe { call_fopen_like(&SLOT, b"fopen64\0", path, mode) }
}

/// The real `fopen` (returns a pointer, so it is bound by hand rather than by the macro).
///
/// # Safety
/// As for C `fopen`.
pub unsafe fn fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: `fopen`'s own type; the caller's arguments, per this function's contract.
    unsafe { call_fopen_like(&SLOT, b"fopen\0", path, mode) }
}

/// Calls libc's one-pointer-argument, pointer-returning function `name` (NUL-terminated), bound
/// once into `slot`; NULL with ENOSYS when it does not exist.
///
/// # Safety
/// As for the C function `name`, whose type is `unsafe extern "C" fn(*mut A) -> *mut R`.
unsafe fn call_pointer_fn<A, R>(slot: &AtomicUsize, name: &'static [u8], arg: *mut A) -> *mut R {
    match resolve(slot, name) {
        Some(addr) => {
            // SAFETY: the address of libc's `name`, of this type (this function's contract).
            let f = unsafe { std::mem::transmute::<usize, unsafe extern "C" fn(*mut A) -> *mut R>(addr) };
            // SAFETY: the caller's argument, per this function's contract.
            unsafe { f(arg) }
        }
        None => {
            crate::errno::set(libc::ENOSYS);
            std::ptr::null_mut()
        }
    }
}

/// The real `opendir`.
///
/// # Safety
/// As for C `opendir`.
pub unsafe fn opendir(path: *const c_char) -> *mut libc::DIR {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: opendir takes a path and returns a stream; the caller's argument.
    unsafe { call_pointer_fn(&SLOT, b"opendir\0", path.cast_mut()) }
}

/// The real `readdir`.
///
/// # Safety
/// As for C `readdir`.
pub unsafe fn readdir(dir: *mut libc::DIR) -> *mut libc::dirent {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: readdir takes a stream and returns an entry; the caller's argument.
    unsafe { call_pointer_fn(&SLOT, b"readdir\0", dir) }
}

/// The real `readdir64`.
///
/// # Safety
/// As for C `readdir64`.
pub unsafe fn readdir64(dir: *mut libc::DIR) -> *mut libc::dirent64 {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: readdir64 takes a stream and returns an entry; the caller's argument.
    unsafe { call_pointer_fn(&SLOT, b"readdir64\0", dir) }
}
