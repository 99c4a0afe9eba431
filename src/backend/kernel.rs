//! The kernel pass-through: every call goes to the real libc function, so results, errno and
//! blocking are exactly the kernel's.

use std::os::raw::{c_char, c_int, c_long, c_uint, c_void};

use libc::{key_t, mode_t, mq_attr, mqd_t, msqid_ds, sigevent, size_t, ssize_t, timespec};

use super::Backend;
use crate::config::BackendKind;
use crate::errno::{check, Result};
use crate::real;

/// Forwards to the next definitions in the link chain (see [`crate::real`]).
pub struct KernelBackend;

impl Backend for KernelBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Kernel
    }

    unsafe fn mq_open(&self, name: *const c_char, oflag: c_int, mode: mode_t, attr: *mut mq_attr, fortify: bool) -> Result<mqd_t> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe {
            if fortify {
                real::__mq_open_2(name, oflag)
            } else {
                real::mq_open(name, oflag, mode, attr)
            }
        })
    }

    unsafe fn mq_close(&self, mqdes: mqd_t) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe { real::mq_close(mqdes) })
    }

    unsafe fn mq_unlink(&self, name: *const c_char) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe { real::mq_unlink(name) })
    }

    unsafe fn mq_send(&self, mqdes: mqd_t, msg: *const c_char, len: size_t, prio: c_uint, timeout: Option<*const timespec>) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe {
            match timeout {
                None => real::mq_send(mqdes, msg, len, prio),
                Some(t) => real::mq_timedsend(mqdes, msg, len, prio, t),
            }
        })
    }

    unsafe fn mq_receive(&self, mqdes: mqd_t, msg: *mut c_char, len: size_t, prio: *mut c_uint, timeout: Option<*const timespec>) -> Result<ssize_t> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe {
            match timeout {
                None => real::mq_receive(mqdes, msg, len, prio),
                Some(t) => real::mq_timedreceive(mqdes, msg, len, prio, t),
            }
        })
    }

    unsafe fn mq_getattr(&self, mqdes: mqd_t, attr: *mut mq_attr) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe { real::mq_getattr(mqdes, attr) })
    }

    unsafe fn mq_setattr(&self, mqdes: mqd_t, new: *const mq_attr, old: *mut mq_attr) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe { real::mq_setattr(mqdes, new, old) })
    }

    unsafe fn mq_notify(&self, mqdes: mqd_t, sev: *const sigevent) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe { real::mq_notify(mqdes, sev) })
    }

    unsafe fn msgget(&self, key: key_t, flags: c_int) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe { real::msgget(key, flags) })
    }

    unsafe fn msgsnd(&self, id: c_int, msgp: *const c_void, size: size_t, flags: c_int) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe { real::msgsnd(id, msgp, size, flags) })
    }

    unsafe fn msgrcv(&self, id: c_int, msgp: *mut c_void, size: size_t, typ: c_long, flags: c_int) -> Result<ssize_t> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe { real::msgrcv(id, msgp, size, typ, flags) })
    }

    unsafe fn msgctl(&self, id: c_int, cmd: c_int, buf: *mut msqid_ds) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed unchanged to the libc function it meant to call.
        check(unsafe { real::msgctl(id, cmd, buf) })
    }
}
