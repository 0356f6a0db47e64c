//! `[noisy]` in the target spec (`NoisySpec`): the bounds of `attack noisy`'s load and the margins
//! its verdict allows. Documented in probes/README.md.

use std::time::Duration;

use serde::Deserialize;

/// `[noisy]` in the target spec: the load's bounds and the margins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoisySpec {
    /// Most requests the noisy tenant sends.
    pub requests: u32,
    /// Longest the noisy tenant sends, e.g. `10s`.
    #[serde(with = "crate::spec::humantime_serde_compat")]
    pub duration: Duration,
    /// Requests the noisy tenant keeps in flight.
    pub concurrency: u32,
    /// Requests the victim sends in each phase (alone, then under load).
    pub victim_requests: u32,
    /// Pause between two victim requests, e.g. `20ms`.
    #[serde(with = "crate::spec::humantime_serde_compat")]
    pub victim_pause: Duration,
    /// The victim's p99 under load may be at most `(1 + p99_margin)` × its baseline p99 …
    pub p99_margin: f64,
    /// … or at most this much slower, whichever is larger (tiny baselines are noisy), e.g. `25ms`.
    #[serde(with = "crate::spec::humantime_serde_compat")]
    pub min_slowdown: Duration,
    /// The victim's error rate under load may exceed its baseline by at most this (0.02 = 2 points).
    pub error_margin: f64,
    /// Below this share of 429 answers, the noisy tenant counts as not throttled.
    pub min_throttled_share: f64,
}

impl Default for NoisySpec {
    fn default() -> Self {
        Self {
            requests: 2000,
            duration: Duration::from_secs(10),
            concurrency: 16,
            victim_requests: 100,
            // At most 40 requests a second: an ordinary user, below any sane per-tenant limit.
            victim_pause: Duration::from_millis(25),
            p99_margin: 1.0,
            min_slowdown: Duration::from_millis(25),
            error_margin: 0.02,
            min_throttled_share: 0.05,
        }
    }
}
