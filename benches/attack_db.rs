//! `attack db` throughput against pgbench running the same statements (SAVEPOINT, set_config,
//! SELECT by key, ROLLBACK TO SAVEPOINT) on one connection, in the same run; then with two
//! workers. With `-- detection`: for each schema fault in tests/faults, the test cases needed to
//! first detection over ten seeds (median and max).
//!
//! `cargo bench --bench attack_db [-- detection]` (throwaway servers, or DATABASE_URL).

use std::process::Command;

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tenantprobe::attack::db::{AttackConfig, attack};
use tenantprobe::provision::ReferenceDatabase;
use tenantprobe::servers::{Postgres, find_program};
use tenantprobe::synthetic;
use tenantprobe::tenancy::Tenancy;

/// Attempts per pgbench transaction (one transaction wraps them, as one attack transaction does).
const PER_TRANSACTION: usize = 10;

fn main() -> anyhow::Result<()> {
    let detection = std::env::args().any(|a| a == "detection");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let postgres = Postgres::from_env_or_start().await?;
        println!("{}", postgres.describe());
        if detection {
            return detection_table(&postgres).await;
        }
        let db = ReferenceDatabase::create(&postgres.url(), "tp_bench_attack").await?;
        let mut owner = db.connect_as_owner().await?;
        let tenant = synthetic::provision_reference(&mut owner, "bench").await?;
        // The slug function is a known, waived cross-tenant read; without EXECUTE the attack runs
        // clean, so what is timed is attacking, not shrinking.
        sqlx::raw_sql("REVOKE EXECUTE ON FUNCTION tenant_id_for_slug(text) FROM app_user").execute(&mut owner).await?;
        owner.close().await?;

        let mut script = String::from("BEGIN;\n");
        for _ in 0..PER_TRANSACTION {
            script.push_str(&format!(
                "SAVEPOINT a;\nSELECT set_config('app.current_tenant', '{}', true);\nSELECT * FROM projects WHERE tenant_id = '{}' AND id = '{}';\nROLLBACK TO SAVEPOINT a;\n",
                tenant.id, tenant.id, tenant.project_ids[0]
            ));
        }
        script.push_str("COMMIT;\n");
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), script)?;
        let pgbench = find_program("pgbench").or_else(|| Some("/usr/lib/postgresql/15/bin/pgbench".into())).ok_or_else(|| anyhow::anyhow!("pgbench not found"))?;
        let options = db.options_as("app_user");
        let mut baseline = 0.0f64;
        println!("| what | attempts/s | vs pgbench |\n| --- | --- | --- |");
        for mode in ["simple", "prepared"] {
            let out = Command::new(&pgbench)
                .args(["-n", "-M", mode, "-T", "10", "-f"])
                .arg(file.path())
                .args(["-h", options.get_host(), "-p", &options.get_port().to_string(), "-U", "app_user", &db.name])
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let tps: f64 = text.lines().find(|l| l.starts_with("tps")).and_then(|l| l.split_whitespace().nth(2)).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let rate = tps * PER_TRANSACTION as f64;
            baseline = baseline.max(rate);
            println!("| pgbench -M {mode}, 1 connection | {rate:.0} | |");
        }
        let tenancy = Tenancy::reference();
        for (jobs, cases) in [(1usize, 400u32), (2, 800)] {
            let config = AttackConfig { cases, seed: 1, jobs, ..AttackConfig::default() };
            let outcome = attack(&db.admin_options(), &tenancy, &config).await?;
            anyhow::ensure!(outcome.findings.is_empty(), "the benchmark schema should be clean: {:?}", outcome.findings);
            let rate = outcome.attempts_per_second();
            println!(
                "| tenantprobe attack db, {jobs} worker(s) ({} cases, {} attempts incl. seeding and checks) | {rate:.0} | {:.2}× (per connection {:.2}×) |",
                outcome.cases,
                outcome.attempts,
                rate / baseline,
                rate / baseline / jobs as f64
            );
        }
        if matches!(postgres, Postgres::External { .. }) {
            db.drop_database().await?;
        }
        Ok(())
    })
}

/// Per fault: the test cases run before the fault's finding first appeared, over seeds 1–10.
async fn detection_table(postgres: &Postgres) -> anyhow::Result<()> {
    let faults = [
        ("rls_disabled", "cross-tenant-read", "public.projects"),
        (
            "not_forced_app_owner",
            "cross-tenant-read",
            "public.projects",
        ),
        ("permissive_true", "cross-tenant-read", "public.tasks"),
        ("fail_open", "no-tenant-read", "public.projects"),
        ("view_definer", "cross-tenant-read", "public.task_titles"),
        (
            "security_definer",
            "cross-tenant-read",
            "public.project_names(uuid)",
        ),
        (
            "partition_no_rls",
            "cross-tenant-read",
            "public.audit_events_p",
        ),
        ("truncate_granted", "truncate-allowed", "public.tasks"),
        (
            "fk_without_tenant",
            "foreign-key-existence-oracle",
            "public.tasks",
        ),
        (
            "unique_without_tenant",
            "unique-key-existence-oracle",
            "public.projects",
        ),
        ("insert_no_check", "cross-tenant-insert", "public.projects"),
        (
            "update_moves",
            "row-moved-to-other-tenant",
            "public.projects",
        ),
    ];
    println!(
        "| fault | finding | cases to first detection: median | max | detected in |\n| --- | --- | --- | --- | --- |"
    );
    for (fault, rule, object) in faults {
        let db = ReferenceDatabase::create(&postgres.url(), "tp_bench_detect").await?;
        let sql = std::fs::read_to_string(format!(
            "{}/tests/faults/{fault}.sql",
            env!("CARGO_MANIFEST_DIR")
        ))?
        .replace("{app}", "app_user");
        let mut admin = PgConnection::connect_with(&db.admin_options()).await?;
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let mut firsts = Vec::new();
        for seed in 1..=10u64 {
            let config = AttackConfig {
                cases: 128,
                seed,
                own_server: true,
                ..AttackConfig::default()
            };
            let outcome = attack(&db.admin_options(), &Tenancy::reference(), &config).await?;
            let first = outcome
                .first_seen
                .iter()
                .find(|((r, o), _)| r == rule && o.starts_with(object))
                .map(|(_, n)| *n + 1);
            firsts.extend(first);
        }
        firsts.sort_unstable();
        let median = firsts
            .get(firsts.len() / 2)
            .map_or_else(|| "-".into(), u64::to_string);
        let max = firsts.last().map_or_else(|| "-".into(), u64::to_string);
        println!(
            "| {fault} | {rule} | {median} | {max} | {}/10 seeds |",
            firsts.len()
        );
        if matches!(postgres, Postgres::External { .. }) {
            db.drop_database().await?;
        }
    }
    Ok(())
}
