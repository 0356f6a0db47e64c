//! What stops work that acts on an API as its tenants (`ActorError`): `attack http` and the
//! dynamic cache check share it, so an API that is down or answers in another shape than the spec
//! says ends both the same way, with the same exit code.

use super::world::ShapeMismatch;
use super::{API_URL_SOURCE, NoToken};

#[derive(Debug, thiserror::Error)]
pub enum ActorError {
    #[error("cannot reach the API at `{url}`")]
    Unreachable {
        url: String,
        #[source]
        cause: reqwest::Error,
    },
    #[error(transparent)]
    NoToken(#[from] NoToken),
    #[error("at least two test tenants are needed, got {0}")]
    TooFewTenants(usize),
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("attack worker failed: {0}")]
    Worker(String),
    /// The API answered in a shape the spec does not describe (a usage error: fix the spec).
    /// Not a `#[source]`: the message already says it all, and a report of the cause chain would
    /// repeat it.
    #[error("{0}; fix the pointer in the spec's [[api.resources]]")]
    Shape(Box<ShapeMismatch>),
}

impl From<Box<ShapeMismatch>> for ActorError {
    fn from(mismatch: Box<ShapeMismatch>) -> Self {
        Self::Shape(mismatch)
    }
}

impl From<ActorError> for crate::Error {
    /// An API that does not answer is unreachable (exit 3); the rest stops the run (exit 2).
    fn from(e: ActorError) -> Self {
        match e {
            ActorError::Unreachable { url, cause } => {
                Self::unreachable("the API", url, API_URL_SOURCE, cause)
            }
            e => Self::failed(e),
        }
    }
}
