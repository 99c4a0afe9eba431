//! POSIX queues on the server (`mq_*`). Filled in after the client's milestone.

use std::os::raw::{c_char, c_int, c_uint};

use libc::{mode_t, mq_attr, sigevent, timespec};

use super::Remote;
use crate::emu::posix::limits::PosixLimits;
use crate::errno::{Errno, Result};

/// The POSIX half of the Redis backend.
pub struct RemotePosix {
    pub remote: Remote,
    pub limits: PosixLimits,
}

impl RemotePosix {
    pub fn new(remote: Remote, limits: PosixLimits) -> RemotePosix {
        RemotePosix { remote, limits }
    }

    /// # Safety
    /// The program's `mq_open` arguments.
    pub unsafe fn open(&self, _name: *const c_char, _oflag: c_int, _mode: mode_t, _attr: *const mq_attr) -> Result<c_int> {
        Err(Errno::ENOSYS)
    }

    /// # Safety
    /// The program's `mq_unlink` argument.
    pub unsafe fn unlink(&self, _name: *const c_char) -> Result<c_int> {
        Err(Errno::ENOSYS)
    }

    /// # Safety
    /// The program's `mq_send` arguments.
    pub unsafe fn send(&self, _fd: c_int, _msg: *const c_char, _len: usize, _prio: c_uint, _timeout: Option<*const timespec>) -> Result<c_int> {
        Err(Errno::ENOSYS)
    }

    /// # Safety
    /// The program's `mq_receive` arguments.
    pub unsafe fn receive(&self, _fd: c_int, _buf: *mut c_char, _len: usize, _prio: *mut c_uint, _timeout: Option<*const timespec>) -> Result<isize> {
        Err(Errno::ENOSYS)
    }

    /// # Safety
    /// The program's `mq_setattr` arguments (`new` NULL for `mq_getattr`).
    pub unsafe fn setattr(&self, _fd: c_int, _new: *const mq_attr, _old: *mut mq_attr) -> Result<c_int> {
        Err(Errno::ENOSYS)
    }

    /// # Safety
    /// The program's `mq_notify` arguments.
    pub unsafe fn notify(&self, _fd: c_int, _sev: *const sigevent) -> Result<c_int> {
        Err(Errno::ENOSYS)
    }

    /// Whether any descriptor of this backend exists in this process.
    pub fn has_descriptors(&self) -> bool {
        false
    }

    pub fn owns_descriptor(&self, _fd: c_int) -> bool {
        false
    }

    /// `fd` is closing: None when it is not one of ours.
    pub fn descriptor_closing(&self, _fd: c_int) -> Option<Result<c_int>> {
        None
    }

    pub fn descriptor_duplicated(&self, _old: c_int, _new: c_int) {}
}
