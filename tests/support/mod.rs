//! Shared test fixtures, on top of the test kit (`tenantprobe_testkit`): the servers a test binary
//! runs against (`servers`), a freshly migrated reference database per test (`reference_db`) and
//! the parsed reference spec (`reference_spec`).
//!
//! With `DATABASE_URL` / `REDIS_URL` unset, one throwaway PostgreSQL and one throwaway Redis serve
//! the whole test binary (started on first use, removed at exit); set, the existing servers are
//! used and every database a test creates is dropped when the test ends.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

pub mod commands;
pub mod desync_api;
pub mod early_api;
pub mod kanban_api;
pub mod path_api;
pub mod targets;
pub mod tenancy_api;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tenantprobe_testkit::provision::ReferenceDatabase;
use tenantprobe_testkit::servers::{Postgres, Redis};
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

/// The parsed reference spec (`probes/reference-app.toml`, built into the test kit).
pub fn reference_spec() -> tenantprobe::spec::Spec {
    use tenantprobe_testkit::reference::{SPEC, SPEC_PATH};
    tenantprobe::spec::Spec::parse(SPEC, SPEC_PATH).unwrap()
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

impl TestDb {
    /// Takes charge of `db`, made on this binary's PostgreSQL: only an existing server outlives
    /// the test, so only there is it dropped.
    async fn new(db: ReferenceDatabase) -> Self {
        let external = matches!(servers().await.postgres, Postgres::External { .. });
        TestDb { db, external }
    }
}

/// A fresh database with the reference schema migrated.
pub async fn reference_db() -> TestDb {
    let url = servers().await.postgres.url();
    TestDb::new(ReferenceDatabase::create(&url, "tp_test").await.unwrap()).await
}

/// A fresh database with roles but no migrations.
pub async fn empty_db() -> TestDb {
    let url = servers().await.postgres.url();
    TestDb::new(
        ReferenceDatabase::create_empty(&url, "tp_test")
            .await
            .unwrap(),
    )
    .await
}

pub async fn connect(options: &PgConnectOptions) -> PgConnection {
    PgConnection::connect_with(options).await.unwrap()
}

/// Runs `sql` (several statements allowed) on a connection of its own with `options`.
pub async fn run_sql(options: &PgConnectOptions, sql: &str) {
    let mut conn = PgConnection::connect_with(options).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"));
}

/// Runs `sql` as the administrator on the server's own default database: for cluster-wide objects
/// such as roles, which outlive every test database.
pub async fn run_sql_on_server(sql: &str) {
    let options: PgConnectOptions = servers().await.postgres.url().parse().unwrap();
    run_sql(&options, sql).await;
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
pub type RedisDb = tenantprobe_testkit::servers::ScratchDb;

pub async fn redis_db() -> RedisDb {
    let server = servers().await.redis.url();
    RedisDb::claim(&server, std::time::Duration::from_secs(600))
        .await
        .unwrap()
}

/// The reference app on a fresh database and its own Redis database, with two synthetic tenants.
pub struct AppWorld {
    pub app: tenantprobe_testkit::reference::ReferenceApp,
    pub a: tenantprobe_testkit::synthetic::SyntheticTenant,
    pub b: tenantprobe_testkit::synthetic::SyntheticTenant,
    pub http: reqwest::Client,
    pub redis: Option<RedisDb>,
    pub db: TestDb,
}

/// Synthetic tenants with these slugs in the reference database `db`, provisioned by its owner.
pub async fn provision_tenants<const N: usize>(
    db: &ReferenceDatabase,
    slugs: [&str; N],
) -> [tenantprobe_testkit::synthetic::SyntheticTenant; N] {
    let mut owner = db.connect_as_owner().await.unwrap();
    let mut tenants = Vec::with_capacity(N);
    for slug in slugs {
        let tenant = tenantprobe_testkit::synthetic::provision_reference(&mut owner, slug)
            .await
            .unwrap_or_else(|e| panic!("provisioning `{slug}`: {e}"));
        tenants.push(tenant);
    }
    owner.close().await.unwrap();
    tenants
        .try_into()
        .unwrap_or_else(|_| unreachable!("one tenant per slug"))
}

/// Reference app options for noisy-neighbour runs: one database connection, 50 requests/s per
/// tenant (burst 20). With per-tenant limits a tenant waits for its own slot before it queues for
/// the pool, so the victim waits behind one of the noisy tenant's transactions at most; without,
/// behind all of them.
pub fn noisy_neighbour_options(
    faults: reference_app::faults::Faults,
) -> tenantprobe_testkit::reference::Options {
    tenantprobe_testkit::reference::Options {
        faults,
        pool_size: 1,
        rate_limit_per_second: 50,
        rate_limit_burst: 20,
        ..tenantprobe_testkit::reference::Options::default()
    }
}

pub async fn app_world(mut options: tenantprobe_testkit::reference::Options) -> AppWorld {
    let db = reference_db().await;
    let [a, b] = provision_tenants(&db, ["acme", "globex"]).await;
    let redis = match options.redis_url {
        Some(_) => None,
        None => Some(redis_db().await),
    };
    if let Some(r) = &redis {
        options.redis_url = Some(r.url.clone());
    }
    let app = tenantprobe_testkit::reference::ReferenceApp::start(&db, options)
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
        tenant: &tenantprobe_testkit::synthetic::SyntheticTenant,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.app.url()))
            .bearer_auth(self.app.token_for(tenant))
    }

    /// The variables the reference spec names, for this world (what `-t probes/reference-app.toml`
    /// needs in the environment).
    pub fn spec_env(&self) -> Vec<(String, String)> {
        let lookup = self
            .app
            .env(&self.db, self.redis.as_ref().map(|r| r.url.as_str()));
        [
            "REFERENCE_APP_URL",
            "JWT_SECRET",
            "TENANTPROBE_DATABASE_URL",
            "TENANTPROBE_ADMIN_DATABASE_URL",
            "REDIS_URL",
        ]
        .into_iter()
        .map(|k| (k.to_owned(), lookup(k).unwrap()))
        .collect()
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

/// Asserts that `findings` hold one of `rule`, on `object` when given; lists them all if not.
pub fn assert_found(findings: &[tenantprobe::finding::Finding], rule: &str, object: Option<&str>) {
    assert!(
        findings
            .iter()
            .any(|f| f.rule == rule && object.is_none_or(|o| f.object == o)),
        "no `{rule}` on {object:?} in {findings:#?}"
    );
}

/// Each finding as (rule, object), in order: what tests compare, and what a failure lists.
pub fn rules_and_objects(findings: &[tenantprobe::finding::Finding]) -> Vec<(&str, &str)> {
    findings
        .iter()
        .map(|f| (f.rule.as_str(), f.object.as_str()))
        .collect()
}

/// The first of `findings` that is `rule` on `object`; if none, panics naming `case` and listing
/// every finding as (rule, object).
pub fn expect_finding<'f>(
    findings: &'f [tenantprobe::finding::Finding],
    rule: &str,
    object: &str,
    case: &str,
) -> &'f tenantprobe::finding::Finding {
    findings
        .iter()
        .find(|f| f.rule == rule && f.object == object)
        .unwrap_or_else(|| {
            panic!(
                "{case}: no `{rule}` on `{object}` in {:#?}",
                rules_and_objects(findings)
            )
        })
}

/// Asserts that `attack db` tried `property` on `object`; shows the coverage table if not.
pub fn assert_attacked(
    coverage: &tenantprobe::attack::db::Coverage,
    object: &str,
    property: tenantprobe::attack::db::Property,
) {
    assert!(
        coverage.cells.contains_key(&(object.to_owned(), property)),
        "{:?}",
        coverage.table()
    );
}

/// Serves `app` on a free loopback port for the rest of the test; returns its address.
pub async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A fresh random bearer token for each tenant: (tenant, token), in the order given.
pub fn static_tokens(tenants: &[&str]) -> Vec<(String, String)> {
    tenants
        .iter()
        .map(|t| {
            (
                (*t).to_owned(),
                format!("{t}-{}", uuid::Uuid::new_v4().simple()),
            )
        })
        .collect()
}

/// The tenant whose token (from `static_tokens`) is `token`.
pub fn tenant_of(tokens: &[(String, String)], token: &str) -> Option<String> {
    tokens
        .iter()
        .find(|(_, t)| t == token)
        .map(|(tenant, _)| tenant.clone())
}

/// A note of the hand-written notes APIs: (tenant, id, text).
pub type Note = (String, String, String);

/// A note as every notes API shows it (inside its own envelope, if any).
pub fn note_json((_, id, text): &Note) -> serde_json::Value {
    serde_json::json!({ "id": id, "text": text })
}

/// `tenant`'s notes as the notes APIs list them, in the order stored.
pub fn notes_of(notes: &[Note], tenant: &str) -> Vec<serde_json::Value> {
    notes
        .iter()
        .filter(|(t, _, _)| t == tenant)
        .map(note_json)
        .collect()
}

/// The `text` of an optional JSON body (what a notes API's PATCH changes).
pub fn body_text(body: &Option<axum::Json<serde_json::Value>>) -> Option<&str> {
    body.as_ref()?.get("text")?.as_str()
}

/// Runs the tenantprobe binary; returns exit code, stdout, stderr.
pub fn tenantprobe(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantprobe"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS");
    outcome(cmd, env)
}

/// Runs `cmd` with `env` added; exit code (-1 when killed by a signal), stdout, stderr.
pub fn outcome(mut cmd: std::process::Command, env: &[(&str, &str)]) -> (i32, String, String) {
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `tenantprobe` run off the runtime's threads: for tests whose app under test this runtime serves.
pub async fn tenantprobe_off_runtime(
    args: Vec<String>,
    env: Vec<(String, String)>,
) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        tenantprobe(&args, &env)
    })
    .await
    .unwrap()
}

/// The arguments of subcommand `words` pointed at the database `url` as the reference app role,
/// then `rest`: how most CLI tests start a command.
pub fn db_command<'a>(words: &[&'a str], url: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    [
        words,
        &["--database-url", url, "--app-role", "app_user"],
        rest,
    ]
    .concat()
}

/// A monitor probe for a spec whose tenants live behind an HTTP API alone (no Redis keys to
/// sample), creating its synthetic tenants' canaries; checks get 10 s on a busy machine.
pub async fn api_probe(
    spec: &tenantprobe::spec::Spec,
    env: tenantprobe::target::Env<'_>,
) -> tenantprobe::monitor::Probe {
    let options = tenantprobe::monitor::ProbeOptions {
        check_timeout: std::time::Duration::from_secs(10),
        redis_max_keys: 0,
        redis_sample: 0,
    };
    tenantprobe::monitor::Probe::setup(
        spec,
        env,
        tenantprobe::monitor::Provisioning::Create,
        Some(options),
    )
    .await
    .unwrap()
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
