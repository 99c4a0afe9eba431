//! Changes of the notification registration left for the lock's next holder (`pending`): a
//! registrant or a closing owner that found the queue lock held by a process that does not let
//! go of it. Here the test's own thread plays that holder (it keeps the `Locked` while the
//! registrant's calls, which take no queue lock, run beside it).

use super::*;
use crate::emu::posix::layout::NotifyRegistration;

fn registration(owner_pid: i32) -> NotifyRegistration {
    NotifyRegistration { owner_pid, kind: libc::SIGEV_NONE, image: 7, ..Default::default() }
}

fn fired(q: &Queue) -> u32 {
    q.header().notify_events.load(Ordering::Acquire)
}

fn posted(q: &Queue, owner_pid: i32) -> u32 {
    match q.post_pending_notification(registration(owner_pid), |_| false) {
        Ok(Posted::Posted(seq)) => seq,
        other => panic!("post of {owner_pid}: {other:?}"),
    }
}

/// A registration posted while the holder is inside its critical section counts from then on:
/// the holder's own send into the empty queue fires it, once; the lock's next holder finds it
/// in place otherwise; and while it waits, the ring does not take the queue back (its senders
/// would not fire it).
#[test]
fn a_registration_posted_behind_a_held_lock_counts_from_the_holders_next_step() {
    // The holder's send fires it.
    let q = new_queue(4, 16);
    let mut held = q.lock().unwrap();
    let seq = posted(&q, 41);
    assert_ne!(seq & POSTED_SEQ, 0, "a post's sequence number is of its own kind");
    assert!(send(&mut held, 1, b"first"));
    assert_eq!(fired(&q), 1, "fired by the holder's send");
    assert_eq!(held.notification().owner_pid, 0, "fired once");
    drop(held);

    // The next holder finds it; the ring stays folded meanwhile.
    let q = new_queue(4, 16);
    let held = q.lock().unwrap();
    let seq = posted(&q, 41);
    drop(held);
    assert!(!q.is_express(), "the ring took the queue back with a registration posted");
    let reg = q.lock().unwrap().notification();
    assert_eq!((reg.owner_pid, reg.seq), (41, seq), "the next holder's registration");
    assert!(!q.has_pending_notification());
    assert!(send(&mut q.lock().unwrap(), 1, b"first"));
    assert_eq!(fired(&q), 1);
}

/// A post meets the registration that stands — the queue's own, or a post not yet taken —
/// as a registration under the lock does: EBUSY; one that does not stand is replaced. The
/// ring in force (the holder has not folded it) is no place for a post: EAGAIN.
#[test]
fn a_post_is_refused_by_the_registration_that_stands() {
    let q = new_queue(4, 16);
    let mut held = q.lock().unwrap();
    held.set_notification(registration(42));
    let judged = std::cell::Cell::new(0);
    let stands = |cur: &NotifyRegistration| {
        judged.set(cur.owner_pid);
        true
    };
    assert_eq!(q.post_pending_notification(registration(41), stands), Err(Errno::EBUSY));
    assert_eq!(judged.get(), 42, "judged the queue's registration");
    let seq = match q.post_pending_notification(registration(41), |_| false) {
        Ok(Posted::Posted(seq)) => seq,
        other => panic!("{other:?}"),
    };
    assert_eq!(q.post_pending_notification(registration(43), stands), Err(Errno::EBUSY));
    assert_eq!(judged.get(), 41, "judged the post");
    let replaced = posted(&q, 43);
    assert_ne!(replaced, seq);
    drop(held);
    assert_eq!(q.lock().unwrap().notification().owner_pid, 43);

    let q = new_queue(4, 16);
    assert!(q.is_express());
    assert_eq!(q.post_pending_notification(registration(41), |_| false), Err(Errno::EAGAIN));
    assert!(!q.has_pending_notification());
}

/// A registration under the lock is made after any post that came in since the lock was
/// taken (which it then judges), so that a post and it never both succeed.
#[test]
fn a_registration_under_the_lock_takes_a_post_first() {
    let q = new_queue(4, 16);
    let mut held = q.lock().unwrap();
    posted(&q, 41);
    assert!(held.lock_sides_for_registration().unwrap().is_none(), "a post came in");
    assert_eq!(held.notification().owner_pid, 41, "taken, to be judged");
    assert!(held.lock_sides_for_registration().unwrap().is_some());
}

/// A close behind a held lock removes its owner's registration, by the lock's next holder
/// before anything else — not fired by the holder that was inside, should it make the queue
/// non-empty — and withdraws a post of that owner's; another owner's stays. A post by an
/// owner whose close removed its earlier registration is not taken by that removal.
#[test]
fn a_close_behind_a_held_lock_removes_its_owners_registration_and_post() {
    for owner in [41, 42] {
        // The next holder removes it.
        let q = new_queue(4, 16);
        q.lock().unwrap().set_notification(registration(owner));
        q.cancel_pending_notification(41, 7);
        assert_eq!(q.lock().unwrap().notification().owner_pid, if owner == 41 { 0 } else { owner }, "owner {owner}: the next holder");
        // The holder that was inside, sending into the empty queue, does not fire it.
        let q = new_queue(4, 16);
        let mut held = q.lock().unwrap();
        held.set_notification(registration(owner));
        q.cancel_pending_notification(41, 7);
        assert!(send(&mut held, 1, b"first"));
        drop(held);
        assert_eq!(fired(&q), u32::from(owner != 41), "owner {owner}: fired by the holder's send");
        // A post: withdrawn by its owner's close only.
        let q = new_queue(4, 16);
        let mut held = q.lock().unwrap();
        posted(&q, owner);
        assert_eq!(q.cancel_pending_notification(41, 7), owner == 41, "owner {owner}: withdrawn");
        assert!(send(&mut held, 1, b"first"));
        drop(held);
        assert_eq!(fired(&q), u32::from(owner != 41), "owner {owner}: a post fired after the close");
    }
    // Another image of the same pid (an exec'd owner) does not withdraw it.
    let q = new_queue(4, 16);
    let held = q.lock().unwrap();
    posted(&q, 41);
    assert!(!q.cancel_pending_notification(41, 8));
    assert!(q.has_pending_notification());
    drop(held);

    // Closed, then registered again while the same holder is inside: the new one stands,
    // and fires, though the holder looks for removals again before it fires.
    let q = new_queue(4, 16);
    let mut held = q.lock().unwrap();
    held.set_notification(registration(41));
    q.cancel_pending_notification(41, 7);
    let seq = posted(&q, 41);
    held.apply_pending_changes();
    assert_eq!(held.notification().seq, seq, "the post replaced the registration the close removed");
    assert!(send(&mut held, 1, b"first"));
    drop(held);
    assert_eq!(fired(&q), 1, "the new registration fired");
}
