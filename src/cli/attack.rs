//! `tenantprobe attack db` (and, later, `attack http`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use tenantprobe::Error;
use tenantprobe::attack::RunControls;
use tenantprobe::attack::db::{self, AttackConfig};
use tenantprobe::exit::ExitStatus;
use tenantprobe::report::Report;
use tenantprobe::rules::RuleInfo;
use tenantprobe::target::{AppRole, Flags, Pooler};

use super::common::{
    ApiTargetArgs, DatabaseArgs, OutputArgs, RunFacts, TargetArgs, create_tenants,
};
use super::premium;

#[derive(Debug, Args)]
pub struct AttackArgs {
    #[command(subcommand)]
    pub kind: AttackKind,
}

#[derive(Debug, Subcommand)]
pub enum AttackKind {
    /// Property-based cross-tenant attempts at the database, as the app role.
    ///
    /// Seeds tenants inside one transaction (as the connecting observer, which must be able to
    /// SET ROLE to the app role), attacks as the app role (reads of every relation and function,
    /// point reads, updates, deletes, inserts and moves across tenants, foreign-key and unique-key
    /// oracles, TRUNCATE, missing or malformed tenant context), judges every result by who owns
    /// the values in it, shrinks failures to a minimal SQL reproducer, and rolls everything back.
    Db(AttackDbArgs),
    /// Stateful cross-tenant attacks on an HTTP API described by a target spec.
    ///
    /// Gets test tenants as the spec's [tenants] says, builds a world through the API (each
    /// tenant creates items carrying its canary markers), and runs generated sequences of steps by
    /// the tenant itself, anonymous callers, unknown subdomains, forged and unsigned tokens, and
    /// tenant confusion through the Host, the body or the query string, several at once. Every
    /// answer is judged by ownership and status; failures shrink to a sequence of curl commands.
    /// Creates only items of the test tenants, and deletes them again.
    Http(AttackHttpArgs),
    /// Noisy neighbours: one test tenant sends bounded load through the API while another
    /// measures its own latency and errors.
    ///
    /// The victim's p50/p99 and error rate are measured alone, then while the noisy tenant sends
    /// at most --requests requests for at most --duration. A finding when the victim is worse than
    /// its own baseline by more than the spec's margins ([noisy]), or when the noisy tenant is not
    /// throttled (too few 429s). It generates load: opt-in, for staging or canary targets, and
    /// only on loopback unless --allow-remote.
    Noisy(super::noisy::AttackNoisyArgs),
    /// An admin panel's impersonation, from the spec's [admin] section.
    ///
    /// Asks every operator-only route anonymously and with a tenant's own token (both must be
    /// refused); logs in as the operator, impersonates test tenant A with a unique reason and
    /// opens A's page; reads A's and B's audit trails back over [database] (the reason must be in
    /// A's only); opens B's page with A's impersonation (must be refused); waits out the spec's
    /// `time_box` and opens A's page again (must be refused). Writes only the audit events the
    /// impersonation itself causes.
    Admin(super::admin::AttackAdminArgs),
}

#[derive(Debug, Args)]
pub struct AttackHttpArgs {
    #[command(flatten)]
    pub target: ApiTargetArgs,
    /// Test cases (each a world and a sequence of steps); at least one.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub cases: u32,
    /// Seed of the case generator; the same seed replays the same cases.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Most steps in one case.
    #[arg(long, default_value_t = 32)]
    pub max_steps: usize,
    /// Steps sent at once, so leaks through pools and caches surface.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: u64,
    /// Stop starting new cases after this long (e.g. `2m`); the report is then marked partial.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub time_budget: Option<Duration>,
    /// Time spent shrinking one failing case to its smallest sequence, at most (e.g. `5s`).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub shrink_budget: Duration,
    /// Slugs of the test tenants to provision (the spec's [tenants] decides how).
    #[arg(long = "tenant", value_name = "SLUG", default_values_t = ["tenantprobe-attack-a".to_owned(), "tenantprobe-attack-b".to_owned()])]
    pub tenants: Vec<String>,
    /// File where the seeds of failing cases are kept and replayed first on later runs.
    #[arg(long, value_name = "FILE")]
    pub regressions: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct AttackDbArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Test cases (each a seeded world and a sequence of attack steps), split between workers.
    /// At least one: a run without cases would attack nothing.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub cases: u32,
    /// Seed of the case generator; the run prints it, and the same seed replays the same cases.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Most tenants in one world (at least 2).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=16))]
    pub max_tenants: u64,
    /// Most attack steps in one case (one seeded world serves them all).
    #[arg(long, default_value_t = 64)]
    pub max_steps: usize,
    /// Parallel workers, each with its own connection, transaction and world.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub jobs: u64,
    /// Stop starting new cases after this long (e.g. `90s`, `5m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub time_budget: Option<Duration>,
    /// Time spent shrinking one failing case to its minimal SQL reproducer, at most (e.g. `5s`):
    /// the finding is reported with the smallest case found by then.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub shrink_budget: Duration,
    /// No write attempts and no seeding at all (for production replicas): attacks a sample of
    /// existing rows with reads only.
    #[arg(long)]
    pub read_only: bool,
    /// File where the seeds of failing cases are kept and replayed first on later runs.
    #[arg(long, value_name = "FILE")]
    pub regressions: Option<PathBuf>,
    /// URL that logs in as the app role through the application's transaction-mode pooler
    /// (PgBouncer): pooled connections must not carry a tenant into the next transaction.
    /// Default: the variable the spec names in `database.pooler_url_env`.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub pooler_url: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl AttackArgs {
    pub async fn exec(self) -> Result<ExitStatus, Error> {
        match self.kind {
            AttackKind::Db(args) => args.exec().await,
            AttackKind::Http(args) => args.exec().await,
            AttackKind::Noisy(args) => args.exec().await,
            AttackKind::Admin(args) => args.exec().await,
        }
    }
}

impl AttackDbArgs {
    /// The attack as the flags describe it; `exec` adds what the target and the terminal give.
    fn config(&self, seed: u64) -> AttackConfig {
        AttackConfig {
            run: RunControls {
                time_budget: self.time_budget,
                regressions: self.regressions.clone(),
                ..RunControls::new(self.cases, seed, self.shrink_budget)
            },
            max_tenants: usize::try_from(self.max_tenants).unwrap_or(3),
            max_steps: self.max_steps,
            jobs: usize::try_from(self.jobs).unwrap_or(1),
            read_only: self.read_only,
            own_server: false,
            ..AttackConfig::default()
        }
    }

    pub async fn exec(self) -> Result<ExitStatus, Error> {
        let begun = Instant::now();
        let target = self.target.load(Flags {
            database: Some(self.database.flags(self.pooler_url.clone())),
            ..Flags::default()
        })?;
        let db = target.database(AppRole::Required)?;
        let options = db.checked_options().await?;
        let seed = self.seed.unwrap_or_else(rand_seed);
        let progress = super::ui::case_bar("attack db", u64::from(self.cases));
        let stop = Arc::new(AtomicBool::new(false));
        let mut config = AttackConfig {
            skip_functions: db.skip_functions.clone(),
            explain: Some(tenantprobe::audit::findings),
            ..self.config(seed)
        };
        config.run = watched(config.run, &progress, &stop);
        let attack = db::attack(&options, &db.tenancy, &config);
        tokio::pin!(attack);
        let outcome = tokio::select! {
            outcome = &mut attack => outcome.map_err(Error::failed)?,
            () = crate::shutdown_signal() => {
                // Stop the workers, then cancel what is running on the server so that they stop
                // at once; each rolls its transaction back, and nothing of ours keeps running.
                stop.store(true, Ordering::Relaxed);
                let cancelled = tenantprobe::session::cancel_own_sessions(&options).await;
                tracing::warn!(?cancelled, "interrupted: statements cancelled, nothing kept");
                let _ = attack.await;
                return Err(Error::usage("interrupted: the attack was stopped and rolled back"));
            }
        };
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        let mut notes = vec![
            format!(
                "seed {seed} (`--seed {seed}` replays these cases){}",
                if self.read_only {
                    "; read-only: existing rows, no writes"
                } else {
                    ""
                }
            ),
            format!(
                "{} cases, {} attempts in {:.1} s ({:.0} attempts/s, {} worker(s)); {} seeded tables, {} readable relations, {} callable functions",
                outcome.cases,
                outcome.attempts,
                outcome.elapsed.as_secs_f64(),
                outcome.attempts_per_second(),
                config.jobs,
                outcome.tables,
                outcome.relations,
                outcome.functions
            ),
            "coverage (attempts per property; refused = the database said no):".to_owned(),
        ];
        notes.extend(
            outcome
                .coverage
                .table()
                .into_iter()
                .map(|row| format!("  {row}")),
        );
        if let Some(reason) = &outcome.partial {
            notes.push(format!(
                "PARTIAL report ({reason}): {} of {} cases ran; findings so far are real, but the \
                 run is incomplete",
                outcome.cases, self.cases
            ));
        }
        if !outcome.unconfirmed.is_empty() {
            notes.push(format!(
                "seen once but not shown again by the minimal case (not reported): {}",
                outcome.unconfirmed.join("; ")
            ));
        }
        if !outcome.sequences_advanced.is_empty() {
            notes.push(format!(
                "sequences advanced during the run (values drawn by statements that could not be given explicit keys, e.g. the app role's refused inserts): {}",
                outcome
                    .sequences_advanced
                    .iter()
                    .map(|(name, by)| format!("{name} +{by}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let name = target.name(&db.url);
        let mut rules: Vec<&'static RuleInfo> = db::rules::RULES.to_vec();
        let mut findings = outcome.findings;
        match &db.pooler {
            Pooler::Url(url) => {
                let (pooled, note) = super::pooled::run(&options, url, &db.tenancy).await?;
                findings.extend(pooled);
                notes.push(note);
                rules.extend(tenantprobe::checks::pooled::RULES);
            }
            Pooler::Unset(name) => notes.push(format!(
                "pooled connections NOT checked: the spec names `{name}` (pooler_url_env) but it is not set"
            )),
            Pooler::NotAsked => {}
        }
        if let Some(premium) = premium::premium_databases(&db).await? {
            // Several databases: the same attack on each premium one. The progress bar is gone,
            // and seeds of failing cases are the shared run's file.
            let each = AttackConfig {
                run: RunControls {
                    on_case: None,
                    on_shrink: None,
                    regressions: None,
                    ..config.run.clone()
                },
                ..config.clone()
            };
            findings = premium::in_shared_database(findings, &options);
            let found = premium::examine_each(
                &premium,
                &options,
                &db.tenancy,
                &mut notes,
                async |on, tenancy, p| {
                    let outcome = db::attack(on, tenancy, &each)
                        .await
                        .map_err(Error::failed)?;
                    if outcome.attempts == 0 {
                        return Err(nothing_attempted_on(&p.database));
                    }
                    let summary = format!(
                        "{} cases, {} attempts, {} finding(s)",
                        outcome.cases,
                        outcome.attempts,
                        outcome.findings.len()
                    );
                    Ok((outcome.findings, summary))
                },
            )
            .await?;
            findings.extend(found);
        }
        let matrix = tenantprobe::report::matrix::from_attack_db(&outcome.coverage);
        let report = Report::new("attack db", &name, &rules, begun.elapsed(), &notes);
        let facts = RunFacts {
            spec_file: target.spec_file(),
            seed: Some(seed),
            tenancy: Some(&db.tenancy),
            coverage: Some(&matrix),
        };
        self.output
            .emit(target.spec(), facts, report, &mut findings)
    }
}

/// A premium database `attack db` made no attempt on: nothing there was examined, so the run
/// must not pass.
fn nothing_attempted_on(database: &str) -> Error {
    Error::NothingExamined(format!(
        "attack db made no attempt on premium database `{database}`: nothing there was examined"
    ))
}

/// `run`, advancing `progress` and stopped by `stop` (which SIGINT and SIGTERM set).
fn watched(
    run: RunControls,
    progress: &Option<indicatif::ProgressBar>,
    stop: &Arc<AtomicBool>,
) -> RunControls {
    RunControls {
        on_case: super::ui::case_hook(progress),
        on_shrink: super::ui::shrink_hook(progress),
        stop: Some(Arc::clone(stop)),
        ..run
    }
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() % 1_000_000_000_000
}

impl AttackHttpArgs {
    pub async fn exec(self) -> Result<ExitStatus, Error> {
        use tenantprobe::attack::http::{self, HttpAttackConfig};
        let begun = Instant::now();
        let resolved = self.target.load()?;
        let spec = resolved.require_spec("attack http")?;
        let target = resolved.api()?;
        let tenants = create_tenants(&resolved, &self.tenants, &target).await?;
        let seed = self.seed.unwrap_or_else(rand_seed);
        let progress = super::ui::case_bar("attack http", u64::from(self.cases));
        let stop = Arc::new(AtomicBool::new(false));
        let run = RunControls {
            time_budget: self.time_budget,
            regressions: self.regressions.clone(),
            ..RunControls::new(self.cases, seed, self.shrink_budget)
        };
        let config = HttpAttackConfig {
            run: watched(run, &progress, &stop),
            max_steps: self.max_steps,
            concurrency: usize::try_from(self.concurrency).unwrap_or(4),
            record: false,
        };
        let base = tenantprobe::redact::redact(target.base_url.as_str());
        let attack = http::attack(target, tenants, config);
        tokio::pin!(attack);
        // On SIGINT/SIGTERM the engine stops at its next step and the report of what was found so
        // far is still written, marked partial (the process then exits 130/143).
        let result = tokio::select! {
            result = &mut attack => result,
            () = crate::shutdown_signal() => {
                stop.store(true, Ordering::Relaxed);
                attack.await
            }
        };
        let outcome = result?;
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        // Without items of its own to reach for, no attack means anything: never green.
        if outcome.items_created == 0 && outcome.partial.is_none() {
            return Err(Error::NothingExamined(format!(
                "attack http created no item in {} case(s), so nothing was attacked: check each \
                 resource's `create` endpoint and its `id` pointer (the JSON pointer to the id in \
                 the create response) in the spec",
                outcome.cases
            )));
        }
        let mut notes = Vec::new();
        if let Some(reason) = &outcome.partial {
            notes.push(format!(
                "PARTIAL report ({reason}): {} of {} cases ran; findings so far are confirmed, \
                 but the run is incomplete",
                outcome.cases, self.cases
            ));
        }
        notes.extend([
            format!("{base}; seed {seed} (`--seed {seed}` replays these cases)"),
            format!(
                "{} cases, {} requests in {:.1} s ({:.0} requests/s, {} at once){}",
                outcome.cases,
                outcome.requests,
                outcome.elapsed.as_secs_f64(),
                outcome.requests_per_second(),
                self.concurrency,
                if outcome.throttled > 0 {
                    format!("; {} answers were 429 and retried", outcome.throttled)
                } else {
                    String::new()
                }
            ),
            "coverage (steps per operation and actor):".to_owned(),
        ]);
        let mut by_op: std::collections::BTreeMap<&str, Vec<String>> =
            std::collections::BTreeMap::new();
        for ((op, actor), n) in &outcome.coverage {
            by_op.entry(op).or_default().push(format!("{actor} {n}"));
        }
        notes.extend(
            by_op
                .into_iter()
                .map(|(op, cells)| format!("  {op}: {}", cells.join(", "))),
        );
        if !outcome.first_seen.is_empty() {
            notes.push(
                "cases to first detection (each finding confirmed by replaying it alone):"
                    .to_owned(),
            );
            notes.extend(
                outcome
                    .first_seen
                    .iter()
                    .map(|((rule, object), cases)| format!("  {rule} on {object}: {cases}")),
            );
        }
        if !outcome.unconfirmed.is_empty() {
            notes.push(format!(
                "seen once but not reproduced alone (not reported): {}",
                outcome.unconfirmed.join("; ")
            ));
        }
        notes.push(format!(
            "cleanup: {} item(s) created during the run deleted again{}",
            outcome.items_deleted,
            if outcome.items_left.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} could not be deleted: {}{}",
                    outcome.items_left.len(),
                    outcome
                        .items_left
                        .iter()
                        .take(10)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; "),
                    if outcome.items_left.len() > 10 {
                        "; …"
                    } else {
                        ""
                    }
                )
            }
        ));
        let rules: Vec<&'static RuleInfo> = http::rules::RULES.to_vec();
        let mut findings = outcome.findings;
        let matrix = tenantprobe::report::matrix::from_attack_http(&outcome.endpoints);
        let mut report = Report::new("attack http", &spec.name, &rules, begun.elapsed(), &notes);
        report.stats = Some(serde_json::json!({
            "partial": outcome.partial.is_some(),
            "partial_reason": outcome.partial,
            "cases": outcome.cases,
            "requests": outcome.requests,
            "cases_to_first_detection": outcome
                .first_seen
                .iter()
                .map(|((rule, object), cases)| serde_json::json!({
                    "rule": rule, "object": object, "cases": cases,
                }))
                .collect::<Vec<_>>(),
            "unconfirmed": outcome.unconfirmed,
            "items_created": outcome.items_created,
            "items_deleted": outcome.items_deleted,
            "items_left": outcome.items_left,
        }));
        let facts = RunFacts {
            spec_file: resolved.spec_file(),
            seed: Some(seed),
            tenancy: None,
            coverage: Some(&matrix),
        };
        self.output.emit(Some(spec), facts, report, &mut findings)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn attack_db(args: &[&str]) -> AttackDbArgs {
        let line = ["tenantprobe", "attack", "db"].iter().chain(args);
        match Cli::try_parse_from(line).map(|cli| cli.command) {
            Ok(Command::Attack(AttackArgs {
                kind: AttackKind::Db(args),
            })) => args,
            other => panic!("{args:?} did not parse as attack db: {other:?}"),
        }
    }

    #[test]
    fn shrink_budget_reaches_the_attack_config_and_defaults_to_the_engines() {
        let given = attack_db(&["--shrink-budget", "5s"]).config(1);
        assert_eq!(given.run.shrink_budget, Duration::from_secs(5));
        let default = attack_db(&[]).config(1);
        assert_eq!(
            default.run.shrink_budget,
            AttackConfig::default().run.shrink_budget,
            "without the flag the budget stays the engine's 20 s"
        );
        assert_eq!(default.run.shrink_budget, Duration::from_secs(20));
    }
}
