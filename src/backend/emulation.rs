//! The emulation backend: every call served by mqshim's userspace queues (`emu`), in the
//! namespace `MQSHIM_DIR`, with the limits it is handed.
//!
//! The namespace is opened on first use; one that cannot be opened makes every call fail with
//! its errno, reported once on stderr.
//!
//! Every call that uses a queue's shared memory runs through `EmulatedBackend::contained`: the
//! one place where a mapping poisoned by the SIGBUS handler (its file truncated under it, see
//! `emu::engine::segment::containment`) turns the call into EIO.

use std::os::raw::{c_char, c_int, c_long, c_uint, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// What a supervisor (for a served process) or the trap hands the emulation with an
/// `mq_notify` whose SIGEV_THREAD is the system call's netlink form: see
/// `emu::posix::notify::carrier`.
pub use crate::emu::posix::notify::{netlink_form, NetlinkTarget, NOTIFY_COOKIE_LEN};

use libc::{key_t, mode_t, mq_attr, mqd_t, msqid_ds, sigevent, size_t, ssize_t, timespec};

use super::Backend;
use crate::config::BackendKind;
use crate::emu::engine::segment::containment;
use crate::emu::posix::limits::{LivePosixLimits, PosixLimits};
use crate::emu::posix::{self, PosixEmulation};
use crate::emu::sysctl::{self, Settings};
use crate::emu::sysv::limits::{LiveSysvLimits, SysvLimits};
use crate::emu::sysv::SysvEmulation;
use crate::emu::EmulationLimits;
use crate::errno::{Errno, Result};

/// Reads the limits before the namespace's sysctls, given the keys (`MQSHIM_LIMITS`'s names) of
/// the API whose limits are wanted: the layer above reads their /proc files (the other API's
/// half of what it gives is not used).
pub type ReadBase = Box<dyn Fn(&[&str]) -> EmulationLimits + Send + Sync>;

/// One of the two APIs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Posix,
    Sysv,
}

/// The keys of `api`'s limits: its sysctl files' (`msg_next_id` is no limit).
fn keys_of(api: Api) -> Vec<&'static str> {
    let dir: &[u8] = match api {
        Api::Posix => b"/proc/sys/fs/mqueue/",
        Api::Sysv => b"/proc/sys/kernel/",
    };
    sysctl::FILES.iter().filter(|f| f.path.starts_with(dir) && f.key != "msg_next_id").map(|f| f.key).collect()
}

pub struct EmulatedBackend {
    root: Vec<u8>,
    /// The limits before the namespace's sysctls: the stock defaults or the machine's `/proc`,
    /// and the process's own settings. Each API's half is made by `read_base` at the first call
    /// that needs one of its limits (see [`EmulatedBackend::refresh_limits`]); until then the
    /// half is `provisional`'s, which nothing reads.
    base_posix: OnceLock<PosixLimits>,
    base_sysv: OnceLock<SysvLimits>,
    read_base: ReadBase,
    provisional: EmulationLimits,
    /// The keys the process set itself (`MQSHIM_CONFIG`, `MQSHIM_LIMITS`): they win over the
    /// namespace's sysctls.
    per_process: Vec<&'static str>,
    /// The namespace's sysctls, as last read.
    settings: Settings,
    /// The registry's sysctl generation at this process's last `msgget` (u64::MAX: none yet).
    seen_generation: AtomicU64,
    /// The limits in force: `base` with the namespace's sysctls applied.
    current_posix: LivePosixLimits,
    current_sysv: LiveSysvLimits,
    posix: OnceLock<std::result::Result<PosixEmulation, Errno>>,
    sysv: OnceLock<std::result::Result<SysvEmulation, Errno>>,
}

/// Says once, on stderr, why the namespace cannot be used.
fn report_unusable(root: &[u8], what: &str, calls: &str, e: Errno) {
    crate::config::report(&[crate::config::ConfigProblem {
        variable: "MQSHIM_DIR",
        message: format!("'{}' cannot serve {what}: {}", String::from_utf8_lossy(root), e.desc()),
        outcome: crate::config::Outcome::Used(format!("{calls} calls fail with {e:?}")),
    }]);
}

/// The shared memory a call uses, for the poison check.
#[derive(Clone, Copy)]
enum Uses {
    /// The POSIX queue behind a descriptor.
    Descriptor(c_int),
    /// The System V registry, and the queue of an id when given.
    Sysv(Option<c_int>),
}

impl EmulatedBackend {
    /// Runs `call`, which uses `uses`, with SIGBUS containment: EIO before it starts when that
    /// memory is already poisoned, and after it when it was poisoned while the call ran (what
    /// the call read there was zeros). The fast path is one load of a process-wide counter on
    /// each side, which only the SIGBUS handler writes.
    #[inline(always)]
    fn contained<T>(&self, uses: Uses, call: impl FnOnce() -> Result<T>) -> Result<T> {
        let seen = containment::poisonings();
        if seen != 0 && self.poisoned(uses) {
            return Err(Errno::EIO);
        }
        let result = call();
        if containment::poisonings() != seen && self.poisoned(uses) {
            return Err(Errno::EIO);
        }
        result
    }

    #[cold]
    #[inline(never)]
    fn poisoned(&self, uses: Uses) -> bool {
        match uses {
            Uses::Descriptor(fd) => self.posix().is_ok_and(|p| p.poisoned(fd)),
            Uses::Sysv(id) => self.sysv().is_ok_and(|s| s.poisoned(id)),
        }
    }

    pub fn new(root: Vec<u8>, limits: EmulationLimits, per_process: Vec<&'static str>) -> EmulatedBackend {
        EmulatedBackend::deferred(root, limits, Box::new(move |_| limits), per_process)
    }

    /// The emulation whose limits before the namespace's sysctls are `read_base`'s, called with
    /// the keys of one API at the first call that needs one of its limits (a POSIX creation; any
    /// System V call; a read of a limit's file, both): the layer above reads the machine's
    /// `/proc` there, so that a program that only opens POSIX queues never reads it, and one
    /// that uses one API reads only that API's files. Until then the limits are `provisional`.
    pub fn deferred(root: Vec<u8>, provisional: EmulationLimits, read_base: ReadBase, per_process: Vec<&'static str>) -> EmulatedBackend {
        EmulatedBackend {
            settings: Settings::new(&root),
            root,
            base_posix: OnceLock::new(),
            base_sysv: OnceLock::new(),
            read_base,
            provisional,
            per_process,
            current_posix: LivePosixLimits::new(provisional.posix),
            current_sysv: LiveSysvLimits::new(provisional.sysv),
            seen_generation: AtomicU64::new(u64::MAX),
            posix: OnceLock::new(),
            sysv: OnceLock::new(),
        }
    }

    /// Reads the base limits of `api` (both APIs' for None) if they were not read yet: whether
    /// it read any now.
    fn read_base_of(&self, api: Option<Api>) -> bool {
        let mut read = false;
        if api != Some(Api::Sysv) {
            self.base_posix.get_or_init(|| {
                read = true;
                (self.read_base)(&keys_of(Api::Posix)).posix
            });
        }
        if api != Some(Api::Posix) {
            self.base_sysv.get_or_init(|| {
                read = true;
                (self.read_base)(&keys_of(Api::Sysv)).sysv
            });
        }
        read
    }

    /// The limits in force.
    fn limits(&self) -> EmulationLimits {
        EmulationLimits { posix: self.current_posix.get(), sysv: self.current_sysv.get() }
    }

    /// Follows the namespace's sysctls (one `fstatat` when they did not change): the process's
    /// base limits with every sysctl the namespace set applied, except the keys the process set
    /// itself. Called where the kernel reads them for a decision that outlives the call —
    /// `mq_open` that creates a queue, `msgget` (when the registry's sysctl generation moved), `msgctl`
    /// IPC_SET, IPC_INFO and MSG_INFO — and by reads of their files; `api` is the API whose limits
    /// the caller needs (None: both), whose base is read first if it was not yet.
    fn refresh_limits(&self, api: Option<Api>) {
        let values = if self.read_base_of(api) {
            // A base read now has no sysctl applied yet: the settings as they are.
            self.settings.read_again()
        } else {
            match self.settings.changed() {
                Some(values) => values,
                None => return,
            }
        };
        let mut limits = EmulationLimits {
            posix: self.base_posix.get().copied().unwrap_or(self.provisional.posix),
            sysv: self.base_sysv.get().copied().unwrap_or(self.provisional.sysv),
        };
        for (key, value) in &values {
            if !self.per_process.contains(&key.as_str()) {
                limits.set_by_key(key, *value);
            }
        }
        self.current_posix.set(limits.posix);
        self.current_sysv.set(limits.sysv);
        if let Some(Ok(p)) = self.posix.get() {
            p.set_limits(limits.posix);
        }
        if let Some(Ok(s)) = self.sysv.get() {
            s.set_limits(limits.sysv);
        }
    }

    /// Sets the sysctl `file` to `value` for the namespace.
    fn set_sysctl(&self, file: &sysctl::SysctlFile, value: i64) -> Result<()> {
        if file.key == "msg_next_id" {
            self.sysv()?.set_next_id(value as i32)?;
        } else {
            self.settings.store(file.key, value)?;
            self.sysv()?.bump_sysctl_generation();
        }
        self.refresh_limits(None);
        Ok(())
    }

    pub fn posix(&self) -> Result<&PosixEmulation> {
        self.posix
            .get_or_init(|| {
                PosixEmulation::new(&self.root, self.current_posix.get())
                    .inspect_err(|e| report_unusable(&self.root, "as the emulation's namespace", "POSIX queue", *e))
            })
            .as_ref()
            .map_err(|e| *e)
    }

    pub fn sysv(&self) -> Result<&SysvEmulation> {
        self.sysv
            .get_or_init(|| {
                // Sends and receives read `msgmax` with no refresh before.
                self.refresh_limits(Some(Api::Sysv));
                SysvEmulation::new(&self.root, self.current_sysv.get())
                    .inspect_err(|e| report_unusable(&self.root, "for System V queues", "System V queue", *e))
            })
            .as_ref()
            .map_err(|e| *e)
    }
}

impl Backend for EmulatedBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Emulate
    }

    unsafe fn mq_open(&self, name: *const c_char, oflag: c_int, mode: mode_t, attr: *mut mq_attr, fortify: bool) -> Result<mqd_t> {
        if fortify && oflag & libc::O_CREAT != 0 {
            // glibc's __mq_open_2 aborts here ("invalid mq_open call"); let it say so itself.
            // SAFETY: the caller's arguments, as the program passed them.
            return crate::errno::check(unsafe { crate::real::__mq_open_2(name, oflag) });
        }
        let seen = containment::poisonings();
        let posix = self.posix()?;
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's). The limits are brought up to date only for a creation.
        let fd = unsafe { posix.open(name, oflag, mode, attr, &|| self.refresh_limits(Some(Api::Posix))) }?;
        if containment::poisonings() != seen && self.poisoned(Uses::Descriptor(fd)) {
            // Mapped as its file was truncated: the descriptor goes again.
            let _ = self.descriptor_closing(fd);
            return Err(Errno::EIO);
        }
        Ok(fd)
    }

    unsafe fn mq_close(&self, mqdes: mqd_t) -> Result<c_int> {
        match self.descriptor_closing(mqdes) {
            Some(r) => r,
            // mq_close is close(2): any other descriptor is closed too.
            // SAFETY: the caller's descriptor.
            None => crate::errno::check(unsafe { crate::real::close(mqdes) }),
        }
    }

    unsafe fn mq_unlink(&self, name: *const c_char) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's).
        unsafe { self.posix()?.unlink(name) }
    }

    unsafe fn mq_send(&self, mqdes: mqd_t, msg: *const c_char, len: size_t, prio: c_uint, timeout: Option<*const timespec>) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's).
        self.contained(Uses::Descriptor(mqdes), || unsafe { self.posix()?.send(mqdes, msg, len, prio, timeout) })
    }

    unsafe fn mq_receive(&self, mqdes: mqd_t, msg: *mut c_char, len: size_t, prio: *mut c_uint, timeout: Option<*const timespec>) -> Result<ssize_t> {
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's).
        self.contained(Uses::Descriptor(mqdes), || unsafe { self.posix()?.receive(mqdes, msg, len, prio, timeout) })
    }

    unsafe fn mq_getattr(&self, mqdes: mqd_t, attr: *mut mq_attr) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's).
        self.contained(Uses::Descriptor(mqdes), || unsafe { self.posix()?.getattr(mqdes, attr) })
    }

    unsafe fn mq_setattr(&self, mqdes: mqd_t, new: *const mq_attr, old: *mut mq_attr) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's).
        self.contained(Uses::Descriptor(mqdes), || unsafe { self.posix()?.setattr(mqdes, new, old) })
    }

    unsafe fn mq_notify(&self, mqdes: mqd_t, sev: *const sigevent) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's).
        self.contained(Uses::Descriptor(mqdes), || unsafe { self.posix()?.notify(mqdes, sev) })
    }

    unsafe fn mq_send_at(&self, mqdes: mqd_t, msg: *const c_char, len: size_t, prio: c_uint, due: *const timespec, handle: *mut u64) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's).
        self.contained(Uses::Descriptor(mqdes), || unsafe { self.posix()?.send_at(mqdes, msg, len, prio, due, handle) })
    }

    unsafe fn mq_cancel(&self, mqdes: mqd_t, handle: u64) -> Result<c_int> {
        self.contained(Uses::Descriptor(mqdes), || self.posix()?.cancel(mqdes, handle))
    }

    unsafe fn msgget(&self, key: key_t, flags: c_int) -> Result<c_int> {
        self.contained(Uses::Sysv(None), || {
            let sysv = self.sysv()?;
            // One load: the settings file is looked at only when the registry says it moved.
            let generation = sysv.sysctl_generation();
            if self.seen_generation.swap(generation, Ordering::Relaxed) != generation {
                self.refresh_limits(Some(Api::Sysv));
            }
            sysv.msgget(key, flags)
        })
    }

    unsafe fn msgsnd(&self, id: c_int, msgp: *const c_void, size: size_t, flags: c_int) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's).
        self.contained(Uses::Sysv(Some(id)), || unsafe { self.sysv()?.msgsnd(id, msgp, size, flags) })
    }

    unsafe fn msgrcv(&self, id: c_int, msgp: *mut c_void, size: size_t, typ: c_long, flags: c_int) -> Result<ssize_t> {
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's).
        self.contained(Uses::Sysv(Some(id)), || unsafe { self.sysv()?.msgrcv(id, msgp, size, typ, flags) })
    }

    unsafe fn msgctl(&self, id: c_int, cmd: c_int, buf: *mut msqid_ds) -> Result<c_int> {
        // IPC_RMID of a poisoned (truncated) queue removes it: see `SysvEmulation::remove_id`.
        let uses = Uses::Sysv(if cmd == libc::IPC_RMID { None } else { Some(id) });
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's).
        self.contained(uses, || unsafe {
            let sysv = self.sysv()?;
            // The commands that read a limit (IPC_STAT, which programs poll, does not).
            if matches!(cmd, libc::IPC_SET | libc::IPC_INFO | libc::MSG_INFO) {
                self.refresh_limits(Some(Api::Sysv));
            }
            sysv.msgctl(id, cmd, buf)
        })
    }

    unsafe fn msgsnd_at(&self, id: c_int, msgp: *const c_void, size: size_t, flags: c_int, due: *const timespec, handle: *mut u64) -> Result<c_int> {
        // SAFETY: the caller's arguments, passed on under this method's contract (the same as
        // the emulation's).
        self.contained(Uses::Sysv(Some(id)), || unsafe { self.sysv()?.msgsnd_at(id, msgp, size, flags, due, handle) })
    }

    unsafe fn msg_cancel(&self, id: c_int, handle: u64) -> Result<c_int> {
        self.contained(Uses::Sysv(Some(id)), || self.sysv()?.msg_cancel(id, handle))
    }

    fn has_descriptors(&self) -> bool {
        posix::fdtable::any()
    }

    fn owns_descriptor(&self, fd: c_int) -> bool {
        posix::fdtable::owns(fd)
    }

    fn descriptor_closing(&self, fd: c_int) -> Option<Result<c_int>> {
        let d = posix::fdtable::take(fd)?;
        Some(self.posix().and_then(|p| p.close(fd, d)))
    }

    fn descriptor_duplicated(&self, old: c_int, new: c_int) {
        posix::fdtable::duplicated(old, new);
    }

    fn descriptor_adopted(&self, fd: c_int) -> Result<()> {
        self.posix()?.adopt(fd)
    }

    fn descriptor_handed_back(&self, fd: c_int) {
        if let Ok(p) = self.posix() {
            p.hand_back(fd);
        }
    }

    fn descriptor_closing_in_served(&self, fd: c_int) {
        if let Ok(p) = self.posix() {
            p.closing_in_served(fd);
        }
    }

    fn served_closes_settle(&self) {
        if let Ok(p) = self.posix() {
            p.settle_served_closes();
        }
    }

    fn descriptor_polled(&self, fd: c_int) {
        posix::fdtable::polled(fd);
    }

    /// `/proc/sysvipc/msg` lists the namespace's System V queues; the limit files
    /// (`/proc/sys/kernel/msg*`, `/proc/sys/fs/mqueue/*`) hold the limits the emulation enforces,
    /// as the kernel prints them ("%d\n").
    fn proc_file(&self, path: &[u8]) -> Option<String> {
        if path == b"/proc/sysvipc/msg" {
            return self.sysv().ok().map(SysvEmulation::proc_sysvipc_msg);
        }
        if path == b"/proc/sys/kernel/msg_next_id" {
            return self.sysv().ok().map(|s| format!("{}\n", s.next_id()));
        }
        self.refresh_limits(None);
        self.limits().proc_sys_value(path).map(|value| format!("{value}\n"))
    }

    fn proc_file_open_write(&self, path: &[u8]) -> Option<Result<()>> {
        sysctl::open_for_write(path)
    }

    fn proc_file_write(&self, path: &[u8], data: &[u8], pos: i64) -> Result<usize> {
        sysctl::write(path, data, pos, |file, value| self.set_sysctl(file, value))
    }

    /// An emulated queue's file: the owner and mode its `meta` records, the identity and
    /// times of its directory in the namespace.
    fn dev_mqueue_entry(&self, name: &[u8]) -> Option<Result<crate::devmqueue::Entry>> {
        let entry = || {
            let name = posix::store::QueueName::check(name)?;
            let (meta, dir, times) = self.posix()?.store().entry(&name)?;
            Ok(dev_mqueue_entry(&meta, (dir.st_dev, dir.st_ino), &dir, times))
        };
        Some(entry())
    }

    /// The queue's descriptor, as `mq_open` of `/NAME` with the access mode, O_CREAT, O_EXCL and
    /// O_NONBLOCK of `flags` gives it (not traced: the program called `open`). Close-on-exec
    /// whatever `flags` say, as every emulated descriptor.
    fn dev_mqueue_open(&self, name: &[u8], flags: c_int, mode: mode_t) -> Option<Result<c_int>> {
        let open = || {
            if flags & libc::O_DIRECTORY != 0 {
                return Err(Errno::ENOTDIR);
            }
            let mut slashed = Vec::with_capacity(name.len() + 1);
            slashed.push(b'/');
            slashed.extend_from_slice(name);
            let slashed = std::ffi::CString::new(slashed).map_err(|_| Errno::EINVAL)?;
            let oflag = flags & (libc::O_ACCMODE | libc::O_CREAT | libc::O_EXCL | libc::O_NONBLOCK);
            // SAFETY: a NUL-terminated name of ours; no attributes (the defaults, as the
            // kernel's create through the filesystem).
            unsafe { self.mq_open(slashed.as_ptr(), oflag, mode, std::ptr::null_mut(), false) }
        };
        Some(open())
    }

    /// The namespace's `posix/` directory: one entry per queue, named as the queue — a live
    /// listing, with its own offset (a new open file description).
    fn dev_mqueue_directory(&self) -> Option<Result<c_int>> {
        let open = || {
            let posix = self.posix()?.store().namespace().posix;
            let fd = crate::os::sys::openat(posix, c".", libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0);
            if fd < 0 {
                Err(Errno::last())
            } else {
                Ok(fd)
            }
        };
        Some(open())
    }

    /// The namespace's `posix/` directory, one entry per queue name.
    fn dev_mqueue_root(&self) -> Option<Result<(libc::stat, usize)>> {
        let root = || {
            let store = self.posix()?.store();
            Ok((crate::os::sys::stat_of(store.namespace().posix)?, store.names().len()))
        };
        Some(root())
    }

    /// The new owner, group or mode, in the queue's `meta` and files (see
    /// `Store::change_attributes`).
    fn dev_mqueue_change(&self, name: &[u8], change: crate::devmqueue::AttributeChange) -> Option<Result<()>> {
        let apply = || {
            let name = posix::store::QueueName::check(name)?;
            self.posix()?.store().change_attributes(&name, changed_meta(change))
        };
        Some(apply())
    }

    /// `mq_unlink` of the queue (not traced: the program called `unlink`).
    fn dev_mqueue_unlink(&self, name: &[u8]) -> Option<Result<()>> {
        let unlink = || self.posix()?.store().unlink(&posix::store::QueueName::check(name)?);
        Some(unlink())
    }

    /// The queue's owner and mode as they are now (its `meta`, read again only when its FIFO's
    /// ctime moved; the one read when it was opened if that cannot be read), times from its
    /// FIFO.
    fn descriptor_entry(&self, fd: c_int) -> Option<Result<crate::devmqueue::Entry>> {
        let d = posix::fdtable::maybe_emulated(fd).then(|| posix::fdtable::resolve(fd)).flatten()?;
        let h = &d.queue;
        let entry = |fifo: libc::stat| {
            let current = || self.posix()?.store().open_meta(&posix::store::QueueName::check(&h.name)?, h.dir_id, &fifo);
            dev_mqueue_entry(&current().unwrap_or(h.meta), h.dir_id, &fifo, Some(h.queue.times()))
        };
        Some(crate::os::sys::stat_of(fd).map(entry))
    }

    fn descriptor_change(&self, fd: c_int, change: crate::devmqueue::AttributeChange) -> Option<Result<()>> {
        let d = posix::fdtable::maybe_emulated(fd).then(|| posix::fdtable::resolve(fd)).flatten()?;
        let h = &d.queue;
        let apply = || {
            let name = posix::store::QueueName::check(&h.name)?;
            self.posix()?.store().change_open_attributes(&name, h.dir_id, changed_meta(change))
        };
        Some(apply())
    }

    fn descriptor_status_read(&self, fd: c_int, at: Option<u64>, count: usize, copy_out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Option<Result<usize>> {
        let d = posix::fdtable::maybe_emulated(fd).then(|| posix::fdtable::resolve(fd)).flatten()?;
        if !d.read {
            return Some(Err(Errno::EBADF));
        }
        Some(self.contained(Uses::Descriptor(fd), || {
            let line = posix::notify::status_line(&d.queue.queue).into_bytes();
            let pos = at.unwrap_or_else(|| d.status_pos.load(Ordering::Relaxed)).min(line.len() as u64) as usize;
            let part = &line[pos..][..count.min(line.len() - pos)];
            copy_out(part)?;
            if at.is_none() {
                d.status_pos.fetch_add(part.len() as u64, Ordering::Relaxed);
            }
            if !part.is_empty() {
                // The kernel's read of the status line stamps atime and ctime.
                d.queue.queue.note_attr_change();
            }
            Ok(part.len())
        }))
    }

    fn descriptor_access(&self, fd: c_int) -> Option<(bool, bool)> {
        let d = posix::fdtable::maybe_emulated(fd).then(|| posix::fdtable::resolve(fd)).flatten()?;
        Some((d.read, d.write))
    }

    fn descriptor_seek(&self, fd: c_int, seek: &dyn Fn(u64) -> Result<u64>) -> Option<Result<u64>> {
        let d = posix::fdtable::maybe_emulated(fd).then(|| posix::fdtable::resolve(fd)).flatten()?;
        let pos = seek(d.status_pos.load(Ordering::Relaxed));
        if let Ok(pos) = pos {
            d.status_pos.store(pos, Ordering::Relaxed);
        }
        Some(pos)
    }
}

/// How `change` (a `chmod` or `chown` by the calling thread) turns a queue's `meta`.
fn changed_meta(change: crate::devmqueue::AttributeChange) -> impl FnOnce(&posix::store::Meta) -> Result<posix::store::Meta> {
    let creds = crate::os::creds::Creds::current();
    move |m| {
        let (uid, gid, mode) = change.apply((m.uid, m.gid, m.mode), &creds)?;
        Ok(posix::store::Meta { uid, gid, mode, ..*m })
    }
}

/// A queue's `/dev/mqueue` entry: owner and mode from its `meta`, identity `id`, times from
/// the queue (`queue_times`: what sends, receives, status reads, `mq_setattr` and `mq_notify`
/// stamped) with the ctime of `file` (its directory's or FIFO's status, which every `chmod` and
/// `chown` moves) when later — or, when the queue cannot be read, all from `file`. In whole
/// seconds, as the kernel's mqueue inodes keep them.
fn dev_mqueue_entry(meta: &posix::store::Meta, id: (u64, u64), file: &libc::stat, queue_times: Option<posix::queue::QueueTimes>) -> crate::devmqueue::Entry {
    let seconds = |ns: u64| (crate::os::clock::seconds_of_ns(ns), 0);
    let (atime, mtime, ctime) = match queue_times {
        Some(t) => (seconds(t.atime_ns), seconds(t.mtime_ns), seconds(t.ctime_ns).max((file.st_ctime, 0))),
        None => ((file.st_atime, 0), (file.st_mtime, 0), (file.st_ctime, 0)),
    };
    crate::devmqueue::Entry {
        kind: crate::devmqueue::Kind::Queue,
        mode: meta.mode & 0o7777,
        uid: meta.uid,
        gid: meta.gid,
        dev: id.0,
        ino: id.1,
        atime,
        mtime,
        ctime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emu::posix::limits::PosixLimits;
    use crate::emu::sysv::limits::SysvLimits;

    #[test]
    fn the_machine_limits_are_read_at_the_first_call_that_needs_one_of_its_api() {
        use std::sync::{Arc, Mutex};
        let path = format!("/dev/shm/mqshim-deferred-limits-test-{}", std::process::id());
        let limits = |msg_max, msgmnb| EmulationLimits {
            posix: PosixLimits { msg_max, msgsize_max: 8192, msg_default: 1, msgsize_default: 64, queues_max: 256, rlimit_msgqueue: Some(u64::MAX) },
            sysv: SysvLimits { msgmax: 8192, msgmnb, msgmni: 32000 },
        };
        let maker = EmulatedBackend::new(path.clone().into_bytes(), limits(3, 16384), vec![]);
        let asked = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
        let record = asked.clone();
        // The provisional limits would refuse a queue of 3 messages: they are never used.
        let read_base: ReadBase = Box::new(move |keys| {
            record.lock().unwrap().push(keys.iter().map(|k| k.to_string()).collect());
            limits(3, 2048)
        });
        let backend = EmulatedBackend::deferred(path.clone().into_bytes(), limits(1, 16384), read_base, vec![]);
        let asked_for = || asked.lock().unwrap().clone();
        // SAFETY: mq_attr is plain C data; all-zero is valid.
        let mut attr: mq_attr = unsafe { std::mem::zeroed() };
        (attr.mq_maxmsg, attr.mq_msgsize) = (3, 16);
        let (old, new) = (c"/deferred-old", c"/deferred-new");
        // SAFETY: NUL-terminated names and a valid attribute, as the C API requires.
        unsafe {
            let made = maker.mq_open(old.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o600, &mut attr, false).unwrap();
            let opened = backend.mq_open(old.as_ptr(), libc::O_RDWR, 0, std::ptr::null_mut(), false).unwrap();
            let reopened = backend.mq_open(old.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o600, &mut attr, false).unwrap();
            assert!(asked_for().is_empty(), "opening a queue reads no limit");
            let created = backend.mq_open(new.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o600, &mut attr, false).unwrap();
            let keys = |api| keys_of(api).into_iter().map(String::from).collect::<Vec<_>>();
            assert_eq!(asked_for(), [keys(Api::Posix)], "a creation reads the POSIX limits alone");
            let id = backend.msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600).unwrap();
            assert_eq!(asked_for()[1..], [keys(Api::Sysv)], "a System V call reads its own");
            let mut ds: libc::msqid_ds = std::mem::zeroed();
            backend.msgctl(id, libc::IPC_STAT, &mut ds).unwrap();
            assert_eq!(ds.msg_qbytes, 2048, "the System V base in force");
            assert_eq!(backend.proc_file(b"/proc/sys/fs/mqueue/msg_max").as_deref(), Some("3\n"));
            assert_eq!(asked_for().len(), 2, "each once");
            backend.msgctl(id, libc::IPC_RMID, std::ptr::null_mut()).unwrap();
            for fd in [opened, reopened, created] {
                backend.mq_close(fd).unwrap();
            }
            maker.mq_close(made).unwrap();
            maker.mq_unlink(old.as_ptr()).unwrap();
            maker.mq_unlink(new.as_ptr()).unwrap();
        }
        let _ = std::fs::remove_dir_all(&path);
    }

    #[test]
    fn the_process_own_limits_win_over_the_namespace_sysctls() {
        if crate::os::sys::ids().1 != 0 {
            return; // only root writes sysctls
        }
        let path = format!("/tmp/mqshim-sysctl-backend-test-{}", std::process::id());
        let base = EmulationLimits {
            posix: PosixLimits { msg_max: 10, msgsize_max: 8192, msg_default: 10, msgsize_default: 8192, queues_max: 256, rlimit_msgqueue: None },
            sysv: SysvLimits { msgmax: 8192, msgmnb: 16384, msgmni: 32000 },
        };
        // As with MQSHIM_LIMITS=msg_max=4: the process's own setting.
        let mut own = base;
        own.posix.msg_max = 4;
        let backend = EmulatedBackend::new(path.clone().into_bytes(), own, vec!["msg_max"]);
        assert_eq!(backend.proc_file_write(b"/proc/sys/fs/mqueue/msg_max", b"7\n", 0), Ok(2));
        assert_eq!(backend.proc_file_write(b"/proc/sys/kernel/msgmni", b"3\n", 0), Ok(2));
        assert_eq!(backend.proc_file_write(b"/proc/sys/kernel/msgmni", b"32769\n", 0), Err(Errno::EINVAL));
        // The writer reads what is in force for it: its own msg_max, the namespace's msgmni.
        assert_eq!(backend.proc_file(b"/proc/sys/fs/mqueue/msg_max").as_deref(), Some("4\n"));
        assert_eq!(backend.proc_file(b"/proc/sys/kernel/msgmni").as_deref(), Some("3\n"));
        // Another process of the namespace, without settings of its own, has both.
        let other = EmulatedBackend::new(path.clone().into_bytes(), base, vec![]);
        assert_eq!(other.proc_file(b"/proc/sys/fs/mqueue/msg_max").as_deref(), Some("7\n"));
        assert_eq!(other.proc_file(b"/proc/sys/kernel/msgmni").as_deref(), Some("3\n"));
        assert_eq!(other.sysv().map(|s| s.limits().msgmni), Ok(3));
        let _ = std::fs::remove_dir_all(&path);
    }
}
