//! The premium tier's tenant catalog and routing (`PremiumRoutes`, `Placement`): the table
//! `control.tenant_placements` in the shared database says which tenants live in a database of
//! their own; `PremiumRoutes::route`, asked by the one pool seam (`TenantPools::pool_for`), picks
//! a premium tenant's pool.
//!
//! A tenant without a placement, or whose promotion has not yet copied its rows, is served by the
//! shared database; while its copy is verified and its route switched it is answered 503. A routed
//! tenant is served by its own database and only by it: when that database cannot be reached the
//! request fails (503) rather than reading or writing elsewhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::ApiError;
use crate::faults::{Fault, Faults};

/// The catalog's schema and table, in the shared database.
pub const CATALOG_TABLE: &str = "control.tenant_placements";

/// Creates the catalog if missing (idempotent); run as the owner on the shared database. The app
/// role may read it, never write it: only `promote` (as the owner) moves tenants.
pub const CATALOG_SQL: &str = "
CREATE SCHEMA IF NOT EXISTS control;
CREATE TABLE IF NOT EXISTS control.tenant_placements (
    tenant_id     uuid        PRIMARY KEY,
    database_name text        NOT NULL UNIQUE,
    app_role      text        NOT NULL UNIQUE,
    state         text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
GRANT USAGE ON SCHEMA control TO app_user;
GRANT SELECT ON control.tenant_placements TO app_user;
";

/// States in which requests go to the tenant's own database: the route has been switched.
pub const ROUTED_STATES: [&str; 2] = ["routed", "done"];

/// States in which the tenant is fenced off (503): its rows are copied and being verified, so a
/// write now would reach the shared database after the copy and be lost at the clean-up.
pub const FENCED_STATES: [&str; 2] = ["copied", "verified"];

/// How long an app instance trusts a tenant's catalog row. `promote` holds the fence (503) for
/// longer than this before it verifies, so no instance still writes to the shared database then.
pub const ROUTE_TTL: Duration = Duration::from_millis(500);

/// Cached tenants are pruned to the fresh ones above this many.
const PRUNE_ABOVE: usize = 10_000;

/// Premium databases kept open at once; the least recently opened is closed beyond this.
const MAX_POOLS: usize = 64;
/// Connections per premium database pool.
const POOL_SIZE: u32 = 4;
/// How long a request waits for a premium database before it answers 503.
const CONNECT_WAIT: Duration = Duration::from_secs(3);

/// One tenant's row in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Placement {
    pub tenant_id: Uuid,
    pub database_name: String,
    pub app_role: String,
    pub state: String,
}

impl Placement {
    pub fn is_routed(&self) -> bool {
        ROUTED_STATES.contains(&self.state.as_str())
    }
}

/// The catalog row of `tenant`, if any; `None` too while no tenant was ever promoted (no catalog).
pub async fn placement(
    conn: &mut PgConnection,
    tenant: Uuid,
) -> Result<Option<Placement>, sqlx::Error> {
    let row = sqlx::query_as(
        "SELECT tenant_id, database_name, app_role, state FROM control.tenant_placements WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_optional(conn)
    .await;
    match row {
        // 42P01 undefined_table, 3F000 invalid_schema_name: nothing was promoted yet.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P01" | "3F000")) => {
            Ok(None)
        }
        other => other,
    }
}

/// Premium routing inside the pool seam (`TenantPools::pool_for`): a routed tenant gets its own
/// database's pool (one small lazy pool per premium database, at most `MAX_POOLS`), everyone else
/// continues to the shared database's pools.
#[derive(Clone)]
pub struct PremiumRoutes {
    /// How the app connects to the shared database; premium pools change the database and role.
    options: PgConnectOptions,
    faults: Faults,
    pooled: bool,
    pools: Arc<Mutex<Pools>>,
    /// Tenant → its catalog row (`None`: shared) and when it was read.
    cached: Arc<Mutex<HashMap<Uuid, CachedPlacement>>>,
}

/// A catalog row (`None`: the tenant is shared) and when it was read.
type CachedPlacement = (Option<Placement>, Instant);

#[derive(Default)]
struct Pools {
    by_database: HashMap<String, PgPool>,
    /// Databases in the order their pools were opened, oldest first.
    order: Vec<String>,
}

impl PremiumRoutes {
    pub fn new(options: PgConnectOptions, faults: Faults, pooled: bool) -> Self {
        Self {
            options,
            faults,
            pooled,
            pools: Arc::default(),
            cached: Arc::default(),
        }
    }

    /// The tenant's catalog row, read on `catalog` (a pool of the shared database: the tenant's own
    /// plan pool, so that reading the catalog never queues one plan behind another) at most once
    /// per `ROUTE_TTL`.
    async fn placement(
        &self,
        tenant: Uuid,
        catalog: &PgPool,
    ) -> Result<Option<Placement>, sqlx::Error> {
        {
            let cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((found, at)) = cached.get(&tenant)
                && at.elapsed() < ROUTE_TTL
            {
                return Ok(found.clone());
            }
        }
        let mut tx = crate::pools::begin(catalog, self.pooled).await?;
        let found = placement(&mut tx, tenant).await?;
        tx.commit().await?;
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.len() > PRUNE_ABOVE {
            cached.retain(|_, (_, at)| at.elapsed() < ROUTE_TTL);
        }
        cached.insert(tenant, (found.clone(), Instant::now()));
        Ok(found)
    }

    /// The pool of `tenant`'s own database, or `None` when the shared database serves it (its
    /// pool there is `catalog`). A routed tenant whose database cannot be reached is a 503, never
    /// the shared database.
    pub async fn route(&self, tenant: Uuid, catalog: &PgPool) -> Result<Option<PgPool>, ApiError> {
        let placement = match self.placement(tenant, catalog).await {
            Ok(p) => p,
            Err(e) if self.faults.has(Fault::PremiumRouteFallback) => {
                // FAULT(premium-route-fallback): a catalog that cannot be read means "shared".
                tracing::warn!(error = %e, "catalog unreadable, serving from the shared database");
                None
            }
            Err(e) => return Err(e.into()),
        };
        if placement
            .as_ref()
            .is_some_and(|p| FENCED_STATES.contains(&p.state.as_str()))
        {
            return Err(ApiError::Unavailable);
        }
        let Some(placement) = placement.filter(Placement::is_routed) else {
            return Ok(None);
        };
        let pool = self.pool_for(&placement);
        if matches!(
            tokio::time::timeout(CONNECT_WAIT, pool.acquire()).await,
            Ok(Ok(_))
        ) {
            return Ok(Some(pool));
        }
        if self.faults.has(Fault::PremiumRouteFallback) {
            // FAULT(premium-route-fallback): the tenant's own database is down or unknown, so the
            // request quietly runs on the shared database — where a half-finished promotion still
            // holds its old rows, and where its writes now land and are lost at clean-up.
            tracing::warn!(database = %placement.database_name, "premium database unreachable, serving from the shared database");
            return Ok(None);
        }
        tracing::error!(database = %placement.database_name, "premium database unreachable");
        Err(ApiError::Unavailable)
    }

    fn pool_for(&self, placement: &Placement) -> PgPool {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pool) = pools.by_database.get(&placement.database_name) {
            return pool.clone();
        }
        if pools.order.len() >= MAX_POOLS {
            let oldest = pools.order.remove(0);
            pools.by_database.remove(&oldest);
        }
        let options = self
            .options
            .clone()
            .database(&placement.database_name)
            .username(&placement.app_role);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(CONNECT_WAIT)
            .connect_lazy_with(options);
        pools.order.push(placement.database_name.clone());
        pools
            .by_database
            .insert(placement.database_name.clone(), pool.clone());
        pool
    }
}
