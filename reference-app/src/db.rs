//! Database access (`Database`, `TenantDb`). The pools are private to this module: the only way to
//! touch tenant data is `TenantDb::run`, which wraps the work in a transaction, on the tenant's
//! pool (`pools`), that first sets the tenant with `set_config('app.current_tenant', id, true)` —
//! transaction-local, so a pooled connection never carries one request's tenant into the next.

use std::time::Duration;

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::error::ApiError;
use crate::faults::{Fault, Faults};
use crate::pools::{PoolRoute, TenantPools};
use crate::tenant_slots::TenantSlots;

/// The app's connection pools.
#[derive(Clone)]
pub struct Database {
    /// The default pool and the tenants' own (`DATABASE_POOLS`).
    pools: TenantPools,
    /// The owner's pool (lazy: it never connects unless used): only the `rls-bypass-handler`
    /// fault ever uses it, and that fault can be switched on in a running app.
    owner_pool: Option<PgPool>,
    faults: Faults,
    /// Each tenant's share of its pool.
    slots: TenantSlots,
}

impl Database {
    /// Connects lazily: the app starts even when PostgreSQL is briefly away, and `/readyz` tells.
    /// `pooled`: the connections go through a transaction-mode pooler, so every transaction
    /// starts by dropping the prepared statements other clients left on the server connection.
    /// Each of `routes` gets a pool of `pool_size` connections of its own, to its database.
    pub fn connect(
        url: &SecretString,
        owner_url: Option<&SecretString>,
        pool_size: u32,
        tenant_connections: u32,
        faults: Faults,
        pooled: bool,
        routes: &[PoolRoute],
    ) -> Result<Self, sqlx::Error> {
        let mut options = connect_options(url)?;
        if pooled {
            // Statements are never cached: the next transaction may run on another server
            // connection, where they do not exist.
            options = options.statement_cache_capacity(0);
        }
        let pool = pool_options(pool_size).connect_lazy_with(options.clone());
        let routed = routes
            .iter()
            .map(|route| {
                let options = options.clone().database(&route.database);
                (
                    route.key.clone(),
                    pool_options(pool_size).connect_lazy_with(options),
                )
            })
            .collect();
        let owner_pool = match owner_url {
            Some(url) => Some(pool_options(2).connect_lazy_with(connect_options(url)?)),
            None => None,
        };
        Ok(Self {
            pools: TenantPools::new(
                pool,
                routed,
                faults.clone(),
                pooled,
                Some(crate::catalog::PremiumRoutes::new(
                    options,
                    faults.clone(),
                    pooled,
                )),
            ),
            owner_pool,
            faults,
            slots: TenantSlots::new(
                usize::try_from(tenant_connections).unwrap_or(1),
                Duration::from_secs(5),
            ),
        })
    }

    /// Work for one tenant: `None` only under the `session-context-leak` fault.
    pub fn for_tenant(&self, tenant: Option<Uuid>) -> TenantDb {
        TenantDb {
            db: self.clone(),
            tenant,
        }
    }

    /// Maps a subdomain slug to a tenant id before any tenant is set, through the one narrow
    /// SECURITY DEFINER function, on the pool of `asking` (the token's tenant): one plan's load
    /// never delays another plan's requests, not even their lookups.
    pub async fn tenant_for_slug(
        &self,
        asking: Option<Uuid>,
        slug: &str,
    ) -> Result<Option<Uuid>, ApiError> {
        let mut tx = self.begin(asking).await?;
        let id = sqlx::query_scalar("SELECT tenant_id_for_slug($1)")
            .bind(slug)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A transaction on the pool that serves `tenant` (the default pool for `None`).
    async fn begin(
        &self,
        tenant: Option<Uuid>,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ApiError> {
        let pool = self.pools.pool_for(tenant).await?;
        Ok(crate::pools::begin(&pool, self.pools.pooled()).await?)
    }

    pub async fn ping(&self) -> bool {
        let ping = async {
            let mut tx =
                crate::pools::begin(self.pools.default_pool(), self.pools.pooled()).await?;
            sqlx::raw_sql("SELECT 1").execute(&mut *tx).await?;
            tx.commit().await
        };
        tokio::time::timeout(Duration::from_secs(2), ping)
            .await
            .is_ok_and(|r: Result<(), sqlx::Error>| r.is_ok())
    }

    /// FAULT(rls-bypass-handler): reads every tenant's users through the owner's pool, which
    /// bypasses RLS, with no tenant filter — the "reporting query copied into a handler" bug.
    pub async fn all_users_bypassing_rls(
        &self,
    ) -> Result<Vec<crate::routes::users::User>, ApiError> {
        let pool = self.owner_pool.as_ref().ok_or(ApiError::Unavailable)?;
        Ok(
            sqlx::query_as("SELECT id, email, role, created_at FROM users ORDER BY created_at, id")
                .fetch_all(pool)
                .await?,
        )
    }

    /// FAULT(nested-parent-only): the owner's pool, which bypasses RLS, for the nested task
    /// handler that trusts its parent check to cover the child.
    pub fn owner_pool_bypassing_rls(&self) -> Result<&PgPool, ApiError> {
        self.owner_pool.as_ref().ok_or(ApiError::Unavailable)
    }
}

fn pool_options(size: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(5))
}

fn connect_options(url: &SecretString) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(url
        .expose_secret()
        .parse::<PgConnectOptions>()?
        .log_statements(tracing::log::LevelFilter::Trace)
        .application_name("reference-app"))
}

/// Database work for one tenant.
#[derive(Clone)]
pub struct TenantDb {
    db: Database,
    tenant: Option<Uuid>,
}

impl TenantDb {
    /// Every row `sql` selects (no parameters), in one tenant transaction.
    pub async fn fetch_all<T>(&self, sql: &'static str) -> Result<Vec<T>, ApiError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin + 'static,
    {
        self.run(move |tx| Box::pin(async move { Ok(sqlx::query_as(sql).fetch_all(tx).await?) }))
            .await
    }

    /// The row `sql` selects with `$1 = id`, in one tenant transaction; `NotFound(what)` when
    /// there is none (absent, or another tenant's and hidden by RLS).
    pub async fn fetch_by_id<T>(
        &self,
        sql: &'static str,
        id: Uuid,
        what: &'static str,
    ) -> Result<T, ApiError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin + 'static,
    {
        self.run(move |tx| {
            Box::pin(async move {
                sqlx::query_as(sql)
                    .bind(id)
                    .fetch_optional(tx)
                    .await?
                    .ok_or(ApiError::NotFound(what))
            })
        })
        .await
    }

    /// Runs `sql` with `$1 = id` (a DELETE by id) in one tenant transaction; `NotFound(what)`
    /// when it touched no row (absent, or another tenant's and hidden by RLS).
    pub async fn delete_by_id(
        &self,
        sql: &'static str,
        id: Uuid,
        what: &'static str,
    ) -> Result<(), ApiError> {
        let deleted = self
            .run(move |tx| {
                Box::pin(
                    async move { Ok(sqlx::query(sql).bind(id).execute(tx).await?.rows_affected()) },
                )
            })
            .await?;
        if deleted == 0 {
            return Err(ApiError::NotFound(what));
        }
        Ok(())
    }

    /// Runs `work` in a transaction with the tenant set; commits on `Ok`, rolls back on `Err`.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, ApiError>> + Send,
    {
        // FAULT(no-tenant-limits): without the tenant's slot, one tenant can hold the whole pool.
        let _slot = match self.tenant {
            Some(tenant) if !self.db.faults.has(Fault::NoTenantLimits) => {
                Some(self.db.slots.acquire(tenant).await?)
            }
            _ => None,
        };
        let mut tx = self.db.begin(self.tenant).await?;
        if self.db.faults.has(Fault::SessionContextLeak) {
            // FAULT(session-context-leak): the tenant is set for the whole session (`is_local =
            // false`), so it outlives this transaction on the pooled connection; and a request
            // that resolved no tenant sets nothing, inheriting whatever the connection holds.
            if let Some(tenant) = self.tenant {
                sqlx::query("SELECT set_config('app.current_tenant', $1, false)")
                    .bind(tenant.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        } else {
            let tenant = self.tenant.ok_or(ApiError::Unauthorized)?;
            sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await?;
        }
        match work(&mut tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }
}

/// Applies the migrations over `MIGRATION_DATABASE_URL` (or only tries them, with `dry_run`).
pub async fn migrate(owner_url: &SecretString, dry_run: bool) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect_with(&connect_options(owner_url)?).await?;
    if dry_run {
        for step in crate::migrations::dry_run(&mut conn).await? {
            println!(
                "would apply {} {} ({} ms)",
                step.version,
                step.description,
                step.duration.as_millis()
            );
        }
        println!("dry run: rolled back");
    } else {
        for m in crate::migrations::run(&mut conn).await? {
            println!(
                "{} {} success={} {} ms",
                m.version,
                m.description,
                m.success,
                m.execution_time / 1_000_000
            );
        }
    }
    conn.close().await?;
    Ok(())
}
