//! Random 64-bit values for tokens and seeds that must differ between processes and program
//! images, not stay secret.

/// 64 bits from `getrandom` (never blocking); where it cannot answer (no entropy yet, a
/// seccomp filter), the monotonic clock mixed with the thread and process ids, which is still
/// unique among live callers.
pub fn u64() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom writes at most the 8 bytes of the buffer it is given.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), libc::GRND_NONBLOCK) };
    if n == 8 {
        return u64::from_ne_bytes(bytes);
    }
    crate::os::clock::monotonic_ns() ^ (crate::os::ids::tid() as u64).rotate_left(40) ^ (crate::os::ids::pid() as u64).rotate_left(20)
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_differ() {
        assert_ne!(super::u64(), super::u64());
    }
}
