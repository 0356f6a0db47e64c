//! `tenantprobe attack db` (and, later, `attack http`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use tenantprobe::attack::db::{self, AttackConfig, ProgressHook};
use tenantprobe::exit::ExitStatus;
use tenantprobe::report::Report;
use tenantprobe::rules::RuleInfo;

use super::common::{DatabaseArgs, OutputArgs, TargetArgs};

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
}

#[derive(Debug, Args)]
pub struct AttackHttpArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Override the API's base URL (instead of the variable the spec names).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Test cases (each a world and a sequence of steps).
    #[arg(long, default_value_t = 64)]
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
    /// Stop starting new cases after this long (e.g. `2m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub time_budget: Option<Duration>,
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
    #[arg(long, default_value_t = 128)]
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
    /// No write attempts and no seeding at all (for production replicas): attacks a sample of
    /// existing rows with reads only.
    #[arg(long)]
    pub read_only: bool,
    /// File where the seeds of failing cases are kept and replayed first on later runs.
    #[arg(long, value_name = "FILE")]
    pub regressions: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl AttackArgs {
    pub async fn exec(self) -> anyhow::Result<ExitStatus> {
        match self.kind {
            AttackKind::Db(args) => args.exec().await,
            AttackKind::Http(args) => args.exec().await,
        }
    }
}

impl AttackDbArgs {
    pub async fn exec(self) -> anyhow::Result<ExitStatus> {
        let begun = Instant::now();
        let spec = self.target.load()?;
        let db = self.database.resolve(spec.as_ref())?;
        let options = db.options().await?;
        let seed = self.seed.unwrap_or_else(rand_seed);
        let progress = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(u64::from(self.cases));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} attack db [{bar:30}] {pos}/{len} cases {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let config = AttackConfig {
            cases: self.cases,
            seed,
            max_tenants: usize::try_from(self.max_tenants).unwrap_or(3),
            max_steps: self.max_steps,
            jobs: usize::try_from(self.jobs).unwrap_or(1),
            time_budget: self.time_budget,
            read_only: self.read_only,
            regressions: self.regressions.clone(),
            on_case: progress
                .clone()
                .map(|bar| ProgressHook(Arc::new(move || bar.inc(1)))),
        };
        let outcome = db::attack(&options, &db.tenancy, &config).await?;
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
        let target = spec.as_ref().map_or_else(
            || tenantprobe::servers::without_credentials(&db.url),
            |s| s.name.clone(),
        );
        let rules: Vec<&'static RuleInfo> = db::rules::RULES.to_vec();
        let mut findings = outcome.findings;
        let report = Report {
            command: "attack db",
            target: &target,
            findings: &[],
            rules: &rules,
            duration: begun.elapsed(),
            notes: &notes,
            stats: None,
        };
        self.output.emit(spec.as_ref(), report, &mut findings)
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
    pub async fn exec(self) -> anyhow::Result<ExitStatus> {
        use tenantprobe::attack::http::{self, HttpAttackConfig};
        use tenantprobe::target::{HttpTarget, obtain_tenants, process_env};
        let begun = Instant::now();
        let spec = self.target.load()?.ok_or_else(|| {
            anyhow::anyhow!("attack http needs a target spec: pass --target probes/<name>.toml")
        })?;
        let base_url = self.base_url.clone();
        let api_env = spec
            .api
            .as_ref()
            .map(|a| a.base_url_env.clone())
            .unwrap_or_default();
        let env = move |name: &str| {
            if name == api_env && base_url.is_some() {
                base_url.clone()
            } else {
                process_env(name)
            }
        };
        let target = HttpTarget::resolve(&spec, &env)?;
        let tenants = obtain_tenants(
            &spec,
            &env,
            &self.tenants,
            &reqwest::Client::new(),
            Some(&target),
        )
        .await?;
        let seed = self.seed.unwrap_or_else(rand_seed);
        let progress = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(u64::from(self.cases));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} attack http [{bar:30}] {pos}/{len} cases {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let config = HttpAttackConfig {
            cases: self.cases,
            seed,
            max_steps: self.max_steps,
            concurrency: usize::try_from(self.concurrency).unwrap_or(4),
            time_budget: self.time_budget,
            regressions: self.regressions.clone(),
            on_case: progress
                .clone()
                .map(|bar| ProgressHook(Arc::new(move || bar.inc(1)))),
            record: false,
        };
        let base = target.base_url.to_string();
        let outcome = match http::attack(target, tenants, config).await {
            Err(http::HttpAttackError::Unreachable { url, cause }) => {
                return Err(tenantprobe::servers::ServerError::Unreachable {
                    what: "the API",
                    url,
                    variable: "the spec's base_url_env or --base-url",
                    reason: cause.to_string(),
                }
                .into());
            }
            other => other?,
        };
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        let mut notes = vec![
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
        ];
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
        let rules: Vec<&'static RuleInfo> = http::rules::RULES.to_vec();
        let mut findings = outcome.findings;
        let report = Report {
            command: "attack http",
            target: &spec.name,
            findings: &[],
            rules: &rules,
            duration: begun.elapsed(),
            notes: &notes,
            stats: None,
        };
        self.output.emit(Some(&spec), report, &mut findings)
    }
}
