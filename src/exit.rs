//! The documented exit codes (`ExitStatus`) that CI gates on, and `block_on`, the runtime both
//! binaries (`tenantprobe`, `tenantprobe-demo`) run their command on.

use std::future::Future;

/// What the process exit code means. Stable: CI pipelines depend on these numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// No active finding at or above `--fail-on`.
    Clean = 0,
    /// At least one active finding at or above `--fail-on`.
    Findings = 1,
    /// Bad command line, spec file or configuration, or a run that would examine nothing.
    Usage = 2,
    /// A target (database, API, Redis) could not be reached.
    Unreachable = 3,
    /// Stopped by SIGINT (Ctrl-C): 128 + 2, as shells report it. An interrupted run is never clean.
    Interrupted = 130,
    /// Stopped by SIGTERM: 128 + 15.
    Terminated = 143,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        Self::from(status as u8)
    }
}

/// Runs `command` on a multi-threaded runtime and returns its output without waiting for workers
/// on blocking threads (attack db, attack http): a signal may have dropped their command, and
/// dropping the runtime would wait for them. A runtime that cannot start is a usage error (the
/// message is printed here, before any logging is set up).
pub fn block_on<F: Future>(command: F) -> Result<F::Output, ExitStatus> {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Err(ExitStatus::Usage);
        }
    };
    let output = runtime.block_on(command);
    runtime.shutdown_background();
    Ok(output)
}
