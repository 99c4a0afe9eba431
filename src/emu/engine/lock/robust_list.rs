//! The calling thread's robust futex list, shared with glibc: how the kernel learns, when a
//! thread dies, which of the emulation's locks it held.
//!
//! The kernel keeps one robust list per thread (`set_robust_list(2)`), which glibc registers
//! when the thread starts: a chain of entries in user memory, each `futex_offset` bytes after a
//! lock word, plus one "operation pending" entry. When the thread dies, the kernel walks it and
//! every word there that still names the thread becomes OWNER_DIED, waking one sleeper. glibc
//! links its robust mutexes into it; this module links the emulation's locks into the same
//! list, at glibc's offset (a `RobustMutex` keeps its link where glibc's mutex keeps its own).
//!
//! What differs from glibc's mutexes — and why the emulation does not use them — is trust: the
//! links of a lock in a queue's segment are in memory that other processes may write, and glibc
//! follows them (unlinking a mutex writes through its neighbours' links). This module never
//! reads a link from shared memory. It keeps the shape of the list in the thread's own memory
//! ([`Held`]: which locks it linked, in order, and what each one's link says) and only writes
//! the shared links, for the kernel's walk. A process that garbles a link can at worst end the
//! kernel's walk early should this thread die (the kernel reads user memory safely and stops
//! after `ROBUST_LIST_LIMIT` entries); it cannot make this thread follow it.
//!
//! Between two operations of this module only this library's code runs on the thread (a queue
//! call), so its entries lead the list. The exception is a signal handler that interrupts a call
//! and takes or releases glibc robust mutexes (not async-signal-safe, but possible): if the head
//! is then not where this module left it, [`ThisThread::unlink`] finds the entry in front by
//! walking from the head, as glibc would.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{compiler_fence, AtomicUsize, Ordering};

/// The kernel's `struct robust_list_head` (glibc keeps it in its thread descriptor).
#[repr(C)]
struct Head {
    /// The first entry, or the head's own address when the list is empty.
    list: usize,
    /// Where an entry's lock word is, relative to the entry.
    futex_offset: isize,
    /// An entry being linked or unlinked: the kernel checks its word too.
    list_op_pending: usize,
}

/// glibc's `futex_offset` on 64-bit targets: its mutex's lock word is 32 bytes before the link
/// (`__list.__next`). A [`super::RobustMutex`] has the same shape.
pub const FUTEX_OFFSET: isize = -32;

/// How many of the emulation's locks a thread can hold at once and still be robust (queue
/// calls nest at most a registry lock, a queue lock, both ring sides and a life lock). Past
/// it a lock still works but is not on the list: a holder dying would leave it to the
/// corruption check (`owner_is_impossible`).
pub const CAPACITY: usize = 16;

/// What this module knows of the calling thread's list.
struct Held {
    /// The thread's list head; null until looked up.
    head: Cell<*mut Head>,
    /// The fork generation `entries` belong to: a forked child's list starts empty.
    generation: Cell<u32>,
    len: Cell<usize>,
    /// The linked entries, oldest (deepest in the list) first.
    entries: [Cell<usize>; CAPACITY],
    /// What each entry's link says: the entry after it.
    nexts: [Cell<usize>; CAPACITY],
}

thread_local! {
    static HELD: Held = const {
        Held {
            head: Cell::new(std::ptr::null_mut()),
            generation: Cell::new(0),
            len: Cell::new(0),
            entries: [const { Cell::new(0) }; CAPACITY],
            nexts: [const { Cell::new(0) }; CAPACITY],
        }
    };
    /// A head of the module's own, for a thread that has none registered (one not started by
    /// glibc's `pthread_create`).
    static OWN_HEAD: UnsafeCell<Head> = const { UnsafeCell::new(Head { list: 0, futex_offset: FUTEX_OFFSET, list_op_pending: 0 }) };
}

/// The calling thread's list, for the length of one lock operation.
pub struct ThisThread<'a> {
    held: &'a Held,
    head: *mut Head,
}

/// Runs `f` with the calling thread's list. `None` when the thread has no usable head (its
/// `futex_offset` is not glibc's): its locks are then not robust.
#[inline]
pub fn with<R>(f: impl FnOnce(Option<&ThisThread<'_>>) -> R) -> R {
    HELD.with(|held| {
        let mut head = held.head.get();
        if head.is_null() {
            head = look_up_head();
            held.head.set(head);
        }
        if held.len.get() != 0 && held.generation.get() != crate::os::ids::fork_generation() {
            // A forked child: glibc emptied its list; so is this record.
            held.len.set(0);
        }
        if head as usize == 1 {
            return f(None);
        }
        f(Some(&ThisThread { held, head }))
    })
}

/// The calling thread's list head: glibc's, or one registered here when the thread has none;
/// `1` as a pointer when the registered one is not laid out like glibc's.
#[cold]
fn look_up_head() -> *mut Head {
    let mut head: *mut Head = std::ptr::null_mut();
    let mut len: usize = 0;
    // SAFETY: get_robust_list(0, ...) writes the calling thread's head pointer and length into
    // the two out-pointers, which are valid.
    let rc = unsafe { libc::syscall(libc::SYS_get_robust_list, 0, &mut head, &mut len) };
    if rc == 0 && !head.is_null() {
        // SAFETY: the registered head is the thread's own (glibc's descriptor), readable for
        // the thread's life.
        let offset = unsafe { std::ptr::read_volatile(&raw const (*head).futex_offset) };
        return if offset == FUTEX_OFFSET && len == std::mem::size_of::<Head>() { head } else { 1 as *mut Head };
    }
    OWN_HEAD.with(|own| {
        let own = own.get();
        // SAFETY: the thread's own head, which lives as long as the thread (a const-initialised
        // thread-local without a destructor); the kernel reads it when the thread exits.
        unsafe {
            (*own).list = own as usize;
            if libc::syscall(libc::SYS_set_robust_list, own, std::mem::size_of::<Head>()) == 0 {
                own
            } else {
                1 as *mut Head
            }
        }
    })
}

impl ThisThread<'_> {
    /// Declares `entry` (a lock's link) the operation in progress, or none (0): should the
    /// thread die before the operation is over, the kernel checks that lock's word too.
    #[inline]
    pub fn pending(&self, entry: usize) {
        compiler_fence(Ordering::SeqCst);
        // SAFETY: the head is the thread's own (see `look_up_head`), written only by this thread.
        unsafe { std::ptr::write_volatile(&raw mut (*self.head).list_op_pending, entry) };
        compiler_fence(Ordering::SeqCst);
    }

    /// Links the lock whose link is `link`, just taken, at the head of the list.
    #[inline]
    pub fn link(&self, link: &AtomicUsize) {
        let held = self.held;
        let len = held.len.get();
        if len == CAPACITY {
            return;
        }
        let entry = link.as_ptr() as usize;
        // SAFETY: the head is the thread's own, changed only by this thread.
        let first = unsafe { std::ptr::read_volatile(&raw const (*self.head).list) };
        link.store(first, Ordering::Relaxed);
        held.entries[len].set(entry);
        held.nexts[len].set(first);
        if len == 0 {
            held.generation.set(crate::os::ids::fork_generation());
        }
        held.len.set(len + 1);
        compiler_fence(Ordering::SeqCst);
        // SAFETY: as above.
        unsafe { std::ptr::write_volatile(&raw mut (*self.head).list, entry) };
    }

    /// Unlinks the lock whose link is `link`, about to be released: the entry in front of it
    /// (or the head) takes over its successor, as this thread recorded it.
    #[inline]
    pub fn unlink(&self, link: &AtomicUsize) {
        let held = self.held;
        let len = held.len.get();
        let entry = link.as_ptr() as usize;
        let Some(i) = (0..len).rev().find(|&i| held.entries[i].get() == entry) else { return };
        let after = held.nexts[i].get();
        // SAFETY: the head is the thread's own, changed only by this thread.
        let first = unsafe { std::ptr::read_volatile(&raw const (*self.head).list) };
        if i + 1 == len {
            if first == entry {
                // SAFETY: as above.
                unsafe { std::ptr::write_volatile(&raw mut (*self.head).list, after) };
            } else {
                self.unlink_behind_others(first, entry, after);
            }
        } else {
            // The entry in front of it is the emulation's own, whose link is written, not read.
            let front = held.entries[i + 1].get();
            // SAFETY: `front` is the link of a lock this thread holds, in memory mapped while
            // it is held; written atomically, as another process may read it.
            unsafe { (*(front as *const AtomicUsize)).store(after, Ordering::Relaxed) };
            held.nexts[i + 1].set(after);
        }
        for j in i..len - 1 {
            held.entries[j].set(held.entries[j + 1].get());
            held.nexts[j].set(held.nexts[j + 1].get());
        }
        held.len.set(len - 1);
    }

    /// Unlinks `entry` when entries that are not the emulation's were linked in front of it
    /// (by a signal handler): walks from the head, as glibc does, to the one whose link names
    /// it. Those entries are glibc mutexes of the program's, which glibc follows too.
    #[cold]
    fn unlink_behind_others(&self, first: usize, entry: usize, after: usize) {
        let mut at = first & !1;
        for _ in 0..64 {
            if at == 0 || at == self.head as usize {
                return;
            }
            // SAFETY: `at` is an entry the program's glibc linked into this thread's list (a
            // mutex it holds: its link is its memory, mapped while held).
            let next = unsafe { std::ptr::read_volatile(at as *const usize) };
            if next & !1 == entry {
                // SAFETY: as above; the low bit (glibc's PI flag for the next entry) is kept.
                unsafe { std::ptr::write_volatile(at as *mut usize, after | (next & 1)) };
                return;
            }
            at = next & !1;
        }
    }
}

#[cfg(test)]
/// How many of the emulation's locks the calling thread has on its list.
pub fn held_count() -> usize {
    with(|list| list.map_or(0, |list| list.held.len.get()))
}
