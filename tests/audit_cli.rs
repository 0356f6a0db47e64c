//! `tenantprobe audit` as CI and reviewers run it: the reference schema is clean but for the waived
//! slug function; every output format is valid; `--baseline` fails only on new findings; exit codes
//! mean what README says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::{assert_valid_json, repo_path, tenantprobe};

/// A schema with several mistakes, applied on top of the reference migrations as the owner.
const BROKEN: &str = "
    ALTER TABLE projects DISABLE ROW LEVEL SECURITY;
    CREATE POLICY open_read ON tasks FOR SELECT USING (true);
    CREATE VIEW all_titles AS SELECT title FROM tasks;
    GRANT SELECT ON all_titles TO app_user;";

async fn broken_db() -> support::TestDb {
    let db = support::reference_db().await;
    let mut owner = db.connect_as_owner().await.unwrap();
    sqlx::raw_sql(BROKEN).execute(&mut owner).await.unwrap();
    db
}

fn audit_json(url: &str, extra: &[&str]) -> (i32, Value) {
    let flags = ["--tenants-table", "public.tenants", "--format", "json"];
    let args = support::db_command(&["audit"], url, &[&flags[..], extra].concat());
    let (code, stdout, stderr) = tenantprobe(&args, &[]);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (code, json)
}

#[tokio::test]
async fn the_reference_schema_audits_clean_with_the_slug_function_waived() {
    let db = support::reference_db().await;
    let env = [("TENANTPROBE_DATABASE_URL", db.admin_url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let spec = repo_path("probes/reference-app.toml");
    let (code, stdout, stderr) =
        tenantprobe(&["audit", "--target", &spec, "--format", "json"], &env);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_valid_json("schemas/report.schema.json", &report);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["rule"], "security-definer-executable");
    assert_eq!(findings[0]["object"], "public.tenant_id_for_slug(text)");
    assert!(
        findings[0]["waived"]
            .as_str()
            .unwrap()
            .contains("before any tenant is set")
    );
    assert_eq!(report["summary"]["active"], 0);

    let (code, human, _) = tenantprobe(&["audit", "--target", &spec, "--fail-on", "info"], &env);
    assert_eq!(code, 0, "nothing active, not even at info: {human}");
    assert!(
        human.contains("waived: Resolving a subdomain slug"),
        "{human}"
    );
    assert!(human.contains("no active findings"), "{human}");
}

#[tokio::test]
async fn the_documented_command_line_works_without_a_spec() {
    let db = support::reference_db().await;
    let url = db.admin_url();
    let (code, stdout, stderr) = tenantprobe(
        &support::commands::documented_db_command(&["audit"], &url, &[]),
        &[],
    );
    let report: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}\n{stdout}\n{stderr}"));
    assert_valid_json("schemas/report.schema.json", &report);
    // Without the spec's waiver the definer function is the one (high) finding; nothing else at
    // medium or above.
    assert_eq!(code, 1);
    let at_least_medium: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| ["critical", "high", "medium"].contains(&f["severity"].as_str().unwrap()))
        .collect();
    assert_eq!(at_least_medium.len(), 1, "{at_least_medium:#?}");
    assert!(
        !report["target"].as_str().unwrap().contains("postgres@"),
        "the target names the database, not credentials"
    );
}

#[tokio::test]
async fn a_broken_schema_is_reported_in_every_format() {
    let db = broken_db().await;
    let url = db.admin_url();
    let (code, report) = audit_json(&url, &[]);
    assert_eq!(code, 1);
    assert_valid_json("schemas/report.schema.json", &report);
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    for expected in [
        "rls-disabled",
        "policy-always-true",
        "view-without-security-invoker",
    ] {
        assert!(
            rules.contains(&expected),
            "{expected} missing from {rules:?}"
        );
    }

    let (_, sarif, _) = tenantprobe(
        &support::db_command(&["audit"], &url, &["--format", "sarif"]),
        &[],
    );
    let sarif: Value = serde_json::from_str(&sarif).unwrap();
    assert_valid_json("tests/schemas/sarif-2.1.0-rtm.5.json", &sarif);
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        report["findings"].as_array().unwrap().len()
    );

    let (_, junit, _) = tenantprobe(
        &support::db_command(&["audit"], &url, &["--format", "junit"]),
        &[],
    );
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let cases: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), tenantprobe::audit::rules::RULES.len());
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .map(|c| c.attribute("name").unwrap())
        .collect();
    assert!(
        failed.contains(&"rls-disabled") && failed.contains(&"policy-always-true"),
        "{failed:?}"
    );

    let (_, github, _) = tenantprobe(
        &support::db_command(&["audit"], &url, &["--format", "github"]),
        &[],
    );
    assert!(
        github
            .lines()
            // Run from the repository root, `migrations/` gives the table's file and line.
            .any(
                |l| l.starts_with("::error file=migrations/0001_reference_schema.sql,line=")
                    && l.contains(",title=critical [rls-disabled] public.projects::")
            ),
        "{github}"
    );
}

#[tokio::test]
async fn a_baseline_fails_only_on_new_findings() {
    let db = broken_db().await;
    let url = db.admin_url();
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    let (code, _, _) = tenantprobe(
        &support::db_command(
            &["audit"],
            &url,
            &["--format", "json", "-o", baseline.to_str().unwrap()],
        ),
        &[],
    );
    assert_eq!(code, 1);
    let (code, report) = audit_json(&url, &["--baseline", baseline.to_str().unwrap()]);
    assert_eq!(code, 0, "everything is known: {report}");
    assert_eq!(report["summary"]["active"], 0);

    let mut owner = db.connect_as_owner().await.unwrap();
    sqlx::raw_sql("GRANT TRUNCATE ON tasks TO app_user")
        .execute(&mut owner)
        .await
        .unwrap();
    let (code, report) = audit_json(&url, &["--baseline", baseline.to_str().unwrap()]);
    assert_eq!(code, 1);
    let active: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("in_baseline").is_none())
        .collect();
    assert_eq!(active.len(), 1, "{active:#?}");
    assert_eq!(active[0]["rule"], "app-role-dangerous-privilege");
}

#[tokio::test]
async fn exit_codes_tell_findings_usage_errors_and_unreachable_targets_apart() {
    let db = support::reference_db().await;
    let url = db.admin_url();
    let (code, _, stderr) = tenantprobe(
        &support::db_command(&["audit"], "postgres://nobody@127.0.0.1:1/none", &[]),
        &[],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("cannot reach PostgreSQL"), "{stderr}");
    let (code, _, stderr) = tenantprobe(&["audit", "--database-url", &url], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no app role: pass --app-role"), "{stderr}");
    let (code, _, stderr) = tenantprobe(
        &[
            "audit",
            "--database-url",
            &url,
            "--app-role",
            "no_such_role",
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("role `no_such_role` does not exist"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad.toml");
    std::fs::write(
        &spec,
        "name = \"x\"\n[database]\napp_role = \"app_user\"\ntenant_col = \"t\"\n",
    )
    .unwrap();
    let (code, _, stderr) = tenantprobe(
        &[
            "audit",
            "--target",
            spec.to_str().unwrap(),
            "--database-url",
            &url,
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("bad.toml:4:1: unknown field `tenant_col`"),
        "{stderr}"
    );
    let (code, _, stderr) = tenantprobe(&["audit", "--fail-on", "urgent"], &[]);
    assert_eq!(code, 2, "{stderr}");
}
