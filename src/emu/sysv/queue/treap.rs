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

/// How deep a walk down a tree went: every node it steps on is checked, and one deeper than
/// [`MAX_DEPTH`] (a cycle) is [`Corrupt`].
#[derive(Default)]
struct Depth(usize);

impl Depth {
    fn step<N: Nodes + ?Sized>(&mut self, nodes: &N, n: u32) -> Result<()> {
        check(nodes, n)?;
        self.0 += 1;
        if self.0 > MAX_DEPTH {
            return Err(Corrupt);
        }
        Ok(())
    }
}

/// The node with `key`, or 0.
pub fn find<N: Nodes + ?Sized>(nodes: &N, tree: usize, root: u32, key: u64) -> Result<u32> {
    let mut cur = root;
    let mut depth = Depth::default();
    while cur != 0 {
        depth.step(nodes, cur)?;
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
    let mut depth = Depth::default();
    while cur != 0 {
        depth.step(nodes, cur)?;
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
    let mut depth = Depth::default();
    while cur != 0 {
        depth.step(nodes, cur)?;
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
mod tests;
