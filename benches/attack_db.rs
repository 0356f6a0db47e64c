//! `attack db` throughput against a bare pgbench loop of one cross-tenant attempt per
//! transaction (`BEGIN; SET LOCAL ROLE; SAVEPOINT; set_config; SELECT` another tenant's row by its
//! key `; ROLLBACK TO SAVEPOINT; ROLLBACK`, `pgbench -M prepared`) on the same freshly provisioned
//! reference database, at 1 and at 2 connections, repetitions interleaved in one run, beside the
//! attack sending one attempt per round trip as literal SQL (`Pipeline::ONE_AT_A_TIME`, how it
//! worked before batching); then where the attack's time goes (phases, round trips and
//! statements per attempt). With `-- detection`:
//! for each schema fault in tests/faults, the test cases needed to first detection over ten seeds
//! (median and max).
//!
//! `cargo bench --bench attack_db [-- [--reps N] [--seconds S] [detection]]` (throwaway servers,
//! or DATABASE_URL; defaults: 5 repetitions of 5 s per tool and connection count).

use std::process::Command;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tenantprobe::attack::db::{AttackConfig, AttackOutcome, Pipeline, attack};
use tenantprobe::tenancy::Tenancy;
use tenantprobe_testkit::provision::ReferenceDatabase;
use tenantprobe_testkit::servers::{Postgres, find_program};
use tenantprobe_testkit::synthetic;

struct Options {
    detection: bool,
    reps: usize,
    seconds: u64,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        detection: false,
        reps: 5,
        seconds: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "detection" => o.detection = true,
            "--reps" => o.reps = args.next().unwrap_or_default().parse()?,
            "--seconds" => o.seconds = args.next().unwrap_or_default().parse()?,
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    anyhow::ensure!(
        o.reps > 0 && o.seconds > 0,
        "`--reps` and `--seconds` must be at least 1"
    );
    Ok(o)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let postgres = Postgres::from_env_or_start().await?;
    println!("{}", postgres.describe());
    if options.detection {
        return detection_table(&postgres).await;
    }
    throughput(&postgres, &options).await
}

/// The pgbench script: one cross-tenant attempt per transaction, as the attack's observer would
/// run it (tenant A's context, tenant B's project read by its full key).
fn pgbench_script(actor: &str, victim: &str, victim_project: &str) -> String {
    format!(
        "BEGIN;\n\
         SET LOCAL ROLE app_user;\n\
         SAVEPOINT a;\n\
         SELECT set_config('app.current_tenant', '{actor}', true);\n\
         SELECT * FROM projects WHERE tenant_id = '{victim}' AND id = '{victim_project}';\n\
         ROLLBACK TO SAVEPOINT a;\n\
         ROLLBACK;\n"
    )
}

async fn throughput(postgres: &Postgres, options: &Options) -> anyhow::Result<()> {
    let db = ReferenceDatabase::create(&postgres.url(), "tp_bench_attack").await?;
    let mut owner = db.connect_as_owner().await?;
    let a = synthetic::provision_reference(&mut owner, "bench-a").await?;
    let b = synthetic::provision_reference(&mut owner, "bench-b").await?;
    // The slug function is a known, waived cross-tenant read; without EXECUTE the attack runs
    // clean, so what is timed is attacking, not shrinking.
    sqlx::raw_sql("REVOKE EXECUTE ON FUNCTION tenant_id_for_slug(text) FROM app_user")
        .execute(&mut owner)
        .await?;
    owner.close().await?;
    let victim_project = b
        .project_ids
        .first()
        .ok_or_else(|| anyhow::anyhow!("the synthetic tenant has no project"))?;
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(
        file.path(),
        pgbench_script(
            &a.id.to_string(),
            &b.id.to_string(),
            &victim_project.to_string(),
        ),
    )?;
    let pgbench = find_program("pgbench")
        .or_else(|| Some("/usr/lib/postgresql/15/bin/pgbench".into()))
        .ok_or_else(|| anyhow::anyhow!("pgbench not found"))?;
    // Both connect as the administrator: the attack's observer, which assumes the app role.
    let admin = db.admin_options();
    let pgbench_run = |clients: usize| -> anyhow::Result<f64> {
        let mut command = Command::new(&pgbench);
        command
            .args(["-n", "-M", "prepared", "-T"])
            .arg(options.seconds.to_string())
            .args(["-c", &clients.to_string(), "-j", &clients.to_string(), "-f"])
            .arg(file.path())
            .args(["-h", admin.get_host(), "-p", &admin.get_port().to_string()])
            .args(["-U", admin.get_username(), &db.name]);
        if let Ok(password) = std::env::var("PGPASSWORD") {
            command.env("PGPASSWORD", password);
        }
        let out = command.output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "pgbench failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines()
            .find(|l| l.starts_with("tps"))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output: {text}"))
    };
    let tenancy = Tenancy::reference();
    let attack_run = |jobs: usize, pipeline: Pipeline| {
        let mut config = AttackConfig {
            jobs,
            pipeline,
            ..AttackConfig::new(u32::MAX, 1)
        };
        config.run.time_budget = Some(Duration::from_secs(options.seconds));
        let (admin, tenancy) = (admin.clone(), tenancy.clone());
        async move { attack(&admin, &tenancy, &config).await }
    };

    println!(
        "\n{} repetitions of {} s per tool and connection count, interleaved; pgbench -M prepared, one attempt per transaction\n",
        options.reps, options.seconds
    );
    println!(
        "| run | connections | pgbench tx/s | attack db attempts/s | ratio | one attempt per round trip, literal SQL | ratio |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    let connections = [1usize, 2];
    let mut pgbench_rates: Vec<Vec<f64>> = vec![Vec::new(); connections.len()];
    let mut attack_rates: Vec<Vec<f64>> = vec![Vec::new(); connections.len()];
    let mut single_rates: Vec<Vec<f64>> = vec![Vec::new(); connections.len()];
    let mut outcomes: Vec<Vec<AttackOutcome>> =
        (0..connections.len()).map(|_| Vec::new()).collect();
    let mut singles: Vec<Vec<AttackOutcome>> = (0..connections.len()).map(|_| Vec::new()).collect();
    for rep in 1..=options.reps {
        for (i, &c) in connections.iter().enumerate() {
            let tps = pgbench_run(c)?;
            let outcome = attack_run(c, Pipeline::default()).await?;
            let single = attack_run(c, Pipeline::ONE_AT_A_TIME).await?;
            for o in [&outcome, &single] {
                anyhow::ensure!(
                    o.findings.is_empty(),
                    "the benchmark schema should be clean: {:?}",
                    o.findings
                );
            }
            let rate = outcome.attempts_per_second();
            let single_rate = single.attempts_per_second();
            println!(
                "| {rep} | {c} | {tps:.0} | {rate:.0} | {:.2}× | {single_rate:.0} | {:.2}× |",
                rate / tps,
                single_rate / tps
            );
            pgbench_rates[i].push(tps);
            attack_rates[i].push(rate);
            single_rates[i].push(single_rate);
            outcomes[i].push(outcome);
            singles[i].push(single);
        }
    }
    println!(
        "\n| connections | pgbench tx/s, best (median) | attack db attempts/s, best (median) | ratio of bests (of medians) | one attempt per round trip, literal SQL: attempts/s, best (median) | ratio of bests (of medians) |\n| --- | --- | --- | --- | --- | --- |"
    );
    for (i, &c) in connections.iter().enumerate() {
        let (pb, pm) = best_median(&pgbench_rates[i]);
        let (ab, am) = best_median(&attack_rates[i]);
        let (sb, sm) = best_median(&single_rates[i]);
        println!(
            "| {c} | {pb:.0} ({pm:.0}) | {ab:.0} ({am:.0}) | {:.2}× ({:.2}×) | {sb:.0} ({sm:.0}) | {:.2}× ({:.2}×) |",
            ab / pb,
            am / pm,
            sb / pb,
            sm / pm
        );
    }
    for (i, &c) in connections.iter().enumerate() {
        where_the_time_goes(&format!("{c} connection(s)"), &outcomes[i]);
        where_the_time_goes(
            &format!("{c} connection(s), one attempt per round trip, literal SQL"),
            &singles[i],
        );
    }
    if matches!(postgres, Postgres::External { .. }) {
        db.drop_database().await?;
    }
    Ok(())
}

fn best_median(values: &[f64]) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    (
        sorted.last().copied().unwrap_or(0.0),
        sorted.get(sorted.len() / 2).copied().unwrap_or(0.0),
    )
}

/// The attack's timings over all runs at one connection count, per attempt.
fn where_the_time_goes(what: &str, outcomes: &[AttackOutcome]) {
    let mut timings = tenantprobe::attack::db::Timings::default();
    let (mut attempts, mut cases, mut elapsed) = (0u64, 0u64, Duration::ZERO);
    for o in outcomes {
        timings.merge(&o.timings);
        attempts += o.attempts;
        cases += o.cases;
        elapsed += o.elapsed;
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / attempts.max(1) as f64;
    println!(
        "\nWhere the time goes, {what}: {attempts} attempts in {cases} cases ({:.1} attempts per case), {:.1} s of run time, {:.1} s of worker time; µs of worker time per attempt:\n",
        attempts as f64 / cases.max(1) as f64,
        elapsed.as_secs_f64(),
        timings.workers.as_secs_f64()
    );
    println!("| phase | µs per attempt | share |\n| --- | --- | --- |");
    for (phase, d) in timings.phases() {
        println!(
            "| {phase} | {:.1} | {:.0} % |",
            per(d),
            100.0 * d.as_secs_f64() / timings.workers.as_secs_f64().max(1e-9)
        );
    }
    println!(
        "| total | {:.1} | |\n\nPer attempt: {:.2} round trips and {:.2} statements outside seeding; attempt statements prepared and reused {}, prepared on first use {}, sent as literal SQL {}.",
        per(timings.workers),
        timings.round_trips as f64 / attempts.max(1) as f64,
        timings.statements as f64 / attempts.max(1) as f64,
        timings.prepared_hits,
        timings.prepared_new,
        timings.literal
    );
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
                own_server: true,
                ..AttackConfig::new(128, seed)
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
