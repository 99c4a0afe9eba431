//! The emulation: message queues entirely in userspace, in shared memory under `MQSHIM_DIR`,
//! cross-process, indistinguishable from the kernel's through the API except for speed.
//!
//! It only looks down: it is handed its namespace and limits, and uses the `os` floor. The
//! layer above (`backend::emulation`) adapts it to the backend seam.
//!
//! - [`engine`]: the machinery both APIs share, each mechanism once (segments, locks, waiters,
//!   the sleep loop, the express ring's protocol, scheduled messages, repair).
//! - [`posix`]: POSIX queues (`mq_*`); [`sysv`]: System V queues (`msg*`). Both have the same
//!   floor plan: the calls in the kernel's order of checks (`mod.rs`), `layout.rs`, `limits.rs`,
//!   and `queue/` split into `storage`, `order`, `waiters`, `schedule`, `repair`, `express`
//!   and `tests`.
//! - [`namespace`]: the `MQSHIM_DIR` tree; [`peek`]: what `mqshim peek` copies out of a queue.

pub mod engine;
pub mod namespace;
pub mod peek;
pub mod posix;
pub mod sysctl;
pub mod sysv;

/// Everything the emulation is limited by, as it is handed its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmulationLimits {
    pub posix: posix::limits::PosixLimits,
    pub sysv: sysv::limits::SysvLimits,
}

impl EmulationLimits {
    /// The value the kernel's tunable file `path` (`/proc/sys/kernel/msg*`,
    /// `/proc/sys/fs/mqueue/*`) would hold if the kernel enforced these limits; None for any
    /// other path.
    pub fn proc_sys_value(&self, path: &[u8]) -> Option<i64> {
        let (p, s) = (&self.posix, &self.sysv);
        Some(match path {
            b"/proc/sys/kernel/msgmax" => s.msgmax.into(),
            b"/proc/sys/kernel/msgmnb" => s.msgmnb.into(),
            b"/proc/sys/kernel/msgmni" => s.msgmni.into(),
            b"/proc/sys/fs/mqueue/msg_max" => p.msg_max,
            b"/proc/sys/fs/mqueue/msgsize_max" => p.msgsize_max,
            b"/proc/sys/fs/mqueue/msg_default" => p.msg_default,
            b"/proc/sys/fs/mqueue/msgsize_default" => p.msgsize_default,
            b"/proc/sys/fs/mqueue/queues_max" => p.queues_max,
            _ => return None,
        })
    }

    /// Sets the limit named `key` (`MQSHIM_LIMITS`'s names); false for an unknown key (System V
    /// ones: `SysvLimits::set_by_key`).
    pub fn set_by_key(&mut self, key: &str, value: i64) -> bool {
        let p = &mut self.posix;
        match key {
            "msg_max" => p.msg_max = value,
            "msgsize_max" => p.msgsize_max = value,
            "msg_default" => p.msg_default = value,
            "msgsize_default" => p.msgsize_default = value,
            "queues_max" => p.queues_max = value,
            _ => return self.sysv.set_by_key(key, value),
        }
        true
    }
}
