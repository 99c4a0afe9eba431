//! Process-wide state, built on the first call that needs it (never in a constructor: another
//! library's constructor may call `mq_open` before ours has run, and a debugger must be able to
//! start the program).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use crate::backend::emulation::EmulatedBackend;
use crate::backend::kernel::KernelBackend;
use crate::backend::redis::RedisBackend;
use crate::backend::Backend;
use crate::config::{self, BackendKind, Config};
use crate::policy::enforce::KernelLimits;
use crate::policy::faults::Faults;
use crate::policy::limits::Limits;
use crate::policy::Policy;
use crate::trace::Tracer;

/// What every call needs: the configuration, the backend and the tracer (if tracing).
pub struct State {
    pub config: Config,
    /// The process's own limits (`MQSHIM_CONFIG`, `MQSHIM_LIMITS`) over the stock defaults; the
    /// machine's /proc is read by whatever needs it (`Limits::with_proc`).
    pub limits: Limits,
    pub policy: Policy,
    pub backend: &'static dyn Backend,
    pub tracer: Option<Tracer>,
}

static STATE: OnceLock<State> = OnceLock::new();
static KERNEL: KernelBackend = KernelBackend;
static EMULATED: OnceLock<EmulatedBackend> = OnceLock::new();
static REDIS: OnceLock<RedisBackend> = OnceLock::new();

/// Whether every queue call can go straight to libc: kernel backend, no tracing, no policy.
/// 0 = not yet known (the state is built on the next call), 1 = yes, 2 = no.
static PASSTHROUGH: AtomicU8 = AtomicU8::new(0);

/// True when a call may skip mqshim entirely and call libc (one relaxed load).
#[inline(always)]
pub fn pure_passthrough() -> bool {
    PASSTHROUGH.load(Ordering::Relaxed) == 1
}

/// The process state, built once.
pub fn state() -> &'static State {
    let state = build_state();
    if PASSTHROUGH.load(Ordering::Relaxed) == 0 {
        // Under the trap the kernel backend's libc calls are recognised by the re-entrancy guard,
        // which the pass-through skips (see `trap`).
        let pure = state.backend.kind() == BackendKind::Kernel && state.tracer.is_none() && !state.policy.active() && !crate::trap::installed();
        PASSTHROUGH.store(if pure { 1 } else { 2 }, Ordering::Relaxed);
    }
    state
}

fn build_state() -> &'static State {
    STATE.get_or_init(|| {
        let (config, problems) = Config::from_env();
        config::report(&problems);
        // The machine's /proc is read only where a limit is needed (see `Limits::with_proc`).
        let (limits, problems) = Limits::configured_from_env();
        config::report(&problems);
        let backend: &'static dyn Backend = match config.backend {
            BackendKind::Kernel => &KERNEL,
            BackendKind::Emulate => EMULATED.get_or_init(|| {
                let configured = limits.clone();
                let read_base = Box::new(move |keys: &[&str]| configured.with_proc_of(keys).for_emulation());
                EmulatedBackend::deferred(config.dir.clone(), limits.for_emulation(), read_base, limits.per_process_keys())
            }),
            BackendKind::Redis => REDIS.get_or_init(|| RedisBackend::new(config.redis.clone(), limits.with_proc().for_emulation(), &limits.per_process_keys())),
        };
        let tracer = config.trace.as_ref().map(|t| Tracer::new(t, backend.kind().name()));
        let faults = std::env::var("MQSHIM_FAULTS").ok().filter(|s| !s.trim().is_empty()).map(|spec| {
            let (faults, problems) = Faults::parse(&spec);
            config::report(&problems.into_iter().map(|message| config::ConfigProblem::ignored("MQSHIM_FAULTS", message)).collect::<Vec<_>>());
            faults
        });
        let enforce = match backend.kind() {
            // Only limits the process set are enforced on the kernel's queues.
            BackendKind::Kernel if limits.per_process_keys().is_empty() => None,
            BackendKind::Kernel => KernelLimits::from_limits(&limits.with_proc()),
            BackendKind::Emulate | BackendKind::Redis => None,
        };
        State { config, limits, policy: Policy { faults, enforce }, backend, tracer }
    })
}

/// The process state if it has been built (no call builds it here).
pub fn state_if_built() -> Option<&'static State> {
    STATE.get()
}
