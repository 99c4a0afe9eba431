//! Descriptors served for another process: a supervisor (`mqshim run` of a statically linked
//! program) opens a queue for a program and installs the descriptor in it, then serves that
//! program's calls on copies of its descriptors (`pidfd_getfd`: the same open file
//! description). What the emulation keeps per description in its table — above all the access
//! mode, since every descriptor is the FIFO opened read-write — must then travel with the open
//! description itself, because the program may close, duplicate, inherit or pass on its
//! descriptor without the supervisor seeing it.
//!
//! It travels as a mark: an open-file-description read lock on one byte far past the FIFO's
//! "open" byte, at [`ACCESS_MARK`] + 4 × tag + access (1 read, 2 write, 3 both). The lock
//! belongs to the description (not to a process), so every copy and inheritor has it, and it
//! goes with the description's last descriptor. A copy's marks are listed in
//! `/proc/self/fdinfo/FD`. Locks on a FIFO change nothing else: nobody reads or writes FIFO
//! bytes by offset, and no other lock is taken on it (a queue is open while its FIFO has a
//! reader: see `store`).
//!
//! The program can lock and unlock its own descriptor's bytes (`fcntl` is not a queue call), so
//! the tag is a keyed hash of the FIFO's identity and the access, with a key this process drew
//! at random: a program that opened a queue read-only cannot forge the mark of a read-write
//! descriptor, and a mark made by another process (another supervisor) is no mark here.

use std::hash::BuildHasher;
use std::os::raw::c_int;
use std::sync::OnceLock;

thread_local! {
    /// The descriptors this thread adopted (whose marks are in place) and has not handed back.
    static ADOPTED: std::cell::RefCell<Vec<c_int>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Records that this thread adopted `fd`: its mark is in place.
pub fn adopted(fd: c_int) {
    ADOPTED.with(|a| a.borrow_mut().push(fd));
}

/// Whether this thread adopted `fd` (then forgotten), rather than opened it.
pub fn was_adopted(fd: c_int) -> bool {
    ADOPTED.with(|a| {
        let mut a = a.borrow_mut();
        let found = a.iter().position(|&f| f == fd);
        found.map(|i| a.swap_remove(i)).is_some()
    })
}

/// The byte before the access marks.
const ACCESS_MARK: i64 = 1 << 20;
/// Bits of the tag kept in a mark's offset.
const TAG_BITS: u32 = 40;

/// This process's key for tags: drawn at random once.
static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();

/// The tag of a mark of `access` (1, 2 or 3) on the FIFO `fifo_id`.
fn tag(fifo_id: (u64, u64), access: i64) -> i64 {
    let hash = KEY.get_or_init(std::collections::hash_map::RandomState::new).hash_one((fifo_id, access));
    (hash & ((1 << TAG_BITS) - 1)) as i64
}

/// The FIFO identity (device, inode) of `fd`.
fn fifo_id(fd: c_int) -> Option<(u64, u64)> {
    let st = crate::os::sys::stat_of(fd).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// Marks `fd`'s open description with its access mode.
pub fn mark(fd: c_int, read: bool, write: bool) {
    let Some(id) = fifo_id(fd) else { return };
    let access = i64::from(read) + 2 * i64::from(write);
    let offset = ACCESS_MARK + 4 * tag(id, access) + access;
    // SAFETY: flock is plain C data; all-zero is valid before the fields are set.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_RDLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = offset;
    fl.l_len = 1;
    // fl is a valid flock, alive for the call; F_OFD_SETLK does not block, and a read lock
    // conflicts with no other read lock.
    crate::os::sys::fcntl(fd, libc::F_OFD_SETLK, &fl as *const libc::flock as libc::c_long);
}

/// This process's `/proc/self/fdinfo`, opened once (a lookup from `/proc` each time costs more
/// than the rest of a served call).
static FDINFO: OnceLock<c_int> = OnceLock::new();

/// The access mode (read, write) this process marked `fd`'s open description with, if it did.
pub fn access_of(fd: c_int) -> Option<(bool, bool)> {
    let id = fifo_id(fd)?;
    let dir = *FDINFO.get_or_init(|| {
        crate::os::sys::move_high(crate::os::sys::openat(libc::AT_FDCWD, c"/proc/self/fdinfo", libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0))
    });
    let name = std::ffi::CString::new(fd.to_string()).ok()?;
    let file = crate::os::sys::openat(dir, &name, libc::O_RDONLY | libc::O_CLOEXEC, 0);
    if file < 0 {
        return None;
    }
    let mut buf = [0u8; 4096];
    // SAFETY: reads into a local buffer of its length from our own descriptor.
    let n = unsafe { libc::read(file, buf.as_mut_ptr().cast(), buf.len()) };
    crate::os::sys::close(file);
    let text = std::str::from_utf8(buf.get(..usize::try_from(n).ok()?)?).ok()?;
    let access = text.lines().find_map(|line| access_of_lock_line(line.strip_prefix("lock:")?, id))?;
    Some((access & 1 != 0, access & 2 != 0))
}

/// The access (1 read, 2 write, 3 both) a lock line of `/proc/self/fdinfo` ("1: OFDLCK
/// ADVISORY  READ -1 00:1b:7561624 START END") marks on the FIFO `fifo_id`, if it is this
/// process's mark.
fn access_of_lock_line(line: &str, fifo_id: (u64, u64)) -> Option<i64> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [_, "OFDLCK", _, "READ", _, _, start, end] = words.as_slice() else { return None };
    let start: i64 = start.parse().ok()?;
    if end.parse::<i64>().ok()? != start || start <= ACCESS_MARK {
        return None;
    }
    let (tagged, access) = ((start - ACCESS_MARK) / 4, (start - ACCESS_MARK) % 4);
    (access != 0 && tagged == tag(fifo_id, access)).then_some(access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_read_back_from_every_copy_of_the_description() {
        let dir = std::env::temp_dir().join(format!("mqshim-handover-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: NUL-terminated path; plain system calls on our own files.
        let (fd, copy) = unsafe {
            assert_eq!(libc::mkfifo(c.as_ptr(), 0o600), 0);
            let fd = libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC);
            assert!(fd >= 0);
            (fd, libc::dup(fd))
        };
        assert_eq!(access_of(fd), None);
        mark(fd, false, true);
        assert_eq!(access_of(copy), Some((false, true)));
        // SAFETY: closing our own descriptors.
        unsafe {
            libc::close(fd);
            libc::close(copy);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_this_process_s_marks_are_marks() {
        let id = (27, 7561624);
        let at = |access: i64| ACCESS_MARK + 4 * tag(id, access) + access;
        let line = |start: i64, kind: &str| format!("\t1: {kind} -1 00:1b:7561624 {start} {start}");
        assert_eq!(access_of_lock_line(&line(at(3), "OFDLCK ADVISORY  READ"), id), Some(3));
        assert_eq!(access_of_lock_line(&line(at(1), "OFDLCK ADVISORY  READ"), id), Some(1));
        // Another FIFO's mark, a forged access, the open byte, other kinds of lock.
        assert_eq!(access_of_lock_line(&line(at(3), "OFDLCK ADVISORY  READ"), (27, 1)), None);
        assert_eq!(access_of_lock_line(&line(at(1) + 2, "OFDLCK ADVISORY  READ"), id), None);
        assert_eq!(access_of_lock_line(&line(ACCESS_MARK + 3, "OFDLCK ADVISORY  READ"), id), None);
        assert_eq!(access_of_lock_line(&line(0, "OFDLCK ADVISORY  READ"), id), None);
        assert_eq!(access_of_lock_line(&line(at(3), "POSIX  ADVISORY  READ"), id), None);
        assert_eq!(access_of_lock_line(&line(at(3), "OFDLCK ADVISORY  WRITE"), id), None);
        assert_eq!(access_of_lock_line(&format!("\t1: OFDLCK ADVISORY  READ -1 00:1b:7561624 {} EOF", at(3)), id), None);
    }
}
