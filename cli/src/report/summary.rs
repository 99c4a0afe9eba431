//! The `-c` summary, like `strace -c`: a table of calls (count, errors by errno, total,
//! average and maximum time, time blocked) and a table of queues (messages and bytes sent and
//! received, scheduled and cancelled messages, the greatest depth seen). Built one event at a
//! time ([`Summary::add`]), so that the collector can keep it as records arrive.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use serde_json::Value;

use super::event::{Call, Event, Kind, Phase, QueueId, Role};

/// What the calls of one name added up to.
#[derive(Debug, Default)]
struct CallStats {
    /// Calls made (those still unfinished included).
    count: u64,
    errors: u64,
    by_errno: BTreeMap<String, u64>,
    total_ns: u128,
    max_ns: u64,
    /// Total duration of the calls that had an unfinished record first.
    blocked_ns: u128,
    /// Calls that never returned (only their unfinished record).
    unfinished: u64,
}

/// A change of a queue's depth at some time.
#[derive(Clone, Copy, Debug)]
enum DepthChange {
    By(i64),
    /// A call showed the queue holding this many messages (mq_getattr, IPC_STAT).
    Seen(i64),
}

#[derive(Debug, Default)]
struct QueueStats {
    sent: u64,
    sent_bytes: u64,
    received: u64,
    received_bytes: u64,
    /// Of `sent`, how many were scheduled (mqshim_mq_send_at, mqshim_msgsnd_at).
    scheduled: u64,
    /// Scheduled messages withdrawn before they were due.
    cancelled: u64,
    /// Depth changes, in the order they were added: (time, change).
    depth: Vec<(i64, DepthChange)>,
    /// Scheduled messages by handle → their entry in `depth` (undone by a cancel).
    pending_scheduled: HashMap<i64, usize>,
}

impl QueueStats {
    /// The greatest depth: sends (when they started; scheduled ones when due) minus receives
    /// (when they returned) since the trace began, in time order, reset to what a call saw
    /// whenever one did.
    fn max_depth(&self) -> i64 {
        let mut changes = self.depth.clone();
        changes.sort_by_key(|(ts, _)| *ts);
        let (mut depth, mut max) = (0i64, 0i64);
        for (_, change) in changes {
            match change {
                DepthChange::By(n) => depth += n,
                DepthChange::Seen(n) => depth = n,
            }
            max = max.max(depth);
        }
        max
    }
}

/// The summary tables of a trace, built incrementally.
#[derive(Debug, Default)]
pub struct Summary {
    calls: BTreeMap<String, CallStats>,
    queues: BTreeMap<QueueId, QueueStats>,
    /// Calls seen unfinished and not yet resumed: (pid, tid) → call name.
    running: HashMap<(i64, i64), String>,
    /// Records lost, and the `lost` records that said so.
    lost: u64,
    lost_reports: u64,
}

impl Summary {
    /// Counts one event (its queue resolved; events in time order).
    pub fn add(&mut self, event: &Event) {
        let call = match &event.kind {
            Kind::Lost(n) => {
                self.lost += n;
                self.lost_reports += 1;
                return;
            }
            Kind::Call(call) => call,
        };
        let thread = (event.pid, event.tid);
        if call.phase == Phase::Unfinished {
            // Counted when it resumes, or at the end as unfinished. An earlier call of this
            // thread still "running" must have returned with its record lost: count it bare.
            if let Some(previous) = self.running.insert(thread, call.name.clone()) {
                self.calls.entry(previous).or_default().count += 1;
            }
            if let Some(queue) = &event.queue {
                self.queues.entry(queue.clone()).or_default();
            }
            return;
        }
        if let Some(previous) = self.running.remove(&thread) {
            if call.phase != Phase::Resumed || previous != call.name {
                self.calls.entry(previous).or_default().count += 1;
            }
        }
        let stats = self.calls.entry(call.name.clone()).or_default();
        let dur = call.dur_ns.unwrap_or(0);
        stats.count += 1;
        stats.total_ns += u128::from(dur);
        stats.max_ns = stats.max_ns.max(dur);
        if call.phase == Phase::Resumed {
            stats.blocked_ns += u128::from(dur);
        }
        if !call.succeeded() {
            stats.errors += 1;
            *stats.by_errno.entry(call.errno.clone().unwrap_or_else(|| "?".to_string())).or_default() += 1;
        }
        if let Some(queue) = &event.queue {
            add_to_queue(self.queues.entry(queue.clone()).or_default(), event, call);
        }
    }

    /// Both tables and their legend, as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_calls(&mut out);
        self.render_queues(&mut out);
        out
    }

    fn render_calls(&self, out: &mut String) {
        let mut rows: Vec<(&String, CallStats)> =
            self.calls.iter().map(|(name, s)| (name, CallStats { count: s.count, errors: s.errors, by_errno: s.by_errno.clone(), ..*s })).collect();
        for name in self.running.values() {
            match rows.iter_mut().find(|(n, _)| *n == name) {
                Some((_, s)) => {
                    s.count += 1;
                    s.unfinished += 1;
                }
                None => rows.push((name, CallStats { count: 1, unfinished: 1, ..CallStats::default() })),
            }
        }
        // As strace -c: the most time first.
        rows.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(b.1.count.cmp(&a.1.count)).then(a.0.cmp(b.0)));
        let total_ns: u128 = rows.iter().map(|(_, s)| s.total_ns).sum();
        let rule = "------ ----------- ----------- ----------- ----------- --------- --------- ---------- ------------------";
        let _ = writeln!(
            out,
            "{:<6} {:>11} {:>11} {:>11} {:>11} {:>9} {:>9} {:>10} {:<18} errnos",
            "% time", "seconds", "usecs/call", "max usecs", "blocked s", "calls", "errors", "unfinished", "call"
        );
        let _ = writeln!(out, "{rule}");
        let line = |out: &mut String, name: &str, s: &CallStats| {
            let percent = if total_ns == 0 { 0.0 } else { s.total_ns as f64 * 100.0 / total_ns as f64 };
            let returned = u128::from(s.count - s.unfinished).max(1);
            let errnos: Vec<String> = s.by_errno.iter().map(|(e, n)| format!("{e}:{n}")).collect();
            let _ = writeln!(
                out,
                "{percent:6.2} {:>11} {:>11} {:>11} {:>11} {:>9} {:>9} {:>10} {name:<18} {}",
                seconds(s.total_ns),
                s.total_ns / returned / 1000,
                s.max_ns / 1000,
                seconds(s.blocked_ns),
                s.count,
                blank_if_zero(s.errors),
                blank_if_zero(s.unfinished),
                errnos.join(" ")
            );
        };
        let mut total = CallStats::default();
        for (name, s) in &rows {
            line(out, name, s);
            total.count += s.count;
            total.errors += s.errors;
            total.total_ns += s.total_ns;
            total.max_ns = total.max_ns.max(s.max_ns);
            total.blocked_ns += s.blocked_ns;
            total.unfinished += s.unfinished;
            for (e, n) in &s.by_errno {
                *total.by_errno.entry(e.clone()).or_default() += n;
            }
        }
        let _ = writeln!(out, "{rule}");
        line(out, "total", &total);
        // Trailing blanks of empty last columns.
        *out = out.lines().map(str::trim_end).collect::<Vec<_>>().join("\n") + "\n";
        let _ = writeln!(out, "blocked: time in calls seen still running (<unfinished ...> then <... resumed>, mqshim trace only)");
        if total.unfinished > 0 {
            let _ = writeln!(out, "unfinished: calls that never returned (their process ended while they blocked)");
        }
        if self.lost_reports > 0 {
            let reports = if self.lost_reports == 1 { "report" } else { "reports" };
            let _ = writeln!(out, "lost: {} records dropped by full trace buffers ({} {reports}); the tables miss them", self.lost, self.lost_reports);
        }
    }

    fn render_queues(&self, out: &mut String) {
        if self.queues.is_empty() {
            return;
        }
        let names: Vec<String> = self.queues.keys().map(QueueId::to_string).collect();
        let width = names.iter().map(String::len).max().unwrap_or(0).max(16);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<width$} {:>9} {:>11} {:>9} {:>11} {:>9} {:>9} {:>9}",
            "queue", "sent", "bytes", "received", "bytes", "scheduled", "cancelled", "max depth"
        );
        let rule =
            format!("{} {}", "-".repeat(width), ["---------", "-----------", "---------", "-----------", "---------", "---------", "---------"].join(" "));
        let _ = writeln!(out, "{rule}");
        let mut total = [0u64; 6];
        for (name, q) in names.iter().zip(self.queues.values()) {
            let row = [q.sent, q.sent_bytes, q.received, q.received_bytes, q.scheduled, q.cancelled];
            for (t, v) in total.iter_mut().zip(row) {
                *t += v;
            }
            let _ = writeln!(out, "{name:<width$} {:>9} {:>11} {:>9} {:>11} {:>9} {:>9} {:>9}", row[0], row[1], row[2], row[3], row[4], row[5], q.max_depth());
        }
        let _ = writeln!(out, "{rule}");
        let _ = writeln!(out, "{:<width$} {:>9} {:>11} {:>9} {:>11} {:>9} {:>9}", "total", total[0], total[1], total[2], total[3], total[4], total[5]);
        let _ = writeln!(out, "sent/received: successful sends (scheduled ones included) and receives; bytes: msg_len/msgsz sent, returned by receives");
        let _ = writeln!(out, "max depth: sends minus receives in time order (scheduled messages from their due time), reset by mq_getattr/IPC_STAT");
    }
}

fn add_to_queue(q: &mut QueueStats, event: &Event, call: &Call) {
    if !call.succeeded() {
        return;
    }
    let bytes = call.message_bytes().and_then(|b| u64::try_from(b).ok()).unwrap_or(0);
    match call.role() {
        Some(Role::Send) => {
            q.sent += 1;
            q.sent_bytes += bytes;
            q.depth.push((event.ts_ns, DepthChange::By(1)));
        }
        Some(Role::ScheduledSend) => {
            q.sent += 1;
            q.sent_bytes += bytes;
            q.scheduled += 1;
            // Not in the queue until due.
            let due = call.due_ns().unwrap_or(event.ts_ns).max(event.ts_ns);
            q.depth.push((due, DepthChange::By(1)));
            if let Some(handle) = call.arg_i64("handle") {
                q.pending_scheduled.insert(handle, q.depth.len() - 1);
            }
        }
        Some(Role::Cancel) => {
            q.cancelled += 1;
            if let Some(entry) = call.arg_i64("handle").and_then(|h| q.pending_scheduled.remove(&h)) {
                q.depth[entry].1 = DepthChange::By(0);
            }
        }
        Some(Role::Receive) => {
            q.received += 1;
            q.received_bytes += bytes;
            q.depth.push((event.end_ns(), DepthChange::By(-1)));
        }
        None => {
            let seen = match call.name.as_str() {
                "mq_getattr" => call.args.get("attr"),
                "mq_setattr" => call.args.get("oldattr"),
                "msgctl" => call.args.get("buf"),
                _ => None,
            };
            let depth = seen.and_then(|v| v.get("mq_curmsgs").or_else(|| v.get("msg_qnum"))).and_then(Value::as_i64);
            if let Some(depth) = depth {
                q.depth.push((event.end_ns(), DepthChange::Seen(depth)));
            }
        }
    }
}

/// ns as strace shows seconds: `0.000123`.
fn seconds(ns: u128) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, (ns % 1_000_000_000) / 1000)
}

fn blank_if_zero(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::event::Queues;

    fn summary(lines: &[&str]) -> Summary {
        let mut queues = Queues::default();
        let mut summary = Summary::default();
        for (i, text) in lines.iter().enumerate() {
            let mut e = Event::parse(i + 1, text).unwrap();
            queues.resolve(&mut e);
            summary.add(&e);
        }
        summary
    }

    /// The row of `name` in `table`, split in columns.
    fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
        let line = table.lines().find(|l| l.split_whitespace().any(|w| w == name)).unwrap_or_else(|| panic!("no row {name} in\n{table}"));
        line.split_whitespace().collect()
    }

    const POSIX: &[&str] = &[
        r#"{"ts_ns":1000,"pid":1,"call":"mq_open","args":{"name":"/q"},"ret":3,"errno":null,"dur_ns":5000}"#,
        r#"{"ts_ns":2000,"pid":2,"tid":2,"call":"mq_receive","args":{"mqdes":3},"unfinished":true}"#,
        r#"{"ts_ns":3000,"pid":1,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"abc","msg_len":3,"msg_prio":1},"ret":0,"errno":null,"dur_ns":1000}"#,
        r#"{"ts_ns":2000,"pid":2,"tid":2,"call":"mq_receive","args":{"mqdes":3,"msg_ptr":"abc","msg_len":64,"msg_prio":1},"ret":3,"errno":null,"dur_ns":4000,"resumed":true}"#,
        r#"{"ts_ns":7000,"pid":1,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"hello","msg_len":5,"msg_prio":0},"ret":0,"errno":null,"dur_ns":3000}"#,
        r#"{"ts_ns":8000,"pid":1,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"hi","msg_len":2,"msg_prio":0},"ret":0,"errno":null,"dur_ns":2000}"#,
        r#"{"ts_ns":9000,"pid":1,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"0x1","msg_len":2,"msg_prio":0},"ret":-1,"errno":"EAGAIN","dur_ns":1000}"#,
        r#"{"ts_ns":9500,"pid":1,"call":"mq_getattr","args":{"mqdes":3,"attr":{"mq_curmsgs":5}},"ret":0,"errno":null,"dur_ns":100}"#,
        r#"{"ts_ns":10000,"pid":1,"call":"mq_timedreceive","args":{"mqdes":3},"ret":-1,"errno":"ETIMEDOUT","dur_ns":2000000}"#,
        r#"{"ts_ns":11000,"pid":1,"call":"mq_receive","args":{"mqdes":3,"msg_ptr":"hello","msg_len":64,"msg_prio":0},"ret":5,"errno":null,"dur_ns":1000}"#,
        r#"{"ts_ns":12000,"pid":3,"tid":4,"call":"mq_receive","args":{"mqdes":3},"unfinished":true}"#,
        r#"{"ts_ns":13000,"pid":1,"lost":7}"#,
        r#"{"ts_ns":14000,"pid":1,"call":"mq_send","args":{"mqdes":3},"ret":-1,"errno":"EAGAIN","injected":true,"dur_ns":10}"#,
    ];

    #[test]
    fn calls_count_errors_times_blocked_unfinished_and_lost() {
        let text = summary(POSIX).render();
        // % time, seconds, usecs/call, max usecs, blocked s, calls, errors, unfinished, call, errnos
        assert_eq!(row(&text, "mq_send"), ["0.35", "0.000007", "1", "3", "0.000000", "5", "2", "mq_send", "EAGAIN:2"], "\n{text}");
        assert_eq!(row(&text, "mq_receive"), ["0.25", "0.000005", "2", "4", "0.000004", "3", "1", "mq_receive"], "\n{text}");
        assert_eq!(row(&text, "mq_timedreceive"), ["99.15", "0.002000", "2000", "2000", "0.000000", "1", "1", "mq_timedreceive", "ETIMEDOUT:1"]);
        assert_eq!(row(&text, "total"), ["100.00", "0.002017", "201", "2000", "0.000004", "11", "3", "1", "total", "EAGAIN:2", "ETIMEDOUT:1"]);
        assert!(text.contains("lost: 7 records dropped by full trace buffers (1 report)"), "{text}");
        assert!(text.contains("blocked: time in calls seen still running"), "{text}");
        assert!(text.starts_with("% time     seconds  usecs/call"), "{text}");
        // The most time first, as strace -c.
        let first = text.lines().nth(2).unwrap();
        assert!(first.split_whitespace().eq(["99.15", "0.002000", "2000", "2000", "0.000000", "1", "1", "mq_timedreceive", "ETIMEDOUT:1"]), "{first}");
    }

    #[test]
    fn queue_table_counts_messages_bytes_and_depth() {
        let text = summary(POSIX).render();
        // queue, sent, bytes, received, bytes, scheduled, cancelled, max depth
        // Depth: +1 (3000) -1 (6000) +1 (7000) +1 (8000) = 2, then mq_getattr saw 5.
        assert_eq!(row(&text, "/q"), ["/q", "3", "10", "2", "8", "0", "0", "5"], "\n{text}");
        let without_getattr: Vec<&str> = POSIX.iter().copied().filter(|l| !l.contains("mq_getattr")).collect();
        assert_eq!(row(&summary(&without_getattr).render(), "/q"), ["/q", "3", "10", "2", "8", "0", "0", "2"]);
    }

    #[test]
    fn a_msg_copy_receive_is_not_a_message_received() {
        let text = summary(&[
            r#"{"ts_ns":1,"pid":1,"call":"msgsnd","args":{"msqid":3,"msgp":{"mtype":1,"mtext":"a"},"msgsz":1},"ret":0,"dur_ns":1}"#,
            r#"{"ts_ns":2,"pid":1,"call":"msgrcv","args":{"msqid":3,"msgp":{"mtype":1,"mtext":"a"},"msgsz":8,"msgtyp":0,"msgflg":"MSG_COPY|IPC_NOWAIT"},"ret":1,"dur_ns":1}"#,
        ])
        .render();
        assert_eq!(row(&text, "id=3"), ["id=3", "1", "1", "0", "0", "0", "0", "1"], "\n{text}");
        assert_eq!(row(&text, "msgrcv")[5], "1", "still a msgrcv call");
    }

    #[test]
    fn scheduled_messages_count_as_sends_and_enter_the_depth_when_due() {
        let text = summary(&[
            r#"{"ts_ns":1,"pid":1,"call":"msgget","args":{"key":"0x00000010"},"ret":5}"#,
            r#"{"ts_ns":10,"pid":1,"call":"mqshim_msgsnd_at","args":{"msqid":5,"msgp":{"mtype":1,"mtext":"a"},"msgsz":4,"due":{"tv_sec":0,"tv_nsec":1000},"handle":1},"ret":0,"dur_ns":1}"#,
            r#"{"ts_ns":20,"pid":1,"call":"mqshim_msgsnd_at","args":{"msqid":5,"msgp":{"mtype":1,"mtext":"b"},"msgsz":6,"due":{"tv_sec":0,"tv_nsec":1000},"handle":2},"ret":0,"dur_ns":1}"#,
            r#"{"ts_ns":30,"pid":1,"call":"mqshim_msg_cancel","args":{"msqid":5,"handle":2},"ret":0,"dur_ns":1}"#,
            r#"{"ts_ns":40,"pid":1,"call":"msgsnd","args":{"msqid":5,"msgp":{"mtype":1,"mtext":"c"},"msgsz":2},"ret":0,"dur_ns":1}"#,
            r#"{"ts_ns":50,"pid":1,"call":"msgrcv","args":{"msqid":5,"msgp":{"mtype":1,"mtext":"c"},"msgsz":8,"msgtyp":0},"ret":2,"dur_ns":1}"#,
            r#"{"ts_ns":2000,"pid":1,"call":"msgrcv","args":{"msqid":5,"msgp":{"mtype":1,"mtext":"a"},"msgsz":8,"msgtyp":0},"ret":4,"dur_ns":1}"#,
        ])
        .render();
        // The cancelled one never counts in the depth: c (1), received, a due at 1000 (1).
        assert_eq!(row(&text, "key=0x00000010"), ["key=0x00000010", "id=5", "3", "12", "2", "6", "2", "1", "1"], "\n{text}");
    }
}
