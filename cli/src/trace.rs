//! `mqshim trace`: runs a program with every process's records going into shared-memory buffers
//! (`MQSHIM_TRACE=shm:DIR`, see the core's `trace::buffer`), drains them while it runs, and
//! writes one stream in the order calls happened, strace-style.
//!
//! A call that may block leaves an entry record when it starts. If its record has not come by
//! the time the collector has looked twice ([`UNFINISHED_AFTER`]), the collector prints
//! `<unfinished ...>` for it, and `<... resumed>` when it returns; a process killed while
//! blocked leaves only the first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use std::ffi::OsStr;

use crate::launch::{self, Failure, RunOptions};
use mqshim_core::config::TraceFormat;
use mqshim_core::trace::buffer::{self, Mapped};
use mqshim_core::trace::wire::{Kind, OwnedRecord};

/// How often the collector reads the buffers.
const TICK: Duration = Duration::from_millis(10);
/// An entry record without its call's record for this long is printed as unfinished.
const UNFINISHED_AFTER: Duration = Duration::from_millis(20);
/// How long a line waits for records of earlier calls that reach the collector later.
const HOLD: Duration = Duration::from_millis(30);

/// How timestamps are shown in text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TimestampStyle {
    /// ISO 8601 UTC with nanoseconds (as MQSHIM_TRACE writes).
    Iso,
    /// None.
    None,
    /// Time of day, seconds (`-t`).
    Time,
    /// Time of day with microseconds (`-tt`).
    TimeUs,
    /// Seconds since the epoch with microseconds (`-ttt`).
    Epoch,
    /// Seconds since the previous record (`-r`).
    Relative,
}

/// What `mqshim trace` was asked for (its command-line options, parsed).
pub struct TraceOptions {
    pub output: Option<PathBuf>,
    pub per_process: bool,
    pub json: bool,
    pub timestamps: TimestampStyle,
    pub durations: bool,
    pub summary: bool,
    pub trace_too: bool,
    pub filters: Vec<String>,
    pub payload_bytes: Option<usize>,
    pub buffer_size: Option<String>,
}

/// Where lines go: one stream, or one file per process (`-ff`).
struct Outputs {
    single: Option<Box<dyn Write>>,
    per_process: Option<PathBuf>,
    files: HashMap<i32, std::fs::File>,
}

impl Outputs {
    fn write(&mut self, pid: i32, line: &[u8]) {
        let w: &mut dyn Write = match (&mut self.single, &self.per_process) {
            (Some(w), _) => w.as_mut(),
            (None, Some(base)) => {
                let file = self.files.entry(pid).or_insert_with(|| {
                    let mut p = base.clone().into_os_string();
                    p.push(format!(".{pid}"));
                    std::fs::File::create(&p).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", PathBuf::from(p).display())))
                });
                file
            }
            (None, None) => return,
        };
        let mut v = Vec::with_capacity(line.len() + 1);
        v.extend_from_slice(line);
        v.push(b'\n');
        if let Err(e) = w.write_all(&v) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                fail(&format!("cannot write the trace: {e}"));
            }
        }
    }

    fn flush(&mut self) {
        if let Some(w) = &mut self.single {
            let _ = w.flush();
        }
        for f in self.files.values_mut() {
            let _ = f.flush();
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("mqshim trace: {message}");
    std::process::exit(2)
}

/// One buffer being drained.
struct Source {
    map: Mapped,
    path: PathBuf,
    pid: i32,
    ppid: i32,
    created_ns: u64,
    lost_reported: u64,
}

/// Something to print, with the time it belongs at.
struct Item {
    at_ns: u64,
    pid: i32,
    /// In text, the thread the line's "pid/tid" names (None: a line of the process, no tid);
    /// the timestamp and it are prefixed when the line is printed, in print order.
    thread: Option<Option<i32>>,
    line: Vec<u8>,
    json: Option<String>,
}

/// The collector's state between ticks.
struct Collector<'o> {
    opts: &'o TraceOptions,
    dir: PathBuf,
    sources: BTreeMap<PathBuf, Source>,
    /// Entry records waiting for their call's record: (pid, tid) → (entry, printed as unfinished).
    pending: HashMap<(i32, i32), (OwnedRecord, bool, Instant)>,
    /// Calls printed as unfinished from a thread slot: (pid, tid, seq).
    shown_running: HashSet<(i32, i32, u64)>,
    bad: u64,
}

fn ns_of(r: &OwnedRecord) -> u64 {
    r.head.wall_ns
}

fn process_gone(pid: i32) -> bool {
    // A zombie (exited, not yet reaped) is gone too: it will write nothing more.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
        Err(_) => true,
    }
}

impl Collector<'_> {
    /// Opens buffer files that appeared since the last look.
    fn discover(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for e in entries.flatten() {
            let path = e.path();
            if self.sources.contains_key(&path) || !path.to_string_lossy().ends_with(buffer::SUFFIX) {
                continue;
            }
            // A file whose header is not yet written fails to open: tried again next tick.
            if let Ok(map) = buffer::open(&path) {
                let h = map.header();
                let (pid, ppid, created_ns) = (h.pid, h.ppid, h.created_ns);
                self.sources.insert(path.clone(), Source { map, path, pid, ppid, created_ns, lost_reported: 0 });
            }
        }
    }

    /// Reads every buffer: what to print, in order, and whether any writer may still write.
    fn tick(&mut self, final_round: bool) -> (Vec<Item>, bool) {
        self.discover();
        let mut records = Vec::new();
        let mut lost_items = Vec::new();
        let mut finished = Vec::new();
        // A buffer is finished when its process is gone, or has exec'd (a newer buffer of the pid).
        let newest: HashMap<i32, u64> = self.sources.values().fold(HashMap::new(), |mut m, s| {
            let e = m.entry(s.pid).or_insert(0);
            *e = (*e).max(s.created_ns);
            m
        });
        let now_wall = now_ns();
        let mut running = Vec::new();
        for s in self.sources.values_mut() {
            let gone = final_round || process_gone(s.pid) || newest.get(&s.pid).is_some_and(|&n| n > s.created_ns);
            for r in s.map.running() {
                let key = (s.pid, r.tid, r.seq);
                if !self.shown_running.contains(&key) && (gone || now_wall.saturating_sub(r.start_ns) >= UNFINISHED_AFTER.as_nanos() as u64) {
                    self.shown_running.insert(key);
                    running.push((s.pid, s.ppid, r));
                }
            }
            let before = records.len();
            self.bad += s.map.drain(&mut records, gone) as u64;
            for r in &mut records[before..] {
                // The record's process; its parent for descriptors it inherited.
                r.head.pid = s.pid;
            }
            let lost = s.map.header().lost.load(Ordering::Relaxed);
            if lost > s.lost_reported {
                lost_items.push((s.pid, s.ppid, lost - s.lost_reported));
                s.lost_reported = lost;
            }
            if gone {
                finished.push(s.path.clone());
            }
        }
        let ppids: HashMap<i32, i32> = self.sources.values().map(|s| (s.pid, s.ppid)).collect();
        for path in finished {
            if let Some(s) = self.sources.remove(&path) {
                let _ = std::fs::remove_file(&s.path);
            }
        }
        let now_ns = now_ns();
        let mut items: Vec<Item> = Vec::new();
        for (pid, ppid, n) in lost_items {
            items.push(self.lost_item(pid, ppid, n, now_ns));
        }
        for (pid, ppid, r) in running {
            items.push(self.running_item(pid, ppid, &r));
        }
        for r in records {
            let key = (r.head.pid, r.head.tid);
            let ppid = ppids.get(&r.head.pid).copied().unwrap_or(0);
            match r.kind() {
                Kind::Entry => {
                    self.pending.insert(key, (r, false, Instant::now()));
                }
                Kind::Call => {
                    let shown_running = self.shown_running.remove(&(r.head.pid, r.head.tid, r.head.seq));
                    let resumed = shown_running
                        || match self.pending.remove(&key) {
                            Some((entry, printed, _)) if entry.head.seq == r.head.seq => printed,
                            Some(other) => {
                                // Not its entry (a record lost in between): keep waiting for that one.
                                self.pending.insert(key, other);
                                false
                            }
                            None => false,
                        };
                    items.push(self.call_item(&r, ppid, resumed));
                }
                Kind::Padding => {}
            }
        }
        // Entries still waiting: printed as unfinished once old enough, or when their process is gone.
        let live: HashSet<i32> = self.sources.values().map(|s| s.pid).collect();
        let mut unfinished = Vec::new();
        for (key, (entry, printed, seen)) in self.pending.iter_mut() {
            if !*printed && (final_round || !live.contains(&key.0) || seen.elapsed() >= UNFINISHED_AFTER) {
                *printed = true;
                unfinished.push((entry.clone(), ppids.get(&key.0).copied().unwrap_or(0)));
            }
        }
        for (entry, ppid) in unfinished {
            items.push(self.unfinished_item(&entry, ppid));
        }
        // Calls whose process is gone will never resume.
        self.pending.retain(|k, _| live.contains(&k.0));
        self.shown_running.retain(|k| live.contains(&k.0));
        items.sort_by_key(|i| (i.at_ns, i.pid));
        (items, !self.sources.is_empty())
    }

    /// Whether records are needed as JSON besides the output (for -e or -c).
    fn wants_json(&self) -> bool {
        self.opts.json || self.opts.summary || !self.opts.filters.is_empty()
    }

    fn call_item(&mut self, r: &OwnedRecord, ppid: i32, resumed: bool) -> Item {
        let rec = r.as_record();
        let start = ns_of(r);
        let end = start + r.head.dur_ns;
        let json = if self.wants_json() { render_json(&rec, ppid, resumed) } else { String::new() };
        let line = if self.opts.json {
            json.clone().into_bytes()
        } else {
            let full = String::from_utf8_lossy(&mqshim_core::trace::render(TraceFormat::Text, &rec)).into_owned();
            // "ISO pid/tid call(args) = ret [marks] <dur>": keep what follows "pid/tid ".
            let body = full.splitn(3, ' ').nth(2).unwrap_or("").to_string();
            let mut body = if self.opts.durations { body } else { strip_duration(&body) };
            if resumed {
                // "call(first, rest" → "<... call resumed> rest"
                let open = format!("{}(", rec.call);
                if let Some(after) = body.strip_prefix(&open) {
                    let rest = after.split_once(", ").map_or(after, |(_, rest)| rest);
                    body = format!("<... {} resumed> {rest}", rec.call);
                }
            }
            body.into_bytes()
        };
        // A resumed call is shown when it returned; a whole one, when it started.
        let at_ns = if resumed { end } else { start };
        Item { at_ns, pid: r.head.pid, thread: (!self.opts.json).then_some(Some(r.head.tid)), line, json: self.wants_json().then_some(json) }
    }

    fn unfinished_item(&mut self, entry: &OwnedRecord, ppid: i32) -> Item {
        let rec = entry.as_record();
        let first = rec.args.fields().next().map(|f| match f.value {
            mqshim_core::trace::decode::Value::Int(n) => (f.name, n),
            _ => (f.name, 0),
        });
        let (name, arg) = first.unwrap_or((mqshim_core::trace::decode::FieldName::Mqdes, 0));
        self.unfinished(rec.pid, ppid, rec.tid, rec.call, rec.backend, ns_of(entry), name.as_str(), arg)
    }

    fn running_item(&mut self, pid: i32, ppid: i32, r: &mqshim_core::trace::buffer::Running) -> Item {
        let name = if r.call.starts_with("msg") { "msqid" } else { "mqdes" };
        // The slot does not say which backend; the record that resumes it will.
        self.unfinished(pid, ppid, r.tid, r.call, "", r.start_ns, name, r.arg)
    }

    #[allow(clippy::too_many_arguments)]
    fn unfinished(&mut self, pid: i32, ppid: i32, tid: i32, call: &str, backend: &str, start: u64, arg_name: &str, arg: i64) -> Item {
        let mut iso = String::new();
        let wall = libc::timespec { tv_sec: (start / 1_000_000_000) as i64, tv_nsec: (start % 1_000_000_000) as i64 };
        let _ = mqshim_core::trace::line::timestamp(&mut iso, wall);
        let backend = if backend.is_empty() { String::new() } else { format!(",\"backend\":\"{backend}\"") };
        let json = format!(
            "{{\"ts\":\"{iso}\",\"ts_ns\":{start},\"pid\":{pid},\"tid\":{tid},\"ppid\":{ppid},\"call\":\"{call}\"{backend},\"args\":{{\"{arg_name}\":{arg}}},\"unfinished\":true}}"
        );
        let line = if self.opts.json { json.clone().into_bytes() } else { format!("{call}({arg}, <unfinished ...>").into_bytes() };
        Item { at_ns: start, pid, thread: (!self.opts.json).then_some(Some(tid)), line, json: Some(json) }
    }

    fn lost_item(&mut self, pid: i32, ppid: i32, n: u64, now: u64) -> Item {
        let mut iso = String::new();
        let _ = mqshim_core::trace::line::timestamp(&mut iso, libc::timespec { tv_sec: (now / 1_000_000_000) as i64, tv_nsec: (now % 1_000_000_000) as i64 });
        let json = format!("{{\"ts\":\"{iso}\",\"ts_ns\":{now},\"pid\":{pid},\"ppid\":{ppid},\"lost\":{n}}}");
        let line = if self.opts.json { json.clone().into_bytes() } else { format!("{pid} +++ lost {n} records (trace buffer full) +++").into_bytes() };
        Item { at_ns: now, pid, thread: (!self.opts.json).then_some(None), line, json: Some(json) }
    }
}

/// A text line's start: its timestamp in `style` and, for a thread's line, "pid/tid ".
/// `last_ns` is the previous printed line's time (for `-r`).
fn text_prefix(style: TimestampStyle, ns: u64, last_ns: &mut u64, pid: i32, tid: Option<i32>) -> String {
    let mut s = String::new();
    let secs = (ns / 1_000_000_000) as i64;
    let sub = ns % 1_000_000_000;
    match style {
        TimestampStyle::Iso => {
            let _ = mqshim_core::trace::line::timestamp(&mut s, libc::timespec { tv_sec: secs, tv_nsec: sub as i64 });
            s.push(' ');
        }
        TimestampStyle::None => {}
        TimestampStyle::Time | TimestampStyle::TimeUs => {
            let day = secs.rem_euclid(86_400);
            s.push_str(&format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60));
            if style == TimestampStyle::TimeUs {
                s.push_str(&format!(".{:06}", sub / 1000));
            }
            s.push(' ');
        }
        TimestampStyle::Epoch => s.push_str(&format!("{secs}.{:06} ", sub / 1000)),
        TimestampStyle::Relative => {
            let d = if *last_ns == 0 { 0 } else { ns.saturating_sub(*last_ns) };
            s.push_str(&format!("{:>3}.{:06} ", d / 1_000_000_000, d % 1_000_000_000 / 1000));
        }
    }
    *last_ns = ns;
    if let Some(tid) = tid {
        s.push_str(&format!("{pid}/{tid} "));
    }
    s
}

/// The library's JSON line for `rec`, with the collector's fields: "ts_ns", "ppid", "resumed".
fn render_json(rec: &mqshim_core::trace::Record<'_>, ppid: i32, resumed: bool) -> String {
    let mut s = String::from_utf8_lossy(&mqshim_core::trace::render(TraceFormat::Jsonl, rec)).into_owned();
    let ns = rec.wall.tv_sec as u64 * 1_000_000_000 + rec.wall.tv_nsec as u64;
    let mut extra = String::new();
    if !s.contains("\"ts_ns\":") {
        extra.push_str(&format!(",\"ts_ns\":{ns}"));
    }
    extra.push_str(&format!(",\"ppid\":{ppid}"));
    if resumed {
        extra.push_str(",\"resumed\":true");
    }
    if s.ends_with('}') {
        s.pop();
        s.push_str(&extra);
        s.push('}');
    }
    s
}

/// "… = 0 <0.000001234>" → "… = 0".
fn strip_duration(body: &str) -> String {
    match body.rfind(" <") {
        Some(i) if body.ends_with('>') => body[..i].to_string(),
        _ => body.to_string(),
    }
}

fn now_ns() -> u64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    d.as_nanos() as u64
}

/// A private directory for the buffers: under /dev/shm (memory), else the temporary directory.
fn make_buffer_dir() -> PathBuf {
    for base in ["/dev/shm", &std::env::temp_dir().to_string_lossy()] {
        let template = format!("{base}/mqshim-trace.XXXXXX\0");
        let mut bytes = template.into_bytes();
        // SAFETY: bytes is a writable NUL-terminated template; mkdtemp makes a 0700 directory.
        let p = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
        if !p.is_null() {
            bytes.pop();
            return PathBuf::from(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    fail("cannot make a directory for the trace buffers (in /dev/shm or the temporary directory)")
}

/// Runs `program` traced. Returns how the program ended, or the launcher's failure.
pub fn run(opts: &TraceOptions, launch_options: &RunOptions, program: &OsStr, args: &[OsString]) -> Result<std::process::ExitStatus, Failure> {
    let filter = crate::report::filter::Filter::parse(&opts.filters).map_err(|e| Failure { status: 2, message: format!("mqshim trace: -e: {e}") })?;
    let mut outputs = Outputs { single: None, per_process: None, files: HashMap::new() };
    let show_trace = !opts.summary || opts.trace_too;
    if show_trace {
        match (&opts.output, opts.per_process) {
            (Some(base), true) => outputs.per_process = Some(base.clone()),
            (Some(path), false) => {
                let f = std::fs::File::create(path).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
                outputs.single = Some(Box::new(std::io::BufWriter::new(f)));
            }
            (None, _) => outputs.single = Some(Box::new(std::io::stderr())),
        }
    } else if let Some(path) = &opts.output {
        // -c -o FILE: the summary goes there at the end; a FILE that cannot be written is said
        // now, not after the program ran.
        std::fs::File::create(path).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
    }
    let dir = make_buffer_dir();
    let mut env: Vec<(String, OsString)> = Vec::new();
    let spec = match &opts.buffer_size {
        Some(size) => format!("shm,size={size}:{}", dir.display()),
        None => format!("shm:{}", dir.display()),
    };
    env.push(("MQSHIM_TRACE".into(), spec.into()));
    if let Some(n) = opts.payload_bytes {
        env.push(("MQSHIM_TRACE_BYTES".into(), n.to_string().into()));
    }
    let child = launch::prepare(launch_options, &env, program, args).and_then(launch::spawn_forwarding);
    let mut child = match child {
        Ok(c) => c,
        Err(failure) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(failure);
        }
    };
    let mut collector = Collector { opts, dir: dir.clone(), sources: BTreeMap::new(), pending: HashMap::new(), shown_running: HashSet::new(), bad: 0 };
    let filtering = !filter.is_empty();
    let mut selector = crate::report::Selector::new(filter);
    let mut summary = crate::report::summary::Summary::default();
    let mut parsed = 0usize;
    let mut last_ns = 0u64;
    // Lines wait HOLD before they are printed, so that records collected in different reads
    // still come out in time order (a record reaches the collector up to a read after its time).
    let mut held: Vec<Item> = Vec::new();
    let mut release = |new: Vec<Item>, all: bool| -> Vec<Item> {
        held.extend(new);
        held.sort_by_key(|i| (i.at_ns, i.pid));
        let cut = if all { held.len() } else { held.partition_point(|i| i.at_ns + HOLD.as_nanos() as u64 <= now_ns()) };
        held.drain(..cut).collect()
    };
    let mut emit = |items: Vec<Item>, outputs: &mut Outputs| {
        for item in &items {
            // Every record goes through the selector (it learns queue names from all of them);
            // those it admits are printed and counted.
            let admitted = match &item.json {
                Some(j) => {
                    parsed += 1;
                    match crate::report::event::Event::parse(parsed, j) {
                        Ok(e) => selector.admit(e),
                        Err(_) => None,
                    }
                }
                None => None,
            };
            if filtering && admitted.is_none() {
                continue;
            }
            if show_trace {
                match item.thread {
                    Some(tid) => {
                        let mut line = text_prefix(opts.timestamps, item.at_ns, &mut last_ns, item.pid, tid).into_bytes();
                        line.extend_from_slice(&item.line);
                        outputs.write(item.pid, &line);
                    }
                    None => outputs.write(item.pid, &item.line),
                }
            }
            if let Some(e) = &admitted {
                if opts.summary {
                    summary.add(e);
                }
            }
        }
        // Lines reach the file as they are collected (others may be watching it).
        outputs.flush();
    };
    let status = loop {
        std::thread::sleep(TICK);
        emit(release(collector.tick(false).0, false), &mut outputs);
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
    };
    // The program has ended; its descendants that still write are followed until they end too.
    loop {
        let (items, alive) = collector.tick(false);
        emit(release(items, false), &mut outputs);
        if !alive {
            break;
        }
        std::thread::sleep(TICK);
    }
    emit(release(collector.tick(true).0, true), &mut outputs);
    let bad = collector.bad;
    if opts.summary {
        // strace -c writes its table to stderr, or to -o's file.
        match &opts.output {
            Some(path) if !opts.per_process && opts.trace_too => {
                let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
                let _ = f.write_all(summary.render().as_bytes());
            }
            Some(path) if !opts.per_process => {
                std::fs::write(path, summary.render()).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
            }
            _ => eprint!("{}", summary.render()),
        }
    }
    if bad > 0 {
        eprintln!("mqshim trace: {bad} records could not be read (a writer died while writing, or a buffer was damaged)");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(status)
}

/// `mqshim trace`'s options: the launcher's (`mqshim run`'s) and the tracer's.
#[derive(clap::Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub launch: RunOptions,
    /// Write the trace to FILE instead of stderr (with --ff: FILE.PID, one per process).
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// One output file per process (`-ff` works too), named FILE.PID; needs -o.
    #[arg(long = "ff", requires = "output")]
    pub per_process: bool,
    /// Follow children (always on; accepted for strace's -f).
    #[arg(short = 'f')]
    pub follow: bool,
    /// Filter: call names or globs, comma-separated (`mq_*send`, `msgsnd,msgrcv`), or a queue
    /// (`/name`, `key=0x…`, `id=N`); repeat -e to require several.
    #[arg(short = 'e', value_name = "EXPR")]
    pub filters: Vec<String>,
    /// Show up to N payload bytes of each message (MQSHIM_TRACE_BYTES; default 32).
    #[arg(short = 's', value_name = "N", value_parser = clap::value_parser!(u16).range(0..=4096))]
    pub payload_bytes: Option<u16>,
    /// Timestamps: -t time of day, -tt with microseconds, -ttt seconds since the epoch.
    #[arg(short = 't', action = clap::ArgAction::Count)]
    pub time: u8,
    /// Timestamps relative to the previous line.
    #[arg(short = 'r')]
    pub relative: bool,
    /// Timestamp style (default iso; -t/-tt/-ttt/-r select the others).
    #[arg(long, value_enum)]
    pub timestamps: Option<TimestampStyle>,
    /// Show each call's duration (on by default; accepted for strace's -T).
    #[arg(short = 'T')]
    pub durations: bool,
    /// Do not show durations.
    #[arg(long, conflicts_with = "durations")]
    pub no_durations: bool,
    /// JSON lines instead of text (the fields of MQSHIM_TRACE_FORMAT=jsonl, plus ts_ns, ppid,
    /// unfinished/resumed and lost records).
    #[arg(long)]
    pub json: bool,
    /// Only a summary at exit: per call and per queue (like strace -c).
    #[arg(short = 'c')]
    pub summary: bool,
    /// The trace and the summary.
    #[arg(short = 'C', conflicts_with = "summary")]
    pub summary_too: bool,
    /// Each process's buffer in bytes (k/m/g suffixes; default 1m). A full buffer drops records
    /// and says how many.
    #[arg(long, value_name = "BYTES", value_parser = buffer_size)]
    pub buffer_size: Option<String>,
    /// The program and its arguments.
    #[arg(trailing_var_arg = true, required = true, allow_hyphen_values = true, value_name = "PROGRAM [ARGS]")]
    pub command: Vec<OsString>,
}

impl TraceArgs {
    fn options(&self) -> TraceOptions {
        let style = self.timestamps.unwrap_or(match (self.time, self.relative) {
            (_, true) => TimestampStyle::Relative,
            (0, _) => TimestampStyle::Iso,
            (1, _) => TimestampStyle::Time,
            (2, _) => TimestampStyle::TimeUs,
            _ => TimestampStyle::Epoch,
        });
        TraceOptions {
            output: self.output.clone(),
            per_process: self.per_process,
            json: self.json,
            timestamps: style,
            durations: !self.no_durations,
            summary: self.summary || self.summary_too,
            trace_too: self.summary_too,
            filters: self.filters.clone(),
            payload_bytes: self.payload_bytes.map(usize::from),
            buffer_size: self.buffer_size.clone(),
        }
    }
}

impl TraceOptions {
    /// What `mqshim run --trace` uses: the text trace on stderr.
    pub fn defaults() -> TraceOptions {
        TraceOptions {
            output: None,
            per_process: false,
            json: false,
            timestamps: TimestampStyle::Iso,
            durations: true,
            summary: false,
            trace_too: false,
            filters: Vec::new(),
            payload_bytes: None,
            buffer_size: None,
        }
    }
}

/// `--buffer-size`, checked as the library will check it.
fn buffer_size(text: &str) -> Result<String, String> {
    mqshim_core::config::trace_buffer_size(text).map(|_| text.to_string())
}

/// Runs `mqshim trace` and ends as the program ended.
pub fn main(args: &TraceArgs, dir: Option<&str>) -> ! {
    let launch_options = RunOptions { dir: dir.map(str::to_string), ..args.launch.clone() };
    traced(&args.options(), &launch_options, &args.command)
}

/// Runs `command` traced by `opts` and ends as it ended (`mqshim trace`, `mqshim run --trace`).
pub fn traced(opts: &TraceOptions, launch_options: &RunOptions, command: &[OsString]) -> ! {
    let (program, program_args) = command.split_first().expect("clap requires the program");
    match run(opts, launch_options, program, program_args) {
        Ok(status) => launch::exit_like(status),
        Err(failure) => {
            eprintln!("{}", failure.message);
            std::process::exit(i32::from(failure.status))
        }
    }
}
