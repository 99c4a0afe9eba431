//! `mqshim run [OPTIONS] -- PROGRAM [ARGS]`: the launcher, as `faketime` or `fakeroot` are. The
//! options become `MQSHIM_*` variables ([`RunOptions`]), the library is found by the command, and
//! `mqshim run` then *becomes* the program (exec), so the exit status, death by signal and
//! signals sent to it are the program's own. A statically linked program under the kernel or
//! emulate backend is started as a child instead, served by [`crate::supervise`].

use std::ffi::OsString;

use crate::launch::{self, RunOptions};

/// The `run` subcommand's arguments.
#[derive(clap::Args)]
#[command(
    override_usage = "mqshim run [OPTIONS] [--] PROGRAM [ARGS]...",
    after_help = "\
Each option sets one variable for the program and every child that inherits its environment:
  --backend → MQSHIM_BACKEND      --faults → MQSHIM_FAULTS
  --redis → MQSHIM_REDIS
  --dir → MQSHIM_DIR              --trace-to → MQSHIM_TRACE
  --limits → MQSHIM_LIMITS        --trace-format → MQSHIM_TRACE_FORMAT
  --config → MQSHIM_CONFIG        --trace-bytes → MQSHIM_TRACE_BYTES
  --syscalls → MQSHIM_SYSCALLS
and LD_PRELOAD gets the library first, before any entries it already had.

A statically linked program (which ignores LD_PRELOAD) runs as a child of mqshim, whose seccomp
supervisor makes its queue system calls for it — traced, with limits and faults — until it and
every process it started have exited, under --backend kernel and under the emulation.

Exit status: the program's (death by a signal: the same death). A bad option value: 2. The
program not found: 127; found but not runnable, or the preload cannot reach it: 126 — a
statically linked program under the Redis backend, a set-user-ID/set-group-ID one (the dynamic
loader's secure-execution mode ignores LD_PRELOAD paths), a library that is not a shared object
of the program's ELF class and machine. --allow-unpreloaded runs it anyway, with a warning."
)]
pub struct RunArgs {
    #[command(flatten)]
    pub options: RunOptions,
    /// Trace every queue call, as `mqshim trace` does with its defaults (text on stderr); for
    /// its options (-o, -e, -c, --json, ...) use `mqshim trace`.
    #[arg(long)]
    pub trace: bool,
    /// The program and its arguments (after `--` when an argument starts with `-`).
    #[arg(required = true, trailing_var_arg = true, value_name = "PROGRAM [ARGS]")]
    pub command: Vec<OsString>,
}

/// Runs the program under mqshim; returns only to fail, with the message printed and the status
/// a shell would give.
pub fn run(args: &RunArgs, dir: Option<&str>) -> ! {
    let options = RunOptions { dir: dir.map(str::to_string), ..args.options.clone() };
    if args.trace {
        crate::trace::traced(&crate::trace::TraceOptions::defaults(), &options, &args.command);
    }
    let (program, program_args) = args.command.split_first().expect("clap requires the program");
    let failure = match launch::prepare(&options, &[], program, program_args) {
        Ok(cmd) => launch::exec(cmd),
        Err(failure) => failure,
    };
    eprintln!("{}", failure.message);
    std::process::exit(i32::from(failure.status))
}
