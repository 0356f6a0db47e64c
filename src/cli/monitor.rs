//! `tenantprobe monitor init|run|serve|canary`.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use clap::{Args, Subcommand};
use tenantprobe::Error;
use tenantprobe::exit::ExitStatus;
use tenantprobe::monitor::canary::{self, GateOptions};
use tenantprobe::monitor::daemon::{self, DaemonOptions};
use tenantprobe::monitor::metrics::Metrics;
use tenantprobe::monitor::{self, CheckStatus, CycleReport, Probe, ProbeOptions, Provisioning};
use tenantprobe::report::Report;
use tenantprobe::rules::RuleInfo;
use tenantprobe::spec::Spec;
use tenantprobe::spec::schedule::Schedule;
use tenantprobe::target::{Flags, process_env};

use super::common::{OutputArgs, RunFacts, TargetArgs};

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(subcommand)]
    pub command: MonitorCommand,
}

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Provision the synthetic tenants and their canaries (idempotent; touches nothing else).
    ///
    /// Creates the spec's `[monitor] synthetic_tenants` as its [tenants] section says, then one
    /// canary item per creatable API resource for each, carrying the tenant's canary marker.
    /// Re-running finds them by their markers and creates nothing.
    Init(InitArgs),
    /// Run one cycle and exit: 0 every check passed, 1 a violation or a failed check, 3 a
    /// surface could not be checked. For a Kubernetes CronJob, with `--pushgateway`.
    ///
    /// For each synthetic tenant: lists every API resource (every item must be its own, its
    /// canaries present), fetches the other tenant's canaries by id (they must answer like
    /// missing ids) and lists through the other tenant's subdomain; as the app role, with its
    /// tenant set, no other tenant's row is visible in any tenant table, and with none set
    /// nothing is; a bounded Redis scan finds keys without a tenant and foreign values. Reads only.
    Run(RunArgs),
    /// A daemon: cycles on the spec's cron schedule, Prometheus metrics on `/metrics`.
    ///
    /// Accepts the 5-field cron line of a Kubernetes CronJob (`*/5 * * * *`) and the 6-field form
    /// with seconds. Never runs two cycles at once (a skipped tick is counted); stops gracefully
    /// on SIGTERM; keeps running while PostgreSQL, the API or Redis is down and reports it in
    /// `tenantprobe_surface_up` and `tenantprobe_checks_total{result="error"}`.
    Serve(ServeArgs),
    /// Gate a deployment: cycles against a canary for `--duration`, then pass or fail.
    ///
    /// Fails at once (exit 1) on any isolation violation; otherwise fails when the share of
    /// checks that did not pass exceeds `--error-threshold` or the p99 latency of the probe's
    /// API requests exceeds `--p99-threshold`. For migrate → canary → validate → promote.
    Canary(CanaryArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Each check's timeout (default: the spec's `check_timeout`, else 10s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub check_timeout: Option<Duration>,
    /// Redis: stop the key scan after this many keys.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub redis_max_keys: u64,
    /// Redis: check the values of this many sampled keys.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub redis_sample: usize,
}

impl ProbeArgs {
    fn spec(&self) -> Result<Spec, Error> {
        let target = self.target.load(Flags::default())?;
        target.require_spec("monitor").cloned()
    }

    fn options(&self, spec: &Spec) -> Option<ProbeOptions> {
        let monitor = spec.monitor.as_ref()?;
        let mut options = ProbeOptions::from_spec(monitor);
        if let Some(t) = self.check_timeout {
            options.check_timeout = t;
        }
        options.redis_max_keys = self.redis_max_keys;
        options.redis_sample = self.redis_sample;
        Some(options)
    }

    async fn probe(&self, spec: &Spec, provisioning: Provisioning) -> Result<Probe, Error> {
        Probe::setup(spec, &process_env, provisioning, self.options(spec)).await
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub probe: ProbeArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub probe: ProbeArgs,
    /// Push the metrics to this Prometheus Pushgateway (http://pushgateway:9091).
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,
    /// The Pushgateway job label.
    #[arg(long, value_name = "NAME", default_value = "tenantprobe")]
    pub job: String,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub probe: ProbeArgs,
    /// Where `/metrics` and `/healthz` listen.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:9464")]
    pub listen: SocketAddr,
    /// Cron line overriding the spec's `schedule` (5 fields, or 6 with seconds first).
    #[arg(long, value_name = "CRON")]
    pub schedule: Option<String>,
    /// Random delay of up to this before each cycle (default: the spec's `jitter`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub jitter: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct CanaryArgs {
    #[command(flatten)]
    pub probe: ProbeArgs,
    /// How long to watch the canary.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "5m")]
    pub duration: Duration,
    /// Pause between cycles.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10s")]
    pub interval: Duration,
    /// Largest acceptable share of checks that failed or could not run (0.01 = 1%).
    #[arg(long, value_name = "RATIO", default_value_t = 0.01)]
    pub error_threshold: f64,
    /// Largest acceptable p99 latency of the probe's API requests.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "500ms")]
    pub p99_threshold: Duration,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl MonitorArgs {
    pub async fn exec(self) -> Result<ExitStatus, Error> {
        match self.command {
            MonitorCommand::Init(args) => args.exec().await,
            MonitorCommand::Run(args) => args.exec().await,
            MonitorCommand::Serve(args) => args.exec().await,
            MonitorCommand::Canary(args) => args.exec().await,
        }
    }
}

impl InitArgs {
    async fn exec(self) -> Result<ExitStatus, Error> {
        let spec = self.probe.spec()?;
        let probe = self.probe.probe(&spec, Provisioning::Create).await?;
        let report = probe.init().await.map_err(|e| Error::TargetFailed {
            what: "monitor init".into(),
            reason: e.to_string(),
        })?;
        let mut out = anstream::stdout();
        for t in &probe.tenants {
            writeln!(out, "synthetic tenant {} ({})", t.slug, t.tenant_id)?;
        }
        for (slug, resource, id) in &report.created {
            writeln!(out, "  created {resource} canary {id} for {slug}")?;
        }
        writeln!(
            out,
            "{} canaries created, {} already there",
            report.created.len(),
            report.existing
        )?;
        Ok(ExitStatus::Clean)
    }
}

impl RunArgs {
    async fn exec(self) -> Result<ExitStatus, Error> {
        let spec = self.probe.spec()?;
        let probe = self.probe.probe(&spec, Provisioning::LookUp).await?;
        let metrics = Metrics::new(
            &probe
                .tenants
                .iter()
                .map(|t| t.slug.clone())
                .collect::<Vec<_>>(),
        );
        let report = probe.cycle().await;
        metrics.record(&report);
        daemon::log_cycle(&report);
        if let Some(gateway) = &self.pushgateway {
            monitor::push::push(
                &probe.client.http,
                gateway,
                &self.job,
                &metrics,
                report.passed(),
            )
            .await
            .map_err(Error::failed)?;
        }
        let notes = cycle_notes(&report);
        let mut findings = report.findings();
        let status = self.output.emit(
            Some(&spec),
            RunFacts {
                spec_file: self.probe.target.target.as_deref(),
                ..RunFacts::default()
            },
            Report::new(
                "monitor run",
                &spec.name,
                &monitor_rules(),
                report.elapsed,
                &notes,
            ),
            &mut findings,
        )?;
        Ok(cycle_status(&report, status))
    }
}

/// Findings decide first (1); then checks that could not run (3); a failed check without a
/// finding at `--fail-on` still fails the run.
fn cycle_status(report: &CycleReport, from_findings: ExitStatus) -> ExitStatus {
    if from_findings != ExitStatus::Clean || report.violations().next().is_some() {
        ExitStatus::Findings
    } else if report
        .results
        .iter()
        .any(|r| r.status() == CheckStatus::Error)
    {
        ExitStatus::Unreachable
    } else if report.passed() {
        ExitStatus::Clean
    } else {
        ExitStatus::Findings
    }
}

fn cycle_notes(report: &CycleReport) -> Vec<String> {
    let mut notes = vec![format!(
        "{} checks in {} ms (database {} ms)",
        report.results.len(),
        report.elapsed.as_millis(),
        report.db_time().as_millis()
    )];
    for r in &report.results {
        let status = r.status();
        let mut line = format!(
            "{:<5} {:<24} {:<22} {} ms",
            status.as_str(),
            r.check.as_str(),
            r.synthetic_tenant,
            r.duration.as_millis()
        );
        if let Some(e) = &r.error {
            line.push_str(&format!(" — {e}"));
        }
        notes.push(line);
    }
    notes
}

fn monitor_rules() -> Vec<&'static RuleInfo> {
    tenantprobe::registry::catalogue()
        .into_iter()
        .filter(|r| {
            r.category == tenantprobe::finding::Category::Monitor
                || tenantprobe::cache::rules::RULES
                    .iter()
                    .any(|c| c.id == r.id)
        })
        .collect()
}

impl ServeArgs {
    async fn exec(self) -> Result<ExitStatus, Error> {
        let spec = self.probe.spec()?;
        let monitor = spec
            .monitor
            .as_ref()
            .ok_or_else(monitor::no_monitor_section)?;
        let line = self
            .schedule
            .clone()
            .unwrap_or_else(|| monitor.schedule.clone());
        let schedule = Schedule::parse(&line).map_err(Error::Usage)?;
        let jitter = self.jitter.unwrap_or(monitor.jitter);
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|e| Error::usage(format!("cannot listen on {}: {e}", self.listen)))?;
        let bound = listener.local_addr()?;
        // The synthetic tenants' database may be away when the pod starts: retry until it is.
        let mut backoff = Duration::from_secs(1);
        let probe = loop {
            let attempt = tokio::select! {
                attempt = self.probe.probe(&spec, Provisioning::LookUp) => attempt,
                () = super::super::shutdown_signal() => return Ok(ExitStatus::Clean),
            };
            match attempt {
                Ok(probe) => break probe,
                Err(e) if e.exit_status() == ExitStatus::Unreachable => {
                    tracing::warn!(error = %e.report(), retry_in = ?backoff, "cannot set the probe up yet");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = super::super::shutdown_signal() => return Ok(ExitStatus::Clean),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
                Err(usage) => return Err(usage),
            }
        };
        let metrics = Arc::new(Metrics::new(
            &probe
                .tenants
                .iter()
                .map(|t| t.slug.clone())
                .collect::<Vec<_>>(),
        ));
        eprintln!(
            "tenantprobe monitor: metrics on http://{bound}/metrics, schedule `{}` ({})",
            schedule.line(),
            schedule.describe()
        );
        daemon::serve(
            Arc::new(probe),
            metrics,
            DaemonOptions { schedule, jitter },
            listener,
            super::super::shutdown_signal(),
        )
        .await
        .map_err(Error::failed)?;
        Ok(ExitStatus::Clean)
    }
}

impl CanaryArgs {
    async fn exec(self) -> Result<ExitStatus, Error> {
        if !(0.0..=1.0).contains(&self.error_threshold) {
            return Err(Error::usage(
                "--error-threshold is a ratio between 0 and 1 (0.01 = 1%)",
            ));
        }
        let spec = self.probe.spec()?;
        let probe = self.probe.probe(&spec, Provisioning::LookUp).await?;
        let options = GateOptions {
            duration: self.duration,
            interval: self.interval,
            error_threshold: self.error_threshold,
            p99_threshold: self.p99_threshold,
        };
        let begun = std::time::Instant::now();
        let verdict = canary::gate(&probe, None, &options).await;
        let mut findings: Vec<_> = verdict
            .violations
            .iter()
            .chain(&verdict.problems)
            .cloned()
            .collect();
        let notes = vec![
            format!(
                "canary {}: {}",
                if verdict.passed { "passed" } else { "FAILED" },
                verdict.reason
            ),
            format!(
                "{} cycles, {} checks ({} not passed, {:.2}%), {} API requests, p99 {} ms",
                verdict.cycles,
                verdict.checks,
                verdict.failed_checks,
                verdict.error_rate() * 100.0,
                verdict.requests,
                verdict.p99.as_millis()
            ),
        ];
        self.output.emit(
            Some(&spec),
            RunFacts {
                spec_file: self.probe.target.target.as_deref(),
                ..RunFacts::default()
            },
            Report::new(
                "monitor canary",
                &spec.name,
                &monitor_rules(),
                begun.elapsed(),
                &notes,
            ),
            &mut findings,
        )?;
        if !verdict.passed {
            let bad = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
            let _ = writeln!(
                anstream::stderr(),
                "{bad}canary failed:{bad:#} {}",
                verdict.reason
            );
        }
        Ok(if verdict.passed {
            ExitStatus::Clean
        } else {
            ExitStatus::Findings
        })
    }
}
