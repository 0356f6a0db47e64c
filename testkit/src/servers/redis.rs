//! A private Redis from the local `redis-server`: `ThrowawayRedis`, on a free port, nothing persisted,
//! stopped and removed on drop.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::ServerError;
use super::binaries::find_redis;
use super::process::{Patience, Supervised, command, server_dir, start_on_free_port};

pub struct ThrowawayRedis {
    port: u16,
    startup: Duration,
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
            port,
            startup,
            binary,
            server: Some(server),
            dir,
        })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Stops the server (its in-memory data is lost): for outage tests.
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Starts a stopped server again, empty, on the same port.
    pub async fn start_again(&mut self) -> Result<(), ServerError> {
        self.stop();
        let server = spawn(&self.binary, self.dir.path(), self.port)?;
        wait_ready(self.port, &server, &self.dir.path().join("redis.log")).await?;
        self.server = Some(server);
        Ok(())
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
    let url = format!("redis://127.0.0.1:{port}");
    let patience = Patience {
        server: "Redis",
        late: "Redis (not ready after 10 s)",
        limit: Duration::from_secs(10),
        poll: Duration::from_millis(10),
    };
    server
        .wait_ready(log, &patience, async || {
            super::ping_redis(&url).await.is_ok()
        })
        .await
}
