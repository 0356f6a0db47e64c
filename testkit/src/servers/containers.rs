//! The test kit's second backend: throwaway PostgreSQL and Redis in Docker containers, started
//! with testcontainers (`ContainerPostgres`, `ContainerRedis`), for machines with Docker and no
//! local server binaries. Selected by `TENANTPROBE_TESTKIT_BACKEND=containers` (cargo feature
//! `containers`).
//!
//! - Images come from `TENANTPROBE_POSTGRES_IMAGE` / `TENANTPROBE_REDIS_IMAGE` (default
//!   `tenantprobe-testkit:bookworm`, one Debian image holding both servers) and are never pulled:
//!   an absent image is an error that says how to make it.
//! - Host networking (the daemon may run without a bridge): the server listens on 127.0.0.1 on a
//!   free port chosen here and passed on its command line; no container address is ever used.
//! - Removed on drop (testcontainers). If this process is killed instead, a watcher inside the
//!   container (which shares the host's process namespace) stops the server once our pid is
//!   gone, and the daemon removes the exited container (`AutoRemove`).

use std::time::{Duration, Instant};

use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::ServerError;
use super::postgres::SERVER_SETTINGS;
use super::process::start_on_free_port;

/// The image `tests/containers.rs` makes with debootstrap (PostgreSQL 15 and Redis 7 from Debian).
pub const DEFAULT_IMAGE: &str = "tenantprobe-testkit:bookworm";
/// The label every test-kit container carries: the pid of the process that started it.
pub const OWNER_LABEL: &str = "tenantprobe.testkit.owner";

/// What to run when the image is absent.
const HOW_TO_BUILD: &str = "make it with `cargo test --features containers --test containers` (as \
     root: debootstrap, then `docker import`; the root filesystem is cached in \
     /var/cache/tenantprobe), or name an image that has the server with";

/// A PostgreSQL server in a container. Superuser `postgres`, trust authentication on 127.0.0.1.
pub struct ContainerPostgres(Running);

impl ContainerPostgres {
    /// From `TENANTPROBE_POSTGRES_IMAGE`, else the default image.
    pub async fn start() -> Result<Self, ServerError> {
        Self::start_image(&image_from_env("TENANTPROBE_POSTGRES_IMAGE")).await
    }

    /// `initdb` into the container's own file system, then `postgres` on a free port, as the
    /// image's `postgres` user (PostgreSQL refuses root). The newest `/usr/lib/postgresql/*/bin`
    /// (Debian's layout) comes first on PATH, so images with the programs on PATH work too.
    #[tracing::instrument(name = "container_postgres")]
    pub async fn start_image(image: &str) -> Result<Self, ServerError> {
        // The local backend's settings for a disposable cluster.
        let settings: String = SERVER_SETTINGS.iter().map(|s| format!(" -c {s}")).collect();
        let running = Running::start("PostgreSQL", image, "TENANTPROBE_POSTGRES_IMAGE", |port| {
            let script = format!(
                "set -e
                 for dir in /usr/lib/postgresql/*/bin; do [ -x \"$dir/initdb\" ] && PATH=\"$dir:$PATH\"; done
                 initdb -D /tmp/tenantprobe-pg -U postgres -A trust -E UTF8 --locale=C --no-sync --no-instructions >/dev/null
                 postgres -D /tmp/tenantprobe-pg -p {port} -k /tmp{settings} &
                 {WATCH}"
            );
            request(image, script)
                .with_user("postgres")
                .with_ready_conditions(vec![WaitFor::message_on_stderr(
                    "database system is ready to accept connections",
                )])
        })
        .await?;
        Ok(Self(running))
    }

    /// Superuser connection URL (database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.0.port)
    }

    pub fn port(&self) -> u16 {
        self.0.port
    }

    /// From the image check to accepting connections.
    pub fn startup_time(&self) -> Duration {
        self.0.startup
    }

    pub fn image(&self) -> &str {
        &self.0.image
    }
}

/// A Redis server in a container, nothing persisted.
pub struct ContainerRedis(Running);

impl ContainerRedis {
    /// From `TENANTPROBE_REDIS_IMAGE`, else the default image.
    pub async fn start() -> Result<Self, ServerError> {
        Self::start_image(&image_from_env("TENANTPROBE_REDIS_IMAGE")).await
    }

    #[tracing::instrument(name = "container_redis")]
    pub async fn start_image(image: &str) -> Result<Self, ServerError> {
        let running = Running::start("Redis", image, "TENANTPROBE_REDIS_IMAGE", |port| {
            let script = format!(
                "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no \
                   --protected-mode yes --daemonize no --dir /tmp &
                 {WATCH}"
            );
            request(image, script).with_ready_conditions(vec![WaitFor::message_on_stdout(
                "Ready to accept connections",
            )])
        })
        .await?;
        Ok(Self(running))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.0.port)
    }

    pub fn startup_time(&self) -> Duration {
        self.0.startup
    }

    pub fn image(&self) -> &str {
        &self.0.image
    }
}

/// What both container servers hold: where the server listens, how long it took to be ready, and
/// its container.
struct Running {
    port: u16,
    startup: Duration,
    image: String,
    _container: Removed,
}

impl Running {
    /// Checks that `image` is here, then starts the container `request_for` describes for a free
    /// port, on up to three ports, until the container reports its server ready.
    async fn start(
        server: &'static str,
        image: &str,
        variable: &'static str,
        request_for: impl Fn(u16) -> testcontainers::ContainerRequest<GenericImage>,
    ) -> Result<Self, ServerError> {
        let begun = Instant::now();
        require_image(image, variable).await?;
        let (port, container) = start_on_free_port(3, server, async |port| {
            request_for(port)
                .start()
                .await
                .map_err(|e| start_failed(server, image, &e))
        })
        .await?;
        let startup = begun.elapsed();
        tracing::info!(port, ?startup, image, "container {server} ready");
        Ok(Self {
            port,
            startup,
            image: image.to_owned(),
            _container: Removed(Some(container)),
        })
    }
}

/// A container removed on drop. testcontainers removes it from a tokio runtime and panics without
/// one: dropped elsewhere (after a runtime ended), a private runtime does the removal.
struct Removed(Option<ContainerAsync<GenericImage>>);

impl Drop for Removed {
    fn drop(&mut self) {
        let Some(container) = self.0.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            drop(container);
            return;
        }
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(async move { drop(container) }),
            // The watcher inside the container stops it once we exit.
            Err(_) => std::mem::forget(container),
        }
    }
}

/// The tail of every container script: the server runs in the background (`$!`) while this waits
/// for it, or stops it once the tenantprobe process that started the container has died.
const WATCH: &str = "server=$!
     while kill -0 \"$server\" 2>/dev/null; do
       [ -d \"/proc/$TENANTPROBE_OWNER\" ] || { kill \"$server\"; break; }
       sleep 1
     done
     wait \"$server\"";

/// A container on the host's network and process namespace, labelled with its owner, running
/// `script` with `sh`.
fn request(image: &str, script: String) -> testcontainers::ContainerRequest<GenericImage> {
    let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let owner = std::process::id().to_string();
    GenericImage::new(name, tag)
        .with_entrypoint("sh")
        .with_cmd(["-c".to_owned(), script])
        .with_network("host")
        .with_label(OWNER_LABEL, owner.clone())
        .with_env_var("TENANTPROBE_OWNER", owner)
        .with_startup_timeout(Duration::from_secs(60))
        .with_host_config_modifier(|config| {
            config.pid_mode = Some("host".into());
            config.auto_remove = Some(true);
        })
}

fn image_from_env(variable: &str) -> String {
    std::env::var(variable)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_IMAGE.to_owned())
}

/// Checks that Docker answers and has `image` locally: testcontainers would pull a missing image,
/// and nothing here may come from a registry.
async fn require_image(image: &str, variable: &'static str) -> Result<(), ServerError> {
    let unavailable = |reason: String| ServerError::DockerUnavailable { reason };
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }) => Err(ServerError::ImageMissing {
            image: image.to_owned(),
            how: format!("{HOW_TO_BUILD} {variable}"),
        }),
        Err(e) => Err(unavailable(e.to_string())),
    }
}

fn start_failed(
    server: &'static str,
    image: &str,
    error: &testcontainers::TestcontainersError,
) -> ServerError {
    ServerError::StartFailed {
        server,
        log: format!("container from `{image}`: {error}"),
    }
}
