//! Spare segments (`queue::spare`): a queue this process created and removed serves its next
//! creation, which then is a new queue in every way a caller can see, and only when nobody can
//! have been let in by a mode the new queue does not have.

use std::os::unix::fs::MetadataExt;

use super::creation::ROOMY;
use super::*;

fn sysv(ns: &Ns) -> String {
    format!("{}/sysv", ns.path)
}

/// The inode of queue `id`'s segment file.
fn inode_of(ns: &Ns, id: i32) -> u64 {
    std::fs::metadata(format!("{}/msq.{}", sysv(ns), id as u32 & (IPCMNI - 1))).unwrap().ino()
}

/// This process's spare files in the namespace (each one there, kept by this process).
fn spares(ns: &Ns) -> Vec<String> {
    spares_of(&ns.emu)
}

/// The spare files this process keeps through emulation `e`.
fn spares_of(e: &SysvEmulation) -> Vec<String> {
    let names = queue::spare::names(e.ns);
    for n in &names {
        let q = Queue::attach(e.dir, n, None).unwrap();
        assert_eq!(q.keeper(), Some(std::process::id() as i32), "{n} is kept by this process");
    }
    names
}

fn stat(e: &SysvEmulation, id: i32) -> msqid_ds {
    // SAFETY: an all-zero msqid_ds is valid.
    let mut ds: msqid_ds = unsafe { std::mem::zeroed() };
    msgctl(e, id, cmd::IPC_STAT, &mut ds).unwrap();
    ds
}

fn send(e: &SysvEmulation, id: i32, mtype: c_long) -> Result<c_int> {
    let m = Msg { mtype, text: [7; 64] };
    msgsnd(e, id, (&raw const m).cast(), 8, libc::IPC_NOWAIT)
}

fn receive(e: &SysvEmulation, id: i32) -> Result<isize> {
    let mut got = Msg { mtype: 0, text: [0; 64] };
    msgrcv(e, id, (&raw mut got).cast(), 64, 0, libc::IPC_NOWAIT)
}

#[test]
fn a_removed_queue_s_segment_serves_the_next_creation_as_a_new_queue() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    // Another process's view, which looks the first queue up and keeps its mapping.
    let other = SysvEmulation::new(ns.path.as_bytes(), ROOMY).unwrap();
    let first = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    let inode = inode_of(&ns, first);
    for t in [3, 4] {
        assert_eq!(send(&other, first, t), Ok(0));
    }
    assert_eq!(receive(e, first), Ok(8));
    msgctl(e, first, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert_eq!(spares(&ns).len(), 1, "the removed queue's segment is kept");
    let second = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    assert_ne!(second, first);
    assert_eq!(inode_of(&ns, second), inode, "the kept segment serves the next creation");
    assert!(spares(&ns).is_empty());
    // A new queue in all a caller sees: empty, its statistics zero, its creation time now.
    let ds = stat(e, second);
    assert_eq!((ds.msg_qnum, ds.__msg_cbytes, ds.msg_lspid, ds.msg_lrpid, ds.msg_stime, ds.msg_rtime), (0, 0, 0, 0, 0, 0));
    assert_eq!((ds.msg_perm.mode & 0o777, ds.msg_perm.__key), (0o600, libc::IPC_PRIVATE));
    assert_eq!(receive(e, second), Err(Errno::ENOMSG));
    // The process that mapped the old queue finds it gone, and the new one as it is.
    assert_eq!(send(&other, first, 5), Err(Errno::EINVAL));
    assert_eq!(receive(&other, first), Err(Errno::EINVAL));
    assert_eq!(send(&other, second, 6), Ok(0));
    assert_eq!(stat(e, second).msg_qnum, 1);
    msgctl(e, second, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    // Keyed queues too.
    let keyed = e.msgget(0x5ba3_0001, libc::IPC_CREAT | 0o600).unwrap();
    assert_eq!(inode_of(&ns, keyed), inode);
    assert_eq!(e.msgget(0x5ba3_0001, 0), Ok(keyed));
    assert_eq!(other.msgget(0x5ba3_0001, 0), Ok(keyed));
    assert_eq!(receive(&other, keyed), Err(Errno::ENOMSG));
    msgctl(e, keyed, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert_eq!(other.msgget(0x5ba3_0001, 0), Err(Errno::ENOENT));
}

#[test]
fn a_segment_whose_mode_or_owner_changed_is_not_kept() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    // Widened for a while, then narrowed back: a user let in meanwhile may still map it.
    let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    for mode in [0o666, 0o600] {
        let mut ds = stat(e, id);
        ds.msg_perm.mode = mode;
        msgctl(e, id, cmd::IPC_SET, &mut ds).unwrap();
    }
    msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert!(spares(&ns).is_empty(), "a segment whose mode changed is removed");
    // Changed behind mqshim's back (by its owner or root): the same.
    let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    let path = format!("{}/msq.{}", sysv(&ns), id as u32 & (IPCMNI - 1));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert!(spares(&ns).is_empty(), "a segment chmod-ed since its creation is removed");
    // A spare serves only a queue whose file would have its mode.
    let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    let inode = inode_of(&ns, id);
    msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    assert_eq!(spares(&ns).len(), 1);
    let open = e.msgget(libc::IPC_PRIVATE, 0o644).unwrap();
    assert_ne!(inode_of(&ns, open), inode, "a 0600 segment does not serve a queue others may open");
    assert_eq!(spares(&ns).len(), 1);
    let closed = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    assert_eq!(inode_of(&ns, closed), inode);
    for id in [open, closed] {
        msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    }
}

#[test]
fn a_queue_someone_blocked_on_is_not_kept() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    std::thread::scope(|s| {
        let receiver = s.spawn(|| {
            let mut got = Msg { mtype: 0, text: [0; 64] };
            msgrcv(e, id, (&raw mut got).cast(), 64, 0, 0)
        });
        // Removed once the receiver is blocked in it.
        wait_until_blocked("receiver", || waiting_receivers(e, id) > 0);
        msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
        assert_eq!(receiver.join().unwrap(), Err(Errno::EIDRM));
    });
    assert!(spares(&ns).is_empty(), "a queue a caller blocked on is removed, not kept");
}

/// Receivers blocked in queue `id`.
fn waiting_receivers(e: &SysvEmulation, id: i32) -> u32 {
    let q = e.find(id).unwrap();
    let mut locked = q.lock(q.entry()).unwrap();
    locked.counts().3
}

#[test]
fn spares_are_bounded_and_go_with_their_namespace_or_their_process() {
    let ns = Ns::new(ROOMY);
    // This test's own emulation of the namespace, dropped before the namespace is removed.
    let e = SysvEmulation::new(ns.path.as_bytes(), ROOMY).unwrap();
    let ids: Vec<i32> = (0..10).map(|_| e.msgget(libc::IPC_PRIVATE, 0o600).unwrap()).collect();
    for id in ids {
        msgctl(&e, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    }
    let kept = spares_of(&e);
    assert!((1..=4).contains(&kept.len()), "{} spares", kept.len());
    // Another emulation of the namespace going away leaves them; this one's takes them along.
    drop(SysvEmulation::new(ns.path.as_bytes(), ROOMY).unwrap());
    assert_eq!(spares_of(&e), kept);
    drop(e);
    for n in kept {
        assert!(!std::path::Path::new(&format!("{}/{n}", sysv(&ns))).exists(), "{n} went with its emulation");
    }
}

#[test]
fn a_gone_keeper_s_spare_left_in_place_is_swept_by_the_next_creator() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    // A removed queue's segment at its index, kept by a process killed while it kept it (its
    // pid in the header and in the creator table).
    let gone = super::creation::gone_pid();
    let init = queue::Init { id: 9, key: libc::IPC_PRIVATE, mode: 0o600, uid: 0, gid: 0, qbytes: 16384, ctime: 1 };
    let q = Queue::create(e.dir, "msq.9", &init).unwrap();
    q.header().removed.store(1, Ordering::Release);
    q.header().keeper_pid.store(gone, Ordering::Release);
    drop(q);
    e.registry().unwrap().creator_table()[5].store(gone, Ordering::Relaxed);
    let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    assert!(!std::path::Path::new(&format!("{}/msq.9", sysv(&ns))).exists(), "swept");
    msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
    // Kept by a live process (this one): no leftover.
    let q = Queue::create(e.dir, "msq.11", &queue::Init { id: 11, ..init }).unwrap();
    q.header().removed.store(1, Ordering::Release);
    q.keep_in_place();
    assert!(!e.leftover("msq.11"));
    q.header().keeper_pid.store(gone, Ordering::Release);
    assert!(e.leftover("msq.11"));
}

#[test]
fn a_gone_process_s_spares_are_swept_by_the_next_creator() {
    let ns = Ns::new(ROOMY);
    let e = &ns.emu;
    // A spare of a process killed while it kept it: its pid in the creator table.
    let gone = super::creation::gone_pid();
    let name = format!("msq.spare.{gone}.0");
    std::fs::write(format!("{}/{name}", sysv(&ns)), b"a removed queue's segment").unwrap();
    let registry = e.registry().unwrap();
    registry.creator_table()[5].store(gone, Ordering::Relaxed);
    let id = e.msgget(libc::IPC_PRIVATE, 0o600).unwrap();
    let names: Vec<String> = std::fs::read_dir(sysv(&ns)).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(!names.contains(&name), "{names:?}");
    msgctl(e, id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
}
