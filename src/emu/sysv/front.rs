//! The C side of the System V calls, shared by both backends that hold queues themselves — the
//! emulation (`emu::sysv`) and Redis (`remote::sysv`): the checks the kernel makes of the
//! caller's arguments before it looks a queue up, in the kernel's order; `msgctl`'s command
//! dispatch; and the filling and reading of the C structs (`msqid_ds`, `msginfo`) in the
//! caller's memory, EFAULT for a bad pointer. What a queue holds, and who may touch it, is each
//! backend's own (see [`Msgctl`]).
//!
//! It lives here, beside the System V vocabulary (`cmd`, [`QueueInfo`], `limits`, `MSG_COPY`)
//! that `remote::sysv` already takes from `emu::sysv`, so that Redis depends on nothing more
//! of the emulation than it did.

use std::os::raw::{c_int, c_long, c_void};

use libc::msqid_ds;

use super::limits::{MSGMAP, MSGPOOL, MSGSEG, MSGSSZ, MSGTQL};
use super::msgctl::{cmd, QueueInfo};
use super::queue::MSG_COPY;
use super::SysvLimits;
use crate::errno::{Errno, Result};
use crate::os::usermem::{checked_read, checked_write, probe_read};

/// msgsnd's (and `mqshim_msgsnd_at`'s) first checks: the message's type is read from the
/// caller's memory, then the size, the id and the type are checked. Returns the type.
///
/// # Safety
/// `msgp` is the calling program's, as the C API passes it: it may be invalid (EFAULT), but
/// memory it reaches must not be unmapped while the call runs.
pub unsafe fn msgsnd_type(id: c_int, msgp: *const c_void, msgsz: usize, msgmax: usize) -> Result<c_long> {
    // SAFETY: `msgp` is the program's msgsnd argument, as checked_read requires.
    let mtype = unsafe { checked_read(msgp as *const c_long) }.ok_or(Errno::EFAULT)?;
    if msgsz > msgmax || (msgsz as isize) < 0 || id < 0 {
        return Err(Errno::EINVAL);
    }
    if mtype < 1 {
        return Err(Errno::EINVAL);
    }
    Ok(mtype)
}

/// msgsnd's last check before the queue: the `msgsz` bytes of text after the type must be
/// readable. Returns where the text starts.
pub fn msgsnd_text(msgp: *const c_void, msgsz: usize) -> Result<*const u8> {
    let text = (msgp as *const u8).wrapping_add(std::mem::size_of::<c_long>());
    if !probe_read(text, msgsz) {
        return Err(Errno::EFAULT);
    }
    Ok(text)
}

/// msgrcv's checks before the queue: the id and size, then MSG_COPY's flag combination and its
/// buffer, which the kernel reads first (to copy into). Returns how much of the buffer a
/// MSG_COPY may fill (the size, at most `msgmax`).
pub fn msgrcv_checks(id: c_int, msgp: *mut c_void, bufsz: usize, flags: c_int, msgmax: usize) -> Result<usize> {
    if id < 0 || (bufsz as isize) < 0 {
        return Err(Errno::EINVAL);
    }
    let copy_limit = bufsz.min(msgmax);
    if flags & MSG_COPY != 0 {
        if flags & libc::MSG_EXCEPT != 0 || flags & libc::IPC_NOWAIT == 0 {
            return Err(Errno::EINVAL);
        }
        if !probe_read(msgp as *const u8, copy_limit) {
            return Err(Errno::EFAULT);
        }
    }
    Ok(copy_limit)
}

/// What IPC_INFO / MSG_INFO report of the namespace: the highest index in use and, for
/// MSG_INFO, the totals (queues, messages, bytes in them).
pub struct Usage {
    pub max_idx: i64,
    pub queues: i64,
    pub messages: i64,
    pub bytes: i64,
}

/// One queue's `msqid_ds`: what `mqshim ipcs` shows of it, and its sequence number.
pub struct QueueStat {
    pub info: QueueInfo,
    pub seq: u16,
}

impl QueueStat {
    /// The `msqid_ds` the kernel's IPC_STAT fills in.
    pub fn msqid_ds(&self) -> msqid_ds {
        let s = &self.info;
        // SAFETY: msqid_ds is plain C data; all-zero is valid (and zeroes the reserved fields).
        let mut ds: msqid_ds = unsafe { std::mem::zeroed() };
        ds.msg_perm.__key = s.key;
        ds.msg_perm.uid = s.uid;
        ds.msg_perm.gid = s.gid;
        ds.msg_perm.cuid = s.cuid;
        ds.msg_perm.cgid = s.cgid;
        ds.msg_perm.mode = s.mode as u16;
        ds.msg_perm.__seq = self.seq;
        ds.msg_stime = s.stime;
        ds.msg_rtime = s.rtime;
        ds.msg_ctime = s.ctime;
        ds.__msg_cbytes = s.cbytes;
        ds.msg_qnum = s.qnum;
        ds.msg_qbytes = s.qbytes;
        ds.msg_lspid = s.lspid;
        ds.msg_lrpid = s.lrpid;
        ds
    }
}

/// What a backend does for each `msgctl` command, once [`msgctl`] has checked the arguments and
/// before (or after) it reads or fills the caller's struct.
pub trait Msgctl {
    /// The limits IPC_INFO / MSG_INFO report.
    fn limits(&self) -> SysvLimits;
    /// IPC_INFO (`totals` false) / MSG_INFO (`totals` true).
    fn usage(&self, totals: bool) -> Result<Usage>;
    /// IPC_STAT (by id), MSG_STAT and MSG_STAT_ANY (by index; `info.id` is then the full id).
    fn stat(&self, id: c_int, command: c_int) -> Result<QueueStat>;
    /// IPC_SET with the caller's struct, already read.
    fn set(&self, id: c_int, ds: &msqid_ds) -> Result<()>;
    /// IPC_RMID.
    fn remove_id(&self, id: c_int) -> Result<()>;
}

/// `msgctl`: the kernel's argument checks, then the command.
///
/// # Safety
/// `buf` is the calling program's, as the C API passes it: it may be invalid (the call then
/// fails with EFAULT where the kernel's does), but memory it reaches must not be unmapped while
/// the call runs.
pub unsafe fn msgctl(backend: &impl Msgctl, id: c_int, command: c_int, buf: *mut msqid_ds) -> Result<c_int> {
    if id < 0 || command < 0 {
        return Err(Errno::EINVAL);
    }
    match command {
        cmd::IPC_INFO | cmd::MSG_INFO => info(backend, command, buf.cast()),
        cmd::IPC_STAT | cmd::MSG_STAT | cmd::MSG_STAT_ANY => stat(backend, id, command, buf),
        cmd::IPC_SET => {
            // SAFETY: `buf` is the program's msgctl argument, as checked_read requires.
            let ds = unsafe { checked_read(buf as *const msqid_ds) }.ok_or(Errno::EFAULT)?;
            backend.set(id, &ds).map(|()| 0)
        }
        cmd::IPC_RMID => backend.remove_id(id).map(|()| 0),
        _ => Err(Errno::EINVAL),
    }
}

/// IPC_INFO / MSG_INFO: the limits (and, for MSG_INFO, what is in use) and the highest index in
/// use.
fn info(backend: &impl Msgctl, command: c_int, buf: *mut libc::msginfo) -> Result<c_int> {
    // Usage first: a backend that learns the limits in force with it (Redis) reports those.
    let usage = backend.usage(command == cmd::MSG_INFO)?;
    let limits = backend.limits();
    // SAFETY: msginfo is plain C data; all-zero is valid (and zeroes the padding).
    let mut info: libc::msginfo = unsafe { std::mem::zeroed() };
    info.msgmni = limits.msgmni;
    info.msgmax = limits.msgmax;
    info.msgmnb = limits.msgmnb;
    info.msgssz = MSGSSZ;
    info.msgseg = MSGSEG;
    if command == cmd::MSG_INFO {
        info.msgpool = usage.queues as i32;
        info.msgmap = usage.messages.min(i32::MAX as i64) as i32;
        info.msgtql = usage.bytes.min(i32::MAX as i64) as i32;
    } else {
        info.msgpool = MSGPOOL;
        info.msgmap = MSGMAP;
        info.msgtql = MSGTQL;
    }
    // SAFETY: `buf` is the program's msgctl argument, as checked_write requires.
    if !unsafe { checked_write(buf, &info) } {
        return Err(Errno::EFAULT);
    }
    Ok(usage.max_idx.max(0) as c_int)
}

/// IPC_STAT returns 0; MSG_STAT and MSG_STAT_ANY the full id.
fn stat(backend: &impl Msgctl, id: c_int, command: c_int, buf: *mut msqid_ds) -> Result<c_int> {
    let s = backend.stat(id, command)?;
    // SAFETY: `buf` is the program's msgctl argument, as checked_write requires.
    if !unsafe { checked_write(buf, &s.msqid_ds()) } {
        return Err(Errno::EFAULT);
    }
    Ok(if command == cmd::IPC_STAT { 0 } else { s.info.id })
}
