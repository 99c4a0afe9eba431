//! The lifecycle on a segment kind of the tests' own: created aside and published, a segment
//! opens and validates; every way a prefix can be wrong is its own error; a half-built file does
//! not outlive a failure; a mapping whose file is truncated under it is poisoned, not fatal.

use super::*;
use std::ffi::CString;

/// "MQSHIMTS": a segment kind of these tests.
const TEST_MAGIC: u64 = u64::from_le_bytes(*b"MQSHIMTS");
static TEST_KIND: SegmentKind = SegmentKind::new("test segment", TEST_MAGIC, 7);

/// A header of the test kind: the prefix, then something of its own.
#[repr(C)]
struct TestHeader {
    prefix: SegmentPrefix,
    payload: u64,
}

const HEADER_SIZE: u32 = 64;
const FILE_SIZE: u64 = 4096;

/// A fresh directory of its own, removed on drop.
struct Dir {
    path: String,
    fd: c_int,
}

impl Dir {
    fn new() -> Dir {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = format!("/tmp/mqshim-segment-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let c = CString::new(path.clone()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkdir(c.as_ptr(), 0o700) }, 0);
        // SAFETY: as above.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        assert!(fd >= 0);
        Dir { path, fd }
    }

    fn exists(&self, name: &CStr) -> bool {
        // SAFETY: an all-zero stat is a valid out-buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        sys::fstatat(self.fd, name, &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        close(self.fd);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Creates `name` aside, writes the payload, publishes it as `kind` (unless `publish_it` is false)
/// and keeps it.
fn make(dir: &Dir, name: &CStr, kind: &SegmentKind, publish_it: bool) {
    let (aside, map) = create_aside(dir.fd, name, FILE_SIZE, FILE_SIZE, Errno::ENOSPC).unwrap();
    let h = map.base() as *mut TestHeader;
    // SAFETY: the mapping is FILE_SIZE bytes, private to this test until kept.
    unsafe { (*h).payload = 0x1234_5678 };
    if publish_it {
        publish(&map, kind, HEADER_SIZE);
    }
    aside.keep();
}

fn open(dir: &Dir, name: &CStr) -> Mapping {
    open_mapped(dir.fd, name, HEADER_SIZE as u64, |e| e).unwrap()
}

/// The prefix of `name`, changed by `f` through a mapping of its own.
fn alter(dir: &Dir, name: &CStr, f: impl FnOnce(*mut SegmentPrefix)) {
    let map = open(dir, name);
    f(map.base() as *mut SegmentPrefix);
}

#[test]
fn created_aside_and_published_it_opens_and_validates() {
    let dir = Dir::new();
    make(&dir, c"seg", &TEST_KIND, true);
    let map = open(&dir, c"seg");
    assert_eq!(map.len() as u64, FILE_SIZE);
    let prefix = validate(&map, &TEST_KIND, HEADER_SIZE as u64).unwrap();
    assert_eq!((prefix.magic, prefix.version.load(Ordering::Relaxed), prefix.header_size), (TEST_MAGIC, 7, HEADER_SIZE));
    // SAFETY: validated; the header is plain data.
    assert_eq!(unsafe { (*(map.base() as *const TestHeader)).payload }, 0x1234_5678);
    // The file is owner-only, as created.
    // SAFETY: an all-zero stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    assert_eq!(sys::fstatat(dir.fd, c"seg", &mut st, 0), 0);
    assert_eq!(st.st_mode & 0o777, 0o600);
}

#[test]
fn a_wrong_magic_is_corrupt() {
    let dir = Dir::new();
    make(&dir, c"seg", &TEST_KIND, true);
    // SAFETY: the prefix lies in the mapping.
    alter(&dir, c"seg", |p| unsafe { (*p).magic = u64::from_le_bytes(*b"MQSHIMPQ") });
    assert_eq!(validate(&open(&dir, c"seg"), &TEST_KIND, HEADER_SIZE as u64).err(), Some(SegmentError::Corrupt));
}

#[test]
fn version_zero_is_not_published() {
    let dir = Dir::new();
    make(&dir, c"seg", &TEST_KIND, false);
    // Everything but the version, as a creator that died just before publishing leaves it.
    // SAFETY: the prefix lies in the mapping.
    alter(&dir, c"seg", |p| unsafe {
        (*p).magic = TEST_MAGIC;
        (*p).header_size = HEADER_SIZE;
    });
    assert_eq!(validate(&open(&dir, c"seg"), &TEST_KIND, HEADER_SIZE as u64).err(), Some(SegmentError::NotPublished));
}

#[test]
fn another_version_is_a_mismatch_naming_both() {
    let dir = Dir::new();
    make(&dir, c"seg", &TEST_KIND, true);
    // SAFETY: the prefix lies in the mapping.
    alter(&dir, c"seg", |p| unsafe { (*p).version.store(9, Ordering::Release) });
    let map = open(&dir, c"seg");
    assert_eq!(validate(&map, &TEST_KIND, HEADER_SIZE as u64).err(), Some(SegmentError::VersionMismatch { found: 9, expected: 7 }));
    // Reported once per process: the second finding says nothing more.
    assert!(TEST_KIND.mismatch_reported.load(Ordering::Relaxed));
    assert_eq!(validate(&map, &TEST_KIND, HEADER_SIZE as u64).err(), Some(SegmentError::VersionMismatch { found: 9, expected: 7 }));
}

#[test]
fn a_wrong_header_size_is_corrupt() {
    let dir = Dir::new();
    make(&dir, c"seg", &TEST_KIND, true);
    assert_eq!(validate(&open(&dir, c"seg"), &TEST_KIND, HEADER_SIZE as u64 + 64).err(), Some(SegmentError::Corrupt));
}

#[test]
fn too_short_a_file_is_corrupt() {
    let dir = Dir::new();
    make(&dir, c"seg", &TEST_KIND, true);
    let path = CString::new(format!("{}/seg", dir.path)).unwrap();
    // SAFETY: a NUL-terminated path of the test's own file.
    assert_eq!(unsafe { libc::truncate(path.as_ptr(), 12) }, 0);
    // Refused by the open when the caller asks for a header's worth...
    assert_eq!(open_mapped(dir.fd, c"seg", HEADER_SIZE as u64, |e| e).err(), Some(Errno::EIO));
    // ...and by validate when it does not: not even a whole prefix.
    let map = open_mapped(dir.fd, c"seg", 0, |e| e).unwrap();
    assert_eq!(validate(&map, &TEST_KIND, HEADER_SIZE as u64).err(), Some(SegmentError::Corrupt));
}

#[test]
fn every_segment_error_is_eio() {
    for e in [SegmentError::Corrupt, SegmentError::NotPublished, SegmentError::VersionMismatch { found: 1, expected: 2 }] {
        assert_eq!(Errno::from(e), Errno::EIO);
    }
}

#[test]
fn the_mismatch_report_names_both_versions() {
    let text = version_mismatch_message("POSIX queue segment", 9, 10);
    assert_eq!(
        text,
        format!(
            "a POSIX queue segment of layout version 9 was found; this mqshim ({}) uses layout version 10: it cannot be used (EIO); \
             remove it, or use the mqshim that made it",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn open_failures_are_the_callers_errno() {
    let dir = Dir::new();
    assert_eq!(open_mapped(dir.fd, c"absent", 0, |e| e).err(), Some(Errno::ENOENT));
    assert_eq!(open_mapped(dir.fd, c"absent", 0, |e| if e == Errno::ENOENT { Errno::EIDRM } else { e }).err(), Some(Errno::EIDRM));
    // Never through a symbolic link.
    let (target, link) = (CString::new(format!("{}/seg", dir.path)).unwrap(), CString::new(format!("{}/link", dir.path)).unwrap());
    make(&dir, c"seg", &TEST_KIND, true);
    // SAFETY: NUL-terminated paths.
    assert_eq!(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) }, 0);
    // A link, a FIFO or a directory where a segment should be is a damaged queue: EIO (and
    // the FIFO does not block the open).
    assert_eq!(open_mapped(dir.fd, c"link", 0, |e| e).err(), Some(Errno::EIO));
    let fifo = CString::new(format!("{}/fifo", dir.path)).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    assert_eq!(open_mapped(dir.fd, c"fifo", 0, |e| e).err(), Some(Errno::EIO));
    let sub = CString::new(format!("{}/sub", dir.path)).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkdir(sub.as_ptr(), 0o700) }, 0);
    assert_eq!(open_mapped(dir.fd, c"sub", 0, |e| e).err(), Some(Errno::EIO));
}

#[test]
fn a_half_built_file_is_removed_and_a_kept_one_stays() {
    let dir = Dir::new();
    {
        let (_aside, _map) = create_aside(dir.fd, c"dropped", FILE_SIZE, FILE_SIZE, Errno::ENOSPC).unwrap();
        assert!(dir.exists(c"dropped"));
    }
    assert!(!dir.exists(c"dropped"), "dropped before keep: removed");
    make(&dir, c"kept", &TEST_KIND, true);
    assert!(dir.exists(c"kept"));
    // Created exclusively: an existing file is EEXIST, and left alone.
    assert_eq!(create_aside(dir.fd, c"kept", FILE_SIZE, FILE_SIZE, Errno::ENOSPC).err(), Some(Errno::EEXIST));
    assert!(dir.exists(c"kept"));
    assert!(validate(&open(&dir, c"kept"), &TEST_KIND, HEADER_SIZE as u64).is_ok());
}

#[test]
fn a_failed_resize_is_the_callers_errno_and_leaves_nothing() {
    let dir = Dir::new();
    // Larger than any file may be: ftruncate fails (EFBIG or EINVAL), and the caller's word for it
    // is returned.
    assert_eq!(create_aside(dir.fd, c"huge", u64::MAX, u64::MAX, Errno::ENOMEM).err(), Some(Errno::ENOMEM));
    assert!(!dir.exists(c"huge"));
}

/// Reads a byte of a mapping the way the queues do: through memory, where a truncated file
/// raises SIGBUS.
fn touch(map: &Mapping, offset: usize) -> u8 {
    assert!(offset < map.len());
    // SAFETY: inside the mapping; a volatile read so the access really happens.
    unsafe { std::ptr::read_volatile(map.base().add(offset)) }
}

#[test]
fn a_mapping_truncated_under_it_is_poisoned_not_fatal() {
    let dir = Dir::new();
    make(&dir, c"victim", &TEST_KIND, true);
    let map = open(&dir, c"victim");
    let (base, len) = (map.base() as usize, map.len());
    assert_eq!(touch(&map, 8), 7, "the published version, read through the file");
    assert!(!map.poisoned());
    let before = containment::poisonings();
    // Another process (here: this one, through another descriptor) truncates the file.
    let fd = sys::openat(dir.fd, c"victim", libc::O_RDWR | libc::O_CLOEXEC, 0);
    assert!(fd >= 0);
    assert_eq!(sys::ftruncate(fd, 0), 0);
    close(fd);
    // The next access raises SIGBUS; the handler replaces the mapping by zeros and returns.
    assert_eq!(touch(&map, 8), 0);
    assert_eq!(touch(&map, len - 1), 0);
    assert!(map.poisoned());
    assert!(containment::poisonings() > before);
    assert!(containment::poisoned_at(base + len - 1));
    assert!(!containment::poisoned_at(base + len));
    // Writes land in the private zeros, not in the file.
    // SAFETY: inside the (now anonymous) mapping.
    unsafe { map.base().write_volatile(1) };
    drop(map);
    // Dropped: no longer listed, and its range stays reserved (readable zeros or our 1).
    assert!(!containment::poisoned_at(base));
    // A new file of that name is a new mapping, not poisoned.
    assert_eq!(sys::unlinkat(dir.fd, c"victim", 0), 0);
    make(&dir, c"victim", &TEST_KIND, true);
    let again = open(&dir, c"victim");
    assert_eq!(touch(&again, 8), 7);
    assert!(!again.poisoned());
}

#[test]
fn a_sigbus_outside_any_segment_still_kills() {
    let dir = Dir::new();
    make(&dir, c"plain", &TEST_KIND, true);
    // Installs the handler in this process (and so in the child).
    let _listed = open(&dir, c"plain");
    let fd = sys::openat(dir.fd, c"plain", libc::O_RDWR | libc::O_CLOEXEC, 0);
    assert!(fd >= 0);
    // SAFETY: fork in a test: the child only makes system calls and touches memory, then exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: a mapping of the file that mqshim does not list; after the truncation, the
        // read raises a SIGBUS that is not mqshim's, which must keep its default action.
        unsafe {
            let p = libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_SHARED, fd, 0) as *const u8;
            libc::ftruncate(fd, 0);
            std::ptr::read_volatile(p);
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    close(fd);
    assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGBUS, "status {status:#x}");
}
