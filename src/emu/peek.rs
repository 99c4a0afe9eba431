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
    /// When it became (or, scheduled, becomes) receivable, CLOCK_REALTIME ns: the time of its
    /// send, of a blocked sender's message entering the queue, or a scheduled message's due
    /// time. Its age is counted from it.
    pub visible_ns: u64,
    /// For a scheduled message, its due time (CLOCK_REALTIME ns); None for a message sent
    /// by `mq_send`/`msgsnd`.
    pub due_ns: Option<u64>,
}

impl PeekedMessage {
    /// A copy of the message of `len` bytes at `data`, its first `preview` bytes kept.
    ///
    /// # Safety
    /// `data` points to `len` readable bytes that no one writes during the call.
    pub unsafe fn copy(priority_or_type: i64, data: *const u8, len: usize, preview: usize, visible_ns: u64, due_ns: Option<u64>) -> PeekedMessage {
        // SAFETY: the caller's promise; min(len, preview) <= len.
        let preview = unsafe { std::slice::from_raw_parts(data, len.min(preview)) }.to_vec();
        PeekedMessage { priority_or_type, len, preview, visible_ns, due_ns }
    }
}

/// What a queue holds at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// Queued messages, in the order receivers would take them (POSIX: highest priority first,
    /// FIFO within one; System V: arrival order, as msgrcv with msgtyp 0 takes them), scheduled
    /// messages already due among them (see [`QueueSnapshot::place_due`]).
    pub messages: Vec<PeekedMessage>,
    /// Pending scheduled messages, earliest due first: not yet due, or due but waiting for
    /// room.
    pub scheduled: Vec<PeekedMessage>,
}

/// Where a queue puts a message that enters it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// After every message of its priority or a higher one (POSIX).
    ByPriority,
    /// At the end (System V: arrival order).
    AtEnd,
}

impl QueueSnapshot {
    /// Moves the scheduled messages due at `now_ns` into `messages` where the next operation on
    /// the queue would put them — in due order, each entering as a send would if `fits` (given
    /// the message and what is queued by then) says the queue has room for it; one that does
    /// not fit stays in `scheduled`, waiting for a receive to make room, as the queues' own
    /// promotion leaves it. So the list is what receivers would get, whether or not anyone
    /// touched the queue since the due time (peek itself writes nothing).
    pub fn place_due(&mut self, now_ns: u64, placement: Placement, mut fits: impl FnMut(&PeekedMessage, &[PeekedMessage]) -> bool) {
        let mut waiting = Vec::new();
        for m in std::mem::take(&mut self.scheduled) {
            if m.due_ns.is_none_or(|d| d > now_ns) || !fits(&m, &self.messages) {
                waiting.push(m);
                continue;
            }
            let at = match placement {
                Placement::ByPriority => self.messages.iter().position(|q| q.priority_or_type < m.priority_or_type).unwrap_or(self.messages.len()),
                Placement::AtEnd => self.messages.len(),
            };
            self.messages.insert(at, m);
        }
        self.scheduled = waiting;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(prio: i64, text: &str, due_ns: Option<u64>) -> PeekedMessage {
        PeekedMessage { priority_or_type: prio, len: text.len(), preview: text.as_bytes().to_vec(), visible_ns: due_ns.unwrap_or(1), due_ns }
    }

    fn texts(v: &[PeekedMessage]) -> Vec<String> {
        v.iter().map(|m| String::from_utf8_lossy(&m.preview).into_owned()).collect()
    }

    #[test]
    fn due_messages_take_their_receive_position_while_they_fit() {
        let queued = vec![message(5, "q5", None), message(3, "q3a", None), message(3, "q3b", None), message(0, "q0", None)];
        let scheduled = vec![message(3, "s3", Some(10)), message(9, "s9", Some(20)), message(1, "s1", Some(30)), message(7, "s7", Some(40))];
        let mut snap = QueueSnapshot { messages: queued.clone(), scheduled: scheduled.clone() };
        snap.place_due(30, Placement::ByPriority, |_, _| true);
        assert_eq!(texts(&snap.messages), ["s9", "q5", "q3a", "q3b", "s3", "s1", "q0"]);
        assert_eq!(texts(&snap.scheduled), ["s7"]);

        // Room for one: the first due enters, the rest wait in due order.
        let mut snap = QueueSnapshot { messages: queued.clone(), scheduled: scheduled.clone() };
        snap.place_due(30, Placement::ByPriority, |_, q| q.len() < 5);
        assert_eq!(texts(&snap.messages), ["q5", "q3a", "q3b", "s3", "q0"]);
        assert_eq!(texts(&snap.scheduled), ["s9", "s1", "s7"]);

        // One that does not fit waits; a later, smaller one may still enter (System V's bytes).
        let mut snap = QueueSnapshot { messages: queued.clone(), scheduled: scheduled.clone() };
        snap.place_due(30, Placement::AtEnd, |m, _| m.len < 3);
        assert_eq!(texts(&snap.messages), ["q5", "q3a", "q3b", "q0", "s3", "s9", "s1"]);
        let mut snap = QueueSnapshot { messages: queued.clone(), scheduled: scheduled.clone() };
        snap.place_due(30, Placement::AtEnd, |m, _| m.preview != b"s9");
        assert_eq!(texts(&snap.messages), ["q5", "q3a", "q3b", "q0", "s3", "s1"]);
        assert_eq!(texts(&snap.scheduled), ["s9", "s7"]);

        // System V: arrival order.
        let mut snap = QueueSnapshot { messages: queued, scheduled };
        snap.place_due(20, Placement::AtEnd, |_, _| true);
        assert_eq!(texts(&snap.messages), ["q5", "q3a", "q3b", "q0", "s3", "s9"]);
        assert_eq!(texts(&snap.scheduled), ["s1", "s7"]);
    }
}
