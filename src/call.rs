//! What one exported call was asked to do: its name and raw arguments, exactly as the program
//! passed them. Tracing decodes it; policy matches on it; neither changes it.

use std::os::raw::{c_char, c_int, c_long, c_uint, c_void};

use libc::{key_t, mode_t, mq_attr, mqd_t, msqid_ds, sigevent, size_t, timespec};

/// One call and its raw arguments. Pointers are the caller's and may be invalid.
#[derive(Clone, Copy, Debug)]
pub enum Call {
    MqOpen {
        name: *const c_char,
        oflag: c_int,
        /// Meaningful only when `oflag` has `O_CREAT` (a two-argument call leaves garbage).
        mode: mode_t,
        attr: *const mq_attr,
        /// Called as `__mq_open_2` (a `_FORTIFY_SOURCE` build).
        fortify: bool,
    },
    MqClose {
        mqdes: mqd_t,
    },
    MqUnlink {
        name: *const c_char,
    },
    MqSend {
        mqdes: mqd_t,
        msg: *const c_char,
        len: size_t,
        prio: c_uint,
        /// `Some` for `mq_timedsend` (the pointer itself may be NULL).
        timeout: Option<*const timespec>,
    },
    MqReceive {
        mqdes: mqd_t,
        msg: *mut c_char,
        len: size_t,
        prio: *mut c_uint,
        /// `Some` for `mq_timedreceive`.
        timeout: Option<*const timespec>,
    },
    MqGetattr {
        mqdes: mqd_t,
        attr: *mut mq_attr,
    },
    MqSetattr {
        mqdes: mqd_t,
        new: *const mq_attr,
        old: *mut mq_attr,
    },
    MqNotify {
        mqdes: mqd_t,
        sev: *const sigevent,
    },
    Msgget {
        key: key_t,
        flags: c_int,
    },
    Msgsnd {
        id: c_int,
        msgp: *const c_void,
        size: size_t,
        flags: c_int,
    },
    Msgrcv {
        id: c_int,
        msgp: *mut c_void,
        size: size_t,
        typ: c_long,
        flags: c_int,
    },
    Msgctl {
        id: c_int,
        cmd: c_int,
        buf: *mut msqid_ds,
    },
    /// `mqshim_mq_send_at`: a POSIX message scheduled for `due`; `handle` receives its handle.
    MqSendAt {
        mqdes: mqd_t,
        msg: *const c_char,
        len: size_t,
        prio: c_uint,
        due: *const timespec,
        handle: *mut u64,
    },
    /// `mqshim_mq_cancel`.
    MqCancel {
        mqdes: mqd_t,
        handle: u64,
    },
    /// `mqshim_msgsnd_at`: a System V message scheduled for `due`; `handle` receives its handle.
    MsgsndAt {
        id: c_int,
        msgp: *const c_void,
        size: size_t,
        flags: c_int,
        due: *const timespec,
        handle: *mut u64,
    },
    /// `mqshim_msg_cancel`.
    MsgCancel {
        id: c_int,
        handle: u64,
    },
}

/// Every call name [`Call::name`] gives, in a fixed order (a trace record's thread slot stores a
/// call as its index here).
pub const NAMES: [&str; 18] = [
    "mq_open",
    "mq_close",
    "mq_unlink",
    "mq_send",
    "mq_timedsend",
    "mq_receive",
    "mq_timedreceive",
    "mq_getattr",
    "mq_setattr",
    "mq_notify",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "mqshim_mq_send_at",
    "mqshim_mq_cancel",
    "mqshim_msgsnd_at",
    "mqshim_msg_cancel",
];

/// The system calls behind more than one library function, as strace names them: a name of one
/// stands for every function that makes it (glibc's `mq_send` is the `mq_timedsend` system call
/// without a timeout, `mq_getattr` and `mq_setattr` are `mq_getsetattr`, and `ipc` is the
/// System V multiplexer some architectures have instead of `msgget` & co.).
pub const SYSCALL_FAMILIES: &[(&str, &[&str])] = &[
    ("mq_timedsend", &["mq_send", "mq_timedsend"]),
    ("mq_timedreceive", &["mq_receive", "mq_timedreceive"]),
    ("mq_getsetattr", &["mq_getattr", "mq_setattr"]),
    ("ipc", &["msgget", "msgsnd", "msgrcv", "msgctl"]),
];

/// The call names (of [`NAMES`]) that `pattern` — a name or a glob, of a function or of a system
/// call — stands for: what it matches, each system call's name widened to the functions behind
/// it. One meaning for fault rules and for trace filters.
pub fn named(pattern: &str) -> Vec<&'static str> {
    let mut names: Vec<&str> =
        NAMES.iter().copied().chain(SYSCALL_FAMILIES.iter().map(|(name, _)| *name)).filter(|name| crate::glob::matches(pattern, name)).collect();
    for (syscall, behind) in SYSCALL_FAMILIES {
        if names.contains(syscall) {
            names.extend_from_slice(behind);
        }
    }
    NAMES.iter().copied().filter(|name| names.contains(name)).collect()
}

impl Call {
    /// The library-level name the program called (`mq_send`, not the syscall).
    pub fn name(&self) -> &'static str {
        NAMES[self.number()]
    }

    /// The call's index in [`NAMES`].
    pub fn number(&self) -> usize {
        match self {
            Call::MqOpen { .. } => 0,
            Call::MqClose { .. } => 1,
            Call::MqUnlink { .. } => 2,
            Call::MqSend { timeout: None, .. } => 3,
            Call::MqSend { timeout: Some(_), .. } => 4,
            Call::MqReceive { timeout: None, .. } => 5,
            Call::MqReceive { timeout: Some(_), .. } => 6,
            Call::MqGetattr { .. } => 7,
            Call::MqSetattr { .. } => 8,
            Call::MqNotify { .. } => 9,
            Call::Msgget { .. } => 10,
            Call::Msgsnd { .. } => 11,
            Call::Msgrcv { .. } => 12,
            Call::Msgctl { .. } => 13,
            Call::MqSendAt { .. } => 14,
            Call::MqCancel { .. } => 15,
            Call::MsgsndAt { .. } => 16,
            Call::MsgCancel { .. } => 17,
        }
    }

    /// The POSIX queue descriptor the call works on (None for mq_open, mq_unlink and the
    /// System V calls).
    pub fn mqdes(&self) -> Option<mqd_t> {
        match *self {
            Call::MqClose { mqdes }
            | Call::MqSend { mqdes, .. }
            | Call::MqReceive { mqdes, .. }
            | Call::MqGetattr { mqdes, .. }
            | Call::MqSetattr { mqdes, .. }
            | Call::MqNotify { mqdes, .. }
            | Call::MqSendAt { mqdes, .. }
            | Call::MqCancel { mqdes, .. } => Some(mqdes),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::{null, null_mut};

    #[test]
    fn names_lists_every_call_name_once() {
        let t = Some(null::<timespec>());
        let calls = [
            Call::MqOpen { name: null(), oflag: 0, mode: 0, attr: null(), fortify: false },
            Call::MqClose { mqdes: 0 },
            Call::MqUnlink { name: null() },
            Call::MqSend { mqdes: 0, msg: null(), len: 0, prio: 0, timeout: None },
            Call::MqSend { mqdes: 0, msg: null(), len: 0, prio: 0, timeout: t },
            Call::MqReceive { mqdes: 0, msg: null_mut(), len: 0, prio: null_mut(), timeout: None },
            Call::MqReceive { mqdes: 0, msg: null_mut(), len: 0, prio: null_mut(), timeout: t },
            Call::MqGetattr { mqdes: 0, attr: null_mut() },
            Call::MqSetattr { mqdes: 0, new: null(), old: null_mut() },
            Call::MqNotify { mqdes: 0, sev: null() },
            Call::Msgget { key: 0, flags: 0 },
            Call::Msgsnd { id: 0, msgp: null(), size: 0, flags: 0 },
            Call::Msgrcv { id: 0, msgp: null_mut(), size: 0, typ: 0, flags: 0 },
            Call::Msgctl { id: 0, cmd: 0, buf: null_mut() },
            Call::MqSendAt { mqdes: 0, msg: null(), len: 0, prio: 0, due: null(), handle: null_mut() },
            Call::MqCancel { mqdes: 0, handle: 0 },
            Call::MsgsndAt { id: 0, msgp: null(), size: 0, flags: 0, due: null(), handle: null_mut() },
            Call::MsgCancel { id: 0, handle: 0 },
        ];
        let names: Vec<&str> = calls.iter().map(Call::name).collect();
        assert_eq!(names, NAMES);
    }

    #[test]
    fn a_system_call_name_stands_for_the_functions_behind_it() {
        assert_eq!(named("mq_timedsend"), ["mq_send", "mq_timedsend"]);
        assert_eq!(named("mq_send"), ["mq_send"]);
        assert_eq!(named("ipc"), ["msgget", "msgsnd", "msgrcv", "msgctl"]);
        assert_eq!(named("mq_timed*"), ["mq_send", "mq_timedsend", "mq_receive", "mq_timedreceive"]);
        assert!(named("close").is_empty());
    }
}
