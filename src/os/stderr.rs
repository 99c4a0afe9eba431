//! mqshim's own messages on standard error: one `write(2)` per line, straight to descriptor 2
//! (no std I/O, no lock a forked child could inherit held).

/// Writes `mqshim: <message>` and a newline to standard error.
pub fn report(message: &str) {
    let line = format!("mqshim: {message}\n");
    // SAFETY: writes a valid buffer to fd 2; a failed write is of no consequence.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

/// [`report`], only the first time `once` is passed (per process).
pub fn report_once(once: &std::sync::atomic::AtomicBool, message: &str) {
    if !once.swap(true, std::sync::atomic::Ordering::Relaxed) {
        report(message);
    }
}
