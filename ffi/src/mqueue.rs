//! `<mqueue.h>`: the POSIX message-queue API, plus glibc's `__mq_open_2`.

use std::os::raw::{c_char, c_int, c_uint};

use libc::{mode_t, mq_attr, mqd_t, sigevent, size_t, ssize_t, timespec};

use crate::call::Call;
use crate::dispatch;

/// `mqd_t mq_open(const char *name, int oflag, ...)` — see mq_open(3).
///
/// C declares `mq_open` variadic, and stable Rust cannot define a variadic function. It is
/// defined here with the two optional arguments as fixed parameters. This is sound on the ABIs
/// mqshim supports, Linux x86_64 (System V) and Linux aarch64 (AAPCS64): both pass a variadic
/// integer or pointer argument in the same register as a fixed parameter in that position
/// (rdx/rcx, x2/x3), and a two-argument caller merely leaves those registers with unspecified
/// values. `mode` and `attr` are therefore read only when `oflag` has `O_CREAT` — exactly when
/// C's `va_arg` would read them — and are otherwise passed on untouched and unread.
/// (`mode_t` is `unsigned int`, which variadic promotion leaves unchanged.)
/// The C test `posix_open_two_and_four_args` calls it both ways.
///
/// # Safety
/// `name` is a NUL-terminated string and, when `oflag` has `O_CREAT`, `attr` is NULL or
/// points to a `struct mq_attr`, as mq_open(3) requires (`mode` and `attr` are not read
/// otherwise).
#[no_mangle]
pub unsafe extern "C" fn mq_open(name: *const c_char, oflag: c_int, mode: mode_t, attr: *mut mq_attr) -> mqd_t {
    passthrough!(crate::real::mq_open(name, oflag, mode, attr));
    ffi_boundary!(errno mqd_t, dispatch::run(Call::MqOpen { name, oflag, mode, attr, fortify: false }))
}

/// `mqd_t __mq_open_2(const char *name, int oflag)`: what a `_FORTIFY_SOURCE` build calls for a
/// two-argument `mq_open` whose oflag is not a constant. Like glibc's, it aborts on `O_CREAT`.
///
/// # Safety
/// `name` is a NUL-terminated string, as mq_open(3) requires.
#[no_mangle]
pub unsafe extern "C" fn __mq_open_2(name: *const c_char, oflag: c_int) -> mqd_t {
    passthrough!(crate::real::__mq_open_2(name, oflag));
    ffi_boundary!(errno mqd_t, dispatch::run(Call::MqOpen { name, oflag, mode: 0, attr: std::ptr::null_mut(), fortify: true }))
}

/// `int mq_close(mqd_t mqdes)` — see mq_close(3).
///
/// # Safety
/// None beyond mq_close(3)'s: `mqdes` is not a descriptor other code owns and still uses.
#[no_mangle]
pub unsafe extern "C" fn mq_close(mqdes: mqd_t) -> c_int {
    passthrough!(crate::real::mq_close(mqdes));
    ffi_boundary!(errno c_int, dispatch::run(Call::MqClose { mqdes }))
}

/// `int mq_unlink(const char *name)` — see mq_unlink(3).
///
/// # Safety
/// `name` is a NUL-terminated string, as mq_unlink(3) requires.
#[no_mangle]
pub unsafe extern "C" fn mq_unlink(name: *const c_char) -> c_int {
    passthrough!(crate::real::mq_unlink(name));
    ffi_boundary!(errno c_int, dispatch::run(Call::MqUnlink { name }))
}

/// `int mq_send(mqd_t, const char *msg_ptr, size_t msg_len, unsigned msg_prio)` — mq_send(3).
///
/// # Safety
/// `msg_ptr` points to `msg_len` readable bytes, as mq_send(3) requires.
#[no_mangle]
pub unsafe extern "C" fn mq_send(mqdes: mqd_t, msg_ptr: *const c_char, msg_len: size_t, msg_prio: c_uint) -> c_int {
    passthrough!(crate::real::mq_send(mqdes, msg_ptr, msg_len, msg_prio));
    ffi_boundary!(errno c_int, dispatch::run(Call::MqSend { mqdes, msg: msg_ptr, len: msg_len, prio: msg_prio, timeout: None }))
}

/// `int mq_timedsend(…, const struct timespec *abs_timeout)` — mq_send(3).
///
/// # Safety
/// `msg_ptr` points to `msg_len` readable bytes and `abs_timeout` to a `struct timespec`,
/// as mq_timedsend(3) requires.
#[no_mangle]
pub unsafe extern "C" fn mq_timedsend(mqdes: mqd_t, msg_ptr: *const c_char, msg_len: size_t, msg_prio: c_uint, abs_timeout: *const timespec) -> c_int {
    passthrough!(crate::real::mq_timedsend(mqdes, msg_ptr, msg_len, msg_prio, abs_timeout));
    ffi_boundary!(errno c_int, dispatch::run(Call::MqSend { mqdes, msg: msg_ptr, len: msg_len, prio: msg_prio, timeout: Some(abs_timeout) }))
}

/// `ssize_t mq_receive(mqd_t, char *msg_ptr, size_t msg_len, unsigned *msg_prio)` — mq_receive(3).
///
/// # Safety
/// `msg_ptr` points to `msg_len` writable bytes and `msg_prio` is NULL or writable, as
/// mq_receive(3) requires.
#[no_mangle]
pub unsafe extern "C" fn mq_receive(mqdes: mqd_t, msg_ptr: *mut c_char, msg_len: size_t, msg_prio: *mut c_uint) -> ssize_t {
    passthrough!(crate::real::mq_receive(mqdes, msg_ptr, msg_len, msg_prio));
    ffi_boundary!(errno ssize_t, dispatch::run(Call::MqReceive { mqdes, msg: msg_ptr, len: msg_len, prio: msg_prio, timeout: None }))
}

/// `ssize_t mq_timedreceive(…, const struct timespec *abs_timeout)` — mq_receive(3).
///
/// # Safety
/// `msg_ptr` points to `msg_len` writable bytes, `msg_prio` is NULL or writable and
/// `abs_timeout` points to a `struct timespec`, as mq_timedreceive(3) requires.
#[no_mangle]
pub unsafe extern "C" fn mq_timedreceive(mqdes: mqd_t, msg_ptr: *mut c_char, msg_len: size_t, msg_prio: *mut c_uint, abs_timeout: *const timespec) -> ssize_t {
    passthrough!(crate::real::mq_timedreceive(mqdes, msg_ptr, msg_len, msg_prio, abs_timeout));
    ffi_boundary!(errno ssize_t, dispatch::run(Call::MqReceive { mqdes, msg: msg_ptr, len: msg_len, prio: msg_prio, timeout: Some(abs_timeout) }))
}

/// `int mq_getattr(mqd_t, struct mq_attr *attr)` — mq_getattr(3).
///
/// # Safety
/// `attr` points to a writable `struct mq_attr`, as mq_getattr(3) requires.
#[no_mangle]
pub unsafe extern "C" fn mq_getattr(mqdes: mqd_t, attr: *mut mq_attr) -> c_int {
    passthrough!(crate::real::mq_getattr(mqdes, attr));
    ffi_boundary!(errno c_int, dispatch::run(Call::MqGetattr { mqdes, attr }))
}

/// `int mq_setattr(mqd_t, const struct mq_attr *newattr, struct mq_attr *oldattr)` — mq_setattr(3).
///
/// # Safety
/// `newattr` points to a `struct mq_attr` and `oldattr` is NULL or writable, as
/// mq_setattr(3) requires.
#[no_mangle]
pub unsafe extern "C" fn mq_setattr(mqdes: mqd_t, newattr: *const mq_attr, oldattr: *mut mq_attr) -> c_int {
    passthrough!(crate::real::mq_setattr(mqdes, newattr, oldattr));
    ffi_boundary!(errno c_int, dispatch::run(Call::MqSetattr { mqdes, new: newattr, old: oldattr }))
}

/// `int mq_notify(mqd_t, const struct sigevent *sevp)` — mq_notify(3).
///
/// # Safety
/// `sevp` is NULL or points to a `struct sigevent`, as mq_notify(3) requires.
#[no_mangle]
pub unsafe extern "C" fn mq_notify(mqdes: mqd_t, sevp: *const sigevent) -> c_int {
    passthrough!(crate::real::mq_notify(mqdes, sevp));
    ffi_boundary!(errno c_int, dispatch::run(Call::MqNotify { mqdes, sev: sevp }))
}

// libc declares mq_open variadic; ours takes the optional arguments as fixed ones (see above).
const _: unsafe extern "C" fn(*const c_char, c_int, ...) -> mqd_t = libc::mq_open;
const _: unsafe extern "C" fn(*const c_char, c_int, mode_t, *mut mq_attr) -> mqd_t = mq_open;

same_signature_as_libc! {
    mq_close: unsafe extern "C" fn(mqd_t) -> c_int;
    mq_unlink: unsafe extern "C" fn(*const c_char) -> c_int;
    mq_send: unsafe extern "C" fn(mqd_t, *const c_char, size_t, c_uint) -> c_int;
    mq_timedsend: unsafe extern "C" fn(mqd_t, *const c_char, size_t, c_uint, *const timespec) -> c_int;
    mq_receive: unsafe extern "C" fn(mqd_t, *mut c_char, size_t, *mut c_uint) -> ssize_t;
    mq_timedreceive: unsafe extern "C" fn(mqd_t, *mut c_char, size_t, *mut c_uint, *const timespec) -> ssize_t;
    mq_getattr: unsafe extern "C" fn(mqd_t, *mut mq_attr) -> c_int;
    mq_setattr: unsafe extern "C" fn(mqd_t, *const mq_attr, *mut mq_attr) -> c_int;
    mq_notify: unsafe extern "C" fn(mqd_t, *const sigevent) -> c_int;
}
