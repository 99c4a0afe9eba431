//! Keys of System V queues: one symbolic link per live key in the sticky `sysv/` directory,
//! `key.<key, 8 hex digits>`, whose target is the queue's id in decimal. It is never followed
//! (only `readlinkat` reads it). The kernel protects it: made at once, whole, by `symlinkat`,
//! which fails when the key is taken; owned by the queue's creator, so in the sticky directory
//! only that user (or root) can remove or replace it. The queue's segment records its key too,
//! and a link counts only while the queue it names is live with that key
//! (`SysvEmulation::by_key`): a link its remover could not remove, or one planted by another
//! user, is stale and removed by the next creator of the key who may.

use std::ffi::CString;
use std::os::raw::c_int;

use crate::errno::{Errno, Result};
use crate::os::sys;

/// The link's name for `key`.
pub fn link_name(key: i32) -> CString {
    CString::new(format!("key.{:08x}", key as u32)).expect("no NUL in a formatted name")
}

/// The key of a link name (for the sweep), or None for any other name.
pub fn key_of_name(name: &str) -> Option<i32> {
    let hex = name.strip_prefix("key.")?;
    (hex.len() == 8).then(|| u32::from_str_radix(hex, 16).ok()).flatten().map(|k| k as i32)
}

/// The id `key`'s link names: None when there is none; Some(-1) when something that is no
/// key link is in its place (a stale entry, as a link naming no live queue).
pub fn read(dir: c_int, key: i32) -> Result<Option<i32>> {
    let mut buf = [0u8; 16];
    let n = sys::readlinkat(dir, &link_name(key), &mut buf);
    if n < 0 {
        return match Errno::last() {
            Errno::ENOENT => Ok(None),
            // Not a link (a file planted in its place).
            Errno::EINVAL => Ok(Some(-1)),
            e => Err(e),
        };
    }
    let id = std::str::from_utf8(&buf[..n as usize]).ok().and_then(|t| t.parse::<i32>().ok()).filter(|&id| id >= 0);
    Ok(Some(id.unwrap_or(-1)))
}

/// Makes `key`'s link name `id`: EEXIST when the key has a link already.
pub fn create(dir: c_int, key: i32, id: i32) -> Result<()> {
    let target = CString::new(id.to_string()).expect("no NUL in a number");
    if sys::symlinkat(&target, dir, &link_name(key)) == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// Removes `key`'s link (it must be stale or the caller's queue's): whether it is gone.
pub fn remove(dir: c_int, key: i32) -> bool {
    sys::unlinkat(dir, &link_name(key), 0) == 0 || Errno::last() == Errno::ENOENT
}
