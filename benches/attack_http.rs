//! `attack http` requests per second against a plain reqwest loop hitting the same endpoint
//! (`GET /api/projects` as a tenant) in the same run, one request at a time and four at once,
//! against the reference app (release build) on throwaway servers.
//!
//! `cargo bench --bench attack_http`

mod support;

use std::time::{Duration, Instant};

use tenantprobe::attack::http::{self, HttpAttackConfig};
use tenantprobe_testkit::provision::ReferenceDatabase;
use tenantprobe_testkit::reference::{Options, ReferenceApp};
use tenantprobe_testkit::servers::{Postgres, Redis};

/// Sends `sent` again with a plain client, `at_once` requests in flight, in order; requests/s.
async fn replay(sent: &[http::Sent], at_once: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let begun = Instant::now();
    for chunk in sent.chunks(at_once.max(1)) {
        let requests = chunk.iter().map(|s| {
            let mut r = client.request(
                reqwest::Method::from_bytes(s.method.as_bytes()).unwrap_or(reqwest::Method::GET),
                &s.url,
            );
            if let Some(host) = &s.host {
                r = r.header(reqwest::header::HOST, host);
            }
            if let Some(token) = &s.token {
                r = r.bearer_auth(token);
            }
            if let Some(body) = &s.body {
                r = r.json(body);
            }
            async move { r.send().await?.bytes().await }
        });
        for result in futures::future::join_all(requests).await {
            result?;
        }
    }
    Ok(sent.len() as f64 / begun.elapsed().as_secs_f64())
}

const LOOP: Duration = Duration::from_secs(8);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let postgres = Postgres::from_env_or_start().await?;
    let redis = Redis::from_env_or_start().await?;
    let db = ReferenceDatabase::create(&postgres.url(), "tp_bench_http").await?;
    let options = Options {
        redis_url: Some(redis.url()),
        rate_limit_per_second: u32::MAX,
        rate_limit_burst: u32::MAX,
        ..Options::default()
    };
    let app = ReferenceApp::start(&db, options).await?;
    let slugs = ["tp-bench-a".to_owned(), "tp-bench-b".to_owned()];
    let (target, tenants) =
        support::reference_target(&app, &db, Some(&redis.url()), &slugs).await?;
    let token = target
        .token_for(&tenants[0])
        .ok_or_else(|| anyhow::anyhow!("no token"))?;
    let url = target.url("/api/projects");
    println!("{}; {}", postgres.describe(), redis.describe());
    println!("| what | requests/s | vs plain loop |\n| --- | --- | --- |");
    let mut baselines = Vec::new();
    for at_once in [1usize, 4] {
        let client = reqwest::Client::new();
        let begun = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..at_once {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while begun.elapsed() < LOOP {
                    let response = client.get(&url).bearer_auth(&token).send().await?;
                    response.bytes().await?;
                    n += 1;
                }
                Ok::<u64, reqwest::Error>(n)
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await??;
        }
        let rate = total as f64 / begun.elapsed().as_secs_f64();
        baselines.push(rate);
        println!("| plain reqwest loop, GET /api/projects, {at_once} at once | {rate:.0} | |");
    }
    for (i, at_once) in [1usize, 4].into_iter().enumerate() {
        let config = HttpAttackConfig {
            concurrency: at_once,
            record: true,
            ..HttpAttackConfig::new(150, 1)
        };
        let outcome = http::attack(target.clone(), tenants.clone(), config).await?;
        anyhow::ensure!(
            outcome.findings.is_empty(),
            "the reference app should be clean: {:?}",
            outcome.findings
        );
        let rate = outcome.requests_per_second();
        println!(
            "| tenantprobe attack http, {at_once} at once ({} cases, {} requests, every endpoint, writes included) | {rate:.0} | {:.2}× |",
            outcome.cases,
            outcome.requests,
            rate / baselines[i]
        );
        // The fairest baseline: the very same requests, replayed by a plain loop.
        let replay = replay(&outcome.sent, at_once).await?;
        println!(
            "| plain reqwest loop replaying the same {} requests, {at_once} at once | {replay:.0} | attack at {:.2}× of it |",
            outcome.sent.len(),
            rate / replay
        );
    }
    app.stop().await;
    if matches!(postgres, Postgres::External { .. }) {
        db.drop_database().await?;
    }
    Ok(())
}
