//! `tenantprobe demo`.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use clap::Args;
use tenantprobe::demo::{self, DemoReport};
use tenantprobe::exit::ExitStatus;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Switch on a deliberate isolation fault in the reference app and watch it being caught
    /// (repeatable): global-cache-key, subdomain-trust, jwt-no-verify, session-context-leak,
    /// rls-bypass-handler, body-tenant-override, debug-tenant-param, no-tenant-limits.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<reference_app::faults::Fault>,
    /// Put a connection pooler between the reference app and PostgreSQL: `pgbouncer` starts a
    /// throwaway PgBouncer in transaction mode (Debian package `pgbouncer`).
    #[arg(long, value_name = "POOLER")]
    pub pooler: Option<demo::Pooler>,
}

impl DemoArgs {
    pub async fn exec(self) -> anyhow::Result<ExitStatus> {
        let options = demo::DemoOptions {
            faults: self.faults.into_iter().collect(),
            pooler: self.pooler,
        };
        let report = tokio::select! {
            report = demo::run(options) => report?,
            _ = super::super::shutdown_signal() => anyhow::bail!("interrupted: throwaway servers stopped and removed"),
        };
        print(&report, &mut anstream::stdout())?;
        Ok(if report.findings.is_empty() {
            ExitStatus::Clean
        } else {
            ExitStatus::Findings
        })
    }
}

fn print(report: &DemoReport, out: &mut impl Write) -> std::io::Result<()> {
    let bold = Style::new().bold();
    let ok = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
    let bad = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    writeln!(out, "{bold}tenantprobe demo{bold:#}")?;
    for line in &report.environment {
        writeln!(out, "  · {line}")?;
    }
    writeln!(out)?;
    for step in &report.steps {
        let (style, mark) = if step.passed {
            (ok, "PASS")
        } else {
            (bad, "FAIL")
        };
        writeln!(
            out,
            "{style}{mark}{style:#} {bold}{}{bold:#} ({} ms)",
            step.name,
            step.duration.as_millis()
        )?;
        writeln!(out, "     {}", step.summary)?;
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
        for f in &report.findings {
            writeln!(
                out,
                "{bad}{}{bad:#} [{}] {}: {}",
                f.severity, f.rule, f.object, f.title
            )?;
        }
    }
    writeln!(out)?;
    if report.findings.is_empty() {
        writeln!(out, "{ok}tenants are isolated{ok:#}: every check passed")?;
    } else {
        writeln!(
            out,
            "{bad}{} isolation problem(s){bad:#}",
            report.findings.len()
        )?;
    }
    Ok(())
}
