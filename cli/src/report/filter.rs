//! `-e` expressions, as strace users write them: which calls (names, globs, comma lists,
//! `trace=` optional) and which queues (`/name`, `key=…`, `id=…`) to keep.
//!
//! Every item of every `-e` is one selector; items starting with `!` exclude. Call selectors
//! together pick a set of calls (the union of the included, minus the excluded; all calls when
//! only exclusions are given), and queue selectors a set of queues the same way. A record is
//! kept when its call is in the call set **and** its queue in the queue set — so
//! `-e mq_send -e /q1` keeps the mq_send calls on /q1, and `-e /q1,/q2` the calls on either.
//! With queue selectors, calls whose queue is not known are dropped. Records of lost records
//! always pass.

use super::event::{parse_integer, parse_key, Event, Kind, QueueId};
use mqshim_core::glob::matches as glob;

/// Every call the library traces.
pub const CALLS: &[&str] = &mqshim_core::call::NAMES;

/// Which queues a selector names.
#[derive(Clone, Debug, PartialEq)]
enum QueueSelector {
    /// A POSIX name or glob (`/q1`, `/job*`).
    Name(String),
    /// A System V key (`key=0x162e`, `key=5678`, `key=IPC_PRIVATE`).
    Key(u32),
    /// A System V id (`id=65536`).
    Id(i64),
}

impl QueueSelector {
    fn matches(&self, queue: &QueueId) -> bool {
        match (self, queue) {
            (QueueSelector::Name(pattern), QueueId::Posix(name)) => glob(pattern, name),
            (QueueSelector::Key(k), QueueId::Sysv { key: Some(key), .. }) => k == key,
            (QueueSelector::Id(i), QueueId::Sysv { id: Some(id), .. }) => i == id,
            _ => false,
        }
    }
}

/// Included and excluded selectors of one kind.
#[derive(Clone, Debug)]
struct Selection<T> {
    include: Vec<T>,
    exclude: Vec<T>,
}

impl<T> Default for Selection<T> {
    fn default() -> Self {
        Selection { include: Vec::new(), exclude: Vec::new() }
    }
}

impl<T> Selection<T> {
    fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    fn keeps(&self, matches: impl Fn(&T) -> bool) -> bool {
        (self.include.is_empty() || self.include.iter().any(&matches)) && !self.exclude.iter().any(matches)
    }
}

/// The records to keep, from the `-e` expressions.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    calls: Selection<String>,
    queues: Selection<QueueSelector>,
}

impl Filter {
    /// Parses the `-e` expressions; an error names the item at fault.
    pub fn parse<S: AsRef<str>>(expressions: &[S]) -> Result<Filter, String> {
        let mut filter = Filter::default();
        for expression in expressions {
            let expression = expression.as_ref();
            // strace's `trace=` qualifier; a `!` before the whole list excludes all of it.
            let (list, negate_all) = match expression.strip_prefix("trace=") {
                Some(rest) => match rest.strip_prefix('!') {
                    Some(rest) => (rest, true),
                    None => (rest, false),
                },
                None => (expression, false),
            };
            if list.is_empty() {
                return Err(format!("-e '{expression}': nothing to select"));
            }
            for item in list.split(',') {
                let (item, negated) = match item.strip_prefix('!') {
                    Some(rest) => (rest, true),
                    None => (item, negate_all),
                };
                filter.add(item, negated).map_err(|e| format!("-e '{expression}': {e}"))?;
            }
        }
        Ok(filter)
    }

    fn add(&mut self, item: &str, negated: bool) -> Result<(), String> {
        if item.is_empty() {
            return Err("an empty item".to_string());
        }
        let queue = if item.starts_with('/') {
            Some(QueueSelector::Name(item.to_string()))
        } else if let Some(key) = item.strip_prefix("key=") {
            Some(QueueSelector::Key(parse_key(key).ok_or_else(|| format!("'{key}' is not a System V key (0x hex, decimal, 0 octal, or IPC_PRIVATE)"))?))
        } else if let Some(id) = item.strip_prefix("id=") {
            Some(QueueSelector::Id(parse_integer(id).ok_or_else(|| format!("'{id}' is not a System V queue id"))?))
        } else if let Some((qualifier, _)) = item.split_once('=') {
            return Err(format!("unknown qualifier '{qualifier}=' (mqshim knows trace=, key=, id= and /name)"));
        } else {
            None
        };
        match queue {
            Some(selector) => {
                let side = if negated { &mut self.queues.exclude } else { &mut self.queues.include };
                side.push(selector);
            }
            None => {
                let pattern = if item == "all" { "*" } else { item };
                // A system call's name stands for the functions behind it, as in fault rules:
                // `mq_timedsend` keeps mq_send records too (strace shows both under that name).
                let names = mqshim_core::call::named(pattern);
                if names.is_empty() {
                    return Err(format!(
                        "'{item}' matches no call mqshim traces ({}; or a system call's name: mq_timedsend, mq_timedreceive, mq_getsetattr, ipc)",
                        CALLS.join(", ")
                    ));
                }
                let side = if negated { &mut self.calls.exclude } else { &mut self.calls.include };
                side.extend(names.into_iter().map(str::to_string));
            }
        }
        Ok(())
    }

    /// Nothing selected: every record passes.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.queues.is_empty()
    }

    /// Whether `event` (its queue already resolved) is kept.
    pub fn matches(&self, event: &Event) -> bool {
        if self.is_empty() {
            return true;
        }
        let Kind::Call(call) = &event.kind else { return true };
        if !self.calls.keeps(|name| *name == call.name) {
            return false;
        }
        if self.queues.is_empty() {
            return true;
        }
        match &event.queue {
            Some(queue) => self.queues.keeps(|selector| selector.matches(queue)),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::event::Queues;

    fn event(text: &str, queues: &mut Queues) -> Event {
        let mut e = Event::parse(1, text).unwrap();
        queues.resolve(&mut e);
        e
    }

    /// The calls of a small trace that `expressions` keep.
    fn kept(expressions: &[&str]) -> Vec<String> {
        let filter = Filter::parse(expressions).unwrap();
        let mut queues = Queues::default();
        [
            r#"{"ts_ns":1,"pid":1,"call":"mq_open","args":{"name":"/q1"},"ret":3}"#,
            r#"{"ts_ns":2,"pid":1,"call":"mq_open","args":{"name":"/q2"},"ret":4}"#,
            r#"{"ts_ns":3,"pid":1,"call":"mq_send","args":{"mqdes":3}}"#,
            r#"{"ts_ns":4,"pid":1,"call":"mq_timedsend","args":{"mqdes":4}}"#,
            r#"{"ts_ns":5,"pid":1,"call":"mq_receive","args":{"mqdes":3}}"#,
            r#"{"ts_ns":6,"pid":1,"call":"msgget","args":{"key":"0x0000162e"},"ret":65536}"#,
            r#"{"ts_ns":7,"pid":1,"call":"msgsnd","args":{"msqid":65536}}"#,
            r#"{"ts_ns":8,"pid":1,"call":"msgrcv","args":{"msqid":65537}}"#,
            r#"{"ts_ns":9,"pid":1,"lost":3}"#,
        ]
        .iter()
        .map(|t| event(t, &mut queues))
        .filter(|e| filter.matches(e))
        .map(|e| e.call().map_or_else(|| "lost".to_string(), |c| format!("{}:{}", c.name, e.queue.as_ref().map_or("-".to_string(), |q| q.to_string()))))
        .collect()
    }

    #[test]
    fn globs() {
        assert!(glob("mq_*send", "mq_timedsend") && glob("mq_*send", "mq_send") && !glob("mq_*send", "mq_sendx"));
        assert!(glob("*", "") && glob("m?g*", "msgrcv") && !glob("m?g", "msgrcv") && glob("a*b*c", "aXbYbc"));
    }

    #[test]
    fn call_lists_and_globs_select_calls() {
        assert_eq!(kept(&["mq_*send"]), ["mq_send:/q1", "mq_timedsend:/q2", "lost"]);
        assert_eq!(kept(&["msgsnd,msgrcv"]), ["msgsnd:key=0x0000162e id=65536", "msgrcv:id=65537", "lost"]);
        assert_eq!(kept(&["trace=msgsnd", "trace=mq_receive"]), ["mq_receive:/q1", "msgsnd:key=0x0000162e id=65536", "lost"], "-e lists add up");
        assert_eq!(kept(&["trace=!mq_*,msgget"]), ["msgsnd:key=0x0000162e id=65536", "msgrcv:id=65537", "lost"]);
        assert_eq!(kept(&["mq_*", "!mq_open"]), ["mq_send:/q1", "mq_timedsend:/q2", "mq_receive:/q1", "lost"]);
        assert_eq!(kept(&["all"]).len(), 9);
        assert_eq!(kept(&[]).len(), 9);
    }

    #[test]
    fn a_system_call_name_keeps_the_functions_behind_it_as_fault_rules_do() {
        assert_eq!(kept(&["mq_timedsend"]), ["mq_send:/q1", "mq_timedsend:/q2", "lost"], "strace shows mq_send as mq_timedsend");
        assert_eq!(kept(&["ipc"]), ["msgget:key=0x0000162e id=65536", "msgsnd:key=0x0000162e id=65536", "msgrcv:id=65537", "lost"]);
        assert_eq!(kept(&["mq_send"]), ["mq_send:/q1", "lost"], "a function's own name is itself only");
        assert_eq!(kept(&["!mq_timedreceive"]).len(), 8);
    }

    #[test]
    fn queue_selectors_and_their_combination_with_calls() {
        assert_eq!(kept(&["/q1"]), ["mq_open:/q1", "mq_send:/q1", "mq_receive:/q1", "lost"]);
        assert_eq!(kept(&["mq_send", "/q1"]), ["mq_send:/q1", "lost"], "call and queue selectors must both match");
        assert_eq!(kept(&["mq_send,/q2"]), ["lost"], "mq_send on /q2: none");
        assert_eq!(kept(&["/q*", "!/q1"]), ["mq_open:/q2", "mq_timedsend:/q2", "lost"]);
        assert_eq!(kept(&["key=0x162e"]), ["msgget:key=0x0000162e id=65536", "msgsnd:key=0x0000162e id=65536", "lost"]);
        assert_eq!(kept(&["key=5678"]), kept(&["key=0x162e"]), "decimal keys");
        assert_eq!(kept(&["id=65537"]), ["msgrcv:id=65537", "lost"]);
        assert_eq!(
            kept(&["id=65536,/q2", "trace=msg*,mq_timedsend"]),
            ["mq_timedsend:/q2", "msgget:key=0x0000162e id=65536", "msgsnd:key=0x0000162e id=65536", "lost"]
        );
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in ["mq_sned", "trace=", "raw=all", "key=zz", "id=", "mq_send,,msgrcv", "foo*"] {
            let e = Filter::parse(&[bad]).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert!(Filter::parse::<&str>(&[]).unwrap().is_empty());
    }
}
