//! The PostgreSQL and Redis that demo and tests run against (`Server`: `Postgres`, `Redis`):
//! existing servers named by `DATABASE_URL` / `REDIS_URL`, or private throwaway ones started from
//! local binaries (or, with `TENANTPROBE_TESTKIT_BACKEND=containers`, in Docker containers); and a
//! throwaway PgBouncer in front of either PostgreSQL. What differs between the two is their
//! `ServerKind` (postgres.rs, redis.rs).

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

#[cfg(feature = "containers")]
use testcontainers::{ContainerRequest, GenericImage};

pub use backend::{BACKEND_VARIABLE, Backend};
pub use binaries::{find_postgres, find_program, find_redis};
#[cfg(feature = "containers")]
pub use containers::{ContainerPostgres, ContainerRedis, DEFAULT_IMAGE, InContainer, OWNER_LABEL};
pub use pgbouncer::{PoolEntry, PoolerConfig, ThrowawayPgBouncer, find_pgbouncer};
pub use postgres::{PostgresKind, ThrowawayPostgres};
pub use redis::{RedisKind, ThrowawayRedis};
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

/// A server of kind `K`: one we were pointed at (by `K::URL_VARIABLE`), or one we started.
pub enum Server<K: ServerKind> {
    External {
        url: String,
    },
    Throwaway(K::Throwaway),
    #[cfg(feature = "containers")]
    Container(Box<InContainer<K>>),
}

/// A PostgreSQL server: `DATABASE_URL`, or a throwaway cluster.
pub type Postgres = Server<PostgresKind>;
/// A Redis server: `REDIS_URL`, or a throwaway server.
pub type Redis = Server<RedisKind>;

/// What `Server` needs to know about one kind of server (`PostgresKind`, `RedisKind`), so that
/// finding, starting and describing one is written once.
pub trait ServerKind {
    /// How messages name it: `PostgreSQL`.
    const NAME: &'static str;
    /// The variable naming a server that already runs: `DATABASE_URL`.
    const URL_VARIABLE: &'static str;
    /// The throwaway server from local binaries.
    type Throwaway: Started;

    /// `Ok` when the server at `url` answers, else why not (for `ServerError::Unreachable`).
    fn check(url: &str) -> impl Future<Output = Result<(), String>> + Send;

    /// The URL of a server of this kind started here, on `port` of 127.0.0.1.
    fn local_url(port: u16) -> String;

    /// Where `describe` says a server started here listens: `on port 5432`.
    fn location(port: u16) -> String;

    /// The variable naming the image its containers come from.
    #[cfg(feature = "containers")]
    const IMAGE_VARIABLE: &'static str;

    /// The container that runs it from `image` on `port`, and says when it is ready.
    #[cfg(feature = "containers")]
    fn container(image: &str, port: u16) -> ContainerRequest<GenericImage>;
}

/// A throwaway server from local binaries, as `Server` starts and describes it.
pub trait Started: Sized {
    /// The type's own `start`.
    fn start() -> impl Future<Output = Result<Self, ServerError>>;

    fn ready(&self) -> Ready;
}

/// Where a server started here listens, and how long it took to accept connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// On 127.0.0.1.
    pub port: u16,
    /// From the first step of starting it (finding its binary, checking its image).
    pub startup: Duration,
}

impl<K: ServerKind> Server<K> {
    /// `K::URL_VARIABLE` when set (for PostgreSQL an administrative connection: superuser, or
    /// CREATEDB and CREATEROLE), else a throwaway server from the backend
    /// `TENANTPROBE_TESTKIT_BACKEND` names.
    pub async fn from_env_or_start() -> Result<Self, ServerError> {
        match std::env::var(K::URL_VARIABLE) {
            Ok(url) if !url.is_empty() => Self::external(url).await,
            _ => Self::start(Backend::from_env()?).await,
        }
    }

    /// A throwaway server from `backend`.
    pub async fn start(backend: Backend) -> Result<Self, ServerError> {
        match backend {
            Backend::Local => Ok(Self::Throwaway(K::Throwaway::start().await?)),
            #[cfg(feature = "containers")]
            Backend::Containers => Ok(Self::Container(Box::new(InContainer::start().await?))),
            #[cfg(not(feature = "containers"))]
            Backend::Containers => Err(ServerError::ContainersNotBuilt),
        }
    }

    /// Checks that the server at `url` answers before anything else is attempted.
    pub async fn external(url: String) -> Result<Self, ServerError> {
        match K::check(&url).await {
            Ok(()) => Ok(Self::External { url }),
            Err(reason) => Err(ServerError::Unreachable {
                what: K::NAME,
                url: redact(&url),
                variable: K::URL_VARIABLE,
                reason,
            }),
        }
    }

    /// The connection URL (for PostgreSQL the administrative one).
    pub fn url(&self) -> String {
        match self {
            Self::External { url } => url.clone(),
            Self::Throwaway(server) => K::local_url(server.ready().port),
            #[cfg(feature = "containers")]
            Self::Container(server) => server.url(),
        }
    }

    /// One line for reports: which server, and where it came from.
    pub fn describe(&self) -> String {
        let (how, ready) = match self {
            Self::External { url } => {
                return format!(
                    "existing {} at {} ({})",
                    K::NAME,
                    redact(url),
                    K::URL_VARIABLE
                );
            }
            Self::Throwaway(server) => (String::new(), server.ready()),
            #[cfg(feature = "containers")]
            Self::Container(server) => (
                format!(" in a container of `{}`", server.image()),
                server.ready(),
            ),
        };
        format!(
            "throwaway {}{how} {} (ready in {} ms)",
            K::NAME,
            K::location(ready.port),
            ready.startup.as_millis()
        )
    }
}

/// `Ok` when `attempt` succeeds within `limit`, else a readable reason.
async fn within<T, E: std::fmt::Display>(
    limit: Duration,
    attempt: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", limit.as_secs())),
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
