//! Noisy neighbours, side by side in one run: the victim tenant's p50/p99 alone and under a noisy
//! tenant's load, with per-tenant limits on (per-plan PgBouncer entries, per-tenant rate limit and
//! connection share) and off (`no-tenant-limits`: one shared entry, no rate limit), measured by
//! `attack noisy`'s own load generator (`tenantprobe::attack::noisy::noisy`).
//!
//! Two loads: cheap requests (`GET /api/projects`, a few milliseconds), and the same requests
//! when the noisy tenant's queries are heavy (each of its transactions that reads `users` sleeps
//! 20 ms on the server, as a tenant running reports would). The noisy tenant is on the free
//! plan, the victim on enterprise.
//!
//! `cargo bench --bench noisy` (throwaway PostgreSQL and PgBouncer, or DATABASE_URL).

mod support;

use std::time::Duration;

use reference_app::faults::{Fault, Faults};
use reference_app::migrations::APP_ROLE;
use tenantprobe::attack::noisy::{self, NoisySpec};
use tenantprobe_testkit::provision::ReferenceDatabase;
use tenantprobe_testkit::reference::{Options, PlanPools, ReferenceApp};
use tenantprobe_testkit::servers::{PoolerConfig, Postgres, ThrowawayPgBouncer};

/// Rounds of every configuration, interleaved, so that they share the machine's moments.
const ROUNDS: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await
}

async fn run() -> anyhow::Result<()> {
    let postgres = Postgres::from_env_or_start().await?;
    let db = ReferenceDatabase::create(&postgres.url(), "tp_bench_noisy").await?;
    let upstream = db.admin_options();
    let mut config =
        PoolerConfig::transparent(upstream.get_host(), upstream.get_port(), &[APP_ROLE]);
    let plans = PlanPools::default();
    config.entries = plans.entries(&db.name);
    let bouncer = ThrowawayPgBouncer::start(&config).await?;
    let settings = NoisySpec {
        requests: 3000,
        duration: Duration::from_secs(5),
        concurrency: 16,
        victim_requests: 100,
        ..NoisySpec::default()
    };
    println!(
        "{}; {}; per-plan entries (server connections): default {}, free {}, enterprise {}; app pool 8 per entry, 50 requests/s (burst 20) per tenant; noisy tenant {} in flight, ≤ {} requests, ≤ {:?}; victim {} requests one at a time, {:?} apart; {ROUNDS} rounds",
        postgres.describe(),
        bouncer.describe(),
        plans.default,
        plans.free,
        plans.enterprise,
        settings.concurrency,
        settings.requests,
        settings.duration,
        settings.victim_requests,
        settings.victim_pause,
    );
    println!(
        "| noisy tenant's queries | per-tenant limits | victim alone p50 / p99 | victim under load p50 / p99 | noisy requests sent / answered 429 | findings |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for heavy in [false, true] {
        if heavy {
            make_noisy_queries_heavy(&db).await?;
        }
        for round in 0..ROUNDS {
            for limits in [true, false] {
                let faults: Faults = if limits {
                    Faults::none()
                } else {
                    [Fault::NoTenantLimits].into_iter().collect()
                };
                let app = ReferenceApp::start(
                    &db,
                    Options {
                        faults,
                        pool_size: 8,
                        rate_limit_per_second: 50,
                        rate_limit_burst: 20,
                        pooler_url: Some(bouncer.url_for(APP_ROLE, &db.name)),
                        database_pools: Some(PlanPools::routes(&db.name)),
                        ..Options::default()
                    },
                )
                .await?;
                let outcome = measure(&db, &app, &settings).await?;
                app.stop().await;
                println!(
                    "| {} (round {}) | {} | {} / {} | {} / {} | {} / {:.0} % | {} |",
                    if heavy { "heavy (20 ms)" } else { "cheap" },
                    round + 1,
                    if limits { "on" } else { "off" },
                    noisy::ms(outcome.baseline.p50),
                    noisy::ms(outcome.baseline.p99),
                    noisy::ms(outcome.loaded.p50),
                    noisy::ms(outcome.loaded.p99),
                    outcome.load.sent,
                    outcome.load.throttled_share() * 100.0,
                    if outcome.findings.is_empty() {
                        "none".to_owned()
                    } else {
                        outcome
                            .findings
                            .iter()
                            .map(|f| f.rule.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                );
            }
        }
    }
    drop(bouncer);
    if matches!(postgres, Postgres::External { .. }) {
        db.drop_database().await?;
    }
    Ok(())
}

/// One `attack noisy` run: the spec's tenants (free noisy, enterprise victim) through the app.
async fn measure(
    db: &ReferenceDatabase,
    app: &ReferenceApp,
    settings: &NoisySpec,
) -> anyhow::Result<noisy::NoisyOutcome> {
    let slugs = ["tp-noisy".to_owned(), "tp-victim".to_owned()];
    let (target, tenants) = support::reference_target(app, db, None, &slugs).await?;
    let mut owner = db.connect_as_owner().await?;
    for (tenant, plan) in [(&tenants[0], "free"), (&tenants[1], "enterprise")] {
        sqlx::query("UPDATE tenants SET plan = $2 WHERE id = $1::uuid")
            .bind(&tenant.tenant_id)
            .bind(plan)
            .execute(&mut owner)
            .await?;
    }
    Ok(noisy::noisy(&target, &tenants[0], &tenants[1], settings).await?)
}

/// The noisy tenant's transactions that read `users` (each request's membership check) sleep
/// 20 ms on the server.
async fn make_noisy_queries_heavy(db: &ReferenceDatabase) -> anyhow::Result<()> {
    let mut owner = db.connect_as_owner().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION tp_heavy_report() RETURNS boolean LANGUAGE plpgsql AS $$
         BEGIN
             IF current_setting('app.current_tenant', true) =
                (SELECT id::text FROM tenants WHERE slug = 'tp-noisy') THEN
                 PERFORM pg_sleep(0.02);
             END IF;
             RETURN true;
         END $$;
         GRANT EXECUTE ON FUNCTION tp_heavy_report() TO {APP_ROLE};
         CREATE POLICY tp_heavy_report ON users AS RESTRICTIVE FOR SELECT
             USING ((SELECT tp_heavy_report()));"
    )))
    .execute(&mut owner)
    .await?;
    Ok(())
}
