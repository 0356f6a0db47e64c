//! The reference schema isolates tenants at the SQL level, as `app_user`: no read, insert, update,
//! delete or move across tenants in any tenant table or partition, and no rows without a tenant.
//! The visibility sweep used by demo and monitor is proven here both ways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reference_app::migrations::APP_ROLE;
use sqlx::postgres::PgDatabaseError;
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use tenantprobe::checks::visibility::{self, NoTenant, Observation, TenantRelation};
use tenantprobe::tenancy::Tenancy;
use tenantprobe_testkit::synthetic::SyntheticTenant;

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
    async fn sweeper(&self) -> Sweeper {
        let mut app = self.app().await;
        let tenancy = Tenancy::reference();
        let relations = visibility::tenant_relations(&mut app, &tenancy)
            .await
            .unwrap();
        Sweeper {
            app,
            tenancy,
            relations,
        }
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

/// The visibility sweep of demo and monitor, as `app_user` over the reference tenancy.
struct Sweeper {
    app: PgConnection,
    tenancy: Tenancy,
    relations: Vec<TenantRelation>,
}

impl Sweeper {
    /// What `tenant` sees, in every tenant relation, of its own rows and of the others'.
    async fn sweep_as(&mut self, tenant: &SyntheticTenant) -> Vec<Observation> {
        let tenant = tenant.id.to_string();
        visibility::sweep(&mut self.app, &self.tenancy, &self.relations, None, &tenant)
            .await
            .unwrap()
    }

    /// What every tenant relation shows with no tenant set, in the way `how` says.
    async fn sweep_without_tenant(&mut self, how: NoTenant) -> Vec<Observation> {
        visibility::sweep_without_tenant(&mut self.app, &self.tenancy, &self.relations, None, how)
            .await
            .unwrap()
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
    with_tenant_setting(conn, &tenant.id.to_string()).await
}

/// A transaction on `conn` with the tenant setting `app.current_tenant` set to `value`.
async fn with_tenant_setting<'c>(
    conn: &'c mut PgConnection,
    value: &str,
) -> Transaction<'c, Postgres> {
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
        .bind(value)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// How many rows of `table` `conn` sees; only those of `tenant`, when given.
async fn count_rows(conn: &mut PgConnection, table: &str, tenant: Option<uuid::Uuid>) -> i64 {
    let sql = match tenant {
        Some(_) => format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"),
        None => format!("SELECT count(*) FROM {table}"),
    };
    let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    if let Some(tenant) = tenant {
        query = query.bind(tenant);
    }
    query.fetch_one(conn).await.unwrap()
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

/// `insufficient_privilege`: what row-level security answers a row it does not let through.
const RLS_REFUSED: &[&str] = &["42501"];
/// `foreign_key_violation`: what a composite (tenant, id) foreign key answers another tenant's row.
const FOREIGN_KEY_REFUSED: &[&str] = &["23503"];

fn sqlstate(err: &sqlx::Error) -> String {
    err.as_database_error()
        .and_then(|e| e.try_downcast_ref::<PgDatabaseError>())
        .map(|e| e.code().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn tenant_a_sees_its_own_rows_and_none_of_tenant_b_in_every_tenant_relation() {
    let w = world().await;
    let mut sweeper = w.sweeper().await;
    let names: Vec<String> = sweeper
        .relations
        .iter()
        .map(|r| r.name.to_string())
        .collect();
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
        let seen = sweeper.sweep_as(tenant).await;
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
    let mut tx = as_tenant(&mut sweeper.app, &w.a).await;
    for table in [
        "users",
        "projects",
        "tasks",
        "audit_events",
        "project_summaries",
    ] {
        assert_eq!(count_rows(&mut tx, table, Some(w.b.id)).await, 0, "{table}");
    }
}

#[tokio::test]
async fn with_no_tenant_set_nothing_is_visible_on_a_fresh_or_a_pooled_connection() {
    let w = world().await;
    let mut sweeper = w.sweeper().await;
    let unset = sweeper.sweep_without_tenant(NoTenant::Unset).await;
    // Reuse the connection the way a pool does: a transaction set the tenant, then it ended.
    drop(as_tenant(&mut sweeper.app, &w.a).await);
    let empty = sweeper.sweep_without_tenant(NoTenant::Empty).await;
    for o in unset.iter().chain(&empty) {
        assert!(
            !o.foreign_visible,
            "{} visible without a tenant",
            o.relation
        );
        assert_eq!(o.error, None, "{}", o.relation);
    }
    // A malformed tenant fails closed with an error; an unknown one sees nothing.
    let mut tx = with_tenant_setting(&mut sweeper.app, "not-a-uuid").await;
    let err = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM projects")
        .fetch_one(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22P02");
    tx.rollback().await.unwrap();
    let unknown = uuid::Uuid::new_v4().to_string();
    let mut tx = with_tenant_setting(&mut sweeper.app, &unknown).await;
    assert_eq!(count_rows(&mut tx, "projects", None).await, 0);
}

/// Cross-tenant writes by A, each refused with one of its SQLSTATEs: row-level security refuses
/// a row that is not A's, the composite foreign keys a reference to another tenant's row.
#[tokio::test]
async fn tenant_a_cannot_insert_move_or_point_rows_at_tenant_b() {
    let w = world().await;
    let mut app = w.app().await;
    let cases: [(&str, &[uuid::Uuid], &[&str]); 7] = [
        // Rows that belong to B.
        (
            "INSERT INTO projects (tenant_id, name) VALUES ($1, 'planted')",
            &[w.b.id],
            RLS_REFUSED,
        ),
        (
            "INSERT INTO audit_events (tenant_id, actor, action) VALUES ($1, 'x', 'planted')",
            &[w.b.id],
            RLS_REFUSED,
        ),
        // A's rows moved to B, with or without RETURNING.
        (
            "UPDATE projects SET tenant_id = $1 WHERE id = $2",
            &[w.b.id, w.a.project_ids[0]],
            RLS_REFUSED,
        ),
        (
            "UPDATE projects SET tenant_id = $1 WHERE id = $2 RETURNING id",
            &[w.b.id, w.a.project_ids[0]],
            RLS_REFUSED,
        ),
        // Bare UPDATE of a task (no RETURNING, no WHERE on columns) is checked too.
        (
            "UPDATE tasks SET tenant_id = $1",
            &[w.b.id],
            &["42501", "23503"],
        ),
        // A's rows pointing at B's: the composite foreign key refuses another tenant's project.
        (
            "INSERT INTO tasks (tenant_id, project_id, title) VALUES ($1, $2, 'cross')",
            &[w.a.id, w.b.project_ids[0]],
            FOREIGN_KEY_REFUSED,
        ),
        (
            "UPDATE tasks SET assignee_id = $1",
            &[w.b.user_id],
            FOREIGN_KEY_REFUSED,
        ),
    ];
    for (sql, binds, codes) in cases {
        let err = refused(&mut app, &w.a, sql, binds).await;
        let code = sqlstate(&err);
        assert!(
            codes.contains(&code.as_str()),
            "{sql}: {code}, not {codes:?}: {err}"
        );
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
    assert_eq!(count_rows(&mut owner, "projects", Some(w.b.id)).await, 2);
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
    let mut sweeper = w.sweeper().await;
    let unset = sweeper.sweep_without_tenant(NoTenant::Unset).await;
    let seen = sweeper.sweep_as(&w.a).await;
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
    let mut sweeper = w.sweeper().await;
    let empty = sweeper.sweep_without_tenant(NoTenant::Empty).await;
    let failed = relations_where(&empty, |o| o.error.is_some());
    // The reporting view reads `tasks` too.
    assert_eq!(failed, ["public.project_summaries", "public.tasks"]);
    let open = relations_where(&empty, |o| o.foreign_visible);
    assert!(open.contains(&"public.projects".to_owned()), "{open:?}");
    // With a tenant set the same relation probes fine, in one statement.
    let seen = sweeper.sweep_as(&w.a).await;
    assert!(seen.iter().all(|o| o.error.is_none()), "{seen:#?}");
    assert!(seen.iter().any(|o| o.own_visible));
}
