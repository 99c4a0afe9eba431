//! THE key schema: every key name the Rust side uses is built here, and `scripts/lib.lua`
//! builds the same names on the Lua side from the base this module hands every script as
//! `KEYS[1]` (a test checks that both spell the same suffixes).
//!
//! Every key starts with the hash tag `{P}` (P = the URL's prefix), so one namespace lives in
//! one cluster slot and a script may touch any of its keys.
//!
//! | key | type | what |
//! |---|---|---|
//! | `{P}:w:<token>` | list | a waiter's wake marker ("1" tokens, never message data) |
//! | `{P}:note:<token>` | list | a notification owner's delivery list (sender pid, uid) |
//! | `{P}:pq:names` | hash | POSIX queue name (with its `/`) → incarnation id |
//! | `{P}:pq:next` | counter | incarnation ids |
//! | `{P}:pq:<id>` | hash | a POSIX queue's meta (mode, owner, attributes, counts, notify) |
//! | `{P}:pq:<id>:m` | zset | seq → (32767 - prio) * 2^36 + seq: receive order |
//! | `{P}:pq:<id>:b` | hash | seq → body |
//! | `{P}:pq:<id>:p` | hash | seq → "prio entered_ns" (the server's clock) |
//! | `{P}:pq:live` | set | ids of the POSIX queues that exist (named, or unlinked and open): `queues_max` |
//! | `{P}:pq:charge` | hash | real uid → bytes charged to its RLIMIT_MSGQUEUE |
//! | `{P}:pq:orphans` | set | ids of the unlinked POSIX queues still open somewhere |
//! | `{P}:pq:swept` | string | when (ms) an `mq_open` last asked for a sweep of the orphans' openers |
//! | `{P}:pq:<id>:op` | hash | process token → "COUNT PID HOST START": the descriptions it holds open |
//! | `{P}:pq:<id>:asg` | hash | seq → token of the waiting receiver it is handed to |
//! | `{P}:pq:<id>:waiters` | zset | waiter token → order of first registration (FIFO) |
//! | `{P}:pq:<id>:wk` | hash | waiter token → its kind ("r", "s", …: see `remote::posix`) |
//! | `{P}:pq:<id>:seen` | zset | waiter token → last registration time (ms) |
//! | `{P}:pq:<id>:conn` | hash | waiter token → its connection's `CLIENT ID` |
//! | `{P}:pq:<id>:sched`, `{P}:sv:<id>:sched` | zset | scheduled message handle (20-digit zero-padded) → due time (µs, the server's clock, rounded up) |
//! | `{P}:pq:<id>:sbody`, `{P}:sv:<id>:sbody` | hash | scheduled message handle → "DUE_NS PAYLOAD" (see `lib.lua`'s `schedule`) |
//! | `{P}:sv:keys` | hash | SysV key → id |
//! | `{P}:sv:ids` | zset | id → index |
//! | `{P}:sv:seq` | counter | SysV sequence |
//! | `{P}:sv:<id>` | hash | a SysV queue's meta |
//! | `{P}:sv:<id>:all`, `:t:<type>`, `:types`, `:b`, `:st`, `:waiters`, `:wk` | | see `scripts/sysv.lua` |
//! | `{P}:sysctl` | hash | the namespace's sysctls as written through `/proc` (key → value; `msg_next_id` while set): see `remote::sysctl` |

/// The key names of one namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// `{P}`: the hash-tagged prefix every key starts with (and every script's `KEYS[1]`).
    base: String,
}

/// The suffixes after `{P}` (for the Lua side's test).
pub const SUFFIXES: &[&str] = &[
    ":w:",
    ":note:",
    ":pq:names",
    ":pq:next",
    ":pq:",
    ":m",
    ":b",
    ":p",
    ":waiters",
    ":wk",
    ":seen",
    ":conn",
    ":asg",
    ":pq:live",
    ":pq:charge",
    ":pq:orphans",
    ":pq:swept",
    ":op",
    ":sv:keys",
    ":sv:ids",
    ":sv:seq",
    ":sv:",
    ":sysctl",
    ":sched",
    ":sbody",
];

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys { base: format!("{{{prefix}}}") }
    }

    /// `{P}`: passed to every script as `KEYS[1]`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A waiter's wake marker.
    pub fn waiter(&self, token: &str) -> String {
        format!("{}:w:{token}", self.base)
    }

    /// A notification owner's delivery list.
    pub fn note(&self, token: &str) -> String {
        format!("{}:note:{token}", self.base)
    }

    /// POSIX name → id.
    pub fn pq_names(&self) -> String {
        format!("{}:pq:names", self.base)
    }

    /// A POSIX queue's meta hash; its other keys are this plus a suffix.
    pub fn pq(&self, id: u64) -> String {
        format!("{}:pq:{id}", self.base)
    }

    /// A POSIX queue's message order (zset).
    pub fn pq_messages(&self, id: u64) -> String {
        format!("{}:pq:{id}:m", self.base)
    }

    /// A POSIX queue's bodies (hash).
    pub fn pq_bodies(&self, id: u64) -> String {
        format!("{}:pq:{id}:b", self.base)
    }

    /// A POSIX queue's priorities and send times (hash).
    pub fn pq_props(&self, id: u64) -> String {
        format!("{}:pq:{id}:p", self.base)
    }

    /// SysV key → id.
    pub fn sv_keys(&self) -> String {
        format!("{}:sv:keys", self.base)
    }

    /// SysV id → index.
    pub fn sv_ids(&self) -> String {
        format!("{}:sv:ids", self.base)
    }

    /// A SysV queue's meta hash; its other keys are this plus a suffix.
    pub fn sv(&self, id: i64) -> String {
        format!("{}:sv:{id}", self.base)
    }

    /// The namespace's sysctls (hash).
    pub fn sysctl(&self) -> String {
        format!("{}:sysctl", self.base)
    }
}

/// This process image's token: random per image, and per process (a forked child's differs).
/// It names the process's connections (`mqshim-<token>`), its notification registrations and
/// its openers of POSIX queues.
pub fn process_token() -> String {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let image = IMAGE.get_or_init(new_token);
    format!("{image}-{}", crate::os::ids::pid())
}

/// A new waiter or notification token: 16 random hex digits (unique among live callers).
pub fn new_token() -> String {
    crate::os::random::u64().to_ne_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_namespace_hash_tag() {
        let k = Keys::new("ns");
        assert_eq!(k.base(), "{ns}");
        assert_eq!(k.waiter("ab"), "{ns}:w:ab");
        assert_eq!(k.note("ab"), "{ns}:note:ab");
        assert_eq!(k.pq_names(), "{ns}:pq:names");
        assert_eq!(
            (k.pq(7), k.pq_messages(7), k.pq_bodies(7), k.pq_props(7)),
            ("{ns}:pq:7".into(), "{ns}:pq:7:m".into(), "{ns}:pq:7:b".into(), "{ns}:pq:7:p".into())
        );
        assert_eq!((k.sv_keys(), k.sv_ids(), k.sv(32768)), ("{ns}:sv:keys".into(), "{ns}:sv:ids".into(), "{ns}:sv:32768".into()));
        assert_eq!(k.sysctl(), "{ns}:sysctl");
    }

    #[test]
    fn the_lua_side_spells_the_same_suffixes() {
        let lua = include_str!("scripts/lib.lua");
        for suffix in SUFFIXES {
            assert!(lua.contains(&format!("'{suffix}")), "scripts/lib.lua lacks {suffix}");
        }
    }

    #[test]
    fn tokens_are_distinct_hex() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
