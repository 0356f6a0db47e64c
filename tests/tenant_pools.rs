//! Per-tenant connection limits through a real PgBouncer: the reference app routes each tenant to
//! its plan's pooler entry (`DATABASE_POOLS`), so a free-plan tenant that saturates its entry never
//! holds more server connections than the entry allows while an enterprise tenant stays prompt;
//! under the `no-tenant-limits` fault everyone shares one entry and the enterprise tenant waits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reference_app::faults::{Fault, Faults};
use reference_app::migrations::APP_ROLE;
use sqlx::Connection;
use tenantprobe_testkit::reference::{Options, PlanPools, ReferenceApp};
use tenantprobe_testkit::servers::{PoolerConfig, ThrowawayPgBouncer};
use tenantprobe_testkit::synthetic::SyntheticTenant;

/// Every entry gets this many server connections: small, so one tenant can fill it.
const LIMIT: u32 = 2;

/// How long each of the noisy tenant's transactions that read `users` sleeps on the server.
const NOISY_QUERY: Duration = Duration::from_millis(100);

/// Held by each test of this binary: they measure latencies.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct World {
    db: support::TestDb,
    bouncer: ThrowawayPgBouncer,
    app: ReferenceApp,
    noisy: SyntheticTenant,
    victim: SyntheticTenant,
}

/// A free-plan (noisy) and an enterprise-plan (victim) tenant, PgBouncer with the per-plan
/// entries, and the reference app routed to them.
///
/// The noisy tenant's queries are made slow on the server (a restrictive policy that sleeps in
/// that tenant's transactions only), as a tenant running heavy reports would be: then the pool's
/// queue, not the CPU these tests share with everything else, decides how long others wait.
async fn world(faults: Faults) -> World {
    let db = support::reference_db().await;
    let [noisy, victim] = support::provision_tenants(&db, ["noisy", "victim"]).await;
    let mut owner = db.connect_as_owner().await.unwrap();
    for (tenant, plan) in [(&noisy, "free"), (&victim, "enterprise")] {
        sqlx::query("UPDATE tenants SET plan = $2 WHERE id = $1")
            .bind(tenant.id)
            .bind(plan)
            .execute(&mut owner)
            .await
            .unwrap();
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION tp_heavy_report() RETURNS boolean LANGUAGE plpgsql AS $$
         BEGIN
             IF current_setting('app.current_tenant', true) = '{noisy}' THEN
                 PERFORM pg_sleep({sleep});
             END IF;
             RETURN true;
         END $$;
         GRANT EXECUTE ON FUNCTION tp_heavy_report() TO {APP_ROLE};
         CREATE POLICY tp_heavy_report ON users AS RESTRICTIVE FOR SELECT
             USING ((SELECT tp_heavy_report()));",
        noisy = noisy.id,
        sleep = NOISY_QUERY.as_secs_f64(),
    )))
    .execute(&mut owner)
    .await
    .unwrap();
    owner.close().await.unwrap();

    let upstream = db.admin_options();
    let mut config =
        PoolerConfig::transparent(upstream.get_host(), upstream.get_port(), &[APP_ROLE]);
    config.entries = PlanPools {
        default: LIMIT,
        free: LIMIT,
        enterprise: LIMIT,
    }
    .entries(&db.name);
    config.stats_users = vec![APP_ROLE.to_owned()];
    let bouncer = ThrowawayPgBouncer::start(&config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = ReferenceApp::start(
        &db,
        Options {
            faults,
            pool_size: 8,
            pooler_url: Some(bouncer.url_for(APP_ROLE, &db.name)),
            database_pools: Some(PlanPools::routes(&db.name)),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    World {
        db,
        bouncer,
        app,
        noisy,
        victim,
    }
}

impl World {
    /// The pooler entries' names: (free plan's, enterprise plan's, the shared default).
    fn entries(&self) -> (String, String, String) {
        let shared = self.db.name.clone();
        (
            format!("{shared}_free"),
            format!("{shared}_enterprise"),
            shared,
        )
    }
}

/// One entry's figures from PgBouncer's admin console.
#[derive(Debug, Default, Clone, Copy)]
struct EntryStats {
    /// `SHOW DATABASES` `current_connections`: server connections of the entry, all users.
    server_connections: u64,
    /// `SHOW POOLS` `cl_waiting`: clients queued for a server connection.
    clients_waiting: u64,
}

/// `SHOW DATABASES` and `SHOW POOLS`, by entry name (psql: the console speaks only the simple
/// query protocol).
async fn show(bouncer: &ThrowawayPgBouncer) -> HashMap<String, EntryStats> {
    let output = tokio::process::Command::new("psql")
        .args(["-X", "-A", "-F", "|", "-P", "footer=off"])
        .arg(bouncer.url_for(APP_ROLE, "pgbouncer"))
        .args(["-c", "SHOW DATABASES", "-c", "SHOW POOLS"])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut entries: HashMap<String, EntryStats> = HashMap::new();
    let mut header: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let cells: Vec<&str> = line.split('|').collect();
        if cells.first() == Some(&"name") || cells.first() == Some(&"database") {
            header = cells.iter().map(|c| (*c).to_owned()).collect();
            continue;
        }
        let get = |column: &str| {
            header
                .iter()
                .position(|h| h == column)
                .and_then(|i| cells.get(i))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let Some(name) = cells.first() else { continue };
        let entry = entries.entry((*name).to_owned()).or_default();
        if let Some(n) = get("current_connections") {
            entry.server_connections = n;
        }
        if let Some(n) = get("cl_waiting") {
            entry.clients_waiting += n;
        }
    }
    entries
}

/// What one run observed.
#[derive(Debug)]
struct Run {
    /// The victim's latencies under load, sorted.
    victim: Vec<Duration>,
    victim_failures: usize,
    noisy_sent: u64,
    noisy_failures: u64,
    /// Per entry: the most server connections and the most waiting clients seen at once.
    peak: HashMap<String, EntryStats>,
}

impl Run {
    fn victim_p50(&self) -> Duration {
        self.victim[self.victim.len() / 2]
    }

    fn peak(&self, entry: &str) -> EntryStats {
        self.peak.get(entry).copied().unwrap_or_default()
    }
}

/// The noisy tenant keeps 16 requests in flight for 3 s while the victim sends one request at a
/// time (on its subdomain: its slug lookup is routed too) and PgBouncer's console is sampled.
async fn saturate(world: &World) -> Run {
    let http = reqwest::Client::new();
    let noisy_token = world.app.token_for(&world.noisy);
    let victim_token = world.app.token_for(&world.victim);
    let url = format!("{}/api/projects", world.app.url());
    let victim_host = world.app.host_for(&world.victim.slug);
    // Warm-up: connections and each tenant's plan, looked up once.
    for (token, host) in [(&noisy_token, None), (&victim_token, Some(&victim_host))] {
        let mut request = http.get(&url).bearer_auth(token);
        if let Some(host) = host {
            request = request.header(reqwest::header::HOST, host);
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
    }

    let load = Duration::from_secs(3);
    let begun = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (http, url, token) = (reqwest::Client::new(), url.clone(), noisy_token.clone());
        let (sent, failures) = (Arc::clone(&sent), Arc::clone(&failures));
        workers.push(tokio::spawn(async move {
            while begun.elapsed() < load {
                let ok = http
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                sent.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let sampler = {
        let stop = Arc::clone(&stop);
        let bouncer = &world.bouncer;
        async move {
            let mut peak: HashMap<String, EntryStats> = HashMap::new();
            while !stop.load(Ordering::Relaxed) {
                for (name, now) in show(bouncer).await {
                    let p = peak.entry(name).or_default();
                    p.server_connections = p.server_connections.max(now.server_connections);
                    p.clients_waiting = p.clients_waiting.max(now.clients_waiting);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        }
    };
    let victim = async {
        // Let the noisy tenant fill its pool first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut latencies = Vec::new();
        let mut failed = 0;
        while begun.elapsed() < load - Duration::from_millis(200) {
            let started = Instant::now();
            let status = http
                .get(&url)
                .bearer_auth(&victim_token)
                .header(reqwest::header::HOST, &victim_host)
                .send()
                .await
                .map(|r| r.status().as_u16());
            latencies.push(started.elapsed());
            if status.ok() != Some(200) {
                failed += 1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, Ordering::Relaxed);
        (latencies, failed)
    };
    let (peak, (mut latencies, victim_failures)) = tokio::join!(sampler, victim);
    for worker in workers {
        worker.await.unwrap();
    }
    latencies.sort();
    Run {
        victim: latencies,
        victim_failures,
        noisy_sent: sent.load(Ordering::Relaxed),
        noisy_failures: failures.load(Ordering::Relaxed),
        peak,
    }
}

/// A world with `faults` whose free tenant `saturate`s its pool; the run is printed under `label`.
async fn saturated(label: &str, faults: Faults) -> (World, Run) {
    let world = world(faults).await;
    let run = saturate(&world).await;
    eprintln!("{label}: {}", describe(&run));
    (world, run)
}

fn describe(run: &Run) -> String {
    format!(
        "victim {} requests, p50 {:?}, max {:?}, {} failed; noisy {} sent, {} failed; peaks {:?}",
        run.victim.len(),
        run.victim_p50(),
        run.victim.last(),
        run.victim_failures,
        run.noisy_sent,
        run.noisy_failures,
        run.peak
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_tenant_saturating_its_pool_never_exceeds_its_entry_and_an_enterprise_tenant_stays_prompt()
 {
    let _heavy = HEAVY.lock().await;
    let (world, run) = saturated("limits on", Faults::none()).await;
    let (free, enterprise, shared) = world.entries();
    // The free tenant filled its entry, and queued behind it, yet never got past its limit.
    assert_eq!(
        run.peak(&free).server_connections,
        u64::from(LIMIT),
        "{run:?}"
    );
    assert!(run.peak(&free).clients_waiting > 0, "saturated: {run:?}");
    assert_eq!(run.noisy_failures, 0, "{run:?}");
    // The enterprise tenant had its own entry and never queued there.
    assert!(run.peak(&enterprise).server_connections >= 1, "{run:?}");
    assert_eq!(run.peak(&enterprise).clients_waiting, 0, "{run:?}");
    assert_eq!(run.peak(&shared).clients_waiting, 0, "{run:?}");
    assert!(run.victim.len() >= 20, "{run:?}");
    assert_eq!(run.victim_failures, 0, "{run:?}");
    // Prompt: typically well under one of the noisy tenant's queries.
    assert!(
        run.victim_p50() < NOISY_QUERY / 2,
        "the victim waited like the noisy tenant: {}",
        describe(&run)
    );
    world.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tenant_limits_one_shared_pool_makes_the_enterprise_tenant_wait_behind_the_free_one()
 {
    let _heavy = HEAVY.lock().await;
    let no_limits = [Fault::NoTenantLimits].into_iter().collect();
    let (world, run) = saturated("no-tenant-limits", no_limits).await;
    let (free, enterprise, shared) = world.entries();
    // Everyone on the shared entry: the plans' entries were never used.
    assert_eq!(run.peak(&free).server_connections, 0, "{run:?}");
    assert_eq!(run.peak(&enterprise).server_connections, 0, "{run:?}");
    assert_eq!(
        run.peak(&shared).server_connections,
        u64::from(LIMIT),
        "{run:?}"
    );
    assert!(run.peak(&shared).clients_waiting > 0, "{run:?}");
    // Starved: the victim's typical request waited at least one of the noisy tenant's queries.
    assert!(!run.victim.is_empty(), "{run:?}");
    assert!(
        run.victim_p50() >= NOISY_QUERY,
        "the victim did not wait: {}",
        describe(&run)
    );
    world.app.stop().await;
}
