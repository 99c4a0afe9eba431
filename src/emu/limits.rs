//! The limits the emulation enforces: the kernel's constants, and the tunables as configured
//! (see `policy::limits`).

use crate::policy::limits::Limits;

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
    /// RLIMIT_MSGQUEUE in force for the caller.
    pub rlimit_msgqueue: u64,
}

impl PosixLimits {
    pub fn from_limits(l: &Limits) -> PosixLimits {
        PosixLimits {
            msg_max: l.value("msg_max"),
            msgsize_max: l.value("msgsize_max"),
            msg_default: l.value("msg_default"),
            msgsize_default: l.value("msgsize_default"),
            queues_max: l.value("queues_max"),
            rlimit_msgqueue: l.rlimit_msgqueue(),
        }
    }

    /// The limits in force now (the process's configuration; RLIMIT_MSGQUEUE read afresh).
    pub fn current() -> PosixLimits {
        PosixLimits::from_limits(&crate::init::state().limits)
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
