//! Latency and error figures of one series of requests (`Sample`, `Stats`).

use std::time::Duration;

/// One request: how long it took and how it ended (`None`: no answer at all).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub latency: Duration,
    pub status: Option<u16>,
}

impl Sample {
    /// Not a success: no answer, a 5xx, a 429 or any other non-2xx.
    pub fn is_error(&self) -> bool {
        !self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Percentiles (nearest rank) and the error rate of a series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub requests: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub errors: usize,
}

impl Stats {
    pub fn of(samples: &[Sample]) -> Self {
        let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
        latencies.sort_unstable();
        Self {
            requests: samples.len(),
            p50: nearest_rank(&latencies, 0.50),
            p99: nearest_rank(&latencies, 0.99),
            max: latencies.last().copied().unwrap_or_default(),
            errors: samples.iter().filter(|s| s.is_error()).count(),
        }
    }

    pub fn error_rate(&self) -> f64 {
        share(self.errors as f64, self.requests as f64)
    }

    /// `p50 1.2 ms, p99 4.0 ms, 0 errors in 60`.
    pub fn describe(&self) -> String {
        format!(
            "p50 {}, p99 {}, {} error(s) in {}",
            ms(self.p50),
            ms(self.p99),
            self.errors,
            self.requests
        )
    }
}

/// The value at rank ⌈q·n⌉ of sorted values (0 for none).
fn nearest_rank(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `part` as a share of `whole`; 0 of nothing (no requests yet) is 0, not NaN.
pub(super) fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, status: u16) -> Sample {
        Sample {
            latency: Duration::from_millis(ms),
            status: Some(status),
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank_and_errors_count_every_non_2xx() {
        let mut samples: Vec<Sample> = (1..=100).map(|i| sample(i, 200)).collect();
        samples[0].status = Some(429);
        samples[1].status = None;
        samples[2].status = Some(503);
        let stats = Stats::of(&samples);
        assert_eq!(stats.p50, Duration::from_millis(50));
        assert_eq!(stats.p99, Duration::from_millis(99));
        assert_eq!(stats.max, Duration::from_millis(100));
        assert_eq!(stats.errors, 3);
        assert!((stats.error_rate() - 0.03).abs() < 1e-9);
        assert_eq!(Stats::of(&[]), Stats::default());
        assert_eq!(Stats::of(&[sample(7, 200)]).p99, Duration::from_millis(7));
    }
}
