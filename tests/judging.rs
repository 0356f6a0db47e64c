//! Judging without false alarms, on `tests/ledger/` (a schema in another style than the reference:
//! its own schema and tenant column, per-command and restrictive policies, server-filled keys,
//! extensions installed): the correct schema yields nothing at medium or above from `audit` and
//! `attack db` over several seeds; each fault in `tests/ledger/faults/` is found by both, as one
//! cause with one fingerprint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tenantprobe::attack::db::{self, AttackConfig, AttackOutcome, Property};
use tenantprobe::finding::{Finding, Severity};
use tenantprobe::sql::QualifiedName;
use tenantprobe::tenancy::Tenancy;

/// A fresh database with the ledger schema, `faults` applied on top, and its own app role.
async fn ledger_db(faults: &[&str]) -> (support::TestDb, Tenancy) {
    let db = support::empty_db().await;
    let role = support::unique_name("ledger_web");
    let mut sql = format!("CREATE ROLE {role} LOGIN;\n");
    sql.push_str(&std::fs::read_to_string(support::repo_path("tests/ledger/schema.sql")).unwrap());
    for fault in faults {
        sql.push_str(
            &std::fs::read_to_string(support::repo_path(&format!(
                "tests/ledger/faults/{fault}.sql"
            )))
            .unwrap(),
        );
    }
    let mut admin = PgConnection::connect_with(&db.admin_options())
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql.replace("{app}", &role)))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("ledger {faults:?}: {e}"));
    let tenancy = Tenancy {
        tenant_column: "org_id".into(),
        tenant_setting: "ledger.org".into(),
        app_role: role,
        tenants_table: Some(QualifiedName::new("ledger", "orgs")),
        schemas: vec!["ledger".into()],
    };
    (db, tenancy)
}

async fn audit(db: &support::TestDb, tenancy: &Tenancy) -> Vec<Finding> {
    let mut conn = PgConnection::connect_with(&db.admin_options())
        .await
        .unwrap();
    tenantprobe::audit::audit(&mut conn, tenancy)
        .await
        .unwrap()
        .findings
}

/// As the CLI runs it: findings tied to the audit of the same snapshot.
async fn attack(db: &support::TestDb, tenancy: &Tenancy, seed: u64) -> AttackOutcome {
    let config = AttackConfig {
        own_server: true,
        explain: Some(tenantprobe::audit::findings),
        ..AttackConfig::new(128, seed)
    };
    db::attack(&db.admin_options(), tenancy, &config)
        .await
        .unwrap()
}

fn medium_or_above(findings: &[Finding]) -> Vec<(&str, &str, Severity)> {
    findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium)
        .map(|f| (f.rule.as_str(), f.object.as_str(), f.severity))
        .collect()
}

fn only<'f>(findings: &'f [Finding], rule: &str, object: &str) -> &'f Finding {
    let found: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.rule == rule && f.object == object)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one `{rule}` on `{object}` expected in {:#?}",
        findings
            .iter()
            .map(|f| (&f.rule, &f.object, f.severity))
            .collect::<Vec<_>>()
    );
    found[0]
}

/// `found` (from `attack db`) is the audit's `reason` confirmed at `severity`: one cause, so the
/// same fingerprint, with the reason's rule as its cause.
fn assert_confirms(found: &Finding, reason: &Finding, severity: Severity) {
    assert_eq!(found.severity, severity, "{found:#?}");
    assert_eq!(found.fingerprint, reason.fingerprint, "{found:#?}");
    assert_eq!(
        found.cause.as_deref(),
        Some(reason.rule.as_str()),
        "{found:#?}"
    );
}

/// The one `rule` finding of `attack db` on the object of the audit's `reason`, which it confirms
/// at `severity`.
fn confirmation<'f>(
    findings: &'f [Finding],
    rule: &str,
    reason: &Finding,
    severity: Severity,
) -> &'f Finding {
    let found = only(findings, rule, &reason.object);
    assert_confirms(found, reason, severity);
    found
}

#[tokio::test]
async fn the_correct_ledger_schema_yields_nothing_at_medium_or_above_over_several_seeds() {
    let (db, tenancy) = ledger_db(&[]).await;
    let audited = audit(&db, &tenancy).await;
    assert!(
        medium_or_above(&audited).is_empty(),
        "{:#?}",
        medium_or_above(&audited)
    );
    for seed in [1, 2, 3] {
        let outcome = attack(&db, &tenancy, seed).await;
        assert!(
            outcome.attempts > 1000,
            "seed {seed}: only {} attempts",
            outcome.attempts
        );
        assert!(
            medium_or_above(&outcome.findings).is_empty(),
            "seed {seed}: {:#?}",
            outcome.findings
        );
        // The echoing functions were called (and judged), not skipped.
        for echo in ["ledger.label(text, text)", "ledger.normalize_email(text)"] {
            let calls = outcome
                .coverage
                .cells
                .get(&(echo.to_owned(), Property::Call))
                .map_or(0, |(n, _)| *n);
            assert!(calls > 0, "seed {seed}: `{echo}` was not called");
        }
        // Extension-owned objects are library code, and the coverage says so.
        let table = outcome.coverage.table().join("\n");
        assert!(
            table.contains(
                "ledger.org_search_cache: not attacked: library relation of the extension `pg_trgm`"
            ),
            "{table}"
        );
        assert!(
            table.contains("library code of the extension `pgcrypto`"),
            "{table}"
        );
    }
}

#[tokio::test]
async fn a_definer_lookup_returning_an_email_the_caller_did_not_pass_is_a_leak_with_its_catalog_reason()
 {
    let (db, tenancy) = ledger_db(&["definer_lookup"]).await;
    let audited = audit(&db, &tenancy).await;
    let reason = only(
        &audited,
        "security-definer-executable",
        "ledger.member_email(uuid)",
    );
    let outcome = attack(&db, &tenancy, 7).await;
    let leak = confirmation(
        &outcome.findings,
        "cross-tenant-read",
        reason,
        Severity::Critical,
    );
    assert!(
        leak.detail
            .contains("Catalog reason (`security-definer-executable`)"),
        "{}",
        leak.detail
    );
    assert!(leak.evidence.as_deref().unwrap().contains("member_email"));
    // The echoing functions next to it stay silent.
    assert!(
        !outcome
            .findings
            .iter()
            .any(|f| f.object.starts_with("ledger.label") || f.object.contains("normalize_email")),
        "{:#?}",
        outcome.findings
    );
}

#[tokio::test]
async fn a_global_email_key_is_one_cause_medium_in_the_audit_and_high_once_attack_db_confirms_it() {
    let (db, tenancy) = ledger_db(&["global_email"]).await;
    let audited = audit(&db, &tenancy).await;
    let reason = only(&audited, "unique-without-tenant", "ledger.members");
    assert_eq!(reason.severity, Severity::Medium);
    assert!(reason.detail.contains("`members_email_global`"));
    let mut outcome = attack(&db, &tenancy, 7).await;
    confirmation(
        &outcome.findings,
        "unique-key-existence-oracle",
        reason,
        Severity::High,
    );
    // The server-filled keys (random uuid, identity ALWAYS) were not reported.
    assert_eq!(
        medium_or_above(&outcome.findings),
        [(
            "unique-key-existence-oracle",
            "ledger.members",
            Severity::High
        )]
    );
    // A baseline made from the audit's report accepts the attack's finding: one cause.
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("audit.json");
    std::fs::write(
        &baseline,
        serde_json::json!({ "findings": audited }).to_string(),
    )
    .unwrap();
    let matched = tenantprobe::report::apply_baseline(&mut outcome.findings, &baseline).unwrap();
    assert_eq!(matched, 1);
    assert!(outcome.findings.iter().all(|f| !f.is_active()));
}

#[tokio::test]
async fn a_readable_tenants_directory_is_one_medium_finding_not_three_criticals() {
    let (db, tenancy) = ledger_db(&["open_directory"]).await;
    let audited = audit(&db, &tenancy).await;
    let directory = only(&audited, "tenant-directory-readable", "ledger.orgs");
    assert_eq!(directory.severity, Severity::Medium);
    assert!(
        directory.remediation.contains("SECURITY DEFINER"),
        "{}",
        directory.remediation
    );
    let outcome = attack(&db, &tenancy, 7).await;
    let on_orgs: Vec<&Finding> = outcome
        .findings
        .iter()
        .filter(|f| f.object == "ledger.orgs")
        .collect();
    assert!(!on_orgs.is_empty(), "attack db did not read the directory");
    for f in &on_orgs {
        assert_confirms(f, directory, Severity::Medium);
    }
    // Audit and attack in one report: one finding, the attack's (it has the reproducer).
    let mut all: Vec<Finding> = audited.into_iter().chain(outcome.findings).collect();
    tenantprobe::report::collapse_duplicates(&mut all);
    let left: Vec<(&str, &str, Severity)> = medium_or_above(&all);
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left[0].1, "ledger.orgs");
    assert!(all.iter().all(|f| f.severity < Severity::High), "{all:#?}");
}
