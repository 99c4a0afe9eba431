//! The backend seam: one trait with a method per exported call, implemented by the kernel
//! pass-through ([`kernel`]), with `MQSHIM_BACKEND=emulate` by the emulation, and with
//! `MQSHIM_BACKEND=redis` by queues on a Redis server ([`redis`]).
//!
//! Methods take the caller's raw arguments and return `Result`: errno is written only by the
//! errno door in `ffi`.

pub mod emulation;
pub mod kernel;
pub mod redis;

use std::os::raw::{c_char, c_int, c_long, c_uint, c_void};

use libc::{key_t, mode_t, mq_attr, mqd_t, msqid_ds, sigevent, size_t, ssize_t, timespec};

use crate::config::BackendKind;
use crate::errno::Result;

/// Every queue operation, as the C API defines it.
///
/// The `unsafe` methods take the calling program's raw arguments, and each one's `# Safety`
/// section is that call's C contract: the caller (dispatch) passes the arguments as the program
/// passed them, valid as the C API requires. Where the kernel answers a bad pointer with EFAULT
/// rather than a crash, an implementation must not trust the pointer beyond that either: bad
/// input yields the kernel's errno.
pub trait Backend: Sync + Send {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// `mq_open`; `mode` and `attr` are read only when `oflag` has `O_CREAT`. `fortify` says
    /// the program called `__mq_open_2`.
    ///
    /// # Safety
    /// `name` is a NUL-terminated string; with `O_CREAT`, `attr` is NULL or a `struct mq_attr`.
    unsafe fn mq_open(&self, name: *const c_char, oflag: c_int, mode: mode_t, attr: *mut mq_attr, fortify: bool) -> Result<mqd_t>;

    /// `mq_close`.
    ///
    /// # Safety
    /// None beyond mq_close(3)'s: `mqdes` is not a descriptor other code owns and still uses.
    unsafe fn mq_close(&self, mqdes: mqd_t) -> Result<c_int>;

    /// `mq_unlink`.
    ///
    /// # Safety
    /// `name` is a NUL-terminated string.
    unsafe fn mq_unlink(&self, name: *const c_char) -> Result<c_int>;

    /// `mq_send` (`timeout` None) or `mq_timedsend` (`timeout` Some, possibly NULL).
    ///
    /// # Safety
    /// `msg` points to `len` readable bytes; a `Some` timeout is NULL or points to a
    /// `struct timespec`.
    unsafe fn mq_send(&self, mqdes: mqd_t, msg: *const c_char, len: size_t, prio: c_uint, timeout: Option<*const timespec>) -> Result<c_int>;

    /// `mq_receive` (`timeout` None) or `mq_timedreceive` (`timeout` Some, possibly NULL).
    ///
    /// # Safety
    /// `msg` points to `len` writable bytes, `prio` is NULL or writable, and a `Some` timeout
    /// is NULL or points to a `struct timespec`.
    unsafe fn mq_receive(&self, mqdes: mqd_t, msg: *mut c_char, len: size_t, prio: *mut c_uint, timeout: Option<*const timespec>) -> Result<ssize_t>;

    /// `mq_getattr`.
    ///
    /// # Safety
    /// `attr` points to a writable `struct mq_attr`.
    unsafe fn mq_getattr(&self, mqdes: mqd_t, attr: *mut mq_attr) -> Result<c_int>;

    /// `mq_setattr`.
    ///
    /// # Safety
    /// `new` points to a `struct mq_attr`; `old` is NULL or writable.
    unsafe fn mq_setattr(&self, mqdes: mqd_t, new: *const mq_attr, old: *mut mq_attr) -> Result<c_int>;

    /// `mq_notify`.
    ///
    /// # Safety
    /// `sev` is NULL or points to a `struct sigevent`.
    unsafe fn mq_notify(&self, mqdes: mqd_t, sev: *const sigevent) -> Result<c_int>;

    /// `msgget`.
    ///
    /// # Safety
    /// None: no pointer arguments (unsafe only to match the other calls' shape: the kernel
    /// backend calls the real function).
    unsafe fn msgget(&self, key: key_t, flags: c_int) -> Result<c_int>;

    /// `msgsnd`.
    ///
    /// # Safety
    /// `msgp` points to a `long` followed by `size` readable bytes.
    unsafe fn msgsnd(&self, id: c_int, msgp: *const c_void, size: size_t, flags: c_int) -> Result<c_int>;

    /// `msgrcv`.
    ///
    /// # Safety
    /// `msgp` points to a `long` followed by `size` writable bytes.
    unsafe fn msgrcv(&self, id: c_int, msgp: *mut c_void, size: size_t, typ: c_long, flags: c_int) -> Result<ssize_t>;

    /// `msgctl`.
    ///
    /// # Safety
    /// `buf` points to what `cmd` reads or writes (a `struct msqid_ds`, or a `struct msginfo`
    /// for IPC_INFO/MSG_INFO), or is unused by `cmd`.
    unsafe fn msgctl(&self, id: c_int, cmd: c_int, buf: *mut msqid_ds) -> Result<c_int>;

    /// `mqshim_mq_send_at`: a POSIX message visible from `due`. ENOTSUP unless emulated.
    ///
    /// # Safety
    /// `msg` points to `len` readable bytes, `due` to a `struct timespec`, `handle` to writable
    /// storage.
    unsafe fn mq_send_at(&self, _mqdes: mqd_t, _msg: *const c_char, _len: size_t, _prio: c_uint, _due: *const timespec, _handle: *mut u64) -> Result<c_int> {
        Err(crate::errno::Errno::ENOTSUP)
    }

    /// `mqshim_mq_cancel`. ENOTSUP unless emulated.
    ///
    /// # Safety
    /// None: no pointer arguments.
    unsafe fn mq_cancel(&self, _mqdes: mqd_t, _handle: u64) -> Result<c_int> {
        Err(crate::errno::Errno::ENOTSUP)
    }

    /// `mqshim_msgsnd_at`: a System V message sent at `due`. ENOTSUP unless emulated.
    ///
    /// # Safety
    /// `msgp` points to a `long` followed by `size` readable bytes, `due` to a `struct timespec`,
    /// `handle` to writable storage.
    unsafe fn msgsnd_at(&self, _id: c_int, _msgp: *const c_void, _size: size_t, _flags: c_int, _due: *const timespec, _handle: *mut u64) -> Result<c_int> {
        Err(crate::errno::Errno::ENOTSUP)
    }

    /// `mqshim_msg_cancel`. ENOTSUP unless emulated.
    ///
    /// # Safety
    /// None: no pointer arguments.
    unsafe fn msg_cancel(&self, _id: c_int, _handle: u64) -> Result<c_int> {
        Err(crate::errno::Errno::ENOTSUP)
    }

    // Descriptor and readiness hooks: what the exported descriptor functions (`close`, `dup`,
    // `dup2`, `dup3`, `fcntl`, `poll` & co.) and `fopen` tell a backend whose queue descriptors
    // are plain descriptors it must follow. The kernel's need none of this.

    /// Whether this backend ever made a queue descriptor in this process (cheap: the
    /// descriptor functions ask it on every call).
    fn has_descriptors(&self) -> bool {
        false
    }

    /// Whether `fd` is one of this backend's queue descriptors.
    fn owns_descriptor(&self, _fd: c_int) -> bool {
        false
    }

    /// `fd` is being closed (by `close`, `mq_close`, or `dup2`/`dup3` onto it): if it is a queue
    /// descriptor, the backend closes it as the kernel closes a queue descriptor and returns
    /// the result; None when it is not one.
    fn descriptor_closing(&self, _fd: c_int) -> Option<Result<c_int>> {
        None
    }

    /// `new` now refers to what `old` refers to (`dup`, `dup2`, `dup3`, `F_DUPFD`).
    fn descriptor_duplicated(&self, _old: c_int, _new: c_int) {}

    /// `fd` was passed to `poll`, `ppoll`, `select`, `pselect` or `epoll_ctl`: its readiness
    /// must be kept from now on.
    fn descriptor_polled(&self, _fd: c_int) {}

    // What a supervisor serving another process's calls (`mqshim run` of a statically linked
    // program) tells the backend of that process's queue descriptors: it works on copies of
    // them, which the other process may close at any time without the backend seeing it.

    /// `fd` is this process's copy of another process's queue descriptor: the backend's calls
    /// may use it until [`Backend::descriptor_handed_back`]. EBADF when it is none of this
    /// backend's queue descriptors. The kernel's need nothing.
    fn descriptor_adopted(&self, _fd: c_int) -> Result<()> {
        Ok(())
    }

    /// `fd`, one of this backend's queue descriptors here (adopted, or just opened for another
    /// process), belongs to another process from now on: forgotten here without closing its
    /// queue, and marked so that a later copy of it can be adopted.
    fn descriptor_handed_back(&self, _fd: c_int) {}

    /// `fd`, this process's adopted copy of a queue descriptor, is being closed by the served
    /// process (the kernel closes it after): what closing it does besides — the caller's
    /// notification registration on the queue removed — is done. Our copy stays open.
    fn descriptor_closing_in_served(&self, _fd: c_int) {}

    /// Finishes what the served process's closes left (an unlinked queue whose last descriptor
    /// it closed is destroyed once that close has happened): called every few milliseconds
    /// while serving, and at the end.
    fn served_closes_settle(&self) {}

    /// What the `/proc` file `path` says under this backend when the kernel's file does not say
    /// it (`/proc/sysvipc/msg`'s queues, the limit files' values); None: let the program read
    /// the kernel's file.
    fn proc_file(&self, _path: &[u8]) -> Option<String> {
        None
    }

    /// Whether opening the `/proc` file `path` for writing is this backend's to serve (Some),
    /// and whether the caller may (the errno `open` fails with); None: the kernel's file.
    fn proc_file_open_write(&self, _path: &[u8]) -> Option<Result<()>> {
        None
    }

    /// One write(2) of `data` at position `pos` to the `/proc` file `path` that
    /// [`Backend::proc_file_open_write`] served: the count write returns.
    fn proc_file_write(&self, _path: &[u8], _data: &[u8], _pos: i64) -> Result<usize> {
        Err(crate::errno::Errno::EBADF)
    }

    /// The queue `name` as `/dev/mqueue/NAME` shows it (Some: this backend serves
    /// `/dev/mqueue`, with ENOENT for a name that is no queue); None: the kernel's file.
    fn dev_mqueue_entry(&self, _name: &[u8]) -> Option<Result<crate::devmqueue::Entry>> {
        None
    }

    /// `open` of `/dev/mqueue/NAME` with `flags` (and `mode`, with O_CREAT): a queue
    /// descriptor of this backend (Some), or None: the kernel's file.
    fn dev_mqueue_open(&self, _name: &[u8], _flags: c_int, _mode: mode_t) -> Option<Result<c_int>> {
        None
    }

    /// A new descriptor of a directory that lists this backend's queues by name (Some), for
    /// `opendir("/dev/mqueue")`; None: the kernel's directory.
    fn dev_mqueue_directory(&self) -> Option<Result<c_int>> {
        None
    }

    /// The status of the directory this backend's queues are listed in and how many queues
    /// it holds (Some), for `stat("/dev/mqueue")`; None: the kernel's directory.
    fn dev_mqueue_root(&self) -> Option<Result<(libc::stat, usize)>> {
        None
    }

    /// `chmod`/`chown` of `/dev/mqueue/NAME` (Some), or None: the kernel's file.
    fn dev_mqueue_change(&self, _name: &[u8], _change: crate::devmqueue::AttributeChange) -> Option<Result<()>> {
        None
    }

    /// `unlink` of `/dev/mqueue/NAME`: `mq_unlink` of NAME (Some), or None: the kernel's file.
    fn dev_mqueue_unlink(&self, _name: &[u8]) -> Option<Result<()>> {
        None
    }

    /// What `fstat` of the queue descriptor `fd` shows (None: not one of this backend's).
    fn descriptor_entry(&self, _fd: c_int) -> Option<Result<crate::devmqueue::Entry>> {
        None
    }

    /// `read` of at most `count` bytes from the queue descriptor `fd`: the bytes of the
    /// kernel's status line from position `at` (`pread`), or from the description's offset
    /// (None), handed to `copy_out` — the offset moves on only when it succeeds; the count
    /// read, or None: not one of this backend's.
    fn descriptor_status_read(&self, _fd: c_int, _at: Option<u64>, _count: usize, _copy_out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Option<Result<usize>> {
        None
    }

    /// `fchmod`/`fchown` of the queue descriptor `fd` (Some), as `dev_mqueue_change` of its
    /// queue; None: not one of this backend's.
    fn descriptor_change(&self, _fd: c_int, _change: crate::devmqueue::AttributeChange) -> Option<Result<()>> {
        None
    }

    /// Whether the queue descriptor `fd` was opened for reading and for writing (None: not
    /// one of this backend's).
    fn descriptor_access(&self, _fd: c_int) -> Option<(bool, bool)> {
        None
    }

    /// `lseek` of the queue descriptor `fd`: `seek` maps the description's offset to the new
    /// one, which is kept when it succeeds; the new offset, or None: not one of this backend's.
    fn descriptor_seek(&self, _fd: c_int, _seek: &dyn Fn(u64) -> Result<u64>) -> Option<Result<u64>> {
        None
    }
}
