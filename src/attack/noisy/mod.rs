//! `tenantprobe attack noisy`: one test tenant sends bounded load through the API while another
//! measures its own latency and errors, first alone, then under that load (`noisy`, `NoisySpec`).
//!
//! The noisy tenant's load is bounded twice (a request count and a duration) and goes only to the
//! target's base URL, without following redirects. A finding fires when the victim's p99 or error
//! rate under load is worse than its own unloaded baseline from the same run by more than the
//! spec's margins, or when the noisy tenant is not throttled (too few 429 answers).

mod stats;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stats::share;
pub use stats::{Sample, Stats, ms};

pub use crate::spec::noisy::NoisySpec;

use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;
use crate::spec::Operation;
use crate::target::{HttpTarget, TestTenant};

pub static VICTIM_DEGRADED: RuleInfo = RuleInfo {
    id: "noisy-neighbour-degradation",
    category: Category::AttackHttp,
    severity: Severity::High,
    title: "one tenant's load degrades another tenant's latency or errors",
    explanation: "While one test tenant sent bounded load through the API, another tenant's p99 latency or error rate was worse than its own baseline, measured alone in the same run, by more than the spec's margin. Shared connection pools, worker threads and rate limits let one busy (or hostile) tenant take the service away from the others.",
    remediation: "Limit each tenant, not only the service: a per-tenant rate limit (429 with Retry-After) in front of the work, and per-tenant connection limits (a PgBouncer pool per plan or per large tenant with pool_size and max_db_connections, or a per-tenant semaphore in the app) so that no tenant can hold the whole pool.",
};

pub static NOT_THROTTLED: RuleInfo = RuleInfo {
    id: "noisy-tenant-not-throttled",
    category: Category::AttackHttp,
    severity: Severity::Medium,
    title: "a tenant sending far more than its share is never throttled",
    explanation: "The noisy test tenant sent its whole bounded load as fast as it could and hardly any of it was answered 429: nothing limits what one tenant may ask of the shared service, so the next noisy neighbour is found by the other tenants' users.",
    remediation: "Add a per-tenant rate limit (a token bucket per tenant, answered 429 with Retry-After) sized from the plan.",
};

/// How long a noisy worker waits after a 429 before it asks again (far less than Retry-After).
const THROTTLED_PAUSE: Duration = Duration::from_millis(50);

/// Every rule of `attack noisy`, for the catalogue.
pub static RULES: &[&RuleInfo] = &[&VICTIM_DEGRADED, &NOT_THROTTLED];

impl NoisySpec {
    /// Refuses bounds that would send nothing or measure nothing: such a run must not pass.
    pub fn validate(&self) -> Result<(), NoisyError> {
        let zero = [
            ("requests", self.requests == 0),
            ("duration", self.duration.is_zero()),
            ("concurrency", self.concurrency == 0),
            ("victim_requests", self.victim_requests == 0),
        ];
        match zero.into_iter().find(|(_, z)| *z) {
            Some((field, _)) => Err(NoisyError::NoLoad { field }),
            None => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NoisyError {
    #[error(
        "`{field}` must be greater than zero: attack noisy would measure nothing; set it in the spec's [noisy] or on the command line"
    )]
    NoLoad { field: &'static str },
    #[error(
        "the spec's API has no top-level resource with a `list` endpoint: attack noisy needs one request to repeat"
    )]
    NoEndpoint,
    #[error("cannot render `{path}` for tenant `{slug}`: {reason}")]
    Path {
        path: String,
        slug: String,
        reason: String,
    },
    #[error("no token for tenant `{0}`")]
    NoToken(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error(
        "`{0}` is not on this machine: attack noisy generates load, so it only targets loopback unless allowed explicitly (--allow-remote, for staging or canary targets)"
    )]
    NotLoopback(String),
    #[error(
        "the victim's baseline failed: {errors} of {requests} requests were not answered 2xx (first status: {first}); fix the target or the spec first"
    )]
    BadBaseline {
        errors: usize,
        requests: usize,
        first: String,
    },
}

/// What the noisy tenant did.
#[derive(Debug, Clone, Default)]
pub struct Load {
    pub sent: u64,
    pub throttled: u64,
    /// Transport errors and 5xx.
    pub errors: u64,
    pub elapsed: Duration,
}

impl Load {
    pub fn throttled_share(&self) -> f64 {
        share(self.throttled as f64, self.sent as f64)
    }

    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }
}

/// Everything one run measured.
#[derive(Debug)]
pub struct NoisyOutcome {
    /// `GET /api/projects`: the request both tenants repeat.
    pub endpoint: String,
    pub baseline: Stats,
    pub loaded: Stats,
    pub load: Load,
    pub findings: Vec<Finding>,
}

impl NoisyOutcome {
    /// The figures for the JSON report's `stats`, with the bounds they were held to.
    pub fn stats(&self, spec: &NoisySpec) -> serde_json::Value {
        let series = |s: &Stats| {
            serde_json::json!({
                "requests": s.requests,
                "errors": s.errors,
                "p50_ms": s.p50.as_secs_f64() * 1e3,
                "p99_ms": s.p99.as_secs_f64() * 1e3,
                "max_ms": s.max.as_secs_f64() * 1e3,
            })
        };
        serde_json::json!({
            "endpoint": self.endpoint,
            "bounds": {
                "requests": spec.requests,
                "duration_ms": spec.duration.as_millis(),
                "concurrency": spec.concurrency,
            },
            "noisy": {
                "sent": self.load.sent,
                "throttled": self.load.throttled,
                "errors": self.load.errors,
                "elapsed_ms": self.load.elapsed.as_millis(),
                "requests_per_second": self.load.rate(),
                "throttled_share": self.load.throttled_share(),
            },
            "victim": {
                "alone": series(&self.baseline),
                "loaded": series(&self.loaded),
            },
        })
    }
}

/// The base URL must be loopback unless `allow_remote`.
pub fn check_host(target: &HttpTarget, allow_remote: bool) -> Result<(), NoisyError> {
    let host = target
        .base_url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback || allow_remote {
        Ok(())
    } else {
        Err(NoisyError::NotLoopback(target.base_url.to_string()))
    }
}

/// One request as one tenant, ready to repeat.
#[derive(Clone)]
struct Request {
    url: String,
    host: Option<String>,
    token: String,
}

impl Request {
    fn for_tenant(target: &HttpTarget, tenant: &TestTenant) -> Result<(Self, String), NoisyError> {
        let (_, resource) = target
            .resources
            .iter()
            .enumerate()
            .find(|(_, r)| r.parent.is_none() && r.list.is_some())
            .ok_or(NoisyError::NoEndpoint)?;
        let endpoint = resource.list.as_ref().ok_or(NoisyError::NoEndpoint)?;
        let values = crate::actor::values_for(tenant, "", None, None);
        let path = endpoint
            .path
            .render(&values)
            .map_err(|reason| NoisyError::Path {
                path: endpoint.path.1.clone(),
                slug: tenant.slug.clone(),
                reason: reason.to_string(),
            })?;
        let token = target
            .token_for(tenant)
            .ok_or_else(|| NoisyError::NoToken(tenant.slug.clone()))?;
        let shown = format!(
            "{} {}",
            endpoint.method_for(Operation::List),
            endpoint.path.1
        );
        Ok((
            Self {
                url: target.url(&path),
                host: target.host_for(&tenant.slug, &tenant.tenant_id),
                token,
            },
            shown,
        ))
    }

    async fn send(&self, http: &reqwest::Client) -> Sample {
        let begun = Instant::now();
        let mut request = http.get(&self.url).bearer_auth(&self.token);
        if let Some(host) = &self.host {
            request = request.header(reqwest::header::HOST, host);
        }
        // The body is read so that the latency covers the whole answer.
        let status = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                response.bytes().await.ok().map(|_| status)
            }
            Err(_) => None,
        };
        Sample {
            latency: begun.elapsed(),
            status,
        }
    }
}

/// Measures `victim` alone, then while `noisy` sends its bounded load; judges both.
pub async fn noisy(
    target: &HttpTarget,
    noisy: &TestTenant,
    victim: &TestTenant,
    spec: &NoisySpec,
) -> Result<NoisyOutcome, NoisyError> {
    spec.validate()?;
    let (noisy_request, endpoint) = Request::for_tenant(target, noisy)?;
    let (victim_request, _) = Request::for_tenant(target, victim)?;
    // Each tenant its own client (own connections), no redirects: the load stays on the target.
    let client = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(NoisyError::Client)
    };
    let victim_http = client()?;
    let noisy_http = client()?;

    // Warm-up (connections, caches), not measured.
    for _ in 0..5 {
        victim_request.send(&victim_http).await;
    }
    let baseline_samples = victim_series(&victim_request, &victim_http, spec, || true).await;
    let baseline = Stats::of(&baseline_samples);
    if baseline.errors * 2 > baseline.requests.max(1) {
        let first = baseline_samples
            .iter()
            .find(|s| s.is_error())
            .map_or("none".to_owned(), |s| {
                s.status.map_or("no answer".to_owned(), |c| c.to_string())
            });
        return Err(NoisyError::BadBaseline {
            errors: baseline.errors,
            requests: baseline.requests,
            first,
        });
    }

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU32::new(0));
    let throttled = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let begun = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..spec.concurrency.max(1) {
        let (stop, sent, throttled, errors) = (
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&throttled),
            Arc::clone(&errors),
        );
        let (request, http, limit, duration) = (
            noisy_request.clone(),
            noisy_http.clone(),
            spec.requests,
            spec.duration,
        );
        workers.push(tokio::spawn(async move {
            // Both bounds hold whatever the victim does: the request count and the duration.
            while !stop.load(Ordering::Relaxed)
                && begun.elapsed() < duration
                && sent.fetch_add(1, Ordering::Relaxed) < limit
            {
                let sample = request.send(&http).await;
                match sample.status {
                    Some(429) => {
                        throttled.fetch_add(1, Ordering::Relaxed);
                        // A throttled tenant keeps asking, but not as a flood of refused
                        // requests: that would measure the HTTP stack, not the tenant limits.
                        tokio::time::sleep(THROTTLED_PAUSE).await;
                    }
                    Some(s) if s < 500 => {}
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // Let the load build up before the victim measures.
    tokio::time::sleep(Duration::from_millis(200).min(spec.duration / 4)).await;
    // Only samples taken while the load lasts count as loaded.
    let loading =
        || begun.elapsed() < spec.duration && sent.load(Ordering::Relaxed) < spec.requests;
    let loaded_samples = victim_series(&victim_request, &victim_http, spec, loading).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    let load = Load {
        sent: u64::from(sent.load(Ordering::Relaxed).min(spec.requests)),
        throttled: throttled.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        elapsed: begun.elapsed(),
    };
    let loaded = Stats::of(&loaded_samples);
    let findings = judge(&endpoint, &baseline, &loaded, &load, spec);
    Ok(NoisyOutcome {
        endpoint,
        baseline,
        loaded,
        load,
        findings,
    })
}

/// Up to `victim_requests` requests, one at a time, while `go()` holds.
async fn victim_series(
    request: &Request,
    http: &reqwest::Client,
    spec: &NoisySpec,
    go: impl Fn() -> bool,
) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(spec.victim_requests as usize);
    for _ in 0..spec.victim_requests.max(1) {
        if !go() {
            break;
        }
        samples.push(request.send(http).await);
        tokio::time::sleep(spec.victim_pause).await;
    }
    samples
}

/// The findings of one run, from its figures alone.
pub fn judge(
    endpoint: &str,
    baseline: &Stats,
    loaded: &Stats,
    load: &Load,
    spec: &NoisySpec,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let allowed_p99 = baseline
        .p99
        .mul_f64(1.0 + spec.p99_margin.max(0.0))
        .max(baseline.p99 + spec.min_slowdown);
    let slower = loaded.p99 > allowed_p99;
    let more_errors = loaded.error_rate() > baseline.error_rate() + spec.error_margin;
    let figures = format!(
        "victim alone: {}; victim while the noisy tenant sent {} requests in {:.1} s ({:.0}/s, {:.0} % answered 429): {}",
        baseline.describe(),
        load.sent,
        load.elapsed.as_secs_f64(),
        load.rate(),
        load.throttled_share() * 100.0,
        loaded.describe()
    );
    if slower || more_errors {
        let why = match (slower, more_errors) {
            (true, true) => format!(
                "p99 {} exceeds the allowed {} and the error rate rose from {:.1} % to {:.1} %",
                ms(loaded.p99),
                ms(allowed_p99),
                baseline.error_rate() * 100.0,
                loaded.error_rate() * 100.0
            ),
            (true, false) => format!(
                "p99 {} exceeds the allowed {} (baseline × {:.1}, at least +{})",
                ms(loaded.p99),
                ms(allowed_p99),
                1.0 + spec.p99_margin,
                ms(spec.min_slowdown)
            ),
            _ => format!(
                "the error rate rose from {:.1} % to {:.1} % (margin {:.1} points)",
                baseline.error_rate() * 100.0,
                loaded.error_rate() * 100.0,
                spec.error_margin * 100.0
            ),
        };
        findings.push(
            VICTIM_DEGRADED
                .finding(
                    endpoint,
                    "",
                    format!("Under the noisy tenant's load the victim's {why}. {figures}."),
                )
                .with_evidence(figures.clone()),
        );
    }
    if load.sent > 0 && load.throttled_share() < spec.min_throttled_share {
        findings.push(
            NOT_THROTTLED
                .finding(
                    endpoint,
                    "",
                    format!(
                        "The noisy tenant sent {} requests at {:.0}/s and {} ({:.1} %) were answered 429; at least {:.0} % were expected. {figures}.",
                        load.sent,
                        load.rate(),
                        load.throttled,
                        load.throttled_share() * 100.0,
                        spec.min_throttled_share * 100.0
                    ),
                )
                .with_evidence(figures),
        );
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(p99_ms: u64, errors: usize) -> Stats {
        Stats {
            requests: 100,
            p50: Duration::from_millis(1),
            p99: Duration::from_millis(p99_ms),
            max: Duration::from_millis(p99_ms),
            errors,
        }
    }

    fn load(sent: u64, throttled: u64) -> Load {
        Load {
            sent,
            throttled,
            errors: 0,
            elapsed: Duration::from_secs(1),
        }
    }

    fn rules(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.rule.as_str()).collect()
    }

    /// The findings of one run judged with the default spec.
    fn judged(baseline: Stats, loaded: Stats, load: Load) -> Vec<Finding> {
        judge("GET /x", &baseline, &loaded, &load, &NoisySpec::default())
    }

    #[test]
    fn a_slower_p99_beyond_both_margins_is_a_finding_and_within_them_is_not() {
        // Baseline 10 ms: allowed max(20 ms, 35 ms) = 35 ms.
        let found = judged(stats(10, 0), stats(36, 0), load(100, 50));
        assert_eq!(rules(&found), ["noisy-neighbour-degradation"]);
        let found = judged(stats(10, 0), stats(34, 0), load(100, 50));
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn more_victim_errors_or_an_unthrottled_noisy_tenant_are_findings() {
        let found = judged(stats(10, 0), stats(10, 5), load(100, 50));
        assert_eq!(rules(&found), ["noisy-neighbour-degradation"]);
        let found = judged(stats(10, 0), stats(10, 0), load(1000, 4));
        assert_eq!(rules(&found), ["noisy-tenant-not-throttled"]);
        let found = judged(stats(10, 0), stats(10, 0), load(1000, 50));
        assert!(found.is_empty(), "{found:#?}");
    }
}
