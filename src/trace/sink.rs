//! Where records go: stderr, or a file opened for appending. Each record is one `write(2)`, so
//! records from many threads and processes never interleave within a line.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::config::TraceTarget;

/// A trace destination.
pub struct Sink {
    target: TraceTarget,
    /// The open trace file, or -1.
    fd: AtomicI32,
    /// The pid the file was opened for (a `%p` path is reopened in a forked child).
    opened_for: AtomicI32,
    /// Set once an open failed and was reported, so it is reported once only.
    failed: AtomicI32,
}

impl Sink {
    pub fn new(target: TraceTarget) -> Sink {
        Sink { target, fd: AtomicI32::new(-1), opened_for: AtomicI32::new(0), failed: AtomicI32::new(0) }
    }

    /// Writes one whole record.
    pub fn write(&self, record: &[u8], pid: libc::pid_t) {
        let fd = match &self.target {
            TraceTarget::Stderr => 2,
            TraceTarget::Path(path) => match self.file_for(path, pid) {
                Some(fd) => fd,
                None => return,
            },
            // The tracer writes shared buffers itself (trace::buffer), never through a sink.
            TraceTarget::Shared { .. } => return,
        };
        loop {
            // SAFETY: `record` is a valid buffer; `fd` is ours or stderr.
            let n = unsafe { libc::write(fd, record.as_ptr().cast(), record.len()) };
            if n >= 0 || crate::errno::current() != libc::EINTR {
                break;
            }
        }
    }

    fn file_for(&self, path: &[u8], pid: libc::pid_t) -> Option<libc::c_int> {
        let per_process = path.windows(2).any(|w| w == b"%p");
        let fd = self.fd.load(Ordering::Acquire);
        if fd >= 0 && (!per_process || self.opened_for.load(Ordering::Acquire) == pid) {
            return Some(fd);
        }
        if self.failed.load(Ordering::Relaxed) != 0 {
            return None;
        }
        let opened = open_append(&expand(path, pid));
        match opened {
            Some(new_fd) => {
                // Another thread may have raced us; keep one descriptor.
                match self.fd.compare_exchange(fd, new_fd, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        self.opened_for.store(pid, Ordering::Release);
                        if fd >= 0 {
                            // The inherited descriptor of the parent's file: ours to close.
                            // SAFETY: fd was opened by this sink.
                            unsafe { crate::real::close(fd) };
                        }
                        Some(new_fd)
                    }
                    Err(current) => {
                        // SAFETY: new_fd was just opened here and is not shared.
                        unsafe { crate::real::close(new_fd) };
                        Some(current)
                    }
                }
            }
            None => {
                if self.failed.swap(1, Ordering::Relaxed) == 0 {
                    let msg = format!(
                        "mqshim: MQSHIM_TRACE: cannot open '{}': {}; tracing disabled\n",
                        String::from_utf8_lossy(path),
                        nix::errno::Errno::last().desc()
                    );
                    // SAFETY: writes a valid buffer to stderr.
                    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
                }
                None
            }
        }
    }
}

/// Replaces `%p` with the pid.
fn expand(path: &[u8], pid: libc::pid_t) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 8);
    let mut i = 0;
    while i < path.len() {
        if path[i..].starts_with(b"%p") {
            out.extend_from_slice(pid.to_string().as_bytes());
            i += 2;
        } else {
            out.push(path[i]);
            i += 1;
        }
    }
    out.push(0);
    out
}

/// Opens `path` (NUL-terminated) for appending, close-on-exec, at a high descriptor (see
/// `os::sys::move_high`), so the program's own descriptors are numbered as without mqshim.
fn open_append(path: &[u8]) -> Option<libc::c_int> {
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC, 0o644) };
    if fd < 0 {
        return None;
    }
    Some(crate::os::sys::move_high(fd))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pid_is_expanded() {
        assert_eq!(super::expand(b"/tmp/t.%p.log", 42), b"/tmp/t.42.log\0");
        assert_eq!(super::expand(b"/tmp/t", 42), b"/tmp/t\0");
    }
}
