//! The life of a shared segment file, once for every kind of segment (a POSIX queue, a System V
//! queue, the System V registry): what differs between kinds is a [`SegmentKind`] and the rest
//! of each header, which its own module lays out and checks.
//!
//! - **Create aside** ([`create_aside`]): the file is made owner-only under a name nobody else
//!   looks up (or before anything names it), sized and mapped; dropped before [`Aside::keep`], it
//!   is removed again, so a failure never leaves a half-built file behind.
//! - **Initialise**: the owner fills its header through a raw pointer while no one else can see it.
//! - **Version last** ([`publish`]): the common [`SegmentPrefix`] — magic, header size, and then,
//!   with the one Release store that makes the rest visible, the layout version.
//! - **Publish**: the caller makes it reachable (a rename into place, or a registry commit).
//! - **Open** ([`open_mapped`]) and **validate** ([`validate`]): every opener checks the size,
//!   magic, published version and header size before it reads anything else; the kind then checks
//!   its own geometry.
//! - **Errors**: one [`SegmentError`], EIO at the API; a segment of another layout version is also
//!   reported once per process on stderr, saying which versions met.
//!
//! - **Space**: a file's pages are allocated before they are first touched, so a full
//!   filesystem is an errno from the call that needed the room, never a SIGBUS: those its
//!   creator writes by [`create_aside`], through the descriptor it holds; every later one
//!   through the mapping that will touch it ([`Mapping::populate`], with a per-process
//!   watermark: [`Populated`]), never by opening the file again.
//! - **Containment** ([`containment`]): every mapping is listed for the SIGBUS handler, which
//!   replaces a mapping whose file was truncated under it by zeros and marks it poisoned; the
//!   calls that used it fail with EIO. A program that replaces the SIGBUS handler after mqshim
//!   installed it loses this protection.
//!
//! Also the mapping itself ([`Mapping`]) and the size of a file ([`file_size`]).

use std::ffi::CStr;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::errno::{Errno, Result};
use crate::os::sys;

/// The first 16 bytes of every segment's header.
#[repr(C)]
pub struct SegmentPrefix {
    /// Which kind of segment this is ([`SegmentKind::magic`]).
    pub magic: u64,
    /// 0 while being initialised; the kind's layout version once published (stored last).
    pub version: AtomicU32,
    /// Bytes of the whole header (this prefix included), as the creator laid it out.
    pub header_size: u32,
}

// Part of every segment's on-disk (in-tmpfs) format: pinned.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<SegmentPrefix>() == 16);
    assert!(offset_of!(SegmentPrefix, magic) == 0);
    assert!(offset_of!(SegmentPrefix, version) == 8);
    assert!(offset_of!(SegmentPrefix, header_size) == 12);
};

/// A kind of segment: what it is called, its magic and the layout version this mqshim uses. One
/// `static` per kind, next to its layout (it also remembers whether a version mismatch has been
/// reported in this process).
pub struct SegmentKind {
    /// What a person calls it ("POSIX queue segment").
    pub what: &'static str,
    pub magic: u64,
    pub version: u32,
    mismatch_reported: AtomicBool,
}

impl SegmentKind {
    pub const fn new(what: &'static str, magic: u64, version: u32) -> SegmentKind {
        SegmentKind { what, magic, version, mismatch_reported: AtomicBool::new(false) }
    }
}

/// Why a segment cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentError {
    /// Too small, wrong magic, wrong header size, or a geometry that does not add up.
    Corrupt,
    /// Version 0: its creator has not finished it (or died before it did).
    NotPublished,
    /// Made by an mqshim of another layout version.
    VersionMismatch { found: u32, expected: u32 },
}

impl From<SegmentError> for Errno {
    /// Every unusable segment is EIO to the program (the kernel's answer for a damaged object).
    fn from(_: SegmentError) -> Errno {
        Errno::EIO
    }
}

/// What mqshim says, once per process and kind, when it finds a segment of another layout version.
pub fn version_mismatch_message(what: &str, found: u32, expected: u32) -> String {
    format!(
        "a {what} of layout version {found} was found; this mqshim ({}) uses layout version {expected}: it cannot be used (EIO); \
         remove it, or use the mqshim that made it",
        env!("CARGO_PKG_VERSION")
    )
}

pub mod containment;

/// A shared, read-write mapping of a segment file, listed for the SIGBUS handler
/// ([`containment`]) while it lives, unmapped on drop (a poisoned one stays reserved).
pub struct Mapping {
    base: *mut u8,
    len: usize,
    registration: Option<containment::Registration>,
}

// SAFETY: the mapping is shared memory that every process (and thread) accesses only through
// atomics or under the segment's process-shared lock; the pointer itself is plain data.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` shared and read-write.
    pub fn map(fd: c_int, len: u64) -> Result<Mapping> {
        let len = usize::try_from(len).map_err(|_| Errno::ENOMEM)?;
        // SAFETY: a fresh shared mapping of an open file; the kernel validates fd and len.
        let base = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0) };
        if base == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let mut map = Mapping { base: base.cast(), len, registration: None };
        map.registration = Some(containment::register(map.base, len)?);
        Ok(map)
    }

    /// Whether the SIGBUS handler replaced this mapping by zeros (its file was truncated under
    /// it): everything read from it since is meaningless, and its calls fail with EIO. A plain
    /// load.
    pub fn poisoned(&self) -> bool {
        self.registration.as_ref().is_some_and(containment::Registration::poisoned)
    }

    /// Makes the pages of `[offset, offset + len)` (clipped to the mapping) exist in the file:
    /// tmpfs allocates a page when it is first touched, even by a read, and a full one answers
    /// that touch with SIGBUS. `MADV_POPULATE_WRITE` faults them in, and fails (EFAULT, ENOMEM)
    /// when there is no room, before anything is written there: `no_room` is what that is to
    /// the caller's API. The one way every kind of segment reserves its pages: through the
    /// mapping it will touch them through, so no file is looked up again. A kernel without it
    /// (before 5.14: EINVAL) leaves them to the first touch.
    pub fn populate(&self, offset: usize, len: usize, no_room: Errno) -> Result<()> {
        let start = offset & !(PAGE - 1);
        let end = offset.saturating_add(len).saturating_add(PAGE - 1) & !(PAGE - 1);
        let end = end.min(self.len);
        if start >= end {
            return Ok(());
        }
        #[cfg(test)]
        POPULATED_BY_THIS_THREAD.with(|bytes| bytes.set(bytes.get() + (end - start) as u64));
        loop {
            // SAFETY: [start, end) lies inside this live mapping; the advice only faults pages in.
            if unsafe { libc::madvise(self.base.add(start).cast(), end - start, libc::MADV_POPULATE_WRITE) } == 0 {
                return Ok(());
            }
            match Errno::last() {
                Errno::EINTR => continue,
                Errno::EINVAL => return Ok(()),
                _ => return Err(no_room),
            }
        }
    }

    /// Frees the pages of `[offset, offset + len)` (whole pages inside it) from the file and
    /// this mapping, as a hole punched there: they read as zeros again, and are made anew when
    /// next touched. For a segment nobody else uses (a spare).
    pub fn remove_pages(&self, offset: usize, len: usize) {
        let start = offset.saturating_add(PAGE - 1) & !(PAGE - 1);
        let end = offset.saturating_add(len).min(self.len) & !(PAGE - 1);
        if start < end {
            // SAFETY: [start, end) lies inside this live shared mapping; MADV_REMOVE only frees
            // its pages (reads then see zeros), as a hole punched in the file would.
            unsafe { libc::madvise(self.base.add(start).cast(), end - start, libc::MADV_REMOVE) };
        }
    }

    /// Writes zeros over the first `len` bytes (at most the mapping), for a segment nobody
    /// else uses yet (a spare being made a queue again).
    pub fn clear_prefix(&self, len: usize) {
        // SAFETY: the range lies inside this live mapping, and the caller uses it alone.
        unsafe { std::ptr::write_bytes(self.base, 0, len.min(self.len)) };
    }

    pub fn base(&self) -> *mut u8 {
        self.base
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.registration.take().is_some_and(containment::unregister) {
            // Poisoned: now private zeros, which stay (see `containment`).
            return;
        }
        // SAFETY: base/len describe a mapping created by `map` and not yet unmapped.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

#[cfg(test)]
thread_local! {
    /// Bytes [`Mapping::populate`] was asked to fault in by this thread (tests).
    pub static POPULATED_BY_THIS_THREAD: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How far a range of a segment is known, to this process, to have its pages
/// ([`Mapping::populate`]): a plain load once they exist, so a page costs a system call only
/// the first time this process needs it.
#[derive(Default)]
pub struct Populated(AtomicU64);

impl Populated {
    /// Records that the first `upto` bytes of the range have their pages already (another
    /// process made them, as the caller knows), so that [`Populated::ensure`] does not fault
    /// them in again.
    pub fn known(&self, upto: u64) {
        // A load first: usually nothing is new, and then nothing is written.
        if upto > self.0.load(Ordering::Relaxed) {
            self.0.fetch_max(upto, Ordering::Relaxed);
        }
    }

    /// Makes the pages of `[start, start + upto)` exist through `map` unless this process already
    /// did: a page at a time (to the end of the page `upto` reaches), never past `start + limit`
    /// or the end of `map`, which must reach `start + upto`. `no_room` as for `populate`.
    pub fn ensure(&self, map: &Mapping, start: u64, upto: u64, limit: u64, no_room: Errno) -> Result<()> {
        let done = self.0.load(Ordering::Relaxed);
        if upto <= done {
            return Ok(());
        }
        debug_assert!(start + upto <= map.len() as u64, "the mapping reaches what is populated");
        let to = upto.next_multiple_of(PAGE as u64).min(limit).min((map.len() as u64).saturating_sub(start)).max(upto);
        map.populate((start + done) as usize, (to - done) as usize, no_room)?;
        self.0.fetch_max(to, Ordering::Relaxed);
        Ok(())
    }
}

/// The page size the kernel's tmpfs allocates by.
const PAGE: usize = 4096;

/// The size of the file behind `fd`.
pub fn file_size(fd: c_int) -> Result<u64> {
    sys::stat_of(fd).map(|st| st.st_size as u64)
}

/// [`file_size`] of a regular file; anything else is corrupt.
fn regular_file_size(fd: c_int) -> Result<u64> {
    let st = sys::stat_of(fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(SegmentError::Corrupt.into());
    }
    Ok(st.st_size as u64)
}

fn close(fd: c_int) {
    crate::os::sys::close(fd);
}

/// A segment file created aside and not yet kept: its descriptor, and its name, which is
/// unlinked again when this is dropped before [`Aside::keep`].
pub struct Aside {
    /// The directory it was created in (the caller keeps it open while this lives).
    dir_fd: c_int,
    name: Box<CStr>,
    fd: c_int,
    kept: bool,
}

impl Aside {
    /// The open file (read-write).
    pub fn fd(&self) -> c_int {
        self.fd
    }

    /// A segment file `name` under `dir_fd` made before (a spare put in place), without a
    /// descriptor: removed on failure as one made by [`create_aside`] is.
    pub fn placed(dir_fd: c_int, name: &CStr) -> Aside {
        Aside { dir_fd, name: name.into(), fd: -1, kept: false }
    }

    /// Keeps the file: it is complete, and published or about to be (closes the descriptor).
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Aside {
    fn drop(&mut self) {
        if self.fd >= 0 {
            close(self.fd);
        }
        if !self.kept {
            // Best effort: a file left behind is never reachable under a published name.
            sys::unlinkat(self.dir_fd, &self.name, 0);
        }
    }
}

/// What a segment file's `stat` says that a change of its owner, mode or size would change
/// (not its change time, which every first write to a page moves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    size: i64,
}

impl FileStamp {
    pub fn of(st: &libc::stat) -> FileStamp {
        FileStamp { dev: st.st_dev, ino: st.st_ino, mode: st.st_mode, uid: st.st_uid, gid: st.st_gid, nlink: st.st_nlink, size: st.st_size }
    }

    /// The stamp after a `chmod` to `mode` (file type included).
    pub fn with_mode(self, mode: u32) -> FileStamp {
        FileStamp { mode, ..self }
    }

    /// The file's owner, group and permission bits.
    pub fn owner(&self) -> (u32, u32, u32) {
        (self.uid, self.gid, self.mode & 0o7777)
    }

    /// Whether the entry `name` under `dir_fd` (not followed if a link) is still the file
    /// stamped so, unchanged.
    pub fn still_at(&self, dir_fd: c_int, name: &CStr) -> bool {
        sys::stat_at(dir_fd, name, libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| FileStamp::of(&st) == *self)
    }
}

/// Creates the segment file `name` under `dir_fd` (it must not exist: EEXIST), owner-only,
/// `size` bytes of zeros of which the first `reserved_at_creation` are allocated (`fallocate`
/// through the new descriptor), and maps it. `resize_failed` is what a failed `ftruncate` becomes
/// (each API has its own word for "no room": ENOSPC for `mq_open`, ENOMEM for `msgget`). Every
/// other failure is the system call's errno. The file is removed again on failure, and later
/// unless [`Aside::keep`] is called.
pub fn create_aside(dir_fd: c_int, name: &CStr, size: u64, reserved_at_creation: u64, resize_failed: Errno) -> Result<(Aside, Mapping)> {
    let fd = sys::openat(dir_fd, name, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0o600);
    if fd < 0 {
        return Err(Errno::last());
    }
    let aside = Aside { dir_fd, name: name.into(), fd, kept: false };
    if sys::ftruncate(fd, size) != 0 {
        return Err(resize_failed);
    }
    // The pages every creator writes before publishing: allocated now, so a full filesystem
    // fails here rather than with SIGBUS while the header is written (each kind makes the rest
    // of its file through its mapping as it needs it: `Mapping::populate`). Through the
    // descriptor in hand, which allocates without zeroing or mapping the pages until they are
    // touched: cheaper than populating at creation, when most of them are not touched yet.
    let reserved = size.min(reserved_at_creation);
    if reserved > 0 && sys::fallocate(fd, 0, 0, reserved) != 0 {
        match Errno::last() {
            // A filesystem that cannot preallocate: left to the first touch.
            Errno::EOPNOTSUPP => {}
            Errno::ENOSPC | Errno::EDQUOT | Errno::ENOMEM | Errno::EFBIG => return Err(resize_failed),
            e => return Err(e),
        }
    }
    let map = Mapping::map(fd, size)?;
    Ok((aside, map))
}

/// Publishes a segment its creator has initialised: writes the prefix's magic and header size,
/// then stores the layout version — the last store, with Release, so whoever reads that version
/// (with Acquire, in [`validate`]) sees everything written before it.
pub fn publish(map: &Mapping, kind: &SegmentKind, header_size: u32) {
    assert!(map.len() >= header_size as usize && header_size as usize >= std::mem::size_of::<SegmentPrefix>(), "a segment holds its header");
    let prefix = map.base() as *mut SegmentPrefix;
    // SAFETY: the mapping holds at least a prefix (asserted) at its page-aligned start; the
    // segment is not yet reachable by anyone else, so these plain stores race with no reader.
    unsafe {
        (*prefix).magic = kind.magic;
        (*prefix).header_size = header_size;
        (*prefix).version.store(kind.version, Ordering::Release);
    }
}

/// Opens the existing segment file `name` under `dir_fd` read-write (never through a symbolic
/// link) and maps all of it. `open_failed` turns the open's errno into the caller's API's (for
/// instance, a file gone is EIDRM to `msgsnd`); a file shorter than `min_size` is EIO.
pub fn open_mapped(dir_fd: c_int, name: &CStr, min_size: u64, open_failed: impl FnOnce(Errno) -> Errno) -> Result<Mapping> {
    // O_NONBLOCK: a FIFO planted in a segment's place must not block the open.
    let fd = sys::openat(dir_fd, name, libc::O_RDWR | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC, 0);
    if fd < 0 {
        return Err(match Errno::last() {
            // A link, a directory or a special file where a segment should be: not a queue
            // any more (another user's doing).
            Errno::ELOOP | Errno::EISDIR | Errno::ENXIO | Errno::ENODEV => SegmentError::Corrupt.into(),
            e => open_failed(e),
        });
    }
    let mapped = regular_file_size(fd).and_then(|size| if size < min_size { Err(SegmentError::Corrupt.into()) } else { Mapping::map(fd, size) });
    close(fd);
    mapped
}

/// Checks the prefix of a mapped segment before anything else in it is read: at least
/// `header_size` bytes, the kind's magic, a published version that is the kind's, and the kind's
/// `header_size`. A version mismatch is also reported on stderr (once per process and kind).
pub fn validate<'m>(map: &'m Mapping, kind: &SegmentKind, header_size: u64) -> std::result::Result<&'m SegmentPrefix, SegmentError> {
    if (map.len() as u64) < header_size.max(std::mem::size_of::<SegmentPrefix>() as u64) {
        return Err(SegmentError::Corrupt);
    }
    // SAFETY: the mapping holds at least a prefix at its page-aligned start; the prefix is plain
    // integers and an atomic, valid for any bit pattern, and lives as long as the mapping.
    let prefix = unsafe { &*(map.base() as *const SegmentPrefix) };
    if prefix.magic != kind.magic {
        return Err(SegmentError::Corrupt);
    }
    match prefix.version.load(Ordering::Acquire) {
        0 => return Err(SegmentError::NotPublished),
        found if found != kind.version => {
            crate::os::stderr::report_once(&kind.mismatch_reported, &version_mismatch_message(kind.what, found, kind.version));
            return Err(SegmentError::VersionMismatch { found, expected: kind.version });
        }
        _ => {}
    }
    if prefix.header_size as u64 != header_size {
        return Err(SegmentError::Corrupt);
    }
    Ok(prefix)
}

#[cfg(test)]
mod tests;
