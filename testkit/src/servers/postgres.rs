//! PostgreSQL for the kit: `PostgresKind` (how `Postgres` finds, checks and containerises it), and
//! `ThrowawayPostgres`, a private cluster from local binaries, initialised in a temporary
//! directory, listening on a free port, stopped and removed on drop.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use sqlx::Connection;
#[cfg(feature = "containers")]
use testcontainers::{ContainerRequest, GenericImage};

use super::binaries::find_postgres;
use super::process::{
    Patience, RunAs, Supervised, command, disown, reap_stale_dirs, scratch_root, server_dir,
    start_on_free_port,
};
use super::{Ready, ServerError, ServerKind, Started};

/// PostgreSQL, for `Server` (`Postgres`).
pub struct PostgresKind;

impl ServerKind for PostgresKind {
    const NAME: &'static str = "PostgreSQL";
    const URL_VARIABLE: &'static str = "DATABASE_URL";
    type Throwaway = ThrowawayPostgres;

    /// Connects (and disconnects again) within 10 s.
    async fn check(url: &str) -> Result<(), String> {
        let options: sqlx::postgres::PgConnectOptions =
            url.parse().map_err(|e: sqlx::Error| e.to_string())?;
        let connect = sqlx::PgConnection::connect_with(&options);
        let conn = super::within(Duration::from_secs(10), connect).await?;
        let _ = conn.close().await;
        Ok(())
    }

    /// Superuser connection URL (database `postgres`).
    fn local_url(port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }

    fn location(port: u16) -> String {
        format!("on port {port}")
    }

    #[cfg(feature = "containers")]
    const IMAGE_VARIABLE: &'static str = "TENANTPROBE_POSTGRES_IMAGE";

    /// `initdb` into the container's own file system, then `postgres` with the local clusters'
    /// settings, as the image's `postgres` user (PostgreSQL refuses root). The newest
    /// `/usr/lib/postgresql/*/bin` (Debian's layout) comes first on PATH, so images with the
    /// programs on PATH work too.
    #[cfg(feature = "containers")]
    fn container(image: &str, port: u16) -> ContainerRequest<GenericImage> {
        use super::containers::{WATCH, request};
        use testcontainers::ImageExt;
        use testcontainers::core::WaitFor;
        let settings: String = SERVER_SETTINGS.iter().map(|s| format!(" -c {s}")).collect();
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
    }
}

/// Settings for a disposable cluster: durability off (nothing here must survive a crash), enough
/// connections for parallel tests. The container backend runs its clusters with them too.
const SERVER_SETTINGS: &[&str] = &[
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=300",
    "shared_buffers=64MB",
    "log_min_messages=warning",
    "log_min_error_statement=panic",
];

/// A running throwaway cluster. Superuser `postgres`, trust authentication on 127.0.0.1.
pub struct ThrowawayPostgres {
    ready: Ready,
    binaries: super::binaries::PostgresBinaries,
    run_as: Option<RunAs>,
    // Field order matters: the server stops before its directory is removed.
    server: Option<Supervised>,
    dir: tempfile::TempDir,
}

impl ThrowawayPostgres {
    /// Runs `initdb` and starts `postgres`, as an unprivileged OS user when we are root.
    #[tracing::instrument(name = "throwaway_postgres")]
    pub async fn start() -> Result<Self, ServerError> {
        let begun = Instant::now();
        reap_stale_dirs();
        let binaries = find_postgres()?;
        let run_as = RunAs::for_current_user()?;
        let dir = server_dir("pg")?;
        if let Some(user) = &run_as {
            user.chown(dir.path())?;
        }
        let data = dir.path().join("data");
        let template = cached_template(&binaries, run_as.as_ref()).await?;
        copy_tree(&template, &data, run_as.clone()).await?;
        let log = dir.path().join("postgres.log");
        let (port, server) = start_on_free_port(5, "PostgreSQL", async |port| {
            let server = spawn(&binaries, run_as.as_ref(), dir.path(), port)?;
            wait_ready(port, &server, &log).await?;
            Ok(server)
        })
        .await?;
        let startup = begun.elapsed();
        tracing::info!(port, ?startup, dir = %dir.path().display(), "throwaway PostgreSQL ready");
        Ok(Self {
            ready: Ready { port, startup },
            binaries,
            run_as,
            server: Some(server),
            dir,
        })
    }

    /// Superuser connection URL (database `postgres`).
    pub fn url(&self) -> String {
        PostgresKind::local_url(self.ready.port)
    }

    pub fn port(&self) -> u16 {
        self.ready.port
    }

    /// From `initdb` to accepting connections.
    pub fn startup_time(&self) -> Duration {
        self.ready.startup
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server (immediate shutdown, as a crash would), keeping its data: for tests of
    /// clients that must survive a database outage. Commits are asynchronous here, so the last
    /// fraction of a second of them is lost unless a `CHECKPOINT` ran first.
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Starts a stopped server again on the same port and data (after crash recovery).
    pub async fn start_again(&mut self) -> Result<(), ServerError> {
        self.stop();
        let server = spawn(
            &self.binaries,
            self.run_as.as_ref(),
            self.dir.path(),
            self.ready.port,
        )?;
        wait_ready(
            self.ready.port,
            &server,
            &self.dir.path().join("postgres.log"),
        )
        .await?;
        self.server = Some(server);
        Ok(())
    }
}

impl Started for ThrowawayPostgres {
    fn start() -> impl Future<Output = Result<Self, ServerError>> {
        ThrowawayPostgres::start()
    }

    fn ready(&self) -> Ready {
        self.ready
    }
}

/// `postgres` on `port`, data in `dir/data`, socket in `dir`.
fn spawn(
    binaries: &super::binaries::PostgresBinaries,
    run_as: Option<&RunAs>,
    dir: &Path,
    port: u16,
) -> Result<Supervised, ServerError> {
    let mut cmd = command(&binaries.postgres, run_as, Some("SIGQUIT"))?;
    cmd.arg("-D")
        .arg(dir.join("data"))
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(dir);
    for setting in SERVER_SETTINGS {
        cmd.arg("-c").arg(setting);
    }
    // SIGQUIT is PostgreSQL's immediate shutdown: fast, and it still releases shared memory.
    Supervised::spawn(cmd, &dir.join("postgres.log"), Signal::SIGQUIT)
}

/// An initdb'd data directory for this PostgreSQL version and OS user, made once and copied for
/// every cluster (copying takes tens of milliseconds; initdb takes most of a second). Built in a
/// private directory and renamed into place, so concurrent first runs cannot see half a cluster.
async fn cached_template(
    binaries: &super::binaries::PostgresBinaries,
    run_as: Option<&RunAs>,
) -> Result<PathBuf, ServerError> {
    let version = run_to_completion({
        let mut cmd = std::process::Command::new(&binaries.postgres);
        cmd.arg("--version");
        cmd
    })
    .await
    .map_err(|e| ServerError::io(format!("cannot run `{}`", binaries.postgres.display()), e))?;
    let version: String = String::from_utf8_lossy(&version.stdout)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let uid = run_as.map_or_else(|| nix::unistd::geteuid().as_raw(), |u| u.uid.as_raw());
    let cache = scratch_root().join(format!(
        "tenantprobe-initdb-{}-uid{uid}",
        version.trim_matches('_')
    ));
    if cache.join("data").join("PG_VERSION").exists() {
        return Ok(cache.join("data"));
    }
    let build = server_dir("initdb")?;
    if let Some(user) = run_as {
        user.chown(build.path())?;
    }
    let mut initdb = command(&binaries.initdb, run_as, None)?;
    initdb.arg("-D").arg(build.path().join("data")).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
    ]);
    let out = run_to_completion(initdb)
        .await
        .map_err(|e| ServerError::io(format!("cannot run `{}`", binaries.initdb.display()), e))?;
    if !out.status.success() {
        return Err(ServerError::StartFailed {
            server: "PostgreSQL (initdb)",
            log: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let build = build.keep();
    if std::fs::rename(&build, &cache).is_ok() {
        disown(&cache);
    } else {
        // Another process finished first; use theirs.
        let _ = std::fs::remove_dir_all(&build);
    }
    Ok(cache.join("data"))
}

/// Copies the template cluster, keeping the 0700 modes PostgreSQL insists on and handing every
/// file to the server's OS user.
async fn copy_tree(from: &Path, to: &Path, run_as: Option<RunAs>) -> Result<(), ServerError> {
    fn copy(from: &Path, to: &Path, run_as: Option<&RunAs>) -> std::io::Result<()> {
        std::fs::create_dir(to)?;
        std::fs::set_permissions(to, std::fs::metadata(from)?.permissions())?;
        if let Some(user) = run_as {
            nix::unistd::chown(to, Some(user.uid), Some(user.gid))?;
        }
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let target = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy(&entry.path(), &target, run_as)?;
            } else {
                std::fs::copy(entry.path(), &target)?;
                if let Some(user) = run_as {
                    nix::unistd::chown(&target, Some(user.uid), Some(user.gid))?;
                }
            }
        }
        Ok(())
    }
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    let context = format!("cannot copy the cluster template `{}`", from.display());
    tokio::task::spawn_blocking(move || copy(&from, &to, run_as.as_ref()))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| ServerError::io(context, e))
}

/// Runs a short-lived program without blocking the runtime. If the caller gives up (Ctrl-C drops
/// the future), the program is killed and reaped before its directory is removed.
async fn run_to_completion(
    mut cmd: std::process::Command,
) -> std::io::Result<std::process::Output> {
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            if matches!(self.0.try_wait(), Ok(None)) {
                // initdb runs postgres in bootstrap mode as its own child: kill the whole group.
                if let Ok(pid) = i32::try_from(self.0.id()) {
                    let _ =
                        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = self.0.wait();
            }
        }
    }
    use std::os::unix::process::CommandExt;
    let child = cmd
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut child = Reaped(child);
    let status = loop {
        if let Some(status) = child.0.try_wait()? {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read;
    if let Some(out) = child.0.stdout.as_mut() {
        out.read_to_end(&mut stdout)?;
    }
    if let Some(err) = child.0.stderr.as_mut() {
        err.read_to_end(&mut stderr)?;
    }
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

/// Ready once a superuser connection succeeds.
async fn wait_ready(port: u16, server: &Supervised, log: &Path) -> Result<(), ServerError> {
    let options = crate::sql::connect_options(&PostgresKind::local_url(port))
        .map_err(|e| ServerError::io("bad connection options".into(), std::io::Error::other(e)))?;
    let patience = Patience {
        server: "PostgreSQL",
        late: "PostgreSQL (not ready after 30 s)",
        limit: Duration::from_secs(30),
        poll: Duration::from_millis(20),
    };
    server
        .wait_ready(
            log,
            &patience,
            async || match sqlx::PgConnection::connect_with(&options).await {
                Ok(conn) => {
                    let _ = conn.close().await;
                    true
                }
                Err(_) => false,
            },
        )
        .await
}
