//! `tenantprobe monitor` cycles against the reference app: database time per cycle (every
//! database check of both synthetic tenants), whole-cycle time, and the probe's resident memory
//! over 1,000 cycles. The app runs as its own `reference-app` process, so the RSS measured here is
//! the probe's (plus this harness). Baseline in the same run: pgbench executing one tenant's
//! visibility probes (the same statements, in one transaction as the app role).
//!
//! `cargo bench --bench monitor` (throwaway servers, or DATABASE_URL / REDIS_URL).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use tenantprobe::monitor::{Check, Probe, ProbeOptions, Provisioning};
use tenantprobe::provision::ReferenceDatabase;
use tenantprobe::servers::{Postgres, Redis, find_program};

const CYCLES: usize = 1000;

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The `reference-app` binary next to this benchmark's target directory, built if missing.
fn reference_app_binary() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .ok_or_else(|| anyhow::anyhow!("no target directory"))?;
    let binary = dir.join("reference-app");
    if !binary.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--workspace",
                "--bin",
                "reference-app",
            ])
            .status()?;
        anyhow::ensure!(status.success(), "cannot build reference-app");
    }
    Ok(binary)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

#[tokio::main(worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Some(pgbench) = find_program("pgbench").or_else(|| {
        let postgres = tenantprobe::servers::find_postgres().ok()?.postgres;
        Some(postgres.with_file_name("pgbench")).filter(|p| p.exists())
    }) else {
        anyhow::bail!("pgbench not found: install the Debian package postgresql-contrib");
    };
    let postgres = Postgres::from_env_or_start().await?;
    let redis = Redis::from_env_or_start().await?;
    let db = ReferenceDatabase::create(&postgres.url(), "tp_bench_monitor").await?;
    let jwt_secret = uuid::Uuid::new_v4().simple().to_string().repeat(2);
    let mut app = Command::new(reference_app_binary()?)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", db.url_as("app_user"))
        .env("REDIS_URL", format!("{}/2", redis.url()))
        .env("JWT_SECRET", &jwt_secret)
        .env("BASE_DOMAIN", tenantprobe::reference::BASE_DOMAIN)
        .env("RATE_LIMIT_PER_SECOND", "100000")
        .env("RATE_LIMIT_BURST", "100000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(
        app.stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
    )
    .read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| anyhow::anyhow!("reference-app said `{line}`"))?
        .to_owned();
    let vars = [
        ("REFERENCE_APP_URL", url),
        ("JWT_SECRET", jwt_secret.clone()),
        ("TENANTPROBE_DATABASE_URL", db.admin_url()),
        ("TENANTPROBE_ADMIN_DATABASE_URL", db.admin_url()),
        ("REDIS_URL", format!("{}/2", redis.url())),
    ];
    let env = move |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    };
    let spec = tenantprobe::reference::spec();
    let options = ProbeOptions {
        check_timeout: Duration::from_secs(10),
        redis_max_keys: 10_000,
        redis_sample: 100,
    };
    let probe = Probe::setup(&spec, &env, Provisioning::Create, Some(options)).await?;
    probe.init().await.map_err(|e| anyhow::anyhow!(e))?;

    // Baseline: one tenant's probes through pgbench, in one transaction as the app role.
    let mut conn =
        <sqlx::PgConnection as sqlx::Connection>::connect_with(&db.admin_options()).await?;
    let relations = tenantprobe::visibility::tenant_relations(
        &mut conn,
        &spec
            .database
            .as_ref()
            .unwrap_or_else(|| unreachable!())
            .tenancy(),
    )
    .await?;
    let tenant = &probe.tenants[0].tenant_id;
    let mut script = tempfile::NamedTempFile::new()?;
    writeln!(
        script,
        "BEGIN;\nSET LOCAL ROLE app_user;\nSELECT set_config('app.current_tenant', '{tenant}', true);"
    )?;
    let probes = relations.iter().filter(|r| r.readable_by_app).count();
    for rel in relations.iter().filter(|r| r.readable_by_app) {
        let sql = tenantprobe::visibility::probe_sql(rel).replace("$1", &format!("'{tenant}'"));
        writeln!(
            script,
            "{};",
            sql.split_whitespace().collect::<Vec<_>>().join(" ")
        )?;
    }
    writeln!(script, "ROLLBACK;")?;
    let out = Command::new(&pgbench)
        .args(["-n", "-M", "prepared", "-c", "1", "-T", "5", "-f"])
        .arg(script.path())
        .arg(db.admin_url())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "pgbench: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pgbench_ms = text
        .lines()
        .find_map(|l| l.strip_prefix("latency average = "))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no latency in pgbench output: {text}"))?;

    let mut db_times = Vec::with_capacity(CYCLES);
    let mut tenant_sweeps = Vec::with_capacity(CYCLES * 2);
    let mut cycle_times = Vec::with_capacity(CYCLES);
    let mut rss = Vec::new();
    for i in 0..CYCLES {
        let report = probe.cycle().await;
        anyhow::ensure!(
            report.passed(),
            "cycle {i} failed: {:#?}",
            report.findings()
        );
        db_times.push(report.db_time());
        cycle_times.push(report.elapsed);
        tenant_sweeps.extend(
            report
                .results
                .iter()
                .filter(|r| r.check == Check::DbTenant)
                .map(|r| r.duration),
        );
        if i == 0 || (i + 1) % 100 == 0 {
            rss.push((i + 1, rss_kib()));
        }
    }
    let _ = app.kill();
    let _ = app.wait();
    for v in [&mut db_times, &mut cycle_times, &mut tenant_sweeps] {
        v.sort_unstable();
    }
    println!(
        "{CYCLES} monitor cycles against the reference app ({}; {probes} tenant relations)",
        postgres.describe()
    );
    println!("| measure | p50 | p95 | p99 |\n| --- | --- | --- | --- |");
    for (label, v) in [
        (
            "database time per cycle (all DB checks, both tenants)",
            &db_times,
        ),
        (
            "one tenant's DB check (observer + app-role sweep)",
            &tenant_sweeps,
        ),
        ("whole cycle (API, DB, Redis)", &cycle_times),
    ] {
        println!(
            "| {label} | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(v, 0.5),
            percentile(v, 0.95),
            percentile(v, 0.99)
        );
    }
    println!(
        "| pgbench: one app-role sweep's statements, same run | {pgbench_ms:.2} ms (average) | | |"
    );
    let series: Vec<String> = rss
        .iter()
        .map(|(n, kib)| format!("{n}: {:.1}", *kib as f64 / 1024.0))
        .collect();
    println!("probe RSS (MiB) after cycles: {}", series.join(", "));
    let first = rss.first().map_or(0, |r| r.1);
    let last = rss.last().map_or(0, |r| r.1);
    let max = rss.iter().map(|r| r.1).max().unwrap_or(0);
    println!(
        "RSS first {:.1} MiB, last {:.1} MiB, max {:.1} MiB, growth from cycle 100 to {CYCLES}: {:.1} MiB",
        first as f64 / 1024.0,
        last as f64 / 1024.0,
        max as f64 / 1024.0,
        (last as f64 - rss.get(1).map_or(first, |r| r.1) as f64) / 1024.0
    );
    if matches!(postgres, Postgres::External { .. }) {
        db.drop_database().await?;
    }
    Ok(())
}
