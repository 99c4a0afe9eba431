//! The table of queues a process mapped lately ([`RecentQueues`]), the data structure alone:
//! what an entry is and when it goes is `store`'s (see `RECENT`).
//!
//! Its hot path, an open of a remembered queue, finds the entry by its name's hash and marks
//! it used, touching neither the other entries nor their order: entries stay where they were
//! put, and "least recently used" is the smallest use stamp, looked for only where an entry or
//! a held FIFO must go (a first open, at least a few system calls dearer than the look).

use super::{HeldFifo, RecentQueue};

/// The remembered queues (see the module comment), and how many of them may hold their FIFO.
pub(super) struct RecentQueues {
    /// The entries, in no order.
    entries: Vec<RecentQueue>,
    /// Each entry's `name_hash`, at the entry's position: a look for a name reads this compact
    /// array alone until it has found a match.
    name_hashes: Vec<u64>,
    /// Each entry's use stamp, at the entry's position: larger is more recent.
    used: Vec<u64>,
    /// The last use stamp given.
    clock: u64,
    /// How many entries hold their FIFO.
    held: usize,
    /// How many may (see `held_fifos_allowed`).
    held_max: usize,
}

impl RecentQueues {
    pub(super) const fn new(held_max: usize) -> RecentQueues {
        RecentQueues { entries: Vec::new(), name_hashes: Vec::new(), used: Vec::new(), clock: 0, held: 0, held_max }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries, in no order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &RecentQueue> {
        self.entries.iter()
    }

    pub(super) fn get(&self, at: usize) -> &RecentQueue {
        &self.entries[at]
    }

    pub(super) fn position(&self, pred: impl Fn(&RecentQueue) -> bool) -> Option<usize> {
        self.entries.iter().position(pred)
    }

    /// The entry of the queue named `name` (whose name hash is `hash`) that may be opened again
    /// by its FIFO's second name.
    pub(super) fn by_name(&self, hash: u64, name: &[u8]) -> Option<usize> {
        let mut from = 0;
        while let Some(at) = position_of(&self.name_hashes[from..], hash) {
            let at = from + at;
            let e = &self.entries[at];
            if e.reopen.is_some() && e.handle.name == name {
                return Some(at);
            }
            from = at + 1;
        }
        None
    }

    /// Whether the entry at `at` holds its FIFO.
    pub(super) fn holds(&self, at: usize) -> bool {
        self.entries[at].held.is_some()
    }

    /// How many entries hold their FIFO.
    pub(super) fn held(&self) -> usize {
        self.held
    }

    /// How many entries may hold their FIFO.
    pub(super) fn held_max(&self) -> usize {
        self.held_max
    }

    pub(super) fn set_held_max(&mut self, held_max: usize) {
        self.held_max = held_max;
    }

    /// Makes the entry at `at` the most recently used.
    pub(super) fn mark_used(&mut self, at: usize) {
        self.clock += 1;
        self.used[at] = self.clock;
    }

    /// Adds `entry` as the most recently used.
    pub(super) fn push(&mut self, entry: RecentQueue) {
        self.held += usize::from(entry.held.is_some());
        self.name_hashes.push(entry.name_hash);
        self.clock += 1;
        self.used.push(self.clock);
        self.entries.push(entry);
    }

    /// Takes out the entry at `at`; the last entry takes its place.
    pub(super) fn remove(&mut self, at: usize) -> RecentQueue {
        self.name_hashes.swap_remove(at);
        self.used.swap_remove(at);
        let entry = self.entries.swap_remove(at);
        self.held -= usize::from(entry.held.is_some());
        entry
    }

    /// Takes out the least recently used entry.
    pub(super) fn remove_least_recent(&mut self) -> Option<RecentQueue> {
        let at = self.least_recent(|_| true)?;
        Some(self.remove(at))
    }

    /// Gives the entry at `at` the held FIFO `held` (it holds none).
    pub(super) fn hold(&mut self, at: usize, held: HeldFifo) {
        debug_assert!(self.entries[at].held.is_none());
        self.entries[at].held = Some(held);
        self.held += 1;
    }

    /// Takes the held FIFO of the least recently used entry that holds one and was used less
    /// recently than the entry at `than` (any, without `than`).
    pub(super) fn let_go_least_recent(&mut self, than: Option<usize>) -> Option<HeldFifo> {
        let before = than.map_or(u64::MAX, |than| self.used[than]);
        let at = self.least_recent(|at| self.used[at] < before && self.entries[at].held.is_some())?;
        self.held -= 1;
        self.entries[at].held.take()
    }

    /// How much address space the entries' mappings take together.
    pub(super) fn mapped_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.mapped_bytes).sum()
    }

    /// The least recently used entry of those `pred` takes.
    fn least_recent(&self, pred: impl Fn(usize) -> bool) -> Option<usize> {
        (0..self.len()).filter(|&at| pred(at)).min_by_key(|&at| self.used[at])
    }

    /// Whether the entries are in their indexes and the held count is exact (for tests).
    #[cfg(test)]
    pub(super) fn consistent(&self) -> bool {
        let n = self.len();
        let hashes_agree = self.name_hashes.len() == n && (0..n).all(|at| self.name_hashes[at] == self.entries[at].name_hash);
        let stamps_unique = self.used.len() == n && (0..n).all(|a| (0..a).all(|b| self.used[a] != self.used[b]));
        hashes_agree && stamps_unique && self.held == self.entries.iter().filter(|e| e.held.is_some()).count() && self.held <= self.held_max
    }
}

/// The first position of `hash` in `hashes`: compares eight at a time, with no branch inside
/// a group (so that the compiler makes each group a few vector compares), then finds the match
/// in the group that has one.
fn position_of(hashes: &[u64], hash: u64) -> Option<usize> {
    const GROUP: usize = 8;
    let mut chunks = hashes.chunks_exact(GROUP);
    for (i, chunk) in chunks.by_ref().enumerate() {
        if chunk.iter().fold(false, |any, &h| any | (h == hash)) {
            return chunk.iter().position(|&h| h == hash).map(|at| i * GROUP + at);
        }
    }
    let rest = chunks.remainder();
    rest.iter().position(|&h| h == hash).map(|at| hashes.len() - rest.len() + at)
}

#[cfg(test)]
mod tests {
    use super::position_of;

    #[test]
    fn position_of_finds_the_first_match_in_groups_and_in_the_rest() {
        let hashes: Vec<u64> = (0..21).map(|i| i % 10).collect();
        for want in 0..10 {
            assert_eq!(position_of(&hashes, want), Some(want as usize));
        }
        assert_eq!(position_of(&hashes[11..], 0), Some(9));
        assert_eq!(position_of(&hashes[18..], 7), None);
        assert_eq!(position_of(&hashes, 10), None);
        assert_eq!(position_of(&[], 0), None);
    }
}
