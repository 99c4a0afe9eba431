//! `mqshim run` (and `trace`) on a statically linked program: its queue system calls are served
//! from outside the process, by a seccomp user-notification supervisor in this command.
//!
//! - **The filter.** Between `fork` and `exec` the child installs the library's own queue-call
//!   filter ([`trap::filter`] with [`trap::Verdict::Notify`]: the same ten calls, the same
//!   cookie, and [`trap::SUPERVISED_TOO`]: `close`, `dup2`, `dup3`) with a listener, hands the
//!   listener to this process over a socket pair (SCM_RIGHTS), then execs. The filter and the
//!   listener survive `exec` and `fork`, so every process the program starts is served too.
//! - **Closes.** glibc's and musl's `mq_close` is `close(2)`: a `close` of a queue descriptor
//!   is traced as `mq_close`, and under the emulation removes the caller's notification
//!   registration on the queue (the kernel's `mqueue_flush_file`, at any close by the owner of
//!   any descriptor of the queue, a duplicate's too), and so does a `dup2`/`dup3` onto one
//!   (not traced); then the kernel makes the call ("continue"). Any other descriptor's close
//!   is answered "continue" after one copy and one `fstat` (and, for a FIFO of the
//!   namespace's filesystem under the emulation, a look at its mark): the price every `close`
//!   of a supervised program pays.
//! - **Serving.** A thread reads the notifications. For each it reads the arguments from the
//!   caller's memory (`process_vm_readv`), takes copies of its descriptors (`pidfd_getfd`: the
//!   same open file descriptions), checks that the notification is still valid
//!   (`SECCOMP_IOCTL_NOTIF_ID_VALID`: the process is still the one that asked), builds the
//!   [`Call`] the library function would have made, with the caller's descriptor numbers and
//!   pointers into local copies, and runs it through [`dispatch::run_with`]: fault injection,
//!   limits and tracing apply as under the preload, and the records carry the caller's ids
//!   ([`trace::on_behalf_of`]). The call itself is made on the local copies (this process has
//!   the caller's credentials and IPC namespace), the results are written back
//!   (`process_vm_writev`), and the answer is sent. `mq_open`'s new descriptor is installed in
//!   the caller with `SECCOMP_IOCTL_NOTIF_ADDFD`, which answers the notification at once
//!   (`SECCOMP_ADDFD_FLAG_SEND`). `mq_notify` is answered "continue": the kernel registers the
//!   caller itself (a registration made here would notify this process); its traced result is
//!   the kernel's checks made beforehand on the copy (EFAULT, EINVAL, EBADF, EBUSY).
//! - **Blocking calls** (`mq_timedsend`, `mq_timedreceive`, `msgsnd`, `msgrcv` without
//!   IPC_NOWAIT) are served each on its own thread: every serving thread reads a notification
//!   and serves it itself, and starts another thread first when a call that may block would
//!   leave none listening, so that one caller's wait holds no other (threads: the calls
//!   blocked at once, plus one). Once a notification is read, the caller waits killably
//!   (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV): a signal sent to it stays pending, and no message
//!   can be taken for a caller that is no longer waiting. A watchdog looks every
//!   [`WATCH_PERIOD`] at the blocked callers' pending and blocked signals (/proc/TID/status);
//!   when one has a signal to take, it interrupts the serving thread ([`interrupt_signal`]), whose call
//!   returns EINTR having taken or sent nothing, and the caller is answered with the kernel's
//!   own restart code for that call (ERESTARTSYS for `mq_*`: EINTR, or a restart after an
//!   SA_RESTART handler; ERESTARTNOHAND for `msg*`: EINTR after any handler), which the kernel
//!   turns into EINTR or a restart as it does for its own calls. A killed caller's
//!   notification ends (ID_VALID), and its serving thread stops the same way. The cost: a signal
//!   reaches a blocked caller up to [`WATCH_PERIOD`] late.
//! - **Credentials.** A call the kernel checks permissions for at the call (`mq_open`,
//!   `mq_unlink`, `msg*`) is made with the caller's user and group ids and groups (raw
//!   set*id system calls change the serving thread alone), and `mq_open` with its umask; the
//!   caller's capabilities are not copied (the supervisor's are used).
//! - **The end.** The supervisor serves until the listener hangs up (every process with the
//!   filter has exited), as `strace -f` follows a program's descendants. The program dies with
//!   it (PR_SET_PDEATHSIG): unserved, it could make no queue call. A program under `mqshim run`
//!   that execs a statically linked one gets a supervisor of its own this way too
//!   (`mqshim_core::launcher`: it execs `mqshim run` in its place).
//!
//! - **Backends.** Under the kernel backend every call is the system call, made here. Under the
//!   emulation every call is the emulation's, made here on the same local copies
//!   ([`by_backend`]); its cached credentials are forgotten at each change of the serving
//!   thread's. A System V queue has no descriptor. A POSIX descriptor `mq_open` makes here is
//!   handed to the caller marked with its access mode (`Backend::descriptor_handed_back`), and
//!   each later call adopts this process's copy of the caller's descriptor for its duration
//!   ([`Adopted`]): the emulation finds everything it needs from the open description itself,
//!   however the caller closed, duplicated or inherited its descriptors meanwhile. Its queue's
//!   readiness is armed when it is handed over (`Backend::descriptor_polled`): the caller's
//!   `poll`, `select` and `epoll` are not seen, and reach the FIFO directly.
//!   `mq_notify` registers the caller itself, by pid (`ids::serving`), relayed by this
//!   process's relay thread: a sender leaves the notification in the queue's relay slot, and
//!   the relay sends the signal (SI_MESGQ, the sender's pid and uid) or fires the SIGEV_THREAD
//!   carrier — the kernel's netlink form, with the caller's socket and cookie handed over
//!   (`backend::emulation::netlink_form`). Closes the kernel makes without a system call
//!   (`exec`'s of close-on-exec descriptors) are not seen, so the relay also delivers nothing
//!   once the caller has no descriptor of the queue left (nor does the registration stand
//!   against another's).

use std::cell::Cell;
use std::collections::HashMap;
use std::os::raw::{c_char, c_int, c_long};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqshim_core::backend::emulation as served;
use mqshim_core::backend::Backend;
use mqshim_core::call::Call;
use mqshim_core::config::BackendKind;
use mqshim_core::errno::{Errno, Result};
use mqshim_core::os::usermem;
use mqshim_core::trace::{self, Caller};
use mqshim_core::trap;

/// How often the watchdog looks at the callers of blocked calls (a signal to one, its death).
pub const WATCH_PERIOD: Duration = Duration::from_millis(5);

/// The kernel's restart codes (include/linux/errno.h), which a signal turns into EINTR or a
/// restart on the way back to the caller.
const ERESTARTSYS: i32 = 512;
const ERESTARTNOHAND: i32 = 514;

/// A blocked call's state, set by the watchdog.
const RUNNING: u8 = 0;
/// The caller has a signal to take: end the call with the kernel's restart code.
const SIGNALLED: u8 = 1;
/// The caller's notification ended (it was killed): no answer.
const ENDED: u8 = 2;

/// The signal that interrupts a serving thread whose caller has a signal to take or was killed (a handler that does
/// nothing, without SA_RESTART: its blocking call returns EINTR).
fn interrupt_signal() -> c_int {
    libc::SIGRTMIN() + 2
}

/// An address in the kernel's half: any access through it is EFAULT. Stands for an argument
/// the caller passed that could not be read, so that the kernel's own checks give their
/// errors in their order and EFAULT where the kernel would touch it.
const BAD_ADDRESS: usize = usize::MAX - 4095;

/// The largest message copied between the caller and this process: the kernel's hard limit
/// of a POSIX message (HARD_MSGSIZEMAX). A longer length is one the kernel refuses before it
/// reads the buffer.
const MAX_COPY: usize = 16 << 20;

/// The supervisor of a program about to start: the socket pair its listener comes through.
pub struct Pending {
    parent_end: c_int,
    child_end: c_int,
}

impl Pending {
    /// Makes `cmd`'s child install the filter and send its listener before it execs.
    pub fn attach(cmd: &mut Command) -> std::result::Result<Pending, String> {
        let mut ends = [-1; 2];
        // SAFETY: `ends` is a valid array of two descriptors for socketpair to fill.
        if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, ends.as_mut_ptr()) } != 0 {
            return Err(format!("mqshim: cannot make a socket pair for the supervisor: {}", std::io::Error::last_os_error()));
        }
        let prog = trap::filter(trap::Verdict::Notify);
        let no_new_privs = trap::needs_no_new_privs();
        let child_end = ends[1];
        // SAFETY: getpid takes nothing.
        let supervisor = unsafe { libc::getpid() };
        // SAFETY: runs in the child between fork and exec, and makes only system calls (prctl,
        // getppid, kill, seccomp, sendmsg, close) on data prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                // Unserved, the program could not make a queue call: it goes with its
                // supervisor (killed, say, by whoever ran `mqshim run` in the program's place).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != supervisor {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                let listener = trap::install_listener(&prog, no_new_privs).map_err(std::io::Error::from_raw_os_error)?;
                let sent = send_fd(child_end, listener);
                // Past the filter, which would have it wait for the supervisor, who waits for
                // this exec.
                trap::queue_syscall(libc::SYS_close, [listener as u64, 0, 0, 0, 0]);
                sent
            });
        }
        Ok(Pending { parent_end: ends[0], child_end })
    }

    /// After the child started: receives its listener and starts serving it.
    pub fn start(self) -> std::result::Result<(), String> {
        // SAFETY: closing our copy of the child's end, which nothing else uses.
        unsafe { libc::close(self.child_end) };
        let listener = recv_fd(self.parent_end);
        // SAFETY: our end, used only above.
        unsafe { libc::close(self.parent_end) };
        let listener = listener.map_err(|e| format!("mqshim: no listener from the supervised program: {e}"))?;
        install_interrupt_handler();
        let handle = std::thread::Builder::new()
            .name("mqshim-supervisor".into())
            .spawn(move || supervise(listener))
            .map_err(|e| format!("mqshim: cannot start the supervisor: {e}"))?;
        *SUPERVISOR.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(())
    }

    /// The child did not start: nothing to serve.
    pub fn abandon(self) {
        // SAFETY: closing the pair's two ends, ours alone.
        unsafe {
            libc::close(self.child_end);
            libc::close(self.parent_end);
        }
    }
}

static SUPERVISOR: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

/// Waits until the supervisor is done: every process it served has exited.
pub fn wait() {
    let handle = SUPERVISOR.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(h) = handle {
        let _ = h.join();
    }
}

/// Room for one descriptor's SCM_RIGHTS control message (CMSG_SPACE(4) is 24 on 64-bit).
type ControlBuffer = [u64; 4];

/// Sends `fd` over the socket `sock`. Only system calls: safe between fork and exec.
fn send_fd(sock: c_int, fd: c_int) -> std::io::Result<()> {
    let mut byte = 0u8;
    let mut iov = libc::iovec { iov_base: (&mut byte as *mut u8).cast(), iov_len: 1 };
    let mut control: ControlBuffer = [0; 4];
    // SAFETY: msghdr is plain data; the pointers set below are to live locals, and the
    // control message is built inside `control`, which CMSG_SPACE(4) bytes fit.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
        libc::CMSG_DATA(cmsg).cast::<c_int>().write_unaligned(fd);
        if libc::sendmsg(sock, &msg, 0) != 1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Receives a descriptor sent by [`send_fd`].
fn recv_fd(sock: c_int) -> std::io::Result<c_int> {
    let mut byte = 0u8;
    let mut iov = libc::iovec { iov_base: (&mut byte as *mut u8).cast(), iov_len: 1 };
    let mut control: ControlBuffer = [0; 4];
    // SAFETY: as in send_fd; the kernel fills `control` up to msg_controllen bytes, and the
    // descriptor is read only from a control message of the expected kind and length.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of::<ControlBuffer>();
        if libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) != 1 {
            return Err(std::io::Error::last_os_error());
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS || (*cmsg).cmsg_len != libc::CMSG_LEN(4) as usize {
            return Err(std::io::Error::from_raw_os_error(libc::EPROTO));
        }
        Ok(libc::CMSG_DATA(cmsg).cast::<c_int>().read_unaligned())
    }
}

extern "C" fn on_interrupt(_: c_int) {}

fn install_interrupt_handler() {
    // SAFETY: sigaction is plain data, filled here; the handler does nothing.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        let handler: extern "C" fn(c_int) = on_interrupt;
        action.sa_sigaction = handler as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(interrupt_signal(), &action, std::ptr::null_mut());
    }
}

/// A served process (by one of its thread ids): the ids its trace records carry and a pidfd
/// of it, for its descriptors.
struct Process {
    caller: Caller,
    pidfd: c_int,
    /// Pidfds of the threads of the process that made calls (PIDFD_THREAD), by tid: a thread's
    /// own credentials, which it may change alone with a raw system call (a static program's
    /// `setuid` is one in every thread, as glibc's; a raw one changes only the caller's).
    threads: Mutex<HashMap<libc::pid_t, c_int>>,
}

/// How many thread pidfds a process's record keeps before it starts over (a program that makes
/// a thread per task would otherwise have the supervisor keep a pidfd of every dead one).
const THREAD_PIDFDS: usize = 64;

/// pidfd_open's PIDFD_THREAD (O_EXCL; Linux 6.9): a pidfd of that very thread.
const PIDFD_THREAD: c_int = libc::O_EXCL;

impl Drop for Process {
    fn drop(&mut self) {
        // SAFETY: our pidfds.
        unsafe { libc::close(self.pidfd) };
        for (_, fd) in self.threads.get_mut().unwrap_or_else(|e| e.into_inner()).drain() {
            // SAFETY: as above.
            unsafe { libc::close(fd) };
        }
    }
}

impl Process {
    /// The credentials of thread `tid` of this process, from its own pidfd (kept for its next
    /// call; one is opened again when the thread it named is gone and the tid is another's), or
    /// the process's where thread pidfds are not to be had.
    fn thread_info(&self, tid: libc::pid_t) -> Option<PidfdInfo> {
        let info_of = |fd: c_int| {
            let mut info = PidfdInfo { mask: PIDFD_INFO_CREDS, ..PidfdInfo::default() };
            // SAFETY: PIDFD_GET_INFO fills a struct pidfd_info of the size the request encodes.
            (unsafe { libc::ioctl(fd, PIDFD_GET_INFO, &mut info) } == 0 && info.mask & PIDFD_INFO_CREDS != 0).then_some(info)
        };
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&fd) = threads.get(&tid) {
            if let Some(info) = info_of(fd) {
                return Some(info);
            }
            threads.remove(&tid);
            // SAFETY: our pidfd, now forgotten.
            unsafe { libc::close(fd) };
        }
        // Refused once as an unknown flag (a kernel before 6.9): the process's from then on.
        static NO_THREAD_PIDFDS: AtomicBool = AtomicBool::new(false);
        if NO_THREAD_PIDFDS.load(Ordering::Relaxed) {
            return info_of(self.pidfd);
        }
        // SAFETY: pidfd_open takes a pid and flags.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, PIDFD_THREAD) } as c_int;
        if fd < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
                NO_THREAD_PIDFDS.store(true, Ordering::Relaxed);
            }
            return info_of(self.pidfd);
        }
        let info = info_of(fd);
        if threads.len() >= THREAD_PIDFDS {
            for (_, old) in threads.drain() {
                // SAFETY: our pidfds.
                unsafe { libc::close(old) };
            }
        }
        threads.insert(tid, fd);
        info
    }
}

/// A blocked call being served: its caller, its serving thread and its state.
struct Waiting {
    tid: libc::pid_t,
    thread: libc::pthread_t,
    state: Arc<AtomicU8>,
}

/// What the serving threads share.
struct Shared {
    listener: c_int,
    processes: Mutex<HashMap<libc::pid_t, Arc<Process>>>,
    waiting: Mutex<HashMap<u64, Waiting>>,
    /// Serving threads waiting for a notification.
    listening: AtomicUsize,
    done: AtomicBool,
}

/// The served processes' umask applies to `mq_open` as the process's own: one open at a time.
static UMASK: Mutex<()> = Mutex::new(());

fn supervise(listener: c_int) {
    let shared = Arc::new(Shared {
        listener,
        processes: Mutex::new(HashMap::new()),
        waiting: Mutex::new(HashMap::new()),
        listening: AtomicUsize::new(1),
        done: AtomicBool::new(false),
    });
    let watchdog = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new().name("mqshim-watchdog".into()).spawn(move || watch(&shared))
    };
    listen(&shared, true);
    shared.done.store(true, Ordering::Release);
    if let Ok(w) = watchdog {
        let _ = w.join();
    }
    // Every served process has exited: an unlinked queue only they had open is closed now.
    mqshim_core::dispatch::backend().served_closes_settle();
}

/// A serving thread: reads a notification and serves it itself, blocking call or not, so a
/// notification is never handed between threads. Before it serves a call that may block with
/// no other thread left listening, it starts another; a thread finding two others listening
/// after its call ends (the `first` one stays). Returns when the listener hangs up.
fn listen(shared: &Arc<Shared>, first: bool) {
    let listener = shared.listener;
    loop {
        let mut pfd = libc::pollfd { fd: listener, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            break;
        }
        if pfd.revents & libc::POLLIN == 0 {
            if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                break;
            }
            continue;
        }
        // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed.
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV fills a seccomp_notif.
        if unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) } != 0 {
            match Errno::last() {
                // Interrupted, or another thread (or the caller's death) took it first.
                Errno::EINTR | Errno::ENOENT => continue,
                _ => break,
            }
        }
        let blocking = may_block(&n.data);
        if shared.listening.fetch_sub(1, Ordering::AcqRel) == 1 && blocking {
            shared.listening.fetch_add(1, Ordering::AcqRel);
            let next = Arc::clone(shared);
            if std::thread::Builder::new().name("mqshim-serve".into()).spawn(move || listen(&next, false)).is_err() {
                // No thread: other callers wait until this call ends.
                shared.listening.fetch_sub(1, Ordering::AcqRel);
            }
        }
        serve(shared, &n, blocking);
        if !first && shared.listening.load(Ordering::Acquire) >= 2 {
            return;
        }
        shared.listening.fetch_add(1, Ordering::AcqRel);
    }
    shared.listening.fetch_sub(1, Ordering::AcqRel);
}

/// Whether a call may block: another thread listens meanwhile, and the watchdog watches it.
fn may_block(d: &libc::seccomp_data) -> bool {
    match c_long::from(d.nr) {
        libc::SYS_mq_timedsend | libc::SYS_mq_timedreceive => true,
        libc::SYS_msgsnd => d.args[3] as c_int & libc::IPC_NOWAIT == 0,
        libc::SYS_msgrcv => d.args[4] as c_int & libc::IPC_NOWAIT == 0,
        _ => false,
    }
}

/// Every [`WATCH_PERIOD`]: interrupts the serving threads whose caller has a signal to take or was
/// killed (again at each period, in case the first signal came before the thread's call began),
/// and lets the backend finish what the callers' closes left (`Backend::served_closes_settle`).
fn watch(shared: &Shared) {
    let backend = mqshim_core::dispatch::backend();
    while !shared.done.load(Ordering::Acquire) {
        std::thread::sleep(WATCH_PERIOD);
        backend.served_closes_settle();
        let waiting = shared.waiting.lock().unwrap_or_else(|e| e.into_inner());
        for (id, w) in waiting.iter() {
            if w.state.load(Ordering::Acquire) == RUNNING {
                if !id_valid(shared.listener, *id) {
                    w.state.store(ENDED, Ordering::Release);
                } else if signal_to_take(w.tid) {
                    w.state.store(SIGNALLED, Ordering::Release);
                }
            }
            if w.state.load(Ordering::Acquire) != RUNNING {
                // SAFETY: the serving thread is alive while it is in `waiting` (it removes
                // itself before it moves on); the signal's handler does nothing.
                unsafe { libc::pthread_kill(w.thread, interrupt_signal()) };
            }
        }
    }
}

/// Whether thread `tid` has a pending signal it does not block (its own or its process's).
fn signal_to_take(tid: libc::pid_t) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{tid}/status")) else { return false };
    let mask = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| u64::from_str_radix(v.trim(), 16).ok()).unwrap_or(0);
    (mask("SigPnd:") | mask("ShdPnd:")) & !mask("SigBlk:") != 0
}

fn id_valid(listener: c_int, id: u64) -> bool {
    // SAFETY: ID_VALID reads one u64.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
}

/// The served process a thread belongs to, from the cache or /proc (a cached one that has
/// exited is looked up again: its thread id may be another process's now).
fn process_of(shared: &Shared, tid: libc::pid_t) -> Option<Arc<Process>> {
    let mut processes = shared.processes.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = processes.get(&tid) {
        let mut pfd = libc::pollfd { fd: p.pidfd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd; a pidfd is readable once its process exited.
        if unsafe { libc::poll(&mut pfd, 1, 0) } == 0 {
            return Some(Arc::clone(p));
        }
        processes.remove(&tid);
    }
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse::<libc::pid_t>().ok());
    let (pid, ppid) = (field("Tgid:")?, field("PPid:")?);
    // SAFETY: pidfd_open takes a pid and flags.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as c_int;
    if pidfd < 0 {
        return None;
    }
    if processes.len() > 4096 {
        // Bounded: forget the exited ones.
        processes.retain(|_, p| {
            let mut pfd = libc::pollfd { fd: p.pidfd, events: libc::POLLIN, revents: 0 };
            // SAFETY: as above.
            unsafe { libc::poll(&mut pfd, 1, 0) == 0 }
        });
    }
    let p = Arc::new(Process { caller: Caller { pid, tid, ppid }, pidfd, threads: Mutex::new(HashMap::new()) });
    processes.insert(tid, Arc::clone(&p));
    Some(p)
}

/// How a notification is answered.
enum Reply {
    /// The call's value.
    Value(i64),
    /// The call failed with this errno.
    Error(Errno),
    /// The kernel makes the call itself (`mq_notify`).
    Continue,
    /// A signal ended the call: the kernel's restart code for it.
    Restart(i32),
    /// Already answered (a descriptor installed with the answer), or the notification ended.
    Done,
}

/// One notification being served.
struct Request<'a> {
    shared: &'a Shared,
    id: u64,
    tid: libc::pid_t,
    process: &'a Process,
    /// Set by the watchdog while the call blocks (see [`SIGNALLED`], [`ENDED`]).
    state: Arc<AtomicU8>,
    /// The kernel's restart code the caller is answered with (a signal ended its call).
    restart: Cell<Option<i32>>,
    /// Answered during the call (ADDFD with SEND), or to be answered with "continue".
    answered: Cell<bool>,
    continue_it: Cell<bool>,
}

fn serve(shared: &Shared, n: &libc::seccomp_notif, blocking: bool) {
    let tid = n.pid as libc::pid_t;
    let Some(process) = process_of(shared, tid) else {
        // Gone already: the notification is too.
        return;
    };
    let req = Request {
        shared,
        id: n.id,
        tid,
        process: &process,
        state: Arc::new(AtomicU8::new(RUNNING)),
        restart: Cell::new(None),
        answered: Cell::new(false),
        continue_it: Cell::new(false),
    };
    if blocking {
        let w = Waiting {
            tid,
            // SAFETY: pthread_self cannot fail.
            thread: unsafe { libc::pthread_self() },
            state: Arc::clone(&req.state),
        };
        shared.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(n.id, w);
    }
    let reply = match c_long::from(n.data.nr) {
        libc::SYS_close => close(&req, n.data.args[0]),
        libc::SYS_dup2 | libc::SYS_dup3 => replace(&req, n.data.args[0], n.data.args[1]),
        _ => on_behalf(&process, tid, || handle(&req, &n.data)),
    };
    if blocking {
        shared.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&n.id);
    }
    let (val, error, flags) = match reply {
        Reply::Value(v) => (v, 0, 0),
        Reply::Error(e) => (0, -(e as i32), 0),
        Reply::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
        Reply::Restart(code) => (0, -code, 0),
        Reply::Done => return,
    };
    let resp = libc::seccomp_notif_resp { id: n.id, val, error, flags };
    // SAFETY: SEND reads one seccomp_notif_resp. ENOENT (the notification ended) needs nothing.
    unsafe { libc::ioctl(shared.listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
}

impl Request<'_> {
    /// `len` bytes of the caller's memory at `addr`, or None when unreadable.
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let mut v = vec![0u8; len];
        usermem::read_from(self.tid, addr as usize, &mut v).then_some(v)
    }

    /// A `T` from the caller's memory at `addr` (plain C data).
    fn read_struct<T: Copy>(&self, addr: u64) -> Option<T> {
        let mut value = std::mem::MaybeUninit::<T>::zeroed();
        // SAFETY: the slice covers exactly the storage of `value`.
        let bytes = unsafe { std::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), std::mem::size_of::<T>()) };
        // SAFETY: every byte was written (or zeroed), and T is plain C data, valid for any bits.
        usermem::read_from(self.tid, addr as usize, bytes).then(|| unsafe { value.assume_init() })
    }

    fn write(&self, addr: u64, bytes: &[u8]) -> Result<()> {
        if usermem::write_to(self.tid, addr as usize, bytes) {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    /// A copy of the caller's descriptor `fd` (closed when dropped), or -1 when it has none.
    fn descriptor(&self, fd: u64) -> Descriptor {
        // SAFETY: pidfd_getfd takes a pidfd, a descriptor number and flags.
        let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, self.process.pidfd, fd as c_int, 0) } as c_int;
        Descriptor(copy.max(-1))
    }

    /// Whether the notification is still valid: the caller still waits, so the memory read
    /// was its own and the call may be made.
    fn valid(&self) -> bool {
        id_valid(self.shared.listener, self.id)
    }

    /// Makes a call that may block, again after an interruption of this thread by anything
    /// else, until the caller has a signal to take (then EINTR in the trace, with nothing
    /// taken or sent, and the caller answered with `restart`, the kernel's code for this call)
    /// or was killed (no answer).
    fn blocking(&self, restart: i32, mut call: impl FnMut() -> i64) -> Result<i64> {
        loop {
            match self.state.load(Ordering::Acquire) {
                ENDED => {
                    self.answered.set(true);
                    return Err(Errno::EINTR);
                }
                SIGNALLED => {
                    self.restart.set(Some(restart));
                    return Err(Errno::EINTR);
                }
                _ => {}
            }
            match call() {
                r if r >= 0 => return Ok(r),
                _ if Errno::last() == Errno::EINTR => continue,
                _ => return Err(Errno::last()),
            }
        }
    }
}

/// A local copy of a caller's descriptor.
struct Descriptor(c_int);

impl Drop for Descriptor {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: our copy.
            unsafe { libc::close(self.0) };
        }
    }
}

/// A libc-style system call value as a result.
fn checked(ret: c_long) -> Result<i64> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// The local address an argument's copy is at, or [`BAD_ADDRESS`] when it could not be read.
fn local<T>(copy: &Option<T>) -> usize {
    copy.as_ref().map_or(BAD_ADDRESS, |c| c as *const T as usize)
}

/// The local address of a byte buffer's copy, or [`BAD_ADDRESS`].
fn local_bytes(copy: &Option<Vec<u8>>) -> usize {
    copy.as_ref().map_or(BAD_ADDRESS, |c| c.as_ptr() as usize)
}

/// The caller's ids, groups and umask (/proc/TID/status) and effective capabilities
/// (`capget`), for the calls the kernel checks permissions of.
struct Identity {
    umask: Option<libc::mode_t>,
    /// Real, effective and saved ids.
    uid: [libc::uid_t; 3],
    gid: [libc::gid_t; 3],
    groups: Vec<libc::gid_t>,
    /// Effective capabilities (None: not known, ours are used).
    caps: Option<u64>,
}

/// `struct pidfd_info` (linux/pidfd.h, Linux 6.13), as far as the credentials.
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
    coredump_mask: u32,
    spare: u32,
}

/// PIDFD_GET_INFO: _IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, struct pidfd_info).
const PIDFD_GET_INFO: libc::c_ulong = (3 << 30) | ((std::mem::size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;
const PIDFD_INFO_CREDS: u64 = 2;

/// Whether the calling thread `tid` of `process` has this thread's user and group ids: then no
/// switch is needed, and /proc need not be read (the common case, at a third of a
/// microsecond).
fn same_ids(process: &Process, tid: libc::pid_t) -> bool {
    let Some(info) = process.thread_info(tid) else { return false };
    let own = own_identity();
    [info.ruid, info.euid, info.rgid, info.egid] == [own.uid[0], own.uid[1], own.gid[0], own.gid[1]]
}

/// The real uid of thread `tid` of `process` (from its pidfd, else /proc; u32::MAX when
/// neither says).
fn real_uid(process: &Process, tid: libc::pid_t) -> u32 {
    match process.thread_info(tid) {
        Some(info) => info.ruid,
        None => identity_of(tid).map_or(u32::MAX, |who| who.uid[0]),
    }
}

/// The effective capabilities a serving thread has between calls (the supervisor's, read once:
/// a call made with a caller's puts them back).
fn serving_caps() -> Option<u64> {
    static CAPS: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *CAPS.get_or_init(|| mqshim_core::os::creds::effective_caps_of(0))
}

/// The identity a call is made with: None when it is this process's own (no umask wanted, and
/// the caller's ids and effective capabilities are ours: a root program may have dropped some
/// with `capset`), else the caller's from /proc and `capget`.
fn identity_for(req: &Request<'_>, with_umask: bool) -> Option<Identity> {
    let caps = mqshim_core::os::creds::effective_caps_of(req.tid);
    if !with_umask && same_ids(req.process, req.tid) {
        if caps.is_none() || caps == serving_caps() {
            return None;
        }
        return Some(Identity { caps, ..own_identity() });
    }
    let who = identity_of(req.tid)?;
    Some(Identity { umask: if with_umask { who.umask } else { None }, caps, ..who })
}

fn identity_of(tid: libc::pid_t) -> Option<Identity> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let line = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_default();
    let ids = |name: &str| -> Option<[u32; 3]> {
        let v: Vec<u32> = line(name).split_whitespace().filter_map(|w| w.parse().ok()).collect();
        Some([*v.first()?, *v.get(1)?, *v.get(2)?])
    };
    Some(Identity {
        umask: libc::mode_t::from_str_radix(line("Umask:").trim(), 8).ok(),
        uid: ids("Uid:")?,
        gid: ids("Gid:")?,
        groups: line("Groups:").split_whitespace().filter_map(|w| w.parse().ok()).collect(),
        caps: None,
    })
}

/// This thread's credentials as an [`Identity`] (umask left out).
fn own_identity() -> Identity {
    let (mut uid, mut gid) = ([0; 3], [0; 3]);
    let mut groups = vec![0; 256];
    // SAFETY: out-pointers to three ids each; getgroups fills at most `groups.len()` entries.
    let n = unsafe {
        libc::getresuid(&mut uid[0], &mut uid[1], &mut uid[2]);
        libc::getresgid(&mut gid[0], &mut gid[1], &mut gid[2]);
        libc::getgroups(groups.len() as c_int, groups.as_mut_ptr())
    };
    groups.truncate(n.max(0) as usize);
    Identity { umask: None, uid, gid, groups, caps: None }
}

/// Sets this thread's (only this thread's: raw system calls) groups, group ids and user ids;
/// the saved ids stay, so the supervisor's own can be set back. False when refused.
fn set_thread_identity(uid: [libc::uid_t; 2], gid: [libc::gid_t; 2], groups: &[libc::gid_t], user_first: bool) -> bool {
    // -1: unchanged (the saved ids).
    let keep = libc::uid_t::MAX;
    // SAFETY: integer arguments, and `groups` for setgroups, alive for the call.
    unsafe {
        let set_user = || libc::syscall(libc::SYS_setresuid, uid[0], uid[1], keep) == 0;
        let set_group =
            || libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) == 0 && libc::syscall(libc::SYS_setresgid, gid[0], gid[1], keep) == 0;
        let steps: [&dyn Fn() -> bool; 2] = if user_first { [&set_user, &set_group] } else { [&set_group, &set_user] };
        steps.iter().all(|step| step())
    }
}

/// Runs `f` with the serving thread's user and group ids, groups and (for `mq_open`) the
/// process's umask set to the caller's `who`, then sets this process's back. Ids that cannot be
/// changed (a supervisor without CAP_SETUID, whose callers cannot have other ids either) are
/// left as they are.
fn as_caller<R>(who: Option<&Identity>, f: impl FnOnce() -> R) -> R {
    // The emulation caches a thread's credentials: this thread's change with every caller.
    mqshim_core::dispatch::credentials_changed();
    let Some(who) = who else { return f() };
    let own = own_identity();
    let switch = (who.uid[0], who.uid[1], who.gid[0], who.gid[1]) != (own.uid[0], own.uid[1], own.gid[0], own.gid[1]) || who.groups != own.groups;
    // Ours, as between calls (the ids may change them below).
    let own_caps = who.caps.and(serving_caps());
    let switched = switch && set_thread_identity([who.uid[0], who.uid[1]], [who.gid[0], who.gid[1]], &who.groups, false);
    // The caller's effective capabilities, within our permitted ones (after the ids: a change
    // of the effective uid from 0 clears them).
    let capped = match (who.caps, mqshim_core::os::creds::effective_caps_of(0)) {
        (Some(theirs), Some(now)) if theirs != now => mqshim_core::os::creds::set_own_effective_caps(theirs),
        _ => false,
    };
    let _one_at_a_time = who.umask.map(|_| UMASK.lock().unwrap_or_else(|e| e.into_inner()));
    // SAFETY: umask takes and returns a mode.
    let before = who.umask.map(|m| unsafe { libc::umask(m) });
    let result = f();
    if let Some(m) = before {
        // SAFETY: as above.
        unsafe { libc::umask(m) };
    }
    if switched {
        set_thread_identity([own.uid[0], own.uid[1]], [own.gid[0], own.gid[1]], &own.groups, true);
    }
    if let (true, Some(caps)) = (capped, own_caps) {
        mqshim_core::os::creds::set_own_effective_caps(caps);
    }
    if switched || capped {
        mqshim_core::dispatch::credentials_changed();
    }
    result
}

/// Size of `struct msqid_ds` and `struct msginfo` on this ABI: what msgctl reads or writes.
fn msgctl_buffer_size(cmd: c_int) -> (usize, bool) {
    const IPC_64: c_int = 0x100;
    /// msgctl(2)'s MSG_STAT_ANY (Linux 4.17), which the libc crate lacks.
    const MSG_STAT_ANY: c_int = 13;
    match cmd & !IPC_64 {
        libc::IPC_SET => (std::mem::size_of::<libc::msqid_ds>(), true),
        libc::IPC_STAT | libc::MSG_STAT | MSG_STAT_ANY => (std::mem::size_of::<libc::msqid_ds>(), false),
        libc::IPC_INFO | libc::MSG_INFO => (8 * std::mem::size_of::<c_int>(), false),
        _ => (0, false),
    }
}

/// Runs `f` as a call of thread `tid` of `process`: its trace records carry the process's ids,
/// and under the emulation what the emulation records as the caller's own — a notification's
/// owner, a notification's sender — is the served process's (its pid, and the real uid of the
/// calling thread).
fn on_behalf<R>(process: &Process, tid: libc::pid_t, f: impl FnOnce() -> R) -> R {
    if mqshim_core::dispatch::backend_kind() == BackendKind::Kernel {
        return trace::on_behalf_of(process.caller, f);
    }
    let ruid = real_uid(process, tid);
    trace::on_behalf_of(process.caller, || mqshim_core::os::ids::serving(process.caller.pid, ruid, f))
}

/// `close(2)` of a served process, which is also glibc's `mq_close`. The close itself is the
/// kernel's ("continue"); a queue descriptor's is first its `mq_close`: traced as that, and
/// under the emulation the caller's notification registration on the queue goes with it (the
/// kernel's `mqueue_flush_file` removes it at every close by the owner of any descriptor of
/// the queue, a duplicate's too). A fault injected into `mq_close` is the answer instead, and
/// the descriptor stays open. Any other descriptor costs one copy and one `fstat` here.
fn close(req: &Request<'_>, fd_arg: u64) -> Reply {
    let copy = req.descriptor(fd_arg);
    let backend = mqshim_core::dispatch::backend();
    let kernel = backend.kind() == BackendKind::Kernel;
    // The emulation's own test (a FIFO of its namespace, marked by it) or the kernel's file.
    let adopted = Adopted::new(backend, &copy);
    let queue = if kernel { is_kernel_queue(copy.0) } else { adopted.adopted };
    if !queue {
        return Reply::Continue;
    }
    let call = Call::MqClose { mqdes: fd_arg as c_int };
    // SAFETY: no pointer: the call's one argument is the caller's descriptor number; the
    // backend is given our copy of it.
    let closing = || unsafe {
        mqshim_core::dispatch::run_with(call, |backend| {
            if !kernel {
                backend.descriptor_closing_in_served(copy.0);
            }
            Ok(0)
        })
    };
    if !req.valid() {
        return Reply::Done;
    }
    match on_behalf(req.process, req.tid, closing) {
        Ok(_) => Reply::Continue,
        Err(e) => Reply::Error(e),
    }
}

/// `dup2(old, new)` or `dup3` of a served process, which the kernel then makes ("continue"):
/// when `new` is a queue descriptor it is closed by the call, which under the emulation
/// removes the caller's notification registration on its queue as any close does (not traced:
/// the program called `dup2`). Nothing is done when `old` is no descriptor (EBADF, nothing
/// closed) or is `new` itself.
fn replace(req: &Request<'_>, old: u64, new: u64) -> Reply {
    let backend = mqshim_core::dispatch::backend();
    if old as c_int == new as c_int || backend.kind() == BackendKind::Kernel || req.descriptor(old).0 < 0 {
        return Reply::Continue;
    }
    let copy = req.descriptor(new);
    let adopted = Adopted::new(backend, &copy);
    if adopted.adopted && req.valid() {
        on_behalf(req.process, req.tid, || backend.descriptor_closing_in_served(copy.0));
    }
    Reply::Continue
}

/// Whether `fd` (our copy of a served process's descriptor) is a file of the kernel's mqueue
/// filesystem.
fn is_kernel_queue(fd: c_int) -> bool {
    /// `MQUEUE_MAGIC`, the mqueue filesystem's `f_type`.
    const MQUEUE_MAGIC: i64 = 0x1980_0202;
    // SAFETY: statfs is plain data, filled by fstatfs.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor of ours (or -1: EBADF) and a statfs to fill.
    fd >= 0 && unsafe { libc::fstatfs(fd, &mut fs) } == 0 && fs.f_type as i64 == MQUEUE_MAGIC
}

/// Serves one queue call: builds its [`Call`] over local copies and runs it through dispatch.
fn handle(req: &Request<'_>, d: &libc::seccomp_data) -> Reply {
    let a = d.args;
    let nr = c_long::from(d.nr);
    let outcome: Result<i64> = match nr {
        libc::SYS_mq_open | libc::SYS_mq_unlink => {
            // The library functions' names start with '/', the system call's do not.
            let mut name = vec![0u8; libc::PATH_MAX as usize + 2];
            name[0] = b'/';
            let name_ptr = match usermem::read_cstr_from(req.tid, a[0] as usize, &mut name[1..=libc::PATH_MAX as usize]) {
                None => BAD_ADDRESS as *const c_char,
                Some((_, false)) => return Reply::Error(Errno::ENAMETOOLONG),
                Some(_) => name.as_ptr().cast(),
            };
            let kernel_name = if name_ptr as usize == BAD_ADDRESS { BAD_ADDRESS } else { name_ptr as usize + 1 };
            let who = identity_for(req, nr == libc::SYS_mq_open);
            if nr == libc::SYS_mq_unlink {
                if !req.valid() {
                    return Reply::Done;
                }
                // SAFETY: the name is a local copy (or the bad address, for the kernel's EFAULT).
                unsafe {
                    mqshim_core::dispatch::run_with(Call::MqUnlink { name: name_ptr }, |backend| {
                        as_caller(who.as_ref(), || {
                            checked(by_backend(backend, || libc::syscall(libc::SYS_mq_unlink, kernel_name), |b| b.mq_unlink(name_ptr).map(i64::from)))
                        })
                    })
                }
            } else {
                let attr: Option<libc::mq_attr> = if a[3] == 0 { None } else { req.read_struct(a[3]) };
                let attr_ptr = if a[3] == 0 { 0 } else { local(&attr) };
                let call = Call::MqOpen { name: name_ptr, oflag: a[1] as c_int, mode: a[2] as libc::mode_t, attr: attr_ptr as *const _, fortify: false };
                if !req.valid() {
                    return Reply::Done;
                }
                // SAFETY: the name and attributes are local copies (or the bad address).
                let opened = unsafe {
                    mqshim_core::dispatch::run_with(call, |backend| {
                        let fd = as_caller(who.as_ref(), || {
                            checked(by_backend(
                                backend,
                                || libc::syscall(libc::SYS_mq_open, kernel_name, a[1] as c_int, a[2] as libc::mode_t, attr_ptr),
                                |b| b.mq_open(name_ptr, a[1] as c_int, a[2] as libc::mode_t, attr_ptr as *mut _, false).map(i64::from),
                            ))
                        })?;
                        // The caller may poll, select or epoll it, which nobody sees here: its
                        // queue's readiness is kept from now on (as when a preloaded program
                        // polls a descriptor).
                        backend.descriptor_polled(fd as c_int);
                        // The caller's from now on: the emulation forgets it, its open
                        // description marked with its access mode.
                        backend.descriptor_handed_back(fd as c_int);
                        install(req, fd as c_int)
                    })
                };
                match opened {
                    // Opened by the limits' own path (--limits over the kernel): installed now.
                    Ok(fd) if !req.answered.get() => install(req, fd as c_int),
                    other => other,
                }
            }
        }
        libc::SYS_mq_timedsend | libc::SYS_mq_timedreceive => {
            let timeout: Option<libc::timespec> = if a[4] == 0 { None } else { req.read_struct(a[4]) };
            let timeout_ptr = if a[4] == 0 { 0 } else { local(&timeout) };
            // Without a timeout the call is what libc's mq_send/mq_receive make: named so.
            let call_timeout = (a[4] != 0).then_some(timeout_ptr as *const libc::timespec);
            let fd = req.descriptor(a[0]);
            let len = a[2] as usize;
            if !req.valid() {
                return Reply::Done;
            }
            if nr == libc::SYS_mq_timedsend {
                let msg = if len <= MAX_COPY { req.read(a[1], len) } else { None };
                let msg_ptr = local_bytes(&msg);
                let call = Call::MqSend { mqdes: a[0] as c_int, msg: msg_ptr as *const _, len, prio: a[3] as u32, timeout: call_timeout };
                // SAFETY: local copies (or the bad address) and our copy of the descriptor.
                unsafe {
                    mqshim_core::dispatch::run_with(call, |backend| {
                        let _adopted = Adopted::new(backend, &fd);
                        req.blocking(ERESTARTSYS, || {
                            by_backend(
                                backend,
                                || libc::syscall(libc::SYS_mq_timedsend, fd.0, msg_ptr, len, a[3] as u32, timeout_ptr),
                                |b| b.mq_send(fd.0, msg_ptr as *const c_char, len, a[3] as u32, Some(timeout_ptr as *const libc::timespec)).map(i64::from),
                            )
                        })
                    })
                }
            } else {
                let mut msg = vec![0u8; len.min(MAX_COPY)];
                let mut prio: u32 = 0;
                let prio_ptr = if a[3] == 0 { std::ptr::null_mut() } else { &mut prio as *mut u32 };
                let call = Call::MqReceive { mqdes: a[0] as c_int, msg: msg.as_mut_ptr().cast(), len: msg.len(), prio: prio_ptr, timeout: call_timeout };
                let msg_ptr = msg.as_mut_ptr() as usize;
                let msg_len = msg.len();
                // SAFETY: local buffers (or the bad address) and our copy of the descriptor.
                unsafe {
                    mqshim_core::dispatch::run_with(call, |backend| {
                        let _adopted = Adopted::new(backend, &fd);
                        let got = req.blocking(ERESTARTSYS, || {
                            by_backend(
                                backend,
                                || libc::syscall(libc::SYS_mq_timedreceive, fd.0, msg_ptr, msg_len, prio_ptr, timeout_ptr),
                                |b| b.mq_receive(fd.0, msg_ptr as *mut c_char, msg_len, prio_ptr, Some(timeout_ptr as *const libc::timespec)).map(|n| n as i64),
                            )
                        })?;
                        // The kernel's order: the priority, then the message (EFAULT after taking it).
                        if a[3] != 0 {
                            req.write(a[3], &(*prio_ptr).to_ne_bytes())?;
                        }
                        req.write(a[1], std::slice::from_raw_parts(msg_ptr as *const u8, got as usize))?;
                        Ok(got)
                    })
                }
            }
        }
        libc::SYS_mq_notify => {
            let sev: Option<libc::sigevent> = if a[1] == 0 { None } else { req.read_struct(a[1]) };
            let sev_ptr = if a[1] == 0 { 0 } else { local(&sev) };
            let fd = req.descriptor(a[0]);
            // SIGEV_THREAD from a program is the kernel's netlink form (glibc's mq_notify
            // makes it): the cookie it points to and a copy of the socket it names, which the
            // emulation registers on a kernel queue of this process's (`notify::carrier`).
            let thread = sev.filter(|s| s.sigev_notify == libc::SIGEV_THREAD).map(|s| {
                let cookie_at = s.sigev_value.sival_ptr as u64;
                (req.read_struct::<[u8; served::NOTIFY_COOKIE_LEN]>(cookie_at), req.descriptor(s.sigev_signo as u64))
            });
            if !req.valid() {
                return Reply::Done;
            }
            // SAFETY: a local copy (or the bad address); the checks read only our copies.
            unsafe {
                mqshim_core::dispatch::run_with(Call::MqNotify { mqdes: a[0] as c_int, sev: sev_ptr as *const _ }, |backend| {
                    if backend.kind() == BackendKind::Kernel {
                        notify_checks(a[1] != 0, sev.as_ref(), fd.0)?;
                        req.continue_it.set(true);
                        return Ok(0);
                    }
                    // The emulation registers the caller (`ids::serving`, see `serve`) on
                    // the queue of its adopted descriptor.
                    let adopted = Adopted::new(backend, &fd);
                    let here = if adopted.adopted { fd.0 } else { -1 };
                    let register = || backend.mq_notify(here, sev_ptr as *const _).map(i64::from);
                    match thread {
                        None => register(),
                        // The kernel reads the cookie, then looks at the socket.
                        Some((None, _)) => Err(Errno::EFAULT),
                        // Our copy of the program's socket (-1 when it has none: EBADF).
                        Some((Some(cookie), socket)) => served::netlink_form(served::NetlinkTarget::new(socket.0, cookie)?, register),
                    }
                })
            }
        }
        libc::SYS_mq_getsetattr => {
            let new: Option<libc::mq_attr> = if a[1] == 0 { None } else { req.read_struct(a[1]) };
            let new_ptr = if a[1] == 0 { 0 } else { local(&new) };
            // SAFETY: an all-zero mq_attr is valid.
            let mut old: libc::mq_attr = unsafe { std::mem::zeroed() };
            let old_ptr = &mut old as *mut libc::mq_attr;
            let fd = req.descriptor(a[0]);
            let call = match (new_ptr, a[2]) {
                (0, _) => Call::MqGetattr { mqdes: a[0] as c_int, attr: old_ptr },
                (new, 0) => Call::MqSetattr { mqdes: a[0] as c_int, new: new as *const _, old: std::ptr::null_mut() },
                (new, _) => Call::MqSetattr { mqdes: a[0] as c_int, new: new as *const _, old: old_ptr },
            };
            // With neither pointer the kernel checks only the descriptor; the trace shows what
            // it gave, through the local old-attributes copy (as the trap does).
            let kernel_old = if a[2] == 0 && new_ptr != 0 { std::ptr::null_mut() } else { old_ptr };
            if !req.valid() {
                return Reply::Done;
            }
            // SAFETY: local copies (or the bad address) and our copy of the descriptor.
            unsafe {
                mqshim_core::dispatch::run_with(call, |backend| {
                    let _adopted = Adopted::new(backend, &fd);
                    let v = checked(by_backend(
                        backend,
                        || libc::syscall(libc::SYS_mq_getsetattr, fd.0, new_ptr, kernel_old),
                        |b| {
                            if new_ptr == 0 {
                                b.mq_getattr(fd.0, old_ptr).map(i64::from)
                            } else {
                                b.mq_setattr(fd.0, new_ptr as *const libc::mq_attr, old_ptr).map(i64::from)
                            }
                        },
                    ))?;
                    if a[2] != 0 {
                        req.write(a[2], std::slice::from_raw_parts(old_ptr.cast::<u8>(), std::mem::size_of::<libc::mq_attr>()))?;
                    }
                    Ok(v)
                })
            }
        }
        libc::SYS_msgget => {
            if !req.valid() {
                return Reply::Done;
            }
            let who = identity_for(req, false);
            // SAFETY: integer arguments only.
            unsafe {
                mqshim_core::dispatch::run_with(Call::Msgget { key: a[0] as libc::key_t, flags: a[1] as c_int }, |backend| {
                    as_caller(who.as_ref(), || {
                        checked(by_backend(
                            backend,
                            || libc::syscall(libc::SYS_msgget, a[0] as libc::key_t, a[1] as c_int),
                            |b| b.msgget(a[0] as libc::key_t, a[1] as c_int).map(i64::from),
                        ))
                    })
                })
            }
        }
        libc::SYS_msgsnd => {
            let size = a[2] as usize;
            // The type is read first (EFAULT), then the size checked, then the text read: a
            // size the kernel refuses is not copied.
            let copied = if size <= MAX_COPY { size } else { 0 };
            let msg = req.read(a[1], 8 + copied);
            // A readable type before unreadable text: the type alone, before a page that faults.
            let type_only = if msg.is_none() { req.read(a[1], 8).and_then(|t| TypeBeforeFault::new(&t)) } else { None };
            let msg_ptr = match &type_only {
                Some(t) => t.address(),
                None => local_bytes(&msg),
            };
            let (id, flags) = (a[0] as c_int, a[3] as c_int);
            let who = identity_for(req, false);
            if !req.valid() {
                return Reply::Done;
            }
            // SAFETY: a local copy (or the bad address).
            unsafe {
                mqshim_core::dispatch::run_with(Call::Msgsnd { id, msgp: msg_ptr as *const _, size, flags }, |backend| {
                    let v = req.blocking(ERESTARTNOHAND, || {
                        as_caller(who.as_ref(), || {
                            by_backend(
                                backend,
                                || libc::syscall(libc::SYS_msgsnd, id, msg_ptr, size, flags),
                                |b| b.msgsnd(id, msg_ptr as *const _, size, flags).map(i64::from),
                            )
                        })
                    })?;
                    senders::sent(id, req.process.caller.pid);
                    Ok(v)
                })
            }
        }
        libc::SYS_msgrcv => {
            let size = a[2] as usize;
            // A negative size is the kernel's EINVAL before it writes anything.
            let room = if (size as isize) < 0 { 0 } else { size.min(MAX_COPY) };
            let kernel_size = if (size as isize) < 0 { size } else { room };
            let mut msg = vec![0u8; 8 + room];
            let msg_ptr = msg.as_mut_ptr() as usize;
            let (id, typ, flags) = (a[0] as c_int, a[3] as c_long, a[4] as c_int);
            let who = identity_for(req, false);
            if !req.valid() {
                return Reply::Done;
            }
            // SAFETY: a local buffer of 8 + room bytes, which the kernel writes at most.
            unsafe {
                mqshim_core::dispatch::run_with(Call::Msgrcv { id, msgp: msg_ptr as *mut _, size: kernel_size, typ, flags }, |backend| {
                    let got = req.blocking(ERESTARTNOHAND, || {
                        as_caller(who.as_ref(), || {
                            by_backend(
                                backend,
                                || libc::syscall(libc::SYS_msgrcv, id, msg_ptr, kernel_size, typ, flags),
                                |b| b.msgrcv(id, msg_ptr as *mut _, kernel_size, typ, flags).map(|n| n as i64),
                            )
                        })
                    })?;
                    if flags & libc::MSG_COPY == 0 {
                        senders::received(id, req.process.caller);
                    }
                    req.write(a[1], &msg[..8 + got as usize])?;
                    Ok(got)
                })
            }
        }
        libc::SYS_msgctl => {
            let (id, cmd) = (a[0] as c_int, a[1] as c_int);
            let (size, reads) = msgctl_buffer_size(cmd);
            let mut buf = if reads { req.read(a[2], size) } else { Some(vec![0u8; size.max(std::mem::size_of::<libc::msqid_ds>())]) };
            let buf_ptr = match (&mut buf, a[2]) {
                (_, 0) => 0,
                (Some(b), _) => b.as_mut_ptr() as usize,
                (None, _) => BAD_ADDRESS,
            };
            let who = identity_for(req, false);
            if !req.valid() {
                return Reply::Done;
            }
            // SAFETY: a local buffer of the size the command uses (or the bad address, or NULL).
            unsafe {
                mqshim_core::dispatch::run_with(Call::Msgctl { id, cmd, buf: buf_ptr as *mut _ }, |backend| {
                    let v = as_caller(who.as_ref(), || {
                        checked(by_backend(
                            backend,
                            || libc::syscall(libc::SYS_msgctl, id, cmd, buf_ptr),
                            |b| b.msgctl(id, cmd, buf_ptr as *mut _).map(i64::from),
                        ))
                    })?;
                    if size == std::mem::size_of::<libc::msqid_ds>() && !reads && a[2] != 0 {
                        // A STAT's id is the queue's (IPC_STAT) or the value (MSG_STAT*).
                        let queue = if cmd & 0xff == libc::IPC_STAT { id } else { v as c_int };
                        senders::show_served(queue, &mut *(buf_ptr as *mut libc::msqid_ds));
                    }
                    if !reads && size > 0 && a[2] != 0 {
                        req.write(a[2], std::slice::from_raw_parts(buf_ptr as *const u8, size))?;
                    }
                    Ok(v)
                })
            }
        }
        _ => Err(Errno::ENOSYS),
    };
    if req.answered.get() {
        return Reply::Done;
    }
    if let Some(code) = req.restart.get() {
        return Reply::Restart(code);
    }
    match outcome {
        Ok(_) if req.continue_it.get() => Reply::Continue,
        Ok(v) => Reply::Value(v),
        Err(e) => Reply::Error(e),
    }
}

/// Makes a call for the caller as the backend does it: the system call itself under the kernel
/// backend (`kernel`, whose result and errno are the answer), the backend's own call otherwise
/// (`emulated`: the emulation, made in this process on the same local copies, with the serving
/// thread's credentials the caller's, on an adopted copy of its descriptor). Returns as the
/// system call does: the value, or -1 with errno set.
fn by_backend(backend: &dyn Backend, kernel: impl FnOnce() -> c_long, emulated: impl FnOnce(&dyn Backend) -> Result<i64>) -> c_long {
    if backend.kind() == BackendKind::Kernel {
        return kernel();
    }
    match emulated(backend) {
        Ok(v) => v as c_long,
        Err(e) => {
            mqshim_core::errno::set(e as c_int);
            -1
        }
    }
}

/// The caller's descriptor, copied here, made usable by the backend for one call
/// (`Backend::descriptor_adopted`) and handed back when dropped. A copy that is no queue
/// descriptor of the backend (or no copy: the caller has no such descriptor) stays unknown to
/// it, so that the call fails as the kernel's does, with EBADF after the checks that come first.
struct Adopted<'a> {
    backend: &'a dyn Backend,
    fd: c_int,
    adopted: bool,
}

impl<'a> Adopted<'a> {
    fn new(backend: &'a dyn Backend, copy: &Descriptor) -> Adopted<'a> {
        let adopted = backend.kind() != BackendKind::Kernel && copy.0 >= 0 && backend.descriptor_adopted(copy.0).is_ok();
        Adopted { backend, fd: copy.0, adopted }
    }
}

impl Drop for Adopted<'_> {
    fn drop(&mut self) {
        if self.adopted {
            self.backend.descriptor_handed_back(self.fd);
        }
    }
}

/// Installs our descriptor `fd` in the caller as the answer to its `mq_open` (close-on-exec,
/// as every queue descriptor the kernel makes), and closes ours: the caller's number.
fn install(req: &Request<'_>, fd: c_int) -> Result<i64> {
    let addfd =
        libc::seccomp_notif_addfd { id: req.id, flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32, srcfd: fd as u32, newfd: 0, newfd_flags: libc::O_CLOEXEC as u32 };
    // SAFETY: ADDFD reads one seccomp_notif_addfd.
    let installed = unsafe { libc::ioctl(req.shared.listener, libc::SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) };
    let error = Errno::last();
    // SAFETY: our descriptor, now the caller's too (or not needed).
    unsafe { libc::close(fd) };
    if installed >= 0 {
        req.answered.set(true);
        return Ok(installed.into());
    }
    if error == Errno::ENOENT {
        // The caller was interrupted (or died): it never gets the descriptor.
        req.answered.set(true);
        return Err(Errno::EINTR);
    }
    Err(error)
}

/// What the kernel's `mq_notify` checks before it registers, made on our copy of the
/// descriptor: the kernel then makes the call itself ("continue"), and this is its result
/// unless another process registers in between.
fn notify_checks(given: bool, sev: Option<&libc::sigevent>, fd: c_int) -> Result<()> {
    if given {
        let sev = sev.ok_or(Errno::EFAULT)?;
        match sev.sigev_notify {
            libc::SIGEV_NONE | libc::SIGEV_THREAD => {}
            libc::SIGEV_SIGNAL if (sev.sigev_signo as u32) <= 64 => {}
            _ => return Err(Errno::EINVAL),
        }
    }
    // SAFETY: an all-zero mq_attr is valid; the kernel writes it.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    // SAFETY: a getattr of our copy: EBADF when it is not a queue descriptor.
    checked(unsafe { libc::syscall(libc::SYS_mq_getsetattr, fd, 0, &mut attr as *mut libc::mq_attr) })?;
    if given {
        // The queue's status line names the registered process (NOTIFY_PID): EBUSY if any.
        let mut line = [0u8; 128];
        // SAFETY: reads into `line`; pread leaves the shared file position alone.
        let n = unsafe { libc::pread(fd, line.as_mut_ptr().cast(), line.len(), 0) };
        let text = &line[..n.max(0) as usize];
        let owner = text
            .split(|&b| b == b' ' || b == b'\n')
            .find_map(|w| w.strip_prefix(b"NOTIFY_PID:"))
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok());
        if owner.is_some_and(|p| p != 0) {
            return Err(Errno::EBUSY);
        }
    }
    Ok(())
}

/// The kernel records this process as the last sender and receiver of a System V queue
/// (`msg_lspid`, `msg_lrpid`; for a message handed straight to a blocked receiver, that
/// receiving thread's id) when it serves a call: a STAT served here shows the served process
/// (or thread) instead. (Another process's STAT, or `/proc/sysvipc/msg`, still shows this one.)
mod senders {
    use std::collections::HashMap;
    use std::os::raw::c_int;
    use std::sync::Mutex;

    use mqshim_core::trace::Caller;

    /// The last served sender and receiver of a queue, and the thread that served the receive.
    #[derive(Clone, Copy, Default)]
    struct Last {
        sender: libc::pid_t,
        receiver: libc::pid_t,
        receiving_thread: libc::pid_t,
        serving_thread: libc::pid_t,
    }

    static LAST: Mutex<Option<HashMap<c_int, Last>>> = Mutex::new(None);

    fn with<R>(f: impl FnOnce(&mut HashMap<c_int, Last>) -> R) -> R {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        f(last.get_or_insert_with(HashMap::new))
    }

    pub fn sent(id: c_int, pid: libc::pid_t) {
        with(|m| m.entry(id).or_default().sender = pid);
    }

    pub fn received(id: c_int, caller: Caller) {
        // SAFETY: gettid cannot fail.
        let serving_thread = unsafe { libc::gettid() };
        with(|m| {
            let last = m.entry(id).or_default();
            (last.receiver, last.receiving_thread, last.serving_thread) = (caller.pid, caller.tid, serving_thread);
        });
    }

    pub fn show_served(id: c_int, ds: &mut libc::msqid_ds) {
        let own = std::process::id() as libc::pid_t;
        with(|m| {
            let last = m.get(&id).copied().unwrap_or_default();
            if ds.msg_lspid == own && last.sender != 0 {
                ds.msg_lspid = last.sender;
            }
            if ds.msg_lrpid == own && last.receiver != 0 {
                ds.msg_lrpid = last.receiver;
            } else if ds.msg_lrpid == last.serving_thread && last.serving_thread != 0 {
                ds.msg_lrpid = last.receiving_thread;
            }
        });
    }
}
/// A System V message's type followed by an inaccessible page: the kernel reads the type,
/// checks the size and the type, and only then faults on the text — as on the caller's
/// memory, whose text could not be read.
struct TypeBeforeFault {
    map: *mut libc::c_void,
}

impl TypeBeforeFault {
    fn new(mtype: &[u8]) -> Option<TypeBeforeFault> {
        // SAFETY: a fresh private anonymous mapping of two pages, ours alone; the second is
        // made inaccessible, and the type is written at the end of the first.
        unsafe {
            let map = libc::mmap(std::ptr::null_mut(), 8192, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
            if map == libc::MAP_FAILED {
                return None;
            }
            libc::mprotect(map.cast::<u8>().add(4096).cast(), 4096, libc::PROT_NONE);
            std::ptr::copy_nonoverlapping(mtype.as_ptr(), map.cast::<u8>().add(4096 - 8), 8);
            Some(TypeBeforeFault { map })
        }
    }

    fn address(&self) -> usize {
        self.map as usize + 4096 - 8
    }
}

impl Drop for TypeBeforeFault {
    fn drop(&mut self) {
        // SAFETY: our mapping, no longer used.
        unsafe { libc::munmap(self.map, 8192) };
    }
}
