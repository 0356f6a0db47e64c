//! Pushing a one-shot run's metrics to a Prometheus Pushgateway, with the last-success pattern:
//! a passing run PUTs (replacing the group), a failing one POSTs without
//! `tenantprobe_last_success_timestamp_seconds`, so the time of the last success survives and
//! a "stale last success" alert fires. Grouped by `job` only: an `instance` label would leave one
//! stale group behind per pod of a CronJob.

use super::metrics::Metrics;

/// Pushes to `{gateway}/metrics/job/{job}`.
pub async fn push(
    http: &reqwest::Client,
    gateway: &str,
    job: &str,
    metrics: &Metrics,
    passed: bool,
) -> Result<(), String> {
    let base = reqwest::Url::parse(gateway)
        .map_err(|e| format!("invalid Pushgateway URL `{gateway}`: {e}"))?;
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| format!("invalid Pushgateway URL `{gateway}`"))?
        .pop_if_empty()
        .extend(["metrics", "job", job]);
    let body = metrics.render_for_push(passed);
    let request = if passed {
        http.put(url.clone())
    } else {
        http.post(url.clone())
    };
    let response = request
        .header(
            reqwest::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cannot push to {url}: {e}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        return Err(format!(
            "the Pushgateway at {url} answered {status}: {text}"
        ));
    }
    Ok(())
}
