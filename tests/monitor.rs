//! `tenantprobe monitor` against the real reference app, PostgreSQL and Redis: `init` is
//! idempotent; a clean cycle passes and the metrics say so; faults switched on in the running app
//! (`global-cache-key`, `subdomain-trust`, `rls-bypass-handler`) and a dropped policy are caught by
//! the next cycle with the violation counter incremented; the daemon survives a PostgreSQL restart
//! and a Redis outage; `/metrics` parses; a hung API makes cycles overlap and ticks are skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use reference_app::faults::Fault;
use sqlx::Connection;
use tenantprobe::monitor::clock::{Clock, ManualClock, SystemClock};
use tenantprobe::monitor::daemon::{self, DaemonOptions};
use tenantprobe::monitor::metrics::Metrics;
use tenantprobe::monitor::{Check, CycleReport, Probe, ProbeOptions, Provisioning};
use tenantprobe::spec::schedule::Schedule;
use tenantprobe_testkit::reference::{Options, ReferenceApp};

fn options() -> Option<ProbeOptions> {
    Some(ProbeOptions {
        check_timeout: Duration::from_secs(10),
        redis_max_keys: 10_000,
        redis_sample: 100,
    })
}

async fn probe(
    app: &ReferenceApp,
    db: &tenantprobe_testkit::provision::ReferenceDatabase,
    redis: &str,
    provisioning: Provisioning,
) -> Probe {
    let env = app.env(db, Some(redis));
    Probe::setup(&support::reference_spec(), &env, provisioning, options())
        .await
        .unwrap()
}

fn slugs(probe: &Probe) -> Vec<String> {
    probe.tenants.iter().map(|t| t.slug.clone()).collect()
}

/// Samples of the text exposition, parsed.
fn scrape(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of one series (0 when absent).
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape(text)
        .samples
        .into_iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map_or(0.0, |s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

fn violations(metrics: &Metrics, surface: &str) -> f64 {
    let text = metrics.render();
    scrape(&text)
        .samples
        .iter()
        .filter(|s| {
            s.metric == "tenantprobe_isolation_violations_total"
                && s.labels.get("surface") == Some(surface)
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) => v,
            _ => 0.0,
        })
        .sum()
}

fn rules(report: &CycleReport) -> HashSet<String> {
    report.findings().into_iter().map(|f| f.rule).collect()
}

#[tokio::test]
async fn init_is_idempotent_and_a_clean_cycle_passes_and_says_so_in_metrics() {
    let w = support::app_world(Options::default()).await;
    let redis = w.redis.as_ref().unwrap().url.clone();
    let probe = probe(&w.app, &w.db, &redis, Provisioning::Create).await;
    let first = probe.init().await.unwrap();
    assert_eq!(
        first.created.len(),
        6,
        "a project, a task and a nested project-task for each tenant: {first:?}"
    );
    let again = probe.init().await.unwrap();
    assert!(again.created.is_empty(), "{again:?}");
    assert_eq!(again.existing, 6);
    // Tenants that real use created are left alone: acme's projects are still all there.
    let (status, json) =
        support::send(w.as_tenant(&w.a, reqwest::Method::GET, "/api/projects")).await;
    assert_eq!(status, 200);
    assert_eq!(
        json["items"].as_array().unwrap().len(),
        w.a.project_ids.len()
    );

    // A probe that only looks up finds the same tenants, without writing.
    let looked_up = self::probe(&w.app, &w.db, &redis, Provisioning::LookUp).await;
    let ids = |p: &Probe| {
        p.tenants
            .iter()
            .map(|t| t.tenant_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&looked_up), ids(&probe));

    let metrics = Metrics::new(&slugs(&looked_up));
    let report = looked_up.cycle().await;
    metrics.record(&report);
    assert!(report.passed(), "{:#?}", report.results);
    let checks: HashSet<(&str, &str)> = report
        .results
        .iter()
        .map(|r| (r.check.as_str(), r.synthetic_tenant.as_str()))
        .collect();
    assert_eq!(checks.len(), 11, "every check ran: {checks:?}");
    for check in Check::ALL {
        assert!(
            checks.iter().any(|(c, _)| *c == check.as_str()),
            "{check:?} ran"
        );
    }

    let text = metrics.render();
    assert_eq!(value(&text, "tenantprobe_success", &[]), 1.0);
    assert_eq!(
        value(&text, "tenantprobe_runs_total", &[("result", "success")]),
        1.0
    );
    assert!(value(&text, "tenantprobe_last_success_timestamp_seconds", &[]) > 1.7e9);
    for surface in ["api", "db", "redis"] {
        assert_eq!(
            value(&text, "tenantprobe_surface_up", &[("surface", surface)]),
            1.0
        );
        assert_eq!(violations(&metrics, surface), 0.0);
    }
    let slug = &looked_up.tenants[0].slug;
    assert_eq!(
        value(
            &text,
            "tenantprobe_checks_total",
            &[
                ("synthetic_tenant", slug),
                ("check", "api-own-data"),
                ("result", "pass")
            ]
        ),
        1.0
    );
    // Pre-initialised: the violation series exist before any violation.
    assert!(text.contains(&format!(
        "tenantprobe_isolation_violations_total{{surface=\"db\",synthetic_tenant=\"{slug}\"}} 0"
    )));
    assert!(text.contains("tenantprobe_build_info{version="));
}

#[tokio::test]
async fn a_cycle_without_init_reports_the_missing_canaries_under_their_own_name() {
    let w = support::app_world(Options::default()).await;
    let redis = w.redis.as_ref().unwrap().url.clone();
    let probe = probe(&w.app, &w.db, &redis, Provisioning::Create).await;
    let report = probe.cycle().await;
    assert!(!report.passed());
    assert_eq!(report.violations().count(), 0, "missing data is not a leak");
    assert!(
        rules(&report).contains("monitor-own-canaries-missing"),
        "{:?}",
        rules(&report)
    );
}

#[tokio::test]
async fn faults_switched_on_in_a_running_app_are_caught_by_the_next_cycle() {
    let w = support::app_world(Options::default()).await;
    let redis_db = w.redis.as_ref().unwrap();
    let probe = probe(&w.app, &w.db, &redis_db.url, Provisioning::Create).await;
    probe.init().await.unwrap();
    let metrics = Metrics::new(&slugs(&probe));
    let cycle = || async {
        let report = probe.cycle().await;
        metrics.record(&report);
        report
    };
    assert!(cycle().await.passed());

    // (fault, surface whose counter must grow, a rule that must be among the findings)
    let cases = [
        (Fault::GlobalCacheKey, "redis", "cache-key-not-namespaced"),
        (
            Fault::SubdomainTrust,
            "api",
            "monitor-foreign-canary-reachable",
        ),
        (
            Fault::RlsBypassHandler,
            "api",
            "monitor-foreign-data-listed",
        ),
    ];
    for (fault, surface, rule) in cases {
        let before = violations(&metrics, surface);
        w.app.faults.switch(fault, true);
        let report = cycle().await;
        assert!(!report.passed(), "{fault}: not caught");
        assert!(
            rules(&report).contains(rule),
            "{fault}: {:?}",
            rules(&report)
        );
        assert!(
            violations(&metrics, surface) > before,
            "{fault}: {surface} counter unchanged"
        );
        w.app.faults.switch(fault, false);
        // What the fault left in the cache goes with it; then the app is clean again.
        let mut conn = redis_db.connection().await.unwrap();
        redis::cmd("FLUSHDB")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        let report = cycle().await;
        assert!(report.passed(), "{fault} off: {:#?}", report.findings());
    }
    // The global key also leaked through the API: the second tenant listed the first one's data.
    assert!(violations(&metrics, "api") >= 2.0);

    // A dropped policy under forced RLS denies everything: own rows missing, reported as such.
    let mut owner = w.db.connect_as_owner().await.unwrap();
    sqlx::raw_sql("DROP POLICY tenant_isolation ON tasks")
        .execute(&mut owner)
        .await
        .unwrap();
    let report = cycle().await;
    assert!(!report.passed());
    assert!(
        rules(&report).contains("own-rows-invisible"),
        "{:?}",
        rules(&report)
    );
    // … and the usual hotfix, RLS switched off, leaks: the database counter grows.
    let before = violations(&metrics, "db");
    sqlx::raw_sql("ALTER TABLE tasks DISABLE ROW LEVEL SECURITY")
        .execute(&mut owner)
        .await
        .unwrap();
    let report = cycle().await;
    assert!(
        rules(&report).contains("foreign-rows-visible"),
        "{:?}",
        rules(&report)
    );
    assert!(rules(&report).contains("rows-visible-without-tenant"));
    assert!(violations(&metrics, "db") > before);
    let _ = owner.close().await;
}

/// Reads with `read` every `pause` until the text satisfies `ready` (or fails after `patience`).
async fn poll<F: Future<Output = String>>(
    what: &str,
    patience: Duration,
    pause: Duration,
    mut read: impl FnMut() -> F,
    ready: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let text = read().await;
        if ready(&text) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}:\n{text}"
        );
        tokio::time::sleep(pause).await;
    }
}

/// Polls `/metrics` until `ready` holds (or fails after `patience`); a server that does not
/// answer yet reads as empty.
async fn wait_for(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    patience: Duration,
    ready: impl Fn(&str) -> bool,
) -> String {
    let read = || async {
        match http.get(url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    };
    poll(what, patience, Duration::from_millis(100), read, ready).await
}

/// `monitor serve` in this process, every second on `clock`, on a free port. On a `ManualClock`,
/// `tick` fires the next tick at once, so a test waits only for the cycles' real work, never for
/// the wall clock to reach a tick.
struct Daemon {
    metrics: Arc<Metrics>,
    url: String,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Daemon {
    async fn start(probe: Probe, jitter: Duration, clock: Arc<dyn Clock>) -> Self {
        let metrics = Arc::new(Metrics::new(&slugs(&probe)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(daemon::serve_with_clock(
            Arc::new(probe),
            Arc::clone(&metrics),
            DaemonOptions {
                schedule: Schedule::parse("* * * * * *").unwrap(),
                jitter,
            },
            listener,
            async move {
                let _ = stopped.await;
            },
            clock,
        ));
        Self {
            metrics,
            url,
            http: reqwest::Client::new(),
            stop,
            task,
        }
    }

    /// What `/metrics` serves now.
    async fn scrape(&self) -> String {
        let response = self.http.get(&self.url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    /// Fires the next tick and waits until the daemon has handled it (started a cycle, or
    /// skipped it while one runs) and sleeps toward the one after.
    async fn tick(&self, clock: &ManualClock) {
        clock.advance_to_next_sleeper().await;
        clock.sleeping().await;
    }

    /// Polls `/metrics` until `ready` holds: the cycles in flight do real work against real
    /// servers, which takes real time (at most 30 s here).
    async fn wait_until(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let (patience, pause) = (Duration::from_secs(30), Duration::from_millis(10));
        poll(what, patience, pause, || self.scrape(), ready).await
    }

    /// Runs one cycle after another (a tick, then the wait for its report) until the metrics
    /// satisfy `done`, at most 20 cycles.
    async fn cycle_until(
        &self,
        clock: &ManualClock,
        what: &str,
        done: impl Fn(&str) -> bool,
    ) -> String {
        for _ in 0..20 {
            let before = runs(&self.scrape().await);
            self.tick(clock).await;
            let text = self
                .wait_until(&format!("a cycle toward {what}"), |t| runs(t) > before)
                .await;
            if done(&text) {
                return text;
            }
        }
        panic!("20 cycles and still not {what}:\n{}", self.scrape().await);
    }

    /// Asks for a graceful stop and waits for it.
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("graceful stop")
            .unwrap()
            .unwrap();
    }
}

/// Cycles recorded, whatever their result.
fn runs(text: &str) -> f64 {
    ["success", "failure"]
        .iter()
        .map(|r| value(text, "tenantprobe_runs_total", &[("result", r)]))
        .sum()
}

/// Cycles recorded as a success.
fn successes(text: &str) -> f64 {
    value(text, "tenantprobe_runs_total", &[("result", "success")])
}

/// 1 when the last cycle reached `surface`, 0 when it did not.
fn up(text: &str, surface: &str) -> f64 {
    value(text, "tenantprobe_surface_up", &[("surface", surface)])
}

/// How long a daemon on the wall clock may take to notice an outage, or to recover from it.
const OUTAGE_PATIENCE: Duration = Duration::from_secs(30);

/// Polls `/metrics` until a cycle has reported `surface` down; returns that scrape.
async fn wait_for_outage(http: &reqwest::Client, url: &str, surface: &str) -> String {
    let what = format!("{surface} reported down");
    wait_for(http, url, &what, OUTAGE_PATIENCE, |t| up(t, surface) == 0.0).await
}

/// Polls `/metrics` until a cycle has succeeded since `during` (a scrape taken while the outage
/// lasted) with `surface` up again; returns that scrape.
async fn wait_for_recovery(
    http: &reqwest::Client,
    url: &str,
    during: &str,
    surface: &str,
) -> String {
    let what = format!("{surface} to recover");
    let before = successes(during);
    wait_for(http, url, &what, OUTAGE_PATIENCE, |t| {
        successes(t) > before && up(t, surface) == 1.0
    })
    .await
}

#[tokio::test]
async fn the_daemon_survives_a_postgres_restart_and_a_redis_outage() {
    // Private servers: this test stops and starts them.
    let mut postgres = tenantprobe_testkit::servers::ThrowawayPostgres::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut redis = tenantprobe_testkit::servers::ThrowawayRedis::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let db =
        tenantprobe_testkit::provision::ReferenceDatabase::create(&postgres.url(), "tp_monitor")
            .await
            .unwrap();
    let app = ReferenceApp::start(
        &db,
        Options {
            redis_url: Some(redis.url()),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let mut probe = probe(&app, &db, &redis.url(), Provisioning::Create).await;
    probe.init().await.unwrap();
    probe.options.check_timeout = Duration::from_secs(3);
    // Outages take real time to notice and recover from: this daemon runs on the wall clock.
    let daemon = Daemon::start(probe, Duration::from_millis(100), Arc::new(SystemClock)).await;
    let (metrics, url) = (Arc::clone(&daemon.metrics), daemon.url.clone());
    let http = reqwest::Client::new();
    let health = http
        .get(url.replace("/metrics", "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    wait_for(&http, &url, "a passing cycle", OUTAGE_PATIENCE, |t| {
        successes(t) >= 1.0
    })
    .await;

    // The throwaway cluster commits asynchronously and `stop` is an immediate shutdown, like a
    // crash: without a checkpoint the canaries `init` just wrote could be lost (and rightly
    // reported missing by the next cycles).
    let mut admin = sqlx::PgConnection::connect(&postgres.url()).await.unwrap();
    sqlx::raw_sql("CHECKPOINT")
        .execute(&mut admin)
        .await
        .unwrap();
    drop(admin);
    postgres.stop();
    let text = wait_for_outage(&http, &url, "db").await;
    assert!(
        value(
            &text,
            "tenantprobe_checks_total",
            &[("check", "db-no-tenant-visibility"), ("result", "error")]
        ) >= 1.0
    );
    assert_eq!(value(&text, "tenantprobe_success", &[]), 0.0);
    postgres.start_again().await.unwrap();
    wait_for_recovery(&http, &url, &text, "db").await;

    redis.stop();
    let text = wait_for_outage(&http, &url, "redis").await;
    // The app serves from PostgreSQL while its cache is away: the API stays up.
    assert_eq!(up(&text, "api"), 1.0, "{text}");
    redis.start_again().await.unwrap();
    let text = wait_for_recovery(&http, &url, &text, "redis").await;
    for surface in ["api", "db", "redis"] {
        assert_eq!(
            violations(&metrics, surface),
            0.0,
            "outages are not violations:\n{text}"
        );
    }

    daemon.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_hung_api_makes_cycles_overlap_and_the_daemon_skips_and_counts_ticks() {
    let w = support::app_world(Options::default()).await;
    let redis = w.redis.as_ref().unwrap().url.clone();
    // An API that accepts connections and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_url = format!("http://{}", hung.local_addr().unwrap());
    let env = w.app.env(&w.db, Some(&redis));
    let env = move |name: &str| {
        if name == "REFERENCE_APP_URL" {
            Some(hung_url.clone())
        } else {
            env(name)
        }
    };
    let mut probe = Probe::setup(
        &support::reference_spec(),
        &env,
        Provisioning::Create,
        options(),
    )
    .await
    .unwrap();
    probe.options.check_timeout = Duration::from_millis(500);
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let daemon = Daemon::start(probe, Duration::ZERO, Arc::clone(&clock) as Arc<dyn Clock>).await;
    let skipped = |t: &str| {
        value(
            t,
            "tenantprobe_skipped_runs_total",
            &[("reason", "overlap")],
        )
    };
    let failures = |t: &str| value(t, "tenantprobe_runs_total", &[("result", "failure")]);
    // The first tick starts a cycle that waits on the hung API; the next finds it running.
    daemon.tick(&clock).await;
    daemon.tick(&clock).await;
    assert_eq!(skipped(&daemon.scrape().await), 1.0);
    let text = daemon
        .wait_until("the hung cycle's failure", |t| failures(t) >= 1.0)
        .await;
    assert_eq!(
        value(&text, "tenantprobe_surface_up", &[("surface", "api")]),
        0.0
    );
    for tenant in ["tenantprobe-synthetic-a", "tenantprobe-synthetic-b"] {
        let errors = [
            ("check", "api-own-data"),
            ("result", "error"),
            ("synthetic_tenant", tenant),
        ];
        assert!(
            value(&text, "tenantprobe_checks_total", &errors) >= 1.0,
            "{text}"
        );
    }
    // A tick after the cycle ended runs the next one: only overlapping ticks are skipped.
    let text = daemon
        .cycle_until(&clock, "a second failed cycle", |t| failures(t) >= 2.0)
        .await;
    assert_eq!(skipped(&text), 1.0, "{text}");
    daemon.stop().await;
    drop(hung);
}
