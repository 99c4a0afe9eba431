//! The layout of the System V emulation's shared files: the namespace's registry (the id
//! allocator, and a display copy of each queue's identity for `ipcs`) and one segment per queue
//! (its identity — key, id, permissions, statistics, ring sides — its lock, messages, type index
//! and blocked callers). Plain data linked by indices, never pointers; fixed-width
//! integers and atomics; sizes and offsets pinned below. Each file starts with the prefix every
//! segment shares (magic, layout version, header size: see `emu::engine::segment`), its version
//! stored last, when the file is complete.
//!
//! ```text
//! registry   RegistryHeader (4096 bytes) | Record[IPCMNI] (64 bytes each, sparse)
//! queue      QueueHeader (4096 bytes, its Entry included) | Waiter[WAITER_SLOTS] | ring (RING_BYTES) | block area (grows)
//! ```
//!
//! The block area is a sequence of blocks, each a whole number of 64-byte units and of one size
//! class for life: a message (header + text) or a type node. Blocks are named by their first
//! unit plus one, so 0 means "none" and a zero-filled file is a valid empty state.
//!
//! Version 2 added scheduled messages: the SCHEDULED block state with its due time and handle,
//! the queue's due-ordered list, and the registry entry's `next_due_ns` and `scheduled`.
//! Version 3 added the express ring (see `queue::express`): the entry's ring mode and its two
//! sides (lock, committed mark, statistics), 768-byte entries, and the segment's ring bytes
//! between the waiter records and the block area.
//! Version 4 moved the waiter records onto the engine's shared record (`WaiterCore`).
//! Version 6 added each message's time (`MsgBlock::visible_ns`, formerly the due time of
//! scheduled messages only, and `RingRecord::sent_ns`), for `mqshim peek`'s ages.
//! Version 7 moved each queue's entry (key, id, permissions, statistics, ring sides) from the
//! registry, which every user may write, into the queue's own segment, which only the users
//! the queue's mode lets in may open; the registry keeps a display [`Record`] per index and no
//! key table (keys are `key.<key>` links in the sticky directory: see `sysv::keys`).
//! Version 8 made every lock the emulation's own robust lock (`engine::lock::RobustMutex`)
//! instead of a glibc mutex: the same size, another protocol.

use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU16, AtomicU32, AtomicU64};

use crate::emu::engine::layout::QueueLock;
pub use crate::emu::engine::layout::{ring_mode, waiter_state};
use crate::emu::engine::lock::takeover::TakeoverLock;
use crate::emu::engine::lock::RobustMutex;
use crate::emu::engine::segment::{SegmentKind, SegmentPrefix};
use crate::emu::engine::waiter::WaiterCore;

/// "MQSHIMSR": the registry of a namespace's System V queues.
pub const REGISTRY_MAGIC: u64 = u64::from_le_bytes(*b"MQSHIMSR");
/// "MQSHIMSQ": one System V queue's segment.
pub const QUEUE_MAGIC: u64 = u64::from_le_bytes(*b"MQSHIMSQ");
/// Bumped on any change to this file's structures, or to what the files beside them mean (10: a
/// queue's `keeper_pid`, without which a library of 9 would take a spare left in place for a
/// leftover; 11: a key's later link names (`keys::SLOTS`), past which a library of 10 would
/// remove another user's stale first link and make the key a second live queue; 12: the
/// registry's live records counted by block, which a library of 11 would not keep; 13: a stale
/// key link replaced under its key's lock (`RegistryHeader::key_locks`), which a library of 12
/// would replace under the registry lock, the two not excluding each other; 14: work left for a
/// queue lock's next holder by a caller that went on without it — the waiters' EIDRM
/// (`REMOVED_WAITERS_UNSERVED`) and their recheck after IPC_SET (`QueueHeader::recheck_pending`)
/// — and IPC_SET's writers excluding each other by `Entry::perm_writer`, none of which a
/// library of 13 would honour; 15: a waiter that leaves unserved without the lock
/// (`wake_word::LEFT`), which a library of 14 would serve — handing it a message that is then
/// lost — since it swaps its waiters' words instead of claiming them).
pub const LAYOUT_VERSION: u32 = 15;
/// The registry, as the segment lifecycle knows it.
pub static REGISTRY_SEGMENT: SegmentKind = SegmentKind::new("System V queue registry", REGISTRY_MAGIC, LAYOUT_VERSION);
/// A queue's segment, as the segment lifecycle knows it.
pub static QUEUE_SEGMENT: SegmentKind = SegmentKind::new("System V queue segment", QUEUE_MAGIC, LAYOUT_VERSION);

/// `IPCMNI`: indices are 0..32767 and an id is `(seq << IPCMNI_SHIFT) + index`.
pub const IPCMNI: u32 = 32768;
pub const IPCMNI_SHIFT: u32 = 15;
/// `ipcid_seq_max()`: INT_MAX >> IPCMNI_SHIFT.
pub const IPCID_SEQ_MAX: u32 = (i32::MAX >> IPCMNI_SHIFT) as u32;
/// `ipc_min_cycle`: indices cycle through at least this many before wrapping.
pub const IPC_MIN_CYCLE: u32 = 64;

/// Bytes of the registry header and of each record.
pub const REGISTRY_HEADER_SIZE: u64 = 4096;
pub const RECORD_SIZE: u64 = 64;
pub const REGISTRY_SIZE: u64 = REGISTRY_HEADER_SIZE + IPCMNI as u64 * RECORD_SIZE;
/// Bytes of a queue's entry (in its segment's header).
pub const ENTRY_SIZE: u64 = 768;

/// The namespace's id allocator and what is derived from the entries. Creators move it without
/// a lock: the cursor is one word, changed by compare-and-swap, and the counts are atomics.
#[repr(C)]
pub struct IdAllocator {
    /// The kernel's `ids->seq`, `ids->last_idx` and the idr's cyclic cursor, packed
    /// (`registry::Cursor`): bits 0..16 `seq`, 16..32 `last_idx + 1`, 32..48 the next index.
    pub cursor: AtomicU64,
    /// One more than the highest index ever used: bounds every scan of the entries.
    pub high_water: AtomicU32,
    /// Live queues, and the highest live index (-1 when none): derived from the entries.
    pub in_use: AtomicU32,
    pub max_idx: AtomicI32,
    pub _pad: u32,
    pub _reserved: u64,
}

/// Creations in progress one registry tracks at once (see [`RegistryHeader::creators`]).
pub const CREATOR_SLOTS: usize = 32;

/// Records counted together in [`RegistryHeader::live_in_block`].
pub const RECORDS_PER_BLOCK: u32 = 64;

/// The registry's header.
#[repr(C)]
pub struct RegistryHeader {
    /// [`REGISTRY_SEGMENT`]'s magic, the header size, and the version: 0 while being built,
    /// `LAYOUT_VERSION` once published.
    pub prefix: SegmentPrefix,
    pub entry_size: u32,
    pub entry_count: u32,
    pub total_size: u64,
    /// 0, or the CLOCK_REALTIME second from which the next creator (taking the registry lock
    /// if it is free) looks for files no live queue owns and removes them: set when a creator
    /// or remover is found gone from the creator table (it may have died between making a file
    /// and committing its entry, or between removing its queue and removing its files and
    /// record), when a registry lock owner died and when a remover could not remove a file.
    pub sweep_due_sec: std::sync::atomic::AtomicI64,
    pub _reserved0: u64,
    /// `msg_next_id` plus one (0: unset, the file's -1): the id the next creation takes, set
    /// through `/proc/sys/kernel/msg_next_id` and cleared by that creation (swapped out: one
    /// creation takes it). Zero in registries made before it existed, which reads as unset.
    pub next_id1: AtomicI64,
    /// Bumped by whoever changes the namespace's sysctls (see `emu::sysctl`): a `msgget` looks
    /// at the settings file only when this moved since its last look. A hint only (any user
    /// may write it): a stale value delays noticing a change until the next `msgctl` that
    /// reads a limit or the next POSIX creation, and each process may set its own limits anyway.
    pub sysctl_generation: AtomicU64,
    /// Taken by the sweep and by a rebuild. Creation and removal do not take it, and nothing
    /// waits for it long: every user may write it, and a holder may be stopped.
    pub lock: QueueLock,
    pub alloc: IdAllocator,
    /// The pids of processes creating or removing a queue right now, or keeping spare segments
    /// (`queue::spare`), each in a slot it took (0: free): one killed half-way leaves its pid,
    /// which the next creator finds gone, and a sweep falls due. A hint only (any user may
    /// write it): a slot filled with garbage costs a sweep, a full table only this promptness.
    pub creators: [AtomicI32; CREATOR_SLOTS],
    /// How many records show a live queue in each block of [`RECORDS_PER_BLOCK`] indices, so
    /// that the removal of the highest live index finds the next one below past the empty
    /// blocks, not record by record (the kernel's `ipc_search_maxidx` is a binary search of
    /// its idr). Derived from the records, and recomputed from them with the other counts; a
    /// user who garbles it makes only `max_idx` (what `MSG_INFO` returns) wrong.
    pub live_in_block: [AtomicU16; (IPCMNI / RECORDS_PER_BLOCK) as usize],
    /// Taken by a creator replacing a stale link of a key (the lock [`key_lock_index`] gives
    /// the key), and by the sweep before it removes a key's link: so that two creators
    /// replacing one key's link never remove each other's new link (see `keys`). Per key, so
    /// that a slow holder keeps only the creators of the keys that share its lock waiting;
    /// one stopped loses it after the bound (see `lock::takeover`: what it does under it is one
    /// `unlinkat` or `symlinkat`, made only while it still holds the lock).
    pub key_locks: [TakeoverLock; KEY_LOCKS],
}

/// How many locks the keys share (see [`RegistryHeader::key_locks`]).
pub const KEY_LOCKS: usize = 32;

/// Which of [`RegistryHeader::key_locks`] `key` takes: the top bits of a multiplicative hash,
/// so that keys that differ in any bits (`ftok`'s differ in the low ones) spread.
pub fn key_lock_index(key: i32) -> usize {
    ((key as u32).wrapping_mul(0x9e37_79b9) >> (32 - KEY_LOCKS.trailing_zeros())) as usize
}

/// A queue's identity and statistics, in its own segment (`QueueHeader::entry`), so that only
/// the users its mode lets open the segment can touch them. `id1` is the commit point of a
/// creation (stored last) and of a removal (cleared first); the other fields are read without a
/// lock, each group consistently under its own sequence lock — the permissions (first cache
/// line: read by every call, written only by IPC_SET) and the statistics (second line: written
/// by every send and receive). The statistics are written only by the holder of the queue's own
/// lock; the permissions, with `qbytes` and `ctime`, by IPC_SET, whose writers exclude each
/// other by `perm_writer` (see `entry::write_perms`): the lock's holder may be a stopped process.
#[repr(C, align(64))]
pub struct Entry {
    /// The queue's id plus one while it exists; 0 when the index is free.
    pub id1: AtomicU32,
    pub key: AtomicI32,
    pub seq: AtomicU32,
    pub mode: AtomicU32,
    pub uid: AtomicU32,
    pub gid: AtomicU32,
    pub cuid: AtomicU32,
    pub cgid: AtomicU32,
    pub _reserved_nonce: u64,
    /// Odd while a writer updates the permissions above.
    pub perm_seq: AtomicU32,
    /// The thread writing the permissions (and `qbytes`, `ctime`) now, 0 when none: their
    /// writers' mutual exclusion (see `entry::write_perms`).
    pub perm_writer: AtomicI32,
    pub _pad1: [u64; 2],
    /// Odd while a writer updates the statistics below.
    pub stat_seq: AtomicU32,
    pub lspid: AtomicI32,
    pub lrpid: AtomicI32,
    pub _pad2: u32,
    pub qnum: AtomicU64,
    pub cbytes: AtomicU64,
    pub qbytes: AtomicU64,
    pub stime: AtomicI64,
    pub rtime: AtomicI64,
    pub ctime: AtomicI64,
    /// The earliest due time (CLOCK_REALTIME ns) of the queue's scheduled messages that no
    /// operation has yet found due, 0 when none: every call reads it without a lock to know
    /// whether it must promote first, and a blocked receiver sleeps until it. Scheduled messages
    /// found due but waiting for room are not counted here (a receive that makes room sends
    /// them). Derived from the queue's blocks; written, after `qnum`, by the holder of the
    /// queue's lock.
    pub next_due_ns: AtomicU64,
    /// Scheduled messages pending (for `mqshim ipcs`); derived like `next_due_ns`.
    pub scheduled: AtomicU32,
    /// `ring_mode`: where the queue's messages are. Changed under the queue's lock and both
    /// ring locks; `ring_mode_seq` is odd meanwhile, so readers without a lock can tell.
    pub ring_mode: AtomicU32,
    pub ring_mode_seq: AtomicU32,
    /// Non-zero once the ring sides' mutexes are initialised (at creation).
    pub ring_inited: AtomicU32,
    pub _reserved: [u64; 13],
    pub send: RingSide,
    pub recv: RingSide,
}

/// A display copy of one index's queue, for `mqshim ipcs`, `MSG_STAT_ANY` and `MSG_INFO` of
/// callers that may not open the queue's segment, and for the id allocator (`id1` 0: free).
/// Every user may write it, so nothing here decides anything about a queue: the segment's
/// [`Entry`] does. Written at creation (`id1` last), IPC_SET and removal (`id1` first).
#[repr(C, align(64))]
pub struct Record {
    pub id1: AtomicU32,
    pub key: AtomicI32,
    pub mode: AtomicU32,
    pub uid: AtomicU32,
    pub gid: AtomicU32,
    pub cuid: AtomicU32,
    pub cgid: AtomicU32,
    pub seq: AtomicU32,
    pub qbytes: AtomicU64,
    pub ctime: AtomicI64,
    pub _reserved: [u64; 2],
}

/// One side of a queue's express ring, in its entry: the lock that senders (or
/// receivers) take, what the holder keeps for itself, and — on a line pair of its own, so that
/// the other side reading it never disturbs the lock — the side's committed mark.
#[repr(C, align(128))]
pub struct RingSide {
    pub mutex: RobustMutex,
    /// Send side: the receive mark as the lock holder last read it (so the receiver's line is
    /// read only when the ring looks full). Unused on the receive side, which finds messages by
    /// their seals.
    pub peer_seen: AtomicU64,
    /// Send side: the type of the newest message sent through the ring (0: none since the
    /// ring took over); read and written by the lock holder only.
    pub last_type: AtomicI64,
    /// `msg_lspid` and `msg_stime` (send side) or `msg_lrpid` and `msg_rtime` (receive side)
    /// while the ring holds the queue.
    pub pid: AtomicI32,
    pub _pad0: u32,
    pub time: AtomicI64,
    pub _reserved0: [u64; 7],
    /// The side's mark (`queue::express::Mark`): one word, so that its store commits a send
    /// or a receive.
    pub mark: AtomicU64,
    /// Send side: the message count (of the mark) at which the newest run of messages of one
    /// type began, so a receiver knows whether the ring holds one type only.
    pub run_start: AtomicU32,
    pub _pad1: u32,
    pub _reserved1: [u64; 14],
}

/// A message's header in the ring; its text follows, and the record is padded to
/// `RING_ALIGN`. `len == RING_SKIP` marks the rest of the ring as unused (the next record is at
/// the ring's start): a skip marker is `seal`, `len` and `mtype` only, the first `RING_ALIGN`
/// bytes, so it fits the ring's last `RING_ALIGN` bytes. `seal`, stored last, says the record is
/// complete (see `queue::express`); 0 while it is not.
#[repr(C)]
pub struct RingRecord {
    pub seal: AtomicU32,
    pub len: u32,
    pub mtype: i64,
    /// The time of its send (CLOCK_REALTIME_COARSE ns): its block's `visible_ns` once folded.
    pub sent_ns: u64,
}

/// Bytes of a queue's ring (a power of two, at most 2^23: see `queue::express::Mark`): a
/// default queue (`msgmnb` 16384) fits whole in it, records included.
pub const RING_BYTES: u64 = 1 << 18;
/// Records start at multiples of this.
pub const RING_ALIGN: u64 = 16;
/// The longest message the ring takes (longer ones go through the general structure).
pub const RING_MSG_MAX: u64 = 16 << 10;
/// `RingRecord::len` of a skip marker.
pub const RING_SKIP: u32 = u32::MAX;

/// Bytes of the queue segment's header.
pub const QUEUE_HEADER_SIZE: u64 = 4096;
/// Blocked callers one queue can hold at once.
pub const WAITER_SLOTS: u32 = 4096;

/// [`QueueHeader::removed`]: removed, its waiters served EIDRM (under the lock).
pub const REMOVED: u32 = 1;
/// [`QueueHeader::removed`]: removed without the lock, by a remover that could not take it; the
/// lock's next holder serves the waiters EIDRM as it lets go, and makes the word [`REMOVED`].
pub const REMOVED_WAITERS_UNSERVED: u32 = 2;
/// The block area's unit.
pub const UNIT: u64 = 64;
/// Size classes: 1..=8 units, then four steps per doubling up to 2^26 units (4 GiB).
pub const CLASSES: usize = 8 + 4 * 23;
/// Scheduled messages one queue can hold pending at once (`mqshim_msgsnd_at`; EAGAIN beyond).
pub const SCHEDULED_MAX: u32 = 64;
/// Area reserved when a queue is created (sparse: costs nothing until used), in units.
pub const INITIAL_AREA_UNITS: u32 = (4 << 20) / UNIT as u32;

/// A block's state: the single word whose store commits a send or a receive.
pub mod block_state {
    /// On its class's free list (or not yet linked anywhere).
    pub const FREE: u32 = 0;
    /// A message in the queue.
    pub const QUEUED: u32 = 1;
    /// A message handed directly to a blocked receiver (`owner`), not in the queue.
    pub const HANDED: u32 = 2;
    /// A type node of the index.
    pub const TYPE: u32 = 3;
    /// The message of a blocked sender (`owner`), written when it blocked, not in the queue.
    pub const PENDING: u32 = 4;
    /// A scheduled message (`due_ns`, `handle`), not in the queue and not counted until it is
    /// sent at its due time; linked in due order by `next`.
    pub const SCHEDULED: u32 = 5;
}

/// `Waiter::result` of a waiter served with "look again" (the kernel's -EAGAIN from IPC_SET,
/// or a sender woken because its message may now fit).
pub const RESULT_RETRY: i32 = -1;

/// The queue segment's header.
#[repr(C)]
pub struct QueueHeader {
    /// [`QUEUE_SEGMENT`]'s magic, the header size, and the version: 0 while being built,
    /// `LAYOUT_VERSION` once published.
    pub prefix: SegmentPrefix,
    pub id: i32,
    pub key: i32,
    pub _reserved_nonce: u64,
    pub waiters_offset: u64,
    pub waiter_slots: u32,
    /// The process keeping this removed queue's segment, in place, for its next creation (see
    /// `queue::spare`); 0 when none. While it lives the file is not a leftover.
    pub keeper_pid: AtomicI32,
    pub area_offset: u64,
    /// Capacity of the block area in units; only grows (the file is extended first).
    pub area_units: AtomicU32,
    /// 0 while the queue is not removed; [`REMOVED`] once it is, its waiters served;
    /// [`REMOVED_WAITERS_UNSERVED`] when a remover committed without the lock (see
    /// `Queue::remove_unlocked`), until the lock's next holder serves them.
    pub removed: AtomicU32,
    /// The segment file's owner and group (for its mode, see `queue`): its creator's, or the
    /// owner root gave the queue with IPC_SET since.
    pub file_uid: AtomicU32,
    pub file_gid: AtomicU32,
    /// Seeds the type index's priorities.
    pub tree_seed: u64,
    /// Where the ring's bytes are, and how many.
    pub ring_offset: u64,
    pub ring_bytes: u64,
    /// The thread that created the queue: while the queue is not yet live (not committed, not
    /// removed), it is being created if that thread is still there (its creation perhaps given
    /// up by another creator of its key: `Queue::give_up`), and a leftover of a killed creator
    /// if not.
    pub creator_tid: i32,
    /// The thread removing the queue while it removes it (0 once done): from its claim, while
    /// the queue is still live and its key's link goes, to the end of its removal (see
    /// `SysvEmulation::remove_id`); one that is gone left a leftover, or a live queue whose
    /// removal the sweep finishes.
    pub remover_tid: AtomicI32,
    /// Non-zero when an IPC_SET changed the permissions or `qbytes` without the lock (its
    /// holder was stopped): the lock's next holder makes every waiter look again as it lets go
    /// (see `Queue::recheck_unlocked`), and clears it.
    pub recheck_pending: AtomicU32,
    pub _pad_recheck: u32,
    pub _reserved: [u64; 2],
    /// Written only when someone blocks or is woken, so alone on its cache line.
    pub spin: SpinHints,
    pub lock: QueueLock,
    pub state: QueueState,
    /// The queue's identity, permissions, statistics and ring sides.
    pub entry: Entry,
}

/// What a blocking caller consults before spinning.
#[repr(C, align(64))]
pub struct SpinHints {
    /// The two most recent distinct CPUs that blocked on or woke a caller of the queue
    /// (`u32::MAX`: none): a waiter spins only when someone else works on another CPU.
    pub recent_cpus: [AtomicU32; 2],
    /// Recent successful spin-wait duration, ns (adaptive spinning).
    pub spin_avg_ns: AtomicU32,
    pub _pad: [u32; 13],
}

/// The mutable state of a queue, read and written only under the queue lock; everything but
/// `top`, `waiter_top`, `next_seq`, `next_ticket` and `next_handle` is derived and rebuilt by
/// repair.
#[repr(C)]
pub struct QueueState {
    /// First unit not yet carved into a block.
    pub top: u32,
    /// Waiter records initialised so far.
    pub waiter_top: u32,
    /// The queue in arrival order (blocks).
    pub fifo_head: u32,
    pub fifo_tail: u32,
    /// Roots of the type index: by type, and by the sequence number of each type's oldest message.
    pub root_by_type: u32,
    pub root_by_age: u32,
    /// Blocked receivers and senders in FIFO order (waiters, index + 1), and the free records.
    pub recv_head: u32,
    pub recv_tail: u32,
    pub send_head: u32,
    pub send_tail: u32,
    pub free_waiter: u32,
    pub types: u32,
    pub recv_waiting: u32,
    pub send_waiting: u32,
    /// Bumped by IPC_SET: a sender that blocked before must look again (its permission may be
    /// gone) rather than have its pending message committed for it.
    pub perm_generation: u32,
    pub _pad: u32,
    pub qnum: u64,
    pub cbytes: u64,
    /// Sequence number of the next queued message; order of arrival of waiters.
    pub next_seq: u64,
    pub next_ticket: u64,
    /// Head of each size class's free list.
    pub free_blocks: [u32; CLASSES],
    /// The scheduled messages (SCHEDULED blocks) in due order, then handle; and their number.
    pub sched_head: u32,
    pub scheduled: u32,
    /// The handle of the next scheduled message (never 0; repair keeps it above every handle).
    pub next_handle: u64,
}

/// A blocked sender or receiver: the engine's waiter record (its `result` is 0, RESULT_RETRY
/// or the errno the waiter returns), then its links and what it waits for.
#[repr(C, align(64))]
pub struct Waiter {
    pub core: WaiterCore,
    /// Links in the receivers', senders' or free list (index + 1).
    pub next: u32,
    pub prev: u32,
    /// Receiver: the converted msgtyp and search mode; sender: unused.
    pub msgtyp: i64,
    /// Receiver: the largest message it takes (INT_MAX with MSG_NOERROR); sender: msgsz.
    pub size: u64,
    pub mode: u32,
    /// The block handed to a receiver, or a sender's pending message (unit + 1).
    pub handed: u32,
    /// A sender's `perm_generation` when it blocked.
    pub generation: u32,
    pub _pad: [u32; 3],
}

/// A message block's header; the text follows it.
#[repr(C)]
pub struct MsgBlock {
    pub state: AtomicU32,
    /// Size class, fixed when the block is carved.
    pub class: u32,
    pub mtype: i64,
    pub len: u64,
    pub seq: u64,
    /// Next in arrival order, next on the free list, or next scheduled message.
    pub next: u32,
    pub prev: u32,
    /// Next message of the same type.
    pub tnext: u32,
    /// The waiter (index + 1) of a HANDED or PENDING block; the pid of the process that
    /// scheduled a SCHEDULED one (the sender its statistics record when it is sent).
    pub owner: u32,
    /// When the message is or was receivable from, CLOCK_REALTIME ns: a SCHEDULED block's due
    /// time, which it keeps when it is sent; otherwise the time of its `msgsnd`
    /// (CLOCK_REALTIME_COARSE), or for a blocked sender's message of its entering the queue.
    /// `mqshim peek` shows a message's age from it.
    pub visible_ns: u64,
    /// A SCHEDULED block's handle.
    pub handle: u64,
}

/// A type node: one per type present in the queue, in two treaps.
#[repr(C)]
pub struct TypeNode {
    pub state: AtomicU32,
    pub class: u32,
    pub mtype: i64,
    /// Sequence number of this type's oldest message (key of the age treap).
    pub head_seq: u64,
    /// This type's messages, oldest first.
    pub head: u32,
    pub tail: u32,
    pub count: u32,
    /// Children in the treap by type (0) and by age (1).
    pub left: [u32; 2],
    pub right: [u32; 2],
    pub _pad: [u32; 3],
}

/// Units in size class `c`.
pub const fn class_units(c: usize) -> u64 {
    if c < 8 {
        c as u64 + 1
    } else {
        let e = 3 + (c - 8) / 4;
        let k = (c - 8) % 4 + 1;
        (1u64 << e) + (k as u64) * (1u64 << (e - 2))
    }
}

/// The smallest size class holding `units` units (None beyond the largest).
pub fn class_for_units(units: u64) -> Option<usize> {
    let c = if units <= 8 {
        units.max(1) as usize - 1
    } else {
        let e = 63 - (units - 1).leading_zeros() as usize;
        let step = 1u64 << (e - 2);
        let k = (units - (1u64 << e)).div_ceil(step) as usize;
        8 + (e - 3) * 4 + (k - 1)
    };
    (c < CLASSES).then_some(c)
}

/// The size class of a message of `len` bytes (header included).
pub fn class_for_message(len: u64) -> Option<usize> {
    class_for_units((std::mem::size_of::<MsgBlock>() as u64).checked_add(len)?.div_ceil(UNIT))
}

/// Where the waiter records and the block area start.
pub const fn waiters_offset() -> u64 {
    QUEUE_HEADER_SIZE
}

pub const fn ring_offset() -> u64 {
    QUEUE_HEADER_SIZE + WAITER_SLOTS as u64 * std::mem::size_of::<Waiter>() as u64
}

pub const fn area_offset() -> u64 {
    ring_offset() + RING_BYTES
}

// The layout is shared by every process using a namespace: pin it.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<QueueLock>() == 64);
    assert!(size_of::<RegistryHeader>() <= REGISTRY_HEADER_SIZE as usize);
    assert!(offset_of!(RegistryHeader, prefix) == 0);
    assert!(offset_of!(RegistryHeader, entry_size) == 16);
    assert!(offset_of!(RegistryHeader, total_size) == 24);
    assert!(offset_of!(RegistryHeader, lock) == 64);
    assert!(offset_of!(RegistryHeader, alloc) == 128);
    assert!(offset_of!(RegistryHeader, creators) == 160);
    assert!(offset_of!(RegistryHeader, live_in_block) == 288);
    assert!(offset_of!(RegistryHeader, key_locks) == 1344);
    assert!(KEY_LOCKS.is_power_of_two());
    assert!(size_of::<Record>() == RECORD_SIZE as usize);
    assert!(size_of::<Entry>() == ENTRY_SIZE as usize);
    assert!(offset_of!(Entry, perm_seq) == 40);
    assert!(offset_of!(Entry, stat_seq) == 64);
    assert!(offset_of!(Entry, qnum) == 80);
    assert!(offset_of!(Entry, ctime) == 120);
    assert!(offset_of!(Entry, next_due_ns) == 128);
    assert!(offset_of!(Entry, scheduled) == 136);
    assert!(offset_of!(Entry, ring_mode) == 140);
    assert!(offset_of!(Entry, send) == 256);
    assert!(offset_of!(Entry, recv) == 512);
    assert!(size_of::<RingSide>() == 256);
    assert!(offset_of!(RingSide, mark) == 128);
    assert!(offset_of!(RingRecord, sent_ns) as u64 == RING_ALIGN);
    assert!(size_of::<RingRecord>() == 24);
    assert!(RING_BYTES.is_power_of_two() && RING_BYTES < 1 << 23 && RING_BYTES % RING_ALIGN == 0);
    assert!(RING_MSG_MAX + 2 * RING_ALIGN <= RING_BYTES / 4);
    assert!(ring_offset() % 4096 == 0);
    assert!(size_of::<QueueHeader>() <= QUEUE_HEADER_SIZE as usize);
    assert!(offset_of!(QueueHeader, prefix) == 0);
    assert!(offset_of!(QueueHeader, id) == 16);
    assert!(offset_of!(QueueHeader, entry) == 768);
    assert!(offset_of!(QueueHeader, area_units) == 56);
    assert!(offset_of!(QueueHeader, spin) == 128);
    assert!(size_of::<SpinHints>() == 64);
    assert!(offset_of!(QueueHeader, lock) == 192);
    assert!(offset_of!(QueueHeader, state) == 256);
    assert!(offset_of!(QueueState, qnum) == 64);
    assert!(offset_of!(QueueState, free_blocks) == 96);
    assert!(offset_of!(QueueState, sched_head) == 496);
    assert!(offset_of!(QueueState, next_handle) == 504);
    assert!(offset_of!(QueueHeader, state) + size_of::<QueueState>() <= offset_of!(QueueHeader, entry));
    assert!(size_of::<QueueHeader>() <= QUEUE_HEADER_SIZE as usize);
    assert!(offset_of!(MsgBlock, visible_ns) == 48);
    assert!(size_of::<Waiter>() == 128);
    assert!(offset_of!(Waiter, next) == 72);
    assert!(size_of::<MsgBlock>() == UNIT as usize);
    assert!(size_of::<TypeNode>() == UNIT as usize);
    assert!(offset_of!(MsgBlock, class) == offset_of!(TypeNode, class));
    assert!(offset_of!(MsgBlock, mtype) == offset_of!(TypeNode, mtype));
    assert!(area_offset() % 4096 == 0);
    assert!(class_units(CLASSES - 1) == 1 << 26);
    assert!(class_units(8) == 10 && class_units(11) == 16 && class_units(12) == 20);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_tight_and_ordered() {
        for c in 1..CLASSES {
            assert!(class_units(c) > class_units(c - 1), "class {c}");
        }
        for units in 1..5000u64 {
            let c = class_for_units(units).unwrap();
            assert!(class_units(c) >= units, "{units} units in class {c}");
            if c > 0 {
                assert!(class_units(c - 1) < units, "{units} units fit class {}", c - 1);
            }
            // At most 25% waste beyond 8 units.
            assert!(class_units(c) * 4 <= units * 5 + 4 * 8, "{units}");
        }
        assert_eq!(class_for_units(1 << 26), Some(CLASSES - 1));
        assert_eq!(class_for_units((1 << 26) + 1), None);
        assert_eq!(class_for_message(0), Some(0));
        assert_eq!(class_for_message(1), Some(1));
        assert_eq!(class_for_message(8192), Some(class_for_units(129).unwrap()));
        assert!(class_for_message(16 << 20).is_some());
        assert_eq!(class_for_message(u64::MAX), None);
    }
}
