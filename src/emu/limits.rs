//! The limits the emulation enforces, read from the kernel's tunables when present, the stock
//! defaults otherwise.

use std::sync::OnceLock;

/// `HARD_MSGMAX`: the ceiling of `msg_max` even with CAP_SYS_RESOURCE.
pub const HARD_MSGMAX: i64 = 65536;
/// `HARD_MSGSIZEMAX`: the ceiling of `msgsize_max` even with CAP_SYS_RESOURCE.
pub const HARD_MSGSIZEMAX: i64 = 16 * 1024 * 1024;
/// `MQ_PRIO_MAX`.
pub const MQ_PRIO_MAX: u32 = 32768;
/// Bytes charged to RLIMIT_MSGQUEUE per message slot besides the message itself (the kernel's
/// `sizeof(struct msg_msg)` plus tree node, measured on x86_64 Linux 6.18: 96).
pub const PER_MESSAGE_OVERHEAD: u64 = 48;
/// `sizeof(struct posix_msg_tree_node)` on 64-bit kernels.
pub const PER_PRIORITY_OVERHEAD: u64 = 48;

/// POSIX queue limits (`/proc/sys/fs/mqueue/*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PosixLimits {
    pub msg_max: i64,
    pub msgsize_max: i64,
    pub msg_default: i64,
    pub msgsize_default: i64,
    pub queues_max: i64,
}

impl PosixLimits {
    /// Linux's defaults.
    pub const STOCK: PosixLimits = PosixLimits { msg_max: 10, msgsize_max: 8192, msg_default: 10, msgsize_default: 8192, queues_max: 256 };

    /// The machine's values where readable, else the defaults.
    pub fn from_proc() -> PosixLimits {
        let read = |name: &str, default: i64| {
            std::fs::read_to_string(format!("/proc/sys/fs/mqueue/{name}")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(default)
        };
        let s = PosixLimits::STOCK;
        PosixLimits {
            msg_max: read("msg_max", s.msg_max),
            msgsize_max: read("msgsize_max", s.msgsize_max),
            msg_default: read("msg_default", s.msg_default),
            msgsize_default: read("msgsize_default", s.msgsize_default),
            queues_max: read("queues_max", s.queues_max),
        }
    }

    /// The process's limits, read once.
    pub fn current() -> &'static PosixLimits {
        static LIMITS: OnceLock<PosixLimits> = OnceLock::new();
        LIMITS.get_or_init(PosixLimits::from_proc)
    }
}

/// Bytes the kernel charges to RLIMIT_MSGQUEUE for a queue (mqueue_get_inode's formula).
pub fn posix_charge(maxmsg: u64, msgsize: u64) -> Option<u64> {
    let tree = maxmsg.checked_mul(PER_MESSAGE_OVERHEAD)?.checked_add(maxmsg.min(MQ_PRIO_MAX as u64).checked_mul(PER_PRIORITY_OVERHEAD)?)?;
    maxmsg.checked_mul(msgsize)?.checked_add(tree)
}

/// The caller's RLIMIT_MSGQUEUE soft limit (`u64::MAX` when unlimited).
pub fn rlimit_msgqueue() -> u64 {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_MSGQUEUE, &mut r) } != 0 {
        return u64::MAX;
    }
    if r.rlim_cur == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        r.rlim_cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charge_matches_the_measured_kernel() {
        // SEMANTICS §1.3: the minimum limit for a 1x1 queue is 97, for 10x8192 it is 82880.
        assert_eq!(posix_charge(1, 1), Some(97));
        assert_eq!(posix_charge(10, 8192), Some(82880));
        assert_eq!(posix_charge(u64::MAX, 2), None);
    }
}
