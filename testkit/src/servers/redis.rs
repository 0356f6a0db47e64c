//! Redis for the kit: `RedisKind` (how `Redis` finds, checks and containerises it), and
//! `ThrowawayRedis`, a private server from the local `redis-server`, on a free port, nothing
//! persisted, stopped and removed on drop.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
#[cfg(feature = "containers")]
use testcontainers::{ContainerRequest, GenericImage};

use super::binaries::find_redis;
use super::process::{Patience, Supervised, command, server_dir, start_on_free_port};
use super::{Ready, ServerError, ServerKind, Started};

/// Redis, for `Server` (`Redis`).
pub struct RedisKind;

impl ServerKind for RedisKind {
    const NAME: &'static str = "Redis";
    const URL_VARIABLE: &'static str = "REDIS_URL";
    type Throwaway = ThrowawayRedis;

    /// Sends PING, within 5 s.
    async fn check(url: &str) -> Result<(), String> {
        let client = ::redis::Client::open(url).map_err(|e| e.to_string())?;
        let ping = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            ::redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        super::within(Duration::from_secs(5), ping).await.map(drop)
    }

    fn local_url(port: u16) -> String {
        format!("redis://127.0.0.1:{port}")
    }

    fn location(port: u16) -> String {
        format!("at {}", Self::local_url(port))
    }

    #[cfg(feature = "containers")]
    const IMAGE_VARIABLE: &'static str = "TENANTPROBE_REDIS_IMAGE";

    /// `redis-server`, nothing persisted.
    #[cfg(feature = "containers")]
    fn container(image: &str, port: u16) -> ContainerRequest<GenericImage> {
        use super::containers::{WATCH, request};
        use testcontainers::ImageExt;
        use testcontainers::core::WaitFor;
        let script = format!(
            "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no \
               --protected-mode yes --daemonize no --dir /tmp &
             {WATCH}"
        );
        request(image, script).with_ready_conditions(vec![WaitFor::message_on_stdout(
            "Ready to accept connections",
        )])
    }
}

/// A running throwaway Redis.
pub struct ThrowawayRedis {
    ready: Ready,
    binary: std::path::PathBuf,
    server: Option<Supervised>,
    dir: tempfile::TempDir,
}

impl ThrowawayRedis {
    #[tracing::instrument(name = "throwaway_redis")]
    pub async fn start() -> Result<Self, ServerError> {
        let begun = Instant::now();
        let binary = find_redis()?;
        let dir = server_dir("redis")?;
        let log = dir.path().join("redis.log");
        let (port, server) = start_on_free_port(5, "Redis", async |port| {
            let server = spawn(&binary, dir.path(), port)?;
            wait_ready(port, &server, &log).await?;
            Ok(server)
        })
        .await?;
        let startup = begun.elapsed();
        tracing::info!(port, ?startup, "throwaway Redis ready");
        Ok(Self {
            ready: Ready { port, startup },
            binary,
            server: Some(server),
            dir,
        })
    }

    pub fn url(&self) -> String {
        RedisKind::local_url(self.ready.port)
    }

    pub fn startup_time(&self) -> Duration {
        self.ready.startup
    }

    /// Stops the server (its in-memory data is lost): for outage tests.
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Starts a stopped server again, empty, on the same port.
    pub async fn start_again(&mut self) -> Result<(), ServerError> {
        self.stop();
        let server = spawn(&self.binary, self.dir.path(), self.ready.port)?;
        wait_ready(self.ready.port, &server, &self.dir.path().join("redis.log")).await?;
        self.server = Some(server);
        Ok(())
    }
}

impl Started for ThrowawayRedis {
    fn start() -> impl Future<Output = Result<Self, ServerError>> {
        ThrowawayRedis::start()
    }

    fn ready(&self) -> Ready {
        self.ready
    }
}

/// `redis-server` on `port`, nothing persisted, files in `dir`.
fn spawn(binary: &Path, dir: &Path, port: u16) -> Result<Supervised, ServerError> {
    let mut cmd = command(binary, None, Some("SIGTERM"))?;
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .args([
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
    ])
    .arg("--dir")
    .arg(dir);
    Supervised::spawn(cmd, &dir.join("redis.log"), Signal::SIGTERM)
}

/// Ready once it answers PING.
async fn wait_ready(port: u16, server: &Supervised, log: &Path) -> Result<(), ServerError> {
    let url = RedisKind::local_url(port);
    let patience = Patience {
        server: "Redis",
        late: "Redis (not ready after 10 s)",
        limit: Duration::from_secs(10),
        poll: Duration::from_millis(10),
    };
    server
        .wait_ready(log, &patience, async || {
            RedisKind::check(&url).await.is_ok()
        })
        .await
}
