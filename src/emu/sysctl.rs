//! The namespace's sysctls: what programs under the emulation write to
//! `/proc/sys/fs/mqueue/*` and `/proc/sys/kernel/msg*`, with the kernel's rules, and where the
//! namespace keeps it.
//!
//! - [`FILES`]: the nine files, each with its range (`ipc/mq_sysctl.c`, `ipc/ipc_sysctl.c`).
//! - [`parse_write`]: one write(2) as `proc_dointvec_minmax` takes it (`kernel/sysctl.c`);
//!   [`open_for_write`] and [`write`]: who may, and a write whole — what every backend that
//!   keeps a namespace's sysctls (the emulation here, the Redis backend on its server:
//!   `remote::sysctl`) answers an open and a write with, storing the value its own way.
//! - [`Settings`]: the settings file, `$MQSHIM_DIR/sysctl`, one `key = value` line per setting
//!   written. Only root writes it (the kernel's files are root's, 0644), so a reader trusts it
//!   only when it is a regular file of root's, writable by nobody else, with one link, opened
//!   without following a link; anything else there (a file another user planted in the sticky
//!   root) is ignored. A writer replaces it whole (a private file renamed over it), so a reader
//!   never sees half of it.
//!
//! `msg_next_id` is not kept here: any user's `msgget` consumes it, so it lives in the System V
//! registry (see `sysv::registry`).

use std::ffi::{CStr, CString};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::emu::namespace::{move_high, open_root_dir, DirWatch, Missing};
use crate::errno::{Errno, Result};
use crate::os::sys;

/// One of the files.
#[derive(Debug)]
pub struct SysctlFile {
    pub path: &'static [u8],
    /// The limit's key (`MQSHIM_LIMITS`'s), or `msg_next_id`.
    pub key: &'static str,
    /// The values a write may set (outside: EINVAL).
    pub min: i64,
    pub max: i64,
}

/// `HARD_MSGMAX`, `MIN_MSGSIZEMAX`, `HARD_MSGSIZEMAX` (`include/linux/ipc_namespace.h`).
const HARD_MSGMAX: i64 = 65536;
const MIN_MSGSIZEMAX: i64 = 128;
const HARD_MSGSIZEMAX: i64 = 16 * 1024 * 1024;
/// `IPCMNI`: `msgmni`'s ceiling.
const IPCMNI: i64 = 32768;
const INT_MAX: i64 = i32::MAX as i64;

/// The files: `queues_max` is a plain `proc_dointvec` (any int), the others
/// `proc_dointvec_minmax`.
pub const FILES: [SysctlFile; 9] = [
    SysctlFile { path: b"/proc/sys/fs/mqueue/queues_max", key: "queues_max", min: i32::MIN as i64, max: INT_MAX },
    SysctlFile { path: b"/proc/sys/fs/mqueue/msg_max", key: "msg_max", min: 1, max: HARD_MSGMAX },
    SysctlFile { path: b"/proc/sys/fs/mqueue/msgsize_max", key: "msgsize_max", min: MIN_MSGSIZEMAX, max: HARD_MSGSIZEMAX },
    SysctlFile { path: b"/proc/sys/fs/mqueue/msg_default", key: "msg_default", min: 1, max: HARD_MSGMAX },
    SysctlFile { path: b"/proc/sys/fs/mqueue/msgsize_default", key: "msgsize_default", min: MIN_MSGSIZEMAX, max: HARD_MSGSIZEMAX },
    SysctlFile { path: b"/proc/sys/kernel/msgmax", key: "msgmax", min: 0, max: INT_MAX },
    SysctlFile { path: b"/proc/sys/kernel/msgmnb", key: "msgmnb", min: 0, max: INT_MAX },
    SysctlFile { path: b"/proc/sys/kernel/msgmni", key: "msgmni", min: 0, max: IPCMNI },
    SysctlFile { path: b"/proc/sys/kernel/msg_next_id", key: "msg_next_id", min: 0, max: INT_MAX },
];

/// The file at `path`, if it is one of [`FILES`].
pub fn file(path: &[u8]) -> Option<&'static SysctlFile> {
    FILES.iter().find(|f| f.path == path)
}

/// `kernel.sysctl_writes_strict` (the machine's; 1 unless changed): a write at a position other
/// than 0 changes nothing.
fn writes_strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT
        .get_or_init(|| crate::os::files::read_small_file(std::path::Path::new("/proc/sys/kernel/sysctl_writes_strict"), 64).map_or(true, |s| s.trim() == "1"))
}

/// Whether the caller may write the sysctl `file`, as `proc_sys_permission` decides for the
/// kernel's (root's, 0644; `msg_next_id` 0444, or 0666 to a caller with CAP_SYS_ADMIN or
/// CAP_CHECKPOINT_RESTORE).
fn may_write(file: &SysctlFile) -> bool {
    let creds = crate::os::creds::Creds::current();
    if file.key == "msg_next_id" {
        return creds.has(crate::os::creds::cap::SYS_ADMIN) || creds.has(crate::os::creds::cap::CHECKPOINT_RESTORE);
    }
    creds.euid == 0
}

/// Opening the file at `path` for writing: None when it is not one of [`FILES`]; else whether
/// the caller may (EACCES).
pub fn open_for_write(path: &[u8]) -> Option<Result<()>> {
    let file = file(path)?;
    Some(if may_write(file) { Ok(()) } else { Err(Errno::EACCES) })
}

/// One write(2) of `data` at file position `pos` to the file at `path` (one of [`FILES`], opened
/// through [`open_for_write`]): the caller's right checked again (the opener may have dropped
/// its privileges since: EPERM, as the kernel does), the text parsed ([`parse_write`]), and a
/// value set with `store`. The count write returns.
pub fn write(path: &[u8], data: &[u8], pos: i64, store: impl FnOnce(&SysctlFile, i64) -> Result<()>) -> Result<usize> {
    let file = file(path).ok_or(Errno::EBADF)?;
    if !may_write(file) {
        return Err(Errno::EPERM);
    }
    let written = parse_write(file, data, pos, writes_strict())?;
    if let Some(value) = written.value {
        store(file, value)?;
    }
    Ok(written.count)
}

/// What one write does: the count write(2) returns, and the value set (None: nothing changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    pub count: usize,
    pub value: Option<i64>,
}

/// `proc_wspace_sep`: what may follow a number.
fn ends_number(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

/// The kernel's `isspace` (what `proc_skip_spaces` skips).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `TMPBUFLEN`: a number and what follows it are looked at within 21 bytes.
const TMPBUFLEN: usize = 22;

/// `proc_get_long`: an optionally negative number in C's bases (`0x` hex, `0` octal), which must
/// be followed by a space, tab or newline or end the text. Returns (negative, magnitude, bytes).
fn get_long(text: &[u8]) -> Result<(bool, u64, usize)> {
    let tmp = &text[..text.len().min(TMPBUFLEN - 1)];
    let (neg, mut p) = if tmp.first() == Some(&b'-') && text.len() > 1 { (true, 1) } else { (false, 0) };
    if !tmp.get(p).is_some_and(u8::is_ascii_digit) {
        return Err(Errno::EINVAL);
    }
    // _parse_integer_fixup_radix with base 0.
    let base: u64 = if tmp[p] == b'0' {
        if tmp.get(p + 1).is_some_and(|c| c.eq_ignore_ascii_case(&b'x')) && tmp.get(p + 2).is_some_and(u8::is_ascii_hexdigit) {
            p += 2;
            16
        } else {
            8
        }
    } else {
        10
    };
    let mut value: u64 = 0;
    let mut overflow = false;
    while let Some(d) = tmp.get(p).and_then(|c| (*c as char).to_digit(base as u32)) {
        match value.checked_mul(base).and_then(|v| v.checked_add(d as u64)) {
            Some(v) => value = v,
            None => overflow = true,
        }
        p += 1;
    }
    if overflow || p == TMPBUFLEN - 1 {
        return Err(Errno::EINVAL);
    }
    if p < text.len() && !ends_number(tmp.get(p).copied().unwrap_or(0)) {
        return Err(Errno::EINVAL);
    }
    Ok((neg, value, p))
}

/// One write(2) of `data` at file position `pos` to `file`, as `__do_proc_dointvec` with
/// `do_proc_dointvec_minmax_conv` takes it: leading and trailing white space skipped, one
/// number, EINVAL for anything else or a value outside the file's range. With
/// `sysctl_writes_strict` (`strict`), a write at a position other than 0 changes nothing and
/// reports the whole count written.
pub fn parse_write(file: &SysctlFile, data: &[u8], pos: i64, strict: bool) -> Result<Written> {
    if data.is_empty() {
        return Ok(Written { count: 0, value: None });
    }
    if pos != 0 && strict {
        return Ok(Written { count: data.len(), value: None });
    }
    let mut text = &data[..data.len().min(4095)];
    while text.first().is_some_and(|&b| is_space(b)) {
        text = &text[1..];
    }
    if text.is_empty() {
        return Err(Errno::EINVAL);
    }
    let (neg, magnitude, used) = get_long(text)?;
    let value = match neg {
        true if magnitude <= INT_MAX as u64 + 1 => -(magnitude as i64),
        false if magnitude <= INT_MAX as u64 => magnitude as i64,
        _ => return Err(Errno::EINVAL),
    };
    if value < file.min || value > file.max {
        return Err(Errno::EINVAL);
    }
    let mut rest = &text[used..];
    while rest.first().is_some_and(|&b| is_space(b)) {
        rest = &rest[1..];
    }
    Ok(Written { count: data.len() - rest.len(), value: Some(value) })
}

/// The settings file's name in the namespace root.
const SETTINGS_NAME: &CStr = c"sysctl";

/// What identifies one version of the settings file (it is replaced, never changed in place):
/// its inode and change time; 0 when there is none.
fn stamp_of(st: &libc::stat) -> u64 {
    (st.st_ino << 20) ^ (st.st_ctime as u64).wrapping_mul(1_000_000_007) ^ st.st_ctime_nsec as u64
}

/// A namespace's settings file, as a process follows it.
pub struct Settings {
    root: Vec<u8>,
    /// The namespace root, opened (and checked) once it exists.
    dir: OnceLock<c_int>,
    /// The version last read (see [`stamp_of`]); u64::MAX before the first look.
    seen: AtomicU64,
    /// The root as of the last look that found no settings file (see [`Settings::changed`]).
    root_seen: DirWatch,
}

/// The settings, as (key, value) pairs in the order written.
pub type Values = Vec<(String, i64)>;

impl Settings {
    pub fn new(root: &[u8]) -> Settings {
        Settings { root: root.to_vec(), dir: OnceLock::new(), seen: AtomicU64::new(u64::MAX), root_seen: DirWatch::default() }
    }

    /// The namespace root's descriptor, once the namespace exists.
    fn dir(&self) -> Option<c_int> {
        if let Some(fd) = self.dir.get() {
            return Some(*fd);
        }
        let fd = move_high(open_root_dir(&self.root, Missing::Fail).ok()?);
        if self.dir.set(fd).is_err() {
            // Another thread's is kept.
            sys::close(fd);
        }
        self.dir.get().copied()
    }

    /// The settings when they changed since the last call (the first call always reads them);
    /// None when they did not. The check is one `fstatat` of the file; where the last one found
    /// none (no sysctl was ever set: the usual case), one `fstat` of the root instead, which a
    /// file made or renamed there changes (see `DirWatch`): a lookup of an absent name costs
    /// three times as much on tmpfs, and every creation by `mq_open` makes this check. A
    /// namespace that does not exist, or a settings file that cannot be trusted, has none.
    pub fn changed(&self) -> Option<Values> {
        let Some(dir) = self.dir() else {
            return self.note(0).then(Vec::new);
        };
        if self.seen.load(Ordering::Acquire) == 0 {
            if !self.root_seen.look_due(dir) {
                return None;
            }
        } else {
            self.root_seen.forget();
        }
        let stamp = sys::stat_at(dir, SETTINGS_NAME, libc::AT_SYMLINK_NOFOLLOW).map_or(0, |st| stamp_of(&st));
        if !self.note(stamp) {
            return None;
        }
        Some(read_trusted(dir).map(|(_, v)| v).unwrap_or_default())
    }

    /// The settings now, read whatever was seen before.
    pub fn read_again(&self) -> Values {
        self.seen.store(u64::MAX, Ordering::Release);
        self.changed().unwrap_or_default()
    }

    /// Records `stamp` as seen; whether it differs from the last one.
    fn note(&self, stamp: u64) -> bool {
        self.seen.swap(stamp, Ordering::AcqRel) != stamp
    }

    /// Sets `key` to `value` for the whole namespace (creating the namespace if need be): the
    /// file is rewritten aside and renamed over the old one. The caller has checked that it
    /// may (root).
    pub fn store(&self, key: &str, value: i64) -> Result<()> {
        let dir = open_root_dir(&self.root, Missing::Create)?;
        let result = replace(dir, key, value);
        sys::close(dir);
        result
    }
}

/// Reads the settings file in the namespace root `dir` if it can be trusted.
fn read_trusted(dir: c_int) -> Option<(u64, Values)> {
    let fd = sys::openat(dir, SETTINGS_NAME, libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC, 0);
    if fd < 0 {
        return None;
    }
    let result = sys::stat_of(fd)
        .ok()
        .filter(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_uid == 0 && st.st_mode & 0o022 == 0 && st.st_nlink == 1)
        .map(|st| {
            let mut buf = [0u8; 4096];
            // SAFETY: reads into a local buffer from our own descriptor.
            let n = unsafe { libc::syscall(libc::SYS_pread64, fd, buf.as_mut_ptr(), buf.len(), 0) };
            let text = if n > 0 { &buf[..n as usize] } else { &[][..] };
            (stamp_of(&st), parse(text))
        });
    sys::close(fd);
    result
}

/// `key = value` lines; anything else is skipped.
fn parse(text: &[u8]) -> Values {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|line| {
            let (k, v) = line.split_once('=')?;
            let key = k.trim();
            FILES.iter().any(|f| f.key == key).then_some(())?;
            Some((key.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Writes the settings with `key` = `value` to a private file in `dir` and renames it over the
/// settings file.
fn replace(dir: c_int, key: &str, value: i64) -> Result<()> {
    let mut values = read_trusted(dir).map(|(_, v)| v).unwrap_or_default();
    values.retain(|(k, _)| k != key);
    values.push((key.to_string(), value));
    let text: String = values.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    for _ in 0..8 {
        let tmp = CString::new(format!("sysctl.new-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))).map_err(|_| Errno::EINVAL)?;
        // O_EXCL|O_NOFOLLOW: a name another user planted in the sticky root is never followed.
        let fd = sys::openat(dir, &tmp, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0o600);
        if fd < 0 {
            if crate::errno::current() == libc::EEXIST {
                continue;
            }
            return Err(Errno::last());
        }
        // SAFETY: writes a local buffer to our own new file.
        let written = unsafe { libc::syscall(libc::SYS_write, fd, text.as_ptr(), text.len()) };
        let ok = written == text.len() as i64 && sys::fchmod(fd, 0o644) == 0;
        sys::close(fd);
        if ok && sys::renameat2(dir, &tmp, dir, SETTINGS_NAME, 0) == 0 {
            return Ok(());
        }
        let e = Errno::last();
        sys::unlinkat(dir, &tmp, 0);
        return Err(if ok { e } else { Errno::ENOSPC });
    }
    Err(Errno::EEXIST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(key: &str, data: &[u8]) -> Result<Written> {
        parse_write(FILES.iter().find(|f| f.key == key).unwrap(), data, 0, true)
    }

    #[test]
    fn writes_parse_as_the_kernel_parses_them() {
        let ok = |count, value| Ok(Written { count, value: Some(value) });
        assert_eq!(write("msg_max", b"5\n"), ok(2, 5));
        assert_eq!(write("msg_max", b"  5\n"), ok(4, 5));
        assert_eq!(write("msg_max", b"5"), ok(1, 5));
        assert_eq!(write("msg_max", b"5 6"), ok(2, 5));
        assert_eq!(write("msg_max", b"0x10"), ok(4, 16));
        assert_eq!(write("msg_max", b"010\n"), ok(4, 8));
        assert_eq!(write("queues_max", b"-1\n"), ok(3, -1));
        assert_eq!(write("msg_max", b"abc"), Err(Errno::EINVAL));
        assert_eq!(write("msg_max", b"5x"), Err(Errno::EINVAL));
        assert_eq!(write("msg_max", b"5\0"), Err(Errno::EINVAL));
        assert_eq!(write("msg_max", b"+5"), Err(Errno::EINVAL));
        assert_eq!(write("msg_max", b" \n"), Err(Errno::EINVAL));
        assert_eq!(write("msg_max", b"0"), Err(Errno::EINVAL));
        assert_eq!(write("msg_max", b"65537"), Err(Errno::EINVAL));
        assert_eq!(write("msgmni", b"32768"), ok(5, 32768));
        assert_eq!(write("msgmni", b"32769"), Err(Errno::EINVAL));
        assert_eq!(write("msgmax", b"-1"), Err(Errno::EINVAL));
        assert_eq!(write("queues_max", b"2147483648"), Err(Errno::EINVAL));
        assert_eq!(write("queues_max", b"-2147483648"), ok(11, i32::MIN as i64));
        assert_eq!(write("msg_max", b""), Ok(Written { count: 0, value: None }));
        let f = file(b"/proc/sys/fs/mqueue/msg_max").unwrap();
        assert_eq!(parse_write(f, b"7\n", 2, true), Ok(Written { count: 2, value: None }));
        assert_eq!(parse_write(f, b"7\n", 2, false), ok(2, 7));
    }

    #[test]
    fn settings_are_replaced_whole_and_trusted_only_as_roots() {
        if sys::ids().1 != 0 {
            return; // only root writes settings
        }
        let path = format!("/tmp/mqshim-sysctl-test-{}", std::process::id());
        let s = Settings::new(path.as_bytes());
        assert_eq!(s.changed(), Some(vec![]), "no namespace: no settings");
        s.store("msg_max", 5).unwrap();
        assert_eq!(s.changed(), Some(vec![("msg_max".to_string(), 5)]));
        assert_eq!(s.changed(), None, "unchanged: one fstatat, nothing read");
        s.store("msgmni", 3).unwrap();
        s.store("msg_max", 7).unwrap();
        assert_eq!(s.changed(), Some(vec![("msgmni".to_string(), 3), ("msg_max".to_string(), 7)]));
        let file = format!("{path}/sysctl");
        let mode = |p: &str| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o7777;
        assert_eq!(mode(&file), 0o644);
        // Another user's file in its place (planted in the sticky root) is not believed.
        std::fs::remove_file(&file).unwrap();
        std::fs::write(&file, "msg_max = 1000\n").unwrap();
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
        assert_eq!(s.changed(), Some(vec![]));
        // Nor is a link to root's file.
        std::fs::remove_file(&file).unwrap();
        std::fs::write(format!("{path}/elsewhere"), "msg_max = 1000\n").unwrap();
        std::os::unix::fs::symlink(format!("{path}/elsewhere"), &file).unwrap();
        assert_eq!(s.changed(), Some(vec![]));
        // Root replaces it whole.
        s.store("queues_max", -1).unwrap();
        assert_eq!(s.changed(), Some(vec![("queues_max".to_string(), -1)]));
        let _ = std::fs::remove_dir_all(&path);
    }

    /// Where there is no settings file, a call looks at the root, not for the absent file; a
    /// file made there after is still seen at the next call.
    #[test]
    fn a_settings_file_made_after_a_look_that_found_none_is_seen_at_the_next_call() {
        if sys::ids().1 != 0 {
            return; // only root writes settings
        }
        let path = format!("/tmp/mqshim-sysctl-gate-test-{}", std::process::id());
        let writer = Settings::new(path.as_bytes());
        writer.store("msgmni", 3).unwrap();
        std::fs::remove_file(format!("{path}/sysctl")).unwrap();
        let s = Settings::new(path.as_bytes());
        assert_eq!(s.changed(), Some(vec![]), "the first call reads: none");
        for _ in 0..3 {
            assert_eq!(s.changed(), None, "nothing changed");
        }
        writer.store("msg_max", 5).unwrap();
        assert_eq!(s.changed(), Some(vec![("msg_max".to_string(), 5)]), "made since: seen at once");
        assert_eq!(s.changed(), None);
        std::fs::remove_file(format!("{path}/sysctl")).unwrap();
        assert_eq!(s.changed(), Some(vec![]), "removed since: seen at once");
        writer.store("queues_max", 9).unwrap();
        assert_eq!(s.changed(), Some(vec![("queues_max".to_string(), 9)]));
        let _ = std::fs::remove_dir_all(&path);
    }

    #[test]
    fn settings_lines_parse_back() {
        assert_eq!(parse(b"msg_max = 5\nbogus = 3\nqueues_max = -1\nmsgmni=x\n"), vec![("msg_max".to_string(), 5), ("queues_max".to_string(), -1)]);
    }
}
