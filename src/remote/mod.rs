//! The Redis engine's client: queues held by a Redis (or Valkey) server, shared by every host
//! that reaches it (`MQSHIM_BACKEND=redis`).
//!
//! - [`url`]: `MQSHIM_REDIS`, parsed.
//! - [`connection`]: one connection per (process, thread); RESP2 via `redis-protocol`.
//! - [`script`]: the Lua scripts (every state change is one), run by `EVALSHA`.
//! - [`keys`]: the key schema.
//! - [`wait`]: the one blocking mechanism (wake markers, kernel restart rules).
//! - [`posix`]: the `mq_*` calls; [`sysv`]: the `msg*` calls.
//! - [`sysctl`]: the namespace's sysctls, which those calls' scripts read.

pub mod connection;
pub mod keys;
pub mod posix;
pub mod script;
pub mod sysctl;
pub mod sysv;
pub mod url;
pub mod wait;

use crate::emu::peek::{PeekedMessage, Placement, QueueSnapshot};
use crate::errno::{Errno, Result};
use connection::Connection;
use connection::Reply;
use keys::Keys;
use script::{Script, Step};
use url::RedisUrl;

/// One server and namespace: what every remote operation needs.
#[derive(Clone, Debug)]
pub struct Remote {
    pub url: RedisUrl,
    pub keys: Keys,
}

impl Remote {
    pub fn new(url: RedisUrl) -> Remote {
        let keys = Keys::new(&url.prefix);
        Remote { url, keys }
    }

    /// Runs `f` on this thread's connection (see [`connection::with`]).
    pub fn with<R>(&self, f: impl FnOnce(&mut Connection) -> Result<R>) -> Result<R> {
        connection::with(&self.url, f)
    }

    /// Runs `script` with `args` (ARGV; `KEYS[1]` is the namespace base) on this thread's
    /// connection: one round trip (two the first time a server sees the script).
    pub fn run(&self, script: &Script, args: &[&[u8]]) -> Result<Step> {
        self.with(|c| script.run(c, &self.keys, args))
    }
}

/// When a message entered its queue (`entered_ns`, the server's clock; None when not kept) as a
/// time of this host's clock, given the server's clock `server_now_ns` when it answered: so an
/// age (`mqshim peek`) counts on the server's clock, exact to the round trip, whatever this
/// host's clock says. 0 when unknown (as `PeekedMessage::visible_ns` has it).
pub fn entered_here(entered_ns: Option<u64>, server_now_ns: u64) -> u64 {
    let Some(entered) = entered_ns.filter(|&t| t != 0) else { return 0 };
    let age = server_now_ns.saturating_sub(entered);
    crate::os::clock::realtime_ns().saturating_sub(age).max(1)
}

/// A `peek` script's answer — the server's time (ns), the queue's limit (POSIX `maxmsg`, System
/// V `msg_qbytes`), how many queued messages follow, then groups of four (priority or type,
/// length, first bytes, when it entered or, scheduled, falls due, ns) for those and then for
/// the pending scheduled messages — as the emulation's snapshot: scheduled messages already
/// due placed where the next operation will put them (`placement`), while `fits(limit, m,
/// queued)` says they fit, as the emulation's peek places them.
pub fn peeked(items: &[Reply], placement: Placement, fits: impl Fn(u64, &PeekedMessage, &[PeekedMessage]) -> bool) -> Result<QueueSnapshot> {
    let number = |r: &Reply| -> Result<u64> {
        match r {
            Reply::Int(i) => u64::try_from(*i).map_err(|_| Errno::EIO),
            _ => r.bytes().and_then(|b| std::str::from_utf8(b).ok()).and_then(|t| t.parse().ok()).ok_or(Errno::EIO),
        }
    };
    let signed = |r: &Reply| -> Result<i64> {
        match r {
            Reply::Int(i) => Ok(*i),
            _ => r.bytes().and_then(|b| std::str::from_utf8(b).ok()).and_then(|t| t.parse().ok()).ok_or(Errno::EIO),
        }
    };
    let [now, limit, queued, rest @ ..] = items else { return Err(Errno::EIO) };
    let (server_now, limit, queued) = (number(now)?, number(limit)?, number(queued)? as usize);
    let mut all = rest.chunks_exact(4).enumerate().map(|(i, m)| {
        let at = number(&m[3]).ok();
        let scheduled = i >= queued;
        Ok(PeekedMessage {
            priority_or_type: signed(&m[0])?,
            len: number(&m[1])? as usize,
            preview: m[2].bytes().ok_or(Errno::EIO)?.to_vec(),
            visible_ns: if scheduled { at.unwrap_or(0) } else { entered_here(at, server_now) },
            due_ns: if scheduled { at } else { None },
        })
    });
    let messages = all.by_ref().take(queued).collect::<Result<Vec<_>>>()?;
    let scheduled = all.collect::<Result<Vec<_>>>()?;
    let mut snap = QueueSnapshot { messages, scheduled };
    // Due by the server's clock, as the scripts decide; the times shown are the due times.
    snap.place_due(server_now, placement, |m, queued| fits(limit, m, queued));
    Ok(snap)
}

#[cfg(test)]
pub mod testing;

#[cfg(test)]
mod tests {
    use super::connection::Reply;
    use super::script::{Script, Step};
    use super::testing::Server;
    use super::wait;
    use crate::emu::engine::futex::Restart;
    use crate::errno::Errno;

    static ECHO: Script = Script::new("echo", "if ARGV[1] == 'fail' then return {'EAGAIN'} end\nreturn {'ok', ARGV[1], B}");

    #[test]
    fn scripts_load_themselves_and_large_replies_arrive_whole() {
        let Some(server) = Server::start() else { return };
        let r = server.remote("t1");
        // First EVALSHA: NOSCRIPT, then EVAL; then the cached script.
        for _ in 0..2 {
            assert_eq!(r.run(&ECHO, &[b"hi"]), Ok(Step::Done(vec![Reply::Bulk(b"hi".to_vec()), Reply::Bulk(b"{t1}".to_vec())])));
        }
        assert_eq!(r.run(&ECHO, &[b"fail"]), Err(Errno::EAGAIN));
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        r.with(|c| {
            assert_eq!(c.request(&[b"SET", b"{t1}:big", &big])?, Reply::Status(b"OK".to_vec()));
            assert_eq!(c.request(&[b"GET", b"{t1}:big"])?, Reply::Bulk(big.clone()));
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_wait_ends_when_woken_and_never_before_its_deadline() {
        let Some(server) = Server::start() else { return };
        let r = server.remote("t2");
        let token = super::keys::new_token();
        // Not woken: the deadline (150 ms away) ends it, not earlier.
        let deadline = crate::os::clock::timespec_of_ns(crate::os::clock::realtime_ns() + 150_000_000);
        let mut attempts = 0;
        let result: crate::errno::Result<()> = wait::blocking(&r, Some(&deadline), Restart::LikeMqueue, |_, w| {
            attempts += 1;
            assert!(!w.token.is_empty());
            Ok(None)
        });
        assert_eq!(result, Err(Errno::ETIMEDOUT));
        assert!(crate::os::clock::deadline_passed(Some(&deadline)));
        assert!(attempts >= 2);
        // Woken by a push on the marker from another connection.
        let marker = r.keys.waiter(&token);
        let waker = {
            let r = r.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                r.with(|c| c.request(&[b"LPUSH", marker.as_bytes(), b"1"])).unwrap();
            })
        };
        let started = std::time::Instant::now();
        let woke = wait::wait_for_marker(&r, &token, None, Restart::LikeMqueue).unwrap();
        assert_eq!(woke, crate::emu::engine::futex::Woke::Maybe);
        assert!(started.elapsed() < std::time::Duration::from_millis(400), "{:?}", started.elapsed());
        waker.join().unwrap();
    }

    #[test]
    fn a_forked_child_uses_its_own_connection() {
        let Some(server) = Server::start() else { return };
        let r = server.remote("t3");
        let id = |r: &super::Remote| r.with(|c| c.request(&[b"CLIENT", b"ID"])).unwrap().int().unwrap();
        let parent = id(&r);
        // SAFETY: the child only uses the client and exits with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let child = id(&r);
            // SAFETY: leaving the forked child without running the test harness's teardown.
            unsafe { libc::_exit(if child != parent { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(status, 0);
        // The parent's connection is intact: same id, replies in order.
        assert_eq!(id(&r), parent);
    }

    #[test]
    fn a_server_that_is_down_is_econnrefused() {
        let Some(server) = Server::start() else { return };
        let r = server.remote("t4");
        assert_eq!(r.with(|c| c.request(&[b"PING"])), Ok(Reply::Status(b"PONG".to_vec())));
        drop(server);
        assert_eq!(r.with(|c| c.request(&[b"PING"])), Err(Errno::ECONNREFUSED));
    }

    #[test]
    fn an_entry_time_keeps_its_age_on_the_servers_clock() {
        // Unknown stays unknown.
        assert_eq!(super::entered_here(None, 5), 0);
        assert_eq!(super::entered_here(Some(0), 5), 0);
        // A server clock an hour ahead: the message entered 2 s ago, whatever that clock says.
        let hour = 3_600_000_000_000u64;
        let before = crate::os::clock::realtime_ns();
        let server_now = before + hour;
        let here = super::entered_here(Some(server_now - 2_000_000_000), server_now);
        let after = crate::os::clock::realtime_ns();
        assert!(before - 2_000_000_000 <= here && here <= after - 2_000_000_000);
    }
}
