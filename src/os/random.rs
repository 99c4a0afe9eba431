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

/// The process's seed for [`mixed_u64`] (0: not drawn yet).
static SEED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// 64 bits that another process cannot predict, without a system call: a seed drawn once per
/// process by [`u64`], mixed with a counter (splitmix64). For seeds on a hot path (a queue's
/// treap priorities); a forked child continues its parent's sequence.
pub fn mixed_u64() -> u64 {
    use std::sync::atomic::Ordering;
    let mut seed = SEED.load(Ordering::Relaxed);
    if seed == 0 {
        seed = u64().max(1);
        SEED.store(seed, Ordering::Relaxed);
    }
    let mut z = seed.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    #[test]
    fn mixed_values_differ() {
        assert_ne!(super::mixed_u64(), super::mixed_u64());
    }

    #[test]
    fn values_differ() {
        assert_ne!(super::u64(), super::u64());
    }
}
