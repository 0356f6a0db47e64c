//! The `tenantprobe` binary: parses the command line, sets up logging, runs the subcommand and maps
//! the outcome to a documented exit code.

mod cli;

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
    init_logging(cli.log_format, &cli.log);
    match cli.exec().await {
        Ok(status) => status.into(),
        Err(error) => {
            eprintln!("error: {error:#}");
            exit_status_for(&error).into()
        }
    }
}

fn init_logging(format: cli::LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
