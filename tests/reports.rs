//! Reports as CI and reviewers consume them, from the real binary against real databases: SARIF
//! that points into a migrations folder (and stays valid SARIF 2.1.0), GitHub annotations with
//! the same locations, JUnit that honours `--fail-on`, the versioned JSON report with what was
//! proven, the HTML report rendered in headless Chromium, Markdown, and the terminal conventions
//! (no ANSI off a terminal, `RUST_LOG`, `-q`/`-v`, wrapping, completions, man page).
//!
//! Chromium is Debian's `chromium`. Where it is missing the HTML rendering test says so and passes,
//! unless TENANTPROBE_REQUIRE_TOOLS=1 (as in CI), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{assert_valid_json, repo_path};

/// Two schema faults, written as a migration would be (line numbers matter below).
const FAULTS_MIGRATION: &str = "-- 0003: a hurried change
ALTER TABLE projects DISABLE ROW LEVEL SECURITY;

CREATE POLICY open_read ON tasks FOR SELECT USING (true);
";

/// The reference migrations plus the faulty one, in a folder laid out like a repository.
fn repository(with_faults: bool) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let migrations = repo.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    for entry in std::fs::read_dir(repo_path("migrations")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, migrations.join(path.file_name().unwrap())).unwrap();
    }
    if with_faults {
        std::fs::write(migrations.join("0003_hurried.sql"), FAULTS_MIGRATION).unwrap();
    }
    repo
}

async fn faulty_db() -> support::TestDb {
    let db = support::reference_db().await;
    let mut owner = db.connect_as_owner().await.unwrap();
    sqlx::raw_sql(FAULTS_MIGRATION)
        .execute(&mut owner)
        .await
        .unwrap();
    db
}

/// Runs the binary in `dir` (as CI runs it in a checkout); exit code, stdout, stderr.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantprobe"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("RUST_LOG")
        .env_remove("TENANTPROBE_LOG")
        .env_remove("NO_COLOR");
    support::outcome(cmd, env)
}

fn audit_args<'a>(url: &'a str, format: &'a str) -> Vec<&'a str> {
    vec![
        "audit",
        "--database-url",
        url,
        "--app-role",
        "app_user",
        "--tenants-table",
        "public.tenants",
        "--format",
        format,
    ]
}

fn sarif_result<'a>(sarif: &'a Value, rule: &str, object: &str) -> &'a Value {
    sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["ruleId"] == rule
                && r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == object
        })
        .unwrap_or_else(|| panic!("no {rule} on {object} in {sarif:#}"))
}

fn physical(result: &Value) -> (String, u64) {
    let at = &result["locations"][0]["physicalLocation"];
    (
        at["artifactLocation"]["uri"].as_str().unwrap().to_owned(),
        at["region"]["startLine"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn sarif_points_each_finding_at_the_migration_that_made_it() {
    let db = faulty_db().await;
    let url = db.admin_url();
    let repo = repository(true);
    // `migrations/` is found without the flag, as in a checkout.
    let (code, stdout, stderr) = run_in(repo.path(), &audit_args(&url, "sarif"), &[]);
    assert_eq!(code, 1, "{stderr}");
    let sarif: Value = serde_json::from_str(&stdout).unwrap();
    assert_valid_json("tests/schemas/sarif-2.1.0-rtm.5.json", &sarif);

    // RLS disabled: the ALTER in 0003 (line 2), not the CREATE TABLE in 0001.
    let rls = sarif_result(&sarif, "rls-disabled", "public.projects");
    assert_eq!(physical(rls), ("migrations/0003_hurried.sql".to_owned(), 2));
    // The always-true policy: its own CREATE POLICY (line 4), not the table's.
    let policy = sarif_result(&sarif, "policy-always-true", "public.tasks");
    assert_eq!(
        physical(policy),
        ("migrations/0003_hurried.sql".to_owned(), 4)
    );
    // The definer function: the last statement that touched it in the reference migrations.
    let function = sarif_result(
        &sarif,
        "security-definer-executable",
        "public.tenant_id_for_slug(text)",
    );
    let (file, line) = physical(function);
    assert_eq!(file, "migrations/0001_reference_schema.sql");
    let text = std::fs::read_to_string(repo.path().join(&file)).unwrap();
    let statement = text
        .lines()
        .nth(usize::try_from(line).unwrap() - 1)
        .unwrap();
    assert!(
        statement.contains("tenant_id_for_slug"),
        "line {line} is `{statement}`"
    );

    // Every result is shown by code scanning: a physical location and a line hash.
    for result in sarif["runs"][0]["results"].as_array().unwrap() {
        assert!(
            result["locations"][0]["physicalLocation"].is_object(),
            "{result:#}"
        );
        let hash = result["partialFingerprints"]["primaryLocationLineHash"]
            .as_str()
            .unwrap();
        assert!(hash.ends_with(":1") && hash.len() == 18, "{hash}");
    }
    let rule = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "rls-disabled")
        .unwrap();
    assert!(rule["helpUri"].as_str().unwrap().starts_with("https://"));
    assert!(
        rule["help"]["markdown"]
            .as_str()
            .unwrap()
            .contains("**How to fix:**")
    );
    // The category is the command and target name, never the database URL.
    let id = sarif["runs"][0]["automationDetails"]["id"]
        .as_str()
        .unwrap();
    assert_eq!(id, "tenantprobe/audit/adhoc/");

    // Stable across runs: same hashes and category from another directory with `--migrations`.
    let migrations = repo.path().join("migrations");
    let mut args = audit_args(&url, "sarif");
    args.extend(["--migrations", migrations.to_str().unwrap()]);
    let (_, again, _) = run_in(&std::env::temp_dir(), &args, &[]);
    let again: Value = serde_json::from_str(&again).unwrap();
    let hashes = |s: &Value| -> Vec<String> {
        s["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"]["primaryLocationLineHash"].to_string())
            .collect()
    };
    assert_eq!(hashes(&sarif), hashes(&again));
    assert_eq!(again["runs"][0]["automationDetails"]["id"], id);
    assert_eq!(
        physical(sarif_result(&again, "rls-disabled", "public.projects")).1,
        2
    );

    // GitHub annotations carry the same file and line.
    let (_, github, _) = run_in(repo.path(), &audit_args(&url, "github"), &[]);
    assert!(
        github.lines().any(|l| l.starts_with(
            "::error file=migrations/0003_hurried.sql,line=2,title=critical [rls-disabled] public.projects::"
        )),
        "{github}"
    );
}

#[tokio::test]
async fn the_clean_reference_schema_gives_sarif_with_only_the_waived_function() {
    let db = support::reference_db().await;
    let repo = repository(false);
    let spec = repo_path("probes/reference-app.toml");
    let env = [("TENANTPROBE_DATABASE_URL", db.admin_url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, stdout, stderr) = run_in(
        repo.path(),
        &["audit", "--target", &spec, "--format", "sarif"],
        &env,
    );
    assert_eq!(code, 0, "{stderr}");
    let sarif: Value = serde_json::from_str(&stdout).unwrap();
    assert_valid_json("tests/schemas/sarif-2.1.0-rtm.5.json", &sarif);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!(results[0]["suppressions"][0]["status"], "accepted");
    assert_eq!(
        physical(&results[0]).0,
        "migrations/0001_reference_schema.sql"
    );
    assert_eq!(
        sarif["runs"][0]["automationDetails"]["id"],
        "tenantprobe/audit/reference-app/"
    );
    let (_, github, _) = run_in(
        repo.path(),
        &["audit", "--target", &spec, "--format", "github"],
        &env,
    );
    assert_eq!(github.trim(), "", "waived findings are not annotated");
}

#[tokio::test]
async fn junit_fails_only_rules_at_or_above_fail_on_and_records_time() {
    let db = faulty_db().await;
    let url = db.admin_url();
    let junit = |fail_on: &str| {
        let mut args = audit_args(&url, "junit");
        args.extend(["--fail-on", fail_on]);
        let (code, xml, stderr) = run_in(&std::env::temp_dir(), &args, &[]);
        assert!(code == 0 || code == 1, "{stderr}");
        (code, xml)
    };
    let failed = |xml: &str| -> Vec<String> {
        let doc = roxmltree::Document::parse(xml).unwrap();
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        let time: f64 = suite.attribute("time").unwrap().parse().unwrap();
        assert!(time > 0.0, "testsuite time {time}");
        assert!(suite.attribute("timestamp").is_some());
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
            .map(|c| c.attribute("name").unwrap().to_owned())
            .collect()
    };
    // rls-disabled is critical; security-definer-executable (the reference's slug function,
    // not waived without the spec) is high.
    let (code, xml) = junit("critical");
    let at_critical = failed(&xml);
    assert_eq!(code, 1);
    assert!(
        at_critical.contains(&"rls-disabled".to_owned()),
        "{at_critical:?}"
    );
    assert!(
        !at_critical.contains(&"security-definer-executable".to_owned()),
        "a high finding is no failure under --fail-on critical: {at_critical:?}"
    );
    assert!(xml.contains("below --fail-on critical"), "{xml}");
    let at_high = failed(&junit("high").1);
    assert!(
        at_high.contains(&"security-definer-executable".to_owned()),
        "{at_high:?}"
    );
}

/// `attack db` through the reference spec on the database at `url`, `cases` cases from seed 7,
/// with a JSON report: exit code, the report (valid against its schema) and stderr.
fn attack_db_report(url: &str, cases: &str) -> (i32, Value, String) {
    let spec = repo_path("probes/reference-app.toml");
    let (code, stdout, stderr) = run_in(
        &std::env::temp_dir(),
        &[
            "attack", "db", "--target", &spec, "--cases", cases, "--seed", "7", "--format", "json",
        ],
        &[("TENANTPROBE_DATABASE_URL", url)],
    );
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("exit {code}, {e}: {stdout}\n{stderr}"));
    assert_valid_json("schemas/report.schema.json", &report);
    (code, report, stderr)
}

#[tokio::test]
async fn the_json_report_shows_what_a_clean_run_proved() {
    let db = support::reference_db().await;
    let (code, report, stderr) = attack_db_report(&db.admin_url(), "6");
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(report["schema_version"], 2);
    assert_eq!(report["seed"], 7);
    assert_eq!(report["tenancy"]["app_role"], "app_user");
    assert_eq!(report["fail_on"], "high");
    let started = chrono::DateTime::parse_from_rfc3339(report["started_at"].as_str().unwrap());
    let finished = chrono::DateTime::parse_from_rfc3339(report["finished_at"].as_str().unwrap());
    assert!(started.unwrap() <= finished.unwrap());
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), tenantprobe::attack::db::rules::RULES.len());
    assert!(
        checks.iter().all(|c| c["status"] == "passed"),
        "{checks:#?}"
    );
    // The matrix: every tenant table was read, nothing leaked.
    let rows = report["coverage"]["rows"].as_array().unwrap();
    let projects = rows
        .iter()
        .find(|r| r["object"] == "public.projects")
        .unwrap_or_else(|| panic!("{rows:#?}"));
    assert_eq!(projects["kind"], "relation");
    assert!(projects["cells"]["read"]["attempts"].as_u64().unwrap() > 0);
    for row in rows {
        for (column, cell) in row["cells"].as_object().unwrap() {
            assert_eq!(cell["leaks"], 0, "{column} on {}", row["object"]);
        }
    }

    // And the same command on a leaking schema marks the leaking cell.
    let db = faulty_db().await;
    let (code, report, _) = attack_db_report(&db.admin_url(), "16");
    assert_eq!(code, 1, "{report}");
    let leaked: Vec<String> = report["coverage"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["cells"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, c)| c["leaks"].as_u64().unwrap() > 0)
                .map(|(col, _)| format!("{} {col}", r["object"].as_str().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        leaked.iter().any(|c| c.starts_with("public.tasks ")),
        "{leaked:?}"
    );
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["rule"] == "cross-tenant-read" && c["status"] == "failed")
    );
}

/// Renders `html` in headless Chromium: the screenshot (PNG bytes) and the DOM after load.
fn chromium(chromium: &Path, html: &Path) -> (Vec<u8>, String) {
    let work = tempfile::tempdir().unwrap();
    let png = work.path().join("shot.png");
    let flags = |profile: &str| -> Vec<String> {
        vec![
            "--headless".into(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--hide-scrollbars".into(),
            format!("--user-data-dir={}", work.path().join(profile).display()),
        ]
    };
    let url = format!("file://{}", html.display());
    let shot = Command::new(chromium)
        .args(flags("a"))
        .args([
            "--window-size=1280,900".to_owned(),
            format!("--screenshot={}", png.display()),
            url.clone(),
        ])
        .output()
        .unwrap();
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let dom = Command::new(chromium)
        .args(flags("b"))
        .args(["--dump-dom".to_owned(), url])
        .output()
        .unwrap();
    (
        std::fs::read(&png).unwrap(),
        String::from_utf8_lossy(&dom.stdout).into_owned(),
    )
}

/// Width, height and how many distinct colours a PNG has (a blank page has one).
fn png_facts(bytes: &[u8]) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> =
        buf[..info.buffer_size()].chunks(channels).collect();
    (info.width, info.height, colours.len())
}

#[tokio::test]
#[cfg_attr(not(has_chromium), ignore = "needs chromium: apt-get install chromium")]
async fn the_html_report_renders_in_headless_chromium() {
    let browser = tenantprobe_testkit::servers::find_program("chromium")
        .expect("chromium is missing: apt-get install chromium");
    let spec = repo_path("probes/reference-app.toml");
    let out = tempfile::tempdir().unwrap();
    let render = |url: String, name: &str, cases: &str| {
        let html = out.path().join(name);
        let env = [("TENANTPROBE_DATABASE_URL", url)];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, _, stderr) = run_in(
            &std::env::temp_dir(),
            &[
                "attack",
                "db",
                "--target",
                &spec,
                "--cases",
                cases,
                "--seed",
                "7",
                "--format",
                "html",
                "-o",
                html.to_str().unwrap(),
            ],
            &env,
        );
        assert!(code == 0 || code == 1, "{stderr}");
        let text = std::fs::read_to_string(&html).unwrap();
        // Self-contained: nothing to fetch.
        for external in ["http://", "https://", "<script", "<link", "@import", "src="] {
            assert!(!text.contains(external), "{external} in the page");
        }
        (code, chromium(&browser, &html))
    };

    let faulty = faulty_db().await;
    let (code, (png, dom)) = render(faulty.admin_url(), "leaking.html", "16");
    assert_eq!(code, 1);
    let (w, h, colours) = png_facts(&png);
    assert_eq!((w, h), (1280, 900));
    assert!(colours > 8, "the screenshot is blank ({colours} colours)");
    assert!(
        png.len() > 10_000 && png.len() < 2_000_000,
        "{} bytes",
        png.len()
    );
    for text in [
        "Isolation matrix",
        "active finding(s)",
        "cross-tenant-read",
        "public.tasks",
        "Reproducer:",
        "class=\"leaked\"",
        "class=\"passed\"",
        "fingerprint",
    ] {
        assert!(dom.contains(text), "{text} missing from the rendered page");
    }
    if let Ok(path) = std::env::var("TENANTPROBE_SAVE_SCREENSHOT") {
        std::fs::write(path, &png).unwrap();
    }

    let clean = support::reference_db().await;
    let (code, (png, dom)) = render(clean.admin_url(), "clean.html", "6");
    assert_eq!(code, 0);
    assert!(png_facts(&png).2 > 8);
    assert!(dom.contains("No active findings"), "clean verdict missing");
    assert!(dom.contains(">0 leaked<"), "a clean run has no leaked cell");
    assert!(!dom.contains("class=\"leaked\""));
}

#[tokio::test]
async fn markdown_summarises_for_a_pull_request() {
    let db = faulty_db().await;
    let url = db.admin_url();
    let (code, md, _) = run_in(&std::env::temp_dir(), &audit_args(&url, "markdown"), &[]);
    assert_eq!(code, 1);
    assert!(md.starts_with("## tenantprobe audit"), "{md}");
    assert!(md.contains("❌"), "{md}");
    assert!(md.contains("| `rls-disabled` | ❌ failed |"), "{md}");
    assert!(md.contains("- **critical** `rls-disabled` on `public.projects`"));

    let clean = support::reference_db().await;
    let spec = repo_path("probes/reference-app.toml");
    let env = [("TENANTPROBE_DATABASE_URL", clean.admin_url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, md, _) = run_in(
        &std::env::temp_dir(),
        &["audit", "--target", &spec, "--format", "markdown"],
        &env,
    );
    assert_eq!(code, 0);
    assert!(md.contains("✅ no active findings"), "{md}");
    assert!(!md.contains("### Findings"), "{md}");
}

#[tokio::test]
async fn human_output_off_a_terminal_is_plain_wrapped_and_ready_to_waive() {
    let db = faulty_db().await;
    let url = db.admin_url();
    let mut args = audit_args(&url, "human");
    args.push("-v");
    // Not a terminal (pipes), NO_COLOR unset: still no ANSI anywhere.
    let (code, stdout, stderr) = run_in(&std::env::temp_dir(), &args, &[]);
    assert_eq!(code, 1);
    assert!(!stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'));
    assert!(stderr.contains("INFO"), "-v shows info logs: {stderr}");
    for line in stdout.lines().filter(|l| !l.contains('│')) {
        assert!(line.chars().count() <= 100, "unwrapped: {line}");
    }
    let json: Value =
        serde_json::from_str(&run_in(&std::env::temp_dir(), &audit_args(&url, "json"), &[]).1)
            .unwrap();
    for f in json["findings"].as_array().unwrap() {
        let fp = f["fingerprint"].as_str().unwrap();
        assert!(
            stdout.contains(&format!("│ fingerprint = \"{fp}\"")),
            "no waiver for {fp}"
        );
    }

    // RUST_LOG is honoured; -q silences everything but errors.
    let (_, _, debug) = run_in(
        &std::env::temp_dir(),
        &audit_args(&url, "json"),
        &[("RUST_LOG", "debug")],
    );
    assert!(debug.contains("DEBUG"), "RUST_LOG=debug: {debug}");
    let mut quiet = audit_args(&url, "json");
    quiet.push("-q");
    let (_, _, silent) = run_in(&std::env::temp_dir(), &quiet, &[]);
    assert!(
        !silent.contains("INFO") && !silent.contains("WARN"),
        "{silent}"
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_definition() {
    let dir = std::env::temp_dir();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, script, stderr) = run_in(&dir, &["completions", shell], &[]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            script.contains("tenantprobe") && script.contains("attack"),
            "{shell}"
        );
    }
    let (code, _, _) = run_in(&dir, &["completions", "tcsh"], &[]);
    assert_eq!(code, 2, "an unknown shell is a usage error");
    let (code, man, _) = run_in(&dir, &["man"], &[]);
    assert_eq!(code, 0);
    assert!(
        man.starts_with(".ie") || man.contains(".TH tenantprobe"),
        "{man}"
    );
    assert!(
        man.contains("audit") && man.contains("\\-\\-quiet"),
        "{man}"
    );
}

/// The progress bar's shrinking message depends on this hook: it fires while a failing case is
/// shrunk, and never on a clean run.
#[tokio::test]
async fn the_attack_reports_shrinking_so_progress_never_freezes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tenantprobe::attack::db::{self, AttackConfig, ProgressHook};
    async fn run(db: &support::TestDb, cases: u32) -> (u64, u64) {
        let (done, shrunk) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (d, s) = (Arc::clone(&done), Arc::clone(&shrunk));
        let mut config = AttackConfig::new(cases, 7);
        config.run.on_case = Some(ProgressHook(Arc::new(move || {
            d.fetch_add(1, Ordering::Relaxed);
        })));
        config.run.on_shrink = Some(ProgressHook(Arc::new(move || {
            s.fetch_add(1, Ordering::Relaxed);
        })));
        let tenancy = tenantprobe::tenancy::Tenancy::reference();
        db::attack(&db.admin_options(), &tenancy, &config)
            .await
            .unwrap();
        (done.load(Ordering::Relaxed), shrunk.load(Ordering::Relaxed))
    }
    let (cases, shrinks) = run(&faulty_db().await, 16).await;
    assert!(
        cases > 0 && shrinks > 0,
        "{cases} cases, {shrinks} shrink steps"
    );
    // The reference schema's only leak is the waived slug function, which the attack still
    // finds (waivers apply in reports), so a clean-schema check needs the function gone.
    let clean = support::reference_db().await;
    let mut owner = clean.connect_as_owner().await.unwrap();
    sqlx::raw_sql("REVOKE EXECUTE ON FUNCTION tenant_id_for_slug(text) FROM app_user")
        .execute(&mut owner)
        .await
        .unwrap();
    let (cases, shrinks) = run(&clean, 6).await;
    assert_eq!((cases, shrinks), (6, 0));
}
