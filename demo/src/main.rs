//! `tenantprobe-demo` (also run by `tenantprobe demo`): runs the demo and prints each step as it
//! starts and ends (a spinner on a terminal while it runs), then the findings, each once, and the
//! verdict. Exit codes as the tool's: 0 clean, 1 findings, 2 setup error, 3 server unreachable,
//! 130/143 stopped by a signal (the throwaway servers removed).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anstyle::{AnsiColor, Style};
use clap::Parser;
use tenantprobe::exit::ExitStatus;
use tenantprobe::redact::{ScrubbedStderr, remember_secrets, scrub};
use tenantprobe::report::wrap;
use tenantprobe_demo::{self as demo, DemoEvent, DemoHook, Step};
use tenantprobe_testkit::servers::ServerError;

/// Run everything tenantprobe checks against the bundled reference app on throwaway servers.
///
/// Starts a private PostgreSQL and Redis from local binaries (or uses DATABASE_URL, an
/// administrative URL, and REDIS_URL), applies the reference migrations, provisions two
/// synthetic tenants, runs every check and prints what it verified.
#[derive(Debug, Parser)]
#[command(name = "tenantprobe-demo", version, max_term_width = 100)]
pub struct DemoArgs {
    /// Switch on a deliberate isolation fault in the reference app and watch it being caught
    /// (repeatable): global-cache-key, subdomain-trust, jwt-no-verify, session-context-leak,
    /// rls-bypass-handler, body-tenant-override, debug-tenant-param, no-tenant-limits,
    /// nested-parent-only, impersonation-unlogged, impersonation-sticky, premium-route-fallback,
    /// promote-leftovers.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<reference_app::faults::Fault>,
    /// Put a connection pooler between the reference app and PostgreSQL: `pgbouncer` starts a
    /// throwaway PgBouncer in transaction mode (Debian package `pgbouncer`).
    #[arg(long, value_name = "POOLER")]
    pub pooler: Option<demo::Pooler>,
    /// Only the findings and the verdict: no step lines.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

fn main() -> ExitCode {
    let args = DemoArgs::parse();
    // Secrets of the URLs we were given (DATABASE_URL, REDIS_URL) are masked in all output.
    for (_, value) in std::env::vars_os() {
        remember_secrets(&value.to_string_lossy());
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(ScrubbedStderr)
        .init();
    let result = match tenantprobe::exit::block_on(args.exec()) {
        Ok(result) => result,
        Err(status) => return status.into(),
    };
    match result {
        Ok(status) => status.into(),
        Err(error) => {
            eprintln!("error: {}", scrub(&format!("{error:#}")));
            let unreachable = error.chain().any(|cause| {
                cause
                    .downcast_ref::<ServerError>()
                    .is_some_and(ServerError::is_unreachable)
            });
            if unreachable {
                ExitStatus::Unreachable.into()
            } else {
                ExitStatus::Usage.into()
            }
        }
    }
}

/// SIGINT or SIGTERM, as the exit status it ends the demo with (130, 143).
async fn stop_signal() -> ExitStatus {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
            _ = interrupt.recv() => ExitStatus::Interrupted,
            _ = terminate.recv() => ExitStatus::Terminated,
        },
        _ => std::future::pending().await,
    }
}

/// Styles, plain when stdout is not a terminal (anstream strips them too; this keeps widths
/// right for wrapping).
struct Styles {
    bold: Style,
    ok: Style,
    bad: Style,
    dim: Style,
}

impl Styles {
    fn new(color: bool) -> Self {
        let paint = |s: Style| if color { s } else { Style::new() };
        Self {
            bold: paint(Style::new().bold()),
            ok: paint(Style::new().fg_color(Some(AnsiColor::Green.into())).bold()),
            bad: paint(Style::new().fg_color(Some(AnsiColor::Red.into())).bold()),
            dim: paint(Style::new().dimmed()),
        }
    }
}

impl DemoArgs {
    pub async fn exec(self) -> anyhow::Result<ExitStatus> {
        let terminal = std::io::stdout().is_terminal();
        let color = terminal && std::env::var_os("NO_COLOR").is_none();
        let width = wrap::width(terminal);
        let quiet = self.quiet;
        let styles = Arc::new(Styles::new(color));
        {
            let s = &styles;
            if !quiet {
                let _ = writeln!(anstream::stdout(), "{}tenantprobe demo{:#}", s.bold, s.bold);
            }
        }
        // A spinner on stderr only when it is a terminal.
        let show_progress = std::io::stderr().is_terminal();
        let spinner: Arc<Mutex<Option<indicatif::ProgressBar>>> = Arc::new(Mutex::new(None));
        let hook = {
            let styles = Arc::clone(&styles);
            let spinner = Arc::clone(&spinner);
            DemoHook(Arc::new(move |event| {
                if quiet {
                    return;
                }
                on_event(&event, &styles, width, &spinner, show_progress);
            }))
        };
        let options = demo::DemoOptions {
            faults: self.faults.into_iter().collect(),
            progress: Some(hook),
            pooler: self.pooler,
        };
        let outcome = tokio::select! {
            report = demo::run(options) => report,
            status = stop_signal() => {
                // Dropping the run has stopped and removed the throwaway servers.
                clear(&spinner);
                eprintln!("tenantprobe-demo: stopped by a signal; throwaway servers stopped and removed");
                return Ok(status);
            }
        };
        clear(&spinner);
        let mut report = outcome?;
        tenantprobe::report::collapse_duplicates(&mut report.findings);
        let s = &styles;
        let mut out = anstream::stdout().lock();
        if !report.findings.is_empty() {
            writeln!(out)?;
            for f in &report.findings {
                let prefix = format!("{} ", f.severity);
                let head = format!("[{}] {}: {}", f.rule, f.object, f.title);
                for (i, line) in wrap::indented(&head, width, &prefix, "    ")
                    .iter()
                    .enumerate()
                {
                    if i == 0 {
                        let rest = line.strip_prefix(prefix.as_str()).unwrap_or(line);
                        writeln!(out, "{}{}{:#} {rest}", s.bad, f.severity, s.bad)?;
                    } else {
                        writeln!(out, "{line}")?;
                    }
                }
                writeln!(out, "    {}fingerprint {}{:#}", s.dim, f.fingerprint, s.dim)?;
            }
        }
        writeln!(out)?;
        if report.findings.is_empty() {
            writeln!(
                out,
                "{}tenants are isolated{:#}: every check passed",
                s.ok, s.ok
            )?;
            Ok(ExitStatus::Clean)
        } else {
            writeln!(
                out,
                "{}{} isolation problem(s){:#}",
                s.bad,
                report.findings.len(),
                s.bad
            )?;
            Ok(ExitStatus::Findings)
        }
    }
}

fn clear(spinner: &Mutex<Option<indicatif::ProgressBar>>) {
    if let Ok(mut guard) = spinner.lock()
        && let Some(bar) = guard.take()
    {
        bar.finish_and_clear();
    }
}

/// Prints one event as it happens: environment lines, a spinner while a step runs (stderr, on a
/// terminal only), and the step's verdict line when it ends.
fn on_event(
    event: &DemoEvent<'_>,
    s: &Styles,
    width: usize,
    spinner: &Mutex<Option<indicatif::ProgressBar>>,
    show_progress: bool,
) {
    match event {
        DemoEvent::Environment(line) => {
            let mut out = anstream::stdout().lock();
            for l in wrap::indented(line, width, "  · ", "    ") {
                let _ = writeln!(out, "{l}");
            }
        }
        DemoEvent::StepStarted(name) => {
            if show_progress {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_message(format!("{name}…"));
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                if let Ok(mut guard) = spinner.lock() {
                    *guard = Some(bar);
                }
            } else {
                let _ = writeln!(anstream::stdout(), "     {name}…");
            }
        }
        DemoEvent::StepFinished(step) => {
            clear(spinner);
            print_step(step, s, width);
        }
    }
}

fn print_step(step: &Step, s: &Styles, width: usize) {
    let (style, mark) = if step.passed {
        (s.ok, "PASS")
    } else {
        (s.bad, "FAIL")
    };
    let mut out = anstream::stdout().lock();
    let _ = writeln!(
        out,
        "{style}{mark}{style:#} {}{}{:#} ({} ms)",
        s.bold,
        step.name,
        s.bold,
        step.duration.as_millis()
    );
    for line in wrap::indented(&step.summary, width, "     ", "     ") {
        let _ = writeln!(out, "{line}");
    }
}
