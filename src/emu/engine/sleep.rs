//! The one sleep loop: how a registered waiter (see `engine::waiter`), POSIX or System V, waits
//! to be served.
//!
//! It spins first, briefly and adaptively, while the peer runs on another CPU (`engine::spin`),
//! then sleeps on its futex word until the earliest of:
//! - being served (the word says WOKEN);
//! - the caller's absolute deadline (`mq_timed*`);
//! - a signal handler, with the API's restart rule (`engine::futex::Restart`);
//! - the next due time of a scheduled message it should wake for: then it sends what is due
//!   (perhaps to itself) and sleeps on — no polling loop. A due time already acted on is not
//!   slept until again, so a due message that cannot be sent yet (a full queue) does not make
//!   the loop spin; whoever makes room wakes the waiter;
//! - the next liveness look ([`LIVENESS_POLL_SECONDS`]), for queues that can go from under a
//!   sleeper without anyone left to wake it — a System V queue whose remover was killed
//!   mid-removal, and any queue whose file another user truncated (its pages are gone, and
//!   the look's first touch of the word is the fault the containment turns into EIO): the
//!   waiter then finds its queue gone. It also looks before each sleep, so that a waiter
//!   roused by a removal that could not serve it (see `engine::waiter`) finds its queue gone.
//!
//! What the waiter gets is its API's business: the loop only says why it stopped ([`Slept`]),
//! and a served waiter always wins (the API collects the outcome under the queue lock, where a
//! waiter served just as its timeout fired is still served, as in the kernel's `wq_sleep`).

use std::sync::atomic::{fence, AtomicU32, Ordering};

use super::futex::{self, Restart, Woke};
use super::layout::wake_word;
use super::spin;
use crate::os::clock::{deadline_passed, monotonic_ns, realtime_in, realtime_ns, timespec_of_ns};

/// How often a caller blocked without a deadline looks whether its queue is still there, in
/// seconds (an ordinary wait wakes no more than this for it).
pub const LIVENESS_POLL_SECONDS: i64 = 2;

/// How one waiter sleeps.
pub struct Sleep<'a> {
    /// The waiter's futex word.
    pub word: &'a AtomicU32,
    /// The queue's recent-wait average, for the adaptive spin.
    pub spin_avg_ns: &'a AtomicU32,
    /// The CPU the peer last ran on (`u32::MAX`: unknown): the waiter spins only when it is
    /// another CPU than its own.
    pub peer_cpu: u32,
    /// The caller's absolute CLOCK_REALTIME deadline, if any.
    pub deadline: Option<&'a libc::timespec>,
    /// What a signal handler does to the wait.
    pub restart: Restart,
    /// Seconds between looks whether the queue still exists (None: it cannot disappear under a
    /// sleeper without the remover waking it).
    pub liveness_poll: Option<i64>,
}

/// What the sleep loop asks of the queue it waits on.
pub trait SleepWatch {
    /// The earliest due time (CLOCK_REALTIME ns) of a scheduled message this waiter should wake
    /// for, 0 when none. Read after the word says SLEEPING (see `engine::waiter::rouse`).
    fn next_due_ns(&self) -> u64;
    /// Sends the scheduled messages that have fallen due (which may serve this very waiter).
    fn send_due(&self);
    /// Whether the queue still exists (asked at each liveness look, and before each sleep).
    fn exists(&self) -> bool {
        true
    }
    /// Whether the caller may no longer wait in the queue, its permission taken away (System
    /// V's IPC_SET; asked with [`SleepWatch::exists`]).
    fn shut_out(&self) -> bool {
        false
    }
}

/// Why the sleep loop stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slept {
    /// The word says WOKEN: the outcome is in the waiter record.
    Served,
    /// The caller's deadline passed.
    TimedOut,
    /// A signal handler ran and the call must fail with EINTR (if not served meanwhile).
    Interrupted,
    /// A liveness look found the queue gone.
    Removed,
    /// A look before a sleep found the caller's permission gone ([`SleepWatch::shut_out`]).
    ShutOut,
}

/// What ends the next sleep, if it times out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alarm {
    Deadline,
    Due(u64),
    Liveness,
}

fn earlier(a: &libc::timespec, b: Option<&libc::timespec>) -> bool {
    b.is_none_or(|b| (a.tv_sec, a.tv_nsec) < (b.tv_sec, b.tv_nsec))
}

/// Waits until the waiter is served, its deadline passes, a signal handler interrupts, or its
/// queue is found gone (see the module documentation).
pub fn until_served(s: &Sleep<'_>, watch: &impl SleepWatch) -> Slept {
    let started = monotonic_ns();
    // The spin records its own wait when it ends served.
    if !deadline_passed(s.deadline) && spin::spin_if_peer_elsewhere(s.spin_avg_ns, s.word, s.peer_cpu) {
        return Slept::Served;
    }
    // A due time already acted on: not slept until again.
    let mut done_due = 0;
    loop {
        match s.word.load(Ordering::Acquire) {
            wake_word::WOKEN => {
                // The spin budget follows whole waits, also those that ended asleep.
                spin::record_wait(s.spin_avg_ns, monotonic_ns() - started);
                return Slept::Served;
            }
            wake_word::WAITING if s.word.compare_exchange(wake_word::WAITING, wake_word::SLEEPING, Ordering::SeqCst, Ordering::Acquire).is_err() => {
                continue;
            }
            _ => {}
        }
        // The due time is read after the word says SLEEPING (pairs with `waiter::rouse`): a
        // message scheduled meanwhile either shows here or sets the word back to WAITING,
        // which ends the sleep below at once.
        fence(Ordering::SeqCst);
        let due = watch.next_due_ns();
        let mut until = s.deadline.copied();
        let mut alarm = Alarm::Deadline;
        if let Some(secs) = s.liveness_poll {
            let look = realtime_in(secs);
            if earlier(&look, until.as_ref()) {
                (until, alarm) = (Some(look), Alarm::Liveness);
            }
        }
        if due != 0 && due != done_due {
            let at = timespec_of_ns(due);
            if earlier(&at, until.as_ref()) {
                (until, alarm) = (Some(at), Alarm::Due(due));
            }
        }
        // A word whose file was truncated under it (now private zeros, see
        // `segment::containment`) is woken by no one: the queue is as good as gone.
        if super::segment::containment::poisoned_at(s.word as *const AtomicU32 as usize) {
            return Slept::Removed;
        }
        // A queue removed, or whose permissions changed, by someone who could not take its
        // lock rouses its sleepers instead of serving them (System V's `Queue::remove_unlocked`
        // and `Queue::recheck_unlocked`): the change is stored before it looks at their words,
        // and read here after the word says SLEEPING (the fence above), so either this look
        // sees it or the changer sees SLEEPING and rouses.
        if s.liveness_poll.is_some() {
            if !watch.exists() {
                return Slept::Removed;
            }
            if watch.shut_out() {
                return Slept::ShutOut;
            }
        }
        match futex::wait(s.word, wake_word::SLEEPING, until.as_ref(), s.restart) {
            Woke::Maybe => {}
            Woke::Interrupted => return Slept::Interrupted,
            Woke::TimedOut if alarm == Alarm::Deadline => return Slept::TimedOut,
            Woke::TimedOut => {
                if s.liveness_poll.is_some() && !watch.exists() {
                    return Slept::Removed;
                }
                if due != 0 && realtime_ns() >= due {
                    // Should the due time stay (the message waits for room, or the lock could
                    // not be had), it is looked at again only at the next liveness look or
                    // wake-up.
                    done_due = if alarm == Alarm::Due(due) { due } else { 0 };
                    watch.send_due();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A queue whose scheduled message is due at `due` and is "sent" by serving the waiter.
    struct Watch<'a> {
        due: AtomicU64,
        sends: AtomicU32,
        serve_on_send: Option<&'a AtomicU32>,
        exists: std::sync::atomic::AtomicBool,
        shut: std::sync::atomic::AtomicBool,
    }

    /// Sends after which a test watch gives up on a loop that does not sleep.
    const RUNAWAY: u32 = 1000;

    impl SleepWatch for Watch<'_> {
        fn next_due_ns(&self) -> u64 {
            self.due.load(Ordering::SeqCst)
        }
        fn send_due(&self) {
            let sends = self.sends.fetch_add(1, Ordering::SeqCst) + 1;
            if sends >= RUNAWAY {
                // A loop that keeps sending instead of sleeping: end it, so the test fails
                // rather than hangs.
                self.due.store(0, Ordering::SeqCst);
            }
            if let Some(word) = self.serve_on_send {
                word.store(wake_word::WOKEN, Ordering::SeqCst);
                self.due.store(0, Ordering::SeqCst);
            }
        }
        fn exists(&self) -> bool {
            self.exists.load(Ordering::SeqCst)
        }
        fn shut_out(&self) -> bool {
            self.shut.load(Ordering::SeqCst)
        }
    }

    fn sleep<'a>(word: &'a AtomicU32, avg: &'a AtomicU32, deadline: Option<&'a libc::timespec>, poll: Option<i64>) -> Sleep<'a> {
        Sleep { word, spin_avg_ns: avg, peer_cpu: u32::MAX, deadline, restart: Restart::LikeMqueue, liveness_poll: poll }
    }

    #[test]
    fn a_deadline_ends_the_sleep_and_a_served_word_wins() {
        let (word, avg) = (AtomicU32::new(wake_word::WAITING), AtomicU32::new(0));
        let watch = Watch { due: AtomicU64::new(0), sends: AtomicU32::new(0), serve_on_send: None, exists: true.into(), shut: false.into() };
        let soon = timespec_of_ns(realtime_ns() + 20_000_000);
        assert_eq!(until_served(&sleep(&word, &avg, Some(&soon), None), &watch), Slept::TimedOut);
        word.store(wake_word::WOKEN, Ordering::SeqCst);
        let past = timespec_of_ns(realtime_ns() - 1);
        assert_eq!(until_served(&sleep(&word, &avg, Some(&past), None), &watch), Slept::Served);
    }

    #[test]
    fn a_due_message_is_sent_at_its_time_and_a_stuck_one_does_not_spin() {
        let (word, avg) = (AtomicU32::new(wake_word::WAITING), AtomicU32::new(0));
        // Sending serves the waiter: it wakes at the due time, not before, and is served.
        let due = realtime_ns() + 30_000_000;
        let watch = Watch { due: AtomicU64::new(due), sends: AtomicU32::new(0), serve_on_send: Some(&word), exists: true.into(), shut: false.into() };
        assert_eq!(until_served(&sleep(&word, &avg, None, None), &watch), Slept::Served);
        assert!(realtime_ns() >= due);
        assert_eq!(watch.sends.load(Ordering::SeqCst), 1);
        // A due message that cannot be sent (a full queue) is tried once, then the waiter
        // sleeps until its deadline instead of spinning on the past due time.
        let word = AtomicU32::new(wake_word::WAITING);
        let watch =
            Watch { due: AtomicU64::new(realtime_ns() + 5_000_000), sends: AtomicU32::new(0), serve_on_send: None, exists: true.into(), shut: false.into() };
        let deadline = timespec_of_ns(realtime_ns() + 60_000_000);
        assert_eq!(until_served(&sleep(&word, &avg, Some(&deadline), None), &watch), Slept::TimedOut);
        assert_eq!(watch.sends.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_liveness_look_finds_a_removed_queue() {
        // Removed while it sleeps, by nobody who wakes it: found at the next look.
        let (word, avg) = (AtomicU32::new(wake_word::WAITING), AtomicU32::new(0));
        let watch = Watch { due: AtomicU64::new(0), sends: AtomicU32::new(0), serve_on_send: None, exists: true.into(), shut: false.into() };
        let s = Sleep { restart: Restart::Never, ..sleep(&word, &avg, None, Some(1)) };
        let started = realtime_ns();
        let slept = std::thread::scope(|scope| {
            scope.spawn(|| {
                while word.load(Ordering::SeqCst) != wake_word::SLEEPING {
                    std::thread::yield_now();
                }
                watch.exists.store(false, Ordering::SeqCst);
            });
            until_served(&s, &watch)
        });
        assert_eq!(slept, Slept::Removed);
        assert!(realtime_ns() - started >= 900_000_000);
    }

    /// A queue already removed, or removed and roused (as System V's removal without the lock
    /// does), and a caller shut out and roused (its IPC_SET), are found before the next sleep,
    /// not at the liveness look.
    #[test]
    fn a_removal_or_a_shut_out_is_looked_for_before_each_sleep() {
        let (word, avg) = (AtomicU32::new(wake_word::WAITING), AtomicU32::new(0));
        let watch = Watch { due: AtomicU64::new(0), sends: AtomicU32::new(0), serve_on_send: None, exists: false.into(), shut: false.into() };
        let s = Sleep { restart: Restart::Never, ..sleep(&word, &avg, None, Some(60)) };
        assert_eq!(until_served(&s, &watch), Slept::Removed, "already removed");

        // Once the waiter sleeps, `change` is made and the waiter roused (as System V's removal
        // and IPC_SET without the lock do): found long before the 60 s look.
        let sleep_then = |change: &(dyn Fn() + Sync)| {
            word.store(wake_word::WAITING, Ordering::SeqCst);
            watch.exists.store(true, Ordering::SeqCst);
            let started = realtime_ns();
            let slept = std::thread::scope(|scope| {
                scope.spawn(|| {
                    while word.load(Ordering::SeqCst) != wake_word::SLEEPING {
                        std::thread::yield_now();
                    }
                    change();
                    crate::emu::engine::waiter::rouse(std::iter::once(&word));
                });
                until_served(&s, &watch)
            });
            assert!(realtime_ns() - started < 30_000_000_000, "found long before the 60 s look");
            slept
        };
        assert_eq!(sleep_then(&|| watch.exists.store(false, Ordering::SeqCst)), Slept::Removed, "removed, then roused");
        assert_eq!(sleep_then(&|| watch.shut.store(true, Ordering::SeqCst)), Slept::ShutOut, "shut out, then roused");
    }
}
