//! `Unreachable`: a server the run was told to use did not answer; `main` maps it to exit code 3.

/// What was not reached, where (the URL redacted), through which variable or flag, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {what} at `{url}` ({variable}): {reason}")]
pub struct Unreachable {
    pub what: &'static str,
    pub url: String,
    pub variable: &'static str,
    pub reason: String,
}
