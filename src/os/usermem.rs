//! Reading the calling program's memory when it may be invalid.
//!
//! The tracer decodes arguments after the call. When the call succeeded, the memory it used
//! was valid and is read directly; when it failed, a pointer may be bad (the kernel would have
//! said EFAULT, or failed before touching it), so it is read with `process_vm_readv` on our
//! own process, which reports a bad address instead of faulting.

use std::cell::Cell;
use std::mem::MaybeUninit;

/// Whether the memory behind a call's pointers is known to be readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// The call succeeded, so the memory it read or wrote was valid.
    Valid,
    /// It may not be: read defensively.
    Unknown,
    /// A pointer argument of the call being served: it may be bad, but memory it reaches is
    /// not unmapped while the call runs, which the C API requires (as for [`checked_read`]).
    /// Pages this thread found readable lately are copied directly (see [`probe_read`]).
    Argument,
}

/// Copies `dst.len()` bytes from `src` into `dst`; false when any of it is unreadable.
///
/// # Safety
/// With [`Trust::Valid`], `src` must be valid for reads of `dst.len()` bytes: they are copied
/// directly. With [`Trust::Unknown`] any address is allowed (it is read through
/// `process_vm_readv`, which reports a bad address instead of faulting); with
/// [`Trust::Argument`], any address that is not unmapped while the call runs.
pub unsafe fn read_bytes(src: *const u8, dst: &mut [u8], trust: Trust) -> bool {
    if dst.is_empty() {
        return true;
    }
    if src.is_null() {
        return false;
    }
    if trust == Trust::Valid || (trust == Trust::Argument && probe_read(src, dst.len())) {
        // SAFETY: `Trust::Valid`: the caller guarantees `src` is readable for `dst.len()` bytes;
        // `Trust::Argument`: they were found readable and stay mapped (the caller's guarantee).
        unsafe { std::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) };
        return true;
    }
    read_from(crate::os::ids::pid(), src as usize, dst)
}

/// Copies `dst.len()` bytes at `addr` in process (or thread) `pid` into `dst` through
/// `process_vm_readv`: false when any of it is unreadable (or the process is gone). This
/// process's own memory when `pid` is its own; another's for a supervisor serving it.
pub fn read_from(pid: libc::pid_t, addr: usize, dst: &mut [u8]) -> bool {
    if dst.is_empty() {
        return true;
    }
    let local = libc::iovec { iov_base: dst.as_mut_ptr().cast(), iov_len: dst.len() };
    let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: dst.len() };
    // SAFETY: `local` describes `dst`; the kernel checks the remote range and reports EFAULT
    // rather than faulting.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    n == dst.len() as isize
}

/// Copies `src` to `addr` in process (or thread) `pid` through `process_vm_writev`: false when
/// any of it is unwritable (or the process is gone).
pub fn write_to(pid: libc::pid_t, addr: usize, src: &[u8]) -> bool {
    if src.is_empty() {
        return true;
    }
    let local = libc::iovec { iov_base: src.as_ptr().cast_mut().cast(), iov_len: src.len() };
    let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: src.len() };
    // SAFETY: `local` describes `src`, only read; the kernel checks the remote range.
    let n = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    n == src.len() as isize
}

/// [`read_cstr`] of another process's memory (any address: a bad one gives None).
pub fn read_cstr_from(pid: libc::pid_t, addr: usize, out: &mut [u8]) -> Option<(usize, bool)> {
    cstr_by_pages(addr, out, |at, chunk| read_from(pid, at, chunk))
}

/// A NUL-terminated string at `addr`, read a page at a time by `read` (see [`read_cstr`]).
fn cstr_by_pages(addr: usize, out: &mut [u8], mut read: impl FnMut(usize, &mut [u8]) -> bool) -> Option<(usize, bool)> {
    let mut len = 0;
    while len < out.len() {
        // Read up to the end of the current page so a string ending just before an unmapped
        // page is still read.
        let at = addr + len;
        let page_left = 4096 - (at % 4096);
        let chunk = page_left.min(out.len() - len);
        if !read(at, &mut out[len..len + chunk]) {
            return if len == 0 { None } else { Some((len, false)) };
        }
        if let Some(nul) = out[len..len + chunk].iter().position(|&b| b == 0) {
            return Some((len + nul, true));
        }
        len += chunk;
    }
    Some((len, false))
}

/// Reads a `T` (plain old data) from `src`.
///
/// # Safety
/// As for [`read_bytes`]: with [`Trust::Valid`], `src` must be valid for reads of a `T`.
/// `T` must be valid for any bit pattern (C structs and integers).
pub unsafe fn read_struct<T: Copy>(src: *const T, trust: Trust) -> Option<T> {
    let mut value = MaybeUninit::<T>::uninit();
    // SAFETY: the slice covers exactly the storage of `value`.
    let dst = unsafe { std::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), std::mem::size_of::<T>()) };
    // SAFETY: the caller's guarantee for `src` covers these `size_of::<T>()` bytes.
    if unsafe { read_bytes(src.cast(), dst, trust) } {
        // SAFETY: every byte was written, and T is plain data valid for any bit pattern
        // (only libc C structs and integers are read this way).
        Some(unsafe { value.assume_init() })
    } else {
        None
    }
}

/// Reads a NUL-terminated string of at most `out.len()` bytes into `out`.
/// Returns the bytes read (without the NUL) and whether the whole string fit, or None when the
/// first byte is unreadable.
///
/// # Safety
/// With [`Trust::Valid`], every page from `src` to the string's NUL (or to `out.len()` bytes,
/// whichever comes first) must be readable: bytes are copied a page at a time, so the rest of
/// the page holding the NUL is read too. With [`Trust::Unknown`] any address is allowed; with
/// [`Trust::Argument`], any that is not unmapped while the call runs.
pub unsafe fn read_cstr(src: *const u8, out: &mut [u8], trust: Trust) -> Option<(usize, bool)> {
    cstr_by_pages(src as usize, out, |at, chunk| {
        // SAFETY: the chunk stays on one page, reached before any NUL and within `out.len()`
        // bytes of `src`: a page the caller's guarantee makes readable.
        unsafe { read_bytes(at as *const u8, chunk, trust) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_valid_and_rejects_invalid_memory() {
        let data = *b"hello\0world";
        let mut out = [0u8; 5];
        let mut s = [0u8; 64];
        // SAFETY: with Trust::Unknown any address may be read; bad ones are the point here.
        unsafe {
            assert!(read_bytes(data.as_ptr(), &mut out, Trust::Unknown));
            assert_eq!(&out, b"hello");
            assert!(!read_bytes(8 as *const u8, &mut out, Trust::Unknown));
            assert!(!read_bytes(std::ptr::null(), &mut out, Trust::Unknown));
            assert_eq!(read_cstr(data.as_ptr(), &mut s, Trust::Unknown), Some((5, true)));
            assert_eq!(read_cstr(16 as *const u8, &mut s, Trust::Unknown), None);
            assert_eq!(read_struct(&42u64 as *const u64, Trust::Unknown), Some(42));
        }
    }

    #[test]
    fn two_pages_of_one_set_are_both_remembered() {
        thread_local! {
            static CACHE: [Cell<usize>; PAGE_CACHE] = const { [const { Cell::new(0) }; PAGE_CACHE] };
        }
        let checks = Cell::new(0);
        let check = |_page: usize| {
            checks.set(checks.get() + 1);
            true
        };
        // Pages 3 and 3 + PAGE_CACHE (a stack page and a name's page of one call, say).
        let (a, b) = (3usize << 12, (3 + PAGE_CACHE) << 12);
        for _ in 0..4 {
            assert!(probe_pages(a, 8, &CACHE, check));
            assert!(probe_pages(b, 8, &CACHE, check));
        }
        assert_eq!(checks.get(), 2, "each page checked once");
    }
}

/// Pages recently found readable / writable by this thread (page number + 1; 0 = empty), so a
/// program that calls with the same buffers pays the check once, not on every call. Two ways
/// per set: a call's pages are typically two (a name or buffer, and a stack page), and with one
/// way those two shared a slot in one run in sixteen (by where the loader put them), each then
/// pushing the other out on every call.
const PAGE_CACHE: usize = 16;
const PAGE_SETS: usize = PAGE_CACHE / 2;

thread_local! {
    static READABLE: [Cell<usize>; PAGE_CACHE] = const { [const { Cell::new(0) }; PAGE_CACHE] };
    static WRITABLE: [Cell<usize>; PAGE_CACHE] = const { [const { Cell::new(0) }; PAGE_CACHE] };
}

/// Whether every page of the `len` bytes at `ptr` is in `cache`, or passes `check` (and is put
/// there). The look in the cache is all a call makes once its buffers were seen, so it is kept
/// small enough to be inlined into each call's path; the check is out of line.
#[inline]
fn probe_pages(ptr: usize, len: usize, cache: &'static std::thread::LocalKey<[Cell<usize>; PAGE_CACHE]>, check: impl Fn(usize) -> bool) -> bool {
    if len == 0 {
        return true;
    }
    if ptr == 0 {
        return false;
    }
    let Some(end) = ptr.checked_add(len - 1) else { return false };
    let (first, last) = (ptr >> 12, end >> 12);
    cache.with(|c| (first..=last).all(|page| cached(c, page))) || probe_pages_uncached(first, last, cache, check)
}

/// The two entries of the page cache `c` where `page` (a page number) may be, newer first.
#[inline]
fn set_of(c: &[Cell<usize>; PAGE_CACHE], page: usize) -> &[Cell<usize>] {
    &c[2 * (page % PAGE_SETS)..][..2]
}

/// Whether `page` (a page number) is in the page cache `c`.
#[inline]
fn cached(c: &[Cell<usize>; PAGE_CACHE], page: usize) -> bool {
    let set = set_of(c, page);
    set[0].get() == page + 1 || set[1].get() == page + 1
}

/// [`probe_pages`] of pages `first..=last`, one of which is not in `cache`.
#[cold]
#[inline(never)]
fn probe_pages_uncached(first: usize, last: usize, cache: &'static std::thread::LocalKey<[Cell<usize>; PAGE_CACHE]>, check: impl Fn(usize) -> bool) -> bool {
    cache.with(|c| {
        (first..=last).all(|page| {
            if cached(c, page) {
                return true;
            }
            let ok = check(page << 12);
            if ok {
                // The set's older page makes way.
                let set = set_of(c, page);
                set[1].set(set[0].get());
                set[0].set(page + 1);
            }
            ok
        })
    })
}

/// Whether `len` bytes at `ptr` can be read without faulting.
#[inline]
pub fn probe_read(ptr: *const u8, len: usize) -> bool {
    probe_pages(ptr as usize, len, &READABLE, |page| {
        let mut byte = 0u8;
        // SAFETY: `Trust::Unknown` reads through process_vm_readv, which accepts any address.
        unsafe { read_bytes(page as *const u8, std::slice::from_mut(&mut byte), Trust::Unknown) }
    })
}

/// Whether `len` bytes at `ptr` can be written without faulting (each page is probed by writing
/// back one byte it already holds).
#[inline]
pub fn probe_write(ptr: *mut u8, len: usize) -> bool {
    probe_pages(ptr as usize, len, &WRITABLE, |page| {
        let mut byte = 0u8;
        // SAFETY: `Trust::Unknown` reads through process_vm_readv, which accepts any address.
        if !unsafe { read_bytes(page as *const u8, std::slice::from_mut(&mut byte), Trust::Unknown) } {
            return false;
        }
        // Writes back the value just read.
        write_to(crate::os::ids::pid(), page, std::slice::from_ref(&byte))
    })
}

/// Longest buffer [`writable_prefix`] checks: what the page cache holds, so checking a buffer
/// ahead never costs a system call per message.
const AHEAD_MAX: usize = 4 * 4096;

/// How many bytes at `ptr` are known writable when up to `len` may be written: `len` when the
/// whole range is (checked only for ranges of at most `AHEAD_MAX` bytes), else 0. Lets a
/// receive check its buffer before taking a queue's lock; 0 means "check the exact length
/// later", which gives the same answer, only inside the critical section.
pub fn writable_prefix(ptr: *mut u8, len: usize) -> usize {
    if len <= AHEAD_MAX && probe_write(ptr, len) {
        len
    } else {
        0
    }
}

/// Whether the kernel's `access_ok(ptr, len)` (x86_64) accepts the range: it does not wrap and
/// ends at or below the highest user address, `TASK_SIZE_MAX` — one page short of 2^47, or of
/// 2^56 with five-level page tables. `read`/`write` refuse a range it rejects with EFAULT
/// before looking at the memory. Whether five-level paging is on is asked of the kernel once,
/// and only for a range ending between the two limits.
pub fn access_ok(ptr: *const u8, len: usize) -> bool {
    const PAGE: usize = 4096;
    const FOUR_LEVEL_MAX: usize = (1 << 47) - PAGE;
    const FIVE_LEVEL_MAX: usize = (1 << 56) - PAGE;
    match (ptr as usize).checked_add(len) {
        None => false,
        Some(end) if end <= FOUR_LEVEL_MAX => true,
        Some(end) if end > FIVE_LEVEL_MAX => false,
        Some(_) => five_level_paging(),
    }
}

/// Whether this process's address space reaches past 2^47 (five-level page tables): a page can
/// be mapped there. Asked once (a mapping made and removed), then remembered.
fn five_level_paging() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => return false,
        2 => return true,
        _ => {}
    }
    let above_four_level = (1usize << 47) as *mut libc::c_void;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE;
    // SAFETY: a new private page at an address nothing of ours uses (NOREPLACE leaves any
    // existing mapping alone), removed at once below.
    let page = unsafe { libc::mmap(above_four_level, 4096, libc::PROT_NONE, flags, -1, 0) };
    let reached = page == above_four_level;
    if page != libc::MAP_FAILED {
        // SAFETY: the page just mapped, used by nothing.
        unsafe { libc::munmap(page, 4096) };
    }
    KNOWN.store(if reached { 2 } else { 1 }, Ordering::Relaxed);
    reached
}

/// The first steps of the kernel's `vfs_readv`, for a descriptor opened for reading or not
/// (`readable`): EBADF when not, then the vector as [`read_iovecs`] takes it; None when its
/// pieces hold no byte (the read returns 0 before any other check).
pub fn readv_pieces(readable: bool, iov: *const libc::iovec, iovcnt: libc::c_int) -> crate::errno::Result<Option<Vec<libc::iovec>>> {
    if !readable {
        return Err(crate::errno::Errno::EBADF);
    }
    let pieces = read_iovecs(iov, iovcnt)?;
    Ok(pieces.iter().any(|p| p.iov_len != 0).then_some(pieces))
}

/// The caller's vector of `iovcnt` pieces at `iov`, as the kernel's `import_iovec` takes it for
/// `readv`/`writev` and their variants: a count outside 0..=`UIO_MAXIOV` or a piece longer
/// than `ssize_t` holds is EINVAL, an unreadable vector EFAULT. The pieces themselves are not
/// checked.
pub fn read_iovecs(iov: *const libc::iovec, iovcnt: libc::c_int) -> crate::errno::Result<Vec<libc::iovec>> {
    /// `UIO_MAXIOV`.
    const IOV_MAX: libc::c_int = 1024;
    if !(0..=IOV_MAX).contains(&iovcnt) {
        return Err(crate::errno::Errno::EINVAL);
    }
    let mut pieces = vec![libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; iovcnt as usize];
    // SAFETY: the bytes of a local vector of plain iovecs, any bit pattern valid for them.
    let raw = unsafe { std::slice::from_raw_parts_mut(pieces.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(pieces.as_slice())) };
    // SAFETY: any address is allowed with Trust::Unknown (read through process_vm_readv).
    if !unsafe { read_bytes(iov.cast(), raw, Trust::Unknown) } {
        return Err(crate::errno::Errno::EFAULT);
    }
    if pieces.iter().any(|p| p.iov_len > isize::MAX as usize) {
        return Err(crate::errno::Errno::EINVAL);
    }
    Ok(pieces)
}

/// Reads a `T` from the caller's `src`, or None when it is not readable (EFAULT).
///
/// # Safety
/// `src` is an address the calling program passed for a `T` (it may be bad: an unmapped or
/// unreadable one yields None), and `T` is valid for any bit pattern. The check cannot see
/// memory unmapped after it was found readable: the program must not unmap it while its call
/// runs (or since this thread last used that page), as the C API already requires.
pub unsafe fn checked_read<T: Copy>(src: *const T) -> Option<T> {
    if !probe_read(src.cast(), std::mem::size_of::<T>()) {
        return None;
    }
    // SAFETY: the bytes were just found readable and stay mapped (the caller's guarantee); T is
    // plain C data valid for any bit pattern.
    Some(unsafe { std::ptr::read_unaligned(src) })
}

/// Writes `value` to the caller's `dst`, or false when it is not writable (EFAULT).
///
/// # Safety
/// `dst` is an address the calling program passed for a `T` to be written (it may be bad: an
/// unmapped or read-only one yields false). As for [`checked_read`], the program must not unmap
/// or write-protect it while its call runs.
pub unsafe fn checked_write<T: Copy>(dst: *mut T, value: &T) -> bool {
    if !probe_write(dst.cast(), std::mem::size_of::<T>()) {
        return false;
    }
    // SAFETY: the bytes were just found writable and stay so (the caller's guarantee).
    unsafe { std::ptr::write_unaligned(dst, *value) };
    true
}
