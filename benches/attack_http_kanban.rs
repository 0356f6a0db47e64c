//! The kanban API (tests/support/kanban_api.rs, spec tests/kanban-api.toml) per planted fault and
//! correct: `attack http` at the default case count (64) and the tests' seed (14) — run time,
//! cases run, findings, cases to first detection — and one monitor cycle — its time and the
//! rules it reports. Each run on a fresh database (a throwaway server unless `DATABASE_URL` is set).
//!
//! `cargo bench --bench attack_http_kanban`

#[path = "../tests/support/kanban_api.rs"]
#[allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
mod kanban_api;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tenantprobe::attack::http::{self, HttpAttackConfig};
use tenantprobe::finding::Severity;
use tenantprobe::monitor::{Probe, ProbeOptions, Provisioning};
use tenantprobe::target::{HttpTarget, obtain_tenants};
use tenantprobe_testkit::provision::ReferenceDatabase;
use tenantprobe_testkit::servers::Postgres;

fn rules(findings: &[tenantprobe::finding::Finding]) -> String {
    findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium)
        .map(|f| f.rule.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let postgres = Postgres::from_env_or_start().await?;
        println!("{}", postgres.describe());
        let spec = kanban_api::spec();
        let runs = std::iter::once(None).chain(kanban_api::FAULTS.into_iter().map(Some));
        let mut attack_rows = Vec::new();
        let mut monitor_rows = Vec::new();
        for (i, fault) in runs.enumerate() {
            let name = fault.map_or("correct".to_owned(), |f| format!("`{f}`"));
            let db =
                ReferenceDatabase::create_empty(&postgres.url(), &format!("tp_bench_kanban_{i}"))
                    .await?;
            let api = kanban_api::start(db.admin_options()).await;
            let env = api.env();

            // One monitor cycle with the fault on (canaries created while the API is correct).
            let probe = Probe::setup(
                &spec,
                &env,
                Provisioning::Create,
                Some(ProbeOptions {
                    check_timeout: Duration::from_secs(10),
                    redis_max_keys: 0,
                    redis_sample: 0,
                }),
            )
            .await?;
            probe.init().await.map_err(anyhow::Error::msg)?;
            if let Some(fault) = fault {
                api.set(fault, true);
            }
            let report = probe.cycle().await;
            monitor_rows.push(format!(
                "| {name} | {:.2} s | {} |",
                report.elapsed.as_secs_f64(),
                rules(&report.findings())
            ));

            let target = HttpTarget::resolve(&spec, &env)?;
            let tenants =
                obtain_tenants(&spec, &env, &[], &reqwest::Client::new(), Some(&target)).await?;
            let begun = Instant::now();
            let config = HttpAttackConfig::new(64, 14);
            let outcome = http::attack(target, tenants, config).await?;
            let first = outcome
                .first_seen
                .values()
                .min()
                .map_or("–".to_owned(), |n| n.to_string());
            attack_rows.push(format!(
                "| {name} | {:.1} s | {} | {} ({}) | {first} |",
                begun.elapsed().as_secs_f64(),
                outcome.cases,
                outcome.findings.len(),
                rules(&outcome.findings),
            ));
            drop(api);
            if matches!(postgres, Postgres::External { .. }) {
                db.drop_database().await?;
            }
        }
        println!("| kanban API, attack http | run time | cases run | findings | cases to first detection |");
        println!("| --- | --- | --- | --- | --- |");
        println!("{}", attack_rows.join("\n"));
        println!();
        println!("| kanban API, one monitor cycle | cycle time | rules at medium or above |");
        println!("| --- | --- | --- |");
        println!("{}", monitor_rows.join("\n"));
        Ok(())
    })
}
