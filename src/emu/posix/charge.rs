//! Each user's RLIMIT_MSGQUEUE charge, in O(1): a counter per user, `posix-charge/<uid>`, that
//! is never below the user's true charge, so a creation that fits under the counter fits under
//! the limit; one that does not is checked against the exact sum over the queues (a scan of the
//! namespace, see `store::Store::charged_to`), which then resets the counter.
//!
//! Why an upper bound and not the charge itself: a creator reserves its charge before it
//! publishes its queue, and the charge is given back only by whoever removes the queue's
//! directory — once, after its files are gone. A process killed in between leaves the counter
//! high, never low; and a queue destroyed by a process of another user (its last closer) is not
//! subtracted at all (a process maps only its own user's counter, so a user truncating their
//! counter file can crash only their own processes). All of that is corrected the next time the
//! counter says the limit is reached. The only way under the true charge is concurrent creators
//! of one user while a reset is stored, which may then admit one queue over the limit.

use std::ffi::CString;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::emu::engine::segment::Mapping;
use crate::errno::{Errno, Result};
use crate::os::sys;

/// The counters of one namespace, as this process sees them: its own user's, mapped on first
/// use.
pub struct ChargeCounters {
    dir: c_int,
    own: OnceLock<Option<(u32, Mapping)>>,
}

impl ChargeCounters {
    /// The counters in the directory `dir` (`posix-charge/`).
    pub fn new(dir: c_int) -> ChargeCounters {
        ChargeCounters { dir, own: OnceLock::new() }
    }

    /// `uid`'s counter, when it is this process's (the first user to ask; the file must be
    /// `uid`'s own regular file, which only it and root can write).
    pub fn of(&self, uid: u32) -> Option<&AtomicU64> {
        let own = self.own.get_or_init(|| open_counter(self.dir, uid).ok().map(|m| (uid, m)));
        let (owner, map) = own.as_ref()?;
        // SAFETY: the mapping is at least a page, page-aligned, and lives as long as self; an
        // AtomicU64 is valid for any bit pattern.
        (*owner == uid).then(|| unsafe { &*(map.base() as *const AtomicU64) })
    }

    /// Reserves `bytes` for `uid` if the counter says they fit under `limit`; false when the
    /// caller must count exactly (no counter, or it says no).
    pub fn reserve(&self, uid: u32, bytes: u64, limit: u64) -> bool {
        let Some(c) = self.of(uid) else { return false };
        let before = c.fetch_add(bytes, Ordering::AcqRel);
        if before.checked_add(bytes).is_some_and(|total| total <= limit) {
            return true;
        }
        c.fetch_sub(bytes, Ordering::AcqRel);
        false
    }

    /// Resets `uid`'s counter to an exact count (made by the caller) plus what it reserves now.
    pub fn reset(&self, uid: u32, charged_and_reserved: u64) {
        if let Some(c) = self.of(uid) {
            c.store(charged_and_reserved, Ordering::Release);
        }
    }

    /// Gives back `bytes` of `uid`'s charge (a reservation not used, or a queue destroyed).
    pub fn release(&self, uid: u32, bytes: u64) {
        if let Some(c) = self.of(uid) {
            let _ = c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(v.saturating_sub(bytes)));
        }
    }
}

/// Opens (creating it, 0644, if missing) and maps the counter file of `uid`, which must be the
/// caller's: a regular file of one link owned by `uid`, at least 8 bytes long.
fn open_counter(dir: c_int, uid: u32) -> Result<Mapping> {
    if sys::ids().2 != uid {
        return Err(Errno::EPERM);
    }
    let name = CString::new(uid.to_string()).map_err(|_| Errno::EINVAL)?;
    let flags = libc::O_RDWR | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let mut fd = sys::openat(dir, &name, flags | libc::O_CREAT | libc::O_EXCL, 0o644);
    if fd >= 0 {
        // Starts at 0 (the exact count is taken the first time it says no).
        if sys::fchmod(fd, 0o644) != 0 || sys::ftruncate(fd, 4096) != 0 {
            sys::close(fd);
            return Err(Errno::last());
        }
    } else {
        fd = sys::openat(dir, &name, flags, 0);
        if fd < 0 {
            return Err(Errno::last());
        }
    }
    let usable = sys::stat_of(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_uid == uid && st.st_nlink == 1 && st.st_size >= 4096);
    let mapped = if usable { Mapping::map(fd, 4096) } else { Err(Errno::EPERM) };
    sys::close(fd);
    mapped
}
