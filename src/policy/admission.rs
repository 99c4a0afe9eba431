//! Creators admitted one at a time in front of the kernel (`MQSHIM_BACKEND=kernel` with a
//! configured `msgmni`): the kernel's count of queues and the creation are two system calls, so
//! two processes creating at the limit could both read a count below it and both create.
//! While a creation holds the admission, no other process of the same user in the same IPC
//! namespace counts or creates, so exactly as many get in as the limit has room for, as the
//! kernel's `ipc_addid` admits them under its lock.
//!
//! The admission is a System V semaphore of the IPC namespace (so its scope is the namespace
//! whose count it guards, and it goes with it), one per user, under the key
//! [`admission_key`], mode 0600: nobody but its user (and root) can hold it. It is taken by one
//! `semtimedop` that waits for 0 and adds 1 with `SEM_UNDO` — a new set starts at 0, so there
//! is no initialisation to race with, and the kernel gives it back if the holder dies — and
//! given back by subtracting 1. A holder asleep holds it for at most [`ADMISSION_WAIT`] against
//! each waiter, one stopped (SIGSTOP, a debugger) until the waiter has found it stopped at two
//! looks (`engine::lock::StopLooks`, about 1.5 ms): the waiter then goes on without it, as it
//! would without a limit to hold. A set under that key that is not this user's own (made by another
//! user first, or by a program) is not used: the creation goes on without it at once, so that
//! nobody can slow another user's creations down by holding it.
//!
//! What it does not cover: processes of different users (each has its own set), and processes
//! that cannot make or use the set (semmni reached: they go on without it). `ipcs -s` shows the
//! set, one per user that created a queue with `msgmni` configured, until the namespace goes or
//! someone removes it (`ipcrm -s`: harmless, the next creation makes it again).

use std::os::raw::c_int;
use std::time::Duration;

use crate::emu::engine::lock::StopLooks;

/// How long a creator waits for the admission before going on without it, while its holder
/// is not found stopped: as long as a creator waits for a replacer's key lock. A holder
/// preempted on a loaded machine may not run again for tens of milliseconds: at 20 ms, one
/// `make test` run on a 2-core machine saw 2 of 4 racing creators get in.
pub const ADMISSION_WAIT: Duration = Duration::from_millis(220);

/// The semaphore key of `uid`'s admission: "mq" in the top half, the low half of the uid
/// below (two users 65 536 apart share a key: the second finds a set not its own and goes on
/// without one).
pub fn admission_key(uid: u32) -> libc::key_t {
    (0x6d71_0000u32 | (uid & 0xffff)) as libc::key_t
}

/// The admission, held until dropped.
pub struct Admission {
    sem: c_int,
}

impl Admission {
    /// Takes this user's admission in the current IPC namespace: None when there is none to
    /// take (it cannot be made, is not this user's) or it was not given within
    /// [`ADMISSION_WAIT`]; the caller then goes on without it.
    pub fn take() -> Option<Admission> {
        // SAFETY: geteuid has no arguments and cannot fail.
        let euid = unsafe { libc::geteuid() };
        Admission::take_at(admission_key(euid), euid)
    }

    /// [`Admission::take`] of the set under `key`, which must be `euid`'s own.
    fn take_at(key: libc::key_t, euid: u32) -> Option<Admission> {
        // SAFETY: semget takes plain integers.
        let sem = unsafe { libc::semget(key, 1, libc::IPC_CREAT | 0o600) };
        if sem < 0 {
            return None;
        }
        // SAFETY: semid_ds is plain data, filled by IPC_STAT.
        let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: IPC_STAT writes one semid_ds, into `ds`.
        if unsafe { libc::semctl(sem, 0, libc::IPC_STAT, &mut ds as *mut libc::semid_ds) } != 0 {
            return None;
        }
        // Another user's set (or one whose mode lets others in) could be held by them.
        if ds.sem_perm.uid != euid || ds.sem_perm.cuid != euid || ds.sem_perm.mode & 0o077 != 0 || ds.sem_nsems != 1 {
            return None;
        }
        let mut ops = [libc::sembuf { sem_num: 0, sem_op: 0, sem_flg: 0 }, libc::sembuf { sem_num: 0, sem_op: 1, sem_flg: libc::SEM_UNDO as libc::c_short }];
        let start = crate::os::clock::monotonic_ns();
        let deadline = start.saturating_add(ADMISSION_WAIT.as_nanos() as u64);
        let mut looks = StopLooks::new(start);
        loop {
            // Until the deadline, or the next look at the holder, whichever comes first.
            let now = crate::os::clock::monotonic_ns();
            let until = deadline.min(looks.next_at());
            let wait = crate::os::clock::timespec_of_ns(until.saturating_sub(now));
            // SAFETY: two valid sembufs and a valid timeout, all living across the call.
            let r = unsafe { libc::syscall(libc::SYS_semtimedop, sem, ops.as_mut_ptr(), ops.len(), &wait as *const libc::timespec) };
            if r == 0 {
                return Some(Admission { sem });
            }
            // Timed out (EAGAIN) or interrupted by a handler: on until the deadline, unless the
            // holder (the last to operate on the set: its taker) is a process found stopped at
            // two looks. Any other error: no set to take.
            let errno = crate::errno::Errno::last();
            let now = crate::os::clock::monotonic_ns();
            if (errno != crate::errno::Errno::EAGAIN && errno != crate::errno::Errno::EINTR) || now >= deadline {
                return None;
            }
            // SAFETY: GETPID takes no argument.
            if looks.stopped_twice_of(now, || unsafe { libc::semctl(sem, 0, libc::GETPID) }) {
                return None;
            }
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut op = libc::sembuf { sem_num: 0, sem_op: -1, sem_flg: libc::SEM_UNDO as libc::c_short };
        // SAFETY: one valid sembuf. Removed meanwhile (`ipcrm -s`): EIDRM, nothing to give back.
        unsafe { libc::semop(self.sem, &mut op, 1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key of this test run's own, and the set under it removed when done.
    struct TestSet(libc::key_t);

    impl TestSet {
        fn new(salt: u32) -> TestSet {
            TestSet((0x4d51_0000u32 ^ (std::process::id() << 4) ^ salt) as libc::key_t)
        }

        fn id(&self) -> c_int {
            // SAFETY: plain integers.
            unsafe { libc::semget(self.0, 1, 0) }
        }
    }

    impl Drop for TestSet {
        fn drop(&mut self) {
            // SAFETY: plain integers; a missing set is EINVAL.
            unsafe { libc::semctl(self.id(), 0, libc::IPC_RMID) };
        }
    }

    fn euid() -> u32 {
        // SAFETY: no arguments, cannot fail.
        unsafe { libc::geteuid() }
    }

    #[test]
    fn one_holder_at_a_time_and_a_dead_holder_gives_it_back() {
        let set = TestSet::new(1);
        let held = Admission::take_at(set.0, euid()).expect("a new set is free");
        // Held: the next taker waits ADMISSION_WAIT, then goes on without it.
        assert!(Admission::take_at(set.0, euid()).is_none());
        drop(held);
        assert!(Admission::take_at(set.0, euid()).is_some(), "given back by the drop");
        // A holder killed while it holds it: SEM_UNDO gives it back.
        // SAFETY: the child only takes the admission and exits without unwinding.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let kept = Admission::take_at(set.0, euid());
            std::mem::forget(kept);
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(Admission::take_at(set.0, euid()).is_some(), "given back at the holder's death");
    }

    /// Milliseconds a taker took to go on without the set under `key`, the quickest of three
    /// (a loaded machine may delay any one).
    fn quickest_ms_without(key: libc::key_t) -> u64 {
        (0..3)
            .map(|_| {
                let start = crate::os::clock::monotonic_ns();
                assert!(Admission::take_at(key, euid()).is_none());
                (crate::os::clock::monotonic_ns() - start) / 1_000_000
            })
            .min()
            .unwrap()
    }

    /// A holder stopped (SIGSTOP, a debugger) is given up on once found stopped at two looks
    /// (about 1.5 ms), not after ADMISSION_WAIT (220 ms), which a holder that runs still gets.
    #[test]
    fn a_stopped_holder_is_given_up_on_at_two_looks() {
        let set = TestSet::new(3);
        let wait_ms = ADMISSION_WAIT.as_millis() as u64;
        // SAFETY: the child takes the free set (system calls only: there is no holder to look
        // at) and keeps it as it stops.
        let holder = unsafe { crate::emu::engine::testing::StoppedChild::start(|| std::mem::forget(Admission::take_at(set.0, euid()))) };
        let ms = quickest_ms_without(set.0);
        assert!((1..wait_ms / 2).contains(&ms), "stopped holder: {ms} ms");
        drop(holder);
        assert!(Admission::take_at(set.0, euid()).is_some(), "given back at the holder's death");
        let held = Admission::take_at(set.0, euid()).unwrap_or_else(|| panic!("free"));
        let ms = quickest_ms_without(set.0);
        assert!(ms >= wait_ms, "running holder: {ms} ms");
        drop(held);
    }

    #[test]
    fn a_set_others_may_use_is_never_used() {
        let set = TestSet::new(2);
        // Made first and open to everyone, as by another user: free, yet not taken (a set
        // others could hold would let them slow this user's creations down).
        // SAFETY: plain integers.
        let id = unsafe { libc::semget(set.0, 1, libc::IPC_CREAT | libc::IPC_EXCL | 0o666) };
        assert!(id >= 0);
        assert!(Admission::take_at(set.0, euid()).is_none());
        // SAFETY: GETVAL takes no argument.
        assert_eq!(unsafe { libc::semctl(id, 0, libc::GETVAL) }, 0, "left as it was");
        // Its own again (0600): used.
        drop(set);
        let set = TestSet::new(2);
        assert!(Admission::take_at(set.0, euid()).is_some());
    }
}
