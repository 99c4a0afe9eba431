//! The emulation: message queues entirely in userspace, in shared memory under `MQSHIM_DIR`,
//! cross-process, indistinguishable from the kernel's through the API except for speed.
//!
//! - [`shm`]: segment files, `#[repr(C)]` layout, robust lock, futex waits.
//! - [`posix`]: POSIX queues (`mq_*`).
//! - [`sysv`]: System V queues (`msg*`).
//! - [`namespace`]: the `MQSHIM_DIR` tree.
//! - [`creds`]: the caller's credentials and capabilities.
//! - [`sys`]: the emulation's own system calls, made past any other interposer.
//! - [`limits`]: the limits enforced.

pub mod limits;
pub mod namespace;
pub mod posix;
pub mod shm;
pub mod sysv;

use std::os::raw::{c_char, c_int, c_long, c_uint, c_void};
use std::sync::OnceLock;

use libc::{key_t, mode_t, mq_attr, mqd_t, msqid_ds, sigevent, size_t, ssize_t, timespec};

use crate::backend::Backend;
use crate::config::BackendKind;
use crate::errno::{Errno, Result};
use posix::PosixEmulation;
use sysv::{SysvEmulation, SysvLimits};

/// The emulation backend. The namespace is opened on first use; a namespace that cannot be
/// opened makes every call fail with its errno (reported once on stderr).
pub struct EmulatedBackend {
    root: Vec<u8>,
    posix: OnceLock<std::result::Result<PosixEmulation, Errno>>,
    sysv: OnceLock<std::result::Result<SysvEmulation, Errno>>,
}

impl EmulatedBackend {
    pub fn new(root: Vec<u8>) -> EmulatedBackend {
        EmulatedBackend { root, posix: OnceLock::new(), sysv: OnceLock::new() }
    }

    pub fn posix(&self) -> Result<&PosixEmulation> {
        self.posix
            .get_or_init(|| {
                PosixEmulation::new(&self.root).inspect_err(|e| {
                    crate::config::report(&[crate::config::ConfigProblem {
                        variable: "MQSHIM_DIR",
                        message: format!("cannot use '{}' as the emulation's namespace: {}", String::from_utf8_lossy(&self.root), e.desc()),
                    }]);
                })
            })
            .as_ref()
            .map_err(|e| *e)
    }

    pub fn sysv(&self) -> Result<&SysvEmulation> {
        self.sysv
            .get_or_init(|| {
                SysvEmulation::new(&self.root, SysvLimits::current()).inspect_err(|e| {
                    crate::config::report(&[crate::config::ConfigProblem {
                        variable: "MQSHIM_DIR",
                        message: format!("cannot use '{}' for System V queues: {}", String::from_utf8_lossy(&self.root), e.desc()),
                    }]);
                })
            })
            .as_ref()
            .map_err(|e| *e)
    }

    /// Closes `fd` if it is an emulated descriptor (from `close`, `mq_close`, `dup2`, `dup3`);
    /// None when it is not one.
    pub fn close_emulated(&self, fd: c_int) -> Option<Result<c_int>> {
        let d = posix::fdtable::remove(fd)?;
        Some(self.posix().and_then(|p| p.close(fd, d)))
    }
}

impl Backend for EmulatedBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Emulate
    }

    unsafe fn mq_open(&self, name: *const c_char, oflag: c_int, mode: mode_t, attr: *mut mq_attr, fortify: bool) -> Result<mqd_t> {
        if fortify && oflag & libc::O_CREAT != 0 {
            // glibc's __mq_open_2 aborts here ("invalid mq_open call"); let it say so itself.
            // SAFETY: the caller's arguments, as the program passed them.
            return crate::errno::check(unsafe { crate::real::__mq_open_2(name, oflag) });
        }
        self.posix()?.open(name, oflag, mode, attr)
    }

    unsafe fn mq_close(&self, mqdes: mqd_t) -> Result<c_int> {
        match self.close_emulated(mqdes) {
            Some(r) => r,
            // mq_close is close(2): any other descriptor is closed too.
            // SAFETY: the caller's descriptor.
            None => crate::errno::check(unsafe { crate::real::close(mqdes) }),
        }
    }

    unsafe fn mq_unlink(&self, name: *const c_char) -> Result<c_int> {
        self.posix()?.unlink(name)
    }

    unsafe fn mq_send(&self, mqdes: mqd_t, msg: *const c_char, len: size_t, prio: c_uint, timeout: Option<*const timespec>) -> Result<c_int> {
        self.posix()?.send(mqdes, msg, len, prio, timeout)
    }

    unsafe fn mq_receive(&self, mqdes: mqd_t, msg: *mut c_char, len: size_t, prio: *mut c_uint, timeout: Option<*const timespec>) -> Result<ssize_t> {
        self.posix()?.receive(mqdes, msg, len, prio, timeout)
    }

    unsafe fn mq_getattr(&self, mqdes: mqd_t, attr: *mut mq_attr) -> Result<c_int> {
        self.posix()?.getattr(mqdes, attr)
    }

    unsafe fn mq_setattr(&self, mqdes: mqd_t, new: *const mq_attr, old: *mut mq_attr) -> Result<c_int> {
        self.posix()?.setattr(mqdes, new, old)
    }

    unsafe fn mq_notify(&self, mqdes: mqd_t, sev: *const sigevent) -> Result<c_int> {
        self.posix()?.notify(mqdes, sev)
    }

    unsafe fn mq_send_at(&self, mqdes: mqd_t, msg: *const c_char, len: size_t, prio: c_uint, due: *const timespec, handle: *mut u64) -> Result<c_int> {
        self.posix()?.send_at(mqdes, msg, len, prio, due, handle)
    }

    unsafe fn mq_cancel(&self, mqdes: mqd_t, handle: u64) -> Result<c_int> {
        self.posix()?.cancel(mqdes, handle)
    }

    unsafe fn msgget(&self, key: key_t, flags: c_int) -> Result<c_int> {
        self.sysv()?.msgget(key, flags)
    }

    unsafe fn msgsnd(&self, id: c_int, msgp: *const c_void, size: size_t, flags: c_int) -> Result<c_int> {
        self.sysv()?.msgsnd(id, msgp, size, flags)
    }

    unsafe fn msgrcv(&self, id: c_int, msgp: *mut c_void, size: size_t, typ: c_long, flags: c_int) -> Result<ssize_t> {
        self.sysv()?.msgrcv(id, msgp, size, typ, flags)
    }

    unsafe fn msgctl(&self, id: c_int, cmd: c_int, buf: *mut msqid_ds) -> Result<c_int> {
        self.sysv()?.msgctl(id, cmd, buf)
    }

    unsafe fn msgsnd_at(&self, id: c_int, msgp: *const c_void, size: size_t, flags: c_int, due: *const timespec, handle: *mut u64) -> Result<c_int> {
        self.sysv()?.msgsnd_at(id, msgp, size, flags, due, handle)
    }

    unsafe fn msg_cancel(&self, id: c_int, handle: u64) -> Result<c_int> {
        self.sysv()?.msg_cancel(id, handle)
    }
}
