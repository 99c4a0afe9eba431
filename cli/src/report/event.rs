//! The event model: one JSON-lines trace record (README, "Trace format") parsed into an
//! [`Event`], and the identities the readers of a trace need — which queue a call used
//! ([`QueueId`], resolved by [`Queues`]) and which message a send or receive carried
//! ([`MessageKey`]).
//!
//! Parsing is tolerant: unknown fields are ignored and optional ones may be missing (records of
//! the library alone, of the `mqshim trace` collector, of older versions); a line that is not a
//! record is an error naming its line number.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

/// One record of a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The line of the trace it came from (1-based).
    pub line: usize,
    /// The call's start (or the loss's time), in ns since the epoch.
    pub ts_ns: i64,
    pub pid: i64,
    pub tid: i64,
    /// The process's parent, when the collector recorded it.
    pub ppid: Option<i64>,
    pub kind: Kind,
    /// The queue the call used: from the record's "queue" field, else filled in by [`Queues::resolve`].
    pub queue: Option<QueueId>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Call(Call),
    /// `{"lost":N}`: N records dropped because a process's trace buffer was full.
    Lost(u64),
}

/// A traced call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The library-level name (`mq_send`, `msgrcv`, `mqshim_mq_send_at`).
    pub name: String,
    pub backend: Option<String>,
    /// The decoded arguments, named as in the man pages.
    pub args: Map<String, Value>,
    /// The C return value; None on an unfinished record.
    pub ret: Option<i64>,
    /// The errno name on failure.
    pub errno: Option<String>,
    pub dur_ns: Option<u64>,
    /// An injected errno (MQSHIM_FAULTS).
    pub injected: bool,
    /// An injected delay.
    pub delayed: bool,
    pub phase: Phase,
}

/// Where a record stands in the life of its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The call's one record, written when it returned.
    Complete,
    /// The collector saw the call still running: no result yet.
    Unfinished,
    /// The full record of a call that had an unfinished record first (it blocked).
    Resumed,
}

/// The calls that put a message in a queue, take one out, or withdraw a scheduled one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Send,
    ScheduledSend,
    Receive,
    Cancel,
}

/// A record that could not be read, with its line.
#[derive(Debug, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl Event {
    /// Parses the record on line `line` (1-based).
    pub fn parse(line: usize, text: &str) -> Result<Event, ParseError> {
        let fail = |message: String| ParseError { line, message };
        let text = text.trim();
        if !text.starts_with('{') {
            return Err(fail("not a JSON-lines trace record (record traces with MQSHIM_TRACE_FORMAT=jsonl, or mqshim trace --json)".to_string()));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| fail(format!("malformed JSON: {e}")))?;
        let Value::Object(mut record) = value else { return Err(fail("a record is a JSON object".to_string())) };
        let pid = integer(&record, "pid").ok_or_else(|| fail("no \"pid\"".to_string()))?;
        let tid = integer(&record, "tid").unwrap_or(pid);
        let ppid = integer(&record, "ppid");
        let ts_ns = match integer(&record, "ts_ns") {
            Some(ns) => ns,
            None => match record.get("ts") {
                Some(Value::String(ts)) => parse_timestamp(ts).ok_or_else(|| fail(format!("\"ts\" {ts:?} is not an ISO 8601 UTC time")))?,
                _ => return Err(fail("no \"ts\" or \"ts_ns\"".to_string())),
            },
        };
        let queue = match record.get("queue") {
            Some(Value::String(name)) => Some(QueueId::Posix(name.clone())),
            _ => None,
        };
        let kind = if let Some(lost) = record.get("lost").and_then(Value::as_u64) {
            Kind::Lost(lost)
        } else {
            let name = match record.remove("call") {
                Some(Value::String(name)) => name,
                _ => return Err(fail("no \"call\" (nor \"lost\")".to_string())),
            };
            let args = match record.remove("args") {
                Some(Value::Object(args)) => args,
                _ => Map::new(),
            };
            let flag = |key: &str| record.get(key).and_then(Value::as_bool).unwrap_or(false);
            let phase = if flag("unfinished") {
                Phase::Unfinished
            } else if flag("resumed") {
                Phase::Resumed
            } else {
                Phase::Complete
            };
            Kind::Call(Call {
                name,
                backend: record.get("backend").and_then(Value::as_str).map(str::to_string),
                args,
                ret: integer(&record, "ret"),
                errno: record.get("errno").and_then(Value::as_str).map(str::to_string),
                dur_ns: record.get("dur_ns").and_then(Value::as_u64),
                injected: flag("injected"),
                delayed: flag("delayed"),
                phase,
            })
        };
        Ok(Event { line, ts_ns, pid, tid, ppid, kind, queue })
    }

    pub fn call(&self) -> Option<&Call> {
        match &self.kind {
            Kind::Call(c) => Some(c),
            Kind::Lost(_) => None,
        }
    }

    /// When the call returned (its start, for a record without a duration).
    pub fn end_ns(&self) -> i64 {
        let dur = self.call().and_then(|c| c.dur_ns).unwrap_or(0);
        self.ts_ns.saturating_add(i64::try_from(dur).unwrap_or(i64::MAX))
    }

    /// The message a successful send or receive carried, when its queue is known and its
    /// payload was decoded. A send and the receive that took its message have equal keys.
    pub fn message_key(&self) -> Option<MessageKey> {
        let call = self.call()?;
        if !call.succeeded() || !matches!(call.role(), Some(Role::Send | Role::ScheduledSend | Role::Receive)) {
            return None;
        }
        let queue = self.queue.clone()?;
        let (class, payload) = if call.name.starts_with("mq") && !call.name.starts_with("mqshim_msg") {
            // A receive given no priority pointer shows none (null).
            (call.arg_i64("msg_prio"), call.args.get("msg_ptr")?.as_str()?.to_string())
        } else {
            let msgp = call.args.get("msgp")?.as_object()?;
            (Some(msgp.get("mtype")?.as_i64()?), msgp.get("mtext")?.as_str()?.to_string())
        };
        Some(MessageKey { queue, class, payload })
    }
}

impl Call {
    /// Returned without an error (an unfinished call has not returned).
    pub fn succeeded(&self) -> bool {
        self.phase != Phase::Unfinished && self.errno.is_none() && self.ret.is_some_and(|r| r != -1)
    }

    /// What the call does to a queue's messages (None: it neither adds nor takes one). A
    /// msgrcv with MSG_COPY only copies a message: it takes none.
    pub fn role(&self) -> Option<Role> {
        Some(match self.name.as_str() {
            "mq_send" | "mq_timedsend" | "msgsnd" => Role::Send,
            "mqshim_mq_send_at" | "mqshim_msgsnd_at" => Role::ScheduledSend,
            "msgrcv" if self.has_flag("MSG_COPY") => return None,
            "mq_receive" | "mq_timedreceive" | "msgrcv" => Role::Receive,
            "mqshim_mq_cancel" | "mqshim_msg_cancel" => Role::Cancel,
            _ => return None,
        })
    }

    /// Whether the System V `msgflg` names `flag` (`"IPC_NOWAIT|MSG_NOERROR"`).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.args.get("msgflg").and_then(Value::as_str).is_some_and(|flags| flags.split('|').any(|f| f == flag))
    }

    /// An integer argument: a JSON number, or a string holding one (decimal or 0x hex).
    pub fn arg_i64(&self, name: &str) -> Option<i64> {
        match self.args.get(name)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => parse_integer(s),
            _ => None,
        }
    }

    /// The bytes a send offered (msg_len, msgsz) or a receive got (its return value).
    pub fn message_bytes(&self) -> Option<i64> {
        match self.role()? {
            Role::Send | Role::ScheduledSend => self.arg_i64("msg_len").or_else(|| self.arg_i64("msgsz")),
            Role::Receive => self.ret,
            Role::Cancel => None,
        }
    }

    /// The `due` time of a scheduled send, in ns since the epoch.
    pub fn due_ns(&self) -> Option<i64> {
        let due = self.args.get("due")?.as_object()?;
        due.get("tv_sec")?.as_i64()?.checked_mul(1_000_000_000)?.checked_add(due.get("tv_nsec")?.as_i64()?)
    }
}

/// The number in a JSON field (None when absent, null or not an integer).
fn integer(record: &Map<String, Value>, key: &str) -> Option<i64> {
    record.get(key).and_then(Value::as_i64)
}

/// A decimal, `0x` hex or (leading 0) octal integer, negative allowed.
pub fn parse_integer(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let n = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if negative { -n } else { n })
}

/// `2026-11-22T09:36:45.620051476Z` (any number of fraction digits, or none) in ns since the epoch.
pub fn parse_timestamp(ts: &str) -> Option<i64> {
    let ts = ts.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut ymd = date.splitn(3, '-');
    let (year, month, day): (i64, i64, i64) = (ymd.next()?.parse().ok()?, ymd.next()?.parse().ok()?, ymd.next()?.parse().ok()?);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = clock.splitn(3, ':');
    let (hour, minute, second): (i64, i64, i64) = (hms.next()?.parse().ok()?, hms.next()?.parse().ok()?, hms.next()?.parse().ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 || fraction.len() > 9 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().ok()? };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A queue, as far as a trace tells it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueId {
    /// A POSIX queue by name (`/name`).
    Posix(String),
    /// A POSIX descriptor whose queue the trace does not show (opened before tracing began).
    PosixDescriptor { pid: i64, mqdes: i64 },
    /// A System V queue: its key when a msgget (or IPC_STAT) showed it, its id once known.
    Sysv { key: Option<u32>, id: Option<i64> },
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueId::Posix(name) => f.write_str(name),
            QueueId::PosixDescriptor { pid, mqdes } => write!(f, "mqdes {mqdes} of pid {pid}"),
            QueueId::Sysv { key, id } => {
                match key {
                    Some(0) => f.write_str("IPC_PRIVATE")?,
                    Some(k) => write!(f, "key=0x{k:08x}")?,
                    None => {}
                }
                match (key, id) {
                    (Some(_), Some(id)) => write!(f, " id={id}"),
                    (None, Some(id)) => write!(f, "id={id}"),
                    _ => Ok(()),
                }
            }
        }
    }
}

/// A System V key as the trace writes it (`"0x0000162e"`, `"IPC_PRIVATE"`).
pub fn parse_key(text: &str) -> Option<u32> {
    if text == "IPC_PRIVATE" {
        return Some(0);
    }
    // Keys are key_t (int): -1 and 0xffffffff are the same key.
    parse_integer(text).and_then(|k| if (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&k) { Some(k as u32) } else { None })
}

/// What identifies a message across its send and its receive: the queue, its priority (POSIX)
/// or type (System V), and its payload preview. A POSIX receive that passed no priority pointer
/// does not show the priority (None).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey {
    pub queue: QueueId,
    pub class: Option<i64>,
    pub payload: String,
}

/// Resolves the queue of each call from what earlier records showed: the descriptors each
/// process's mq_open calls returned (dropped at mq_close) and the keys of System V ids (from
/// msgget results). Feed it every record, in time order, before any filtering.
#[derive(Debug, Default)]
pub struct Queues {
    /// pid → descriptor → queue name.
    descriptors: HashMap<i64, HashMap<i64, String>>,
    /// pid → parent pid, as records with "ppid" showed.
    parents: HashMap<i64, i64>,
    /// The queue of the latest mq_open that returned each descriptor number, in any process.
    latest_open: HashMap<i64, String>,
    /// System V id → key.
    sysv_keys: HashMap<i64, u32>,
}

/// Parent links followed at most, looking for who opened an inherited descriptor.
const MAX_ANCESTORS: usize = 64;

impl Queues {
    /// Sets `event.queue` (unless the record named it) and learns from the event.
    pub fn resolve(&mut self, event: &mut Event) {
        if let Some(ppid) = event.ppid {
            self.parents.insert(event.pid, ppid);
        }
        let Kind::Call(call) = &event.kind else { return };
        // Only a call that returned successfully changes what descriptors and ids mean.
        let succeeded = call.succeeded();
        match call.name.as_str() {
            "mq_open" | "mq_unlink" => {
                if event.queue.is_none() {
                    event.queue = call.args.get("name").and_then(Value::as_str).map(|name| QueueId::Posix(name.to_string()));
                }
                if let (true, "mq_open", Some(QueueId::Posix(name)), Some(fd)) = (succeeded, call.name.as_str(), &event.queue, call.ret) {
                    self.descriptors.entry(event.pid).or_default().insert(fd, name.clone());
                    self.latest_open.insert(fd, name.clone());
                }
            }
            "msgget" => {
                let key = call.args.get("key").and_then(Value::as_str).and_then(parse_key);
                let id = call.ret.filter(|_| succeeded);
                if let (Some(id), Some(key)) = (id, key) {
                    self.sysv_keys.insert(id, key);
                }
                event.queue = Some(QueueId::Sysv { key, id });
            }
            name if name.starts_with("msg") || name.starts_with("mqshim_msg") => {
                let Some(mut id) = call.arg_i64("msqid") else { return };
                if name == "msgctl" {
                    let cmd = call.args.get("cmd").and_then(Value::as_str).unwrap_or("");
                    if cmd.contains("INFO") {
                        return; // msqid is an index, or unused
                    }
                    if cmd.contains("MSG_STAT") {
                        // msqid is an index into the kernel's table; the id is the return value.
                        let Some(ret) = call.ret.filter(|_| succeeded) else { return };
                        id = ret;
                    }
                    let shown_key = call.args.get("buf").and_then(|b| b.get("msg_perm")).and_then(|p| p.get("key")).and_then(Value::as_str).and_then(parse_key);
                    if let (Some(key), true) = (shown_key, succeeded) {
                        self.sysv_keys.entry(id).or_insert(key);
                    }
                }
                event.queue = Some(QueueId::Sysv { key: self.sysv_keys.get(&id).copied(), id: Some(id) });
            }
            name if name.starts_with("mq") => {
                let Some(fd) = call.arg_i64("mqdes") else { return };
                if event.queue.is_none() {
                    event.queue = Some(match self.descriptor(event.pid, fd) {
                        Some(name) => QueueId::Posix(name),
                        None => QueueId::PosixDescriptor { pid: event.pid, mqdes: fd },
                    });
                }
                if name == "mq_close" && succeeded {
                    if let Some(table) = self.descriptors.get_mut(&event.pid) {
                        table.remove(&fd);
                    }
                }
            }
            _ => {}
        }
    }

    /// The queue of descriptor `fd` in process `pid`: its own mq_open; else inherited, from
    /// the nearest ancestor that has it; else the latest mq_open of that number anywhere. An
    /// inherited descriptor is copied into the process's table (the child's copy outlives
    /// what the parent does with its own later).
    fn descriptor(&mut self, pid: i64, fd: i64) -> Option<String> {
        if let Some(name) = self.descriptors.get(&pid).and_then(|t| t.get(&fd)) {
            return Some(name.clone());
        }
        let mut ancestor = pid;
        let mut inherited = None;
        for _ in 0..MAX_ANCESTORS {
            let Some(&parent) = self.parents.get(&ancestor) else { break };
            if let Some(name) = self.descriptors.get(&parent).and_then(|t| t.get(&fd)) {
                inherited = Some(name.clone());
                break;
            }
            ancestor = parent;
        }
        let name = inherited.or_else(|| self.latest_open.get(&fd).cloned())?;
        self.descriptors.entry(pid).or_default().insert(fd, name.clone());
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Event {
        Event::parse(1, text).unwrap()
    }

    #[test]
    fn parses_a_library_record() {
        let e = parse(
            r#"{"ts":"2026-11-22T09:36:45.620051476Z","pid":8179,"tid":8180,"call":"mq_open","backend":"emulate","args":{"name":"/mqtest","oflag":"O_RDWR|O_CREAT","mode":"0600","attr":null},"ret":3,"errno":null,"dur_ns":21021}"#,
        );
        assert_eq!(e.ts_ns, 1_795_340_205_620_051_476);
        assert_eq!((e.pid, e.tid, e.ppid), (8179, 8180, None));
        let c = e.call().unwrap();
        assert_eq!((c.name.as_str(), c.ret, c.errno.as_deref(), c.dur_ns, c.phase), ("mq_open", Some(3), None, Some(21021), Phase::Complete));
        assert_eq!(c.backend.as_deref(), Some("emulate"));
        assert!(c.succeeded() && !c.injected && !c.delayed);
        assert_eq!(e.end_ns(), e.ts_ns + 21021);
    }

    #[test]
    fn timestamps_agree_with_ts_ns_and_tolerate_short_fractions() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(parse_timestamp("2000-03-01T00:00:00.000000001Z"), Some(951_868_800_000_000_001));
        assert_eq!(parse_timestamp("2000-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2000-01-01 00:00:00"), None);
        // ts_ns wins when both are there.
        let e = parse(r#"{"ts":"1970-01-01T00:00:00Z","ts_ns":42,"pid":1,"call":"mq_close","args":{"mqdes":3},"ret":0}"#);
        assert_eq!((e.ts_ns, e.tid), (42, 1));
    }

    #[test]
    fn collector_records_unfinished_resumed_lost_and_unknown_fields() {
        let u = parse(
            r#"{"ts":"2026-11-22T09:36:45Z","ts_ns":5,"pid":2,"tid":3,"ppid":1,"call":"mq_receive","backend":"kernel","args":{"mqdes":3},"unfinished":true,"future":[1,2]}"#,
        );
        let c = u.call().unwrap();
        assert_eq!((c.phase, c.ret, c.dur_ns, u.ppid), (Phase::Unfinished, None, None, Some(1)));
        assert!(!c.succeeded());
        let r = parse(
            r#"{"ts_ns":5,"pid":2,"tid":3,"call":"mq_receive","args":{"mqdes":3,"msg_ptr":"a","msg_len":8,"msg_prio":1},"ret":1,"errno":null,"dur_ns":9,"resumed":true,"delayed":true,"injected":false}"#,
        );
        assert_eq!(r.call().unwrap().phase, Phase::Resumed);
        assert!(r.call().unwrap().delayed);
        let l = parse(r#"{"ts":"2026-11-22T09:36:45Z","ts_ns":7,"pid":2,"lost":12}"#);
        assert_eq!(l.kind, Kind::Lost(12));
        let q = parse(r#"{"ts_ns":1,"pid":2,"call":"mq_send","queue":"/q","args":{"mqdes":9}}"#);
        assert_eq!(q.queue, Some(QueueId::Posix("/q".into())));
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        for text in
            ["{\"pid\":1,", "not json", "[1,2]", r#"{"ts":"x","pid":1,"call":"mq_send"}"#, r#"{"ts_ns":1,"call":"mq_send"}"#, r#"{"ts_ns":1,"pid":1}"#, "{}"]
        {
            let err = Event::parse(17, text).unwrap_err();
            assert_eq!(err.line, 17, "{text}");
            assert!(err.to_string().starts_with("line 17: "), "{err}");
        }
    }

    #[test]
    fn message_keys_of_sends_and_receives() {
        let mut queues = Queues::default();
        let mut events: Vec<Event> = [
            r#"{"ts_ns":1,"pid":10,"call":"mq_open","args":{"name":"/q","oflag":"O_RDWR"},"ret":3,"errno":null,"dur_ns":1}"#,
            r#"{"ts_ns":2,"pid":10,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"hi\n","msg_len":3,"msg_prio":5},"ret":0,"errno":null,"dur_ns":1}"#,
            r#"{"ts_ns":3,"pid":11,"call":"mq_receive","args":{"mqdes":3,"msg_ptr":"hi\n","msg_len":64,"msg_prio":5},"ret":3,"errno":null,"dur_ns":1}"#,
            r#"{"ts_ns":4,"pid":10,"call":"msgget","args":{"key":"0x0000162e","msgflg":"IPC_CREAT|0600"},"ret":65536,"errno":null,"dur_ns":1}"#,
            r#"{"ts_ns":5,"pid":11,"call":"msgsnd","args":{"msqid":65536,"msgp":{"mtype":2,"mtext":"x"},"msgsz":1,"msgflg":"0"},"ret":0,"errno":null,"dur_ns":1}"#,
            r#"{"ts_ns":6,"pid":10,"call":"msgrcv","args":{"msqid":65536,"msgp":{"mtype":2,"mtext":"x"},"msgsz":8,"msgtyp":0,"msgflg":"0"},"ret":1,"errno":null,"dur_ns":1}"#,
            r#"{"ts_ns":7,"pid":10,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"0x10","msg_len":3,"msg_prio":5},"ret":-1,"errno":"EFAULT","dur_ns":1}"#,
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| Event::parse(i + 1, t).unwrap())
        .collect();
        for e in &mut events {
            queues.resolve(e);
        }
        let posix = QueueId::Posix("/q".into());
        let expect = MessageKey { queue: posix.clone(), class: Some(5), payload: "hi\n".into() };
        assert_eq!(events[1].message_key(), Some(expect.clone()));
        assert_eq!(events[2].message_key(), Some(expect), "the child resolves the inherited descriptor");
        let sysv = QueueId::Sysv { key: Some(0x162e), id: Some(65536) };
        assert_eq!(events[3].queue, Some(sysv.clone()));
        assert_eq!(events[4].message_key(), Some(MessageKey { queue: sysv.clone(), class: Some(2), payload: "x".into() }));
        assert_eq!(events[4].message_key(), events[5].message_key());
        assert_eq!(events[6].message_key(), None, "a failed send carried nothing");
        assert_eq!(events[4].call().unwrap().message_bytes(), Some(1));
        assert_eq!(events[5].call().unwrap().message_bytes(), Some(1));
        assert_eq!(sysv.to_string(), "key=0x0000162e id=65536");
    }

    #[test]
    fn descriptors_resolve_per_process_then_parent_then_any() {
        let mut queues = Queues::default();
        let mut resolve = |text: &str| {
            let mut e = parse(text);
            queues.resolve(&mut e);
            e.queue.map(|q| q.to_string())
        };
        assert_eq!(resolve(r#"{"ts_ns":1,"pid":1,"call":"mq_open","args":{"name":"/a"},"ret":3}"#).as_deref(), Some("/a"));
        assert_eq!(resolve(r#"{"ts_ns":2,"pid":2,"call":"mq_open","args":{"name":"/b"},"ret":3}"#).as_deref(), Some("/b"));
        // pid 5 is pid 1's child: the parent's mapping wins over the latest open anywhere (/b).
        assert_eq!(resolve(r#"{"ts_ns":3,"pid":5,"ppid":1,"call":"mq_send","args":{"mqdes":3}}"#).as_deref(), Some("/a"));
        // pid 6, never seen opening and with no parent known: the latest open of fd 3.
        assert_eq!(resolve(r#"{"ts_ns":4,"pid":6,"call":"mq_send","args":{"mqdes":3}}"#).as_deref(), Some("/b"));
        // Closing drops the mapping of the closer only: pid 1 reopens fd 3 as /c.
        assert_eq!(resolve(r#"{"ts_ns":5,"pid":1,"call":"mq_close","args":{"mqdes":3},"ret":0}"#).as_deref(), Some("/a"));
        assert_eq!(resolve(r#"{"ts_ns":6,"pid":1,"call":"mq_open","args":{"name":"/c"},"ret":3}"#).as_deref(), Some("/c"));
        assert_eq!(resolve(r#"{"ts_ns":7,"pid":5,"call":"mq_send","args":{"mqdes":3}}"#).as_deref(), Some("/a"), "the child keeps what it inherited");
        assert_eq!(resolve(r#"{"ts_ns":8,"pid":1,"call":"mq_send","args":{"mqdes":4}}"#).as_deref(), Some("mqdes 4 of pid 1"));
        // A record's own "queue" field is taken as it is.
        assert_eq!(resolve(r#"{"ts_ns":9,"pid":1,"queue":"/z","call":"mq_send","args":{"mqdes":4}}"#).as_deref(), Some("/z"));
    }

    #[test]
    fn sysv_ids_learn_keys_from_msgget_and_ipc_stat() {
        let mut queues = Queues::default();
        let mut resolve = |text: &str| {
            let mut e = parse(text);
            queues.resolve(&mut e);
            e.queue.map(|q| q.to_string())
        };
        assert_eq!(resolve(r#"{"ts_ns":1,"pid":1,"call":"msgsnd","args":{"msqid":7}}"#).as_deref(), Some("id=7"));
        assert_eq!(
            resolve(r#"{"ts_ns":2,"pid":1,"call":"msgctl","args":{"msqid":7,"cmd":"IPC_STAT","buf":{"msg_perm":{"key":"0xffffffff"}}},"ret":0}"#).as_deref(),
            Some("key=0xffffffff id=7")
        );
        assert_eq!(resolve(r#"{"ts_ns":3,"pid":1,"call":"msgget","args":{"key":"IPC_PRIVATE"},"ret":8}"#).as_deref(), Some("IPC_PRIVATE id=8"));
        assert_eq!(resolve(r#"{"ts_ns":4,"pid":1,"call":"msgget","args":{"key":"0x00000001"},"ret":-1,"errno":"ENOENT"}"#).as_deref(), Some("key=0x00000001"));
        assert_eq!(resolve(r#"{"ts_ns":5,"pid":1,"call":"msgctl","args":{"msqid":0,"cmd":"IPC_INFO"},"ret":3}"#), None);
        assert_eq!(parse_key("-1"), Some(0xffff_ffff));
    }
}
