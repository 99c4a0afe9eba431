//! The `mqshim` command: see and clean up what the emulation holds, and show the configuration.
//!
//! `mqshim ipcs` lists the emulated queues of a namespace (`MQSHIM_DIR`, or `--dir`),
//! `mqshim ipcrm` removes one, `mqshim stat /name` prints the line the kernel shows in
//! `/dev/mqueue/NAME`, `mqshim limits` the effective limits and where each came from, and
//! `mqshim info` the version and backend.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mqshim::config::Config;
use mqshim::emu::posix::store::{QueueName, Store};

#[derive(Parser)]
#[command(name = "mqshim", version, about = "Trace, constrain and emulate Linux message queues")]
struct Cli {
    /// The emulation's namespace directory (default: MQSHIM_DIR, else /dev/shm/mqshim).
    #[arg(long, global = true)]
    dir: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the emulated POSIX queues: name, owner, mode, attributes, messages, pending
    /// scheduled messages, and the kernel's /dev/mqueue status fields (QSIZE, NOTIFY, SIGNO,
    /// NOTIFY_PID).
    Ipcs,
    /// Remove an emulated POSIX queue by name (as mq_unlink: open descriptors keep working).
    Ipcrm {
        /// The queue's name, with its leading slash.
        name: String,
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
}

fn namespace_dir(cli: &Cli) -> Vec<u8> {
    match &cli.dir {
        Some(d) => d.as_bytes().to_vec(),
        None => {
            let (config, problems) = Config::from_env();
            mqshim::config::report(&problems);
            config.dir
        }
    }
}

fn user_name(uid: u32) -> String {
    let mut buf = vec![0 as libc::c_char; 1024];
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

fn open_store(dir: &[u8]) -> Result<Store, String> {
    Store::at(dir).map_err(|e| format!("mqshim: cannot open the namespace '{}': {}", String::from_utf8_lossy(dir), e.desc()))
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
                let reg = mqshim::emu::posix::notify::snapshot(q);
                let owned = reg.owner_pid != 0;
                let scheduled = q.lock().map(|mut l| l.scheduled()).unwrap_or(0);
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

fn stat(dir: &[u8], name: &str) -> Result<(), String> {
    let store = open_store(dir)?;
    let qn = queue_name(name)?;
    let (_, queue) = store.inspect(qn.bytes()).ok_or_else(|| format!("mqshim: {name}: no such queue"))?;
    let q = queue.ok_or_else(|| format!("mqshim: {name}: permission denied"))?;
    print!("{}", mqshim::emu::posix::notify::status_line(&q));
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Ipcs => ipcs(&namespace_dir(&cli)),
        Command::Ipcrm { name } => {
            let dir = namespace_dir(&cli);
            open_store(&dir).and_then(|store| {
                let qn = queue_name(name)?;
                store.unlink(&qn).map_err(|e| format!("mqshim: cannot remove {name}: {}", e.desc()))
            })
        }
        Command::Stat { name } => stat(&namespace_dir(&cli), name),
        Command::Limits => {
            let (limits, problems) = mqshim::policy::limits::Limits::from_env();
            mqshim::config::report(&problems);
            println!("{:<18} {:>12}  source", "limit", "value");
            for (key, limit) in &limits.entries {
                let value = if *key == "rlimit_msgqueue" && limit.source == mqshim::policy::limits::Source::Default {
                    match limits.rlimit_msgqueue() {
                        u64::MAX => "unlimited".to_string(),
                        v => v.to_string(),
                    }
                } else {
                    limit.value.to_string()
                };
                let source = if *key == "rlimit_msgqueue" && limit.source == mqshim::policy::limits::Source::Default { "getrlimit".to_string() } else { limit.source.to_string() };
                println!("{key:<18} {value:>12}  {source}");
            }
            Ok(())
        }
        Command::Info => {
            let (config, problems) = Config::from_env();
            mqshim::config::report(&problems);
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
