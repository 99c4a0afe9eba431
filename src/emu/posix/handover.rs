//! Descriptors served for another process: a supervisor (`mqshim run` of a statically linked
//! program) opens a queue for a program and installs the descriptor in it, then serves that
//! program's calls on copies of its descriptors (`pidfd_getfd`: the same open file
//! description). What the emulation keeps per description in its table — above all the access
//! mode, since every descriptor is the FIFO opened read-write — must then travel with the open
//! description itself, because the program may close, duplicate, inherit or pass on its
//! descriptor without the supervisor seeing it.
//!
//! It travels as a mark: an open-file-description read lock on one byte past the FIFO's
//! "open" byte, at [`ACCESS_MARK`] + 1 (read), + 2 (write) or + 3 (both). The lock belongs to
//! the description (not to a process), so every copy and inheritor has it, and it goes with the
//! description's last descriptor. A copy's marks are listed in `/proc/self/fdinfo/FD`. Locks
//! on a FIFO change nothing else: nobody reads or writes FIFO bytes by offset, and the only
//! other lock (the "open" test on byte 0) does not overlap.

use std::os::raw::c_int;

/// The byte before the access marks.
const ACCESS_MARK: i64 = 1 << 20;

/// Marks `fd`'s open description with its access mode.
pub fn mark(fd: c_int, read: bool, write: bool) {
    let offset = ACCESS_MARK + i64::from(read) + 2 * i64::from(write);
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

/// The access mode (read, write) `fd`'s open description was marked with, if any.
pub fn access_of(fd: c_int) -> Option<(bool, bool)> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
    info.lines().find_map(|line| access_of_lock_line(line.strip_prefix("lock:")?))
}

/// The access mode a lock line of `/proc/self/fdinfo` marks ("1: OFDLCK ADVISORY  READ -1
/// 00:1b:7561624 1048577 1048577"), if it is a mark.
fn access_of_lock_line(line: &str) -> Option<(bool, bool)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [_, "OFDLCK", _, "READ", _, _, start, end] = words.as_slice() else { return None };
    let start: i64 = start.parse().ok()?;
    if end.parse::<i64>().ok()? != start {
        return None;
    }
    match start - ACCESS_MARK {
        1 => Some((true, false)),
        2 => Some((false, true)),
        3 => Some((true, true)),
        _ => None,
    }
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
    fn only_mark_lines_are_marks() {
        assert_eq!(access_of_lock_line("\t1: OFDLCK ADVISORY  READ -1 00:1b:7561624 1048579 1048579"), Some((true, true)));
        assert_eq!(access_of_lock_line("\t1: OFDLCK ADVISORY  READ -1 00:1b:7561624 0 0"), None);
        assert_eq!(access_of_lock_line("\t1: POSIX  ADVISORY  READ 4242 00:1b:7561624 1048577 1048577"), None);
        assert_eq!(access_of_lock_line("\t1: OFDLCK ADVISORY  WRITE -1 00:1b:7561624 1048577 1048577"), None);
        assert_eq!(access_of_lock_line("\t1: OFDLCK ADVISORY  READ -1 00:1b:7561624 1048577 EOF"), None);
    }
}
