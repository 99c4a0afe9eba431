//! What `mqshim ipcs`, `stat`, `peek` and `ipcrm` need of the POSIX queues on the server: the
//! `list` and `peek` operations of `scripts/posix.lua`, which only read (a listing never
//! creates or changes anything), and removal by name (`mq_unlink`'s operation).

use super::{done, notify, RemotePosix, POSIX};
use crate::emu::peek::{Placement, QueueSnapshot};
use crate::emu::posix::queue::QueueTimes;
use crate::emu::posix::store::QueueName;
use crate::errno::{Errno, Result};
use crate::os::creds::Creds;
use crate::remote::connection::Reply;

/// One POSIX queue on the server as a listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueListing {
    /// Its name, with the leading slash.
    pub name: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub maxmsg: u64,
    pub msgsize: u64,
    /// What only a caller that may read the queue sees (as `/dev/mqueue/NAME` needs read
    /// permission); None otherwise.
    pub status: Option<QueueStatus>,
}

/// A readable queue's count and the kernel's `/dev/mqueue/NAME` status fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueStatus {
    pub messages: u64,
    /// Scheduled messages pending (not yet moved into the queue).
    pub scheduled: u64,
    pub qsize: u64,
    /// The registration's `sigev_notify`, signal and owner pid: zero without a registration,
    /// or when its owner is gone (as the emulation shows one whose owner died).
    pub notify: i32,
    pub signo: i32,
    pub notify_pid: i32,
    /// Its times as the kernel keeps an mqueue inode's (the server's clock); None for a queue
    /// made by a version that did not keep them.
    pub times: Option<QueueTimes>,
}

fn text(r: &Reply) -> Result<String> {
    match r {
        Reply::Int(i) => Ok(i.to_string()),
        _ => r.bytes().and_then(|b| std::str::from_utf8(b).ok()).map(str::to_string).ok_or(Errno::EIO),
    }
}

fn number<T: std::str::FromStr>(r: &Reply) -> Result<T> {
    text(r)?.parse().map_err(|_| Errno::EIO)
}

impl RemotePosix {
    /// Every POSIX queue of the namespace, by name.
    pub fn list(&self) -> Result<Vec<QueueListing>> {
        self.reclaim_openers(None);
        let who = crate::remote::script::caller(&Creds::current());
        let rows = done(self.remote.run(&POSIX, &[b"list", who.as_bytes()]))?;
        let mut out = rows.into_iter().map(|r| self.listing_of(&r.into_array())).collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The queue `name` (ENOENT when there is none).
    pub fn listing(&self, name: &QueueName) -> Result<QueueListing> {
        let who = crate::remote::script::caller(&Creds::current());
        let rows = done(self.remote.run(&POSIX, &[b"list", who.as_bytes(), &slashed(name)]))?;
        let row = rows.into_iter().next().ok_or(Errno::EIO)?;
        self.listing_of(&row.into_array())
    }

    /// One row of the `list` operation (see `listing_row` in the script).
    fn listing_of(&self, row: &[Reply]) -> Result<QueueListing> {
        if row.len() < 6 {
            return Err(Errno::EIO);
        }
        let status = if row.len() >= 10 {
            let times = match (number::<u64>(&row[8]), number::<u64>(&row[9])) {
                // ctime moves with atime (see stamp_times in the script).
                (Ok(atime_ns), Ok(mtime_ns)) => Some(QueueTimes { atime_ns, mtime_ns, ctime_ns: atime_ns }),
                _ => None,
            };
            let scheduled = row.get(10).map_or(Ok(0), number)?;
            let mut s = QueueStatus { messages: number(&row[6])?, scheduled, qsize: number(&row[7])?, notify: 0, signo: 0, notify_pid: 0, times };
            if row.len() >= 17 {
                let (kind, signo, pid) = (number::<i32>(&row[11])?, number::<i32>(&row[12])?, number::<i32>(&row[13])?);
                let (tid, host, ptoken) = (text(&row[14])?, text(&row[15])?, text(&row[16])?);
                if notify::owner_alive(&self.remote, &pid.to_string(), &tid, &host, &ptoken) {
                    s.notify = kind;
                    s.signo = if kind == libc::SIGEV_SIGNAL { signo } else { 0 };
                    s.notify_pid = pid;
                }
            }
            Some(s)
        } else {
            None
        };
        Ok(QueueListing {
            name: text(&row[0])?,
            mode: number(&row[1])?,
            uid: number(&row[2])?,
            gid: number(&row[3])?,
            maxmsg: number(&row[4])?,
            msgsize: number(&row[5])?,
            status,
        })
    }

    /// What queue `name` holds, in receive order, without changing anything (ENOENT; EACCES
    /// without read permission, as a receiver's `mq_open` asks), each message's time the one it
    /// entered the queue (see [`crate::remote::entered_here`]); then the pending scheduled
    /// messages, those already due placed as the emulation's peek places them.
    pub fn peek(&self, name: &QueueName, preview: usize) -> Result<QueueSnapshot> {
        let who = crate::remote::script::caller(&Creds::current());
        let preview = preview.to_string();
        let items = done(self.remote.run(&POSIX, &[b"peek", &slashed(name), preview.as_bytes(), who.as_bytes()]))?;
        // A due one enters while the queue has a free slot, as promote_due moves it.
        crate::remote::peeked(&items, Placement::ByPriority, |maxmsg, _, queued| (queued.len() as u64) < maxmsg)
    }

    /// Removes the name `name`, as `mq_unlink` (open descriptors keep working).
    pub fn remove(&self, name: &QueueName) -> Result<()> {
        let who = crate::remote::script::caller(&Creds::current());
        let kept = done(self.remote.run(&POSIX, &[b"unlink", &slashed(name), who.as_bytes()]))?;
        if let Some(id) = kept.first().and_then(Reply::int) {
            self.reclaim_openers(Some(&id.to_string()));
        }
        Ok(())
    }
}

/// The name as the server keeps it: with its leading slash.
fn slashed(name: &QueueName) -> Vec<u8> {
    let mut full = b"/".to_vec();
    full.extend_from_slice(name.bytes());
    full
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emu::posix::limits::PosixLimits;
    use crate::remote::testing::Server;

    #[test]
    fn listing_peek_and_removal_read_what_the_calls_wrote() {
        let Some(server) = Server::start() else { return };
        let limits = PosixLimits { msg_max: 10, msgsize_max: 8192, msg_default: 10, msgsize_default: 8192, queues_max: 256, rlimit_msgqueue: Some(u64::MAX) };
        let p = RemotePosix::new(server.remote("adm"), limits, crate::remote::testing::stock_stated());
        let name = QueueName::check(b"a").unwrap();
        // Nothing there, and looking creates nothing.
        assert_eq!(p.list(), Ok(Vec::new()));
        assert_eq!(p.listing(&name), Err(Errno::ENOENT));
        assert_eq!(p.peek(&name, 8).map(|s| s.messages.len()), Err(Errno::ENOENT));
        assert_eq!(p.remote.with(|c| c.request(&[b"DBSIZE"])), Ok(Reply::Int(0)));
        // SAFETY: a zeroed mq_attr is valid; the pointers are this test's own.
        let q = unsafe {
            let mut attr: libc::mq_attr = std::mem::zeroed();
            attr.mq_maxmsg = 4;
            attr.mq_msgsize = 16;
            let q = p.open(c"/a".as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_NONBLOCK, 0o640, &attr).unwrap();
            assert_eq!(p.send(q, c"low".as_ptr(), 3, 1, None), Ok(0));
            assert_eq!(p.send(q, c"high!".as_ptr(), 5, 7, None), Ok(0));
            q
        };
        let row = p.listing(&name).unwrap();
        assert_eq!((row.name.as_str(), row.mode & 0o777, row.maxmsg, row.msgsize), ("/a", 0o640 & !umask_now(), 4, 16));
        let times = row.status.as_ref().and_then(|s| s.times).unwrap();
        assert!(times.mtime_ns > 0 && times.atime_ns == times.mtime_ns && times.ctime_ns == times.atime_ns);
        assert_eq!(row.status, Some(QueueStatus { messages: 2, scheduled: 0, qsize: 8, notify: 0, signo: 0, notify_pid: 0, times: Some(times) }));
        assert_eq!(p.list(), Ok(vec![row]));
        // Receive order, cut to the preview, nothing taken.
        let snap = p.peek(&name, 3).unwrap();
        let shown: Vec<(i64, usize, &[u8])> = snap.messages.iter().map(|m| (m.priority_or_type, m.len, &m.preview[..])).collect();
        assert_eq!(shown, vec![(7, 5, &b"hig"[..]), (1, 3, &b"low"[..])]);
        // Each one's time: when it was sent ("low" first), within the round trips since.
        let now = crate::os::clock::realtime_ns();
        assert!(snap.messages[1].visible_ns <= snap.messages[0].visible_ns && snap.messages[0].visible_ns <= now);
        assert!(now - snap.messages[1].visible_ns < 5_000_000_000);
        let again = p.peek(&name, 3).unwrap();
        assert_eq!(again.messages.len(), 2);
        assert_eq!(again.messages[0].preview, snap.messages[0].preview);
        // Removed as mq_unlink: gone from the listing; the descriptor still works.
        assert_eq!(p.remove(&name), Ok(()));
        assert_eq!(p.list(), Ok(Vec::new()));
        assert_eq!(p.remove(&name), Err(Errno::ENOENT));
        let mut buf = [0u8; 16];
        // SAFETY: this test's own buffer.
        assert_eq!(unsafe { p.receive(q, buf.as_mut_ptr().cast(), 16, std::ptr::null_mut(), None) }, Ok(5));
        assert_eq!(p.descriptor_closing(q), Some(Ok(0)));
    }

    /// The process's umask (from /proc: setting it to read it would race other tests).
    fn umask_now() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:")).unwrap();
        u32::from_str_radix(line.trim(), 8).unwrap()
    }
}
