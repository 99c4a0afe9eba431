//! Limits enforced in front of the kernel (`MQSHIM_BACKEND=kernel` with limits configured):
//! a call that would exceed a configured limit fails with exactly the errno the kernel gives
//! when its own limit is hit, and a call within the limits reaches the kernel unchanged.
//!
//! How each limit is enforced, and where it cannot be exactly:
//! - `msg_max`, `msgsize_max` (EINVAL): checked when `mq_open` would create a queue (an existing
//!   queue ignores the attributes, as the kernel does); CAP_SYS_RESOURCE lifts them, as in the
//!   kernel. Values above the kernel's own are still refused by the kernel.
//! - `msg_default`, `msgsize_default`: a create with a NULL attr is passed to the kernel with
//!   min(default, max) of the limits in force, as the kernel computes it.
//! - `queues_max` (ENOSPC): needs the count of the namespace's queues, which only the mqueue
//!   filesystem shows: enforced when it is mounted at /dev/mqueue, not otherwise.
//! - `rlimit_msgqueue` (EMFILE): becomes the process's soft `RLIMIT_MSGQUEUE`, so the kernel's
//!   own accounting enforces it exactly (it cannot be raised above the hard limit).
//! - `msgmax` (EINVAL): `msgsnd` of a larger message.
//! - `msgmnb`: a queue `msgget` creates gets it as `msg_qbytes` (IPC_SET; above the kernel's
//!   own value that needs CAP_SYS_RESOURCE), and IPC_SET above it without CAP_SYS_RESOURCE is
//!   EPERM. IPC_INFO and MSG_INFO report the configured msgmax, msgmnb and msgmni.
//! - `msgmni` (ENOSPC): `msgget` that would create a queue when the kernel's count of queues
//!   (MSG_INFO) has reached it. The count and the creation are two system calls: a user's
//!   processes make them one at a time, holding that user's admission (`admission`), so that
//!   racing creators get in exactly as far as the limit has room, as on the kernel (and in the
//!   emulation and Redis backends). Processes of different users, or one that gave up on a
//!   holder stopped or asleep (see `admission`), can still pass it together.

use std::os::raw::c_int;

use crate::call::Call;
use crate::errno::{check, Errno, Result};
use crate::os::creds::{cap, Creds};
use crate::policy::admission::Admission;
use crate::policy::limits::{Limits, Source};
use crate::real;

/// The configured limits to hold the kernel to (only those the user configured).
#[derive(Clone, Debug, Default)]
pub struct KernelLimits {
    pub msg_max: Option<i64>,
    pub msgsize_max: Option<i64>,
    pub msg_default: Option<i64>,
    pub msgsize_default: Option<i64>,
    pub queues_max: Option<i64>,
    pub msgmax: Option<i64>,
    pub msgmnb: Option<i64>,
    pub msgmni: Option<i64>,
    /// What a NULL attr means under the limits in force: min(default, max) of each.
    pub null_attr_maxmsg: i64,
    pub null_attr_msgsize: i64,
}

fn configured(l: &Limits, key: &str) -> Option<i64> {
    let v = l.get(key);
    matches!(v.source, Source::Config | Source::Environment).then_some(v.value)
}

impl KernelLimits {
    /// The limits to enforce, or None when nothing is configured. Applies `rlimit_msgqueue` to
    /// the process (reporting on stderr when it cannot).
    pub fn from_limits(l: &Limits) -> Option<KernelLimits> {
        if let Some(bytes) = configured(l, "rlimit_msgqueue") {
            apply_rlimit(bytes as u64);
        }
        let k = KernelLimits {
            msg_max: configured(l, "msg_max"),
            msgsize_max: configured(l, "msgsize_max"),
            msg_default: configured(l, "msg_default"),
            msgsize_default: configured(l, "msgsize_default"),
            queues_max: configured(l, "queues_max"),
            msgmax: configured(l, "msgmax"),
            msgmnb: configured(l, "msgmnb"),
            msgmni: configured(l, "msgmni"),
            null_attr_maxmsg: l.value("msg_default").min(l.value("msg_max")),
            null_attr_msgsize: l.value("msgsize_default").min(l.value("msgsize_max")),
        };
        let any = [k.msg_max, k.msgsize_max, k.msg_default, k.msgsize_default, k.queues_max, k.msgmax, k.msgmnb, k.msgmni].iter().any(Option::is_some);
        any.then_some(k)
    }

    /// Checks `call` before the kernel sees it. `Some(result)`: handled here (refused, or done
    /// in a different way); None: pass it to the kernel unchanged.
    ///
    /// # Safety
    /// The pointers in `call` are the caller's, valid as the C API requires.
    pub unsafe fn before(&self, call: &Call) -> Option<Result<i64>> {
        match *call {
            Call::MqOpen { name, oflag, mode, attr, fortify: false } if oflag & libc::O_CREAT != 0 => {
                // SAFETY: per the caller.
                unsafe { self.mq_open_create(name, oflag, mode, attr) }
            }
            Call::Msgsnd { size, .. } => match self.msgmax {
                Some(max) if size as i64 > max || (size as i64) < 0 => Some(Err(Errno::EINVAL)),
                _ => None,
            },
            Call::Msgget { key, flags } if self.msgmni.is_some() || self.msgmnb.is_some() => {
                // SAFETY: plain integer arguments.
                unsafe { self.msgget(key, flags) }
            }
            Call::Msgctl { id, cmd, buf } => {
                // SAFETY: per the caller.
                unsafe { self.msgctl(id, cmd, buf) }
            }
            _ => None,
        }
    }

    /// `mq_open` with `O_CREAT` under the configured POSIX limits.
    ///
    /// # Safety
    /// `name` and `attr` are the program's arguments, valid as mq_open(3) requires (`attr` may
    /// be NULL or bad: it is read through a check).
    unsafe fn mq_open_create(&self, name: *const libc::c_char, oflag: c_int, mode: libc::mode_t, attr: *const libc::mq_attr) -> Option<Result<i64>> {
        let privileged = Creds::current().has(cap::SYS_RESOURCE);
        // SAFETY: `attr` is the program's mq_open argument (this function's contract).
        let given = if attr.is_null() { None } else { Some(unsafe { crate::os::usermem::checked_read(attr) }?) };
        // A NULL attr means min(default, max) of the limits in force, as in mqueue_get_inode.
        let (maxmsg, msgsize) = match given {
            Some(a) => (a.mq_maxmsg, a.mq_msgsize),
            None => (self.null_attr_maxmsg, self.null_attr_msgsize),
        };
        let over_attr = !privileged && (self.msg_max.is_some_and(|m| maxmsg > m) || self.msgsize_max.is_some_and(|m| msgsize > m));
        let over_count = !privileged && self.queues_max.is_some_and(|m| count_mqueue_fs().is_some_and(|n| n as i64 >= m));
        if over_attr || over_count {
            // Refused only if the open would create: an existing queue ignores the attributes.
            // SAFETY: the caller's name; no O_CREAT, so mode and attr are not read.
            let existing = check(unsafe { real::mq_open(name, oflag & !(libc::O_CREAT | libc::O_EXCL), 0, std::ptr::null_mut()) });
            return Some(match existing {
                Ok(fd) if oflag & libc::O_EXCL != 0 => {
                    // SAFETY: fd was just opened here.
                    unsafe { real::mq_close(fd) };
                    Err(Errno::EEXIST)
                }
                Ok(fd) => Ok(fd.into()),
                Err(Errno::ENOENT) => Err(if over_count { Errno::ENOSPC } else { Errno::EINVAL }),
                Err(e) => Err(e),
            });
        }
        if given.is_none() && (self.msg_default.is_some() || self.msgsize_default.is_some() || self.msg_max.is_some() || self.msgsize_max.is_some()) {
            // A NULL attr gets the attributes the configured limits imply.
            // SAFETY: mq_attr is plain data.
            let mut a: libc::mq_attr = unsafe { std::mem::zeroed() };
            a.mq_maxmsg = maxmsg as libc::c_long;
            a.mq_msgsize = msgsize as libc::c_long;
            // SAFETY: the caller's name and mode; `a` lives across the call.
            return Some(check(unsafe { real::mq_open(name, oflag, mode, &mut a) }).map(i64::from));
        }
        None
    }

    unsafe fn msgget(&self, key: libc::key_t, flags: c_int) -> Option<Result<i64>> {
        let would_create = flags & libc::IPC_CREAT != 0 || key == libc::IPC_PRIVATE;
        if !would_create {
            return None;
        }
        // Counted and created by one process of this user at a time (see `admission`): taken
        // before the lookup, so that a creation that finds no queue of its key creates one
        // before anyone else of this user counts.
        let _admitted = self.msgmni.and_then(|_| Admission::take());
        // SAFETY: a lookup without IPC_CREAT creates nothing.
        let exists = key != libc::IPC_PRIVATE && unsafe { real::msgget(key, 0) } >= 0;
        if exists {
            return None;
        }
        if let Some(max) = self.msgmni {
            let mut info = crate::trace::decode::MsgInfo::default();
            // SAFETY: MSG_INFO fills a struct msginfo.
            if unsafe { real::msgctl(0, libc::MSG_INFO, (&mut info as *mut crate::trace::decode::MsgInfo).cast()) } >= 0 && info.msgpool as i64 >= max {
                return Some(Err(Errno::ENOSPC));
            }
        }
        // SAFETY: the caller's arguments.
        let id = match check(unsafe { real::msgget(key, flags) }) {
            Ok(id) => id,
            Err(e) => return Some(Err(e)),
        };
        if let Some(mnb) = self.msgmnb {
            // SAFETY: IPC_STAT/IPC_SET on the queue just created, with a local msqid_ds.
            unsafe {
                let mut ds: libc::msqid_ds = std::mem::zeroed();
                if real::msgctl(id, libc::IPC_STAT, &mut ds) == 0 && ds.msg_qbytes as i64 != mnb {
                    ds.msg_qbytes = mnb as libc::msglen_t;
                    if real::msgctl(id, libc::IPC_SET, &mut ds) != 0 {
                        report_once(format!("msgmnb={mnb} as a new queue's msg_qbytes: the kernel refused it (raising it needs CAP_SYS_RESOURCE; new queues keep the kernel's)"), crate::config::Outcome::Ignored);
                    }
                }
            }
        }
        Some(Ok(id.into()))
    }

    /// `msgctl` under the configured System V limits (IPC_SET's `msg_qbytes`).
    ///
    /// # Safety
    /// `buf` is the program's argument, valid as msgctl(2) requires for `cmd`.
    unsafe fn msgctl(&self, id: c_int, cmd: c_int, buf: *mut libc::msqid_ds) -> Option<Result<i64>> {
        match cmd {
            libc::IPC_SET => {
                let mnb = self.msgmnb?;
                // SAFETY: `buf` is the program's msgctl argument (this function's contract).
                let ds: libc::msqid_ds = unsafe { crate::os::usermem::checked_read(buf) }?;
                if ds.msg_qbytes as i64 > mnb && !Creds::current().has(cap::SYS_RESOURCE) {
                    // Only the owner may IPC_SET at all: let the kernel say EPERM/EINVAL/EACCES
                    // for everything else first.
                    // SAFETY: IPC_STAT into a local buffer.
                    let mut cur: libc::msqid_ds = unsafe { std::mem::zeroed() };
                    // SAFETY: IPC_STAT writes one msqid_ds, into `cur`.
                    if unsafe { real::msgctl(id, libc::IPC_STAT, &mut cur) } != 0 {
                        return None;
                    }
                    if ds.msg_qbytes > cur.msg_qbytes {
                        return Some(Err(Errno::EPERM));
                    }
                }
                None
            }
            libc::IPC_INFO | libc::MSG_INFO => {
                // SAFETY: the caller's buffer, filled by the kernel, then adjusted.
                let r = check(unsafe { real::msgctl(id, cmd, buf) });
                if r.is_ok() && !buf.is_null() {
                    let info = buf.cast::<crate::trace::decode::MsgInfo>();
                    // SAFETY: the kernel just wrote a struct msginfo there.
                    unsafe {
                        if let Some(v) = self.msgmax {
                            (*info).msgmax = v as c_int;
                        }
                        if let Some(v) = self.msgmnb {
                            (*info).msgmnb = v as c_int;
                        }
                        if let Some(v) = self.msgmni {
                            (*info).msgmni = v as c_int;
                        }
                    }
                }
                Some(r.map(i64::from))
            }
            _ => None,
        }
    }
}

/// Number of POSIX queues in the namespace, when the mqueue filesystem is mounted.
fn count_mqueue_fs() -> Option<usize> {
    let mounted = std::fs::read_to_string("/proc/self/mounts").ok()?.lines().any(|l| l.split_whitespace().nth(1) == Some("/dev/mqueue"));
    mounted.then(|| std::fs::read_dir("/dev/mqueue").map(|d| d.count()).unwrap_or(0))
}

fn report_once(message: String, outcome: crate::config::Outcome) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static DONE: AtomicBool = AtomicBool::new(false);
    if !DONE.swap(true, Ordering::Relaxed) {
        crate::config::report(&[crate::config::ConfigProblem { variable: "MQSHIM_LIMITS", message, outcome }]);
    }
}

/// Sets the soft RLIMIT_MSGQUEUE (the kernel then enforces it itself).
fn apply_rlimit(bytes: u64) {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-pointer / in-pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MSGQUEUE, &mut r) != 0 {
            return;
        }
        let wanted = if r.rlim_max != libc::RLIM_INFINITY && bytes > r.rlim_max { r.rlim_max } else { bytes };
        if wanted != bytes {
            report_once(format!("rlimit_msgqueue={bytes} is above the hard RLIMIT_MSGQUEUE"), crate::config::Outcome::ClampedTo(wanted.to_string()));
        }
        r.rlim_cur = wanted;
        libc::setrlimit(libc::RLIMIT_MSGQUEUE, &r);
    }
}
