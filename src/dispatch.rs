//! One entry for every exported call: fault injection and limit enforcement (policy), then the
//! backend, with tracing around it all.
//!
//! `ffi` builds a [`Call`] from the C arguments and hands it here; this is the only place that
//! knows the order of the layers.

use crate::backend::Backend;
use crate::call::Call;
use crate::errno::Result;
use crate::init;
use crate::trace::Injected;

/// Runs `call` on the active backend, tracing it when tracing is on. The value is the C return
/// value (a descriptor, id, byte count or 0), widened to i64.
///
/// # Safety
/// The pointers in `call` are the C caller's, valid as the C API requires.
pub unsafe fn run(call: Call) -> Result<i64> {
    // SAFETY: the caller's arguments, as this function's contract says.
    unsafe { run_with(call, |backend| invoke(backend, &call)) }
}

/// [`run`], with `perform` in the backend's place: policy and tracing around it as for any
/// call. The trap's kernel-backend calls use it to make the system call the program made
/// (`trap::serve`), where the backend would go through libc's wrapper.
///
/// # Safety
/// As [`run`]; `perform` makes the call that `call` describes.
pub unsafe fn run_with(call: Call, perform: impl FnOnce(&dyn Backend) -> Result<i64>) -> Result<i64> {
    let state = init::state();
    let started = state.tracer.as_ref().map(|t| t.begin(&call));
    let mut marks = Injected::default();
    let outcome = 'call: {
        if let Some(fault) = state.policy.fault(&call) {
            marks = Injected { errno: fault.errno.is_some(), delay: fault.delay_ns > 0 };
            if fault.delay_ns > 0 {
                crate::policy::faults::sleep_ns(fault.delay_ns);
            }
            if let Some(e) = fault.errno {
                // The queue is untouched: the call never reaches the backend.
                break 'call Err(e);
            }
        }
        if state.backend.kind() == crate::config::BackendKind::Kernel {
            // SAFETY: forwarding the caller's arguments; see above.
            if let Some(handled) = unsafe { state.policy.before_kernel(&call) } {
                break 'call handled;
            }
        }
        // A segment truncated under the call is contained even in a thread that blocks SIGBUS.
        crate::emu::engine::segment::containment::deliverable(|| perform(state.backend))
    };
    state.policy.after(&call, &outcome);
    if let (Some(tracer), Some(started)) = (&state.tracer, started) {
        // SAFETY: `call` holds the caller's arguments (this function's contract) and has just
        // returned `outcome`.
        unsafe { tracer.record(&call, started, outcome, marks) };
    }
    outcome
}

/// Calls the backend method that `call` names.
unsafe fn invoke(b: &dyn Backend, call: &Call) -> Result<i64> {
    // SAFETY: forwarding the caller's arguments unchanged; see `run`.
    unsafe {
        Ok(match *call {
            Call::MqOpen { name, oflag, mode, attr, fortify } => b.mq_open(name, oflag, mode, attr.cast_mut(), fortify)?.into(),
            Call::MqClose { mqdes } => b.mq_close(mqdes)?.into(),
            Call::MqUnlink { name } => b.mq_unlink(name)?.into(),
            Call::MqSend { mqdes, msg, len, prio, timeout } => b.mq_send(mqdes, msg, len, prio, timeout)?.into(),
            Call::MqReceive { mqdes, msg, len, prio, timeout } => b.mq_receive(mqdes, msg, len, prio, timeout)? as i64,
            Call::MqGetattr { mqdes, attr } => b.mq_getattr(mqdes, attr)?.into(),
            Call::MqSetattr { mqdes, new, old } => b.mq_setattr(mqdes, new, old)?.into(),
            Call::MqNotify { mqdes, sev } => b.mq_notify(mqdes, sev)?.into(),
            Call::Msgget { key, flags } => b.msgget(key, flags)?.into(),
            Call::Msgsnd { id, msgp, size, flags } => b.msgsnd(id, msgp, size, flags)?.into(),
            Call::Msgrcv { id, msgp, size, typ, flags } => b.msgrcv(id, msgp, size, typ, flags)? as i64,
            Call::Msgctl { id, cmd, buf } => b.msgctl(id, cmd, buf)?.into(),
            Call::MqSendAt { mqdes, msg, len, prio, due, handle } => b.mq_send_at(mqdes, msg, len, prio, due, handle)?.into(),
            Call::MqCancel { mqdes, handle } => b.mq_cancel(mqdes, handle)?.into(),
            Call::MsgsndAt { id, msgp, size, flags, due, handle } => b.msgsnd_at(id, msgp, size, flags, due, handle)?.into(),
            Call::MsgCancel { id, handle } => b.msg_cancel(id, handle)?.into(),
        })
    }
}

/// The calling thread's credentials changed without the library seeing it (a supervisor's
/// serving thread taking on each caller's ids, by raw system calls): what the emulation cached
/// of them is forgotten, to be read afresh by its next check.
pub fn credentials_changed() {
    crate::emu::sysv::caller::forget();
}

/// The program changed the calling thread's signal mask (`sigprocmask`, `pthread_sigmask` or a
/// raw `rt_sigprocmask`, which succeeded with `how` and `set`): mqshim's calls keep SIGBUS
/// deliverable by it (see `emu::engine::segment::containment`).
pub fn signal_mask_changed(how: std::os::raw::c_int, set: &libc::sigset_t) {
    crate::emu::engine::segment::containment::mask_changed(how, set);
}

/// The process's backend (for a supervisor, which asks it about another process's descriptors
/// before it decides whether a call is a queue call at all).
pub fn backend() -> &'static dyn Backend {
    init::state().backend
}

/// The kind of backend the calls go to.
pub fn backend_kind() -> crate::config::BackendKind {
    init::state().backend.kind()
}

/// The name of the backend serving this process (building the state if no call has yet).
pub fn backend_name() -> &'static str {
    backend_kind().name()
}

// ----- the descriptor functions (`close`, `dup*`, `fcntl`, `poll` & co., `fopen`) -----
//
// They reach the backend through its descriptor hooks, and only once the process state exists:
// before the first queue call no backend can have made a descriptor, and a program that never
// uses queues must not build mqshim's state from its `close` calls.

fn backend_if_built() -> Option<&'static dyn Backend> {
    init::state_if_built().map(|s| s.backend)
}

/// Whether the backend ever made a queue descriptor in this process: if not, the descriptor
/// functions go straight to libc.
pub fn descriptors_exist() -> bool {
    backend_if_built().is_some_and(|b| b.has_descriptors())
}

/// Whether `fd` is a queue descriptor of the backend's.
pub fn is_queue_descriptor(fd: libc::c_int) -> bool {
    backend_if_built().is_some_and(|b| b.owns_descriptor(fd))
}

/// `close`, `dup2` and `dup3` on a descriptor that may be a queue descriptor: the backend
/// forgets it (and runs what the kernel runs when a queue descriptor closes). None when it is
/// not one, so the real function proceeds alone.
pub fn close_if_queue_descriptor(fd: libc::c_int) -> Option<Result<libc::c_int>> {
    let state = init::state_if_built()?;
    // Closing reads the queue's segment (was it unlinked?): contained as any call.
    let closed = crate::emu::engine::segment::containment::deliverable(|| state.backend.descriptor_closing(fd));
    if closed.is_some() && state.tracer.is_some() {
        crate::trace::queue_names::closed(fd);
    }
    closed
}

/// Records that `new` now refers to what `old` refers to (after a successful duplication).
pub fn note_duplicate(old: libc::c_int, new: libc::c_int) {
    if crate::procfs::any_open() {
        crate::procfs::duplicated(old, new);
    }
    if let Some(state) = init::state_if_built() {
        state.backend.descriptor_duplicated(old, new);
        if state.tracer.is_some() {
            crate::trace::queue_names::duplicated(old, new);
        }
    }
}

/// Records that `fd` was passed to poll, select or epoll.
pub fn note_polled(fd: libc::c_int) {
    if let Some(b) = backend_if_built() {
        crate::emu::engine::segment::containment::deliverable(|| b.descriptor_polled(fd));
    }
}

/// Whether the backend may answer for the `/proc` file `path` (see [`proc_file`]): a check
/// that needs no state, so that opening any other file never builds it.
fn proc_file_may_be_served(path: &[u8]) -> bool {
    path.starts_with(b"/proc/sysvipc/msg") || path.starts_with(b"/proc/sys/kernel/msg") || path.starts_with(b"/proc/sys/fs/mqueue/")
}

/// What the `/proc` file `path` should say, when the backend answers for it: the emulation's
/// System V queues and limits (the state is built if need be: reading these files is asking
/// about queues). None: the kernel's file, unchanged.
pub fn proc_file(path: &[u8]) -> Option<String> {
    if !proc_file_may_be_served(path) {
        return None;
    }
    init::state().backend.proc_file(path)
}
