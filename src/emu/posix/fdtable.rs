//! This process's emulated descriptors: fd number → open description.
//!
//! An emulated `mqd_t` is a real descriptor (of the queue's FIFO), so it never collides with
//! other descriptors, counts against RLIMIT_NOFILE and closes on exec. What the kernel keeps
//! per open description — the access mode and O_NONBLOCK — lives here and in the FIFO's own file
//! status flags, which `fork` and `dup` share exactly as the kernel shares a description.
//!
//! The table is a [`ForkSafe`] lock, so a child never inherits it locked.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::os::forksafe::ForkSafe;

use super::queue::Queue;

/// A queue mapped into this process.
pub struct QueueHandle {
    /// The mapped segment, shared with this process's other descriptions of the queue and
    /// with the store's cache of recently opened queues.
    pub queue: Arc<Queue>,
    /// The queue's name (without the slash), as opened.
    pub name: Vec<u8>,
    /// Identity of the queue's directory, to tell whether the name still refers to it.
    pub dir_id: (u64, u64),
    /// Identity of the FIFO, to recognise a `dup`ed descriptor.
    pub fifo_id: (u64, u64),
    /// Owner and mode as they were when opened (what `fstat` of a descriptor shows).
    pub meta: super::store::Meta,
}

/// An open description of an emulated queue, as the kernel's `struct file`.
pub struct Description {
    pub queue: Arc<QueueHandle>,
    pub read: bool,
    pub write: bool,
    /// O_NONBLOCK as last read from the FIFO's status flags, valid while the queue's
    /// `attr_generation` equals `cached_generation`.
    cached_nonblock: AtomicBool,
    cached_generation: AtomicU32,
    /// The file offset of `read`, which reads the kernel's status line (see `devmqueue`).
    pub status_pos: AtomicU64,
}

impl Description {
    pub fn new(queue: Arc<QueueHandle>, read: bool, write: bool, nonblock: bool) -> Description {
        let generation = queue.queue.header().attr_generation.load(Ordering::Acquire);
        Description {
            queue,
            read,
            write,
            cached_nonblock: AtomicBool::new(nonblock),
            cached_generation: AtomicU32::new(generation),
            status_pos: AtomicU64::new(0),
        }
    }

    /// Whether this description has O_NONBLOCK (read from the kernel only after an
    /// `mq_setattr` somewhere on this queue).
    pub fn nonblock(&self, fd: c_int) -> bool {
        let generation = self.queue.queue.header().attr_generation.load(Ordering::Acquire);
        if self.cached_generation.load(Ordering::Acquire) != generation {
            // A failure reads as "blocking".
            let flags = crate::os::sys::fcntl(fd, libc::F_GETFL, 0);
            self.cached_nonblock.store(flags >= 0 && flags & libc::O_NONBLOCK != 0, Ordering::Release);
            self.cached_generation.store(generation, Ordering::Release);
        }
        self.cached_nonblock.load(Ordering::Acquire)
    }

    /// Records O_NONBLOCK after `mq_setattr` changed it through `fd`.
    pub fn set_cached_nonblock(&self, nonblock: bool, generation: u32) {
        self.cached_nonblock.store(nonblock, Ordering::Release);
        self.cached_generation.store(generation, Ordering::Release);
    }
}

/// fd number → description (index = fd).
static TABLE: ForkSafe<Vec<Option<Arc<Description>>>> = ForkSafe::new(Vec::new(), None);
/// Set once any emulated descriptor exists, so `close()` of other descriptors stays free.
static ANY: AtomicBool = AtomicBool::new(false);
/// One bit per descriptor below `BITMAP_FDS` that may be emulated: a lock-free first check for
/// poll/select/epoll_ctl, which see many descriptors.
const BITMAP_FDS: usize = 4096;
static MAYBE: [AtomicU64; BITMAP_FDS / 64] = [const { AtomicU64::new(0) }; BITMAP_FDS / 64];

fn mark(i: usize, on: bool) {
    if i < BITMAP_FDS {
        let bit = 1u64 << (i % 64);
        if on {
            MAYBE[i / 64].fetch_or(bit, Ordering::Relaxed);
        } else {
            MAYBE[i / 64].fetch_and(!bit, Ordering::Relaxed);
        }
    }
}

/// False when `fd` is certainly not an emulated descriptor (no lock taken).
pub fn maybe_emulated(fd: c_int) -> bool {
    match usize::try_from(fd) {
        Ok(i) if i < BITMAP_FDS => MAYBE[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0,
        Ok(_) => any(),
        Err(_) => false,
    }
}

fn with<R>(f: impl FnOnce(&mut Vec<Option<Arc<Description>>>) -> R) -> R {
    TABLE.with(f)
}

/// Whether this process has ever had an emulated descriptor.
pub fn any() -> bool {
    ANY.load(Ordering::Relaxed)
}

/// Records `fd` as referring to `d`.
pub fn insert(fd: c_int, d: Arc<Description>) {
    ANY.store(true, Ordering::Relaxed);
    let Ok(i) = usize::try_from(fd) else { return };
    with(|e| {
        if e.len() <= i {
            e.resize(i + 1, None);
        }
        e[i] = Some(d);
        mark(i, true);
    });
}

/// The description `fd` refers to, if it is an emulated descriptor.
pub fn get(fd: c_int) -> Option<Arc<Description>> {
    let i = usize::try_from(fd).ok()?;
    with(|e| e.get(i).cloned().flatten())
}

/// Forgets `fd`, returning what it referred to.
pub fn remove(fd: c_int) -> Option<Arc<Description>> {
    let i = usize::try_from(fd).ok()?;
    if !any() {
        return None;
    }
    with(|e| {
        mark(i, false);
        e.get_mut(i).and_then(Option::take)
    })
}

/// Whether a descriptor of this process still refers to the mapping `queue`.
pub fn describes(queue: &Arc<Queue>) -> bool {
    with(|e| e.iter().flatten().any(|d| Arc::ptr_eq(&d.queue.queue, queue)))
}

/// Every (fd, description) pair, for finding what an unknown descriptor duplicates.
pub fn snapshot() -> Vec<(c_int, Arc<Description>)> {
    with(|e| e.iter().enumerate().filter_map(|(i, d)| d.clone().map(|d| (i as c_int, d))).collect())
}

/// Identity (device, inode) of an open descriptor, and whether it is a FIFO.
pub fn identity(fd: c_int) -> Option<((u64, u64), bool)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid out-pointer; fstat validates fd.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded.
    let st = unsafe { st.assume_init() };
    Some(((st.st_dev, st.st_ino), st.st_mode & libc::S_IFMT == libc::S_IFIFO))
}

/// The description of `fd`, including a descriptor made by `dup`/`fcntl(F_DUPFD)` of an emulated
/// one (found by comparing open file descriptions with `kcmp`) — which is then remembered.
pub fn resolve(fd: c_int) -> Option<Arc<Description>> {
    if let Some(d) = get(fd) {
        return Some(d);
    }
    if !any() {
        return None;
    }
    let (id, is_fifo) = identity(fd)?;
    if !is_fifo {
        return None;
    }
    let pid = crate::os::ids::pid();
    let candidates: Vec<_> = snapshot().into_iter().filter(|(_, d)| d.queue.fifo_id == id).collect();
    const KCMP_FILE: c_int = 0;
    let mut kcmp_unavailable = false;
    let same = candidates.iter().find(|(other, _)| {
        // SAFETY: kcmp compares two of our own descriptors; no memory is passed.
        let r = unsafe { libc::syscall(libc::SYS_kcmp, pid, pid, KCMP_FILE, fd, *other) };
        kcmp_unavailable |= r < 0;
        r == 0
    });
    // Without kcmp (seccomp, old kernel), a FIFO of an open queue is taken to be a duplicate of
    // the first descriptor of that queue.
    let found = same.or(if kcmp_unavailable { candidates.first() } else { None }).map(|(_, d)| d.clone())?;
    insert(fd, found.clone());
    Some(found)
}

// ----- what the process's descriptor functions tell the table (through the backend seam) -----

/// Whether `fd` is an emulated descriptor now.
pub fn owns(fd: c_int) -> bool {
    maybe_emulated(fd) && get(fd).is_some()
}

/// Forgets `fd` if it is an emulated descriptor about to be closed, returning its description.
pub fn take(fd: c_int) -> Option<Arc<Description>> {
    if !maybe_emulated(fd) {
        return None;
    }
    remove(fd)
}

/// `new` now refers to what `old` refers to (after a successful `dup`, `dup2`, `dup3` or
/// `F_DUPFD`).
pub fn duplicated(old: c_int, new: c_int) {
    if let Some(d) = get(old) {
        insert(new, d);
    }
}

/// `fd` was passed to poll, select or epoll: if it is an emulated descriptor (a duplicate made
/// behind mqshim's back included), its queue's readiness is kept from now on.
pub fn polled(fd: c_int) {
    if maybe_emulated(fd) {
        if let Some(d) = resolve(fd) {
            super::ready::arm(&d.queue.queue, fd);
        }
    }
}
