//! The `mqshim` command: see and clean up what the emulation holds, and show the configuration.
//!
//! `mqshim ipcs` lists the emulated queues of a namespace (`MQSHIM_DIR`, or `--dir`),
//! `mqshim ipcrm` removes one, `mqshim stat /name` prints the line the kernel shows in
//! `/dev/mqueue/NAME`, `mqshim limits` the effective limits and where each came from, and
//! `mqshim info` the version and backend.

mod diff;
mod launch;
mod man;
mod report;
mod run;
mod trace;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use mqshim_core::config::Config;
use mqshim_core::emu::posix::store::{QueueName, Store};

/// Trace, constrain and emulate Linux message queues
///
/// mqshim runs unchanged programs that use POSIX (mq_*) or System V (msg*) message queues with
/// libmqshim.so preloaded, which traces every call, enforces configurable limits, injects faults,
/// and (by default) emulates the queues in shared memory under a namespace directory. This
/// command starts programs that way (run, trace, diff), reads their traces (report), and lists,
/// inspects and removes the emulated queues (ipcs, ipcrm, stat); limits and info show the
/// configuration the environment selects. The library itself is described in libmqshim(7).
#[derive(Parser)]
#[command(name = "mqshim", version)]
struct Cli {
    /// The emulation's namespace directory (default: MQSHIM_DIR, else /dev/shm/mqshim); `run`
    /// sets MQSHIM_DIR to it (made absolute).
    #[arg(long, global = true)]
    dir: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the emulated queues of the namespace
    ///
    /// First the POSIX queues: name, owner, mode, attributes, messages, pending scheduled
    /// messages, and the kernel's /dev/mqueue status fields (QSIZE, NOTIFY, SIGNO, NOTIFY_PID);
    /// then the System V queues: key, id, owner, mode, bytes, messages and pending scheduled
    /// messages.
    Ipcs,
    /// Remove emulated queues
    ///
    /// A POSIX queue by name (as mq_unlink: open descriptors keep working), System V queues by
    /// id (-q) or key (-Q) (as IPC_RMID). Ids and keys are
    /// decimal, 0x hex or 0 octal, as for ipcrm(1).
    Ipcrm {
        /// A POSIX queue's name, with its leading slash.
        name: Option<String>,
        /// Remove the System V queue with this id.
        #[arg(short = 'q', value_parser = parse_number)]
        id: Vec<i64>,
        /// Remove the System V queue with this key.
        #[arg(short = 'Q', value_parser = parse_number)]
        key: Vec<i64>,
    },
    /// Print a queue's status line as the kernel's /dev/mqueue/NAME shows it.
    Stat {
        /// The queue's name, with its leading slash.
        name: String,
    },
    /// Print the effective limits and where each value came from.
    Limits,
    /// Print the library version and the backend the environment selects.
    Info,
    /// Run a program with the library preloaded
    ///
    /// Run it with libmqshim.so preloaded, each option setting one MQSHIM_* variable; mqshim
    /// then becomes the program (exec).
    Run(run::RunArgs),
    /// Run a program with every message-queue call traced, strace-style
    ///
    /// Each process writes records into a shared-memory buffer that this command reads while
    /// the program runs (a record is never lost to a crash, and a call that blocks shows `<unfinished ...>` while
    /// it blocks). Children are followed.
    Trace(trace::TraceArgs),
    /// Run a program on the kernel and on the emulation and report the first difference
    ///
    /// Each run is traced; the first call whose result, errno, output data or order differs is
    /// reported (exit 1), or "no divergence" (exit 0). Standard input is read first and replayed to both runs.
    Diff(diff::DiffArgs),
    /// Summarise a JSON-lines trace, or turn it into a Chrome/Perfetto trace
    ///
    /// It reads a JSON-lines trace (MQSHIM_TRACE_FORMAT=jsonl, or mqshim trace --json) and
    /// prints its summary tables like strace -c (the default), or writes a Chrome/Perfetto trace
    /// with a flow arrow from each send to the receive that took its message.
    Report(report::ReportArgs),
    /// Write the man pages mqshim.1 and mqshim-SUBCOMMAND.1 into DIR (`make man`).
    #[command(name = "__man", hide = true)]
    Man {
        /// The directory to write the pages into (created if missing).
        #[arg(value_name = "DIR")]
        out_dir: std::path::PathBuf,
    },
}

/// A number as ipcrm(1) takes it: decimal, 0x hex or 0 octal (negative allowed).
fn parse_number(text: &str) -> Result<i64, String> {
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

fn namespace_dir(cli: &Cli) -> Vec<u8> {
    match &cli.dir {
        Some(d) => d.as_bytes().to_vec(),
        None => {
            let (config, problems) = Config::from_env();
            mqshim_core::config::report(&problems);
            config.dir
        }
    }
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

fn open_store(dir: &[u8]) -> Result<Store, String> {
    Store::at(dir, emulation_limits().posix).map_err(|e| format!("mqshim: cannot open the namespace '{}': {}", String::from_utf8_lossy(dir), e.desc()))
}

fn queue_name(name: &str) -> Result<QueueName, String> {
    let rest = name.strip_prefix('/').ok_or_else(|| format!("mqshim: '{name}': a queue name starts with '/'"))?;
    QueueName::check(rest.as_bytes()).map_err(|e| format!("mqshim: '{name}': {}", e.desc()))
}

fn ipcs(dir: &[u8]) -> Result<(), String> {
    let store = open_store(dir)?;
    println!("------ POSIX Message Queues (emulated, {}) --------", String::from_utf8_lossy(dir));
    println!(
        "{:<24} {:<10} {:<6} {:>7} {:>8} {:>9} {:>9} {:>11} {:>7} {:>6} {:>11}",
        "name", "owner", "perms", "maxmsg", "msgsize", "messages", "scheduled", "QSIZE", "NOTIFY", "SIGNO", "NOTIFY_PID"
    );
    let mut names = store.names();
    names.sort();
    for name in names {
        let Some((meta, queue)) = store.inspect(&name) else { continue };
        // The status fields are those of the kernel's /dev/mqueue/NAME line ("?" when the
        // caller may not read the queue).
        let fields: [String; 6] = match &queue {
            Some(q) => {
                let reg = mqshim_core::emu::posix::notify::snapshot(q);
                let owned = reg.owner_pid != 0;
                let scheduled = q.scheduled_now().unwrap_or(0);
                [
                    q.curmsgs().to_string(),
                    scheduled.to_string(),
                    q.curbytes().to_string(),
                    (if owned { reg.kind } else { 0 }).to_string(),
                    (if owned && reg.kind == libc::SIGEV_SIGNAL { reg.signo } else { 0 }).to_string(),
                    (if owned { reg.owner_pid } else { 0 }).to_string(),
                ]
            }
            None => std::array::from_fn(|_| "?".to_string()),
        };
        let [messages, scheduled, qsize, notify, signo, notify_pid] = fields;
        println!(
            "{:<24} {:<10} {:<6o} {:>7} {:>8} {:>9} {:>9} {:>11} {:>7} {:>6} {:>11}",
            format!("/{}", String::from_utf8_lossy(&name)),
            user_name(meta.uid),
            meta.mode & 0o777,
            meta.maxmsg,
            meta.msgsize,
            messages,
            scheduled,
            qsize,
            notify,
            signo,
            notify_pid
        );
    }
    Ok(())
}

fn ipcs_sysv(dir: &[u8]) -> Result<(), String> {
    let limits = emulation_limits().sysv;
    let sysv = mqshim_core::emu::sysv::SysvEmulation::new(dir, limits).map_err(|e| format!("mqshim: cannot open the System V namespace: {}", e.desc()))?;
    println!();
    println!("------ Message Queues (emulated System V, {}) --------", String::from_utf8_lossy(dir));
    println!("{:<10} {:<10} {:<10} {:<10} {:<12} {:<12} scheduled", "key", "msqid", "owner", "perms", "used-bytes", "messages");
    for q in sysv.list() {
        println!("0x{:08x} {:<10} {:<10} {:<10o} {:<12} {:<12} {}", q.key as u32, q.id, user_name(q.uid), q.mode & 0o777, q.cbytes, q.qnum, q.scheduled);
    }
    Ok(())
}

fn ipcrm(dir: &[u8], name: Option<&str>, ids: &[i64], keys: &[i64]) -> Result<(), String> {
    if name.is_none() && ids.is_empty() && keys.is_empty() {
        return Err("mqshim: ipcrm: name a POSIX queue (/name), or System V queues with -q ID or -Q KEY".to_string());
    }
    let mut failures = Vec::new();
    if let Some(name) = name {
        let store = open_store(dir)?;
        let qn = queue_name(name)?;
        if let Err(e) = store.unlink(&qn) {
            failures.push(format!("mqshim: cannot remove {name}: {}", e.desc()));
        }
    }
    if !ids.is_empty() || !keys.is_empty() {
        let limits = emulation_limits().sysv;
        let sysv = mqshim_core::emu::sysv::SysvEmulation::new(dir, limits).map_err(|e| format!("mqshim: cannot open the System V namespace: {}", e.desc()))?;
        for &id in ids {
            if let Err(e) = sysv.remove_id(id as i32) {
                failures.push(format!("mqshim: cannot remove id {id}: {}", e.desc()));
            }
        }
        for &key in keys {
            if let Err(e) = sysv.remove_key(key as i32) {
                failures.push(format!("mqshim: cannot remove key {key:#x}: {}", e.desc()));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn stat(dir: &[u8], name: &str) -> Result<(), String> {
    let store = open_store(dir)?;
    let qn = queue_name(name)?;
    let (_, queue) = store.inspect(qn.bytes()).ok_or_else(|| format!("mqshim: {name}: no such queue"))?;
    let q = queue.ok_or_else(|| format!("mqshim: {name}: permission denied"))?;
    print!("{}", mqshim_core::emu::posix::notify::status_line(&q));
    Ok(())
}

/// strace's double-letter short options (`-ff`) as clap takes them; only before the program.
fn strace_style_args() -> Vec<std::ffi::OsString> {
    let mut seen_program = false;
    std::env::args_os()
        .map(|a| {
            if seen_program {
                return a;
            }
            if a == "--" {
                seen_program = true;
            }
            if a == "-ff" {
                "--ff".into()
            } else {
                a
            }
        })
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(strace_style_args());
    let result = match &cli.command {
        Command::Ipcs => {
            let dir = namespace_dir(&cli);
            ipcs(&dir).and_then(|()| ipcs_sysv(&dir))
        }
        Command::Ipcrm { name, id, key } => ipcrm(&namespace_dir(&cli), name.as_deref(), id, key),
        Command::Stat { name } => stat(&namespace_dir(&cli), name),
        Command::Limits => {
            let (limits, problems) = mqshim_core::policy::limits::Limits::from_env();
            mqshim_core::config::report(&problems);
            println!("{:<18} {:>12}  source", "limit", "value");
            for (key, limit) in &limits.entries {
                let value = if *key == "rlimit_msgqueue" && limit.source == mqshim_core::policy::limits::Source::Default {
                    match limits.rlimit_msgqueue() {
                        u64::MAX => "unlimited".to_string(),
                        v => v.to_string(),
                    }
                } else {
                    limit.value.to_string()
                };
                let source = if *key == "rlimit_msgqueue" && limit.source == mqshim_core::policy::limits::Source::Default {
                    "getrlimit".to_string()
                } else {
                    limit.source.to_string()
                };
                println!("{key:<18} {value:>12}  {source}");
            }
            Ok(())
        }
        Command::Run(args) => run::run(args, cli.dir.as_deref()),
        Command::Trace(args) => trace::main(args, cli.dir.as_deref()),
        Command::Diff(args) => return diff::main(args),
        Command::Report(args) => report::run(args),
        Command::Man { out_dir } => man::write_pages(Cli::command(), out_dir),
        Command::Info => {
            let (config, problems) = Config::from_env();
            mqshim_core::config::report(&problems);
            println!("mqshim {}", env!("CARGO_PKG_VERSION"));
            println!("backend: {}", config.backend.name());
            println!("namespace: {}", String::from_utf8_lossy(&config.dir));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
