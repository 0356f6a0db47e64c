//! Server processes that die with us: `Supervised` starts a server from a keeper thread with a
//! parent-death signal, so that even a killed tenantprobe leaves no server running; and
//! `reap_stale_dirs` removes the data directories such a death leaves behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::ServerError;
use super::binaries::find_program;

/// Prefix of every temporary directory a throwaway server lives in.
pub const DIR_PREFIX: &str = "tenantprobe-";
/// File in that directory holding the pid of the tenantprobe process that owns it.
const OWNER_FILE: &str = "owner.pid";

/// The unprivileged OS account a server runs as when we are root (PostgreSQL refuses root).
#[derive(Debug, Clone)]
pub struct RunAs {
    pub name: String,
    pub uid: nix::unistd::Uid,
    pub gid: nix::unistd::Gid,
}

impl RunAs {
    /// `None` when we are not root; otherwise the `postgres` account, else `nobody`.
    pub fn for_current_user() -> Result<Option<Self>, ServerError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        for name in ["postgres", "nobody"] {
            if let Ok(Some(user)) = nix::unistd::User::from_name(name) {
                return Ok(Some(Self {
                    name: name.to_owned(),
                    uid: user.uid,
                    gid: user.gid,
                }));
            }
        }
        Err(ServerError::NoUnprivilegedUser)
    }

    pub fn chown(&self, path: &Path) -> Result<(), ServerError> {
        nix::unistd::chown(path, Some(self.uid), Some(self.gid)).map_err(|e| {
            ServerError::io(
                format!("cannot hand `{}` to user `{}`", path.display(), self.name),
                e.into(),
            )
        })
    }
}

/// Builds the command line for `program`: wrapped in `setpriv` to switch to `run_as` and to set
/// the parent-death signal, when `setpriv` (util-linux) is available.
pub fn command(
    program: &Path,
    run_as: Option<&RunAs>,
    death_signal: Option<&str>,
) -> Result<Command, ServerError> {
    let setpriv = find_program("setpriv");
    if run_as.is_none() && (death_signal.is_none() || setpriv.is_none()) {
        return Ok(Command::new(program));
    }
    let setpriv = setpriv.ok_or(ServerError::MissingBinary {
        program: "setpriv",
        package: "util-linux",
        variable: "DATABASE_URL",
    })?;
    let mut cmd = Command::new(setpriv);
    if let Some(user) = run_as {
        cmd.arg(format!("--reuid={}", user.uid))
            .arg(format!("--regid={}", user.gid))
            .arg("--init-groups");
    }
    if let Some(signal) = death_signal {
        cmd.arg(format!("--pdeathsig={signal}"));
    }
    cmd.arg("--").arg(program);
    Ok(cmd)
}

/// A server process owned by a keeper thread. The parent-death signal fires when the thread that
/// forked the child dies, so the child is forked from a thread that lives exactly as long as this
/// value (or the whole process), never from a short-lived worker thread.
pub struct Supervised {
    exit: Arc<Mutex<Option<ExitStatus>>>,
    stop: Option<mpsc::Sender<()>>,
    keeper: Option<JoinHandle<()>>,
}

impl Supervised {
    /// Spawns `cmd` (stdout and stderr to `log`); on drop the server gets `stop_signal`, then
    /// SIGKILL if it has not exited after ten seconds.
    pub fn spawn(mut cmd: Command, log: &Path, stop_signal: Signal) -> Result<Self, ServerError> {
        let janitor = log.parent().and_then(janitor_command);
        let log_file = std::fs::File::create(log).map_err(|e| {
            ServerError::io(format!("cannot create log file `{}`", log.display()), e)
        })?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| ServerError::io(format!("cannot open log file `{}`", log.display()), e))?;
        cmd.stdin(Stdio::null()).stdout(log_file).stderr(log_err);
        let program = format!("{:?}", cmd.get_program());

        let (started_tx, started_rx) = mpsc::channel::<std::io::Result<u32>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let exit = Arc::new(Mutex::new(None));
        let exit_seen = Arc::clone(&exit);
        let keeper = std::thread::Builder::new()
            .name("tenantprobe-server-keeper".into())
            .spawn(move || keep(cmd, janitor, &started_tx, &stop_rx, &exit_seen, stop_signal))
            .map_err(|e| ServerError::io("cannot start server keeper thread".into(), e))?;
        match started_rx.recv() {
            Ok(Ok(_pid)) => Ok(Self {
                exit,
                stop: Some(stop_tx),
                keeper: Some(keeper),
            }),
            Ok(Err(e)) => Err(ServerError::io(format!("cannot start {program}"), e)),
            Err(_) => Err(ServerError::io(
                format!("cannot start {program}"),
                std::io::Error::other("keeper thread died"),
            )),
        }
    }

    /// The exit status, if the server has already exited (used to fail fast during start-up).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        *self
            .exit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks `ready` every `patience.poll` until it says yes. Fails with the tail of `log` when the
    /// server exits first (a bad setting, a port lost to another process) or stays silent too long.
    pub async fn wait_ready(
        &self,
        log: &Path,
        patience: &Patience,
        mut ready: impl AsyncFnMut() -> bool,
    ) -> Result<(), ServerError> {
        let deadline = Instant::now() + patience.limit;
        loop {
            if self.exit_status().is_some() {
                return Err(ServerError::StartFailed {
                    server: patience.server,
                    log: log_tail(log),
                });
            }
            if ready().await {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ServerError::StartFailed {
                    server: patience.late,
                    log: log_tail(log),
                });
            }
            tokio::time::sleep(patience.poll).await;
        }
    }
}

/// How long a freshly spawned server may take to answer, and what errors call it.
pub struct Patience {
    /// The server's name (`PostgreSQL`).
    pub server: &'static str,
    /// Its name once `limit` has passed (`PostgreSQL (not ready after 30 s)`).
    pub late: &'static str,
    pub limit: Duration,
    /// How long to wait between two questions.
    pub poll: Duration,
}

fn keep(
    mut cmd: Command,
    janitor: Option<Command>,
    started: &mpsc::Sender<std::io::Result<u32>>,
    stop: &mpsc::Receiver<()>,
    exit: &Mutex<Option<ExitStatus>>,
    stop_signal: Signal,
) {
    let mut child: Child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let _ = started.send(Ok(child.id()));
    // The janitor's stdin stays open as long as this thread runs (or the process lives).
    let mut janitor = janitor.and_then(|mut j| {
        j.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    });
    run_until_stopped(&mut child, stop, exit, stop_signal);
    // Stopped in good order: the owner removes the directory itself, the janitor is not needed.
    if let Some(janitor) = janitor.as_mut() {
        let _ = janitor.kill();
        let _ = janitor.wait();
    }
}

fn run_until_stopped(
    child: &mut Child,
    stop: &mpsc::Receiver<()>,
    exit: &Mutex<Option<ExitStatus>>,
    stop_signal: Signal,
) {
    let record = |status| {
        *exit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(status)
    };
    // Wait for a stop request (or for our owner to vanish), watching for an early exit meanwhile.
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_millis(50)) {
        if let Ok(Some(status)) = child.try_wait() {
            record(status);
            // Keep the thread (and so the death-signal parent) alive until asked to stop.
            let _ = stop.recv();
            return;
        }
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), stop_signal);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            record(status);
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    if let Ok(status) = child.wait() {
        record(status);
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

/// A shell that removes `dir` once its stdin reaches end of file, which happens when every copy
/// of the pipe's write end is closed: at the latest when our process exits, however it exits.
/// Servers that are never dropped (a test binary's shared servers live in a static until process
/// exit) are cleaned up this way. The short sleep lets the dying server release its files first.
fn janitor_command(dir: &Path) -> Option<Command> {
    let mut cmd = Command::new(find_program("sh")?);
    cmd.arg("-c")
        .arg(r#"read _ignored; sleep 0.5; rm -rf -- "$0""#)
        .arg(dir);
    Some(cmd)
}

/// Where throwaway servers live: `TENANTPROBE_TMPDIR`, else `/dev/shm` (memory: creating and
/// deleting a cluster's thousand files there is an order of magnitude faster than on a disk
/// mounted with `discard`), else the system temporary directory.
pub fn scratch_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("TENANTPROBE_TMPDIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    let writable = std::fs::metadata(shm).is_ok_and(|m| m.is_dir())
        && tempfile::Builder::new()
            .prefix(".tenantprobe-probe-")
            .tempfile_in(shm)
            .is_ok();
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Marks `dir` as no longer owned by anyone (so the reaper leaves it alone).
pub fn disown(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(OWNER_FILE));
}

/// A fresh temporary directory for one server, marked with our pid so that a later run can tell
/// it was abandoned.
pub fn server_dir(kind: &str) -> Result<tempfile::TempDir, ServerError> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{kind}-"))
        .tempdir_in(scratch_root())
        .map_err(|e| ServerError::io("cannot create a temporary directory".into(), e))?;
    std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string())
        .map_err(|e| ServerError::io(format!("cannot write `{}`", dir.path().display()), e))?;
    Ok(dir)
}

/// Removes server directories whose owning process is gone (killed with SIGKILL, say: its servers
/// died with it through the parent-death signal, but the files stayed).
pub fn reap_stale_dirs() {
    let mut entries: Vec<std::fs::DirEntry> = Vec::new();
    for root in [scratch_root(), std::env::temp_dir()] {
        entries.extend(
            std::fs::read_dir(root)
                .into_iter()
                .flatten()
                .filter_map(Result::ok),
        );
    }
    for entry in entries {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let path: PathBuf = entry.path();
        let owner = std::fs::read_to_string(path.join(OWNER_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        if let Some(owner) = owner
            && !is_alive(owner)
        {
            tracing::debug!(dir = %path.display(), owner, "removing abandoned server directory");
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn is_alive(pid: i32) -> bool {
    !matches!(
        kill(Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// The last lines of a server log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// A port that was free a moment ago. The server may still lose a race for it; callers retry.
pub fn free_port() -> Result<u16, ServerError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ServerError::io("cannot find a free TCP port".into(), e))
}

/// Runs `start` on a free port, up to `attempts` times (another process may take the port before
/// the server binds it). Returns the port and what `start` made, or the last attempt's error.
pub async fn start_on_free_port<T>(
    attempts: usize,
    server: &'static str,
    mut start: impl AsyncFnMut(u16) -> Result<T, ServerError>,
) -> Result<(u16, T), ServerError> {
    let mut last_error = None;
    for _attempt in 0..attempts {
        let port = free_port()?;
        match start(port).await {
            Ok(started) => return Ok((port, started)),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or(ServerError::StartFailed {
        server,
        log: String::new(),
    }))
}
