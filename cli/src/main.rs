//! The `mqshim` command: see and clean up what the emulation holds, and show the configuration.
//!
//! `mqshim ipcs` lists the emulated queues of a namespace (`MQSHIM_DIR`, or `--dir`) — or of a
//! Redis server's (`--backend redis`, `--redis URL`, or `MQSHIM_BACKEND`/`MQSHIM_REDIS`),
//! `mqshim ipcrm` removes one, `mqshim stat /name` prints the line the kernel shows in
//! `/dev/mqueue/NAME`, `mqshim peek` what a queue holds (without taking any of it),
//! `mqshim limits` the effective limits and where each came from, and `mqshim info` the version
//! and backend.

mod diff;
mod ipcs;
mod launch;
mod man;
mod peek;
mod queues;
mod report;
mod run;
mod supervise;
mod trace;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Trace, constrain and emulate Linux message queues
///
/// mqshim runs unchanged programs that use POSIX (mq_*) or System V (msg*) message queues with
/// libmqshim.so preloaded, which traces every call, enforces configurable limits, injects faults,
/// and (by default) emulates the queues in shared memory under a namespace directory. This
/// command starts programs that way (run, trace, diff), reads their traces (report), and lists,
/// inspects and removes the emulated queues, or those of the redis backend on a server
/// (ipcs, ipcrm, stat, peek: --backend redis before the subcommand); limits and info show the
/// configuration the environment selects. The library itself is described in libmqshim(7).
#[derive(Parser)]
#[command(name = "mqshim", version)]
struct Cli {
    /// The emulation's namespace directory (default: MQSHIM_DIR, else /dev/shm/mqshim); `run`
    /// sets MQSHIM_DIR to it (made absolute).
    #[arg(long, global = true)]
    dir: Option<String>,
    /// Who holds the queues ipcs, ipcrm, stat and peek look at (and info names): emulate (the
    /// namespace directory) or redis (a Redis server, see --redis). Default: MQSHIM_BACKEND, as
    /// the library reads it; the option wins. Before `run`, they stand for run's own --backend and
    /// --redis when it has none.
    #[arg(long, value_name = "emulate|redis")]
    backend: Option<String>,
    /// The Redis server and namespace of the redis backend,
    /// redis://[user:password@]host:port[/db][?prefix=NAME]; implies --backend redis. Default:
    /// MQSHIM_REDIS (else redis://127.0.0.1:6379/0, prefix mqshim); the option wins.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the emulated queues of the namespace (or a Redis server's)
    ///
    /// First the POSIX queues: name, owner, mode, attributes, messages, pending scheduled
    /// messages, and the kernel's /dev/mqueue status fields (QSIZE, NOTIFY, SIGNO, NOTIFY_PID);
    /// then the System V queues: key, id, owner, mode, bytes, messages and pending scheduled
    /// messages. Options as util-linux ipcs(1); a namespace that does not exist is an error, and
    /// nothing is created. With --backend redis (or MQSHIM_BACKEND=redis): the queues on the
    /// server, whose times (scheduled messages' due times too) are its clock's.
    Ipcs(ipcs::IpcsArgs),
    /// Remove emulated queues (or a Redis server's)
    ///
    /// POSIX queues by name (as mq_unlink: open descriptors keep working), System V queues by
    /// id (-q) or key (-Q) (as IPC_RMID), or all of both (-a). Ids and keys are decimal, 0x hex
    /// or 0 octal, as for ipcrm(1).
    Ipcrm(ipcs::IpcrmArgs),
    /// Print a queue's status line as the kernel's /dev/mqueue/NAME shows it.
    Stat {
        /// The queue's name, with its leading slash.
        name: String,
    },
    /// Show what a queue holds without taking anything
    ///
    /// The messages of a POSIX queue (/name) or System V queue (-q ID) in the order receivers
    /// would get them — priority (type), size, age and the first bytes of each, C-escaped —
    /// then its pending scheduled messages with their due times. Nothing is dequeued, no
    /// notification fires and no waiter is woken; the caller needs read permission, as a
    /// receiver does.
    Peek(peek::PeekArgs),
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

/// The queues `ipcs`, `ipcrm`, `stat` and `peek` look at (see [`queues`]): a Redis server's
/// namespace, or the emulation's — `--dir` made absolute, as `run` passes it on (so `--dir ns`
/// names the same namespace for both), else the configured one.
fn selected_queues(cli: &Cli) -> Result<queues::Queues, String> {
    use std::os::unix::ffi::OsStrExt;
    let dir = cli.dir.as_ref().map(|d| std::path::absolute(d).map_or_else(|_| d.as_bytes().to_vec(), |p| p.as_os_str().as_bytes().to_vec()));
    queues::Queues::select(&queues::Choice { backend: cli.backend.as_deref(), redis: cli.redis.as_deref(), dir })
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

/// A closed pipe ends the command quietly, as it does a C tool (`mqshim ipcs | head -1`): the
/// Rust runtime ignores SIGPIPE, which turns the failed write into a panic. Not for `trace` and
/// `diff`, which write to pipes of the programs they run and take EPIPE there as the program's
/// business (their own output ignores a closed pipe, see [`print_stdout`]). Programs started
/// by any command get the default action from std's spawn and exec, whatever this process has.
fn quiet_on_closed_pipe(command: &Command) {
    if !matches!(command, Command::Trace(_) | Command::Diff(_)) {
        // SAFETY: restores the default action of one signal before any thread is started.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
}

/// Writes `text` to standard output for a command that keeps SIGPIPE ignored: a closed pipe
/// is no error (the reader took what it wanted), any other failure is.
pub fn print_stdout(text: &str) -> Result<(), String> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("mqshim: cannot write the standard output: {e}")),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(strace_style_args());
    quiet_on_closed_pipe(&cli.command);
    let result = match &cli.command {
        Command::Ipcs(args) => selected_queues(&cli).and_then(|q| ipcs::ipcs(&q, args)),
        Command::Ipcrm(args) => selected_queues(&cli).and_then(|q| ipcs::ipcrm(&q, args)),
        Command::Stat { name } => selected_queues(&cli).and_then(|q| ipcs::stat(&q, name)),
        Command::Peek(args) => selected_queues(&cli).and_then(|q| peek::peek(&q, args)),
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
        Command::Run(args) => {
            // The global --backend/--redis before `run` stand for run's own when it has none.
            let mut args = run::RunArgs { options: args.options.clone(), trace: args.trace, command: args.command.clone() };
            args.options.backend = args.options.backend.or_else(|| cli.backend.clone());
            args.options.redis = args.options.redis.or_else(|| cli.redis.clone());
            run::run(&args, cli.dir.as_deref())
        }
        Command::Trace(args) => trace::main(args, cli.dir.as_deref()),
        Command::Diff(args) => return diff::main(args),
        Command::Report(args) => report::run(args),
        Command::Man { out_dir } => man::write_pages(Cli::command(), out_dir),
        Command::Info => queues::configured(&queues::Choice { backend: cli.backend.as_deref(), redis: cli.redis.as_deref(), dir: None }).map(|config| {
            println!("mqshim {}", env!("CARGO_PKG_VERSION"));
            println!("backend: {}", config.backend.name());
            println!("namespace: {}", String::from_utf8_lossy(&config.dir));
            if config.backend == mqshim_core::config::BackendKind::Redis {
                println!("server: {}", config.redis.shown());
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
