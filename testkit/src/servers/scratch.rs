//! `ScratchDb`: a Redis logical database (1–15) claimed for one run, so that a demo or a test on a
//! shared Redis never mixes its keys with anyone else's — nor deletes anyone else's.
//!
//! A database is claimable when it is empty, or when tenantprobe used it before (its index is in
//! the set `tenantprobe:scratch-dbs` in database 0: a run that crashed left keys behind). A claim
//! is a key in database 0 with an expiry, so a crashed run frees its database within minutes.

use std::time::Duration;

use redis::AsyncCommands;

use super::ServerError;

const USED: &str = "tenantprobe:scratch-dbs";
const CLAIM_SECONDS: u64 = 900;

/// A claimed, emptied logical database; emptied and released on drop.
pub struct ScratchDb {
    /// `redis://…/INDEX`.
    pub url: String,
    server: String,
    pub index: u8,
}

impl ScratchDb {
    /// Claims a database on the server `server_url` (its path is ignored), waiting up to
    /// `patience` for one to be free.
    pub async fn claim(server_url: &str, patience: Duration) -> Result<Self, ServerError> {
        let server = base(server_url);
        let unreachable = |e: redis::RedisError| ServerError::Unreachable {
            what: "Redis",
            url: super::redact(&server),
            variable: "REDIS_URL",
            reason: e.to_string(),
        };
        let mut admin = connect(&format!("{server}/0")).await.map_err(unreachable)?;
        let owner = format!("{}:{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            for index in 1u8..=15 {
                let claim = format!("tenantprobe:claim:{index}");
                let claimed: Option<String> = redis::cmd("SET")
                    .arg(&claim)
                    .arg(&owner)
                    .arg("NX")
                    .arg("EX")
                    .arg(CLAIM_SECONDS)
                    .query_async(&mut admin)
                    .await
                    .map_err(unreachable)?;
                if claimed.is_none() {
                    continue;
                }
                let url = format!("{server}/{index}");
                let mut conn = connect(&url).await.map_err(unreachable)?;
                let size: u64 = redis::cmd("DBSIZE")
                    .query_async(&mut conn)
                    .await
                    .map_err(unreachable)?;
                let ours: bool = admin.sismember(USED, index).await.map_err(unreachable)?;
                if size > 0 && !ours {
                    // Someone else's data: leave it alone.
                    let _: () = admin.del(&claim).await.map_err(unreachable)?;
                    continue;
                }
                let _: () = admin.sadd(USED, index).await.map_err(unreachable)?;
                let () = redis::cmd("FLUSHDB")
                    .query_async(&mut conn)
                    .await
                    .map_err(unreachable)?;
                return Ok(Self { url, server, index });
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ServerError::Unreachable {
                    what: "Redis",
                    url: super::redact(&server),
                    variable: "REDIS_URL",
                    reason: "no free logical database among 1–15 (each holds other data or is claimed by another run); point REDIS_URL at a server with an empty database".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl ScratchDb {
    pub async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, redis::RedisError> {
        connect(&self.url).await
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        // Drop may run inside or outside a runtime: a plain thread with a blocking client works in both.
        let (server, index) = (self.server.clone(), self.index);
        let _ = std::thread::spawn(move || {
            let client = redis::Client::open(format!("{server}/{index}")).ok()?;
            let mut conn = client.get_connection().ok()?;
            redis::cmd("FLUSHDB").query::<()>(&mut conn).ok()?;
            redis::cmd("SELECT").arg(0).query::<()>(&mut conn).ok()?;
            redis::cmd("SREM")
                .arg(USED)
                .arg(index)
                .query::<()>(&mut conn)
                .ok()?;
            redis::cmd("DEL")
                .arg(format!("tenantprobe:claim:{index}"))
                .query::<()>(&mut conn)
                .ok()
        })
        .join();
    }
}

/// `redis://host:port` without a database path.
fn base(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_path("");
            parsed.to_string().trim_end_matches('/').to_owned()
        }
        Err(_) => url.trim_end_matches('/').to_owned(),
    }
}

async fn connect(url: &str) -> Result<redis::aio::MultiplexedConnection, redis::RedisError> {
    let client = redis::Client::open(url)?;
    match tokio::time::timeout(
        Duration::from_secs(10),
        client.get_multiplexed_async_connection(),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
    }
}
