//! The System V queue limits the emulation enforces: the tunables it is handed when it is
//! opened (`/proc/sys/kernel/msg*`, as configured; see `policy::limits`), and the constants the
//! kernel reports for IPC_INFO.

use std::sync::atomic::{AtomicI32, Ordering};

/// The System V limits the emulation enforces (`/proc/sys/kernel/msg*`, as configured).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysvLimits {
    pub msgmax: i32,
    pub msgmnb: i32,
    pub msgmni: i32,
}

impl SysvLimits {
    /// Sets the limit named `key` (`MQSHIM_LIMITS`'s names); false for any other key. The
    /// values are ints (the sysctls' range), so the narrowing keeps them.
    pub fn set_by_key(&mut self, key: &str, value: i64) -> bool {
        let int = value.clamp(i32::MIN.into(), i32::MAX.into()) as i32;
        match key {
            "msgmax" => self.msgmax = int,
            "msgmnb" => self.msgmnb = int,
            "msgmni" => self.msgmni = int,
            _ => return false,
        }
        true
    }
}

/// The limits a [`super::SysvEmulation`] enforces, replaced whole when the namespace's sysctls
/// change (see `emu::sysctl`) and read without a lock (every send reads `msgmax`).
pub struct LiveSysvLimits {
    msgmax: AtomicI32,
    msgmnb: AtomicI32,
    msgmni: AtomicI32,
}

impl LiveSysvLimits {
    pub fn new(l: SysvLimits) -> LiveSysvLimits {
        LiveSysvLimits { msgmax: AtomicI32::new(l.msgmax), msgmnb: AtomicI32::new(l.msgmnb), msgmni: AtomicI32::new(l.msgmni) }
    }

    pub fn get(&self) -> SysvLimits {
        SysvLimits { msgmax: self.msgmax(), msgmnb: self.msgmnb.load(Ordering::Relaxed), msgmni: self.msgmni.load(Ordering::Relaxed) }
    }

    /// `msgmax` alone (the send and receive paths).
    pub fn msgmax(&self) -> i32 {
        self.msgmax.load(Ordering::Relaxed)
    }

    pub fn set(&self, l: SysvLimits) {
        self.msgmax.store(l.msgmax, Ordering::Relaxed);
        self.msgmnb.store(l.msgmnb, Ordering::Relaxed);
        self.msgmni.store(l.msgmni, Ordering::Relaxed);
    }
}

/// `struct msginfo` constants the kernel reports for IPC_INFO (compile-time in the kernel).
pub const MSGSSZ: i32 = 16;
pub const MSGSEG: u16 = 0xffff;
/// MSGMNI * MSGMNB / 1024 with the kernel's stock constants.
pub const MSGPOOL: i32 = 32000 * 16384 / 1024;
pub const MSGMAP: i32 = 16384;
pub const MSGTQL: i32 = 16384;
