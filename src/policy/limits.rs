//! Every POSIX and System V limit the kernel has, with where each value came from: the stock
//! default, the machine's `/proc`, the `MQSHIM_CONFIG` file or `MQSHIM_LIMITS`, later ones
//! overriding earlier ones.
//!
//! `MQSHIM_LIMITS` is a comma-separated list of `key=value`
//! (`msg_max=4,msgsize_max=256,queues_max=2`); `MQSHIM_CONFIG` names a file with the same keys,
//! one `key = value` per line, `#` starting a comment. Values are decimal integers, optionally
//! with a `k` (×1024), `m` (×1024²) or `g` (×1024³) suffix. A malformed entry is reported once, naming the
//! variable and the entry, and ignored; a System V limit above the largest int is clamped to it,
//! and said to be.

use crate::emu::posix::limits::PosixLimits;
use crate::emu::sysv::limits::SysvLimits;
use crate::emu::EmulationLimits;
use std::fmt;

/// Where a limit's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    Proc,
    Config,
    Environment,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Default => "default",
            Source::Proc => "/proc",
            Source::Config => "config",
            Source::Environment => "environment",
        })
    }
}

/// One limit's value and origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub value: i64,
    pub source: Source,
}

/// The limits, by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub entries: Vec<(&'static str, Limit)>,
}

/// Every key: its /proc file (if any) and stock default.
pub const KEYS: &[(&str, Option<&str>, i64)] = &[
    ("msg_max", Some("/proc/sys/fs/mqueue/msg_max"), 10),
    ("msgsize_max", Some("/proc/sys/fs/mqueue/msgsize_max"), 8192),
    ("msg_default", Some("/proc/sys/fs/mqueue/msg_default"), 10),
    ("msgsize_default", Some("/proc/sys/fs/mqueue/msgsize_default"), 8192),
    ("queues_max", Some("/proc/sys/fs/mqueue/queues_max"), 256),
    ("msgmax", Some("/proc/sys/kernel/msgmax"), 8192),
    ("msgmnb", Some("/proc/sys/kernel/msgmnb"), 16384),
    ("msgmni", Some("/proc/sys/kernel/msgmni"), 32000),
    // RLIMIT_MSGQUEUE: by default the process's own soft limit (see `rlimit_msgqueue`).
    ("rlimit_msgqueue", None, -1),
];

/// A limit's value in its /proc file; None when it cannot be read.
fn read_proc_value(path: &str) -> Option<i64> {
    crate::os::files::read_small_file(std::path::Path::new(path), 4096).ok().and_then(|s| s.trim().parse().ok())
}

/// The keys whose values are C ints (larger ones are clamped, and said to be).
const INT_KEYS: [&str; 3] = ["msgmax", "msgmnb", "msgmni"];

/// Parses `12`, `64k`, `1m`, `2g`.
pub fn parse_value(text: &str) -> Option<i64> {
    let t = text.trim();
    let (digits, mult) = match t.as_bytes().last()? {
        b'k' | b'K' => (&t[..t.len() - 1], 1024),
        b'm' | b'M' => (&t[..t.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&t[..t.len() - 1], 1024 * 1024 * 1024),
        _ => (t, 1),
    };
    let n: i64 = digits.trim().parse().ok()?;
    if n < 0 {
        return None;
    }
    n.checked_mul(mult)
}

/// Parses one `key=value` assignment list (separator `,` or newline); problems are returned,
/// naming `variable` and the bad part.
pub fn parse_assignments(text: &str, variable: &'static str, separators: &[char]) -> (Vec<(&'static str, i64)>, Vec<crate::config::ConfigProblem>) {
    let mut values = Vec::new();
    let mut problems = Vec::new();
    for raw in text.split(separators) {
        let entry = raw.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        let Some((k, v)) = entry.split_once('=') else {
            problems.push(crate::config::ConfigProblem::ignored(variable, format!("'{entry}' is not key=value")));
            continue;
        };
        let key = k.trim();
        match KEYS.iter().find(|(name, _, _)| *name == key) {
            None => problems.push(crate::config::ConfigProblem::ignored(
                variable,
                format!("unknown limit '{key}' (known: {})", KEYS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")),
            )),
            Some((name, _, _)) => match parse_value(v) {
                // The System V limits are C ints, in the kernel as in the emulation.
                Some(n) if INT_KEYS.contains(name) && n > i32::MAX as i64 => {
                    problems.push(crate::config::ConfigProblem {
                        variable,
                        message: format!("{name}={n} is above the largest int"),
                        outcome: crate::config::Outcome::ClampedTo(i32::MAX.to_string()),
                    });
                    values.push((*name, i32::MAX as i64));
                }
                Some(n) => values.push((*name, n)),
                None => problems.push(crate::config::ConfigProblem::ignored(variable, format!("'{}' in '{entry}' is not a non-negative number", v.trim()))),
            },
        }
    }
    (values, problems)
}

impl Limits {
    /// Builds the limits from /proc, then the config file text, then the environment text.
    pub fn build(proc_read: impl Fn(&str) -> Option<i64>, config: Option<&str>, env: Option<&str>) -> (Limits, Vec<crate::config::ConfigProblem>) {
        let mut entries: Vec<(&'static str, Limit)> = KEYS
            .iter()
            .map(|(name, proc_path, default)| {
                let from_proc = proc_path.and_then(&proc_read);
                (*name, from_proc.map_or(Limit { value: *default, source: Source::Default }, |v| Limit { value: v, source: Source::Proc }))
            })
            .collect();
        let mut problems = Vec::new();
        let mut apply = |text: &str, variable: &'static str, separators: &[char], source: Source| {
            let (values, mut p) = parse_assignments(text, variable, separators);
            problems.append(&mut p);
            for (k, v) in values {
                if let Some(e) = entries.iter_mut().find(|(name, _)| *name == k) {
                    e.1 = Limit { value: v, source };
                }
            }
        };
        if let Some(c) = config {
            apply(c, "MQSHIM_CONFIG", &['\n'], Source::Config);
        }
        if let Some(e) = env {
            apply(e, "MQSHIM_LIMITS", &[','], Source::Environment);
        }
        (Limits { entries }, problems)
    }

    /// The process's limits: /proc, `MQSHIM_CONFIG`, `MQSHIM_LIMITS`.
    pub fn from_env() -> (Limits, Vec<crate::config::ConfigProblem>) {
        let (configured, problems) = Limits::configured_from_env();
        (configured.with_proc(), problems)
    }

    /// The process's limits without the machine's: `MQSHIM_CONFIG` and `MQSHIM_LIMITS` over the
    /// stock defaults, /proc not read. [`Limits::with_proc`] adds it where it is needed: each
    /// file is an `open`, a `read` and a `close` of procfs (eight of them cost about 60 µs, more
    /// than the rest of a process's first `mq_open`), and opening a queue reads no limit.
    pub fn configured_from_env() -> (Limits, Vec<crate::config::ConfigProblem>) {
        let mut problems = Vec::new();
        // Read with direct system calls: another preloaded library (fakeroot's) may interpose
        // what std::fs uses and call the queue API while mqshim initialises.
        let config = std::env::var_os("MQSHIM_CONFIG").and_then(|path| match crate::os::files::read_small_file(std::path::Path::new(&path), 1 << 20) {
            Ok(text) => Some(text),
            Err(e) => {
                problems.push(crate::config::ConfigProblem::ignored("MQSHIM_CONFIG", format!("cannot read '{}': {e}", path.to_string_lossy())));
                None
            }
        });
        let env = std::env::var("MQSHIM_LIMITS").ok();
        let (limits, mut p) = Limits::build(|_| None, config.as_deref(), env.as_deref());
        problems.append(&mut p);
        (limits, problems)
    }

    /// These limits with the machine's `/proc` value of every key that neither `MQSHIM_CONFIG`
    /// nor `MQSHIM_LIMITS` set (they win over /proc, so their keys' files are not read).
    pub fn with_proc(&self) -> Limits {
        self.with_proc_from(read_proc_value, None)
    }

    /// [`Limits::with_proc`] for the keys in `keys` alone.
    pub fn with_proc_of(&self, keys: &[&str]) -> Limits {
        self.with_proc_from(read_proc_value, Some(keys))
    }

    /// [`Limits::with_proc`] with `proc_read` reading a /proc file, for `only` those keys if given.
    fn with_proc_from(&self, proc_read: impl Fn(&str) -> Option<i64>, only: Option<&[&str]>) -> Limits {
        let entries = self
            .entries
            .iter()
            .map(|&(name, limit)| {
                let wanted = only.is_none_or(|keys| keys.contains(&name));
                let proc_path = KEYS.iter().find(|(key, _, _)| *key == name && wanted).and_then(|(_, path, _)| *path);
                match proc_path.filter(|_| limit.source == Source::Default).and_then(&proc_read) {
                    Some(value) => (name, Limit { value, source: Source::Proc }),
                    None => (name, limit),
                }
            })
            .collect();
        Limits { entries }
    }

    pub fn get(&self, key: &str) -> Limit {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, l)| *l).unwrap_or(Limit { value: 0, source: Source::Default })
    }

    pub fn value(&self, key: &str) -> i64 {
        self.get(key).value
    }

    /// RLIMIT_MSGQUEUE as configured, None when it is not (the process's own soft limit applies).
    pub fn configured_rlimit_msgqueue(&self) -> Option<u64> {
        let l = self.get("rlimit_msgqueue");
        (l.value >= 0 && l.source != Source::Default).then_some(l.value as u64)
    }

    /// RLIMIT_MSGQUEUE in force: the configured value, else the process's soft limit.
    pub fn rlimit_msgqueue(&self) -> u64 {
        self.for_emulation().posix.rlimit_msgqueue()
    }

    /// The keys set for this process alone (`MQSHIM_CONFIG`, `MQSHIM_LIMITS`): the emulation
    /// keeps them whatever the namespace's sysctls say.
    pub fn per_process_keys(&self) -> Vec<&'static str> {
        self.entries.iter().filter(|(_, l)| matches!(l.source, Source::Config | Source::Environment)).map(|(k, _)| *k).collect()
    }

    /// The limits as the emulation is handed them.
    pub fn for_emulation(&self) -> EmulationLimits {
        // Values are parsed within 0..=i32::MAX (parse_assignments); /proc's are the kernel's ints.
        let int = |key: &str| self.value(key).clamp(0, i32::MAX as i64) as i32;
        EmulationLimits {
            posix: PosixLimits {
                msg_max: self.value("msg_max"),
                msgsize_max: self.value("msgsize_max"),
                msg_default: self.value("msg_default"),
                msgsize_default: self.value("msgsize_default"),
                queues_max: self.value("queues_max"),
                rlimit_msgqueue: self.configured_rlimit_msgqueue(),
            },
            sysv: SysvLimits { msgmax: int("msgmax"), msgmnb: int("msgmnb"), msgmni: int("msgmni") },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_sources_override_earlier_ones() {
        let (l, p) =
            Limits::build(|path| path.ends_with("msg_max").then_some(20), Some("msgsize_max = 4k # comment\nmsgmnb=1024\n"), Some("msgmnb=2048,queues_max=2"));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(l.get("msg_max"), Limit { value: 20, source: Source::Proc });
        assert_eq!(l.get("msgsize_max"), Limit { value: 4096, source: Source::Config });
        assert_eq!(l.get("msgmnb"), Limit { value: 2048, source: Source::Environment });
        assert_eq!(l.get("queues_max"), Limit { value: 2, source: Source::Environment });
        assert_eq!(l.get("msgmni"), Limit { value: 32000, source: Source::Default });
    }

    #[test]
    fn proc_added_later_gives_what_reading_it_first_gives_and_reads_no_configured_key() {
        let proc_read = |path: &str| path.rsplit('/').next().map(|key| key.len() as i64 * 100);
        let config = Some("msgsize_max = 4k\nmsgmnb=1024\n");
        let env = Some("msgmnb=2048,queues_max=2");
        let (at_once, _) = Limits::build(proc_read, config, env);
        let (configured, _) = Limits::build(|_| None, config, env);
        assert_eq!(configured.get("msg_max"), Limit { value: 10, source: Source::Default });
        let read = std::cell::RefCell::new(Vec::new());
        let later = configured.with_proc_from(
            |path| {
                read.borrow_mut().push(path.to_string());
                proc_read(path)
            },
            None,
        );
        assert_eq!(later, at_once);
        let read = read.into_inner();
        assert_eq!(read.len(), 5, "{read:?}");
        // One API's keys alone (msgmnb is set by the environment: not read).
        let some = std::cell::RefCell::new(Vec::new());
        let of = configured.with_proc_from(
            |path| {
                some.borrow_mut().push(path.to_string());
                proc_read(path)
            },
            Some(&["msgmax", "msgmnb", "msgmni"]),
        );
        assert_eq!(some.into_inner(), ["/proc/sys/kernel/msgmax", "/proc/sys/kernel/msgmni"]);
        assert_eq!((of.get("msgmax").source, of.get("msg_max").source), (Source::Proc, Source::Default));
        assert!(read.iter().all(|path| !path.ends_with("/msgsize_max") && !path.ends_with("/msgmnb") && !path.ends_with("/queues_max")), "{read:?}");
    }

    #[test]
    fn malformed_entries_are_named_and_ignored() {
        let (l, p) = Limits::build(|_| None, None, Some("msg_max=4,bogus=1,msgmnb=-5,queues_max,msgmax=1x"));
        assert_eq!(l.value("msg_max"), 4);
        assert_eq!(l.value("msgmnb"), 16384);
        let messages: Vec<_> = p.iter().map(|p| p.message.clone()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("unknown limit 'bogus'"));
        assert!(messages[1].contains("'-5'"));
        assert!(messages[2].contains("'queues_max' is not key=value"));
        assert!(messages[3].contains("'1x'"));
        assert!(p.iter().all(|p| p.variable == "MQSHIM_LIMITS"));
    }

    #[test]
    fn every_proc_file_reads_back_the_value_the_emulation_enforces() {
        let env = "msg_max=7,msgsize_max=1000,msg_default=3,msgsize_default=500,queues_max=9,msgmax=4096,msgmnb=8192,msgmni=64";
        let (l, p) = Limits::build(|_| None, None, Some(env));
        assert!(p.is_empty(), "{p:?}");
        let emulation = l.for_emulation();
        for (key, proc_path, _) in KEYS {
            if let Some(path) = proc_path {
                assert_eq!(emulation.proc_sys_value(path.as_bytes()), Some(l.value(key)), "{path}");
            }
        }
        assert_eq!(emulation.proc_sys_value(b"/proc/sys/kernel/sem"), None);
        assert_eq!(emulation.proc_sys_value(b"/proc/sys/kernel/msgmax2"), None);
    }

    #[test]
    fn values_take_suffixes() {
        assert_eq!(parse_value("64k"), Some(65536));
        assert_eq!(parse_value("1M"), Some(1 << 20));
        assert_eq!(parse_value("2g"), Some(2 << 30));
        assert_eq!(parse_value(" 7 "), Some(7));
        assert_eq!(parse_value("-1"), None);
        assert_eq!(parse_value(""), None);
    }

    #[test]
    fn reports_say_what_was_done_with_the_value() {
        let (l, p) = Limits::build(|_| None, None, Some("msgmnb=3g,msg_max=x"));
        assert_eq!(l.value("msgmnb"), i32::MAX as i64);
        let lines: Vec<String> = p.iter().map(crate::config::ConfigProblem::line).collect();
        assert_eq!(
            lines,
            [
                "MQSHIM_LIMITS: msgmnb=3221225472 is above the largest int; clamped to 2147483647",
                "MQSHIM_LIMITS: 'x' in 'msg_max=x' is not a non-negative number; ignored"
            ]
        );
    }
}
