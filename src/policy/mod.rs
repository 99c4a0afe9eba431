//! Policy layered over either backend: the limits in force ([`limits`]), their enforcement in
//! front of the kernel ([`enforce`]), and fault injection ([`faults`]).
//!
//! Under `emulate` the limits are the emulation's own; under `kernel` they are enforced here.

pub mod admission;
pub mod enforce;
pub mod faults;
pub mod limits;

use crate::call::Call;
use crate::errno::{Errno, Result};
use crate::os::forksafe::ForkSafe;
use crate::os::usermem::{read_cstr, Trust};
use faults::{CallQueue, Faults, Injection};

/// What the policy layer does to calls in this process.
pub struct Policy {
    pub faults: Option<Faults>,
    pub enforce: Option<enforce::KernelLimits>,
}

/// Descriptor → queue name and id → key, learned from successful mq_open and msgget, so that a
/// fault rule naming a queue applies to calls that only carry a descriptor or id.
static KNOWN: ForkSafe<Vec<Known>> = ForkSafe::new(Vec::new(), None);

enum Known {
    Descriptor(i32, Vec<u8>),
    Id(i32, i32),
}

fn name_of(ptr: *const libc::c_char) -> Option<Vec<u8>> {
    let mut buf = [0u8; 300];
    // SAFETY: with Trust::Unknown the string is read through process_vm_readv: any address is
    // allowed, a bad one yields None.
    let (len, _) = unsafe { read_cstr(ptr.cast(), &mut buf, Trust::Unknown) }?;
    Some(buf[..len].to_vec())
}

impl Policy {
    /// Whether the policy does anything (if not, calls may bypass mqshim entirely).
    pub fn active(&self) -> bool {
        self.faults.is_some() || self.enforce.is_some()
    }

    fn identify(&self, call: &Call) -> CallQueue {
        let lookup_fd = |fd: i32| {
            KNOWN.with(|k| {
                k.iter().find_map(|e| match e {
                    Known::Descriptor(d, n) if *d == fd => Some(n.clone()),
                    _ => None,
                })
            })
        };
        let lookup_id = |id: i32| {
            KNOWN.with(|k| {
                k.iter().find_map(|e| match e {
                    Known::Id(i, key) if *i == id => Some(*key),
                    _ => None,
                })
            })
        };
        match *call {
            Call::MqOpen { name, .. } | Call::MqUnlink { name } => CallQueue { name: name_of(name), ..Default::default() },
            Call::Msgget { key, .. } => CallQueue { key: Some(key), ..Default::default() },
            Call::Msgsnd { id, .. } | Call::Msgrcv { id, .. } | Call::Msgctl { id, .. } | Call::MsgsndAt { id, .. } | Call::MsgCancel { id, .. } => {
                CallQueue { key: lookup_id(id), id: Some(id), name: None }
            }
            // The descriptor calls.
            _ => CallQueue { name: call.mqdes().and_then(lookup_fd), ..Default::default() },
        }
    }

    /// The fault to inject into `call`, if any (a delay is served by the caller).
    pub fn fault(&self, call: &Call) -> Option<Injection> {
        let faults = self.faults.as_ref()?;
        let queue = if faults.filters_queues() { self.identify(call) } else { CallQueue::default() };
        faults.check(call, &queue)
    }

    /// Enforcement before the kernel: `Some` when the call was handled here.
    ///
    /// # Safety
    /// The pointers in `call` are the caller's.
    pub unsafe fn before_kernel(&self, call: &Call) -> Option<Result<i64>> {
        // SAFETY: per the caller.
        self.enforce.as_ref().and_then(|e| unsafe { e.before(call) })
    }

    /// Learns from a finished call what its descriptor or id refers to.
    pub fn after(&self, call: &Call, outcome: &std::result::Result<i64, Errno>) {
        if !self.faults.as_ref().is_some_and(Faults::filters_queues) {
            return;
        }
        match (*call, outcome) {
            (Call::MqOpen { name, .. }, Ok(fd)) => {
                if let Some(n) = name_of(name) {
                    let fd = *fd as i32;
                    KNOWN.with(|k| {
                        k.retain(|e| !matches!(e, Known::Descriptor(d, _) if *d == fd));
                        k.push(Known::Descriptor(fd, n));
                    });
                }
            }
            (Call::MqClose { mqdes }, Ok(_)) => KNOWN.with(|k| k.retain(|e| !matches!(e, Known::Descriptor(d, _) if *d == mqdes))),
            (Call::Msgget { key, .. }, Ok(id)) => {
                let id = *id as i32;
                KNOWN.with(|k| {
                    k.retain(|e| !matches!(e, Known::Id(i, _) if *i == id));
                    k.push(Known::Id(id, key));
                });
            }
            _ => {}
        }
    }
}
