//! `tenantprobe attack noisy` from the command line against the reference app on a free port: it
//! fails (exit 1, findings in the JSON and JUnit reports) under `no-tenant-limits` and passes
//! (exit 0) with the limits, its load stays within the request and duration bounds the report
//! states, and bad input stops it with a clear message and exit 2 before any load is sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use reference_app::faults::{Fault, Faults};
use tenantprobe::reference::ReferenceApp;

/// Small load on 2 shared cores; margins wide enough that only a real slowdown counts.
const NOISY: &str = r#"
[noisy]
requests = 400
duration = "2s"
concurrency = 8
victim_requests = 30
victim_pause = "10ms"
p99_margin = 3.0
min_slowdown = "250ms"
"#;

/// Runs the binary off the runtime's threads (the app under test is served by this runtime).
async fn tenantprobe(args: Vec<String>, env: Vec<(String, String)>) -> (i32, String, String) {
    support::tenantprobe_off_runtime(args, env).await
}

/// The reference spec with `extra` appended, written to `dir`.
fn spec_file(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n{extra}", tenantprobe::reference::SPEC)).unwrap();
    path
}

struct Target {
    _db: support::TestDb,
    app: ReferenceApp,
    env: Vec<(String, String)>,
}

/// The reference app (one database connection, 50 requests/s per tenant, no Redis) on a free port.
async fn target(faults: Faults) -> Target {
    let db = support::reference_db().await;
    let app = ReferenceApp::start(&db, support::noisy_neighbour_options(faults))
        .await
        .unwrap();
    let lookup = app.env(&db, None);
    let env = [
        "REFERENCE_APP_URL",
        "JWT_SECRET",
        "TENANTPROBE_DATABASE_URL",
        "TENANTPROBE_ADMIN_DATABASE_URL",
    ]
    .into_iter()
    .map(|k| (k.to_owned(), lookup(k).unwrap()))
    .collect();
    Target { _db: db, app, env }
}

fn args(spec: &Path, format: &str, output: &Path) -> Vec<String> {
    [
        "attack",
        "noisy",
        "--target",
        spec.to_str().unwrap(),
        "--fail-on",
        "medium",
        "--format",
        format,
        "--output",
        output.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The JSON report: valid against the schema, within its own stated bounds.
fn read_json(path: &Path) -> serde_json::Value {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    support::assert_valid_json("schemas/report.schema.json", &report);
    let stats = &report["stats"];
    let sent = stats["noisy"]["sent"].as_u64().unwrap();
    assert!(sent > 0, "load was sent: {stats}");
    assert!(
        sent <= stats["bounds"]["requests"].as_u64().unwrap(),
        "the request bound holds: {stats}"
    );
    assert_eq!(stats["bounds"]["requests"], 400);
    // The bound stops new requests; those in flight (10 s timeout at most, milliseconds here)
    // still finish.
    let elapsed = stats["noisy"]["elapsed_ms"].as_u64().unwrap();
    assert!(
        elapsed <= stats["bounds"]["duration_ms"].as_u64().unwrap() + 1_000,
        "the duration bound holds: {stats}"
    );
    assert!(
        stats["victim"]["alone"]["requests"].as_u64().unwrap() > 0
            && stats["victim"]["loaded"]["requests"].as_u64().unwrap() > 0,
        "the victim measured both phases: {stats}"
    );
    report
}

fn rules(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_noisy_exits_1_without_tenant_limits_and_0_with_them_within_its_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_file(dir.path(), "noisy.toml", NOISY);

    let unlimited = target([Fault::NoTenantLimits].into_iter().collect()).await;
    let json = dir.path().join("unlimited.json");
    let (code, stdout, stderr) =
        tenantprobe(args(&spec, "json", &json), unlimited.env.clone()).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    let report = read_json(&json);
    assert!(
        rules(&report).contains(&"noisy-tenant-not-throttled".to_owned()),
        "{report:#}"
    );
    assert_eq!(report["stats"]["noisy"]["throttled"], 0, "{report:#}");
    assert_eq!(report["command"], "attack noisy");

    // The same failure in JUnit: a failed test case per rule that fired.
    let xml_path = dir.path().join("unlimited.xml");
    let (code, _, stderr) =
        tenantprobe(args(&spec, "junit", &xml_path), unlimited.env.clone()).await;
    assert_eq!(code, 1, "{stderr}");
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failed: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .filter_map(|c| c.attribute("name"))
        .collect();
    assert!(
        failed
            .iter()
            .any(|n| n.contains("noisy-tenant-not-throttled")),
        "{xml}"
    );
    unlimited.app.stop().await;

    let limited = target(Faults::none()).await;
    let json = dir.path().join("limited.json");
    let (code, stdout, stderr) = tenantprobe(args(&spec, "json", &json), limited.env.clone()).await;
    let report = read_json(&json);
    assert_eq!(code, 0, "{stdout}{stderr}{report:#}");
    assert!(rules(&report).is_empty(), "{report:#}");
    assert!(
        report["stats"]["noisy"]["throttled"].as_u64().unwrap() > 0,
        "the limits answered 429: {report:#}"
    );
    limited.app.stop().await;
}

#[tokio::test]
async fn attack_noisy_refuses_bad_input_with_a_clear_message_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "REFERENCE_APP_URL".to_owned(),
            "http://127.0.0.1:9".to_owned(),
        ),
        ("JWT_SECRET".to_owned(), "x".repeat(32)),
    ];
    let run = |args: Vec<&str>| {
        let env = env.clone();
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        async move { tenantprobe(args, env).await }
    };

    // A spec without [api]: nothing to send load through.
    let no_api = dir.path().join("no-api.toml");
    std::fs::write(
        &no_api,
        "name = \"db-only\"\n[database]\nurl_env = \"TENANTPROBE_DATABASE_URL\"\napp_role = \"app_user\"\n",
    )
    .unwrap();
    let (code, _, stderr) = run(vec!["attack", "noisy", "-t", no_api.to_str().unwrap()]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the spec has no [api] section, which this command needs"),
        "{stderr}"
    );

    let spec = spec_file(dir.path(), "plain.toml", "");
    let spec = spec.to_str().unwrap();
    // A URL typed on the command line that is neither loopback nor the spec's: refused, even
    // with --allow-remote.
    for extra in [&[][..], &["--allow-remote"][..]] {
        let mut args = vec![
            "attack",
            "noisy",
            "-t",
            spec,
            "--base-url",
            "http://192.0.2.10:8080",
        ];
        args.extend(extra);
        let (code, _, stderr) = run(args).await;
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(
                "`http://192.0.2.10:8080/` is neither on this machine nor the spec's API URL (`REFERENCE_APP_URL`)"
            ),
            "{stderr}"
        );
    }
    // The spec's own remote URL needs --allow-remote.
    let mut remote = env.clone();
    remote[0].1 = "http://192.0.2.10:8080".to_owned();
    let (code, _, stderr) = tenantprobe(
        ["attack", "noisy", "-t", spec].map(str::to_owned).to_vec(),
        remote,
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");

    // No load at all, from the command line or from the spec.
    let (code, _, stderr) = run(vec!["attack", "noisy", "-t", spec, "--requests", "0"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`requests` must be greater than zero"),
        "{stderr}"
    );
    let zero = spec_file(dir.path(), "zero.toml", "[noisy]\nduration = \"0s\"\n");
    let (code, _, stderr) = run(vec!["attack", "noisy", "-t", zero.to_str().unwrap()]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`duration` must be greater than zero"),
        "{stderr}"
    );
}
