//! The test kit's second backend: throwaway PostgreSQL and Redis in Docker containers, started
//! with testcontainers (`InContainer`: `ContainerPostgres`, `ContainerRedis`), for machines with
//! Docker and no local server binaries. Selected by `TENANTPROBE_TESTKIT_BACKEND=containers` (cargo
//! feature `containers`). What runs in each container is its kind's (`ServerKind::container`, next
//! to the local server in postgres.rs and redis.rs); this module holds what they share.
//!
//! - Images come from `TENANTPROBE_POSTGRES_IMAGE` / `TENANTPROBE_REDIS_IMAGE` (default
//!   `tenantprobe-testkit:bookworm`, one Debian image holding both servers) and are never pulled:
//!   an absent image is an error that says how to make it.
//! - Host networking (the daemon may run without a bridge): the server listens on 127.0.0.1 on a
//!   free port chosen here and passed on its command line; no container address is ever used.
//! - Removed on drop (testcontainers). If this process is killed instead, a watcher inside the
//!   container (which shares the host's process namespace) stops the server once our pid is
//!   gone, and the daemon removes the exited container (`AutoRemove`).

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::process::start_on_free_port;
use super::{PostgresKind, Ready, RedisKind, ServerError, ServerKind};

/// The image `tests/containers.rs` makes with debootstrap (PostgreSQL 15 and Redis 7 from Debian).
pub const DEFAULT_IMAGE: &str = "tenantprobe-testkit:bookworm";
/// The label every test-kit container carries: the pid of the process that started it.
pub const OWNER_LABEL: &str = "tenantprobe.testkit.owner";

/// What to run when the image is absent.
const HOW_TO_BUILD: &str = "make it with `cargo test --features containers --test containers` (as \
     root: debootstrap, then `docker import`; the root filesystem is cached in \
     /var/cache/tenantprobe), or name an image that has the server with";

/// A throwaway server of kind `K` in a container: listening on 127.0.0.1, removed on drop.
pub struct InContainer<K> {
    ready: Ready,
    image: String,
    _container: Removed,
    kind: PhantomData<K>,
}

/// A PostgreSQL server in a container. Superuser `postgres`, trust authentication on 127.0.0.1.
pub type ContainerPostgres = InContainer<PostgresKind>;
/// A Redis server in a container, nothing persisted.
pub type ContainerRedis = InContainer<RedisKind>;

impl<K: ServerKind> InContainer<K> {
    /// From the image `K::IMAGE_VARIABLE` names, else the default image.
    pub async fn start() -> Result<Self, ServerError> {
        Self::start_image(&image_from_env(K::IMAGE_VARIABLE)).await
    }

    /// Checks that `image` is here, then starts the container `K::container` describes for a
    /// free port, on up to three ports, until the container reports its server ready.
    #[tracing::instrument(name = "container", fields(server = K::NAME))]
    pub async fn start_image(image: &str) -> Result<Self, ServerError> {
        let begun = Instant::now();
        require_image(image, K::IMAGE_VARIABLE).await?;
        let (port, container) = start_on_free_port(3, K::NAME, async |port| {
            K::container(image, port)
                .start()
                .await
                .map_err(|e| start_failed(K::NAME, image, &e))
        })
        .await?;
        let startup = begun.elapsed();
        tracing::info!(port, ?startup, image, "container {} ready", K::NAME);
        Ok(Self {
            ready: Ready { port, startup },
            image: image.to_owned(),
            _container: Removed(Some(container)),
            kind: PhantomData,
        })
    }

    pub fn url(&self) -> String {
        K::local_url(self.ready.port)
    }

    /// Its port, and the time from the image check to accepting connections.
    pub fn ready(&self) -> Ready {
        self.ready
    }

    pub fn image(&self) -> &str {
        &self.image
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
pub(super) const WATCH: &str = "server=$!
     while kill -0 \"$server\" 2>/dev/null; do
       [ -d \"/proc/$TENANTPROBE_OWNER\" ] || { kill \"$server\"; break; }
       sleep 1
     done
     wait \"$server\"";

/// A container on the host's network and process namespace, labelled with its owner, running
/// `script` with `sh`.
pub(super) fn request(
    image: &str,
    script: String,
) -> testcontainers::ContainerRequest<GenericImage> {
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
