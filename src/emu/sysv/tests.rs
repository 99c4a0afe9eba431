//! Tests of the System V calls in-process: ids and limits, the `/proc` format, permissions,
//! scheduled messages.

use super::*;
use crate::os::clock::timespec_of_ns;

mod creation;
mod removal;
mod set;
mod spare;

// The calls under test, with the tests' own pointers: buffers alive for the whole test, or
// deliberately invalid ones, which the calls must refuse with EFAULT — within their contract.

fn msgsnd(e: &SysvEmulation, id: c_int, msgp: *const c_void, msgsz: usize, flags: c_int) -> Result<c_int> {
    // SAFETY: see above.
    unsafe { e.msgsnd(id, msgp, msgsz, flags) }
}

fn msgrcv(e: &SysvEmulation, id: c_int, msgp: *mut c_void, bufsz: usize, msgtyp: c_long, flags: c_int) -> Result<isize> {
    // SAFETY: see above.
    unsafe { e.msgrcv(id, msgp, bufsz, msgtyp, flags) }
}

fn msgctl(e: &SysvEmulation, id: c_int, command: c_int, buf: *mut msqid_ds) -> Result<c_int> {
    // SAFETY: see above.
    unsafe { e.msgctl(id, command, buf) }
}

fn msgsnd_at(e: &SysvEmulation, id: c_int, msgp: *const c_void, msgsz: usize, flags: c_int, due: *const libc::timespec, handle: *mut u64) -> Result<c_int> {
    // SAFETY: see above.
    unsafe { e.msgsnd_at(id, msgp, msgsz, flags, due, handle) }
}

/// Runs `f` in a thread that then ends, and returns once the system no longer shows that thread
/// (what `f` returned): a joined thread may still be on its way out for a moment — longer on a
/// loaded machine — during which a look at its tid finds it there, as a creator or remover at
/// work. Panics after 10 s.
fn in_a_thread_that_ends<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let (r, tid) = std::thread::scope(|s| s.spawn(|| (f(), crate::os::ids::tid())).join().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !crate::os::sys::process_gone_or_zombie(tid) {
        assert!(std::time::Instant::now() < deadline, "thread {tid} never went");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    r
}

/// Waits until `blocked` says that a caller the test started blocks in a queue, polling every
/// millisecond; panics naming `who` after 10 s.
fn wait_until_blocked(who: &str, mut blocked: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !blocked() {
        assert!(std::time::Instant::now() < deadline, "the {who} never blocked");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

struct Ns {
    path: String,
    emu: SysvEmulation,
}

impl Ns {
    fn new(limits: SysvLimits) -> Ns {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = format!("/tmp/mqshim-sysv-ops-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let emu = SysvEmulation::new(path.as_bytes(), limits).unwrap();
        Ns { path, emu }
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[repr(C)]
struct Msg {
    mtype: c_long,
    text: [u8; 64],
}

const LIMITS: SysvLimits = SysvLimits { msgmax: 64, msgmnb: 100, msgmni: 3 };

#[test]
fn ids_limits_and_listing() {
    let ns = Ns::new(LIMITS);
    let e = &ns.emu;
    // A fresh namespace hands out 0, 1, 2 like a fresh IPC namespace; msgmni is 3.
    assert_eq!(e.msgget(7, libc::IPC_CREAT | 0o640), Ok(0));
    assert_eq!(e.msgget(libc::IPC_PRIVATE, 0o600), Ok(1));
    assert_eq!(e.msgget(-1, libc::IPC_CREAT | 0o600), Ok(2));
    assert_eq!(e.msgget(8, libc::IPC_CREAT | 0o600), Err(Errno::ENOSPC));
    assert_eq!(e.msgget(7, libc::IPC_CREAT | libc::IPC_EXCL), Err(Errno::EEXIST));
    assert_eq!(e.msgget(-1, 0), Ok(2));
    assert_eq!(e.msgget(9, 0), Err(Errno::ENOENT));
    // msgmax and msgmnb (the new queue's qbytes) are the configured ones.
    let mut m = Msg { mtype: 1, text: [b'x'; 64] };
    let p = &mut m as *mut Msg as *mut c_void;
    assert_eq!(msgsnd(e, 0, p, 65, 0), Err(Errno::EINVAL));
    assert_eq!(msgsnd(e, 0, p, 64, 0), Ok(0));
    assert_eq!(msgsnd(e, 0, p, 37, libc::IPC_NOWAIT), Err(Errno::EAGAIN));
    assert_eq!(msgsnd(e, 0, p, 36, libc::IPC_NOWAIT), Ok(0));
    // SAFETY: an all-zero msginfo is valid.
    let mut info: libc::msginfo = unsafe { std::mem::zeroed() };
    assert_eq!(msgctl(e, 0, cmd::MSG_INFO, (&mut info as *mut libc::msginfo).cast()), Ok(2));
    assert_eq!((info.msgmax, info.msgmnb, info.msgmni, info.msgpool, info.msgmap, info.msgtql), (64, 100, 3, 3, 2, 100));
    // Listing (mqshim ipcs) and removal by key (mqshim ipcrm -Q).
    let list = e.list();
    assert_eq!(
        list.iter().map(|q| (q.key, q.id, q.mode, q.qnum, q.cbytes)).collect::<Vec<_>>(),
        vec![(7, 0, 0o640, 2, 100), (0, 1, 0o600, 0, 0), (-1, 2, 0o600, 0, 0)]
    );
    assert_eq!(e.remove_key(7), Ok(()));
    assert_eq!(e.remove_key(7), Err(Errno::EINVAL));
    assert_eq!(e.remove_key(libc::IPC_PRIVATE), Err(Errno::EINVAL));
    assert_eq!(msgsnd(e, 0, p, 1, 0), Err(Errno::EINVAL));
    assert_eq!(e.list().len(), 2);
    // The index is reused cyclically: the next queue is index 3, not 0.
    assert_eq!(e.msgget(8, libc::IPC_CREAT | 0o600), Ok(3));
    assert_eq!(e.remove_id(3), Ok(()));
    assert_eq!(e.remove_id(1), Ok(()));
    assert_eq!(e.remove_id(2), Ok(()));
    assert_eq!(e.list(), vec![]);
}

#[test]
fn proc_lines_have_the_kernels_format() {
    // A real kernel queue and the line mqshim makes from the same values must be identical.
    // (Raw system calls: in this test binary `msgget` & co. are mqshim's own exports.)
    // SAFETY: plain System V system calls on a private queue of our own, removed below.
    let id = unsafe { libc::syscall(libc::SYS_msgget, libc::IPC_PRIVATE, 0o640) } as i32;
    assert!(id >= 0);
    let mut m = Msg { mtype: 3, text: [b'y'; 64] };
    // SAFETY: as above; m is a valid msgbuf with 64 bytes of text.
    assert_eq!(unsafe { libc::syscall(libc::SYS_msgsnd, id, &mut m as *mut Msg, 10, 0) }, 0);
    // SAFETY: as above; an all-zero msqid_ds is valid (x86_64's msgctl takes this layout).
    let mut ds: msqid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::syscall(libc::SYS_msgctl, id, libc::IPC_STAT, &mut ds as *mut msqid_ds) }, 0);
    let text = std::fs::read_to_string("/proc/sysvipc/msg").unwrap();
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_msgctl, id, libc::IPC_RMID, 0usize) };
    assert!(text.starts_with(PROC_SYSVIPC_MSG_HEADER), "{text}");
    let id_text = id.to_string();
    let kernel_line = text.lines().find(|l| l.split_whitespace().nth(1) == Some(id_text.as_str())).unwrap();
    let q = QueueInfo {
        key: ds.msg_perm.__key,
        id,
        mode: ds.msg_perm.mode as u32,
        uid: ds.msg_perm.uid,
        gid: ds.msg_perm.gid,
        cuid: ds.msg_perm.cuid,
        cgid: ds.msg_perm.cgid,
        cbytes: ds.__msg_cbytes,
        qnum: ds.msg_qnum,
        qbytes: ds.msg_qbytes,
        lspid: ds.msg_lspid,
        lrpid: ds.msg_lrpid,
        stime: ds.msg_stime,
        rtime: ds.msg_rtime,
        ctime: ds.msg_ctime,
        scheduled: 0,
    };
    assert_eq!(proc_line(&q), format!("{kernel_line}\n"));
}

#[test]
fn permissions_follow_ipcperms() {
    let perm = Snapshot { mode: 0o640, uid: 10, gid: 20, cuid: 11, cgid: 21, ..Snapshot::default() };
    let creds =
        |euid, fsgid, caps| Ident::from_creds(&crate::os::creds::Creds { uid: euid, euid, fsuid: euid, gid: fsgid, egid: fsgid, fsgid, groups: vec![], caps });
    // Owner class by uid or cuid; group class by gid or cgid; the bits asked for only.
    assert!(ipcperms(&perm, &creds(10, 0, 0), 0o600));
    assert!(ipcperms(&perm, &creds(11, 0, 0), 0o200));
    assert!(ipcperms(&perm, &creds(12, 20, 0), 0o400));
    assert!(!ipcperms(&perm, &creds(12, 21, 0), 0o200));
    assert!(!ipcperms(&perm, &creds(12, 22, 0), 0o004));
    assert!(ipcperms(&perm, &creds(12, 22, 0), 0));
    assert!(ipcperms(&perm, &creds(12, 22, 0), libc::IPC_CREAT | libc::IPC_EXCL));
    // CAP_IPC_OWNER bypasses.
    assert!(ipcperms(&perm, &creds(12, 22, 1 << cap::IPC_OWNER), 0o666));
}

/// An absolute CLOCK_REALTIME time `ms` from now.
fn in_ms(ms: u64) -> libc::timespec {
    timespec_of_ns(realtime_ns() + ms * 1_000_000)
}

#[test]
fn scheduling_checks_in_msgsnd_order() {
    let ns = Ns::new(LIMITS);
    let e = &ns.emu;
    let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    let mut m = Msg { mtype: 1, text: [b'x'; 64] };
    let msg: *mut Msg = &mut m;
    let p = msg as *const c_void;
    let mut h = 0u64;
    let due = in_ms(60_000);
    let bad_nsec = libc::timespec { tv_sec: due.tv_sec, tv_nsec: 1_000_000_000 };
    let negative = libc::timespec { tv_sec: -1, tv_nsec: 0 };
    assert_eq!(msgsnd_at(e, id, std::ptr::null(), 1, 0, &due, &mut h), Err(Errno::EFAULT));
    assert_eq!(msgsnd_at(e, id + 1, p, 65, 0, &bad_nsec, std::ptr::null_mut()), Err(Errno::EINVAL));
    assert_eq!(msgsnd_at(e, id, p, 1, 0, &bad_nsec, &mut h), Err(Errno::EINVAL));
    assert_eq!(msgsnd_at(e, id, p, 1, 0, &negative, &mut h), Err(Errno::EINVAL));
    assert_eq!(msgsnd_at(e, id, p, 1, 0, std::ptr::null(), &mut h), Err(Errno::EINVAL));
    assert_eq!(msgsnd_at(e, id, p, 1, libc::MSG_NOERROR, &due, &mut h), Err(Errno::EINVAL));
    assert_eq!(msgsnd_at(e, id, p, 1, 0, 8 as *const libc::timespec, &mut h), Err(Errno::EFAULT));
    assert_eq!(msgsnd_at(e, id + 1, p, 1, 0, &due, std::ptr::null_mut()), Err(Errno::EINVAL));
    assert_eq!(msgsnd_at(e, id, p, 1, 0, &due, std::ptr::null_mut()), Err(Errno::EFAULT));
    // SAFETY: msg points to m, alive for the whole test.
    unsafe { (*msg).mtype = 0 };
    assert_eq!(msgsnd_at(e, id + 1, p, 1, 0, &due, &mut h), Err(Errno::EINVAL));
    // SAFETY: msg points to m, alive for the whole test.
    unsafe { (*msg).mtype = 1 };
    assert_eq!(msgsnd_at(e, id, p, 1, libc::IPC_NOWAIT, &due, &mut h), Ok(0));
    assert!(h != 0);
    assert_eq!(e.msg_cancel(id + 1, h), Err(Errno::EINVAL));
    assert_eq!(e.msg_cancel(-1, h), Err(Errno::EINVAL));
    assert_eq!(e.msg_cancel(id, h + 1), Err(Errno::ENOENT));
    assert_eq!(e.list()[0].scheduled, 1);
    assert_eq!(e.msg_cancel(id, h), Ok(0));
    assert_eq!(e.msg_cancel(id, h), Err(Errno::ENOENT));
    assert_eq!(e.list()[0].scheduled, 0);
    // IPC_RMID discards what is pending.
    assert_eq!(msgsnd_at(e, id, p, 1, 0, &due, &mut h), Ok(0));
    assert_eq!(e.remove_id(id), Ok(()));
    assert_eq!(e.msg_cancel(id, h), Err(Errno::EINVAL));
}

#[test]
fn a_blocked_receiver_wakes_at_the_due_time_and_counts_follow() {
    let ns = Ns::new(LIMITS);
    let e = &ns.emu;
    let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    let mut m = Msg { mtype: 3, text: [b'y'; 64] };
    let msg: *mut Msg = &mut m;
    let p = msg as *const c_void;
    let mut h = 0u64;
    let stat = || {
        // SAFETY: an all-zero msqid_ds is valid.
        let mut ds: msqid_ds = unsafe { std::mem::zeroed() };
        msgctl(e, id, cmd::IPC_STAT, &mut ds).unwrap();
        ds.msg_qnum
    };
    std::thread::scope(|s| {
        let receiver = s.spawn(|| {
            let mut r = Msg { mtype: 0, text: [0; 64] };
            let got = msgrcv(e, id, (&mut r as *mut Msg).cast(), 64, 3, 0);
            (got, r.mtype, realtime_ns())
        });
        // Schedule only once the receiver sleeps: the new due time must rouse it.
        let q = e.find(id).unwrap();
        let entry = q.entry();
        while q.lock(entry).unwrap().counts().3 == 0 {
            std::thread::yield_now();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Another type falls due first: the receiver sends it into the queue and sleeps on.
        let first = in_ms(150);
        assert_eq!(msgsnd_at(e, id, p, 5, 0, &first, &mut h), Ok(0));
        // SAFETY: msg points to m, alive for the whole test.
        unsafe { (*msg).mtype = 4 };
        let other = in_ms(60);
        assert_eq!(msgsnd_at(e, id, p, 6, 0, &other, &mut h), Ok(0));
        assert_eq!(stat(), 0);
        let (got, mtype, at) = receiver.join().unwrap();
        let due_ns = first.tv_sec as u64 * 1_000_000_000 + first.tv_nsec as u64;
        assert_eq!((got, mtype), (Ok(5), 3));
        assert!(at >= due_ns && at < due_ns + 1_000_000_000, "woke {} ms after the due time", (at as i64 - due_ns as i64) / 1_000_000);
    });
    // The other type entered the queue when it fell due.
    assert_eq!(stat(), 1);
    let mut r = Msg { mtype: 0, text: [0; 64] };
    assert_eq!(msgrcv(e, id, (&mut r as *mut Msg).cast(), 64, 0, libc::IPC_NOWAIT), Ok(6));
    assert_eq!(r.mtype, 4);
    // IPC_STAT and a non-blocking receive find a due message without anyone waiting.
    // SAFETY: msg points to m, alive for the whole test.
    unsafe { (*msg).mtype = 9 };
    let soon = in_ms(30);
    assert_eq!(msgsnd_at(e, id, p, 1, 0, &soon, &mut h), Ok(0));
    assert_eq!(msgrcv(e, id, (&mut r as *mut Msg).cast(), 64, 0, libc::IPC_NOWAIT), Err(Errno::ENOMSG));
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(stat(), 1);
    assert_eq!(msgrcv(e, id, (&mut r as *mut Msg).cast(), 64, 0, libc::IPC_NOWAIT), Ok(1));
    assert_eq!(msgsnd_at(e, id, p, 1, 0, &in_ms(30), &mut h), Ok(0));
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(msgrcv(e, id, (&mut r as *mut Msg).cast(), 64, 9, libc::IPC_NOWAIT), Ok(1));
    assert_eq!(e.remove_id(id), Ok(()));
}

/// Everything a user who may write the registry (every user may) can do to it — zeros or
/// garbage over all of it, counts and display records included — changes no queue: each
/// keeps its id, key, mode, owner and messages, `msgget(key)` finds it (and creates no second
/// queue of that key), and it can be used and removed. At worst creation is refused (a broken
/// registry lock) or the id allocator must skip ids. (Before the queues' identity moved into
/// their segments, clearing a record made the queue EINVAL and its key free.)
#[test]
fn a_rewritten_registry_changes_no_queue() {
    const ROOMY: SysvLimits = SysvLimits { msgmni: 32, ..LIMITS };
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let key = 0x5eed_0001;
    let id = e.msgget(key, libc::IPC_CREAT | 0o640).unwrap();
    let private = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    let m = Msg { mtype: 5, text: [7; 64] };
    assert_eq!(msgsnd(e, id, (&raw const m).cast(), 8, 0), Ok(0));
    let registry = format!("{}/sysv/registry", ns.path);
    let len = std::fs::metadata(&registry).unwrap().len() as usize;
    let mut made = Vec::new();
    for fill in [0xa5u8, 0] {
        // Rewritten in place (the mapping sees it), past the header's lock: a wholly
        // garbled lock word is the allocator's problem (creation fails with EIO).
        let mut bytes = vec![fill; len];
        let keep = std::fs::read(&registry).unwrap();
        bytes[..128].copy_from_slice(&keep[..128]);
        std::fs::write(&registry, &bytes).unwrap();
        // Another process's view: nothing cached.
        let other = SysvEmulation::new(ns.path.as_bytes(), ROOMY).unwrap();
        assert_eq!(other.msgget(key, 0), Ok(id), "fill {fill:#x}");
        assert_eq!(other.msgget(key, libc::IPC_CREAT | 0o640), Ok(id), "no second queue of the key");
        assert_eq!(other.msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o640), Err(Errno::EEXIST));
        // SAFETY: an all-zero msqid_ds is valid.
        let mut ds: msqid_ds = unsafe { std::mem::zeroed() };
        msgctl(&other, id, cmd::IPC_STAT, &mut ds).unwrap();
        assert_eq!((ds.msg_perm.__key, ds.msg_perm.mode & 0o777, ds.msg_perm.uid, ds.msg_qnum), (key, 0o640, caller::ident(Freshness::Fresh).euid, 1));
        msgctl(&other, private, cmd::IPC_STAT, &mut ds).unwrap();
        // Creation: refused while the counts say the table is full (garbage), else a new id
        // (the allocator, reset by zeros, skips the live queues' ids).
        match other.msgget(libc::IPC_PRIVATE, 0o600) {
            Ok(fresh) => {
                assert!(fresh != id && fresh != private, "fill {fill:#x}: {fresh}");
                made.push(fresh);
            }
            Err(e) => assert!(fill != 0 && e == Errno::ENOSPC, "fill {fill:#x}: {e}"),
        }
    }
    assert!(!made.is_empty());
    let mut got = Msg { mtype: 0, text: [0; 64] };
    assert_eq!(msgrcv(e, id, (&raw mut got).cast(), 64, 0, libc::IPC_NOWAIT), Ok(8));
    assert_eq!(got.mtype, 5);
    // Truncated: a process that opens the namespace now uses, finds and removes the queues
    // all the same; a creator who may replace the registry (its owner: this test's user)
    // rebuilds it, showing the live queues, and goes on from their ids. (Only processes that
    // never touch the old registry again may still map it: `e` does not from here on.)
    std::fs::OpenOptions::new().write(true).open(&registry).unwrap().set_len(0).unwrap();
    let other = SysvEmulation::new(ns.path.as_bytes(), ROOMY).unwrap();
    assert_eq!(other.msgget(key, 0), Ok(id));
    assert_eq!(msgsnd(&other, id, (&raw const m).cast(), 8, 0), Ok(0));
    let fresh = other.msgget(libc::IPC_PRIVATE, 0o600).expect("the registry is rebuilt");
    assert!(!made.contains(&fresh) && fresh != id && fresh != private);
    let mut shown: Vec<_> = other.list().iter().map(|q| q.id).collect();
    shown.sort();
    let mut want = made.clone();
    want.extend([id, private, fresh]);
    want.sort();
    assert_eq!(shown, want);
    made.extend([id, private, fresh]);
    for id in made {
        assert_eq!(other.remove_id(id), Ok(()));
    }
    assert_eq!(other.msgget(key, 0), Err(Errno::ENOENT));
}

/// Plants a stale first link for `key` (naming id 12345, which no queue has), as a remover
/// killed half-way, or another user, leaves one.
fn plant_stale_link(ns: &Ns, key: i32) {
    std::os::unix::fs::symlink("12345", format!("{}/sysv/{}", ns.path, keys::link_name(key, 0).to_str().unwrap())).unwrap();
}

/// A key link whose queue is gone (its remover could not remove it, or someone planted it)
/// is stale: `msgget(key, 0)` says ENOENT, and a creator that may removes it and makes the
/// key's queue.
#[test]
fn a_stale_key_link_is_no_queue_and_is_replaced() {
    let ns = Ns::new(LIMITS);
    let e = &ns.emu;
    let key = 0x5eed_0002;
    plant_stale_link(&ns, key);
    assert_eq!(e.msgget(key, 0), Err(Errno::ENOENT));
    let id = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
    assert_eq!(keys::read(e.dir, key, 0), Ok(Some(id)));
    assert_eq!(e.msgget(key, 0), Ok(id));
    assert_eq!(e.remove_id(id), Ok(()));
    assert_eq!(keys::read(e.dir, key, 0), Ok(None));
}

/// Another user's stale link of a key (its queue's remover killed half-way, or planted: in the
/// sticky directory only its owner or root may remove it) does not keep the key from a user
/// who may not remove it, as a removed queue's key is free on the kernel: that creator links
/// its queue in the key's next slot (see `keys`), where every lookup finds it; its removal
/// takes that link away, and the key can be made again. Once a user who may remove the stale
/// link (root here) makes the key's queue, the link is gone and the queue takes the first slot.
#[test]
fn another_user_s_stale_key_link_does_not_keep_the_key() {
    let ns = Ns::new(LIMITS);
    let key = 0x5eed_0004;
    let first = format!("{}/sysv/{}", ns.path, keys::link_name(key, 0).to_str().unwrap());
    std::os::unix::fs::symlink("12345", &first).unwrap();
    std::os::unix::fs::lchown(&first, Some(65533), Some(65533)).unwrap();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // This thread alone becomes uid 65532 (the raw system calls change the calling
                // thread's credentials only; a new thread has no cached ones).
                // SAFETY: plain credential system calls on the calling thread.
                unsafe {
                    assert_eq!(libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()), 0);
                    assert_eq!(libc::syscall(libc::SYS_setresgid, 65532, 65532, 65532), 0);
                    assert_eq!(libc::syscall(libc::SYS_setresuid, 65532, 65532, 65532), 0);
                }
                let e = &ns.emu;
                assert!(!keys::remove(e.dir, key, 0) || keys::read(e.dir, key, 0) == Ok(None), "(not removable here)");
                assert_eq!(e.msgget(key, 0), Err(Errno::ENOENT));
                let id = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
                assert_eq!(keys::read(e.dir, key, 0), Ok(Some(12345)), "the stale link stays");
                assert_eq!(keys::read(e.dir, key, 1), Ok(Some(id)));
                assert_eq!(e.msgget(key, 0), Ok(id));
                assert_eq!(e.msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600), Err(Errno::EEXIST));
                // The sweep leaves a stale link alone while a later one is present: removed, it
                // would let the next creator make a second queue of the key in the first slot.
                let first_name = keys::link_name(key, 0).to_str().unwrap().to_string();
                assert!(!e.leftover(&first_name), "a stale link before a live one");
                assert_eq!(e.remove_id(id), Ok(()));
                assert_eq!(keys::read(e.dir, key, 1), Ok(None));
                assert!(e.leftover(&first_name), "the last stale link");
                assert_eq!(e.msgget(key, 0), Err(Errno::ENOENT));
                let again = e.msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600).unwrap();
                assert_eq!(keys::read(e.dir, key, 1), Ok(Some(again)));
                assert_eq!(e.remove_id(again), Ok(()));
            })
            .join()
            .unwrap();
    });
    let e = &ns.emu;
    let id = e.msgget(key, libc::IPC_CREAT | 0o600).unwrap();
    assert_eq!(keys::read(e.dir, key, 0), Ok(Some(id)));
    assert_eq!(keys::read(e.dir, key, 1), Ok(None));
    assert_eq!(e.remove_id(id), Ok(()));
    assert_eq!(keys::read_all(e.dir, key), Ok(vec![]));
}

/// A file already under a free id's segment name does not make `msgget` fail: a leftover
/// segment (not live) is removed by a creator that may, anything else — a live queue whose
/// display record another user cleared, a file that is no segment of this layout, a
/// directory — is left alone and the id skipped.
#[test]
fn a_file_in_the_way_of_a_new_segment_is_removed_or_skipped() {
    let ns = Ns::new(LIMITS);
    // Ids of a fresh namespace start at 0: a live queue at 0 whose record was cleared, a
    // removed queue's segment at 1, a directory at 2.
    let live = ns.emu.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    assert_eq!(live, 0);
    ns.emu.registry().unwrap().released(live);
    ns.emu.registry().unwrap().set_next_id(0);
    let first = ns.emu.msgget(libc::IPC_PRIVATE, 0o600).expect("the live queue's id is skipped");
    assert_ne!(first, live);
    assert!(ns.emu.find(live).is_ok(), "the live queue is left alone");
    // A segment never committed by a creator still at work (this thread) is its, and skipped;
    // one whose creator is gone (a thread that ended) is a leftover, and replaced.
    let making = queue::Init { id: 1 << 15 | 5, key: libc::IPC_PRIVATE, mode: 0o600, uid: 0, gid: 0, qbytes: 16384, ctime: 1 };
    drop(Queue::create(ns.emu.dir, &file_name(making.id), &making).unwrap());
    ns.emu.registry().unwrap().set_next_id(making.id);
    let beside = ns.emu.msgget(libc::IPC_PRIVATE, 0o600).expect("the id being created is skipped");
    assert_ne!(beside & 0x7fff, 5);
    assert!(std::fs::metadata(format!("{}/sysv/msq.5", ns.path)).is_ok(), "a creation at work is left alone");
    std::fs::remove_file(format!("{}/sysv/msq.5", ns.path)).unwrap();
    msgctl(&ns.emu, beside, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    let init = queue::Init { id: 1 << 15 | 7, key: libc::IPC_PRIVATE, mode: 0o600, uid: 0, gid: 0, qbytes: 16384, ctime: 1 };
    in_a_thread_that_ends(|| drop(Queue::create(ns.emu.dir, &file_name(init.id), &init).unwrap()));
    ns.emu.registry().unwrap().set_next_id(init.id);
    assert_eq!(ns.emu.msgget(libc::IPC_PRIVATE, 0o600), Ok(init.id), "the never-committed segment is replaced");
    std::fs::create_dir(format!("{}/sysv/msq.9", ns.path)).unwrap();
    ns.emu.registry().unwrap().set_next_id(2 << 15 | 9);
    let second = ns.emu.msgget(libc::IPC_PRIVATE, 0o600).expect("the blocked id is skipped");
    assert_ne!(second & 0x7fff, 9);
    for id in [live, first, init.id, second] {
        msgctl(&ns.emu, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    }
    std::fs::remove_dir(format!("{}/sysv/msq.9", ns.path)).unwrap();
}

#[test]
fn peek_lists_arrival_order_and_scheduled_messages_and_takes_nothing() {
    let ns = Ns::new(LIMITS);
    let e = &ns.emu;
    let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    for (mtype, text) in [(3, &b"three"[..]), (1, b"one"), (3, b"three again")] {
        let mut m = Msg { mtype, text: [0; 64] };
        m.text[..text.len()].copy_from_slice(text);
        assert_eq!(msgsnd(e, id, (&raw const m).cast(), text.len(), 0), Ok(0));
    }
    let mut m = Msg { mtype: 7, text: [b's'; 64] };
    let mut h = 0u64;
    let due = in_ms(60_000);
    assert_eq!(msgsnd_at(e, id, (&raw mut m).cast(), 4, 0, &due, &mut h), Ok(0));
    let before = e.list();
    let snap = e.peek(id, 5).unwrap();
    let shown: Vec<_> = snap.messages.iter().map(|m| (m.priority_or_type, m.len, m.preview.as_slice(), m.due_ns)).collect();
    assert_eq!(shown, [(3, 5, &b"three"[..], None), (1, 3, b"one", None), (3, 11, b"three", None)]);
    let due_ns = due.tv_sec as u64 * 1_000_000_000 + due.tv_nsec as u64;
    let scheduled: Vec<_> = snap.scheduled.iter().map(|m| (m.priority_or_type, m.len, m.preview.as_slice(), m.due_ns)).collect();
    assert_eq!(scheduled, [(7, 4, &b"ssss"[..], Some(due_ns))]);
    // Nothing changed: the same snapshot again, the same counts and statistics, and the next
    // receive takes the first message listed.
    assert_eq!(e.peek(id, 5).unwrap(), snap);
    let after = e.list();
    assert_eq!(
        (after[0].qnum, after[0].cbytes, after[0].lrpid, after[0].rtime, after[0].scheduled),
        (before[0].qnum, before[0].cbytes, before[0].lrpid, before[0].rtime, before[0].scheduled)
    );
    let mut got = Msg { mtype: 0, text: [0; 64] };
    assert_eq!(msgrcv(e, id, (&raw mut got).cast(), 64, 0, 0), Ok(5));
    assert_eq!((got.mtype, &got.text[..5]), (3, &b"three"[..]));
    assert_eq!(e.peek(id + 1, 5), Err(Errno::EINVAL));
}

/// A key whose queue was removed is forgotten by the process's key cache: its next `msgget`
/// neither keeps the entry nor maps the segment of whatever queue holds the dead id's index.
#[test]
fn removed_keys_are_forgotten() {
    let ns = Ns::new(LIMITS);
    let e = &ns.emu;
    let cached = |key: key_t| ATTACHED.with(|m| m.as_ref().and_then(|m| m.keys.get(&(e.ns_key(), key)).copied()));
    let id = e.msgget(0x51ed_0001, libc::IPC_CREAT | 0o600).unwrap();
    assert_eq!(cached(0x51ed_0001), Some(id));
    assert_eq!(e.remove_id(id), Ok(()));
    assert_eq!(cached(0x51ed_0001), None, "removed by this process");
    // Removed behind the cache's back (as by another process): forgotten at the next look.
    let id = e.msgget(0x51ed_0002, libc::IPC_CREAT | 0o600).unwrap();
    ATTACHED.with(|m| m.as_mut().unwrap().keys.insert((e.ns_key(), 0x51ed_0003), id));
    assert_eq!(e.msgget(0x51ed_0003, 0), Err(Errno::ENOENT));
    assert_eq!(cached(0x51ed_0003), None, "a stale entry");
    assert_eq!(e.remove_id(id), Ok(()));
}

#[test]
fn a_removed_queue_is_unmapped_by_its_remover() {
    let ns = Ns::new(LIMITS);
    let e = &ns.emu;
    // (A queue this process made and removed may stay mapped as a spare: see `queue::spare`.)
    let mapped = || {
        let spares = queue::spare::names(e.ns);
        std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&ns.path) && l.contains("/sysv/msq.") && !spares.iter().any(|n| l.ends_with(&format!("/sysv/{n}"))))
            .count()
    };
    let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    let m = Msg { mtype: 1, text: [7; 64] };
    assert_eq!(msgsnd(e, id, &m as *const Msg as *const c_void, 1, 0), Ok(0));
    assert_eq!(msgctl(e, id, libc::IPC_STAT, &mut unsafe_zeroed_ds()), Ok(0));
    assert!(mapped() >= 1);
    assert_eq!(e.remove_id(id), Ok(()));
    // Not left in a cache for a later call (a msgget of another key) to unmap.
    assert_eq!(mapped(), 0);
}

fn unsafe_zeroed_ds() -> msqid_ds {
    // SAFETY: msqid_ds is plain C data, valid all zero.
    unsafe { std::mem::zeroed() }
}
