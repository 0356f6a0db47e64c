//! Shared test fixtures: the servers a test binary runs against (`servers`) and a freshly migrated
//! reference database per test (`reference_db`).
//!
//! With `DATABASE_URL` / `REDIS_URL` unset, one throwaway PostgreSQL and one throwaway Redis serve
//! the whole test binary (started on first use, removed at exit); set, the existing servers are
//! used and every database a test creates is dropped when the test ends.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

pub mod desync_api;
pub mod early_api;
pub mod kanban_api;
pub mod path_api;
pub mod tenancy_api;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tenantprobe::provision::ReferenceDatabase;
use tenantprobe::servers::{Postgres, Redis};
use tokio::sync::OnceCell;

pub struct Servers {
    pub postgres: Postgres,
    pub redis: Redis,
}

static SERVERS: OnceCell<Servers> = OnceCell::const_new();

/// The servers of this test binary. Panics with the library's own message (what to install, which
/// variable to set) when neither is available.
pub async fn servers() -> &'static Servers {
    SERVERS
        .get_or_init(|| async {
            let postgres = Postgres::from_env_or_start()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let redis = Redis::from_env_or_start()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            eprintln!(
                "test servers: {}; {}",
                postgres.describe(),
                redis.describe()
            );
            Servers { postgres, redis }
        })
        .await
}

/// A reference database that is dropped again when the test ends if it lives on an existing server
/// (a throwaway cluster disappears as a whole).
pub struct TestDb {
    pub db: ReferenceDatabase,
    external: bool,
}

impl std::ops::Deref for TestDb {
    type Target = ReferenceDatabase;
    fn deref(&self) -> &ReferenceDatabase {
        &self.db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.external {
            return;
        }
        let db = self.db.clone();
        // Drop runs outside any runtime guarantee: use a private one on a private thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(db.drop_database())
        })
        .join();
    }
}

/// A fresh database with the reference schema migrated.
pub async fn reference_db() -> TestDb {
    let servers = servers().await;
    let db = ReferenceDatabase::create(&servers.postgres.url(), "tp_test")
        .await
        .unwrap();
    TestDb {
        db,
        external: matches!(servers.postgres, Postgres::External { .. }),
    }
}

/// A fresh database with roles but no migrations.
pub async fn empty_db() -> TestDb {
    let servers = servers().await;
    let db = ReferenceDatabase::create_empty(&servers.postgres.url(), "tp_test")
        .await
        .unwrap();
    TestDb {
        db,
        external: matches!(servers.postgres, Postgres::External { .. }),
    }
}

pub async fn connect(options: &PgConnectOptions) -> PgConnection {
    PgConnection::connect_with(options).await.unwrap()
}

/// A unique name for roles and other cluster-wide objects a test creates (roles are shared by every
/// database on the server, so tests must not reuse or alter the reference roles).
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A Redis logical database claimed for one test and emptied, so that tests running in parallel
/// never see each other's keys.
pub type RedisDb = tenantprobe::servers::ScratchDb;

pub async fn redis_db() -> RedisDb {
    let server = servers().await.redis.url();
    RedisDb::claim(&server, std::time::Duration::from_secs(600))
        .await
        .unwrap()
}

/// The reference app on a fresh database and its own Redis database, with two synthetic tenants.
pub struct AppWorld {
    pub app: tenantprobe::reference::ReferenceApp,
    pub a: tenantprobe::synthetic::SyntheticTenant,
    pub b: tenantprobe::synthetic::SyntheticTenant,
    pub http: reqwest::Client,
    pub redis: Option<RedisDb>,
    pub db: TestDb,
}

pub async fn app_world(mut options: tenantprobe::reference::Options) -> AppWorld {
    let db = reference_db().await;
    let mut owner = db.connect_as_owner().await.unwrap();
    let a = tenantprobe::synthetic::provision_reference(&mut owner, "acme")
        .await
        .unwrap();
    let b = tenantprobe::synthetic::provision_reference(&mut owner, "globex")
        .await
        .unwrap();
    let redis = match options.redis_url {
        Some(_) => None,
        None => Some(redis_db().await),
    };
    if let Some(r) = &redis {
        options.redis_url = Some(r.url.clone());
    }
    let app = tenantprobe::reference::ReferenceApp::start(&db, options)
        .await
        .unwrap();
    AppWorld {
        app,
        a,
        b,
        http: reqwest::Client::new(),
        redis,
        db,
    }
}

impl AppWorld {
    /// A request as `tenant` (its own valid token, no subdomain).
    pub fn as_tenant(
        &self,
        tenant: &tenantprobe::synthetic::SyntheticTenant,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.app.url()))
            .bearer_auth(self.app.token_for(tenant))
    }

    pub fn anonymous(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.app.url()))
    }
}

/// Status and JSON body (Null when the body is empty or not JSON).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Runs the tenantprobe binary; returns exit code, stdout, stderr.
pub fn tenantprobe(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantprobe"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Validates `instance` against the JSON Schema at `path` (relative to the repository), listing
/// every violation on failure.
pub fn assert_valid_json(schema_path: &str, instance: &serde_json::Value) {
    let text =
        std::fs::read_to_string(format!("{}/{schema_path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    // SARIF 2.1.0-rtm.5 erratum: `run.language`'s pattern has a stray `]`, which strict regex
    // engines reject; the corrected pattern is the one later published in the OASIS errata.
    let text = text.replace(
        r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#,
        r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#,
    );
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_path}: {errors:#?}");
}

/// The repository path of a file.
pub fn repo_path(relative: &str) -> String {
    format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"))
}
