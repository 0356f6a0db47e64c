//! The PostgreSQL and Redis that demo and tests run against (`Services`): existing servers named
//! by `DATABASE_URL` / `REDIS_URL`, or private throwaway ones started from local binaries (or, with
//! `TENANTPROBE_TESTKIT_BACKEND=containers`, in Docker containers); and a throwaway PgBouncer in
//! front of either PostgreSQL.

mod backend;
mod binaries;
#[cfg(feature = "containers")]
mod containers;
mod pgbouncer;
mod postgres;
mod process;
mod redis;
mod scratch;

use std::time::Duration;

pub use backend::{BACKEND_VARIABLE, Backend};
pub use binaries::{find_postgres, find_program, find_redis};
#[cfg(feature = "containers")]
pub use containers::{ContainerPostgres, ContainerRedis, DEFAULT_IMAGE, OWNER_LABEL};
pub use pgbouncer::{PoolEntry, PoolerConfig, ThrowawayPgBouncer, find_pgbouncer};
pub use postgres::ThrowawayPostgres;
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
    #[error("unknown {BACKEND_VARIABLE} `{value}`: use one of local, containers")]
    UnknownBackend { value: String },
    #[error(
        "{BACKEND_VARIABLE}=containers needs the `containers` feature: build with `--features containers`"
    )]
    ContainersNotBuilt,
    #[error(
        "Docker does not answer ({reason}): install `docker.io` and start `dockerd`, or unset {BACKEND_VARIABLE}"
    )]
    DockerUnavailable { reason: String },
    #[error("Docker image `{image}` is not on this machine and is never pulled: {how}")]
    ImageMissing { image: String, how: String },
    #[error("cannot reach {what} at `{url}` ({variable}): {reason}")]
    Unreachable {
        what: &'static str,
        url: String,
        variable: &'static str,
        reason: String,
    },
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
    External {
        url: String,
    },
    Throwaway(ThrowawayPostgres),
    #[cfg(feature = "containers")]
    Container(Box<ContainerPostgres>),
}

impl Postgres {
    /// `DATABASE_URL` (an administrative connection: superuser, or CREATEDB and CREATEROLE) when
    /// set, else a throwaway cluster from the backend `TENANTPROBE_TESTKIT_BACKEND` names.
    pub async fn from_env_or_start() -> Result<Self, ServerError> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => Self::external(url).await,
            _ => Self::start(Backend::from_env()?).await,
        }
    }

    /// A throwaway cluster from `backend`.
    pub async fn start(backend: Backend) -> Result<Self, ServerError> {
        match backend {
            Backend::Local => Ok(Self::Throwaway(ThrowawayPostgres::start().await?)),
            #[cfg(feature = "containers")]
            Backend::Containers => Ok(Self::Container(Box::new(ContainerPostgres::start().await?))),
            #[cfg(not(feature = "containers"))]
            Backend::Containers => Err(ServerError::ContainersNotBuilt),
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
            #[cfg(feature = "containers")]
            Self::Container(pg) => pg.url(),
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
            #[cfg(feature = "containers")]
            Self::Container(pg) => format!(
                "throwaway PostgreSQL in a container of `{}` on port {} (ready in {} ms)",
                pg.image(),
                pg.port(),
                pg.startup_time().as_millis()
            ),
        }
    }
}

/// A Redis server: one we were pointed at, or one we started.
pub enum Redis {
    External {
        url: String,
    },
    Throwaway(ThrowawayRedis),
    #[cfg(feature = "containers")]
    Container(Box<ContainerRedis>),
}

impl Redis {
    /// `REDIS_URL` when set, else a throwaway server from the backend
    /// `TENANTPROBE_TESTKIT_BACKEND` names.
    pub async fn from_env_or_start() -> Result<Self, ServerError> {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => Self::external(url).await,
            _ => Self::start(Backend::from_env()?).await,
        }
    }

    /// A throwaway server from `backend`.
    pub async fn start(backend: Backend) -> Result<Self, ServerError> {
        match backend {
            Backend::Local => Ok(Self::Throwaway(ThrowawayRedis::start().await?)),
            #[cfg(feature = "containers")]
            Backend::Containers => Ok(Self::Container(Box::new(ContainerRedis::start().await?))),
            #[cfg(not(feature = "containers"))]
            Backend::Containers => Err(ServerError::ContainersNotBuilt),
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
            #[cfg(feature = "containers")]
            Self::Container(redis) => redis.url(),
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
            #[cfg(feature = "containers")]
            Self::Container(r) => format!(
                "throwaway Redis in a container of `{}` at {} (ready in {} ms)",
                r.image(),
                r.url(),
                r.startup_time().as_millis()
            ),
        }
    }
}

/// The URL with its password masked, for messages. (The tool's `tenantprobe::redact` also masks
/// secrets in queries and text; the kit only names the servers it was pointed at.)
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "<unparseable URL>".into(),
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
