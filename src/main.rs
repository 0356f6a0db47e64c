//! The `tenantprobe` binary: parses the command line, sets up logging, runs the subcommand and maps
//! the outcome to a documented exit code.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tenantprobe::exit::ExitStatus;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
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
    match cli.exec().await {
        Ok(status) => status.into(),
        Err(error) => {
            eprintln!("error: {error:#}");
            exit_status_for(&error).into()
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
        .with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        cli::LogFormat::Text => builder.init(),
    }
}

/// Unreachable targets exit 3; everything else that stops a run before it could judge is a usage
/// or configuration problem (2).
fn exit_status_for(error: &anyhow::Error) -> ExitStatus {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<tenantprobe::servers::ServerError>()
            && e.is_unreachable()
        {
            return ExitStatus::Unreachable;
        }
    }
    ExitStatus::Usage
}

/// Resolves on Ctrl-C or SIGTERM, so that commands can stop cleanly (dropping throwaway servers).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
