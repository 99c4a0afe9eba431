//! Queues in the namespace: names, creation, lookup, unlink, and destruction at the last close.
//!
//! A queue is a directory `posix/<name>/` holding `data` (the segment), `fifo` (what descriptors
//! refer to), a second name of that FIFO, `fifo.<token>`, made anew at every change of `meta`
//! (see [`Meta::fifo_link`]: opening the FIFO by it proves the queue and its `meta` are the ones
//! a process remembers, so reopening a queue is one system call), and `meta` (owner, mode,
//! attributes, charge, token; readable by anyone). It is built in
//! `posix-tmp/` and renamed into place only when complete. `mq_unlink` renames it into
//! `posix-dead/`, where it lives until no open description remains: every description is the
//! FIFO opened for reading and writing, so the FIFO's reader count is the number of open
//! descriptions, which the kernel lowers when a description's last descriptor closes — in any
//! process, including one killed with SIGKILL — so "no one has it open" is "opening the FIFO
//! write-only without blocking finds no reader" (ENXIO). mqshim keeps no other reading
//! descriptor of a FIFO once the program has none (see `ready::release_if_unused`; a
//! [`HeldFifo`] is write-only); a mode or owner change opens it for reading for an instant,
//! which can leave an unlinked queue to the next creator's collection. An opener that found
//! the queue before its unlink and a destroyer that found it unused just before that open can
//! both go on: the opener then keeps a working, nameless queue until its close, counted by
//! neither `queues_max` nor RLIMIT_MSGQUEUE meanwhile (the kernel's open would have held it).
//!
//! The queue count (`queues_max`) and each user's RLIMIT_MSGQUEUE charge are not kept in
//! counters that a crash could leave wrong: they are read from the namespace whenever a queue is
//! created — the count from the link counts of `posix/` and `posix-dead/` (a directory's link
//! count is 2 + its subdirectories, kept by the kernel), the charge from the queues' `meta`. No
//! lock serialises creators, so two creating at once at the very limit may both see room: the
//! count is checked again once a queue is published, and a queue that took the namespace over
//! `queues_max` is withdrawn (ENOSPC) — at the limit, concurrent creators may then both fail where
//! the kernel would let one succeed. A `meta` charges the user it names only if that user (or
//! root) wrote it: a user cannot charge another user's RLIMIT_MSGQUEUE by planting one.
//!
//! Nothing is changed by a path a user could redirect: mode changes go through descriptors
//! opened with `O_NOFOLLOW` and checked to be what they should be.

use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::sync::Arc;

use libc::mq_attr;

use super::charge::ChargeCounters;
use super::fdtable::{self, Description, QueueHandle};
use super::layout::{Geometry, HEADER_SIZE};
use super::limits::{self, LivePosixLimits, PosixLimits, HARD_MSGMAX, HARD_MSGSIZEMAX};
use super::queue::{Init, Queue, QueueTimes};
use super::queue_dir::{fifo_link_bytes, fifo_link_name, remove_queue_dir, DATA, FIFO_LINK_DIGITS, FIFO_LINK_PREFIX};
use super::spare;
use crate::emu::engine::segment::{self, FileStamp};
use crate::emu::namespace::{fnv1a, list_dir, DirWatch, Missing, Namespace};
use crate::errno::{Errno, Result};
use crate::os::creds::{self, cap};
use crate::os::forksafe::ForkSafe;
use crate::os::sys;
use recent::RecentQueues;

#[path = "store/recent.rs"]
mod recent;

/// A queue's FIFO has two names: `fifo` and its second one (see [`Meta::fifo_link`]).
const FIFO_LINKS: u64 = 2;
/// How many times [`fifo_names_all_here`] looks when changes made meanwhile move the FIFO's
/// link count (each look lets the other changers run first). Three were too few for six
/// processes changing one queue's mode at once beside a CPU hog (a few EPERM in 30 000).
const FIFO_NAME_LOOKS: usize = 64;

/// How many times `Store::open_queue_with` looks a name up again when the queue it found changed
/// its `meta` as it was opened (each look lets the changers run first; as many as
/// [`FIFO_NAME_LOOKS`], for the same six processes changing one queue's mode at once), before
/// it opens the FIFO by its first name.
const STALE_LOOKS: usize = 64;

/// `PATH_MAX`: the longest name `getname` accepts, NUL included.
const PATH_MAX: usize = 4096;
/// `NAME_MAX`.
const NAME_MAX: usize = 255;

/// A queue name that passed glibc's and the kernel's checks: the part after the slash.
/// Kept inline, NUL-terminated (no allocation per call).
pub struct QueueName {
    len: usize,
    bytes: [u8; NAME_MAX + 1],
}

impl QueueName {
    /// Reads and checks a name in glibc's then the kernel's order: no leading slash → EINVAL;
    /// over PATH_MAX → ENAMETOOLONG; empty → ENOENT; "." or ".." or a further slash → EACCES;
    /// over NAME_MAX → ENAMETOOLONG.
    pub fn read(name: *const c_char) -> Result<QueueName> {
        // Names are short: one that fits a name's longest (slash, NAME_MAX bytes, NUL) is read
        // on the stack; a longer one again whole, for the errno of its length or content.
        let mut short = [0u8; NAME_MAX + 2];
        // SAFETY: the program's name argument, which it does not unmap during the call (a bad
        // address yields None).
        let (len, complete) = unsafe { crate::os::usermem::read_cstr(name.cast(), &mut short, crate::os::usermem::Trust::Argument) }.ok_or(Errno::EFAULT)?;
        if complete {
            return QueueName::checked(&short[..len]);
        }
        let mut buf = vec![0u8; PATH_MAX + 1];
        // SAFETY: as above.
        let (len, complete) = unsafe { crate::os::usermem::read_cstr(name.cast(), &mut buf, crate::os::usermem::Trust::Argument) }.ok_or(Errno::EFAULT)?;
        if !complete || len > PATH_MAX {
            return if buf[0] != b'/' { Err(Errno::EINVAL) } else { Err(Errno::ENAMETOOLONG) };
        }
        QueueName::checked(&buf[..len])
    }

    /// The checks of [`QueueName::read`] on a whole name of at most PATH_MAX bytes.
    fn checked(name: &[u8]) -> Result<QueueName> {
        if name.first() != Some(&b'/') {
            return Err(Errno::EINVAL);
        }
        QueueName::check(&name[1..])
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
        let mut name = QueueName { len: rest.len(), bytes: [0; NAME_MAX + 1] };
        name.bytes[..rest.len()].copy_from_slice(rest);
        Ok(name)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn c(&self) -> &std::ffi::CStr {
        std::ffi::CStr::from_bytes_with_nul(&self.bytes[..=self.len]).expect("checked: a queue name has no NUL")
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
    /// The token of the FIFO's second name, `fifo.<token>` (16 hexadecimal digits), made anew
    /// at every change of `meta` and the old name removed after the new `meta` is in place: so
    /// a process that opens the FIFO by the name a `meta` it read gives has opened this very
    /// queue's FIFO while that `meta` was current — the open itself proves it, with no `fstat`
    /// (see `Store::open_recent`). 0: none (a queue made by an older mqshim).
    pub fifo_link: u64,
}

impl Meta {
    /// What a new queue `name` of this `meta`, whose FIFO has inode `fifo_ino`, writes into its
    /// segment's header.
    fn init<'a>(&self, name: &'a QueueName, fifo_ino: u64) -> Init<'a> {
        Init {
            maxmsg: self.maxmsg,
            msgsize: self.msgsize,
            uid: self.uid,
            gid: self.gid,
            mode: self.mode,
            charge_uid: self.charge_uid,
            charge_bytes: self.charge_bytes,
            created_ns: crate::os::clock::coarse_realtime_ns(),
            name: name.bytes(),
            fifo_ino,
        }
    }

    /// The user this queue charges, given who wrote its `meta`: the user it names only if that
    /// user or root wrote it, else the writer (a user cannot charge another by planting one).
    pub fn charged_uid(&self, writer: u32) -> u32 {
        if writer == self.charge_uid || writer == 0 {
            self.charge_uid
        } else {
            writer
        }
    }

    fn render(&self) -> String {
        format!(
            "mqshim-posix-queue 2\nuid {}\ngid {}\nmode {:o}\nmaxmsg {}\nmsgsize {}\ncharge_uid {}\ncharge_bytes {}\nfifo_link {:016x}\n",
            self.uid, self.gid, self.mode, self.maxmsg, self.msgsize, self.charge_uid, self.charge_bytes, self.fifo_link
        )
    }

    /// Reads a `meta`: version 2, or 1 (an older mqshim's, without `fifo_link`).
    pub fn parse(text: &str) -> Option<Meta> {
        let mut lines = text.lines();
        if !matches!(lines.next()?, "mqshim-posix-queue 1" | "mqshim-posix-queue 2") {
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
                "fifo_link" => m.fifo_link = u64::from_str_radix(v, 16).ok()?,
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

/// Whether the operating system's check of opening a queue's FIFO for reading and writing,
/// which just succeeded (`fifo` its status), was the kernel's permission check of `meta` for
/// every access mode: the FIFO has the queue's owner, group and file mode, and each class of
/// the queue's mode grants reading and writing or neither — so the caller's class (chosen
/// alike: owner, then group, then other) grants every access mode, or the open would have
/// been refused (CAP_DAC_OVERRIDE passes both). Then the caller's credentials need no reading.
fn access_checked_by_open(fifo: &libc::stat, meta: &Meta) -> bool {
    let all_or_nothing = [6, 3, 0].iter().all(|&shift| matches!((meta.mode >> shift) & 0o6, 0 | 0o6));
    all_or_nothing && fifo.st_uid == meta.uid && fifo.st_gid == meta.gid && fifo.st_mode & 0o7777 == file_mode(meta.mode)
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

/// The queues of one namespace.
pub struct Store {
    ns: Namespace,
    limits: LivePosixLimits,
    charges: ChargeCounters,
    /// The filesystem the namespace is on (`st_dev`): every queue's FIFO is there.
    device: u64,
    /// `posix-dead/` as this process last looked into it (see [`Store::forget_destroyed`]).
    dead_seen: DirWatch,
}

/// The file mode bits an `mq_open` access mode needs (read 4, write 2).
fn want_of(accmode: c_int) -> u32 {
    match accmode {
        libc::O_RDONLY => 4,
        libc::O_WRONLY => 2,
        _ => 6,
    }
}

/// A queue just built and published, with the program's descriptor of its FIFO.
struct Built {
    found: Found,
    queue: Queue,
    fifo: Fd,
    fifo_id: (u64, u64),
    /// The FIFO's status once complete (both names, final mode).
    fifo_status: libc::stat,
}

/// A queue found by name, not yet opened.
struct Found {
    dir: Fd,
    dir_id: (u64, u64),
    /// The directory's owner (the queue's creator, or whom `chown` made its owner).
    owner: u32,
}

impl Found {
    /// The queue directory open as `dir`.
    fn of(dir: Fd) -> Result<Found> {
        let st = sys::stat_of(dir.0)?;
        Ok(Found::with_status(dir, &st))
    }

    /// The queue directory open as `dir`, whose status (read since it was opened) is `st`.
    fn with_status(dir: Fd, st: &libc::stat) -> Found {
        Found { dir, dir_id: (st.st_dev, st.st_ino), owner: st.st_uid }
    }
}

/// What [`Store::keep_spare`] kept of a destroyed queue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kept {
    Nothing,
    /// Its segment (renamed out of its directory).
    Segment,
    /// Its whole directory (renamed out of `posix-dead/`).
    Whole,
}

/// The queue directory `dir`, of the queue whose FIFO is `fifo_id` and `meta` is `meta` (the
/// one its creator wrote), as its creator left it — owned by the queue's owner and group, mode
/// 0755, no subdirectory; its FIFO with the queue's file mode and its two names (`fifo` and the
/// one `meta` gives it), no third — so that it may serve a new queue whole (see `spare`).
fn whole_as_made(dir: c_int, fifo_id: (u64, u64), meta: &Meta) -> Option<spare::WholeDir> {
    let owned = |st: &libc::stat| st.st_uid == meta.uid && st.st_gid == meta.gid;
    let dir_st = sys::stat_of(dir).ok().filter(|st| st.st_mode == libc::S_IFDIR | 0o755 && owned(st) && st.st_nlink == 2)?;
    let fifo_st = sys::stat_at(dir, c"fifo", libc::AT_SYMLINK_NOFOLLOW)
        .ok()
        .filter(|st| (st.st_dev, st.st_ino) == fifo_id && st.st_mode == libc::S_IFIFO | file_mode(meta.mode) && owned(st) && st.st_nlink == FIFO_LINKS)?;
    if meta.fifo_link == 0 || !same_file(dir, &fifo_link_bytes(meta.fifo_link), &fifo_st) {
        return None;
    }
    Some(spare::WholeDir { dir: FileStamp::of(&dir_st), fifo: FileStamp::of(&fifo_st), fifo_link: meta.fifo_link })
}

/// Where a found queue's directory descriptor goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DirFd {
    /// Out of the way of the descriptor the program is about to get.
    High,
    /// Anywhere: the program gets no descriptor.
    Any,
}

impl Drop for Store {
    fn drop(&mut self) {
        spare::forget_namespace(Some(self.ns.tmp));
    }
}

impl Store {
    pub fn at(root: &[u8], limits: PosixLimits) -> Result<Store> {
        Store::open_or(root, limits, Missing::Create)
    }

    /// The store of the namespace at `root`; with [`Missing::Fail`] (for `mqshim ipcs`,
    /// `ipcrm` and `stat`) a namespace that does not exist is ENOENT and nothing is created.
    pub fn open_or(root: &[u8], limits: PosixLimits, missing: Missing) -> Result<Store> {
        let ns = Namespace::open_or(root, missing)?;
        let charges = ChargeCounters::new(ns.charge);
        let device = sys::stat_of(ns.posix)?.st_dev;
        Ok(Store { ns, limits: LivePosixLimits::new(limits), charges, device, dead_seen: DirWatch::default() })
    }

    /// Whether a file of status `st` may be a queue's FIFO: a FIFO on the namespace's
    /// filesystem (a pipe, or a FIFO elsewhere, is not).
    pub fn may_be_fifo(&self, st: &libc::stat) -> bool {
        st.st_mode & libc::S_IFMT == libc::S_IFIFO && st.st_dev == self.device
    }

    /// Replaces the limits creation enforces.
    pub fn set_limits(&self, limits: PosixLimits) {
        self.limits.set(limits);
    }

    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    fn find(&self, name: &QueueName, fd: DirFd) -> Result<Option<Found>> {
        match openat(self.ns.posix, name.bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0) {
            Ok(dir) if fd == DirFd::High => Found::of(Fd(crate::os::sys::move_high(dir.take()))).map(Some),
            Ok(dir) => Found::of(dir).map(Some),
            Err(Errno::ENOENT) => Ok(None),
            // Not a queue's directory (a link or a file another user put there): the name is
            // taken, and not by a queue the caller may use.
            Err(Errno::ELOOP | Errno::ENOTDIR) => Err(Errno::EACCES),
            Err(e) => Err(e),
        }
    }

    /// [`Store::open_queue_with`] with the limits as they are: the tests' shorthand.
    #[cfg(test)]
    pub fn open_queue(&self, name: &QueueName, oflag: c_int, mode: libc::mode_t, attr: Option<&mq_attr>) -> Result<c_int> {
        self.open_queue_with(name, oflag, mode, attr, &|| {})
    }

    /// `mq_open` of a checked name. No lock is taken: a name is claimed by the atomic rename
    /// that publishes a complete queue (see `Store::build`), so a creator that loses the race
    /// opens the winner's queue, as if it had come second. `before_create` runs before each
    /// attempt to make the queue (after the name was found free), as the place to bring
    /// [`Store::set_limits`] up to date: an open of an existing queue, `O_CREAT` or not, reads
    /// no limit.
    pub fn open_queue_with(&self, name: &QueueName, oflag: c_int, mode: libc::mode_t, attr: Option<&mq_attr>, before_create: &dyn Fn()) -> Result<c_int> {
        if let Some(opened) = self.open_recent(name, oflag) {
            return opened;
        }
        // Its status serves a creation's first checks too.
        let mut dead_status = self.forget_destroyed();
        let mut stale_looks = 0;
        for round in 1.. {
            if let Some(found) = self.find(name, DirFd::High)? {
                // The last look takes the FIFO by its first name (see `attach`).
                let fifo_by_link = stale_looks < STALE_LOOKS;
                match self.open_existing(name, found, oflag, fifo_by_link) {
                    // Changed or destroyed as it was opened (see `attach`): the name is looked
                    // up again.
                    // (A change of `meta` is done by the next look; changes that keep coming
                    // are let run first.)
                    Err(Errno::ESTALE) => {
                        stale_looks += 1;
                        if stale_looks > 4 {
                            // SAFETY: sched_yield has no arguments and cannot fail.
                            unsafe { libc::sched_yield() };
                        }
                        continue;
                    }
                    // Unlinked as it was opened (see `attach`): the name may have a new queue,
                    // or may get one from this creator.
                    Err(Errno::ENOENT) if oflag & libc::O_CREAT != 0 && round < 16 => continue,
                    opened => return opened,
                }
            }
            if oflag & libc::O_CREAT == 0 {
                return Err(Errno::ENOENT);
            }
            before_create();
            match self.create(name, oflag, mode, attr, dead_status.take()) {
                // Created by someone else since `find`: open theirs (or EEXIST for O_EXCL).
                Err(Errno::EEXIST) => continue,
                result => return result,
            }
        }
        unreachable!("the loop returns by its bound")
    }

    /// The checks `prepare_open` makes on an existing queue, then the open itself.
    fn open_existing(&self, name: &QueueName, found: Found, oflag: c_int, fifo_by_link: bool) -> Result<c_int> {
        if oflag & (libc::O_CREAT | libc::O_EXCL) == libc::O_CREAT | libc::O_EXCL {
            return Err(Errno::EEXIST);
        }
        let accmode = oflag & libc::O_ACCMODE;
        if accmode == libc::O_ACCMODE {
            return Err(Errno::EINVAL);
        }
        let meta = read_meta(found.dir.0)?;
        if !creds::may_access_now(meta.mode, meta.uid, meta.gid, want_of(accmode)) {
            return Err(Errno::EACCES);
        }
        self.attach(name, &found, oflag, &meta, fifo_by_link)
    }

    /// `mq_open` of a queue this process mapped lately (see [`RECENT`]), in one system call
    /// besides the descriptor's own: its FIFO, opened for reading and writing below the
    /// namespace through no link (`openat2`) by the second name the remembered `meta` gives it
    /// (see [`Meta::fifo_link`]), of a queue not unlinked since. That name exists only while
    /// that `meta` is current and only in that queue's directory, so the open proves that the
    /// queue opened is the one the name named at that instant, with the owner and mode
    /// remembered. Where the FIFO had the queue's owner, group and file mode when the `meta`
    /// was read, and each class of the queue's mode grants both reading and writing or
    /// neither, that open was the kernel's permission check for any access mode (see
    /// [`access_checked_by_open`]); otherwise the caller's credentials are read. None: not such
    /// a queue, or anything unusual; the general path decides (and gives the errno).
    fn open_recent(&self, name: &QueueName, oflag: c_int) -> Option<Result<c_int>> {
        let accmode = oflag & libc::O_ACCMODE;
        if accmode == libc::O_ACCMODE || oflag & (libc::O_CREAT | libc::O_EXCL) == libc::O_CREAT | libc::O_EXCL {
            return None;
        }
        // Found, it becomes the most recently used. Unless its FIFO is held, it may be, where
        // fewer than `held_fifos_allowed` are, or by letting go of that of a queue used less recently
        // than this one was (so that the FIFOs held are those of the queues opened again most
        // lately, and a program that goes round more queues than that lets none go).
        let hash = name_hash(name.bytes());
        let (handle, reopen, may_hold, let_go) = RECENT.with(|r| {
            let at = r.by_name(hash, name.bytes())?;
            let unheld = !r.holds(at);
            let full = unheld && r.held() >= r.held_max();
            let let_go = if full { r.let_go_least_recent(Some(at)) } else { None };
            let may_hold = unheld && (!full || let_go.is_some());
            r.mark_used(at);
            let found = r.get(at);
            Some((found.handle.clone(), found.reopen?, may_hold, let_go))
        })?;
        // Closed outside the lock.
        drop(let_go);
        let mut path = [0u8; NAME_MAX + 1 + FIFO_LINK_PREFIX.len() + FIFO_LINK_DIGITS + 1];
        let len = name.bytes().len();
        path[..len].copy_from_slice(name.bytes());
        path[len] = b'/';
        let link = fifo_link_bytes(handle.meta.fifo_link);
        let end = len + 1 + link.len();
        path[len + 1..end].copy_from_slice(&link);
        let path = std::ffi::CStr::from_bytes_with_nul(&path[..=end]).ok()?;
        let flags = libc::O_RDWR | (oflag & libc::O_NONBLOCK) | libc::O_CLOEXEC | libc::O_NOFOLLOW;
        // `name` is checked (neither `.` nor `..`, no slash): the path only goes down.
        let fifo = Fd(sys::openat2(self.ns.posix, path, flags, sys::RESOLVE_DOWNWARD_NO_LINKS));
        if fifo.0 < 0 {
            return None;
        }
        // The "unlinked" mark is read after the open: an unlinker that had not yet set it has
        // not yet tested whether the queue is open either, and finds it open.
        if !sound(&handle) {
            return None;
        }
        let meta = &handle.meta;
        if !reopen.open_checks_access && !creds::may_access_now(meta.mode, meta.uid, meta.gid, want_of(accmode)) {
            return Some(Err(Errno::EACCES));
        }
        // A queue remembered since this process created it, or whose FIFO was let go for a
        // more recent queue's: its FIFO is held from this open again (the creator's own
        // descriptor may be its only reader until then).
        if may_hold {
            hold_fifo(&handle, HeldFifo::open_below(self.ns.posix, path, handle.fifo_id));
        }
        Some(self.describe(handle, fifo, oflag))
    }

    /// Opens the FIFO (the descriptor the program gets), maps the segment (unless this process
    /// has it mapped) and records the open description. `meta` was read before. Unless
    /// `fifo_by_link`, the FIFO is opened by its first name (after [`STALE_LOOKS`] looks that
    /// found each `meta` replaced before its FIFO was opened).
    fn attach(&self, name: &QueueName, found: &Found, oflag: c_int, meta: &Meta, fifo_by_link: bool) -> Result<c_int> {
        // The FIFO first, so the program gets the lowest free descriptor, as from the kernel.
        // Anything but a FIFO there (a link, a file, a directory: another user's doing) is a
        // damaged queue. It is opened by the second name `meta` gives it (where it gives one),
        // which exists only while that `meta` is the queue's: ESTALE when it is gone, because
        // the `meta` was replaced since it was read, or because the queue was destroyed since
        // it was found and its creator gave its directory, kept whole, to a new queue (see
        // `spare`) — which this open must not reach by the name it was given.
        // A `meta` read again and found the same names a second name the FIFO does not have:
        // the `meta` is damaged, or its directory is being made a new queue right now (see
        // `Store::renew_whole`); the FIFO is then opened by its first name (and the name looked
        // at below).
        let mut by_link = (fifo_by_link && meta.fifo_link != 0).then(|| fifo_link_bytes(meta.fifo_link));
        let flags = libc::O_RDWR | (oflag & libc::O_NONBLOCK);
        let opened = match by_link {
            Some(link) => match openat(found.dir.0, &link, flags, 0) {
                Err(Errno::ENOENT) if read_meta(found.dir.0).is_ok_and(|now| now == *meta) => {
                    by_link = None;
                    openat(found.dir.0, b"fifo", flags, 0)
                }
                Err(Errno::ENOENT) => return Err(Errno::ESTALE),
                opened => opened,
            },
            None => openat(found.dir.0, b"fifo", flags, 0),
        };
        let fifo = opened.map_err(|e| match e {
            Errno::ELOOP | Errno::EISDIR | Errno::ENXIO | Errno::ENODEV => Errno::EIO,
            e => e,
        })?;
        let fifo_st = sys::stat_of(fifo.0)?;
        if fifo_st.st_mode & libc::S_IFMT != libc::S_IFIFO {
            return Err(Errno::EIO);
        }
        let fifo_id = (fifo_st.st_dev, fifo_st.st_ino);
        // This process's mapping of it, if it has one of this very queue: its handle's `meta`
        // the one read (after a change of `meta`, or for a queue made since in the same
        // directory, a new mapping starts this process's view of it afresh).
        // A segment that does not validate while the second name the `meta` read gives is gone
        // (or that `meta` replaced) is being made another queue's (see `Store::renew_whole`,
        // which removes that name first): the name is looked up again, but at the last look.
        let renewed = || {
            let link_gone = meta.fifo_link != 0 && sys::stat_at(found.dir.0, &fifo_link_name(meta.fifo_link), libc::AT_SYMLINK_NOFOLLOW).is_err();
            link_gone || read_meta(found.dir.0).is_ok_and(|now| now != *meta)
        };
        let queue = match recent_mapping(found.dir_id, Some(fifo_id), Some(meta.fifo_link)) {
            Some(q) => q,
            None => match segment::open_mapped(found.dir.0, DATA, HEADER_SIZE, |e| e).and_then(Queue::from_mapping) {
                Ok(q) => Arc::new(q),
                Err(_) if fifo_by_link && renewed() => return Err(Errno::ESTALE),
                Err(e) => return Err(e),
            },
        };
        // A segment that is another queue's now: this one was destroyed after this open found
        // it, and its creator gave the segment to its next queue (see `spare`). This open comes
        // after that unlink.
        if !queue.is_of_fifo(fifo_id.1) {
            return Err(Errno::ENOENT);
        }
        // The "unlinked" mark is read after the FIFO's open, as in `open_recent`: an unlinker
        // that had not yet set it has not yet tested whether the queue is open either, and finds
        // it open; so does one that set it and has not yet moved the queue from its name (it
        // tests after the move), or died before. One that moved it may have found it unused
        // before this open, and be destroying it (a descriptor of a queue gone from every name:
        // `fchmod` of it was ENOENT). So this open comes after that unlink (ENOENT), and the
        // queue is destroyed by whichever of the two tests last whether it is open: the
        // unlinker, or this, once its FIFO is closed.
        // It is also looked for under `name` in every case: its directory may have served
        // another queue since `find` (a destroyed queue's directory kept whole: see `spare`),
        // whose `meta` this open may have read, or whose FIFO it opened by its first name.
        // That queue, found under another name, is not opened (ESTALE: the name is looked up
        // again); and the second name is looked at after the name, so that the queue of `meta`
        // was still the directory's when the name named it.
        let still_named = || sys::stat_at(self.ns.posix, &c(name.bytes()), libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| (st.st_dev, st.st_ino) == found.dir_id);
        let unlinked = queue.header().unlinked.load(std::sync::atomic::Ordering::SeqCst) != 0;
        if !still_named() {
            drop(fifo);
            self.destroy_if_unused(dead_entry_name(found.dir_id).as_bytes());
            return Err(if unlinked { Errno::ENOENT } else { Errno::ESTALE });
        }
        if by_link.is_some_and(|link| !same_file(found.dir.0, &link, &fifo_st)) {
            return Err(Errno::ESTALE);
        }
        let handle = QueueHandle { queue, name: name.bytes().to_vec(), dir_id: found.dir_id, fifo_id, meta: *meta };
        let handle = remember_queue(handle, Some(&fifo_st), Some(found.dir.0));
        self.describe(handle, fifo, oflag)
    }

    /// The queue of `fifo`, a descriptor of a queue's FIFO that this process holds but did not
    /// open (a supervisor's copy of another process's descriptor): found under the name its
    /// directory has now in `posix/` (or `posix-dead/`, unlinked), which is only a hint — the
    /// directory found must hold this very FIFO — and mapped as an open would map it. EBADF for
    /// anything else.
    pub fn adopt(&self, fifo: c_int) -> Result<Arc<QueueHandle>> {
        let st = sys::stat_of(fifo).map_err(|_| Errno::EBADF)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
            return Err(Errno::EBADF);
        }
        let fifo_id = (st.st_dev, st.st_ino);
        // Used lately, and still named. The adopter checks no permission, so any meta will do
        // (the FIFO's identity is its own while a descriptor of it is open, as this one is).
        if let Some(handle) = recent_handle(fifo_id) {
            return Ok(handle);
        }
        let mut link = [0u8; libc::PATH_MAX as usize];
        let path = CString::new(format!("/proc/self/fd/{fifo}")).map_err(|_| Errno::EBADF)?;
        let n = sys::readlinkat(libc::AT_FDCWD, &path, &mut link);
        let link = link.get(..usize::try_from(n).map_err(|_| Errno::EBADF)?).ok_or(Errno::EBADF)?;
        // ".../posix/NAME/fifo" or ".../posix-dead/ENTRY/fifo", or the FIFO's second name
        // (".../fifo.<token>", with " (deleted)" once a change of `meta` removed it).
        let mut parts = link.rsplit(|&b| b == b'/');
        let (Some(file), Some(entry), Some(area)) = (parts.next(), parts.next(), parts.next()) else { return Err(Errno::EBADF) };
        if file != b"fifo" && !file.starts_with(FIFO_LINK_PREFIX) {
            return Err(Errno::EBADF);
        }
        let parent = match area {
            b"posix" => self.ns.posix,
            b"posix-dead" => self.ns.dead,
            _ => return Err(Errno::EBADF),
        };
        let dir = openat(parent, entry, libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(|_| Errno::EBADF)?;
        let found = Found::of(dir)?;
        let in_dir = sys::stat_at(found.dir.0, c"fifo", libc::AT_SYMLINK_NOFOLLOW).map_err(|_| Errno::EBADF)?;
        if (in_dir.st_dev, in_dir.st_ino) != fifo_id {
            return Err(Errno::EBADF);
        }
        let meta = read_meta(found.dir.0)?;
        let queue = match recent_mapping(found.dir_id, Some(fifo_id), None) {
            Some(q) => q,
            None => Arc::new(Queue::from_mapping(segment::open_mapped(found.dir.0, DATA, HEADER_SIZE, |e| e)?)?),
        };
        let handle = QueueHandle { queue, name: entry.to_vec(), dir_id: found.dir_id, fifo_id, meta };
        Ok(remember_queue(handle, None, None))
    }

    /// Records the open description of the queue `handle` whose FIFO `fifo` is the program's
    /// descriptor.
    fn describe(&self, handle: Arc<QueueHandle>, fifo: Fd, oflag: c_int) -> Result<c_int> {
        let accmode = oflag & libc::O_ACCMODE;
        let read = accmode == libc::O_RDONLY || accmode == libc::O_RDWR;
        let write = accmode == libc::O_WRONLY || accmode == libc::O_RDWR;
        let d = Arc::new(Description::new(handle, read, write, oflag & libc::O_NONBLOCK != 0));
        let fd = fifo.take();
        // An armed queue's FIFO may have lost its tokens if every descriptor of it was closed.
        // A queue in express mode is not armed (arming takes it out), so it needs no lock here.
        if !d.queue.queue.is_express() {
            if let Ok(mut locked) = d.queue.queue.lock() {
                super::ready::resync(&mut locked, fd);
            }
        }
        fdtable::insert(fd, d);
        Ok(fd)
    }

    /// Creates a queue: `queues_max`, then the attributes, then RLIMIT_MSGQUEUE, in
    /// `mqueue_create_attr`/`mqueue_get_inode`'s order. EEXIST when another creator published
    /// the name first.
    /// A new queue `name` (see `open_queue_with`). `dead_status`: the status of `posix-dead/` as
    /// the caller just read it, if it did.
    fn create(&self, name: &QueueName, oflag: c_int, mode: libc::mode_t, attr: Option<&mq_attr>, dead_status: Option<libc::stat>) -> Result<c_int> {
        // Only the ids a new queue records; CAP_SYS_RESOURCE only when a limit would refuse.
        let (uid, fsuid, fsgid) = sys::creation_ids();
        let resource_cap = std::cell::OnceCell::new();
        let exempt = || *resource_cap.get_or_init(|| creds::has_now(cap::SYS_RESOURCE));
        let limits = self.limits.get();
        let dead_status = self.collect_dead(dead_status);
        if self.queue_count(dead_status.as_ref()) >= limits.queues_max as u64 && !exempt() {
            return Err(Errno::ENOSPC);
        }
        let (maxmsg, msgsize) = match attr {
            Some(a) => (a.mq_maxmsg, a.mq_msgsize),
            None => (limits.msg_default.min(limits.msg_max), limits.msgsize_default.min(limits.msgsize_max)),
        };
        if maxmsg <= 0 || msgsize <= 0 {
            return Err(Errno::EINVAL);
        }
        // CAP_SYS_RESOURCE: the hard ceilings instead of the limits.
        let over_limits = maxmsg > limits.msg_max || msgsize > limits.msgsize_max;
        let over_hard = maxmsg > HARD_MSGMAX || msgsize > HARD_MSGSIZEMAX;
        if (over_limits || over_hard) && if exempt() { over_hard } else { over_limits } {
            return Err(Errno::EINVAL);
        }
        let charge = limits::posix_charge(maxmsg as u64, msgsize as u64).ok_or(Errno::EOVERFLOW)?;
        let rlimit = limits.rlimit_msgqueue();
        if !self.charges.reserve(uid, charge, rlimit) {
            let charged = self.charged_to(uid);
            let total = charged.checked_add(charge).filter(|&total| total <= rlimit).ok_or(Errno::EMFILE)?;
            self.charges.reset(uid, total);
        }
        // SAFETY: umask is read by setting and restoring it (no other way exists); the window
        // is a few instructions long.
        let umask = unsafe {
            let m = libc::umask(0o022);
            libc::umask(m);
            m
        };
        let mode = mode & 0o7777 & !umask;
        let umask = umask as u32;
        let meta = Meta {
            uid: fsuid,
            gid: fsgid,
            mode,
            maxmsg: maxmsg as u32,
            msgsize: msgsize as u64,
            charge_uid: uid,
            charge_bytes: charge,
            fifo_link: new_fifo_link(),
        };
        let fifo_flags = libc::O_RDWR | (oflag & libc::O_NONBLOCK);
        let built = self.build(name, &meta, umask, fifo_flags).inspect_err(|_| self.charges.release(uid, charge))?;
        // Another creator may have passed the same check at the same time.
        if self.queue_count(None) > limits.queues_max as u64 && !exempt() {
            drop(built.fifo);
            built.queue.header().unlinked.store(1, std::sync::atomic::Ordering::SeqCst);
            self.withdraw(name, &built.found);
            return Err(Errno::ENOSPC);
        }
        let handle = QueueHandle { queue: Arc::new(built.queue), name: name.bytes().to_vec(), dir_id: built.found.dir_id, fifo_id: built.fifo_id, meta };
        let handle = remember_queue(handle, Some(&built.fifo_status), None);
        self.describe(handle, built.fifo, oflag)
    }

    /// Builds a complete queue in `posix-tmp/` and renames it into `posix/<name>`; its FIFO is
    /// opened with `fifo_flags` as the program's descriptor (the lowest free one: the
    /// directory's is moved out of the way first). Inside the builder's own 0700 directory
    /// nobody else can plant anything, so files are made with their final modes where the
    /// umask (`umask`) allows, and changed by descriptor where it does not.
    fn build(&self, name: &QueueName, meta: &Meta, umask: u32, fifo_flags: c_int) -> Result<Built> {
        let geo = Geometry::new(meta.maxmsg, meta.msgsize).ok_or(Errno::ENOMEM)?;
        let fmode = file_mode(meta.mode);
        let fit = spare::Fit { uid: meta.uid, gid: meta.gid, file_mode: fmode, maxmsg: meta.maxmsg, msgsize: meta.msgsize };
        if let Some(built) = self.build_from_whole_spare(name, meta, umask, fifo_flags, fit) {
            return built;
        }
        let tmp_name = unique_name("new");
        let tmp_c = c(tmp_name.as_bytes());
        // SAFETY: NUL-terminated names under open directories.
        if sys::mkdirat(self.ns.tmp, &tmp_c, 0o700) != 0 {
            return Err(Errno::last());
        }
        let result = (|| {
            let dir = openat(self.ns.tmp, tmp_name.as_bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            let dir = Fd(crate::os::sys::move_high(dir.take()));
            // Held while building (the kernel drops it if this process dies): see
            // `abandoned_build`.
            sys::flock(dir.0, libc::LOCK_EX | libc::LOCK_NB);
            if sys::mknodat(dir.0, c"fifo", libc::S_IFIFO | fmode, 0) != 0 {
                return Err(Errno::last());
            }
            let fifo = openat(dir.0, b"fifo", fifo_flags, 0)?;
            // The exact mode (mknod's is narrowed by the umask).
            if fmode & umask != 0 {
                sys::fchmod(fifo.0, fmode);
            }
            if sys::linkat(dir.0, c"fifo", dir.0, &fifo_link_name(meta.fifo_link)) != 0 {
                return Err(Errno::last());
            }
            let fifo_st = sys::stat_of(fifo.0)?;
            // The header and the waiter records (every blocking caller looks through them) are
            // reserved now; priority lists and slots page by page as they are first needed
            // (`Queue::ready_prio`, `ready_queue_slot`, `ready_extra_slot`), so a queue's
            // memory follows what it has held and a full filesystem is an errno.
            let (data, map, spare_stamp) = match spare::place(self.ns.tmp, fit, dir.0) {
                Some((map, stamp)) => {
                    // The header as a new file's (all zeros); the rest was freed when it was
                    // kept, and its waiter records never written.
                    map.clear_prefix(HEADER_SIZE as usize);
                    (segment::Aside::placed(dir.0, DATA), map, Some(stamp))
                }
                None => {
                    let (data, map) = segment::create_aside(dir.0, DATA, geo.total_size, geo.prio_offset, Errno::ENOSPC)?;
                    (data, map, None)
                }
            };
            let mut queue = Queue::initialise(map, &meta.init(name, fifo_st.st_ino))?;
            // A new segment is made 0600 (narrowed by the umask).
            if spare_stamp.is_none() && fmode != 0o600 & !umask {
                sys::fchmod(data.fd(), fmode);
            }
            let data_stamp = match spare_stamp {
                Some(stamp) => Some(stamp),
                None => sys::stat_of(data.fd()).ok().map(|st| FileStamp::of(&st)),
            };
            let meta_ino = write_new_meta(dir.0, meta, umask)?;
            queue.made = data_stamp.zip(meta_ino).map(|(data, meta_ino)| spare::Made { data, meta_ino });
            sys::fchmod(dir.0, 0o755);
            let dst = name.c();
            // SAFETY: NUL-terminated names under open directories.
            if sys::renameat2(self.ns.tmp, &tmp_c, self.ns.posix, dst, libc::RENAME_NOREPLACE) != 0 {
                return Err(Errno::last());
            }
            // Published, with its directory.
            data.keep();
            let found = Found::of(dir)?;
            Ok(Built { found, queue, fifo, fifo_id: (fifo_st.st_dev, fifo_st.st_ino), fifo_status: fifo_st })
        })();
        if result.is_err() {
            remove_queue_dir(self.ns.tmp, tmp_name.as_bytes(), None, meta.fifo_link, true);
        }
        result
    }

    /// [`Store::build`] from a queue directory this process kept whole (see `spare`): its
    /// directory, FIFO and segment serve the new queue, which gets its own `meta` and second
    /// name, and is renamed from the spare directory into place. None when there is none that
    /// fits, or it could not serve (it is removed then, and the caller builds anew).
    fn build_from_whole_spare(&self, name: &QueueName, meta: &Meta, umask: u32, fifo_flags: c_int, fit: spare::Fit) -> Option<Result<Built>> {
        let spare::PlacedWhole { spare_dir, name: entry, map, stamp, whole } = spare::place_whole(self.ns.tmp, fit)?;
        // The FIFO first, the program's descriptor (the lowest free one), by its path in this
        // process's own spare directory (0700, checked: nobody else can put anything on the
        // way); then the directory's, which so needs no moving out of its way.
        let mut path = entry.as_bytes().to_vec();
        path.extend_from_slice(b"/fifo");
        let flags = fifo_flags | libc::O_CLOEXEC | libc::O_NOFOLLOW;
        let fifo = Some(Fd(sys::openat2(spare_dir, &c(&path), flags, sys::RESOLVE_DOWNWARD_NO_LINKS))).filter(|f| f.0 >= 0);
        let dir = fifo.as_ref().and_then(|_| openat(spare_dir, entry.as_bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0).ok());
        let renewed = match (&dir, fifo) {
            (Some(dir), Some(fifo)) => Self::renew_whole(dir.0, fifo, name, meta, umask, map, stamp, &whole),
            _ => None,
        };
        let (dir, (queue, fifo, fifo_status, dir_status)) = match (dir, renewed) {
            (Some(dir), Some(renewed)) => (dir, renewed),
            (dir, _) => {
                remove_queue_dir(spare_dir, entry.as_bytes(), dir.as_ref().map(|d| d.0), whole.fifo_link, true);
                return None;
            }
        };
        // SAFETY: NUL-terminated names under open directories.
        if sys::renameat2(spare_dir, &entry, self.ns.posix, name.c(), libc::RENAME_NOREPLACE) != 0 {
            let e = Errno::last();
            remove_queue_dir(spare_dir, entry.as_bytes(), Some(dir.0), meta.fifo_link, true);
            return Some(Err(e));
        }
        let fifo_id = (fifo_status.st_dev, fifo_status.st_ino);
        let found = Found::with_status(dir, &dir_status);
        Some(Ok(Built { found, queue, fifo, fifo_id, fifo_status }))
    }

    /// Makes the queue directory `dir`, kept whole as `whole`, the new queue `name` of `meta`:
    /// its FIFO, `fifo` (the program's descriptor, opened by the caller), checked, its old second
    /// name removed, its segment `map` (stamped `stamp`) initialised, the new `meta` put in place of
    /// the old at once, and last the FIFO given the new `meta`'s second name (which moves the
    /// FIFO's ctime after the new `meta` is in place: see [`MetaSeen`]). A process that found
    /// this directory as the queue it was, and maps the segment while it is made, finds the
    /// second name of the `meta` it read gone (see `attach`): it looks the name up again, and
    /// never takes a segment half made for a damaged one. Gives the FIFO's status once renewed
    /// and the directory's as kept; None when anything is not as it was kept.
    #[allow(clippy::too_many_arguments)]
    fn renew_whole(
        dir: c_int,
        fifo: Fd,
        name: &QueueName,
        meta: &Meta,
        umask: u32,
        map: segment::Mapping,
        stamp: FileStamp,
        whole: &spare::WholeDir,
    ) -> Option<(Queue, Fd, libc::stat, libc::stat)> {
        let dir_status = sys::stat_of(dir).ok().filter(|st| FileStamp::of(st) == whole.dir)?;
        let fifo_ino = sys::stat_of(fifo.0).ok().filter(|st| FileStamp::of(st) == whole.fifo)?.st_ino;
        // Its pipe empty: a process that polled the old queue may hold the FIFO open for
        // writing still, and left readiness tokens in it.
        let mut unread: c_int = 0;
        // SAFETY: FIONREAD writes one int, into `unread`.
        if unsafe { libc::ioctl(fifo.0, libc::FIONREAD, &mut unread) } != 0 || unread != 0 {
            return None;
        }
        sys::unlinkat(dir, &fifo_link_name(whole.fifo_link), 0);
        // The header as a new file's (all zeros); the rest was freed when it was kept.
        map.clear_prefix(HEADER_SIZE as usize);
        let mut queue = Queue::initialise(map, &meta.init(name, fifo_ino)).ok()?;
        let meta_ino = replace_meta(dir, meta, Some(umask)).ok()?;
        if sys::linkat(dir, c"fifo", dir, &fifo_link_name(meta.fifo_link)) != 0 {
            return None;
        }
        let fifo_status = sys::stat_of(fifo.0).ok()?;
        queue.made = meta_ino.map(|meta_ino| spare::Made { data: stamp, meta_ino });
        Some((queue, fifo, fifo_status, dir_status))
    }

    /// Forgets the remembered queues destroyed since (see [`sweep_destroyed`], which reads
    /// every remembered queue's header) where `posix-dead/` changed since the last look: an
    /// unlink moves its queue there after marking it, and a destruction removes it from there
    /// (or a spare's keeping moves it out). Otherwise only every
    /// [`LOOK_EVERY`](crate::emu::namespace::LOOK_EVERY)th time (see `DirWatch`).
    /// The status of `posix-dead/` read for it, if it could be.
    fn forget_destroyed(&self) -> Option<libc::stat> {
        let dead_status = sys::stat_of(self.ns.dead).ok();
        if self.dead_seen.look_due_given(dead_status.as_ref()) {
            sweep_destroyed();
        }
        dead_status
    }

    /// How many queues exist, named or unlinked-but-open: from the link counts of `posix/` and
    /// `posix-dead/` (its status `dead_status` when the caller just read it) where the
    /// filesystem counts subdirectories there (tmpfs, ext4), else by listing them.
    fn queue_count(&self, dead_status: Option<&libc::stat>) -> u64 {
        let count = |dir: c_int, status: Option<&libc::stat>| match status.copied().map_or_else(|| sys::stat_of(dir), Ok) {
            Ok(st) if st.st_nlink >= 2 => st.st_nlink - 2,
            _ => list_dir(dir).len() as u64,
        };
        count(self.ns.posix, None) + count(self.ns.dead, dead_status)
    }

    /// The RLIMIT_MSGQUEUE bytes charged to `uid` by the queues that still exist. A `meta`
    /// counts only for a user who may have written it: the one it names or root.
    fn charged_to(&self, uid: u32) -> u64 {
        let mut total = 0u64;
        for dir in [self.ns.posix, self.ns.dead] {
            for entry in list_dir(dir) {
                let Ok(d) = openat(dir, &entry, libc::O_RDONLY | libc::O_DIRECTORY, 0) else { continue };
                let Ok((m, writer)) = read_meta_with_writer(d.0) else { continue };
                if m.charged_uid(writer) == uid {
                    total = total.saturating_add(m.charge_bytes);
                }
            }
        }
        total
    }

    /// Takes back a queue this process just published (over `queues_max`): its name goes, and
    /// with it the queue, which nobody else can have kept open for long.
    fn withdraw(&self, name: &QueueName, found: &Found) {
        forget_queue(found.dir_id);
        let dead_name = dead_entry_name(found.dir_id);
        if sys::renameat2(self.ns.posix, name.c(), self.ns.dead, &c(dead_name.as_bytes()), libc::RENAME_NOREPLACE) == 0 {
            self.destroy_if_unused(dead_name.as_bytes());
        }
    }

    /// Names of the queues in `posix/` (for `mqshim ipcs`).
    pub fn names(&self) -> Vec<Vec<u8>> {
        list_dir(self.ns.posix)
    }

    /// Destroys every unlinked queue nobody has open any more, and what creators killed while
    /// building left in `posix-tmp/` — listing each directory only when its link count (2 +
    /// its subdirectories, where the filesystem counts them) says it holds a queue.
    /// `dead_status`: the status of `posix-dead/` as the caller just read it, if it did; given
    /// back when nothing was destroyed (it is then still current), else None.
    fn collect_dead(&self, dead_status: Option<libc::stat>) -> Option<libc::stat> {
        let empty = |st: &libc::stat, own: u64| st.st_nlink == 2 + own;
        // Beyond `own` subdirectories (this process's spare directory in `posix-tmp/`).
        let may_hold_queues = |dir: c_int, own: u64| !sys::stat_of(dir).is_ok_and(|st| empty(&st, own));
        let dead_status = dead_status.or_else(|| sys::stat_of(self.ns.dead).ok());
        let dead_status = if dead_status.as_ref().is_some_and(|st| empty(st, 0)) {
            dead_status
        } else {
            for entry in list_dir(self.ns.dead) {
                self.destroy_if_unused(&entry);
            }
            None
        };
        if may_hold_queues(self.ns.tmp, spare::own_dirs(self.ns.tmp)) {
            for entry in list_dir(self.ns.tmp) {
                if !spare::is_own_dir(self.ns.tmp, &entry) && abandoned_build(self.ns.tmp, &entry) {
                    remove_queue_dir(self.ns.tmp, &entry, None, 0, true);
                }
            }
        }
        dead_status
    }

    fn destroy_if_unused(&self, entry: &[u8]) -> bool {
        self.destroy_if_unused_keeping(entry, None)
    }

    /// [`Store::destroy_if_unused`]; `mine`: see [`Store::destroy_dir_if_unused`].
    fn destroy_if_unused_keeping(&self, entry: &[u8], mine: Option<Arc<QueueHandle>>) -> bool {
        match openat(self.ns.dead, entry, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
            Ok(dir) => self.destroy_dir_if_unused(&dir, entry, mine),
            Err(e) => e == Errno::ENOENT,
        }
    }

    /// Destroys the unlinked queue `posix-dead/<entry>`, open as `dir`, unless it is open
    /// somewhere; true when it is gone. `mine`: this process's handle of the queue, no longer
    /// remembered, whose segment is kept as a spare if it may be (see `spare`).
    fn destroy_dir_if_unused(&self, dir: &Fd, entry: &[u8], mine: Option<Arc<QueueHandle>>) -> bool {
        // Write-only and non-blocking: ENXIO when the FIFO has no reader, i.e. no open
        // description (see the module comment); a writer is no reader, so this test itself
        // makes no other destroyer think the queue open.
        match openat(dir.0, b"fifo", libc::O_WRONLY | libc::O_NONBLOCK, 0) {
            Ok(_in_use) => return false,
            Err(Errno::ENXIO | Errno::ENOENT) => {}
            Err(_) => return false,
        }
        // The `meta` this process wrote, when it is still the queue's (the same inode: every
        // change replaces it): known without reading it.
        let written_here = mine.as_ref().and_then(|h| {
            let made = h.queue.made?;
            let st = sys::stat_at(dir.0, c"meta", libc::AT_SYMLINK_NOFOLLOW).ok()?;
            (st.st_ino == made.meta_ino).then_some((h.meta, st.st_uid))
        });
        // Its charge goes back once its directory is gone (by whoever removed it, once).
        let meta = written_here.or_else(|| read_meta_with_writer(dir.0).ok());
        let charged = meta.map(|(m, writer)| (m.charged_uid(writer), m.charge_bytes));
        let kept = match (mine, written_here) {
            (Some(handle), Some(_)) => self.keep_spare(dir, entry, handle),
            _ => Kept::Nothing,
        };
        // Gone from `posix-dead/` whole, or its files (but a segment kept) and directory now.
        if kept != Kept::Whole && !remove_queue_dir(self.ns.dead, entry, Some(dir.0), meta.map_or(0, |(m, _)| m.fifo_link), kept != Kept::Segment) {
            return false;
        }
        if let Some((uid, bytes)) = charged {
            self.charges.release(uid, bytes);
        }
        true
    }

    /// `mq_unlink` of a checked name: the name goes at once; the queue lives on until its last
    /// close.
    pub fn unlink(&self, name: &QueueName) -> Result<()> {
        self.forget_destroyed();
        let unlinked = self.unlink_named(name);
        if unlinked.is_ok() {
            self.dead_seen.seen_after_own_change(self.ns.dead);
        }
        unlinked
    }

    /// [`Store::unlink`], after the look for destroyed queues.
    fn unlink_named(&self, name: &QueueName) -> Result<()> {
        let found = self.find(name, DirFd::Any)?.ok_or(Errno::ENOENT)?;
        // The mqueue root is sticky: only the queue's owner, the root directory's owner or
        // CAP_FOWNER may remove a name (the kernel reports EACCES here). What the answer needs
        // is read, in that order.
        let fsuid = sys::fsuid();
        if fsuid != found.owner && fsuid != sys::stat_of(self.ns.posix)?.st_uid && !creds::has_now(cap::FOWNER) {
            return Err(Errno::EACCES);
        }
        // This process's handle is taken before the mark, which lets another thread's
        // `sweep_destroyed` take it (and with it the spare `finish_unlink` may keep).
        let mine = take_remembered(found.dir_id);
        mark_unlinked(&found, mine.as_ref().map(|h| &h.queue));
        let dead_name = dead_entry_name(found.dir_id);
        let (src, dst) = (name.c(), c(dead_name.as_bytes()));
        // SAFETY: NUL-terminated names under open directories.
        if sys::renameat2(self.ns.posix, src, self.ns.dead, &dst, libc::RENAME_NOREPLACE) != 0 {
            return Err(match Errno::last() {
                Errno::EPERM => Errno::EACCES,
                e => e,
            });
        }
        // The rename moved what the name named at that instant: another unlinker may have
        // moved the queue found, and a creator put a new one under the name, since `find`.
        // That one is unlinked now (as the kernel's `mq_unlink` removes what the name names),
        // but under the entry name of the one found, and not marked: set right, and tested as
        // below, from its own directory.
        let moved_id = match sys::stat_at(self.ns.dead, &dst, libc::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => (st.st_dev, st.st_ino),
            // Destroyed already, by a last close that saw it unlinked.
            Err(_) => return Ok(()),
        };
        if moved_id == found.dir_id {
            return self.finish_unlink(&found, &dead_name, mine);
        }
        drop(mine);
        match openat(self.ns.dead, dead_name.as_bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0).and_then(Found::of) {
            Err(_) => Ok(()),
            Ok(moved) => {
                mark_unlinked(&moved, None);
                forget_queue(moved.dir_id);
                let right = dead_entry_name(moved.dir_id);
                if sys::renameat2(self.ns.dead, &dst, self.ns.dead, &c(right.as_bytes()), libc::RENAME_NOREPLACE) != 0 {
                    // (Never: an entry name is its directory's identity.) Left under the found
                    // one's name, for the next creator's sweep.
                    return Ok(());
                }
                self.finish_unlink(&moved, &right, None)
            }
        }
    }

    /// The end of [`Store::unlink`], for the queue `found` now at `posix-dead/<dead_name>`:
    /// destroyed now unless it is open somewhere. `mine`: this process's handle of it, if it
    /// remembered one (see `destroy_dir_if_unused`).
    fn finish_unlink(&self, found: &Found, dead_name: &str, mine: Option<Arc<QueueHandle>>) -> Result<()> {
        // Destroyed now unless it is open somewhere. Then whoever closes last, whatever their
        // uid, must be able to test whether it is still open (by opening its FIFO, which gives
        // no access to the messages) and remove it; and tried again, in case that last close
        // came before this change.
        if !self.destroy_dir_if_unused(&found.dir, dead_name.as_bytes(), mine) {
            sys::fchmod(found.dir.0, 0o777);
            let _ = crate::emu::namespace::chmod_entry(found.dir.0, c"fifo", 0o666, libc::S_IFIFO, found.owner, |st| fifo_names_all_here(found.dir.0, st));
            self.destroy_dir_if_unused(&found.dir, dead_name.as_bytes(), None);
        }
        Ok(())
    }

    /// Keeps the destroyed queue `posix-dead/<entry>`, whose directory is `dir` (its files
    /// still there, its `meta` found to be the one this process wrote), as a spare if this
    /// process made it, holds the only reference to its mapping, and nobody ever waited in it
    /// (see `spare`): whole — its directory, FIFO and `meta` with its segment — when they are
    /// as their creator left them, else its segment alone; otherwise nothing is kept and it is
    /// removed with the directory.
    fn keep_spare(&self, dir: &Fd, entry: &[u8], handle: Arc<QueueHandle>) -> Kept {
        let Ok(handle) = Arc::try_unwrap(handle) else { return Kept::Nothing };
        let meta = handle.meta;
        let fifo_id = handle.fifo_id;
        let Ok(queue) = Arc::try_unwrap(handle.queue) else { return Kept::Nothing };
        let Some(made) = queue.made else { return Kept::Nothing };
        if queue.poisoned() || queue.recheck().is_err() || !queue.never_waited_on() {
            return Kept::Nothing;
        }
        let reserved = queue.geometry().prio_offset as usize;
        let fit = spare::Fit { uid: meta.uid, gid: meta.gid, file_mode: file_mode(meta.mode), maxmsg: meta.maxmsg, msgsize: meta.msgsize };
        let mut map = queue.into_mapping();
        if let Some(whole) = whole_as_made(dir.0, fifo_id, &meta) {
            match spare::keep_whole(self.ns.tmp, self.ns.dead, entry, dir.0, map, fit, made.data, whole, reserved, || unique_name("new")) {
                Ok(()) => return Kept::Whole,
                Err(back) => map = back,
            }
        }
        if spare::keep(self.ns.tmp, dir.0, map, fit, made.data, reserved, || unique_name("new")) {
            Kept::Segment
        } else {
            Kept::Nothing
        }
    }

    /// After a descriptor of `queue` was closed: if the queue was unlinked, destroy it when this
    /// was its last open description anywhere. False when it was unlinked and is still open
    /// somewhere (another close will end it), true when nothing is left to do.
    pub fn after_close(&self, queue: &QueueHandle) -> bool {
        match self.destroyed_by_close(queue) {
            Some(entry) => self.destroy_if_unused(entry.as_bytes()),
            None => true,
        }
    }

    /// [`Store::after_close`] of the description `d` that the caller closed and no longer
    /// needs: when it held this process's last reference to the queue, the segment of a queue
    /// its close destroys may be kept (see `spare`).
    pub fn after_close_owned(&self, d: Arc<Description>) -> bool {
        let handle = match Arc::try_unwrap(d) {
            Ok(d) => d.queue,
            Err(d) => return self.after_close(&d.queue),
        };
        match self.destroyed_by_close(&handle) {
            Some(entry) => self.destroy_if_unused_keeping(entry.as_bytes(), Some(handle)),
            None => true,
        }
    }

    /// Whether a close of `queue` may have been the last of an unlinked queue: its entry in
    /// `posix-dead/` to destroy if it is unused (the queue forgotten here), or None.
    fn destroyed_by_close(&self, queue: &QueueHandle) -> Option<String> {
        // Not marked unlinked before this descriptor closed: its unlinker, still to come, tests
        // whether it is open only after renaming it, so it sees this close (see `mark_unlinked`).
        // (A poisoned mapping reads zeros.)
        let q = &queue.queue;
        if q.header().unlinked.load(std::sync::atomic::Ordering::SeqCst) == 0 && !q.poisoned() {
            return None;
        }
        let still_named = sys::stat_at(self.ns.posix, &c(&queue.name), libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| (st.st_dev, st.st_ino) == queue.dir_id);
        if still_named {
            return None;
        }
        forget_queue(queue.dir_id);
        Some(dead_entry_name(queue.dir_id))
    }

    /// The queue named `name` as `/dev/mqueue/NAME` shows it: its meta, the status of its
    /// directory (identity, and the ctime a `chmod`/`chown` moves) and the queue's own times
    /// (None when the caller may not map it); ENOENT when there is none.
    pub fn entry(&self, name: &QueueName) -> Result<(Meta, libc::stat, Option<QueueTimes>)> {
        let found = self.find(name, DirFd::Any)?.ok_or(Errno::ENOENT)?;
        let meta = read_meta(found.dir.0)?;
        let times = match recent_mapping(found.dir_id, None, None) {
            Some(queue) => Some(queue.times()),
            None => segment::open_mapped(found.dir.0, DATA, HEADER_SIZE, |e| e).ok().and_then(|m| Queue::from_mapping(m).ok()).map(|q| q.times()),
        };
        Ok((meta, sys::stat_of(found.dir.0)?, times))
    }

    /// `chmod`/`chown` of the queue's `/dev/mqueue` file: `change` turns its owner, group and
    /// mode into the new ones, or refuses (its errno). The new `meta` replaces the old by a
    /// rename; the queue's directory, segment and FIFO follow the new owner and group, and the
    /// segment's and FIFO's modes the new mode (see [`file_mode`]), which also makes every
    /// process's cached `meta` of it stale (see `RECENT`). The queue stays charged to the
    /// user it was.
    pub fn change_attributes(&self, name: &QueueName, change: impl FnOnce(&Meta) -> Result<Meta>) -> Result<()> {
        let found = self.find(name, DirFd::Any)?.ok_or(Errno::ENOENT)?;
        self.change_found(found, false, change)
    }

    /// [`Store::change_attributes`] of the open queue whose directory is `dir_id`, opened as
    /// `name` (`fchmod`/`fchown` of its descriptor), also once unlinked: then only its `meta`
    /// changes, as no one opens it by name any more and whoever closes it last must still
    /// reach its FIFO.
    pub fn change_open_attributes(&self, name: &QueueName, dir_id: (u64, u64), change: impl FnOnce(&Meta) -> Result<Meta>) -> Result<()> {
        let (found, unlinked) = self.find_open(name, dir_id)?;
        self.change_found(found, unlinked, change)
    }

    /// The current `meta` of the open queue whose directory is `dir_id`, opened as `name`
    /// (what `fstat` of its descriptor shows after a `chmod` or `chown`), given the status its
    /// FIFO has now: every change of `meta` moves the FIFO's ctime after it (see
    /// [`Store::change_attributes`]), so the `meta` read when the FIFO had the same ctime is
    /// still current, and is kept here (see [`MetaSeen`]) instead of being read again.
    pub fn open_meta(&self, name: &QueueName, dir_id: (u64, u64), fifo: &libc::stat) -> Result<Meta> {
        let fifo_changed = (fifo.st_ctime, fifo.st_ctime_nsec);
        if let Some(meta) = MetaSeen::lookup(dir_id, fifo_changed) {
            return Ok(meta);
        }
        // Read after the FIFO's status: a change that lands later stamps a ctime no older than
        // this clock (see `MetaSeen`).
        let now = crate::os::clock::coarse_realtime_ns();
        let meta = read_meta(self.find_open(name, dir_id)?.0.dir.0)?;
        MetaSeen::remember(dir_id, fifo_changed, now, meta);
        Ok(meta)
    }

    /// The directory of the open queue whose directory is `dir_id`: under `name` while that
    /// still names it, else among the unlinked queues (true).
    fn find_open(&self, name: &QueueName, dir_id: (u64, u64)) -> Result<(Found, bool)> {
        if let Some(found) = self.find(name, DirFd::Any)?.filter(|f| f.dir_id == dir_id) {
            return Ok((found, false));
        }
        if let Ok(found) = openat(self.ns.dead, dead_entry_name(dir_id).as_bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0).and_then(Found::of) {
            if found.dir_id == dir_id {
                return Ok((found, true));
            }
        }
        // Between names: an unlinker that moved it under another queue's entry name is setting
        // that right (see `Store::unlink`). Looked for among the unlinked queues, which are few
        // (those still open somewhere).
        for entry in crate::emu::namespace::list_dir(self.ns.dead) {
            if let Ok(found) = openat(self.ns.dead, &entry, libc::O_RDONLY | libc::O_DIRECTORY, 0).and_then(Found::of) {
                if found.dir_id == dir_id {
                    return Ok((found, true));
                }
            }
        }
        Err(Errno::ENOENT)
    }

    fn change_found(&self, found: Found, unlinked: bool, change: impl FnOnce(&Meta) -> Result<Meta>) -> Result<()> {
        let (old, writer) = read_meta_with_writer(found.dir.0)?;
        let mut new = Meta { charge_uid: old.charged_uid(writer), ..change(&old)? };
        if new == old {
            return Ok(());
        }
        // A live queue's FIFO gets a new second name before the `meta` that gives it, and loses
        // the old one as soon as that `meta` is in place, before its files change (see
        // `Meta::fifo_link`): a process that opens the FIFO by the old name has opened it
        // before the change. (An unlinked queue is opened by no name.)
        if !unlinked {
            remove_stray_fifo_links(found.dir.0, old.fifo_link);
            new.fifo_link = new_fifo_link();
            if sys::linkat(found.dir.0, c"fifo", found.dir.0, &fifo_link_name(new.fifo_link)) != 0 {
                return Err(Errno::last());
            }
        }
        let placed = Self::place_meta(&found, &new);
        let stale = if placed.is_ok() { old.fifo_link } else { new.fifo_link };
        if !unlinked && stale != 0 {
            sys::unlinkat(found.dir.0, &fifo_link_name(stale), 0);
        }
        placed?;
        self.apply_meta(&found, unlinked, &old, &new)
    }

    /// Puts `meta` in place in the queue directory of `found` (see [`replace_meta`]).
    fn place_meta(found: &Found, meta: &Meta) -> Result<()> {
        replace_meta(found.dir.0, meta, None).map(drop)
    }

    /// Gives the files of the queue in `found`, whose `meta` changed from `old` to `new` (in
    /// place), the new owner and mode, and marks the change.
    fn apply_meta(&self, found: &Found, unlinked: bool, old: &Meta, new: &Meta) -> Result<()> {
        let changed = || {
            // Marks the change, after the new `meta` is in place: a chown to nobody new moves
            // only the FIFO's ctime (anyone may), which every `fstat` cache compares.
            sys::fchownat(found.dir.0, c"fifo", u32::MAX, u32::MAX, libc::AT_SYMLINK_NOFOLLOW);
        };
        if unlinked {
            changed();
            return Ok(());
        }
        if (new.uid, new.gid) != (old.uid, old.gid) {
            for entry in [c"data", c"fifo"] {
                let fd = openat(found.dir.0, entry.to_bytes(), libc::O_RDONLY | libc::O_NONBLOCK, 0)?;
                sys::fchown(fd.0, new.uid, new.gid);
            }
            sys::fchown(found.dir.0, new.uid, new.gid);
        }
        let fmode = file_mode(new.mode);
        crate::emu::namespace::chmod_entry(found.dir.0, c"fifo", fmode, libc::S_IFIFO, new.uid, |st| fifo_names_all_here(found.dir.0, st))?;
        crate::emu::namespace::chmod_entry(found.dir.0, DATA, fmode, libc::S_IFREG, new.uid, crate::emu::namespace::one_link)?;
        forget_queue(found.dir_id);
        changed();
        Ok(())
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

/// How many queues this process keeps mapped after their last descriptor here closed (the
/// least recently used go first).
const RECENT_QUEUES: usize = 256;

/// How much address space the queues this process keeps mapped may take together (the least
/// recently used go first, the last used stays): a queue's segment is reserved whole (its
/// file is sparse), and the largest queues the limits allow take 2 TiB each, so that without
/// a bound a few dozen remembered would leave no room for the next one. 256 queues of up to
/// 4 GiB fit.
const RECENT_MAPPED_BYTES: u64 = 1 << 40;

/// How many of them may hold their FIFO (see [`HeldFifo`]) at least, whatever the descriptor
/// limit.
const HELD_FIFOS_MIN: usize = 8;

/// The share of the program's descriptors its held FIFOs may take (one in this many): each is
/// a descriptor of the program's, counted against its RLIMIT_NOFILE.
const HELD_FIFOS_SHARE: u64 = 64;

/// How many remembered queues may hold their FIFO now: one descriptor in [`HELD_FIFOS_SHARE`]
/// of the soft RLIMIT_NOFILE, at least [`HELD_FIFOS_MIN`], at most one per remembered queue
/// ([`RECENT_QUEUES`]; 16 with the common soft limit of 1024, every one from 16 384). Read at
/// each first open (the hot reopen reads the figure it left): a program that lowers its
/// limit lets the surplus go then.
fn held_fifos_allowed() -> usize {
    #[cfg(test)]
    if let Some(cap) = tests::HELD_FIFOS_CAP.get() {
        return cap;
    }
    let share = sys::soft_rlimit(libc::RLIMIT_NOFILE).map_or(u64::MAX, |soft| soft / HELD_FIFOS_SHARE);
    usize::try_from(share).unwrap_or(usize::MAX).clamp(HELD_FIFOS_MIN, RECENT_QUEUES)
}

/// A queue this process mapped lately: its mapping, directory, FIFO and meta, as the
/// descriptions opened from it share them, and its FIFO held.
struct RecentQueue {
    handle: Arc<QueueHandle>,
    /// [`name_hash`] of the handle's name: a look for a name compares the table's compact
    /// copy of it first, and the name (behind the handle) only where it matches.
    name_hash: u64,
    /// The length of the queue's mapping (see [`RECENT_MAPPED_BYTES`]).
    mapped_bytes: u64,
    /// The handle's directory and FIFO identities, kept in the entry as `name_hash` is: the
    /// looks by them go through every entry.
    dir_id: (u64, u64),
    fifo_id: (u64, u64),
    /// Where the handle's `meta` gives the FIFO a second name: the queue may be opened again
    /// by that name (see `Store::open_recent`).
    reopen: Option<Reopen>,
    held: Option<HeldFifo>,
}

/// How a remembered queue is opened again by its FIFO's second name.
#[derive(Clone, Copy)]
struct Reopen {
    /// Whether that open is the permission check (see [`access_checked_by_open`], of the
    /// FIFO's status seen after the `meta` was read); otherwise the caller's credentials are.
    open_checks_access: bool,
}

/// A write-only descriptor of a remembered queue's FIFO, kept with its [`RecentQueue`]: the
/// kernel allocates a FIFO's pipe at its first open and frees it at its last close, which
/// costs every open of a queue nobody else holds open; held, the pipe stays. Being no reader,
/// it does not make the queue look open (see the module comment). Closed only while it is
/// still that FIFO: a program that closes descriptors it does not know may have closed it and
/// reused the number.
struct HeldFifo {
    fd: c_int,
    fifo_id: (u64, u64),
}

impl HeldFifo {
    /// Opens the FIFO `fifo_id` in the queue directory `dir` (while this process has it open
    /// for reading: a write-only open finds a reader).
    fn open(dir: c_int, fifo_id: (u64, u64)) -> Option<HeldFifo> {
        HeldFifo::hold(openat(dir, b"fifo", libc::O_WRONLY | libc::O_NONBLOCK, 0).ok()?, fifo_id)
    }

    /// Opens the FIFO `fifo_id` by `path` below `posix/`, a path [`Store::open_recent`] just
    /// opened it by (see [`HeldFifo::open`]).
    fn open_below(posix: c_int, path: &std::ffi::CStr, fifo_id: (u64, u64)) -> Option<HeldFifo> {
        let flags = libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW;
        let fd = sys::openat2(posix, path, flags, sys::RESOLVE_DOWNWARD_NO_LINKS);
        HeldFifo::hold((fd >= 0).then_some(Fd(fd))?, fifo_id)
    }

    /// Keeps `fd`, above the program's descriptors, if it is the FIFO `fifo_id`.
    fn hold(fd: Fd, fifo_id: (u64, u64)) -> Option<HeldFifo> {
        let held = HeldFifo { fd: sys::move_high(fd.take()), fifo_id };
        fdtable::identity(held.fd).is_some_and(|(id, is_fifo)| is_fifo && id == fifo_id).then_some(held)
    }
}

impl Drop for HeldFifo {
    fn drop(&mut self) {
        if fdtable::identity(self.fd).is_some_and(|(id, is_fifo)| is_fifo && id == self.fifo_id) {
            sys::close(self.fd);
        }
    }
}

/// The queues this process mapped lately (see [`RecentQueues`]), so that opening one again
/// costs two system calls besides the descriptor's own (see `Store::open_recent`) instead of
/// opening, mapping and validating it and reading its meta, and closing it no unmap. An
/// entry's `meta` is used only while the queue's FIFO keeps the status-change time it had when
/// that `meta` was known current (every change of `meta` moves it afterwards); the mapping
/// while the queue is not marked unlinked. An entry goes when this process unlinks the queue
/// or sees it destroyed, when newer ones push it out, or, once another process unlinked it, at
/// this process's next `mq_open` of a queue it does not remember or `mq_unlink` (see
/// [`Store::forget_destroyed`]): until then it keeps the queue's memory mapped here, as the kernel
/// would not.
static RECENT: ForkSafe<RecentQueues> = ForkSafe::new(RecentQueues::new(HELD_FIFOS_MIN), None);

/// The handle this process remembers for the FIFO `fifo_id`, while its queue is still named
/// and sound: None when it was unlinked since (or destroyed, and its FIFO's inode given to a
/// new queue), poisoned or damaged.
fn recent_handle(fifo_id: (u64, u64)) -> Option<Arc<QueueHandle>> {
    let handle = RECENT.with(|r| r.iter().find(|e| e.fifo_id == fifo_id).map(|e| e.handle.clone()))?;
    sound(&handle).then_some(handle)
}

/// Whether a remembered queue may serve a new open: not marked unlinked, poisoned or damaged,
/// and its segment still that queue's (not given to another by `spare`).
fn sound(handle: &QueueHandle) -> bool {
    let q = &handle.queue;
    q.header().unlinked.load(std::sync::atomic::Ordering::SeqCst) == 0 && !q.poisoned() && q.recheck().is_ok() && q.is_of_fifo(handle.fifo_id.1)
}

/// A fresh link token, never 0: a random seed (read once), this process's pid (a forked child
/// inherits the seed and the count) and a count, mixed (SplitMix64's finaliser, a bijection).
/// Tokens need not be secret (anyone may read `meta`), only never reused in a queue's
/// directory.
fn new_fifo_link() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seed = *SEED.get_or_init(crate::os::random::u64);
    let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut z = seed ^ (crate::os::ids::pid() as u64) << 40;
    z = z.wrapping_add(count.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)).max(1)
}

/// Whether a `meta` read after the coarse clock said `now` (ns) is current for as long as its
/// queue's FIFO keeps the status-change time `changed`, seen before or after that read. Every
/// change of `meta` moves the FIFO's ctime after the new `meta` is in place, and a change
/// later than `now` stamps a ctime no older than `now`, even where timestamps are coarse
/// (without the kernel's fine-grained ones for a ctime someone has seen). So a `changed`
/// older than `now` was stamped by a change whose `meta` the read saw, and any later change
/// moves the ctime away from it; a `changed` within the clock's last tick proves nothing.
fn settled(changed: (i64, i64), now: u64) -> bool {
    (changed.0 as i128) * 1_000_000_000 + (changed.1 as i128) < now as i128
}

/// This process's mapping of the queue whose directory is `dir_id` (and FIFO `fifo_id`, and
/// `meta` giving the FIFO the second name `fifo_link`, when given), if it has one still valid
/// (see [`RECENT`]).
fn recent_mapping(dir_id: (u64, u64), fifo_id: Option<(u64, u64)>, fifo_link: Option<u64>) -> Option<Arc<Queue>> {
    let remembered = |e: &RecentQueue| e.dir_id == dir_id && fifo_id.is_none_or(|f| f == e.fifo_id) && fifo_link.is_none_or(|l| l == e.handle.meta.fifo_link);
    let queue = RECENT.with(|r| r.iter().find(|e| remembered(e)).map(|e| e.handle.queue.clone()))?;
    if !queue.poisoned() && queue.recheck().is_ok() {
        return Some(queue);
    }
    drop(queue);
    forget_queue(dir_id);
    None
}

/// Remembers the queue `handle` (its mapping and its `meta`, with the FIFO's status seen after
/// that `meta` was read, if known); returns it, to be shared by the descriptions made from it.
/// With `dir` (the queue's directory, while this process has the FIFO open), the FIFO is held
/// (see [`HeldFifo`]) unless it is already, letting go of the least recently used queue's held
/// FIFO where more than [`held_fifos_allowed`] would be.
fn remember_queue(handle: QueueHandle, fifo_status: Option<&libc::stat>, dir: Option<c_int>) -> Arc<QueueHandle> {
    let reopen = fifo_status.filter(|_| handle.meta.fifo_link != 0).map(|st| Reopen { open_checks_access: access_checked_by_open(st, &handle.meta) });
    let (dir_id, fifo_id) = (handle.dir_id, handle.fifo_id);
    let held_already = RECENT.with(|r| r.iter().any(|e| e.dir_id == dir_id && e.held.as_ref().is_some_and(|h| h.fifo_id == fifo_id)));
    let held = if held_already { None } else { dir.and_then(|dir| HeldFifo::open(dir, fifo_id)) };
    let handle = Arc::new(handle);
    let mapped_bytes = handle.queue.geometry().total_size;
    let mut entry = RecentQueue { reopen, name_hash: name_hash(&handle.name), mapped_bytes, dir_id, fifo_id, handle: handle.clone(), held };
    let held_max = held_fifos_allowed();
    let evicted = RECENT.with(|r| {
        let mut old = r.position(|e| e.dir_id == dir_id).map(|i| r.remove(i));
        if entry.held.is_none() {
            entry.held = old.as_mut().and_then(|o| o.held.take_if(|h| h.fifo_id == fifo_id));
        }
        r.push(entry);
        r.set_held_max(held_max);
        let mut let_go = Vec::new();
        while r.held() > held_max {
            let_go.extend(r.let_go_least_recent(None));
        }
        let mut evicted = Vec::new();
        while r.len() > 1 && (r.len() > RECENT_QUEUES || r.mapped_bytes() > RECENT_MAPPED_BYTES) {
            evicted.extend(r.remove_least_recent());
        }
        (old, evicted, let_go)
    });
    // Unmapped and closed outside the lock.
    drop(evicted);
    handle
}

/// Keeps `held` with the remembered queue `handle`, if it is still remembered and holds no
/// FIFO yet, and fewer than [`held_fifos_allowed`] are held (else `held` is closed).
fn hold_fifo(handle: &QueueHandle, held: Option<HeldFifo>) {
    let Some(held) = held else { return };
    let unused = RECENT.with(|r| match r.position(|e| e.dir_id == handle.dir_id && e.held.is_none()) {
        Some(_) if r.held() >= r.held_max() => Some(held),
        Some(at) => {
            r.hold(at, held);
            None
        }
        None => Some(held),
    });
    // Closed outside the lock.
    drop(unused);
}

/// Marks the queue in `found` unlinked in its segment (see `PosixHeader::unlinked`), before
/// its name goes. The mark is stored before the rename, and a closer reads it after its close:
/// so either the closer sees it and looks for the name, or its close came before the
/// unlinker's test whether the queue is still open. Where the segment cannot be mapped (damaged,
/// or the unlinker may not open it), closers are not told: the next creator collects it.
/// `mapped`: this process's mapping of it, where the caller holds one.
fn mark_unlinked(found: &Found, mapped: Option<&Arc<Queue>>) {
    let sound = mapped.filter(|q| !q.poisoned() && q.recheck().is_ok()).cloned();
    let queue = match sound.or_else(|| recent_mapping(found.dir_id, None, None)) {
        Some(q) => Some(q),
        None => segment::open_mapped(found.dir.0, DATA, HEADER_SIZE, |e| e).ok().and_then(|m| Queue::from_mapping(m).ok()).map(Arc::new),
    };
    if let Some(q) = queue {
        q.header().unlinked.store(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The `meta` of open queues as this process last read it for `fstat`, with the FIFO's ctime
/// then: still current while the FIFO's ctime is the same, since every change of `meta` moves
/// it afterwards. Kept only when that ctime was older than the coarse clock read before the
/// `meta` was (see [`settled`]).
struct MetaSeen {
    dir_id: (u64, u64),
    fifo_changed: (i64, i64),
    meta: Meta,
}

/// How many queues' `meta` [`MetaSeen`] keeps (the least recently read go first).
const METAS_SEEN: usize = 16;

static METAS: ForkSafe<Vec<MetaSeen>> = ForkSafe::new(Vec::new(), None);

impl MetaSeen {
    fn lookup(dir_id: (u64, u64), fifo_changed: (i64, i64)) -> Option<Meta> {
        METAS.with(|m| m.iter().find(|e| e.dir_id == dir_id && e.fifo_changed == fifo_changed).map(|e| e.meta))
    }

    /// Keeps `meta`, read after the coarse clock said `now` (ns) and the FIFO's ctime
    /// `fifo_changed`, if that ctime was older than `now`.
    fn remember(dir_id: (u64, u64), fifo_changed: (i64, i64), now: u64, meta: Meta) {
        let fresh = !settled(fifo_changed, now);
        METAS.with(|m| {
            m.retain(|e| e.dir_id != dir_id);
            if fresh {
                return;
            }
            if m.len() == METAS_SEEN {
                m.remove(0);
            }
            m.push(MetaSeen { dir_id, fifo_changed, meta });
        });
    }
}

/// A queue name's hash, which [`RecentQueue`] keeps.
fn name_hash(name: &[u8]) -> u64 {
    fnv1a(name.iter().copied())
}

/// Forgets the remembered queues that were unlinked since (or whose mapping is poisoned): none
/// can be opened again by its name, and a destroyed queue's memory is freed only when the last
/// process that maps it lets it go. A look at each one's segment header, no system call.
fn sweep_destroyed() {
    let gone: Vec<RecentQueue> = RECENT.with(|r| {
        let mut gone = Vec::new();
        let mut i = 0;
        while i < r.len() {
            // One open here (a description shares the handle) is forgotten as it closes, by
            // the close that may destroy it and keep its spare.
            let (handle, q) = (&r.get(i).handle, &r.get(i).handle.queue);
            let unused_here = Arc::strong_count(handle) == 1;
            if unused_here && (q.header().unlinked.load(std::sync::atomic::Ordering::SeqCst) != 0 || q.poisoned()) {
                gone.push(r.remove(i));
            } else {
                i += 1;
            }
        }
        gone
    });
    // Unmapped and closed outside the lock.
    drop(gone);
}

fn forget_queue(dir_id: (u64, u64)) {
    drop(take_remembered(dir_id));
}

/// Forgets the queue whose directory is `dir_id`, as [`forget_queue`] does, and gives its
/// handle (its FIFO, if held, is closed).
fn take_remembered(dir_id: (u64, u64)) -> Option<Arc<QueueHandle>> {
    let gone = RECENT.with(|r| r.position(|e| e.dir_id == dir_id).map(|i| r.remove(i)))?;
    Some(gone.handle)
}

fn dead_entry_name(dir_id: (u64, u64)) -> String {
    format!("q{}-{}", dir_id.0, dir_id.1)
}

/// Whether `posix-tmp/<entry>` is a queue whose builder died: its builder holds an exclusive
/// flock on the directory while it builds (released by the kernel when it dies), so a free lock
/// means a dead builder — unless it was caught between `mkdirat` and `flock`, hence also: the
/// pid in its name ([`unique_name`]) is gone, or (a builder in another pid namespace) it has not
/// changed for a while. Only its owner or root can open it (0700).
fn abandoned_build(tmp: c_int, entry: &[u8]) -> bool {
    const QUIET_SECONDS: i64 = 10;
    let Some(pid) = std::str::from_utf8(entry).ok().and_then(|e| e.strip_prefix("new-")).and_then(|r| r.split('-').next()).and_then(|p| p.parse::<i32>().ok())
    else {
        return false;
    };
    // A live process's entry changed lately (a build, or a spare directory in use: see
    // `spare`) is not looked into: two cheap questions before an open and a lock.
    let quiet = |st: &libc::stat| crate::os::clock::now_sec() - st.st_ctime >= QUIET_SECONDS;
    let c_entry = c(entry);
    if !sys::process_gone(pid) && !sys::stat_at(tmp, &c_entry, libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| quiet(&st)) {
        return false;
    }
    let Ok(dir) = openat(tmp, entry, libc::O_RDONLY | libc::O_DIRECTORY, 0) else { return false };
    if sys::flock(dir.0, libc::LOCK_EX | libc::LOCK_NB) != 0 {
        return false;
    }
    let Ok(st) = sys::stat_of(dir.0) else { return false };
    sys::process_gone(pid) || quiet(&st)
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let ts = crate::os::clock::monotonic();
    let pid = crate::os::ids::pid();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{pid}-{n}-{}{:09}", ts.tv_sec, ts.tv_nsec)
}

/// Writes a new queue's `meta` into its directory `dir`, which nobody else can reach yet (see
/// [`write_meta_file`]).
fn write_new_meta(dir: c_int, meta: &Meta, umask: u32) -> Result<Option<u64>> {
    write_meta_file(dir, c"meta", meta, Some(umask))
}

/// Replaces the `meta` of the queue directory `dir` at once: written aside and renamed over
/// the old one, so that a reader finds the old one or the new one, whole. Gives the new file's
/// inode (see [`write_meta_file`]).
fn replace_meta(dir: c_int, meta: &Meta, umask: Option<u32>) -> Result<Option<u64>> {
    let tmp = c(unique_name("meta").as_bytes());
    let written = write_meta_file(dir, &tmp, meta, umask);
    if written.is_ok() && sys::renameat2(dir, &tmp, dir, c"meta", 0) == 0 {
        return written;
    }
    let e = written.err().unwrap_or_else(Errno::last);
    sys::unlinkat(dir, &tmp, 0);
    Err(e)
}

/// Writes `meta` into a new file `name` of the directory `dir` (exclusively; mode 0444
/// whatever the umask `umask`, None: not known), and gives the new file's inode. ENOSPC when
/// it could not all be written.
fn write_meta_file(dir: c_int, name: &std::ffi::CStr, meta: &Meta, umask: Option<u32>) -> Result<Option<u64>> {
    let meta_fd = openat(dir, name.to_bytes(), libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o444)?;
    let text = meta.render();
    // SAFETY: writes a valid buffer to an open file.
    if unsafe { libc::write(meta_fd.0, text.as_ptr().cast(), text.len()) } != text.len() as isize {
        return Err(Errno::ENOSPC);
    }
    if umask.is_none_or(|umask| 0o444 & umask != 0) {
        sys::fchmod(meta_fd.0, 0o444);
    }
    Ok(sys::stat_of(meta_fd.0).ok().map(|st| st.st_ino))
}

fn read_meta(dir: c_int) -> Result<Meta> {
    read_meta_with_writer(dir).map(|(m, _)| m)
}

/// A queue's `meta` and the uid that owns the file (who wrote it). `O_NONBLOCK` and the type
/// check keep a FIFO planted in its place from blocking the reader.
fn read_meta_with_writer(dir: c_int) -> Result<(Meta, u32)> {
    let f = openat(dir, b"meta", libc::O_RDONLY | libc::O_NONBLOCK, 0).map_err(|e| match e {
        // A link or a directory in its place: a damaged queue.
        Errno::ELOOP | Errno::EISDIR | Errno::ENXIO => Errno::EIO,
        e => e,
    })?;
    let st = sys::stat_of(f.0)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Errno::EIO);
    }
    let mut buf = [0u8; 512];
    // SAFETY: reads into a valid buffer.
    let n = unsafe { libc::read(f.0, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return Err(Errno::EIO);
    }
    let meta = std::str::from_utf8(&buf[..n as usize]).ok().and_then(Meta::parse).ok_or(Errno::EIO)?;
    Ok((meta, st.st_uid))
}

/// Whether every name of the FIFO whose status is `st` is in the queue directory `dir`, as
/// `fifo` or a second name (for `namespace::chmod_entry`: a name elsewhere would be a hard
/// link its owner made to aim the change at another user's FIFO). While another process
/// changes the queue's `meta`, the FIFO has a third name for an instant: its names are counted
/// again (from the link count of the file itself) before the answer is no.
fn fifo_names_all_here(dir: c_int, st: &libc::stat) -> bool {
    // One name: the one the caller opened in `dir`.
    if st.st_nlink == 1 {
        return true;
    }
    let id = (st.st_dev, st.st_ino);
    (0..FIFO_NAME_LOOKS).any(|look| {
        if look > 0 {
            // SAFETY: sched_yield has no arguments and cannot fail.
            unsafe { libc::sched_yield() };
        }
        let here = list_dir_fifo_names(dir).iter().filter(|n| same_file(dir, n, st)).count() as u64;
        sys::stat_at(dir, c"fifo", libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|now| (now.st_dev, now.st_ino) == id && now.st_nlink == here)
    })
}

/// The names in the queue directory `dir` that are the FIFO's or may be: `fifo` and `fifo.*`.
fn list_dir_fifo_names(dir: c_int) -> Vec<Vec<u8>> {
    list_dir(dir).into_iter().filter(|n| n == b"fifo" || n.starts_with(FIFO_LINK_PREFIX)).collect()
}

/// Whether `name` in `dir` is the file whose status is `st` (not following a link).
fn same_file(dir: c_int, name: &[u8], st: &libc::stat) -> bool {
    sys::stat_at(dir, &c(name), libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|s| (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino))
}

/// Removes the second names of the FIFO in the queue directory `dir` that its `meta` (whose
/// token is `current`) does not give — what a process killed while changing `meta` leaves, a
/// name made for a `meta` that never took its place — when the FIFO has more names than it
/// should (one `fstatat` otherwise). Without this, such a name would make every later change
/// refuse the FIFO as one with links of unknown origin (see `namespace::chmod_entry`).
fn remove_stray_fifo_links(dir: c_int, current: u64) {
    let names = if current != 0 { FIFO_LINKS } else { 1 };
    if sys::stat_at(dir, c"fifo", libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| st.st_nlink > names) {
        let keep = fifo_link_bytes(current);
        for name in list_dir_fifo_names(dir).into_iter().filter(|n| n != b"fifo" && n[..] != keep[..]) {
            sys::unlinkat(dir, &c(&name), 0);
        }
    }
}

#[cfg(test)]
#[path = "store/spare_tests.rs"]
mod spare_tests;

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
    fn a_fifo_link_name_is_its_token_in_sixteen_hex_digits() {
        assert_eq!(fifo_link_name(0x0123_4567_89ab_cdef).to_bytes(), b"fifo.0123456789abcdef");
        assert_eq!(fifo_link_name(1).to_bytes(), b"fifo.0000000000000001");
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
    fn the_fifo_open_is_the_permission_check_only_where_every_class_is_all_or_nothing() {
        let fifo = |uid: u32, gid: u32, mode: u32| {
            // SAFETY: stat is plain C data; all-zero is valid before the fields are set.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            (st.st_uid, st.st_gid, st.st_mode) = (uid, gid, libc::S_IFIFO | mode);
            st
        };
        let meta = |mode: u32| Meta { uid: 5, gid: 6, mode, ..Meta::default() };
        for mode in [0o600, 0o660, 0o666, 0o606, 0o000, 0o700, 0o766] {
            assert!(access_checked_by_open(&fifo(5, 6, file_mode(mode)), &meta(mode)), "{mode:o}");
        }
        for mode in [0o644, 0o604, 0o620, 0o400, 0o622] {
            assert!(!access_checked_by_open(&fifo(5, 6, file_mode(mode)), &meta(mode)), "{mode:o}: read");
        }
        assert!(!access_checked_by_open(&fifo(7, 6, 0o600), &meta(0o600)), "another owner");
        assert!(!access_checked_by_open(&fifo(5, 7, 0o660), &meta(0o660)), "another group");
        assert!(!access_checked_by_open(&fifo(5, 6, 0o666), &meta(0o600)), "a mode changed behind mqshim");
    }

    #[test]
    fn a_meta_is_settled_only_by_a_ctime_before_the_clock_read_before_it() {
        assert!(settled((10, 999_999_999), 11_000_000_000));
        assert!(!settled((11, 0), 11_000_000_000), "the same instant proves nothing");
        assert!(!settled((11, 1), 11_000_000_000));
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

    fn test_store(tag: &str, rlimit: u64, queues_max: i64) -> (Store, String) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let root = format!("/tmp/mqshim-posix-store-{tag}-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let limits = PosixLimits { msg_max: 10, msgsize_max: 64, msg_default: 10, msgsize_default: 64, queues_max, rlimit_msgqueue: Some(rlimit) };
        (Store::at(root.as_bytes(), limits).unwrap(), root)
    }

    fn close(fd: c_int) {
        fdtable::remove(fd);
        crate::os::sys::close(fd);
    }

    /// The remembered queues are the process's, shared by the tests that run at once: the tests
    /// that look for their own queues there, and the one that pushes every other out (it maps
    /// the largest queues), take turns. (Under the unit stress, a remembered queue was once
    /// gone by the time its test looked for it.)
    static RECENT_TURNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn recent_turn() -> std::sync::MutexGuard<'static, ()> {
        RECENT_TURNS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this process remembers the queue whose directory is `dir_id`.
    fn remembered(dir_id: (u64, u64)) -> bool {
        RECENT.with(|r| r.iter().any(|e| e.handle.dir_id == dir_id))
    }

    /// A remembered queue, made and closed: its directory's identity and its handle.
    fn made_and_closed(store: &Store, name: &QueueName) -> ((u64, u64), Arc<QueueHandle>) {
        close(store.open_queue(name, libc::O_CREAT | libc::O_RDWR, 0o600, None).unwrap());
        let handle = RECENT.with(|r| r.iter().find(|e| e.handle.name == name.bytes()).map(|e| e.handle.clone())).unwrap();
        (handle.dir_id, handle)
    }

    std::thread_local! {
        /// What [`held_fifos_allowed`] gives on this test's thread instead of its share of the
        /// descriptor limit, where set.
        pub(super) static HELD_FIFOS_CAP: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    }

    /// How many remembered queues hold their FIFO, once the table was checked whole.
    fn held_consistently() -> usize {
        RECENT.with(|r| {
            assert!(r.consistent(), "the remembered queues' table disagrees with its entries");
            r.held()
        })
    }

    #[test]
    fn the_remembered_queues_count_their_held_fifos_exactly_as_queues_come_and_go() {
        let _turn = recent_turn();
        let cap = HELD_FIFOS_MIN;
        HELD_FIFOS_CAP.set(Some(cap));
        let (store, root) = test_store("held", u64::MAX, 256);
        let names: Vec<QueueName> = (0..3 * cap).map(|i| QueueName::check(format!("held{i}").as_bytes()).unwrap()).collect();
        for name in &names {
            made_and_closed(&store, name);
            assert!(held_consistently() <= cap, "after making {:?}", name.bytes());
        }
        // Round the queues twice, more of them than hold a FIFO, then in reverse.
        for name in names.iter().chain(&names).chain(names.iter().rev()) {
            close(store.open_queue(name, libc::O_RDWR, 0, None).unwrap());
            assert!(held_consistently() <= cap, "after opening {:?} again", name.bytes());
        }
        for name in &names {
            store.unlink(name).unwrap();
            assert!(held_consistently() <= cap, "after unlinking {:?}", name.bytes());
        }
        HELD_FIFOS_CAP.set(None);
        let _ = std::fs::remove_dir_all(root);
    }

    /// A program that goes round as many queues as may hold their FIFO reopens each with its
    /// FIFO held (no pipe made and freed at every open), and one that lowers its descriptor
    /// limit lets the surplus go at its next first open.
    #[test]
    fn every_queue_a_program_goes_round_holds_its_fifo_within_the_share_allowed() {
        let _turn = recent_turn();
        let cap = 3 * HELD_FIFOS_MIN;
        HELD_FIFOS_CAP.set(Some(cap));
        let (store, root) = test_store("share", u64::MAX, 256);
        let names: Vec<QueueName> = (0..cap).map(|i| QueueName::check(format!("share{i}").as_bytes()).unwrap()).collect();
        for name in &names {
            made_and_closed(&store, name);
        }
        for name in names.iter().chain(&names) {
            close(store.open_queue(name, libc::O_RDWR, 0, None).unwrap());
        }
        let holds = |name: &QueueName| RECENT.with(|r| r.iter().any(|e| e.handle.name == name.bytes() && e.held.is_some()));
        let unheld: Vec<_> = names.iter().filter(|n| !holds(n)).map(|n| String::from_utf8_lossy(n.bytes()).into_owned()).collect();
        assert!(unheld.is_empty(), "opened in turn, yet without their FIFO held: {unheld:?}");
        assert_eq!(held_consistently(), cap);
        HELD_FIFOS_CAP.set(Some(HELD_FIFOS_MIN));
        made_and_closed(&store, &QueueName::check(b"share-lowered").unwrap());
        assert_eq!(held_consistently(), HELD_FIFOS_MIN, "held after the limit was lowered");
        for name in names.iter().chain([&QueueName::check(b"share-lowered").unwrap()]) {
            store.unlink(name).unwrap();
        }
        HELD_FIFOS_CAP.set(None);
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_queue_destroyed_elsewhere_is_forgotten_at_once_when_posix_dead_shows_it_and_soon_when_not() {
        let _turn = recent_turn();
        use std::sync::atomic::Ordering;
        let (store, root) = test_store("forget", u64::MAX, 256);
        // Unlinked by another process: marked, then moved into posix-dead/.
        let moved = QueueName::check(b"moved").unwrap();
        let (dir_id, handle) = made_and_closed(&store, &moved);
        store.forget_destroyed();
        handle.queue.header().unlinked.store(1, Ordering::SeqCst);
        drop(handle);
        let dead = c(dead_entry_name(dir_id).as_bytes());
        assert_eq!(sys::renameat2(store.ns.posix, moved.c(), store.ns.dead, &dead, libc::RENAME_NOREPLACE), 0);
        store.forget_destroyed();
        assert!(!remembered(dir_id), "posix-dead/ changed: looked at once");
        // Marked with posix-dead/ unchanged, as a change hidden by coarse timestamps would be:
        // looked for within the bound all the same.
        let hidden = QueueName::check(b"hidden").unwrap();
        let (dir_id, handle) = made_and_closed(&store, &hidden);
        store.forget_destroyed();
        handle.queue.header().unlinked.store(1, Ordering::SeqCst);
        drop(handle);
        let mut calls = 0;
        while remembered(dir_id) {
            store.forget_destroyed();
            calls += 1;
            assert!(calls <= crate::emu::namespace::LOOK_EVERY, "still remembered after {calls} calls");
        }
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_process_goes_round_more_of_the_largest_queues_than_its_address_space_could_keep_mapped() {
        let _turn = recent_turn();
        // 65536 x 16 MiB: a 2 TiB segment each; 64 of them would fill a 47-bit address space.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let root = format!("/tmp/mqshim-posix-store-largest-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let limits =
            PosixLimits { msg_max: 65536, msgsize_max: 16 << 20, msg_default: 10, msgsize_default: 64, queues_max: 256, rlimit_msgqueue: Some(u64::MAX) };
        let store = Store::at(root.as_bytes(), limits).unwrap();
        // SAFETY: mq_attr is plain integers; all zeros is valid.
        let mut attr: mq_attr = unsafe { std::mem::zeroed() };
        (attr.mq_maxmsg, attr.mq_msgsize) = (65536, 16 << 20);
        let names: Vec<QueueName> = (0..100).map(|i| QueueName::check(format!("largest{i}").as_bytes()).unwrap()).collect();
        for name in &names {
            close(store.open_queue(name, libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o600, Some(&attr)).expect("created"));
        }
        for name in &names {
            close(store.open_queue(name, libc::O_RDWR, 0, None).expect("opened again"));
        }
        for name in &names {
            store.unlink(name).unwrap();
        }
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_meta_being_replaced_reads_whole_as_the_old_one_or_the_new_one() {
        // A process that found a queue's directory reads its `meta` while the directory is
        // made another queue (`Store::renew_whole`): never missing, never empty.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let root = format!("/tmp/mqshim-posix-meta-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        std::fs::create_dir_all(&root).unwrap();
        let dir = openat(libc::AT_FDCWD, root.as_bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
        let old = Meta { uid: 0, gid: 0, mode: 0o600, maxmsg: 1, msgsize: 16, charge_uid: 0, charge_bytes: 112, fifo_link: 1 };
        let new = Meta { fifo_link: 2, ..old };
        write_new_meta(dir.0, &old, 0o022).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dir_fd = dir.0;
        let reader = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut reads, mut bad) = (0u64, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    reads += 1;
                    match read_meta(dir_fd) {
                        Ok(m) if m == old || m == new => {}
                        other => bad.push(other),
                    }
                }
                (reads, bad)
            })
        };
        for i in 0..5_000 {
            replace_meta(dir.0, if i % 2 == 0 { &new } else { &old }, Some(0o022)).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (reads, bad) = reader.join().unwrap();
        assert!(reads > 0 && bad.is_empty(), "{} of {reads} reads neither meta: {:?}", bad.len(), &bad[..bad.len().min(4)]);
        drop(dir);
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn the_charge_counter_admits_exactly_up_to_the_limit_and_heals_when_stale() {
        use std::sync::atomic::Ordering;
        let one = limits::posix_charge(10, 64).unwrap();
        let (store, root) = test_store("charge", 2 * one, 256);
        let uid = crate::os::creds::Creds::current().uid;
        let create = |n: &str| store.open_queue(&QueueName::check(n.as_bytes()).unwrap(), libc::O_CREAT | libc::O_RDWR, 0o600, None);
        let (a, b) = (create("a").unwrap(), create("b").unwrap());
        assert_eq!(create("c").err(), Some(Errno::EMFILE), "a third would pass the limit");
        // Unlinked but open: still charged, as on the kernel.
        store.unlink(&QueueName::check(b"b").unwrap()).unwrap();
        assert_eq!(create("c").err(), Some(Errno::EMFILE));
        close(b);
        let c = create("c").expect("the last close gave the charge back");
        // A counter left far too high (by processes killed after reserving) is corrected by the
        // exact count the first time it says no.
        store.unlink(&QueueName::check(b"c").unwrap()).unwrap();
        close(c);
        store.charges.of(uid).expect("this process's counter").store(u64::MAX / 2, Ordering::Relaxed);
        let d = create("d").expect("fits by the exact count");
        assert_eq!(store.charges.of(uid).unwrap().load(Ordering::Relaxed), 2 * one, "reset to the exact charge");
        for fd in [a, d] {
            close(fd);
        }
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn queues_max_counts_named_and_unlinked_but_open_queues() {
        let (store, root) = test_store("count", u64::MAX, 2);
        let name = |n: &str| QueueName::check(n.as_bytes()).unwrap();
        let create = |n: &str| store.open_queue(&name(n), libc::O_CREAT | libc::O_RDWR, 0o600, None);
        let (a, b) = (create("a").unwrap(), create("b").unwrap());
        assert_eq!(store.queue_count(None), 2);
        assert_eq!(create("c").err(), Some(Errno::ENOSPC));
        store.unlink(&name("a")).unwrap();
        assert_eq!(store.queue_count(None), 2, "unlinked while open: still counted");
        assert_eq!(create("c").err(), Some(Errno::ENOSPC));
        close(a);
        let c = create("c").expect("after the last close, a creator collects it");
        assert_eq!(store.queue_count(None), 2);
        for fd in [b, c] {
            close(fd);
        }
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_meta_charges_only_a_user_who_may_have_written_it() {
        let m = Meta { charge_uid: 1000, charge_bytes: 1 << 20, ..Meta::default() };
        assert_eq!(m.charged_uid(1000), 1000, "written by the user it names");
        assert_eq!(m.charged_uid(0), 1000, "written by root (a root process creating for itself)");
        assert_eq!(m.charged_uid(65534), 65534, "planted by another user: charges the planter");
    }

    #[test]
    fn meta_round_trips() {
        let m = Meta { uid: 1, gid: 2, mode: 0o640, maxmsg: 10, msgsize: 8192, charge_uid: 1, charge_bytes: 82880, fifo_link: u64::MAX };
        assert_eq!(Meta::parse(&m.render()), Some(m));
        assert_eq!(Meta::parse("garbage"), None);
        // An older mqshim's, without a second name for the FIFO.
        let older = "mqshim-posix-queue 1\nuid 1\ngid 2\nmode 640\nmaxmsg 10\nmsgsize 8192\ncharge_uid 1\ncharge_bytes 82880\n";
        assert_eq!(Meta::parse(older), Some(Meta { fifo_link: 0, ..m }));
    }
}
