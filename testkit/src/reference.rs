//! The bundled reference app, started in-process on a free port (`ReferenceApp`), for `demo` and
//! the tests: same code path as `reference-app serve`, configured for a `ReferenceDatabase`.

use std::net::SocketAddr;

use reference_app::auth::Claims;
use reference_app::config::Config;
use reference_app::faults::Faults;
use reference_app::migrations::{APP_ROLE, OWNER_ROLE};
use reference_app::startup::Application;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::provision::ReferenceDatabase;
use crate::servers::PoolEntry;
use crate::synthetic::SyntheticTenant;

/// The target spec of the reference app (`probes/reference-app.toml`), built in; parse it with
/// `tenantprobe::spec::Spec::parse(SPEC, SPEC_PATH)` (the kit does not depend on the tool).
pub const SPEC: &str = include_str!("../../probes/reference-app.toml");

/// Where `SPEC` comes from, for messages.
pub const SPEC_PATH: &str = "probes/reference-app.toml";

/// Tenants are served at `{slug}.app.localhost`.
pub const BASE_DOMAIN: &str = "app.localhost";

/// How to start it.
#[derive(Debug, Clone)]
pub struct Options {
    pub faults: Faults,
    pub redis_url: Option<String>,
    pub pool_size: u32,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// The app's own connection (as `app_user`) through a transaction-mode pooler, instead of
    /// straight to the database.
    pub pooler_url: Option<String>,
    /// `DATABASE_POOLS`: tenants' own pooler entries by plan or tenant id (see `PlanPools`).
    pub database_pools: Option<String>,
    /// How long one admin-panel impersonation lasts (tests use a short one to see it expire).
    pub impersonation_seconds: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            faults: Faults::none(),
            redis_url: None,
            pool_size: 10,
            rate_limit_per_second: 1000,
            rate_limit_burst: 2000,
            pooler_url: None,
            database_pools: None,
            // Matches `time_box` in probes/reference-app.toml: `attack admin` waits it out.
            impersonation_seconds: 2,
        }
    }
}

/// Per-tenant connection limits through PgBouncer, by plan: server connections of the default
/// entry (the database's own name: plans without an entry of their own, such as `pro`, and every
/// tenant under the `no-tenant-limits` fault), of `{database}_free` and of
/// `{database}_enterprise`. Each entry's `pool_size` and `max_db_connections` are both its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanPools {
    pub default: u32,
    pub free: u32,
    pub enterprise: u32,
}

impl Default for PlanPools {
    fn default() -> Self {
        Self {
            default: 4,
            free: 2,
            enterprise: 6,
        }
    }
}

impl PlanPools {
    /// The `[databases]` entries for `database` (all of them pointing at it).
    pub fn entries(&self, database: &str) -> Vec<PoolEntry> {
        [
            (database.to_owned(), self.default),
            (format!("{database}_free"), self.free),
            (format!("{database}_enterprise"), self.enterprise),
        ]
        .into_iter()
        .map(|(name, limit)| PoolEntry {
            name,
            dbname: database.to_owned(),
            pool_size: limit,
            max_db_connections: limit,
        })
        .collect()
    }

    /// The app's `DATABASE_POOLS` for those entries (its `DATABASE_URL` names the default one).
    pub fn routes(database: &str) -> String {
        format!("free={database}_free,enterprise={database}_enterprise")
    }
}

/// A running reference app; stopped when dropped.
pub struct ReferenceApp {
    pub addr: SocketAddr,
    pub jwt_secret: String,
    pub admin_token: String,
    /// The admin panel's operator login (`ADMIN_USERNAME`, `ADMIN_PASSWORD`).
    pub admin_username: String,
    pub admin_password: String,
    pub faults: Faults,
    /// The app's connection through a pooler, when it has one.
    pub pooler_url: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl ReferenceApp {
    /// Connects as `app_user` (and, for the faults that need it, as the owner) to `database`.
    pub async fn start(database: &ReferenceDatabase, options: Options) -> anyhow::Result<Self> {
        let jwt_secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let admin_token = uuid::Uuid::new_v4().simple().to_string();
        let admin_username = "operator".to_owned();
        let admin_password = uuid::Uuid::new_v4().simple().to_string();
        let vars = [
            (
                "DATABASE_URL",
                Some(
                    options
                        .pooler_url
                        .clone()
                        .unwrap_or_else(|| database.url_as(APP_ROLE)),
                ),
            ),
            (
                "DATABASE_POOLER",
                options
                    .pooler_url
                    .as_ref()
                    .map(|_| "transaction".to_owned()),
            ),
            ("DATABASE_POOLS", options.database_pools.clone()),
            ("MIGRATION_DATABASE_URL", Some(database.url_as(OWNER_ROLE))),
            ("REDIS_URL", options.redis_url.clone()),
            ("JWT_SECRET", Some(jwt_secret.clone())),
            ("BASE_DOMAIN", Some(BASE_DOMAIN.to_owned())),
            ("ADMIN_TOKEN", Some(admin_token.clone())),
            ("ADMIN_USERNAME", Some(admin_username.clone())),
            ("ADMIN_PASSWORD", Some(admin_password.clone())),
            // The panel's directory and global admin log, through the owner (see README).
            ("ADMIN_DATABASE_URL", Some(database.url_as(OWNER_ROLE))),
            (
                "IMPERSONATION_SECONDS",
                Some(options.impersonation_seconds.to_string()),
            ),
            // Served over plain HTTP on loopback.
            ("ADMIN_COOKIE_SECURE", Some("false".to_owned())),
            ("DATABASE_POOL_SIZE", Some(options.pool_size.to_string())),
            (
                "RATE_LIMIT_PER_SECOND",
                Some(options.rate_limit_per_second.to_string()),
            ),
            (
                "RATE_LIMIT_BURST",
                Some(options.rate_limit_burst.to_string()),
            ),
        ];
        let mut config = Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.clone())
        })?;
        config.faults = options.faults.clone();
        let app = Application::build(&config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = app.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            jwt_secret,
            admin_token,
            admin_username,
            admin_password,
            faults: options.faults,
            pooler_url: options.pooler_url,
            shutdown: Some(tx),
            task,
        })
    }

    /// `http://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Host header that selects `slug`'s subdomain.
    pub fn host_for(&self, slug: &str) -> String {
        format!("{slug}.{BASE_DOMAIN}:{}", self.addr.port())
    }

    /// A valid token for the tenant's synthetic owner.
    pub fn token_for(&self, tenant: &SyntheticTenant) -> String {
        self.sign(&Claims::new(tenant.user_id, tenant.id, "owner", 3600))
    }

    /// Signs arbitrary claims with the app's secret.
    pub fn sign(&self, claims: &Claims) -> String {
        claims.sign(self.jwt_secret.as_bytes()).unwrap_or_default()
    }

    /// The environment the reference spec expects, for this app on `database` (and `redis_url`):
    /// what `demo` and the tests hand to `target::HttpTarget::resolve` and `obtain_tenants`.
    pub fn env(
        &self,
        database: &ReferenceDatabase,
        redis_url: Option<&str>,
    ) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: Vec<(&'static str, String)> = vec![
            ("REFERENCE_APP_URL", self.url()),
            ("JWT_SECRET", self.jwt_secret.clone()),
            ("REFERENCE_APP_ADMIN_USER", self.admin_username.clone()),
            ("REFERENCE_APP_ADMIN_PASSWORD", self.admin_password.clone()),
            ("TENANTPROBE_DATABASE_URL", database.admin_url()),
            ("TENANTPROBE_ADMIN_DATABASE_URL", database.admin_url()),
            ("REDIS_URL", redis_url.unwrap_or_default().to_owned()),
            (
                "TENANTPROBE_POOLER_URL",
                self.pooler_url.clone().unwrap_or_default(),
            ),
        ];
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        }
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for ReferenceApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_pools_write_one_limited_entry_per_plan_and_route_the_app_to_them() {
        let mut config = crate::servers::PoolerConfig::transparent("127.0.0.1", 5432, &[APP_ROLE]);
        config.entries = PlanPools::default().entries("app");
        let ini = config.ini(6432, std::path::Path::new("/tmp/x"));
        let databases = ini.split("\n\n").next().unwrap_or_default();
        assert_eq!(
            databases,
            "[databases]\n\
             app = host=127.0.0.1 port=5432 dbname=app pool_size=4 max_db_connections=4\n\
             app_free = host=127.0.0.1 port=5432 dbname=app pool_size=2 max_db_connections=2\n\
             app_enterprise = host=127.0.0.1 port=5432 dbname=app pool_size=6 max_db_connections=6\n\
             * = host=127.0.0.1 port=5432"
        );
        let routes = reference_app::pools::parse_routes(&PlanPools::routes("app")).unwrap();
        let databases: Vec<&str> = routes.iter().map(|r| r.database.as_str()).collect();
        assert_eq!(databases, ["app_free", "app_enterprise"]);
    }
}
