//! `MQSHIM_*` environment variables → [`Config`], parsed once per process, never panicking.
//!
//! A malformed value is reported once on stderr, naming the variable and saying what was done
//! with the value: ignored (the default applies), or clamped to the nearest value allowed.
//! Every variable is listed in the README's table.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Which implementation serves the queue calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// Forward to the kernel through libc (`MQSHIM_BACKEND=kernel`).
    Kernel,
    /// mqshim's userspace emulation (`MQSHIM_BACKEND=emulate`).
    Emulate,
    /// Queues held by a Redis (or Valkey) server, shared across machines (`MQSHIM_BACKEND=redis`,
    /// server and namespace from `MQSHIM_REDIS`).
    Redis,
}

impl BackendKind {
    /// The name used in `MQSHIM_BACKEND`, traces and `mqshim_backend()`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Kernel => "kernel",
            BackendKind::Emulate => "emulate",
            BackendKind::Redis => "redis",
        }
    }
}

/// Where trace records go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceTarget {
    /// File descriptor 2.
    Stderr,
    /// A file, appended to; `%p` in the path is replaced by the pid of the writing process.
    Path(Vec<u8>),
    /// Binary records in a shared-memory buffer per process, in this directory, for the
    /// `mqshim trace` collector (`shm:DIR` or `shm,size=BYTES:DIR`).
    Shared { dir: Vec<u8>, capacity: usize },
}

/// How trace records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    /// One strace-like line per call.
    Text,
    /// One JSON object per line.
    Jsonl,
}

/// Tracing settings; absent when `MQSHIM_TRACE` is unset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceConfig {
    pub target: TraceTarget,
    pub format: TraceFormat,
    /// How many payload bytes a record previews (`MQSHIM_TRACE_BYTES`, default 32).
    pub payload_bytes: usize,
}

/// Default for `MQSHIM_TRACE_BYTES`.
pub const DEFAULT_TRACE_BYTES: usize = 32;
/// Largest accepted `MQSHIM_TRACE_BYTES`: a record is built in a fixed buffer.
pub const MAX_TRACE_BYTES: usize = 4096;
/// Default emulation namespace (`MQSHIM_DIR`).
pub const DEFAULT_DIR: &str = crate::emu::namespace::DEFAULT_ROOT;

/// Everything mqshim reads from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub backend: BackendKind,
    /// The emulation's namespace directory.
    pub dir: Vec<u8>,
    pub trace: Option<TraceConfig>,
    /// The Redis server and namespace of the `redis` backend (`MQSHIM_REDIS`).
    pub redis: crate::remote::url::RedisUrl,
}

/// A problem with one variable, and what was done with its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    pub variable: &'static str,
    pub message: String,
    pub outcome: Outcome,
}

/// What was done with a value that had a problem: the last words of its report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not used at all (the default, or nothing, applies; the message says which when it matters).
    Ignored,
    /// Replaced by the nearest value allowed, shown as it would be written.
    ClampedTo(String),
    /// Used as given, with what follows from it.
    Used(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ignored => f.write_str("ignored"),
            Outcome::ClampedTo(value) => write!(f, "clamped to {value}"),
            Outcome::Used(consequence) => write!(f, "used: {consequence}"),
        }
    }
}

impl ConfigProblem {
    /// A value that was not used.
    pub fn ignored(variable: &'static str, message: impl Into<String>) -> ConfigProblem {
        ConfigProblem { variable, message: message.into(), outcome: Outcome::Ignored }
    }

    /// The line reported on stderr (after `mqshim: `).
    pub fn line(&self) -> String {
        format!("{}: {}; {}", self.variable, self.message, self.outcome)
    }
}

impl Config {
    /// Reads the process environment. Never fails: problems come back alongside the config.
    pub fn from_env() -> (Config, Vec<ConfigProblem>) {
        Config::from_lookup(|name| std::env::var_os(name).map(OsString::into_vec))
    }

    /// Builds the configuration from any variable lookup (the environment, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<Vec<u8>>) -> (Config, Vec<ConfigProblem>) {
        let mut problems = Vec::new();
        let mut problem = |variable: &'static str, message: String, outcome: Outcome| problems.push(ConfigProblem { variable, message, outcome });

        let backend = match lookup("MQSHIM_BACKEND").as_deref() {
            None | Some(b"") => BackendKind::Emulate,
            Some(b"kernel") => BackendKind::Kernel,
            Some(b"emulate") => BackendKind::Emulate,
            Some(b"redis") => BackendKind::Redis,
            Some(other) => {
                problem(
                    "MQSHIM_BACKEND",
                    format!("unknown backend '{}' (expected 'emulate', 'kernel' or 'redis'; the default, emulate, applies)", String::from_utf8_lossy(other)),
                    Outcome::Ignored,
                );
                BackendKind::Emulate
            }
        };

        let dir = match lookup("MQSHIM_DIR") {
            None => DEFAULT_DIR.as_bytes().to_vec(),
            Some(d) if d.first() == Some(&b'/') => d,
            Some(d) => {
                problem(
                    "MQSHIM_DIR",
                    format!("'{}' is not an absolute path (the default, {DEFAULT_DIR}, applies)", String::from_utf8_lossy(&d)),
                    Outcome::Ignored,
                );
                DEFAULT_DIR.as_bytes().to_vec()
            }
        };

        let redis = match lookup("MQSHIM_REDIS") {
            None => crate::remote::url::RedisUrl::default(),
            Some(v) if v.is_empty() => crate::remote::url::RedisUrl::default(),
            Some(v) => match crate::remote::url::RedisUrl::parse(&String::from_utf8_lossy(&v)) {
                Ok(url) => url,
                Err(why) => {
                    let default = crate::remote::url::DEFAULT_URL;
                    problem("MQSHIM_REDIS", format!("{why} (the default, {default}, applies)"), Outcome::Ignored);
                    crate::remote::url::RedisUrl::default()
                }
            },
        };

        let format = match lookup("MQSHIM_TRACE_FORMAT").as_deref() {
            None | Some(b"") | Some(b"text") => TraceFormat::Text,
            Some(b"jsonl") | Some(b"json") => TraceFormat::Jsonl,
            Some(other) => {
                problem(
                    "MQSHIM_TRACE_FORMAT",
                    format!("unknown format '{}' (expected 'text' or 'jsonl'; the default, text, applies)", String::from_utf8_lossy(other)),
                    Outcome::Ignored,
                );
                TraceFormat::Text
            }
        };

        let payload_bytes = match lookup("MQSHIM_TRACE_BYTES") {
            None => DEFAULT_TRACE_BYTES,
            Some(v) => match std::str::from_utf8(&v).ok().and_then(|s| s.trim().parse::<usize>().ok()) {
                Some(n) if n <= MAX_TRACE_BYTES => n,
                Some(n) => {
                    problem("MQSHIM_TRACE_BYTES", format!("{n} is above the maximum"), Outcome::ClampedTo(MAX_TRACE_BYTES.to_string()));
                    MAX_TRACE_BYTES
                }
                None => {
                    problem(
                        "MQSHIM_TRACE_BYTES",
                        format!("'{}' is not a non-negative number (the default, {DEFAULT_TRACE_BYTES}, applies)", String::from_utf8_lossy(&v)),
                        Outcome::Ignored,
                    );
                    DEFAULT_TRACE_BYTES
                }
            },
        };

        let trace = match lookup("MQSHIM_TRACE") {
            None => None,
            Some(v) if v.is_empty() => None,
            Some(v) if v == b"stderr" => Some(TraceTarget::Stderr),
            Some(v) if v.contains(&0) => {
                problem("MQSHIM_TRACE", "path contains a NUL byte (nothing is traced)".to_string(), Outcome::Ignored);
                None
            }
            Some(v) if v.starts_with(b"shm:") || v.starts_with(b"shm,") => match shared_target(&v) {
                Ok(t) => Some(t),
                Err(why) => {
                    problem("MQSHIM_TRACE", format!("{why} (nothing is traced)"), Outcome::Ignored);
                    None
                }
            },
            Some(v) => Some(TraceTarget::Path(v)),
        }
        .map(|target| TraceConfig { target, format, payload_bytes });

        (Config { backend, dir, trace, redis }, problems)
    }
}

/// A trace buffer's size: BYTES with an optional k/m/g suffix, 4096 to 1g (rounded up to 8).
pub fn trace_buffer_size(size: &str) -> Result<usize, String> {
    use crate::trace::buffer::{MAX_CAPACITY, MIN_CAPACITY};
    let (digits, unit) = match size.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => size.split_at(i),
        None => (size, ""),
    };
    let shift = match unit {
        "" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        _ => return Err(format!("'{size}': a size is a number with an optional k, m or g")),
    };
    let n: usize = digits.parse().map_err(|_| format!("'{size}': a size is a number with an optional k, m or g"))?;
    let capacity = n.checked_shl(shift).filter(|c| c >> shift == n).unwrap_or(usize::MAX);
    if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return Err(format!("'{size}': a trace buffer is 4k to 1g"));
    }
    Ok(capacity.next_multiple_of(8))
}

/// `shm:DIR` or `shm,size=BYTES:DIR` (BYTES with an optional k/m/g suffix; DIR absolute).
fn shared_target(v: &[u8]) -> Result<TraceTarget, String> {
    use crate::trace::buffer::DEFAULT_CAPACITY;
    let text = String::from_utf8_lossy(v);
    let (spec, dir) = text.split_once(':').ok_or_else(|| format!("'{text}': expected shm:DIR"))?;
    let mut capacity = DEFAULT_CAPACITY;
    if let Some(size) = spec.strip_prefix("shm,size=") {
        capacity = trace_buffer_size(size)?;
    } else if spec != "shm" {
        return Err(format!("'{spec}': expected shm or shm,size=BYTES before ':'"));
    }
    if !dir.starts_with('/') {
        return Err(format!("'{dir}': the trace directory must be an absolute path"));
    }
    Ok(TraceTarget::Shared { dir: dir.as_bytes().to_vec(), capacity })
}

/// How the queue system calls a program makes itself reach mqshim (`MQSHIM_SYSCALLS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallMode {
    /// Only the library functions are interposed (the default, `MQSHIM_SYSCALLS=library`): a
    /// raw `syscall(SYS_mq_timedsend, …)` reaches the kernel.
    Library,
    /// `MQSHIM_SYSCALLS=trap`: a seccomp filter traps them into the library ([`crate::trap`]).
    Trap,
}

/// `MQSHIM_SYSCALLS` from any variable lookup, with the problem of an unknown value (read at
/// load time, before the rest of the configuration: the trap must be in place before the
/// program's first system call).
pub fn syscall_mode(lookup: impl Fn(&str) -> Option<Vec<u8>>) -> (SyscallMode, Option<ConfigProblem>) {
    match lookup("MQSHIM_SYSCALLS").as_deref() {
        None | Some(b"") | Some(b"library") => (SyscallMode::Library, None),
        Some(b"trap") => (SyscallMode::Trap, None),
        Some(other) => (
            SyscallMode::Library,
            Some(ConfigProblem::ignored(
                "MQSHIM_SYSCALLS",
                format!("unknown mode '{}' (expected 'library' or 'trap'; the default, library, applies)", String::from_utf8_lossy(other)),
            )),
        ),
    }
}

/// Writes each problem to stderr, one line each (`mqshim: MQSHIM_X: …; ignored`, or `clamped to
/// N`, or `used`).
pub fn report(problems: &[ConfigProblem]) {
    for p in problems {
        crate::os::stderr::report(&p.line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> (Config, Vec<ConfigProblem>) {
        let map: HashMap<String, Vec<u8>> = vars.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn syscall_mode_is_library_unless_trap() {
        let mode = |v: Option<&str>| syscall_mode(|_| v.map(|v| v.as_bytes().to_vec()));
        assert_eq!(mode(None), (SyscallMode::Library, None));
        assert_eq!(mode(Some("trap")), (SyscallMode::Trap, None));
        assert_eq!(mode(Some("library")), (SyscallMode::Library, None));
        let (m, problem) = mode(Some("always"));
        assert_eq!(m, SyscallMode::Library);
        assert_eq!(problem.unwrap().variable, "MQSHIM_SYSCALLS");
    }

    #[test]
    fn shared_trace_buffers_are_configured_and_bad_specs_reported() {
        let target = |v: &str| parse(&[("MQSHIM_TRACE", v)]).0.trace.map(|t| t.target);
        assert_eq!(target("shm:/dev/shm/t"), Some(TraceTarget::Shared { dir: b"/dev/shm/t".to_vec(), capacity: crate::trace::buffer::DEFAULT_CAPACITY }));
        assert_eq!(target("shm,size=64k:/t"), Some(TraceTarget::Shared { dir: b"/t".to_vec(), capacity: 65536 }));
        for bad in ["shm,size=1q:/t", "shm,size=1:/t", "shm,size=2g:/t", "shm:relative", "shm,size=99999999999999999999g:/t"] {
            let (c, problems) = parse(&[("MQSHIM_TRACE", bad)]);
            assert!(c.trace.is_none() && problems.len() == 1, "{bad}: {problems:?}");
        }
    }

    #[test]
    fn defaults_without_variables() {
        let (c, p) = parse(&[]);
        assert!(p.is_empty());
        assert_eq!(c.backend, BackendKind::Emulate);
        assert_eq!(c.dir, DEFAULT_DIR.as_bytes());
        assert_eq!(c.trace, None);
    }

    #[test]
    fn trace_settings_are_read() {
        let (c, p) = parse(&[("MQSHIM_TRACE", "/tmp/t.%p"), ("MQSHIM_TRACE_FORMAT", "jsonl"), ("MQSHIM_TRACE_BYTES", "7")]);
        assert!(p.is_empty());
        let t = c.trace.unwrap();
        assert_eq!(t.target, TraceTarget::Path(b"/tmp/t.%p".to_vec()));
        assert_eq!(t.format, TraceFormat::Jsonl);
        assert_eq!(t.payload_bytes, 7);
    }

    #[test]
    fn bad_values_are_reported_and_ignored() {
        let (c, p) = parse(&[
            ("MQSHIM_BACKEND", "fast"),
            ("MQSHIM_TRACE", "stderr"),
            ("MQSHIM_TRACE_FORMAT", "xml"),
            ("MQSHIM_TRACE_BYTES", "-3"),
            ("MQSHIM_DIR", "relative"),
        ]);
        assert_eq!(c.backend, BackendKind::Emulate);
        assert_eq!(c.trace.as_ref().unwrap().format, TraceFormat::Text);
        assert_eq!(c.trace.as_ref().unwrap().payload_bytes, DEFAULT_TRACE_BYTES);
        assert_eq!(c.dir, DEFAULT_DIR.as_bytes());
        let vars: Vec<_> = p.iter().map(|p| p.variable).collect();
        assert_eq!(vars, ["MQSHIM_BACKEND", "MQSHIM_DIR", "MQSHIM_TRACE_FORMAT", "MQSHIM_TRACE_BYTES"]);
    }

    #[test]
    fn the_redis_backend_and_its_url_are_read_and_a_bad_url_reported() {
        let (c, p) = parse(&[("MQSHIM_BACKEND", "redis"), ("MQSHIM_REDIS", "redis://10.1.2.3:7000/2?prefix=ns")]);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(c.backend, BackendKind::Redis);
        assert_eq!((c.redis.host.as_str(), c.redis.port, c.redis.db, c.redis.prefix.as_str()), ("10.1.2.3", 7000, 2, "ns"));
        let (c, p) = parse(&[("MQSHIM_BACKEND", "redis"), ("MQSHIM_REDIS", "redis://u:hunter2@h:nope")]);
        assert_eq!(c.redis, crate::remote::url::RedisUrl::default());
        assert_eq!(p.len(), 1);
        let line = p[0].line();
        assert!(line.starts_with("MQSHIM_REDIS: 'nope' is not a port") && line.ends_with("applies); ignored") && !line.contains("hunter2"), "{line}");
    }

    #[test]
    fn oversized_preview_is_capped() {
        let (c, p) = parse(&[("MQSHIM_TRACE", "stderr"), ("MQSHIM_TRACE_BYTES", "1000000")]);
        assert_eq!(c.trace.unwrap().payload_bytes, MAX_TRACE_BYTES);
        assert_eq!(p.len(), 1);
        // The value was used, capped: the report says so, and not that it was ignored.
        assert_eq!(p[0].line(), format!("MQSHIM_TRACE_BYTES: 1000000 is above the maximum; clamped to {MAX_TRACE_BYTES}"));
    }

    #[test]
    fn an_ignored_value_says_what_applies_instead() {
        let (_, p) = parse(&[("MQSHIM_BACKEND", "fast"), ("MQSHIM_TRACE", "stderr"), ("MQSHIM_TRACE_BYTES", "many")]);
        let lines: Vec<String> = p.iter().map(ConfigProblem::line).collect();
        assert_eq!(
            lines,
            [
                "MQSHIM_BACKEND: unknown backend 'fast' (expected 'emulate', 'kernel' or 'redis'; the default, emulate, applies); ignored".to_string(),
                format!("MQSHIM_TRACE_BYTES: 'many' is not a non-negative number (the default, {DEFAULT_TRACE_BYTES}, applies); ignored"),
            ]
        );
    }
}
