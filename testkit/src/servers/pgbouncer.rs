//! A private PgBouncer in transaction mode in front of a PostgreSQL server: `ThrowawayPgBouncer`,
//! on a free port, configured by `PoolerConfig`, stopped and removed on drop.
//!
//! Transaction mode is the one that matters for isolation: a server connection goes back to the
//! pool after every transaction, and PgBouncer does not reset it (`server_reset_query` only runs in
//! session mode), so a session-level `SET` stays on it for the next client.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::ServerError;
use super::binaries::find_program;
use super::process::{Patience, RunAs, Supervised, command, server_dir, start_on_free_port};

/// One `[databases]` entry: clients connect to `name`, PgBouncer connects to `dbname` upstream
/// with its own pool limits. Several entries for one upstream database give tenants (or plans)
/// pools of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolEntry {
    /// The database name clients ask for.
    pub name: String,
    /// The upstream database.
    pub dbname: String,
    /// Server connections per user in this pool.
    pub pool_size: u32,
    /// Server connections of this entry in all, whatever the user.
    pub max_db_connections: u32,
}

/// What the pooler serves.
#[derive(Debug, Clone)]
pub struct PoolerConfig {
    /// Upstream PostgreSQL (host name or address, and port); it must accept these users without a
    /// password from this machine (trust), as the throwaway cluster does.
    pub upstream_host: String,
    pub upstream_port: u16,
    /// Users that may log in (PgBouncer's trust mode still needs them listed).
    pub users: Vec<String>,
    /// Pool size of every database not named in `entries` (reached through the `*` fallback).
    pub default_pool_size: u32,
    pub entries: Vec<PoolEntry>,
    /// Users (among `users`) that may read the admin console's `SHOW POOLS` / `SHOW DATABASES`
    /// (database `pgbouncer`): how tests watch each entry's server connections.
    pub stats_users: Vec<String>,
}

impl PoolerConfig {
    /// Every database of the upstream server under its own name, `default_pool_size` connections
    /// per database and user.
    pub fn transparent(upstream_host: &str, upstream_port: u16, users: &[&str]) -> Self {
        Self {
            upstream_host: upstream_host.to_owned(),
            upstream_port,
            users: users.iter().map(|u| (*u).to_owned()).collect(),
            default_pool_size: 4,
            entries: Vec::new(),
            stats_users: Vec::new(),
        }
    }

    /// `pgbouncer.ini` for a pooler listening on `port`, files in `dir`.
    pub fn ini(&self, port: u16, dir: &Path) -> String {
        let upstream = format!("host={} port={}", self.upstream_host, self.upstream_port);
        let mut out = String::from("[databases]\n");
        for entry in &self.entries {
            out.push_str(&format!(
                "{} = {upstream} dbname={} pool_size={} max_db_connections={}\n",
                entry.name, entry.dbname, entry.pool_size, entry.max_db_connections
            ));
        }
        out.push_str(&format!("* = {upstream}\n\n"));
        out.push_str(&format!(
            "[pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {}\n\
             pool_mode = transaction\n\
             default_pool_size = {}\n\
             max_client_conn = 500\n\
             ; sqlx and other drivers send these; PgBouncer refuses unknown startup parameters.\n\
             ignore_startup_parameters = extra_float_digits,options\n\
             server_login_retry = 1\n\
             log_connections = 0\n\
             log_disconnections = 0\n",
            dir.join("userlist.txt").display(),
            self.default_pool_size,
        ));
        if !self.stats_users.is_empty() {
            out.push_str(&format!("stats_users = {}\n", self.stats_users.join(",")));
        }
        out
    }

    fn userlist(&self) -> String {
        self.users
            .iter()
            .map(|u| format!("\"{}\" \"\"\n", u.replace('"', "\"\"")))
            .collect()
    }
}

/// A running throwaway PgBouncer.
pub struct ThrowawayPgBouncer {
    port: u16,
    startup: Duration,
    ini: String,
    // Field order matters: the pooler stops before its directory is removed.
    server: Option<Supervised>,
    dir: tempfile::TempDir,
}

impl ThrowawayPgBouncer {
    /// Writes the configuration and starts `pgbouncer`, as an unprivileged OS user when we are
    /// root (PgBouncer refuses to run as root).
    #[tracing::instrument(name = "throwaway_pgbouncer", skip_all)]
    pub async fn start(config: &PoolerConfig) -> Result<Self, ServerError> {
        let begun = Instant::now();
        let binary = find_pgbouncer()?;
        let run_as = RunAs::for_current_user()?;
        let dir = server_dir("pgbouncer")?;
        if let Some(user) = &run_as {
            user.chown(dir.path())?;
        }
        write(&dir.path().join("userlist.txt"), &config.userlist())?;
        let log = dir.path().join("pgbouncer.log");
        let (port, (server, ini)) = start_on_free_port(5, "PgBouncer", async |port| {
            let ini = config.ini(port, dir.path());
            let ini_path = dir.path().join("pgbouncer.ini");
            write(&ini_path, &ini)?;
            let mut cmd = command(&binary, run_as.as_ref(), Some("SIGINT"))?;
            cmd.arg(&ini_path);
            // SIGINT is PgBouncer's "safe shutdown": it stops accepting and closes its servers.
            let server = Supervised::spawn(cmd, &log, Signal::SIGINT)?;
            wait_ready(port, &server, &log).await?;
            Ok((server, ini))
        })
        .await?;
        let startup = begun.elapsed();
        tracing::info!(port, ?startup, "throwaway PgBouncer ready");
        Ok(Self {
            port,
            startup,
            ini,
            server: Some(server),
            dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `user` on pooler database `database` (no password: trust on loopback).
    pub fn url_for(&self, user: &str, database: &str) -> String {
        format!(
            "postgres://{user}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// The configuration it runs with (for README and reports).
    pub fn ini(&self) -> &str {
        &self.ini
    }

    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn describe(&self) -> String {
        format!(
            "throwaway PgBouncer (transaction mode) on port {} (ready in {} ms)",
            self.port,
            self.startup.as_millis()
        )
    }

    /// Stops the pooler now (its clients see their connections closed).
    pub fn stop(&mut self) {
        self.server = None;
    }
}

/// `pgbouncer` from PATH, or from /usr/sbin where Debian installs it (often not on a user's PATH).
pub fn find_pgbouncer() -> Result<PathBuf, ServerError> {
    find_program("pgbouncer")
        .or_else(|| {
            let sbin = PathBuf::from("/usr/sbin/pgbouncer");
            sbin.is_file().then_some(sbin)
        })
        .ok_or(ServerError::MissingBinary {
            program: "pgbouncer",
            package: "pgbouncer",
            variable: "the spec's `pooler_url_env`",
        })
}

fn write(path: &Path, text: &str) -> Result<(), ServerError> {
    std::fs::write(path, text)
        .map_err(|e| ServerError::io(format!("cannot write `{}`", path.display()), e))
}

/// PgBouncer accepts connections as soon as it listens; upstream logins happen per client later.
async fn wait_ready(port: u16, server: &Supervised, log: &Path) -> Result<(), ServerError> {
    let patience = Patience {
        server: "PgBouncer",
        late: "PgBouncer (not listening after 10 s)",
        limit: Duration::from_secs(10),
        poll: Duration::from_millis(10),
    };
    server
        .wait_ready(log, &patience, async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_pins_transaction_mode_and_lists_pool_entries() {
        let mut config = PoolerConfig::transparent("127.0.0.1", 5432, &["app_user"]);
        config.entries.push(PoolEntry {
            name: "app_free".into(),
            dbname: "app".into(),
            pool_size: 1,
            max_db_connections: 2,
        });
        let ini = config.ini(6432, Path::new("/tmp/x"));
        assert!(ini.contains("pool_mode = transaction"), "{ini}");
        assert!(ini.contains("listen_port = 6432"), "{ini}");
        assert!(
            ini.contains(
                "app_free = host=127.0.0.1 port=5432 dbname=app pool_size=1 max_db_connections=2"
            ),
            "{ini}"
        );
        assert!(ini.contains("* = host=127.0.0.1 port=5432\n"), "{ini}");
        assert_eq!(config.userlist(), "\"app_user\" \"\"\n");
    }
}
