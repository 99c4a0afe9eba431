//! The shared-memory records and state words every queue segment uses, POSIX or System V:
//! the queue lock's line, the roles and wake words of waiter records, and the express ring's
//! mode. Plain data and atomics, pinned below.

/// A waiter record's role (its `state`).
pub mod waiter_state {
    pub const FREE: u32 = 0;
    pub const RECEIVING: u32 = 1;
    pub const SENDING: u32 = 2;
    /// Served: the record's result (and any message handed over) says how; its thread collects
    /// it under the queue lock.
    pub const SERVED: u32 = 3;
}

/// A waiter's futex word.
pub mod wake_word {
    /// Registered and spinning.
    pub const WAITING: u32 = 0;
    /// Registered and asleep in the kernel: a waker must FUTEX_WAKE.
    pub const SLEEPING: u32 = 1;
    /// Served: the result is in the waiter record.
    pub const WOKEN: u32 = 2;
    /// Left unserved, without the queue lock (see `engine::waiter::WaiterCore::leave_unserved`):
    /// no one may serve it; the lock's next holder that meets the record forgets it.
    pub const LEFT: u32 = 3;
}

/// Which structure holds a queue's messages, POSIX or System V (see the queues' `express`
/// modules).
pub mod ring_mode {
    /// The general structure (priority lists or type index, waiters), under the queue lock; a
    /// new queue starts so.
    pub const GENERAL: u32 = 0;
    /// The express ring, under its send and receive locks; the general structure holds no
    /// queued message.
    pub const EXPRESS: u32 = 1;
}

/// The process-shared robust mutex, alone on its cache line.
#[repr(C, align(64))]
pub struct QueueLock {
    pub mutex: super::lock::RobustMutex,
}

const _: () = {
    assert!(std::mem::size_of::<QueueLock>() == 64);
};
