//! Tracing: one record per exported call, decoded arguments, result, errno and duration, as text
//! or JSON lines, written to stderr or a file.
//!
//! Tracing sits above the backend, so it shows the same calls whichever backend runs. When
//! `MQSHIM_TRACE` is unset there is no tracer and a call pays one branch.

pub mod decode;
pub mod jsonl;
pub mod line;
pub mod names;
pub mod queue_names;
pub mod sink;
pub mod text;

use std::mem::MaybeUninit;

use crate::call::Call;
use crate::config::{TraceConfig, TraceFormat};
use crate::errno::Errno;
use decode::{decode, Decoded, Scratch, NAME_PREVIEW};
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
    mono: libc::timespec,
}

fn now(clock: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer; these clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch { wall: now(libc::CLOCK_REALTIME), mono: now(libc::CLOCK_MONOTONIC) }
    }

    fn elapsed_ns(&self) -> u64 {
        let end = now(libc::CLOCK_MONOTONIC);
        let ns = (end.tv_sec - self.mono.tv_sec) as i128 * 1_000_000_000 + (end.tv_nsec - self.mono.tv_nsec) as i128;
        ns.max(0) as u64
    }
}

/// Small previews are built on the stack; larger ones (a big `MQSHIM_TRACE_BYTES`) on the heap.
const STACK_PAYLOAD: usize = 256;
/// Room for the default preview (32 bytes) with the name and the queue name (the worst case
/// of `need` below is 3376 bytes then).
const STACK_LINE: usize = 4096;

/// The process's tracer.
pub struct Tracer {
    sink: Sink,
    format: TraceFormat,
    payload_bytes: usize,
    backend: &'static str,
}

impl Tracer {
    pub fn new(config: &TraceConfig, backend: &'static str) -> Tracer {
        Tracer { sink: Sink::new(config.target.clone()), format: config.format, payload_bytes: config.payload_bytes, backend }
    }

    /// Writes the record of `call`, which started at `started` and ended with `outcome`.
    ///
    /// # Safety
    /// As for [`decode()`]: `call` holds a program's arguments, valid as the C API requires, to a
    /// call that has just returned `outcome`.
    pub unsafe fn record(&self, call: &Call, started: Stopwatch, outcome: Result<i64, Errno>, injected: Injected) {
        let dur_ns = started.elapsed_ns();
        let mut name = [0u8; NAME_PREVIEW];
        let mut small_payload = [0u8; STACK_PAYLOAD];
        let mut big_payload = Vec::new();
        let payload: &mut [u8] = if self.payload_bytes <= STACK_PAYLOAD {
            &mut small_payload[..self.payload_bytes]
        } else {
            big_payload.resize(self.payload_bytes, 0);
            &mut big_payload
        };
        // SAFETY: this function's contract.
        let args = unsafe { decode(call, outcome, Scratch { name: &mut name, payload }) };
        let mut queue_name = [0u8; queue_names::NAME_CAP];
        let queue = queue_names::of_call(call, &args, outcome, &mut queue_name);
        let (pid, tid) = crate::os::ids::current();
        let record = Record {
            wall: started.wall,
            pid,
            tid,
            call: call.name(),
            backend: self.backend,
            queue,
            args,
            outcome,
            dur_ns,
            injected: injected.errno,
            delayed: injected.delay,
        };

        // Worst case: every payload and name byte escaped to four characters.
        let need = 1024 + 4 * (self.payload_bytes + NAME_PREVIEW + queue_names::NAME_CAP);
        // The line buffer is written before it is read, so it is not zero-filled (at 3 KiB that
        // was a visible share of a record's cost).
        let mut small_line = [MaybeUninit::<u8>::uninit(); STACK_LINE];
        let mut big_line = Vec::new();
        let buf: &mut [MaybeUninit<u8>] = if need <= STACK_LINE {
            &mut small_line
        } else {
            big_line.resize(need, MaybeUninit::uninit());
            &mut big_line
        };
        let mut line = Line::new(buf);
        let _ = match self.format {
            TraceFormat::Text => text::render(&mut line, &record),
            TraceFormat::Jsonl => jsonl::render(&mut line, &record),
        };
        self.sink.write(line.finish(), pid);
    }
}
