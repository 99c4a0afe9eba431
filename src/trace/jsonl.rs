//! The JSON-lines format: one object per call, with stable field names (README, "Trace
//! format"):
//! `{"ts":…,"ts_ns":…,"pid":…,"tid":…,"call":"mq_send","backend":"kernel","queue":"/q","args":{…},"ret":0,"errno":null,"dur_ns":…}`
//! (`queue` when known; `"injected":true` and `"delayed":true` before `dur_ns` when
//! `MQSHIM_FAULTS` injected an errno or a delay).

use std::fmt::{self, Write};

use super::decode::{Shown, Value};
use super::line::{c_escape, JsonEscaper, Line};
use super::names;
use super::Record;

pub fn render(out: &mut Line<'_>, r: &Record<'_>) -> fmt::Result {
    out.push(b"{\"ts\":\"");
    out.push_timestamp(r.wall);
    out.push(b"\",\"ts_ns\":");
    out.push_i64(r.wall.tv_sec.saturating_mul(1_000_000_000).saturating_add(r.wall.tv_nsec));
    out.push(b",\"pid\":");
    out.push_i64(r.pid.into());
    out.push(b",\"tid\":");
    out.push_i64(r.tid.into());
    out.push(b",\"call\":\"");
    out.push(r.call.as_bytes());
    out.push(b"\",\"backend\":\"");
    out.push(r.backend.as_bytes());
    out.push(b"\"");
    if let Some(queue) = r.queue {
        out.push(b",\"queue\":");
        if queue.iter().all(|&b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\') {
            // The usual name needs no escaping: straight into the line.
            out.push(b"\"");
            out.push(queue);
            out.push(b"\"");
        } else {
            shown(out, &Shown { bytes: queue, complete: true })?;
        }
    }
    out.push(b",\"args\":{");
    for (i, f) in r.args.fields().enumerate() {
        if i > 0 {
            out.push(b",");
        }
        out.push(b"\"");
        out.push(f.name.as_str().as_bytes());
        out.push(b"\":");
        match f.value {
            Value::Int(n) | Value::Out(n) => out.push_i64(n),
            ref v => value(out, v)?,
        }
    }
    out.push(b"},");
    match r.outcome {
        Ok(v) => {
            out.push(b"\"ret\":");
            out.push_i64(v);
            out.push(b",\"errno\":null");
        }
        Err(e) => {
            out.push(b"\"ret\":-1,\"errno\":\"");
            names::errno(out, e)?;
            out.push(b"\"");
        }
    }
    if r.injected {
        out.push(b",\"injected\":true");
    }
    if r.delayed {
        out.push(b",\"delayed\":true");
    }
    out.push(b",\"dur_ns\":");
    out.push_u64(r.dur_ns);
    out.push(b"}");
    Ok(())
}

/// A JSON string of `f`'s text output.
fn string(out: &mut dyn Write, f: impl FnOnce(&mut dyn Write) -> fmt::Result) -> fmt::Result {
    out.write_char('"')?;
    f(&mut JsonEscaper(out))?;
    out.write_char('"')
}

fn shown(out: &mut dyn Write, s: &Shown<'_>) -> fmt::Result {
    string(out, |o| {
        c_escape(o, s.bytes)?;
        if !s.complete {
            o.write_str("...")?;
        }
        Ok(())
    })
}

fn value(out: &mut dyn Write, v: &Value<'_>) -> fmt::Result {
    match v {
        Value::Int(n) | Value::Out(n) => write!(out, "{n}"),
        Value::Ptr(0) => out.write_str("null"),
        Value::Ptr(p) => write!(out, "\"{p:#x}\""),
        Value::Text(s) | Value::Payload(s) => shown(out, s),
        Value::OpenFlags(f) => string(out, |o| names::open_flags(o, *f)),
        Value::MsggetFlags(f) => string(out, |o| names::msgget_flags(o, *f)),
        Value::MsgFlags(f) => string(out, |o| names::msg_flags(o, *f)),
        Value::MsgctlCmd(c) => string(out, |o| names::msgctl_cmd(o, *c)),
        Value::Mode(m) => string(out, |o| names::mode(o, *m)),
        Value::Key(k) => string(out, |o| names::key(o, *k)),
        Value::Attr(a) => {
            write!(out, "{{\"mq_flags\":{},\"mq_maxmsg\":{},\"mq_msgsize\":{},\"mq_curmsgs\":{}}}", a.mq_flags, a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs)
        }
        Value::Timespec(t) => write!(out, "{{\"tv_sec\":{},\"tv_nsec\":{}}}", t.tv_sec, t.tv_nsec),
        Value::Sigevent(s) => {
            out.write_str("{\"sigev_notify\":")?;
            string(out, |o| names::sigev_notify(o, s.notify))?;
            out.write_str(",\"sigev_signo\":")?;
            string(out, |o| names::signal(o, s.signo))?;
            write!(out, ",\"sigev_value\":\"{:#x}\"", s.value)?;
            if s.notify == libc::SIGEV_THREAD {
                write!(out, ",\"sigev_notify_function\":\"{:#x}\",\"sigev_notify_attributes\":\"{:#x}\"", s.function, s.attributes)?;
            }
            out.write_char('}')
        }
        Value::Msqid(d) => {
            let p = &d.msg_perm;
            out.write_str("{\"msg_perm\":{\"key\":")?;
            string(out, |o| names::key(o, p.__key))?;
            write!(out, ",\"uid\":{},\"gid\":{},\"cuid\":{},\"cgid\":{},\"mode\":", p.uid, p.gid, p.cuid, p.cgid)?;
            string(out, |o| names::mode(o, u32::from(p.mode) & 0o777))?;
            write!(
                out,
                ",\"seq\":{}}},\"msg_stime\":{},\"msg_rtime\":{},\"msg_ctime\":{},\"msg_cbytes\":{},\"msg_qnum\":{},\"msg_qbytes\":{},\"msg_lspid\":{},\"msg_lrpid\":{}}}",
                p.__seq, d.msg_stime, d.msg_rtime, d.msg_ctime, d.__msg_cbytes, d.msg_qnum, d.msg_qbytes, d.msg_lspid, d.msg_lrpid
            )
        }
        Value::MsgInfo(i) => write!(
            out,
            "{{\"msgpool\":{},\"msgmap\":{},\"msgmax\":{},\"msgmnb\":{},\"msgmni\":{},\"msgssz\":{},\"msgtql\":{},\"msgseg\":{}}}",
            i.msgpool, i.msgmap, i.msgmax, i.msgmnb, i.msgmni, i.msgssz, i.msgtql, i.msgseg
        ),
        Value::MsgBuf { mtype, text } => {
            write!(out, "{{\"mtype\":{mtype},\"mtext\":")?;
            shown(out, text)?;
            out.write_char('}')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode::{decode, Scratch, NAME_PREVIEW};
    use super::super::Record;
    use crate::call::Call;
    use crate::errno::Errno;
    use std::mem::MaybeUninit;

    /// The JSON line of `call` (with the fields a test varies), as a string.
    fn line(call: &Call, outcome: Result<i64, Errno>, queue: Option<&[u8]>, injected: bool, delayed: bool) -> String {
        let (mut name, mut payload) = ([0u8; NAME_PREVIEW], [0u8; 32]);
        // SAFETY: every pointer in the tests' calls is valid for what the call reads or wrote.
        let args = unsafe { decode(call, outcome, Scratch { name: &mut name, payload: &mut payload }) };
        let wall = libc::timespec { tv_sec: 1_795_339_801, tv_nsec: 123 };
        let record = Record { wall, pid: 7, tid: 8, call: call.name(), backend: "emulate", queue, args, outcome, dur_ns: 5, injected, delayed };
        let mut buf = [MaybeUninit::uninit(); 4096];
        let mut l = super::Line::new(&mut buf);
        super::render(&mut l, &record).unwrap();
        let text = String::from_utf8(l.finish().to_vec()).unwrap();
        text.strip_suffix('\n').expect("a record ends its line").to_owned()
    }

    #[test]
    fn ts_ns_is_the_same_instant_as_ts() {
        let call = Call::MqClose { mqdes: 3 };
        let l = line(&call, Ok(0), None, false, false);
        assert!(l.starts_with(r#"{"ts":"2026-11-22T09:30:01.000000123Z","ts_ns":1795339801000000123,"pid":7,"tid":8,"call":"mq_close""#), "{l}");
    }

    #[test]
    fn queue_is_shown_escaped_when_known() {
        let call = Call::MqClose { mqdes: 3 };
        let l = line(&call, Ok(0), Some(b"/q\"1"), false, false);
        assert!(l.contains(r#""backend":"emulate","queue":"/q\\\"1","args":{"mqdes":3}"#), "{l}");
        assert!(!line(&call, Ok(0), None, false, false).contains("queue"));
    }

    #[test]
    fn injected_and_delayed_are_separate_marks() {
        let call = Call::MqClose { mqdes: 3 };
        let delayed = line(&call, Ok(0), None, false, true);
        assert!(delayed.ends_with(r#""errno":null,"delayed":true,"dur_ns":5}"#) && !delayed.contains("injected"), "{delayed}");
        let failed = line(&call, Err(Errno::EBADF), None, true, false);
        assert!(failed.ends_with(r#""errno":"EBADF","injected":true,"dur_ns":5}"#) && !failed.contains("delayed"), "{failed}");
        let both = line(&call, Err(Errno::EINTR), None, true, true);
        assert!(both.ends_with(r#""injected":true,"delayed":true,"dur_ns":5}"#), "{both}");
    }

    #[test]
    fn scheduled_calls_are_decoded() {
        let due = libc::timespec { tv_sec: 5, tv_nsec: 6 };
        let mut handle = 42u64;
        let msg = b"hello";
        let send_at = Call::MqSendAt { mqdes: 3, msg: msg.as_ptr().cast(), len: 5, prio: 1, due: &due, handle: &mut handle };
        let l = line(&send_at, Ok(0), Some(b"/q"), false, false);
        assert!(
            l.contains(r#""call":"mqshim_mq_send_at","backend":"emulate","queue":"/q","args":{"mqdes":3,"msg_ptr":"hello","msg_len":5,"msg_prio":1,"due":{"tv_sec":5,"tv_nsec":6},"handle":42},"ret":0"#),
            "{l}"
        );
        // A failed call wrote no handle: the pointer is shown.
        let l = line(&send_at, Err(Errno::EAGAIN), None, false, false);
        assert!(l.contains(&format!(r#""handle":"{:#x}"}},"ret":-1,"errno":"EAGAIN""#, &handle as *const u64 as usize)), "{l}");
        let l = line(&Call::MqCancel { mqdes: 3, handle: 9 }, Err(Errno::ENOENT), None, false, false);
        assert!(l.contains(r#""call":"mqshim_mq_cancel","backend":"emulate","args":{"mqdes":3,"handle":9},"ret":-1,"errno":"ENOENT""#), "{l}");

        #[repr(C)]
        struct MsgBuf {
            mtype: libc::c_long,
            mtext: [u8; 2],
        }
        let m = MsgBuf { mtype: 4, mtext: *b"hi" };
        let msgsnd_at = Call::MsgsndAt { id: 11, msgp: (&m as *const MsgBuf).cast(), size: 2, flags: libc::IPC_NOWAIT, due: &due, handle: &mut handle };
        let l = line(&msgsnd_at, Ok(0), None, false, false);
        assert!(
            l.contains(r#""call":"mqshim_msgsnd_at","backend":"emulate","args":{"msqid":11,"msgp":{"mtype":4,"mtext":"hi"},"msgsz":2,"msgflg":"IPC_NOWAIT","due":{"tv_sec":5,"tv_nsec":6},"handle":42},"ret":0"#),
            "{l}"
        );
        let l = line(&Call::MsgCancel { id: 11, handle: 42 }, Ok(0), None, false, false);
        assert!(l.contains(r#""call":"mqshim_msg_cancel","backend":"emulate","args":{"msqid":11,"handle":42},"ret":0"#), "{l}");
    }
}
