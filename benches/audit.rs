//! The whole `tenantprobe audit` of a ≈ 2,000-table schema, process start to exit (release build),
//! on a throwaway PostgreSQL (or DATABASE_URL). Target: under 1 s.
//!
//! `cargo bench --bench audit`

use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection};
use tenantprobe::large_schema::{self, Shape};
use tenantprobe::provision::ReferenceDatabase;
use tenantprobe::servers::Postgres;

const RUNS: usize = 7;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let postgres = Postgres::from_env_or_start().await?;
    let db = ReferenceDatabase::create_empty(&postgres.url(), "tp_bench_audit").await?;
    let mut owner = db.connect_as_owner().await?;
    let shape = Shape::LARGE;
    let begun = Instant::now();
    for batch in large_schema::sql("big", "app_user", shape) {
        sqlx::raw_sql(AssertSqlSafe(batch))
            .execute(&mut owner)
            .await?;
    }
    owner.close().await?;
    println!(
        "generated {} tenant tables in {:.1} s ({})",
        shape.total_tables(),
        begun.elapsed().as_secs_f64(),
        postgres.describe()
    );

    let url = db.admin_url();
    // `tenantprobe audit` of the generated schema, with `extra` arguments.
    let audit = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantprobe"));
        cmd.args(["audit", "--database-url", &url, "--app-role", "app_user"])
            .args(["--schema", "big", "--tenants-table", "big.tenants"])
            .args(extra);
        cmd
    };
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let begun = Instant::now();
        let out = audit(&["--format", "json"]).output()?;
        times.push(begun.elapsed());
        last = Some(out);
    }
    let out = last.ok_or_else(|| anyhow::anyhow!("no run"))?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "tenantprobe audit, process start to exit, {RUNS} runs: median {:.0} ms, min {:.0} ms, max {:.0} ms; {} findings (exit {:?})",
        ms(times[RUNS / 2]),
        ms(times[0]),
        ms(times[RUNS - 1]),
        report["findings"].as_array().map_or(0, Vec::len),
        out.status.code()
    );
    let human = audit(&["--color", "never"]).output()?;
    let human = String::from_utf8_lossy(&human.stdout);
    if let Some(line) = human.lines().find(|l| l.contains("catalog read in")) {
        println!("breakdown: {}", line.trim_start_matches([' ', '·']));
    }
    if matches!(postgres, Postgres::External { .. }) {
        db.drop_database().await?;
    }
    Ok(())
}
