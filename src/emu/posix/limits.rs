//! The POSIX queue limits the emulation enforces: the kernel's constants, the tunables it is
//! handed when it is opened (the layer above reads them from `/proc`, `MQSHIM_CONFIG` and
//! `MQSHIM_LIMITS`; see `policy::limits`), and the RLIMIT_MSGQUEUE charge of a queue.

use std::sync::atomic::{AtomicI64, Ordering};

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

/// The POSIX queue limits the emulation enforces (`/proc/sys/fs/mqueue/*`, as configured).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PosixLimits {
    pub msg_max: i64,
    pub msgsize_max: i64,
    pub msg_default: i64,
    pub msgsize_default: i64,
    pub queues_max: i64,
    /// RLIMIT_MSGQUEUE as configured; None: the caller's own soft limit, read when it applies.
    pub rlimit_msgqueue: Option<u64>,
}

impl PosixLimits {
    /// RLIMIT_MSGQUEUE in force for the caller now.
    pub fn rlimit_msgqueue(&self) -> u64 {
        if let Some(configured) = self.rlimit_msgqueue {
            return configured;
        }
        crate::os::sys::soft_rlimit(libc::RLIMIT_MSGQUEUE).unwrap_or(u64::MAX)
    }
}

/// The limits a [`super::store::Store`] enforces, replaced whole when the namespace's sysctls
/// change (see `emu::sysctl`) and read without a lock: only creation reads them.
pub struct LivePosixLimits {
    values: [AtomicI64; 5],
    rlimit_msgqueue: Option<u64>,
}

impl LivePosixLimits {
    pub fn new(l: PosixLimits) -> LivePosixLimits {
        let values = [l.msg_max, l.msgsize_max, l.msg_default, l.msgsize_default, l.queues_max].map(AtomicI64::new);
        LivePosixLimits { values, rlimit_msgqueue: l.rlimit_msgqueue }
    }

    pub fn get(&self) -> PosixLimits {
        let [msg_max, msgsize_max, msg_default, msgsize_default, queues_max] = self.values.each_ref().map(|v| v.load(Ordering::Relaxed));
        PosixLimits { msg_max, msgsize_max, msg_default, msgsize_default, queues_max, rlimit_msgqueue: self.rlimit_msgqueue }
    }

    /// Replaces the tunables (RLIMIT_MSGQUEUE is the process's, and stays).
    pub fn set(&self, l: PosixLimits) {
        for (cell, v) in self.values.iter().zip([l.msg_max, l.msgsize_max, l.msg_default, l.msgsize_default, l.queues_max]) {
            cell.store(v, Ordering::Relaxed);
        }
    }
}

/// Bytes the kernel charges to RLIMIT_MSGQUEUE for a queue (mqueue_get_inode's formula).
pub fn posix_charge(maxmsg: u64, msgsize: u64) -> Option<u64> {
    let tree = maxmsg.checked_mul(PER_MESSAGE_OVERHEAD)?.checked_add(maxmsg.min(MQ_PRIO_MAX as u64).checked_mul(PER_PRIORITY_OVERHEAD)?)?;
    maxmsg.checked_mul(msgsize)?.checked_add(tree)
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
