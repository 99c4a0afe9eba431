//! Small files read whole — a `/proc` value, a configuration file — past any interposer (see
//! [`super::sys`]).

use super::sys::openat;

/// Reads a small file (a /proc value, a configuration file) whole, with `openat`, `read` and
/// `close` only (`std::fs` asks `statx` for the size first, which fakeroot interposes). None when
/// it cannot be read or is not UTF-8 (an error); at most `limit` bytes.
pub fn read_small_file(path: &std::path::Path, limit: usize) -> std::io::Result<String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let fd = openat(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_CLOEXEC, 0);
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let result = loop {
        // SAFETY: reads into a valid local buffer from our own descriptor.
        let n = unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            if crate::errno::current() == libc::EINTR {
                continue;
            }
            break Err(std::io::Error::last_os_error());
        }
        if n == 0 || out.len() >= limit {
            break Ok(());
        }
        out.extend_from_slice(&buf[..n as usize]);
    };
    // SAFETY: fd was opened above and is closed once.
    unsafe { libc::syscall(libc::SYS_close, fd) };
    result?;
    out.truncate(limit);
    String::from_utf8(out).map_err(|_| std::io::Error::from_raw_os_error(libc::EILSEQ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_small_files() {
        let status = read_small_file(std::path::Path::new("/proc/self/status"), 1 << 20).unwrap();
        assert!(status.starts_with("Name:"));
        assert_eq!(read_small_file(std::path::Path::new("/proc/self/status"), 5).unwrap(), "Name:");
        assert!(read_small_file(std::path::Path::new("/nonexistent"), 10).is_err());
    }
}
