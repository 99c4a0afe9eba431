//! Queues in the namespace: names, creation, lookup, unlink, and destruction at the last close.
//!
//! A queue is a directory `posix/<name>/` holding `data` (the segment), `fifo` (what descriptors
//! refer to) and `meta` (owner, mode, attributes, charge; readable by anyone). It is built in
//! `posix-tmp/` and renamed into place only when complete. `mq_unlink` renames it into
//! `posix-dead/`, where it lives until no open description remains: every description holds an
//! OFD read lock on the FIFO, which the kernel drops when the description's last descriptor
//! closes — in any process, including one killed with SIGKILL — so "no one has it open" is
//! "a write lock can be taken".
//!
//! The queue count (`queues_max`) and each user's RLIMIT_MSGQUEUE charge are not kept in
//! counters that a crash could leave wrong: they are recomputed from the namespace, under the
//! exclusive namespace lock, whenever a queue is created.

use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::sync::Arc;

use libc::mq_attr;

use super::fdtable::{self, Description, QueueHandle};
use super::layout::{Geometry, HEADER_SIZE};
use super::limits::{self, PosixLimits, HARD_MSGMAX, HARD_MSGSIZEMAX};
use super::queue::{Init, Queue};
use crate::emu::engine::segment;
use crate::emu::namespace::Namespace;
use crate::errno::{Errno, Result};
use crate::os::creds::{self, cap, Creds};
use crate::os::sys;

/// A queue's segment file, in its directory.
const DATA: &std::ffi::CStr = c"data";

/// `PATH_MAX`: the longest name `getname` accepts, NUL included.
const PATH_MAX: usize = 4096;
/// `NAME_MAX`.
const NAME_MAX: usize = 255;

/// A queue name that passed glibc's and the kernel's checks: the part after the slash.
pub struct QueueName(Vec<u8>);

impl QueueName {
    /// Reads and checks a name in glibc's then the kernel's order: no leading slash → EINVAL;
    /// over PATH_MAX → ENAMETOOLONG; empty → ENOENT; "." or ".." or a further slash → EACCES;
    /// over NAME_MAX → ENAMETOOLONG.
    pub fn read(name: *const c_char) -> Result<QueueName> {
        let mut buf = vec![0u8; PATH_MAX + 1];
        // SAFETY: with Trust::Unknown any address may be read (a bad one yields None).
        let (len, complete) = unsafe { crate::os::usermem::read_cstr(name.cast(), &mut buf, crate::os::usermem::Trust::Unknown) }.ok_or(Errno::EFAULT)?;
        if len == 0 || buf[0] != b'/' {
            return Err(Errno::EINVAL);
        }
        if !complete || len > PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        QueueName::check(&buf[1..len])
    }

    /// Checks the part after the slash.
    pub fn check(rest: &[u8]) -> Result<QueueName> {
        if rest.is_empty() {
            return Err(Errno::ENOENT);
        }
        if rest == b"." || rest == b".." || rest.contains(&b'/') {
            return Err(Errno::EACCES);
        }
        if rest.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok(QueueName(rest.to_vec()))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn c(&self) -> CString {
        CString::new(self.0.clone()).expect("checked: a queue name has no NUL")
    }
}

/// What `meta` records about a queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub maxmsg: u32,
    pub msgsize: u64,
    pub charge_uid: u32,
    pub charge_bytes: u64,
}

impl Meta {
    fn render(&self) -> String {
        format!(
            "mqshim-posix-queue 1\nuid {}\ngid {}\nmode {:o}\nmaxmsg {}\nmsgsize {}\ncharge_uid {}\ncharge_bytes {}\n",
            self.uid, self.gid, self.mode, self.maxmsg, self.msgsize, self.charge_uid, self.charge_bytes
        )
    }

    pub fn parse(text: &str) -> Option<Meta> {
        let mut lines = text.lines();
        if lines.next()? != "mqshim-posix-queue 1" {
            return None;
        }
        let mut m = Meta::default();
        for line in lines {
            let (k, v) = line.split_once(' ')?;
            match k {
                "uid" => m.uid = v.parse().ok()?,
                "gid" => m.gid = v.parse().ok()?,
                "mode" => m.mode = u32::from_str_radix(v, 8).ok()?,
                "maxmsg" => m.maxmsg = v.parse().ok()?,
                "msgsize" => m.msgsize = v.parse().ok()?,
                "charge_uid" => m.charge_uid = v.parse().ok()?,
                "charge_bytes" => m.charge_bytes = v.parse().ok()?,
                _ => {}
            }
        }
        Some(m)
    }
}

/// The file mode of `data` and `fifo` for a queue mode: read-write for every class the queue
/// grants any access, nothing otherwise — so a process the kernel would refuse entirely cannot
/// even map the queue. (Receiving writes shared memory, so the finer read/write split is
/// checked by mqshim itself.)
pub fn file_mode(queue_mode: u32) -> u32 {
    let class = |shift: u32| if (queue_mode >> shift) & 0o6 != 0 { 0o6 << shift } else { 0 };
    class(6) | class(3) | class(0)
}

fn c(bytes: &[u8]) -> CString {
    CString::new(bytes).expect("internal names have no NUL")
}

/// Owns a descriptor until dropped.
struct Fd(c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            crate::os::sys::close(self.0);
        }
    }
}

impl Fd {
    fn take(mut self) -> c_int {
        std::mem::replace(&mut self.0, -1)
    }
}

fn stat_at(dir: c_int, name: &CString, follow: bool) -> Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // SAFETY: valid NUL-terminated name and out-pointer.
    // SAFETY: a zeroed stat is a valid out-buffer.
    let mut out: libc::stat = unsafe { std::mem::zeroed() };
    let _ = &mut st;
    if sys::fstatat(dir, name, &mut out, flags) != 0 {
        return Err(Errno::last());
    }
    Ok(out)
}

fn fstat(fd: c_int) -> Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid out-pointer.
    // SAFETY: a zeroed stat is a valid out-buffer.
    let mut out: libc::stat = unsafe { std::mem::zeroed() };
    let _ = &mut st;
    if sys::fstat(fd, &mut out) != 0 {
        return Err(Errno::last());
    }
    Ok(out)
}

fn openat(dir: c_int, name: &[u8], flags: c_int, mode: u32) -> Result<Fd> {
    let cname = c(name);
    // SAFETY: NUL-terminated name relative to an open directory.
    let fd = sys::openat(dir, &cname, flags | libc::O_CLOEXEC | libc::O_NOFOLLOW, mode);
    if fd < 0 {
        Err(Errno::last())
    } else {
        Ok(Fd(fd))
    }
}

/// Takes an OFD lock on `fd` (`F_RDLCK` held by every description; `F_WRLCK` to test that
/// nobody else holds one). False when it conflicts.
fn ofd_lock(fd: c_int, kind: c_int) -> bool {
    // SAFETY: flock is plain C data; all-zero is valid before the fields are set.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 1;
    // fl is a valid flock, alive for the call; F_OFD_SETLK does not block.
    sys::fcntl(fd, libc::F_OFD_SETLK, &fl as *const libc::flock as libc::c_long) == 0
}

/// The queues of one namespace.
pub struct Store {
    ns: Namespace,
    limits: PosixLimits,
}

/// A queue found by name, not yet opened.
struct Found {
    dir: Fd,
    dir_id: (u64, u64),
}

impl Store {
    pub fn at(root: &[u8], limits: PosixLimits) -> Result<Store> {
        Ok(Store { ns: Namespace::open(root)?, limits })
    }

    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    fn find(&self, name: &QueueName) -> Result<Option<Found>> {
        match openat(self.ns.posix, name.bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0) {
            Ok(dir) => {
                // Out of the way of the descriptor the program is about to get.
                let dir = Fd(crate::os::sys::move_high(dir.take()));
                let st = fstat(dir.0)?;
                Ok(Some(Found { dir, dir_id: (st.st_dev, st.st_ino) }))
            }
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `mq_open` of a checked name.
    pub fn open_queue(&self, name: &QueueName, oflag: c_int, mode: libc::mode_t, attr: Option<&mq_attr>) -> Result<c_int> {
        {
            let _shared = self.ns.lock(false)?;
            if let Some(found) = self.find(name)? {
                return self.open_existing(name, found, oflag);
            }
        }
        if oflag & libc::O_CREAT == 0 {
            return Err(Errno::ENOENT);
        }
        let _exclusive = self.ns.lock(true)?;
        if let Some(found) = self.find(name)? {
            return self.open_existing(name, found, oflag);
        }
        self.create(name, oflag, mode, attr)
    }

    /// The checks `prepare_open` makes on an existing queue, then the open itself.
    fn open_existing(&self, name: &QueueName, found: Found, oflag: c_int) -> Result<c_int> {
        if oflag & (libc::O_CREAT | libc::O_EXCL) == libc::O_CREAT | libc::O_EXCL {
            return Err(Errno::EEXIST);
        }
        let accmode = oflag & libc::O_ACCMODE;
        if accmode == libc::O_ACCMODE {
            return Err(Errno::EINVAL);
        }
        let meta = read_meta(found.dir.0)?;
        let want = match accmode {
            libc::O_RDONLY => 4,
            libc::O_WRONLY => 2,
            _ => 6,
        };
        if !creds::may_access(meta.mode, meta.uid, meta.gid, want, &Creds::current()) {
            return Err(Errno::EACCES);
        }
        self.attach(name, &found, oflag, None)
    }

    /// Opens the FIFO (the descriptor the program gets), maps the segment and records the open
    /// description.
    fn attach(&self, name: &QueueName, found: &Found, oflag: c_int, mapped: Option<Queue>) -> Result<c_int> {
        // The FIFO first, so the program gets the lowest free descriptor, as from the kernel.
        let fifo = openat(found.dir.0, b"fifo", libc::O_RDWR | (oflag & libc::O_NONBLOCK), 0)?;
        let fifo_st = fstat(fifo.0)?;
        let queue = match mapped {
            Some(q) => q,
            None => Queue::from_mapping(segment::open_mapped(found.dir.0, DATA, HEADER_SIZE, |e| e)?)?,
        };
        if !ofd_lock(fifo.0, libc::F_RDLCK) {
            return Err(Errno::EIO);
        }
        let accmode = oflag & libc::O_ACCMODE;
        let handle = Arc::new(QueueHandle { queue, name: name.bytes().to_vec(), dir_id: found.dir_id, fifo_id: (fifo_st.st_dev, fifo_st.st_ino) });
        let read = accmode == libc::O_RDONLY || accmode == libc::O_RDWR;
        let write = accmode == libc::O_WRONLY || accmode == libc::O_RDWR;
        let d = Arc::new(Description::new(handle, read, write, oflag & libc::O_NONBLOCK != 0));
        let fd = fifo.take();
        // An armed queue's FIFO may have lost its tokens if every descriptor of it was closed.
        if let Ok(mut locked) = d.queue.queue.lock() {
            super::ready::resync(&mut locked, fd);
        }
        fdtable::insert(fd, d);
        Ok(fd)
    }

    /// Creates a queue (the exclusive namespace lock is held): `queues_max`, then the
    /// attributes, then RLIMIT_MSGQUEUE, in `mqueue_create_attr`/`mqueue_get_inode`'s order.
    fn create(&self, name: &QueueName, oflag: c_int, mode: libc::mode_t, attr: Option<&mq_attr>) -> Result<c_int> {
        let creds = Creds::current();
        let limits = self.limits;
        self.collect_dead();
        let live = self.live_queues();
        if live.len() as i64 >= limits.queues_max && !creds.has(cap::SYS_RESOURCE) {
            return Err(Errno::ENOSPC);
        }
        let (maxmsg, msgsize) = match attr {
            Some(a) => (a.mq_maxmsg, a.mq_msgsize),
            None => (limits.msg_default.min(limits.msg_max), limits.msgsize_default.min(limits.msgsize_max)),
        };
        if maxmsg <= 0 || msgsize <= 0 {
            return Err(Errno::EINVAL);
        }
        let (max_msg, max_size) = if creds.has(cap::SYS_RESOURCE) { (HARD_MSGMAX, HARD_MSGSIZEMAX) } else { (limits.msg_max, limits.msgsize_max) };
        if maxmsg > max_msg || msgsize > max_size {
            return Err(Errno::EINVAL);
        }
        let charge = limits::posix_charge(maxmsg as u64, msgsize as u64).ok_or(Errno::EOVERFLOW)?;
        let charged: u64 = live.iter().filter(|m| m.charge_uid == creds.uid).map(|m| m.charge_bytes).sum();
        if charged.checked_add(charge).is_none_or(|total| total > limits.rlimit_msgqueue()) {
            return Err(Errno::EMFILE);
        }
        // SAFETY: umask is read by setting and restoring it (no other way exists); the window
        // is a few instructions long.
        let umask = unsafe {
            let m = libc::umask(0o022);
            libc::umask(m);
            m
        };
        let mode = mode & 0o7777 & !umask;
        let meta =
            Meta { uid: creds.fsuid, gid: creds.fsgid, mode, maxmsg: maxmsg as u32, msgsize: msgsize as u64, charge_uid: creds.uid, charge_bytes: charge };
        let (found, queue) = self.build(name, &meta)?;
        self.attach(name, &found, oflag, Some(queue))
    }

    /// Builds a complete queue in `posix-tmp/` and renames it into `posix/<name>`.
    fn build(&self, name: &QueueName, meta: &Meta) -> Result<(Found, Queue)> {
        let geo = Geometry::new(meta.maxmsg, meta.msgsize).ok_or(Errno::ENOMEM)?;
        let tmp_name = unique_name("new");
        let tmp_c = c(tmp_name.as_bytes());
        // SAFETY: NUL-terminated names under open directories.
        if sys::mkdirat(self.ns.tmp, &tmp_c, 0o700) != 0 {
            return Err(Errno::last());
        }
        let result = (|| {
            let dir = openat(self.ns.tmp, tmp_name.as_bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            let dir = Fd(crate::os::sys::move_high(dir.take()));
            let fmode = file_mode(meta.mode);
            // The mode is set exactly after creation (mknod is subject to the umask).
            let fifo = c(b"fifo");
            if sys::mknodat(dir.0, &fifo, libc::S_IFIFO | 0o600, 0) != 0 {
                return Err(Errno::last());
            }
            sys::fchmodat(dir.0, &fifo, fmode);
            let (data, map) = segment::create_aside(dir.0, DATA, geo.total_size, geo.total_size, Errno::ENOSPC)?;
            let queue = Queue::initialise(
                map,
                &Init {
                    maxmsg: meta.maxmsg,
                    msgsize: meta.msgsize,
                    uid: meta.uid,
                    gid: meta.gid,
                    mode: meta.mode,
                    charge_uid: meta.charge_uid,
                    charge_bytes: meta.charge_bytes,
                    created_sec: crate::os::clock::now_sec(),
                    name: name.bytes(),
                },
            )?;
            sys::fchmod(data.fd(), fmode);
            let meta_fd = openat(dir.0, b"meta", libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o444)?;
            let text = meta.render();
            // SAFETY: writes a valid buffer to an open file.
            if unsafe { libc::write(meta_fd.0, text.as_ptr().cast(), text.len()) } != text.len() as isize {
                return Err(Errno::ENOSPC);
            }
            // The exact modes (0444 may have been narrowed by the umask).
            sys::fchmod(meta_fd.0, 0o444);
            sys::fchmod(dir.0, 0o755);
            let dst = name.c();
            // SAFETY: NUL-terminated names under open directories.
            if sys::renameat2(self.ns.tmp, &tmp_c, self.ns.posix, &dst, libc::RENAME_NOREPLACE) != 0 {
                return Err(Errno::last());
            }
            // Published, with its directory.
            data.keep();
            let st = fstat(dir.0)?;
            Ok((Found { dir, dir_id: (st.st_dev, st.st_ino) }, queue))
        })();
        if result.is_err() {
            remove_queue_dir(self.ns.tmp, tmp_name.as_bytes());
        }
        result
    }

    /// Every queue that still exists, named or unlinked-but-open.
    fn live_queues(&self) -> Vec<Meta> {
        let mut out = Vec::new();
        for dir in [self.ns.posix, self.ns.dead] {
            for entry in list_dir(dir) {
                if let Ok(d) = openat(dir, &entry, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
                    if let Ok(m) = read_meta(d.0) {
                        out.push(m);
                    }
                }
            }
        }
        out
    }

    /// Names of the queues in `posix/` (for `mqshim ipcs`).
    pub fn names(&self) -> Vec<Vec<u8>> {
        list_dir(self.ns.posix)
    }

    /// Destroys every unlinked queue nobody has open any more (the exclusive lock is held).
    fn collect_dead(&self) {
        for entry in list_dir(self.ns.dead) {
            self.destroy_if_unused(&entry);
        }
    }

    fn destroy_if_unused(&self, entry: &[u8]) {
        let Ok(dir) = openat(self.ns.dead, entry, libc::O_RDONLY | libc::O_DIRECTORY, 0) else { return };
        match openat(dir.0, b"fifo", libc::O_RDWR | libc::O_NONBLOCK, 0) {
            Ok(fifo) => {
                if !ofd_lock(fifo.0, libc::F_WRLCK) {
                    return;
                }
            }
            Err(Errno::ENOENT) => {}
            Err(_) => return,
        }
        drop(dir);
        remove_queue_dir(self.ns.dead, entry);
    }

    /// `mq_unlink` of a checked name: the name goes at once; the queue lives on until its last
    /// close.
    pub fn unlink(&self, name: &QueueName) -> Result<()> {
        let _exclusive = self.ns.lock(true)?;
        let found = self.find(name)?.ok_or(Errno::ENOENT)?;
        // The mqueue root is sticky: only the queue's owner, the root directory's owner or
        // CAP_FOWNER may remove a name (the kernel reports EACCES here).
        let creds = Creds::current();
        let st = fstat(found.dir.0)?;
        let root_st = fstat(self.ns.posix)?;
        if creds.fsuid != st.st_uid && creds.fsuid != root_st.st_uid && !creds.has(cap::FOWNER) {
            return Err(Errno::EACCES);
        }
        // Whoever closes last, whatever their uid, must be able to test whether it is still open
        // (by opening its FIFO, which gives no access to the messages) and remove it.
        sys::fchmod(found.dir.0, 0o777);
        sys::fchmodat(found.dir.0, &c(b"fifo"), 0o666);
        let dead_name = dead_entry_name(found.dir_id);
        let (src, dst) = (name.c(), c(dead_name.as_bytes()));
        // SAFETY: NUL-terminated names under open directories.
        if sys::renameat2(self.ns.posix, &src, self.ns.dead, &dst, libc::RENAME_NOREPLACE) != 0 {
            return Err(match Errno::last() {
                Errno::EPERM => Errno::EACCES,
                e => e,
            });
        }
        drop(found);
        self.destroy_if_unused(dead_name.as_bytes());
        Ok(())
    }

    /// After a descriptor of `queue` was closed: if the queue was unlinked, destroy it when this
    /// was its last open description anywhere.
    pub fn after_close(&self, queue: &QueueHandle) {
        let still_named = stat_at(self.ns.posix, &c(&queue.name), false).is_ok_and(|st| (st.st_dev, st.st_ino) == queue.dir_id);
        if still_named {
            return;
        }
        if let Ok(_exclusive) = self.ns.lock(true) {
            self.destroy_if_unused(dead_entry_name(queue.dir_id).as_bytes());
        }
    }

    /// The queue named `name`, for inspection (`mqshim ipcs`): its meta and, when readable,
    /// the mapped segment.
    pub fn inspect(&self, name: &[u8]) -> Option<(Meta, Option<Queue>)> {
        let dir = openat(self.ns.posix, name, libc::O_RDONLY | libc::O_DIRECTORY, 0).ok()?;
        let meta = read_meta(dir.0).ok()?;
        let queue = segment::open_mapped(dir.0, DATA, HEADER_SIZE, |e| e).ok().and_then(|m| Queue::from_mapping(m).ok());
        Some((meta, queue))
    }
}

fn dead_entry_name(dir_id: (u64, u64)) -> String {
    format!("q{}-{}", dir_id.0, dir_id.1)
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let ts = crate::os::clock::monotonic();
    let pid = crate::os::ids::pid();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{pid}-{n}-{}{:09}", ts.tv_sec, ts.tv_nsec)
}

fn read_meta(dir: c_int) -> Result<Meta> {
    let f = openat(dir, b"meta", libc::O_RDONLY, 0)?;
    let mut buf = [0u8; 512];
    // SAFETY: reads into a valid buffer.
    let n = unsafe { libc::read(f.0, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return Err(Errno::EIO);
    }
    std::str::from_utf8(&buf[..n as usize]).ok().and_then(Meta::parse).ok_or(Errno::EIO)
}

/// The entries of an open directory (excluding `.` and `..`).
fn list_dir(dir: c_int) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // SAFETY: a duplicate of the directory descriptor is handed to fdopendir, which owns it
    // until closedir; entries are copied out before the next readdir.
    unsafe {
        let dup = sys::fcntl(dir, libc::F_DUPFD_CLOEXEC, 0);
        if dup < 0 {
            return out;
        }
        let d = libc::fdopendir(dup);
        if d.is_null() {
            sys::close(dup);
            return out;
        }
        libc::rewinddir(d);
        loop {
            let e = libc::readdir(d);
            if e.is_null() {
                break;
            }
            let name = std::ffi::CStr::from_ptr((*e).d_name.as_ptr()).to_bytes();
            if name != b"." && name != b".." {
                out.push(name.to_vec());
            }
        }
        libc::closedir(d);
    }
    out
}

/// Removes a queue directory and its files (best effort: what remains is collected later).
fn remove_queue_dir(parent: c_int, entry: &[u8]) {
    if let Ok(dir) = openat(parent, entry, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
        for f in [&b"data"[..], b"fifo", b"meta"] {
            let cf = c(f);
            // SAFETY: NUL-terminated name under an open directory.
            sys::unlinkat(dir.0, &cf, 0);
        }
    }
    let ce = c(entry);
    // SAFETY: as above.
    sys::unlinkat(parent, &ce, libc::AT_REMOVEDIR);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_like_the_kernel() {
        assert!(QueueName::check(b"ok").is_ok());
        assert_eq!(QueueName::check(b"").err(), Some(Errno::ENOENT));
        assert_eq!(QueueName::check(b"a/b").err(), Some(Errno::EACCES));
        assert_eq!(QueueName::check(b".").err(), Some(Errno::EACCES));
        assert_eq!(QueueName::check(b"..").err(), Some(Errno::EACCES));
        assert!(QueueName::check(&[b'x'; 255]).is_ok());
        assert_eq!(QueueName::check(&[b'x'; 256]).err(), Some(Errno::ENAMETOOLONG));
    }

    #[test]
    fn file_modes_collapse_each_class() {
        assert_eq!(file_mode(0o600), 0o600);
        assert_eq!(file_mode(0o644), 0o666);
        assert_eq!(file_mode(0o620), 0o660);
        assert_eq!(file_mode(0o200), 0o600);
        assert_eq!(file_mode(0o000), 0o000);
        assert_eq!(file_mode(0o111), 0o000);
    }

    #[test]
    fn a_queue_of_another_layout_version_opens_with_eio() {
        use crate::emu::posix::layout::LAYOUT_VERSION;
        use std::sync::atomic::Ordering;
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let root = format!("/tmp/mqshim-posix-store-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let limits = PosixLimits { msg_max: 10, msgsize_max: 64, msg_default: 10, msgsize_default: 64, queues_max: 256, rlimit_msgqueue: Some(u64::MAX) };
        let store = Store::at(root.as_bytes(), limits).unwrap();
        let name = QueueName::check(b"versioned").unwrap();
        let fd = store.open_queue(&name, libc::O_CREAT | libc::O_RDWR, 0o600, None).unwrap();
        let queue = store.inspect(name.bytes()).and_then(|(_, q)| q).expect("a fresh queue maps");
        let version = &queue.header().prefix.version;
        // As a later mqshim (another layout) would have left it in the file.
        version.store(LAYOUT_VERSION + 1, Ordering::Release);
        assert_eq!(store.open_queue(&name, libc::O_RDWR, 0, None).err(), Some(Errno::EIO));
        assert!(store.inspect(name.bytes()).is_some_and(|(_, q)| q.is_none()), "inspect maps it not");
        // Half-built (version 0) is refused the same way; the layout's own version opens again.
        version.store(0, Ordering::Release);
        assert_eq!(store.open_queue(&name, libc::O_RDWR, 0, None).err(), Some(Errno::EIO));
        version.store(LAYOUT_VERSION, Ordering::Release);
        let again = store.open_queue(&name, libc::O_RDWR, 0, None).unwrap();
        for fd in [fd, again] {
            fdtable::remove(fd);
            crate::os::sys::close(fd);
        }
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn meta_round_trips() {
        let m = Meta { uid: 1, gid: 2, mode: 0o640, maxmsg: 10, msgsize: 8192, charge_uid: 1, charge_bytes: 82880 };
        assert_eq!(Meta::parse(&m.render()), Some(m));
        assert_eq!(Meta::parse("garbage"), None);
    }
}
