//! Test harness for audit rules: each test gets its own schema and app role in a shared database
//! on the test server (throwaway, or `DATABASE_URL`), runs setup SQL and audits that schema.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::OnceCell;

use crate::finding::Finding;
use crate::provision::ReferenceDatabase;
use crate::servers::Postgres;
use crate::tenancy::Tenancy;

struct Shared {
    _server: Postgres,
    db: ReferenceDatabase,
    external: bool,
}

static SHARED: OnceCell<Shared> = OnceCell::const_new();

async fn shared() -> &'static Shared {
    SHARED
        .get_or_init(|| async {
            let server = Postgres::from_env_or_start()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let db = ReferenceDatabase::create_empty(&server.url(), "tp_rules")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let external = matches!(server, Postgres::External { .. });
            Shared {
                _server: server,
                db,
                external,
            }
        })
        .await
}

/// A correct minimal tenant schema; rule tests break one thing in it. `{app}` is the app role.
pub const BASE: &str = "
    CREATE TABLE tenants (id uuid PRIMARY KEY, name text NOT NULL);
    ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
    ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
    CREATE POLICY iso ON tenants USING (id = (SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid));
    CREATE TABLE items (
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        id uuid NOT NULL,
        name text NOT NULL,
        PRIMARY KEY (tenant_id, id)
    );
    ALTER TABLE items ENABLE ROW LEVEL SECURITY;
    ALTER TABLE items FORCE ROW LEVEL SECURITY;
    CREATE POLICY iso ON items
        USING (tenant_id = (SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid))
        WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid));
    GRANT SELECT ON tenants TO {app};
    GRANT SELECT, INSERT, UPDATE, DELETE ON items TO {app};
";

/// Runs `sql` (with `{app}` replaced by a fresh app role) in a fresh schema and audits it.
pub async fn audit(sql: &str) -> Vec<Finding> {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let schema = format!("s_{}_{n}", std::process::id());
    let role = format!("ra_{}_{n}", std::process::id());
    let shared = shared().await;
    let mut admin = PgConnection::connect_with(&shared.db.admin_options())
        .await
        .unwrap();
    let setup = format!(
        "CREATE ROLE {role} LOGIN; CREATE SCHEMA {schema}; GRANT USAGE ON SCHEMA {schema} TO {role}; SET search_path = {schema}; {}; RESET search_path;",
        sql.replace("{app}", &role).replace("{schema}", &schema)
    );
    sqlx::raw_sql(AssertSqlSafe(setup))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("setup failed: {e}\n{sql}"));
    let tenancy = Tenancy {
        app_role: role.clone(),
        tenants_table: Some(crate::sql::QualifiedName::new(&schema, "tenants")),
        schemas: vec![schema.clone()],
        ..Tenancy::default()
    };
    // Tests share a database: keep only what concerns this test's schema and roles.
    let findings: Vec<Finding> = super::super::audit(&mut admin, &tenancy)
        .await
        .unwrap()
        .findings
        .into_iter()
        .filter(|f| f.object.starts_with(&format!("{schema}.")) || f.object.starts_with(&role))
        .collect();
    if shared.external {
        let cleanup = format!(
            "DROP SCHEMA {schema} CASCADE;
             DO $$ DECLARE r text; BEGIN
                 FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE '{role}%' LOOP
                     EXECUTE format('DROP OWNED BY %I', r);
                     EXECUTE format('DROP ROLE %I', r);
                 END LOOP;
             END $$;"
        );
        let _ = sqlx::raw_sql(AssertSqlSafe(cleanup))
            .execute(&mut admin)
            .await;
    }
    findings
}

/// `bad` yields at least one finding of `rule`; `fixed` yields none of it. Returns the bad findings.
pub async fn both_ways(rule: &str, bad: &str, fixed: &str) -> Vec<Finding> {
    let found: Vec<Finding> = audit(bad)
        .await
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect();
    assert!(!found.is_empty(), "`{rule}` missed its mistake in:\n{bad}");
    let silent: Vec<Finding> = audit(fixed)
        .await
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect();
    assert!(
        silent.is_empty(),
        "`{rule}` still fires on the fixed schema: {silent:#?}"
    );
    found
}

/// `both_ways` for the common case: the mistake is `change` run on top of `BASE`, the fix is
/// `BASE` itself. Returns the bad findings.
pub async fn both_ways_on_base(rule: &str, change: &str) -> Vec<Finding> {
    both_ways(rule, &format!("{BASE} {change}"), BASE).await
}

/// The object names of the findings.
pub fn objects(findings: &[Finding]) -> Vec<String> {
    let mut objects: Vec<String> = findings
        .iter()
        .map(|f| {
            f.object
                .split_once('.')
                .map_or(f.object.clone(), |(_, rest)| rest.to_owned())
        })
        .collect();
    objects.sort();
    objects.dedup();
    objects
}
