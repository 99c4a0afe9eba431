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
    let mut rng = crate::emu::engine::testing::Rng(0x9E37_79B9_7F4A_7C15);
    let mut next = || rng.next_u64();
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
