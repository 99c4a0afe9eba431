//! A trace as a Chrome/Perfetto trace (the Trace Event Format's object form): a track per
//! process and thread (named by "M" metadata events), an "X" slice per call, an instant per
//! report of lost records, and a flow arrow from each send to the receive that took its message.
//!
//! Times are µs (with ns in the fraction) from the first record, so that a double keeps every
//! ns; the first record's wall-clock time is in `otherData.trace_start_ns`.
//!
//! Sends are matched to receives the same way for both backends, from the records alone: by
//! queue, priority (POSIX) or received type (System V) and payload preview, first in first out
//! — the messages of one (queue, priority or type, payload) leave in the order they came, under
//! the kernel and under the emulation alike. A send's message is available from its start (a
//! scheduled one's from its due time) and a receive took one by its end.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde_json::{json, Map, Value};

use super::event::{Event, Kind, MessageKey, Phase, QueueId, Role};

/// One call's slice.
struct Slice<'a> {
    event: &'a Event,
    start: i64,
    dur: i64,
    /// The call never returned: the slice runs to the end of the trace.
    unfinished: bool,
}

/// The Chrome trace of `events` (queues resolved, in time order).
pub fn trace(events: &[Event]) -> Value {
    let origin = events.iter().map(|e| e.ts_ns).min().unwrap_or(0);
    let end = events.iter().map(Event::end_ns).max().unwrap_or(origin);
    let micros = |ns: i64| Value::from((ns - origin) as f64 / 1000.0);
    let mut out = Vec::new();

    // Tracks: a name per process and thread.
    let mut threads: BTreeMap<i64, (Option<&str>, Vec<i64>)> = BTreeMap::new();
    for e in events {
        let (backend, tids) = threads.entry(e.pid).or_default();
        if backend.is_none() {
            *backend = e.call().and_then(|c| c.backend.as_deref());
        }
        if !tids.contains(&e.tid) {
            tids.push(e.tid);
        }
    }
    for (pid, (backend, tids)) in &threads {
        let name = match backend {
            Some(b) => format!("pid {pid} ({b})"),
            None => format!("pid {pid}"),
        };
        out.push(json!({"ph": "M", "name": "process_name", "pid": pid, "tid": pid, "args": {"name": name}}));
        for tid in tids {
            out.push(json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": format!("tid {tid}")}}));
        }
    }

    let slices = slices(events, end);
    for s in &slices {
        out.push(slice_event(s, &micros));
    }
    for e in events {
        if let Kind::Lost(n) = e.kind {
            out.push(json!({"ph": "i", "s": "p", "name": format!("lost {n} records"), "cat": "lost", "pid": e.pid, "tid": e.tid, "ts": micros(e.ts_ns), "args": {"lost": n}}));
        }
    }
    for (id, (send, receive)) in flows(&slices).into_iter().enumerate() {
        let (s_ts, f_ts) = (inside(send, send.start), inside(receive, receive.start + receive.dur));
        let common = |ph: &str, s: &Slice<'_>, ts: i64| {
            let mut m = Map::new();
            m.insert("ph".into(), ph.into());
            m.insert("id".into(), (id + 1).into());
            m.insert("name".into(), "message".into());
            m.insert("cat".into(), "message".into());
            m.insert("pid".into(), s.event.pid.into());
            m.insert("tid".into(), s.event.tid.into());
            m.insert("ts".into(), micros(ts));
            m
        };
        out.push(Value::Object(common("s", send, s_ts)));
        let mut finish = common("f", receive, f_ts.max(s_ts));
        finish.insert("bp".into(), "e".into());
        out.push(Value::Object(finish));
    }
    json!({"traceEvents": out, "displayTimeUnit": "ns", "otherData": {"trace_start_ns": origin.to_string(), "source": "mqshim report --chrome"}})
}

/// The point nearest to `ts` at least 3 ns inside the slice (its middle, for a shorter one):
/// viewers bind a flow's ends to the slice around them, an end on the boundary may miss it,
/// and they may round a fractional µs down by a ns (Perfetto truncates `dur * 1000`).
fn inside(s: &Slice<'_>, ts: i64) -> i64 {
    let margin = (s.dur / 2).min(3);
    ts.clamp(s.start + margin, s.start + s.dur - margin)
}

/// One slice per call: a complete or resumed record, or an unfinished one that never resumed
/// (to the end of the trace).
fn slices(events: &[Event], end: i64) -> Vec<Slice<'_>> {
    let mut slices = Vec::new();
    let mut running: HashMap<(i64, i64), &Event> = HashMap::new();
    for e in events {
        let Some(call) = e.call() else { continue };
        let thread = (e.pid, e.tid);
        if call.phase == Phase::Unfinished {
            if let Some(earlier) = running.insert(thread, e) {
                // It must have returned with its record lost: a slice up to this call.
                slices.push(Slice { event: earlier, start: earlier.ts_ns, dur: (e.ts_ns - earlier.ts_ns).max(0), unfinished: true });
            }
            continue;
        }
        if let Some(earlier) = running.remove(&thread) {
            if call.phase != Phase::Resumed || earlier.call().map(|c| c.name.as_str()) != Some(call.name.as_str()) {
                slices.push(Slice { event: earlier, start: earlier.ts_ns, dur: (e.ts_ns - earlier.ts_ns).max(0), unfinished: true });
            }
        }
        slices.push(Slice { event: e, start: e.ts_ns, dur: e.end_ns() - e.ts_ns, unfinished: false });
    }
    let mut never_returned: Vec<&Event> = running.into_values().collect();
    never_returned.sort_by_key(|e| (e.ts_ns, e.line));
    for e in never_returned {
        slices.push(Slice { event: e, start: e.ts_ns, dur: (end - e.ts_ns).max(0), unfinished: true });
    }
    // A thread makes one call at a time, but a start (wall clock) and a duration (measured
    // apart) may disagree by a little: end a slice where its thread's next one starts, so
    // that viewers, which need slices of a thread to nest, keep both.
    let mut order: Vec<usize> = (0..slices.len()).collect();
    order.sort_by_key(|&i| (slices[i].event.pid, slices[i].event.tid, slices[i].start));
    for pair in order.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if (slices[a].event.pid, slices[a].event.tid) == (slices[b].event.pid, slices[b].event.tid) && slices[a].start + slices[a].dur > slices[b].start {
            slices[a].dur = slices[b].start - slices[a].start;
        }
    }
    slices
}

fn slice_event(s: &Slice<'_>, micros: &dyn Fn(i64) -> Value) -> Value {
    let call = s.event.call().expect("slices are calls");
    let mut args = call.args.clone();
    if let Some(ret) = call.ret {
        args.insert("ret".into(), ret.into());
    }
    if let Some(errno) = &call.errno {
        args.insert("errno".into(), errno.clone().into());
    }
    if let Some(queue) = &s.event.queue {
        args.insert("queue".into(), queue.to_string().into());
    }
    for (flag, on) in [("injected", call.injected), ("delayed", call.delayed), ("resumed", call.phase == Phase::Resumed), ("unfinished", s.unfinished)] {
        if on {
            args.insert(flag.into(), true.into());
        }
    }
    let category = if call.name.starts_with("msg") || call.name.starts_with("mqshim_msg") { "sysv" } else { "posix" };
    json!({
        "ph": "X", "name": call.name, "cat": category, "pid": s.event.pid, "tid": s.event.tid,
        "ts": micros(s.start), "dur": Value::from(s.dur as f64 / 1000.0), "args": args,
    })
}

/// Pairs each send with the receive that took its message: per message key, first in first out,
/// sends available from their start (scheduled ones from when due), receives taking by their end.
fn flows<'s, 'a>(slices: &'s [Slice<'a>]) -> Vec<(&'s Slice<'a>, &'s Slice<'a>)> {
    // Scheduled messages cancelled in time never reached a receiver.
    let cancelled: HashSet<(QueueId, i64)> = slices
        .iter()
        .filter_map(|s| {
            let call = s.event.call()?;
            (call.role() == Some(Role::Cancel) && call.succeeded()).then_some(())?;
            Some((s.event.queue.clone()?, call.arg_i64("handle")?))
        })
        .collect();
    // (when, receive?, slice): sends sort before receives at equal times.
    let mut moments: Vec<(i64, bool, usize, MessageKey)> = Vec::new();
    for (i, s) in slices.iter().enumerate() {
        let (Some(call), false) = (s.event.call(), s.unfinished) else { continue };
        let Some(key) = s.event.message_key() else { continue };
        match call.role() {
            Some(Role::Send) => moments.push((s.start, false, i, key)),
            Some(Role::ScheduledSend) => {
                let withdrawn = call.arg_i64("handle").is_some_and(|h| cancelled.contains(&(key.queue.clone(), h)));
                if !withdrawn {
                    moments.push((call.due_ns().unwrap_or(s.start).max(s.start), false, i, key));
                }
            }
            Some(Role::Receive) => moments.push((s.start + s.dur, true, i, key)),
            _ => {}
        }
    }
    moments.sort_by_key(|(when, receive, i, _)| (*when, *receive, *i));
    let mut waiting: HashMap<MessageKey, VecDeque<(usize, i64)>> = HashMap::new();
    let mut pairs = Vec::new();
    for (when, receive, i, key) in moments {
        if receive {
            let send = match waiting.get_mut(&key).and_then(VecDeque::pop_front) {
                Some((send, _)) => Some(send),
                // No priority shown: the receive took the highest-priority message of that text.
                None if key.class.is_none() => take(&mut waiting, |k| k.queue == key.queue && k.payload == key.payload, |k| -k.class.unwrap_or(0)),
                // Cut short (MSG_NOERROR): the oldest message of that type whose text begins with it.
                None if slices[i].event.call().is_some_and(|c| c.has_flag("MSG_NOERROR")) => {
                    let prefix = key.payload.strip_suffix("...").unwrap_or(&key.payload);
                    take(&mut waiting, |k| k.queue == key.queue && k.class == key.class && k.payload.starts_with(prefix), |_| 0)
                }
                None => None,
            };
            if let Some(send) = send {
                pairs.push((&slices[send], &slices[i]));
            }
        } else {
            waiting.entry(key).or_default().push_back((i, when));
        }
    }
    pairs
}

/// Takes the first waiting message of the keys `accept`s: the least `rank`, then the oldest.
fn take(waiting: &mut HashMap<MessageKey, VecDeque<(usize, i64)>>, accept: impl Fn(&MessageKey) -> bool, rank: impl Fn(&MessageKey) -> i64) -> Option<usize> {
    let (key, _) = waiting.iter().filter(|(k, q)| accept(k) && !q.is_empty()).min_by_key(|(k, q)| (rank(k), q.front().map(|&(send, when)| (when, send))))?;
    let key = key.clone();
    waiting.get_mut(&key)?.pop_front().map(|(send, _)| send)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::event::Queues;

    fn chrome(lines: &[&str]) -> Value {
        let mut queues = Queues::default();
        let events: Vec<Event> = lines
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut e = Event::parse(i + 1, t).unwrap();
                queues.resolve(&mut e);
                e
            })
            .collect();
        trace(&events)
    }

    fn of_phase<'a>(trace: &'a Value, ph: &str) -> Vec<&'a Value> {
        trace["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == ph).collect()
    }

    #[test]
    fn flows_join_sends_to_receives_by_queue_class_and_payload_in_order() {
        let t = chrome(&[
            r#"{"ts_ns":1000,"pid":1,"call":"mq_open","backend":"kernel","args":{"name":"/q"},"ret":3,"dur_ns":10}"#,
            // A receive that blocked from before the send until after it.
            r#"{"ts_ns":1500,"pid":2,"call":"mq_receive","args":{"mqdes":3,"msg_ptr":"b","msg_len":8,"msg_prio":2},"ret":1,"dur_ns":3000}"#,
            r#"{"ts_ns":2000,"pid":1,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"a","msg_len":1,"msg_prio":1},"ret":0,"dur_ns":100}"#,
            r#"{"ts_ns":2200,"pid":1,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"b","msg_len":1,"msg_prio":2},"ret":0,"dur_ns":100}"#,
            r#"{"ts_ns":2400,"pid":1,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"a","msg_len":1,"msg_prio":1},"ret":0,"dur_ns":100}"#,
            r#"{"ts_ns":5000,"pid":3,"call":"mq_receive","args":{"mqdes":3,"msg_ptr":"a","msg_len":8,"msg_prio":1},"ret":1,"dur_ns":100}"#,
            r#"{"ts_ns":6000,"pid":2,"call":"mq_receive","args":{"mqdes":3,"msg_ptr":"a","msg_len":8,"msg_prio":1},"ret":1,"dur_ns":100}"#,
            // Same payload and priority on another queue: no flow from /q.
            r#"{"ts_ns":7000,"pid":2,"call":"mq_receive","queue":"/other","args":{"mqdes":4,"msg_ptr":"a","msg_len":8,"msg_prio":1},"ret":1,"dur_ns":100}"#,
        ]);
        let (starts, finishes) = (of_phase(&t, "s"), of_phase(&t, "f"));
        assert_eq!((starts.len(), finishes.len()), (3, 3));
        let at = |e: &Value| (e["pid"].as_i64().unwrap(), e["ts"].as_f64().unwrap());
        // b: send at 2.2 µs → pid 2's blocked receive (ends at 4.5 µs); ends 3 ns inside the slices.
        assert_eq!(at(starts[0]), (1, 1.203));
        assert_eq!(at(finishes[0]), (2, 3.497));
        // the first a → pid 3, the second a → pid 2's second receive.
        assert_eq!((at(starts[1]), at(finishes[1])), ((1, 1.003), (3, 4.097)));
        assert_eq!((at(starts[2]), at(finishes[2])), ((1, 1.403), (2, 5.097)));
        for (s, f) in starts.iter().zip(&finishes) {
            assert_eq!((&s["id"], &s["cat"], &s["name"]), (&f["id"], &f["cat"], &f["name"]));
            assert_eq!(f["bp"], "e");
        }
        let names: Vec<&Value> = of_phase(&t, "M").iter().map(|m| &m["args"]["name"]).collect();
        assert_eq!(names, ["pid 1 (kernel)", "tid 1", "pid 2", "tid 2", "pid 3", "tid 3"]);
        assert_eq!(t["displayTimeUnit"], "ns");
    }

    #[test]
    fn sysv_flows_use_the_received_type_and_skip_cancelled_scheduled_messages() {
        let t = chrome(&[
            r#"{"ts_ns":0,"pid":1,"call":"msgget","args":{"key":"IPC_PRIVATE"},"ret":9,"dur_ns":10}"#,
            r#"{"ts_ns":100,"pid":1,"call":"msgsnd","args":{"msqid":9,"msgp":{"mtype":3,"mtext":"x"},"msgsz":1},"ret":0,"dur_ns":10}"#,
            r#"{"ts_ns":200,"pid":1,"call":"mqshim_msgsnd_at","args":{"msqid":9,"msgp":{"mtype":3,"mtext":"x"},"msgsz":1,"due":{"tv_sec":0,"tv_nsec":250},"handle":4},"ret":0,"dur_ns":10}"#,
            r#"{"ts_ns":220,"pid":1,"call":"mqshim_msg_cancel","args":{"msqid":9,"handle":4},"ret":0,"dur_ns":10}"#,
            r#"{"ts_ns":230,"pid":1,"call":"mqshim_msgsnd_at","args":{"msqid":9,"msgp":{"mtype":3,"mtext":"x"},"msgsz":1,"due":{"tv_sec":0,"tv_nsec":900},"handle":5},"ret":0,"dur_ns":10}"#,
            r#"{"ts_ns":300,"pid":2,"call":"msgrcv","args":{"msqid":9,"msgp":{"mtype":3,"mtext":"x"},"msgsz":8,"msgtyp":-5},"ret":1,"dur_ns":10}"#,
            r#"{"ts_ns":400,"pid":2,"call":"msgrcv","args":{"msqid":9,"msgp":{"mtype":3,"mtext":"x"},"msgsz":8,"msgtyp":0},"ret":1,"dur_ns":10}"#,
            r#"{"ts_ns":950,"pid":2,"call":"msgrcv","args":{"msqid":9,"msgp":{"mtype":3,"mtext":"x"},"msgsz":8,"msgtyp":3},"ret":1,"dur_ns":10}"#,
        ]);
        let starts: Vec<f64> = of_phase(&t, "s").iter().map(|e| e["ts"].as_f64().unwrap()).collect();
        let finishes: Vec<f64> = of_phase(&t, "f").iter().map(|e| e["ts"].as_f64().unwrap()).collect();
        // msgsnd → the first msgrcv; the cancelled one → nothing (the 400 ns receive has none);
        // the one due at 900 → the receive at 950.
        assert_eq!(starts, [0.103, 0.233]);
        assert_eq!(finishes, [0.307, 0.957]);
    }

    #[test]
    fn msg_copy_takes_nothing_and_msg_noerror_takes_a_cut_message() {
        let t = chrome(&[
            r#"{"ts_ns":0,"pid":1,"call":"msgsnd","args":{"msqid":9,"msgp":{"mtype":1,"mtext":"long text"},"msgsz":9},"ret":0,"dur_ns":10}"#,
            r#"{"ts_ns":100,"pid":2,"call":"msgrcv","args":{"msqid":9,"msgp":{"mtype":1,"mtext":"long text"},"msgsz":9,"msgtyp":0,"msgflg":"IPC_NOWAIT|MSG_COPY"},"ret":9,"dur_ns":10}"#,
            r#"{"ts_ns":200,"pid":2,"call":"msgrcv","args":{"msqid":9,"msgp":{"mtype":1,"mtext":"long"},"msgsz":4,"msgtyp":1,"msgflg":"MSG_NOERROR"},"ret":4,"dur_ns":10}"#,
        ]);
        let finishes: Vec<f64> = of_phase(&t, "f").iter().map(|e| e["ts"].as_f64().unwrap()).collect();
        assert_eq!(finishes, [0.207], "the copy takes nothing; the cut receive takes the message");
    }

    #[test]
    fn a_receive_without_priority_takes_the_highest_priority_message_of_its_text() {
        let t = chrome(&[
            r#"{"ts_ns":0,"pid":1,"queue":"/q","call":"mq_send","args":{"mqdes":3,"msg_ptr":"m","msg_len":1,"msg_prio":1},"ret":0,"dur_ns":10}"#,
            r#"{"ts_ns":100,"pid":1,"queue":"/q","call":"mq_send","args":{"mqdes":3,"msg_ptr":"m","msg_len":1,"msg_prio":9},"ret":0,"dur_ns":10}"#,
            r#"{"ts_ns":200,"pid":2,"queue":"/q","call":"mq_receive","args":{"mqdes":3,"msg_ptr":"m","msg_len":8,"msg_prio":null},"ret":1,"dur_ns":10}"#,
            r#"{"ts_ns":300,"pid":2,"queue":"/q","call":"mq_receive","args":{"mqdes":3,"msg_ptr":"m","msg_len":8,"msg_prio":null},"ret":1,"dur_ns":10}"#,
        ]);
        let starts: Vec<f64> = of_phase(&t, "s").iter().map(|e| e["ts"].as_f64().unwrap()).collect();
        assert_eq!(starts, [0.103, 0.003], "priority 9 (sent second) leaves first");
    }

    #[test]
    fn slices_of_a_thread_never_overlap() {
        let t = chrome(&[
            r#"{"ts_ns":0,"pid":1,"call":"mq_close","args":{"mqdes":3},"ret":0,"dur_ns":120}"#,
            r#"{"ts_ns":100,"pid":1,"call":"mq_close","args":{"mqdes":4},"ret":0,"dur_ns":50}"#,
            r#"{"ts_ns":100,"pid":2,"call":"mq_close","args":{"mqdes":4},"ret":0,"dur_ns":50}"#,
        ]);
        let durations: Vec<f64> = of_phase(&t, "X").iter().map(|e| e["dur"].as_f64().unwrap()).collect();
        assert_eq!(durations, [0.1, 0.05, 0.05]);
    }

    #[test]
    fn unfinished_calls_run_to_the_end_of_the_trace_and_resumed_ones_are_one_slice() {
        let t = chrome(&[
            r#"{"ts_ns":1000,"pid":1,"tid":1,"call":"mq_receive","args":{"mqdes":3},"unfinished":true}"#,
            r#"{"ts_ns":1200,"pid":2,"tid":2,"call":"msgrcv","args":{"msqid":1},"unfinished":true}"#,
            r#"{"ts_ns":1000,"pid":1,"tid":1,"call":"mq_receive","args":{"mqdes":3},"ret":-1,"errno":"EINTR","dur_ns":500,"resumed":true}"#,
            r#"{"ts_ns":3000,"pid":1,"tid":1,"call":"mq_close","args":{"mqdes":3},"ret":0,"dur_ns":1000}"#,
            r#"{"ts_ns":3500,"pid":1,"lost":2}"#,
        ]);
        let slices = of_phase(&t, "X");
        assert_eq!(slices.len(), 3);
        let find = |name: &str| *slices.iter().find(|s| s["name"] == name).unwrap();
        let receive = find("mq_receive");
        assert_eq!((receive["ts"].as_f64(), receive["dur"].as_f64()), (Some(0.0), Some(0.5)));
        assert_eq!((receive["args"]["resumed"].as_bool(), receive["args"]["errno"].as_str()), (Some(true), Some("EINTR")));
        let blocked = find("msgrcv");
        assert_eq!((blocked["ts"].as_f64(), blocked["dur"].as_f64(), blocked["args"]["unfinished"].as_bool()), (Some(0.2), Some(2.8), Some(true)));
        let lost = of_phase(&t, "i");
        assert_eq!((lost.len(), lost[0]["args"]["lost"].as_u64()), (1, Some(2)));
    }
}
