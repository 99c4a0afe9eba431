//! `<sys/msg.h>`: the System V message-queue API.

use std::os::raw::{c_int, c_long, c_void};

use libc::{key_t, msqid_ds, size_t, ssize_t};

use crate::call::Call;
use crate::dispatch;

/// `int msgget(key_t key, int msgflg)` — msgget(2).
///
/// # Safety
/// None: no pointer arguments.
#[no_mangle]
pub unsafe extern "C" fn msgget(key: key_t, msgflg: c_int) -> c_int {
    passthrough!(crate::real::msgget(key, msgflg));
    ffi_boundary!(errno c_int, dispatch::run(Call::Msgget { key, flags: msgflg }))
}

/// `int msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg)` — msgop(2).
///
/// # Safety
/// `msgp` points to a `long` followed by `msgsz` readable bytes, as msgsnd(2) requires.
#[no_mangle]
pub unsafe extern "C" fn msgsnd(msqid: c_int, msgp: *const c_void, msgsz: size_t, msgflg: c_int) -> c_int {
    passthrough!(crate::real::msgsnd(msqid, msgp, msgsz, msgflg));
    ffi_boundary!(errno c_int, dispatch::run(Call::Msgsnd { id: msqid, msgp, size: msgsz, flags: msgflg }))
}

/// `ssize_t msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg)` — msgop(2).
///
/// # Safety
/// `msgp` points to a `long` followed by `msgsz` writable bytes, as msgrcv(2) requires.
#[no_mangle]
pub unsafe extern "C" fn msgrcv(msqid: c_int, msgp: *mut c_void, msgsz: size_t, msgtyp: c_long, msgflg: c_int) -> ssize_t {
    passthrough!(crate::real::msgrcv(msqid, msgp, msgsz, msgtyp, msgflg));
    ffi_boundary!(errno ssize_t, dispatch::run(Call::Msgrcv { id: msqid, msgp, size: msgsz, typ: msgtyp, flags: msgflg }))
}

/// `int msgctl(int msqid, int cmd, struct msqid_ds *buf)` — msgctl(2).
///
/// # Safety
/// `buf` points to what `cmd` reads or writes (a `struct msqid_ds`, or a `struct msginfo`
/// for IPC_INFO/MSG_INFO), or is unused by `cmd`, as msgctl(2) requires.
#[no_mangle]
pub unsafe extern "C" fn msgctl(msqid: c_int, cmd: c_int, buf: *mut msqid_ds) -> c_int {
    passthrough!(crate::real::msgctl(msqid, cmd, buf));
    ffi_boundary!(errno c_int, dispatch::run(Call::Msgctl { id: msqid, cmd, buf }))
}

same_signature_as_libc! {
    msgget: unsafe extern "C" fn(key_t, c_int) -> c_int;
    msgsnd: unsafe extern "C" fn(c_int, *const c_void, size_t, c_int) -> c_int;
    msgrcv: unsafe extern "C" fn(c_int, *mut c_void, size_t, c_long, c_int) -> ssize_t;
    msgctl: unsafe extern "C" fn(c_int, c_int, *mut msqid_ds) -> c_int;
}
