//! The one error (`Error`) of a run that stops before it can judge, and the documented exit code
//! each kind of it means (`Error::exit_status`): the binary maps errors to codes only through it.

use crate::exit::ExitStatus;

/// Why a command stopped without a verdict. Variants are kinds a user acts on differently: fix the
/// command line or spec (exit 2), or make the target reachable (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag that is missing or contradicts another.
    #[error("{0}")]
    Usage(String),
    /// The spec file cannot be read or is not valid.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error("the spec has no [{0}] section, which this command needs")]
    MissingSection(&'static str),
    #[error("{0} is not set (the spec names it)")]
    MissingVariable(String),
    #[error("{what} is invalid: {reason}")]
    Invalid { what: String, reason: String },
    /// The run would examine nothing (no table with the tenant column, no key, no item): a run
    /// that examined nothing is never green.
    #[error("{0}")]
    NothingExamined(String),
    /// A database, API, Redis or admin panel that does not answer. `variable` says where its URL
    /// came from (a flag or the environment variable the spec names).
    #[error("cannot reach {what} at `{url}` ({variable}): {reason}")]
    Unreachable {
        what: &'static str,
        url: String,
        variable: String,
        reason: String,
    },
    /// The target answered but refused to give us the test tenants it must provide.
    #[error("cannot provision test tenants over `{variable}`")]
    Provision {
        variable: String,
        #[source]
        cause: sqlx::Error,
    },
    #[error("cannot provision test tenants through the API: {0}")]
    ProvisionApi(String),
    /// The target answered a step we cannot do without (a canary that cannot be created) with an
    /// error of its own.
    #[error("{what}: {reason}")]
    TargetFailed { what: String, reason: String },
    /// Anything else that stopped the run before a verdict: a query that failed, a report that
    /// could not be written.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl Error {
    /// A command-line error with its message.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// A server that does not answer (exit 3): what it is, where, and what sets its URL.
    pub fn unreachable(
        what: &'static str,
        url: String,
        variable: impl Into<String>,
        reason: impl std::fmt::Display,
    ) -> Self {
        Self::Unreachable {
            what,
            url,
            variable: variable.into(),
            reason: reason.to_string(),
        }
    }

    /// Any other error that stops the run (exit 2).
    pub fn failed(error: impl Into<anyhow::Error>) -> Self {
        Self::Failed(error.into())
    }

    /// The documented exit code of this error: the one place errors become codes.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Self::Usage(_)
            | Self::Spec(_)
            | Self::MissingSection(_)
            | Self::MissingVariable(_)
            | Self::Invalid { .. }
            | Self::NothingExamined(_)
            | Self::Failed(_) => ExitStatus::Usage,
            Self::Unreachable { .. }
            | Self::Provision { .. }
            | Self::ProvisionApi(_)
            | Self::TargetFailed { .. } => ExitStatus::Unreachable,
        }
    }

    /// The message and every cause below it, `: `-separated (as `anyhow`'s `{:#}` prints them).
    pub fn report(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            text.push_str(": ");
            text.push_str(&e.to_string());
            cause = e.source();
        }
        text
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Failed(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable() -> Error {
        Error::Unreachable {
            what: "PostgreSQL",
            url: "postgres://127.0.0.1:1/x".into(),
            variable: "--database-url".into(),
            reason: "connection refused".into(),
        }
    }

    #[test]
    fn every_variant_maps_to_its_documented_exit_code() {
        let table: Vec<(Error, ExitStatus)> = vec![
            (Error::usage("no app role"), ExitStatus::Usage),
            (
                Error::Spec(crate::spec::SpecError {
                    origin: "bad.toml".into(),
                    line: 4,
                    column: 1,
                    message: "unknown field `tenant_col`".into(),
                }),
                ExitStatus::Usage,
            ),
            (Error::MissingSection("api"), ExitStatus::Usage),
            (
                Error::MissingVariable("JWT_SECRET".into()),
                ExitStatus::Usage,
            ),
            (
                Error::Invalid {
                    what: "REDIS_URL".into(),
                    reason: "no scheme".into(),
                },
                ExitStatus::Usage,
            ),
            (
                Error::NothingExamined("no key was scanned".into()),
                ExitStatus::Usage,
            ),
            (unreachable(), ExitStatus::Unreachable),
            (
                Error::Provision {
                    variable: "TENANTPROBE_ADMIN_DATABASE_URL".into(),
                    cause: sqlx::Error::PoolTimedOut,
                },
                ExitStatus::Unreachable,
            ),
            (
                Error::ProvisionApi("503 Service Unavailable".into()),
                ExitStatus::Unreachable,
            ),
            (
                Error::TargetFailed {
                    what: "monitor init".into(),
                    reason: "500".into(),
                },
                ExitStatus::Unreachable,
            ),
            (
                Error::failed(anyhow::anyhow!("cannot write `out.json`")),
                ExitStatus::Usage,
            ),
            (Error::from(sqlx::Error::RowNotFound), ExitStatus::Usage),
            (
                Error::from(std::io::Error::other("disk full")),
                ExitStatus::Usage,
            ),
        ];
        for (error, status) in table {
            assert_eq!(error.exit_status(), status, "{}", error.report());
        }
    }

    #[test]
    fn the_report_names_every_cause_as_anyhow_does() {
        let e = Error::Provision {
            variable: "TENANTPROBE_ADMIN_DATABASE_URL".into(),
            cause: sqlx::Error::PoolTimedOut,
        };
        let text = e.report();
        assert!(
            text.starts_with(
                "cannot provision test tenants over `TENANTPROBE_ADMIN_DATABASE_URL`: "
            ),
            "{text}"
        );
        assert!(text.contains("timed out"), "{text}");
        let wrapped = Error::failed(anyhow::anyhow!("disk full").context("cannot write `a.json`"));
        assert_eq!(wrapped.report(), "cannot write `a.json`: disk full");
        assert_eq!(
            unreachable().report(),
            "cannot reach PostgreSQL at `postgres://127.0.0.1:1/x` (--database-url): connection refused"
        );
    }
}
