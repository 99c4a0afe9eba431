//! System V message queues held by a Redis server: `msgget`, `msgsnd`, `msgrcv` and `msgctl`
//! with the kernel's semantics, each state change one run of `scripts/sysv.lua` (whose header
//! lists the keys of a queue).
//!
//! The client checks what the kernel checks before it looks a queue up — the caller's memory,
//! sizes, `mtype`, flag combinations — in the kernel's order (as `emu::sysv` does), then runs
//! the script, which does the rest in the kernel's order under Redis's atomicity. A call that
//! must block registers in the same run and waits on its wake marker ([`super::wait`]) with
//! msgsnd/msgrcv's restart rule, `Restart::Never`: EINTR after any signal handler, even with
//! SA_RESTART; a stop and continue is invisible.
//!
//! The kernel's pipelined send is kept: a send that finds a receiver blocked hands the message
//! to the first (in blocking order) whose criteria match — it never enters the queue, and
//! `msg_lrpid` is the receiving thread's id — and wakes a matching one whose buffer is too small
//! with E2BIG on the way. The handed message waits in the queue's storage for the receiver's
//! next run (never in its wake marker): a receiver interrupted by a signal collects it instead
//! of failing with EINTR, as the kernel's does, and one that does not collect it within 1 s
//! (killed, or stopped) loses it to the next receiver or to its place in the queue.
//!
//! Round trips: one per call that does not block (the script, with EVALSHA; the first call of a
//! process or thread also connects, and the first run of the script on a server sends its text);
//! a blocked call adds one wait (`BLPOP`) and one run per wake-up or 0.5 s liveness slice; a
//! wait ended by a signal adds one run on a fresh connection (to collect or unregister).
//!
//! Differences from the kernel (beyond the transport's: see `remote`):
//! - a receiver killed while blocked keeps its place for up to 1 s: a message sent to it then
//!   reaches the next receiver (or the queue) about 1 s late; a stopped receiver is passed over
//!   after 1 s as well;
//! - credentials are read by every call (the emulation caches them) and checked by the server
//!   against the stored mode — the server's own authentication is the real boundary: any client
//!   that can reach it can change any queue;
//! - scheduled messages (`mqshim_msgsnd_at`, `mqshim_msg_cancel`) are due by the server's
//!   clock (lib.lua's `promote_due`);
//! - a connection lost mid-call (a blocked one too) is EIO; a server restarted without
//!   persistence has lost every queue, so an id from before is EINVAL;
//! - the limits are the namespace's sysctls, which the scripts read (`remote::sysctl`), but
//!   msgsnd's size is checked first here, against the `msgmax` last heard (asking the server
//!   again for a message above it): just after `msgmax` was lowered on another host, an
//!   oversized message at an unreadable address is EFAULT where the kernel's order says EINVAL;
//!   msgrcv's MSG_COPY copy bound is the `msgmax` last heard.

use std::os::raw::{c_int, c_long, c_void};

use libc::{key_t, msqid_ds};

use super::connection::Reply;
use super::script::{Script, Step};
use super::{wait, Remote};
use crate::emu::engine::futex::Restart;
use crate::emu::sysv::front::{self, QueueStat, Usage};
use crate::emu::sysv::limits::LiveSysvLimits;
use crate::emu::sysv::queue::MSG_COPY;
use crate::emu::sysv::{cmd, proc_line, QueueInfo, SysvLimits, PROC_SYSVIPC_MSG_HEADER};
use crate::errno::{Errno, Result};
use crate::os::creds::Creds;
use crate::os::usermem::{checked_write, probe_write};

/// A yes/no argument of the script.
fn flag(yes: bool) -> &'static [u8] {
    if yes {
        b"1"
    } else {
        b"0"
    }
}

/// A message type as the script keeps it: 19 decimal digits, so that the lexical order of the
/// strings is the numeric order of the (positive) types.
fn type_key(t: i64) -> String {
    format!("{t:019}")
}

/// The kernel's `ipcperms` fold of an access request: the permission bits asked for in any
/// class (as a `short`, as the kernel passes it).
fn requested_access(flags: c_int) -> i32 {
    let flag = flags as i16 as i32;
    ((flag >> 6) | (flag >> 3) | flag) & 0o7
}

/// The kernel's `convert_mode` in the script's words: the search mode and the type (or, for
/// MSG_COPY, the ordinal) it compares with.
fn search(msgtyp: c_long, flags: c_int) -> (&'static str, String) {
    if flags & MSG_COPY != 0 {
        return ("num", msgtyp.to_string());
    }
    if msgtyp == 0 {
        return ("any", "0".into());
    }
    if msgtyp < 0 {
        return ("le", type_key(if msgtyp == c_long::MIN { c_long::MAX } else { -msgtyp }));
    }
    if flags & libc::MSG_EXCEPT != 0 {
        ("ne", type_key(msgtyp))
    } else {
        ("eq", type_key(msgtyp))
    }
}

/// The System V script.
static SCRIPT: Script = Script::new("sysv", include_str!("scripts/sysv.lua"));

/// What the script needs to know of the caller: ARGV[2..4].
struct Caller {
    ident: String,
    pid: String,
    tid: String,
}

impl Caller {
    fn current() -> Caller {
        let ident = super::script::caller(&Creds::current());
        Caller { ident, pid: crate::os::ids::pid().to_string(), tid: crate::os::ids::tid().to_string() }
    }
}

/// A number the script answered, as a string (what Redis stores) or an integer (a Lua number).
fn field<T: std::str::FromStr>(r: &Reply) -> Result<T> {
    let text = match r {
        Reply::Int(i) => i.to_string(),
        _ => r.bytes().and_then(|b| std::str::from_utf8(b).ok()).ok_or(Errno::EIO)?.to_string(),
    };
    text.parse().map_err(|_| Errno::EIO)
}

/// One queue's `IPC_STAT` as the script answers it, from its 17 fields: id key uid gid cuid
/// cgid mode seq stime rtime ctime cbytes qnum qbytes lspid lrpid, and the scheduled messages
/// pending.
fn parse_stat(f: &[Reply]) -> Result<QueueStat> {
    if f.len() < 16 {
        return Err(Errno::EIO);
    }
    let info = QueueInfo {
        id: field(&f[0])?,
        key: field(&f[1])?,
        uid: field(&f[2])?,
        gid: field(&f[3])?,
        cuid: field(&f[4])?,
        cgid: field(&f[5])?,
        mode: field(&f[6])?,
        stime: field(&f[8])?,
        rtime: field(&f[9])?,
        ctime: field(&f[10])?,
        cbytes: field(&f[11])?,
        qnum: field(&f[12])?,
        qbytes: field(&f[13])?,
        lspid: field(&f[14])?,
        lrpid: field(&f[15])?,
        // (A script older than scheduled messages answers 16 fields.)
        scheduled: f.get(16).map_or(Ok(0), field)?,
    };
    Ok(QueueStat { info, seq: field::<u32>(&f[7])? as u16 })
}

/// A message as a receive gets it: its type and (possibly truncated) text.
fn message(items: &[Reply]) -> Result<(c_long, &[u8])> {
    let typ: c_long = field(items.first().ok_or(Errno::EIO)?)?;
    let text = items.get(1).and_then(Reply::bytes).ok_or(Errno::EIO)?;
    Ok((typ, text))
}

/// The System V half of the Redis backend, bound to one server and namespace.
pub struct RemoteSysv {
    remote: Remote,
    /// The limits the client states with every call that enforces one (`remote::sysctl`).
    stated: String,
    /// Its `msgmax` alone, which every send states.
    stated_msgmax: String,
    /// The limits in force as the server last answered them (msgget, IPC_INFO, MSG_INFO,
    /// IPC_SET, a sysctl read or write): for the checks the client makes before it calls
    /// (msgsnd's size, which the server checks again; msgrcv's MSG_COPY limit).
    limits: LiveSysvLimits,
}

impl RemoteSysv {
    /// `limits` are the client's (its stock or `/proc` ones, and its own settings), as `stated`
    /// says them (`remote::sysctl::stated`); the namespace's sysctls apply over them.
    pub fn new(remote: Remote, limits: SysvLimits, stated: String) -> RemoteSysv {
        let stated_msgmax = stated.split(' ').filter(|pair| pair.trim_start_matches('!').starts_with("msgmax=")).collect();
        RemoteSysv { remote, stated, stated_msgmax, limits: LiveSysvLimits::new(limits) }
    }

    /// Notes the limits a script answered after its own `at` values.
    fn heard(&self, items: &[Reply], at: usize) {
        if let Some(l) = super::sysctl::sysv_limits_at(items, at) {
            self.limits.set(l);
        }
    }

    /// Notes the limits in force (read or set through the sysctl files).
    pub fn note_limits(&self, limits: SysvLimits) {
        self.limits.set(limits);
    }

    /// The script's ARGV for `op` run by `who` as waiter `token` ("" for none), `rerun` after
    /// a wait; `args` are the operation's own.
    fn argv<'a>(op: &'a str, who: &'a Caller, token: &'a str, rerun: bool, args: &[&'a [u8]]) -> Vec<&'a [u8]> {
        let mut argv: Vec<&[u8]> = vec![op.as_bytes(), who.ident.as_bytes(), who.pid.as_bytes(), who.tid.as_bytes(), token.as_bytes(), flag(rerun)];
        argv.extend_from_slice(args);
        argv
    }

    /// One run of `op`, which never waits.
    fn done(&self, op: &str, who: &Caller, args: &[&[u8]]) -> Result<Vec<Reply>> {
        match self.remote.run(&SCRIPT, &Self::argv(op, who, "", false, args))? {
            Step::Done(items) => Ok(items),
            Step::Wait(_) => Err(Errno::EIO),
        }
    }

    /// Runs `op` (msgsnd's or msgrcv's) until it is done, waiting (`wait::blocking_or_else`)
    /// with these calls' restart rule, `Restart::Never`: a handler that runs while the call
    /// waits, or before it would wait, ends it with a `cancel` run, which collects what a sender
    /// handed the caller meanwhile (or its E2BIG, or EIDRM: the kernel's outcome wins over the
    /// signal there too), else unregisters it: EINTR. `cancel_args` are the `cancel` run's
    /// (msgrcv's layout).
    fn run_blocking(&self, op: &str, who: &Caller, args: &[&[u8]], cancel_args: &[&[u8]]) -> Result<Vec<Reply>> {
        let keys = &self.remote.keys;
        let mut rerun = false;
        let step = |step: Step, waiter: Option<&wait::Waiter>| match step {
            Step::Done(items) => Some(items),
            Step::Wait(due_in_ms) => {
                if let Some(w) = waiter {
                    w.wait_at_most(due_in_ms);
                }
                None
            }
        };
        wait::blocking_or_else(
            &self.remote,
            None,
            Restart::Never,
            |c, w: &wait::Waiter| {
                let done = SCRIPT.run(c, keys, &Self::argv(op, who, w.token, rerun, args))?;
                rerun = true;
                Ok(step(done, Some(w)))
            },
            |c, token| Ok(step(SCRIPT.run(c, keys, &Self::argv("cancel", who, token, true, cancel_args))?, None)),
        )
    }

    // ----- msgget -----

    /// `msgget`.
    pub fn msgget(&self, key: key_t, flags: c_int) -> Result<c_int> {
        let who = Caller::current();
        let key = key.to_string();
        let (creat, excl) = (flag(flags & libc::IPC_CREAT != 0), flag(flags & libc::IPC_EXCL != 0));
        let requested = requested_access(flags).to_string();
        let mode = (flags & 0o777).to_string();
        let args: [&[u8]; 6] = [key.as_bytes(), creat, excl, requested.as_bytes(), mode.as_bytes(), self.stated.as_bytes()];
        let items = self.done("get", &who, &args)?;
        self.heard(&items, 1);
        items.first().and_then(Reply::int).map(|id| id as c_int).ok_or(Errno::EIO)
    }

    // ----- msgsnd -----

    /// `msgsnd`, in the kernel's order of checks.
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn msgsnd(&self, id: c_int, msgp: *const c_void, msgsz: usize, flags: c_int) -> Result<c_int> {
        // msgmax as last heard; a message above it asks the server again before it is refused
        // (a root on any host may have raised it since). The script checks the one in force.
        let mut msgmax = self.limits.msgmax();
        if msgsz > msgmax as usize {
            msgmax = self.refresh().map_or(msgmax, |l| l.msgmax);
        }
        // SAFETY: `msgp` is the program's msgsnd argument, as msgsnd_type requires.
        let mtype = unsafe { front::msgsnd_type(id, msgp, msgsz, msgmax as usize) }?;
        let text = front::msgsnd_text(msgp, msgsz)?;
        // SAFETY: the `msgsz` bytes at `text` were just found readable, and the program keeps
        // them mapped while its call runs.
        let body = if msgsz == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(text, msgsz) } };
        let who = Caller::current();
        let (id, typ) = (id.to_string(), type_key(mtype));
        let nowait = flags & libc::IPC_NOWAIT != 0;
        let args: [&[u8]; 5] = [id.as_bytes(), typ.as_bytes(), body, flag(nowait), self.stated_msgmax.as_bytes()];
        if nowait {
            return self.done("snd", &who, &args).map(|_| 0);
        }
        // Nothing is ever handed to a sender: its cancel only unregisters it.
        let cancel: [&[u8]; 7] = [args[0], b"any", b"0", b"0", b"0", b"0", b"0"];
        self.run_blocking("snd", &who, &args, &cancel).map(|_| 0)
    }

    /// `mqshim_msgsnd_at`: `msgsnd`'s checks (the emulation's order: the type and size, the
    /// due time and flags, the text, then the queue's), and at most 64 pending (EAGAIN).
    ///
    /// # Safety
    /// As for [`Self::msgsnd`]; `due` and `handle` are the program's too.
    pub unsafe fn msgsnd_at(&self, id: c_int, msgp: *const c_void, msgsz: usize, flags: c_int, due: *const libc::timespec, handle: *mut u64) -> Result<c_int> {
        let mut msgmax = self.limits.msgmax();
        if msgsz > msgmax as usize {
            msgmax = self.refresh().map_or(msgmax, |l| l.msgmax);
        }
        // SAFETY: `msgp` is the program's argument, as msgsnd_type requires.
        let mtype = unsafe { front::msgsnd_type(id, msgp, msgsz, msgmax as usize) }?;
        if due.is_null() {
            return Err(Errno::EINVAL);
        }
        // SAFETY: `due` is the program's argument, as checked_read requires.
        let due = unsafe { crate::os::usermem::checked_read(due) }.ok_or(Errno::EFAULT)?;
        if due.tv_sec < 0 || !(0..1_000_000_000).contains(&due.tv_nsec) || flags & !libc::IPC_NOWAIT != 0 {
            return Err(Errno::EINVAL);
        }
        let text = front::msgsnd_text(msgp, msgsz)?;
        // SAFETY: the `msgsz` bytes at `text` were just found readable, and the program keeps
        // them mapped while its call runs.
        let body = if msgsz == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(text, msgsz) } };
        let writable = crate::os::usermem::probe_write(handle.cast(), std::mem::size_of::<u64>());
        let due_ns = due.tv_sec as u64 * 1_000_000_000 + due.tv_nsec as u64;
        let (due_us, due_ns) = (due_ns.div_ceil(1000).to_string(), due_ns.to_string());
        let (id, typ) = (id.to_string(), type_key(mtype));
        let args: [&[u8]; 7] = [id.as_bytes(), typ.as_bytes(), body, due_us.as_bytes(), due_ns.as_bytes(), self.stated_msgmax.as_bytes(), flag(!writable)];
        let items = self.done("sndat", &Caller::current(), &args)?;
        if !writable {
            return Err(Errno::EFAULT);
        }
        let h: u64 = field(items.first().ok_or(Errno::EIO)?)?;
        // SAFETY: `handle` was probed writable above (the program's storage).
        if !unsafe { checked_write(handle, &h) } {
            return Err(Errno::EFAULT);
        }
        Ok(0)
    }

    /// `mqshim_msg_cancel`: EINVAL, EACCES (write permission), ENOENT when `handle` is not
    /// pending (due already, cancelled, or never scheduled here).
    pub fn msg_cancel(&self, id: c_int, handle: u64) -> Result<c_int> {
        let (id, handle) = (id.to_string(), handle.to_string());
        self.done("unsched", &Caller::current(), &[id.as_bytes(), handle.as_bytes()]).map(|_| 0)
    }

    // ----- msgrcv -----

    /// `msgrcv`, in the kernel's order of checks. The message is taken before it is copied
    /// out: a buffer that is not writable loses it (EFAULT), as with the kernel.
    ///
    /// # Safety
    /// As for [`Self::msgsnd`].
    pub unsafe fn msgrcv(&self, id: c_int, msgp: *mut c_void, bufsz: usize, msgtyp: c_long, flags: c_int) -> Result<isize> {
        let copy_limit = front::msgrcv_checks(id, msgp, bufsz, flags, self.limits.msgmax() as usize)?;
        let who = Caller::current();
        let (mode, want) = search(msgtyp, flags);
        let nowait = flags & libc::IPC_NOWAIT != 0;
        let noerror = flags & libc::MSG_NOERROR != 0;
        let (id, size, limit) = (id.to_string(), bufsz.to_string(), copy_limit.to_string());
        let args: [&[u8]; 7] = [id.as_bytes(), mode.as_bytes(), want.as_bytes(), size.as_bytes(), flag(noerror), flag(nowait), limit.as_bytes()];
        let items = if nowait { self.done("rcv", &who, &args)? } else { self.run_blocking("rcv", &who, &args, &args)? };
        let (mtype, text) = message(&items)?;
        let text = &text[..text.len().min(bufsz)];
        // SAFETY: `msgp` is the program's msgrcv argument, as checked_write requires.
        if !unsafe { checked_write(msgp as *mut c_long, &mtype) } {
            return Err(Errno::EFAULT);
        }
        let dst = (msgp as *mut u8).wrapping_add(std::mem::size_of::<c_long>());
        if !probe_write(dst, text.len()) {
            return Err(Errno::EFAULT);
        }
        // SAFETY: the `text.len()` bytes at `dst` were just found writable, and the program
        // keeps them so while its call runs; `text` is our own buffer.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), dst, text.len()) };
        Ok(text.len() as isize)
    }

    // ----- msgctl -----

    /// `msgctl` (its checks and the caller's struct: [`front::msgctl`]).
    ///
    /// # Safety
    /// As for [`Self::msgsnd`].
    pub unsafe fn msgctl(&self, id: c_int, command: c_int, buf: *mut msqid_ds) -> Result<c_int> {
        // SAFETY: `buf` is the program's msgctl argument, as front::msgctl requires.
        unsafe { front::msgctl(self, id, command, buf) }
    }

    /// IPC_RMID (and `mqshim ipcrm -q`): removes queue `id` at once; every blocked sender and
    /// receiver fails with EIDRM.
    pub fn remove_id(&self, id: c_int) -> Result<()> {
        self.done("rmid", &Caller::current(), &[id.to_string().as_bytes()]).map(|_| ())
    }

    /// `mqshim ipcrm -Q`: removes the queue with `key` (not IPC_PRIVATE).
    pub fn remove_key(&self, key: key_t) -> Result<()> {
        if key == libc::IPC_PRIVATE {
            return Err(Errno::EINVAL);
        }
        self.done("rmid", &Caller::current(), &[b"", key.to_string().as_bytes()]).map(|_| ())
    }

    /// `mqshim peek -q ID`: what queue `id` holds, in arrival order, without changing anything
    /// (EINVAL for an id that names no queue, EACCES without read permission, as msgrcv asks).
    /// Then the pending scheduled messages, those already due placed as the emulation's peek does.
    pub fn peek(&self, id: c_int, preview: usize) -> Result<crate::emu::peek::QueueSnapshot> {
        let (id, preview) = (id.to_string(), preview.to_string());
        let items = self.done("peek", &Caller::current(), &[id.as_bytes(), preview.as_bytes()])?;
        // A due one is sent while it fits msg_qbytes (bytes and messages), as send_due sends it.
        super::peeked(&items, crate::emu::peek::Placement::AtEnd, |qbytes, m, queued| {
            let bytes: u64 = queued.iter().map(|q| q.len as u64).sum();
            bytes + m.len as u64 <= qbytes && (queued.len() as u64) < qbytes
        })
    }

    /// The System V limits in force, asked of the server (and noted).
    fn refresh(&self) -> Result<SysvLimits> {
        let (values, _) = super::sysctl::in_force(&self.remote, &self.stated)?;
        let mut limits = self.limits.get();
        for (key, value) in &values {
            limits.set_by_key(key, *value);
        }
        self.limits.set(limits);
        Ok(limits)
    }

    /// Every queue of the namespace, by index (for `mqshim ipcs`).
    pub fn list(&self) -> Result<Vec<QueueInfo>> {
        let items = self.done("list", &Caller::current(), &[])?;
        items.into_iter().map(|q| parse_stat(&q.into_array()).map(|s| s.info)).collect()
    }

    /// The text the kernel's `/proc/sysvipc/msg` would hold for the namespace's queues.
    pub fn proc_sysvipc_msg(&self) -> Result<String> {
        let mut out = String::from(PROC_SYSVIPC_MSG_HEADER);
        for q in self.list()? {
            out.push_str(&proc_line(&q));
        }
        Ok(out)
    }
}

impl front::Msgctl for RemoteSysv {
    /// As the last call heard them: [`front::msgctl`] asks for them after [`Self::usage`], which
    /// hears the ones in force.
    fn limits(&self) -> SysvLimits {
        self.limits.get()
    }

    fn usage(&self, totals: bool) -> Result<Usage> {
        let items = self.done("info", &Caller::current(), &[flag(totals), self.stated.as_bytes()])?;
        self.heard(&items, 4);
        let n = |i: usize| items.get(i).and_then(Reply::int).ok_or(Errno::EIO);
        Ok(Usage { max_idx: n(0)?, queues: n(1)?, messages: n(2)?, bytes: n(3)? })
    }

    fn stat(&self, id: c_int, command: c_int) -> Result<QueueStat> {
        // MSG_STAT and MSG_STAT_ANY: only the index's low 15 bits count (ipcid_to_idx).
        let (which, at): (&[u8], String) = match command {
            cmd::IPC_STAT => (&b"id"[..], id.to_string()),
            cmd::MSG_STAT => (&b"idx"[..], (id & 0x7fff).to_string()),
            _ => (&b"any"[..], (id & 0x7fff).to_string()),
        };
        parse_stat(&self.done("stat", &Caller::current(), &[at.as_bytes(), which])?)
    }

    /// IPC_SET: owner, group, mode and qbytes; every waiter looks again.
    fn set(&self, id: c_int, ds: &msqid_ds) -> Result<()> {
        // The kernel passes msg_qbytes on as an int, and checks capable(CAP_SYS_RESOURCE) in
        // the initial user namespace (Creds leaves it out elsewhere).
        let qbytes = ds.msg_qbytes as i32;
        let who = Caller::current();
        // Compared with msgmnb as unsigned, as the kernel does (the script knows msgmnb).
        let compared = (qbytes as u32).to_string();
        let ids_valid = ds.msg_perm.uid != u32::MAX && ds.msg_perm.gid != u32::MAX;
        let (id, uid, gid) = (id.to_string(), ds.msg_perm.uid.to_string(), ds.msg_perm.gid.to_string());
        let mode = (ds.msg_perm.mode as u32 & 0o777).to_string();
        let stored = (qbytes as i64 as u64).to_string();
        let items = self.done(
            "set",
            &who,
            &[id.as_bytes(), uid.as_bytes(), gid.as_bytes(), mode.as_bytes(), stored.as_bytes(), compared.as_bytes(), flag(ids_valid), self.stated.as_bytes()],
        )?;
        self.heard(&items, 0);
        Ok(())
    }

    fn remove_id(&self, id: c_int) -> Result<()> {
        RemoteSysv::remove_id(self, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::testing::Server;

    const LIMITS: SysvLimits = SysvLimits { msgmax: 8192, msgmnb: 16384, msgmni: 32000 };

    #[repr(C)]
    struct Msg {
        mtype: c_long,
        text: [u8; 64],
    }

    fn send(q: &RemoteSysv, id: c_int, mtype: c_long, text: &[u8]) -> Result<c_int> {
        let mut m = Msg { mtype, text: [0; 64] };
        m.text[..text.len()].copy_from_slice(text);
        // SAFETY: a valid message of `text.len()` bytes.
        unsafe { q.msgsnd(id, (&m as *const Msg).cast(), text.len(), libc::IPC_NOWAIT) }
    }

    fn receive(q: &RemoteSysv, id: c_int, msgtyp: c_long) -> Result<(c_long, Vec<u8>)> {
        let mut m = Msg { mtype: 0, text: [0; 64] };
        // SAFETY: a writable buffer of 64 bytes of text.
        let n = unsafe { q.msgrcv(id, (&mut m as *mut Msg).cast(), 64, msgtyp, libc::IPC_NOWAIT) }?;
        Ok((m.mtype, m.text[..n as usize].to_vec()))
    }

    fn qnum(q: &RemoteSysv, id: c_int) -> u64 {
        // SAFETY: msqid_ds is plain C data.
        let mut ds: msqid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: a writable msqid_ds.
        unsafe { q.msgctl(id, cmd::IPC_STAT, &mut ds) }.unwrap();
        ds.msg_qnum
    }

    #[test]
    fn msgmax_set_elsewhere_decides_a_send_whichever_way_it_moved() {
        let Some(server) = Server::start() else { return };
        let stated = crate::remote::testing::stock_stated();
        let q = RemoteSysv::new(server.remote("sv3"), LIMITS, stated.clone());
        let id = q.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
        let elsewhere = server.remote("sv3");
        // Lowered on another host after this client last heard 8192: the server refuses.
        crate::remote::sysctl::set(&elsewhere, "msgmax", 16, &stated).unwrap();
        assert_eq!(send(&q, id, 1, &[b'x'; 17]), Err(Errno::EINVAL));
        assert_eq!(send(&q, id, 1, &[b'x'; 16]), Ok(0));
        // Raised elsewhere above what this client last heard (16, with IPC_INFO): it asks the
        // server again instead of refusing, and sends.
        // SAFETY: msginfo is plain C data, written by msgctl.
        let mut heard: libc::msginfo = unsafe { std::mem::zeroed() };
        // SAFETY: a writable msginfo.
        unsafe { q.msgctl(0, cmd::IPC_INFO, (&mut heard as *mut libc::msginfo).cast()) }.unwrap();
        assert_eq!(heard.msgmax, 16);
        crate::remote::sysctl::set(&elsewhere, "msgmax", 64, &stated).unwrap();
        assert_eq!(send(&q, id, 1, &[b'x'; 64]), Ok(0));
        assert_eq!(qnum(&q, id), 2);
        // msgmnb: a new queue's msg_qbytes, and IPC_INFO reports the namespace's limits.
        crate::remote::sysctl::set(&elsewhere, "msgmnb", 100, &stated).unwrap();
        let id2 = q.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
        // SAFETY: msqid_ds and msginfo are plain C data, written by msgctl.
        let (mut ds, mut info): (msqid_ds, libc::msginfo) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        // SAFETY: writable structs of the sizes msgctl writes.
        unsafe {
            q.msgctl(id2, cmd::IPC_STAT, &mut ds).unwrap();
            q.msgctl(0, cmd::IPC_INFO, (&mut info as *mut libc::msginfo).cast()).unwrap();
        }
        assert_eq!((ds.msg_qbytes, info.msgmax, info.msgmnb, info.msgmni), (100, 64, 100, 32000));
        q.remove_id(id).unwrap();
        q.remove_id(id2).unwrap();
    }

    #[test]
    fn zero_length_messages_and_types_beyond_a_doubles_precision() {
        let Some(server) = Server::start() else { return };
        let q = RemoteSysv::new(server.remote("sv1"), LIMITS, crate::remote::testing::stock_stated());
        let id = q.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
        // A receive of an empty message once sent `HINCRBY cbytes -0`, which Redis refuses.
        send(&q, id, 7, b"").unwrap();
        assert_eq!(receive(&q, id, 0), Ok((7, Vec::new())));
        // 2^60 and 2^60 + 1 are one double: the lowest type <= 2^60 must still be exact.
        let big = 1i64 << 60;
        send(&q, id, big + 1, b"above").unwrap();
        send(&q, id, big, b"at").unwrap();
        assert_eq!(receive(&q, id, -big), Ok((big, b"at".to_vec())));
        assert_eq!(receive(&q, id, -big), Err(Errno::ENOMSG));
        assert_eq!(receive(&q, id, big + 1), Ok((big + 1, b"above".to_vec())));
        q.remove_id(id).unwrap();
    }

    #[test]
    fn a_message_handed_to_a_vanished_receiver_is_not_lost() {
        let Some(server) = Server::start() else { return };
        let q = RemoteSysv::new(server.remote("sv2"), LIMITS, crate::remote::testing::stock_stated());
        let id = q.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
        let (who, sid) = (Caller::current(), id.to_string());
        let rcv = |token: &str, rerun: bool| {
            let args: [&[u8]; 7] = [sid.as_bytes(), b"any", b"0", b"64", b"0", b"0", b"0"];
            q.remote.run(&SCRIPT, &RemoteSysv::argv("rcv", &who, token, rerun, &args))
        };
        // A receiver blocks, and vanishes (killed) without collecting what is sent to it.
        assert_eq!(rcv("gone", false), Ok(Step::Wait(None)));
        send(&q, id, 1, b"first").unwrap();
        assert_eq!(qnum(&q, id), 1, "a handed message counts until collected");
        // A receive that may not wait takes it.
        assert_eq!(receive(&q, id, 0), Ok((1, b"first".to_vec())));
        assert_eq!(qnum(&q, id), 0);
        // Handed again; this time another receiver blocks behind: it gets it once the first
        // has not collected it for a second.
        assert_eq!(rcv("gone2", false), Ok(Step::Wait(None)));
        assert_eq!(rcv("next", false), Ok(Step::Wait(None)));
        send(&q, id, 1, b"second").unwrap();
        assert_eq!(rcv("next", true), Ok(Step::Wait(None)));
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let got = rcv("next", true).unwrap();
        assert!(matches!(&got, Step::Done(v) if v.get(1).and_then(Reply::bytes) == Some(&b"second"[..])), "{got:?}");
        // The vanished receiver, back after all, finds nothing handed to it and waits on.
        assert_eq!(rcv("gone2", true), Ok(Step::Wait(None)));
        q.remove_id(id).unwrap();
        assert_eq!(rcv("gone2", true), Err(Errno::EIDRM));
    }

    #[test]
    fn types_sort_as_numbers_when_their_keys_sort_as_strings() {
        let mut types = [1i64, 9, 10, 255, 1 << 40, c_long::MAX, 2];
        let mut keys: Vec<String> = types.iter().map(|t| type_key(*t)).collect();
        types.sort();
        keys.sort();
        assert_eq!(keys, types.iter().map(|t| type_key(*t)).collect::<Vec<_>>());
        assert_eq!(type_key(c_long::MAX).len(), 19);
    }

    #[test]
    fn search_modes_are_the_kernels() {
        assert_eq!(search(0, 0), ("any", "0".to_string()));
        assert_eq!(search(5, 0), ("eq", type_key(5)));
        assert_eq!(search(5, libc::MSG_EXCEPT), ("ne", type_key(5)));
        assert_eq!(search(-4, libc::MSG_EXCEPT), ("le", type_key(4)));
        assert_eq!(search(c_long::MIN, 0), ("le", type_key(c_long::MAX)));
        assert_eq!(search(-1, MSG_COPY | libc::IPC_NOWAIT), ("num", "-1".to_string()));
    }

    #[test]
    fn access_requests_fold_as_ipcperms_does() {
        assert_eq!(requested_access(0), 0);
        assert_eq!(requested_access(0o400), 4);
        assert_eq!(requested_access(0o020 | libc::IPC_CREAT), 2);
        assert_eq!(requested_access(0o666 | libc::IPC_CREAT | libc::IPC_EXCL), 6);
    }
}
