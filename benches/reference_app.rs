//! `GET /api/projects` on the reference app: requests per second and p99 latency with the Redis
//! cache on and off, measured by wrk (Debian package `wrk`) in one run on the same database.
//!
//! `cargo bench --bench reference_app` (throwaway servers, or DATABASE_URL / REDIS_URL).

use std::process::Command;

use tenantprobe::provision::ReferenceDatabase;
use tenantprobe::reference::{Options, ReferenceApp};
use tenantprobe::servers::{Postgres, Redis, find_program};
use tenantprobe::synthetic;

const DURATION: &str = "10s";
const CONNECTIONS: &str = "16";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(wrk) = find_program("wrk") else {
        anyhow::bail!("`wrk` not found: install the Debian package `wrk`");
    };
    let postgres = Postgres::from_env_or_start().await?;
    let redis = Redis::from_env_or_start().await?;
    let db = ReferenceDatabase::create(&postgres.url(), "tp_bench").await?;
    let mut owner = db.connect_as_owner().await?;
    let acme = synthetic::provision_reference(&mut owner, "acme").await?;
    synthetic::provision_reference(&mut owner, "globex").await?;
    println!(
        "GET /api/projects, wrk -t2 -c{CONNECTIONS} -d{DURATION}, {}",
        postgres.describe()
    );
    println!("| cache | requests/s | p50 | p99 |\n| --- | --- | --- | --- |");
    for (label, redis_url) in [
        ("on (Redis)", Some(redis.url())),
        ("off (PostgreSQL only)", None),
    ] {
        let options = Options {
            redis_url,
            rate_limit_per_second: u32::MAX,
            rate_limit_burst: u32::MAX,
            ..Options::default()
        };
        let app = ReferenceApp::start(&db, options).await?;
        let url = format!("{}/api/projects", app.url());
        let auth = format!("Authorization: Bearer {}", app.token_for(&acme));
        let wrk = wrk.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(wrk)
                .args([
                    "-t2",
                    "-c",
                    CONNECTIONS,
                    "-d",
                    DURATION,
                    "--latency",
                    "-H",
                    &auth,
                    &url,
                ])
                .output()
        })
        .await??;
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |prefix: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(prefix))
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("?")
                .to_owned()
        };
        if text.contains("Non-2xx") {
            anyhow::bail!("wrk saw errors:\n{text}");
        }
        println!(
            "| {label} | {} | {} | {} |",
            field("Requests/sec:"),
            field("50%"),
            field("99%")
        );
        app.stop().await;
    }
    if matches!(postgres, Postgres::External { .. }) {
        db.drop_database().await?;
    }
    Ok(())
}
