//! The namespace's sysctls on the server: what programs write to `/proc/sys/fs/mqueue/*` and
//! `/proc/sys/kernel/msg*` under the Redis backend sets them for the namespace (the prefix), as
//! the kernel sets them for its IPC namespace and the emulation for `MQSHIM_DIR`
//! (`emu::sysctl`, whose files, permissions and parse this reuses).
//!
//! They live in the hash `{P}:sysctl` (key → value; `msg_next_id` while it is set), written by
//! `scripts/sysctl.lua`. No client caches them: every script that enforces a limit reads it
//! there (`limits_in_force` in `lib.lua`) — `mq_open`'s `queues_max`, `msg_max`, `msgsize_max`
//! and defaults, `msgget`'s `msgmni`, `msgmnb` and `msg_next_id`, `msgsnd`'s `msgmax`,
//! `IPC_SET`'s `msgmnb`, `IPC_INFO` — in the same run, so a write by one process on one host is
//! in force at the next call of any process on any host, without a round trip more.
//!
//! A client states its own limits with each such call ([`stated`]): its machine's `/proc` or the
//! stock defaults, which the namespace's values replace, and its `MQSHIM_CONFIG` /
//! `MQSHIM_LIMITS` settings, marked as its own, which win over the namespace's (the precedence
//! the emulation keeps).

use super::connection::Reply;
use super::script::Script;
use super::Remote;
use crate::emu::sysctl::FILES;
use crate::emu::EmulationLimits;
use crate::errno::{Errno, Result};

static SCRIPT: Script = Script::new("sysctl", include_str!("scripts/sysctl.lua"));

/// The limits a client states, as `limits_in_force` (`lib.lua`) reads them: `key=value` for
/// each sysctl, `!key=value` for the keys in `own` (the process's own settings).
pub fn stated(limits: &EmulationLimits, own: &[&str]) -> String {
    let pairs = FILES.iter().filter_map(|f| {
        let value = limits.proc_sys_value(f.path)?;
        Some(format!("{}{}={value}", if own.contains(&f.key) { "!" } else { "" }, f.key))
    });
    pairs.collect::<Vec<_>>().join(" ")
}

/// The sysctls in force for a client that states `stated`: each key's value, and
/// `msg_next_id` (-1 when unset).
pub fn in_force(remote: &Remote, stated: &str) -> Result<(Vec<(String, i64)>, i64)> {
    values(remote.run(&SCRIPT, &[b"get", stated.as_bytes()])?)
}

/// Sets `key` to `value` for the namespace (the caller has checked that it may, and the
/// value: `emu::sysctl`); answers as [`in_force`].
pub fn set(remote: &Remote, key: &str, value: i64, stated: &str) -> Result<(Vec<(String, i64)>, i64)> {
    values(remote.run(&SCRIPT, &[b"set", stated.as_bytes(), key.as_bytes(), value.to_string().as_bytes()])?)
}

/// `ok key value … msg_next_id`.
fn values(step: super::script::Step) -> Result<(Vec<(String, i64)>, i64)> {
    let super::script::Step::Done(items) = step else { return Err(Errno::EIO) };
    let (next_id, pairs) = items.split_last().ok_or(Errno::EIO)?;
    let values = pairs
        .chunks_exact(2)
        .map(|p| Ok((String::from_utf8_lossy(p[0].bytes().ok_or(Errno::EIO)?).into_owned(), p[1].int().ok_or(Errno::EIO)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok((values, next_id.int().ok_or(Errno::EIO)?))
}

/// The System V limits a script answered after its own values: msgmax msgmnb msgmni.
pub fn sysv_limits_at(items: &[Reply], at: usize) -> Option<crate::emu::sysv::SysvLimits> {
    let n = |i: usize| items.get(at + i).and_then(Reply::int).map(|v| v as i32);
    Some(crate::emu::sysv::SysvLimits { msgmax: n(0)?, msgmnb: n(1)?, msgmni: n(2)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::testing::{stock_limits as stock, Server};

    #[test]
    fn a_client_states_every_sysctl_and_marks_its_own() {
        assert_eq!(
            stated(&stock(), &["msg_max"]),
            "queues_max=256 !msg_max=10 msgsize_max=8192 msg_default=10 msgsize_default=8192 msgmax=8192 msgmnb=16384 msgmni=32000"
        );
    }

    #[test]
    fn the_namespace_values_replace_the_stated_ones_except_a_client_own() {
        let Some(server) = Server::start() else { return };
        let r = server.remote("sc");
        let get = |own: &[&str]| in_force(&r, &stated(&stock(), own)).unwrap();
        let value = |v: &(Vec<(String, i64)>, i64), key: &str| v.0.iter().find(|(k, _)| k == key).unwrap().1;
        let before = get(&[]);
        assert_eq!((value(&before, "msg_max"), value(&before, "msgmni"), before.1), (10, 32000, -1));
        set(&r, "msg_max", 7, &stated(&stock(), &[])).unwrap();
        let after = set(&r, "msg_next_id", 65539, &stated(&stock(), &[])).unwrap();
        assert_eq!((value(&after, "msg_max"), after.1), (7, 65539));
        // A client that set msg_max itself keeps its own.
        assert_eq!(value(&get(&["msg_max"]), "msg_max"), 10);
        // Another namespace on the same server has none of it.
        let other = in_force(&server.remote("sc2"), &stated(&stock(), &[])).unwrap();
        assert_eq!((value(&other, "msg_max"), other.1), (10, -1));
    }
}
