//! `mqshim peek`: what a queue holds, in the order receivers would take it, without taking
//! anything — no message dequeued, no notification fired, no waiter woken (see
//! `Queue::snapshot`).
//!
//! Each message's age counts from when a receiver could first have taken it: its send (the
//! coarse clock, a tick's precision), a blocked sender's message entering the queue, or a
//! scheduled message's due time. A scheduled message already due is listed where the next
//! operation on the queue will put it, marked `*`; pending ones follow with their due times.

use clap::Args;
use mqshim_core::emu::peek::{PeekedMessage, QueueSnapshot};
use mqshim_core::os::creds::{self, Creds};
use serde_json::{json, Value};

use crate::ipcs::{errno_text, open_store, open_sysv, queue_name};
use crate::queues::Queues;

/// `mqshim peek`'s arguments.
#[derive(Args, Debug)]
#[command(after_help = "\
A message's age counts from when a receiver could first take it: its send (the coarse clock,
a tick's precision), a blocked sender's message entering the queue, or a scheduled message's
due time. A scheduled message already due that nobody has yet moved into the queue is listed
where the next operation puts it (POSIX: by priority; System V: after the queue), marked *;
one that does not fit stays under scheduled, waiting for room.

--json fields (stable): queue, api (posix or sysv), preview_bytes, now_ns (CLOCK_REALTIME
ns of the snapshot), messages and scheduled (arrays in the orders above) of objects with
prio (POSIX) or type (System V), size, preview (C-escaped), truncated; each of messages also
queued_ns (when it became receivable, CLOCK_REALTIME ns; null if unknown) and age_ns
(now_ns - queued_ns); a scheduled message (in either array) due_ns and due (local time).")]
pub struct PeekArgs {
    /// The POSIX queue's name, with its leading slash.
    #[arg(required_unless_present = "id", conflicts_with = "id")]
    name: Option<String>,
    /// The System V queue with this id (decimal, 0x hex or 0 octal).
    #[arg(short = 'q', value_parser = crate::ipcs::parse_number)]
    id: Option<i64>,
    /// Bytes of each payload to show (C-escaped, as trace previews are).
    #[arg(short = 's', long = "size", default_value_t = 32, value_name = "N")]
    preview: usize,
    /// JSON on one line: {"queue", "api", "now_ns", "messages": [...], "scheduled": [...]}.
    #[arg(long)]
    json: bool,
}

pub fn peek(queues: &Queues, args: &PeekArgs) -> Result<(), String> {
    let (queue, key, snapshot) = match (&args.name, args.id) {
        (Some(name), _) => (name.clone(), "prio", posix_snapshot(queues, name, args.preview)?),
        (None, Some(id)) => (format!("id {id}"), "type", sysv_snapshot(queues, id, args.preview)?),
        (None, None) => unreachable!("clap requires a name or -q"),
    };
    let text = if args.json { json_text(&queue, key, &snapshot, args.preview) } else { table_text(&queue, key, &snapshot, args.preview) };
    crate::print_stdout(&text)
}

fn posix_snapshot(queues: &Queues, name: &str, preview: usize) -> Result<QueueSnapshot, String> {
    let qn = queue_name(name)?;
    let fail = |e| format!("mqshim: peek {name}: {}", errno_text(e));
    let missing = || format!("mqshim: peek {name}: no such queue in '{}': {}", queues.shown(), errno_text(mqshim_core::errno::Errno::ENOENT));
    let dir = match queues {
        Queues::Emulation(dir) => dir,
        Queues::Redis(r) => return r.posix.peek(&qn, preview).map_err(|e| if e == mqshim_core::errno::Errno::ENOENT { missing() } else { fail(e) }),
    };
    let store = open_store(dir)?;
    let (meta, queue) = store.inspect(qn.bytes()).ok_or_else(missing)?;
    // Read permission, as mq_open(O_RDONLY) asks of a receiver.
    if !creds::may_access(meta.mode, meta.uid, meta.gid, 4, &Creds::current()) {
        return Err(fail(mqshim_core::errno::Errno::EACCES));
    }
    let q = queue.ok_or_else(|| fail(mqshim_core::errno::Errno::EACCES))?;
    q.snapshot(preview).map_err(fail)
}

fn sysv_snapshot(queues: &Queues, id: i64, preview: usize) -> Result<QueueSnapshot, String> {
    let fail = |e| format!("mqshim: peek -q {id}: {}", errno_text(e));
    let dir = match queues {
        Queues::Emulation(dir) => dir,
        Queues::Redis(r) => {
            let id = i32::try_from(id).map_err(|_| fail(mqshim_core::errno::Errno::EINVAL))?;
            return r.sysv.peek(id, preview).map_err(fail);
        }
    };
    // A namespace without a registry has no queue: what msgrcv says of an unknown id.
    let sysv = open_sysv(dir)?.ok_or_else(|| fail(mqshim_core::errno::Errno::EINVAL))?;
    let id = i32::try_from(id).map_err(|_| fail(mqshim_core::errno::Errno::EINVAL))?;
    sysv.peek(id, preview).map_err(fail)
}

/// A payload's first bytes as a C string literal, `...` after it when the message is longer.
fn preview_text(m: &PeekedMessage) -> String {
    let mut s = String::from("\"");
    let _ = mqshim_core::trace::line::c_escape(&mut s, &m.preview);
    s.push('"');
    if m.preview.len() < m.len {
        s.push_str("...");
    }
    s
}

/// A CLOCK_REALTIME time in ns as local date and time to the millisecond.
fn due_text(ns: u64) -> String {
    let t = (ns / 1_000_000_000) as libc::time_t;
    // SAFETY: tm is plain C data; localtime_r fills it from the valid time t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return ns.to_string();
    }
    let ms = ns / 1_000_000 % 1000;
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{ms:03}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
}

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// A queued message's age at `now` in ns (None when its time is unknown: a queue written by
/// an older layout never has one, so 0 is "unknown"). Never negative: the coarse clock of
/// sends runs up to a tick behind the precise one.
fn age_ns(m: &PeekedMessage, now: u64) -> Option<u64> {
    (m.visible_ns != 0).then(|| now.saturating_sub(m.visible_ns))
}

fn table_text(queue: &str, key: &str, snap: &QueueSnapshot, preview: usize) -> String {
    let now = now_ns();
    let mut out = format!("{queue}: {} message(s), {} scheduled (previews of {preview} bytes)\n", snap.messages.len(), snap.scheduled.len());
    if !snap.messages.is_empty() {
        out.push_str(&format!("{:>5} {:>10} {:>8} {:>11}  data\n", "order", key, "size", "age"));
        for (n, m) in snap.messages.iter().enumerate() {
            let age = age_ns(m, now).map_or_else(|| "?".to_string(), |a| format!("{:.3}s", a as f64 / 1e9));
            let due_mark = if m.due_ns.is_some() { "*" } else { " " };
            out.push_str(&format!("{:>5} {:>10} {:>8} {age:>10}{due_mark}  {}\n", n + 1, m.priority_or_type, m.len, preview_text(m)));
        }
        if snap.messages.iter().any(|m| m.due_ns.is_some()) {
            out.push_str("* scheduled, already due: the next operation on the queue sends it; age from its due time\n");
        }
    }
    if !snap.scheduled.is_empty() {
        out.push_str(&format!("scheduled:\n{:<23} {:>10} {:>10} {:>8}  data\n", "due", "in", key, "size"));
        for m in &snap.scheduled {
            let due = m.due_ns.unwrap_or(0);
            let left = if due > now { format!("{:.3}s", (due - now) as f64 / 1e9) } else { "due".to_string() };
            out.push_str(&format!("{:<23} {:>10} {:>10} {:>8}  {}\n", due_text(due), left, m.priority_or_type, m.len, preview_text(m)));
        }
    }
    out
}

/// One message; `now` given for a queued one (its `queued_ns` and `age_ns`), None for a pending
/// scheduled one (its `due_ns` says when).
fn message_json(key: &str, m: &PeekedMessage, now: Option<u64>) -> Value {
    let mut preview = String::new();
    let _ = mqshim_core::trace::line::c_escape(&mut preview, &m.preview);
    let mut v = json!({ key: m.priority_or_type, "size": m.len, "preview": preview, "truncated": m.preview.len() < m.len });
    if let Some(now) = now {
        v["queued_ns"] = json!((m.visible_ns != 0).then_some(m.visible_ns));
        v["age_ns"] = json!(age_ns(m, now));
    }
    if let Some(due) = m.due_ns {
        v["due_ns"] = json!(due);
        v["due"] = json!(due_text(due));
    }
    v
}

fn json_text(queue: &str, key: &str, snap: &QueueSnapshot, preview: usize) -> String {
    let api = if key == "prio" { "posix" } else { "sysv" };
    let now = now_ns();
    let v = json!({
        "queue": queue,
        "api": api,
        "preview_bytes": preview,
        "now_ns": now,
        "messages": snap.messages.iter().map(|m| message_json(key, m, Some(now))).collect::<Vec<_>>(),
        "scheduled": snap.scheduled.iter().map(|m| message_json(key, m, None)).collect::<Vec<_>>(),
    });
    format!("{v}\n")
}
