//! Starting a program with the library preloaded: finding `libmqshim.so`, building the
//! environment (an existing `LD_PRELOAD` is kept, after ours), and ending the way the program
//! ended. Used by `mqshim run`, `mqshim trace` and `mqshim diff`.
//!
//! (Skeleton: the refusals of programs the preload cannot reach, and the options that map onto
//! `MQSHIM_*`, are being written in `run.rs`.)

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The library's file name.
pub const LIBRARY: &str = "libmqshim.so";

/// Where the library is: `explicit` if given, else next to this command (a build tree:
/// `target/release/`), else in `../lib` beside it (an installed prefix: `PREFIX/bin/mqshim`,
/// `PREFIX/lib/libmqshim.so`).
pub fn library_path(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() { Ok(absolute(p)) } else { Err(format!("mqshim: library '{}' not found", p.display())) };
    }
    let exe = std::env::current_exe().map_err(|e| format!("mqshim: cannot find this command's own path: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [dir.join(LIBRARY), dir.join("../lib").join(LIBRARY), dir.join("../lib/mqshim").join(LIBRARY)];
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
