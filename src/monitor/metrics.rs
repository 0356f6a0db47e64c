//! The probe's Prometheus metrics (`Metrics`), named by the Prometheus conventions: prefix
//! `tenantprobe_`, `_total` counters, `_seconds` units, labels from small fixed sets (synthetic
//! tenant slugs from the spec, check names, surfaces, results); real tenant ids never become labels.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use super::{Check, CheckStatus, CycleReport, Surface};

/// Why a scheduled cycle did not run (`skipped_runs_total{reason}`).
pub const SKIPPED_OVERLAP: &str = "overlap";

const LAST_SUCCESS: &str = "tenantprobe_last_success_timestamp_seconds";

/// Every metric of the probe, in its own registry.
pub struct Metrics {
    registry: Registry,
    runs: IntCounterVec,
    checks: IntCounterVec,
    check_duration: HistogramVec,
    violations: IntCounterVec,
    last_success: Gauge,
    success: IntGauge,
    skipped: IntCounterVec,
    surface_up: IntGaugeVec,
    run_duration: Gauge,
}

impl Metrics {
    /// Registers every series, pre-initialised (a counter that appears only after the first
    /// violation cannot be alerted on with `increase()`).
    pub fn new(synthetic_tenants: &[String]) -> Self {
        let registry = Registry::new();
        let runs = IntCounterVec::new(
            Opts::new(
                "tenantprobe_runs_total",
                "Probe cycles run, by result (success or failure).",
            ),
            &["result"],
        )
        .unwrap_or_else(fixed);
        let checks = IntCounterVec::new(
            Opts::new(
                "tenantprobe_checks_total",
                "Checks run, by synthetic tenant, check and result (pass, fail, error).",
            ),
            &["synthetic_tenant", "check", "result"],
        )
        .unwrap_or_else(fixed);
        let check_duration = HistogramVec::new(
            HistogramOpts::new(
                "tenantprobe_check_duration_seconds",
                "How long each check took.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["check"],
        )
        .unwrap_or_else(fixed);
        let violations = IntCounterVec::new(
            Opts::new(
                "tenantprobe_isolation_violations_total",
                "Cross-tenant isolation violations seen, by synthetic tenant and surface (api, db, redis). Any increase is an incident.",
            ),
            &["synthetic_tenant", "surface"],
        )
        .unwrap_or_else(fixed);
        let last_success = Gauge::new(
            LAST_SUCCESS,
            "Unix time of the end of the last cycle in which every check passed.",
        )
        .unwrap_or_else(fixed);
        let success = IntGauge::new(
            "tenantprobe_success",
            "1 if the last cycle passed every check, else 0.",
        )
        .unwrap_or_else(fixed);
        let skipped = IntCounterVec::new(
            Opts::new("tenantprobe_skipped_runs_total", "Scheduled cycles not run, by reason (overlap: the previous one was still running)."),
            &["reason"],
        )
        .unwrap_or_else(fixed);
        let surface_up = IntGaugeVec::new(
            Opts::new("tenantprobe_surface_up", "1 if every check of the surface (api, db, redis) could run in the last cycle, else 0."),
            &["surface"],
        )
        .unwrap_or_else(fixed);
        let run_duration = Gauge::new(
            "tenantprobe_last_run_duration_seconds",
            "How long the last cycle took.",
        )
        .unwrap_or_else(fixed);
        let build_info = IntGaugeVec::new(
            Opts::new(
                "tenantprobe_build_info",
                "Always 1; the version is in the label.",
            ),
            &["version"],
        )
        .unwrap_or_else(fixed);
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for collector in [
            Box::new(runs.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(checks.clone()),
            Box::new(check_duration.clone()),
            Box::new(violations.clone()),
            Box::new(last_success.clone()),
            Box::new(success.clone()),
            Box::new(skipped.clone()),
            Box::new(surface_up.clone()),
            Box::new(run_duration.clone()),
            Box::new(build_info),
        ] {
            registry.register(collector).unwrap_or_else(fixed);
        }
        for result in ["success", "failure"] {
            runs.with_label_values(&[result]);
        }
        skipped.with_label_values(&[SKIPPED_OVERLAP]);
        let labels: Vec<&str> = synthetic_tenants
            .iter()
            .map(String::as_str)
            .chain([Check::ALL_TENANTS])
            .collect();
        for tenant in &labels {
            for surface in Surface::ALL {
                violations.with_label_values(&[tenant, surface.as_str()]);
            }
        }
        for check in Check::ALL {
            check_duration.with_label_values(&[check.as_str()]);
        }
        Self {
            registry,
            runs,
            checks,
            check_duration,
            violations,
            last_success,
            success,
            skipped,
            surface_up,
            run_duration,
        }
    }

    /// Counts one cycle.
    pub fn record(&self, report: &CycleReport) {
        for r in &report.results {
            let status = r.status();
            self.checks
                .with_label_values(&[&r.synthetic_tenant, r.check.as_str(), status.as_str()])
                .inc();
            self.check_duration
                .with_label_values(&[r.check.as_str()])
                .observe(r.duration.as_secs_f64());
            let n = r.found.violations.len() as u64;
            if n > 0 {
                self.violations
                    .with_label_values(&[&r.synthetic_tenant, r.check.surface().as_str()])
                    .inc_by(n);
            }
            debug_assert!(status != CheckStatus::Pass || n == 0);
        }
        for surface in Surface::ALL {
            if report.results.iter().any(|r| r.check.surface() == surface) {
                self.surface_up
                    .with_label_values(&[surface.as_str()])
                    .set(i64::from(!report.surface_down(surface)));
            }
        }
        let passed = report.passed();
        self.runs
            .with_label_values(&[if passed { "success" } else { "failure" }])
            .inc();
        self.success.set(i64::from(passed));
        self.run_duration.set(report.elapsed.as_secs_f64());
        if passed {
            self.last_success.set(now_seconds());
        }
    }

    /// Counts a scheduled cycle that did not run.
    pub fn skipped(&self, reason: &str) {
        self.skipped.with_label_values(&[reason]).inc();
    }

    /// The text exposition format, for `/metrics`.
    pub fn render(&self) -> String {
        encode(&self.registry.gather())
    }

    /// For a Pushgateway: after a failed cycle, without the last-success time, so that a POST
    /// keeps the one an earlier success pushed.
    pub fn render_for_push(&self, passed: bool) -> String {
        let mut families = self.registry.gather();
        if !passed {
            families.retain(|f| f.name() != LAST_SUCCESS);
        }
        encode(&families)
    }

    /// The registry (for extra collectors).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

fn encode(families: &[prometheus::proto::MetricFamily]) -> String {
    let mut out = Vec::new();
    // Encoding into a Vec cannot fail for well-formed families.
    let _ = TextEncoder::new().encode(families, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Metric names, labels and buckets are constants: defining or registering them cannot fail.
fn fixed<T>(e: prometheus::Error) -> T {
    unreachable!("fixed metric definitions: {e}")
}
