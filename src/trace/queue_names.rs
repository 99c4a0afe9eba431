//! The name each POSIX queue descriptor was opened with in this process, so that a trace record
//! of a descriptor call (`mq_send(3, …)`) can say which queue it was about (`"queue":"/jobs"`).
//!
//! Only the tracer uses it (nothing is learnt while tracing is off): a successful `mq_open`
//! fills the descriptor's slot, `mq_close` (and, under the emulation, `close` and `dup2`/`dup3`
//! onto the descriptor) empties it, `dup` & co. copy it, and a call that fails with EBADF
//! empties it (the descriptor is no queue's, whatever it was). Under the kernel backend a queue
//! descriptor closed with plain `close` keeps its name until its number is reused by another
//! `mq_open` or a call on it fails with EBADF: only a call on a non-queue descriptor that does
//! not fail with EBADF could show a stale name, and there is none. A forked child inherits the
//! table with its memory, as it inherits the descriptors; `exec` closes queue descriptors and
//! starts a new table.
//!
//! Layout: a fixed table, one slot per descriptor below [`SLOTS`] (higher descriptors show no
//! queue), each holding the name inline (at most [`NAME_CAP`] bytes: `/` and NAME_MAX). It lives
//! in zero-initialised static memory, so it costs nothing until a slot is written, and nothing
//! is ever allocated or freed (so no reader can meet freed memory). Readers take no lock: each
//! slot is under a sequence lock (the emulation's [`seqlock`]: a reader copies the name and
//! retries, a few times at most, when a write ran meanwhile; then it shows no queue), with every
//! byte in atomics so a racing read is never undefined behaviour. Writers (the rare open, close
//! and dup) are serialised by one [`ForkSafe`] lock, which `fork` takes, so no slot is ever left
//! half-written in a child.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::decode::{Decoded, FieldName, Shown, Value};
use crate::call::Call;
use crate::emu::engine::seqlock::{self, Patience};
use crate::errno::Errno;
use crate::os::forksafe::ForkSafe;

/// Descriptors followed: 0 to `SLOTS - 1`.
pub const SLOTS: usize = 4096;
/// Longest name kept: the slash and NAME_MAX (255) bytes; a longer one cannot be opened.
pub const NAME_CAP: usize = 256;
const WORDS: usize = NAME_CAP / 8;
/// A reader tries a few times, spinning (never yielding) in between, then gives up: a record
/// without its queue is better than a traced call that waits.
const READ_PATIENCE: Patience = Patience { tries: 4, spins_before_yield: 4 };

struct Slot {
    /// Even: the slot is stable; odd: a writer is changing it.
    seq: AtomicU32,
    /// Length of the name; 0: no queue known for this descriptor.
    len: AtomicU32,
    /// The name's bytes, little-endian, 8 to a word.
    words: [AtomicU64; WORDS],
}

impl Slot {
    const fn new() -> Slot {
        Slot { seq: AtomicU32::new(0), len: AtomicU32::new(0), words: [const { AtomicU64::new(0) }; WORDS] }
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
static WRITER: ForkSafe<()> = ForkSafe::new((), None);

fn slot(fd: i32) -> Option<&'static Slot> {
    TABLE.get(usize::try_from(fd).ok()?)
}

/// Sets `fd`'s name (an empty `name` forgets it); a name longer than [`NAME_CAP`] is not kept.
fn write(fd: i32, name: &[u8]) {
    let Some(slot) = slot(fd) else { return };
    let name = if name.len() <= NAME_CAP { name } else { &[] };
    WRITER.with(|_| {
        seqlock::write([&slot.seq], || {
            slot.len.store(name.len() as u32, Ordering::Relaxed);
            for (word, chunk) in slot.words.iter().zip(name.chunks(8)) {
                let mut bytes = [0u8; 8];
                bytes[..chunk.len()].copy_from_slice(chunk);
                word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
            }
        })
    });
}

/// `fd` now refers to the queue `name` (a successful `mq_open`).
pub fn opened(fd: i32, name: &[u8]) {
    write(fd, name);
}

/// `fd` no longer refers to a queue.
pub fn closed(fd: i32) {
    // Most descriptors closed are not queues': no need to take the lock for those.
    if slot(fd).is_some_and(|s| s.len.load(Ordering::Relaxed) != 0) {
        write(fd, &[]);
    }
}

/// `new` now refers to what `old` refers to.
pub fn duplicated(old: i32, new: i32) {
    let mut buf = [0u8; NAME_CAP];
    match lookup(old, &mut buf) {
        Some(name) => write(new, name),
        None => closed(new),
    }
}

/// The name `fd` was opened with, copied into `buf`; None when unknown.
pub fn lookup(fd: i32, buf: &mut [u8; NAME_CAP]) -> Option<&[u8]> {
    let slot = slot(fd)?;
    let (len, words) = seqlock::read([&slot.seq], READ_PATIENCE, || {
        let len = (slot.len.load(Ordering::Relaxed) as usize).min(NAME_CAP);
        let mut words = [0u64; WORDS];
        for (copy, word) in words.iter_mut().zip(&slot.words).take(len.div_ceil(8)) {
            *copy = word.load(Ordering::Relaxed);
        }
        (len, words)
    })
    .stable()?;
    for (chunk, word) in buf.chunks_mut(8).zip(words).take(len.div_ceil(8)) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    (len > 0).then_some(&buf[..len])
}

/// The queue `call` was about, learning from it what its descriptor now refers to: the name
/// argument of `mq_open` and `mq_unlink` (when shown whole), else the name the descriptor was
/// opened with. System V calls have none (ids are global: readers map them from `msgget`).
pub fn of_call<'a>(call: &Call, args: &Decoded<'a>, outcome: Result<i64, Errno>, buf: &'a mut [u8; NAME_CAP]) -> Option<&'a [u8]> {
    if let Call::MqOpen { .. } | Call::MqUnlink { .. } = call {
        let name = args.fields().find_map(|f| match f.value {
            Value::Text(Shown { bytes, complete: true }) if f.name == FieldName::Name => Some(bytes),
            _ => None,
        });
        if let (Call::MqOpen { .. }, Ok(fd), Some(name)) = (call, outcome, name) {
            opened(fd as i32, name);
        }
        return name;
    }
    let mqdes = call.mqdes()?;
    if outcome == Err(Errno::EBADF) {
        closed(mqdes);
        return None;
    }
    let name = lookup(mqdes, buf);
    if let (Call::MqClose { .. }, Ok(_)) = (call, outcome) {
        closed(mqdes);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    // Descriptors far from those the other tests (or the test harness) might use.
    #[test]
    fn open_dup_close_and_out_of_range() {
        let mut buf = [0u8; NAME_CAP];
        assert_eq!(lookup(4000, &mut buf), None);
        opened(4000, b"/a-queue-name-longer-than-eight-bytes");
        assert_eq!(lookup(4000, &mut buf), Some(&b"/a-queue-name-longer-than-eight-bytes"[..]));
        opened(4000, b"/b");
        assert_eq!(lookup(4000, &mut buf), Some(&b"/b"[..]), "a shorter name replaces a longer one");
        duplicated(4000, 4001);
        assert_eq!(lookup(4001, &mut buf), Some(&b"/b"[..]));
        closed(4000);
        assert_eq!(lookup(4000, &mut buf), None);
        duplicated(4000, 4001);
        assert_eq!(lookup(4001, &mut buf), None, "a duplicate of a non-queue descriptor is no queue");
        let longest = [b'x'; NAME_CAP];
        opened(4002, &longest);
        assert_eq!(lookup(4002, &mut buf), Some(&longest[..]));
        closed(4002);
        opened(-1, b"/neg");
        opened(SLOTS as i32, b"/high");
        assert_eq!(lookup(-1, &mut buf), None);
        assert_eq!(lookup(SLOTS as i32, &mut buf), None);
    }

    #[test]
    fn readers_never_see_a_torn_name() {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (a, b) = ([b'a'; 200], [b'b'; 40]);
                while !stop.load(Ordering::Relaxed) {
                    opened(4010, &a);
                    opened(4010, &b);
                }
            })
        };
        let mut buf = [0u8; NAME_CAP];
        for _ in 0..200_000 {
            if let Some(name) = lookup(4010, &mut buf) {
                let whole_a = name.len() == 200 && name.iter().all(|&c| c == b'a');
                let whole_b = name.len() == 40 && name.iter().all(|&c| c == b'b');
                assert!(whole_a || whole_b, "torn read: {} bytes", name.len());
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
    }
}

#[cfg(test)]
mod call_tests {
    use super::super::decode::{decode, Scratch, NAME_PREVIEW};
    use super::*;

    /// The queue of `call` as the tracer finds it (learning from the call, as it does).
    fn queue(call: &Call, outcome: Result<i64, Errno>) -> Option<Vec<u8>> {
        let (mut name, mut payload) = ([0u8; NAME_PREVIEW], [0u8; 32]);
        // SAFETY: every pointer in the tests' calls is valid for what the call reads.
        let args = unsafe { decode(call, outcome, Scratch { name: &mut name, payload: &mut payload }) };
        let mut buf = [0u8; NAME_CAP];
        of_call(call, &args, outcome, &mut buf).map(<[u8]>::to_vec)
    }

    #[test]
    fn descriptors_carry_the_name_they_were_opened_with() {
        let open = Call::MqOpen { name: c"/jobs".as_ptr(), oflag: libc::O_RDWR, mode: 0, attr: std::ptr::null_mut(), fortify: false };
        let send = |mqdes| Call::MqSend { mqdes, msg: c"x".as_ptr(), len: 1, prio: 0, timeout: None };
        assert_eq!(queue(&send(4020), Ok(0)), None, "nothing known yet");
        assert_eq!(queue(&open, Err(Errno::ENOENT)), Some(b"/jobs".to_vec()), "a failed open names its queue");
        assert_eq!(queue(&send(4020), Ok(0)), None, "a failed open teaches nothing");
        assert_eq!(queue(&open, Ok(4020)), Some(b"/jobs".to_vec()));
        assert_eq!(queue(&send(4020), Ok(0)), Some(b"/jobs".to_vec()));
        assert_eq!(queue(&Call::MqCancel { mqdes: 4020, handle: 1 }, Err(Errno::ENOENT)), Some(b"/jobs".to_vec()));
        assert_eq!(queue(&Call::MqUnlink { name: c"/jobs".as_ptr() }, Ok(0)), Some(b"/jobs".to_vec()));
        assert_eq!(queue(&Call::MqClose { mqdes: 4020 }, Ok(0)), Some(b"/jobs".to_vec()), "the close still names it");
        assert_eq!(queue(&send(4020), Err(Errno::EBADF)), None, "then it is forgotten");
        assert_eq!(queue(&open, Ok(4021)), Some(b"/jobs".to_vec()));
        assert_eq!(queue(&send(4021), Err(Errno::EBADF)), None, "EBADF: no queue's descriptor");
        assert_eq!(queue(&send(4021), Ok(0)), None, "and forgotten");
        assert_eq!(queue(&Call::Msgsnd { id: 4020, msgp: std::ptr::null(), size: 0, flags: 0 }, Ok(0)), None, "System V: none");
    }
}
