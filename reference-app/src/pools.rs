//! Which connection pool serves a tenant (`TenantPools::pool_for`): the default pool
//! (`DATABASE_URL`), or the pool of a database entry of its own (`DATABASE_POOLS`: typically one
//! PgBouncer entry per plan or per large tenant, each with its own `pool_size` and
//! `max_db_connections`), chosen by tenant id or by the tenant's plan, looked up once and cached.
//!
//! This is the one seam between a request and a connection: every tenant transaction asks
//! `pool_for` first, so routing a tenant elsewhere (another entry, another database) happens here
//! and nowhere else.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ApiError;
use crate::faults::{Fault, Faults};

/// How long a tenant's plan is trusted before it is looked up again (a plan change takes effect
/// within this time, without a restart).
pub const PLAN_TTL: Duration = Duration::from_secs(300);

/// Cached tenants are pruned to the fresh ones above this many.
const PRUNE_ABOVE: usize = 10_000;

/// What a `DATABASE_POOLS` entry matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolKey {
    /// Every tenant on this plan (the `tenants.plan` column).
    Plan(String),
    /// One (large) tenant, whatever its plan.
    Tenant(Uuid),
}

impl fmt::Display for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plan(plan) => write!(f, "plan `{plan}`"),
            Self::Tenant(id) => write!(f, "tenant `{id}`"),
        }
    }
}

/// One `DATABASE_POOLS` entry: tenants matching `key` connect to `database` (same server, user
/// and options as `DATABASE_URL`; behind PgBouncer, a `[databases]` entry name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRoute {
    pub key: PoolKey,
    pub database: String,
}

/// Parses `DATABASE_POOLS`: comma-separated `KEY=DATABASE`, where `KEY` is a plan name or a tenant
/// id, e.g. `free=app_free,enterprise=app_enterprise,5f0c…=app_acme`.
pub fn parse_routes(text: &str) -> Result<Vec<PoolRoute>, String> {
    let mut routes: Vec<PoolRoute> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, database) = item
            .split_once('=')
            .map(|(k, d)| (k.trim(), d.trim()))
            .ok_or_else(|| format!("`{item}`: expected `PLAN=DATABASE` or `TENANT_ID=DATABASE`"))?;
        let key = match key.parse::<Uuid>() {
            Ok(id) => PoolKey::Tenant(id),
            Err(_)
                if !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                PoolKey::Plan(key.to_owned())
            }
            Err(_) => {
                return Err(format!(
                    "`{key}` is neither a plan name (letters, digits, `_`, `-`) nor a tenant id"
                ));
            }
        };
        if database.is_empty()
            || database
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b"/?#=".contains(&b))
        {
            return Err(format!(
                "`{database}` (for {key}) is not a database name: expected e.g. `app_free`"
            ));
        }
        if routes.iter().any(|r| r.key == key) {
            return Err(format!("{key} is listed twice"));
        }
        routes.push(PoolRoute {
            key,
            database: database.to_owned(),
        });
    }
    Ok(routes)
}

/// The app's tenant-facing pools. Cheap to clone.
#[derive(Clone)]
pub struct TenantPools(Arc<Inner>);

struct Inner {
    default: PgPool,
    routes: Vec<(PoolKey, PgPool)>,
    /// Tenant → index into `routes` (`None`: the default pool), and when it was looked up.
    cached: Mutex<HashMap<Uuid, (Option<usize>, Instant)>>,
    faults: Faults,
    pooled: bool,
    /// Premium tenants' own databases (the tenant catalog), asked before any plan route.
    premium: Option<crate::catalog::PremiumRoutes>,
}

impl TenantPools {
    /// `routes` pair each key with its (lazily connecting) pool; `pooled` when the pools go
    /// through a transaction-mode pooler.
    pub fn new(
        default: PgPool,
        routes: Vec<(PoolKey, PgPool)>,
        faults: Faults,
        pooled: bool,
        premium: Option<crate::catalog::PremiumRoutes>,
    ) -> Self {
        Self(Arc::new(Inner {
            default,
            routes,
            cached: Mutex::default(),
            faults,
            pooled,
            premium,
        }))
    }

    /// The pool for work that belongs to no tenant (slug lookups before a token, health checks).
    pub fn default_pool(&self) -> &PgPool {
        &self.0.default
    }

    /// Whether the pools go through a transaction-mode pooler.
    pub fn pooled(&self) -> bool {
        self.0.pooled
    }

    /// The pool that serves `tenant`: its own entry, else its plan's, else the default pool.
    /// A tenant's plan is read once (on the default pool, as that tenant) and cached for
    /// `PLAN_TTL`. FAULT(no-tenant-limits): every tenant shares the default pool.
    /// A premium tenant (the tenant catalog) gets its own database's pool before any of this.
    pub async fn pool_for(&self, tenant: Option<Uuid>) -> Result<PgPool, ApiError> {
        let inner = &*self.0;
        let Some(tenant) = tenant else {
            return Ok(inner.default.clone());
        };
        let shared = self.shared_pool_for(tenant).await?;
        if let Some(premium) = &inner.premium
            && let Some(pool) = premium.route(tenant, &shared).await?
        {
            return Ok(pool);
        }
        Ok(shared)
    }

    /// The tenant's pool on the shared database: its own entry, else its plan's, else the default.
    async fn shared_pool_for(&self, tenant: Uuid) -> Result<PgPool, ApiError> {
        let inner = &*self.0;
        if inner.routes.is_empty() || inner.faults.has(Fault::NoTenantLimits) {
            return Ok(inner.default.clone());
        }
        let route = match self.cached(tenant) {
            Some(route) => route,
            None => {
                let route = match inner
                    .routes
                    .iter()
                    .position(|(key, _)| *key == PoolKey::Tenant(tenant))
                {
                    Some(i) => Some(i),
                    None => self.plan_route(tenant).await?,
                };
                self.remember(tenant, route);
                route
            }
        };
        Ok(route.map_or(&inner.default, |i| &inner.routes[i].1).clone())
    }

    fn cached(&self, tenant: Uuid) -> Option<Option<usize>> {
        let cached = self.0.cached.lock().unwrap_or_else(PoisonError::into_inner);
        cached
            .get(&tenant)
            .filter(|(_, at)| at.elapsed() < PLAN_TTL)
            .map(|(route, _)| *route)
    }

    fn remember(&self, tenant: Uuid, route: Option<usize>) {
        let mut cached = self.0.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.len() > PRUNE_ABOVE {
            cached.retain(|_, (_, at)| at.elapsed() < PLAN_TTL);
        }
        cached.insert(tenant, (route, Instant::now()));
    }

    /// The route of the tenant's plan. An unknown tenant gets the default pool: the membership
    /// check that follows refuses it anyway.
    async fn plan_route(&self, tenant: Uuid) -> Result<Option<usize>, ApiError> {
        let inner = &*self.0;
        if !inner
            .routes
            .iter()
            .any(|(k, _)| matches!(k, PoolKey::Plan(_)))
        {
            return Ok(None);
        }
        let mut tx = begin(&inner.default, inner.pooled).await?;
        sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
            .bind(tenant.to_string())
            .execute(&mut *tx)
            .await?;
        let plan: Option<String> = sqlx::query_scalar("SELECT plan FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(plan.and_then(|plan| {
            inner
                .routes
                .iter()
                .position(|(key, _)| *key == PoolKey::Plan(plan.clone()))
        }))
    }
}

/// A transaction on `pool`. Behind a transaction pooler, prepared statements that another client
/// left on this server connection are dropped first: sqlx names its statements per client
/// connection, so they would collide with ours.
pub async fn begin(
    pool: &PgPool,
    pooled: bool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if pooled {
        sqlx::raw_sql("DEALLOCATE ALL").execute(&mut *tx).await?;
    }
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_plans_or_tenants_and_bad_entries_are_explained() {
        let id = Uuid::from_u128(7);
        let routes = parse_routes(&format!(
            " free=app_free, enterprise = app_ent ,{id}=app_big,"
        ))
        .unwrap();
        assert_eq!(
            routes,
            [
                PoolRoute {
                    key: PoolKey::Plan("free".into()),
                    database: "app_free".into()
                },
                PoolRoute {
                    key: PoolKey::Plan("enterprise".into()),
                    database: "app_ent".into()
                },
                PoolRoute {
                    key: PoolKey::Tenant(id),
                    database: "app_big".into()
                },
            ]
        );
        assert!(parse_routes("").unwrap().is_empty());
        for (bad, says) in [
            ("free", "expected `PLAN=DATABASE`"),
            ("fr ee=app", "neither a plan name"),
            ("free=", "is not a database name"),
            ("free=a/b", "is not a database name"),
            ("free=a,free=b", "plan `free` is listed twice"),
        ] {
            let err = parse_routes(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
