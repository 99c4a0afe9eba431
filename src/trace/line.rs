//! A record under construction: a byte buffer that never grows (so tracing does not allocate on
//! the common path), plus the escaping and timestamp helpers both formats use.

use std::fmt;
use std::mem::MaybeUninit;

/// A bounded output line over possibly uninitialised memory: only the written prefix is ever
/// read. Text past the capacity is dropped and the line marked cut.
pub struct Line<'b> {
    buf: &'b mut [MaybeUninit<u8>],
    len: usize,
    cut: bool,
}

impl<'b> Line<'b> {
    pub fn new(buf: &'b mut [MaybeUninit<u8>]) -> Line<'b> {
        Line { buf, len: 0, cut: false }
    }

    /// A line over initialised bytes.
    pub fn over(buf: &'b mut [u8]) -> Line<'b> {
        // SAFETY: [u8] and [MaybeUninit<u8>] have the same layout, and a Line only ever writes
        // initialised bytes into it.
        Line::new(unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) })
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let room = self.buf.len() - self.len;
        let n = bytes.len().min(room);
        // SAFETY: `n` bytes fit in the buffer after `len`; source and destination are distinct.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.buf.as_mut_ptr().add(self.len).cast::<u8>(), n) };
        self.len += n;
        if n < bytes.len() {
            self.cut = true;
        }
    }

    /// Appends a decimal integer without going through `core::fmt`, two digits at a time (a
    /// record's nanosecond timestamp has 19).
    pub fn push_u64(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        while n >= 100 {
            let pair = (n % 100) as usize * 2;
            n /= 100;
            i -= 2;
            digits[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        }
        if n >= 10 {
            let pair = n as usize * 2;
            i -= 2;
            digits[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        } else {
            i -= 1;
            digits[i] = b'0' + n as u8;
        }
        self.push(&digits[i..]);
    }

    pub fn push_i64(&mut self, n: i64) {
        if n < 0 {
            self.push(b"-");
        }
        self.push_u64(n.unsigned_abs());
    }

    /// Appends `n` as exactly nine digits (nanoseconds).
    pub fn push_nanos(&mut self, n: u64) {
        let mut digits = [b'0'; 9];
        let mut v = n % 1_000_000_000;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.push(&digits);
    }

    /// Appends a CLOCK_REALTIME time as ISO 8601 UTC with nanoseconds; the date and time of day
    /// are formatted once per second per thread.
    pub fn push_timestamp(&mut self, ts: libc::timespec) {
        thread_local! {
            static LAST: std::cell::Cell<(i64, [u8; 20])> = const { std::cell::Cell::new((i64::MIN, [0; 20])) };
        }
        let (sec, mut text) = LAST.with(|c| c.get());
        if sec != ts.tv_sec {
            let mut l = Line::over(&mut text);
            let _ = timestamp_seconds(&mut l, ts.tv_sec);
            LAST.with(|c| c.set((ts.tv_sec, text)));
        }
        self.push(&text);
        self.push_nanos(ts.tv_nsec as u64);
        self.push(b"Z");
    }

    /// Ends the record with a newline, even when it was cut.
    pub fn finish(mut self) -> &'b [u8] {
        if self.cut || self.len == self.buf.len() {
            let keep = self.buf.len().saturating_sub(4).min(self.len);
            self.len = keep;
            self.push(b"...");
        }
        if self.len == self.buf.len() {
            self.len -= 1;
        }
        self.buf[self.len].write(b'\n');
        self.len += 1;
        let Line { buf, len, .. } = self;
        // SAFETY: the first `len` bytes were all written by `push` or just above.
        unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) }
    }
}

/// "00" to "99", for [`Line::push_u64`].
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

impl fmt::Write for Line<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Writes bytes as the inside of a C string literal: printable ASCII as is, `\n`, `\t`, `\r`,
/// `\"`, `\\`, and `\xNN` for everything else.
pub fn c_escape(out: &mut dyn fmt::Write, bytes: &[u8]) -> fmt::Result {
    // Runs of bytes that stand for themselves go out in one write (a queue name or a text
    // payload usually is one run): a write per byte was most of a JSON record's cost.
    let plain = |b: u8| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\';
    let mut rest = bytes;
    while !rest.is_empty() {
        let run = rest.iter().position(|&b| !plain(b)).unwrap_or(rest.len());
        if run > 0 {
            out.write_str(std::str::from_utf8(&rest[..run]).map_err(|_| fmt::Error)?)?;
        }
        let Some(&b) = rest.get(run) else { break };
        match b {
            b'"' => out.write_str("\\\"")?,
            b'\\' => out.write_str("\\\\")?,
            b'\n' => out.write_str("\\n")?,
            b'\t' => out.write_str("\\t")?,
            b'\r' => out.write_str("\\r")?,
            _ => write!(out, "\\x{b:02x}")?,
        }
        rest = &rest[run + 1..];
    }
    Ok(())
}

/// Writes text (already ASCII) as the inside of a JSON string.
pub struct JsonEscaper<'o>(pub &'o mut dyn fmt::Write);

impl fmt::Write for JsonEscaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // As in `c_escape`: runs that need no escape go out in one write.
        let mut rest = s;
        while !rest.is_empty() {
            let run = rest.bytes().position(|b| b == b'"' || b == b'\\' || b < 0x20).unwrap_or(rest.len());
            // The bytes looked for are ASCII, so `run` is a character boundary.
            let (plain, tail) = rest.split_at(run);
            if !plain.is_empty() {
                self.0.write_str(plain)?;
            }
            let Some(&b) = tail.as_bytes().first() else { break };
            match b {
                b'"' => self.0.write_str("\\\"")?,
                b'\\' => self.0.write_str("\\\\")?,
                _ => write!(self.0, "\\u{:04x}", b)?,
            }
            rest = &tail[1..];
        }
        Ok(())
    }
}

/// Writes a CLOCK_REALTIME time as ISO 8601 UTC with nanoseconds.
pub fn timestamp(out: &mut dyn fmt::Write, ts: libc::timespec) -> fmt::Result {
    timestamp_seconds(out, ts.tv_sec)?;
    write!(out, "{:09}Z", ts.tv_nsec)
}

/// `YYYY-MM-DDTHH:MM:SS.` (20 bytes) for a time in seconds since the epoch.
fn timestamp_seconds(out: &mut dyn fmt::Write, secs: i64) -> fmt::Result {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    #[test]
    fn timestamps_are_iso_utc() {
        let mut s = String::new();
        timestamp(&mut s, libc::timespec { tv_sec: 1_795_339_801, tv_nsec: 5 }).unwrap();
        assert_eq!(s, "2026-11-22T09:30:01.000000005Z");
        s.clear();
        timestamp(&mut s, libc::timespec { tv_sec: 951_782_400, tv_nsec: 0 }).unwrap();
        assert_eq!(s, "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn fast_formatting_matches_fmt() {
        let mut buf = [0u8; 128];
        let mut l = Line::over(&mut buf);
        l.push_i64(-1234);
        l.push(b" ");
        l.push_u64(0);
        l.push(b" ");
        l.push_nanos(5);
        l.push(b" ");
        l.push_timestamp(libc::timespec { tv_sec: 1_795_339_801, tv_nsec: 123 });
        assert_eq!(l.finish(), b"-1234 0 000000005 2026-11-22T09:30:01.000000123Z\n");
    }

    #[test]
    fn integers_match_fmt() {
        let mut values = vec![0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 1_795_339_801_000_000_123, u64::MAX, u64::MAX - 1];
        values.extend((0..64).map(|shift| 1u64 << shift).flat_map(|v| [v - 1, v, v + 1]));
        for v in values {
            let mut buf = [0u8; 32];
            let mut l = Line::over(&mut buf);
            l.push_u64(v);
            assert_eq!(l.finish(), format!("{v}\n").as_bytes());
        }
        let mut buf = [0u8; 32];
        let mut l = Line::over(&mut buf);
        l.push_i64(i64::MIN);
        assert_eq!(l.finish(), format!("{}\n", i64::MIN).as_bytes());
    }

    #[test]
    fn escapes() {
        let mut s = String::new();
        c_escape(&mut s, b"a\"b\\\n\x00\xff").unwrap();
        assert_eq!(s, "a\\\"b\\\\\\n\\x00\\xff");
        let mut j = String::new();
        JsonEscaper(&mut j).write_str(&s).unwrap();
        assert_eq!(j, "a\\\\\\\"b\\\\\\\\\\\\n\\\\x00\\\\xff");
    }

    #[test]
    fn escaping_in_runs_matches_escaping_byte_by_byte() {
        let byte_by_byte = |bytes: &[u8]| -> String {
            bytes
                .iter()
                .map(|&b| match b {
                    b'"' => "\\\"".to_string(),
                    b'\\' => "\\\\".to_string(),
                    b'\n' => "\\n".to_string(),
                    b'\t' => "\\t".to_string(),
                    b'\r' => "\\r".to_string(),
                    0x20..=0x7e => (b as char).to_string(),
                    _ => format!("\\x{b:02x}"),
                })
                .collect()
        };
        for case in [&b""[..], b"/jobs", b"\"", b"ab\"", b"\"ab", b"a\tb\rc\x01d\x7f", b"\\\\x", b"plain text \xe2\x82\xac end"] {
            let mut s = String::new();
            c_escape(&mut s, case).unwrap();
            assert_eq!(s, byte_by_byte(case), "{case:?}");
        }
        let mut j = String::new();
        JsonEscaper(&mut j).write_str("a\u{1}b\"c\\d\u{1f}").unwrap();
        assert_eq!(j, "a\\u0001b\\\"c\\\\d\\u001f");
    }

    #[test]
    fn a_full_line_is_cut_and_still_ends_in_newline() {
        let mut buf = [0u8; 16];
        let mut l = Line::over(&mut buf);
        l.push(b"0123456789abcdefghijkl");
        let out = l.finish();
        assert_eq!(out.len(), 16);
        assert!(out.ends_with(b"...\n"));
    }
}
