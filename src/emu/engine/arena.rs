//! Segment files: mapping a queue's file into memory, shared with every other process that maps
//! it.

use crate::errno::{Errno, Result};

/// A shared, read-write mapping of a whole segment file, unmapped on drop.
pub struct Mapping {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is shared memory that every process (and thread) accesses only through
// atomics or under the segment's process-shared lock; the pointer itself is plain data.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` shared and read-write.
    pub fn map(fd: libc::c_int, len: u64) -> Result<Mapping> {
        let len = usize::try_from(len).map_err(|_| Errno::ENOMEM)?;
        // SAFETY: a fresh shared mapping of an open file; the kernel validates fd and len.
        let base = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0) };
        if base == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        Ok(Mapping { base: base.cast(), len })
    }

    pub fn base(&self) -> *mut u8 {
        self.base
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base/len describe a mapping created by `map` and not yet unmapped.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// The size of the file behind `fd`.
pub fn file_size(fd: libc::c_int) -> Result<u64> {
    // SAFETY: an all-zero stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if crate::os::sys::fstat(fd, &mut st) != 0 {
        return Err(Errno::last());
    }
    Ok(st.st_size as u64)
}
