//! The `tenantprobe` binary: parses the command line, sets up logging, runs the subcommand and maps
//! the outcome to a documented exit code (also when a signal stops it).

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use clap::Parser;
use tenantprobe::exit::ExitStatus;
use tenantprobe::redact::{ScrubbedStderr, remember_secrets, scrub};
use tracing_subscriber::EnvFilter;

/// How long a command that stops cleanly on a signal (the monitor daemon finishing its cycle,
/// `demo` removing its servers) may take before the process exits anyway. Kubernetes waits 30 s
/// before SIGKILL.
const GRACE: Duration = Duration::from_secs(25);

fn main() -> ExitCode {
    tenantprobe::exit::block_on(run()).unwrap_or_else(ExitCode::from)
}

async fn run() -> ExitCode {
    // Before anything can fail or log: the secrets of every URL we were given, on the command line
    // or in the environment (the spec's `*_env` variables included), are masked in all output.
    for text in std::env::args_os()
        .skip(1)
        .chain(std::env::vars_os().map(|(_, v)| v))
    {
        remember_secrets(&text.to_string_lossy());
    }
    // Registered before the command starts, so that a signal at any moment ends with its code.
    let stop = match Stop::listen() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("error: cannot listen for signals: {e}");
            return ExitStatus::Usage.into();
        }
    };
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Usage.into()
            } else {
                ExitStatus::Clean.into()
            };
        }
    };
    cli::ui::set_verbosity(cli.verbosity());
    init_logging(cli.log_format, cli.log.as_deref(), cli.verbosity());
    let winds_down = cli.command.winds_down_on_signal();
    let (signals, mut signalled) = tokio::sync::mpsc::unbounded_channel();
    let mut stop = stop;
    tokio::spawn(async move {
        loop {
            let status = stop.next().await;
            record(status);
            if signals.send(status).is_err() {
                break;
            }
        }
    });
    let exec = cli.exec();
    tokio::pin!(exec);
    let result = tokio::select! {
        result = &mut exec => result,
        Some(status) = signalled.recv() => {
            // Commands that stop cleanly get to finish (a second signal cuts that short); the
            // others are dropped here, which closes their connections and removes throwaway
            // servers.
            if winds_down {
                tokio::select! {
                    _ = tokio::time::timeout(GRACE, &mut exec) => {}
                    _ = signalled.recv() => {}
                }
            }
            return interrupted(status);
        }
    };
    // A command that handled the signal itself returns normally: the run is still incomplete.
    if let Some(status) = received() {
        return interrupted(status);
    }
    match result {
        Ok(status) => status.into(),
        Err(error) => {
            eprintln!("error: {}", scrub(&error.report()));
            error.exit_status().into()
        }
    }
}

/// The filter: `--log`/`TENANTPROBE_LOG`, else `RUST_LOG`, else the level `-q`/`-v` chose. ANSI
/// colour only when stderr is a terminal (log files and Kubernetes logs get plain text).
fn init_logging(format: cli::LogFormat, filter: Option<&str>, verbosity: cli::ui::Verbosity) {
    let fallback = cli::ui::default_filter(verbosity);
    let text = filter
        .map(str::to_owned)
        .or_else(|| {
            std::env::var("RUST_LOG")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| fallback.to_owned());
    let filter = EnvFilter::try_new(&text).unwrap_or_else(|e| {
        eprintln!("warning: ignoring the log filter `{text}`: {e}");
        EnvFilter::new(fallback)
    });
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        // Other crates log URLs and connection parameters (sqlx warns about unknown ones with
        // their values): every line is scrubbed of the secrets we know.
        .with_writer(ScrubbedStderr);
    match format {
        cli::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        cli::LogFormat::Text => builder.init(),
    }
}

/// The first stop signal received (0: none), set before any command sees it end.
static RECEIVED: AtomicU8 = AtomicU8::new(0);

fn record(status: ExitStatus) {
    let _ = RECEIVED.compare_exchange(0, status as u8, Ordering::SeqCst, Ordering::SeqCst);
}

fn received() -> Option<ExitStatus> {
    match RECEIVED.load(Ordering::SeqCst) {
        130 => Some(ExitStatus::Interrupted),
        143 => Some(ExitStatus::Terminated),
        _ => None,
    }
}

fn interrupted(status: ExitStatus) -> ExitCode {
    eprintln!("tenantprobe: stopped by a signal; the run is incomplete");
    status.into()
}

/// SIGINT and SIGTERM, as exit statuses (130, 143).
struct Stop {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Stop {
    #[cfg(unix)]
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn listen() -> std::io::Result<Self> {
        Ok(Self {})
    }

    /// The next signal.
    async fn next(&mut self) -> ExitStatus {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => ExitStatus::Interrupted,
                _ = self.terminate.recv() => ExitStatus::Terminated,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            ExitStatus::Interrupted
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, so that commands can stop cleanly (dropping throwaway servers).
/// The signal is recorded first, so the process exits 130 or 143 however the command returns.
pub async fn shutdown_signal() {
    match Stop::listen() {
        // A signal that came before this listener did is already recorded by `run`'s.
        Ok(_) if received().is_some() => {}
        Ok(mut stop) => record(stop.next().await),
        Err(_) => std::future::pending().await,
    }
}
