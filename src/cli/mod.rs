//! The command line (`Cli`): clap types and one `exec` per subcommand; the library never sees clap.

mod admin;
mod attack;
mod audit;
mod cache;
mod common;
mod demo;
mod monitor;
mod noisy;
mod pooled;
mod premium;
mod rules;
pub mod ui;

use clap::{Parser, Subcommand, ValueEnum};
use tenantprobe::exit::ExitStatus;

/// Proves that a multi-tenant SaaS keeps its tenants apart.
///
/// tenantprobe reads a target's PostgreSQL catalog for isolation mistakes, attacks the database and
/// the API across tenants with property-based tests, checks Redis key namespacing, and runs as a
/// production probe with a synthetic tenant. Start with `tenantprobe demo` (from a source
/// checkout).
///
/// Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or configuration error (also a
/// run that would examine nothing), 3 target unreachable, 130 SIGINT, 143 SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "tenantprobe", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "TENANTPROBE_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// Log filter (tracing env-filter syntax), e.g. `info` or `tenantprobe=debug`. Without it,
    /// RUST_LOG applies, else the level -q/-v choose (default: warnings).
    #[arg(long, global = true, env = "TENANTPROBE_LOG")]
    pub log: Option<String>,

    /// Less output: errors only on stderr, no progress or step lines; the report is unchanged.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Cli {
    pub fn verbosity(&self) -> ui::Verbosity {
        if self.quiet {
            ui::Verbosity(-1)
        } else {
            ui::Verbosity(i8::try_from(self.verbose).unwrap_or(i8::MAX))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything against the bundled reference app (from a source checkout).
    ///
    /// The demo is its own binary, `tenantprobe-demo`, built from the source tree (it carries the
    /// reference app and the test kit, which the published tool does not):
    /// `cargo run --release -p tenantprobe-demo`. This command runs it when it sits next to this
    /// binary, and otherwise says so.
    Demo(demo::DemoArgs),
    /// Read a live database's catalog and report every isolation mistake.
    ///
    /// One snapshot of the catalog (a fixed number of queries), then every rule in memory. Needs a
    /// connection that can read the catalog; changes nothing. Without a spec, flags describe the
    /// target: `tenantprobe audit --database-url URL --app-role app_user`.
    Audit(audit::AuditArgs),
    /// Property-based cross-tenant attacks, shrunk to a minimal reproducer.
    Attack(attack::AttackArgs),
    /// Check Redis keys carry a tenant, and no tenant's cached values hold another's.
    ///
    /// SCANs the keyspace (never KEYS) and classifies every key against the spec's patterns
    /// (`tenant:{tenant_id:uuid}:*`) and global globs: not namespaced, orphaned (tenant unknown to
    /// the database), malformed tenant segment. Reads the values of a sample and looks for other
    /// tenants' ids and markers. Read-only; `--rate-limit` and `--max-keys` for production.
    Cache(cache::CacheArgs),
    /// The production probe: synthetic tenants checked on a schedule, Prometheus metrics.
    ///
    /// `init` provisions the synthetic tenants and their canaries once; `run` does one cycle (a
    /// CronJob, with `--pushgateway`); `serve` is the daemon with `/metrics`; `canary` gates a
    /// deployment. Only `init` writes, and only to the synthetic tenants.
    Monitor(monitor::MonitorArgs),
    /// List every rule and property tenantprobe checks, with why it matters and how to fix it.
    Rules(rules::RulesArgs),
    /// Print a shell completion script: `tenantprobe completions bash > /etc/bash_completion.d/tenantprobe`.
    Completions(CompletionsArgs),
    /// Print the man page (roff): `tenantprobe man | man -l -`, or into `man1/tenantprobe.1`.
    Man,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl Command {
    /// Whether the command reacts to SIGINT/SIGTERM itself and must be left to finish (the monitor
    /// daemon completes its cycle); others are simply dropped. `demo` replaces this process.
    pub fn winds_down_on_signal(&self) -> bool {
        // `attack db` cancels its running statements and rolls back before it goes; `attack
        // http` finishes its case (deleting what it created) and writes a partial report.
        matches!(self, Self::Monitor(_))
            || matches!(self, Self::Attack(a) if matches!(a.kind, attack::AttackKind::Db(_) | attack::AttackKind::Http(_)))
    }
}

impl Cli {
    pub async fn exec(self) -> Result<ExitStatus, tenantprobe::Error> {
        match self.command {
            Command::Demo(args) => args.exec().map_err(tenantprobe::Error::failed),
            Command::Audit(args) => args.exec().await,
            Command::Rules(args) => args.exec(),
            Command::Attack(args) => args.exec().await,
            Command::Cache(args) => args.exec().await,
            Command::Monitor(args) => args.exec().await,
            Command::Completions(args) => {
                use clap::CommandFactory;
                clap_complete::generate(
                    args.shell,
                    &mut Cli::command(),
                    "tenantprobe",
                    &mut std::io::stdout().lock(),
                );
                Ok(ExitStatus::Clean)
            }
            Command::Man => {
                use clap::CommandFactory;
                clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock())?;
                Ok(ExitStatus::Clean)
            }
        }
    }
}
