//! The `tenantprobe monitor` command line against the real reference app: `init` twice, `run`
//! with its exit codes and JSON report, configuration errors, `canary` failing at once on a
//! violation, and `run --pushgateway` against a real Prometheus Pushgateway (the last-success
//! pattern: a failed run leaves the last success time alone).
//!
//! The Pushgateway comes from Debian's `prometheus-pushgateway` package; where it is missing that
//! test is ignored (build.rs), unless TENANTPROBE_REQUIRE_TOOLS=1 (as in CI), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use reference_app::faults::Fault;
use tenantprobe_testkit::reference::Options;

/// Runs the binary off the runtime's threads (the app under test is served by this runtime).
async fn tenantprobe(args: &[&str], env: Vec<(String, String)>) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    support::tenantprobe_off_runtime(args, env).await
}

/// The variables the reference spec names, for this world.
fn env(w: &support::AppWorld) -> Vec<(String, String)> {
    w.spec_env()
}

const SPEC: &str = "probes/reference-app.toml";

/// `monitor canary` on `spec` with `options` (`--duration`, `--interval`, thresholds).
fn canary<'a>(spec: &'a str, options: &[&'a str]) -> Vec<&'a str> {
    [&["monitor", "canary", "-t", spec], options].concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_run_and_canary_from_the_command_line() {
    let w = support::app_world(Options::default()).await;
    let spec = support::repo_path(SPEC);
    let env = env(&w);

    // Before init: the canaries are missing, which fails the run (1) without any violation.
    let (code, stdout, _) = tenantprobe(
        &["monitor", "run", "-t", &spec, "--format", "json"],
        env.clone(),
    )
    .await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("monitor-own-canaries-missing"));

    let (code, stdout, stderr) = tenantprobe(&["monitor", "init", "-t", &spec], env.clone()).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("6 canaries created, 0 already there"),
        "{stdout}"
    );
    let (code, stdout, _) = tenantprobe(&["monitor", "init", "-t", &spec], env.clone()).await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("0 canaries created, 6 already there"),
        "{stdout}"
    );

    let (code, stdout, stderr) = tenantprobe(
        &["monitor", "run", "-t", &spec, "--format", "json"],
        env.clone(),
    )
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["findings"].as_array().unwrap().len(), 0);
    assert_eq!(report["command"], "monitor run");

    // A short canary on the correct app passes; with a fault it fails at once.
    let short = canary(
        &spec,
        &[
            "--duration",
            "2s",
            "--interval",
            "500ms",
            "--p99-threshold",
            "5s",
        ],
    );
    let (code, stdout, stderr) = tenantprobe(&short, env.clone()).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("canary passed"), "{stdout}");
    w.app.faults.switch(Fault::SubdomainTrust, true);
    let begun = std::time::Instant::now();
    let long = canary(&spec, &["--duration", "10m", "--interval", "1s"]);
    let (code, stdout, stderr) = tenantprobe(&long, env.clone()).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("canary failed: ") && stderr.contains("isolation violation"),
        "{stderr}"
    );
    assert!(
        begun.elapsed() < Duration::from_secs(120),
        "failed at once, not after 10 minutes"
    );
    assert!(
        stdout.contains("monitor-foreign-canary-reachable"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_exit_2_and_unreachable_targets_exit_3() {
    let spec = support::repo_path(SPEC);
    // No spec at all.
    let (code, _, stderr) = tenantprobe(&["monitor", "run"], vec![]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("monitor needs a target spec"), "{stderr}");
    // Variables the spec names are missing.
    let (code, _, stderr) = tenantprobe(&["monitor", "run", "-t", &spec], vec![]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("is not set"), "{stderr}");
    // A bad schedule.
    let (code, _, stderr) = tenantprobe(
        &["monitor", "serve", "-t", &spec, "--schedule", "* * *"],
        vec![],
    )
    .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("has 3 fields"), "{stderr}");
    // A database that does not answer.
    let env: Vec<(String, String)> = [
        ("REFERENCE_APP_URL", "http://127.0.0.1:9"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        (
            "TENANTPROBE_DATABASE_URL",
            "postgres://nobody@127.0.0.1:9/x",
        ),
        (
            "TENANTPROBE_ADMIN_DATABASE_URL",
            "postgres://nobody@127.0.0.1:9/x",
        ),
        ("REDIS_URL", "redis://127.0.0.1:9"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let (code, _, stderr) = tenantprobe(&["monitor", "run", "-t", &spec], env).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("TENANTPROBE_ADMIN_DATABASE_URL"),
        "{stderr}"
    );
}

/// A private Pushgateway, killed on drop.
struct Pushgateway {
    child: std::process::Child,
    url: String,
}

impl Pushgateway {
    /// What it serves at `/metrics` now.
    async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn pushgateway() -> Pushgateway {
    let binary = tenantprobe_testkit::servers::find_program("prometheus-pushgateway")
        .or_else(|| tenantprobe_testkit::servers::find_program("pushgateway"))
        .expect("the Pushgateway is missing: apt-get install prometheus-pushgateway");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(binary)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let gateway = Pushgateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if reqwest::get(format!("{}/-/ready", gateway.url))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return gateway;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Pushgateway did not start");
}

/// A series' value as the Pushgateway serves it, and its labels.
async fn pushed(gateway: &Pushgateway, name: &str) -> Option<(f64, String)> {
    let text = gateway.metrics().await;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (value.parse().unwrap(), series.to_owned())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_pushgateway),
    ignore = "needs the Pushgateway: apt-get install prometheus-pushgateway"
)]
async fn run_pushes_with_the_last_success_pattern() {
    let gateway = pushgateway().await;
    let w = support::app_world(Options::default()).await;
    let spec = support::repo_path(SPEC);
    let env = env(&w);
    let (code, ..) = tenantprobe(&["monitor", "init", "-t", &spec], env.clone()).await;
    assert_eq!(code, 0);
    let run = [
        "monitor",
        "run",
        "-t",
        &spec,
        "--pushgateway",
        &gateway.url,
        "--job",
        "tenantprobe-test",
    ];

    let (code, stdout, stderr) = tenantprobe(&run, env.clone()).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (first_success, series) = pushed(&gateway, "tenantprobe_last_success_timestamp_seconds")
        .await
        .unwrap();
    assert!(series.contains("job=\"tenantprobe-test\""), "{series}");
    assert!(
        series.contains("instance=\"\""),
        "grouped by job only: {series}"
    );
    assert_eq!(
        pushed(&gateway, "tenantprobe_success").await.unwrap().0,
        1.0
    );
    assert_eq!(
        pushed(&gateway, "tenantprobe_last_failure_timestamp_seconds").await,
        None,
        "never failed"
    );
    assert_eq!(last_run_violations(&gateway, "api").await, 0.0);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    w.app.faults.switch(Fault::RlsBypassHandler, true);
    let (code, ..) = tenantprobe(&run, env.clone()).await;
    assert_eq!(code, 1);
    assert_eq!(
        pushed(&gateway, "tenantprobe_success").await.unwrap().0,
        0.0
    );
    assert_eq!(
        pushed(&gateway, "tenantprobe_last_success_timestamp_seconds")
            .await
            .unwrap()
            .0,
        first_success,
        "a failed run keeps the last success time"
    );
    let text = gateway.metrics().await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("tenantprobe_isolation_violations_total{")
                && l.contains("surface=\"api\"")
                && !l.ends_with(" 0")),
        "{text}"
    );

    // The CronJob's alert keeps firing on this gauge while every run sees the leak.
    assert!(last_run_violations(&gateway, "api").await > 0.0);
    let (failed_at, _) = pushed(&gateway, "tenantprobe_last_failure_timestamp_seconds")
        .await
        .unwrap();
    assert!(failed_at > first_success);

    w.app.faults.switch(Fault::RlsBypassHandler, false);
    let (code, ..) = tenantprobe(&run, env).await;
    assert_eq!(code, 0);
    let (latest, _) = pushed(&gateway, "tenantprobe_last_success_timestamp_seconds")
        .await
        .unwrap();
    assert!(latest > first_success);
    assert_eq!(last_run_violations(&gateway, "api").await, 0.0);
    assert_eq!(
        pushed(&gateway, "tenantprobe_last_failure_timestamp_seconds")
            .await
            .unwrap()
            .0,
        failed_at,
        "a passing run keeps the last failure time"
    );
}

/// The sum over synthetic tenants of the last run's violations on `surface`, as pushed.
async fn last_run_violations(gateway: &Pushgateway, surface: &str) -> f64 {
    let text = gateway.metrics().await;
    let series: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.starts_with("tenantprobe_last_run_isolation_violations{")
                && l.contains(&format!("surface=\"{surface}\""))
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    assert!(!series.is_empty(), "{text}");
    series.iter().sum()
}
