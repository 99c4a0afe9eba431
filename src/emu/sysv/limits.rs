//! The System V queue limits the emulation enforces: the tunables it is handed when it is
//! opened (`/proc/sys/kernel/msg*`, as configured; see `policy::limits`), and the constants the
//! kernel reports for IPC_INFO.

/// The System V limits the emulation enforces (`/proc/sys/kernel/msg*`, as configured).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysvLimits {
    pub msgmax: i32,
    pub msgmnb: i32,
    pub msgmni: i32,
}

/// `struct msginfo` constants the kernel reports for IPC_INFO (compile-time in the kernel).
pub const MSGSSZ: i32 = 16;
pub const MSGSEG: u16 = 0xffff;
/// MSGMNI * MSGMNB / 1024 with the kernel's stock constants.
pub const MSGPOOL: i32 = 32000 * 16384 / 1024;
pub const MSGMAP: i32 = 16384;
pub const MSGTQL: i32 = 16384;
