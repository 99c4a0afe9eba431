//! mqshim: run unchanged C programs that use Linux message queues anywhere, see exactly what
//! they do with them, and test them against limits and faults.
//!
//! The crate builds `libmqshim.so`, which exports the POSIX message-queue API (`mq_*`) and the
//! System V one (`msg*`) with glibc's C ABI. A program gets it with `LD_PRELOAD` or `-lmqshim`.
//!
//! Module map (dependencies point one way: `ffi → dispatch → (trace, policy) → backend`):
//! - [`ffi`]: the only `#[no_mangle]` items, one file per C header; thin: panic boundary,
//!   dispatch, errno.
//! - [`errno`]: `Result<T, Errno>` → C return value and errno, the one place errno is written.
//! - [`reentry`]: the thread-local "inside mqshim" guard.
//! - [`real`]: the next definitions in the link chain (libc's), bound lazily and once.
//! - [`config`]: `MQSHIM_*` environment → [`config::Config`], parsed once, never panics.
//! - [`call`]: one call's name and raw arguments, shared by tracing and policy.
//! - [`dispatch`]: one function per exported call: runs policy, the backend and tracing.
//! - [`backend`]: the backend seam and the kernel pass-through.
//! - [`emu`]: the userspace emulation (shared memory under `MQSHIM_DIR`).
//! - [`policy`]: the limits in force (and, layered over either backend, their enforcement).
//! - [`trace`]: trace records, their text and JSON-lines formats, and the sink.
//! - [`usermem`]: reading caller memory that may be invalid, without crashing.
//! - [`init`]: lazy, idempotent process-wide state.
//! - [`forksafe`]: the one kind of process-local lock, held across `fork`.

pub mod backend;
pub mod call;
pub mod config;
pub mod dispatch;
pub mod emu;
pub mod errno;
pub mod init;
pub mod os;
pub mod policy;
pub mod real;
pub mod reentry;
pub mod trace;
