//! Why a monitor step could not run (`MonitorError`). A check that ends in one is counted as
//! `result="error"` (the surface could not be checked), never as a pass, and its message is what
//! the report and the logs show.

use std::time::Duration;

use crate::actor::world::ExecError;
use crate::catalog::CatalogError;
use crate::checks::keys::CacheError;
use crate::checks::placement::PlacementError;
use crate::checks::pooled::PooledError;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("invalid database URL: {0}")]
    DatabaseUrl(String),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(sqlx::Error),
    #[error("connecting to PostgreSQL timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The check did not finish within its own timeout.
    #[error("timed out after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The spec lacks what the step needs (a section, a query).
    #[error("{0}")]
    NotConfigured(&'static str),
    /// A request the step needed did not get an answer.
    #[error("{context}: {cause}")]
    Request {
        context: String,
        cause: reqwest::Error,
    },
    /// An endpoint of the spec that cannot be filled for a synthetic tenant.
    #[error("{object}: {reason}")]
    Render { object: String, reason: String },
    /// The API answered a request the step needed with an error.
    #[error("{0}")]
    Refused(String),
    /// A query of the step failed.
    #[error("{context}: {cause}")]
    Query { context: String, cause: sqlx::Error },
    #[error("{context}: {cause}")]
    Catalog {
        context: String,
        cause: CatalogError,
    },
    #[error(
        "synthetic tenant `{0}` is declared premium but the placements query lists no database for it (promote it after `monitor init`)"
    )]
    NotPlaced(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Pooled(#[from] PooledError),
    #[error(transparent)]
    Placement(#[from] PlacementError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("invalid Pushgateway URL `{url}`: {reason}")]
    PushgatewayUrl { url: String, reason: String },
}

impl MonitorError {
    /// A request error with what the step was doing.
    pub fn request(context: impl Into<String>) -> impl FnOnce(reqwest::Error) -> Self {
        let context = context.into();
        move |cause| Self::Request { context, cause }
    }

    /// A create that got no answer, or an answer without the canary's id, with what the step was
    /// doing.
    pub fn exec(context: impl Into<String>) -> impl FnOnce(ExecError) -> Self {
        let context = context.into();
        move |e| match e {
            ExecError::Http(cause) => Self::Request { context, cause },
            ExecError::Shape(mismatch) => Self::Refused(format!("{context}: {mismatch}")),
        }
    }

    /// A failed query with what the step was doing.
    pub fn query(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let context = context.into();
        move |cause| Self::Query { context, cause }
    }
}
