//! Treaps linked by index, for the type index of a System V queue: one node per type present,
//! in two trees at once — ordered by type (tree 0: the lowest type for `msgtyp < 0`, a type's
//! node for `msgtyp > 0`) and by the sequence number of the type's oldest message (tree 1: the
//! oldest message of any type but one, for MSG_EXCEPT). Every operation is O(log n) expected.
//!
//! The nodes live in shared memory that another process may have left inconsistent (or that a
//! hostile one may have scribbled on): every index is checked, paths are bounded, and a
//! malformed tree is reported as [`Corrupt`] — the queue's repair then rebuilds it. Nothing here
//! recurses, so a signal handler's small stack is enough.

/// A tree is malformed (bad index, cycle, or deeper than any real treap gets).
pub use crate::emu::engine::Corrupt;

pub type Result<T> = std::result::Result<T, Corrupt>;

/// Deeper than this, a treap of even 2^32 nodes is astronomically unlikely: the tree is broken.
const MAX_DEPTH: usize = 160;

/// The nodes of both trees. Node 0 is "none"; keys are unique within a tree.
pub trait Nodes {
    /// Whether `n` (non-zero) names a node.
    fn valid(&self, n: u32) -> bool;
    fn key(&self, n: u32, tree: usize) -> u64;
    fn left(&self, n: u32, tree: usize) -> u32;
    fn right(&self, n: u32, tree: usize) -> u32;
    fn set_left(&mut self, n: u32, tree: usize, child: u32);
    fn set_right(&mut self, n: u32, tree: usize, child: u32);
    /// Seeds the priorities (fixed per queue, unpredictable to callers).
    fn seed(&self) -> u64;
}

/// A type as a tree-0 key: signed order kept in unsigned comparison.
pub fn type_key(mtype: i64) -> u64 {
    (mtype as u64) ^ (1 << 63)
}

fn priority<N: Nodes + ?Sized>(nodes: &N, n: u32, tree: usize) -> u64 {
    // splitmix64 of key and seed: a fixed pseudo-random heap order per key.
    let mut z = nodes.key(n, tree) ^ nodes.seed().rotate_left(tree as u32 * 17 + 1);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A bounded stack of the nodes on a path from the root (left uninitialised beyond `len`:
/// zeroing it would cost more than the typical walk).
struct Path {
    nodes: [std::mem::MaybeUninit<u32>; MAX_DEPTH],
    len: usize,
}

impl Path {
    fn new() -> Path {
        Path { nodes: [const { std::mem::MaybeUninit::uninit() }; MAX_DEPTH], len: 0 }
    }

    fn push(&mut self, n: u32) -> Result<()> {
        if self.len == MAX_DEPTH {
            return Err(Corrupt);
        }
        self.nodes[self.len].write(n);
        self.len += 1;
        Ok(())
    }

    fn pop(&mut self) -> Option<u32> {
        self.len = self.len.checked_sub(1)?;
        // SAFETY: every index below the old `len` was written by `push`.
        Some(unsafe { self.nodes[self.len].assume_init() })
    }

    fn last(&self) -> Option<u32> {
        // SAFETY: as in `pop`.
        self.len.checked_sub(1).map(|i| unsafe { self.nodes[i].assume_init() })
    }
}

fn check<N: Nodes + ?Sized>(nodes: &N, n: u32) -> Result<u32> {
    if nodes.valid(n) {
        Ok(n)
    } else {
        Err(Corrupt)
    }
}

/// Replaces `old` by `new` as the child of `parent` (or as the root when there is no parent).
fn relink<N: Nodes + ?Sized>(nodes: &mut N, tree: usize, root: &mut u32, parent: Option<u32>, old: u32, new: u32) {
    match parent {
        None => *root = new,
        Some(p) if nodes.left(p, tree) == old => nodes.set_left(p, tree, new),
        Some(p) => nodes.set_right(p, tree, new),
    }
}

/// Inserts node `n` (its links are overwritten); returns the new root.
pub fn insert<N: Nodes + ?Sized>(nodes: &mut N, tree: usize, root: u32, n: u32) -> Result<u32> {
    check(nodes, n)?;
    nodes.set_left(n, tree, 0);
    nodes.set_right(n, tree, 0);
    let key = nodes.key(n, tree);
    let mut path = Path::new();
    let mut cur = root;
    while cur != 0 {
        check(nodes, cur)?;
        path.push(cur)?;
        let k = nodes.key(cur, tree);
        if key == k {
            return Err(Corrupt);
        }
        cur = if key < k { nodes.left(cur, tree) } else { nodes.right(cur, tree) };
    }
    let mut root = root;
    match path.last() {
        None => return Ok(n),
        Some(p) if key < nodes.key(p, tree) => nodes.set_left(p, tree, n),
        Some(p) => nodes.set_right(p, tree, n),
    }
    let prio = priority(nodes, n, tree);
    while let Some(p) = path.pop() {
        if prio <= priority(nodes, p, tree) {
            break;
        }
        // Rotate n above its parent p.
        if nodes.left(p, tree) == n {
            let moved = nodes.right(n, tree);
            nodes.set_left(p, tree, moved);
            nodes.set_right(n, tree, p);
        } else {
            let moved = nodes.left(n, tree);
            nodes.set_right(p, tree, moved);
            nodes.set_left(n, tree, p);
        }
        relink(nodes, tree, &mut root, path.last(), p, n);
    }
    Ok(root)
}

/// The node with `key`, or 0.
pub fn find<N: Nodes + ?Sized>(nodes: &N, tree: usize, root: u32, key: u64) -> Result<u32> {
    let mut cur = root;
    let mut depth = 0;
    while cur != 0 {
        check(nodes, cur)?;
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(Corrupt);
        }
        let k = nodes.key(cur, tree);
        if key == k {
            return Ok(cur);
        }
        cur = if key < k { nodes.left(cur, tree) } else { nodes.right(cur, tree) };
    }
    Ok(0)
}

/// Removes the node with `key`; returns the new root and the node (0 when absent).
pub fn remove<N: Nodes + ?Sized>(nodes: &mut N, tree: usize, root: u32, key: u64) -> Result<(u32, u32)> {
    let mut path = Path::new();
    let mut cur = root;
    while cur != 0 {
        check(nodes, cur)?;
        let k = nodes.key(cur, tree);
        if key == k {
            break;
        }
        path.push(cur)?;
        cur = if key < k { nodes.left(cur, tree) } else { nodes.right(cur, tree) };
    }
    if cur == 0 {
        return Ok((root, 0));
    }
    let n = cur;
    let mut root = root;
    // Rotate n down, always lifting its higher-priority child, until it has at most one child.
    loop {
        let (l, r) = (nodes.left(n, tree), nodes.right(n, tree));
        if l == 0 || r == 0 {
            let child = if l != 0 { l } else { r };
            relink(nodes, tree, &mut root, path.last(), n, child);
            break;
        }
        check(nodes, l)?;
        check(nodes, r)?;
        let up = if priority(nodes, l, tree) > priority(nodes, r, tree) {
            let moved = nodes.right(l, tree);
            nodes.set_left(n, tree, moved);
            nodes.set_right(l, tree, n);
            l
        } else {
            let moved = nodes.left(r, tree);
            nodes.set_right(n, tree, moved);
            nodes.set_left(r, tree, n);
            r
        };
        relink(nodes, tree, &mut root, path.last(), n, up);
        path.push(up)?;
    }
    nodes.set_left(n, tree, 0);
    nodes.set_right(n, tree, 0);
    Ok((root, n))
}

/// The node with the smallest key, or 0.
pub fn min<N: Nodes + ?Sized>(nodes: &N, tree: usize, root: u32) -> Result<u32> {
    let mut cur = root;
    let mut depth = 0;
    while cur != 0 {
        check(nodes, cur)?;
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(Corrupt);
        }
        let l = nodes.left(cur, tree);
        if l == 0 {
            return Ok(cur);
        }
        cur = l;
    }
    Ok(0)
}

/// The node with the second smallest key, or 0.
pub fn second_min<N: Nodes + ?Sized>(nodes: &N, tree: usize, root: u32) -> Result<u32> {
    let mut parent = 0;
    let mut cur = root;
    let mut depth = 0;
    while cur != 0 {
        check(nodes, cur)?;
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(Corrupt);
        }
        let l = nodes.left(cur, tree);
        if l == 0 {
            let r = nodes.right(cur, tree);
            return if r != 0 { min(nodes, tree, r) } else { Ok(parent) };
        }
        parent = cur;
        cur = l;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Arena {
        keys: Vec<[u64; 2]>,
        left: Vec<[u32; 2]>,
        right: Vec<[u32; 2]>,
    }

    impl Nodes for Arena {
        fn valid(&self, n: u32) -> bool {
            n != 0 && (n as usize) < self.keys.len()
        }
        fn key(&self, n: u32, t: usize) -> u64 {
            self.keys[n as usize][t]
        }
        fn left(&self, n: u32, t: usize) -> u32 {
            self.left[n as usize][t]
        }
        fn right(&self, n: u32, t: usize) -> u32 {
            self.right[n as usize][t]
        }
        fn set_left(&mut self, n: u32, t: usize, c: u32) {
            self.left[n as usize][t] = c;
        }
        fn set_right(&mut self, n: u32, t: usize, c: u32) {
            self.right[n as usize][t] = c;
        }
        fn seed(&self) -> u64 {
            0x1234_5678
        }
    }

    fn depth(a: &Arena, t: usize, n: u32) -> usize {
        if n == 0 {
            0
        } else {
            1 + depth(a, t, a.left(n, t)).max(depth(a, t, a.right(n, t)))
        }
    }

    fn check_shape(a: &Arena, t: usize, n: u32, lo: Option<u64>, hi: Option<u64>) -> usize {
        if n == 0 {
            return 0;
        }
        let k = a.key(n, t);
        assert!(lo.is_none_or(|lo| k > lo) && hi.is_none_or(|hi| k < hi), "order");
        for c in [a.left(n, t), a.right(n, t)] {
            if c != 0 {
                assert!(priority(a, c, t) <= priority(a, n, t), "heap");
            }
        }
        1 + check_shape(a, t, a.left(n, t), lo, Some(k)) + check_shape(a, t, a.right(n, t), Some(k), hi)
    }

    #[test]
    fn random_operations_match_an_ordered_map() {
        let n = 3000;
        let mut a = Arena { keys: vec![[0; 2]; n + 1], left: vec![[0; 2]; n + 1], right: vec![[0; 2]; n + 1] };
        let mut roots = [0u32; 2];
        let mut models: [BTreeMap<u64, u32>; 2] = [BTreeMap::new(), BTreeMap::new()];
        let mut present = vec![false; n + 1];
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut seq = 0u64;
        for step in 0..40_000 {
            let node = (next() % n as u64) as u32 + 1;
            if !present[node as usize] {
                let ty = next() % 100_000;
                if models[0].contains_key(&ty) {
                    continue;
                }
                seq += 1;
                a.keys[node as usize] = [ty, seq];
                for t in 0..2 {
                    roots[t] = insert(&mut a, t, roots[t], node).unwrap();
                    models[t].insert(a.keys[node as usize][t], node);
                }
                present[node as usize] = true;
            } else if step % 3 == 0 {
                // Re-key in tree 1 (a type's oldest message left: its head sequence changes).
                let old = a.keys[node as usize][1];
                let (r, removed) = remove(&mut a, 1, roots[1], old).unwrap();
                assert_eq!(removed, node);
                roots[1] = r;
                models[1].remove(&old);
                seq += 1;
                a.keys[node as usize][1] = seq;
                roots[1] = insert(&mut a, 1, roots[1], node).unwrap();
                models[1].insert(seq, node);
            } else {
                for t in 0..2 {
                    let key = a.keys[node as usize][t];
                    let (r, removed) = remove(&mut a, t, roots[t], key).unwrap();
                    assert_eq!(removed, node);
                    roots[t] = r;
                    models[t].remove(&key);
                }
                present[node as usize] = false;
            }
            for t in 0..2 {
                let mut it = models[t].values();
                assert_eq!(min(&a, t, roots[t]).unwrap(), it.next().copied().unwrap_or(0));
                assert_eq!(second_min(&a, t, roots[t]).unwrap(), it.next().copied().unwrap_or(0));
            }
            if step % 997 == 0 {
                for t in 0..2 {
                    assert_eq!(check_shape(&a, t, roots[t], None, None), models[t].len());
                    assert!(depth(&a, t, roots[t]) < 60);
                    for (&k, &v) in &models[t] {
                        assert_eq!(find(&a, t, roots[t], k).unwrap(), v);
                    }
                    assert_eq!(find(&a, t, roots[t], u64::MAX).unwrap(), 0);
                }
            }
        }
    }

    #[test]
    fn malformed_trees_are_reported_not_followed() {
        let mut a = Arena { keys: vec![[0; 2]; 4], left: vec![[0; 2]; 4], right: vec![[0; 2]; 4] };
        a.keys[1] = [10, 10];
        a.keys[2] = [5, 5];
        a.left[1][0] = 2;
        a.left[2][0] = 1; // a cycle
        assert_eq!(min(&a, 0, 1), Err(Corrupt));
        assert_eq!(find(&a, 0, 1, 1), Err(Corrupt));
        a.left[2][0] = 99; // out of range
        assert_eq!(min(&a, 0, 1), Err(Corrupt));
        assert!(type_key(-1) < type_key(0));
        assert!(type_key(i64::MAX) > type_key(1));
    }
}
