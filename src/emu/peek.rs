//! What `mqshim peek` shows of a queue of either API: a copy of its messages in the order
//! receivers would take them, and its pending scheduled messages, taken without changing
//! anything a program can see (`posix::queue::Queue::snapshot`, `sysv::SysvEmulation::peek`).

/// One message as a snapshot shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeekedMessage {
    /// Its POSIX priority or System V type.
    pub priority_or_type: i64,
    /// Its whole length in bytes.
    pub len: usize,
    /// Its first bytes (at most the preview length asked for).
    pub preview: Vec<u8>,
    /// For a pending scheduled message, its due time (CLOCK_REALTIME ns); None for a queued one.
    pub due_ns: Option<u64>,
}

impl PeekedMessage {
    /// A copy of the message of `len` bytes at `data`, its first `preview` bytes kept.
    ///
    /// # Safety
    /// `data` points to `len` readable bytes that no one writes during the call.
    pub unsafe fn copy(priority_or_type: i64, data: *const u8, len: usize, preview: usize, due_ns: Option<u64>) -> PeekedMessage {
        // SAFETY: the caller's promise; min(len, preview) <= len.
        let preview = unsafe { std::slice::from_raw_parts(data, len.min(preview)) }.to_vec();
        PeekedMessage { priority_or_type, len, preview, due_ns }
    }
}

/// What a queue holds at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// Queued messages, in the order receivers would take them (POSIX: highest priority first,
    /// FIFO within one; System V: arrival order, as msgrcv with msgtyp 0 takes them).
    pub messages: Vec<PeekedMessage>,
    /// Pending scheduled messages, earliest due first (one due already enters the queue at
    /// the next operation on it).
    pub scheduled: Vec<PeekedMessage>,
}
