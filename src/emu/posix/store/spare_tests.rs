//! Spare segments (see `posix::spare`) as the store keeps and reuses them.

use super::*;
use crate::emu::engine::layout::waiter_state;

fn test_store(tag: &str) -> (Store, String) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let root = format!("/tmp/mqshim-posix-spare-{tag}-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let limits = PosixLimits { msg_max: 10, msgsize_max: 64, msg_default: 10, msgsize_default: 64, queues_max: 256, rlimit_msgqueue: Some(u64::MAX) };
    (Store::at(root.as_bytes(), limits).unwrap(), root)
}

fn name(n: &str) -> QueueName {
    QueueName::check(n.as_bytes()).unwrap()
}

fn attr(maxmsg: i64, msgsize: i64) -> mq_attr {
    // SAFETY: mq_attr is plain integers.
    let mut a: mq_attr = unsafe { std::mem::zeroed() };
    a.mq_maxmsg = maxmsg;
    a.mq_msgsize = msgsize;
    a
}

fn create(store: &Store, n: &str, mode: libc::mode_t, a: &mq_attr) -> c_int {
    store.open_queue(&name(n), libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, mode, Some(a)).unwrap()
}

fn close(fd: c_int) {
    fdtable::remove(fd);
    crate::os::sys::close(fd);
}

/// Closes `fd` and unlinks `n`: the queue is destroyed (nobody else has it open).
fn destroy(store: &Store, fd: c_int, n: &str) {
    close(fd);
    store.unlink(&name(n)).unwrap();
}

/// The inode of queue `n`'s segment file.
fn data_ino(store: &Store, n: &str) -> u64 {
    let dir = openat(store.ns.posix, n.as_bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
    sys::stat_at(dir.0, c"data", libc::AT_SYMLINK_NOFOLLOW).unwrap().st_ino
}

/// The queue behind descriptor `fd`.
fn queue_of(fd: c_int) -> Arc<Queue> {
    fdtable::resolve(fd).unwrap().queue.queue.clone()
}

/// What `posix-tmp/` holds: the entries, and the files in each.
fn tmp_files(store: &Store) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    list_dir(store.ns.tmp)
        .into_iter()
        .map(|e| {
            let inner = openat(store.ns.tmp, &e, libc::O_RDONLY | libc::O_DIRECTORY, 0).map(|d| list_dir(d.0)).unwrap_or_default();
            (e, inner)
        })
        .collect()
}

fn spares(store: &Store) -> usize {
    tmp_files(store).iter().map(|(_, files)| files.len()).sum()
}

/// Drops `store` (at `root`): its spares go with it, and then its namespace.
fn drop_store_and_find_no_spare(store: Store, root: String) {
    drop(store);
    assert!(std::fs::read_dir(format!("{root}/posix-tmp")).unwrap().next().is_none(), "the spare went with its store");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_destroyed_queue_s_segment_serves_the_next_queue_that_fits_it() {
    let (store, root) = test_store("serve");
    let a = attr(4, 32);
    let fd = create(&store, "first", 0o600, &a);
    let first = data_ino(&store, "first");
    assert_eq!(spares(&store), 0);
    destroy(&store, fd, "first");
    assert_eq!(spares(&store), 1, "kept: {:?}", tmp_files(&store));
    // Another name, the same owner, mode and size: the same file, a new queue.
    let fd = create(&store, "second", 0o600, &a);
    assert_eq!(data_ino(&store, "second"), first);
    assert_eq!(spares(&store), 0);
    let q = queue_of(fd);
    assert_eq!(q.curmsgs(), 0);
    assert_eq!(q.header().unlinked.load(std::sync::atomic::Ordering::Relaxed), 0);
    let fifo = sys::stat_of(fd).unwrap();
    assert!(q.is_of_fifo(fifo.st_ino), "the segment names its new queue's FIFO");
    drop(q);
    destroy(&store, fd, "second");
    // Another mode, or another size: a new file (the spare stays for a queue it fits).
    let fd = create(&store, "third", 0o640, &a);
    assert_ne!(data_ino(&store, "third"), first);
    close(fd);
    let fd = create(&store, "fourth", 0o600, &attr(5, 32));
    assert_ne!(data_ino(&store, "fourth"), first);
    close(fd);
    assert_eq!(spares(&store), 1);
    drop_store_and_find_no_spare(store, root);
}

#[test]
fn a_queue_waited_in_notified_on_or_changed_is_not_kept() {
    let (store, root) = test_store("not-kept");
    let a = attr(4, 32);
    // A waiter record was written.
    let fd = create(&store, "waited", 0o600, &a);
    {
        let q = queue_of(fd);
        let mut locked = q.lock().unwrap();
        locked.register(waiter_state::RECEIVING, None, None).unwrap();
    }
    destroy(&store, fd, "waited");
    assert_eq!(spares(&store), 0, "waited in");
    // A notification was registered.
    let fd = create(&store, "notified", 0o600, &a);
    queue_of(fd).lock().unwrap().next_registration();
    destroy(&store, fd, "notified");
    assert_eq!(spares(&store), 0, "notified on");
    // Its mode was changed and changed back (by any process: its `meta` was replaced).
    let fd = create(&store, "changed", 0o600, &a);
    let mode_of = |mode: u32| move |m: &Meta| Ok(Meta { mode, ..*m });
    store.change_attributes(&name("changed"), mode_of(0o666)).unwrap();
    store.change_attributes(&name("changed"), mode_of(0o600)).unwrap();
    destroy(&store, fd, "changed");
    assert_eq!(spares(&store), 0, "mode changed");
    let _ = std::fs::remove_dir_all(root);
}

/// Closes `fd` as `PosixEmulation::close` does: the queue is destroyed by this close if it was
/// unlinked and this was its last description anywhere.
fn close_as_the_emulation(store: &Store, fd: c_int) {
    let d = fdtable::remove(fd).unwrap();
    crate::os::sys::close(fd);
    store.after_close_owned(d);
}

#[test]
fn a_queue_unlinked_while_open_is_kept_by_its_last_close_here() {
    let (store, root) = test_store("last-close");
    let a = attr(4, 32);
    let fd = create(&store, "open", 0o600, &a);
    let first = data_ino(&store, "open");
    store.unlink(&name("open")).unwrap();
    assert_eq!(spares(&store), 0, "still open");
    close_as_the_emulation(&store, fd);
    assert_eq!(spares(&store), 1, "destroyed by its last close, and kept");
    let fd = create(&store, "next", 0o600, &a);
    assert_eq!(data_ino(&store, "next"), first);
    // Also open in another descriptor of this process (a dup): the last close keeps it.
    let dup = crate::os::sys::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0);
    fdtable::insert(dup, fdtable::resolve(fd).unwrap());
    store.unlink(&name("next")).unwrap();
    close_as_the_emulation(&store, fd);
    assert_eq!(spares(&store), 0, "the dup still has it open");
    close_as_the_emulation(&store, dup);
    assert_eq!(spares(&store), 1, "kept by the last close");
    let fd = create(&store, "third", 0o600, &a);
    assert_eq!(data_ino(&store, "third"), first);
    close(fd);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_process_keeps_at_most_four_spares_in_a_namespace() {
    let (store, root) = test_store("bounded");
    let a = attr(2, 16);
    let fds: Vec<c_int> = (0..6).map(|i| create(&store, &format!("q{i}"), 0o600, &a)).collect();
    for (i, fd) in fds.into_iter().enumerate() {
        destroy(&store, fd, &format!("q{i}"));
    }
    assert_eq!(spares(&store), 4);
    assert_eq!(tmp_files(&store).len(), 1, "one directory");
    spare::forget_namespace(Some(store.ns.tmp));
    assert!(tmp_files(&store).is_empty());
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_gone_keeper_s_spares_are_swept_by_the_next_creator() {
    let (store, root) = test_store("swept");
    // What a keeper killed leaves: its directory, named as a build of a gone pid, unlocked.
    let gone = (i32::MAX - 7).to_string();
    let dir = format!("{root}/posix-tmp/new-{gone}-0-1");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(format!("{dir}/data.0"), b"old").unwrap();
    // And a queue directory it kept whole.
    std::fs::create_dir(format!("{dir}/queue.1")).unwrap();
    for file in ["data", "meta", "fifo.0123456789abcdef"] {
        std::fs::write(format!("{dir}/queue.1/{file}"), b"old").unwrap();
    }
    let a = attr(2, 16);
    let fd = create(&store, "next", 0o600, &a);
    assert!(!std::path::Path::new(&dir).exists(), "swept: {:?}", tmp_files(&store));
    // This process's own spare directory stays, and so does another live keeper's (locked).
    destroy(&store, fd, "next");
    assert_eq!(spares(&store), 1);
    let fd = create(&store, "again", 0o600, &a);
    destroy(&store, fd, "again");
    assert_eq!(spares(&store), 1);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn an_open_through_an_old_fifo_of_a_reused_segment_finds_the_queue_gone() {
    let (store, root) = test_store("old-fifo");
    let a = attr(4, 32);
    let fd = create(&store, "q", 0o600, &a);
    let found = store.find(&name("q"), DirFd::Any).unwrap().unwrap();
    let meta = read_meta(found.dir.0).unwrap();
    // As if the segment had been given to another queue since this open found it.
    queue_of(fd).header().fifo_ino.store(1, std::sync::atomic::Ordering::Release);
    assert_eq!(store.attach(&name("q"), &found, libc::O_RDWR, &meta, true).err(), Some(Errno::ENOENT));
    queue_of(fd).header().fifo_ino.store(sys::stat_of(fd).unwrap().st_ino, std::sync::atomic::Ordering::Release);
    let again = store.attach(&name("q"), &found, libc::O_RDWR, &meta, true).unwrap();
    close(again);
    close(fd);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_spare_directory_descriptor_the_program_closed_and_reused_is_left_alone() {
    let (store, root) = test_store("closed-dir");
    let a = attr(4, 32);
    let fd = create(&store, "first", 0o600, &a);
    let first = data_ino(&store, "first");
    destroy(&store, fd, "first");
    let spare_dir = spare::dir_fd(store.ns.tmp).expect("a spare directory");
    // The program closes every descriptor it does not know, and its next one gets the number.
    let program_dir = format!("{root}-program");
    std::fs::create_dir(&program_dir).unwrap();
    let program = openat(libc::AT_FDCWD, program_dir.as_bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
    // SAFETY: plain descriptor calls on numbers this test owns.
    assert_eq!(unsafe { libc::dup2(program.0, spare_dir) }, spare_dir);
    let fd = create(&store, "second", 0o600, &a);
    assert_ne!(data_ino(&store, "second"), first, "not the spare: its directory is gone from this process");
    destroy(&store, fd, "second");
    assert!(std::fs::read_dir(&program_dir).unwrap().next().is_none(), "nothing moved into the program's directory");
    assert!(sys::stat_of(spare_dir).is_ok(), "the program's descriptor is still open");
    assert_eq!(spare::dir_fd(store.ns.tmp).map(|d| d != spare_dir), Some(true), "a new spare directory");
    crate::os::sys::close(spare_dir);
    let _ = std::fs::remove_dir_all(program_dir);
    let _ = std::fs::remove_dir_all(root);
}

/// The identity (device, inode) of `path` (not followed).
fn ino_at(dir: c_int, path: &str) -> u64 {
    sys::stat_at(dir, &c(path.as_bytes()), libc::AT_SYMLINK_NOFOLLOW).unwrap().st_ino
}

#[test]
fn a_destroyed_queue_s_directory_serves_the_next_queue_whole() {
    let (store, root) = test_store("whole");
    let a = attr(4, 32);
    let fd = create(&store, "first", 0o600, &a);
    let (dir, fifo, data) = (ino_at(store.ns.posix, "first"), ino_at(store.ns.posix, "first/fifo"), data_ino(&store, "first"));
    let first_meta = read_meta(openat(store.ns.posix, b"first", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap().0).unwrap();
    destroy(&store, fd, "first");
    let kept = tmp_files(&store);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].1.len(), 1);
    assert!(kept[0].1[0].starts_with(b"queue."), "kept whole: {kept:?}");
    // Another name: the same directory, FIFO and segment, a new queue with its own `meta` and
    // second name (the old one gone, so a process that remembers the old queue cannot open
    // the new one by it).
    let fd = create(&store, "second", 0o600, &a);
    assert_eq!((ino_at(store.ns.posix, "second"), ino_at(store.ns.posix, "second/fifo"), data_ino(&store, "second")), (dir, fifo, data));
    assert_eq!(spares(&store), 0);
    let second = openat(store.ns.posix, b"second", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
    let meta = read_meta(second.0).unwrap();
    assert_ne!(meta.fifo_link, first_meta.fifo_link);
    let mut names = list_dir(second.0);
    names.sort();
    assert_eq!(names, [&b"data"[..], b"fifo", &fifo_link_bytes(meta.fifo_link)[..], b"meta"]);
    assert_eq!(sys::stat_at(second.0, c"fifo", libc::AT_SYMLINK_NOFOLLOW).unwrap().st_nlink, 2);
    let q = queue_of(fd);
    assert_eq!(q.curmsgs(), 0);
    assert_eq!(q.header().unlinked.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert!(q.is_of_fifo(fifo));
    drop(q);
    // Opened again by its name, it is the new queue.
    close(fd);
    let again = store.open_queue(&name("second"), libc::O_RDWR, 0, None).unwrap();
    assert!(queue_of(again).is_of_fifo(fifo));
    close(again);
    store.unlink(&name("second")).unwrap();
    drop_store_and_find_no_spare(store, root);
}

#[test]
fn an_open_that_found_a_queue_before_its_directory_served_another_does_not_reach_it() {
    let (store, root) = test_store("whole-race");
    let a = attr(4, 32);
    let fd = create(&store, "a", 0o600, &a);
    close(fd);
    // Another process's open found "a", and read its `meta`, just before "a" was destroyed and
    // its directory given, kept whole, to the next queue, "b".
    let found = store.find(&name("a"), DirFd::Any).unwrap().unwrap();
    let meta = read_meta(found.dir.0).unwrap();
    store.unlink(&name("a")).unwrap();
    let b = create(&store, "b", 0o600, &a);
    assert_eq!(ino_at(store.ns.posix, "b"), found.dir_id.1, "b has a's directory");
    assert_eq!(store.attach(&name("a"), &found, libc::O_RDWR, &meta, true).err(), Some(Errno::ESTALE));
    // Nor when it read its `meta` after the directory served "b" (meta and FIFO agree then):
    // the queue it opened is not named "a".
    let b_meta = read_meta(found.dir.0).unwrap();
    assert_ne!(b_meta, meta);
    assert_eq!(store.attach(&name("a"), &found, libc::O_RDWR, &b_meta, true).err(), Some(Errno::ESTALE));
    // Looked up again, "a" is gone.
    assert_eq!(store.open_queue(&name("a"), libc::O_RDWR, 0, None).err(), Some(Errno::ENOENT));
    close(b);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_directory_not_as_its_creator_left_it_keeps_only_its_segment() {
    let (store, root) = test_store("not-whole");
    let a = attr(4, 32);
    let kept_names = |store: &Store| tmp_files(store).into_iter().flat_map(|(_, files)| files).collect::<Vec<_>>();
    // Unlinked while open: its directory and FIFO were opened to everyone for the last closer.
    let fd = create(&store, "open", 0o600, &a);
    store.unlink(&name("open")).unwrap();
    close_as_the_emulation(&store, fd);
    let names = kept_names(&store);
    assert!(names.len() == 1 && names[0].starts_with(b"data."), "{names:?}");
    spare::forget_namespace(Some(store.ns.tmp));
    // Its directory was writable by everyone for a while (anyone could have put files in it).
    let fd = create(&store, "widened", 0o600, &a);
    std::fs::set_permissions(format!("{root}/posix/widened"), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    destroy(&store, fd, "widened");
    let names = kept_names(&store);
    assert!(names.len() == 1 && names[0].starts_with(b"data."), "{names:?}");
    spare::forget_namespace(Some(store.ns.tmp));
    // Its FIFO has a third name elsewhere (a hard link another user may make to a FIFO it may
    // open): the FIFO is not reused.
    let fd = create(&store, "linked", 0o600, &a);
    let elsewhere = format!("{root}-elsewhere");
    std::fs::hard_link(format!("{root}/posix/linked/fifo"), &elsewhere).unwrap();
    destroy(&store, fd, "linked");
    let names = kept_names(&store);
    assert!(names.len() == 1 && names[0].starts_with(b"data."), "{names:?}");
    let _ = std::fs::remove_file(elsewhere);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_whole_spare_whose_pipe_holds_bytes_is_not_reused() {
    let (store, root) = test_store("tokens");
    let a = attr(4, 32);
    let fd = create(&store, "polled", 0o600, &a);
    let dir = ino_at(store.ns.posix, "polled");
    destroy(&store, fd, "polled");
    let (spare_dir, files) = tmp_files(&store).remove(0);
    let fifo = format!("{root}/posix-tmp/{}/{}/fifo", String::from_utf8(spare_dir).unwrap(), String::from_utf8(files[0].clone()).unwrap());
    // A process that polled it still holds its FIFO for writing, with a token in the pipe.
    let rw = openat(libc::AT_FDCWD, fifo.as_bytes(), libc::O_RDWR | libc::O_NONBLOCK, 0).unwrap();
    let holder = openat(libc::AT_FDCWD, fifo.as_bytes(), libc::O_WRONLY | libc::O_NONBLOCK, 0).unwrap();
    // SAFETY: writes one byte from a valid buffer.
    assert_eq!(unsafe { libc::write(holder.0, b"x".as_ptr().cast(), 1) }, 1);
    drop(rw);
    let fd = create(&store, "next", 0o600, &a);
    assert_ne!(ino_at(store.ns.posix, "next"), dir, "built anew");
    assert_eq!(spares(&store), 0, "the spare is gone: {:?}", tmp_files(&store));
    drop(holder);
    close(fd);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_directory_swapped_into_posix_dead_is_not_kept() {
    let (store, root) = test_store("swapped");
    // The queue directory checked ("queue"), and another put under its entry name in
    // `posix-dead/` meanwhile ("planted").
    let path = |p: &str| format!("{root}/{p}");
    std::fs::create_dir(path("queue")).unwrap();
    let queue_dir = openat(libc::AT_FDCWD, path("queue").as_bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
    let (aside, map) = segment::create_aside(queue_dir.0, DATA, 4096, 0, Errno::ENOSPC).unwrap();
    aside.keep();
    let made = FileStamp::of(&sys::stat_at(queue_dir.0, DATA, libc::AT_SYMLINK_NOFOLLOW).unwrap());
    let whole = spare::WholeDir { dir: FileStamp::of(&sys::stat_of(queue_dir.0).unwrap()), fifo: made, fifo_link: 1 };
    std::fs::create_dir(path("posix-dead/q1-2")).unwrap();
    std::fs::write(path("posix-dead/q1-2/planted"), b"").unwrap();
    let fit = spare::Fit { uid: 0, gid: 0, file_mode: 0o600, maxmsg: 1, msgsize: 1 };
    let kept = spare::keep_whole(store.ns.tmp, store.ns.dead, b"q1-2", queue_dir.0, map, fit, made, whole, 0, || unique_name("new"));
    assert!(kept.is_err());
    assert!(std::path::Path::new(&path("posix-dead/q1-2/planted")).exists(), "put back");
    assert_eq!(spares(&store), 0);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_meta_that_names_a_second_name_the_fifo_never_had_is_opened_by_the_first() {
    let (store, root) = test_store("damaged-link");
    let fd = create(&store, "q", 0o600, &attr(4, 32));
    close(fd);
    // Damaged (by a crash, or by a user who may write it): its token names no link.
    let dir = openat(store.ns.posix, b"q", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
    let damaged = Meta { fifo_link: 0x0123_4567_89ab_cdef, ..read_meta(dir.0).unwrap() };
    std::fs::write(format!("{root}/posix/q/meta"), damaged.render()).unwrap();
    let found = store.find(&name("q"), DirFd::Any).unwrap().unwrap();
    let meta = read_meta(found.dir.0).unwrap();
    assert_eq!(meta, damaged);
    let opened = store.attach(&name("q"), &found, libc::O_RDWR, &meta, true).expect("opened at the first look");
    close(opened);
    let _ = std::fs::remove_dir_all(root);
}
