//! Decodes a [`Call`] and its outcome into named fields for a trace record.
//!
//! Decoding happens after the call, so output parameters show what the call wrote. Memory is
//! read directly when the call succeeded and defensively otherwise (see [`crate::os::usermem`]).

use std::os::raw::c_int;

use libc::{mq_attr, msqid_ds, timespec};

use crate::call::Call;
use crate::errno::Errno;
use crate::os::usermem::{read_bytes, read_cstr, read_struct, Trust};

/// Longest queue name shown (names longer than NAME_MAX are shown cut, marked `...`).
pub const NAME_PREVIEW: usize = 300;

/// Bytes shown of a string or payload, and whether that is all of it.
#[derive(Clone, Copy, Debug)]
pub struct Shown<'a> {
    pub bytes: &'a [u8],
    pub complete: bool,
}

/// The `sigevent` fields mqshim shows (glibc layout on Linux: value, signo, notify, then the
/// SIGEV_THREAD function and attributes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SigeventView {
    pub value: usize,
    pub signo: c_int,
    pub notify: c_int,
    pub function: usize,
    pub attributes: usize,
}

/// `struct msginfo` from `<sys/msg.h>` (filled by IPC_INFO and MSG_INFO).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgInfo {
    pub msgpool: c_int,
    pub msgmap: c_int,
    pub msgmax: c_int,
    pub msgmnb: c_int,
    pub msgmni: c_int,
    pub msgssz: c_int,
    pub msgtql: c_int,
    pub msgseg: u16,
}

/// One decoded argument.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Int(i64),
    /// A pointer shown as an address (unreadable, or not worth decoding); 0 shows as NULL.
    Ptr(usize),
    /// A C string (queue names).
    Text(Shown<'a>),
    /// Message bytes.
    Payload(Shown<'a>),
    OpenFlags(c_int),
    MsggetFlags(c_int),
    MsgFlags(c_int),
    MsgctlCmd(c_int),
    Mode(u32),
    Key(libc::key_t),
    Attr(mq_attr),
    Timespec(timespec),
    Sigevent(SigeventView),
    Msqid(msqid_ds),
    MsgInfo(MsgInfo),
    /// A value the call wrote through an output pointer (shown `[3]`).
    Out(i64),
    /// A SysV message buffer: its type and a preview of its text.
    MsgBuf {
        mtype: i64,
        text: Shown<'a>,
    },
}

impl Value<'_> {
    /// How many bytes of text or payload this value previews.
    pub fn preview_len(&self) -> usize {
        match self {
            Value::Text(s) | Value::Payload(s) | Value::MsgBuf { text: s, .. } => s.bytes.len(),
            _ => 0,
        }
    }
}

/// The name of a decoded argument, as the man pages name it (and JSON lines write it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FieldName {
    Name,
    Oflag,
    Mode,
    Attr,
    Mqdes,
    MsgPtr,
    MsgLen,
    MsgPrio,
    AbsTimeout,
    Newattr,
    Oldattr,
    Sevp,
    Key,
    Msgflg,
    Msqid,
    Msgp,
    Msgsz,
    Msgtyp,
    Cmd,
    Buf,
    Due,
    Handle,
}

impl FieldName {
    /// Every name, in the order of their numbers (`as u8`).
    pub const ALL: [FieldName; 22] = [
        FieldName::Name,
        FieldName::Oflag,
        FieldName::Mode,
        FieldName::Attr,
        FieldName::Mqdes,
        FieldName::MsgPtr,
        FieldName::MsgLen,
        FieldName::MsgPrio,
        FieldName::AbsTimeout,
        FieldName::Newattr,
        FieldName::Oldattr,
        FieldName::Sevp,
        FieldName::Key,
        FieldName::Msgflg,
        FieldName::Msqid,
        FieldName::Msgp,
        FieldName::Msgsz,
        FieldName::Msgtyp,
        FieldName::Cmd,
        FieldName::Buf,
        FieldName::Due,
        FieldName::Handle,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldName::Name => "name",
            FieldName::Oflag => "oflag",
            FieldName::Mode => "mode",
            FieldName::Attr => "attr",
            FieldName::Mqdes => "mqdes",
            FieldName::MsgPtr => "msg_ptr",
            FieldName::MsgLen => "msg_len",
            FieldName::MsgPrio => "msg_prio",
            FieldName::AbsTimeout => "abs_timeout",
            FieldName::Newattr => "newattr",
            FieldName::Oldattr => "oldattr",
            FieldName::Sevp => "sevp",
            FieldName::Key => "key",
            FieldName::Msgflg => "msgflg",
            FieldName::Msqid => "msqid",
            FieldName::Msgp => "msgp",
            FieldName::Msgsz => "msgsz",
            FieldName::Msgtyp => "msgtyp",
            FieldName::Cmd => "cmd",
            FieldName::Buf => "buf",
            FieldName::Due => "due",
            FieldName::Handle => "handle",
        }
    }

    /// The name numbered `n` (a binary record's).
    pub fn from_number(n: u8) -> Option<FieldName> {
        FieldName::ALL.get(n as usize).copied()
    }
}

/// A named argument.
#[derive(Clone, Copy, Debug)]
pub struct Field<'a> {
    pub name: FieldName,
    pub value: Value<'a>,
}

/// Most arguments any call has (`mqshim_mq_send_at`, `mqshim_msgsnd_at`).
pub const MAX_FIELDS: usize = 6;

/// Scratch memory the decoded previews point into.
pub struct Scratch<'b> {
    pub name: &'b mut [u8],
    pub payload: &'b mut [u8],
}

/// The decoded arguments of one call.
pub struct Decoded<'a> {
    fields: [Option<Field<'a>>; MAX_FIELDS],
}

impl<'a> Decoded<'a> {
    pub fn fields(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().flatten()
    }

    /// No fields (yet): [`decode_into`] fills it where it lies.
    pub const fn empty() -> Decoded<'a> {
        Decoded { fields: [None; MAX_FIELDS] }
    }

    /// Fields already decoded (read back from a trace buffer); past [`MAX_FIELDS`] are dropped.
    pub fn from_fields(fields: impl IntoIterator<Item = Field<'a>>) -> Decoded<'a> {
        let mut d = Decoded::empty();
        let mut b = Builder { fields: &mut d.fields, len: 0 };
        for f in fields {
            b.push(f.name, f.value);
        }
        d
    }
}

struct Builder<'d, 'a> {
    fields: &'d mut [Option<Field<'a>>; MAX_FIELDS],
    len: usize,
}

impl<'a> Builder<'_, 'a> {
    fn push(&mut self, name: FieldName, value: Value<'a>) {
        if self.len < MAX_FIELDS {
            self.fields[self.len] = Some(Field { name, value });
            self.len += 1;
        }
    }
}

fn ptr_value<T>(p: *const T) -> Value<'static> {
    Value::Ptr(p as usize)
}

/// A struct argument: decoded when readable, else its address.
///
/// # Safety
/// As for [`read_struct`]: with [`Trust::Valid`], `p` is NULL or valid for reads of a `T`.
unsafe fn struct_value<'a, T: Copy>(p: *const T, trust: Trust, wrap: impl FnOnce(T) -> Value<'a>) -> Value<'a> {
    if p.is_null() {
        return Value::Ptr(0);
    }
    // SAFETY: this function's contract.
    match unsafe { read_struct(p, trust) } {
        Some(v) => wrap(v),
        None => ptr_value(p),
    }
}

/// A C string argument: its first `buf.len()` bytes when readable, else its address.
///
/// # Safety
/// As for [`read_cstr`]: with [`Trust::Valid`], `p` is a readable C string.
unsafe fn text_value<'a>(p: *const libc::c_char, buf: &'a mut [u8], trust: Trust) -> Value<'a> {
    // SAFETY: this function's contract.
    match unsafe { read_cstr(p.cast(), buf, trust) } {
        Some((len, complete)) => Value::Text(Shown { bytes: &buf[..len], complete }),
        None => ptr_value(p),
    }
}

/// Previews `total` bytes at `p`, at most `buf.len()`.
///
/// # Safety
/// As for [`read_bytes`]: with [`Trust::Valid`], `p` is valid for reads of `total` bytes.
unsafe fn payload<'a>(p: *const u8, total: usize, buf: &'a mut [u8], trust: Trust) -> Option<Shown<'a>> {
    let n = total.min(buf.len());
    // SAFETY: this function's contract covers the first `n <= total` bytes.
    if unsafe { read_bytes(p, &mut buf[..n], trust) } {
        Some(Shown { bytes: &buf[..n], complete: n == total })
    } else {
        None
    }
}

/// The `abs_timeout` field of a timed call.
///
/// # Safety
/// With [`Trust::Valid`], a `Some` timeout is NULL or valid for reads of a `timespec`.
unsafe fn timeout_field<'a>(b: &mut Builder<'_, 'a>, timeout: Option<*const timespec>, trust: Trust) {
    if let Some(t) = timeout {
        // SAFETY: this function's contract.
        b.push(FieldName::AbsTimeout, unsafe { struct_value(t, trust, Value::Timespec) });
    }
}

/// Decodes `call`, whose outcome was `outcome`.
///
/// # Safety
/// `call` holds the arguments a program passed to a call that has returned `outcome`, valid as
/// the C API requires of them. After a success the memory the call read or wrote is read
/// directly; after a failure it is read through checks, since a pointer may be bad.
pub unsafe fn decode<'a>(call: &Call, outcome: Result<i64, Errno>, scratch: Scratch<'a>) -> Decoded<'a> {
    let mut d = Decoded::empty();
    // SAFETY: this function's contract.
    unsafe { decode_into(call, outcome, scratch, &mut d) };
    d
}

/// [`decode`] into `out` (emptied first), where it lies: a record's arguments are not copied
/// (hundreds of bytes) on their way into the record.
///
/// # Safety
/// As for [`decode`].
pub unsafe fn decode_into<'a>(call: &Call, outcome: Result<i64, Errno>, scratch: Scratch<'a>, out: &mut Decoded<'a>) {
    let trust = if outcome.is_ok() { Trust::Valid } else { Trust::Unknown };
    // A bad pointer makes the kernel say EFAULT; then nothing is dereferenced directly.
    out.fields = [None; MAX_FIELDS];
    let mut b = Builder { fields: &mut out.fields, len: 0 };
    let Scratch { name: name_buf, payload: payload_buf } = scratch;
    // SAFETY: every helper reads only this call's own pointers, for at most the sizes the call
    // used them with, and trusts them (Trust::Valid) only after a success: this function's
    // contract. Output arguments are read only when the call succeeded and so wrote them.
    unsafe {
        match *call {
            Call::MqOpen { name, oflag, mode, attr, fortify: _ } => {
                b.push(FieldName::Name, text_value(name, name_buf, trust));
                b.push(FieldName::Oflag, Value::OpenFlags(oflag));
                if oflag & libc::O_CREAT != 0 {
                    b.push(FieldName::Mode, Value::Mode(mode));
                    b.push(FieldName::Attr, struct_value(attr, trust, Value::Attr));
                }
            }
            Call::MqClose { mqdes } => b.push(FieldName::Mqdes, Value::Int(mqdes.into())),
            Call::MqUnlink { name } => b.push(FieldName::Name, text_value(name, name_buf, trust)),
            Call::MqSend { mqdes, msg, len, prio, timeout } => {
                b.push(FieldName::Mqdes, Value::Int(mqdes.into()));
                b.push(FieldName::MsgPtr, payload(msg.cast(), len, payload_buf, trust).map_or(ptr_value(msg), Value::Payload));
                b.push(FieldName::MsgLen, Value::Int(len as i64));
                b.push(FieldName::MsgPrio, Value::Int(prio.into()));
                timeout_field(&mut b, timeout, trust);
            }
            Call::MqReceive { mqdes, msg, len, prio, timeout } => {
                b.push(FieldName::Mqdes, Value::Int(mqdes.into()));
                let received = outcome.ok().and_then(|n| usize::try_from(n).ok());
                let shown = received.and_then(|n| payload(msg.cast::<u8>(), n, payload_buf, trust));
                b.push(FieldName::MsgPtr, shown.map_or(ptr_value(msg), Value::Payload));
                b.push(FieldName::MsgLen, Value::Int(len as i64));
                let prio_value = match (received, prio.is_null()) {
                    (Some(_), false) => read_struct(prio, trust).map_or(ptr_value(prio), |p| Value::Out(p.into())),
                    _ => ptr_value(prio),
                };
                b.push(FieldName::MsgPrio, prio_value);
                timeout_field(&mut b, timeout, trust);
            }
            Call::MqGetattr { mqdes, attr } => {
                b.push(FieldName::Mqdes, Value::Int(mqdes.into()));
                b.push(FieldName::Attr, if outcome.is_ok() { struct_value(attr, trust, Value::Attr) } else { ptr_value(attr) });
            }
            Call::MqSetattr { mqdes, new, old } => {
                b.push(FieldName::Mqdes, Value::Int(mqdes.into()));
                b.push(FieldName::Newattr, struct_value(new, trust, Value::Attr));
                b.push(FieldName::Oldattr, if outcome.is_ok() { struct_value(old, trust, Value::Attr) } else { ptr_value(old) });
            }
            Call::MqNotify { mqdes, sev } => {
                b.push(FieldName::Mqdes, Value::Int(mqdes.into()));
                b.push(FieldName::Sevp, struct_value(sev.cast::<SigeventView>(), trust, Value::Sigevent));
            }
            Call::Msgget { key, flags } => {
                b.push(FieldName::Key, Value::Key(key));
                b.push(FieldName::Msgflg, Value::MsggetFlags(flags));
            }
            Call::Msgsnd { id, msgp, size, flags } => {
                b.push(FieldName::Msqid, Value::Int(id.into()));
                b.push(FieldName::Msgp, msgbuf(msgp.cast(), Some(size), payload_buf, trust));
                b.push(FieldName::Msgsz, Value::Int(size as i64));
                b.push(FieldName::Msgflg, Value::MsgFlags(flags));
            }
            Call::Msgrcv { id, msgp, size, typ, flags } => {
                b.push(FieldName::Msqid, Value::Int(id.into()));
                let received = outcome.ok().and_then(|n| usize::try_from(n).ok());
                b.push(FieldName::Msgp, if received.is_some() { msgbuf(msgp.cast_const().cast(), received, payload_buf, trust) } else { ptr_value(msgp) });
                b.push(FieldName::Msgsz, Value::Int(size as i64));
                b.push(FieldName::Msgtyp, Value::Int(typ));
                b.push(FieldName::Msgflg, Value::MsgFlags(flags));
            }
            Call::Msgctl { id, cmd, buf } => {
                b.push(FieldName::Msqid, Value::Int(id.into()));
                b.push(FieldName::Cmd, Value::MsgctlCmd(cmd));
                let value = match cmd & !IPC_64 {
                    libc::IPC_SET => struct_value(buf.cast_const(), trust, Value::Msqid),
                    libc::IPC_STAT | libc::MSG_STAT | crate::trace::names::MSG_STAT_ANY if outcome.is_ok() => {
                        struct_value(buf.cast_const(), trust, Value::Msqid)
                    }
                    libc::IPC_INFO | libc::MSG_INFO if outcome.is_ok() => struct_value(buf.cast_const().cast::<MsgInfo>(), trust, Value::MsgInfo),
                    _ => ptr_value(buf),
                };
                b.push(FieldName::Buf, value);
            }
            Call::MqSendAt { mqdes, msg, len, prio, due, handle } => {
                b.push(FieldName::Mqdes, Value::Int(mqdes.into()));
                b.push(FieldName::MsgPtr, payload(msg.cast(), len, payload_buf, trust).map_or(ptr_value(msg), Value::Payload));
                b.push(FieldName::MsgLen, Value::Int(len as i64));
                b.push(FieldName::MsgPrio, Value::Int(prio.into()));
                b.push(FieldName::Due, struct_value(due, trust, Value::Timespec));
                b.push(FieldName::Handle, handle_value(handle, outcome, trust));
            }
            Call::MqCancel { mqdes, handle } => {
                b.push(FieldName::Mqdes, Value::Int(mqdes.into()));
                b.push(FieldName::Handle, Value::Int(handle as i64));
            }
            Call::MsgsndAt { id, msgp, size, flags, due, handle } => {
                b.push(FieldName::Msqid, Value::Int(id.into()));
                b.push(FieldName::Msgp, msgbuf(msgp.cast(), Some(size), payload_buf, trust));
                b.push(FieldName::Msgsz, Value::Int(size as i64));
                b.push(FieldName::Msgflg, Value::MsgFlags(flags));
                b.push(FieldName::Due, struct_value(due, trust, Value::Timespec));
                b.push(FieldName::Handle, handle_value(handle, outcome, trust));
            }
            Call::MsgCancel { id, handle } => {
                b.push(FieldName::Msqid, Value::Int(id.into()));
                b.push(FieldName::Handle, Value::Int(handle as i64));
            }
        }
    }
}

/// A scheduled message's handle output: the handle the call wrote when it succeeded, else the
/// pointer.
///
/// # Safety
/// With [`Trust::Valid`] (a success), `handle` is valid for reads of a `u64` the call wrote.
unsafe fn handle_value(handle: *mut u64, outcome: Result<i64, Errno>, trust: Trust) -> Value<'static> {
    if outcome.is_err() || handle.is_null() {
        return ptr_value(handle);
    }
    // SAFETY: this function's contract.
    unsafe { read_struct(handle.cast_const(), trust) }.map_or(ptr_value(handle), |h| Value::Out(h as i64))
}

/// glibc ORs this into msgctl's command for the kernel; programs do not normally pass it.
const IPC_64: c_int = 0x100;

/// A SysV message: `{mtype, mtext}`; `text_len` None shows the type only.
///
/// # Safety
/// With [`Trust::Valid`], `p` is valid for reads of a `long` followed by `text_len` bytes.
unsafe fn msgbuf<'a>(p: *const u8, text_len: Option<usize>, buf: &'a mut [u8], trust: Trust) -> Value<'a> {
    // SAFETY: this function's contract covers the leading `long`.
    let Some(mtype) = (unsafe { read_struct(p.cast::<libc::c_long>(), trust) }) else {
        return Value::Ptr(p as usize);
    };
    let text_ptr = p.wrapping_add(std::mem::size_of::<libc::c_long>());
    // SAFETY: this function's contract covers the `text_len` bytes after the `long`.
    match text_len.and_then(|n| unsafe { payload(text_ptr, n, buf, trust) }) {
        Some(text) => Value::MsgBuf { mtype, text },
        None => Value::MsgBuf { mtype, text: Shown { bytes: &[], complete: false } },
    }
}
