//! The Redis backend: queues held by a Redis (or Valkey) server, so programs on several hosts
//! share them (`MQSHIM_BACKEND=redis`, `MQSHIM_REDIS`). A thin adapter: the POSIX calls go to
//! `remote::posix`, the System V calls to `remote::sysv`.

use std::os::raw::{c_char, c_int, c_long, c_uint, c_void};

use libc::{key_t, mode_t, mq_attr, mqd_t, msqid_ds, sigevent, size_t, ssize_t, timespec};

use super::Backend;
use crate::config::BackendKind;
use crate::emu::EmulationLimits;
use crate::errno::Result;
use crate::remote::posix::RemotePosix;
use crate::remote::sysctl;
use crate::remote::sysv::RemoteSysv;
use crate::remote::url::RedisUrl;
use crate::remote::Remote;

pub struct RedisBackend {
    /// The client's limits (stock or `/proc`, and its own settings), which the namespace's
    /// sysctls on the server apply over.
    pub limits: EmulationLimits,
    /// What the client states of them to the scripts (`remote::sysctl::stated`).
    stated: String,
    remote: Remote,
    pub posix: RemotePosix,
    pub sysv: RemoteSysv,
}

impl RedisBackend {
    /// `per_process`: the keys the process set itself (`MQSHIM_CONFIG`, `MQSHIM_LIMITS`), which
    /// win over the namespace's sysctls.
    pub fn new(url: RedisUrl, limits: EmulationLimits, per_process: &[&str]) -> RedisBackend {
        let remote = Remote::new(url);
        let stated = sysctl::stated(&limits, per_process);
        RedisBackend {
            limits,
            posix: RemotePosix::new(remote.clone(), limits.posix, stated.clone()),
            sysv: RemoteSysv::new(remote.clone(), limits.sysv, stated.clone()),
            stated,
            remote,
        }
    }

    /// The limits in force for this process (the client's with the namespace's sysctls over
    /// them) and `msg_next_id`, as the server answered `answer` (a sysctl read or write); the
    /// System V half notes them.
    fn in_force(&self, answer: Result<(Vec<(String, i64)>, i64)>) -> Result<(EmulationLimits, i64)> {
        let (values, next_id) = answer?;
        let mut limits = self.limits;
        for (key, value) in &values {
            limits.set_by_key(key, *value);
        }
        self.sysv.note_limits(limits.sysv);
        Ok((limits, next_id))
    }
}

impl Backend for RedisBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Redis
    }

    unsafe fn mq_open(&self, name: *const c_char, oflag: c_int, mode: mode_t, attr: *mut mq_attr, fortify: bool) -> Result<mqd_t> {
        if fortify && oflag & libc::O_CREAT != 0 {
            // glibc's __mq_open_2 aborts here ("invalid mq_open call"); let it say so itself.
            // SAFETY: the caller's arguments, as the program passed them.
            return crate::errno::check(unsafe { crate::real::__mq_open_2(name, oflag) });
        }
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.posix.open(name, oflag, mode, attr) }
    }

    unsafe fn mq_close(&self, mqdes: mqd_t) -> Result<c_int> {
        match self.descriptor_closing(mqdes) {
            Some(r) => r,
            // mq_close is close(2): any other descriptor is closed too.
            // SAFETY: the caller's descriptor.
            None => crate::errno::check(unsafe { crate::real::close(mqdes) }),
        }
    }

    unsafe fn mq_unlink(&self, name: *const c_char) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.posix.unlink(name) }
    }

    unsafe fn mq_send(&self, mqdes: mqd_t, msg: *const c_char, len: size_t, prio: c_uint, timeout: Option<*const timespec>) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.posix.send(mqdes, msg, len, prio, timeout) }
    }

    unsafe fn mq_receive(&self, mqdes: mqd_t, msg: *mut c_char, len: size_t, prio: *mut c_uint, timeout: Option<*const timespec>) -> Result<ssize_t> {
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.posix.receive(mqdes, msg, len, prio, timeout) }
    }

    unsafe fn mq_getattr(&self, mqdes: mqd_t, attr: *mut mq_attr) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.posix.setattr(mqdes, std::ptr::null(), attr) }
    }

    unsafe fn mq_setattr(&self, mqdes: mqd_t, new: *const mq_attr, old: *mut mq_attr) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.posix.setattr(mqdes, new, old) }
    }

    unsafe fn mq_notify(&self, mqdes: mqd_t, sev: *const sigevent) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.posix.notify(mqdes, sev) }
    }

    unsafe fn mq_send_at(&self, mqdes: mqd_t, msg: *const c_char, len: size_t, prio: c_uint, due: *const timespec, handle: *mut u64) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.posix.send_at(mqdes, msg, len, prio, due, handle) }
    }

    unsafe fn mq_cancel(&self, mqdes: mqd_t, handle: u64) -> Result<c_int> {
        self.posix.cancel(mqdes, handle)
    }

    unsafe fn msgsnd_at(&self, id: c_int, msgp: *const c_void, size: size_t, flags: c_int, due: *const timespec, handle: *mut u64) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.sysv.msgsnd_at(id, msgp, size, flags, due, handle) }
    }

    unsafe fn msg_cancel(&self, id: c_int, handle: u64) -> Result<c_int> {
        self.sysv.msg_cancel(id, handle)
    }

    unsafe fn msgget(&self, key: key_t, flags: c_int) -> Result<c_int> {
        self.sysv.msgget(key, flags)
    }

    unsafe fn msgsnd(&self, id: c_int, msgp: *const c_void, size: size_t, flags: c_int) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.sysv.msgsnd(id, msgp, size, flags) }
    }

    unsafe fn msgrcv(&self, id: c_int, msgp: *mut c_void, size: size_t, typ: c_long, flags: c_int) -> Result<ssize_t> {
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.sysv.msgrcv(id, msgp, size, typ, flags) }
    }

    unsafe fn msgctl(&self, id: c_int, cmd: c_int, buf: *mut msqid_ds) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract.
        unsafe { self.sysv.msgctl(id, cmd, buf) }
    }

    fn has_descriptors(&self) -> bool {
        self.posix.has_descriptors()
    }

    fn owns_descriptor(&self, fd: c_int) -> bool {
        self.posix.owns_descriptor(fd)
    }

    fn descriptor_closing(&self, fd: c_int) -> Option<Result<c_int>> {
        self.posix.descriptor_closing(fd)
    }

    fn descriptor_duplicated(&self, old: c_int, new: c_int) {
        self.posix.descriptor_duplicated(old, new);
    }

    fn descriptor_polled(&self, fd: c_int) {
        self.posix.descriptor_polled(fd);
    }

    /// `/proc/sysvipc/msg` lists the namespace's System V queues on the server (what util-linux
    /// `ipcs` reads first); the sysctl files hold the limits in force for the reader — the
    /// namespace's sysctls over its own limits, as under the emulation — and `msg_next_id`.
    /// A server that cannot be reached leaves the kernel's file to be read.
    fn proc_file(&self, path: &[u8]) -> Option<String> {
        if path == b"/proc/sysvipc/msg" {
            return self.sysv.proc_sysvipc_msg().ok();
        }
        let file = crate::emu::sysctl::file(path)?;
        let (limits, next_id) = self.in_force(sysctl::in_force(&self.remote, &self.stated)).ok()?;
        let value = if file.key == "msg_next_id" { Some(next_id) } else { limits.proc_sys_value(path) };
        value.map(|value| format!("{value}\n"))
    }

    fn proc_file_open_write(&self, path: &[u8]) -> Option<Result<()>> {
        crate::emu::sysctl::open_for_write(path)
    }

    /// Sets the sysctl for the namespace on the server.
    fn proc_file_write(&self, path: &[u8], data: &[u8], pos: i64) -> Result<usize> {
        crate::emu::sysctl::write(path, data, pos, |file, value| self.in_force(sysctl::set(&self.remote, file.key, value, &self.stated)).map(|_| ()))
    }
}
