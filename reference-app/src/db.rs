//! Database access (`Database`, `TenantDb`). The pool is private to this module: the only way to
//! touch tenant data is `TenantDb::run`, which wraps the work in a transaction that first sets the
//! tenant with `set_config('app.current_tenant', id, true)` — transaction-local, so a pooled
//! connection never carries one request's tenant into the next.

use std::time::Duration;

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::error::ApiError;
use crate::faults::{Fault, Faults};

/// The app's connection pools.
#[derive(Clone)]
pub struct Database {
    pool: PgPool,
    /// The owner's pool (lazy: it never connects unless used): only the `rls-bypass-handler`
    /// fault ever uses it, and that fault can be switched on in a running app.
    owner_pool: Option<PgPool>,
    faults: Faults,
}

impl Database {
    /// Connects lazily: the app starts even when PostgreSQL is briefly away, and `/readyz` tells.
    pub fn connect(
        url: &SecretString,
        owner_url: Option<&SecretString>,
        pool_size: u32,
        faults: Faults,
    ) -> Result<Self, sqlx::Error> {
        let pool = pool_options(pool_size).connect_lazy_with(connect_options(url)?);
        let owner_pool = match owner_url {
            Some(url) => Some(pool_options(2).connect_lazy_with(connect_options(url)?)),
            None => None,
        };
        Ok(Self {
            pool,
            owner_pool,
            faults,
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
    /// SECURITY DEFINER function.
    pub async fn tenant_for_slug(&self, slug: &str) -> Result<Option<Uuid>, ApiError> {
        Ok(sqlx::query_scalar("SELECT tenant_id_for_slug($1)")
            .bind(slug)
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn ping(&self) -> bool {
        tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT 1").execute(&self.pool),
        )
        .await
        .is_ok_and(|r| r.is_ok())
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
    /// Runs `work` in a transaction with the tenant set; commits on `Ok`, rolls back on `Err`.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, ApiError>> + Send,
    {
        let mut tx = self.db.pool.begin().await?;
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
