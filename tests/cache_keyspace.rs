//! `tenantprobe cache` on a keyspace unlike the reference app's: integer org ids and slugs, cluster
//! hash tags (`{org:42}:…`), typed values (strings, hashes, streams, sorted sets, lists, sets) in
//! two logical databases, tenants learned from a schema of its own (`orgs`, `members`,
//! `invoices`). The correct keyspace yields no finding at all; each planted bug is found by its own
//! case; a real three-primary Redis Cluster is read on every primary.
//!
//! Every test runs its own Redis server: the check reads every logical database by default, so it
//! must not share a server with other tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use sqlx::Connection;
use tenantprobe::cache::{
    self, CacheOptions, CacheOutcome, Classifier, Glob, KeyPattern, LearnOptions, Owners,
};
use tenantprobe::finding::{Finding, Severity};
use tenantprobe::tenancy::Tenancy;
use tenantprobe_testkit::servers::ThrowawayRedis;

const SCHEMA: &str = "
CREATE TABLE orgs (id bigint PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL);
CREATE TABLE members (
  org_id bigint NOT NULL REFERENCES orgs, id bigint NOT NULL, email text NOT NULL,
  full_name text NOT NULL, role text NOT NULL, PRIMARY KEY (org_id, id));
CREATE TABLE invoices (
  org_id bigint NOT NULL REFERENCES orgs, number text NOT NULL, amount_cents bigint NOT NULL,
  status text NOT NULL, issued_on date NOT NULL, PRIMARY KEY (org_id, number));
INSERT INTO orgs VALUES (42, 'acme', 'Acme Corporation'), (43, 'globex', 'Globex Corporation');
INSERT INTO members VALUES
  (42, 1000101, 'wile@acme.example', 'Wile E. Coyote', 'admin'),
  (42, 1000102, 'road@acme.example', 'Road Runner', 'member'),
  (43, 1000201, 'hank@globex.example', 'Hank Scorpio', 'admin'),
  (43, 1000202, 'homer@globex.example', 'Homer Simpson', 'member');
INSERT INTO invoices VALUES
  (42, 'INV-42-0001', 125000, 'paid', '2026-11-01'),
  (43, 'INV-43-0001', 99000, 'paid', '2026-11-01'),
  (43, 'INV-43-0002', 25, 'open', '2026-11-02');
";

const PATTERNS: [&str; 2] = ["{{org:{tenant_id:int}}}:*", "sess/{tenant_id:slug}/*"];
const GLOBALS: [&str; 2] = ["flags:*", "stats:*"];

/// A database with the org schema, a private Redis holding the correct keyspace, and the owners
/// learned from the database.
struct World {
    db: support::TestDb,
    redis: ThrowawayRedis,
    owners: Owners,
    classifier: Classifier,
}

impl World {
    async fn new() -> Self {
        let db = support::empty_db().await;
        let mut conn = support::connect(&db.admin_options()).await;
        sqlx::raw_sql(SCHEMA).execute(&mut conn).await.unwrap();
        let tenancy = Tenancy {
            tenant_column: "org_id".into(),
            tenants_table: Some(tenantprobe::sql::QualifiedName::parse("public.orgs")),
            app_role: sqlx::query_scalar("SELECT current_user::text")
                .fetch_one(&mut conn)
                .await
                .unwrap(),
            ..Tenancy::reference()
        };
        let learned = cache::learn(&mut conn, &tenancy, LearnOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
        assert_eq!(learned.tenants.len(), 2);
        assert_eq!(learned.tables, 2, "members and invoices sampled");
        let acme = &learned.tenants[0];
        assert_eq!(
            (acme.id.as_str(), acme.slug.as_deref()),
            ("42", Some("acme"))
        );
        assert!(acme.texts.contains("wile@acme.example"), "{acme:?}");
        assert!(acme.texts.contains("Acme Corporation"), "{acme:?}");
        assert!(acme.numbers.contains("1000101"), "{acme:?}");
        assert!(
            !acme.texts.contains("paid") && !acme.numbers.contains("42"),
            "{acme:?}"
        );
        let owners = Owners::from_learned(&learned.tenants);
        let classifier = Classifier {
            patterns: PATTERNS
                .iter()
                .map(|p| KeyPattern::parse(p).unwrap())
                .collect(),
            globals: GLOBALS.iter().map(|g| Glob((*g).into())).collect(),
            tenants: Some(owners.segments()),
        };
        let redis = ThrowawayRedis::start().await.unwrap();
        let world = Self {
            db,
            redis,
            owners,
            classifier,
        };
        world.fill_correct_keyspace().await;
        world
    }

    async fn conn(&self, db: u16) -> MultiplexedConnection {
        redis::Client::open(format!("{}/{db}", self.redis.url()))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    async fn run(&self, db: u16, commands: &[&[&str]]) {
        let mut conn = self.conn(db).await;
        for args in commands {
            let mut cmd = redis::cmd(args[0]);
            for a in &args[1..] {
                cmd.arg(*a);
            }
            let _: redis::Value = cmd.query_async(&mut conn).await.unwrap();
        }
    }

    /// Each org's data under its own keys, in every Redis type, in databases 0 and 2.
    async fn fill_correct_keyspace(&self) {
        self.run(
            0,
            &[
                &["SET", "{org:42}:invoices", r#"[{"number":"INV-42-0001","amount_cents":125000,"status":"paid"}]"#],
                &["SET", "{org:43}:invoices", r#"[{"number":"INV-43-0001","amount_cents":99000,"status":"paid"},{"number":"INV-43-0002","amount_cents":25,"status":"open"}]"#],
                &["HSET", "{org:42}:member:1000101", "email", "wile@acme.example", "full_name", "Wile E. Coyote", "role", "admin"],
                &["HSET", "{org:43}:member:1000201", "email", "hank@globex.example", "full_name", "Hank Scorpio", "role", "admin"],
                &["XADD", "{org:42}:events", "*", "type", "login", "user", "wile@acme.example"],
                &["XADD", "{org:43}:events", "*", "type", "login", "user", "1000202"],
                &["ZADD", "{org:42}:leaderboard", "10", "road@acme.example", "5", "1000101"],
                &["ZADD", "{org:43}:leaderboard", "7", "Homer Simpson"],
                &["RPUSH", "{org:42}:recent", "INV-42-0001", "Road Runner"],
                &["SADD", "{org:43}:tags", "Globex Corporation", "vip"],
                &["SET", "sess/acme/s3cr3t", r#"{"user":1000102,"org":42}"#],
                &["SET", "flags:dark-mode", "on"],
                &["HSET", "stats:daily", "requests", "1234", "orgs", "2"],
            ],
        )
        .await;
        self.run(
            2,
            &[
                &[
                    "SET",
                    "{org:43}:cache:dashboard",
                    r#"{"title":"Globex Corporation dashboard","open":1}"#,
                ],
                &["SET", "flags:beta", "off"],
            ],
        )
        .await;
    }

    async fn check(&self) -> CacheOutcome {
        cache::check(
            &self.redis.url(),
            &self.classifier,
            &self.owners,
            &CacheOptions::default(),
        )
        .await
        .unwrap()
    }
}

/// The only finding at medium or above, which must be `rule`.
fn only(outcome: &CacheOutcome, rule: &str) -> Finding {
    let serious: Vec<_> = outcome
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium)
        .collect();
    assert_eq!(serious.len(), 1, "{serious:#?}");
    assert_eq!(serious[0].rule, rule, "{serious:#?}");
    serious[0].clone()
}

#[tokio::test]
async fn the_correct_keyspace_yields_no_finding_in_any_database_or_type() {
    let w = World::new().await;
    let outcome = w.check().await;
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    assert_eq!(outcome.keys, 15);
    let spaces: Vec<(&str, u64)> = outcome
        .keyspaces
        .iter()
        .map(|(n, k, _)| (n.as_str(), *k))
        .collect();
    assert_eq!(spaces, [("db0", 13), ("db2", 2)]);
    assert_eq!(outcome.per_pattern["{{org:{tenant_id:int}}}:*"].keys, 11);
    assert_eq!(outcome.per_pattern["sess/{tenant_id:slug}/*"].keys, 1);
    assert_eq!(outcome.global.keys, 3);
    assert_eq!(
        outcome.values_checked, 15,
        "every key's value, global ones too"
    );
    for command in [
        "GETRANGE",
        "HSCAN",
        "XRANGE",
        "ZRANGE",
        "LRANGE",
        "SRANDMEMBER",
    ] {
        assert!(
            outcome.values_by_command.contains_key(command),
            "{command}: {:?}",
            outcome.values_by_command
        );
    }
}

/// A finding's reproducer.
fn evidence(f: &Finding) -> &str {
    f.evidence
        .as_deref()
        .expect("a finding carries its evidence")
}

/// The check's outcome on the correct keyspace plus `command`, run in logical database `db`: one
/// planted mistake.
async fn check_with(db: u16, command: &[&str]) -> CacheOutcome {
    let w = World::new().await;
    w.run(db, &[command]).await;
    w.check().await
}

/// Asserts that `text` (a finding's detail or evidence) contains every one of `parts`.
fn assert_mentions(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "`{part}` missing from: {text}");
    }
}

/// Another tenant's value in each Redis type, planted one at a time: (command, what the detail
/// names, how the evidence reads the key).
#[tokio::test]
async fn another_tenants_value_is_found_in_a_string_hash_stream_and_sorted_set() {
    let export = r#"{"rows":[{"billing_contact":"homer@globex.example"}]}"#;
    let cases: [(&[&str], &[&str], &str); 4] = [
        (
            &["SET", "{org:42}:invoices:export", export],
            &[
                "tenant 42 (acme)",
                "`homer@globex.example` (tenant 43 (globex))",
            ],
            "GETRANGE '{org:42}:invoices:export' 0 65535",
        ),
        (
            &[
                "HSET",
                "{org:42}:member:1000201",
                "email",
                "hank@globex.example",
                "role",
                "admin",
            ],
            &["hank@globex.example"],
            "HSCAN '{org:42}:member:1000201' 0 COUNT 100",
        ),
        (
            // Globex's member by integer id only: a whole-number field value.
            &[
                "XADD",
                "{org:42}:events",
                "*",
                "type",
                "login",
                "user",
                "1000201",
            ],
            &["`1000201` (tenant 43 (globex))"],
            "XRANGE '{org:42}:events' - + COUNT 100",
        ),
        (
            &["ZADD", "{org:42}:leaderboard", "3", "Hank Scorpio"],
            &["`Hank Scorpio` (tenant 43 (globex))"],
            "ZRANGE",
        ),
    ];
    for (command, named, read_by) in cases {
        let f = only(&check_with(0, command).await, "cache-value-foreign");
        assert_eq!(f.object, command[1]);
        assert_mentions(&f.detail, named);
        assert_mentions(evidence(&f), &[read_by]);
    }
}

#[tokio::test]
async fn a_value_that_only_repeats_what_its_key_asked_for_is_an_echo_and_one_more_value_is_a_leak()
{
    // Acme asked whether an email is taken; the entry repeats the email its key names: Acme
    // learns nothing it did not send.
    let key = "{org:42}:email-taken:homer@globex.example";
    let echo = r#"{"email":"homer@globex.example","taken":true}"#;
    let outcome = check_with(0, &["SET", key, echo]).await;
    assert!(
        outcome
            .findings
            .iter()
            .all(|f| f.severity < Severity::Medium),
        "{:#?}",
        outcome.findings
    );
    // The same entry also naming who holds the email tells Acme something it did not send.
    let leak = r#"{"email":"homer@globex.example","holder":"Homer Simpson"}"#;
    let f = only(
        &check_with(0, &["SET", key, leak]).await,
        "cache-value-foreign",
    );
    assert!(f.detail.contains("`Homer Simpson`"), "{}", f.detail);
    assert!(!f.detail.contains("`homer@globex.example`"), "{}", f.detail);
}

#[tokio::test]
async fn a_key_in_logical_database_3_is_read_and_named_with_its_database() {
    let report = r#"{"top_customer":"Acme Corporation"}"#;
    let outcome = check_with(3, &["SET", "{org:43}:report", report]).await;
    assert!(
        outcome
            .keyspaces
            .iter()
            .any(|(n, k, _)| n == "db3" && *k == 1)
    );
    let f = only(&outcome, "cache-value-foreign");
    assert_eq!(f.object, "{org:43}:report (db 3)");
    assert_mentions(&f.detail, &["`Acme Corporation` (tenant 42 (acme))"]);
    assert!(
        evidence(&f).starts_with("redis-cli -h 127.0.0.1 -p "),
        "{:?}",
        f.evidence
    );
    assert_mentions(evidence(&f), &[" -n 3 GETRANGE"]);
}

#[tokio::test]
async fn a_global_key_holding_tenant_data_is_found() {
    let members = [
        "HSET",
        "stats:top-members",
        "1",
        "wile@acme.example",
        "2",
        "hank@globex.example",
    ];
    let outcome = check_with(0, &members).await;
    let f = only(&outcome, "cache-global-key-holds-tenant-data");
    assert_eq!(f.object, "stats:top-members");
    assert_mentions(&f.detail, &["tenant 42 (acme)", "tenant 43 (globex)"]);
}

#[tokio::test]
async fn an_unnamespaced_key_is_found() {
    let outcome = check_with(0, &["SET", "members:count", "4"]).await;
    let f = only(&outcome, "cache-key-not-namespaced");
    assert_mentions(&f.detail, &["`members:count`"]);
}

#[tokio::test]
async fn an_orphaned_tenant_segment_is_found() {
    let outcome = check_with(0, &["SET", "{org:999}:invoices", "[]"]).await;
    let f = only(&outcome, "cache-key-orphaned");
    assert_eq!(f.object, "{{org:{tenant_id:int}}}:*");
    assert_mentions(&f.detail, &["`{org:999}:invoices`"]);
}

#[tokio::test]
async fn a_malformed_tenant_segment_is_found() {
    let outcome = check_with(2, &["SET", "{org:None}:invoices", "[]"]).await;
    let f = only(&outcome, "cache-key-malformed-tenant");
    assert_mentions(&f.detail, &["`{org:None}:invoices (db 2)`"]);
}

/// A spec whose `[database]` serves only `cache`: no `app_role`.
fn spec(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("orgs.toml");
    std::fs::write(
        &path,
        r#"name = "orgs"

[database]
url_env = "ORGS_DATABASE_URL"
tenant_column = "org_id"
tenants_table = "public.orgs"

[redis]
url_env = "ORGS_REDIS_URL"
key_patterns = ["{{org:{tenant_id:int}}}:*", "sess/{tenant_id:slug}/*"]
global_keys = ["flags:*", "stats:*"]
"#,
    )
    .unwrap();
    path
}

#[tokio::test]
async fn the_cli_reads_a_spec_without_app_role_reports_counts_in_json_and_says_what_the_gate_ignores()
 {
    let w = World::new().await;
    w.run(0, &[&["SET", "{org:999}:invoices", "[]"]]).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let admin = w.db.admin_options();
    let db_url = w.db.url_as(admin.get_username());
    let redis_url = w.redis.url();
    let env = [
        ("ORGS_DATABASE_URL", db_url.as_str()),
        ("ORGS_REDIS_URL", redis_url.as_str()),
    ];
    let spec = spec.to_str().unwrap();
    let (code, stdout, stderr) =
        support::tenantprobe(&["cache", "--target", spec, "--format", "json"], &env);
    assert_eq!(code, 0, "an orphaned key is medium: {stderr}\n{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    support::assert_valid_json("schemas/report.schema.json", &report);
    assert_eq!(report["findings"][0]["rule"], "cache-key-orphaned");
    let stats = &report["stats"];
    assert_eq!(stats["keys"], 16, "{stats}");
    assert!(stats["keys_per_second"].as_f64().unwrap() > 0.0, "{stats}");
    assert_eq!(stats["orphaned_keys"], 1, "{stats}");
    assert_eq!(stats["values_checked"], 15, "{stats}");
    assert_eq!(stats["keyspaces"][1]["keyspace"], "db2", "{stats}");

    let (code, stdout, stderr) = support::tenantprobe(&["cache", "--target", spec], &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("1 medium finding(s) (orphaned or malformed keys) do not fail this run at --fail-on high"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 tenants known to the database"),
        "{stdout}"
    );
    let (code, _, _) =
        support::tenantprobe(&["cache", "--target", spec, "--fail-on", "medium"], &env);
    assert_eq!(code, 1);

    // Without a database: said plainly, and no value is claimed to be checked.
    let (code, stdout, stderr) = support::tenantprobe(
        &[
            "cache",
            "--redis-url",
            &redis_url,
            "--key-pattern",
            PATTERNS[0],
            "--key-pattern",
            PATTERNS[1],
            "--global-key",
            "flags:*",
            "--global-key",
            "stats:*",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("keys are checked by shape only"),
        "{stdout}"
    );
    assert!(stdout.contains("NOT checked"), "{stdout}");
    assert!(stdout.contains("no values checked"), "{stdout}");

    // `--db` chooses databases.
    let (_, stdout, _) = support::tenantprobe(
        &["cache", "--target", spec, "--db", "2", "--format", "json"],
        &env,
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["stats"]["keys"], 2, "{}", report["stats"]);
}

#[tokio::test]
async fn scan_calls_stay_near_a_millisecond_of_server_time() {
    let redis = ThrowawayRedis::start().await.unwrap();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // In chunks: one huge pipeline outlasts the client's response timeout.
    for chunk in 0..20 {
        let mut pipe = redis::pipe();
        for i in chunk * 10_000..(chunk + 1) * 10_000 {
            pipe.cmd("SET")
                .arg(format!("{{org:{}}}:k{i}", i % 50))
                .arg(1)
                .ignore();
        }
        let () = pipe.query_async(&mut conn).await.unwrap();
    }
    let classifier = Classifier {
        patterns: vec![KeyPattern::parse(PATTERNS[0]).unwrap()],
        globals: vec![],
        tenants: None,
    };
    let outcome = cache::check(
        &redis.url(),
        &classifier,
        &Owners::default(),
        &CacheOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(outcome.keys, 200_000);
    assert!(outcome.scan.server_timed, "INFO commandstats read");
    // The first calls (COUNT 500) calibrate; the mean per call never went far above 1 ms (the
    // margin is for a loaded CI machine: a fixed COUNT 10,000 costs ≈ 9 ms).
    assert!(outcome.scan.max_call_usec < 2_500.0, "{:?}", outcome.scan);
    assert!(outcome.scan.final_count < 10_000, "{:?}", outcome.scan);
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let line = stats
        .lines()
        .find(|l| l.starts_with("cmdstat_scan:"))
        .unwrap()
        .to_owned();
    let per_call: f64 = line
        .split(',')
        .find_map(|kv| kv.strip_prefix("usec_per_call="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(per_call < 2_000.0, "{line}");
}

/// A Redis Cluster of three primaries on loopback, each a `redis-server` of its own.
struct Cluster {
    nodes: Vec<(std::process::Child, u16)>,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (child, _) in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_cluster_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The cluster bus listens on port + 10000.
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl Cluster {
    async fn start() -> Self {
        let binary = tenantprobe_testkit::servers::find_redis().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let port = free_cluster_port();
            let child = std::process::Command::new(&binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--daemonize", "no", "--loglevel", "warning"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            nodes.push((child, port));
        }
        let cluster = Self { nodes, _dir: dir };
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (i, (_, port)) in cluster.nodes.iter().enumerate() {
            let mut c = wait_for(*port).await;
            let _: () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(ranges[i].0)
                .arg(ranges[i].1)
                .query_async(&mut c)
                .await
                .unwrap();
        }
        let mut first = wait_for(cluster.nodes[0].1).await;
        for (_, port) in &cluster.nodes[1..] {
            let _: () = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(*port)
                .query_async(&mut first)
                .await
                .unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        'wait: loop {
            assert!(
                std::time::Instant::now() < deadline,
                "cluster not ok in 20 s"
            );
            for (_, port) in &cluster.nodes {
                let mut c = wait_for(*port).await;
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                let nodes: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                if !info.contains("cluster_state:ok") || nodes.lines().count() < 3 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'wait;
                }
            }
            break;
        }
        cluster
    }

    /// Sets `key` on the primary that owns its slot.
    async fn set(&self, key: &str, value: &str) {
        let mut any = wait_for(self.nodes[0].1).await;
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut any)
            .await
            .unwrap();
        let node = match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        };
        let mut c = wait_for(self.nodes[node].1).await;
        let () = c.set(key, value).await.unwrap();
    }
}

async fn wait_for(port: u16) -> MultiplexedConnection {
    let url = format!("redis://127.0.0.1:{port}");
    for _ in 0..500 {
        if let Ok(client) = redis::Client::open(url.as_str())
            && let Ok(mut c) = client.get_multiplexed_async_connection().await
            && redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .is_ok()
        {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("redis-server on {port} not ready");
}

#[tokio::test]
async fn a_redis_cluster_is_read_on_every_primary() {
    let w = World::new().await;
    let cluster = Cluster::start().await;
    // Hash tags put each org's keys in one slot; these land on different primaries.
    let keys = [
        ("{org:42}:invoices", r#"[{"number":"INV-42-0001"}]"#),
        ("{org:43}:invoices", r#"[{"number":"INV-43-0001"}]"#),
        (
            "{org:43}:cache:export",
            r#"{"contact":"wile@acme.example"}"#,
        ),
        ("members:count", "4"),
        ("flags:a", "on"),
        ("flags:b", "on"),
        ("flags:c", "on"),
        ("flags:d", "on"),
    ];
    for (k, v) in keys {
        cluster.set(k, v).await;
    }
    let seed = format!("redis://127.0.0.1:{}", cluster.nodes[1].1);
    let outcome = cache::check(&seed, &w.classifier, &w.owners, &CacheOptions::default())
        .await
        .unwrap();
    assert_eq!(outcome.keyspaces.len(), 3, "{:?}", outcome.keyspaces);
    assert_eq!(outcome.keys, keys.len() as u64, "{:?}", outcome.keyspaces);
    assert!(
        outcome.keyspaces.iter().filter(|(_, k, _)| *k > 0).count() >= 2,
        "keys spread over primaries: {:?}",
        outcome.keyspaces
    );
    let rules: Vec<&str> = outcome.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["cache-value-foreign", "cache-key-not-namespaced"],
        "{:#?}",
        outcome.findings
    );
    assert_eq!(outcome.findings[0].object, "{org:43}:cache:export");
}
