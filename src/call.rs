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

impl Call {
    /// The library-level name the program called (`mq_send`, not the syscall).
    pub fn name(&self) -> &'static str {
        match self {
            Call::MqOpen { .. } => "mq_open",
            Call::MqClose { .. } => "mq_close",
            Call::MqUnlink { .. } => "mq_unlink",
            Call::MqSend { timeout: None, .. } => "mq_send",
            Call::MqSend { timeout: Some(_), .. } => "mq_timedsend",
            Call::MqReceive { timeout: None, .. } => "mq_receive",
            Call::MqReceive { timeout: Some(_), .. } => "mq_timedreceive",
            Call::MqGetattr { .. } => "mq_getattr",
            Call::MqSetattr { .. } => "mq_setattr",
            Call::MqNotify { .. } => "mq_notify",
            Call::Msgget { .. } => "msgget",
            Call::Msgsnd { .. } => "msgsnd",
            Call::Msgrcv { .. } => "msgrcv",
            Call::Msgctl { .. } => "msgctl",
            Call::MqSendAt { .. } => "mqshim_mq_send_at",
            Call::MqCancel { .. } => "mqshim_mq_cancel",
            Call::MsgsndAt { .. } => "mqshim_msgsnd_at",
            Call::MsgCancel { .. } => "mqshim_msg_cancel",
        }
    }
}
