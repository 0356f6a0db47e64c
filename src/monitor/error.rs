//! Why a monitor step could not run (`MonitorError`). A check that ends in one is counted as
//! `result="error"` (the surface could not be checked), never as a pass, and its message is what
//! the report and the logs show.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("invalid database URL: {0}")]
    DatabaseUrl(String),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(sqlx::Error),
    #[error("connecting to PostgreSQL timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// A request the step needed did not get an answer.
    #[error("{context}: {cause}")]
    Request {
        context: String,
        cause: reqwest::Error,
    },
    /// The API answered a synthetic tenant's own request with an error.
    #[error("{0}")]
    Refused(String),
    #[error("invalid Pushgateway URL `{url}`: {reason}")]
    PushgatewayUrl { url: String, reason: String },
}

impl MonitorError {
    /// A request error with what the step was doing.
    pub fn request(context: impl Into<String>) -> impl FnOnce(reqwest::Error) -> Self {
        let context = context.into();
        move |cause| Self::Request { context, cause }
    }
}

/// Checks that still report their errors as text take a `MonitorError` with `?`.
impl From<MonitorError> for String {
    fn from(e: MonitorError) -> Self {
        e.to_string()
    }
}
