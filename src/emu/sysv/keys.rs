//! Keys of System V queues: one symbolic link per live key in the sticky `sysv/` directory,
//! `key.<key, 8 hex digits>`, whose target is the queue's id in decimal. It is never followed
//! (only `readlinkat` reads it). The kernel protects it: made at once, whole, by `symlinkat`,
//! which fails when the key is taken; owned by the queue's creator, so in the sticky directory
//! only that user (or root) can remove or replace it. The queue's segment records its key too,
//! and a link counts only while the queue it names is live with that key
//! (`SysvEmulation::by_key`): a link its remover could not remove (killed half-way), or one
//! planted by another user, is stale, and removed by the next creator of the key who may.
//!
//! A stale link the next creator may not remove (another user's) would keep the key from
//! everyone but its owner and root. So a key has [`SLOTS`] link names, `key.<key>` first, then
//! `key.<key>.1` and on: a creator that finds every present slot stale, and may not remove the
//! last one, links its queue at the next, under the key's lock. The slots a key uses are
//! always the first few (no slot is present after an absent one): a slot is made after a
//! present one only under the key's lock, and a stale slot is removed only under it, and
//! only when the next slot is absent. So a lookup reads slots until an absent one, and one
//! whose first slot is absent (every key nobody planted or left a link for) reads one.

use std::ffi::CString;
use std::os::raw::c_int;

use crate::errno::{Errno, Result};
use crate::os::sys;

/// How many link names a key has (see the module comment).
pub const SLOTS: u32 = 4;

/// The link's name for `key` in slot `slot`.
pub fn link_name(key: i32, slot: u32) -> CString {
    let name = if slot == 0 { format!("key.{:08x}", key as u32) } else { format!("key.{:08x}.{slot}", key as u32) };
    CString::new(name).expect("no NUL in a formatted name")
}

/// The key and slot of a link name (for the sweep), or None for any other name.
pub fn key_of_name(name: &str) -> Option<(i32, u32)> {
    let rest = name.strip_prefix("key.")?;
    let (hex, slot) = match rest.split_once('.') {
        Some((hex, slot)) => (hex, slot.parse::<u32>().ok().filter(|&s| (1..SLOTS).contains(&s) && slot == s.to_string())?),
        None => (rest, 0),
    };
    (hex.len() == 8).then(|| u32::from_str_radix(hex, 16).ok()).flatten().map(|k| (k as i32, slot))
}

/// The id `key`'s link in `slot` names: None when there is none; Some(-1) when something that
/// is no key link is in its place (a stale entry, as a link naming no live queue).
pub fn read(dir: c_int, key: i32, slot: u32) -> Result<Option<i32>> {
    let mut buf = [0u8; 16];
    let n = sys::readlinkat(dir, &link_name(key, slot), &mut buf);
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

/// The ids `key`'s present slots name, first slot first, up to the first absent one (the slots
/// after it unread): the one walk of a key's links.
pub fn links(dir: c_int, key: i32) -> impl Iterator<Item = Result<i32>> {
    (0..SLOTS).map_while(move |slot| read(dir, key, slot).transpose())
}

/// [`links`], all of them.
pub fn read_all(dir: c_int, key: i32) -> Result<Vec<i32>> {
    links(dir, key).collect()
}

/// The slot of `key`'s link that names `id`, if one does (the slots after it unread).
pub fn slot_of(dir: c_int, key: i32, id: i32) -> Option<u32> {
    links(dir, key).map_while(Result::ok).position(|named| named == id).map(|slot| slot as u32)
}

/// Makes `key`'s link in `slot` name `id`: EEXIST when that slot has a link already.
pub fn create(dir: c_int, key: i32, slot: u32, id: i32) -> Result<()> {
    let target = CString::new(id.to_string()).expect("no NUL in a number");
    if sys::symlinkat(&target, dir, &link_name(key, slot)) == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// Removes `key`'s link in `slot` (it must be stale or the caller's queue's, and the next slot
/// absent or this one the caller's live queue's): whether it is gone.
pub fn remove(dir: c_int, key: i32, slot: u32) -> bool {
    sys::unlinkat(dir, &link_name(key, slot), 0) == 0 || Errno::last() == Errno::ENOENT
}

/// Removes the link of `key` that names `id` (the caller's queue's), if one does: false when
/// one does and it could not be removed.
pub fn remove_of(dir: c_int, key: i32, id: i32) -> bool {
    slot_of(dir, key, id).is_none_or(|slot| remove(dir, key, slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_round_trip_and_nothing_else_parses() {
        for slot in 0..SLOTS {
            let name = link_name(0x5eed_0001, slot);
            assert_eq!(key_of_name(name.to_str().unwrap()), Some((0x5eed_0001, slot)));
        }
        assert_eq!(link_name(-1, 0).to_str().unwrap(), "key.ffffffff");
        for name in ["key.5eed0001.0", "key.5eed0001.4", "key.5eed0001.01", "key.5eed0001.", "key.5eed001", "msq.3", "key.5eed0001.1.1"] {
            assert_eq!(key_of_name(name), None, "{name}");
        }
    }
}
