//! The documented exit codes (`ExitStatus`) that CI gates on.

/// What the process exit code means. Stable: CI pipelines depend on these numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// No active finding at or above `--fail-on`.
    Clean = 0,
    /// At least one active finding at or above `--fail-on`.
    Findings = 1,
    /// Bad command line, spec file or configuration.
    Usage = 2,
    /// A target (database, API, Redis) could not be reached.
    Unreachable = 3,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        Self::from(status as u8)
    }
}
