//! `attack db`'s batched, prepared attempts against one attempt per round trip in literal SQL:
//! the same seed gives the same findings, and, where nothing was shrunk (proptest bounds shrinking
//! by wall time, so a shrunk case may differ), the same coverage cell for cell: on the reference
//! schema, on its faults, and on a schema in another style whose function deallocates every
//! prepared statement of the session (the attack then goes on in literal SQL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use sqlx::postgres::PgConnectOptions;
use tenantprobe::attack::db::{self, AttackConfig, AttackOutcome, Pipeline};
use tenantprobe::sql::QualifiedName;
use tenantprobe::tenancy::Tenancy;

async fn attack(
    options: &PgConnectOptions,
    tenancy: &Tenancy,
    seed: u64,
    pipeline: Pipeline,
) -> AttackOutcome {
    let config = AttackConfig {
        own_server: true,
        pipeline,
        ..AttackConfig::new(40, seed)
    };
    db::attack(options, tenancy, &config).await.unwrap()
}

fn findings(outcome: &AttackOutcome) -> BTreeSet<(String, String, String)> {
    outcome
        .findings
        .iter()
        .map(|f| {
            (
                f.rule.clone(),
                f.object.clone(),
                format!("{:?}", f.severity),
            )
        })
        .collect()
}

/// Both ways, with `seed`: asserts the same findings and, when neither run shrank (shrinking's
/// round trips depend on its time limit), the same cases, attempts and coverage, and that the
/// default way really batched (fewer round trips). Returns the default run.
async fn same_both_ways(
    name: &str,
    options: &PgConnectOptions,
    tenancy: &Tenancy,
    seed: u64,
) -> AttackOutcome {
    let batched = attack(options, tenancy, seed, Pipeline::default()).await;
    let single = attack(options, tenancy, seed, Pipeline::ONE_AT_A_TIME).await;
    assert!(
        batched.attempts > 200,
        "{name}: {} attempts",
        batched.attempts
    );
    assert_eq!(findings(&batched), findings(&single), "{name}");
    assert_eq!(batched.coverage.gaps, single.coverage.gaps, "{name}");
    if batched.timings.shrinking.is_zero() && single.timings.shrinking.is_zero() {
        assert_eq!(
            (batched.cases, batched.attempts),
            (single.cases, single.attempts),
            "{name}"
        );
        assert_eq!(batched.coverage.cells, single.coverage.cells, "{name}");
        assert!(
            // Refused writes end a batch early, so not 8× fewer; still clearly fewer.
            batched.timings.round_trips * 3 < single.timings.round_trips * 2,
            "{name}: {} round trips batched, {} one at a time",
            batched.timings.round_trips,
            single.timings.round_trips
        );
    }
    assert_eq!(
        (single.timings.prepared_hits, single.timings.prepared_new),
        (0, 0),
        "{name}"
    );
    batched
}

#[tokio::test]
async fn batched_prepared_attempts_judge_the_reference_schema_and_its_faults_as_one_at_a_time() {
    let tenancy = Tenancy::reference();
    let db = support::reference_db().await;
    // Without the waived slug function the reference schema is clean: nothing is shrunk.
    support::run_sql(
        &db.admin_options(),
        "REVOKE EXECUTE ON FUNCTION tenant_id_for_slug(text) FROM app_user",
    )
    .await;
    let clean = same_both_ways("reference", &db.admin_options(), &tenancy, 3).await;
    // Nothing to shrink on the correct schema: the coverage above was compared cell for cell.
    assert!(clean.timings.shrinking.is_zero(), "{:?}", clean.timings);
    // Prepared once per connection, then reused by most attempts.
    assert!(
        clean.timings.prepared_hits > 10 * clean.timings.prepared_new,
        "{:?}",
        clean.timings
    );
    for (fault, rule, object) in [
        (
            "unique_without_tenant",
            "unique-key-existence-oracle",
            "public.projects",
        ),
        (
            "update_moves",
            "row-moved-to-other-tenant",
            "public.projects",
        ),
    ] {
        let db = support::reference_db().await;
        let sql = std::fs::read_to_string(support::repo_path(&format!("tests/faults/{fault}.sql")))
            .unwrap()
            .replace("{app}", "app_user");
        support::run_sql(&db.admin_options(), &sql).await;
        let outcome = same_both_ways(fault, &db.admin_options(), &tenancy, 7).await;
        assert!(
            outcome
                .findings
                .iter()
                .any(|f| f.rule == rule && f.object == object),
            "{fault}: {:?}",
            findings(&outcome)
        );
    }
}

/// Another style: bigint tenant ids in `org_id`, the setting `app.org`, a role of its own,
/// per-command policies, a natural composite key, and a function that runs `DEALLOCATE ALL`.
const OTHER_STYLE: &str = r#"
CREATE TABLE orgs (org_id bigint PRIMARY KEY, label text NOT NULL);
CREATE TABLE docs (
    org_id bigint NOT NULL REFERENCES orgs (org_id),
    doc_no integer NOT NULL,
    title text NOT NULL,
    body text,
    PRIMARY KEY (org_id, doc_no)
);
CREATE TABLE notes (
    org_id bigint NOT NULL REFERENCES orgs (org_id),
    note_id uuid NOT NULL,
    txt text NOT NULL,
    PRIMARY KEY (org_id, note_id)
);
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY orgs_read ON orgs FOR SELECT
    USING (org_id = NULLIF(current_setting('app.org', true), '')::bigint);
CREATE POLICY docs_read ON docs FOR SELECT
    USING (org_id = NULLIF(current_setting('app.org', true), '')::bigint);
CREATE POLICY docs_add ON docs FOR INSERT
    WITH CHECK (org_id = NULLIF(current_setting('app.org', true), '')::bigint);
CREATE POLICY docs_change ON docs FOR UPDATE
    USING (org_id = NULLIF(current_setting('app.org', true), '')::bigint)
    WITH CHECK (org_id = NULLIF(current_setting('app.org', true), '')::bigint);
CREATE POLICY docs_remove ON docs FOR DELETE
    USING (org_id = NULLIF(current_setting('app.org', true), '')::bigint);
CREATE POLICY notes_own ON notes FOR ALL
    USING (org_id = NULLIF(current_setting('app.org', true), '')::bigint)
    WITH CHECK (org_id = NULLIF(current_setting('app.org', true), '')::bigint);
CREATE FUNCTION forget_statements() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'DEALLOCATE ALL';
    RETURN 0;
END $$;
GRANT SELECT ON orgs TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON docs, notes TO {role};
GRANT EXECUTE ON FUNCTION forget_statements() TO {role};
"#;

#[tokio::test]
async fn a_function_that_deallocates_every_statement_only_sends_the_attack_back_to_literal_sql() {
    let db = support::empty_db().await;
    let role = support::unique_name("svc");
    support::run_sql(
        &db.admin_options(),
        &format!(
            "CREATE ROLE {role} LOGIN; {}",
            OTHER_STYLE.replace("{role}", &role)
        ),
    )
    .await;
    let tenancy = Tenancy {
        tenant_column: "org_id".into(),
        tenant_setting: "app.org".into(),
        app_role: role.clone(),
        tenants_table: Some(QualifiedName::new("public", "orgs")),
        schemas: vec!["public".into()],
    };
    let outcome = same_both_ways("other style", &db.admin_options(), &tenancy, 5).await;
    assert!(
        outcome.timings.shrinking.is_zero(),
        "{:?}",
        outcome.findings
    );
    support::assert_attacked(
        &outcome.coverage,
        "public.forget_statements()",
        db::Property::Call,
    );
    // Statements were prepared, then deallocated by the function; the rest went as literal SQL.
    assert!(
        outcome.timings.prepared_new > 0 && outcome.timings.literal > 0,
        "{:?}",
        outcome.timings
    );
    // The fault: a policy that lets everyone read `notes`, found either way.
    support::run_sql(
        &db.admin_options(),
        "CREATE POLICY notes_peek ON notes FOR SELECT USING (true)",
    )
    .await;
    let outcome = same_both_ways(
        "other style, readable notes",
        &db.admin_options(),
        &tenancy,
        5,
    )
    .await;
    support::assert_found(&outcome.findings, "cross-tenant-read", Some("public.notes"));
    support::run_sql(
        &db.admin_options(),
        &format!("DROP OWNED BY {role}; DROP ROLE {role}"),
    )
    .await;
}
