//! `attack db` against real PostgreSQL: the reference schema yields nothing but the waived slug
//! function (several seeds, default and 10× cases); each schema fault in `tests/faults/` is found,
//! with a reproducer that runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};
use tenantprobe::attack::db::{self, AttackConfig, AttackOutcome};
use tenantprobe::finding::Finding;
use tenantprobe::tenancy::Tenancy;

async fn attack(db: &support::TestDb, app_role: &str, cases: u32, seed: u64) -> AttackOutcome {
    let tenancy = Tenancy {
        app_role: app_role.to_owned(),
        ..Tenancy::reference()
    };
    let config = AttackConfig {
        // Each test's database is its own: TRUNCATE may really be tried (capped at a 50 ms lock
        // wait). `tests/attack_db_safety.rs` covers the catalog judgement used elsewhere.
        own_server: true,
        ..AttackConfig::new(cases, seed)
    };
    db::attack(&db.admin_options(), &tenancy, &config)
        .await
        .unwrap()
}

fn active_after_reference_waivers(mut findings: Vec<Finding>) -> Vec<Finding> {
    tenantprobe::report::apply_waivers(&mut findings, &support::reference_spec().waivers);
    findings.into_iter().filter(Finding::is_active).collect()
}

#[tokio::test]
async fn the_reference_schema_yields_nothing_but_the_waived_slug_function() {
    let db = support::reference_db().await;
    for seed in [1, 2, 3] {
        let outcome = attack(&db, "app_user", 128, seed).await;
        assert!(
            outcome.attempts > 1000,
            "seed {seed}: only {} attempts",
            outcome.attempts
        );
        let active = active_after_reference_waivers(outcome.findings);
        assert!(active.is_empty(), "seed {seed}: {active:#?}");
        // Every table was seeded and every property ran somewhere.
        assert!(
            outcome.coverage.gaps.is_empty(),
            "{:?}",
            outcome.coverage.gaps
        );
        let properties: std::collections::HashSet<_> =
            outcome.coverage.cells.keys().map(|(_, p)| *p).collect();
        assert_eq!(
            properties.len(),
            db::Property::ALL.len(),
            "untested properties: {:?}",
            db::Property::ALL
                .iter()
                .filter(|p| !properties.contains(p))
                .collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn the_reference_schema_stays_clean_at_ten_times_the_cases() {
    let db = support::reference_db().await;
    for seed in [11, 12] {
        let outcome = attack(&db, "app_user", 1280, seed).await;
        let active = active_after_reference_waivers(outcome.findings);
        assert!(active.is_empty(), "seed {seed}: {active:#?}");
    }
}

/// Applies `tests/faults/<name>.sql` (`{app}` → `app_role`) as the administrator.
async fn faulty_db(name: &str, app_role: &str) -> support::TestDb {
    let db = support::reference_db().await;
    let sql = std::fs::read_to_string(support::repo_path(&format!("tests/faults/{name}.sql")))
        .unwrap()
        .replace("{app}", app_role);
    let mut admin = PgConnection::connect_with(&db.admin_options())
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    db
}

/// The fault is reported as `rule` on `object`, with a reproducer script.
async fn assert_caught(name: &str, rule: &str, object: &str) -> Finding {
    assert_caught_as(name, "app_user", rule, object).await
}

async fn assert_caught_as(name: &str, app_role: &str, rule: &str, object: &str) -> Finding {
    let db = faulty_db(name, app_role).await;
    let outcome = attack(&db, app_role, 128, 7).await;
    let found = support::expect_finding(&outcome.findings, rule, object, name);
    let evidence = found.evidence.as_deref().unwrap();
    assert!(
        evidence.contains("BEGIN;")
            && evidence.contains("SET LOCAL ROLE")
            && evidence.trim_end().ends_with("ROLLBACK;"),
        "{evidence}"
    );
    found.clone()
}

#[tokio::test]
async fn catches_rls_disabled_with_a_reproducer_that_shows_the_leak() {
    let found = assert_caught("rls_disabled", "cross-tenant-read", "public.projects").await;
    // Run the reproducer on a fresh faulty database: its attack statement returns the other
    // tenant's rows.
    let db = faulty_db("rls_disabled", "app_user").await;
    let script = found.evidence.unwrap();
    let tenants: Vec<String> = script
        .lines()
        .nth(1)
        .unwrap()
        .split(" = ")
        .skip(1)
        .map(|s| s.split(',').next().unwrap().to_owned())
        .collect();
    let without_rollback = script.trim_end().trim_end_matches("ROLLBACK;");
    let mut admin = PgConnection::connect_with(&db.admin_options())
        .await
        .unwrap();
    let rows = sqlx::raw_sql(AssertSqlSafe(without_rollback.to_owned()))
        .fetch_all(&mut admin)
        .await
        .unwrap();
    let results: Vec<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .filter(|t| t.starts_with('{'))
        .collect();
    let foreign = results.iter().any(|row| {
        tenants.iter().skip(1).any(|t| row.contains(t.as_str()))
            || !row.contains(tenants[0].as_str())
    });
    assert!(
        foreign,
        "the reproducer did not show another tenant's row: {results:?} ({} rows in all)\n{script}",
        rows.len()
    );
    sqlx::raw_sql("ROLLBACK").execute(&mut admin).await.unwrap();
}

/// One test per fault (named tests that run in parallel), each caught as `rule` on `object`.
macro_rules! each_fault_caught_as {
    ($($test:ident: $fault:literal, $rule:literal, $object:literal;)*) => {$(
        #[tokio::test]
        async fn $test() {
            assert_caught($fault, $rule, $object).await;
        }
    )*};
}

each_fault_caught_as! {
    catches_rls_not_forced_while_the_app_role_owns_the_table: "not_forced_app_owner", "cross-tenant-read", "public.projects";
    catches_a_permissive_always_true_policy: "permissive_true", "cross-tenant-read", "public.tasks";
    catches_a_view_without_security_invoker: "view_definer", "cross-tenant-read", "public.task_titles";
    catches_a_security_definer_function: "security_definer", "cross-tenant-read", "public.project_names(uuid)";
    catches_truncate_granted: "truncate_granted", "truncate-allowed", "public.tasks";
    catches_a_unique_key_without_the_tenant_column: "unique_without_tenant", "unique-key-existence-oracle", "public.projects";
    catches_an_insert_policy_without_a_tenant_check: "insert_no_check", "cross-tenant-insert", "public.projects";
    catches_an_update_policy_that_lets_rows_move: "update_moves", "row-moved-to-other-tenant", "public.projects";
}

#[tokio::test]
async fn catches_a_policy_that_fails_open_without_a_tenant() {
    let found = assert_caught("fail_open", "no-tenant-read", "public.projects").await;
    assert!(
        found.detail.contains("unset") || found.detail.contains("empty"),
        "{}",
        found.detail
    );
}

#[tokio::test]
async fn catches_a_partition_without_rls() {
    let db = faulty_db("partition_no_rls", "app_user").await;
    let outcome = attack(&db, "app_user", 128, 7).await;
    let caught: Vec<&str> = outcome
        .findings
        .iter()
        .filter(|f| f.rule == "cross-tenant-read")
        .map(|f| f.object.as_str())
        .collect();
    assert!(
        caught
            .iter()
            .any(|o| o.starts_with("public.audit_events_p")),
        "{caught:?}"
    );
}

#[tokio::test]
async fn catches_a_foreign_key_without_the_tenant_column() {
    let found = assert_caught(
        "fk_without_tenant",
        "foreign-key-existence-oracle",
        "public.tasks",
    )
    .await;
    assert!(found.detail.contains("now references"), "{}", found.detail);
}

#[tokio::test]
async fn catches_bypassrls_on_the_app_role() {
    let role = support::unique_name("tp_bypass");
    let found = assert_caught_as("bypassrls", &role, "cross-tenant-read", "public.projects").await;
    assert!(found.evidence.unwrap().contains(&role));
    // Roles are cluster-wide: leave none behind on a shared server.
    support::run_sql_on_server(&format!("DROP ROLE IF EXISTS {role}")).await;
}

#[tokio::test]
async fn read_only_mode_writes_nothing_and_still_finds_a_table_without_rls() {
    let db = faulty_db("rls_disabled", "app_user").await;
    support::provision_tenants(&db, ["acme", "globex"]).await;
    let count = |sql: &'static str| {
        let options = db.admin_options();
        async move {
            let mut c = PgConnection::connect_with(&options).await.unwrap();
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
    };
    let before = count("SELECT (SELECT count(*) FROM projects) + (SELECT count(*) FROM tasks) + (SELECT count(*) FROM tenants)").await;
    let tenancy = Tenancy::reference();
    let config = AttackConfig {
        read_only: true,
        ..AttackConfig::new(64, 3)
    };
    let outcome = db::attack(&db.admin_options(), &tenancy, &config)
        .await
        .unwrap();
    support::assert_found(
        &outcome.findings,
        "cross-tenant-read",
        Some("public.projects"),
    );
    let writes: Vec<_> = outcome
        .coverage
        .cells
        .keys()
        .filter(|(_, p)| {
            matches!(
                p,
                db::Property::Update
                    | db::Property::Delete
                    | db::Property::Insert
                    | db::Property::Move
                    | db::Property::Truncate
                    | db::Property::ForeignKey
                    | db::Property::Unique
            )
        })
        .collect();
    assert!(
        writes.is_empty(),
        "read-only mode attempted writes: {writes:?}"
    );
    assert_eq!(count("SELECT (SELECT count(*) FROM projects) + (SELECT count(*) FROM tasks) + (SELECT count(*) FROM tenants)").await, before);
}

#[tokio::test]
async fn an_app_role_the_observer_cannot_become_is_a_clear_error() {
    let db = support::reference_db().await;
    let role = support::unique_name("tp_observer");
    support::run_sql_on_server(&format!("CREATE ROLE {role} LOGIN")).await;
    let observer = db.options_as(&role);
    let err = db::attack(&observer, &Tenancy::reference(), &AttackConfig::new(1, 0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be assumed"), "{err}");
    support::run_sql_on_server(&format!("DROP ROLE {role}")).await;
}

#[tokio::test]
async fn the_documented_command_line_reports_in_json_and_gates_on_findings() {
    let db = faulty_db("permissive_true", "app_user").await;
    let url = db.admin_url();
    let (code, stdout, stderr) = support::tenantprobe(
        &support::commands::documented_db_command(
            &["attack", "db"],
            &url,
            &["--seed", "5", "--cases", "32"],
        ),
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    support::assert_valid_json("schemas/report.schema.json", &report);
    let read = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "cross-tenant-read" && f["object"] == "public.tasks")
        .unwrap();
    assert!(
        read["evidence"]
            .as_str()
            .unwrap()
            .contains("SET LOCAL ROLE \"app_user\"")
    );

    // The reference schema through its spec: the one known finding is waived, the run passes.
    let clean = support::reference_db().await;
    let env = [("TENANTPROBE_DATABASE_URL", clean.admin_url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, stdout, stderr) = support::tenantprobe(
        &[
            "attack",
            "db",
            "--target",
            &support::repo_path("probes/reference-app.toml"),
            "--seed",
            "5",
            "--cases",
            "32",
            "--fail-on",
            "info",
        ],
        &env,
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("coverage"), "{stdout}");
}
