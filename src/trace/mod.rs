//! Tracing: one record per exported call, decoded arguments, result, errno and duration, as text
//! or JSON lines, written to stderr or a file.
//!
//! Tracing sits above the backend, so it shows the same calls whichever backend runs. When
//! `MQSHIM_TRACE` is unset there is no tracer and a call pays one branch.

pub mod buffer;
pub mod decode;
pub mod jsonl;
pub mod line;
pub mod names;
pub mod queue_names;
pub mod sink;
pub mod text;
pub mod wire;

use std::mem::MaybeUninit;

use crate::call::Call;
use crate::config::{TraceConfig, TraceFormat};
use crate::errno::Errno;
use decode::{decode_into, Decoded, Scratch, NAME_PREVIEW};
use line::Line;
use sink::Sink;

/// A finished call, ready to be formatted.
pub struct Record<'a> {
    /// CLOCK_REALTIME when the call started.
    pub wall: libc::timespec,
    pub pid: libc::pid_t,
    pub tid: libc::pid_t,
    pub call: &'static str,
    pub backend: &'static str,
    /// The POSIX queue's name: `mq_open`'s and `mq_unlink`'s argument, or the name the
    /// descriptor was opened with in this process (see [`queue_names`]); None for System V
    /// calls and unknown descriptors.
    pub queue: Option<&'a [u8]>,
    pub args: Decoded<'a>,
    pub outcome: Result<i64, Errno>,
    /// How long the call took, including any time it blocked.
    pub dur_ns: u64,
    /// The failure (an errno) was injected by `MQSHIM_FAULTS`.
    pub injected: bool,
    /// A delay was injected by `MQSHIM_FAULTS` before the call ran (or failed).
    pub delayed: bool,
}

/// What `MQSHIM_FAULTS` did to a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    /// An errno was injected (the call never reached the backend).
    pub errno: bool,
    /// A delay was served before the call.
    pub delay: bool,
}

/// The start of a call, for its timestamp and duration.
#[derive(Clone, Copy)]
pub struct Stopwatch {
    wall: libc::timespec,
    /// The thread's number of a call that may block (pairs the collector's view of it running
    /// with its record); 0 for other calls.
    seq: u64,
}

fn now(clock: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer; these clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch { wall: now(libc::CLOCK_REALTIME), seq: 0 }
    }

    /// Time since the start, by the same clock: two clock reads per call, not three (a
    /// measurable share of a traced call). A step of the wall clock during a call (settimeofday,
    /// not NTP's slewing) shows in that call's duration; a backwards one gives 0.
    fn elapsed_ns(&self) -> u64 {
        let end = now(libc::CLOCK_REALTIME);
        let ns = (end.tv_sec - self.wall.tv_sec) as i128 * 1_000_000_000 + (end.tv_nsec - self.wall.tv_nsec) as i128;
        ns.max(0) as u64
    }
}

/// A re-entered tracer (a signal handler's queue call during a record) builds its record on the
/// stack, with previews of at most this many bytes and lines of at most STACK_LINE.
const STACK_PAYLOAD: usize = 256;
const STACK_LINE: usize = 4096;

/// The process a call is made for, when it is not the caller's own: a supervisor (`mqshim run`
/// on a statically linked program) makes the queue calls of the processes it serves, and their
/// records carry the served process's ids, not the supervisor's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub pid: libc::pid_t,
    pub tid: libc::pid_t,
    pub ppid: libc::pid_t,
}

thread_local! {
    /// Set by [`on_behalf_of`] while a supervisor thread serves a call.
    static ON_BEHALF_OF: std::cell::Cell<Option<Caller>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` (a call made for `caller`) with the trace records it makes carrying `caller`'s ids.
/// Only tracing reads this: the process's own pid stays its own everywhere else.
pub fn on_behalf_of<R>(caller: Caller, f: impl FnOnce() -> R) -> R {
    let before = ON_BEHALF_OF.with(|c| c.replace(Some(caller)));
    let result = f();
    ON_BEHALF_OF.with(|c| c.set(before));
    result
}

/// (pid, tid) a record carries: the served process's (see [`on_behalf_of`]), else the caller's.
fn record_ids() -> (libc::pid_t, libc::pid_t) {
    match ON_BEHALF_OF.try_with(|c| c.get()) {
        Ok(Some(c)) => (c.pid, c.tid),
        _ => crate::os::ids::current(),
    }
}

/// The parent pid a new trace buffer's header names.
fn caller_ppid() -> libc::pid_t {
    match ON_BEHALF_OF.try_with(|c| c.get()) {
        Ok(Some(c)) => c.ppid,
        // SAFETY: getppid cannot fail.
        _ => unsafe { libc::getppid() },
    }
}

/// Where a record is built: the decoded previews and the rendered line.
struct RecordScratch {
    name: [u8; NAME_PREVIEW],
    queue: [u8; queue_names::NAME_CAP],
    payload: Vec<u8>,
    line: Vec<MaybeUninit<u8>>,
}

impl Drop for RecordScratch {
    fn drop(&mut self) {
        // The memory goes back to the program's heap: it must not hand a later malloc of the
        // program the bytes of its messages (a program that reads memory it did not write saw
        // trace lines in a "fresh" buffer).
        self.name.fill(0);
        self.queue.fill(0);
        self.payload.fill(0);
        self.line.fill(MaybeUninit::new(0));
    }
}

thread_local! {
    /// Each thread's record scratch, made on its first traced call and kept: a record neither
    /// zero-fills kilobytes of stack nor allocates (and frees into the program's heap) per call.
    static SCRATCH: std::cell::RefCell<Option<Box<RecordScratch>>> = const { std::cell::RefCell::new(None) };
}

/// Where a tracer's records go.
enum Output {
    /// Rendered lines, one `write(2)` each (stderr or a file).
    Lines(Sink),
    /// Binary records in this process's shared-memory buffer, for `mqshim trace`.
    Shared(buffer::Writer),
}

/// The process's tracer.
pub struct Tracer {
    output: Output,
    format: TraceFormat,
    payload_bytes: usize,
    backend: &'static str,
}

/// Whether `call` may block (so that, to a collector, its start is recorded as it happens).
fn may_block(call: &Call) -> Option<i64> {
    match *call {
        Call::MqSend { mqdes, .. } | Call::MqReceive { mqdes, .. } => Some(mqdes.into()),
        Call::Msgsnd { id, flags, .. } | Call::Msgrcv { id, flags, .. } if flags & libc::IPC_NOWAIT == 0 => Some(id.into()),
        _ => None,
    }
}

impl Tracer {
    pub fn new(config: &TraceConfig, backend: &'static str) -> Tracer {
        let output = match &config.target {
            crate::config::TraceTarget::Shared { dir, capacity } => Output::Shared(buffer::Writer::new(dir.clone(), *capacity)),
            target => Output::Lines(Sink::new(target.clone())),
        };
        Tracer { output, format: config.format, payload_bytes: config.payload_bytes, backend }
    }

    /// Starts timing `call`. Into a shared buffer, a call that may block also leaves an entry
    /// record now (its first argument), so a collector sees it while it blocks.
    pub fn begin(&self, call: &Call) -> Stopwatch {
        let mut started = Stopwatch::start();
        if let Output::Shared(writer) = &self.output {
            if let Some(handle) = may_block(call) {
                let (pid, tid) = record_ids();
                let start_ns = started.wall.tv_sec as u64 * 1_000_000_000 + started.wall.tv_nsec as u64;
                let (seq, has_slot) = writer.running(call.number(), start_ns, handle, pid, tid);
                started.seq = seq;
                if !has_slot {
                    // No thread slot left: an entry record in the ring says the same.
                    let field = decode::Field {
                        name: if matches!(call, Call::Msgsnd { .. } | Call::Msgrcv { .. }) { decode::FieldName::Msqid } else { decode::FieldName::Mqdes },
                        value: decode::Value::Int(handle),
                    };
                    let record = Record {
                        wall: started.wall,
                        pid,
                        tid,
                        call: call.name(),
                        backend: self.backend,
                        args: Decoded::from_fields([field]),
                        outcome: Ok(0),
                        dur_ns: 0,
                        injected: false,
                        delayed: false,
                        queue: None,
                    };
                    writer.write(wire::Kind::Entry, &record, started.seq);
                }
            }
        }
        started
    }

    /// Writes the record of `call`, which started at `started` and ended with `outcome`.
    ///
    /// # Safety
    /// As for [`decode()`]: `call` holds a program's arguments, valid as the C API requires, to a
    /// call that has just returned `outcome`.
    pub unsafe fn record(&self, call: &Call, started: Stopwatch, outcome: Result<i64, Errno>, injected: Injected) {
        let dur_ns = started.elapsed_ns();
        let need = self.line_room();
        let done = SCRATCH.try_with(|cell| {
            let Ok(mut slot) = cell.try_borrow_mut() else { return false };
            let scratch = slot.get_or_insert_with(|| {
                Box::new(RecordScratch { name: [0; NAME_PREVIEW], queue: [0; queue_names::NAME_CAP], payload: Vec::new(), line: Vec::new() })
            });
            if scratch.payload.len() < self.payload_bytes {
                scratch.payload.resize(self.payload_bytes, 0);
            }
            if scratch.line.len() < need {
                scratch.line.resize(need, MaybeUninit::new(0));
            }
            let RecordScratch { name, queue, payload, line } = &mut **scratch;
            // SAFETY: this function's contract.
            unsafe { self.record_in(call, started, dur_ns, outcome, injected, name, queue, &mut payload[..self.payload_bytes], line) };
            true
        });
        if done != Ok(true) {
            // Re-entered (or the thread is exiting): a smaller record on the stack.
            let mut name = [0u8; NAME_PREVIEW];
            let mut queue = [0u8; queue_names::NAME_CAP];
            let mut payload = [0u8; STACK_PAYLOAD];
            let mut line = [MaybeUninit::<u8>::uninit(); STACK_LINE];
            let n = self.payload_bytes.min(STACK_PAYLOAD);
            // SAFETY: this function's contract.
            unsafe { self.record_in(call, started, dur_ns, outcome, injected, &mut name, &mut queue, &mut payload[..n], &mut line) };
        }
    }

    /// Room a rendered line may need: every payload and name byte escaped to five characters
    /// (in JSON the C escape `\x00` becomes `\\x00`); a cut record would not be valid JSON.
    fn line_room(&self) -> usize {
        match self.output {
            Output::Shared(_) => 0,
            Output::Lines(_) => 1024 + 5 * (self.payload_bytes + NAME_PREVIEW + queue_names::NAME_CAP),
        }
    }

    /// [`Tracer::record`] with its scratch memory.
    ///
    /// # Safety
    /// As for [`Tracer::record`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn record_in(
        &self,
        call: &Call,
        started: Stopwatch,
        dur_ns: u64,
        outcome: Result<i64, Errno>,
        injected: Injected,
        name: &mut [u8],
        queue_name: &mut [u8; queue_names::NAME_CAP],
        payload: &mut [u8],
        line_buf: &mut [MaybeUninit<u8>],
    ) {
        let (pid, tid) = record_ids();
        let mut record = Record {
            wall: started.wall,
            pid,
            tid,
            call: call.name(),
            backend: self.backend,
            queue: None,
            args: Decoded::empty(),
            outcome,
            dur_ns,
            injected: injected.errno,
            delayed: injected.delay,
        };
        // SAFETY: this function's contract.
        unsafe { decode_into(call, outcome, Scratch { name, payload }, &mut record.args) };
        record.queue = queue_names::of_call(call, &record.args, outcome, queue_name);
        let sink = match &self.output {
            Output::Shared(writer) => {
                if may_block(call).is_some() {
                    writer.returned(pid);
                }
                writer.write(wire::Kind::Call, &record, started.seq);
                return;
            }
            Output::Lines(sink) => sink,
        };
        let mut line = Line::new(line_buf);
        let _ = match self.format {
            TraceFormat::Text => text::render(&mut line, &record),
            TraceFormat::Jsonl => jsonl::render(&mut line, &record),
        };
        sink.write(line.finish(), pid);
    }
}

/// `record` as one line of `format` (no newline), for a collector formatting records read back
/// from shared buffers.
pub fn render(format: TraceFormat, record: &Record<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 4096 + 8 * (NAME_PREVIEW + record.args.fields().map(|f| f.value.preview_len()).sum::<usize>())];
    let mut line = Line::over(&mut buf);
    let _ = match format {
        TraceFormat::Text => text::render(&mut line, record),
        TraceFormat::Jsonl => jsonl::render(&mut line, record),
    };
    let mut out = line.finish().to_vec();
    if out.last() == Some(&b'\n') {
        out.pop();
    }
    out
}
