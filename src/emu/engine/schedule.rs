//! The due list: a queue's scheduled messages (`mqshim_mq_send_at`, `mqshim_msgsnd_at`), pending
//! until their due time, kept in due order (ties by handle) and singly linked through their
//! records — POSIX's extra slots, System V's blocks ([`DueRecords`]).
//!
//! The list is derived state: a record's state word (SCHEDULED) is the truth, and every walk is
//! bounded and checked, so a damaged list is reported as [`Corrupt`] (the queue's repair then
//! rebuilds it with [`relink`]) rather than followed forever. What *sending* a due message means
//! — to a blocked receiver, into the queue, or waiting for room — is each API's own rule.

use super::{Corrupt, Repair};

/// A scheduled message as the list sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    /// CLOCK_REALTIME nanoseconds.
    pub due_ns: u64,
    pub handle: u64,
    /// The next record's link (0: none).
    pub next: u32,
}

/// The records a due list links, by link (`index + 1`; 0 is "none").
pub trait DueRecords {
    /// The first record's link.
    fn due_head(&mut self) -> u32;
    fn set_due_head(&mut self, head: u32);
    /// The scheduled message at `link`; Err when there is none there (a damaged list).
    fn due_record(&mut self, link: u32) -> Result<Due, Corrupt>;
    fn set_due_next(&mut self, link: u32, next: u32) -> Result<(), Corrupt>;
    /// The longest walk a sound list can need: a longer one is a cycle.
    fn due_limit(&mut self) -> u32;
}

/// Where a walk of the list stands: the record at `link`, after `prev` (0: at the head).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub prev: u32,
    pub link: u32,
    pub due: Due,
}

/// Visits the records in order while `visit` says so (true: go on), bounded. Returns where it
/// stopped (None: the end of the list).
pub fn walk(list: &mut impl DueRecords, mut visit: impl FnMut(&Place) -> bool) -> Result<Option<Place>, Corrupt> {
    let limit = list.due_limit();
    let (mut prev, mut link, mut steps) = (0, list.due_head(), 0u32);
    while link != 0 {
        steps += 1;
        if steps > limit {
            return Err(Corrupt);
        }
        let place = Place { prev, link, due: list.due_record(link)? };
        if !visit(&place) {
            return Ok(Some(place));
        }
        (prev, link) = (link, place.due.next);
    }
    Ok(None)
}

/// Inserts the record at `link` (its due time and handle set, its state SCHEDULED) in order.
pub fn insert(list: &mut impl DueRecords, link: u32) -> Result<(), Corrupt> {
    let key = list.due_record(link).map(|d| (d.due_ns, d.handle))?;
    let before = walk(list, |p| (p.due.due_ns, p.due.handle) <= key)?;
    let (prev, next) = match before {
        Some(p) => (p.prev, p.link),
        None => (last(list)?, 0),
    };
    list.set_due_next(link, next)?;
    if prev == 0 {
        list.set_due_head(link);
        Ok(())
    } else {
        list.set_due_next(prev, link)
    }
}

/// The last record's link (0: the list is empty).
fn last(list: &mut impl DueRecords) -> Result<u32, Corrupt> {
    let mut last = 0;
    walk(list, |p| {
        last = p.link;
        true
    })?;
    Ok(last)
}

/// Takes the record at `place` out of the list (the caller then frees or sends it).
pub fn unlink(list: &mut impl DueRecords, place: &Place) -> Result<(), Corrupt> {
    if place.prev == 0 {
        list.set_due_head(place.due.next);
        Ok(())
    } else {
        list.set_due_next(place.prev, place.due.next)
    }
}

/// Where the message with `handle` is in the list, if it is.
pub fn find(list: &mut impl DueRecords, handle: u64) -> Result<Option<Place>, Corrupt> {
    walk(list, |p| p.due.handle != handle)
}

/// Cancels the message with `handle` if it is still pending at `now` (not yet due: a message
/// found due is as good as sent, even while it waits for room). Returns its link, taken out of
/// the list for the caller to free; None when there is no such message pending.
pub fn cancel(list: &mut impl DueRecords, handle: u64, now: u64) -> Result<Option<u32>, Corrupt> {
    let Some(place) = find(list, handle)?.filter(|p| p.due.due_ns > now) else { return Ok(None) };
    unlink(list, &place)?;
    Ok(Some(place.link))
}

/// [`cancel`], for a caller that repairs a damaged list (after which nothing is cancelled).
pub fn cancel_or_repair(list: &mut (impl DueRecords + Repair), handle: u64, now: u64) -> Option<u32> {
    let result = cancel(list, handle, now);
    list.or_repair(result, None)
}

/// The earliest due time later than `after` (0: none): the time to wake for, when the messages
/// due by `after` were tried already and wait for room. A damaged list yields what precedes the
/// damage.
pub fn next_due_after(list: &mut impl DueRecords, after: u64) -> u64 {
    match walk(list, |p| p.due.due_ns <= after) {
        Ok(Some(p)) => p.due.due_ns,
        _ => 0,
    }
}

/// Rebuilds the list from its records, `(due_ns, handle, link)` each, found by a repair: links
/// them in due order (ties by handle). Returns the highest handle (0: none), which the next
/// handle must exceed.
pub fn relink(list: &mut impl DueRecords, records: &mut [(u64, u64, u32)]) -> u64 {
    records.sort_unstable();
    let mut head = 0;
    for &(_, _, link) in records.iter().rev() {
        if list.set_due_next(link, head).is_ok() {
            head = link;
        }
    }
    list.set_due_head(head);
    records.iter().map(|&(_, h, _)| h).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records in a Vec: link i + 1 is records[i] (None: not a scheduled message).
    struct Model {
        head: u32,
        records: Vec<Option<Due>>,
    }

    impl DueRecords for Model {
        fn due_head(&mut self) -> u32 {
            self.head
        }
        fn set_due_head(&mut self, head: u32) {
            self.head = head;
        }
        fn due_record(&mut self, link: u32) -> Result<Due, Corrupt> {
            link.checked_sub(1).and_then(|i| self.records.get(i as usize).copied().flatten()).ok_or(Corrupt)
        }
        fn set_due_next(&mut self, link: u32, next: u32) -> Result<(), Corrupt> {
            let r = link.checked_sub(1).and_then(|i| self.records.get_mut(i as usize)).and_then(Option::as_mut).ok_or(Corrupt)?;
            r.next = next;
            Ok(())
        }
        fn due_limit(&mut self) -> u32 {
            self.records.len() as u32
        }
    }

    fn order(m: &mut Model) -> Vec<u64> {
        let mut out = Vec::new();
        walk(m, |p| {
            out.push(p.due.handle);
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn kept_in_due_order_then_handle_and_taken_out_by_handle() {
        let dues = [(30, 1), (10, 2), (30, 3), (20, 4), (10, 5)];
        let mut m = Model { head: 0, records: dues.iter().map(|&(d, h)| Some(Due { due_ns: d, handle: h, next: 0 })).collect() };
        for link in 1..=5 {
            insert(&mut m, link).unwrap();
        }
        assert_eq!(order(&mut m), vec![2, 5, 4, 1, 3]);
        assert_eq!(next_due_after(&mut m, 0), 10);
        assert_eq!(next_due_after(&mut m, 10), 20);
        assert_eq!(next_due_after(&mut m, 30), 0);
        let p = find(&mut m, 4).unwrap().unwrap();
        assert_eq!((p.link, p.due.due_ns), (4, 20));
        unlink(&mut m, &p).unwrap();
        let head = find(&mut m, 2).unwrap().unwrap();
        unlink(&mut m, &head).unwrap();
        assert_eq!(order(&mut m), vec![5, 1, 3]);
        assert_eq!(find(&mut m, 4).unwrap(), None);
    }

    #[test]
    fn a_damaged_list_is_corrupt_never_an_endless_walk_and_relink_rebuilds_it() {
        let mut m = Model { head: 1, records: vec![Some(Due { due_ns: 5, handle: 1, next: 2 }), Some(Due { due_ns: 6, handle: 2, next: 1 })] };
        assert_eq!(find(&mut m, 9), Err(Corrupt), "a cycle");
        assert_eq!(next_due_after(&mut m, 100), 0);
        m.records[1].as_mut().unwrap().next = 7;
        assert_eq!(find(&mut m, 9), Err(Corrupt), "a link to nothing");
        let mut found = vec![(6, 2, 2), (5, 1, 1)];
        assert_eq!(relink(&mut m, &mut found), 2);
        assert_eq!(order(&mut m), vec![1, 2]);
    }
}
