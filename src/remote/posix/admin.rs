//! What `mqshim ipcs`, `stat`, `peek` and `ipcrm` need of the POSIX queues on the server: the
//! `list` and `peek` operations of `scripts/posix.lua`, which only read (a listing never
//! creates or changes anything), and removal by name (`mq_unlink`'s operation).

use super::{done, notify, RemotePosix, POSIX};
use crate::emu::peek::{PeekedMessage, QueueSnapshot};
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
    pub qsize: u64,
    /// The registration's `sigev_notify`, signal and owner pid: zero without a registration,
    /// or when its owner is gone (as the emulation shows one whose owner died).
    pub notify: i32,
    pub signo: i32,
    pub notify_pid: i32,
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
        let status = if row.len() >= 8 {
            let mut s = QueueStatus { messages: number(&row[6])?, qsize: number(&row[7])?, notify: 0, signo: 0, notify_pid: 0 };
            if row.len() >= 14 {
                let (kind, signo, pid) = (number::<i32>(&row[8])?, number::<i32>(&row[9])?, number::<i32>(&row[10])?);
                let (tid, host, ptoken) = (text(&row[11])?, text(&row[12])?, text(&row[13])?);
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
    /// without read permission, as a receiver's `mq_open` asks). The server keeps no send time
    /// per message (the age is unknown) and has no scheduled messages.
    pub fn peek(&self, name: &QueueName, preview: usize) -> Result<QueueSnapshot> {
        let who = crate::remote::script::caller(&Creds::current());
        let preview = preview.to_string();
        let items = done(self.remote.run(&POSIX, &[b"peek", &slashed(name), preview.as_bytes(), who.as_bytes()]))?;
        let messages = items
            .chunks_exact(3)
            .map(|m| {
                Ok(PeekedMessage {
                    priority_or_type: number(&m[0])?,
                    len: number(&m[1])?,
                    preview: m[2].bytes().ok_or(Errno::EIO)?.to_vec(),
                    visible_ns: 0,
                    due_ns: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(QueueSnapshot { messages, scheduled: Vec::new() })
    }

    /// Removes the name `name`, as `mq_unlink` (open descriptors keep working).
    pub fn remove(&self, name: &QueueName) -> Result<()> {
        let who = crate::remote::script::caller(&Creds::current());
        done(self.remote.run(&POSIX, &[b"unlink", &slashed(name), who.as_bytes()]))?;
        Ok(())
    }
}

/// The name as the server keeps it: with its leading slash.
fn slashed(name: &QueueName) -> Vec<u8> {
    let mut full = b"/".to_vec();
    full.extend_from_slice(name.bytes());
    full
}
