//! The pooled-connection property (`check_pooled`): through a transaction-mode pooler, logged in
//! as the app role, no transaction may start with a tenant context it did not set.
//!
//! PgBouncer keeps one pool per database and user, so the probe logs in as the app role through
//! the pooler: only then does it share server connections with the application. It runs two
//! sequences, each transaction short and read-only:
//! - its own: a transaction as tenant A (set the documented way, transaction-local), then the next
//!   transaction on the same server connection (same backend pid) with no tenant set;
//! - the application's: several clients at once, each starting a transaction with no tenant set
//!   on whatever server connection the pooler hands out — after the application's traffic, a
//!   connection that still carries a tenant is one that the application set for the session.
//!
//! Queries go through the pooler, which may hand every transaction another server connection:
//! statements are unnamed and sent inside explicit transactions (named prepared statements would
//! collide with other clients' on a shared server connection), and the statement cache is off.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::visibility::{self, TenantRelation};
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;
use crate::sql::quote_literal;
use crate::tenancy::Tenancy;

pub static POOLED_CONTEXT_LEAK: RuleInfo = RuleInfo {
    id: "pooled-context-leak",
    category: Category::AttackDb,
    severity: Severity::Critical,
    title: "a pooled connection carries a tenant into the next transaction",
    explanation: "Through the transaction-mode pooler, logged in as the app role, a transaction that set no tenant started with a tenant already set on its server connection. PgBouncer in transaction mode hands a server connection to the next client after every transaction without resetting it, so a session-level `SET` (or `set_config(…, false)`) of the tenant outlives the request that made it: the next request that sets no tenant (a background job, an error path, an anonymous route) reads and writes as the previous tenant.",
    remediation: "Set the tenant per transaction only: `SELECT set_config('<setting>', $1, true)` (or `SET LOCAL`) right after BEGIN, in every transaction, and refuse to run tenant queries without one. Never use a session-level SET behind a transaction pooler.",
};

/// Every rule of this module, for the catalogue.
pub static RULES: &[&RuleInfo] = &[&POOLED_CONTEXT_LEAK];

#[derive(Debug, thiserror::Error)]
pub enum PooledError {
    #[error("cannot {context} through the pooler: {cause}")]
    Pooler {
        context: &'static str,
        cause: sqlx::Error,
    },
    #[error("cannot {context} (observer connection): {cause}")]
    Observer {
        context: &'static str,
        cause: sqlx::Error,
    },
    #[error(
        "the pooler URL logs in as `{actual}`, not as the app role `{expected}`: PgBouncer keeps one pool per database and user, so only the app role shares the application's server connections"
    )]
    WrongRole { actual: String, expected: String },
    #[error("cannot list the tenant relations (observer connection)")]
    Catalog(#[from] crate::catalog::CatalogError),
}

fn pooler(context: &'static str) -> impl FnOnce(sqlx::Error) -> PooledError {
    move |cause| PooledError::Pooler { context, cause }
}

/// One value read through the pooler by an unnamed statement (see the module's note); `context`
/// says what could not be read.
async fn pooled_scalar<T>(
    conn: &mut PgConnection,
    sql: &'static str,
    context: &'static str,
) -> Result<T, PooledError>
where
    T: Send + Unpin,
    (T,): for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    sqlx::query_scalar(sql)
        .persistent(false)
        .fetch_one(conn)
        .await
        .map_err(pooler(context))
}

fn observer(context: &'static str) -> impl FnOnce(sqlx::Error) -> PooledError {
    move |cause| PooledError::Observer { context, cause }
}

/// How much to look.
#[derive(Debug, Clone)]
pub struct PooledConfig {
    /// Clients that start a transaction at the same time (each gets its own server connection
    /// while the pool has idle ones), to look at as many of the application's connections as the
    /// pool holds.
    pub clients: usize,
    /// Attempts to land the second transaction of the own sequence on the first one's server
    /// connection (the pooler usually reuses the most recent one).
    pub same_connection_attempts: u32,
    /// Statement timeout of every transaction.
    pub statement_timeout: Duration,
}

impl Default for PooledConfig {
    fn default() -> Self {
        Self {
            clients: 8,
            same_connection_attempts: 20,
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// What the property saw.
#[derive(Debug, Default)]
pub struct PooledOutcome {
    pub findings: Vec<Finding>,
    /// Transactions run through the pooler.
    pub transactions: u32,
    /// Distinct server connections (backend pids) seen.
    pub server_connections: usize,
    /// Whether the own sequence landed on one server connection (else it proved nothing).
    pub sequence_on_one_connection: bool,
}

/// One server connection that started a transaction with a tenant set.
#[derive(Debug, Clone)]
struct Dirty {
    pid: i32,
    tenant: String,
    /// Relations in which rows were visible under that inherited context, with how many (≤ 100).
    visible: Vec<(String, i64)>,
}

/// Runs both sequences. `observer` is the direct observer connection (for the list of tenant
/// relations and a tenant to act as); `pooled` logs in as the app role through the pooler.
pub async fn check_pooled(
    observer_options: &PgConnectOptions,
    pooled: &PgConnectOptions,
    tenancy: &Tenancy,
    config: &PooledConfig,
) -> Result<PooledOutcome, PooledError> {
    let pooled = pooled.clone().statement_cache_capacity(0);
    let mut obs = PgConnection::connect_with(observer_options)
        .await
        .map_err(observer("connect"))?;
    let relations: Vec<TenantRelation> = visibility::tenant_relations(&mut obs, tenancy)
        .await?
        .into_iter()
        .filter(|r| r.readable_by_app)
        .collect();
    let tenant = some_tenant(&mut obs, tenancy, &relations).await?;
    let _ = obs.close().await;

    let mut outcome = PooledOutcome::default();
    // The application's connections first, before the probe's own sequence touches any.
    let pool = look_at_pool(&pooled, tenancy, &relations, config).await?;
    outcome.transactions += pool.transactions;
    let mut pids = pool.pids;
    let mut dirty = pool.dirty;

    // The probe's own sequence: tenant A transaction-local, then no tenant on the same backend.
    if let Some(tenant) = &tenant {
        let mut conn = PgConnection::connect_with(&pooled)
            .await
            .map_err(pooler("connect"))?;
        let first = as_tenant(&mut conn, tenancy, tenant, config).await?;
        outcome.transactions += 1;
        pids.insert(first);
        for _ in 0..config.same_connection_attempts.max(1) {
            let (pid, found) = look(&mut conn, tenancy, &relations, config).await?;
            outcome.transactions += 1;
            pids.insert(pid);
            if pid == first {
                outcome.sequence_on_one_connection = true;
                dirty.extend(found);
                break;
            }
        }
        let _ = conn.close().await;
    }
    outcome.server_connections = pids.len();

    if !dirty.is_empty() {
        outcome.findings.push(finding(tenancy, &dirty));
    }
    Ok(outcome)
}

/// What several clients saw when they started a transaction through the pooler at once.
#[derive(Debug, Default)]
pub struct PoolLook {
    pub transactions: u32,
    pids: std::collections::BTreeSet<i32>,
    dirty: Vec<Dirty>,
}

impl PoolLook {
    /// Distinct server connections seen.
    pub fn server_connections(&self) -> usize {
        self.pids.len()
    }

    /// The finding, if any transaction started with a tenant it did not set.
    pub fn finding(&self, tenancy: &Tenancy) -> Option<Finding> {
        (!self.dirty.is_empty()).then(|| finding(tenancy, &self.dirty))
    }
}

/// `config.clients` clients through the pooler (`pooled`, as the app role) each start a
/// transaction that sets no tenant, all at once, and read what their server connection carries.
/// This is the part of the property that the production monitor runs every cycle.
pub async fn look_at_pool(
    pooled: &PgConnectOptions,
    tenancy: &Tenancy,
    relations: &[TenantRelation],
    config: &PooledConfig,
) -> Result<PoolLook, PooledError> {
    let pooled = pooled.clone().statement_cache_capacity(0);
    let relations: Vec<TenantRelation> = relations
        .iter()
        .filter(|r| r.readable_by_app)
        .cloned()
        .collect();
    let mut clients = Vec::new();
    for _ in 0..config.clients.max(1) {
        clients.push(
            PgConnection::connect_with(&pooled)
                .await
                .map_err(pooler("connect"))?,
        );
    }
    let mut result = PoolLook::default();
    let looks = async {
        check_role(&mut clients[0], tenancy).await?;
        let looks = futures::future::join_all(
            clients
                .iter_mut()
                .map(|c| look(c, tenancy, &relations, config)),
        )
        .await;
        for look in looks {
            let (pid, found) = look?;
            result.transactions += 1;
            result.pids.insert(pid);
            result.dirty.extend(found);
        }
        Ok::<(), PooledError>(())
    }
    .await;
    for c in clients {
        let _ = c.close().await;
    }
    looks.map(|()| result)
}

/// The pooler must log us in as the app role, or we would never share the application's pool.
async fn check_role(conn: &mut PgConnection, tenancy: &Tenancy) -> Result<(), PooledError> {
    let mut tx = conn.begin().await.map_err(pooler("begin"))?;
    let user: String = pooled_scalar(
        &mut tx,
        "SELECT session_user::text",
        "read the session user",
    )
    .await?;
    tx.rollback().await.map_err(pooler("roll back"))?;
    if user != tenancy.app_role {
        return Err(PooledError::WrongRole {
            actual: user,
            expected: tenancy.app_role.clone(),
        });
    }
    Ok(())
}

/// A tenant id to act as: from the tenants table, else from the first tenant relation with rows.
async fn some_tenant(
    obs: &mut PgConnection,
    tenancy: &Tenancy,
    relations: &[TenantRelation],
) -> Result<Option<String>, PooledError> {
    // The tenants table first: its keys are the tenant ids themselves.
    let mut ordered: Vec<&TenantRelation> = relations.iter().collect();
    ordered.sort_by_key(|r| Some(&r.name) != tenancy.tenants_table.as_ref());
    for rel in ordered {
        let sql = format!(
            "SELECT {}::text FROM {} WHERE {} IS NOT NULL LIMIT 1",
            crate::sql::quote_ident(&rel.key_column),
            rel.name.quoted(),
            crate::sql::quote_ident(&rel.key_column),
        );
        if let Ok(Some(id)) = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql))
            .fetch_optional(&mut *obs)
            .await
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// One transaction as `tenant`, set transaction-locally (the spec's convention); its backend pid.
async fn as_tenant(
    conn: &mut PgConnection,
    tenancy: &Tenancy,
    tenant: &str,
    config: &PooledConfig,
) -> Result<i32, PooledError> {
    let mut tx = conn.begin().await.map_err(pooler("begin"))?;
    set_timeout(&mut tx, config).await?;
    sqlx::query("SELECT set_config($1, $2, true)")
        .persistent(false)
        .bind(&tenancy.tenant_setting)
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .map_err(pooler("set the tenant"))?;
    let pid: i32 =
        pooled_scalar(&mut tx, "SELECT pg_backend_pid()", "read the backend pid").await?;
    tx.commit().await.map_err(pooler("commit"))?;
    Ok(pid)
}

/// A transaction that sets no tenant: its backend pid, and what it inherited.
async fn look(
    conn: &mut PgConnection,
    tenancy: &Tenancy,
    relations: &[TenantRelation],
    config: &PooledConfig,
) -> Result<(i32, Option<Dirty>), PooledError> {
    let mut tx = conn.begin().await.map_err(pooler("begin"))?;
    set_timeout(&mut tx, config).await?;
    let (pid, setting): (i32, Option<String>) =
        sqlx::query_as("SELECT pg_backend_pid(), current_setting($1, true)")
            .persistent(false)
            .bind(&tenancy.tenant_setting)
            .fetch_one(&mut *tx)
            .await
            .map_err(pooler("read the tenant setting"))?;
    let Some(tenant) = setting.filter(|s| !s.is_empty()) else {
        tx.rollback().await.map_err(pooler("roll back"))?;
        return Ok((pid, None));
    };
    // Evidence: what a request that sets no tenant would read on this connection.
    let mut visible = Vec::new();
    for rel in relations {
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 100) AS s",
            rel.name.quoted()
        );
        let mut sp = tx.begin().await.map_err(pooler("open a savepoint"))?;
        let rows = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
            .persistent(false)
            .fetch_one(&mut *sp)
            .await;
        let _ = sp.rollback().await;
        if let Ok(n) = rows
            && n > 0
        {
            visible.push((rel.name.to_string(), n));
        }
    }
    tx.rollback().await.map_err(pooler("roll back"))?;
    Ok((
        pid,
        Some(Dirty {
            pid,
            tenant,
            visible,
        }),
    ))
}

async fn set_timeout(conn: &mut PgConnection, config: &PooledConfig) -> Result<(), PooledError> {
    let ms = config.statement_timeout.as_millis();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "SET LOCAL statement_timeout = {ms}; SET LOCAL idle_in_transaction_session_timeout = {ms}"
    )))
    .execute(conn)
    .await
    .map_err(pooler("set timeouts"))?;
    Ok(())
}

/// One finding for the cause, however many connections showed it.
fn finding(tenancy: &Tenancy, dirty: &[Dirty]) -> Finding {
    let mut by_tenant: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for d in dirty {
        by_tenant.entry(&d.tenant).or_default().push(d.pid);
    }
    let visible: BTreeMap<&str, i64> = dirty
        .iter()
        .flat_map(|d| d.visible.iter().map(|(r, n)| (r.as_str(), *n)))
        .collect();
    let detail = format!(
        "{} transaction(s) through the pooler, logged in as `{}`, set no tenant and yet started with `{}` set, on {} server connection(s): {}. Under that inherited context a request that sets no tenant reads {}.",
        dirty.len(),
        tenancy.app_role,
        tenancy.tenant_setting,
        dirty
            .iter()
            .map(|d| d.pid)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        by_tenant
            .iter()
            .map(|(t, pids)| format!("tenant {t} (backend pid {pids:?})"))
            .collect::<Vec<_>>()
            .join(", "),
        if visible.is_empty() {
            "no rows (yet)".to_owned()
        } else {
            visible
                .iter()
                .map(|(r, n)| format!("{r} ({n}{} rows)", if *n >= 100 { "+" } else { "" }))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let setting = quote_literal(&tenancy.tenant_setting);
    let evidence = format!(
        "-- through the pooler, as {role}, in transaction mode:\n\
         BEGIN;\n\
         SELECT pg_backend_pid(), current_setting({setting}, true);  -- expected NULL or '', got {tenant}\n\
         ROLLBACK;",
        role = tenancy.app_role,
        tenant = quote_literal(&dirty[0].tenant),
    );
    POOLED_CONTEXT_LEAK
        .finding(
            format!("pooled connections of {}", tenancy.app_role),
            "",
            detail,
        )
        .with_evidence(evidence)
}
