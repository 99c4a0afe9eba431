//! The JSON-lines format: one object per call, with stable field names (README, "Trace
//! format"):
//! `{"ts":…,"pid":…,"tid":…,"call":"mq_send","backend":"kernel","args":{…},"ret":0,"errno":null,"dur_ns":…}`

use std::fmt::{self, Write};

use super::decode::{Shown, Value};
use super::line::{c_escape, JsonEscaper, Line};
use super::names;
use super::Record;

pub fn render(out: &mut Line<'_>, r: &Record<'_>) -> fmt::Result {
    out.push(b"{\"ts\":\"");
    out.push_timestamp(r.wall);
    out.push(b"\",\"pid\":");
    out.push_i64(r.pid.into());
    out.push(b",\"tid\":");
    out.push_i64(r.tid.into());
    out.push(b",\"call\":\"");
    out.push(r.call.as_bytes());
    out.push(b"\",\"backend\":\"");
    out.push(r.backend.as_bytes());
    out.push(b"\",\"args\":{");
    for (i, f) in r.args.fields().enumerate() {
        if i > 0 {
            out.push(b",");
        }
        out.push(b"\"");
        out.push(f.name.as_bytes());
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
