//! mqshim-core: the core of mqshim, which runs unchanged C programs that use Linux message
//! queues anywhere, shows exactly what they do with them, and tests them against limits and
//! faults.
//!
//! This crate exports no C symbols: `libmqshim.so` is the `mqshim` crate (`ffi/`), whose
//! `#[no_mangle]` exports build a [`call::Call`] and hand it to [`dispatch`]; the `mqshim`
//! command (`cli/`) links this crate too.
//!
//! Module map (dependencies point one way: `dispatch → (trace, policy) → backend → emu → os`):
//! - [`errno`]: `Result<T, Errno>` → C return value and errno, the one place errno is written.
//! - [`reentry`]: the thread-local "inside mqshim" guard.
//! - [`real`]: the next definitions in the link chain (libc's), bound lazily and once.
//! - [`config`]: `MQSHIM_*` environment → [`config::Config`], parsed once, never panics.
//! - [`call`]: one call's name and raw arguments, shared by tracing and policy.
//! - [`dispatch`]: one entry per exported call: runs policy, the backend and tracing.
//! - [`backend`]: the backend seam, the kernel pass-through and the emulation's adapter.
//! - [`emu`]: the userspace emulation (shared memory under `MQSHIM_DIR`).
//! - [`remote`]: queues held by a Redis server (`MQSHIM_BACKEND=redis`), the engine's client.
//! - [`policy`]: the limits in force (and, layered over either backend, their enforcement) and
//!   fault injection.
//! - [`trace`]: trace records, their text and JSON-lines formats, and the sink.
//! - [`init`]: lazy, idempotent process-wide state.
//! - [`trap`]: `MQSHIM_SYSCALLS=trap`, the queue system calls a program makes itself, trapped
//!   (seccomp + SIGSYS) into [`dispatch`].
//! - [`os`]: plain OS helpers every layer may use (system calls, credentials, pid/tid cache,
//!   caller memory, fork-safe locks).

#![deny(unsafe_op_in_unsafe_fn)]

pub mod backend;
pub mod call;
pub mod config;
pub mod devmqueue;
pub mod dispatch;
pub mod emu;
pub mod errno;
pub mod glob;
pub mod init;
pub mod launcher;
pub mod os;
pub mod policy;
pub mod procfs;
pub mod real;
pub mod reentry;
pub mod remote;
pub mod trace;
pub mod trap;
