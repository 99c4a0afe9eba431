//! Clocks, read from the vDSO (no system call): the monotonic clock for spans, CLOCK_REALTIME
//! for deadlines and scheduled messages (what the queue APIs take), whole coarse seconds for the
//! times the kernel records (`ktime_get_real_seconds`, what `time()` returns).

/// Nanoseconds in a second.
pub const SECOND_NS: u64 = 1_000_000_000;

fn now(clock: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer; the clocks used here always exist.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts
}

/// Now, in nanoseconds of CLOCK_MONOTONIC.
pub fn monotonic_ns() -> u64 {
    ns_of(&now(libc::CLOCK_MONOTONIC))
}

/// Now, in nanoseconds of CLOCK_REALTIME since the epoch (the clock of deadlines and scheduled
/// messages).
pub fn realtime_ns() -> u64 {
    ns_of(&now(libc::CLOCK_REALTIME))
}

/// Now, as a CLOCK_REALTIME timespec.
pub fn realtime() -> libc::timespec {
    now(libc::CLOCK_REALTIME)
}

/// Now, as a CLOCK_MONOTONIC timespec.
pub fn monotonic() -> libc::timespec {
    now(libc::CLOCK_MONOTONIC)
}

/// Now, in whole seconds of CLOCK_REALTIME_COARSE: what the kernel stores as a System V
/// queue's times.
pub fn now_sec() -> i64 {
    now(libc::CLOCK_REALTIME_COARSE).tv_sec
}

/// Now, in nanoseconds of CLOCK_REALTIME_COARSE since the epoch: the clock the kernel stamps an
/// mqueue inode's times with (`current_time`), and the emulation its messages' send times. A
/// vDSO read of the time of the last tick (a few ns; no counter read, no system call).
#[inline]
pub fn coarse_realtime_ns() -> u64 {
    ns_of(&now(libc::CLOCK_REALTIME_COARSE))
}

/// Whole seconds of a time in nanoseconds since the epoch.
#[inline]
pub fn seconds_of_ns(ns: u64) -> i64 {
    (ns / SECOND_NS) as i64
}

/// An absolute CLOCK_REALTIME time `secs` from now.
pub fn realtime_in(secs: i64) -> libc::timespec {
    let mut ts = realtime();
    ts.tv_sec += secs;
    ts
}

/// Whether the absolute CLOCK_REALTIME `deadline` (if any) has passed.
pub fn deadline_passed(deadline: Option<&libc::timespec>) -> bool {
    let Some(d) = deadline else { return false };
    let now = realtime();
    (now.tv_sec, now.tv_nsec) >= (d.tv_sec, d.tv_nsec)
}

/// A time in nanoseconds (since the epoch, or of a span) as a timespec.
pub fn timespec_of_ns(ns: u64) -> libc::timespec {
    libc::timespec { tv_sec: (ns / SECOND_NS) as libc::time_t, tv_nsec: (ns % SECOND_NS) as libc::c_long }
}

/// A valid, non-negative timespec in nanoseconds (negative seconds count as 0).
pub fn ns_of(ts: &libc::timespec) -> u64 {
    (ts.tv_sec.max(0) as u64).saturating_mul(SECOND_NS).saturating_add(ts.tv_nsec.clamp(0, SECOND_NS as libc::c_long - 1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_clocks_agree() {
        let ts = timespec_of_ns(3 * SECOND_NS + 7);
        assert_eq!((ts.tv_sec, ts.tv_nsec), (3, 7));
        assert_eq!(ns_of(&ts), 3 * SECOND_NS + 7);
        assert_eq!(ns_of(&libc::timespec { tv_sec: -5, tv_nsec: 2 }), 2);
        // SAFETY: plain getter.
        let t = unsafe { libc::time(std::ptr::null_mut()) };
        assert!((now_sec() - t).abs() <= 1);
        assert!(coarse_realtime_ns().abs_diff(realtime_ns()) < SECOND_NS);
        assert!(deadline_passed(Some(&timespec_of_ns(realtime_ns() - SECOND_NS))));
        assert!(!deadline_passed(Some(&realtime_in(60))));
        assert!(!deadline_passed(None));
        let a = monotonic_ns();
        assert!(monotonic_ns() >= a);
    }
}
