//! A queue's directory and the names in it — `data` (the segment), `fifo` (what descriptors
//! refer to), the FIFO's second name `fifo.<token>` (see `store::Meta::fifo_link`) and `meta`
//! — and its removal, which the store (destruction, the sweep of `posix-tmp/`) and the spare
//! pool (a queue's directory kept whole: see `spare`) share.

use std::ffi::{CStr, CString};
use std::os::raw::c_int;

use crate::emu::namespace::list_dir;
use crate::errno::Errno;
use crate::os::sys;

/// A queue's segment file, in its directory.
pub const DATA: &CStr = c"data";
/// The FIFO's second name in its queue's directory, before its link token (see
/// `store::Meta::fifo_link`).
pub const FIFO_LINK_PREFIX: &[u8] = b"fifo.";
/// The length of a link token in a FIFO's second name (hexadecimal digits).
pub const FIFO_LINK_DIGITS: usize = 16;

/// The FIFO's second name for the link token `token` (see `store::Meta::fifo_link`).
pub fn fifo_link_name(token: u64) -> CString {
    CString::new(fifo_link_bytes(token)).expect("hexadecimal digits have no NUL")
}

/// [`fifo_link_name`] without its NUL, made without allocating (`Store::open_recent`).
pub fn fifo_link_bytes(token: u64) -> [u8; FIFO_LINK_PREFIX.len() + FIFO_LINK_DIGITS] {
    let mut name = [0u8; FIFO_LINK_PREFIX.len() + FIFO_LINK_DIGITS];
    name[..FIFO_LINK_PREFIX.len()].copy_from_slice(FIFO_LINK_PREFIX);
    for (i, digit) in name[FIFO_LINK_PREFIX.len()..].iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(token >> (4 * (FIFO_LINK_DIGITS - 1 - i)) & 0xf) as usize];
    }
    name
}

/// Removes a queue directory and its files (best effort: what remains is collected later),
/// through `dir` when the caller has it open; `fifo_link`: the FIFO's second name's token, if
/// known. If more remains — a second name not known, a `meta` written aside by a process killed
/// before renaming it into place, a queue's directory kept whole in a spare directory (which
/// this removes as a queue directory in turn, one level down only) — the directory is listed
/// and every name in it removed. True when this call removed the directory.
pub fn remove_queue_dir(parent: c_int, entry: &[u8], dir: Option<c_int>, fifo_link: u64, with_data: bool) -> bool {
    remove_at_depth(parent, entry, dir, fifo_link, with_data, 1)
}

fn remove_at_depth(parent: c_int, entry: &[u8], dir: Option<c_int>, fifo_link: u64, with_data: bool, depth: u32) -> bool {
    let Ok(c_entry) = CString::new(entry) else { return false };
    let opened = match dir {
        Some(_) => None,
        None => Some(sys::openat(parent, &c_entry, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0)).filter(|&fd| fd >= 0),
    };
    let dir = dir.or(opened);
    if let Some(dir) = dir {
        for f in [DATA, c"fifo", c"meta"].into_iter().skip(usize::from(!with_data)) {
            sys::unlinkat(dir, f, 0);
        }
        if fifo_link != 0 {
            sys::unlinkat(dir, &fifo_link_name(fifo_link), 0);
        }
    }
    let mut removed = sys::unlinkat(parent, &c_entry, libc::AT_REMOVEDIR) == 0;
    if let (Some(dir), false) = (dir, removed) {
        if Errno::last() == Errno::ENOTEMPTY {
            for name in list_dir(dir) {
                let Ok(c_name) = CString::new(name.clone()) else { continue };
                if sys::unlinkat(dir, &c_name, 0) != 0 && Errno::last() == Errno::EISDIR && depth > 0 {
                    remove_at_depth(dir, &name, None, 0, true, depth - 1);
                }
            }
            removed = sys::unlinkat(parent, &c_entry, libc::AT_REMOVEDIR) == 0;
        }
    }
    if let Some(fd) = opened {
        sys::close(fd);
    }
    removed
}
