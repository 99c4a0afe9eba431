//! Lua scripts: every state change on the server is one script, run atomically.
//!
//! Each script is `scripts/lib.lua` (keys, caller, permissions, waiters) followed by its own
//! file, embedded at build time; its SHA1 is computed once per process. A call is `EVALSHA`;
//! a server that does not know the script yet (first use, restart, `SCRIPT FLUSH`) answers
//! NOSCRIPT, and the call is sent again as `EVAL` with the text, which also caches it — one
//! extra round trip, once per server lifetime. (The design said `SCRIPT LOAD` + retry: `EVAL`
//! is the same with one round trip less.)
//!
//! A script answers a table whose first element says how it went: `ok` (then its values),
//! `wait` (the caller must wait: see `remote::wait`) or an errno name.

use std::sync::OnceLock;

use super::connection::{Connection, Reply};
use super::keys::Keys;
use crate::errno::{Errno, Result};
use crate::os::creds::{cap, Creds};

/// One embedded script.
pub struct Script {
    name: &'static str,
    body: &'static str,
    /// The full text (prelude + body) and its SHA1 in hex.
    built: OnceLock<(String, String)>,
}

/// What a script answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Done: the values after `ok`.
    Done(Vec<Reply>),
    /// The caller must wait (and was registered as a waiter if it said it may wait); with
    /// `Some(ms)`, at most that long: a scheduled message falls due then (the server's clock).
    Wait(Option<u64>),
}

impl Script {
    /// A script named `name` (for messages) with its own text `body` (`include_str!`).
    pub const fn new(name: &'static str, body: &'static str) -> Script {
        Script { name, body, built: OnceLock::new() }
    }

    fn built(&self) -> &(String, String) {
        self.built.get_or_init(|| {
            let text = format!("{}\n{}", include_str!("scripts/lib.lua"), self.body);
            let sha = sha1_smol::Sha1::from(text.as_bytes()).digest().to_string();
            (text, sha)
        })
    }

    /// The SHA1 the server knows the script by.
    pub fn sha(&self) -> &str {
        &self.built().1
    }

    /// Runs the script in namespace `keys` with `args` (its ARGV) on `conn`.
    pub fn run(&self, conn: &mut Connection, keys: &Keys, args: &[&[u8]]) -> Result<Step> {
        let (text, sha) = self.built();
        let mut command: Vec<&[u8]> = Vec::with_capacity(args.len() + 4);
        command.extend_from_slice(&[b"EVALSHA", sha.as_bytes(), b"1", keys.base().as_bytes()]);
        command.extend_from_slice(args);
        let mut reply = conn.request(&command)?;
        if matches!(&reply, Reply::Error(e) if e.starts_with("NOSCRIPT")) {
            command[0] = b"EVAL";
            command[1] = text.as_bytes();
            reply = conn.request(&command)?;
        }
        self.step(reply)
    }

    fn step(&self, reply: Reply) -> Result<Step> {
        let mut values = match reply {
            Reply::Array(values) if !values.is_empty() => values,
            Reply::Error(e) => {
                crate::os::stderr::report(&format!("redis script {} failed: {e}", self.name));
                return Err(Errno::EIO);
            }
            other => {
                crate::os::stderr::report(&format!("redis script {} answered {other:?}", self.name));
                return Err(Errno::EIO);
            }
        };
        let status = values.remove(0);
        match status.bytes() {
            Some(b"ok") => Ok(Step::Done(values)),
            Some(b"wait") => Ok(Step::Wait(values.first().and_then(Reply::int).and_then(|ms| u64::try_from(ms).ok()))),
            Some(name) => Err(errno_named(name).unwrap_or(Errno::EIO)),
            None => Err(Errno::EIO),
        }
    }
}

/// The errno a script names.
pub fn errno_named(name: &[u8]) -> Option<Errno> {
    Some(match name {
        b"EACCES" => Errno::EACCES,
        b"EAGAIN" => Errno::EAGAIN,
        b"EBADF" => Errno::EBADF,
        b"EBUSY" => Errno::EBUSY,
        b"EEXIST" => Errno::EEXIST,
        b"EFAULT" => Errno::EFAULT,
        b"EIDRM" => Errno::EIDRM,
        b"EINTR" => Errno::EINTR,
        b"EINVAL" => Errno::EINVAL,
        b"EMFILE" => Errno::EMFILE,
        b"EMSGSIZE" => Errno::EMSGSIZE,
        b"ENFILE" => Errno::ENFILE,
        b"ENOENT" => Errno::ENOENT,
        b"ENOMEM" => Errno::ENOMEM,
        b"ENOMSG" => Errno::ENOMSG,
        b"ENOSPC" => Errno::ENOSPC,
        b"E2BIG" => Errno::E2BIG,
        b"EPERM" => Errno::EPERM,
        b"ERANGE" => Errno::ERANGE,
        b"ETIMEDOUT" => Errno::ETIMEDOUT,
        b"EOVERFLOW" => Errno::EOVERFLOW,
        _ => return None,
    })
}

/// The caller's identity as scripts read it (`caller()` in `lib.lua`): "euid egid fsuid fsgid
/// CAPS groups…", CAPS being letters for the capabilities the kernel's checks consult.
pub fn caller(creds: &Creds) -> String {
    let letters =
        [(cap::DAC_OVERRIDE, 'D'), (cap::DAC_READ_SEARCH, 'R'), (cap::IPC_OWNER, 'O'), (cap::SYS_RESOURCE, 'S'), (cap::SYS_ADMIN, 'A'), (cap::FOWNER, 'F')];
    let mut caps: String = letters.iter().filter(|(c, _)| creds.has(*c)).map(|(_, l)| *l).collect();
    if caps.is_empty() {
        caps.push('-');
    }
    let mut s = format!("{} {} {} {} {caps}", creds.euid, creds.egid, creds.fsuid, creds.fsgid);
    for g in &creds.groups {
        s.push(' ');
        s.push_str(&g.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sha_is_that_of_prelude_and_body() {
        static S: Script = Script::new("t", "return {'ok'}");
        let text = format!("{}\n{}", include_str!("scripts/lib.lua"), "return {'ok'}");
        assert_eq!(S.sha(), sha1_smol::Sha1::from(text.as_bytes()).digest().to_string());
        assert_eq!(S.sha().len(), 40);
    }

    #[test]
    fn replies_become_steps() {
        static S: Script = Script::new("t", "");
        assert_eq!(S.step(Reply::Array(vec![Reply::Bulk(b"ok".to_vec()), Reply::Int(3)])), Ok(Step::Done(vec![Reply::Int(3)])));
        assert_eq!(S.step(Reply::Array(vec![Reply::Bulk(b"wait".to_vec())])), Ok(Step::Wait(None)));
        assert_eq!(S.step(Reply::Array(vec![Reply::Bulk(b"EAGAIN".to_vec())])), Err(Errno::EAGAIN));
        assert_eq!(S.step(Reply::Nil), Err(Errno::EIO));
    }

    #[test]
    fn the_caller_is_written_for_lib_lua() {
        let c = Creds { uid: 1, euid: 2, fsuid: 3, gid: 4, egid: 5, fsgid: 6, groups: vec![7, 8], caps: 1 << cap::DAC_OVERRIDE | 1 << cap::IPC_OWNER };
        assert_eq!(caller(&c), "2 5 3 6 DO 7 8");
        let none = Creds { caps: 0, groups: vec![], ..c };
        assert_eq!(caller(&none), "2 5 3 6 -");
    }
}
