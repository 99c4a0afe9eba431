//! Starting a program with the library preloaded: the options that map onto `MQSHIM_*`
//! ([`RunOptions`]), finding `libmqshim.so`, finding the program as a shell does, refusing programs
//! the preload cannot reach (statically linked, set-user-ID, another ELF class), building the
//! environment (an existing `LD_PRELOAD` is kept, after ours), and ending the way the program
//! ended. Used by `mqshim run`, `mqshim trace` and `mqshim diff`: [`prepare`] checks everything
//! and gives the command; [`exec`] becomes the program, [`spawn_forwarding`] starts it as a child
//! that receives the signals sent to mqshim. A statically linked program under the kernel
//! backend is not refused: it is started as a child served by [`crate::supervise`].

mod elf;

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};

use mqshim_core::config::Config;
use mqshim_core::policy::faults::Faults;
use mqshim_core::policy::limits::{parse_assignments, Limits};

/// Why a program was not started: the message for stderr and the exit status, as a shell gives
/// them (127: not found; 126: found but cannot be run, or not with the library; 2: a bad option).
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: u8,
    pub message: String,
}

/// Exit status for a bad option value (as clap's own usage errors).
pub const STATUS_USAGE: u8 = 2;
/// Exit status for a program that was found but cannot be run (or not with the library).
pub const STATUS_CANNOT_EXECUTE: u8 = 126;
/// Exit status for a program (or its interpreter) that does not exist.
pub const STATUS_NOT_FOUND: u8 = 127;

impl Failure {
    fn usage(message: String) -> Failure {
        Failure { status: STATUS_USAGE, message }
    }
}

/// How `mqshim run` (and `trace`, `diff`) run a program: each option sets one `MQSHIM_*`
/// variable for it (and its children), validated here as the library would parse it.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RunOptions {
    /// Sets MQSHIM_BACKEND: who serves the queue calls, mqshim's emulation (the default), the
    /// kernel (then mqshim traces, enforces limits and injects faults in front of it), or a
    /// Redis server shared with other hosts (see --redis).
    #[arg(long, value_name = "emulate|kernel|redis")]
    pub backend: Option<String>,
    /// Sets MQSHIM_REDIS: the Redis (or Valkey) server and namespace of the redis backend,
    /// redis://[user:password@]host:port[/db][?prefix=NAME] (default
    /// redis://127.0.0.1:6379/0, prefix mqshim).
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// The emulation's namespace: the global `--dir DIR` (sets MQSHIM_DIR; a relative path is
    /// made absolute). Filled from the global option, not parsed here.
    #[arg(skip)]
    pub dir: Option<String>,
    /// Sets MQSHIM_LIMITS: limits in force, e.g. msg_max=64,msgsize_max=1k (keys as in
    /// `mqshim limits`).
    #[arg(long, value_name = "K=V,...")]
    pub limits: Option<String>,
    /// Sets MQSHIM_CONFIG: a file of `key = value` limit lines (made absolute).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Sets MQSHIM_FAULTS: failures and delays to inject, e.g. 'mq_send:EAGAIN@3;seed=1'.
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,
    /// Sets MQSHIM_TRACE: trace every call to `stderr` or to a file (appended to; %p is
    /// replaced by the pid of the writing process; a relative path is made absolute).
    #[arg(long, value_name = "DEST")]
    pub trace_to: Option<OsString>,
    /// Sets MQSHIM_TRACE_FORMAT: text (strace-like, the default) or jsonl.
    #[arg(long, value_name = "text|jsonl")]
    pub trace_format: Option<String>,
    /// Sets MQSHIM_TRACE_BYTES: how many payload bytes a trace record previews (0-4096,
    /// default 32).
    #[arg(long, value_name = "N")]
    pub trace_bytes: Option<String>,
    /// Sets MQSHIM_SYSCALLS: `trap` makes the queue system calls the program makes itself
    /// (syscall(2), inline instructions) reach mqshim too, through a seccomp filter and a
    /// SIGSYS handler (x86_64); `library` (the default) interposes only the library functions.
    #[arg(long, value_name = "library|trap")]
    pub syscalls: Option<String>,
    /// The library to preload (default: libmqshim.so next to this command, else in ../lib
    /// or ../lib/mqshim beside it).
    #[arg(long, value_name = "PATH")]
    pub lib: Option<PathBuf>,
    /// Run the program even when the preload cannot reach it (statically linked under a backend
    /// other than kernel, set-user-ID, library of another ELF class or missing), after a
    /// warning: its queue calls then go to the kernel, unseen by mqshim.
    #[arg(long)]
    pub allow_unpreloaded: bool,
    /// The program's argv[0] (default: PROGRAM as given), as a shell's `exec -a NAME` sets it.
    /// The library passes it when a program run under mqshim execs a statically linked one,
    /// which it runs through `mqshim run` (see MQSHIM_LAUNCHER).
    #[arg(long, value_name = "NAME")]
    pub arg0: Option<OsString>,
}

impl RunOptions {
    /// The `MQSHIM_*` settings these options make, each validated as the library parses it; a
    /// bad value is a [`Failure`] with status 2 naming the option.
    pub fn environment(&self) -> Result<Vec<(String, OsString)>, Failure> {
        let mut env: Vec<(String, OsString)> = Vec::new();
        if let Some(b) = &self.backend {
            env.push(("MQSHIM_BACKEND".into(), b.into()));
        }
        if let Some(r) = &self.redis {
            env.push(("MQSHIM_REDIS".into(), r.into()));
        }
        if let Some(d) = &self.dir {
            env.push(("MQSHIM_DIR".into(), absolute_path(Path::new(d), "--dir")?.into_os_string()));
        }
        if let Some(l) = &self.limits {
            let (_, problems) = parse_assignments(l, "MQSHIM_LIMITS", &[',']);
            if let Some(p) = problems.first() {
                return Err(Failure::usage(format!("mqshim: --limits: {}", p.message)));
            }
            env.push(("MQSHIM_LIMITS".into(), l.into()));
        }
        if let Some(c) = &self.config {
            let path = absolute_path(c, "--config")?;
            let text = std::fs::read_to_string(&path).map_err(|e| Failure::usage(format!("mqshim: --config: cannot read '{}': {e}", c.display())))?;
            let (_, problems) = Limits::build(|_| None, Some(&text), None);
            if let Some(p) = problems.first() {
                return Err(Failure::usage(format!("mqshim: --config: {}: {}", c.display(), p.message)));
            }
            env.push(("MQSHIM_CONFIG".into(), path.into_os_string()));
        }
        if let Some(f) = &self.faults {
            let (_, problems) = Faults::parse(f);
            if let Some(p) = problems.first() {
                return Err(Failure::usage(format!("mqshim: --faults: {p}")));
            }
            env.push(("MQSHIM_FAULTS".into(), f.into()));
        }
        if let Some(t) = &self.trace_to {
            let target = if t.as_bytes() == b"stderr" || t.is_empty() { t.clone() } else { absolute_path(Path::new(t), "--trace-to")?.into_os_string() };
            env.push(("MQSHIM_TRACE".into(), target));
        }
        if let Some(f) = &self.trace_format {
            env.push(("MQSHIM_TRACE_FORMAT".into(), f.into()));
        }
        if let Some(n) = &self.trace_bytes {
            env.push(("MQSHIM_TRACE_BYTES".into(), n.into()));
        }
        if let Some(mode) = &self.syscalls {
            let (_, problem) = mqshim_core::config::syscall_mode(|_| Some(mode.as_bytes().to_vec()));
            if let Some(p) = problem {
                return Err(Failure::usage(format!("mqshim: --syscalls: {}", p.message.split(" (").next().unwrap_or_default())));
            }
            env.push(("MQSHIM_SYSCALLS".into(), mode.into()));
        }
        // The library's own parser judges backend, directory and trace settings.
        let (_, problems) = Config::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_bytes().to_vec()));
        if let Some(p) = problems.first() {
            let option = match p.variable {
                "MQSHIM_BACKEND" => "--backend",
                "MQSHIM_REDIS" => "--redis",
                "MQSHIM_DIR" => "--dir",
                "MQSHIM_TRACE" => "--trace-to",
                "MQSHIM_TRACE_FORMAT" => "--trace-format",
                "MQSHIM_TRACE_BYTES" => "--trace-bytes",
                other => other,
            };
            // The library would go on with a default ("; using 4096"); mqshim run refuses instead.
            let message = p.message.split("; using").next().unwrap_or_default();
            return Err(Failure::usage(format!("mqshim: {option}: {message}")));
        }
        Ok(env)
    }
}

/// `path` made absolute against the current directory (the program may change directory).
fn absolute_path(path: &Path, option: &str) -> Result<PathBuf, Failure> {
    if path.as_os_str().is_empty() {
        return Err(Failure::usage(format!("mqshim: {option}: an empty path")));
    }
    std::path::absolute(path).map_err(|e| Failure::usage(format!("mqshim: {option}: '{}': {e}", path.display())))
}

/// The library's file name.
pub const LIBRARY: &str = "libmqshim.so";

/// The library's run-time name, its SONAME (`libmqshim.so.MAJOR`): `make install` installs it
/// (a link to `libmqshim.so.VERSION`) beside the development link `libmqshim.so`, which a
/// package without the development files lacks.
pub const RUNTIME_LIBRARY: &str = concat!("libmqshim.so.", env!("CARGO_PKG_VERSION_MAJOR"));

/// Where the library is: `explicit` if given, else next to this command (a build tree:
/// `target/release/`), else in `../lib` beside it (an installed prefix: `PREFIX/bin/mqshim`,
/// `PREFIX/lib/libmqshim.so.MAJOR` or `PREFIX/lib/libmqshim.so`).
pub fn library_path(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() { Ok(absolute(p)) } else { Err(format!("mqshim: library '{}' not found", p.display())) };
    }
    let exe = std::env::current_exe().map_err(|e| format!("mqshim: cannot find this command's own path: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [dir.join(LIBRARY), dir.join("../lib").join(RUNTIME_LIBRARY), dir.join("../lib").join(LIBRARY), dir.join("../lib/mqshim").join(LIBRARY)];
    for c in &candidates {
        if c.is_file() {
            return Ok(c.canonicalize().unwrap_or_else(|_| c.clone()));
        }
    }
    Err(format!(
        "mqshim: cannot find {LIBRARY} (looked in {}); pass --lib PATH",
        candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
    ))
}

fn absolute(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// `LD_PRELOAD` with `library` first and whatever the caller had after it.
pub fn preload_value(library: &Path, existing: Option<&OsStr>) -> OsString {
    let mut v = OsString::from(library.as_os_str());
    if let Some(old) = existing.filter(|o| !o.as_bytes().iter().all(u8::is_ascii_whitespace)) {
        // ld.so separates entries by spaces or colons; ours first so that it interposes.
        v.push(":");
        v.push(old);
    }
    v
}

/// A command for `program args` with the library preloaded and `env` (MQSHIM_* settings) set.
pub fn command(library: &Path, program: &OsStr, args: &[OsString], env: &[(String, OsString)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd.env("LD_PRELOAD", preload_value(library, std::env::var_os("LD_PRELOAD").as_deref()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Ends this process the way the program ended: its exit status, or death by the same signal
/// (so that a shell reports it as it would have reported the program's, e.g. 130 for SIGINT).
pub fn exit_like(status: ExitStatus) -> ! {
    if let Some(code) = status.code() {
        std::process::exit(code);
    }
    if let Some(sig) = status.signal() {
        // SAFETY: restoring the default action and raising the signal at ourselves; no memory
        // is involved. A core dump of ours would be misleading, so cores are not wanted.
        unsafe {
            let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(sig);
        }
        std::process::exit(128 + sig);
    }
    std::process::exit(1)
}

/// The program to run, found as a shell finds it: a name with a slash as it is, else the first
/// executable regular file of that name in `PATH`. Not found: 127; found but not executable, or a
/// directory: 126 (bash's statuses and messages).
pub fn find_program(program: &OsStr) -> Result<PathBuf, Failure> {
    let name = Path::new(program).display().to_string();
    if program.is_empty() {
        return Err(Failure { status: STATUS_NOT_FOUND, message: "mqshim: '': command not found".to_string() });
    }
    if program.as_bytes().contains(&b'/') {
        let path = PathBuf::from(program);
        return match std::fs::metadata(&path) {
            Err(e) => Err(start_failure(program, &e)),
            Ok(m) if m.is_dir() => Err(Failure { status: STATUS_CANNOT_EXECUTE, message: format!("mqshim: {name}: Is a directory") }),
            Ok(_) if !executable(&path) => Err(Failure { status: STATUS_CANNOT_EXECUTE, message: format!("mqshim: {name}: Permission denied") }),
            Ok(_) => Ok(path),
        };
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    let mut not_executable = None;
    for dir in std::env::split_paths(&search) {
        // An empty entry is the current directory; "./" keeps the slash that stops execvp searching.
        let candidate = if dir.as_os_str().is_empty() { Path::new(".").join(program) } else { dir.join(program) };
        match std::fs::metadata(&candidate) {
            Ok(m) if m.is_file() && executable(&candidate) => return Ok(candidate),
            Ok(m) if m.is_file() => not_executable = not_executable.or(Some(candidate)),
            _ => {}
        }
    }
    Err(match not_executable {
        Some(path) => Failure { status: STATUS_CANNOT_EXECUTE, message: format!("mqshim: {}: Permission denied", path.display()) },
        None => Failure { status: STATUS_NOT_FOUND, message: format!("mqshim: {name}: command not found") },
    })
}

fn executable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: c is a NUL-terminated path that outlives the call.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}

/// How deep `#!` interpreters may nest (the kernel allows a few levels).
const MAX_INTERPRETER_DEPTH: usize = 4;

/// The library's ELF headers, or why the dynamic loader could not preload it.
fn check_library(library: &Path) -> Result<elf::Elf, String> {
    let why = |reason: String| format!("the library {} cannot be preloaded: {reason}", library.display());
    let lib = elf::read(library).map_err(why)?;
    if lib.kind != elf::ET_DYN || !lib.dynamic || lib.pie {
        return Err(why("it is not an ELF shared object".to_string()));
    }
    Ok(lib)
}

/// Why the library cannot reach `program` when it is executed, following `#!` interpreters to
/// the ELF file the kernel really runs; `None` when the preload works. A program that does not
/// exist or cannot be run at all is a [`Failure`] (as exec would give it).
fn obstacle(program: &Path, library: &elf::Elf, library_path: &Path, depth: usize) -> Result<Option<Obstacle>, Failure> {
    let name = program.display();
    let mut start = [0u8; 256];
    let got = match std::fs::File::open(program).and_then(|f| std::os::unix::fs::FileExt::read_at(&f, &mut start, 0)) {
        Ok(n) => n,
        // Execute-only: the kernel can run it but we cannot look; say so rather than refuse.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("mqshim: warning: cannot read {name} to check that the preload reaches it ({e}); running it");
            return Ok(None);
        }
        Err(e) => return Err(start_failure(program.as_os_str(), &e)),
    };
    let start = &start[..got];
    if let Some(line) = start.strip_prefix(b"#!") {
        if depth >= MAX_INTERPRETER_DEPTH {
            return Err(Failure { status: STATUS_CANNOT_EXECUTE, message: format!("mqshim: {name}: too many levels of #! interpreters") });
        }
        let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.trim_ascii();
        let (interpreter, argument) = match line.iter().position(|&b| b == b' ' || b == b'\t') {
            Some(at) => (&line[..at], line[at..].trim_ascii()),
            None => (line, &b""[..]),
        };
        let interpreter = Path::new(OsStr::from_bytes(interpreter));
        if !interpreter.exists() {
            return Err(Failure {
                status: STATUS_NOT_FOUND,
                message: format!("mqshim: {name}: bad interpreter {}: No such file or directory", interpreter.display()),
            });
        }
        if let Some(why) = obstacle(interpreter, library, library_path, depth + 1)? {
            return Ok(Some(Obstacle { why: format!("{name} is a script run by {}, and {}", interpreter.display(), why.why), ..why }));
        }
        // `#!/usr/bin/env NAME`: env is dynamic, but NAME is what runs the script.
        let is_env = interpreter.file_name() == Some(OsStr::new("env"));
        if is_env && !argument.is_empty() && !argument.starts_with(b"-") && !argument.iter().any(u8::is_ascii_whitespace) {
            if let Ok(target) = find_program(OsStr::from_bytes(argument)) {
                if let Some(why) = obstacle(&target, library, library_path, depth + 1)? {
                    return Ok(Some(Obstacle { why: format!("{name} is a script run by {} (through env), and {}", target.display(), why.why), ..why }));
                }
            }
        }
        return Ok(None);
    }
    if !elf::is_elf(start) {
        // execvp runs a file without #! that the kernel refuses (ENOEXEC) with /bin/sh.
        return match depth {
            0 => obstacle(Path::new("/bin/sh"), library, library_path, depth + 1),
            _ => Err(Failure { status: STATUS_CANNOT_EXECUTE, message: format!("mqshim: {name}: cannot execute binary file: Exec format error") }),
        };
    }
    let exe = elf::read(program).map_err(|why| Failure { status: STATUS_CANNOT_EXECUTE, message: format!("mqshim: {name}: cannot execute: {why}") })?;
    if exe.interpreter.is_none() && !is_dynamic_loader(program) {
        let kind = if exe.dynamic { "statically linked (a static PIE)" } else { "statically linked" };
        let why = format!("{name} is {kind}: it has no PT_INTERP, so no dynamic loader runs and LD_PRELOAD has no effect");
        return Ok(Some(Obstacle { why, statically_linked: true }));
    }
    if (exe.bits, exe.machine) != (library.bits, library.machine) {
        let why = format!(
            "{name} is a {} program but the library {} is {}: the dynamic loader would skip the library (wrong ELF class or machine)",
            exe.describe(),
            library_path.display(),
            library.describe()
        );
        return Ok(Some(Obstacle { why, statically_linked: false }));
    }
    Ok(secure_execution(program).map(|why| Obstacle { why, statically_linked: false }))
}

/// Why the preload cannot reach a program.
struct Obstacle {
    why: String,
    /// The program (or its script's interpreter) is statically linked: a supervisor can serve
    /// it instead (see [`crate::supervise`]).
    statically_linked: bool,
}

/// Whether `program` is the dynamic loader itself (run directly, it honours LD_PRELOAD): the
/// same file as this command's own interpreter.
fn is_dynamic_loader(program: &Path) -> bool {
    let Ok(own) = elf::read(Path::new("/proc/self/exe")) else { return false };
    let Some(interpreter) = own.interpreter else { return false };
    match (program.canonicalize(), interpreter.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Why executing `program` would put the dynamic loader in secure-execution mode (AT_SECURE),
/// where it ignores LD_PRELOAD entries that contain a slash: the program's set-user-ID or
/// set-group-ID bit (or file capabilities) changes our credentials. `None` when it does not:
/// the bits are ignored (nosuid mount, no_new_privs) or the new identity is the one we have.
fn secure_execution(program: &Path) -> Option<String> {
    let meta = std::fs::metadata(program).ok()?;
    let mode = meta.permissions().mode();
    let c = CString::new(program.as_os_str().as_bytes()).ok()?;
    // SAFETY: plain credential queries; no memory is passed.
    let (ruid, euid, rgid, egid) = unsafe { (libc::getuid(), libc::geteuid(), libc::getgid(), libc::getegid()) };
    // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointers; the unused arguments are zero.
    let no_new_privs = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } == 1;
    // SAFETY: st is plain C data that statvfs fills; c is a NUL-terminated path.
    let nosuid = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_NOSUID != 0
    };
    let bits_apply = !no_new_privs && !nosuid;
    let new_euid = if bits_apply && mode & libc::S_ISUID != 0 { meta.uid() } else { euid };
    // Set-group-ID without group execute is mandatory locking, not a new group.
    let new_egid = if bits_apply && mode & libc::S_ISGID != 0 && mode & libc::S_IXGRP != 0 { meta.gid() } else { egid };
    // SAFETY: c is a NUL-terminated path; a null buffer of size 0 only asks whether the attribute exists.
    let has_capabilities = bits_apply && unsafe { libc::getxattr(c.as_ptr(), c"security.capability".as_ptr(), std::ptr::null_mut(), 0) } >= 0;
    let why = if new_euid != ruid {
        format!("is set-user-ID (it runs as uid {new_euid}, you are uid {ruid})")
    } else if new_egid != rgid {
        format!("is set-group-ID (it runs as gid {new_egid}, your group is gid {rgid})")
    } else if has_capabilities && ruid != 0 {
        "has file capabilities".to_string()
    } else {
        return None;
    };
    Some(format!(
        "{} {why}: the kernel runs it in secure-execution mode, where the dynamic loader ignores LD_PRELOAD entries containing a slash (and preloads only set-user-ID libraries from the system's trusted directories), so mqshim would not be loaded; run a copy without the bit, or as its owner",
        program.display()
    ))
}

/// A program ready to start: its command, and for a statically linked program the supervisor
/// that serves its queue calls ([`crate::supervise`]). Start it with [`exec`] or
/// [`spawn_forwarding`].
pub struct Launch {
    command: Command,
    supervisor: Option<crate::supervise::Pending>,
}

impl Launch {
    /// Whether the program is statically linked, its queue calls served by a supervisor in this
    /// process rather than by the preload.
    pub fn supervised(&self) -> bool {
        self.supervisor.is_some()
    }

    /// Gives up a launch that will not start.
    pub fn abandon(self) {
        if let Some(pending) = self.supervisor {
            pending.abandon();
        }
    }
}

/// Whether the program's backend is one the supervisor serves a statically linked program with
/// (kernel, or emulate for System V: see `supervise`): its `MQSHIM_BACKEND`, from the options
/// (`env`) or else inherited.
fn served_backend(env: &[(String, OsString)]) -> bool {
    let lookup =
        |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_bytes().to_vec()).or_else(|| std::env::var_os(name).map(|v| v.as_bytes().to_vec()));
    matches!(Config::from_lookup(lookup).0.backend, mqshim_core::config::BackendKind::Kernel | mqshim_core::config::BackendKind::Emulate)
}

/// Checks everything and builds the command that runs `program args` with the library preloaded
/// and the settings of `options` (`MQSHIM_*`), then `extra_env` (set last: a caller such as the
/// trace collector adds or overrides variables). The command is given the program's path as
/// found, with `program` as its argv[0].
///
/// A statically linked program under the kernel or emulate backend is not preloaded: a supervisor in this
/// process serves its queue calls ([`crate::supervise`]), with this process's `MQSHIM_*` set to
/// the program's settings (its tracer and policy are the program's).
///
/// Refuses (a [`Failure`]) a bad option value (status 2), a program not found (127) or that cannot
/// be run (126), and when the preload cannot reach it (126: statically linked under another
/// backend than those, set-user-ID, a library missing or of another class) unless
/// `options.allow_unpreloaded`, which warns instead.
pub fn prepare(options: &RunOptions, extra_env: &[(String, OsString)], program: &OsStr, args: &[OsString]) -> Result<Launch, Failure> {
    let mut env = options.environment()?;
    // A statically linked program the program execs is run through this command too (see
    // `mqshim_core::launcher`).
    if let Ok(exe) = std::env::current_exe() {
        env.push((mqshim_core::launcher::LAUNCHER_VARIABLE.into(), exe.into_os_string()));
    }
    env.extend(extra_env.iter().cloned());
    let path = find_program(program)?;
    let refuse_or_warn = |why: String| -> Result<(), Failure> {
        if options.allow_unpreloaded {
            eprintln!("mqshim: warning: {why}; running it anyway (--allow-unpreloaded): its queue calls go to the kernel, unseen by mqshim");
            Ok(())
        } else {
            Err(Failure {
                status: STATUS_CANNOT_EXECUTE,
                message: format!("mqshim: {why}; not running it (--allow-unpreloaded runs it anyway, without mqshim)"),
            })
        }
    };
    let library = match library_path(options.lib.as_deref()) {
        Ok(library) => Some(library),
        Err(why) => {
            refuse_or_warn(why.trim_start_matches("mqshim: ").to_string())?;
            None
        }
    };
    let mut supervised = false;
    if let Some(library) = &library {
        match check_library(library) {
            Ok(lib) => match obstacle(&path, &lib, library, 0)? {
                Some(o) if o.statically_linked && served_backend(&env) => supervised = true,
                Some(o) if o.statically_linked => refuse_or_warn(format!(
                    "{} (mqshim serves a statically linked program's queue calls from outside it only with --backend kernel or emulate so far)",
                    o.why
                ))?,
                Some(o) => refuse_or_warn(o.why)?,
                None => {}
            },
            Err(why) => refuse_or_warn(why)?,
        }
    }
    let mut cmd = match &library {
        Some(library) if !supervised => command(library, path.as_os_str(), args, &env),
        _ => {
            let mut cmd = Command::new(&path);
            cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
            cmd
        }
    };
    cmd.arg0(options.arg0.as_deref().unwrap_or(program));
    let supervisor = if supervised {
        // The supervisor's tracer, limits and faults are built from this process's environment
        // (on its first call): the program's settings. No thread runs yet.
        for (k, v) in &env {
            std::env::set_var(k, v);
        }
        Some(crate::supervise::Pending::attach(&mut cmd).map_err(|message| Failure { status: STATUS_CANNOT_EXECUTE, message })?)
    } else {
        None
    };
    Ok(Launch { command: cmd, supervisor })
}

/// The failure of starting (or finding, or reading) `program`, as a shell reports it (ENOENT:
/// 127, else 126).
fn start_failure(program: &OsStr, error: &std::io::Error) -> Failure {
    let status = if error.kind() == std::io::ErrorKind::NotFound { STATUS_NOT_FOUND } else { STATUS_CANNOT_EXECUTE };
    Failure { status, message: format!("mqshim: {}: {error}", Path::new(program).display()) }
}

/// Becomes the program (execve): its exit status and death by signal are then the program's
/// own, and signals sent to `mqshim run` reach it directly. Returns only if exec failed. A
/// supervised program is started as a child instead ([`spawn_forwarding`]); this process serves
/// it, and every process it starts, until all have exited, then ends as the program did.
pub fn exec(launch: Launch) -> Failure {
    if launch.supervisor.is_some() {
        return match spawn_forwarding(launch) {
            Ok(mut child) => {
                let status = child.wait();
                crate::supervise::wait();
                match status {
                    Ok(status) => exit_like(status),
                    Err(e) => Failure { status: STATUS_CANNOT_EXECUTE, message: format!("mqshim: cannot wait for the program: {e}") },
                }
            }
            Err(failure) => failure,
        };
    }
    let mut cmd = launch.command;
    let error = cmd.exec();
    start_failure(cmd.get_program(), &error)
}

/// The running child signals are forwarded to (0: none yet).
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

/// Signals sent to mqshim that the child receives too.
const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

extern "C" fn forward_signal(signal: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    // SAFETY: for an SA_SIGINFO handler the kernel passes a valid siginfo_t.
    let code = unsafe { (*info).si_code };
    let child = FORWARD_TO.load(Ordering::Relaxed);
    // Sent by a process (kill, sigqueue, tkill: si_code <= 0) — forward it. One the terminal
    // generated (SI_KERNEL) already went to the whole foreground process group, the child too.
    if child > 0 && code <= 0 {
        // SAFETY: kill is async-signal-safe and takes no pointers.
        unsafe { libc::kill(child, signal) };
    }
}

/// Starts the program as a child of this process (for a caller that has work to do while it
/// runs, such as the trace collector) and, from then on, forwards SIGINT, SIGTERM, SIGHUP and
/// SIGQUIT sent to this process to it (not those a terminal sent to the whole process group:
/// the child had them already), so that mqshim outlives it. Wait for the child, then end with
/// [`exit_like`].
pub fn spawn_forwarding(launch: Launch) -> Result<Child, Failure> {
    let Launch { command: mut cmd, mut supervisor } = launch;
    // SAFETY: sigset_t and sigaction are plain C data, zero-initialised and then filled by
    // sigemptyset, sigaddset and pthread_sigmask.
    let before = unsafe {
        let mut forwarded: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut forwarded);
        for s in FORWARDED {
            libc::sigaddset(&mut forwarded, s);
        }
        // Blocked until the child's pid is stored, so that none is lost in between.
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &forwarded, &mut before);
        let mut action: libc::sigaction = std::mem::zeroed();
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = forward_signal;
        action.sa_sigaction = handler as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        for s in FORWARDED {
            libc::sigaction(s, &action, std::ptr::null_mut());
        }
        before
    };
    // SAFETY: runs in the child between fork and exec, calling only async-signal-safe functions:
    // the forwarded signals get their default action back (a pending one then acts as it
    // would have on the program) and the mask is the one this process had before.
    unsafe {
        cmd.pre_exec(move || {
            for s in FORWARDED {
                libc::signal(s, libc::SIG_DFL);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = cmd.spawn();
    if let Ok(c) = &child {
        FORWARD_TO.store(c.id() as i32, Ordering::Relaxed);
    }
    // SAFETY: before is the initialised mask from above; a pending forwarded signal is delivered now.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut()) };
    let mut child = child.map_err(|e| {
        if let Some(s) = supervisor.take() {
            s.abandon();
        }
        start_failure(cmd.get_program(), &e)
    })?;
    if let Some(s) = supervisor.take() {
        if let Err(message) = s.start() {
            // Unserved, its first queue call would wait for ever.
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure { status: STATUS_CANNOT_EXECUTE, message });
        }
    }
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_validated_variables() {
        let options = RunOptions {
            backend: Some("kernel".into()),
            redis: Some("redis://10.0.0.1:6380/1?prefix=jobs".into()),
            dir: Some("/dev/shm/t".into()),
            limits: Some("msg_max=64,msgsize_max=1k".into()),
            faults: Some("mq_send:EAGAIN@3;seed=1".into()),
            trace_to: Some("stderr".into()),
            trace_format: Some("jsonl".into()),
            trace_bytes: Some("7".into()),
            syscalls: Some("trap".into()),
            ..RunOptions::default()
        };
        let env = options.environment().unwrap();
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "MQSHIM_BACKEND",
                "MQSHIM_REDIS",
                "MQSHIM_DIR",
                "MQSHIM_LIMITS",
                "MQSHIM_FAULTS",
                "MQSHIM_TRACE",
                "MQSHIM_TRACE_FORMAT",
                "MQSHIM_TRACE_BYTES",
                "MQSHIM_SYSCALLS"
            ]
        );
        assert_eq!(env[5].1, "stderr");
        assert!(RunOptions::default().environment().unwrap().is_empty());
    }

    #[test]
    fn bad_values_name_the_option_with_status_2() {
        let bad = |options: RunOptions, option: &str| {
            let failure = options.environment().unwrap_err();
            assert_eq!(failure.status, STATUS_USAGE);
            assert!(failure.message.starts_with(&format!("mqshim: {option}: ")), "{}", failure.message);
        };
        bad(RunOptions { backend: Some("fast".into()), ..RunOptions::default() }, "--backend");
        bad(RunOptions { redis: Some("http://h".into()), ..RunOptions::default() }, "--redis");
        bad(RunOptions { limits: Some("msg_max=lots".into()), ..RunOptions::default() }, "--limits");
        bad(RunOptions { faults: Some("mq_send:EIDRM".into()), ..RunOptions::default() }, "--faults");
        bad(RunOptions { trace_format: Some("xml".into()), ..RunOptions::default() }, "--trace-format");
        bad(RunOptions { trace_bytes: Some("5000".into()), ..RunOptions::default() }, "--trace-bytes");
        bad(RunOptions { syscalls: Some("always".into()), ..RunOptions::default() }, "--syscalls");
        bad(RunOptions { config: Some("/nonexistent/mqshim.conf".into()), ..RunOptions::default() }, "--config");
    }

    #[test]
    fn relative_paths_are_made_absolute() {
        let env = RunOptions { dir: Some("ns".into()), trace_to: Some("t.%p".into()), ..RunOptions::default() }.environment().unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(env[0].1, cwd.join("ns").into_os_string());
        assert_eq!(env[1].1, cwd.join("t.%p").into_os_string());
    }

    #[test]
    fn programs_are_found_as_a_shell_finds_them() {
        assert_eq!(find_program(OsStr::new("no-such-program-mqshim")).unwrap_err().status, STATUS_NOT_FOUND);
        assert_eq!(find_program(OsStr::new("./no-such-program-mqshim")).unwrap_err().status, STATUS_NOT_FOUND);
        assert_eq!(find_program(OsStr::new("/")).unwrap_err().status, STATUS_CANNOT_EXECUTE);
        assert!(find_program(OsStr::new("sh")).unwrap().ends_with("sh"));
    }

    #[test]
    fn signals_sent_to_mqshim_reach_the_spawned_child() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut child = spawn_forwarding(Launch { command: cmd, supervisor: None }).unwrap();
        // SAFETY: signalling this process; the handler spawn_forwarding installed forwards it.
        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }
}
