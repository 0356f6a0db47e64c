//! The command line is safe to point at a live target and never green by accident: a run that would
//! examine nothing (unknown schema or tenant column, an empty database, no attempt, an empty API
//! world, an empty keyspace) is a usage error with a did-you-mean; passwords given in any URL form
//! reach no report, error or log line; a spec's `*_env` field holding a value is rejected without
//! echoing it; a malformed Redis URL is 2, an unreachable one 3; SIGINT and SIGTERM end a run with
//! 130 and 143.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use redis::AsyncCommands;
use support::{repo_path, tenantprobe};

/// `tenantprobe` off the runtime's threads (an app under test may be served by this runtime).
async fn run(args: Vec<String>, env: Vec<(String, String)>) -> (i32, String, String) {
    support::tenantprobe_off_runtime(args, env).await
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Asserts that `outcome` (exit code, stdout, stderr) is a usage error (2) whose stderr says each
/// of `expected`; `what` names the run in a failure.
fn assert_usage_error(what: &str, outcome: &(i32, String, String), expected: &[&str]) {
    let (code, stdout, stderr) = outcome;
    assert_eq!(*code, 2, "{what}: {stdout}\n{stderr}");
    for text in expected {
        assert!(stderr.contains(text), "{what}: {stderr}");
    }
}

/// The correct reference app (serving while the world is kept), the environment its spec names,
/// and that spec's path.
async fn reference_world() -> (support::AppWorld, Vec<(String, String)>, String) {
    let w = support::app_world(tenantprobe_testkit::reference::Options::default()).await;
    let env = w.spec_env();
    (w, env, repo_path("probes/reference-app.toml"))
}

// --- Runs that would examine nothing --------------------------------------------------------

/// The commands that examine a database, each on its smallest run.
const DB_COMMANDS: [&[&str]; 2] = [&["audit"], &["attack", "db", "--cases", "2"]];

#[tokio::test]
async fn audit_and_attack_db_refuse_a_configuration_that_examines_nothing() {
    let db = support::reference_db().await;
    let url = db.admin_url();
    for command in DB_COMMANDS {
        let what = format!("{command:?}");
        let with = |extra: &[&str]| tenantprobe(&support::db_command(command, &url, extra), &[]);
        // The correct configuration examines the reference schema: a verdict, not a usage error.
        let (code, stdout, stderr) = with(&[]);
        assert!(
            code == 0 || code == 1,
            "{command:?}: {code}\n{stdout}\n{stderr}"
        );
        assert!(
            stdout.contains("finding") || stdout.contains("no active"),
            "{stdout}"
        );

        assert_usage_error(
            &what,
            &with(&["--tenant-column", "tenant_idd"]),
            &[
                "no table in schema `public` has the tenant column `tenant_idd`; did you mean `tenant_id` (",
            ],
        );
        assert_usage_error(
            &what,
            &with(&["--schema", "pubilc"]),
            &["schema `pubilc` does not exist; did you mean `public`"],
        );
        // One misspelt schema among correct ones would silently narrow the run.
        assert_usage_error(
            &what,
            &with(&["--schema", "public", "--schema", "audit_log"]),
            &["schema `audit_log` does not exist"],
        );
    }

    // A schema whose tables lack the column: the suggestion names where it is, and look-alikes.
    let mut admin = support::connect(&db.admin_options()).await;
    sqlx::raw_sql(
        "CREATE SCHEMA billing;
         CREATE TABLE billing.invoices (id int PRIMARY KEY, org_id int, customer_ref text);
         CREATE TABLE billing.lines (id int PRIMARY KEY, invoice_id int, org_id int);",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    for command in DB_COMMANDS {
        let args = support::db_command(command, &url, &["--schema", "billing"]);
        assert_usage_error(
            &format!("{command:?}"),
            &tenantprobe(&args, &[]),
            &[
                "no table in schema `billing` has the tenant column `tenant_id` (tables in schemas \
                 `admin`, `public` have it); did you mean `org_id` (2 tables), `customer_ref` (1 table)?",
            ],
        );
    }

    // No case at all proves nothing either.
    let args = support::db_command(&["attack", "db"], &url, &["--cases", "0"]);
    assert_usage_error(
        "--cases 0",
        &tenantprobe(&args, &[]),
        &["invalid value '0' for '--cases"],
    );
}

#[tokio::test]
async fn attack_db_takes_a_shrink_budget_and_refuses_one_that_is_not_a_duration() {
    let db = support::reference_db().await;
    let url = db.admin_url();
    let with_budget = |budget: &str| {
        let extra = ["--cases", "2", "--shrink-budget", budget];
        tenantprobe(&support::db_command(&["attack", "db"], &url, &extra), &[])
    };
    let (code, stdout, stderr) = with_budget("1s");
    assert!(
        code == 0 || code == 1,
        "--shrink-budget 1s: {code}\n{stdout}\n{stderr}"
    );
    assert_usage_error(
        "--shrink-budget soon",
        &with_budget("soon"),
        &["invalid value 'soon' for '--shrink-budget"],
    );
}

#[tokio::test]
async fn an_empty_database_is_a_usage_error_not_a_clean_run() {
    let db = support::empty_db().await;
    let url = db.admin_url();
    for command in DB_COMMANDS {
        let outcome = tenantprobe(&support::db_command(command, &url, &[]), &[]);
        assert_usage_error(
            &format!("{command:?}"),
            &outcome,
            &["schema `public` holds no tables: nothing to examine"],
        );
        let (_, stdout, _) = outcome;
        assert!(
            stdout.is_empty(),
            "no report for a run that did not happen: {stdout}"
        );
    }
}

#[tokio::test]
async fn cache_refuses_an_empty_keyspace_and_tells_a_malformed_url_from_an_unreachable_one() {
    let r = support::redis_db().await;
    let cache = |url: &str, extra: &[&str]| {
        let mut args = vec![
            "cache",
            "--redis-url",
            url,
            "--key-pattern",
            "tenant:{tenant_id:uuid}:*",
        ];
        args.extend_from_slice(extra);
        tenantprobe(&args, &[])
    };
    assert_usage_error(
        "an empty keyspace",
        &cache(&r.url, &[]),
        &["no key was scanned"],
    );

    let mut conn = r.connection().await.unwrap();
    let key = format!("tenant:{}:projects", uuid::Uuid::new_v4());
    let () = conn.set(&key, "[]").await.unwrap();
    let (code, stdout, stderr) = cache(&r.url, &[]);
    assert_eq!(
        code, 0,
        "one well-namespaced key is examined and clean: {stdout}\n{stderr}"
    );
    assert_usage_error(
        "--match session:*",
        &cache(&r.url, &["--match", "session:*"]),
        &["no key was scanned", "matching `session:*`"],
    );

    for malformed in [
        "redis://127.0.0.1:6379/not-a-number",
        "redis://127.0.0.1:99999",
        "redis:/",
    ] {
        assert_usage_error(malformed, &cache(malformed, &[]), &["invalid Redis URL"]);
    }
    let (code, _, stderr) = cache("redis://127.0.0.1:9/0", &[]);
    assert_eq!(code, 3, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_http_refuses_a_world_it_could_not_build() {
    let (_world, env, spec) = reference_world().await;
    let (code, stdout, stderr) = run(
        strings(&["attack", "http", "-t", &spec, "--cases", "2", "--seed", "7"]),
        env.clone(),
    )
    .await;
    assert_eq!(
        code, 0,
        "the correct spec attacks the correct app: {stdout}\n{stderr}"
    );

    // A wrong `id` pointer: every create succeeds, but no id is found there: a usage error that
    // shows the pointer and the response.
    let text = std::fs::read_to_string(&spec).unwrap();
    let wrong = text
        .replace(
            "name = \"project\"\n",
            "name = \"project\"\nid = \"/uuid\"\n",
        )
        .replace("name = \"task\"\n", "name = \"task\"\nid = \"/uuid\"\n");
    assert_ne!(text, wrong);
    let dir = tempfile::tempdir().unwrap();
    let wrong_spec = dir.path().join("wrong-id.toml");
    std::fs::write(&wrong_spec, wrong).unwrap();
    let outcome = run(
        strings(&[
            "attack",
            "http",
            "-t",
            wrong_spec.to_str().unwrap(),
            "--cases",
            "2",
            "--seed",
            "7",
        ]),
        env,
    )
    .await;
    assert_usage_error(
        "a wrong `id` pointer",
        &outcome,
        &[
            "has no id at the JSON pointer `/uuid` (the spec's `id`)",
            "fix the pointer",
        ],
    );
    let (_, _, stderr) = outcome;
    assert_eq!(stderr.matches("has no id").count(), 1, "{stderr}");
}

// --- Secrets ----------------------------------------------------------------------------------

/// Passwords in every form a URL can carry them. The local servers trust every connection, so a
/// password is accepted and ignored; the runs below really examine the target.
const USERINFO_PW: &str = "Userinfo-Pw-7f3a";
const QUERY_PW: &str = "Query-Pw-91c2";
const SSL_PW: &str = "Ssl-Pw-5d0e";
const TOKEN: &str = "Tok-3e8b1";
const SECRETS: [&str; 4] = [USERINFO_PW, QUERY_PW, SSL_PW, TOKEN];

fn with_secrets(url: &str) -> String {
    let mut parsed = reqwest::Url::parse(url).unwrap();
    parsed.set_password(Some(USERINFO_PW)).unwrap();
    parsed
        .query_pairs_mut()
        .append_pair("password", QUERY_PW)
        .append_pair("SSLPassword", SSL_PW)
        .append_pair("access_token", TOKEN);
    parsed.to_string()
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows `{secret}`:\n{text}");
    }
}

#[tokio::test]
async fn passwords_in_any_url_form_reach_no_report_error_or_log_line() {
    let db = support::reference_db().await;
    let url = with_secrets(&db.admin_url());
    let dir = tempfile::tempdir().unwrap();

    // audit in every format, to stdout and to a file, with logs on (sqlx warns about the unknown
    // `SSLPassword` parameter, value included: the log line must be scrubbed).
    for format in ["human", "json", "junit", "sarif", "github"] {
        for log_format in ["text", "json"] {
            let out = dir.path().join(format!("audit.{format}"));
            let (code, stdout, stderr) = tenantprobe(
                &support::db_command(
                    &["audit"],
                    &url,
                    &[
                        "--format",
                        format,
                        "--log",
                        "debug",
                        "--log-format",
                        log_format,
                    ],
                ),
                &[],
            );
            assert_eq!(code, 1, "the definer function is found: {stdout}\n{stderr}");
            assert!(stdout.contains("security-definer-executable"), "{stdout}");
            assert!(
                stderr.contains("ignoring unrecognized connect parameter"),
                "the log line that carried the secret was written (scrubbed): {stderr}"
            );
            assert_no_secret(&format!("audit --format {format} stdout"), &stdout);
            assert_no_secret(&format!("audit --log-format {log_format} stderr"), &stderr);
            let (_, _, _) = tenantprobe(
                &support::db_command(
                    &["audit"],
                    &url,
                    &["--format", format, "-o", out.to_str().unwrap()],
                ),
                &[],
            );
            assert_no_secret(
                &format!("audit -o {format}"),
                &std::fs::read_to_string(&out).unwrap(),
            );
        }
    }
    // The same URL from the variable a spec names.
    let (code, stdout, stderr) = tenantprobe(
        &[
            "audit",
            "--target",
            &repo_path("probes/reference-app.toml"),
            "--format",
            "json",
        ],
        &[("TENANTPROBE_DATABASE_URL", url.as_str())],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_no_secret("audit --target", &format!("{stdout}{stderr}"));

    // attack db, human and JSON.
    for format in ["human", "json", "sarif"] {
        let (code, stdout, stderr) = tenantprobe(
            &support::db_command(
                &["attack", "db"],
                &url,
                &["--cases", "2", "--format", format],
            ),
            &[],
        );
        assert!(code == 0 || code == 1, "{stdout}\n{stderr}");
        assert!(stdout.contains("attack"), "{stdout}");
        assert_no_secret(
            &format!("attack db --format {format}"),
            &format!("{stdout}{stderr}"),
        );
    }

    // cache: Redis URL with secrets in the query (Redis ignores them), and the database for orphans.
    let r = support::redis_db().await;
    let mut conn = r.connection().await.unwrap();
    let () = conn.set("flags:beta", "1").await.unwrap();
    let mut redis_url = reqwest::Url::parse(&r.url).unwrap();
    redis_url
        .query_pairs_mut()
        .append_pair("password", QUERY_PW)
        .append_pair("token", TOKEN);
    for format in ["human", "json", "junit", "sarif", "github"] {
        let (code, stdout, stderr) = tenantprobe(
            &[
                "cache",
                "--redis-url",
                redis_url.as_str(),
                "--database-url",
                &url,
                "--tenants-table",
                "public.tenants",
                "--key-pattern",
                "tenant:{tenant_id:uuid}:*",
                "--format",
                format,
            ],
            &[],
        );
        assert_eq!(
            code, 1,
            "`flags:beta` is not namespaced: {stdout}\n{stderr}"
        );
        assert_no_secret(
            &format!("cache --format {format}"),
            &format!("{stdout}{stderr}"),
        );
    }

    // Errors: unreachable servers (3), malformed URLs (2), Redis refusing a password (3).
    let unreachable_pg = with_secrets("postgres://postgres@127.0.0.1:1/none");
    let malformed_pg = unreachable_pg.replace(":1/", ":port/");
    let unreachable_redis = format!("redis://:{USERINFO_PW}@127.0.0.1:9/0?password={QUERY_PW}");
    let malformed_redis = format!("redis://:{USERINFO_PW}@127.0.0.1:port/0?password={QUERY_PW}");
    let mut refused_redis = reqwest::Url::parse(&r.url).unwrap();
    refused_redis.set_password(Some(USERINFO_PW)).unwrap();
    let cases: [(&[&str], i32); 5] = [
        (
            &[
                "audit",
                "--database-url",
                &unreachable_pg,
                "--app-role",
                "a",
            ],
            3,
        ),
        (
            &[
                "attack",
                "db",
                "--database-url",
                &malformed_pg,
                "--app-role",
                "a",
            ],
            2,
        ),
        (
            &[
                "cache",
                "--redis-url",
                &unreachable_redis,
                "--key-pattern",
                "t:{tenant_id}:*",
            ],
            3,
        ),
        (
            &[
                "cache",
                "--redis-url",
                &malformed_redis,
                "--key-pattern",
                "t:{tenant_id}:*",
            ],
            2,
        ),
        (
            &[
                "cache",
                "--redis-url",
                refused_redis.as_str(),
                "--key-pattern",
                "t:{tenant_id}:*",
            ],
            3,
        ),
    ];
    for (args, expected) in cases {
        let (code, stdout, stderr) = tenantprobe(args, &[]);
        assert_eq!(code, expected, "{args:?}: {stderr}");
        assert!(stderr.contains("error:"), "{stderr}");
        assert_no_secret(&format!("{args:?}"), &format!("{stdout}{stderr}"));
    }
}

#[test]
fn a_spec_env_field_holding_a_url_is_rejected_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("leaky.toml");
    let url = with_secrets("postgres://app@db.internal:5432/app");
    std::fs::write(
        &spec,
        format!("name = \"leaky\"\n[database]\napp_role = \"app_user\"\nurl_env = \"{url}\"\n"),
    )
    .unwrap();
    for command in [&["audit"][..], &["attack", "db"], &["cache"]] {
        let mut args = command.to_vec();
        args.extend(["--target", spec.to_str().unwrap()]);
        let outcome = tenantprobe(&args, &[]);
        assert_usage_error(
            &format!("{command:?}"),
            &outcome,
            &["leaky.toml:4:11: `database.url_env` must name an environment variable"],
        );
        let (_, stdout, stderr) = outcome;
        assert_no_secret(&format!("{command:?}"), &format!("{stdout}{stderr}"));
        assert!(!stderr.contains("db.internal"), "{stderr}");
    }
}

#[test]
fn an_invalid_cron_line_is_reported_by_every_command_that_reads_the_spec() {
    let text = std::fs::read_to_string(repo_path("probes/reference-app.toml")).unwrap();
    let bad = text.replace("schedule = \"* * * * *\"", "schedule = \"*/5 * * * * * *\"");
    assert_ne!(text, bad);
    let line = bad.lines().position(|l| l.starts_with("schedule")).unwrap() + 1;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad-cron.toml");
    std::fs::write(&spec, bad).unwrap();
    let spec = spec.to_str().unwrap();
    let expected = format!("bad-cron.toml:{line}:12: schedule `*/5 * * * * * *` has 7 fields");
    let commands: [&[&str]; 6] = [
        &["audit"],
        &["attack", "db"],
        &["attack", "http"],
        &["cache"],
        &["monitor", "run"],
        &["monitor", "serve"],
    ];
    support::commands::assert_each_exits(&commands, spec, &[], 2, &[&expected]);
}

// --- Signals ----------------------------------------------------------------------------------

/// Waits for `child` to exit, at most `limit`; its exit code and what it wrote.
fn wait_for(mut child: Child, limit: Duration) -> (Option<i32>, String, String) {
    let begun = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stdout = String::new();
            let mut stderr = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut stdout)
                .unwrap();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut stderr).unwrap();
            }
            return (status.code(), stdout, stderr);
        }
        if begun.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running {limit:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn(args: &[&str], env: &[(String, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantprobe"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn signal(child: &Child, signal: Signal) {
    kill(Pid::from_raw(i32::try_from(child.id()).unwrap()), signal).unwrap();
}

/// Sends `sig` to `child` and waits for it off the runtime's threads (see `wait_for`).
async fn interrupt(child: Child, sig: Signal, limit: Duration) -> (Option<i32>, String, String) {
    signal(&child, sig);
    tokio::task::spawn_blocking(move || wait_for(child, limit))
        .await
        .unwrap()
}

#[tokio::test]
async fn sigint_and_sigterm_stop_a_running_attack_with_130_and_143() {
    let db = support::reference_db().await;
    let url = db.admin_url();
    for (sig, expected) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143)] {
        let child = spawn(
            &support::db_command(
                &["attack", "db"],
                &url,
                &["--cases", "1000000", "--format", "json"],
            ),
            &[],
        );
        // Well into the run (connected, attacking): it would take many minutes to finish.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let begun = Instant::now();
        let (code, stdout, stderr) = interrupt(child, sig, Duration::from_secs(20)).await;
        assert_eq!(code, Some(expected), "{sig}: {stderr}");
        assert!(
            begun.elapsed() < Duration::from_secs(10),
            "{sig} took {:?}",
            begun.elapsed()
        );
        assert!(
            stdout.is_empty(),
            "an interrupted run writes no verdict: {stdout}"
        );
        assert!(stderr.contains("stopped by a signal"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_the_monitor_daemon_after_its_cycle_with_130() {
    let (_world, env, spec) = reference_world().await;
    let (code, _, stderr) = run(strings(&["monitor", "init", "-t", &spec]), env.clone()).await;
    assert_eq!(code, 0, "{stderr}");
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = spawn(
            &[
                "monitor",
                "serve",
                "-t",
                &spec,
                "--listen",
                "127.0.0.1:0",
                "--schedule",
                "* * * * * *",
                "--log",
                "info",
            ],
            &env,
        );
        // Serving: the daemon announces its metrics listener.
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        while !seen.contains("metrics on") {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "exited early: {seen}"
            );
            seen.push_str(&line);
        }
        std::thread::sleep(Duration::from_millis(1500));
        signal(&child, Signal::SIGINT);
        let (code, _, _) = wait_for(child, Duration::from_secs(30));
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        (code, format!("{seen}{rest}"))
    })
    .await
    .unwrap();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attack_http_run_interrupted_midway_writes_a_partial_report() {
    let (_world, env, spec) = reference_world().await;
    let child = spawn(
        &[
            "attack", "http", "-t", &spec, "--cases", "100000", "--seed", "3", "--format", "json",
        ],
        &env,
    );
    // Well into the run: 100,000 cases would take hours.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (code, stdout, stderr) = interrupt(child, Signal::SIGINT, Duration::from_secs(30)).await;
    assert_eq!(code, Some(130), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect(&stdout);
    assert_eq!(report["stats"]["partial"], true, "{stdout}");
    assert_eq!(report["stats"]["partial_reason"], "interrupted", "{stdout}");
    let cases = report["stats"]["cases"].as_u64().unwrap();
    assert!(cases > 0 && cases < 100_000, "{cases} cases ran");
}
