//! The canary gate (`gate`): cycles against a canary deployment for a while, for the
//! migrate → canary → validate → promote pipeline. Any isolation violation fails it at once;
//! otherwise it fails when the share of checks that did not pass, or the p99 latency of the
//! probe's API requests, is above its threshold.

use std::time::{Duration, Instant};

use crate::finding::Finding;

use super::metrics::Metrics;
use super::{CheckStatus, Probe};

#[derive(Debug, Clone)]
pub struct GateOptions {
    pub duration: Duration,
    /// Pause between cycles.
    pub interval: Duration,
    /// Largest acceptable share of checks that failed or could not run (0.01 = 1%).
    pub error_threshold: f64,
    /// Largest acceptable p99 of API request latency.
    pub p99_threshold: Duration,
}

/// The gate's decision and what it is based on.
#[derive(Debug)]
pub struct Verdict {
    pub passed: bool,
    pub reason: String,
    pub cycles: u64,
    pub checks: u64,
    pub failed_checks: u64,
    pub requests: usize,
    pub p99: Duration,
    pub violations: Vec<Finding>,
    /// Problems (not leaks) of the last cycle that had any.
    pub problems: Vec<Finding>,
}

impl Verdict {
    pub fn error_rate(&self) -> f64 {
        if self.checks == 0 {
            0.0
        } else {
            self.failed_checks as f64 / self.checks as f64
        }
    }
}

/// Runs cycles until `duration` has passed (at least one), stopping at the first violation.
pub async fn gate(probe: &Probe, metrics: Option<&Metrics>, options: &GateOptions) -> Verdict {
    let begun = Instant::now();
    let mut verdict = Verdict {
        passed: true,
        reason: String::new(),
        cycles: 0,
        checks: 0,
        failed_checks: 0,
        requests: 0,
        p99: Duration::ZERO,
        violations: Vec::new(),
        problems: Vec::new(),
    };
    probe.take_latencies();
    let mut latencies: Vec<Duration> = Vec::new();
    loop {
        let report = probe.cycle().await;
        if let Some(metrics) = metrics {
            metrics.record(&report);
        }
        latencies.extend(probe.take_latencies());
        verdict.cycles += 1;
        for r in &report.results {
            verdict.checks += 1;
            if r.status() != CheckStatus::Pass {
                verdict.failed_checks += 1;
            }
        }
        let problems: Vec<Finding> = report
            .results
            .iter()
            .flat_map(|r| r.found.problems.iter().cloned())
            .collect();
        if !problems.is_empty() {
            verdict.problems = problems;
        }
        verdict.violations = report.violations().cloned().collect();
        if !verdict.violations.is_empty() {
            verdict.passed = false;
            verdict.reason = format!(
                "{} isolation violation(s) in cycle {}",
                verdict.violations.len(),
                verdict.cycles
            );
            break;
        }
        if begun.elapsed() + options.interval >= options.duration {
            break;
        }
        tokio::time::sleep(options.interval).await;
    }
    verdict.requests = latencies.len();
    verdict.p99 = p99(&mut latencies);
    if verdict.passed {
        if verdict.error_rate() > options.error_threshold {
            verdict.passed = false;
            verdict.reason = format!(
                "{:.2}% of checks failed or could not run (threshold {:.2}%)",
                verdict.error_rate() * 100.0,
                options.error_threshold * 100.0
            );
        } else if verdict.p99 > options.p99_threshold {
            verdict.passed = false;
            verdict.reason = format!(
                "p99 API latency {} ms is above {} ms",
                verdict.p99.as_millis(),
                options.p99_threshold.as_millis()
            );
        } else {
            verdict.reason = format!(
                "{} cycles, {:.2}% of checks not passed, p99 API latency {} ms",
                verdict.cycles,
                verdict.error_rate() * 100.0,
                verdict.p99.as_millis()
            );
        }
    }
    verdict
}

/// Nearest-rank 99th percentile.
fn p99(latencies: &mut [Duration]) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    latencies.sort_unstable();
    let rank = (latencies.len() as f64 * 0.99).ceil() as usize;
    latencies[rank.clamp(1, latencies.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_nearest_rank() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(p99(&mut v), Duration::from_millis(99));
        let mut one = vec![Duration::from_millis(7)];
        assert_eq!(p99(&mut one), Duration::from_millis(7));
        assert_eq!(p99(&mut []), Duration::ZERO);
    }
}
