//! The one blocking mechanism of the Redis backend, for both APIs.
//!
//! A blocking operation's script either completes, or — nothing to receive, no room, and the
//! caller may wait — registers the caller's token among the queue's waiters in the same script
//! and answers `wait`. The caller then waits on its private marker `{P}:w:<token>` with
//! `BLPOP` for at most [`SLICE_MS`] (or what is left until its deadline) and runs the script
//! again (which first removes the registration). Any script that can satisfy a waiter pushes a
//! "1" onto its marker. The marker carries no message, so a `BLPOP` abandoned by a timeout, a
//! signal or `kill -9` can lose a wake-up — costing at most one slice — never a message.
//!
//! Signals follow the kernel's rule for the call ([`Restart`]):
//! - `LikeMqueue`: the reply is awaited with a blocking `recv` (no `SO_RCVTIMEO`), which the
//!   kernel restarts after an `SA_RESTART` handler and fails with EINTR otherwise; a stop and
//!   continue is invisible.
//! - `Never`: `ppoll` on the socket, which fails with EINTR after any handler and is restarted
//!   invisibly after a stop and continue (msgsnd/msgrcv's rule).
//!
//! On EINTR the connection, with its pending `BLPOP`, is closed (the server forgets the
//! `BLPOP`); the registration expires by itself. A timed call never returns before its
//! absolute CLOCK_REALTIME deadline: a `BLPOP` that times out early is followed by another.

use libc::timespec;

use super::connection::{self, Await, Connection, Reply};
use super::Remote;
use crate::emu::engine::futex::{Restart, Woke};
use crate::errno::{Errno, Result};
use crate::os::clock;

/// Longest single `BLPOP`: a waiter re-runs its script (renewing its registration) at least
/// this often, so a lost wake-up costs at most this long.
pub const SLICE_MS: u64 = 500;

/// What an attempt of a blocking operation is told about waiting.
pub struct Waiter<'a> {
    /// The caller's token for this call (the same in every attempt).
    pub token: &'a str,
    /// Whether the script may register the caller (false once the deadline has passed: the
    /// script then only removes an earlier registration, and `wait` means ETIMEDOUT).
    pub may_wait: bool,
}

impl Waiter<'_> {
    /// `may_wait` as a script argument: "1" or "0".
    pub fn may_wait_arg(&self) -> &'static [u8] {
        if self.may_wait {
            b"1"
        } else {
            b"0"
        }
    }
}

/// Runs a blocking operation until it completes: `attempt` runs the operation's script and
/// answers `Some(value)` when done, None when the script said `wait`. ETIMEDOUT once the
/// deadline has passed and an attempt still could not complete, EINTR when a handler
/// interrupted the wait (as `restart` says).
pub fn blocking<T>(
    remote: &Remote,
    deadline: Option<&timespec>,
    restart: Restart,
    attempt: impl FnMut(&mut Connection, &Waiter) -> Result<Option<T>>,
) -> Result<T> {
    blocking_or_else(remote, deadline, restart, attempt, |_, _| Ok(None))
}

/// [`blocking`], with `interrupted` run (on a new connection) when a handler interrupted the
/// wait: given the call's token, it may still complete the call (`Some`) — the kernel's answer
/// when the peer had already served the caller before the signal — or clean up and answer None
/// (EINTR). Its failure (a server gone) is EINTR as well.
pub fn blocking_or_else<T>(
    remote: &Remote,
    deadline: Option<&timespec>,
    restart: Restart,
    mut attempt: impl FnMut(&mut Connection, &Waiter) -> Result<Option<T>>,
    interrupted: impl FnOnce(&mut Connection, &str) -> Result<Option<T>>,
) -> Result<T> {
    let token = super::keys::new_token();
    loop {
        let may_wait = !clock::deadline_passed(deadline);
        let waiter = Waiter { token: &token, may_wait };
        if let Some(value) = connection::with(&remote.url, |c| attempt(c, &waiter))? {
            return Ok(value);
        }
        if !may_wait {
            return Err(Errno::ETIMEDOUT);
        }
        match wait_for_marker(remote, &token, deadline, restart)? {
            Woke::Interrupted => {
                return match connection::with(&remote.url, |c| interrupted(c, &token)) {
                    Ok(Some(value)) => Ok(value),
                    _ => Err(Errno::EINTR),
                }
            }
            // Woken, a slice over, or the deadline reached: the next attempt says which.
            Woke::Maybe | Woke::TimedOut => continue,
        }
    }
}

/// One `BLPOP` on the marker of `token`, for a slice or until `deadline`.
pub fn wait_for_marker(remote: &Remote, token: &str, deadline: Option<&timespec>, restart: Restart) -> Result<Woke> {
    let slice_ns = SLICE_MS * 1_000_000;
    let wait_ns = match deadline {
        Some(d) => {
            let left = clock::ns_of(d).saturating_sub(clock::realtime_ns());
            if left == 0 {
                return Ok(Woke::TimedOut);
            }
            left.min(slice_ns)
        }
        None => slice_ns,
    };
    // Whole milliseconds, rounded up (never 0, which would mean "forever").
    let ms = wait_ns.div_ceil(1_000_000).max(1);
    let secs = format!("{}.{:03}", ms / 1000, ms % 1000);
    let marker = remote.keys.waiter(token);
    connection::with(&remote.url, |c| {
        c.send(&[b"BLPOP", marker.as_bytes(), secs.as_bytes()])?;
        match c.read(Await::Interruptible(restart))? {
            None => Ok(Woke::Interrupted),
            Some(Reply::Error(_)) => {
                c.mark_broken();
                Err(Errno::EIO)
            }
            Some(_) => Ok(Woke::Maybe),
        }
    })
}
