//! `mqshim ipcs`, `ipcrm` and `stat`: what the emulation holds in a namespace, seen and removed
//! as util-linux's `ipcs`/`ipcrm` and the kernel's `/dev/mqueue/NAME` show and remove kernel
//! queues.
//!
//! The queues are the emulation's or a Redis server's ([`Queues`]); both give the same rows
//! (each printer exists once). None of them creates anything: a namespace (or System V
//! registry) that does not exist is opened with [`Missing::Fail`], and a namespace that does
//! not exist is an error naming it; on a server, a listing only reads.

use clap::Args;
use mqshim_core::emu::namespace::Missing;
use mqshim_core::emu::posix::store::{Meta, QueueName, Store};
use mqshim_core::emu::sysv::QueueInfo;
use mqshim_core::emu::sysv::SysvEmulation;
use mqshim_core::errno::Errno;
use serde_json::{json, Value};

use crate::queues::Queues;

/// `mqshim ipcs`'s options, after util-linux `ipcs`.
#[derive(Args, Debug, Default)]
#[command(after_help = "\
--json fields (stable; a count or time of a queue the caller may not read is null):
  top level: namespace, posix, sysv (each absent when -q or --posix leaves that API out)
  posix[]: name, owner, uid, gid, perms, maxmsg, msgsize, messages, scheduled, qsize, notify,
    signo, notify_pid; atime, mtime, ctime (seconds since the epoch) and atime_ns, mtime_ns,
    ctime_ns: the times the kernel keeps for /dev/mqueue/NAME (a send or a receive sets all
    three; mq_notify and mq_setattr set atime and ctime)
  sysv[]: key, id, owner, perms, uid, gid, cuid, cgid, used_bytes, messages, qbytes, lspid,
    lrpid, stime, rtime, ctime (seconds since the epoch, 0: never), scheduled
  -u: posix and sysv are {queues, messages, bytes}; -l: limits; -i ID: sysv holds that queue")]
pub struct IpcsArgs {
    /// Only the System V queues (as ipcs -q).
    #[arg(short = 'q', long = "queues", conflicts_with = "posix")]
    sysv_only: bool,
    /// Only the POSIX queues.
    #[arg(long)]
    posix: bool,
    /// Pids: System V last sender (lspid) and receiver (lrpid); POSIX notification owner.
    #[arg(short = 'p', long = "pid", group = "format")]
    pids: bool,
    /// Times: System V last send, receive and change; POSIX access, modification and change,
    /// as the kernel keeps them for /dev/mqueue/NAME.
    #[arg(short = 't', long = "time", group = "format")]
    times: bool,
    /// Creator and owner: perms, cuid, cgid, uid, gid.
    #[arg(short = 'c', long = "creator", group = "format")]
    creator: bool,
    /// Summary: queues, messages and bytes in use.
    #[arg(short = 'u', long = "summary", group = "format")]
    summary: bool,
    /// Limits in force for queues in this namespace (as `mqshim limits` computes them).
    #[arg(short = 'l', long = "limits", group = "format")]
    limits: bool,
    /// Details of the System V queue with this id.
    #[arg(short = 'i', long = "id", group = "format", value_parser = parse_number)]
    id: Option<i64>,
    /// JSON on one line, with the field names README's "The mqshim command" documents.
    #[arg(long)]
    json: bool,
    /// Both APIs (the default; as ipcs -a).
    #[arg(short = 'a', long = "all", conflicts_with_all = ["sysv_only", "posix"])]
    all: bool,
    /// Sizes in bytes (the default; as ipcs -b).
    #[arg(short = 'b', long = "bytes", conflicts_with = "human")]
    bytes: bool,
    /// Sizes in human-readable form (1.5K, 64K, 1.9M), as ipcs --human.
    #[arg(long)]
    human: bool,
}

impl IpcsArgs {
    fn sizes(&self) -> Sizes {
        if self.human {
            Sizes::Human
        } else {
            Sizes::Bytes
        }
    }
}

/// How `ipcs` shows a size (`-b`, the default, or `--human`), as util-linux does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sizes {
    Bytes,
    Human,
}

impl Sizes {
    /// A size in a list's column.
    fn column(self, n: u64) -> String {
        match self {
            Sizes::Bytes => n.to_string(),
            Sizes::Human => human_size(n),
        }
    }

    /// `LABEL (bytes) = N`, or `LABEL = 1.5K` with `--human`, as util-linux's limit lines.
    fn limit_line(self, label: &str, n: i64) -> String {
        match self {
            Sizes::Bytes => format!("{label} (bytes) = {n}"),
            Sizes::Human => format!("{label} = {}", human_size(n.max(0) as u64)),
        }
    }

    /// `used space = N bytes`, or `used space = 1.5K`, as util-linux's summary.
    fn used_space(self, n: u64) -> String {
        match self {
            Sizes::Bytes => format!("used space = {n} bytes"),
            Sizes::Human => format!("used space = {}", human_size(n)),
        }
    }
}

/// A size as util-linux's `size_to_human_string(SIZE_SUFFIX_1LETTER, n)` writes it: the largest
/// power of 1024 not above it, one decimal rounded (dropped when zero), and B/K/M/G/T/P/E.
fn human_size(n: u64) -> String {
    let shift = (10..=60).step_by(10).find(|&s| n < (1u64 << s)).unwrap_or(70) - 10;
    let letter = b"BKMGTPE"[shift / 10] as char;
    if shift == 0 {
        return format!("{n}{letter}");
    }
    let mut whole = n >> shift;
    let mut tenth = ((n & ((1u64 << shift) - 1)) / (1u64 << (shift - 10)) + 50) / 100;
    if tenth == 10 {
        whole += 1;
        tenth = 0;
    }
    if tenth == 0 {
        format!("{whole}{letter}")
    } else {
        format!("{whole}.{tenth}{letter}")
    }
}

/// `mqshim ipcrm`'s arguments, after util-linux `ipcrm`.
#[derive(Args, Debug)]
pub struct IpcrmArgs {
    /// POSIX queue names, each with its leading slash.
    names: Vec<String>,
    /// Remove the System V queue with this id.
    #[arg(short = 'q', long = "queue-id", value_parser = parse_number)]
    id: Vec<i64>,
    /// Remove the System V queue with this key.
    #[arg(short = 'Q', long = "queue-key", value_parser = parse_number)]
    key: Vec<i64>,
    /// Remove every queue of both APIs in the namespace; `--all=msg`: the System V queues,
    /// `--all=posix`: the POSIX queues (`shm` and `sem` name nothing emulated: nothing is removed).
    #[arg(short = 'a', long = "all", num_args = 0..=1, require_equals = true, default_missing_value = "both", value_parser = ["both", "msg", "posix", "shm", "sem"])]
    all: Option<String>,
    /// Say what is being removed, as util-linux ipcrm -v.
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
}

impl IpcrmArgs {
    /// Which APIs `-a`/`--all=WHAT` empties: (POSIX, System V).
    fn all_apis(&self) -> (bool, bool) {
        match self.all.as_deref() {
            Some("both") => (true, true),
            Some("posix") => (true, false),
            Some("msg") => (false, true),
            _ => (false, false),
        }
    }
}

/// A number as ipcrm(1) takes it: decimal, 0x hex or 0 octal (negative allowed).
pub fn parse_number(text: &str) -> Result<i64, String> {
    let (neg, t) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let n = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8)
    } else {
        t.parse()
    };
    n.map(|v| if neg { -v } else { v }).map_err(|_| format!("'{text}' is not a number (decimal, 0x hex or 0 octal)"))
}

/// An errno as the kernel's name and its text: `EINVAL (Invalid argument)`.
pub fn errno_text(e: Errno) -> String {
    format!("{e:?} ({})", e.desc())
}

fn user_name(uid: u32) -> String {
    let mut buf = vec![0 as libc::c_char; 1024];
    // SAFETY: passwd is plain C data; all-zero is a valid (empty) value for getpwuid_r to fill.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into pwd and buf, both valid for their lengths.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc == 0 && !result.is_null() {
        // SAFETY: pw_name points into buf, NUL-terminated.
        unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) }.to_string_lossy().into_owned()
    } else {
        uid.to_string()
    }
}

/// The limits the emulation enforces, as the environment configures them.
fn emulation_limits() -> mqshim_core::emu::EmulationLimits {
    mqshim_core::policy::limits::Limits::from_env().0.for_emulation()
}

fn namespace_shown(dir: &[u8]) -> String {
    String::from_utf8_lossy(dir).into_owned()
}

/// Why the namespace at `dir` cannot be opened, naming it.
fn namespace_error(dir: &[u8], e: Errno) -> String {
    match e {
        Errno::ENOENT => {
            format!("mqshim: no namespace at '{}': it does not exist (a program under the emulation makes it with its first queue)", namespace_shown(dir))
        }
        e => format!("mqshim: cannot open the namespace '{}': {}", namespace_shown(dir), errno_text(e)),
    }
}

/// The namespace's POSIX queues, without creating anything.
pub fn open_store(dir: &[u8]) -> Result<Store, String> {
    Store::open_or(dir, emulation_limits().posix, Missing::Fail).map_err(|e| namespace_error(dir, e))
}

/// The namespace's System V queues, without creating anything: None when no program of the
/// namespace ever used System V queues (no registry yet).
pub fn open_sysv(dir: &[u8]) -> Result<Option<SysvEmulation>, String> {
    match SysvEmulation::open_or(dir, emulation_limits().sysv, Missing::Fail) {
        Ok(sysv) => Ok(Some(sysv)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(format!("mqshim: cannot open the System V queues of '{}': {}", namespace_shown(dir), errno_text(e))),
    }
}

pub fn queue_name(name: &str) -> Result<QueueName, String> {
    let rest = name.strip_prefix('/').ok_or_else(|| format!("mqshim: '{name}': a queue name starts with '/'"))?;
    QueueName::check(rest.as_bytes()).map_err(|e| format!("mqshim: '{name}': {}", errno_text(e)))
}

/// One POSIX queue as `ipcs` shows it. The counts are None when the caller may not read the
/// queue (shown as "?", null in JSON).
struct PosixRow {
    name: String,
    meta: Meta,
    counts: Option<PosixCounts>,
}

/// A readable queue's counts and the kernel's `/dev/mqueue/NAME` status fields.
struct PosixCounts {
    messages: u64,
    scheduled: u64,
    qsize: u64,
    notify: i32,
    signo: i32,
    notify_pid: i32,
    /// None where they are not known (a queue a Redis server holds from a version of mqshim
    /// that did not keep them).
    times: Option<mqshim_core::emu::posix::queue::QueueTimes>,
}

/// The POSIX queues of `queues`, by name.
fn posix_rows(queues: &Queues) -> Result<Vec<PosixRow>, String> {
    match queues {
        Queues::Emulation(dir) => Ok(emulated_posix_rows(&open_store(dir)?)),
        Queues::Redis(r) => Ok(r.posix.list().map_err(|e| server_error(queues, "list the POSIX queues", e))?.into_iter().map(remote_posix_row).collect()),
    }
}

/// A queue on a Redis server as the listing's row.
fn remote_posix_row(q: mqshim_core::remote::posix::admin::QueueListing) -> PosixRow {
    let meta = Meta { uid: q.uid, gid: q.gid, mode: q.mode, maxmsg: q.maxmsg as u32, msgsize: q.msgsize, charge_uid: q.uid, charge_bytes: 0, fifo_link: 0 };
    let counts = q.status.map(|s| PosixCounts {
        messages: s.messages,
        scheduled: s.scheduled,
        qsize: s.qsize,
        notify: s.notify,
        signo: s.signo,
        notify_pid: s.notify_pid,
        times: s.times,
    });
    PosixRow { name: q.name, meta, counts }
}

/// What a server said when asked to `what`, naming it.
fn server_error(queues: &Queues, what: &str, e: Errno) -> String {
    format!("mqshim: cannot {what} on {}: {}", queues.shown(), errno_text(e))
}

fn emulated_posix_rows(store: &Store) -> Vec<PosixRow> {
    let mut names = store.names();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let (meta, queue) = store.inspect(&name)?;
            let counts = queue.map(|q| {
                // A registration whose owner died shows as none (see notify::snapshot).
                let reg = mqshim_core::emu::posix::notify::snapshot(&q);
                let owned = reg.owner_pid != 0;
                PosixCounts {
                    messages: q.curmsgs().into(),
                    scheduled: q.scheduled_now().unwrap_or(0).into(),
                    qsize: q.curbytes(),
                    notify: if owned { reg.kind } else { 0 },
                    signo: if owned && reg.kind == libc::SIGEV_SIGNAL { reg.signo } else { 0 },
                    notify_pid: if owned { reg.owner_pid } else { 0 },
                    times: Some(q.times()),
                }
            });
            Some(PosixRow { name: format!("/{}", String::from_utf8_lossy(&name)), meta, counts })
        })
        .collect()
}

fn emulated_sysv_rows(sysv: Option<&SysvEmulation>) -> Vec<QueueInfo> {
    sysv.map(|s| s.list()).unwrap_or_default()
}

/// The System V queues of `queues`, by index.
fn sysv_rows(queues: &Queues) -> Result<Vec<QueueInfo>, String> {
    match queues {
        Queues::Emulation(dir) => Ok(emulated_sysv_rows(open_sysv(dir)?.as_ref())),
        Queues::Redis(r) => r.sysv.list().map_err(|e| server_error(queues, "list the System V queues", e)),
    }
}

fn or_unknown<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "?".to_string(), |v| v.to_string())
}

/// Whole seconds of a CLOCK_REALTIME time in ns.
fn seconds(ns: u64) -> i64 {
    mqshim_core::os::clock::seconds_of_ns(ns)
}

/// A time as ipcs shows it: "Not set" for 0, else local date and time.
fn time_text(secs: i64) -> String {
    if secs == 0 {
        return "Not set".to_string();
    }
    let t = secs as libc::time_t;
    // SAFETY: tm is plain C data; localtime_r fills it from the valid time t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return secs.to_string();
    }
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
}

/// Which APIs a listing shows.
fn apis(args: &IpcsArgs) -> (bool, bool) {
    (!args.sysv_only, !args.posix)
}

pub fn ipcs(queues: &Queues, args: &IpcsArgs) -> Result<(), String> {
    if args.limits {
        return limits(queues, args.json, args.sizes());
    }
    if let Queues::Emulation(dir) = queues {
        // A namespace that does not exist is an error, whatever is listed.
        open_store(dir)?;
        open_sysv(dir)?;
    }
    let (show_posix, show_sysv) = apis(args);
    if let Some(id) = args.id {
        return one_sysv(queues, id, args.json);
    }
    let posix = if show_posix { posix_rows(queues)? } else { Vec::new() };
    let sysv = if show_sysv { sysv_rows(queues)? } else { Vec::new() };
    if args.summary {
        return summary(queues, show_posix.then_some(&posix[..]), show_sysv.then_some(&sysv[..]), args.json, args.sizes());
    }
    if args.json {
        let mut out = serde_json::Map::new();
        out.insert("namespace".into(), json!(queues.shown()));
        out.insert("backend".into(), json!(queues.backend_name()));
        if show_posix {
            out.insert("posix".into(), posix.iter().map(posix_json).collect());
        }
        if show_sysv {
            out.insert("sysv".into(), sysv.iter().map(sysv_json).collect());
        }
        println!("{}", Value::Object(out));
        return Ok(());
    }
    if show_posix {
        print_posix(queues, &posix, args);
    }
    if show_posix && show_sysv {
        println!();
    }
    if show_sysv {
        print_sysv(queues, &sysv, args);
    }
    Ok(())
}

fn print_posix(queues: &Queues, rows: &[PosixRow], args: &IpcsArgs) {
    if args.pids {
        println!("------ POSIX Message Queues PIDs ({}, {}) --------", queues.posix_holder(), queues.shown());
        println!("{:<24} {:<10} {:>10}", "name", "owner", "notify_pid");
        for r in rows {
            println!("{:<24} {:<10} {:>10}", r.name, user_name(r.meta.uid), or_unknown(r.counts.as_ref().map(|c| c.notify_pid)));
        }
    } else if args.times {
        // The inode times the kernel keeps (stat /dev/mqueue/NAME): a send or a receive sets
        // all three; mq_notify and mq_setattr set access and change.
        println!("------ POSIX Message Queues Access/Modify/Change Times ({}, {}) --------", queues.posix_holder(), queues.shown());
        println!("{:<24} {:<10} {:<20} {:<20} change", "name", "owner", "access", "modify");
        for r in rows {
            let t = r.counts.as_ref().and_then(|c| c.times);
            let shown = |ns: fn(&mqshim_core::emu::posix::queue::QueueTimes) -> u64| t.as_ref().map_or_else(|| "?".to_string(), |t| time_text(seconds(ns(t))));
            println!("{:<24} {:<10} {:<20} {:<20} {}", r.name, user_name(r.meta.uid), shown(|t| t.atime_ns), shown(|t| t.mtime_ns), shown(|t| t.ctime_ns));
        }
    } else if args.creator {
        println!("------ POSIX Message Queues Creators/Owners ({}, {}) --------", queues.posix_holder(), queues.shown());
        println!("{:<24} {:<10} {:<10} {:<10} {:<10} gid", "name", "perms", "cuid", "cgid", "uid");
        for r in rows {
            // A POSIX queue's owner is its creator (it has no IPC_SET).
            let m = &r.meta;
            println!("{:<24} {:<10o} {:<10} {:<10} {:<10} {}", r.name, m.mode & 0o777, m.uid, m.gid, m.uid, m.gid);
        }
    } else {
        println!("------ POSIX Message Queues ({}, {}) --------", queues.posix_holder(), queues.shown());
        println!(
            "{:<24} {:<10} {:<6} {:>7} {:>8} {:>9} {:>9} {:>11} {:>7} {:>6} {:>11}",
            "name", "owner", "perms", "maxmsg", "msgsize", "messages", "scheduled", "QSIZE", "NOTIFY", "SIGNO", "NOTIFY_PID"
        );
        for r in rows {
            let c = r.counts.as_ref();
            println!(
                "{:<24} {:<10} {:<6o} {:>7} {:>8} {:>9} {:>9} {:>11} {:>7} {:>6} {:>11}",
                r.name,
                user_name(r.meta.uid),
                r.meta.mode & 0o777,
                r.meta.maxmsg,
                r.meta.msgsize,
                or_unknown(c.map(|c| c.messages)),
                or_unknown(c.map(|c| c.scheduled)),
                or_unknown(c.map(|c| args.sizes().column(c.qsize))),
                or_unknown(c.map(|c| c.notify)),
                or_unknown(c.map(|c| c.signo)),
                or_unknown(c.map(|c| c.notify_pid)),
            );
        }
    }
}

fn print_sysv(queues: &Queues, rows: &[QueueInfo], args: &IpcsArgs) {
    if args.pids {
        println!("------ Message Queues PIDs ({}, {}) --------", queues.sysv_holder(), queues.shown());
        println!("{:<10} {:<10} {:<10} lrpid", "msqid", "owner", "lspid");
        for q in rows {
            println!("{:<10} {:<10} {:<10} {}", q.id, user_name(q.uid), q.lspid, q.lrpid);
        }
    } else if args.times {
        println!("------ Message Queues Send/Recv/Change Times ({}, {}) --------", queues.sysv_holder(), queues.shown());
        println!("{:<10} {:<10} {:<20} {:<20} change", "msqid", "owner", "send", "recv");
        for q in rows {
            println!("{:<10} {:<10} {:<20} {:<20} {}", q.id, user_name(q.uid), time_text(q.stime), time_text(q.rtime), time_text(q.ctime));
        }
    } else if args.creator {
        println!("------ Message Queues Creators/Owners ({}, {}) --------", queues.sysv_holder(), queues.shown());
        println!("{:<10} {:<10} {:<10} {:<10} {:<10} gid", "msqid", "perms", "cuid", "cgid", "uid");
        for q in rows {
            println!("{:<10} {:<10o} {:<10} {:<10} {:<10} {}", q.id, q.mode & 0o777, q.cuid, q.cgid, q.uid, q.gid);
        }
    } else {
        println!("------ Message Queues ({}, {}) --------", queues.sysv_holder(), queues.shown());
        // util-linux names the column "size" when it shows human-readable sizes.
        let sizes = args.sizes();
        let size_column = if sizes == Sizes::Human { "size" } else { "used-bytes" };
        println!("{:<10} {:<10} {:<10} {:<10} {:<12} {:<12} scheduled", "key", "msqid", "owner", "perms", size_column, "messages");
        for q in rows {
            println!(
                "0x{:08x} {:<10} {:<10} {:<10o} {:<12} {:<12} {}",
                q.key as u32,
                q.id,
                user_name(q.uid),
                q.mode & 0o777,
                sizes.column(q.cbytes),
                q.qnum,
                q.scheduled
            );
        }
    }
}

fn posix_json(r: &PosixRow) -> Value {
    let c = r.counts.as_ref();
    let t = c.and_then(|c| c.times);
    json!({
        "name": r.name,
        "owner": user_name(r.meta.uid),
        "uid": r.meta.uid,
        "gid": r.meta.gid,
        "perms": format!("{:04o}", r.meta.mode & 0o777),
        "maxmsg": r.meta.maxmsg,
        "msgsize": r.meta.msgsize,
        "messages": c.map(|c| c.messages),
        "scheduled": c.map(|c| c.scheduled),
        "qsize": c.map(|c| c.qsize),
        "notify": c.map(|c| c.notify),
        "signo": c.map(|c| c.signo),
        "notify_pid": c.map(|c| c.notify_pid),
        "atime": t.map(|t| seconds(t.atime_ns)),
        "mtime": t.map(|t| seconds(t.mtime_ns)),
        "ctime": t.map(|t| seconds(t.ctime_ns)),
        "atime_ns": t.map(|t| t.atime_ns),
        "mtime_ns": t.map(|t| t.mtime_ns),
        "ctime_ns": t.map(|t| t.ctime_ns),
    })
}

fn sysv_json(q: &QueueInfo) -> Value {
    json!({
        "key": q.key,
        "id": q.id,
        "owner": user_name(q.uid),
        "perms": format!("{:04o}", q.mode & 0o777),
        "uid": q.uid,
        "gid": q.gid,
        "cuid": q.cuid,
        "cgid": q.cgid,
        "used_bytes": q.cbytes,
        "messages": q.qnum,
        "qbytes": q.qbytes,
        "lspid": q.lspid,
        "lrpid": q.lrpid,
        "stime": q.stime,
        "rtime": q.rtime,
        "ctime": q.ctime,
        "scheduled": q.scheduled,
    })
}

/// `ipcs -i ID`: one System V queue in detail, as util-linux prints it.
fn one_sysv(queues: &Queues, id: i64, json: bool) -> Result<(), String> {
    let q = sysv_rows(queues)?
        .into_iter()
        .find(|q| i64::from(q.id) == id)
        .ok_or_else(|| format!("mqshim: id {id}: no System V queue with this id in '{}'", queues.shown()))?;
    if json {
        println!("{}", json!({ "namespace": queues.shown(), "backend": queues.backend_name(), "sysv": [sysv_json(&q)] }));
        return Ok(());
    }
    println!("Message Queue msqid={}", q.id);
    println!("uid={}\tgid={}\tcuid={}\tcgid={}\tmode=0{:o}", q.uid, q.gid, q.cuid, q.cgid, q.mode & 0o777);
    println!("cbytes={}\tqbytes={}\tqnum={}\tlspid={}\tlrpid={}", q.cbytes, q.qbytes, q.qnum, q.lspid, q.lrpid);
    println!("send_time={}", time_text(q.stime));
    println!("rcv_time={}", time_text(q.rtime));
    println!("change_time={}", time_text(q.ctime));
    println!("scheduled={}", q.scheduled);
    Ok(())
}

/// `ipcs -u`: what is in use, per API.
fn summary(queues: &Queues, posix: Option<&[PosixRow]>, sysv: Option<&[QueueInfo]>, json: bool, sizes: Sizes) -> Result<(), String> {
    let posix_totals = posix.map(|rows| {
        let counted = rows.iter().filter_map(|r| r.counts.as_ref());
        (rows.len(), counted.clone().map(|c| c.messages).sum::<u64>(), counted.map(|c| c.qsize).sum::<u64>())
    });
    let sysv_totals = sysv.map(|rows| (rows.len(), rows.iter().map(|q| q.qnum).sum::<u64>(), rows.iter().map(|q| q.cbytes).sum::<u64>()));
    if json {
        let mut out = serde_json::Map::new();
        out.insert("namespace".into(), json!(queues.shown()));
        out.insert("backend".into(), json!(queues.backend_name()));
        if let Some((count, messages, bytes)) = posix_totals {
            out.insert("posix".into(), json!({ "queues": count, "messages": messages, "bytes": bytes }));
        }
        if let Some((count, messages, bytes)) = sysv_totals {
            out.insert("sysv".into(), json!({ "queues": count, "messages": messages, "bytes": bytes }));
        }
        println!("{}", Value::Object(out));
        return Ok(());
    }
    if let Some((count, messages, bytes)) = posix_totals {
        println!("------ POSIX Messages Status ({}, {}) --------", queues.posix_holder(), queues.shown());
        println!("queues = {count}");
        println!("messages = {messages}");
        println!("{}", sizes.used_space(bytes));
    }
    if posix_totals.is_some() && sysv_totals.is_some() {
        println!();
    }
    if let Some((count, messages, bytes)) = sysv_totals {
        println!("------ Messages Status ({}, {}) --------", queues.sysv_holder(), queues.shown());
        println!("allocated queues = {count}");
        println!("used headers = {messages}");
        println!("{}", sizes.used_space(bytes));
    }
    Ok(())
}

/// `ipcs -l`: the limits the emulation and the redis backend enforce (`mqshim limits` says where each
/// came from).
fn limits(queues: &Queues, json: bool, sizes: Sizes) -> Result<(), String> {
    let l = emulation_limits();
    let entries: [(&str, i64); 8] = [
        ("msgmax", l.sysv.msgmax.into()),
        ("msgmnb", l.sysv.msgmnb.into()),
        ("msgmni", l.sysv.msgmni.into()),
        ("queues_max", l.posix.queues_max),
        ("msg_max", l.posix.msg_max),
        ("msgsize_max", l.posix.msgsize_max),
        ("msg_default", l.posix.msg_default),
        ("msgsize_default", l.posix.msgsize_default),
    ];
    if json {
        let map: serde_json::Map<String, Value> = entries.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        println!("{}", json!({ "limits": map }));
        return Ok(());
    }
    println!("------ Messages Limits ({}) --------", queues.sysv_holder());
    println!("max queues system wide = {}", l.sysv.msgmni);
    println!("{}", sizes.limit_line("max size of message", l.sysv.msgmax.into()));
    println!("{}", sizes.limit_line("default max size of queue", l.sysv.msgmnb.into()));
    println!();
    println!("------ POSIX Messages Limits ({}) --------", queues.posix_holder());
    println!("max queues = {}", l.posix.queues_max);
    println!("max messages per queue = {}", l.posix.msg_max);
    println!("{}", sizes.limit_line("max size of message", l.posix.msgsize_max));
    println!("default messages per queue = {}", l.posix.msg_default);
    println!("{}", sizes.limit_line("default size of message", l.posix.msgsize_default));
    Ok(())
}

pub fn ipcrm(queues: &Queues, args: &IpcrmArgs) -> Result<(), String> {
    if args.names.is_empty() && args.id.is_empty() && args.key.is_empty() && args.all.is_none() {
        return Err("mqshim: ipcrm: name POSIX queues (/name), System V queues with -q ID or -Q KEY, or all with -a".to_string());
    }
    let (all_posix, all_sysv) = args.all_apis();
    let store = match queues {
        Queues::Emulation(dir) => Some(open_store(dir)?),
        Queues::Redis(_) => None,
    };
    let mut failures = Vec::new();
    let mut names = Vec::new();
    for name in &args.names {
        names.push((name.clone(), queue_name(name)?));
    }
    if all_posix {
        let all = match &store {
            Some(store) => store.names(),
            None => posix_rows(queues)?.into_iter().map(|r| r.name.trim_start_matches('/').as_bytes().to_vec()).collect(),
        };
        for name in all {
            match QueueName::check(&name) {
                Ok(qn) => names.push((format!("/{}", String::from_utf8_lossy(&name)), qn)),
                Err(e) => failures.push(format!("mqshim: cannot remove /{}: {}", String::from_utf8_lossy(&name), errno_text(e))),
            }
        }
    }
    for (name, qn) in &names {
        if args.verbose {
            println!("removing POSIX message queue `{name}'");
        }
        let result = match (&store, queues) {
            (Some(store), _) => store.unlink(qn),
            (None, Queues::Redis(r)) => r.posix.remove(qn),
            (None, Queues::Emulation(_)) => unreachable!("the emulation's store is open"),
        };
        if let Err(e) = result {
            failures.push(format!("mqshim: cannot remove {name}: {}", errno_text(e)));
        }
    }
    if !args.id.is_empty() || !args.key.is_empty() || all_sysv {
        let sysv = SysvRemover::open(queues)?;
        let mut ids = args.id.clone();
        if all_sysv {
            ids.extend(sysv_rows(queues)?.iter().map(|q| i64::from(q.id)));
        }
        for &id in &ids {
            if args.verbose {
                println!("removing message queue id `{id}'");
            }
            if let Err(e) = sysv.remove_id(id as i32) {
                failures.push(format!("mqshim: cannot remove id {id}: {}", errno_text(e)));
            }
        }
        for &key in &args.key {
            if args.verbose {
                // util-linux names the queue a key removes by its id.
                if let Some(q) = sysv_rows(queues)?.iter().find(|q| i64::from(q.key) == key) {
                    println!("removing message queue id `{}'", q.id);
                }
            }
            if let Err(e) = sysv.remove_key(key as i32) {
                failures.push(format!("mqshim: cannot remove key {key:#x}: {}", errno_text(e)));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// What removes System V queues: the emulation's registry (None: the namespace never had
/// one), or the server.
enum SysvRemover<'a> {
    Emulation(Option<SysvEmulation>),
    Redis(&'a mqshim_core::remote::sysv::RemoteSysv),
}

impl SysvRemover<'_> {
    fn open(queues: &Queues) -> Result<SysvRemover<'_>, String> {
        Ok(match queues {
            Queues::Emulation(dir) => SysvRemover::Emulation(open_sysv(dir)?),
            Queues::Redis(r) => SysvRemover::Redis(&r.sysv),
        })
    }

    fn remove_id(&self, id: i32) -> Result<(), Errno> {
        match self {
            // A namespace without a registry has no queue: what IPC_RMID says of an unknown id.
            SysvRemover::Emulation(sysv) => sysv.as_ref().map_or(Err(Errno::EINVAL), |s| s.remove_id(id)),
            SysvRemover::Redis(sysv) => sysv.remove_id(id),
        }
    }

    fn remove_key(&self, key: i32) -> Result<(), Errno> {
        match self {
            SysvRemover::Emulation(sysv) => sysv.as_ref().map_or(Err(Errno::EINVAL), |s| s.remove_key(key)),
            SysvRemover::Redis(sysv) => sysv.remove_key(key),
        }
    }
}

/// `mqshim stat /name`: the line the kernel shows in `/dev/mqueue/NAME` (read permission
/// needed, as for reading that file).
pub fn stat(queues: &Queues, name: &str) -> Result<(), String> {
    let qn = queue_name(name)?;
    let missing = || format!("mqshim: stat {name}: no such queue in '{}': {}", queues.shown(), errno_text(Errno::ENOENT));
    let denied = || format!("mqshim: stat {name}: {}", errno_text(Errno::EACCES));
    let line = match queues {
        Queues::Emulation(dir) => {
            let store = open_store(dir)?;
            let (_, queue) = store.inspect(qn.bytes()).ok_or_else(missing)?;
            mqshim_core::emu::posix::notify::status_line(&queue.ok_or_else(denied)?)
        }
        Queues::Redis(r) => {
            let q = r.posix.listing(&qn).map_err(|e| if e == Errno::ENOENT { missing() } else { format!("mqshim: stat {name}: {}", errno_text(e)) })?;
            let s = q.status.ok_or_else(denied)?;
            mqshim_core::emu::posix::notify::format_status_line(s.qsize, s.notify, s.signo, s.notify_pid)
        }
    };
    crate::print_stdout(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_ipcrm_takes_them() {
        assert_eq!(parse_number("0x10"), Ok(16));
        assert_eq!(parse_number("010"), Ok(8));
        assert_eq!(parse_number("-5"), Ok(-5));
        assert!(parse_number("x").is_err());
    }

    #[test]
    fn human_sizes_as_util_linux_writes_them() {
        // What util-linux 2.38's `ipcs -l --human` printed for msgmax set to each value.
        for (n, shown) in
            [(0, "0B"), (512, "512B"), (1000, "1000B"), (1023, "1023B"), (1536, "1.5K"), (1600, "1.6K"), (65536, "64K"), (1048575, "1024K"), (2000000, "1.9M")]
        {
            assert_eq!(human_size(n), shown, "{n}");
        }
    }

    #[test]
    fn errno_names_as_the_kernel_spells_them() {
        assert_eq!(errno_text(Errno::EINVAL), "EINVAL (Invalid argument)");
        assert_eq!(errno_text(Errno::EPERM), "EPERM (Operation not permitted)");
    }
}
