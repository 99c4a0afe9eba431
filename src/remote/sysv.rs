//! System V queues on the server (`msgget`, `msgsnd`, `msgrcv`, `msgctl`). Owned by the
//! System V part of issue 16; until it lands every call fails with ENOSYS.

use std::os::raw::{c_int, c_long, c_void};

use libc::{key_t, msqid_ds};

use super::Remote;
use crate::emu::sysv::limits::SysvLimits;
use crate::errno::{Errno, Result};

/// The System V half of the Redis backend.
pub struct RemoteSysv {
    pub remote: Remote,
    pub limits: SysvLimits,
}

impl RemoteSysv {
    pub fn new(remote: Remote, limits: SysvLimits) -> RemoteSysv {
        RemoteSysv { remote, limits }
    }

    pub fn msgget(&self, _key: key_t, _flags: c_int) -> Result<c_int> {
        Err(Errno::ENOSYS)
    }

    /// `msgsnd`.
    ///
    /// # Safety
    /// `msgp` points to a `long` followed by `size` readable bytes (or is invalid: EFAULT).
    pub unsafe fn msgsnd(&self, _id: c_int, _msgp: *const c_void, _size: usize, _flags: c_int) -> Result<c_int> {
        Err(Errno::ENOSYS)
    }

    /// `msgrcv`.
    ///
    /// # Safety
    /// `msgp` points to a `long` followed by `size` writable bytes (or is invalid: EFAULT).
    pub unsafe fn msgrcv(&self, _id: c_int, _msgp: *mut c_void, _size: usize, _typ: c_long, _flags: c_int) -> Result<isize> {
        Err(Errno::ENOSYS)
    }

    /// `msgctl`.
    ///
    /// # Safety
    /// `buf` points to what `cmd` reads or writes, or is unused by `cmd` (or invalid: EFAULT).
    pub unsafe fn msgctl(&self, _id: c_int, _cmd: c_int, _buf: *mut msqid_ds) -> Result<c_int> {
        Err(Errno::ENOSYS)
    }
}
