//! The documented exit codes (`ExitStatus`) that CI gates on.

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
