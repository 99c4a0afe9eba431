//! The text format: one strace-like line per call.
//!
//! `2026-11-22T09:30:01.123456789Z 1234/1235 mq_send(3, "hello", 5, 1) = 0 <0.000002345>`

use std::fmt::{self, Write};

use super::decode::{Shown, Value};
use super::line::{c_escape, Line};
use super::names;
use super::Record;

pub fn render(out: &mut Line<'_>, r: &Record<'_>) -> fmt::Result {
    out.push_timestamp(r.wall);
    out.push(b" ");
    out.push_i64(r.pid.into());
    out.push(b"/");
    out.push_i64(r.tid.into());
    out.push(b" ");
    out.push(r.call.as_bytes());
    out.push(b"(");
    for (i, f) in r.args.fields().enumerate() {
        if i > 0 {
            out.push(b", ");
        }
        match f.value {
            Value::Int(n) => out.push_i64(n),
            ref v => value(out, v)?,
        }
    }
    out.push(b") = ");
    match r.outcome {
        Ok(v) => out.push_i64(v),
        Err(e) => {
            out.push(b"-1 ");
            names::errno(out, e)?;
            out.push(b" (");
            names::errno_text(out, e)?;
            out.push(b")");
        }
    }
    if r.injected {
        out.push(b" (injected)");
    }
    if r.delayed {
        out.push(b" (delayed)");
    }
    out.push(b" <");
    out.push_u64(r.dur_ns / 1_000_000_000);
    out.push(b".");
    out.push_nanos(r.dur_ns % 1_000_000_000);
    out.push(b">");
    Ok(())
}

fn shown(out: &mut dyn Write, s: &Shown<'_>) -> fmt::Result {
    out.write_char('"')?;
    c_escape(out, s.bytes)?;
    out.write_char('"')?;
    if !s.complete {
        out.write_str("...")?;
    }
    Ok(())
}

fn value(out: &mut dyn Write, v: &Value<'_>) -> fmt::Result {
    match v {
        Value::Int(n) => write!(out, "{n}"),
        Value::Ptr(0) => out.write_str("NULL"),
        Value::Ptr(p) => write!(out, "{p:#x}"),
        Value::Text(s) | Value::Payload(s) => shown(out, s),
        Value::OpenFlags(f) => names::open_flags(out, *f),
        Value::MsggetFlags(f) => names::msgget_flags(out, *f),
        Value::MsgFlags(f) => names::msg_flags(out, *f),
        Value::MsgctlCmd(c) => names::msgctl_cmd(out, *c),
        Value::Mode(m) => names::mode(out, *m),
        Value::Key(k) => names::key(out, *k),
        Value::Attr(a) => {
            out.write_str("{mq_flags=")?;
            if a.mq_flags == libc::c_long::from(libc::O_NONBLOCK) {
                out.write_str("O_NONBLOCK")?;
            } else {
                write!(out, "{}", a.mq_flags)?;
            }
            write!(out, ", mq_maxmsg={}, mq_msgsize={}, mq_curmsgs={}}}", a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs)
        }
        Value::Timespec(t) => write!(out, "{{tv_sec={}, tv_nsec={}}}", t.tv_sec, t.tv_nsec),
        Value::Sigevent(s) => {
            out.write_str("{sigev_notify=")?;
            names::sigev_notify(out, s.notify)?;
            match s.notify {
                libc::SIGEV_SIGNAL => {
                    out.write_str(", sigev_signo=")?;
                    names::signal(out, s.signo)?;
                    write!(out, ", sigev_value={:#x}}}", s.value)
                }
                libc::SIGEV_THREAD => {
                    write!(out, ", sigev_notify_function={:#x}, sigev_notify_attributes={:#x}, sigev_value={:#x}}}", s.function, s.attributes, s.value)
                }
                _ => out.write_char('}'),
            }
        }
        Value::Msqid(d) => {
            let p = &d.msg_perm;
            out.write_str("{msg_perm={key=")?;
            names::key(out, p.__key)?;
            write!(out, ", uid={}, gid={}, cuid={}, cgid={}, mode=", p.uid, p.gid, p.cuid, p.cgid)?;
            names::mode(out, u32::from(p.mode) & 0o777)?;
            write!(
                out,
                ", seq={}}}, msg_stime={}, msg_rtime={}, msg_ctime={}, msg_cbytes={}, msg_qnum={}, msg_qbytes={}, msg_lspid={}, msg_lrpid={}}}",
                p.__seq, d.msg_stime, d.msg_rtime, d.msg_ctime, d.__msg_cbytes, d.msg_qnum, d.msg_qbytes, d.msg_lspid, d.msg_lrpid
            )
        }
        Value::MsgInfo(i) => write!(
            out,
            "{{msgpool={}, msgmap={}, msgmax={}, msgmnb={}, msgmni={}, msgssz={}, msgtql={}, msgseg={}}}",
            i.msgpool, i.msgmap, i.msgmax, i.msgmnb, i.msgmni, i.msgssz, i.msgtql, i.msgseg
        ),
        Value::Out(n) => write!(out, "[{n}]"),
        Value::MsgBuf { mtype, text } => {
            write!(out, "{{mtype={mtype}, mtext=")?;
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

    fn line(call: &Call, outcome: Result<i64, Errno>, injected: bool, delayed: bool) -> String {
        let (mut name, mut payload) = ([0u8; NAME_PREVIEW], [0u8; 32]);
        // SAFETY: every pointer in the tests' calls is valid for what the call reads or wrote.
        let args = unsafe { decode(call, outcome, Scratch { name: &mut name, payload: &mut payload }) };
        let wall = libc::timespec { tv_sec: 1_795_339_801, tv_nsec: 123 };
        let record = Record { wall, pid: 7, tid: 8, call: call.name(), backend: "kernel", queue: Some(b"/q"), args, outcome, dur_ns: 5, injected, delayed };
        let mut buf = [MaybeUninit::uninit(); 4096];
        let mut l = super::Line::new(&mut buf);
        super::render(&mut l, &record).unwrap();
        String::from_utf8(l.finish().to_vec()).unwrap()
    }

    #[test]
    fn marks_follow_the_result() {
        let call = Call::MqClose { mqdes: 3 };
        assert_eq!(line(&call, Ok(0), false, false), "2026-11-22T09:30:01.000000123Z 7/8 mq_close(3) = 0 <0.000000005>\n");
        assert_eq!(line(&call, Ok(0), false, true), "2026-11-22T09:30:01.000000123Z 7/8 mq_close(3) = 0 (delayed) <0.000000005>\n");
        assert_eq!(
            line(&call, Err(Errno::EINTR), true, true),
            "2026-11-22T09:30:01.000000123Z 7/8 mq_close(3) = -1 EINTR (Interrupted system call) (injected) (delayed) <0.000000005>\n"
        );
    }

    #[test]
    fn scheduled_calls_read_like_the_others() {
        let due = libc::timespec { tv_sec: 5, tv_nsec: 6 };
        let mut handle = 42u64;
        let call = Call::MqSendAt { mqdes: 3, msg: b"hello".as_ptr().cast(), len: 5, prio: 1, due: &due, handle: &mut handle };
        assert!(line(&call, Ok(0), false, false).contains(r#" mqshim_mq_send_at(3, "hello", 5, 1, {tv_sec=5, tv_nsec=6}, [42]) = 0 <"#));
    }
}
