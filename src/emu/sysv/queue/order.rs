//! Selection by type: one FIFO of every message, a FIFO per type, and one type node per type
//! present in two treaps (by type, and by the age of each type's oldest message), so every
//! `msgtyp` mode finds its message in O(log types).

use super::*;

impl<'q> Locked<'q> {
    pub(super) fn root(&mut self, tree: usize) -> u32 {
        if tree == 0 {
            self.st().root_by_type
        } else {
            self.st().root_by_age
        }
    }

    pub(super) fn set_root(&mut self, tree: usize, root: u32) {
        if tree == 0 {
            self.st().root_by_type = root;
        } else {
            self.st().root_by_age = root;
        }
    }

    pub(super) fn tfind(&mut self, tree: usize, key: u64) -> std::result::Result<u32, Corrupt> {
        let root = self.root(tree);
        treap::find(self, tree, root, key)
    }

    pub(super) fn tmin(&mut self, tree: usize) -> std::result::Result<u32, Corrupt> {
        let root = self.root(tree);
        treap::min(self, tree, root)
    }

    pub(super) fn tsecond_min(&mut self, tree: usize) -> std::result::Result<u32, Corrupt> {
        let root = self.root(tree);
        treap::second_min(self, tree, root)
    }

    pub(super) fn tinsert(&mut self, tree: usize, node: u32) -> std::result::Result<(), Corrupt> {
        let root = self.root(tree);
        if root == 0 {
            // The first type: no walk needed.
            let n = self.node(node)?;
            n.left[tree] = 0;
            n.right[tree] = 0;
            self.set_root(tree, node);
            return Ok(());
        }
        let root = treap::insert(self, tree, root, node)?;
        self.set_root(tree, root);
        Ok(())
    }

    pub(super) fn tremove(&mut self, tree: usize, key: u64) -> std::result::Result<(), Corrupt> {
        let root = self.root(tree);
        if root != 0 {
            // The last type: no walk needed.
            let n = self.node(root)?;
            let lone = n.left[tree] == 0 && n.right[tree] == 0;
            let k = if tree == 0 { type_key(n.mtype) } else { n.head_seq };
            if lone && k == key {
                self.set_root(tree, 0);
                return Ok(());
            }
        }
        let (root, _) = treap::remove(self, tree, root, key)?;
        self.set_root(tree, root);
        Ok(())
    }

    /// Commits the written message block `r` of type `mtype` into the queue, with a new type
    /// node if its type is not there yet; frees it should no node be had.
    pub(super) fn enqueue_new(&mut self, r: u32, mtype: i64) -> std::result::Result<Result<()>, Corrupt> {
        let mut node = self.tfind(0, type_key(mtype))?;
        let new_type = node == 0;
        if new_type {
            node = match self.alloc(0) {
                Ok(n) => n,
                Err(e) => {
                    self.free(r);
                    return Ok(Err(e));
                }
            };
        }
        self.enqueue(r, node, new_type).map(Ok)
    }

    /// Commits message block `r` into the queue and links it (type node `node`, fresh when
    /// `new_type`).
    pub(super) fn enqueue(&mut self, r: u32, node: u32, new_type: bool) -> std::result::Result<(), Corrupt> {
        let seq = self.st().next_seq;
        self.st().next_seq = seq + 1;
        let tail = self.st().fifo_tail;
        let (mtype, len) = {
            let b = self.msg(r)?;
            b.seq = seq;
            b.prev = tail;
            b.next = 0;
            b.tnext = 0;
            b.owner = 0;
            // The commit point of a send.
            b.state.store(block_state::QUEUED, Ordering::Release);
            (b.mtype, b.len)
        };
        if tail != 0 {
            self.msg(tail)?.next = r;
        } else {
            self.st().fifo_head = r;
        }
        self.st().fifo_tail = r;
        if new_type {
            {
                let p = self.block_ptr(node).ok_or(Corrupt)? as *mut TypeNode;
                // SAFETY: a freshly allocated one-unit block in the mapping.
                let n = unsafe { &mut *p };
                n.mtype = mtype;
                n.head_seq = seq;
                n.head = r;
                n.tail = r;
                n.count = 1;
                n.left = [0; 2];
                n.right = [0; 2];
                n.state.store(block_state::TYPE, Ordering::Release);
            }
            self.tinsert(0, node)?;
            self.tinsert(1, node)?;
            self.st().types += 1;
        } else {
            let old_tail = self.node(node)?.tail;
            self.msg(old_tail)?.tnext = r;
            let n = self.node(node)?;
            n.tail = r;
            n.count += 1;
        }
        let st = self.st();
        st.qnum += 1;
        st.cbytes += len;
        Ok(())
    }

    /// The message a receiver with (`mode`, `typ`) takes now, if any (the kernel's `find_msg`).
    pub fn find(&mut self, mode: u32, typ: i64) -> Result<Option<u32>> {
        match self.try_find(mode, typ) {
            Ok(r) => Ok((r != 0).then_some(r)),
            Err(Corrupt) => {
                self.repair();
                Err(corrupt())
            }
        }
    }

    pub(super) fn try_find(&mut self, mode: u32, typ: i64) -> std::result::Result<u32, Corrupt> {
        let head_of = |l: &mut Self, n: u32| -> std::result::Result<u32, Corrupt> {
            if n == 0 {
                Ok(0)
            } else {
                Ok(l.node(n)?.head)
            }
        };
        match mode {
            search::ANY => Ok(self.st().fifo_head),
            search::EQUAL => {
                let n = self.tfind(0, type_key(typ))?;
                head_of(self, n)
            }
            search::NOTEQUAL => {
                let oldest = self.tmin(1)?;
                if oldest == 0 || self.node(oldest)?.mtype != typ {
                    return head_of(self, oldest);
                }
                let next = self.tsecond_min(1)?;
                head_of(self, next)
            }
            search::LESSEQUAL => {
                let lowest = self.tmin(0)?;
                if lowest != 0 && self.node(lowest)?.mtype <= typ {
                    head_of(self, lowest)
                } else {
                    Ok(0)
                }
            }
            search::NUMBER => {
                if typ < 0 || typ as u64 >= self.st().qnum {
                    return Ok(0);
                }
                let mut cur = self.st().fifo_head;
                for _ in 0..typ {
                    cur = self.msg(cur)?.next;
                }
                Ok(cur)
            }
            _ => Ok(0),
        }
    }

    /// Removes queued message `r` (the oldest of its type) and frees it.
    pub(super) fn dequeue(&mut self, r: u32) -> std::result::Result<(), Corrupt> {
        let (mtype, len, prev, next, tnext, seq) = {
            let b = self.msg(r)?;
            if b.state.load(Ordering::Relaxed) != block_state::QUEUED {
                return Err(Corrupt);
            }
            (b.mtype, b.len, b.prev, b.next, b.tnext, b.seq)
        };
        let node = self.tfind(0, type_key(mtype))?;
        if node == 0 || self.node(node)?.head != r {
            return Err(Corrupt);
        }
        // The commit point of a receive.
        self.msg(r)?.state.store(block_state::FREE, Ordering::Release);
        if prev != 0 {
            self.msg(prev)?.next = next;
        } else {
            self.st().fifo_head = next;
        }
        if next != 0 {
            self.msg(next)?.prev = prev;
        } else {
            self.st().fifo_tail = prev;
        }
        {
            let st = self.st();
            st.qnum = st.qnum.saturating_sub(1);
            st.cbytes = st.cbytes.saturating_sub(len);
        }
        if tnext == 0 {
            self.tremove(0, type_key(mtype))?;
            self.tremove(1, seq)?;
            self.st().types = self.st().types.saturating_sub(1);
            self.free(node);
        } else {
            let next_seq = self.msg(tnext)?.seq;
            // The only type present (the common case): re-key the lone node in place.
            let alone = self.root(1) == node && {
                let n = self.node(node)?;
                n.left[1] == 0 && n.right[1] == 0
            };
            if !alone {
                self.tremove(1, seq)?;
            }
            {
                let n = self.node(node)?;
                n.head = tnext;
                n.count = n.count.saturating_sub(1);
                n.head_seq = next_seq;
            }
            if !alone {
                self.tinsert(1, node)?;
            }
        }
        self.free(r);
        Ok(())
    }
}

impl Nodes for Locked<'_> {
    fn valid(&self, n: u32) -> bool {
        // SAFETY: block_ptr checked the block lies in the mapping; state is atomic.
        self.block_ptr(n).is_some_and(|p| unsafe { (*(p as *const TypeNode)).state.load(Ordering::Relaxed) } == block_state::TYPE)
    }

    fn key(&self, n: u32, tree: usize) -> u64 {
        match self.block_ptr(n) {
            // SAFETY: a block in the mapping (validated by the treap before use).
            Some(p) => unsafe {
                let node = &*(p as *const TypeNode);
                if tree == 0 {
                    type_key(node.mtype)
                } else {
                    node.head_seq
                }
            },
            None => 0,
        }
    }

    fn left(&self, n: u32, tree: usize) -> u32 {
        // SAFETY: as for `key`.
        self.block_ptr(n).map_or(0, |p| unsafe { (*(p as *const TypeNode)).left[tree & 1] })
    }

    fn right(&self, n: u32, tree: usize) -> u32 {
        // SAFETY: as for `key`.
        self.block_ptr(n).map_or(0, |p| unsafe { (*(p as *const TypeNode)).right[tree & 1] })
    }

    fn set_left(&mut self, n: u32, tree: usize, child: u32) {
        if let Some(p) = self.block_ptr(n) {
            // SAFETY: under the lock; a block in the mapping.
            unsafe { (*(p as *mut TypeNode)).left[tree & 1] = child };
        }
    }

    fn set_right(&mut self, n: u32, tree: usize, child: u32) {
        if let Some(p) = self.block_ptr(n) {
            // SAFETY: under the lock; a block in the mapping.
            unsafe { (*(p as *mut TypeNode)).right[tree & 1] = child };
        }
    }

    fn seed(&self) -> u64 {
        self.q.header().tree_seed
    }
}
