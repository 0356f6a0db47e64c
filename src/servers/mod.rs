//! The PostgreSQL and Redis that demo and tests run against (`Services`): existing servers named
//! by `DATABASE_URL` / `REDIS_URL`, or private throwaway ones started from local binaries; and a
//! throwaway PgBouncer in front of either PostgreSQL.

mod binaries;
mod pgbouncer;
mod postgres;
mod process;
mod redact;
mod redis;
mod scratch;

use std::time::Duration;

pub use binaries::{find_postgres, find_program, find_redis};
pub use pgbouncer::{PoolEntry, PoolerConfig, ThrowawayPgBouncer, find_pgbouncer};
pub use postgres::ThrowawayPostgres;
pub use redact::{
    MASK, ScrubbedStderr, is_secret_param, redact, remember_secrets, scrub, secrets_of,
    without_credentials,
};
pub use redis::ThrowawayRedis;
pub use scratch::ScratchDb;

/// Everything that can go wrong finding, starting or reaching a server. Messages say what to
/// install or which variable to set instead.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "`{program}` not found (looked on PATH, in `pg_config --bindir` and /usr/lib/postgresql/*/bin): \
         install the Debian package `{package}`, or set {variable} to use a server you already run"
    )]
    MissingBinary {
        program: &'static str,
        package: &'static str,
        variable: &'static str,
    },
    #[error(
        "running as root, and PostgreSQL refuses to run as root: no unprivileged account (`postgres` or \
         `nobody`) to run it as; create one, run as another user, or set DATABASE_URL"
    )]
    NoUnprivilegedUser,
    #[error("{context}: {cause}")]
    Io {
        context: String,
        cause: std::io::Error,
    },
    #[error("throwaway {server} did not start; its log ends with:\n{log}")]
    StartFailed { server: &'static str, log: String },
    #[error("cannot reach {what} at `{url}` ({variable}): {reason}")]
    Unreachable {
        what: &'static str,
        url: String,
        variable: &'static str,
        reason: String,
    },
}

impl From<ServerError> for crate::Error {
    /// A server that does not answer is unreachable (exit 3); one we could not start is a setup
    /// problem (exit 2).
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Unreachable {
                what,
                url,
                variable,
                reason,
            } => Self::Unreachable {
                what,
                url,
                variable: variable.to_owned(),
                reason,
            },
            e => Self::failed(e),
        }
    }
}

impl ServerError {
    pub(crate) fn io(context: String, cause: std::io::Error) -> Self {
        Self::Io { context, cause }
    }

    /// True when the problem is a server we were told to use and could not reach (exit code 3).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// A PostgreSQL server: one we were pointed at, or one we started.
pub enum Postgres {
    External { url: String },
    Throwaway(ThrowawayPostgres),
}

impl Postgres {
    /// `DATABASE_URL` (an administrative connection: superuser, or CREATEDB and CREATEROLE) when
    /// set, else a throwaway cluster.
    pub async fn from_env_or_start() -> Result<Self, ServerError> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => Self::external(url).await,
            _ => Ok(Self::Throwaway(ThrowawayPostgres::start().await?)),
        }
    }

    /// Checks that the server at `url` answers before anything else is attempted.
    pub async fn external(url: String) -> Result<Self, ServerError> {
        let unreachable = |reason: String| ServerError::Unreachable {
            what: "PostgreSQL",
            url: redact(&url),
            variable: "DATABASE_URL",
            reason,
        };
        let options: sqlx::postgres::PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| unreachable(e.to_string()))?;
        let connect = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options);
        match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
                Ok(Self::External { url })
            }
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable("no answer within 10 s".into())),
        }
    }

    /// The administrative connection URL.
    pub fn url(&self) -> String {
        match self {
            Self::External { url } => url.clone(),
            Self::Throwaway(pg) => pg.url(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::External { url } => {
                format!("existing PostgreSQL at {} (DATABASE_URL)", redact(url))
            }
            Self::Throwaway(pg) => {
                format!(
                    "throwaway PostgreSQL on port {} (ready in {} ms)",
                    pg.port(),
                    pg.startup_time().as_millis()
                )
            }
        }
    }
}

/// A Redis server: one we were pointed at, or one we started.
pub enum Redis {
    External { url: String },
    Throwaway(ThrowawayRedis),
}

impl Redis {
    /// `REDIS_URL` when set, else a throwaway server.
    pub async fn from_env_or_start() -> Result<Self, ServerError> {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => Self::external(url).await,
            _ => Ok(Self::Throwaway(ThrowawayRedis::start().await?)),
        }
    }

    pub async fn external(url: String) -> Result<Self, ServerError> {
        match ping_redis(&url).await {
            Ok(()) => Ok(Self::External { url }),
            Err(reason) => Err(ServerError::Unreachable {
                what: "Redis",
                url: redact(&url),
                variable: "REDIS_URL",
                reason,
            }),
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::External { url } => url.clone(),
            Self::Throwaway(redis) => redis.url(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::External { url } => format!("existing Redis at {} (REDIS_URL)", redact(url)),
            Self::Throwaway(r) => format!(
                "throwaway Redis at {} (ready in {} ms)",
                r.url(),
                r.startup_time().as_millis()
            ),
        }
    }
}

/// Sends PING, with a short timeout; the error is a readable reason.
pub(crate) async fn ping_redis(url: &str) -> Result<(), String> {
    let client = ::redis::Client::open(url).map_err(|e| e.to_string())?;
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        ::redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_secs(5), ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 5 s".into()),
    }
}
