//! POSIX message queues in userspace: `mq_open` … `mq_notify` with the kernel's semantics
//! (`ipc/mqueue.c`), on segments in the `MQSHIM_DIR` namespace.
//!
//! - [`queue`]: the shared data structure (messages, priorities, waiters, repair).
//! - [`fdtable`]: this process's descriptors and their open descriptions.
//! - [`handover`]: descriptors served for another process (a supervisor's), marked with their
//!   access mode.
//! - [`wait`]: blocking — adaptive spinning, then futex sleep with the mq restart rules.
//! - [`notify`]: `mq_notify` registrations and their delivery.
//! - [`store`]: queue names, creation, lookup, unlink and destruction in the namespace;
//!   `queue_dir`: the names in a queue's directory, and its removal; `spare`: segments and
//!   whole queue directories a process keeps for its next queue.

mod charge;
pub mod fdtable;
mod handover;
pub mod layout;
pub mod limits;
pub mod notify;
pub mod queue;
mod queue_dir;
pub mod ready;
mod spare;
pub mod store;
pub mod wait;

use std::os::raw::{c_char, c_int, c_uint};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use libc::{mode_t, mq_attr, sigevent, timespec};

use super::engine::futex::Restart;
use super::engine::layout::waiter_state;
use super::engine::lock;
use crate::errno::{Errno, Result};
use crate::os::usermem::{checked_read, checked_write, probe_read};
use fdtable::{Description, QueueHandle};
use queue::{Express, Message, Sent};

/// Unlinked queues a served process closed a descriptor of, and when (see
/// [`PosixEmulation::settle_served_closes`]): a supervisor's only.
static SERVED_CLOSES: std::sync::Mutex<Vec<(Arc<QueueHandle>, std::time::Instant)>> = std::sync::Mutex::new(Vec::new());

/// How long a supervisor looks for the end of an unlinked queue a served process closed.
const SETTLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// The POSIX half of the emulation, bound to one namespace.
pub struct PosixEmulation {
    store: store::Store,
}

/// Reads and validates an absolute timeout the way `prepare_timeout` does: EFAULT for an
/// unreadable one, EINVAL unless `tv_sec >= 0` and `0 <= tv_nsec < 1e9`. `None`: no timeout.
pub fn read_timeout(timeout: Option<*const timespec>) -> Result<Option<timespec>> {
    match timeout {
        None => Ok(None),
        Some(p) if p.is_null() => Ok(None),
        Some(p) => {
            // SAFETY: `p` is the program's timeout argument, as checked_read requires.
            let ts = unsafe { checked_read(p) }.ok_or(Errno::EFAULT)?;
            if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
                return Err(Errno::EINVAL);
            }
            Ok(Some(ts))
        }
    }
}

/// Whether a call that would block may still wait for its peer before registering as a
/// blocked caller: once per call, and not past its deadline.
fn may_spin(spun: bool, deadline: Option<&timespec>) -> bool {
    !spun && !crate::os::clock::deadline_passed(deadline)
}

/// Room usually comes within microseconds when the receiver runs on another CPU: waits for it
/// (see `spin_until`).
fn spin_for_room(q: &queue::Queue) {
    let (h, maxmsg) = (q.header(), q.geometry().maxmsg);
    crate::emu::engine::spin::spin_until(&h.spin_avg_ns, h.last_recv_cpu.load(Ordering::Relaxed), || q.curmsgs() < maxmsg);
}

/// A message usually comes within microseconds when the sender runs on another CPU: waits for
/// it (see `spin_until`).
fn spin_for_message(q: &queue::Queue) {
    let h = q.header();
    let ready = || q.ring_message_ready().unwrap_or_else(|| q.curmsgs() > 0);
    crate::emu::engine::spin::spin_until(&h.spin_avg_ns, h.last_send_cpu.load(Ordering::Relaxed), ready);
}

impl PosixEmulation {
    pub fn new(root: &[u8], limits: crate::emu::posix::limits::PosixLimits) -> Result<PosixEmulation> {
        Ok(PosixEmulation { store: store::Store::at(root, limits)? })
    }

    /// Replaces the limits (the namespace's sysctls changed).
    pub fn set_limits(&self, limits: crate::emu::posix::limits::PosixLimits) {
        self.store.set_limits(limits);
    }

    pub fn store(&self) -> &store::Store {
        &self.store
    }

    /// `mq_open`: `mode` and `attr` are used only with `O_CREAT`. `before_create` runs just
    /// before a queue is made (not when the name is found), where the caller brings the limits
    /// up to date: the kernel reads its sysctls only to create.
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn open(&self, name: *const c_char, oflag: c_int, mode: mode_t, attr: *const mq_attr, before_create: &dyn Fn()) -> Result<c_int> {
        // The kernel copies the attributes in before anything else (EFAULT).
        // SAFETY: `attr` is the program's mq_open argument, as checked_read requires.
        let attr = if oflag & libc::O_CREAT != 0 && !attr.is_null() { Some(unsafe { checked_read(attr) }.ok_or(Errno::EFAULT)?) } else { None };
        let name = store::QueueName::read(name)?;
        self.store.open_queue_with(&name, oflag, mode, attr.as_ref(), before_create)
    }

    /// `fd`, this process's copy of another process's descriptor of a queue of this namespace,
    /// made usable by this process's calls until [`PosixEmulation::hand_back`]: its queue found
    /// from the FIFO it is (`Store::adopt`), its access mode from the mark its description
    /// carries (`handover`), its O_NONBLOCK from its status flags. EBADF for any other
    /// descriptor.
    pub fn adopt(&self, fd: c_int) -> Result<()> {
        // Anything but a FIFO of the namespace (a pipe, say) at the cost of one fstat, before
        // the mark is read from /proc.
        if !crate::os::sys::stat_of(fd).is_ok_and(|st| self.store.may_be_fifo(&st)) {
            return Err(Errno::EBADF);
        }
        let (read, write) = handover::access_of(fd).ok_or(Errno::EBADF)?;
        let handle = self.store.adopt(fd)?;
        let flags = crate::os::sys::fcntl(fd, libc::F_GETFL, 0);
        fdtable::insert(fd, Arc::new(Description::new(handle, read, write, flags >= 0 && flags & libc::O_NONBLOCK != 0)));
        handover::adopted(fd);
        Ok(())
    }

    /// `fd` belongs to another process from now on (installed in it, or a copy of its own):
    /// its description is marked with its access mode for a later [`PosixEmulation::adopt`],
    /// and forgotten here without closing its queue.
    pub fn hand_back(&self, fd: c_int) {
        if let Some(d) = fdtable::remove(fd) {
            if !handover::was_adopted(fd) {
                handover::mark(fd, d.read, d.write);
            }
            // This process may have opened the readiness descriptor for it (see `ready`).
            let q = &d.queue.queue;
            ready::release_if_unused(q, || fdtable::describes(q));
        }
    }

    /// `fd`, this process's adopted copy of a descriptor the served process is closing (see
    /// [`PosixEmulation::adopt`]): its registration on the queue goes, as at any close by the
    /// owner; the descriptor itself is closed by the kernel, in that process, after this, so an
    /// unlinked queue this may have been the last descriptor of is left to
    /// [`PosixEmulation::settle_served_closes`].
    pub fn closing_in_served(&self, fd: c_int) {
        if let Some(d) = fdtable::resolve(fd) {
            notify::drop_if_owner(&d.queue);
            if d.queue.queue.header().unlinked.load(Ordering::Acquire) != 0 {
                let mut closes = SERVED_CLOSES.lock().unwrap_or_else(|e| e.into_inner());
                closes.push((d.queue.clone(), std::time::Instant::now()));
            }
        }
    }

    /// Destroys the unlinked queues a served process closed a descriptor of (see
    /// [`PosixEmulation::closing_in_served`]) once nobody has them open, as the last close of
    /// the kernel's frees its queue; one still open after [`SETTLE_FOR`] is left to its last
    /// closer, or the next creator's sweep. Called by the supervisor every few milliseconds,
    /// and when its last served process has exited.
    pub fn settle_served_closes(&self) {
        let pending = std::mem::take(&mut *SERVED_CLOSES.lock().unwrap_or_else(|e| e.into_inner()));
        if pending.is_empty() {
            return;
        }
        let open: Vec<_> = pending.into_iter().filter(|(queue, since)| !self.store.after_close(queue) && since.elapsed() < SETTLE_FOR).collect();
        SERVED_CLOSES.lock().unwrap_or_else(|e| e.into_inner()).extend(open);
    }

    /// Whether the queue behind descriptor `fd` was poisoned (see `segment::containment`).
    pub fn poisoned(&self, fd: c_int) -> bool {
        fdtable::resolve(fd).is_some_and(|d| d.queue.queue.poisoned())
    }

    /// `mq_unlink`.
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn unlink(&self, name: *const c_char) -> Result<c_int> {
        let name = store::QueueName::read(name)?;
        self.store.unlink(&name)?;
        Ok(0)
    }

    /// Closes an emulated descriptor (from `mq_close` or `close`): drops the caller's
    /// notification registration, closes the FIFO (and the readiness descriptor when it was the
    /// process's last of the queue), and destroys the queue if this was the last
    /// descriptor of an unlinked queue.
    pub fn close(&self, fd: c_int, d: Arc<Description>) -> Result<c_int> {
        notify::drop_if_owner(&d.queue);
        let rc = crate::os::sys::close(fd);
        if rc != 0 {
            return Err(Errno::last());
        }
        // Before the test whether the queue is still open anywhere.
        let q = &d.queue.queue;
        ready::release_if_unused(q, || fdtable::describes(q));
        self.store.after_close_owned(d);
        Ok(0)
    }

    /// `mq_send` / `mq_timedsend`, in the kernel's order of checks.
    ///
    /// Its locks first wait the bounded default; a lock's EAGAIN is then a non-blocking call's
    /// answer, and sends a call that may block round again waiting as it may (see
    /// `lock::LongerWait`).
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn send(&self, fd: c_int, msg: *const c_char, len: usize, prio: c_uint, timeout: Option<*const timespec>) -> Result<c_int> {
        let deadline = read_timeout(timeout)?;
        if prio >= limits::MQ_PRIO_MAX {
            return Err(Errno::EINVAL);
        }
        let d = fdtable::resolve(fd).ok_or(Errno::EBADF)?;
        if !d.write {
            return Err(Errno::EBADF);
        }
        let q = &d.queue.queue;
        if len as u64 > q.geometry().msgsize {
            return Err(Errno::EMSGSIZE);
        }
        if !probe_read(msg.cast(), len) {
            return Err(Errno::EFAULT);
        }
        // A full queue and a non-blocking description: fail without taking the lock (the count is
        // an atomic, so this is the answer the lock would give at this instant).
        if d.nonblock(fd) && q.next_due_ns() == 0 && q.curmsgs() >= q.geometry().maxmsg {
            return Err(Errno::EAGAIN);
        }
        wait::note_cpu(&q.header().last_send_cpu);
        // The one clock read of a send: the coarse clock, the time of the last tick (vDSO).
        let m = Message { ptr: msg.cast(), len, prio, sent_ns: crate::os::clock::coarse_realtime_ns() };
        let mut spun = false;
        let mut longer = lock::LongerWait::default();
        let may_wait = || (!d.nonblock(fd)).then(|| lock::wait_for_deadline(deadline.as_ref()));
        loop {
            let sent = match q.express_send(&m) {
                Ok(sent) => sent,
                Err(e) if longer.go_round(e, may_wait) => continue,
                // A handler ran while it waited for the lock: EINTR only if it would block.
                Err(Errno::EINTR) if longer.go_round_after_handler(q.curmsgs() < q.geometry().maxmsg) => continue,
                Err(e) => return Err(e),
            };
            match sent {
                Express::Done(()) => return Ok(0),
                Express::Refused => {
                    if d.nonblock(fd) {
                        return Err(Errno::EAGAIN);
                    }
                    if longer.interrupted() {
                        return Err(Errno::EINTR);
                    }
                    if may_spin(spun, deadline.as_ref()) {
                        spun = true;
                        spin_for_room(q);
                        continue;
                    }
                }
                Express::Unavailable => {}
            }
            let mut locked = match q.lock() {
                Ok(locked) => locked,
                Err(e) if longer.go_round(e, may_wait) => continue,
                // A handler ran while it waited for the lock: EINTR only if it would block.
                Err(Errno::EINTR) if longer.go_round_after_handler(q.curmsgs() < q.geometry().maxmsg) => continue,
                Err(e) => return Err(e),
            };
            match locked.send(&m, fd)? {
                Sent::Done => {
                    let relayed = locked.relayed_signal.take();
                    drop(locked);
                    if let Some(relayed) = relayed {
                        let wait = if d.nonblock(fd) { lock::LockWait::Bounded } else { lock::wait_for_deadline(deadline.as_ref()) };
                        notify::await_relay(q, relayed, wait);
                    }
                    return Ok(0);
                }
                Sent::Full => {
                    if d.nonblock(fd) {
                        return Err(Errno::EAGAIN);
                    }
                    if longer.interrupted() {
                        return Err(Errno::EINTR);
                    }
                    if may_spin(spun, deadline.as_ref()) {
                        drop(locked);
                        spun = true;
                        spin_for_room(q);
                        continue;
                    }
                    let prio = wait::sched_prio_if_contended(&mut locked, waiter_state::SENDING);
                    let w = locked.register(waiter_state::SENDING, Some(&m), prio)?;
                    drop(locked);
                    wait::wait_served(q, w, deadline.as_ref(), Restart::LikeMqueue, std::ptr::null_mut(), &q.header().last_recv_cpu, fd)?;
                    return Ok(0);
                }
            }
        }
    }

    /// `mq_receive` / `mq_timedreceive`, in the kernel's order of checks; a busy lock as in
    /// [`Self::send`].
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn receive(&self, fd: c_int, buf: *mut c_char, len: usize, prio_out: *mut c_uint, timeout: Option<*const timespec>) -> Result<isize> {
        let deadline = read_timeout(timeout)?;
        let d = fdtable::resolve(fd).ok_or(Errno::EBADF)?;
        if !d.read {
            return Err(Errno::EBADF);
        }
        let q = &d.queue.queue;
        if (len as u64) < q.geometry().msgsize {
            return Err(Errno::EMSGSIZE);
        }
        // An empty queue and a non-blocking description: fail without taking the lock. (The
        // description first: the count reads the sender's line, which a blocking receiver
        // must not take from it on every call.)
        if d.nonblock(fd) && q.next_due_ns() == 0 && q.curmsgs() == 0 {
            return Err(Errno::EAGAIN);
        }
        wait::note_cpu(&q.header().last_recv_cpu);
        let mut spun = false;
        // Checked before the lock so the critical section need not (a buffer not wholly
        // writable is checked again, for the message's own length, as the kernel does).
        let writable = crate::os::usermem::writable_prefix(buf.cast(), q.geometry().msgsize as usize);
        let mut longer = lock::LongerWait::default();
        let may_wait = || (!d.nonblock(fd)).then(|| lock::wait_for_deadline(deadline.as_ref()));
        let got = loop {
            let received = match q.express_receive(buf.cast(), writable) {
                Ok(received) => received,
                Err(e) if longer.go_round(e, may_wait) => continue,
                // A handler ran while it waited for the lock: EINTR only if it would block.
                Err(Errno::EINTR) if longer.go_round_after_handler(q.curmsgs() > 0) => continue,
                Err(e) => return Err(e),
            };
            match received {
                Express::Done(got) => break got,
                Express::Refused => {
                    if d.nonblock(fd) {
                        return Err(Errno::EAGAIN);
                    }
                    if longer.interrupted() {
                        return Err(Errno::EINTR);
                    }
                    if may_spin(spun, deadline.as_ref()) {
                        spun = true;
                        spin_for_message(q);
                        continue;
                    }
                }
                Express::Unavailable => {}
            }
            let mut locked = match q.lock() {
                Ok(locked) => locked,
                Err(e) if longer.go_round(e, may_wait) => continue,
                // A handler ran while it waited for the lock: EINTR only if it would block.
                Err(Errno::EINTR) if longer.go_round_after_handler(q.curmsgs() > 0) => continue,
                Err(e) => return Err(e),
            };
            locked.assume_writable(writable);
            if let Some(got) = locked.receive(buf.cast(), fd) {
                break got;
            }
            if d.nonblock(fd) {
                return Err(Errno::EAGAIN);
            }
            if longer.interrupted() {
                return Err(Errno::EINTR);
            }
            // Not while a notification is registered, which a blocked receiver must suppress.
            if may_spin(spun, deadline.as_ref()) && !locked.has_notification() {
                drop(locked);
                spun = true;
                spin_for_message(q);
                continue;
            }
            let prio = wait::sched_prio_if_contended(&mut locked, waiter_state::RECEIVING);
            let w = locked.register(waiter_state::RECEIVING, None, prio)?;
            drop(locked);
            break wait::wait_served(q, w, deadline.as_ref(), Restart::LikeMqueue, buf.cast(), &q.header().last_send_cpu, fd)?.ok_or(Errno::EIO)?;
        };
        // As in the kernel, the message is already dequeued when a bad pointer is found.
        // SAFETY: `prio_out` is the program's mq_receive argument, as checked_write requires.
        if !got.copied || (!prio_out.is_null() && !unsafe { checked_write(prio_out, &got.prio) }) {
            return Err(Errno::EFAULT);
        }
        Ok(got.len as isize)
    }

    /// `mq_getattr`.
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn getattr(&self, fd: c_int, out: *mut mq_attr) -> Result<c_int> {
        // SAFETY: `out` is the caller's, under this function's contract; no new attributes.
        unsafe { self.setattr(fd, std::ptr::null(), out) }
    }

    /// `mq_setattr` (and `mq_getattr` with `new` NULL): only O_NONBLOCK changes, on the open
    /// description; invalid flags are refused before the descriptor is looked at.
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn setattr(&self, fd: c_int, new: *const mq_attr, old: *mut mq_attr) -> Result<c_int> {
        // SAFETY: `new` is the program's mq_setattr argument, as checked_read requires.
        let new = if new.is_null() { None } else { Some(unsafe { checked_read(new) }.ok_or(Errno::EFAULT)?) };
        if let Some(n) = &new {
            if n.mq_flags & !(libc::O_NONBLOCK as libc::c_long) != 0 {
                return Err(Errno::EINVAL);
            }
        }
        let d = fdtable::resolve(fd).ok_or(Errno::EBADF)?;
        let q = &d.queue.queue;
        let h = q.header();
        if q.next_due_ns() != 0 {
            // Scheduled messages that have fallen due count from now on — unless the lock's
            // holder is stopped: then the count is answered as it stands, without the lock.
            match q.lock() {
                Ok(mut locked) => locked.promote_if_due(fd),
                Err(Errno::EAGAIN) => {}
                Err(e) => return Err(e),
            }
        }
        if !old.is_null() {
            // SAFETY: mq_attr is plain C data; all-zero is valid (and zeroes the padding).
            let mut current: mq_attr = unsafe { std::mem::zeroed() };
            current.mq_flags = if d.nonblock(fd) { libc::O_NONBLOCK as libc::c_long } else { 0 };
            // The attributes as this process checked them when it mapped the queue: they never
            // change, and the shared header is writable by every sender.
            current.mq_maxmsg = q.geometry().maxmsg as libc::c_long;
            current.mq_msgsize = q.geometry().msgsize as libc::c_long;
            current.mq_curmsgs = q.curmsgs() as libc::c_long;
            // SAFETY: `old` is the program's mq_getattr/mq_setattr argument, as checked_write requires.
            if !unsafe { checked_write(old, &current) } {
                return Err(Errno::EFAULT);
            }
        }
        if let Some(n) = new {
            let nonblock = n.mq_flags & libc::O_NONBLOCK as libc::c_long != 0;
            // The caller's descriptor, which is an emulated queue's FIFO.
            let flags = crate::os::sys::fcntl(fd, libc::F_GETFL, 0);
            if flags < 0 {
                return Err(Errno::EBADF);
            }
            let wanted = if nonblock { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
            if crate::os::sys::fcntl(fd, libc::F_SETFL, wanted as libc::c_long) < 0 {
                return Err(Errno::last());
            }
            let generation = h.attr_generation.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
            d.set_cached_nonblock(nonblock, generation);
            q.note_attr_change();
        }
        Ok(0)
    }

    /// `mqshim_mq_send_at`: `msg` becomes visible to receivers at `due` (absolute
    /// CLOCK_REALTIME); the handle comes back through `handle`. Checks as `mq_timedsend`.
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn send_at(&self, fd: c_int, msg: *const c_char, len: usize, prio: c_uint, due: *const timespec, handle: *mut u64) -> Result<c_int> {
        let due = read_timeout(Some(due))?.ok_or(Errno::EINVAL)?;
        if prio >= limits::MQ_PRIO_MAX {
            return Err(Errno::EINVAL);
        }
        let d = fdtable::resolve(fd).ok_or(Errno::EBADF)?;
        if !d.write {
            return Err(Errno::EBADF);
        }
        let q = &d.queue.queue;
        if len as u64 > q.geometry().msgsize {
            return Err(Errno::EMSGSIZE);
        }
        if !probe_read(msg.cast(), len) || !crate::os::usermem::probe_write(handle.cast(), std::mem::size_of::<u64>()) {
            return Err(Errno::EFAULT);
        }
        let due_ns = due.tv_sec as u64 * 1_000_000_000 + due.tv_nsec as u64;
        q.ready_prio(prio)?;
        let m = Message { ptr: msg.cast(), len, prio, sent_ns: due_ns };
        let mut locked = q.lock()?;
        let h = locked.schedule(&m, due_ns, fd)?;
        drop(locked);
        // SAFETY: probed writable above.
        unsafe { *handle = h };
        Ok(0)
    }

    /// `mqshim_mq_cancel`: cancels a pending scheduled message of the queue `fd` refers to.
    pub fn cancel(&self, fd: c_int, handle: u64) -> Result<c_int> {
        let d = fdtable::resolve(fd).ok_or(Errno::EBADF)?;
        let mut locked = d.queue.queue.lock()?;
        locked.promote_if_due(fd);
        locked.cancel(handle)?;
        Ok(0)
    }

    /// `mq_notify`.
    ///
    /// # Safety
    /// The pointers are the calling program's, as the C API passes them: each may be invalid
    /// (the call then fails with EFAULT where the kernel's does), but memory they reach must not
    /// be unmapped while the call runs.
    pub unsafe fn notify(&self, fd: c_int, sev: *const sigevent) -> Result<c_int> {
        let request = notify::Request::read(sev)?;
        let d = fdtable::resolve(fd).ok_or(Errno::EBADF)?;
        notify::register(&d.queue, request)?;
        Ok(0)
    }
}
