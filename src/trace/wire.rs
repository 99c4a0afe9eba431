//! The binary form of a trace record, as the library writes it into a shared-memory trace buffer
//! ([`super::buffer`]) and `mqshim trace` reads it back: the decoded fields copied as they are,
//! no formatting. Formatting (text or JSON lines) is the collector's work, so a traced call pays
//! for a few copies instead of a rendered line and a `write(2)`.
//!
//! A record is a fixed [`Head`] followed by its call's name (bytes, interned again when read) and
//! its fields, each `name number, tag, value`. Structures are copied whole: writer and reader are
//! the same machine, and every structure here is plain integers.

use std::mem::size_of;

use libc::{mq_attr, msqid_ds, timespec};

use super::decode::{Decoded, Field, FieldName, MsgInfo, Shown, SigeventView, Value, MAX_FIELDS};
use super::Record;
use crate::call::NAMES;
use crate::errno::Errno;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A call that returned: everything.
    Call = 1,
    /// A call that may block, as it starts: its first argument only (the call's record follows
    /// when it returns; if it never does, the process died blocked).
    Entry = 2,
    /// Filler to the end of the buffer's ring (the next record starts at its beginning).
    Padding = 3,
}

/// Flags of a record.
pub const FLAG_INJECTED: u8 = 1;
pub const FLAG_DELAYED: u8 = 2;
pub const FLAG_FAILED: u8 = 4;
pub const FLAG_EMULATE: u8 = 8;

/// The fixed start of every record. `len` is written last, with release ordering, by the
/// buffer: a reader that sees it non-zero sees the whole record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Head {
    /// The record's size in bytes, a multiple of 8, this head included.
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    pub fields: u8,
    pub call_len: u8,
    pub pid: i32,
    pub tid: i32,
    /// CLOCK_REALTIME at the call's start, ns since the epoch.
    pub wall_ns: u64,
    pub dur_ns: u64,
    /// The return value, or the errno when FLAG_FAILED.
    pub ret: i64,
    /// Per-thread call number: an entry and its call's record share it.
    pub seq: u64,
}

pub const HEAD: usize = size_of::<Head>();

/// Builds a record in caller-provided memory.
pub struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Writer<'b> {
    /// Copies `bytes` (cut at the end of the buffer). Short copies (names, small previews) are
    /// done inline: a call to memcpy per field was a visible share of a traced call's cost.
    fn put(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(self.buf.len());
        let n = end - self.len;
        let dst = &mut self.buf[self.len..end];
        if n <= 16 {
            for (d, s) in dst.iter_mut().zip(bytes) {
                *d = *s;
            }
        } else {
            dst.copy_from_slice(&bytes[..n]);
        }
        self.len = end;
    }

    fn byte(&mut self, b: u8) {
        if self.len < self.buf.len() {
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    fn put_pod<T: Copy>(&mut self, v: &T) {
        if self.len + size_of::<T>() <= self.buf.len() {
            // SAFETY: size_of::<T>() bytes from `len` are inside buf (checked); an unaligned
            // write of a plain-integer value.
            unsafe { std::ptr::write_unaligned(self.buf.as_mut_ptr().add(self.len).cast::<T>(), *v) };
            self.len += size_of::<T>();
        } else {
            // SAFETY: T is one of this module's plain-integer C structures (or an integer):
            // every byte of it is initialised, and it is read as bytes only for its own size.
            let bytes = unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) };
            self.put(bytes);
        }
    }

    fn put_shown(&mut self, s: &Shown<'_>) {
        let n = s.bytes.len().min(u16::MAX as usize);
        self.put_pod(&(n as u16));
        self.byte(s.complete as u8);
        self.put(&s.bytes[..n]);
    }

    fn put_value(&mut self, v: &Value<'_>) {
        match *v {
            Value::Int(n) => self.tagged(0, &n),
            Value::Ptr(p) => self.tagged(1, &(p as u64)),
            Value::Text(ref s) => {
                self.byte(2);
                self.put_shown(s);
            }
            Value::Payload(ref s) => {
                self.byte(3);
                self.put_shown(s);
            }
            Value::OpenFlags(f) => self.tagged(4, &f),
            Value::MsggetFlags(f) => self.tagged(5, &f),
            Value::MsgFlags(f) => self.tagged(6, &f),
            Value::MsgctlCmd(c) => self.tagged(7, &c),
            Value::Mode(m) => self.tagged(8, &m),
            Value::Key(k) => self.tagged(9, &k),
            Value::Attr(ref a) => self.tagged(10, a),
            Value::Timespec(ref t) => self.tagged(11, t),
            Value::Sigevent(ref s) => self.tagged(12, s),
            Value::Msqid(ref m) => self.tagged(13, m),
            Value::MsgInfo(ref m) => self.tagged(14, m),
            Value::Out(n) => self.tagged(15, &n),
            Value::MsgBuf { mtype, ref text } => {
                self.tagged(16, &mtype);
                self.put_shown(text);
            }
        }
    }

    fn tagged<T: Copy>(&mut self, tag: u8, v: &T) {
        self.byte(tag);
        self.put_pod(v);
    }

    fn name(&mut self, name: FieldName) {
        self.byte(name as u8);
    }
}

fn head_of(kind: Kind, r: &Record<'_>, seq: u64) -> Head {
    let (flags, ret) = match r.outcome {
        Ok(v) => (0, v),
        Err(e) => (FLAG_FAILED, e as i32 as i64),
    };
    let flags =
        flags | if r.injected { FLAG_INJECTED } else { 0 } | if r.delayed { FLAG_DELAYED } else { 0 } | if r.backend == "emulate" { FLAG_EMULATE } else { 0 };
    Head {
        len: 0,
        kind: kind as u8,
        flags,
        fields: 0,
        call_len: r.call.len().min(255) as u8,
        pid: r.pid,
        tid: r.tid,
        wall_ns: r.wall.tv_sec as u64 * 1_000_000_000 + r.wall.tv_nsec as u64,
        dur_ns: r.dur_ns,
        ret,
        seq,
    }
}

/// The bytes [`encode`] writes for `r` (a multiple of 8).
pub fn encoded_len(r: &Record<'_>) -> usize {
    let shown = |s: &Shown<'_>| 3 + s.bytes.len().min(u16::MAX as usize);
    let mut n = HEAD + r.call.len().min(255);
    for f in r.args.fields() {
        n += 2; // the name's number and the value's tag
        n += match f.value {
            Value::Int(_) | Value::Ptr(_) | Value::Out(_) => 8,
            Value::OpenFlags(_) | Value::MsggetFlags(_) | Value::MsgFlags(_) | Value::MsgctlCmd(_) | Value::Mode(_) | Value::Key(_) => 4,
            Value::Text(ref s) | Value::Payload(ref s) => shown(s),
            Value::Attr(_) => size_of::<mq_attr>(),
            Value::Timespec(_) => size_of::<timespec>(),
            Value::Sigevent(_) => size_of::<SigeventView>(),
            Value::Msqid(_) => size_of::<msqid_ds>(),
            Value::MsgInfo(_) => size_of::<MsgInfo>(),
            Value::MsgBuf { ref text, .. } => 8 + shown(text),
        };
    }
    n += r.queue.map_or(2, |q| shown(&Shown { bytes: q, complete: true }));
    n.next_multiple_of(8)
}

/// Encodes `r` into `buf` ([`encoded_len`] bytes; less cuts the record); returns the record's length (a
/// multiple of 8). The head's `len` is left 0: the buffer commits it.
pub fn encode(kind: Kind, r: &Record<'_>, seq: u64, buf: &mut [u8]) -> usize {
    assert!(buf.len() >= HEAD, "a record buffer holds at least a head");
    let mut w = Writer { buf, len: HEAD };
    w.put(&r.call.as_bytes()[..r.call.len().min(255)]);
    let mut fields = 0u8;
    for f in r.args.fields() {
        w.name(f.name);
        w.put_value(&f.value);
        fields += 1;
    }
    match r.queue {
        Some(q) => w.put_shown(&Shown { bytes: q, complete: true }),
        None => w.put_pod(&u16::MAX),
    }
    let len = w.len.next_multiple_of(8).min(w.buf.len() & !7);
    debug_assert!(len == encoded_len(r) || w.buf.len() < encoded_len(r));
    w.buf[w.len..len].fill(0);
    let mut head = head_of(kind, r, seq);
    head.fields = fields;
    // SAFETY: buf holds at least HEAD bytes (asserted above), and Head is plain integers; an
    // unaligned write is used since buf is a byte buffer.
    unsafe { std::ptr::write_unaligned(buf.as_mut_ptr().cast::<Head>(), head) };
    len
}

/// A value read back: [`Value`] with its bytes owned.
#[derive(Clone, Debug)]
pub enum OwnedValue {
    Plain(Value<'static>),
    Text(Vec<u8>, bool),
    Payload(Vec<u8>, bool),
    MsgBuf(i64, Vec<u8>, bool),
}

/// A record read back from a buffer.
#[derive(Clone, Debug)]
pub struct OwnedRecord {
    pub head: Head,
    pub call: &'static str,
    pub fields: Vec<(FieldName, OwnedValue)>,
    pub queue: Option<Vec<u8>>,
}

impl OwnedRecord {
    pub fn kind(&self) -> Kind {
        match self.head.kind {
            2 => Kind::Entry,
            3 => Kind::Padding,
            _ => Kind::Call,
        }
    }

    /// The record as the formatters take it.
    pub fn as_record(&self) -> Record<'_> {
        let fields = self.fields.iter().map(|&(name, ref v)| Field {
            name,
            value: match v {
                OwnedValue::Plain(v) => *v,
                OwnedValue::Text(b, c) => Value::Text(Shown { bytes: b, complete: *c }),
                OwnedValue::Payload(b, c) => Value::Payload(Shown { bytes: b, complete: *c }),
                OwnedValue::MsgBuf(t, b, c) => Value::MsgBuf { mtype: *t, text: Shown { bytes: b, complete: *c } },
            },
        });
        let h = &self.head;
        Record {
            wall: libc::timespec { tv_sec: (h.wall_ns / 1_000_000_000) as i64, tv_nsec: (h.wall_ns % 1_000_000_000) as i64 },
            pid: h.pid,
            tid: h.tid,
            call: self.call,
            backend: if h.flags & FLAG_EMULATE != 0 { "emulate" } else { "kernel" },
            args: Decoded::from_fields(fields),
            outcome: if h.flags & FLAG_FAILED != 0 { Err(Errno::from_raw(h.ret as i32)) } else { Ok(h.ret) },
            dur_ns: h.dur_ns,
            injected: h.flags & FLAG_INJECTED != 0,
            delayed: h.flags & FLAG_DELAYED != 0,
            queue: self.queue.as_deref(),
        }
    }
}

struct Reader<'b> {
    buf: &'b [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.buf.get(self.at..end)?;
        self.at = end;
        Some(s)
    }

    fn pod<T: Copy>(&mut self) -> Option<T> {
        let b = self.take(size_of::<T>())?;
        // SAFETY: b holds size_of::<T>() bytes, and T is plain integers (any bit pattern is a
        // value); read unaligned from a byte buffer.
        Some(unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<T>()) })
    }

    fn shown(&mut self) -> Option<(Vec<u8>, bool)> {
        let n = u16::from_ne_bytes(self.take(2)?.try_into().ok()?) as usize;
        let complete = self.take(1)?[0] != 0;
        Some((self.take(n)?.to_vec(), complete))
    }

    fn name(&mut self) -> Option<FieldName> {
        FieldName::from_number(self.take(1)?[0])
    }

    fn value(&mut self) -> Option<OwnedValue> {
        let tag = self.take(1)?[0];
        Some(match tag {
            0 => OwnedValue::Plain(Value::Int(self.pod()?)),
            1 => OwnedValue::Plain(Value::Ptr(self.pod::<u64>()? as usize)),
            2 => {
                let (b, c) = self.shown()?;
                OwnedValue::Text(b, c)
            }
            3 => {
                let (b, c) = self.shown()?;
                OwnedValue::Payload(b, c)
            }
            4 => OwnedValue::Plain(Value::OpenFlags(self.pod()?)),
            5 => OwnedValue::Plain(Value::MsggetFlags(self.pod()?)),
            6 => OwnedValue::Plain(Value::MsgFlags(self.pod()?)),
            7 => OwnedValue::Plain(Value::MsgctlCmd(self.pod()?)),
            8 => OwnedValue::Plain(Value::Mode(self.pod()?)),
            9 => OwnedValue::Plain(Value::Key(self.pod()?)),
            10 => OwnedValue::Plain(Value::Attr(self.pod::<mq_attr>()?)),
            11 => OwnedValue::Plain(Value::Timespec(self.pod::<timespec>()?)),
            12 => OwnedValue::Plain(Value::Sigevent(self.pod::<SigeventView>()?)),
            13 => OwnedValue::Plain(Value::Msqid(self.pod::<msqid_ds>()?)),
            14 => OwnedValue::Plain(Value::MsgInfo(self.pod::<MsgInfo>()?)),
            15 => OwnedValue::Plain(Value::Out(self.pod()?)),
            16 => {
                let t = self.pod()?;
                let (b, c) = self.shown()?;
                OwnedValue::MsgBuf(t, b, c)
            }
            _ => return None,
        })
    }
}

/// Reads one record (`bytes` is exactly its `len` bytes). None when it is malformed: the
/// collector then says so instead of printing garbage.
pub fn decode(bytes: &[u8]) -> Option<OwnedRecord> {
    if bytes.len() < HEAD {
        return None;
    }
    // SAFETY: bytes holds at least HEAD bytes; Head is plain integers.
    let head = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<Head>()) };
    let mut r = Reader { buf: bytes, at: HEAD };
    let call = intern(r.take(head.call_len as usize)?);
    let mut fields = Vec::with_capacity(head.fields as usize);
    for _ in 0..head.fields.min(MAX_FIELDS as u8) {
        let name = r.name()?;
        fields.push((name, r.value()?));
    }
    let queue = if r.buf.get(r.at..r.at + 2) == Some(&[0xff, 0xff]) { None } else { Some(r.shown()?.0) };
    Some(OwnedRecord { head, call, fields, queue })
}

/// The call name at a thread slot's index.
pub fn call_name(index: u32) -> &'static str {
    NAMES.get(index as usize).copied().unwrap_or("?")
}

/// The `&'static str` for a call name read back; a name not in [`NAMES`] (a newer library)
/// is leaked once and reused.
fn intern(bytes: &[u8]) -> &'static str {
    if let Some(n) = NAMES.iter().find(|n| n.as_bytes() == bytes) {
        return n;
    }
    static OTHERS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut others = OTHERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = others.iter().find(|n| n.as_bytes() == bytes) {
        return n;
    }
    let leaked: &'static str = Box::leak(String::from_utf8_lossy(bytes).into_owned().into_boxed_str());
    others.push(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field name and every kind of value comes back as it went in, and `encoded_len` is
    /// exactly what `encode` writes.
    #[test]
    fn every_field_name_and_value_kind_round_trips() {
        // SAFETY: plain C integers; all-zero is a value.
        let mut attr: mq_attr = unsafe { std::mem::zeroed() };
        (attr.mq_flags, attr.mq_maxmsg, attr.mq_msgsize, attr.mq_curmsgs) = (1, 2, 3, 4);
        // SAFETY: as above.
        let mut msqid: msqid_ds = unsafe { std::mem::zeroed() };
        msqid.msg_qbytes = 77;
        let values = [
            Value::Int(-5),
            Value::Ptr(0xdead),
            Value::Text(Shown { bytes: b"/q", complete: true }),
            Value::Payload(Shown { bytes: b"\x00\xffhi", complete: false }),
            Value::OpenFlags(libc::O_CREAT),
            Value::MsggetFlags(0o600),
            Value::MsgFlags(libc::IPC_NOWAIT),
            Value::MsgctlCmd(libc::IPC_STAT),
            Value::Mode(0o644),
            Value::Key(0x1234),
            Value::Attr(attr),
            Value::Timespec(libc::timespec { tv_sec: 9, tv_nsec: 8 }),
            Value::Sigevent(SigeventView { value: 1, signo: 2, notify: 3, function: 4, attributes: 5 }),
            Value::Msqid(msqid),
            Value::MsgInfo(MsgInfo { msgmax: 8192, ..Default::default() }),
            Value::Out(3),
            Value::MsgBuf { mtype: 7, text: Shown { bytes: b"sysv", complete: true } },
        ];
        let names = FieldName::ALL;
        for (i, chunk) in values.chunks(MAX_FIELDS).enumerate() {
            let fields: Vec<Field<'_>> = chunk.iter().enumerate().map(|(j, v)| Field { name: names[(i * MAX_FIELDS + j) % names.len()], value: *v }).collect();
            let r = Record {
                wall: libc::timespec { tv_sec: 1_800_000_000, tv_nsec: 123_456_789 },
                pid: 10,
                tid: 11,
                call: "mqshim_msgsnd_at",
                backend: "kernel",
                queue: if i % 2 == 0 { Some(b"/queue") } else { None },
                args: Decoded::from_fields(fields.iter().copied()),
                outcome: if i % 2 == 0 { Ok(42) } else { Err(Errno::EAGAIN) },
                dur_ns: 99,
                injected: i % 2 == 1,
                delayed: true,
            };
            let mut buf = vec![0u8; 4096];
            let len = encode(Kind::Call, &r, 5, &mut buf);
            assert_eq!(len, encoded_len(&r));
            let back = decode(&buf[..len]).expect("decodes");
            let b = back.as_record();
            assert_eq!((b.call, b.pid, b.tid, b.dur_ns, b.injected, b.delayed, b.queue), (r.call, r.pid, r.tid, r.dur_ns, r.injected, r.delayed, r.queue));
            assert_eq!((b.wall.tv_sec, b.wall.tv_nsec, b.outcome), (r.wall.tv_sec, r.wall.tv_nsec, r.outcome));
            assert_eq!(format!("{:?}", b.args.fields().collect::<Vec<_>>()), format!("{:?}", r.args.fields().collect::<Vec<_>>()));
        }
        // Every name survives its number.
        for n in FieldName::ALL {
            assert_eq!(FieldName::from_number(n as u8), Some(n));
        }
        assert_eq!(FieldName::from_number(FieldName::ALL.len() as u8), None);
    }

    #[test]
    fn a_damaged_record_is_refused_not_misread() {
        let r = Record {
            wall: libc::timespec { tv_sec: 1, tv_nsec: 2 },
            pid: 1,
            tid: 1,
            call: "mq_send",
            backend: "emulate",
            queue: None,
            args: Decoded::from_fields([Field { name: FieldName::MsgPtr, value: Value::Payload(Shown { bytes: b"hello", complete: true }) }]),
            outcome: Ok(0),
            dur_ns: 1,
            injected: false,
            delayed: false,
        };
        let mut buf = vec![0u8; 256];
        let len = encode(Kind::Call, &r, 1, &mut buf);
        assert!(decode(&buf[..len - 8]).is_none() || decode(&buf[..len - 8]).is_some_and(|d| d.fields.len() == 1));
        let mut bad = buf[..len].to_vec();
        bad[HEAD + 7] = 200; // the field's name number: none such
        assert!(decode(&bad).is_none());
        assert!(decode(&buf[..HEAD - 1]).is_none());
    }
}
