//! Fault injection: `MQSHIM_FAULTS` makes chosen calls fail with an errno, or wait first, on
//! either backend, so a program can be tested against what production throws at it.
//!
//! Grammar (rules separated by `;`, spaces ignored):
//!
//! ```text
//! rule    = FUNCTIONS [ "[" QUEUE "]" ] ":" ACTION [ "@" WHEN ]  |  "seed=" N
//! FUNCTIONS = NAME { "," NAME }   each NAME a function (mq_send, msgrcv, mqshim_mq_send_at, …) or
//!           a system call's name (mq_timedsend, mq_getsetattr, ipc), or a glob of them: `*` any
//!           run of characters, `?` one (mq_*send, *receive, msg?nd, mqshim_*, *)
//! QUEUE   = /name  |  key=0x1234  |  id=5
//! ACTION  = ERRNO  |  delay=DURATION  |  delay=DURATION+ERRNO
//! DURATION= a decimal number and a unit: 750ns, 200us, 1.5ms, 2s (whole nanoseconds)
//! WHEN    = N          the Nth matching call (from 1)
//!         | N+         the Nth and every later one
//!         | every N    every Nth (N, 2N, …)
//!         | P%         each call with probability P percent, from a generator seeded by seed=
//! ```
//!
//! Without `@WHEN` a rule applies to every matching call. A name is what strace shows: a
//! system call's name names every function that makes that system call (`call::SYSCALL_FAMILIES`:
//! `mq_timedsend` is also `mq_send`, whose system call it is), so a rule written from an strace
//! log fires. The errno must be one the kernel can return for the function (`mq_send:EIDRM`
//! is refused); a name standing for several functions applies to those that can return it, and
//! each name of a list must stand for at least one. A name that stands for no function mqshim
//! intercepts is refused, as is every malformed rule (reported once, naming the bad part; the
//! rule is ignored). An injected failure happens before
//! the call reaches the backend, so the queue is untouched (a failed send sent nothing, a failed
//! receive removed nothing); a delay is served and the real call then made (or the errno
//! returned). An injected errno marks the trace record `"injected":true`, an injected delay
//! `"delayed":true`.
//!
//! The scheduled-message calls are functions of their own (`mqshim_mq_send_at`,
//! `mqshim_mq_cancel`, `mqshim_msgsnd_at`, `mqshim_msg_cancel`): an `mq_send` or
//! `mq_timedsend` rule does not touch them, `mq_*` and `msg*` do not name them, `*` and
//! `mqshim_*` do; queue filters apply to them as to `mq_send` and `msgsnd`.
//!
//! Examples: `mq_send:EAGAIN@3`, `mq_receive[/jobs]:ETIMEDOUT@every 2`,
//! `msgsnd[key=0x2a]:delay=20ms@50%;seed=7`, `*:EINTR@10%;seed=1`, `mq_*send,msgsnd:EAGAIN@2+`,
//! `mq_timedreceive:delay=1.5ms`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::call::Call;
use crate::errno::Errno;

/// Which queue a rule is limited to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueFilter {
    Any,
    /// A POSIX queue by name (with its slash).
    Name(Vec<u8>),
    /// A System V queue by key.
    Key(i32),
    /// A System V queue by id.
    Id(i32),
}

/// What is known of the queue a call is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallQueue {
    pub name: Option<Vec<u8>>,
    pub key: Option<i32>,
    pub id: Option<i32>,
}

impl QueueFilter {
    fn matches(&self, q: &CallQueue) -> bool {
        match self {
            QueueFilter::Any => true,
            QueueFilter::Name(n) => q.name.as_deref() == Some(n.as_slice()),
            QueueFilter::Key(k) => q.key == Some(*k),
            QueueFilter::Id(i) => q.id == Some(*i),
        }
    }
}

/// When a rule fires, among the calls it matches.
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    Always,
    Nth(u64),
    From(u64),
    Every(u64),
    Percent(f64),
}

/// One rule.
#[derive(Debug)]
pub struct Rule {
    /// The functions it applies to: those its names stand for (globs expanded, system calls
    /// widened to the functions that make them) for which its errno is one the kernel can return.
    pub functions: Vec<&'static str>,
    pub queue: QueueFilter,
    pub errno: Option<Errno>,
    pub delay_ns: u64,
    pub when: When,
    /// Matching calls seen so far (this process).
    pub seen: AtomicU64,
}

/// The parsed specification.
#[derive(Debug, Default)]
pub struct Faults {
    pub rules: Vec<Rule>,
    pub seed: u64,
}

/// What to do to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    pub errno: Option<Errno>,
    pub delay_ns: u64,
}

/// Every function name mqshim exports, with the errnos the kernel (or glibc) can give it.
const FUNCTIONS: &[(&str, &[Errno])] = {
    use Errno::*;
    &[
        ("mq_open", &[EACCES, EEXIST, EINVAL, EMFILE, ENAMETOOLONG, ENFILE, ENOENT, ENOMEM, ENOSPC, EFAULT, EOVERFLOW, EINTR]),
        ("mq_close", &[EBADF, EINTR, EIO]),
        ("mq_unlink", &[EACCES, ENAMETOOLONG, ENOENT, EFAULT]),
        ("mq_send", &[EAGAIN, EBADF, EINTR, EINVAL, EMSGSIZE, ETIMEDOUT, EFAULT, ENOMEM]),
        ("mq_timedsend", &[EAGAIN, EBADF, EINTR, EINVAL, EMSGSIZE, ETIMEDOUT, EFAULT, ENOMEM]),
        ("mq_receive", &[EAGAIN, EBADF, EINTR, EINVAL, EMSGSIZE, ETIMEDOUT, EFAULT]),
        ("mq_timedreceive", &[EAGAIN, EBADF, EINTR, EINVAL, EMSGSIZE, ETIMEDOUT, EFAULT]),
        ("mq_getattr", &[EBADF, EINVAL, EFAULT]),
        ("mq_setattr", &[EBADF, EINVAL, EFAULT]),
        ("mq_notify", &[EBADF, EBUSY, EINVAL, ENOMEM, ENOSYS, EFAULT]),
        ("msgget", &[EACCES, EEXIST, ENOENT, ENOMEM, ENOSPC]),
        ("msgsnd", &[EACCES, EAGAIN, EFAULT, EIDRM, EINTR, EINVAL, ENOMEM]),
        ("msgrcv", &[E2BIG, EACCES, EFAULT, EIDRM, EINTR, EINVAL, ENOMSG, ENOSYS]),
        ("msgctl", &[EACCES, EFAULT, EIDRM, EINVAL, EPERM, EOVERFLOW]),
        // mqshim's scheduled-message calls, with the errnos include/mqshim.h documents (ENOTSUP
        // aside: that is the kernel backend's answer, not a fault a program meets at random).
        ("mqshim_mq_send_at", &[EAGAIN, EBADF, EINVAL, EMSGSIZE, EFAULT]),
        ("mqshim_mq_cancel", &[EBADF, ENOENT]),
        ("mqshim_msgsnd_at", &[EACCES, EAGAIN, EFAULT, EIDRM, EINVAL]),
        ("mqshim_msg_cancel", &[EACCES, EIDRM, EINVAL, ENOENT]),
    ]
};

/// The functions one element of a rule's list names: the intercepted functions its glob
/// matches, each system call's name widened to the functions behind it ([`crate::call::named`]).
fn functions_named(element: &str) -> Vec<&'static (&'static str, &'static [Errno])> {
    let names = crate::call::named(element);
    FUNCTIONS.iter().filter(|(name, _)| names.contains(name)).collect()
}

fn errno_from_name(name: &str) -> Option<Errno> {
    (1..134).map(Errno::from_raw).find(|e| format!("{e:?}") == name)
}

/// Parses a duration: a decimal number (`2`, `1.5`, `.25`) and a unit (`ns`, `us` or `µs`, `ms`,
/// `s`), spaces allowed between them, to whole nanoseconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let example = "e.g. 750ns, 200us, 1.5ms, 2s";
    let number_end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = (&t[..number_end], t[number_end..].trim());
    let unit_ns: u64 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "" if !number.is_empty() => return Err(format!("'{t}' has no unit ({example})")),
        _ => return Err(format!("'{t}' is not a duration ({example})")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(format!("'{t}' is not a duration ({example})"));
    }
    let too_long = || format!("'{t}' is too long (at most {}s)", u64::MAX / 1_000_000_000);
    let whole_ns = if whole.is_empty() { 0 } else { whole.parse::<u64>().map_err(|_| too_long())?.checked_mul(unit_ns).ok_or_else(too_long)? };
    // The fraction in nanoseconds, exactly: its digits beyond the unit's precision must be 0.
    let precision = unit_ns.ilog10() as usize;
    let (kept, beyond) = fraction.split_at(fraction.len().min(precision));
    if beyond.bytes().any(|b| b != b'0') {
        return Err(format!("'{t}' is finer than a nanosecond"));
    }
    let fraction_ns = if kept.is_empty() { 0 } else { kept.parse::<u64>().map_err(|_| too_long())? * 10u64.pow((precision - kept.len()) as u32) };
    whole_ns.checked_add(fraction_ns).ok_or_else(too_long)
}

fn parse_queue(text: &str) -> Result<QueueFilter, String> {
    let t = text.trim();
    if t.starts_with('/') {
        return Ok(QueueFilter::Name(t.as_bytes().to_vec()));
    }
    let number = |v: &str| -> Option<i64> {
        let v = v.trim();
        match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
            Some(hex) => i64::from_str_radix(hex, 16).ok(),
            None => v.parse().ok(),
        }
    };
    if let Some(k) = t.strip_prefix("key=") {
        return number(k).map(|n| QueueFilter::Key(n as u32 as i32)).ok_or(format!("'{k}' is not a key (decimal or 0x hex)"));
    }
    if let Some(i) = t.strip_prefix("id=") {
        return number(i).map(|n| QueueFilter::Id(n as i32)).ok_or(format!("'{i}' is not an id"));
    }
    Err(format!("'{t}' is not a queue (expected /name, key=0x… or id=N)"))
}

fn parse_when(text: &str) -> Result<When, String> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bad = || format!("'@{text}' is not a time (expected N, N+, every N or P%)");
    if let Some(n) = t.strip_prefix("every") {
        return n.parse().ok().filter(|&n: &u64| n > 0).map(When::Every).ok_or_else(bad);
    }
    if let Some(p) = t.strip_suffix('%') {
        return p.parse().ok().filter(|p: &f64| (0.0..=100.0).contains(p)).map(When::Percent).ok_or_else(bad);
    }
    if let Some(n) = t.strip_suffix('+') {
        return n.parse().ok().filter(|&n: &u64| n > 0).map(When::From).ok_or_else(bad);
    }
    t.parse().ok().filter(|&n: &u64| n > 0).map(When::Nth).ok_or_else(bad)
}

fn parse_rule(text: &str) -> Result<Rule, String> {
    let (head, when) = match text.rsplit_once('@') {
        Some((h, w)) => (h, parse_when(w)?),
        None => (text, When::Always),
    };
    let (target, action) = head.split_once(':').ok_or(format!("'{text}' has no ':' (expected FUNCTION:ACTION)"))?;
    let (function, queue) = match target.split_once('[') {
        Some((f, q)) => (f.trim(), parse_queue(q.strip_suffix(']').ok_or(format!("'{target}' is missing ']'"))?)?),
        None => (target.trim(), QueueFilter::Any),
    };
    let mut elements = Vec::new();
    for element in function.split(',').map(str::trim) {
        let named = functions_named(element);
        if named.is_empty() {
            let what = if element.contains(['*', '?']) { "names no function mqshim intercepts" } else { "is not a function mqshim intercepts" };
            return Err(format!("'{element}' {what}"));
        }
        elements.push((element, named));
    }
    let mut errno = None;
    let mut delay_ns = 0;
    for part in action.split('+') {
        let part = part.trim();
        if let Some(d) = part.strip_prefix("delay=") {
            delay_ns = parse_duration(d)?;
        } else {
            errno = Some(errno_from_name(part).ok_or(format!("'{part}' is neither an errno name nor delay=DURATION"))?);
        }
    }
    if errno.is_none() && delay_ns == 0 {
        return Err(format!("'{action}' injects nothing"));
    }
    // Each element of the list must name a function that can get the errno; of those it names,
    // the rule applies to the ones that can.
    let mut functions: Vec<&'static str> = Vec::new();
    for (element, named) in &elements {
        let able: Vec<&'static str> = named.iter().filter(|(_, allowed)| errno.is_none_or(|e| allowed.contains(&e))).map(|(name, _)| *name).collect();
        if able.is_empty() {
            let e = errno.map(|e| format!("{e:?}")).unwrap_or_default();
            return Err(match named.as_slice() {
                [(only, _)] if only == element => format!("{e} is not an errno {only} can return"),
                _ => format!("{e} is not an errno any of {element} ({}) can return", named.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")),
            });
        }
        for name in able {
            if !functions.contains(&name) {
                functions.push(name);
            }
        }
    }
    Ok(Rule { functions, queue, errno, delay_ns, when, seen: AtomicU64::new(0) })
}

impl Faults {
    /// Parses a specification; every malformed rule is reported by its text.
    pub fn parse(spec: &str) -> (Faults, Vec<String>) {
        let mut faults = Faults::default();
        let mut problems = Vec::new();
        for raw in spec.split(';') {
            let text = raw.trim();
            if text.is_empty() {
                continue;
            }
            if let Some(seed) = text.strip_prefix("seed=") {
                match seed.trim().parse() {
                    Ok(s) => faults.seed = s,
                    Err(_) => problems.push(format!("'{text}': the seed is not a number")),
                }
                continue;
            }
            match parse_rule(text) {
                Ok(rule) => faults.rules.push(rule),
                Err(why) => problems.push(format!("in '{text}': {why}")),
            }
        }
        (faults, problems)
    }

    /// Whether any rule names a queue (then calls must be identified).
    pub fn filters_queues(&self) -> bool {
        self.rules.iter().any(|r| r.queue != QueueFilter::Any)
    }

    /// What to inject into `call` (about `queue`), if anything. Counts the call for every rule
    /// it matches.
    pub fn check(&self, call: &Call, queue: &CallQueue) -> Option<Injection> {
        let name = call.name();
        let mut out: Option<Injection> = None;
        for (index, rule) in self.rules.iter().enumerate() {
            if !rule.functions.contains(&name) || !rule.queue.matches(queue) {
                continue;
            }
            let n = rule.seen.fetch_add(1, Ordering::Relaxed) + 1;
            let fire = match rule.when {
                When::Always => true,
                When::Nth(k) => n == k,
                When::From(k) => n >= k,
                When::Every(k) => n % k == 0,
                When::Percent(p) => (draw(self.seed, index as u64, n) as f64 / u64::MAX as f64) * 100.0 < p,
            };
            if fire && out.is_none() {
                out = Some(Injection { errno: rule.errno, delay_ns: rule.delay_ns });
            }
        }
        out
    }
}

/// A reproducible pseudo-random number for the `n`th call of rule `rule` (splitmix64).
fn draw(seed: u64, rule: u64, n: u64) -> u64 {
    let mut z = seed ^ rule.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Waits `ns` nanoseconds, resuming after signal handlers (a delay is not a failure).
pub fn sleep_ns(ns: u64) {
    let mut req = libc::timespec { tv_sec: (ns / 1_000_000_000) as libc::time_t, tv_nsec: (ns % 1_000_000_000) as libc::c_long };
    let mut rem = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid timespecs; on EINTR the remainder is slept.
    while unsafe { libc::nanosleep(&req, &mut rem) } != 0 && crate::errno::current() == libc::EINTR {
        req = rem;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send() -> Call {
        Call::MqSend { mqdes: 3, msg: std::ptr::null(), len: 0, prio: 0, timeout: None }
    }

    #[test]
    fn parses_the_documented_examples() {
        let (f, p) = Faults::parse("mq_send:EAGAIN@3; mq_receive[/jobs]:ETIMEDOUT@every 2; msgsnd[key=0x2a]:delay=20ms@50%; seed=7; *:EINTR@10%");
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(f.rules.len(), 4);
        assert_eq!(f.seed, 7);
        assert_eq!(f.rules[0].when, When::Nth(3));
        assert_eq!(f.rules[1].queue, QueueFilter::Name(b"/jobs".to_vec()));
        assert_eq!(f.rules[1].when, When::Every(2));
        assert_eq!(f.rules[2].queue, QueueFilter::Key(0x2a));
        assert_eq!(f.rules[2].delay_ns, 20_000_000);
        assert_eq!(f.rules[2].errno, None);
        assert_eq!(f.rules[3].when, When::Percent(10.0));
        // A wildcard applies to the functions that can return the errno.
        assert!(f.rules[3].functions.contains(&"mq_send") && !f.rules[3].functions.contains(&"mq_getattr"));
    }

    #[test]
    fn rejects_bad_parts_by_name() {
        let (f, p) = Faults::parse("mq_send:EIDRM; mq_sned:EAGAIN; mq_send:EAGAIN@0; mq_send:delay=5parsecs; msgrcv; mq_send[jobs]:EAGAIN; seed=x");
        assert!(f.rules.is_empty());
        assert_eq!(p.len(), 7, "{p:?}");
        assert!(p[0].contains("EIDRM is not an errno mq_send can return"));
        assert!(p[1].contains("'mq_sned' is not a function"));
        assert!(p[2].contains("'@0' is not a time"));
        assert!(p[3].contains("'5parsecs' is not a duration"));
        assert!(p[4].contains("has no ':'"));
        assert!(p[5].contains("'jobs' is not a queue"));
        assert!(p[6].contains("seed"));
    }

    #[test]
    fn nth_from_and_every() {
        let (f, _) = Faults::parse("mq_send:EAGAIN@2; mq_send:EINTR@every 3; mq_send:EBADF@5+");
        let hits: Vec<Option<Errno>> = (0..7).map(|_| f.check(&send(), &CallQueue::default()).and_then(|i| i.errno)).collect();
        use Errno::*;
        assert_eq!(hits, vec![None, Some(EAGAIN), Some(EINTR), None, Some(EBADF), Some(EINTR), Some(EBADF)]);
    }

    #[test]
    fn probability_is_reproducible_and_roughly_right() {
        let run = |seed: &str| {
            let (f, _) = Faults::parse(&format!("mq_send:EAGAIN@30%;seed={seed}"));
            (0..2000).map(|_| f.check(&send(), &CallQueue::default()).is_some()).collect::<Vec<_>>()
        };
        let a = run("42");
        assert_eq!(a, run("42"));
        assert_ne!(a, run("43"));
        let hits = a.iter().filter(|&&h| h).count();
        assert!((500..700).contains(&hits), "{hits}");
    }

    #[test]
    fn scheduled_calls_are_functions_of_their_own() {
        let send_at = Call::MqSendAt { mqdes: 3, msg: std::ptr::null(), len: 0, prio: 0, due: std::ptr::null(), handle: std::ptr::null_mut() };
        let named = CallQueue { name: Some(b"/a".to_vec()), ..Default::default() };
        let (f, p) = Faults::parse("mqshim_mq_send_at[/a]:EAGAIN; mqshim_msg_cancel:ENOENT");
        assert!(p.is_empty(), "{p:?}");
        assert!(f.check(&send_at, &named).is_some());
        assert!(f.check(&send_at, &CallQueue::default()).is_none(), "the queue filter applies");
        let (f, _) = Faults::parse("mq_send:EAGAIN; mq_*:EAGAIN; msg*:EAGAIN");
        assert!(f.check(&send_at, &named).is_none(), "mq_send and mq_* do not name it");
        let (f, _) = Faults::parse("*:EAGAIN");
        assert!(f.check(&send_at, &named).is_some(), "* does");
        let (_, p) = Faults::parse("mqshim_mq_cancel:EAGAIN");
        assert!(p[0].contains("EAGAIN is not an errno mqshim_mq_cancel can return"), "{p:?}");
    }

    #[test]
    fn queue_filters_must_match() {
        let (f, _) = Faults::parse("mq_send[/a]:EAGAIN");
        let named = |n: &[u8]| CallQueue { name: Some(n.to_vec()), ..Default::default() };
        assert!(f.check(&send(), &named(b"/a")).is_some());
        assert!(f.check(&send(), &named(b"/b")).is_none());
        assert!(f.check(&send(), &CallQueue::default()).is_none());
    }

    fn functions_of(spec: &str) -> Vec<&'static str> {
        let (f, p) = Faults::parse(spec);
        assert!(p.is_empty(), "{spec}: {p:?}");
        let mut names = f.rules[0].functions.clone();
        names.sort_unstable();
        names
    }

    #[test]
    fn globs_match_anywhere() {
        assert_eq!(functions_of("mq_*send:EAGAIN"), ["mq_send", "mq_timedsend"]);
        assert_eq!(functions_of("*receive:EAGAIN"), ["mq_receive", "mq_timedreceive"]);
        assert_eq!(functions_of("msg?nd:EAGAIN"), ["msgsnd"]);
        assert_eq!(functions_of("mq_?etattr:EBADF"), ["mq_getattr", "mq_setattr"]);
    }

    #[test]
    fn lists_name_each_of_their_functions() {
        assert_eq!(functions_of("mq_send, msgsnd:EAGAIN"), ["mq_send", "msgsnd"]);
        assert_eq!(functions_of("mq_send,mq_*send:EAGAIN"), ["mq_send", "mq_timedsend"], "named twice, once in the rule");
        // A glob in a list applies to the functions it names that can get the errno.
        assert_eq!(functions_of("mq_open,msg*:ENOSPC"), ["mq_open", "msgget"]);
        let (f, p) = Faults::parse("mq_send,msgrcv:EAGAIN; mq_send,bogus:EAGAIN; mq_send,nothing*:EAGAIN; mq_send,:EAGAIN");
        assert!(f.rules.is_empty());
        assert!(p[0].contains("EAGAIN is not an errno msgrcv can return"), "{p:?}");
        assert!(p[1].contains("'bogus' is not a function mqshim intercepts"), "{p:?}");
        assert!(p[2].contains("'nothing*' names no function mqshim intercepts"), "{p:?}");
        assert!(p[3].contains("'' is not a function"), "{p:?}");
    }

    #[test]
    fn a_system_call_names_the_functions_that_make_it() {
        assert_eq!(functions_of("mq_timedsend:EAGAIN"), ["mq_send", "mq_timedsend"]);
        assert_eq!(functions_of("mq_timedreceive:ETIMEDOUT"), ["mq_receive", "mq_timedreceive"]);
        assert_eq!(functions_of("mq_getsetattr:EBADF"), ["mq_getattr", "mq_setattr"]);
        assert_eq!(functions_of("ipc:EIDRM"), ["msgctl", "msgrcv", "msgsnd"]);
        assert_eq!(functions_of("mq_timed*:EAGAIN"), ["mq_receive", "mq_send", "mq_timedreceive", "mq_timedsend"]);
        // The library names stay narrow: mq_send is not mq_timedsend's system call.
        assert_eq!(functions_of("mq_send:EAGAIN"), ["mq_send"]);
        let (f, _) = Faults::parse("mq_timedsend:EAGAIN");
        assert_eq!(f.check(&send(), &CallQueue::default()).and_then(|i| i.errno), Some(Errno::EAGAIN), "mq_send is the mq_timedsend system call");
        let send_at = Call::MqSendAt { mqdes: 3, msg: std::ptr::null(), len: 0, prio: 0, due: std::ptr::null(), handle: std::ptr::null_mut() };
        assert!(f.check(&send_at, &CallQueue::default()).is_none(), "the scheduled send is no system call");
        let (_, p) = Faults::parse("mq_timedsend:EIDRM; ipc:ETIMEDOUT; close:EBADF");
        assert!(p[0].contains("EIDRM is not an errno any of mq_timedsend (mq_send, mq_timedsend) can return"), "{p:?}");
        assert!(p[1].contains("ETIMEDOUT is not an errno any of ipc (msgget, msgsnd, msgrcv, msgctl) can return"), "{p:?}");
        assert!(p[2].contains("'close' is not a function mqshim intercepts"), "{p:?}");
    }

    #[test]
    fn durations_take_units_and_decimals() {
        assert_eq!(parse_duration("750ns"), Ok(750));
        assert_eq!(parse_duration("200us"), Ok(200_000));
        assert_eq!(parse_duration("200µs"), Ok(200_000));
        assert_eq!(parse_duration("1.5ms"), Ok(1_500_000));
        assert_eq!(parse_duration("2s"), Ok(2_000_000_000));
        assert_eq!(parse_duration(".25s"), Ok(250_000_000));
        assert_eq!(parse_duration("0.000000001s"), Ok(1));
        assert_eq!(parse_duration("1.000ns"), Ok(1));
        assert_eq!(parse_duration(" 3 ms "), Ok(3_000_000));
        for (bad, why) in [
            ("100", "has no unit"),
            ("1.5", "has no unit"),
            ("5parsecs", "is not a duration"),
            ("ms", "is not a duration"),
            ("1.2.3ms", "is not a duration"),
            (".s", "is not a duration"),
            ("-1ms", "is not a duration"),
            ("1.5ns", "finer than a nanosecond"),
            ("0.0000000001s", "finer than a nanosecond"),
            ("99999999999s", "too long"),
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(&format!("'{}' {why}", bad.trim())) || e.contains(why), "{bad}: {e}");
        }
        let (f, p) = Faults::parse("mq_send:delay=1.5ms; msgrcv:delay=2s+EINTR@2; mq_send:delay=100");
        assert_eq!(f.rules.iter().map(|r| r.delay_ns).collect::<Vec<_>>(), [1_500_000, 2_000_000_000]);
        assert!(p.len() == 1 && p[0].contains("'100' has no unit (e.g. 750ns, 200us, 1.5ms, 2s)"), "{p:?}");
    }
}
