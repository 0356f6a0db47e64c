//! One definition of tenant scope: on schemas written in other styles than the reference
//! (`tests/fixtures/crm`, `tests/fixtures/desk`), the relations the audit judges as tenant-keyed
//! and those the visibility sweep of `monitor` and `demo` probes are the same set, whether the
//! tenants table is named or left for inference. Before `crate::catalog::TenantScope`, the sweep
//! ran its own query, which knew a tenants table without the tenant column only when the spec
//! named it: on `desk` (workspaces keyed by `slug`, children carrying `account`) with the table
//! inferred, as in an ad hoc `audit --database-url … --app-role …`, the audit judged
//! `desk.workspaces` and the monitor never looked at it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use sqlx::{AssertSqlSafe, Connection};
use tenantprobe::audit::context::Context;
use tenantprobe::catalog::Catalog;
use tenantprobe::checks::visibility;
use tenantprobe::sql::{QualifiedName, quote_ident};
use tenantprobe::tenancy::Tenancy;

/// A fresh database with `tests/fixtures/{schema}/schema.sql` and its app role.
async fn fixture(schema: &str) -> (support::TestDb, String) {
    let db = support::empty_db().await;
    let role = support::unique_name(&format!("{schema}_scope"));
    let sql = std::fs::read_to_string(support::repo_path(&format!(
        "tests/fixtures/{schema}/schema.sql"
    )))
    .unwrap()
    .replace("{app}", &role);
    let mut admin = support::connect(&db.admin_options()).await;
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .unwrap();
    (db, role)
}

/// Drops the role the fixture created (roles are cluster-wide); the database goes with `db`.
async fn drop_fixture(db: support::TestDb, role: &str) {
    let mut admin = support::connect(&db.admin_options()).await;
    let role = quote_ident(role);
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP OWNED BY {role}; DROP ROLE {role}"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
}

/// (the audit's tenant-keyed relations, the visibility sweep's relations) under `tenancy`.
async fn both_views(
    db: &support::TestDb,
    tenancy: &Tenancy,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut conn = support::connect(&db.admin_options()).await;
    let catalog = Catalog::snapshot(&mut conn, tenancy).await.unwrap();
    let completed = catalog.complete(tenancy);
    let cx = Context::new(&catalog, &completed);
    let audit: BTreeSet<String> = catalog
        .relations
        .iter()
        .filter(|r| cx.tenant_key.contains_key(&r.oid))
        .map(|r| r.name.to_string())
        .collect();
    let swept: BTreeSet<String> = visibility::tenant_relations(&mut conn, tenancy)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name.to_string())
        .collect();
    (audit, swept)
}

fn tenancy(schema: &str, role: &str, column: &str, tenants: Option<&str>) -> Tenancy {
    Tenancy {
        tenant_column: column.into(),
        tenant_setting: format!("app.{schema}"),
        app_role: role.into(),
        tenants_table: tenants.map(|t| QualifiedName::new(schema, t)),
        schemas: vec![schema.into()],
    }
}

/// The relations both views find on `schema`'s fixture keyed by `column`, the tenants table left
/// for inference; fails unless they are the same.
async fn agreed_relations(schema: &str, column: &str) -> BTreeSet<String> {
    let (db, role) = fixture(schema).await;
    let (audit, swept) = both_views(&db, &tenancy(schema, &role, column, None)).await;
    drop_fixture(db, &role).await;
    assert_eq!(audit, swept, "{schema} keyed by `{column}`");
    swept
}

#[tokio::test]
async fn audit_and_monitor_agree_on_the_crm_tenant_relations_with_the_tenants_table_inferred() {
    let (db, role) = fixture("crm").await;
    for tenants in [None, Some("orgs")] {
        let (audit, swept) = both_views(&db, &tenancy("crm", &role, "org_id", tenants)).await;
        assert_eq!(audit, swept, "tenants table {tenants:?}");
        assert!(swept.contains("crm.orgs"), "{tenants:?}: {swept:?}");
        for table in ["crm.accounts", "crm.contacts", "crm.deals", "crm.events_h0"] {
            assert!(swept.contains(table), "{tenants:?}: {table} missing");
        }
    }
    drop_fixture(db, &role).await;
}

#[tokio::test]
async fn audit_and_monitor_agree_on_the_desk_tenant_relations_with_the_tenants_table_inferred() {
    let swept = agreed_relations("desk", "account").await;
    // The shape the two used to disagree on: a tenants table keyed by a column (`slug`) other
    // than the tenant column, found only by inference.
    assert!(swept.contains("desk.workspaces"), "{swept:?}");
    assert!(swept.contains("desk.messages_chat"), "{swept:?}");
}

#[tokio::test]
async fn a_misnamed_tenant_column_leaves_both_views_empty_alike() {
    let swept = agreed_relations("crm", "tenant_id").await;
    assert!(swept.is_empty(), "{swept:?}");
}
