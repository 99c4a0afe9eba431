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
        let _locked = self.registry.lock()?;
        let (max_idx, in_use) = self.registry.max_idx_and_in_use();
        let (mut messages, mut bytes) = (0u64, 0u64);
        if totals {
            for i in 0..self.registry.high_water() {
                let e = self.registry.entry(i);
                if e.id1.load(Ordering::Acquire) != 0 {
                    let s = stats(e);
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
        let (entry, full_id) = if command == cmd::IPC_STAT {
            (self.registry.lookup(id).ok_or(Errno::EINVAL)?, id)
        } else {
            let idx = id as u32 & (IPCMNI - 1);
            // Past the high-water mark no queue ever was (and storage may be unallocated).
            if idx >= self.registry.high_water() {
                return Err(Errno::EINVAL);
            }
            let e = self.registry.entry(idx);
            match e.id1.load(Ordering::Acquire) {
                0 => return Err(Errno::EINVAL),
                id1 => (e, (id1 as c_int).wrapping_sub(1)),
            }
        };
        let mut s = snapshot(entry);
        if command != cmd::MSG_STAT_ANY && !self.permitted(&s, S_IRUGO) {
            return Err(Errno::EACCES);
        }
        if entry.id1.load(Ordering::Acquire) != full_id as u32 + 1 {
            return Err(Errno::EIDRM);
        }
        if scheduled_due(entry) {
            // What has fallen due counts from now on.
            self.send_due(full_id, entry);
            s = snapshot(entry);
        }
        Ok(front::QueueStat { seq: s.seq as u16, info: queue_info(full_id, &s, entry) })
    }

    fn set(&self, id: c_int, ds: &msqid_ds) -> Result<()> {
        SysvEmulation::set(self, id, ds)
    }

    fn remove_id(&self, id: c_int) -> Result<()> {
        SysvEmulation::remove_id(self, id)
    }
}

/// What `mqshim ipcs` shows of queue `id`, whose statistics are `s`.
fn queue_info(id: c_int, s: &Snapshot, e: &Entry) -> QueueInfo {
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
        scheduled: e.scheduled.load(Ordering::Acquire),
    }
}

impl SysvEmulation {
    /// May `who` change or remove a queue with `perm` (the kernel's `ipcctl_obtain_check`)?
    pub(super) fn owner_or_admin(perm: &Snapshot, who: &Ident) -> bool {
        who.euid == perm.cuid || who.euid == perm.uid || who.has(cap::SYS_ADMIN)
    }

    /// IPC_SET with the caller's `ds`: owner, group, mode and qbytes; wakes every waiter to
    /// look again.
    fn set(&self, id: c_int, ds: &msqid_ds) -> Result<()> {
        let who = ident(Freshness::Fresh);
        let _registry = self.registry.lock()?;
        let entry = self.registry.lookup(id).ok_or(Errno::EINVAL)?;
        let perm = perms(entry);
        if !Self::owner_or_admin(&perm, &who) {
            return Err(Errno::EPERM);
        }
        // The kernel passes msg_qbytes on as an int, and checks capable(CAP_SYS_RESOURCE), in
        // the initial user namespace (Creds leaves it out elsewhere).
        let qbytes = ds.msg_qbytes as i32;
        if qbytes as u32 > self.limits().msgmnb as u32 && !who.has(cap::SYS_RESOURCE) {
            return Err(Errno::EPERM);
        }
        let q = self.attach(id, entry)?;
        let mut locked = q.lock(entry)?;
        if !locked.valid() {
            return Err(Errno::EIDRM);
        }
        if ds.msg_perm.uid == u32::MAX || ds.msg_perm.gid == u32::MAX {
            return Err(Errno::EINVAL);
        }
        let mode = (perm.mode & !0o777) | (ds.msg_perm.mode as u32 & 0o777);
        registry::write_perms_and_stats(entry, |e| {
            e.uid.store(ds.msg_perm.uid, Ordering::Relaxed);
            e.gid.store(ds.msg_perm.gid, Ordering::Relaxed);
            e.mode.store(mode, Ordering::Relaxed);
            e.qbytes.store(qbytes as i64 as u64, Ordering::Relaxed);
            e.ctime.store(now_sec(), Ordering::Relaxed);
        });
        locked.recheck_all();
        drop(locked);
        // The segment file's mode follows (possible for its owner or CAP_FOWNER; when not, the
        // queue's owner is not the file's and the file is already open to all).
        let h = q.header();
        let fmode = queue::file_mode(mode, ds.msg_perm.uid, ds.msg_perm.gid, h.file_uid, h.file_gid);
        if let Ok(c) = std::ffi::CString::new(file_name(q.id)) {
            let _ = crate::emu::namespace::chmod_entry(self.dir, &c, fmode, libc::S_IFREG, h.file_uid);
        }
        Ok(())
    }

    /// IPC_RMID (and `mqshim ipcrm -q`): removes queue `id` at once; every blocked sender and
    /// receiver fails with EIDRM.
    pub fn remove_id(&self, id: c_int) -> Result<()> {
        let who = ident(Freshness::Fresh);
        let mut registry = self.registry.lock()?;
        let entry = self.registry.lookup(id).ok_or(Errno::EINVAL)?;
        if !Self::owner_or_admin(&perms(entry), &who) {
            return Err(Errno::EPERM);
        }
        match self.attach(id, entry) {
            Ok(q) => {
                let mut locked = q.lock(entry)?;
                // The commit point of a removal.
                entry.id1.store(0, Ordering::Release);
                locked.remove_all();
            }
            // No segment to wake anyone in (or none we may open): the entry goes all the same.
            Err(_) => entry.id1.store(0, Ordering::Release),
        }
        registry.released(id as u32 & (IPCMNI - 1), entry.key.load(Ordering::Relaxed));
        // Removed under the registry lock, so that a remover killed before it is seen (the
        // lock's owner died) and its file swept by the next creator.
        if let Ok(c) = std::ffi::CString::new(file_name(id)) {
            if crate::os::sys::unlinkat(self.dir, &c, 0) != 0 && crate::errno::current() != libc::ENOENT {
                // Another user's file (the queue was given away with IPC_SET): for its owner
                // or root to sweep.
                registry.sweep_soon();
            }
        }
        drop(registry);
        self.detach(id as u32 & (IPCMNI - 1));
        Ok(())
    }

    /// `mqshim ipcrm -Q`: removes the queue with `key` (not IPC_PRIVATE).
    pub fn remove_key(&self, key: key_t) -> Result<()> {
        if key == libc::IPC_PRIVATE {
            return Err(Errno::EINVAL);
        }
        let id = {
            let locked = self.registry.lock()?;
            let idx = locked.find_key(key).ok_or(Errno::EINVAL)?;
            (self.registry.entry(idx).id1.load(Ordering::Acquire) as c_int).wrapping_sub(1)
        };
        self.remove_id(id)
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

    /// Every queue of the namespace, by index (for `mqshim ipcs`).
    pub fn list(&self) -> Vec<QueueInfo> {
        let mut out = Vec::new();
        for i in 0..self.registry.high_water() {
            let e = self.registry.entry(i);
            let id1 = e.id1.load(Ordering::Acquire);
            if id1 == 0 {
                continue;
            }
            out.push(queue_info((id1 as i32).wrapping_sub(1), &snapshot(e), e));
        }
        out
    }
}
