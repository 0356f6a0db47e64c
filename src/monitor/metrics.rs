//! The probe's Prometheus metrics (`Metrics`), named by the Prometheus conventions: prefix
//! `tenantprobe_`, `_total` counters, `_seconds` units, labels from small fixed sets (synthetic
//! tenant slugs from the spec, check names, surfaces, results); real tenant ids never become labels.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use super::restore::Damage;
use super::{Check, CheckStatus, CycleReport, Surface};

/// Why a scheduled cycle did not run (`skipped_runs_total{reason}`).
pub const SKIPPED_OVERLAP: &str = "overlap";

const LAST_SUCCESS: &str = "tenantprobe_last_success_timestamp_seconds";
const LAST_FAILURE: &str = "tenantprobe_last_failure_timestamp_seconds";

/// Every metric of the probe, in its own registry.
pub struct Metrics {
    registry: Registry,
    runs: IntCounterVec,
    checks: IntCounterVec,
    check_duration: HistogramVec,
    violations: IntCounterVec,
    last_run_violations: IntGaugeVec,
    /// Every (synthetic tenant, surface) pair, so that a cycle resets the ones it saw clean.
    violation_labels: Vec<(String, Surface)>,
    last_success: Gauge,
    last_failure: Gauge,
    success: IntGauge,
    skipped: IntCounterVec,
    surface_up: IntGaugeVec,
    run_duration: Gauge,
    restored: IntCounterVec,
}

impl Metrics {
    /// Registers every series, pre-initialised (a counter that appears only after the first
    /// violation cannot be alerted on with `increase()`).
    pub fn new(synthetic_tenants: &[String]) -> Self {
        let registry = Registry::new();
        let runs = counter_vec(
            "tenantprobe_runs_total",
            "Probe cycles run, by result (success or failure).",
            &["result"],
        );
        let checks = counter_vec(
            "tenantprobe_checks_total",
            "Checks run, by synthetic tenant, check and result (pass, fail, error).",
            &["synthetic_tenant", "check", "result"],
        );
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
        let violations = counter_vec(
            "tenantprobe_isolation_violations_total",
            "Cross-tenant isolation violations seen, by synthetic tenant and surface (api, db, redis). Any increase is an incident.",
            &["synthetic_tenant", "surface"],
        );
        // A one-shot run (CronJob) pushes a fresh counter every time, so a leak present in every
        // run pushes a constant and `increase()` sees nothing: this gauge keeps saying it.
        let last_run_violations = gauge_vec(
            "tenantprobe_last_run_isolation_violations",
            "Cross-tenant isolation violations seen in the last cycle, by synthetic tenant and surface. Above 0 while a leak persists.",
            &["synthetic_tenant", "surface"],
        );
        let last_failure = gauge(
            LAST_FAILURE,
            "Unix time of the end of the last cycle in which a check failed or could not run.",
        );
        let last_success = gauge(
            LAST_SUCCESS,
            "Unix time of the end of the last cycle in which every check passed.",
        );
        let success = IntGauge::new(
            "tenantprobe_success",
            "1 if the last cycle passed every check, else 0.",
        )
        .unwrap_or_else(fixed);
        let skipped = counter_vec(
            "tenantprobe_skipped_runs_total",
            "Scheduled cycles not run, by reason (overlap: the previous one was still running).",
            &["reason"],
        );
        let surface_up = gauge_vec(
            "tenantprobe_surface_up",
            "1 if every check of the surface (api, db, redis) could run in the last cycle, else 0.",
            &["surface"],
        );
        let run_duration = gauge(
            "tenantprobe_last_run_duration_seconds",
            "How long the last cycle took.",
        );
        let restored = counter_vec(
            "tenantprobe_canaries_restored_total",
            "Canaries of a synthetic tenant that a foreign or anonymous write destroyed or changed, put back in the same cycle, by owner and reason (destroyed, changed).",
            &["synthetic_tenant", "reason"],
        );
        let build_info = gauge_vec(
            "tenantprobe_build_info",
            "Always 1; the version is in the label.",
            &["version"],
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for collector in [
            Box::new(runs.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(checks.clone()),
            Box::new(check_duration.clone()),
            Box::new(violations.clone()),
            Box::new(last_run_violations.clone()),
            Box::new(last_success.clone()),
            Box::new(last_failure.clone()),
            Box::new(success.clone()),
            Box::new(skipped.clone()),
            Box::new(surface_up.clone()),
            Box::new(run_duration.clone()),
            Box::new(restored.clone()),
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
        let mut violation_labels = Vec::new();
        for tenant in &labels {
            for surface in Surface::ALL {
                violations.with_label_values(&[tenant, surface.as_str()]);
                last_run_violations.with_label_values(&[tenant, surface.as_str()]);
                violation_labels.push(((*tenant).to_owned(), surface));
            }
        }
        for check in Check::ALL {
            check_duration.with_label_values(&[check.as_str()]);
        }
        for tenant in synthetic_tenants {
            for damage in Damage::ALL {
                restored.with_label_values(&[tenant.as_str(), damage.as_str()]);
            }
        }
        Self {
            registry,
            runs,
            checks,
            check_duration,
            violations,
            last_run_violations,
            violation_labels,
            last_success,
            last_failure,
            success,
            skipped,
            surface_up,
            run_duration,
            restored,
        }
    }

    /// Counts one cycle.
    pub fn record(&self, report: &CycleReport) {
        let mut last_run: Vec<((&str, Surface), u64)> = self
            .violation_labels
            .iter()
            .map(|(tenant, surface)| ((tenant.as_str(), *surface), 0))
            .collect();
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
            for canary in &r.found.restored {
                self.restored
                    .with_label_values(&[canary.synthetic_tenant.as_str(), canary.damage.as_str()])
                    .inc();
            }
            let key = (r.synthetic_tenant.as_str(), r.check.surface());
            match last_run.iter_mut().find(|(k, _)| *k == key) {
                Some((_, count)) => *count += n,
                None => last_run.push((key, n)),
            }
            debug_assert!(status != CheckStatus::Pass || n == 0);
        }
        for ((tenant, surface), n) in last_run {
            self.last_run_violations
                .with_label_values(&[tenant, surface.as_str()])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
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
        } else {
            self.last_failure.set(now_seconds());
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

    /// For a Pushgateway, without the timestamp this cycle did not set (the last-success time
    /// after a failure, the last-failure time after a success), so that a POST keeps the one an
    /// earlier run pushed.
    pub fn render_for_push(&self, passed: bool) -> String {
        let mut families = self.registry.gather();
        let unset = if passed { LAST_FAILURE } else { LAST_SUCCESS };
        families.retain(|f| f.name() != unset);
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

/// A counter by `labels`.
fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(fixed)
}

/// A gauge by `labels`.
fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(fixed)
}

/// A gauge without labels.
fn gauge(name: &str, help: &str) -> Gauge {
    Gauge::new(name, help).unwrap_or_else(fixed)
}

/// Metric names, labels and buckets are constants: defining or registering them cannot fail.
fn fixed<T>(e: prometheus::Error) -> T {
    unreachable!("fixed metric definitions: {e}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::finding::{Category, Finding, Severity};
    use crate::monitor::{CheckResult, Found};

    fn cycle(api_violations: usize) -> CycleReport {
        let leak = || {
            Finding::new(
                "monitor-foreign-data-listed",
                Severity::Critical,
                Category::Monitor,
                "GET /api/projects",
                "",
                "t",
                "d",
                "r",
            )
        };
        CycleReport {
            results: Check::ALL
                .into_iter()
                .map(|check| CheckResult {
                    synthetic_tenant: "a".into(),
                    check,
                    found: Found {
                        violations: if check == Check::ApiOwn {
                            (0..api_violations).map(|_| leak()).collect()
                        } else {
                            Vec::new()
                        },
                        ..Found::default()
                    },
                    error: None,
                    duration: Duration::from_millis(1),
                })
                .collect(),
            elapsed: Duration::from_millis(5),
        }
    }

    /// The value of the one series of `name` whose labels contain every one of `labels`.
    fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .find(|l| labels.iter().all(|label| l.contains(label)))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
    }

    const API_A: [&str; 2] = ["synthetic_tenant=\"a\"", "surface=\"api\""];

    #[test]
    fn the_last_run_gauge_follows_each_cycle_while_the_counter_only_grows() {
        let metrics = Metrics::new(&["a".into(), "b".into()]);
        let text = metrics.render();
        let gauge = "tenantprobe_last_run_isolation_violations";
        assert_eq!(value(&text, gauge, &API_A), Some(0.0), "pre-initialised");
        assert_eq!(
            value(&text, gauge, &["synthetic_tenant=\"b\"", "surface=\"db\""]),
            Some(0.0)
        );

        metrics.record(&cycle(2));
        let text = metrics.render();
        assert_eq!(value(&text, gauge, &API_A), Some(2.0));
        assert_eq!(
            value(&text, gauge, &["synthetic_tenant=\"a\"", "surface=\"db\""]),
            Some(0.0)
        );
        let failed_at = value(&text, LAST_FAILURE, &[]).unwrap();
        assert!(failed_at > 0.0);

        metrics.record(&cycle(1));
        let text = metrics.render();
        assert_eq!(value(&text, gauge, &API_A), Some(1.0));
        let failed_again_at = value(&text, LAST_FAILURE, &[]).unwrap();
        assert!(failed_again_at >= failed_at);
        let failed_at = failed_again_at;

        metrics.record(&cycle(0));
        let text = metrics.render();
        assert_eq!(value(&text, gauge, &API_A), Some(0.0), "the leak is gone");
        let counter = "tenantprobe_isolation_violations_total";
        assert_eq!(value(&text, counter, &API_A), Some(3.0));
        assert_eq!(value(&text, LAST_FAILURE, &[]), Some(failed_at));
        assert!(value(&text, LAST_SUCCESS, &[]).unwrap() >= failed_at);
    }

    #[test]
    fn a_push_leaves_out_the_timestamp_the_cycle_did_not_set() {
        let metrics = Metrics::new(&["a".into()]);
        metrics.record(&cycle(1));
        let failed = metrics.render_for_push(false);
        assert!(failed.contains(&format!("# TYPE {LAST_FAILURE} gauge")));
        assert!(!failed.contains(LAST_SUCCESS), "{failed}");
        metrics.record(&cycle(0));
        let passed = metrics.render_for_push(true);
        assert!(passed.contains(&format!("# TYPE {LAST_SUCCESS} gauge")));
        assert!(!passed.contains(LAST_FAILURE), "{passed}");
    }
}
