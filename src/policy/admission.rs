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
//! given back by subtracting 1. A holder stopped (SIGSTOP) or asleep holds it for at most
//! [`ADMISSION_WAIT`] against each waiter: the waiter then goes on without it, as it would
//! without a limit to hold. A set under that key that is not this user's own (made by another
//! user first, or by a program) is not used: the creation goes on without it at once, so that
//! nobody can slow another user's creations down by holding it.
//!
//! What it does not cover: processes of different users (each has its own set), and processes
//! that cannot make or use the set (semmni reached: they go on without it). `ipcs -s` shows the
//! set, one per user that created a queue with `msgmni` configured, until the namespace goes or
//! someone removes it (`ipcrm -s`: harmless, the next creation makes it again).

use std::os::raw::c_int;
use std::time::Duration;

/// How long a creator waits for the admission before going on without it.
pub const ADMISSION_WAIT: Duration = Duration::from_millis(20);

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
        let wait = libc::timespec { tv_sec: 0, tv_nsec: ADMISSION_WAIT.as_nanos() as libc::c_long };
        let deadline = crate::os::clock::monotonic_ns().saturating_add(ADMISSION_WAIT.as_nanos() as u64);
        loop {
            // SAFETY: two valid sembufs and a valid timeout, all living across the call.
            let r = unsafe { libc::syscall(libc::SYS_semtimedop, sem, ops.as_mut_ptr(), ops.len(), &wait as *const libc::timespec) };
            if r == 0 {
                return Some(Admission { sem });
            }
            // Interrupted by a handler: try again until the deadline (a relative timeout each
            // time, so the whole wait may run a little past it).
            if crate::errno::Errno::last() != crate::errno::Errno::EINTR || crate::os::clock::monotonic_ns() >= deadline {
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
