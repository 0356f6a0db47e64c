//! `monitor serve`: cycles on a cron schedule, never two at once (a tick that finds the previous
//! cycle still running is skipped and counted), with optional jitter; `/metrics` and `/healthz` on
//! their own listener; stops gracefully when `shutdown` resolves, letting a running cycle finish.
//! Outages of PostgreSQL, the API or Redis end checks in `error`, never the daemon.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;

use super::clock::{Clock, SystemClock};
use super::metrics::{Metrics, SKIPPED_OVERLAP};
use super::{CycleReport, Probe};
use crate::spec::schedule::Schedule;

#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub schedule: Schedule,
    /// A random delay of up to this before each cycle, so that many probes do not fire together.
    pub jitter: Duration,
}

/// The metrics and health endpoints.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(metrics)
}

async fn render_metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// Runs until `shutdown` resolves, on the system clock.
pub async fn serve(
    probe: Arc<Probe>,
    metrics: Arc<Metrics>,
    options: DaemonOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with_clock(
        probe,
        metrics,
        options,
        listener,
        shutdown,
        Arc::new(SystemClock),
    )
    .await
}

/// `serve` with ticks timed by `clock`: tests fire them with a `ManualClock` instead of waiting.
/// The jitter stays on tokio's timer: it only spreads probes apart and is zero in tests.
pub async fn serve_with_clock(
    probe: Arc<Probe>,
    metrics: Arc<Metrics>,
    options: DaemonOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    clock: Arc<dyn Clock>,
) -> std::io::Result<()> {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(
        axum::serve(listener, router(Arc::clone(&metrics)))
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .into_future(),
    );
    let running = Arc::new(AtomicBool::new(false));
    let mut current: Option<tokio::task::JoinHandle<()>> = None;
    let seed =
        Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64 ^ u64::from(std::process::id());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut last_tick = clock.now();
    tokio::pin!(shutdown);
    tracing::info!(schedule = options.schedule.line(), every = %options.schedule.describe(), "monitor daemon started");
    loop {
        let Some(next) = options.schedule.next_after(last_tick.max(clock.now())) else {
            tracing::error!("the schedule never fires again");
            break;
        };
        tokio::select! {
            () = &mut shutdown => break,
            () = clock.sleep_until(next) => {}
        }
        last_tick = next;
        if running.load(Ordering::Acquire) {
            metrics.skipped(SKIPPED_OVERLAP);
            tracing::warn!("the previous cycle is still running: this one is skipped");
            continue;
        }
        running.store(true, Ordering::Release);
        let jitter = if options.jitter.is_zero() {
            Duration::ZERO
        } else {
            options.jitter.mul_f64(rng.random::<f64>())
        };
        let (probe, metrics, running) = (
            Arc::clone(&probe),
            Arc::clone(&metrics),
            Arc::clone(&running),
        );
        current = Some(tokio::spawn(async move {
            if !jitter.is_zero() {
                tokio::time::sleep(jitter).await;
            }
            let report = probe.cycle().await;
            // Free before recorded: whoever sees this cycle in the metrics may tick again at once.
            running.store(false, Ordering::Release);
            metrics.record(&report);
            log_cycle(&report);
        }));
    }
    tracing::info!("shutting down: letting the running cycle finish");
    if let Some(cycle) = current {
        let _ = tokio::time::timeout(Duration::from_secs(30), cycle).await;
    }
    let _ = stop_tx.send(true);
    server
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// One line per cycle; the checks logged their own findings.
pub fn log_cycle(report: &CycleReport) {
    let violations = report.violations().count();
    let ms = report.elapsed.as_secs_f64() * 1000.0;
    let db_ms = report.db_time().as_secs_f64() * 1000.0;
    if report.passed() {
        tracing::info!(ms, db_ms, "cycle passed");
    } else if violations > 0 {
        tracing::error!(violations, ms, "cycle FAILED: isolation violations");
    } else {
        tracing::warn!(ms, "cycle failed: some checks failed or could not run");
    }
}
