//! The block area: blocks of 64-byte units in size classes, carved from the bottom up and kept
//! on a free list per class; the file grows (and every process remaps it) when no block fits.
//! Writing a message into a block.

use super::*;

impl Queue {
    /// Makes the block area reachable up to `bytes` from the file's start (the lock is held).
    pub(super) fn ensure_mapped(&self, bytes: u64) -> Result<()> {
        if bytes <= self.area_len.load(Ordering::Acquire) as u64 {
            return Ok(());
        }
        let map = segment::open_mapped(self.dir, &self.file, bytes, |e| e)?;
        let (base, len) = (map.base(), map.len());
        // SAFETY: `extra` is only touched by the holder of the queue lock, which the caller is.
        unsafe { (*self.extra.get()).push(map) };
        self.area_base.store(base, Ordering::Release);
        self.area_len.store(len, Ordering::Release);
        Ok(())
    }

    /// Extends the file so the area holds at least `units` units (the lock is held).
    pub(super) fn grow(&self, units: u64) -> Result<()> {
        let h = self.header();
        let current = h.area_units.load(Ordering::Acquire) as u64;
        if units > current {
            let new = units.max(current.saturating_mul(2)).min(u32::MAX as u64);
            if units > new {
                return Err(Errno::ENOMEM);
            }
            let fd = openat(self.dir, &self.file, libc::O_RDWR, 0)?;
            let size = area_offset() + new * UNIT;
            // The file only ever grows.
            let grown = segment::file_size(fd).map(|now| now >= size || sys::ftruncate(fd, size) == 0);
            close(fd);
            if grown != Ok(true) {
                return Err(Errno::ENOMEM);
            }
            h.area_units.store(new as u32, Ordering::Release);
        }
        self.ensure_mapped(area_offset() + units * UNIT)?;
        self.reserve_area(units)
    }

    /// Makes the pages of the block area up to `units` units before they are carved (the lock
    /// is held, and the area is mapped that far), so a full filesystem is ENOMEM here and never
    /// a SIGBUS when the block is written.
    fn reserve_area(&self, units: u64) -> Result<()> {
        let area_units = self.header().area_units.load(Ordering::Acquire) as u64;
        self.reserve(&self.reserved_area, area_offset(), units * UNIT, area_units * UNIT)
    }

    /// Makes the pages of `[start, start + upto)` (a page at a time, never past `start +
    /// limit`) unless this process already did (`reserved`): a plain load once done. ENOMEM when
    /// the filesystem is full. Through the mapping that reaches them: the first for everything
    /// below the area (the ring, the waiter records), the newest for the area past the first
    /// (the caller holds the queue lock and mapped it that far).
    pub(super) fn reserve(&self, reserved: &Populated, start: u64, upto: u64, limit: u64) -> Result<()> {
        let end = start + upto;
        let map = if end <= self.first.len() as u64 {
            &self.first
        } else {
            // SAFETY: `extra` is only pushed to by the holder of the queue lock, which the
            // caller is (the area past the first mapping is reached under it).
            unsafe { (*self.extra.get()).last() }.filter(|m| m.len() as u64 >= end).ok_or_else(corrupt)?
        };
        reserved.ensure(map, start, upto, limit, Errno::ENOMEM)
    }
}

impl<'q> Locked<'q> {
    /// Maps the area up to its top if another process grew it.
    pub(super) fn sync_mapping(&mut self) -> Result<()> {
        let top = self.st().top as u64;
        if top > self.q.header().area_units.load(Ordering::Acquire) as u64 {
            return Err(corrupt());
        }
        self.q.ensure_mapped(area_offset() + top * UNIT)
    }

    /// The start of the block named `r` (unit + 1), if `r` names a carved unit.
    pub(super) fn block_ptr(&self, r: u32) -> Option<*mut u8> {
        // SAFETY: the state is read under the lock.
        let top = unsafe { (*self.q.header_ptr()).state.top };
        let unit = r.checked_sub(1).filter(|&u| u < top)?;
        let offset = area_offset() + unit as u64 * UNIT;
        // The mapping covers the area up to top (sync_mapping / grow).
        if offset + UNIT > self.q.area_len.load(Ordering::Acquire) as u64 {
            return None;
        }
        // SAFETY: offset + UNIT lies inside the current mapping.
        Some(unsafe { self.q.area_base.load(Ordering::Acquire).add(offset as usize) })
    }

    /// The block `r` as a message header, checked to be a whole block inside the area.
    pub(super) fn msg(&mut self, r: u32) -> std::result::Result<&mut MsgBlock, Corrupt> {
        let p = self.block_ptr(r).ok_or(Corrupt)? as *mut MsgBlock;
        // SAFETY: p is a 64-byte block header in the mapping; plain data and an atomic.
        let b = unsafe { &mut *p };
        let top = self.st().top as u64;
        if (b.class as usize) >= CLASSES || (r as u64 - 1) + class_units(b.class as usize) > top {
            return Err(Corrupt);
        }
        // SAFETY: as above (reborrowed after the shared read of `top`).
        Ok(unsafe { &mut *p })
    }

    /// The type node `r`.
    pub(super) fn node(&mut self, r: u32) -> std::result::Result<&mut TypeNode, Corrupt> {
        let p = self.block_ptr(r).ok_or(Corrupt)? as *mut TypeNode;
        // SAFETY: p is a 64-byte block in the mapping; plain data and an atomic.
        let n = unsafe { &mut *p };
        if n.state.load(Ordering::Relaxed) != block_state::TYPE {
            return Err(Corrupt);
        }
        Ok(n)
    }

    /// The text of message block `r` (capacity: the block's size minus its header).
    pub(super) fn text_ptr(&mut self, r: u32) -> std::result::Result<(*mut u8, u64), Corrupt> {
        let class = self.msg(r)?.class as usize;
        let p = self.block_ptr(r).ok_or(Corrupt)?;
        // SAFETY: the block (class_units(class) units, checked by `msg`) is in the mapping.
        Ok((unsafe { p.add(UNIT as usize) }, class_units(class) * UNIT - UNIT))
    }

    /// Takes a block of size class `class` (its state FREE), from the free list or carved.
    pub(super) fn alloc(&mut self, class: usize) -> Result<u32> {
        let head = self.st().free_blocks[class];
        if head != 0 {
            let ok = matches!(self.msg(head), Ok(b) if b.class as usize == class && b.state.load(Ordering::Relaxed) == block_state::FREE);
            if ok {
                let next = self.msg(head).map(|b| b.next).unwrap_or(0);
                self.st().free_blocks[class] = next;
                return Ok(head);
            }
            // A broken free list: forget it (repair finds its blocks again).
            self.st().free_blocks[class] = 0;
        }
        let units = class_units(class);
        let unit = self.st().top as u64;
        if unit + units > u32::MAX as u64 {
            return Err(Errno::ENOMEM);
        }
        self.q.grow(unit + units)?;
        let offset = area_offset() + unit * UNIT;
        // SAFETY: grow mapped the area up to unit + units.
        let b = unsafe { &mut *(self.q.area_base.load(Ordering::Acquire).add(offset as usize) as *mut MsgBlock) };
        // The class is written before `top` moves past the block: a walk of the area always
        // finds whole blocks.
        b.state.store(block_state::FREE, Ordering::Relaxed);
        b.class = class as u32;
        b.next = 0;
        self.st().top = (unit + units) as u32;
        Ok(unit as u32 + 1)
    }

    pub(super) fn free(&mut self, r: u32) {
        let Ok(b) = self.msg(r) else { return };
        b.state.store(block_state::FREE, Ordering::Release);
        let class = b.class as usize;
        b.owner = 0;
        let head = self.st().free_blocks[class];
        if let Ok(b) = self.msg(r) {
            b.next = head;
        }
        self.st().free_blocks[class] = r;
    }

    /// Writes a message into a new block (still FREE: not committed anywhere), receivable from
    /// `visible_ns` (see `MsgBlock::visible_ns`).
    pub(super) fn write_message(&mut self, mtype: i64, text: *const u8, len: usize, visible_ns: u64) -> std::result::Result<Result<u32>, Corrupt> {
        let Some(class) = class_for_message(len as u64) else { return Ok(Err(Errno::ENOMEM)) };
        let r = match self.alloc(class) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let (data, capacity) = self.text_ptr(r)?;
        if len as u64 > capacity {
            return Err(Corrupt);
        }
        // SAFETY: the block's text holds `capacity` >= len bytes; the caller checked that `len`
        // bytes at `text` are readable.
        unsafe { std::ptr::copy_nonoverlapping(text, data, len) };
        let b = self.msg(r)?;
        b.mtype = mtype;
        b.len = len as u64;
        b.visible_ns = visible_ns;
        b.next = 0;
        b.prev = 0;
        b.tnext = 0;
        b.owner = 0;
        Ok(Ok(r))
    }

    /// Queues a copy of a message (a fold: nobody waits, the caller checked the length and
    /// publishes the statistics).
    pub(super) fn queue_copy(&mut self, mtype: i64, text: *const u8, len: usize, visible_ns: u64) -> Result<()> {
        let queued = match self.write_message(mtype, text, len, visible_ns) {
            Ok(Ok(r)) => self.enqueue_new(r, mtype),
            Ok(Err(e)) => Ok(Err(e)),
            Err(Corrupt) => Err(Corrupt),
        };
        queued.unwrap_or_else(|Corrupt| Err(corrupt()))
    }
}
