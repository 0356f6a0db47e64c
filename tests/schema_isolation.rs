//! The reference schema isolates tenants at the SQL level, as `app_user`: no read, insert, update,
//! delete or move across tenants in any tenant table or partition, and no rows without a tenant.
//! The visibility sweep used by demo and monitor is proven here both ways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reference_app::migrations::APP_ROLE;
use sqlx::postgres::PgDatabaseError;
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use tenantprobe::synthetic::SyntheticTenant;
use tenantprobe::tenancy::Tenancy;
use tenantprobe::visibility::{self, NoTenant, Observation, TenantRelation};

struct World {
    db: support::TestDb,
    a: SyntheticTenant,
    b: SyntheticTenant,
}

async fn world() -> World {
    let db = support::reference_db().await;
    let [a, b] = support::provision_tenants(&db, ["acme", "globex"]).await;
    World { db, a, b }
}

impl World {
    async fn app(&self) -> PgConnection {
        support::connect(&self.db.options_as(APP_ROLE)).await
    }

    async fn owner(&self) -> PgConnection {
        self.db.connect_as_owner().await.unwrap()
    }

    /// An app connection and the tenant relations it reaches, as a sweep starts.
    async fn app_and_relations(&self) -> (PgConnection, Vec<TenantRelation>) {
        let mut app = self.app().await;
        let relations = visibility::tenant_relations(&mut app, &Tenancy::reference())
            .await
            .unwrap();
        (app, relations)
    }

    /// Runs `sql` as the owner: how a test breaks the correct schema.
    async fn break_schema(&self, sql: &str) {
        let mut owner = self.owner().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut owner)
            .await
            .unwrap();
    }
}

/// The relations, by name, of the sweep's observations that `pick` selects.
fn relations_where(seen: &[Observation], pick: impl Fn(&Observation) -> bool) -> Vec<String> {
    seen.iter()
        .filter(|o| pick(o))
        .map(|o| o.relation.to_string())
        .collect()
}

async fn as_tenant<'c>(
    conn: &'c mut PgConnection,
    tenant: &SyntheticTenant,
) -> Transaction<'c, Postgres> {
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
        .bind(tenant.id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// Runs `sql` with `binds` as `tenant` in a transaction of its own (rolled back), and returns the
/// error it must end in.
async fn refused(
    conn: &mut PgConnection,
    tenant: &SyntheticTenant,
    sql: &str,
    binds: &[uuid::Uuid],
) -> sqlx::Error {
    let mut tx = as_tenant(conn, tenant).await;
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in binds {
        query = query.bind(*value);
    }
    query
        .execute(&mut *tx)
        .await
        .expect_err("the statement must be refused")
}

fn sqlstate(err: &sqlx::Error) -> String {
    err.as_database_error()
        .and_then(|e| e.try_downcast_ref::<PgDatabaseError>())
        .map(|e| e.code().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn tenant_a_sees_its_own_rows_and_none_of_tenant_b_in_every_tenant_relation() {
    let w = world().await;
    let tenancy = Tenancy::reference();
    let (mut app, relations) = w.app_and_relations().await;
    let names: Vec<String> = relations.iter().map(|r| r.name.to_string()).collect();
    for expected in [
        "public.tenants",
        "public.users",
        "public.projects",
        "public.tasks",
        "public.audit_events",
        "public.audit_events_p3",
        "public.project_summaries",
    ] {
        assert!(
            names.contains(&expected.to_owned()),
            "{expected} missing from {names:?}"
        );
    }
    for tenant in [&w.a, &w.b] {
        let seen = visibility::sweep(&mut app, &tenancy, &relations, None, &tenant.id.to_string())
            .await
            .unwrap();
        assert_eq!(
            seen.len(),
            6,
            "tables, parent and view readable by app_user: {seen:?}"
        );
        for o in &seen {
            assert!(
                !o.foreign_visible,
                "{} leaks to {}",
                o.relation, tenant.slug
            );
            assert!(
                o.own_visible,
                "{} hides {}'s own rows",
                o.relation, tenant.slug
            );
            assert_eq!(o.error, None);
        }
    }
    // And by direct count, with B's id in the predicate.
    let mut tx = as_tenant(&mut app, &w.a).await;
    for table in [
        "users",
        "projects",
        "tasks",
        "audit_events",
        "project_summaries",
    ] {
        let sql = format!("SELECT count(*) FROM {table} WHERE tenant_id = $1");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(w.b.id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
}

#[tokio::test]
async fn with_no_tenant_set_nothing_is_visible_on_a_fresh_or_a_pooled_connection() {
    let w = world().await;
    let tenancy = Tenancy::reference();
    let (mut fresh, relations) = w.app_and_relations().await;
    let unset =
        visibility::sweep_without_tenant(&mut fresh, &tenancy, &relations, None, NoTenant::Unset)
            .await
            .unwrap();
    // Reuse the connection the way a pool does: a transaction set the tenant, then it ended.
    drop(as_tenant(&mut fresh, &w.a).await);
    let empty =
        visibility::sweep_without_tenant(&mut fresh, &tenancy, &relations, None, NoTenant::Empty)
            .await
            .unwrap();
    for o in unset.iter().chain(&empty) {
        assert!(
            !o.foreign_visible,
            "{} visible without a tenant",
            o.relation
        );
        assert_eq!(o.error, None, "{}", o.relation);
    }
    // A malformed tenant fails closed with an error; an unknown one sees nothing.
    let mut tx = fresh.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.current_tenant', 'not-a-uuid', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM projects")
        .fetch_one(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22P02");
    tx.rollback().await.unwrap();
    let mut tx = fresh.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
        .bind(uuid::Uuid::new_v4().to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn tenant_a_cannot_insert_rows_that_belong_to_tenant_b() {
    let w = world().await;
    let mut app = w.app().await;
    for sql in [
        "INSERT INTO projects (tenant_id, name) VALUES ($1, 'planted')",
        "INSERT INTO audit_events (tenant_id, actor, action) VALUES ($1, 'x', 'planted')",
    ] {
        let err = refused(&mut app, &w.a, sql, &[w.b.id]).await;
        assert_eq!(sqlstate(&err), "42501", "{sql}: {err}");
    }
}

#[tokio::test]
async fn tenant_a_cannot_update_or_delete_tenant_b_rows() {
    let w = world().await;
    let mut app = w.app().await;
    let b_project = w.b.project_ids[0];
    let b_task = w.b.task_ids[0];
    let mut tx = as_tenant(&mut app, &w.a).await;
    let updated = sqlx::query("UPDATE projects SET name = 'hijacked' WHERE id = $1")
        .bind(b_project)
        .execute(&mut *tx)
        .await
        .unwrap();
    let deleted = sqlx::query("DELETE FROM tasks WHERE id = $1")
        .bind(b_task)
        .execute(&mut *tx)
        .await
        .unwrap();
    let deleted_all = sqlx::query("DELETE FROM projects")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!((updated.rows_affected(), deleted.rows_affected()), (0, 0));
    assert_eq!(
        deleted_all.rows_affected(),
        2,
        "A deletes exactly its own two projects"
    );
    tx.commit().await.unwrap();
    let mut owner = w.owner().await;
    let name: String = sqlx::query_scalar("SELECT name FROM projects WHERE id = $1")
        .bind(b_project)
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert!(
        name.contains(&w.b.marker),
        "B's project was changed: {name}"
    );
    let b_projects: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1")
        .bind(w.b.id)
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert_eq!(b_projects, 2);
}

#[tokio::test]
async fn tenant_a_cannot_move_its_rows_to_tenant_b_with_or_without_returning() {
    let w = world().await;
    let mut app = w.app().await;
    for sql in [
        "UPDATE projects SET tenant_id = $1 WHERE id = $2",
        "UPDATE projects SET tenant_id = $1 WHERE id = $2 RETURNING id",
    ] {
        let err = refused(&mut app, &w.a, sql, &[w.b.id, w.a.project_ids[0]]).await;
        assert_eq!(sqlstate(&err), "42501", "{sql}: {err}");
    }
    // Bare UPDATE of a task (no RETURNING, no WHERE on columns) is checked too.
    let err = refused(&mut app, &w.a, "UPDATE tasks SET tenant_id = $1", &[w.b.id]).await;
    assert!(
        ["42501", "23503"].contains(&sqlstate(&err).as_str()),
        "{err}"
    );
}

#[tokio::test]
async fn tenant_a_cannot_point_its_rows_at_tenant_b_rows() {
    let w = world().await;
    let mut app = w.app().await;
    let err = refused(
        &mut app,
        &w.a,
        "INSERT INTO tasks (tenant_id, project_id, title) VALUES ($1, $2, 'cross')",
        &[w.a.id, w.b.project_ids[0]],
    )
    .await;
    assert_eq!(
        sqlstate(&err),
        "23503",
        "the composite foreign key refuses another tenant's project: {err}"
    );
    let err = refused(
        &mut app,
        &w.a,
        "UPDATE tasks SET assignee_id = $1",
        &[w.b.user_id],
    )
    .await;
    assert_eq!(sqlstate(&err), "23503", "{err}");
}

#[tokio::test]
async fn the_app_role_has_no_truncate_no_partition_access_and_no_way_around_rls() {
    let w = world().await;
    let mut app = w.app().await;
    let err = refused(&mut app, &w.a, "TRUNCATE projects CASCADE", &[]).await;
    assert_eq!(sqlstate(&err), "42501", "{err}");
    for partition in [
        "audit_events_p0",
        "audit_events_p1",
        "audit_events_p2",
        "audit_events_p3",
    ] {
        let sql = format!("SELECT count(*) FROM {partition}");
        let err = refused(&mut app, &w.a, &sql, &[]).await;
        assert_eq!(sqlstate(&err), "42501", "{partition}: {err}");
    }
    let mut tx = as_tenant(&mut app, &w.a).await;
    let err = sqlx::query("SET LOCAL row_security = off; ")
        .execute(&mut *tx)
        .await;
    if err.is_ok() {
        // Turning row_security off as a non-bypassing role makes queries fail rather than leak.
        let err = sqlx::query("SELECT count(*) FROM projects")
            .execute(&mut *tx)
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err), "42501", "{err}");
    }
    drop(tx);
    let (sup, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut app)
            .await
            .unwrap();
    assert!(!sup && !bypass);
}

#[tokio::test]
async fn every_tenant_table_and_partition_has_rls_enabled_forced_and_a_policy() {
    let w = world().await;
    let mut owner = w.owner().await;
    let rows: Vec<(String, bool, bool, i64)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations'
         ORDER BY 1",
    )
    .fetch_all(&mut owner)
    .await
    .unwrap();
    assert_eq!(rows.len(), 9, "{rows:?}");
    for (table, enabled, forced, policies) in rows {
        assert!(
            enabled && forced && policies == 1,
            "{table}: enabled={enabled} forced={forced} policies={policies}"
        );
    }
}

#[tokio::test]
async fn slug_resolution_returns_only_an_id_and_only_for_app_user() {
    let w = world().await;
    let mut app = w.app().await;
    let id: Option<uuid::Uuid> = sqlx::query_scalar("SELECT tenant_id_for_slug('globex')")
        .fetch_one(&mut app)
        .await
        .unwrap();
    assert_eq!(id, Some(w.b.id));
    let none: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT tenant_id_for_slug('no-such-tenant')")
            .fetch_one(&mut app)
            .await
            .unwrap();
    assert_eq!(none, None);
    let mut owner = w.owner().await;
    let (definer, config, public_exec): (bool, Vec<String>, bool) = sqlx::query_as(
        "SELECT prosecdef, proconfig, has_function_privilege('public', oid, 'EXECUTE') FROM pg_proc WHERE proname = 'tenant_id_for_slug'",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert!(definer);
    assert_eq!(config, vec!["search_path=pg_catalog, pg_temp".to_owned()]);
    assert!(!public_exec);
}

/// The sweep is not a check that cannot fail: switch RLS off on one table and make another policy
/// fail open, and it names both.
#[tokio::test]
async fn the_sweep_reports_a_table_without_rls_and_a_policy_that_fails_open() {
    let w = world().await;
    w.break_schema(
        "ALTER TABLE projects DISABLE ROW LEVEL SECURITY;
         DROP POLICY tenant_isolation ON tasks;
         CREATE POLICY fail_open ON tasks USING (
             NULLIF(current_setting('app.current_tenant', true), '') IS NULL
             OR tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid);",
    )
    .await;
    let tenancy = Tenancy::reference();
    let (mut app, relations) = w.app_and_relations().await;
    let unset =
        visibility::sweep_without_tenant(&mut app, &tenancy, &relations, None, NoTenant::Unset)
            .await
            .unwrap();
    let seen = visibility::sweep(&mut app, &tenancy, &relations, None, &w.a.id.to_string())
        .await
        .unwrap();
    let leaking = relations_where(&seen, |o| o.foreign_visible);
    assert_eq!(leaking, ["public.project_summaries", "public.projects"]);
    let open = relations_where(&unset, |o| o.foreign_visible);
    assert_eq!(
        open,
        [
            "public.project_summaries",
            "public.projects",
            "public.tasks"
        ]
    );
    let findings = visibility::tenant_findings(&seen, "acme");
    assert!(findings.iter().all(|f| f.rule == "foreign-rows-visible"
        && f.severity == tenantprobe::finding::Severity::Critical));
    assert_eq!(findings.len(), 2);
}

#[tokio::test]
async fn a_relation_whose_probe_fails_is_reported_and_hides_none_of_the_others() {
    let w = world().await;
    // A policy that casts '' to uuid: with the setting empty, reading `tasks` errors (fails
    // closed); the sweep falls back from one statement to one probe per relation.
    w.break_schema(
        "DROP POLICY tenant_isolation ON tasks;
         CREATE POLICY strict_cast ON tasks USING (
             tenant_id = current_setting('app.current_tenant', true)::uuid);
         ALTER TABLE projects DISABLE ROW LEVEL SECURITY;",
    )
    .await;
    let tenancy = Tenancy::reference();
    let (mut app, relations) = w.app_and_relations().await;
    let empty =
        visibility::sweep_without_tenant(&mut app, &tenancy, &relations, None, NoTenant::Empty)
            .await
            .unwrap();
    let failed = relations_where(&empty, |o| o.error.is_some());
    // The reporting view reads `tasks` too.
    assert_eq!(failed, ["public.project_summaries", "public.tasks"]);
    let open = relations_where(&empty, |o| o.foreign_visible);
    assert!(open.contains(&"public.projects".to_owned()), "{open:?}");
    // With a tenant set the same relation probes fine, in one statement.
    let seen = visibility::sweep(&mut app, &tenancy, &relations, None, &w.a.id.to_string())
        .await
        .unwrap();
    assert!(seen.iter().all(|o| o.error.is_none()), "{seen:#?}");
    assert!(seen.iter().any(|o| o.own_visible));
}
