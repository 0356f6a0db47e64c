//! Pushing a one-shot run's metrics to a Prometheus Pushgateway (`push`), with the last-success
//! pattern: every run POSTs (replacing the families it sends), a failing one without
//! `tenantprobe_last_success_timestamp_seconds` and a passing one without
//! `tenantprobe_last_failure_timestamp_seconds`, so both times survive the runs that did not set
//! them and a "stale last success" alert fires. Every family is sent whole (all label values
//! pre-initialised), so a POST leaves nothing stale behind unless the spec's synthetic tenants are
//! renamed (then delete the group once). Grouped by `job` only: an `instance` label would leave
//! one stale group behind per pod of a CronJob.

use super::MonitorError;
use super::metrics::Metrics;

/// Pushes to `{gateway}/metrics/job/{job}`.
pub async fn push(
    http: &reqwest::Client,
    gateway: &str,
    job: &str,
    metrics: &Metrics,
    passed: bool,
) -> Result<(), MonitorError> {
    let base = reqwest::Url::parse(gateway).map_err(|e| MonitorError::PushgatewayUrl {
        url: gateway.to_owned(),
        reason: e.to_string(),
    })?;
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| MonitorError::PushgatewayUrl {
            url: gateway.to_owned(),
            reason: "it cannot have a path".to_owned(),
        })?
        .pop_if_empty()
        .extend(["metrics", "job", job]);
    let body = metrics.render_for_push(passed);
    let response = http
        .post(url.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .body(body)
        .send()
        .await
        .map_err(MonitorError::request(format!("cannot push to {url}")))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        return Err(MonitorError::Refused(format!(
            "the Pushgateway at {url} answered {status}: {text}"
        )));
    }
    Ok(())
}
