//! `attack http` per deliberate fault of the reference app, and on the correct app: run time,
//! cases run, and cases to first detection, at the default case count (64) and the tests' seed
//! (7), each on a fresh database (throwaway servers unless `DATABASE_URL`/`REDIS_URL` are set).
//!
//! `cargo bench --bench attack_http_faults`

mod support;

use std::time::Instant;

use reference_app::faults::{Fault, Faults};
use tenantprobe::attack::http::{self, HttpAttackConfig};
use tenantprobe_testkit::provision::ReferenceDatabase;
use tenantprobe_testkit::reference::{Options, ReferenceApp};
use tenantprobe_testkit::servers::{Postgres, Redis};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let postgres = Postgres::from_env_or_start().await?;
    let redis = Redis::from_env_or_start().await?;
    println!("{}; {}", postgres.describe(), redis.describe());
    println!("| reference app | run time | cases run | findings | cases to first detection |");
    println!("| --- | --- | --- | --- | --- |");
    let runs: Vec<Option<Fault>> = std::iter::once(None)
        .chain(
            Fault::ALL
                .into_iter()
                .filter(|f| *f != Fault::NoTenantLimits)
                .map(Some),
        )
        .collect();
    for (i, fault) in runs.into_iter().enumerate() {
        let db =
            ReferenceDatabase::create(&postgres.url(), &format!("tp_bench_faults_{i}")).await?;
        let mut options = Options {
            redis_url: Some(redis.url()),
            faults: fault.into_iter().collect::<Faults>(),
            ..Options::default()
        };
        if fault == Some(Fault::SessionContextLeak) {
            options.pool_size = 2;
        }
        let app = ReferenceApp::start(&db, options).await?;
        let slugs = [format!("tp-bench-{i}-a"), format!("tp-bench-{i}-b")];
        let (target, tenants) =
            support::reference_target(&app, &db, Some(&redis.url()), &slugs).await?;
        let begun = Instant::now();
        let config = HttpAttackConfig::new(64, 7);
        let outcome = http::attack(target, tenants, config).await?;
        let elapsed = begun.elapsed();
        let first = outcome
            .first_seen
            .values()
            .min()
            .map_or("–".to_owned(), |n| n.to_string());
        let rules: Vec<String> = outcome
            .findings
            .iter()
            .map(|f| f.rule.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        println!(
            "| {} | {:.1} s | {} | {} ({}) | {first} |",
            fault.map_or("correct".to_owned(), |f| format!("`{f}`")),
            elapsed.as_secs_f64(),
            outcome.cases,
            outcome.findings.len(),
            rules.join(", "),
        );
        app.stop().await;
        if matches!(postgres, Postgres::External { .. }) {
            db.drop_database().await?;
        }
    }
    Ok(())
}
