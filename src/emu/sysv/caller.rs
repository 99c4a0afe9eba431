//! Who is calling, and when, without a system call on the fast path.
//!
//! Every System V call checks permissions (`ipcperms`) and records the caller's pid and the time,
//! and a system call costs more here than the whole emulated call may. So:
//! - the pid (tgid) is cached per process and forgotten in a forked child;
//! - the credentials are cached per thread (Linux credentials are per thread; glibc keeps a
//!   process's threads in step), read afresh by every slow path (blocking, IPC_SET, MSG_STAT,
//!   …), whenever a cached check would refuse, in a forked child, and in every
//!   thread once the program changed its credentials through a function the library sees
//!   (`setuid`, `seteuid`, `setgroups`, `capset`, …, or their raw system calls through
//!   `syscall`: `creds::generation`) — so a program that drops privileges is refused at its
//!   next call, as by the kernel. (A change made with an inline system call is seen at the
//!   next slow path.) A fresh read takes the ids and groups (four system calls); capabilities
//!   are read only when a check asks for one (`Ident::has`) — most calls never do, and for
//!   root the question costs two more, one of them a lookup in /proc. `msgget` of an existing
//!   key reads nothing when every class has the access asked for ([`may_now`]);
//! - times are whole seconds of CLOCK_REALTIME_COARSE, which is exactly what the kernel stores
//!   (`ktime_get_real_seconds`) and what `time()` returns, read from the vDSO.

use crate::os::creds::Creds;
use crate::os::ids::fork_generation;
pub use crate::os::ids::{pid, tid};

/// Supplementary groups kept inline; a caller with more is checked against a fresh read.
const INLINE_GROUPS: usize = 32;

/// What the permission checks need of the caller's credentials (plain data, cheap to copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ident {
    pub euid: u32,
    pub egid: u32,
    pub fsgid: u32,
    caps: Caps,
    ngroups: u32,
    groups: [u32; INLINE_GROUPS],
    /// More supplementary groups than fit inline.
    overflow: bool,
}

/// The effective capability set: given, or read when a check asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caps {
    Known(u64),
    /// The calling thread's, read at the question (`creds::has_now`): no check of a call
    /// needs capabilities unless the mode refuses it, so reading them with the ids made every
    /// call pay a `capget` (and root a /proc lookup) it does not use.
    WhenAsked,
}

impl Ident {
    pub fn from_creds(c: &Creds) -> Ident {
        let mut groups = [0u32; INLINE_GROUPS];
        let n = c.groups.len().min(INLINE_GROUPS);
        groups[..n].copy_from_slice(&c.groups[..n]);
        Ident { euid: c.euid, egid: c.egid, fsgid: c.fsgid, caps: Caps::Known(c.caps), ngroups: n as u32, groups, overflow: c.groups.len() > INLINE_GROUPS }
    }

    /// The calling thread's credentials now: its ids and groups read (no heap, no
    /// `setfsuid`), its capabilities when asked.
    fn current() -> Ident {
        let (euid, egid, fsgid) = crate::os::sys::effective_ids();
        let mut groups = [0u32; INLINE_GROUPS];
        let n = crate::os::sys::getgroups(&mut groups);
        // More than fit inline (EINVAL): every group question then reads them afresh.
        let (ngroups, overflow) = if n >= 0 { (n as u32, false) } else { (0, true) };
        Ident { euid, egid, fsgid, caps: Caps::WhenAsked, ngroups, groups, overflow }
    }

    pub fn has(&self, capability: u32) -> bool {
        match self.caps {
            Caps::Known(caps) => caps & (1u64 << capability) != 0,
            Caps::WhenAsked => crate::os::creds::has_now(capability),
        }
    }

    /// The kernel's `in_group_p`: the filesystem group or a supplementary group.
    pub fn in_group(&self, gid: u32) -> bool {
        if self.fsgid == gid || self.groups[..self.ngroups as usize].contains(&gid) {
            return true;
        }
        self.overflow && Creds::current().in_group_fs(gid)
    }
}

thread_local! {
    /// The credentials, with the fork and credential generations they were read under.
    static IDENT: std::cell::RefCell<Option<((u32, u32), Ident)>> = const { std::cell::RefCell::new(None) };
}

/// How fresh the credentials must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// The thread's cached credentials will do.
    Cached,
    /// Read them now (and refresh the cache).
    Fresh,
}

/// The caller's credentials.
pub fn ident(freshness: Freshness) -> Ident {
    let mut out = None;
    check(freshness, |id| {
        out = Some(*id);
        true
    });
    out.unwrap_or_else(Ident::current)
}

/// Runs the check `f` on the caller's credentials, without copying them out of the cache.
pub fn check(freshness: Freshness, mut f: impl FnMut(&Ident) -> bool) -> bool {
    let generation = (fork_generation(), crate::os::creds::generation());
    let cached = IDENT.try_with(|cell| {
        // A signal handler calling in while the cache is borrowed reads afresh (below).
        let mut slot = cell.try_borrow_mut().ok()?;
        if freshness == Freshness::Fresh || !matches!(&*slot, Some((g, _)) if *g == generation) {
            *slot = Some((generation, Ident::current()));
        }
        slot.as_ref().map(|(_, id)| f(id))
    });
    match cached {
        Ok(Some(r)) => r,
        _ => f(&Ident::current()),
    }
}

/// Forgets the calling thread's cached credentials: the next check reads them afresh.
pub fn forget() {
    let _ = IDENT.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = None;
        }
    });
}

/// The kernel's `ipcperms` (`check`, given the credentials) on the calling thread's credentials:
/// none read when the request asks for nothing or every class of `mode` has what it asks for,
/// else the thread's cached ones (current unless the program changed them past the library:
/// see the module documentation), read afresh when they refuse (groups, and capabilities if
/// still refused).
pub fn may_now(mode: u32, flag: i32, check: impl Fn(&Ident) -> bool) -> bool {
    let folded = flag as i16 as i32;
    let requested = ((folded >> 6) | (folded >> 3) | folded) as u32 & 0o7;
    let every_class = (mode >> 6) & (mode >> 3) & mode;
    requested & !every_class & 0o7 == 0 || self::check(Freshness::Cached, &check) || self::check(Freshness::Fresh, check)
}

pub use crate::os::clock::{coarse_realtime_ns, now_sec, realtime_in, realtime_ns, seconds_of_ns};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_agree_with_the_system() {
        // SAFETY: plain getters.
        let (p, e) = unsafe { (libc::getpid(), libc::geteuid()) };
        assert_eq!(pid(), p);
        // SAFETY: plain getter.
        assert_eq!(tid(), unsafe { libc::gettid() });
        assert_eq!(ident(Freshness::Cached).euid, e);
        assert_eq!(ident(Freshness::Fresh).euid, e);
        assert_eq!(ident(Freshness::Cached), ident(Freshness::Fresh));
        // SAFETY: plain getter.
        assert!(ident(Freshness::Cached).in_group(unsafe { libc::getegid() }));
        // SAFETY: plain getter.
        let t = unsafe { libc::time(std::ptr::null_mut()) };
        assert!((now_sec() - t).abs() <= 1);
    }

    #[test]
    fn a_fresh_read_answers_as_all_credentials_do() {
        let all = Creds::current();
        let who = ident(Freshness::Fresh);
        assert_eq!((who.euid, who.egid, who.fsgid), (all.euid, all.egid, all.fsgid));
        for capability in 0..64 {
            assert_eq!(who.has(capability), all.has(capability), "capability {capability}");
        }
        for gid in all.groups.iter().copied().chain([all.fsgid, all.egid.wrapping_add(12345)]) {
            assert_eq!(who.in_group(gid), all.in_group_fs(gid), "group {gid}");
        }
    }
}
