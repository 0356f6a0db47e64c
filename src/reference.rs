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
use crate::synthetic::SyntheticTenant;

/// The target spec of the reference app (`probes/reference-app.toml`), built in.
pub const SPEC: &str = include_str!("../probes/reference-app.toml");

/// The parsed reference spec.
pub fn spec() -> crate::spec::Spec {
    // The file is tested to parse (spec::tests), so this cannot fail in a released build.
    crate::spec::Spec::parse(SPEC, "probes/reference-app.toml").unwrap_or_else(|e| panic!("{e}"))
}

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
            // Matches `time_box` in probes/reference-app.toml: `attack admin` waits it out.
            impersonation_seconds: 2,
        }
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
