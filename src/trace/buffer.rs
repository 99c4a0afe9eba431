//! Per-process trace buffers in shared memory: how a traced process hands its records to the
//! `mqshim trace` collector without a system call per record.
//!
//! With `MQSHIM_TRACE=shm:DIR`, each process (each program image: an exec makes a new one) creates
//! `DIR/<pid>.<n>.mqtrace` on its first record, reserves its pages (`fallocate`: a full
//! filesystem disables tracing with a message, never a SIGBUS later), maps it, and appends
//! binary records ([`super::wire`]) to a ring in it. The collector maps the same file, reads
//! committed records, zeroes what it consumed and advances the read position. Because the ring
//! is the file's memory, everything a process recorded is there even if it is killed by
//! SIGKILL, and the entry record of a call that blocks is visible at once.
//!
//! Writers (the process's threads) reserve space with a compare-and-swap on `write`, copy the
//! record, then publish its length word with release ordering: a reader that sees a non-zero
//! length sees the whole record. **When the ring is full the record is dropped and `lost`
//! counted** (a traced call never waits for the collector); the collector reports each increase
//! as a "lost N records" record.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use super::wire::{self, Kind, OwnedRecord, HEAD};

/// "MQSHTRC\0"
pub const MAGIC: u64 = u64::from_le_bytes(*b"MQSHTRC\0");
pub const VERSION: u32 = 1;
/// Bytes before the ring: the header (one page), then the thread slots.
pub const HEADER_BYTES: usize = 4096 + THREAD_SLOTS * std::mem::size_of::<ThreadSlot>();
/// Threads of one process whose blocking calls are shown while they block (more threads use
/// entry records in the ring instead).
pub const THREAD_SLOTS: usize = 384;
/// Default ring size (bytes of records) of each process: ~7 000 records, 100 collector reads a
/// second; reserved in full when the process starts tracing (so 1 000 live traced processes hold
/// 1 GiB of /dev/shm).
pub const DEFAULT_CAPACITY: usize = 1 << 20;
/// Smallest and largest accepted ring sizes.
pub const MIN_CAPACITY: usize = 4096;
pub const MAX_CAPACITY: usize = 1 << 30;
/// The file name suffix of a buffer.
pub const SUFFIX: &str = ".mqtrace";

/// The start of a buffer file. `write` and `read` are byte positions that only grow; the ring
/// offset of a position is `position % capacity`.
#[repr(C)]
pub struct Header {
    pub magic: u64,
    pub version: u32,
    pub header_bytes: u32,
    pub pid: i32,
    pub ppid: i32,
    pub capacity: u64,
    /// CLOCK_REALTIME when the buffer was made (ns since the epoch).
    pub created_ns: u64,
    /// The program (`/proc/self/comm`), NUL-padded.
    pub program: [u8; 16],
    _pad0: [u64; 2],
    /// End of the space reserved by writers.
    pub write: AtomicU64,
    _pad1: [u64; 7],
    /// End of what the collector has consumed.
    pub read: AtomicU64,
    _pad2: [u64; 7],
    /// Records dropped because the ring was full.
    pub lost: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<Header>() <= 4096);

/// What one thread is doing, for the collector: the call that may block it, while it runs.
/// The thread writes the fields, then `seq` (release); it clears `seq` when the call returns,
/// before it writes the call's record. A reader reads `seq`, the fields, then `seq` again.
#[repr(C)]
pub struct ThreadSlot {
    /// The running call's number ([`super::Stopwatch`]'s), or 0: no call that may block.
    pub seq: AtomicU64,
    /// The thread that claimed this slot, or 0: free.
    pub tid: std::sync::atomic::AtomicI32,
    /// The call, as its index in `call::NAMES` ([`crate::call::Call::number`]).
    pub call: AtomicU32,
    /// CLOCK_REALTIME at the call's start, ns since the epoch.
    pub start_ns: AtomicU64,
    /// Its first argument (the descriptor or msqid).
    pub arg: std::sync::atomic::AtomicI64,
}

/// A call seen running in a thread slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Running {
    pub tid: i32,
    pub seq: u64,
    pub call: &'static str,
    pub start_ns: u64,
    pub arg: i64,
}

/// A mapped buffer file.
pub struct Mapped {
    base: *mut u8,
    bytes: usize,
}

// SAFETY: the mapping is shared memory accessed only through atomics (header words, length
// words) and through byte copies ordered by them; the pointer itself is never freed while a
// `Mapped` exists.
unsafe impl Send for Mapped {}
// SAFETY: as above.
unsafe impl Sync for Mapped {}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: base/bytes are the mapping made in `map`, unmapped once here.
        unsafe { libc::munmap(self.base.cast(), self.bytes) };
    }
}

impl Mapped {
    fn map(fd: libc::c_int, bytes: usize, populate: libc::c_int) -> Option<Mapped> {
        // SAFETY: a new shared mapping of an open file of at least `bytes` bytes.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), bytes, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | populate, fd, 0) };
        if p == libc::MAP_FAILED {
            return None;
        }
        Some(Mapped { base: p.cast(), bytes })
    }

    pub fn header(&self) -> &Header {
        // SAFETY: the mapping is at least HEADER_BYTES long and page-aligned; Header is
        // repr(C) integers and atomics, valid for any bytes.
        unsafe { &*self.base.cast::<Header>() }
    }

    fn slot(&self, i: usize) -> &ThreadSlot {
        assert!(i < THREAD_SLOTS);
        // SAFETY: the slots follow the first page, inside the header area of the mapping;
        // ThreadSlot is atomics only, valid for any bytes.
        unsafe { &*self.base.add(4096).cast::<ThreadSlot>().add(i) }
    }

    /// Claims a free thread slot for `tid`.
    fn claim_slot(&self, tid: i32) -> Option<usize> {
        (0..THREAD_SLOTS).find(|&i| self.slot(i).tid.compare_exchange(0, tid, Ordering::AcqRel, Ordering::Relaxed).is_ok())
    }

    /// The calls that may block and are running now (the collector).
    pub fn running(&self) -> Vec<Running> {
        let mut out = Vec::new();
        for i in 0..THREAD_SLOTS {
            let s = self.slot(i);
            if s.tid.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let seq = s.seq.load(Ordering::Acquire);
            if seq == 0 {
                continue;
            }
            let r = Running {
                tid: s.tid.load(Ordering::Relaxed),
                seq,
                call: wire::call_name(s.call.load(Ordering::Relaxed)),
                start_ns: s.start_ns.load(Ordering::Relaxed),
                arg: s.arg.load(Ordering::Relaxed),
            };
            std::sync::atomic::fence(Ordering::Acquire);
            if s.seq.load(Ordering::Relaxed) == seq {
                out.push(r);
            }
        }
        out
    }

    fn capacity(&self) -> usize {
        self.bytes - HEADER_BYTES
    }

    fn ring(&self) -> *mut u8 {
        // SAFETY: HEADER_BYTES < bytes: the ring starts inside the mapping.
        unsafe { self.base.add(HEADER_BYTES) }
    }

    /// The length word of the record at ring offset `at` (8-aligned).
    fn len_word(&self, at: usize) -> &AtomicU32 {
        debug_assert!(at % 8 == 0 && at + 4 <= self.capacity());
        // SAFETY: at is 8-aligned and inside the ring (callers keep at < capacity, a multiple
        // of 8); the word is only accessed atomically.
        unsafe { &*self.ring().add(at).cast::<AtomicU32>() }
    }

    /// Reserves `len` bytes (a multiple of 8, at least a record head) for one record. None
    /// (and `lost` counted) when they do not fit: the ring is full.
    pub fn reserve(&self, len: usize) -> Option<Slot<'_>> {
        let h = self.header();
        let cap = self.capacity() as u64;
        let len = len as u64;
        if len > cap || len < HEAD as u64 || len % 8 != 0 {
            h.lost.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut w = h.write.load(Ordering::Relaxed);
        let (start, pad) = loop {
            let r = h.read.load(Ordering::Acquire);
            let pos = w % cap;
            let pad = if pos + len > cap { cap - pos } else { 0 };
            if w + pad + len - r > cap {
                h.lost.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match h.write.compare_exchange_weak(w, w + pad + len, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break (w, pad),
                Err(now) => w = now,
            }
        };
        if pad > 0 {
            let at = (start % cap) as usize;
            // SAFETY: `pad` bytes from `at` are ours (reserved above) and inside the ring; a
            // padding record is its kind byte and its length word.
            unsafe { *self.ring().add(at + 4) = Kind::Padding as u8 };
            self.len_word(at).store(pad as u32, Ordering::Release);
        }
        Some(Slot { map: self, at: ((start + pad) % cap) as usize, len: len as usize })
    }

    /// Appends one encoded record (`record.len()` a multiple of 8). False (and `lost` counted)
    /// when it does not fit. (The library encodes straight into a [`Slot`]; tests append bytes.)
    #[cfg(test)]
    pub fn append(&self, record: &[u8]) -> bool {
        match self.reserve(record.len()) {
            Some(mut slot) => {
                slot.bytes().copy_from_slice(record);
                slot.commit();
                true
            }
            None => false,
        }
    }

    /// Reads every committed record after the read position into `out`, zeroing and releasing
    /// the space. With `writer_gone`, an unpublished record (its writer died while copying it)
    /// ends the buffer: what follows it can never be published.
    pub fn drain(&self, out: &mut Vec<OwnedRecord>, writer_gone: bool) -> usize {
        let h = self.header();
        let cap = self.capacity() as u64;
        let mut r = h.read.load(Ordering::Relaxed);
        let w = h.write.load(Ordering::Acquire);
        let mut bad = 0;
        while r < w {
            let at = (r % cap) as usize;
            let len = self.len_word(at).load(Ordering::Acquire) as u64;
            let broken = len == 0 || len % 8 != 0 || at as u64 + len > cap;
            if broken {
                if len == 0 && !writer_gone {
                    break; // being written
                }
                // Corrupt or never published: nothing after it can be found; drop the rest.
                bad += 1;
                self.zero(r, w);
                r = w;
                break;
            }
            // SAFETY: the record's `len` bytes at `at` are inside the ring and published.
            let bytes = unsafe { std::slice::from_raw_parts(self.ring().add(at), len as usize) };
            // SAFETY: as above; byte 4 is the kind.
            let kind = unsafe { *self.ring().add(at + 4) };
            if kind != Kind::Padding as u8 {
                match wire::decode(bytes) {
                    Some(rec) => out.push(rec),
                    None => bad += 1,
                }
            }
            self.zero(r, r + len);
            r += len;
        }
        h.read.store(r, Ordering::Release);
        bad
    }

    /// Zeroes ring positions [from, to) (not more than one lap).
    fn zero(&self, from: u64, to: u64) {
        let cap = self.capacity() as u64;
        let mut p = from;
        while p < to {
            let at = p % cap;
            let n = (to - p).min(cap - at);
            // SAFETY: [at, at+n) is inside the ring and consumed: no writer owns it until the
            // read position moves past it.
            unsafe { std::ptr::write_bytes(self.ring().add(at as usize), 0, n as usize) };
            p += n;
        }
    }
}

/// Space reserved in a ring for one record: written through [`Slot::bytes`], then published
/// by [`Slot::commit`] (a slot dropped without it is never read: the collector skips it once
/// its writer is gone).
pub struct Slot<'m> {
    map: &'m Mapped,
    at: usize,
    len: usize,
}

impl Slot<'_> {
    /// The reserved bytes. Their first four (the length word) are written by `commit` only.
    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: [at, at+len) is inside the ring and reserved for this slot alone: no other
        // writer reserves it, and the reader does not look past the length word until commit.
        unsafe { std::slice::from_raw_parts_mut(self.map.ring().add(self.at), self.len) }
    }

    /// Publishes the record.
    pub fn commit(self) {
        self.map.len_word(self.at).store(self.len as u32, Ordering::Release);
    }
}

/// Opens and maps an existing buffer file for reading (the collector).
pub fn open(path: &std::path::Path) -> std::io::Result<Mapped> {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
    let bytes = f.metadata()?.len() as usize;
    if bytes <= HEADER_BYTES || bytes > HEADER_BYTES + MAX_CAPACITY {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a trace buffer (size)"));
    }
    let m = Mapped::map(f.as_raw_fd(), bytes, 0).ok_or_else(std::io::Error::last_os_error)?;
    let h = m.header();
    if h.magic != MAGIC || h.version != VERSION || h.capacity as usize != bytes - HEADER_BYTES || h.capacity % 8 != 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a trace buffer (header)"));
    }
    Ok(m)
}

/// The writer's side: the process's buffer, made on its first record (again in a forked child).
/// A supervisor (`mqshim run` on a statically linked program) writes the records of the
/// processes it serves, each into that process's own buffer: every buffer made is kept in a
/// list, and `current` is the one used last.
pub struct Writer {
    dir: Vec<u8>,
    capacity: usize,
    current: AtomicPtr<Owned>,
    /// Every buffer this writer made (a forked child's list holds its parent's too), newest
    /// first, linked through [`Owned::next`]; never shortened.
    all: AtomicPtr<Owned>,
    /// Set once creating a buffer failed and was reported: tracing then stops quietly.
    failed: AtomicU32,
}

thread_local! {
    /// This thread's slot: (the buffer's address, the slot's index; 0 when it has none), and
    /// how many calls that may block it has made (their numbers pair an entry with its record).
    static THREAD_SLOT: std::cell::Cell<(usize, usize, u64)> = const { std::cell::Cell::new((0, 0, 0)) };
    /// Frees the slot when the thread exits.
    static SLOT_RELEASE: SlotRelease = const { SlotRelease(std::cell::Cell::new(None)) };
}

/// Frees a thread's slot when the thread exits (buffers are never unmapped while the process
/// could use them: see [`Writer::buffer`]).
struct SlotRelease(std::cell::Cell<Option<(usize, usize)>>);

impl SlotRelease {
    fn set(&self, v: Option<(usize, usize)>) {
        self.0.set(v);
    }
}

impl Drop for SlotRelease {
    fn drop(&mut self) {
        if let Some((map, i)) = self.0.get() {
            // SAFETY: `map` is the address of a leaked `Owned`'s mapping (never freed or
            // unmapped while the process runs: see `Writer::buffer`).
            let m = unsafe { &*(map as *const Mapped) };
            let s = m.slot(i);
            s.seq.store(0, Ordering::Relaxed);
            s.tid.store(0, Ordering::Release);
        }
    }
}

/// A buffer and the process that made it.
struct Owned {
    pid: libc::pid_t,
    map: Mapped,
    next: *const Owned,
}

/// The buffer of `pid` in the list that starts at `head`.
fn find(mut head: *const Owned, pid: libc::pid_t) -> Option<&'static Owned> {
    // SAFETY: the list's entries were leaked from Boxes (`Writer::buffer`) and are never freed.
    while let Some(o) = unsafe { head.as_ref() } {
        if o.pid == pid {
            return Some(o);
        }
        head = o.next;
    }
    None
}

impl Writer {
    pub fn new(dir: Vec<u8>, capacity: usize) -> Writer {
        Writer { dir, capacity, current: AtomicPtr::new(std::ptr::null_mut()), all: AtomicPtr::new(std::ptr::null_mut()), failed: AtomicU32::new(0) }
    }

    /// Appends `record` to this process's buffer.
    #[cfg(test)]
    pub fn append(&self, record: &[u8], pid: libc::pid_t) {
        if let Some(m) = self.buffer(pid) {
            m.append(record);
        }
    }

    /// Shows that this thread's call (which may block) is running. Returns the call's number
    /// (the thread's count of such calls), and whether the thread has a slot: without one the
    /// caller records an entry record instead.
    pub fn running(&self, call: usize, start_ns: u64, arg: i64, pid: libc::pid_t, tid: libc::pid_t) -> (u64, bool) {
        let Some(m) = self.buffer(pid) else { return (0, true) };
        let key = m as *const Mapped as usize;
        let (seq, slot) = THREAD_SLOT.with(|c| {
            let (mut map, mut i, calls) = c.get();
            let seq = calls.wrapping_add(1).max(1);
            if map != key {
                // First call of this thread in this buffer (again after fork or exec).
                match m.claim_slot(tid) {
                    Some(claimed) => {
                        (map, i) = (key, claimed);
                        SLOT_RELEASE.with(|r| r.set(Some((key, claimed))));
                    }
                    None => map = 0,
                }
            }
            c.set((map, i, seq));
            (seq, (map == key).then_some(i))
        });
        let Some(i) = slot else { return (seq, false) };
        let s = m.slot(i);
        s.call.store(call as u32, Ordering::Relaxed);
        s.start_ns.store(start_ns, Ordering::Relaxed);
        s.arg.store(arg, Ordering::Relaxed);
        s.seq.store(seq, Ordering::Release);
        (seq, true)
    }

    /// The call this thread showed running has returned.
    pub fn returned(&self, pid: libc::pid_t) {
        let Some(m) = self.buffer(pid) else { return };
        THREAD_SLOT.with(|c| {
            let (map, i, _) = c.get();
            if map == m as *const Mapped as usize {
                m.slot(i).seq.store(0, Ordering::Release);
            }
        });
    }

    /// Encodes `record` straight into this process's buffer.
    pub fn write(&self, kind: Kind, record: &super::Record<'_>, seq: u64) {
        let Some(m) = self.buffer(record.pid) else { return };
        if let Some(mut slot) = m.reserve(wire::encoded_len(record)) {
            wire::encode(kind, record, seq, slot.bytes());
            slot.commit();
        }
    }

    fn buffer(&self, pid: libc::pid_t) -> Option<&Mapped> {
        let p = self.current.load(Ordering::Acquire);
        // SAFETY: a non-null `current` is an entry of `all`, leaked from a Box below and never
        // freed (a forked child's copy of its parent's buffer stays mapped, unused).
        if let Some(o) = unsafe { p.as_ref() } {
            if o.pid == pid {
                return Some(&o.map);
            }
        }
        let mut head = self.all.load(Ordering::Acquire);
        if let Some(o) = find(head, pid) {
            self.current.store(o as *const Owned as *mut Owned, Ordering::Release);
            return Some(&o.map);
        }
        if self.failed.load(Ordering::Relaxed) != 0 {
            return None;
        }
        let made = match self.create(pid) {
            Ok(m) => Box::into_raw(Box::new(Owned { pid, map: m, next: head })),
            Err(why) => {
                if self.failed.swap(1, Ordering::Relaxed) == 0 {
                    let msg = format!("MQSHIM_TRACE: cannot make a trace buffer in '{}': {why}; tracing disabled", String::from_utf8_lossy(&self.dir));
                    crate::os::stderr::report(&msg);
                }
                return None;
            }
        };
        loop {
            match self.all.compare_exchange(head, made, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    self.current.store(made, Ordering::Release);
                    // SAFETY: `made` was just leaked and is now published; never freed.
                    return Some(unsafe { &(*made).map });
                }
                Err(now) => {
                    if let Some(o) = find(now, pid) {
                        // Another thread made this process's buffer first: use it, remove ours.
                        // SAFETY: `made` was never published; reclaim it (dropping unmaps).
                        let ours = unsafe { Box::from_raw(made) };
                        self.remove_file(ours.pid, &ours.map);
                        drop(ours);
                        return Some(&o.map);
                    }
                    // Another process's buffer was added: ours goes in front of it.
                    head = now;
                    // SAFETY: `made` is ours alone until published.
                    unsafe { (*made).next = head };
                }
            }
        }
    }

    fn remove_file(&self, pid: libc::pid_t, m: &Mapped) {
        // Files are named by pid and creation time; see `create`.
        let name = file_name(&self.dir, pid, m.header().created_ns);
        // SAFETY: name is NUL-terminated.
        unsafe { libc::unlink(name.as_ptr().cast()) };
    }

    fn create(&self, pid: libc::pid_t) -> Result<Mapped, String> {
        let bytes = HEADER_BYTES + self.capacity;
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: a valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
        let mut created_ns = now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64;
        let fd = loop {
            let name = file_name(&self.dir, pid, created_ns);
            // SAFETY: name is NUL-terminated. 0600: only this user (and the collector, run by
            // it) reads what the program sent.
            let fd = unsafe { libc::open(name.as_ptr().cast(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC | libc::O_NOFOLLOW, 0o600) };
            if fd >= 0 {
                break fd;
            }
            if crate::errno::current() != libc::EEXIST {
                return Err(nix::errno::Errno::last().desc().to_string());
            }
            created_ns += 1; // an exec within the same nanosecond: the next name
        };
        let fd = crate::os::sys::move_high(fd);
        let done = (|| {
            if crate::os::sys::fallocate(fd, 0, 0, bytes as u64) != 0 {
                return Err(nix::errno::Errno::last().desc().to_string());
            }
            let m = Mapped::map(fd, bytes, libc::MAP_POPULATE).ok_or_else(|| nix::errno::Errno::last().desc().to_string())?;
            let h = m.base.cast::<Header>();
            let mut program = [0u8; 16];
            if let Ok(comm) = std::fs::read("/proc/self/comm") {
                let comm = comm.strip_suffix(b"\n").unwrap_or(&comm);
                let n = comm.len().min(15);
                program[..n].copy_from_slice(&comm[..n]);
            }
            // SAFETY: h points at the start of the new mapping, zero-filled and ours alone
            // until the magic is written (the collector ignores a file without it).
            unsafe {
                (*h).version = VERSION;
                (*h).header_bytes = HEADER_BYTES as u32;
                (*h).pid = pid;
                (*h).ppid = super::caller_ppid();
                (*h).capacity = self.capacity as u64;
                (*h).created_ns = created_ns;
                (*h).program = program;
                std::sync::atomic::fence(Ordering::Release);
                std::ptr::write_volatile(std::ptr::addr_of_mut!((*h).magic), MAGIC);
            }
            Ok(m)
        })();
        crate::os::sys::close(fd);
        if done.is_err() {
            let name = file_name(&self.dir, pid, created_ns);
            // SAFETY: name is NUL-terminated.
            unsafe { libc::unlink(name.as_ptr().cast()) };
        }
        done
    }
}

/// `DIR/<pid>.<created_ns>.mqtrace`, NUL-terminated.
fn file_name(dir: &[u8], pid: libc::pid_t, created_ns: u64) -> Vec<u8> {
    let mut v = dir.to_vec();
    v.extend_from_slice(format!("/{pid}.{created_ns}{SUFFIX}\0").as_bytes());
    v
}

#[cfg(test)]
mod tests;
