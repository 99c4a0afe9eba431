//! `mqshim peek`: what a queue holds, in the order receivers would take it, without taking
//! anything — no message dequeued, no notification fired, no waiter woken (see
//! `Queue::snapshot`).
//!
//! The emulation records no send time, so no age is shown: scheduled messages show their due
//! time instead.

use clap::Args;
use mqshim_core::emu::peek::{PeekedMessage, QueueSnapshot};
use mqshim_core::os::creds::{self, Creds};
use serde_json::{json, Value};

use crate::ipcs::{errno_text, namespace_shown, open_store, open_sysv, queue_name};

/// `mqshim peek`'s arguments.
#[derive(Args, Debug)]
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
    /// JSON on one line: {"queue", "api", "messages": [...], "scheduled": [...]}.
    #[arg(long)]
    json: bool,
}

pub fn peek(dir: &[u8], args: &PeekArgs) -> Result<(), String> {
    let (queue, key, snapshot) = match (&args.name, args.id) {
        (Some(name), _) => (name.clone(), "prio", posix_snapshot(dir, name, args.preview)?),
        (None, Some(id)) => (format!("id {id}"), "type", sysv_snapshot(dir, id, args.preview)?),
        (None, None) => unreachable!("clap requires a name or -q"),
    };
    let text = if args.json { json_text(&queue, key, &snapshot, args.preview) } else { table_text(&queue, key, &snapshot, args.preview) };
    crate::print_stdout(&text)
}

fn posix_snapshot(dir: &[u8], name: &str, preview: usize) -> Result<QueueSnapshot, String> {
    let store = open_store(dir)?;
    let qn = queue_name(name)?;
    let fail = |e| format!("mqshim: peek {name}: {}", errno_text(e));
    let (meta, queue) = store
        .inspect(qn.bytes())
        .ok_or_else(|| format!("mqshim: peek {name}: no such queue in '{}': {}", namespace_shown(dir), errno_text(mqshim_core::errno::Errno::ENOENT)))?;
    // Read permission, as mq_open(O_RDONLY) asks of a receiver.
    if !creds::may_access(meta.mode, meta.uid, meta.gid, 4, &Creds::current()) {
        return Err(fail(mqshim_core::errno::Errno::EACCES));
    }
    let q = queue.ok_or_else(|| fail(mqshim_core::errno::Errno::EACCES))?;
    q.snapshot(preview).map_err(fail)
}

fn sysv_snapshot(dir: &[u8], id: i64, preview: usize) -> Result<QueueSnapshot, String> {
    let fail = |e| format!("mqshim: peek -q {id}: {}", errno_text(e));
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

fn table_text(queue: &str, key: &str, snap: &QueueSnapshot, preview: usize) -> String {
    let mut out = format!("{queue}: {} message(s), {} scheduled (previews of {preview} bytes)\n", snap.messages.len(), snap.scheduled.len());
    if !snap.messages.is_empty() {
        out.push_str(&format!("{:>5} {:>10} {:>8}  data\n", "order", key, "size"));
        for (n, m) in snap.messages.iter().enumerate() {
            out.push_str(&format!("{:>5} {:>10} {:>8}  {}\n", n + 1, m.priority_or_type, m.len, preview_text(m)));
        }
    }
    if !snap.scheduled.is_empty() {
        let now = now_ns();
        out.push_str(&format!("scheduled:\n{:<23} {:>10} {:>10} {:>8}  data\n", "due", "in", key, "size"));
        for m in &snap.scheduled {
            let due = m.due_ns.unwrap_or(0);
            let left = if due > now { format!("{:.3}s", (due - now) as f64 / 1e9) } else { "due".to_string() };
            out.push_str(&format!("{:<23} {:>10} {:>10} {:>8}  {}\n", due_text(due), left, m.priority_or_type, m.len, preview_text(m)));
        }
    }
    out
}

fn message_json(key: &str, m: &PeekedMessage) -> Value {
    let mut preview = String::new();
    let _ = mqshim_core::trace::line::c_escape(&mut preview, &m.preview);
    let mut v = json!({ key: m.priority_or_type, "size": m.len, "preview": preview, "truncated": m.preview.len() < m.len });
    if let Some(due) = m.due_ns {
        v["due_ns"] = json!(due);
        v["due"] = json!(due_text(due));
    }
    v
}

fn json_text(queue: &str, key: &str, snap: &QueueSnapshot, preview: usize) -> String {
    let api = if key == "prio" { "posix" } else { "sysv" };
    let v = json!({
        "queue": queue,
        "api": api,
        "preview_bytes": preview,
        "messages": snap.messages.iter().map(|m| message_json(key, m)).collect::<Vec<_>>(),
        "scheduled": snap.scheduled.iter().map(|m| message_json(key, m)).collect::<Vec<_>>(),
    });
    format!("{v}\n")
}
