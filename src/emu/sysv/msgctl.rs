//! `msgctl`: IPC_INFO/MSG_INFO, IPC_STAT/MSG_STAT/MSG_STAT_ANY, IPC_SET and IPC_RMID, in the
//! kernel's order of checks; and what `mqshim ipcs` and `/proc/sysvipc/msg` show.

use super::*;

/// `msgctl` commands (`<linux/ipc.h>`, `<linux/msg.h>`).
pub mod cmd {
    pub const IPC_RMID: i32 = 0;
    pub const IPC_SET: i32 = 1;
    pub const IPC_STAT: i32 = 2;
    pub const IPC_INFO: i32 = 3;
    pub const MSG_STAT: i32 = 11;
    pub const MSG_INFO: i32 = 12;
    pub const MSG_STAT_ANY: i32 = 13;
}

/// What [`SysvEmulation::claim_and_take_key_link`] did.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct KeyLinkTaken {
    /// Whether the key's link to the queue is gone (false: one named it and could not be
    /// removed).
    pub link_gone: bool,
    /// Whether the queue's lock was found held by a process stopped inside its critical
    /// section (see `SysvEmulation::claim_removal`).
    pub lock_stuck: bool,
}

/// What `mqshim ipcs` shows of one queue (the columns of `/proc/sysvipc/msg`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueInfo {
    pub key: i32,
    pub id: i32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub cbytes: u64,
    pub qnum: u64,
    pub qbytes: u64,
    pub lspid: i32,
    pub lrpid: i32,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    /// Scheduled messages not yet sent (not in `qnum`).
    pub scheduled: u32,
}

/// The first line of `/proc/sysvipc/msg`.
pub const PROC_SYSVIPC_MSG_HEADER: &str =
    "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n";

/// One queue's line of `/proc/sysvipc/msg`, in the kernel's format.
pub fn proc_line(q: &QueueInfo) -> String {
    format!(
        "{:>10} {:>10}  {:>4o}  {:>10} {:>10} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>10} {:>10} {:>10}\n",
        q.key, q.id, q.mode, q.cbytes, q.qnum, q.lspid as u32, q.lrpid as u32, q.uid, q.gid, q.cuid, q.cgid, q.stime as u64, q.rtime as u64, q.ctime as u64
    )
}

impl SysvEmulation {
    /// `msgctl` (its checks and the caller's struct: [`front::msgctl`]).
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn msgctl(&self, id: c_int, command: c_int, buf: *mut msqid_ds) -> Result<c_int> {
        // SAFETY: `buf` is the program's msgctl argument, as front::msgctl requires.
        unsafe { front::msgctl(self, id, command, buf) }
    }
}

impl front::Msgctl for SysvEmulation {
    fn limits(&self) -> SysvLimits {
        SysvEmulation::limits(self)
    }

    fn usage(&self, totals: bool) -> Result<front::Usage> {
        // No registry lock: the counts are atomics, and a holder of the lock (which every user
        // may take) must not stall MSG_INFO.
        let registry = self.registry()?;
        let (max_idx, in_use) = registry.max_idx_and_in_use();
        let (mut messages, mut bytes) = (0u64, 0u64);
        if totals {
            for i in 0..registry.high_water() {
                if let Some(q) = registry.shown_id(i).and_then(|id| self.find(id).ok()) {
                    let s = stats(q.header());
                    messages += s.qnum;
                    bytes += s.cbytes;
                }
            }
        }
        Ok(front::Usage {
            max_idx: max_idx as i64,
            queues: in_use as i64,
            messages: messages.min(i32::MAX as u64) as i64,
            bytes: bytes.min(i32::MAX as u64) as i64,
        })
    }

    fn stat(&self, id: c_int, command: c_int) -> Result<front::QueueStat> {
        let full_id = if command == cmd::IPC_STAT {
            id
        } else {
            // The index's queue, as its record shows it (checked against its segment below).
            self.registry()?.shown_id(id as u32 & (IPCMNI - 1)).ok_or(Errno::EINVAL)?
        };
        let q = match self.find(full_id) {
            Ok(q) => q,
            // MSG_STAT_ANY asks for no access: a queue whose segment refuses the caller is
            // shown from its display copy.
            Err(Errno::EACCES) if command == cmd::MSG_STAT_ANY => {
                let s = self.registry()?.shown(full_id).ok_or(Errno::EINVAL)?;
                return Ok(front::QueueStat { seq: s.seq as u16, info: queue_info(full_id, &s, 0) });
            }
            Err(e) => return Err(e),
        };
        let entry = q.entry();
        let mut s = snapshot(q.header());
        if command != cmd::MSG_STAT_ANY && !self.permitted(&s, S_IRUGO) {
            return Err(Errno::EACCES);
        }
        if !q.live() {
            return Err(Errno::EIDRM);
        }
        if scheduled_due(entry) {
            // What has fallen due counts from now on.
            self.send_due(&q);
            s = snapshot(q.header());
        }
        Ok(front::QueueStat { seq: s.seq as u16, info: queue_info(full_id, &s, entry.scheduled.load(Ordering::Acquire)) })
    }

    fn set(&self, id: c_int, ds: &msqid_ds) -> Result<()> {
        SysvEmulation::set(self, id, ds)
    }

    fn remove_id(&self, id: c_int) -> Result<()> {
        SysvEmulation::remove_id(self, id)
    }
}

/// What `mqshim ipcs` shows of queue `id`, whose statistics are `s`, with `scheduled`
/// messages pending.
fn queue_info(id: c_int, s: &Snapshot, scheduled: u32) -> QueueInfo {
    QueueInfo {
        key: s.key,
        id,
        mode: s.mode,
        uid: s.uid,
        gid: s.gid,
        cuid: s.cuid,
        cgid: s.cgid,
        cbytes: s.cbytes,
        qnum: s.qnum,
        qbytes: s.qbytes,
        lspid: s.lspid,
        lrpid: s.lrpid,
        stime: s.stime,
        rtime: s.rtime,
        ctime: s.ctime,
        scheduled,
    }
}

impl SysvEmulation {
    /// May `who` change or remove a queue with `perm` (the kernel's `ipcctl_obtain_check`)?
    pub(super) fn owner_or_admin(perm: &Snapshot, who: &Ident) -> bool {
        who.euid == perm.cuid || who.euid == perm.uid || who.has(cap::SYS_ADMIN)
    }

    /// The live queue `id` for IPC_SET or IPC_RMID: a caller its segment refuses is no owner
    /// of it (the segment is always open to its owner), so EPERM as the kernel says.
    fn find_to_control(&self, id: c_int) -> Result<Arc<Queue>> {
        match self.find(id) {
            Err(Errno::EACCES) => Err(Errno::EPERM),
            found => found,
        }
    }

    /// IPC_SET with the caller's `ds`: owner, group, mode and qbytes; wakes every waiter to
    /// look again. Under the queue's lock, or without it when its holder is a process stopped
    /// inside its critical section (the lock's EAGAIN): the kernel's IPC_SET never waits for a
    /// stopped task. Its writers exclude each other by a mark in the entry either way (see
    /// `entry::write_perms`); without the lock, the waiters look again when the lock's next
    /// holder lets go (see `Queue::recheck_unlocked`).
    fn set(&self, id: c_int, ds: &msqid_ds) -> Result<()> {
        let who = ident(Freshness::Fresh);
        let q = self.find_to_control(id)?;
        let entry = q.entry();
        let perm = perms(q.header());
        if !Self::owner_or_admin(&perm, &who) {
            return Err(Errno::EPERM);
        }
        // The kernel passes msg_qbytes on as an int, and checks capable(CAP_SYS_RESOURCE), in
        // the initial user namespace (Creds leaves it out elsewhere).
        let qbytes = ds.msg_qbytes as i32;
        if qbytes as u32 > self.limits().msgmnb as u32 && !who.has(cap::SYS_RESOURCE) {
            return Err(Errno::EPERM);
        }
        let mut locked = match lock::briefly(|| q.lock(entry)) {
            Ok(locked) => Some(locked),
            Err(Errno::EAGAIN) => None,
            Err(e) => return Err(e),
        };
        if !locked.as_ref().map_or_else(|| q.live(), |l| l.valid()) {
            return Err(Errno::EIDRM);
        }
        if ds.msg_perm.uid == u32::MAX || ds.msg_perm.gid == u32::MAX {
            return Err(Errno::EINVAL);
        }
        let mode = (perm.mode & !0o777) | (ds.msg_perm.mode as u32 & 0o777);
        entry::write_perms(entry, q.id as u32 + 1, |e| {
            e.uid.store(ds.msg_perm.uid, Ordering::Relaxed);
            e.gid.store(ds.msg_perm.gid, Ordering::Relaxed);
            e.mode.store(mode, Ordering::Relaxed);
            e.qbytes.store(qbytes as i64 as u64, Ordering::Relaxed);
            e.ctime.store(now_sec(), Ordering::Relaxed);
        })?;
        match locked.as_mut() {
            Some(locked) => locked.recheck_all(),
            None => q.recheck_unlocked(entry),
        }
        // Root giving the queue to another user gives it the files too — its segment and its
        // key's link — so that the new owner can remove them (in the sticky directory only a
        // file's owner may) and the segment's mode protects the queue again. (Another caller
        // cannot chown: the segment is then open to all, see `queue::file_mode`, and what its
        // new owner cannot remove is swept by a creator who may.)
        let (uid, gid) = (ds.msg_perm.uid, ds.msg_perm.gid);
        if (uid, gid) != q.file_owner() && who.has(cap::CHOWN) {
            let seg = std::ffi::CString::new(file_name(q.id)).map_err(|_| Errno::EINVAL)?;
            if crate::os::sys::fchownat(self.dir, &seg, uid, gid, libc::AT_SYMLINK_NOFOLLOW) == 0 {
                q.set_file_owner(uid, gid);
                let key = entry.key.load(Ordering::Relaxed);
                if let Some(slot) = (key != libc::IPC_PRIVATE).then(|| keys::slot_of(self.dir, key, id)).flatten() {
                    crate::os::sys::fchownat(self.dir, &keys::link_name(key, slot), uid, gid, libc::AT_SYMLINK_NOFOLLOW);
                }
            }
        }
        drop(locked);
        if let Ok(r) = self.registry() {
            r.show_perms(id, &snapshot(q.header()));
        }
        // The segment file's mode follows (possible for its owner or CAP_FOWNER; when not, the
        // queue's owner is not the file's and the file is already open to all).
        let (file_uid, file_gid) = q.file_owner();
        // Marked for good: a user it let in may still map it (see `queue::spare`).
        let fmode = queue::file_mode(mode, ds.msg_perm.uid, ds.msg_perm.gid, file_uid, file_gid) | queue::MODE_WAS_SET;
        if let Ok(c) = std::ffi::CString::new(file_name(q.id)) {
            let _ = crate::emu::namespace::chmod_entry(self.dir, &c, fmode, libc::S_IFREG, file_uid, crate::emu::namespace::one_link);
        }
        Ok(())
    }

    /// IPC_RMID (and `mqshim ipcrm -q`): removes queue `id` at once; every blocked sender and
    /// receiver fails with EIDRM. The commit point is its entry's `id1` cleared, under the
    /// queue's lock, with this thread recorded as its remover; its segment file then goes. A
    /// keyed queue's link goes before, while the queue is still live: nobody replaces a live
    /// queue's link, and this thread's claim on the removal (in the segment) keeps every other
    /// remover out, so the link it takes away by name is its own queue's. So no creator of the
    /// key ever waits for a remover: until the link goes it finds the old queue, as before the
    /// kernel's IPC_RMID, and after it makes a new one. No namespace-wide lock; the remover is
    /// in the registry's creator table meanwhile, so that if it is killed half-way the next
    /// creator sweeps what it left (its record included, and a queue whose link it took away
    /// before its commit: see `SysvEmulation::finish_abandoned_removal`).
    pub fn remove_id(&self, id: c_int) -> Result<()> {
        let q = match self.find_to_control(id) {
            Err(Errno::EIO) => return self.remove_damaged(id, &ident(Freshness::Fresh)),
            found => found?,
        };
        let entry = q.entry();
        // The thread's cached credentials answer (see `caller`); a refusal is read again.
        let perm = perms(q.header());
        if !Self::owner_or_admin(&perm, &ident(Freshness::Cached)) && !Self::owner_or_admin(&perm, &ident(Freshness::Fresh)) {
            return Err(Errno::EPERM);
        }
        let registry = self.registry().ok();
        let _working = registry.map(|r| r.begin_work());
        let key = entry.key.load(Ordering::Relaxed);
        let (mut stuck, mut lock_stuck) = (false, false);
        if key != libc::IPC_PRIVATE {
            let taken = self.claim_and_take_key_link(&q, entry, key, id, || {})?;
            (stuck, lock_stuck) = (!taken.link_gone, taken.lock_stuck);
        }
        // A lock found held by a process stopped inside its critical section is not waited for
        // twice: it is looked at once more, without waiting.
        let locked = if lock_stuck { q.try_lock(entry).unwrap_or(Err(Errno::EAGAIN)) } else { lock::briefly(|| q.lock(entry)) };
        let never_blocked = match locked {
            Ok(mut locked) => {
                // Removed meanwhile by a remover that waited this one out (see `claim_removal`).
                if !locked.valid() || !locked.begin_removal() {
                    return Err(Errno::EIDRM);
                }
                locked.never_blocked()
            }
            // Its holder was stopped inside its critical section past the bound: the removal
            // commits without the lock, its waiters left to the lock's next holder (see
            // `Queue::remove_unlocked`). The kernel's IPC_RMID never fails for a stopped task.
            Err(Errno::EAGAIN) => {
                if !q.remove_unlocked(entry) {
                    return Err(Errno::EIDRM);
                }
                false
            }
            // Its key's link is gone already: the removal is left to whoever maps the queue
            // next, or to the sweep (see `SysvEmulation::finish_abandoned_removal`).
            Err(e) => {
                if key != libc::IPC_PRIVATE {
                    q.abandon_removal();
                    if let Some(r) = registry {
                        r.sweep_soon();
                    }
                }
                return Err(e);
            }
        };
        // The segment of a queue this process made is kept for its next creation when it may
        // be (see `queue::spare`); otherwise its file goes.
        let enlist = || self.registry().ok().and_then(|r| r.enlist_keeper());
        let kept = never_blocked && spare::keep(self.ns_key(), self.dir, &file_name(id), &q, enlist);
        if let (false, Ok(c)) = (kept, std::ffi::CString::new(file_name(id))) {
            // Another user's file (the queue was given away with IPC_SET): for its owner or
            // root to sweep.
            stuck |= crate::os::sys::unlinkat(self.dir, &c, 0) != 0 && crate::errno::current() != libc::ENOENT;
        }
        if let Some(r) = registry {
            if stuck {
                r.sweep_soon();
            }
            r.released(id);
        }
        q.end_removal();
        self.detach(id, true);
        self.forget_key(key, id);
        Ok(())
    }

    /// The first steps of a keyed queue's removal: the claim, then `key`'s link to queue `id`
    /// taken away while the claim is still this thread's. Whether the link is gone (false: one
    /// named the queue and could not be removed). `after_read` runs between the read of the
    /// link and its removal (where a test stops the remover).
    ///
    /// A remover stopped between the two long enough has its claim taken over (see
    /// `claim_removal`), and the remover that took it over may have removed the link and the
    /// queue, and a creator made the key's next queue under the same link name, since: so the
    /// claim is looked at again just before the link goes, and a claim lost is claimed again
    /// (EIDRM once the queue is removed). The window left is the few instructions between that
    /// look and the `unlinkat`, not a system call's return, where a stop is delivered.
    pub(super) fn claim_and_take_key_link(&self, q: &Queue, entry: &Entry, key: libc::key_t, id: c_int, mut after_read: impl FnMut()) -> Result<KeyLinkTaken> {
        /// Claims lost in a row before the removal gives up: only a user who may write the
        /// segment, clearing the claim again and again, loses more than one.
        const CLAIMS_LOST: u32 = 8;
        let mut lock_stuck = false;
        for _ in 0..CLAIMS_LOST {
            lock_stuck |= self.claim_removal(q, entry, lock_stuck)?;
            let Some(slot) = keys::slot_of(self.dir, key, id) else { return Ok(KeyLinkTaken { link_gone: true, lock_stuck }) };
            after_read();
            if q.removal_claimed_by_this_thread() {
                return Ok(KeyLinkTaken { link_gone: keys::remove(self.dir, key, slot), lock_stuck });
            }
        }
        Err(Errno::EAGAIN)
    }

    /// Claims the removal of the live queue `q` (`entry`: its entry) for this thread (see
    /// `Locked::claim_removal`). Another remover that claimed it first, and is still there, is
    /// waited for as a creator of a key waits for another (`waited_out`): until it commits
    /// (then EIDRM, as for the second of two removals on the kernel), and once waited out its
    /// claim is taken over. The claim is a word in the segment, which a user who may write the
    /// segment could set: it then delays its owner's removal, and does not deny it.
    ///
    /// The claim is made under the queue's lock, or without it where its holder is a process
    /// stopped inside its critical section (the lock's EAGAIN), as the removal then commits
    /// (see `Queue::remove_unlocked`). Whether the lock was found so: a caller that found it so
    /// before (`lock_stuck`) claims without waiting for it again.
    fn claim_removal(&self, q: &Queue, entry: &Entry, mut lock_stuck: bool) -> Result<bool> {
        let start = crate::os::clock::monotonic_ns();
        let mut looks = lock::StopLooks::counting_gone(start);
        loop {
            // Looked at without the lock while another thread has the claim: the lock is taken
            // to claim, not to wait (a process stopped while it holds the lock would make each
            // look a wait of its own).
            let take_over = match q.removal_claimant() {
                Some(tid) if !waited_out(&mut looks, start, tid) => {
                    looks.pause();
                    continue;
                }
                claimant => claimant.is_some(),
            };
            let locked = if lock_stuck { q.try_lock(entry).unwrap_or(Err(Errno::EAGAIN)) } else { lock::briefly(|| q.lock(entry)) };
            let claimed = match locked {
                Ok(mut locked) if locked.valid() => locked.claim_removal(take_over),
                Ok(_) => return Err(Errno::EIDRM),
                Err(Errno::EAGAIN) => {
                    lock_stuck = true;
                    q.claim_removal_unlocked(take_over)?
                }
                Err(e) => return Err(e),
            };
            if claimed == queue::Claimed::Mine {
                return Ok(lock_stuck);
            }
            looks.pause();
        }
    }

    /// IPC_RMID of queue `id` whose segment is damaged (truncated or garbled by a user who may
    /// write it; every other call on it is EIO): the file's owner, or CAP_SYS_ADMIN, removes
    /// the file, and the key's link if it names this id (the key as its display record shows
    /// it; a link left otherwise is stale, for the next creator of its key to remove).
    fn remove_damaged(&self, id: c_int, who: &Ident) -> Result<()> {
        let name = std::ffi::CString::new(file_name(id)).map_err(|_| Errno::EINVAL)?;
        let st = crate::os::sys::stat_at(self.dir, &name, libc::AT_SYMLINK_NOFOLLOW).map_err(|_| Errno::EINVAL)?;
        if st.st_uid != who.euid && !who.has(cap::SYS_ADMIN) {
            return Err(Errno::EPERM);
        }
        let registry = self.registry().ok();
        if let Some(key) = registry.and_then(|r| r.shown(id)).map(|s| s.key).filter(|&k| k != libc::IPC_PRIVATE) {
            keys::remove_of(self.dir, key, id);
        }
        if crate::os::sys::unlinkat(self.dir, &name, 0) != 0 {
            return Err(Errno::last());
        }
        if let Some(r) = registry {
            r.released(id);
        }
        self.detach(id, true);
        Ok(())
    }

    /// `mqshim ipcrm -Q`: removes the queue with `key` (not IPC_PRIVATE).
    pub fn remove_key(&self, key: key_t) -> Result<()> {
        if key == libc::IPC_PRIVATE {
            return Err(Errno::EINVAL);
        }
        match self.by_key(key)?.ok_or(Errno::EINVAL)? {
            Keyed::Open(q) => self.remove_id(q.id),
            Keyed::Closed(id) => self.remove_id(id),
        }
    }

    /// The text the kernel's `/proc/sysvipc/msg` would hold for the namespace's queues (what
    /// util-linux `ipcs` reads first; see `sysvipc_msg_proc_show`).
    pub fn proc_sysvipc_msg(&self) -> String {
        let mut out = String::from(PROC_SYSVIPC_MSG_HEADER);
        for q in self.list() {
            out.push_str(&proc_line(&q));
        }
        out
    }

    /// Every queue of the namespace, by index (for `mqshim ipcs`): from its segment, or from
    /// its display copy when the caller may not open it.
    pub fn list(&self) -> Vec<QueueInfo> {
        let mut out = Vec::new();
        let Ok(registry) = self.registry() else { return out };
        for i in 0..registry.high_water() {
            let Some(id) = registry.shown_id(i) else { continue };
            match self.find(id) {
                Ok(q) => out.push(queue_info(id, &snapshot(q.header()), q.entry().scheduled.load(Ordering::Acquire))),
                Err(Errno::EACCES) => out.extend(registry.shown(id).map(|s| queue_info(id, &s, 0))),
                Err(_) => {}
            }
        }
        out
    }
}
