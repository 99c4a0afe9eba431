//! The layout of an emulated POSIX queue's shared segment. Plain data linked by indices, never
//! pointers; fixed-width integers and atomics; every size and offset pinned below and by the C
//! layout test. A segment starts with the prefix every segment shares (magic, layout version,
//! header size: see `emu::engine::segment`); the version is stored last, when the segment is
//! fully initialised, and only then is the queue published.
//!
//! ```text
//! 0        PosixHeader (identity, geometry, owner, lock, state)
//! waiters  [Waiter; WAITER_SLOTS]         blocked senders and receivers
//! prio     [PrioList; PRIO_LEVELS]        per-priority FIFO lists (head/tail slot indices)
//! slots    [Slot header + msgsize bytes; 2 × maxmsg + WAITER_SLOTS + SCHEDULED_SLOTS]
//! ```
//!
//! Slots `0..maxmsg` are the *queue slots*: in express mode (see `emu::posix::queue::express`)
//! they are the express ring, position `p` in slot `p % maxmsg`; otherwise they hold the
//! messages `mq_send` queues. The rest are *extra slots*, for what waiters and scheduled
//! messages own (a blocked sender's message, one handed to a blocked receiver, a scheduled
//! message) — which may later be queued, so there are `maxmsg` more than waiters and schedules.
//!
//! Indices are stored plus one, so 0 means "none" and a zero-filled file is a valid empty state.

use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::emu::engine::layout::QueueLock;
use crate::emu::engine::lock::RobustMutex;
use crate::emu::engine::segment::{SegmentKind, SegmentPrefix};
use crate::emu::engine::waiter::WaiterCore;

/// "MQSHIMPQ" little-endian: an emulated POSIX queue segment.
pub const POSIX_MAGIC: u64 = u64::from_le_bytes(*b"MQSHIMPQ");
/// Bumped on any change to this file's structures, or to how processes sharing a queue agree
/// on it (14: a message's `visible_ns` and the queue's times — `created_ns`, `attr_changed_ns`,
/// each ring side's `last_ns`; 15: `unlinked`; 16: a queue is open while its FIFO has a reader,
/// no longer while an OFD read lock is held — a library of 15 would destroy a queue that one of
/// 16 has open; 17: the locks are the emulation's own robust locks, no longer glibc mutexes,
/// and a registration names its relay's process; 18: `fifo_ino`, without which a library of
/// 17 would take a reused segment for the queue it was; 19: a waiter that leaves unserved
/// without the lock (`wake_word::LEFT`), which a library of 18 would serve — handing it a
/// message that is then lost — since it swaps its waiters' words instead of claiming them; 20:
/// `pending_notify`, changes of the registration left for the lock's next holder, which a
/// library of 19 would not make — a registration posted there would never fire).
pub const LAYOUT_VERSION: u32 = 20;
/// An emulated POSIX queue's segment, as the segment lifecycle knows it.
pub static POSIX_SEGMENT: SegmentKind = SegmentKind::new("POSIX queue segment", POSIX_MAGIC, LAYOUT_VERSION);
/// Scheduled messages a queue can hold pending at once (`mqshim_mq_send_at`).
pub const SCHEDULED_SLOTS: u32 = 64;
/// Blocked callers a queue can hold at once (each owns at most one message slot).
pub const WAITER_SLOTS: u32 = 128;
/// `MQ_PRIO_MAX`: priorities are 0..32767.
pub const PRIO_LEVELS: usize = 32768;
/// Longest queue name (NAME_MAX) plus room for a NUL.
pub const NAME_CAPACITY: usize = 256;

/// A message slot's state: the single word whose store commits a send or a receive.
pub mod slot_state {
    /// On the free list.
    pub const FREE: u32 = 0;
    /// In the queue, linked into its priority list.
    pub const QUEUED: u32 = 1;
    /// Handed directly to a blocked receiver (`owner`), not in the queue.
    pub const HANDED: u32 = 2;
    /// Written by a blocked sender (`owner`), waiting for room.
    pub const PENDING: u32 = 3;
    /// A scheduled message, not yet due (`visible_ns`), linked in due order.
    pub const SCHEDULED: u32 = 4;
}

/// One side of the express ring: its lock and what only its holders touch, on a line of its own.
#[repr(C, align(64))]
pub struct RingSide {
    /// Robust, process-shared: held by one sender (receiver) in express mode, and by a mode
    /// change with the queue lock.
    pub mutex: RobustMutex,
    /// Send side: the head as last read (so the receiver's line is read only when the ring
    /// looks full). Unused on the receive side, which finds messages by their seals.
    pub peer_seen: u64,
    /// The slot of this side's position (`position % maxmsg`), kept to avoid a division.
    pub slot: u32,
    /// Send side: queue slots below this exist (see `Queue::ready_queue_slot`), so a queue's
    /// memory follows what it has held and a full filesystem is an errno before a slot is first
    /// written; on the sender's own line, which every express send touches anyway. Unused on
    /// the receive side.
    pub slots_ready: AtomicU32,
    /// When a message last went through this side — sent (send side) or received (receive
    /// side), through the ring or the general structure — CLOCK_REALTIME_COARSE ns; 0: never.
    /// On the side's own line, which each send (receive) writes anyway; the queue's times
    /// (`Queue::times`) derive from the two.
    pub last_ns: AtomicU64,
}

/// A ring position, alone on its line: written by its side, read by the other.
#[repr(C, align(64))]
pub struct RingPosition {
    /// Messages sent (tail) or received (head) through the ring, ever.
    pub pos: AtomicU64,
}

/// The express ring: a FIFO of queue slots whose priorities never increase from head to
/// tail, with a lock per side, used while nothing needs the general structure.
#[repr(C, align(64))]
pub struct ExpressRing {
    /// `ring_mode::*`: changed only with the queue lock and both side locks held.
    pub mode: AtomicU32,
    /// Odd while a mode change runs, so lock-free readers of the count can retry.
    pub mode_seq: AtomicU32,
    pub _reserved: [u32; 14],
    pub send: RingSide,
    pub tail: RingPosition,
    pub recv: RingSide,
    pub head: RingPosition,
}

/// The current `mq_notify` registration (see `emu::posix::notify`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NotifyRegistration {
    /// Owning process, 0 when there is none.
    pub owner_pid: i32,
    /// `sigev_notify` of the registration.
    pub kind: i32,
    pub signo: i32,
    /// Real uid of the owner (who may be signalled).
    pub owner_uid: u32,
    pub value: u64,
    pub function: u64,
    pub attributes: u64,
    /// A random token of the owner's program image: an exec'd owner (same pid, new image)
    /// knows the registration is not its own.
    pub image: u64,
    /// Which registration this is (from `QueueState::next_registration`), so the owner's relay
    /// thread acts only on its own.
    pub seq: u32,
    /// The relay thread (SIGEV_SIGNAL/SIGEV_THREAD): the owner's own, which exists exactly as
    /// long as the program image that registered (exited, killed or exec'd); or, for a served
    /// process (a static program under `mqshim run`), its supervisor's.
    pub relay_tid: i32,
    /// The process of the relay thread when it is not the owner (its supervisor), else 0.
    pub relay_pid: i32,
    pub _reserved: u32,
}

/// The changes of a queue's `mq_notify` registration made while the queue lock was held by a
/// process that did not let go of it (stopped inside its critical section), for the lock's
/// next holder to make before anything else (see `emu::posix::queue::pending`): a
/// registration posted, and the removal of an owner's registration at its close.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct PendingRegistration {
    /// The low 32 bits, the post's state: even, none; odd, `reg` is one. They only grow: a
    /// registrant holding both side locks of the ring (so one at a time) writes `reg` while
    /// they are even, then makes them odd; whoever takes the registration (the lock's next
    /// holder) or withdraws it (its owner's close) makes them even again. The high 32 bits:
    /// the pid of an owner whose registration its close removed (0: none). One word, changed
    /// by compare-and-swap, so that a close, a post and their taking are one at a time.
    pub word: AtomicU64,
    pub _reserved: [u32; 14],
    pub reg: NotifyRegistration,
}

/// A fired notification handed to the owner's helper thread (under the queue lock): always for
/// SIGEV_THREAD, and for SIGEV_SIGNAL when the sender may not signal the owner.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NotifyRelay {
    /// The registration it fired (`NotifyRegistration::seq`); 0 = none.
    pub seq: u32,
    pub sender_pid: i32,
    pub sender_uid: u32,
    pub _reserved: [u32; 5],
}

/// The mutable state of a queue. Everything except the atomics is read and written only under
/// the queue lock.
#[repr(C)]
pub struct QueueState {
    /// Messages in the queue (read without the lock by `mq_getattr`).
    pub curmsgs: AtomicU32,
    /// Head of the free slot list.
    pub free_slot: u32,
    /// Bytes of user data in the queue (the kernel's QSIZE).
    pub curbytes: AtomicU64,
    /// Sequence number of the next queued message (FIFO order within a priority).
    pub next_seq: u64,
    /// Order of arrival of waiters.
    pub next_ticket: u64,
    /// Sequence number of the next notification registration.
    pub next_registration: u32,
    /// Scheduled messages pending (not counted in `curmsgs`).
    pub scheduled: u32,
    /// Earliest pending due time (ns since the epoch, CLOCK_REALTIME), 0 when none: read
    /// without the lock by every operation, so a due message is promoted by the next one.
    pub next_due_ns: AtomicU64,
    /// Head (slot index + 1) of the scheduled messages, in due order.
    pub scheduled_head: u32,
    pub _pad2: u32,
    /// The handle of the next scheduled message (never 0).
    pub next_handle: u64,
    pub recv_waiting: u32,
    pub send_waiting: u32,
    /// Non-zero once a descriptor of the queue was passed to poll/select/epoll: from then on
    /// every process keeps the FIFO's tokens in step with the queue (see `emu::posix::ready`).
    pub readiness_armed: u32,
    /// Tokens (4096-byte writes) in the FIFO: 0 empty, 1..=3 neither empty nor full, 4 full.
    pub tokens: u32,
    pub notify: NotifyRegistration,
    /// Bit per 64-priority word of `bitmap` that is non-zero.
    pub summary: [u64; PRIO_LEVELS / 64 / 64],
    /// Bit per priority whose list is non-empty.
    pub bitmap: [u64; PRIO_LEVELS / 64],
    /// Head of the free extra slots (the free list above holds queue slots).
    pub free_extra: u32,
    /// Free queue slots on no list, left by the express ring when it gave way to the general
    /// structure: `lazy_left` slots from slot `lazy_next` on, wrapping at maxmsg.
    pub lazy_next: u32,
    pub lazy_left: u32,
    /// The first extra slot never used: it and those after it are free and on no list, and
    /// their pages were never touched — so a queue holds memory for what it has held, not for
    /// its maximum (tmpfs allocates a page when it is first written).
    pub extra_fresh: u32,
    /// The waiter records registered as receivers and as senders (bit `w % 64` of word
    /// `w / 64`), so finding the waiter to serve looks at those only. Derived from the
    /// records' states, kept under the queue lock and rebuilt by repair; a stale bit (a record
    /// no longer of that role) is ignored and cleared where found.
    pub receivers: [u64; 2],
    pub senders: [u64; 2],
}

/// The header of a queue segment.
#[repr(C)]
pub struct PosixHeader {
    /// [`POSIX_SEGMENT`]'s magic, the header size, and the version: 0 while being initialised,
    /// `LAYOUT_VERSION` once published.
    pub prefix: SegmentPrefix,
    pub total_size: u64,
    pub maxmsg: u32,
    pub slot_count: u32,
    pub msgsize: u64,
    pub slot_stride: u64,
    pub waiters_offset: u64,
    pub prio_offset: u64,
    pub slots_offset: u64,
    /// Owner and group (the creator's fsuid/fsgid) and mode (after the umask).
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    /// The real uid charged for RLIMIT_MSGQUEUE, and how much.
    pub charge_uid: u32,
    pub charge_bytes: u64,
    /// When the queue was created, CLOCK_REALTIME_COARSE ns (the inode's first times).
    pub created_ns: u64,
    pub name_len: u32,
    /// Bumped each time a SIGEV_THREAD notification fires; the owner's helper thread sleeps on
    /// it (see `emu::posix::notify`).
    pub notify_events: AtomicU32,
    /// Bumped by every `mq_setattr`, so processes know their cached O_NONBLOCK may be stale.
    pub attr_generation: AtomicU32,
    /// CPU of the last sender and receiver: a waiter does not spin when its peer shares its CPU.
    pub last_send_cpu: AtomicU32,
    pub last_recv_cpu: AtomicU32,
    /// Recent successful spin-wait duration, ns (adaptive spinning).
    pub spin_avg_ns: AtomicU32,
    pub name: [u8; NAME_CAPACITY],
    /// A notification the sender could not deliver itself, for the owner's helper thread.
    pub relay: NotifyRelay,
    /// Bit per page of the priority lists whose pages exist (see `Queue::ready_prio`).
    pub prio_pages_ready: AtomicU64,
    /// The last change the kernel stamps into an mqueue inode's atime and ctime only (a
    /// notification registered, or removed by `mq_notify(NULL)`; an `mq_setattr`),
    /// CLOCK_REALTIME_COARSE ns; 0: none.
    pub attr_changed_ns: AtomicU64,
    /// Set (1) by `mq_unlink` before the name goes: a process closing a descriptor looks for
    /// the name (to destroy an unlinked queue at its last close) only when it is set.
    pub unlinked: AtomicU32,
    /// Unused (layout 19's `notify_cancel_pid`: the removal a close left for the lock's next
    /// holder, now in `pending_notify`).
    pub _unused: u32,
    /// The inode of the queue's FIFO: which queue the segment is now. A process that made a
    /// queue and destroyed it may give its segment to its next queue (see `posix::spare`), so
    /// one that reaches the segment through an old queue's FIFO checks this first.
    pub fifo_ino: AtomicU64,
    pub lock: QueueLock,
    pub state: QueueState,
    pub ring: ExpressRing,
    /// A registration made behind a held lock, for the lock's next holder.
    pub pending_notify: PendingRegistration,
}

/// A blocked sender or receiver: the engine's waiter record (its `result` is 0 or the errno
/// the waiter returns), then what a POSIX waiter owns and is ordered by.
#[repr(C, align(64))]
pub struct Waiter {
    pub core: WaiterCore,
    /// The message slot it owns (index + 1): a handed message or a pending send.
    pub slot: u32,
    /// Kernel-style task priority (lower is served first), when known.
    pub sched_prio: i32,
    pub prio_known: u32,
    pub _reserved: u32,
}

/// Head and tail (slot index + 1) of one priority's FIFO list.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PrioList {
    pub head: u32,
    pub tail: u32,
}

/// The header of a message slot; `msgsize` bytes of data follow it.
#[repr(C)]
pub struct SlotHeader {
    pub state: AtomicU32,
    /// Next slot (index + 1) in a priority list or the free list.
    pub next: u32,
    pub prio: u32,
    pub len: u32,
    pub seq: u64,
    /// The waiter (index + 1) of a HANDED or PENDING slot.
    pub owner: u32,
    /// Express ring: the low 32 bits of one more than the position whose message the slot
    /// holds, stored last by the send (see `emu::posix::queue::express`).
    pub ring_seal: AtomicU32,
    /// When the message is or was receivable from, CLOCK_REALTIME nanoseconds since the epoch:
    /// a SCHEDULED slot's due time (`seq` is then its handle), which it keeps when it falls due;
    /// otherwise the time of its send (CLOCK_REALTIME_COARSE) or, for a blocked sender's
    /// message, of its entering the queue. `mqshim peek` shows a message's age from it.
    pub visible_ns: u64,
}

const fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

/// Where everything lies in a segment of a given `maxmsg` and `msgsize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub maxmsg: u32,
    pub msgsize: u64,
    pub slot_count: u32,
    pub header_size: u64,
    pub waiters_offset: u64,
    pub prio_offset: u64,
    pub slots_offset: u64,
    pub slot_stride: u64,
    pub total_size: u64,
}

/// Bytes of the header in every queue (whatever its attributes), as its prefix records them.
pub const HEADER_SIZE: u64 = round_up(std::mem::size_of::<PosixHeader>() as u64, 64);

/// Largest segment mqshim creates (the file is sparse; this bounds address space, not memory).
pub const MAX_SEGMENT: u64 = 1 << 44;

impl Geometry {
    /// The geometry of a queue, or None when it would exceed [`MAX_SEGMENT`].
    pub fn new(maxmsg: u32, msgsize: u64) -> Option<Geometry> {
        let header_size = HEADER_SIZE;
        let waiters_offset = header_size;
        let prio_offset = waiters_offset + WAITER_SLOTS as u64 * std::mem::size_of::<Waiter>() as u64;
        let slots_offset = round_up(prio_offset + (PRIO_LEVELS * std::mem::size_of::<PrioList>()) as u64, 64);
        let slot_stride = round_up(std::mem::size_of::<SlotHeader>() as u64 + msgsize, 8);
        let slot_count = maxmsg.checked_mul(2)?.checked_add(WAITER_SLOTS)?.checked_add(SCHEDULED_SLOTS)?;
        let total = slot_stride.checked_mul(slot_count as u64)?.checked_add(slots_offset)?;
        let total_size = round_up(total, 4096);
        (total_size <= MAX_SEGMENT).then_some(Geometry {
            maxmsg,
            msgsize,
            slot_count,
            header_size,
            waiters_offset,
            prio_offset,
            slots_offset,
            slot_stride,
            total_size,
        })
    }
}

// The layout is part of the on-disk (in-tmpfs) format shared by every process: pin it.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<QueueLock>() == 64);
    assert!(size_of::<NotifyRegistration>() == 64);
    assert!(size_of::<SlotHeader>() == 40);
    assert!(size_of::<PrioList>() == 8);
    assert!(size_of::<Waiter>() == 128);
    assert!(offset_of!(PosixHeader, prefix) == 0);
    assert!(offset_of!(PosixHeader, total_size) == 16);
    assert!(offset_of!(PosixHeader, maxmsg) == 24);
    assert!(offset_of!(PosixHeader, msgsize) == 32);
    assert!(offset_of!(PosixHeader, uid) == 72);
    assert!(offset_of!(PosixHeader, name) == 128);
    assert!(offset_of!(PosixHeader, lock) == 448);
    assert!(offset_of!(PosixHeader, state) == 512);
    assert!(size_of::<NotifyRelay>() == 32);
    assert!(offset_of!(PosixHeader, relay) == 384);
    assert!(offset_of!(PosixHeader, created_ns) == 96);
    assert!(offset_of!(PosixHeader, attr_changed_ns) == 424);
    assert!(offset_of!(PosixHeader, unlinked) == 432);
    assert!(offset_of!(PosixHeader, fifo_ino) == 440);
    assert!(offset_of!(RingSide, last_ns) == 56);
    assert!(offset_of!(SlotHeader, visible_ns) == 32);
    assert!(offset_of!(QueueState, next_due_ns) == 40);
    assert!(offset_of!(QueueState, readiness_armed) == 72);
    assert!(offset_of!(QueueState, notify) == 80);
    assert!(offset_of!(QueueState, summary) == 144);
    assert!(offset_of!(QueueState, bitmap) == 208);
    assert!(size_of::<QueueState>() == 208 + 4096 + 16 + 32);
    assert!(WAITER_SLOTS as usize <= 128);
    assert!(size_of::<RingSide>() == 64);
    assert!(size_of::<ExpressRing>() == 5 * 64);
    assert!(offset_of!(PosixHeader, ring) == 4864);
    assert!(offset_of!(ExpressRing, tail) == 128);
    assert!(offset_of!(ExpressRing, head) == 256);
    assert!(size_of::<PendingRegistration>() == 128);
    assert!(offset_of!(PosixHeader, pending_notify) == 4864 + 5 * 64);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_aligned_and_sized() {
        let g = Geometry::new(10, 8192).unwrap();
        assert_eq!(g.header_size % 64, 0);
        assert_eq!(g.slots_offset % 64, 0);
        assert_eq!(g.slot_stride, 40 + 8192);
        assert_eq!(g.slot_count, 2 * 10 + WAITER_SLOTS + SCHEDULED_SLOTS);
        assert_eq!(g.total_size % 4096, 0);
        assert!(g.total_size >= g.slots_offset + g.slot_stride * g.slot_count as u64);
        assert!(Geometry::new(65536, 16 << 20).is_some());
        assert!(Geometry::new(u32::MAX, 1 << 30).is_none());
    }
}
