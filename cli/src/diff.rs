//! `mqshim diff -- PROGRAM [ARGS]`: the differential checker. The program runs twice, each run
//! traced in JSON lines: once on the kernel (in a private IPC namespace when the machine allows
//! it) and once on the emulation (in a fresh namespace directory). Both runs get the same
//! environment and the same standard input. The traces are normalised — what legitimately
//! differs between two runs (times, pids, descriptors, System V ids) is replaced by what it
//! stands for — and compared thread by thread, call by call; the first call whose name,
//! arguments, result or errno differs (or that one run made and the other did not) is the
//! divergence. Exit statuses and standard output are compared too.
//!
//! Exit status: 0 no divergence, 1 a divergence, 2 a usage or launch error.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsString};
use std::io::{IsTerminal, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Map, Value};

use crate::launch;

/// Variables diff sets itself on each side; `--kernel-env`/`--emulate-env` may not change them.
const RESERVED: [&str; 4] = ["MQSHIM_BACKEND", "MQSHIM_TRACE", "MQSHIM_TRACE_FORMAT", "MQSHIM_DIR"];

/// How many payload bytes each record shows, and so compares (beyond them, lengths compare).
/// Not the library's maximum (4096): a JSON record sized for 4096 bytes escaped to "\\x00"
/// each is cut, and so no longer JSON; 1024 bytes of any content fit.
const PAYLOAD_BYTES: &str = "1024";

#[derive(Args)]
pub struct DiffArgs {
    /// Add VAR=VALUE to the kernel run's environment only (repeatable), e.g. a fault to inject
    /// on one side.
    #[arg(long = "kernel-env", value_name = "VAR=VALUE")]
    kernel_env: Vec<String>,
    /// Add VAR=VALUE to the emulation run's environment only (repeatable).
    #[arg(long = "emulate-env", value_name = "VAR=VALUE")]
    emulate_env: Vec<String>,
    /// Leave out the records of this call on both sides (repeatable; `*` matches any text and
    /// `?` one character, as in `mq_*send`), for calls a timing-dependent program makes a varying number of times.
    #[arg(long = "ignore-call", value_name = "NAME")]
    ignore_call: Vec<String>,
    /// Leave out the records of calls that failed with this errno on both sides (repeatable),
    /// e.g. EAGAIN for a program that retries non-blocking calls until they succeed.
    #[arg(long = "ignore-errno", value_name = "ERRNO")]
    ignore_errno: Vec<String>,
    /// Seconds each run may take; then its processes are killed and the run counts as timed out.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    timeout: u64,
    /// Keep what each run left in DIR (created if needed): kernel.jsonl, emulate.jsonl (the
    /// traces as written), kernel.stdout, emulate.stdout, kernel.stderr, emulate.stderr.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// The library to preload (default: found beside this command).
    #[arg(long, value_name = "PATH")]
    lib: Option<PathBuf>,
    /// The program and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "PROGRAM [ARGS]")]
    command: Vec<OsString>,
}

/// `mqshim diff`: runs both sides, compares them, prints the report.
pub fn main(args: &DiffArgs) -> ExitCode {
    match diff(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// One side of the comparison.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Kernel,
    Emulate,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Kernel => "kernel",
            Side::Emulate => "emulate",
        }
    }
}

/// How a run ended.
enum Ending {
    Exited(ExitStatus),
    TimedOut,
}

impl Ending {
    fn describe(&self) -> String {
        match self {
            Ending::Exited(s) => match (s.code(), s.signal()) {
                (Some(code), _) => format!("exit {code}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                _ => "ended".to_string(),
            },
            Ending::TimedOut => "timed out (killed)".to_string(),
        }
    }
}

/// What one run left: how it ended, its output and its trace.
struct Run {
    ending: Ending,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    trace: String,
    /// Where it ran (the IPC namespace, or the emulation's directory).
    place: String,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(parent: &Path, prefix: &str) -> Result<TempDir, String> {
        let template = CString::new(parent.join(format!("{prefix}.XXXXXX")).as_os_str().as_bytes()).map_err(|_| "mqshim: bad temporary path".to_string())?;
        let mut bytes = template.into_bytes_with_nul();
        // SAFETY: bytes is a NUL-terminated template ending in XXXXXX, which mkdtemp rewrites in place.
        let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
        if made.is_null() {
            return Err(format!("mqshim: cannot create a directory in {}: {}", parent.display(), std::io::Error::last_os_error()));
        }
        bytes.pop();
        Ok(TempDir(PathBuf::from(OsString::from_vec(bytes))))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn parse_assignments(list: &[String], option: &str) -> Result<Vec<(String, OsString)>, String> {
    list.iter()
        .map(|a| {
            let (k, v) = a.split_once('=').ok_or_else(|| format!("mqshim: diff: {option} '{a}': expected VAR=VALUE"))?;
            if k.is_empty() {
                return Err(format!("mqshim: diff: {option} '{a}': expected VAR=VALUE"));
            }
            if RESERVED.contains(&k) {
                return Err(format!("mqshim: diff: {option}: {k} is set by diff itself on each side"));
            }
            Ok((k.to_string(), OsString::from(v)))
        })
        .collect()
}

fn diff(args: &DiffArgs) -> Result<bool, String> {
    let kernel_env = parse_assignments(&args.kernel_env, "--kernel-env")?;
    let emulate_env = parse_assignments(&args.emulate_env, "--emulate-env")?;
    let library = launch::library_path(args.lib.as_deref())?;
    let (program, program_args) = args.command.split_first().ok_or("mqshim: diff: no program given")?;
    // The emulation's side must reach the program as `mqshim run` would: a program the preload
    // cannot reach (statically linked, set-user-ID, ...) would send both sides to the kernel and
    // compare them as equal. The launcher's own checks refuse it, naming why.
    let emulation_side = launch::RunOptions { backend: Some("emulate".into()), lib: args.lib.clone(), ..Default::default() };
    let checked = launch::prepare(&emulation_side, &[], program, program_args).map_err(|f| f.message.replacen("mqshim: ", "mqshim: diff: ", 1))?;
    // A statically linked program is served by `mqshim run`'s supervisor, which diff's runs
    // (through the preload, in a private IPC namespace) do not have.
    if checked.supervised() {
        checked.abandon();
        return Err(format!(
            "mqshim: diff: {} is statically linked: diff runs programs through the preload, which cannot reach it (mqshim run serves it, with --backend kernel or emulate)",
            Path::new(program).display()
        ));
    }
    drop(checked);
    // The same input for both runs: all of ours, read first (none from a terminal).
    let mut input = Vec::new();
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        stdin.lock().read_to_end(&mut input).map_err(|e| format!("mqshim: diff: cannot read standard input: {e}"))?;
    }
    let work = TempDir::new(Path::new("/dev/shm"), "mqshim-diff")?;
    let timeout = Duration::from_secs(args.timeout.max(1));

    let mut runs = Vec::new();
    for side in [Side::Kernel, Side::Emulate] {
        let trace = work.0.join(format!("{}.jsonl", side.name()));
        let mut env: Vec<(String, OsString)> = vec![
            ("MQSHIM_BACKEND".into(), side.name().into()),
            ("MQSHIM_TRACE".into(), trace.clone().into_os_string()),
            ("MQSHIM_TRACE_FORMAT".into(), "jsonl".into()),
            ("MQSHIM_TRACE_BYTES".into(), PAYLOAD_BYTES.into()),
        ];
        let namespace = work.0.join("namespace");
        if side == Side::Emulate {
            std::fs::create_dir(&namespace).map_err(|e| format!("mqshim: diff: cannot create {}: {e}", namespace.display()))?;
            env.push(("MQSHIM_DIR".into(), namespace.clone().into_os_string()));
        }
        env.extend(match side {
            Side::Kernel => kernel_env.iter().cloned(),
            Side::Emulate => emulate_env.iter().cloned(),
        });
        let mut run = run_side(side, &library, program, program_args, &env, &input, timeout)?;
        if side == Side::Emulate {
            run.place = format!("in the namespace directory {} (removed afterwards)", namespace.display());
        }
        run.trace = std::fs::read_to_string(&trace).unwrap_or_default();
        runs.push(run);
    }
    if let Some(dir) = &args.keep {
        keep(dir, &runs)?;
    }
    let emulate = runs.pop().expect("two runs");
    let kernel = runs.pop().expect("two runs");

    let filter = Filter { calls: args.ignore_call.clone(), errnos: args.ignore_errno.clone() };
    let kernel_trace = Trace::parse(&kernel.trace, &filter);
    let emulate_trace = Trace::parse(&emulate.trace, &filter);
    Ok(report(&kernel, &emulate, &kernel_trace, &emulate_trace))
}

/// Writes each run's trace and output into `dir` (`--keep`).
fn keep(dir: &Path, runs: &[Run]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("mqshim: diff: cannot create {}: {e}", dir.display()))?;
    for (side, run) in [Side::Kernel, Side::Emulate].into_iter().zip(runs) {
        for (what, bytes) in [("jsonl", run.trace.as_bytes()), ("stdout", &run.stdout[..]), ("stderr", &run.stderr[..])] {
            let path = dir.join(format!("{}.{what}", side.name()));
            std::fs::write(&path, bytes).map_err(|e| format!("mqshim: diff: cannot write {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Whether the kernel run gets its own mqueue mount (the host has one at /dev/mqueue, which
/// mqshim reads to count queues): then it also needs its own mount namespace.
fn host_has_mqueue_mount() -> bool {
    std::fs::read_to_string("/proc/self/mounts").map(|m| m.lines().any(|l| l.split_whitespace().nth(1) == Some("/dev/mqueue"))).unwrap_or(false)
}

/// The IPC namespace's settings (defaults and limits of both APIs). A new namespace starts
/// from the kernel's defaults; the emulation reads this machine's, so the kernel run gets
/// them copied into its namespace.
const IPC_SETTINGS: [&str; 8] = [
    "/proc/sys/fs/mqueue/msg_max",
    "/proc/sys/fs/mqueue/msgsize_max",
    "/proc/sys/fs/mqueue/msg_default",
    "/proc/sys/fs/mqueue/msgsize_default",
    "/proc/sys/fs/mqueue/queues_max",
    "/proc/sys/kernel/msgmax",
    "/proc/sys/kernel/msgmnb",
    "/proc/sys/kernel/msgmni",
];

/// This namespace's settings, as (file, value) to write into a new namespace.
fn ipc_settings() -> Vec<(CString, Vec<u8>)> {
    IPC_SETTINGS
        .iter()
        .filter_map(|path| {
            let value = std::fs::read(path).ok()?;
            Some((CString::new(*path).ok()?, value))
        })
        .collect()
}

/// Runs the program once on `side`; the kernel side in a private IPC namespace when possible.
fn run_side(
    side: Side,
    library: &Path,
    program: &std::ffi::OsStr,
    args: &[OsString],
    env: &[(String, OsString)],
    input: &[u8],
    timeout: Duration,
) -> Result<Run, String> {
    let private = side == Side::Kernel;
    let spawn = |private: bool| {
        let mut cmd = launch::command(library, program, args, env);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let remount = private && host_has_mqueue_mount();
        let target = c"/dev/mqueue";
        let fstype = c"mqueue";
        let root = c"/";
        let settings = if private { ipc_settings() } else { Vec::new() };
        // SAFETY: the closure runs in the child between fork and exec and makes only
        // async-signal-safe system calls on data prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                // Its own process group, so that a timeout kills every process of the run.
                if libc::setpgid(0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if private {
                    let flags = if remount { libc::CLONE_NEWIPC | libc::CLONE_NEWNS } else { libc::CLONE_NEWIPC };
                    if libc::unshare(flags) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // Best effort: a setting that cannot be written keeps the kernel's default.
                    for (path, value) in &settings {
                        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                        if fd >= 0 {
                            libc::write(fd, value.as_ptr().cast(), value.len());
                            libc::close(fd);
                        }
                    }
                    // /dev/mqueue shows this namespace's queues only through a mount of its own
                    // (mq_* calls do not need it; `ls` and mqshim's queue count do).
                    if remount && libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) == 0 {
                        libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null());
                    }
                }
                Ok(())
            });
        }
        cmd.spawn()
    };
    let (child, place) = match spawn(private) {
        Ok(child) => (child, if private { "in a private IPC namespace".to_string() } else { String::new() }),
        Err(e) if private && e.raw_os_error() == Some(libc::EPERM) => {
            let child = spawn(false).map_err(|e| launch_error(program, &e))?;
            (
                child,
                "in this machine's IPC namespace: a private one was refused (unshare: EPERM; it needs CAP_SYS_ADMIN), so queues the program leaves behind stay"
                    .to_string(),
            )
        }
        Err(e) => return Err(launch_error(program, &e)),
    };
    let (ending, stdout, stderr) = supervise(child, input, timeout);
    Ok(Run { ending, stdout, stderr, trace: String::new(), place })
}

fn launch_error(program: &std::ffi::OsStr, e: &std::io::Error) -> String {
    format!("mqshim: diff: cannot run {}: {e}", program.to_string_lossy())
}

/// Feeds `input` to the child, collects its output, and waits for it (and for every process
/// that holds its output open) until `timeout`, then kills its process group.
fn supervise(mut child: std::process::Child, input: &[u8], timeout: Duration) -> (Ending, Vec<u8>, Vec<u8>) {
    let deadline = Instant::now() + timeout;
    let pgid = child.id() as libc::pid_t;
    let mut stdin = child.stdin.take();
    let input = input.to_vec();
    // Writing may fail with EPIPE when the program does not read: that is its business.
    let feeder = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(&input);
        }
    });
    let (out_tx, out_rx) = mpsc::channel();
    for (which, pipe) in
        [(0, child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>)), (1, child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>))]
    {
        let tx = out_tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send((which, buf));
        });
    }
    drop(out_tx);
    let (status_tx, status_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = status_tx.send(child.wait());
    });
    let kill_group = || {
        // SAFETY: sends SIGKILL to the run's own process group (created by setpgid in the child).
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    };
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let mut timed_out = false;
    let status = match status_rx.recv_timeout(remaining()) {
        Ok(s) => s.ok(),
        Err(_) => {
            timed_out = true;
            kill_group();
            status_rx.recv().ok().and_then(Result::ok)
        }
    };
    let mut outputs = [Vec::new(), Vec::new()];
    for _ in 0..2 {
        let got = match out_rx.recv_timeout(remaining()) {
            Ok(got) => Some(got),
            Err(_) => {
                // Processes of the run still hold its output open past the deadline.
                timed_out = true;
                kill_group();
                out_rx.recv_timeout(Duration::from_secs(5)).ok()
            }
        };
        if let Some((which, buf)) = got {
            outputs[which] = buf;
        }
    }
    // Processes the program left running in the background go with it.
    kill_group();
    // The feeder is not waited for: a process that left the group may hold the pipe open.
    drop(feeder);
    let [stdout, stderr] = outputs;
    let ending = match (timed_out, status) {
        (false, Some(s)) => Ending::Exited(s),
        _ => Ending::TimedOut,
    };
    (ending, stdout, stderr)
}

/// Records left out of the comparison.
struct Filter {
    calls: Vec<String>,
    errnos: Vec<String>,
}

impl Filter {
    fn ignores(&self, record: &Value) -> bool {
        let call = record.get("call").and_then(Value::as_str).unwrap_or("");
        let errno = record.get("errno").and_then(Value::as_str);
        self.calls.iter().any(|p| mqshim_core::glob::matches(p, call)) || errno.is_some_and(|e| self.errnos.iter().any(|x| x == e))
    }
}

/// One traced call.
struct Call {
    /// The record as the library wrote it.
    original: String,
    /// Normalised: only what is compared (call, args, ret, errno).
    normal: Value,
    /// Where it sits: the call's start, for ordering within its process.
    start: (i64, String),
}

/// One thread's calls in the order it made them.
struct Thread {
    label: String,
    calls: Vec<Call>,
}

/// A run's trace, normalised: processes in creation (pid) order, each with its threads in
/// creation (tid) order.
struct Trace {
    processes: Vec<Vec<Thread>>,
    records: usize,
    /// Lines that were not records of a finished call, and why.
    notes: Vec<String>,
}

/// A record's start time as a sortable pair: `ts_ns` when present, else the ISO `ts` (fixed
/// width, so it sorts as text).
fn start_of(v: &Value) -> (i64, String) {
    (v.get("ts_ns").and_then(Value::as_i64).unwrap_or(0), v.get("ts").and_then(Value::as_str).unwrap_or("").to_string())
}

impl Trace {
    fn parse(text: &str, filter: &Filter) -> Trace {
        let mut notes = Vec::new();
        let mut lost = 0;
        let mut raw: Vec<(Value, String)> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                notes.push(format!("line {} is not JSON: {}", n + 1, line.chars().take(120).collect::<String>()));
                continue;
            };
            if let Some(n) = v.get("lost").and_then(Value::as_u64) {
                lost += n;
                continue;
            }
            // A call seen while it ran: its finished record follows (or the process died in it).
            if v.get("unfinished").and_then(Value::as_bool) == Some(true) || v.get("call").is_none() {
                continue;
            }
            if filter.ignores(&v) {
                continue;
            }
            raw.push((v, line.to_string()));
        }
        if lost > 0 {
            notes.push(format!("{lost} records were lost (a full trace buffer): the comparison is incomplete"));
        }
        let records = raw.len();
        // Records are written when calls return; order them by when the calls started.
        raw.sort_by_key(|(v, _)| start_of(v));
        let names = Names::learn(&raw);
        let mut processes: BTreeMap<usize, BTreeMap<usize, Thread>> = BTreeMap::new();
        let mut descriptors = Descriptors::default();
        for (v, original) in raw {
            let pid = v.get("pid").and_then(Value::as_i64).unwrap_or(0);
            let tid = v.get("tid").and_then(Value::as_i64).unwrap_or(pid);
            let process = names.process[&pid];
            let (thread, label) = names.thread(pid, tid);
            let normal = normalise(&v, pid, &names, &mut descriptors);
            processes.entry(process).or_default().entry(thread).or_insert_with(|| Thread { label, calls: Vec::new() }).calls.push(Call {
                start: start_of(&v),
                original,
                normal,
            });
        }
        Trace { processes: processes.into_values().map(|t| t.into_values().collect()).collect(), records, notes }
    }
}

/// The kernel's pid_max: pids and tids count up to it, then start again from the bottom.
fn pid_max() -> i64 {
    std::fs::read_to_string("/proc/sys/kernel/pid_max").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(4_194_304)
}

/// Sorts and deduplicates `ids` (pids or tids of one run) into the order they were handed out.
/// That is ascending, unless the run's ids wrapped past pid_max: the ids then sit on a short
/// arc of the circle 0..pid_max, which starts after the largest gap between neighbours.
fn in_creation_order(ids: &mut Vec<i64>) {
    ids.sort_unstable();
    ids.dedup();
    let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else { return };
    let wrap_gap = pid_max() - last + first;
    let (gap, at) = ids.windows(2).enumerate().map(|(i, w)| (w[1] - w[0], i + 1)).max().unwrap_or((0, 0));
    if gap > wrap_gap {
        ids.rotate_left(at);
    }
}

/// What pids, tids and System V ids stand for in one run.
#[derive(Default)]
struct Names {
    /// pid -> process ordinal (0-based), by pid: the order the processes were created in.
    process: HashMap<i64, usize>,
    /// (pid, tid) -> thread ordinal within its process (0 for the main thread).
    threads: HashMap<(i64, i64), usize>,
    /// msqid -> what it is: the key it was created for (and which queue of that key), or the
    /// n-th IPC_PRIVATE queue.
    msqids: HashMap<i64, String>,
}

impl Names {
    fn learn(records: &[(Value, String)]) -> Names {
        let mut names = Names::default();
        let mut pids: Vec<i64> = Vec::new();
        let mut tids: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (v, _) in records {
            let pid = v.get("pid").and_then(Value::as_i64).unwrap_or(0);
            let tid = v.get("tid").and_then(Value::as_i64).unwrap_or(pid);
            pids.push(pid);
            tids.entry(pid).or_default().push(tid);
        }
        in_creation_order(&mut pids);
        for (i, pid) in pids.iter().enumerate() {
            names.process.insert(*pid, i);
        }
        for (pid, mut list) in tids {
            in_creation_order(&mut list);
            // The main thread (tid == pid) first, then the others in creation order.
            list.sort_by_key(|t| *t != pid);
            for (i, tid) in list.into_iter().enumerate() {
                names.threads.insert((pid, tid), i);
            }
        }
        let mut per_key: HashMap<String, usize> = HashMap::new();
        let mut private = 0;
        for (v, _) in records {
            if v.get("call").and_then(Value::as_str) != Some("msgget") {
                continue;
            }
            let Some(id) = v.get("ret").and_then(Value::as_i64).filter(|id| *id >= 0) else { continue };
            if names.msqids.contains_key(&id) {
                continue;
            }
            let key = v.pointer("/args/key").and_then(Value::as_str).unwrap_or("?").to_string();
            let label = if key == "IPC_PRIVATE" || key == "0x00000000" {
                private += 1;
                format!("msqid(IPC_PRIVATE #{private})")
            } else {
                let n = per_key.entry(key.clone()).or_default();
                *n += 1;
                if *n == 1 {
                    format!("msqid(key {key})")
                } else {
                    format!("msqid(key {key} #{n})")
                }
            };
            names.msqids.insert(id, label);
        }
        names
    }

    fn pid_label(&self, pid: i64) -> Option<String> {
        self.process.get(&pid).map(|p| format!("p{}", p + 1))
    }

    /// A thread's ordinal in its process and its label ("p2" for a main thread, "p2/t1" for the
    /// first other one).
    fn thread(&self, pid: i64, tid: i64) -> (usize, String) {
        let p = self.pid_label(pid).unwrap_or_default();
        match self.threads.get(&(pid, tid)).copied().unwrap_or(0) {
            0 if tid == pid => (0, p),
            n => (n, format!("{p}/t{n}")),
        }
    }
}

/// POSIX descriptors: per process, the value each successful mq_open returned, labelled by the
/// order of the opens ("d1", "d2"…); a descriptor a process did not open itself (inherited) is
/// named after the last open of that value in an earlier-created process ("p1:d2").
#[derive(Default)]
struct Descriptors {
    /// (process ordinal, value) -> label, as of the record being normalised.
    open: HashMap<(usize, i64), String>,
    opens: HashMap<usize, usize>,
}

impl Descriptors {
    fn opened(&mut self, process: usize, value: i64) -> String {
        let n = self.opens.entry(process).or_default();
        *n += 1;
        let label = format!("d{n}");
        self.open.insert((process, value), label.clone());
        label
    }

    fn name(&self, process: usize, value: i64) -> Option<String> {
        if let Some(l) = self.open.get(&(process, value)) {
            return Some(l.clone());
        }
        (0..process).rev().find_map(|p| self.open.get(&(p, value)).map(|l| format!("p{}:{l}", p + 1)))
    }
}

/// The compared part of a record, with what legitimately differs between runs replaced.
fn normalise(v: &Value, pid: i64, names: &Names, descriptors: &mut Descriptors) -> Value {
    let process = names.process.get(&pid).copied().unwrap_or(0);
    let call = v.get("call").and_then(Value::as_str).unwrap_or("").to_string();
    let mut args = v.get("args").cloned().unwrap_or(Value::Null);
    if let Value::Object(map) = &mut args {
        for (k, a) in map.iter_mut() {
            match (k.as_str(), a.as_i64()) {
                ("mqdes", Some(fd)) => {
                    if let Some(l) = descriptors.name(process, fd) {
                        *a = Value::String(l);
                    }
                }
                ("msqid", Some(id)) if call != "msgctl" || !is_index_cmd(v) => {
                    if let Some(l) = names.msqids.get(&id) {
                        *a = Value::String(l.clone());
                    }
                }
                _ => normalise_value(k, a, names),
            }
        }
    }
    // A failed call moved no message: its buffer holds whatever the program left there
    // (uninitialised memory, often), which need not be the same in two runs.
    if v.get("errno").is_some_and(|e| !e.is_null()) {
        if let Some(Value::String(text)) = args.get_mut("msg_ptr") {
            *text = "<not transferred>".into();
        }
        if let Some(Value::String(text)) = args.pointer_mut("/msgp/mtext") {
            *text = "<not transferred>".into();
        }
    }
    let mut ret = v.get("ret").cloned().unwrap_or(Value::Null);
    if let Some(r) = ret.as_i64().filter(|r| *r >= 0) {
        match call.as_str() {
            "mq_open" => ret = Value::String(descriptors.opened(process, r)),
            "msgget" => ret = names.msqids.get(&r).map_or(ret, |l| Value::String(l.clone())),
            "msgctl" if is_index_cmd(v) => ret = names.msqids.get(&r).map_or(ret, |l| Value::String(l.clone())),
            _ => {}
        }
    }
    let mut out = Map::new();
    out.insert("call".into(), Value::String(call));
    out.insert("args".into(), args);
    out.insert("ret".into(), ret);
    out.insert("errno".into(), v.get("errno").cloned().unwrap_or(Value::Null));
    Value::Object(out)
}

/// msgctl commands whose msqid is an index into the kernel's table and whose result is an id.
fn is_index_cmd(v: &Value) -> bool {
    matches!(v.pointer("/args/cmd").and_then(Value::as_str), Some("MSG_STAT" | "MSG_STAT_ANY"))
}

/// Normalises one value named `key`, recursively: times dropped, pids named, pointers hidden.
fn normalise_value(key: &str, v: &mut Value, names: &Names) {
    match v {
        Value::Object(map) => {
            // A deadline (abs_timeout, due) is an absolute time: only whether it was valid counts.
            if let (Some(sec), Some(nsec)) = (map.get("tv_sec").and_then(Value::as_i64), map.get("tv_nsec").and_then(Value::as_i64)) {
                if sec >= 1_000_000_000 && (0..1_000_000_000).contains(&nsec) {
                    *v = Value::String("<a time now or later>".into());
                    return;
                }
            }
            map.retain(|k, _| !matches!(k.as_str(), "msg_stime" | "msg_rtime" | "msg_ctime" | "seq"));
            for (k, inner) in map.iter_mut() {
                normalise_value(k, inner, names);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| normalise_value(key, i, names)),
        Value::Number(n) if key.ends_with("pid") => {
            if let Some(label) = n.as_i64().filter(|p| *p > 0).and_then(|p| names.pid_label(p)) {
                *v = Value::String(label);
            } else if n.as_i64().is_some_and(|p| p > 0) {
                *v = Value::String("<a pid not traced>".into());
            }
        }
        Value::String(s) if key != "key" && is_address(s) => *v = Value::String("<pointer>".into()),
        _ => {}
    }
}

fn is_address(s: &str) -> bool {
    s.strip_prefix("0x").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A found difference between the traces.
struct Divergence<'a> {
    thread: String,
    index: usize,
    kernel: Option<&'a Call>,
    emulate: Option<&'a Call>,
}

/// Compares two threads' calls; the first index where they differ.
fn first_difference(kernel: &[Call], emulate: &[Call]) -> Option<usize> {
    let common = kernel.len().min(emulate.len());
    (0..common).find(|&i| kernel[i].normal != emulate[i].normal).or((kernel.len() != emulate.len()).then_some(common))
}

fn show_call(out: &mut String, side: Side, call: Option<&Call>, what_if_none: &str) {
    use std::fmt::Write as _;
    match call {
        Some(c) => {
            let _ = writeln!(out, "  {:<7} normalised: {}", side.name(), c.normal);
            let _ = writeln!(out, "  {:<7} as traced:  {}", side.name(), c.original);
        }
        None => {
            let _ = writeln!(out, "  {:<7} {what_if_none}", side.name());
        }
    }
}

/// Prints the comparison; true when nothing diverged.
fn report(kernel: &Run, emulate: &Run, kt: &Trace, et: &Trace) -> bool {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (side, run, trace) in [(Side::Kernel, kernel, kt), (Side::Emulate, emulate, et)] {
        let threads: usize = trace.processes.iter().map(Vec::len).sum();
        let _ = writeln!(
            out,
            "{:<7} run {}: {}, {} calls traced in {} processes ({} threads)",
            side.name(),
            run.place,
            run.ending.describe(),
            trace.records,
            trace.processes.len(),
            threads
        );
        for note in &trace.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }

    let mut divergences: Vec<Divergence> = Vec::new();
    let nprocesses = kt.processes.len().max(et.processes.len());
    let empty = Vec::new();
    for p in 0..nprocesses {
        let kp = kt.processes.get(p).unwrap_or(&empty);
        let ep = et.processes.get(p).unwrap_or(&empty);
        for t in 0..kp.len().max(ep.len()) {
            let (kc, ec) = (kp.get(t).map_or(&[][..], |t| &t.calls[..]), ep.get(t).map_or(&[][..], |t| &t.calls[..]));
            let label = kp.get(t).or(ep.get(t)).map(|t| t.label.clone()).unwrap_or_default();
            if let Some(i) = first_difference(kc, ec) {
                divergences.push(Divergence { thread: label, index: i, kernel: kc.get(i), emulate: ec.get(i) });
            }
        }
    }
    // The divergence is the one that happened first (by the start of the kernel side's call).
    divergences.sort_by_key(|d| d.kernel.or(d.emulate).map(|c| c.start.clone()).unwrap_or_default());
    let mut same = true;
    if !divergences.is_empty() {
        let _ = writeln!(
            out,
            "(processes are matched in the order they were created, threads within a process likewise; each thread's calls are compared in the order it made them)"
        );
    }
    for (n, d) in divergences.iter().enumerate() {
        same = false;
        let (kc, ec) = (d.kernel, d.emulate);
        let call = kc.or(ec).and_then(|c| c.normal.get("call")).and_then(Value::as_str).unwrap_or("?");
        let _ = writeln!(
            out,
            "{}: thread {}, call #{} ({call}){}",
            if n == 0 { "DIVERGENCE" } else { "also diverges" },
            d.thread,
            d.index + 1,
            match (kc, ec) {
                (Some(_), None) => " — only the kernel run made it",
                (None, Some(_)) => " — only the emulation run made it",
                _ => "",
            }
        );
        show_call(&mut out, Side::Kernel, kc, "(no such call: the thread made fewer calls)");
        show_call(&mut out, Side::Emulate, ec, "(no such call: the thread made fewer calls)");
    }
    let (ke, ee) = (kernel.ending.describe(), emulate.ending.describe());
    if ke != ee {
        same = false;
        let _ = writeln!(out, "DIVERGENCE: exit status: kernel {ke}, emulate {ee}");
    }
    if kernel.stdout != emulate.stdout {
        same = false;
        let _ = writeln!(out, "DIVERGENCE: standard output differs{}", first_line_difference(&kernel.stdout, &emulate.stdout));
    }
    if kernel.stderr != emulate.stderr {
        let _ = writeln!(out, "note: standard error differs (not compared){}", first_line_difference(&kernel.stderr, &emulate.stderr));
    }
    if matches!((&kernel.ending, &emulate.ending), (Ending::TimedOut, Ending::TimedOut)) {
        let _ = writeln!(out, "note: both runs timed out: compared up to where they were killed (a call still blocked then has no record)");
    }
    if kt.records == 0 && et.records == 0 {
        let _ = writeln!(out, "note: no call was traced in either run (does the program use message queues? is it dynamically linked?)");
    }
    if same {
        let _ = writeln!(out, "no divergence");
    }
    if let Err(message) = crate::print_stdout(&out) {
        eprintln!("{message}");
    }
    same
}

/// Where two outputs first differ, as " at line N:" and both lines.
fn first_line_difference(a: &[u8], b: &[u8]) -> String {
    let (al, bl): (Vec<&[u8]>, Vec<&[u8]>) = (a.split(|c| *c == b'\n').collect(), b.split(|c| *c == b'\n').collect());
    let n = (0..al.len().max(bl.len())).find(|&i| al.get(i) != bl.get(i)).unwrap_or(0);
    let show = |l: Option<&&[u8]>| l.map_or("(none)".to_string(), |l| format!("{:?}", String::from_utf8_lossy(l)));
    format!(" at line {}:\n  kernel:  {}\n  emulate: {}", n + 1, show(al.get(n)), show(bl.get(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(lines: &[&str]) -> Trace {
        Trace::parse(&lines.join("\n"), &Filter { calls: vec![], errnos: vec![] })
    }

    fn normal(t: &Trace, process: usize, call: usize) -> String {
        t.processes[process][0].calls[call].normal.to_string()
    }

    #[test]
    fn pids_descriptors_and_times_are_named_not_compared() {
        // The same calls in two runs, with other pids, descriptors, times and addresses.
        let a = trace(&[
            r#"{"ts":"2026-01-01T00:00:00.000000001Z","pid":100,"tid":100,"call":"mq_open","backend":"kernel","args":{"name":"/q","oflag":"O_RDWR"},"ret":3,"errno":null,"dur_ns":5}"#,
            r#"{"ts":"2026-01-01T00:00:00.000000003Z","pid":107,"tid":107,"call":"mq_timedreceive","backend":"kernel","args":{"mqdes":3,"msg_ptr":"0x7ffc0","msg_len":8,"msg_prio":null,"abs_timeout":{"tv_sec":1796446281,"tv_nsec":48637087}},"ret":-1,"errno":"ETIMEDOUT","dur_ns":5}"#,
            r#"{"ts":"2026-01-01T00:00:00.000000002Z","pid":100,"tid":100,"call":"mq_send","backend":"kernel","args":{"mqdes":3,"msg_ptr":"hi","msg_len":2,"msg_prio":1},"ret":0,"errno":null,"dur_ns":5}"#,
        ]);
        let b = trace(&[
            r#"{"ts":"2026-01-01T00:00:09.000000001Z","pid":200,"tid":200,"call":"mq_open","backend":"emulate","args":{"name":"/q","oflag":"O_RDWR"},"ret":5,"errno":null,"dur_ns":9}"#,
            r#"{"ts":"2026-01-01T00:00:09.000000002Z","pid":200,"tid":200,"call":"mq_send","backend":"emulate","args":{"mqdes":5,"msg_ptr":"hi","msg_len":2,"msg_prio":1},"ret":0,"errno":null,"dur_ns":9}"#,
            r#"{"ts":"2026-01-01T00:00:09.000000003Z","pid":201,"tid":201,"call":"mq_timedreceive","backend":"emulate","args":{"mqdes":5,"msg_ptr":"0x7ffd8","msg_len":8,"msg_prio":null,"abs_timeout":{"tv_sec":1796446999,"tv_nsec":1}},"ret":-1,"errno":"ETIMEDOUT","dur_ns":9}"#,
        ]);
        for p in 0..2 {
            for c in 0..a.processes[p][0].calls.len() {
                assert_eq!(normal(&a, p, c), normal(&b, p, c));
            }
        }
        assert!(normal(&a, 0, 0).contains(r#""ret":"d1""#));
        assert!(normal(&a, 1, 0).contains(r#""mqdes":"p1:d1""#), "inherited descriptor named after its opener");
        // A different payload is a difference.
        let c = trace(&[r#"{"ts":"1","pid":1,"tid":1,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"ho","msg_len":2,"msg_prio":1},"ret":0,"errno":null}"#]);
        let d = trace(&[r#"{"ts":"1","pid":1,"tid":1,"call":"mq_send","args":{"mqdes":3,"msg_ptr":"hi","msg_len":2,"msg_prio":1},"ret":0,"errno":null}"#]);
        assert_eq!(first_difference(&c.processes[0][0].calls, &d.processes[0][0].calls), Some(0));
    }

    #[test]
    fn ids_that_wrapped_past_pid_max_keep_the_order_they_were_handed_out() {
        let max = pid_max();
        let mut wrapped = vec![301, max - 3, 300, max - 1];
        in_creation_order(&mut wrapped);
        assert_eq!(wrapped, vec![max - 3, max - 1, 300, 301]);
        let mut plain = vec![207, 200, 200, 9000];
        in_creation_order(&mut plain);
        assert_eq!(plain, vec![200, 207, 9000]);
    }

    #[test]
    fn msqids_are_named_by_key_and_msqid_ds_times_dropped() {
        let one = |id: i64, pid: i64, stime: i64| {
            trace(&[
                &format!(
                    r#"{{"ts":"1","pid":{pid},"tid":{pid},"call":"msgget","args":{{"key":"0x0000002a","msgflg":"IPC_CREAT|0600"}},"ret":{id},"errno":null}}"#
                ),
                &format!(
                    r#"{{"ts":"2","pid":{pid},"tid":{pid},"call":"msgctl","args":{{"msqid":{id},"cmd":"IPC_STAT","buf":{{"msg_perm":{{"key":"0x0000002a","seq":{id}}},"msg_stime":{stime},"msg_qnum":0,"msg_lspid":{pid},"msg_lrpid":0}}}},"ret":0,"errno":null}}"#
                ),
            ])
        };
        let (a, b) = (one(0, 10, 1796446281), one(32768, 20, 1796446999));
        assert_eq!(normal(&a, 0, 1), normal(&b, 0, 1));
        assert!(normal(&a, 0, 1).contains(r#""msqid":"msqid(key 0x0000002a)""#));
        assert!(normal(&a, 0, 1).contains(r#""msg_lspid":"p1""#));
    }

    #[test]
    fn ignored_calls_and_errnos_are_left_out() {
        let filter = Filter { calls: vec!["msgctl".into()], errnos: vec!["EAGAIN".into()] };
        let t = Trace::parse(
            concat!(
                r#"{"ts":"1","pid":1,"tid":1,"call":"msgctl","args":{},"ret":0,"errno":null}"#,
                "\n",
                r#"{"ts":"2","pid":1,"tid":1,"call":"msgsnd","args":{},"ret":-1,"errno":"EAGAIN"}"#,
                "\n",
                r#"{"ts":"3","pid":1,"tid":1,"call":"msgsnd","args":{},"ret":0,"errno":null}"#
            ),
            &filter,
        );
        assert_eq!(t.records, 1);
    }
}
