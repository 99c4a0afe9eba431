//! mqshim's own C API, declared in the generated `include/mqshim.h`. The scheduled-message calls
//! go through [`crate::dispatch::run`] like the standard ones: fault injection and tracing apply.

use std::os::raw::{c_char, c_int, c_uint, c_void};

use libc::{mqd_t, size_t, timespec};

use crate::call::Call;

/// The version of libmqshim, as a NUL-terminated string such as `"0.1.0"`.
#[no_mangle]
pub extern "C" fn mqshim_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The backend that serves this process's queue calls: `"kernel"`, `"emulate"` or `"redis"`.
/// Reading it initialises mqshim from the environment if no queue call has yet.
#[no_mangle]
pub extern "C" fn mqshim_backend() -> *const c_char {
    let name: &'static std::ffi::CStr = ffi_boundary!(match crate::dispatch::backend_name() {
        "kernel" => c"kernel",
        "redis" => c"redis",
        _ => c"emulate",
    });
    name.as_ptr()
}

/// A scheduled message's handle, unique within its queue (never 0).
#[allow(non_camel_case_types)]
pub type mqshim_handle_t = u64;

/// Sends a *scheduled message* to the POSIX queue `mqdes` (emulated, or on a Redis server, where
/// the due time is the server's clock): it becomes visible to
/// receivers only at the absolute CLOCK_REALTIME time `due` (until then `mq_getattr`'s
/// `mq_curmsgs` does not count it, and a receiver blocked on the queue wakes when it falls due).
/// It belongs to the queue: it survives the exit of the process that scheduled it.
/// On success returns 0 and stores the message's handle in `*handle`, for `mqshim_mq_cancel`.
/// Errors, as for `mq_timedsend`: EINVAL (bad `due` or priority), EBADF (not a queue descriptor
/// of the emulation or the Redis backend open for writing), EMSGSIZE, EFAULT; EAGAIN when the queue already holds its
/// maximum of pending scheduled messages (64); ENOTSUP with `MQSHIM_BACKEND=kernel`.
///
/// # Safety
/// `msg_ptr` points to `msg_len` readable bytes, `due` to a timespec, `handle` to writable
/// storage (a bad pointer is EFAULT, not a crash).
#[no_mangle]
pub unsafe extern "C" fn mqshim_mq_send_at(
    mqdes: mqd_t,
    msg_ptr: *const c_char,
    msg_len: size_t,
    msg_prio: c_uint,
    due: *const timespec,
    handle: *mut mqshim_handle_t,
) -> c_int {
    // SAFETY: the caller's arguments, as the documented C API requires them.
    ffi_boundary!(errno c_int, unsafe { crate::dispatch::run(Call::MqSendAt { mqdes, msg: msg_ptr, len: msg_len, prio: msg_prio, due, handle }) })
}

/// Cancels the pending scheduled message `handle` of the queue `mqdes`. Returns 0, or -1 with
/// ENOENT when no such message is pending and not yet due (it fell due, even if it still waits
/// for room in a full queue; was cancelled; or never existed), EBADF, or ENOTSUP with
/// `MQSHIM_BACKEND=kernel`.
///
/// # Safety
/// None beyond passing a descriptor.
#[no_mangle]
pub unsafe extern "C" fn mqshim_mq_cancel(mqdes: mqd_t, handle: mqshim_handle_t) -> c_int {
    // SAFETY: the caller's arguments, as the documented C API requires them.
    ffi_boundary!(errno c_int, unsafe { crate::dispatch::run(Call::MqCancel { mqdes, handle }) })
}

/// Sends a *scheduled message* to the System V queue `msqid` (emulated, or on a Redis server): the message at `msgp`
/// (a `struct msgbuf`: `mtype`, then `msgsz` bytes of text) is sent at the absolute
/// CLOCK_REALTIME time `due`, as `msgsnd` would send it then: to a blocked receiver it matches,
/// or into the queue; when it does not fit (`msg_qbytes`) it waits, like a blocked sender, until
/// a receive makes room. Until then `IPC_STAT`'s `msg_qnum` and `__msg_cbytes` do not count it,
/// receivers do not see it, and a receiver blocked on the queue wakes when it falls due. It
/// belongs to the queue: it survives the exit of the process that scheduled it; `IPC_RMID`
/// discards it. `msgflg` is 0 or `IPC_NOWAIT` (the call never blocks either way).
/// On success returns 0 and stores the message's handle in `*handle`, for `mqshim_msg_cancel`.
/// Errors, in `msgsnd`'s order: EFAULT (`msgp` unreadable), EINVAL (`mtype` < 1, `msgsz` above
/// `msgmax`, a bad `due` or `msgflg`), EFAULT (the text), EINVAL (no queue `msqid`), EACCES (no
/// write permission), EFAULT (`handle`), EIDRM; EAGAIN when the queue already holds its maximum
/// of pending scheduled messages (64); ENOTSUP with `MQSHIM_BACKEND=kernel`.
///
/// # Safety
/// `msgp` points to a `long` and `msgsz` readable bytes after it, `due` to a timespec, `handle`
/// to writable storage (a bad pointer is EFAULT, not a crash).
#[no_mangle]
pub unsafe extern "C" fn mqshim_msgsnd_at(
    msqid: c_int,
    msgp: *const c_void,
    msgsz: size_t,
    msgflg: c_int,
    due: *const timespec,
    handle: *mut mqshim_handle_t,
) -> c_int {
    // SAFETY: the caller's arguments, as the documented C API requires them.
    ffi_boundary!(errno c_int, unsafe { crate::dispatch::run(Call::MsgsndAt { id: msqid, msgp, size: msgsz, flags: msgflg, due, handle }) })
}

/// Cancels the pending scheduled message `handle` of the System V queue `msqid`. Returns 0, or
/// -1 with ENOENT when no such message is pending and not yet due (it fell due, even if it
/// still waits for room in a full queue; was cancelled; or never existed), EINVAL (no queue
/// `msqid`), EACCES (no write permission), EIDRM, or ENOTSUP with `MQSHIM_BACKEND=kernel`.
///
/// # Safety
/// None beyond passing an id.
#[no_mangle]
pub unsafe extern "C" fn mqshim_msg_cancel(msqid: c_int, handle: mqshim_handle_t) -> c_int {
    // SAFETY: the caller's arguments, as the documented C API requires them.
    ffi_boundary!(errno c_int, unsafe { crate::dispatch::run(Call::MsgCancel { id: msqid, handle }) })
}
