//! Arguments every checking command shares: the target spec and its overrides, and the output
//! (format, file, `--fail-on`, `--baseline`), with the code that turns a report into an exit status.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use sqlx::PgConnection;
use sqlx::postgres::PgConnectOptions;
use tenantprobe::exit::ExitStatus;
use tenantprobe::finding::{Finding, Severity};
use tenantprobe::redact::{redact, scrub};
use tenantprobe::report::{self, Format, Report};
use tenantprobe::session::SessionLimits;
use tenantprobe::spec::Spec;
use tenantprobe::sql::QualifiedName;
use tenantprobe::tenancy::Tenancy;
use tenantprobe::unreachable::Unreachable;

#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Target spec (`probes/<name>.toml`): where the system is and its tenancy conventions.
    /// Flags below override single fields; without a spec, flags alone describe the target.
    #[arg(long, short = 't', value_name = "FILE")]
    pub target: Option<PathBuf>,
}

impl TargetArgs {
    pub fn load(&self) -> anyhow::Result<Option<Spec>> {
        self.target
            .as_deref()
            .map(Spec::load)
            .transpose()
            .map_err(Into::into)
    }
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Observer connection URL (a role that may SET ROLE to the app role). Default: the variable
    /// the spec names in `database.url_env`, else DATABASE_URL.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The role the application connects as; isolation must hold for it.
    #[arg(long, value_name = "ROLE")]
    pub app_role: Option<String>,
    /// Column that carries the tenant [default: tenant_id].
    #[arg(long, value_name = "COLUMN")]
    pub tenant_column: Option<String>,
    /// Setting the policies read [default: app.current_tenant].
    #[arg(long, value_name = "NAME")]
    pub tenant_setting: Option<String>,
    /// Table whose rows are the tenants (`schema.table`).
    #[arg(long, value_name = "TABLE")]
    pub tenants_table: Option<String>,
    /// Schema to examine (repeatable) [default: public].
    #[arg(long = "schema", value_name = "SCHEMA")]
    pub schemas: Vec<String>,
    /// Longest statement of any session tenantprobe opens [default: 5s]: a function that hangs
    /// ends in "timed out" instead of hanging the run.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub statement_timeout: Option<Duration>,
    /// Longest wait for a lock [default: 50ms]: nothing of ours queues in front of the application.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub lock_timeout: Option<Duration>,
    /// Idle time inside a transaction after which the server ends the session [default: 10s]:
    /// a killed or stuck tenantprobe leaves no open transaction behind.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub idle_in_transaction_timeout: Option<Duration>,
}

/// A resolved database target.
pub struct DatabaseTarget {
    pub url: String,
    pub tenancy: Tenancy,
    /// Timeouts every session carries.
    pub limits: SessionLimits,
    /// Functions never called (the spec's `skip_functions`).
    pub skip_functions: Vec<String>,
    /// Where the URL came from, for messages.
    pub url_source: String,
}

impl DatabaseArgs {
    /// Spec fields overridden by flags. Missing URL or app role is a usage error.
    pub fn resolve(&self, spec: Option<&Spec>) -> anyhow::Result<DatabaseTarget> {
        let from_spec = spec.and_then(|s| s.database.as_ref());
        let mut tenancy = from_spec.map(|d| d.tenancy()).unwrap_or_default();
        let app_role = self.app_role.clone().or_else(|| {
            from_spec
                .map(|d| d.app_role.clone())
                .filter(|r| !r.is_empty())
        });
        tenancy.app_role = app_role.context(
            "no app role: pass --app-role ROLE or set `app_role` under [database] in the spec",
        )?;
        if let Some(c) = &self.tenant_column {
            tenancy.tenant_column.clone_from(c);
        }
        if let Some(s) = &self.tenant_setting {
            tenancy.tenant_setting.clone_from(s);
        }
        if let Some(t) = &self.tenants_table {
            tenancy.tenants_table = Some(QualifiedName::parse(t));
        }
        if !self.schemas.is_empty() {
            tenancy.schemas.clone_from(&self.schemas);
        }
        let env_name = from_spec.map_or("DATABASE_URL", |d| d.url_env.as_str());
        let (url, url_source) = match &self.database_url {
            Some(url) => (url.clone(), "--database-url".to_owned()),
            None => match std::env::var(env_name) {
                Ok(url) if !url.is_empty() => (url, env_name.to_owned()),
                _ => anyhow::bail!("no database: pass --database-url URL or set {env_name}"),
            },
        };
        let mut limits = from_spec.map(|d| d.limits()).unwrap_or_default();
        if let Some(d) = self.statement_timeout {
            limits.statement = d;
        }
        if let Some(d) = self.lock_timeout {
            limits.lock = d;
        }
        if let Some(d) = self.idle_in_transaction_timeout {
            limits.idle_in_transaction = d;
        }
        Ok(DatabaseTarget {
            url,
            tenancy,
            limits,
            skip_functions: from_spec
                .map(|d| d.skip_functions.clone())
                .unwrap_or_default(),
            url_source,
        })
    }
}

impl DatabaseTarget {
    /// Connection options, after checking that the server answers (a failure is exit 3) and that
    /// the run would examine something (schemas that exist, tables with the tenant column; a
    /// failure is a usage error, exit 2, with a did-you-mean).
    pub async fn checked_options(&self) -> anyhow::Result<PgConnectOptions> {
        let mut conn = self.connect().await?;
        let scope = tenantprobe::tenancy::check_scope(&mut conn, &self.tenancy).await;
        let _ = sqlx::Connection::close(conn).await;
        scope?;
        self.parsed()
    }

    fn parsed(&self) -> anyhow::Result<PgConnectOptions> {
        tenantprobe::sql::connect_options(&self.url)
            .map(|o| self.limits.apply(o))
            .map_err(|e| {
                anyhow::anyhow!(
                    "invalid database URL `{}` ({}): {e}",
                    redact(&self.url),
                    self.url_source
                )
            })
    }

    /// Connects (10 s timeout); failure is "target unreachable" (exit 3).
    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        let unreachable = |reason: String| Unreachable {
            what: "PostgreSQL",
            url: redact(&self.url),
            variable: leak(self.url_source.clone()),
            reason,
        };
        let options = self.parsed()?;
        tracing::info!(url = %redact(&self.url), source = %self.url_source, "connecting to PostgreSQL");
        match tokio::time::timeout(
            Duration::from_secs(10),
            <PgConnection as sqlx::Connection>::connect_with(&options),
        )
        .await
        {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(unreachable(e.to_string()).into()),
            Err(_) => Err(unreachable("no answer within 10 s".into()).into()),
        }
    }
}

fn scrub_in_place(text: &mut String) {
    if let std::borrow::Cow::Owned(clean) = scrub(text) {
        *text = clean;
    }
}

/// `Unreachable` names its variable with a `&'static str`; command lines are few.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Human,
    Json,
    Junit,
    Sarif,
    Github,
    /// One self-contained HTML page: the isolation matrix, then every finding.
    Html,
    /// Markdown for $GITHUB_STEP_SUMMARY and pull-request comments.
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Report format. `human` also prints GitHub annotations when GITHUB_ACTIONS=true.
    #[arg(long, value_enum, default_value_t = FormatArg::Human)]
    pub format: FormatArg,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when an active finding is at or above this severity (critical, high, medium, low, info).
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    pub fail_on: Severity,
    /// An earlier JSON report: findings it already holds are shown but do not fail the run.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Colour in the human report.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// Migrations folder (`*.sql`): SARIF and GitHub annotations point each finding at the
    /// statement that created or last changed its object [default: `migrations/` when it exists].
    #[arg(long, value_name = "DIR")]
    pub migrations: Option<PathBuf>,
}

/// What a command knows about its run beyond the findings, for the report.
#[derive(Debug, Default)]
pub struct RunFacts<'a> {
    /// The spec file given with `--target`.
    pub spec_file: Option<&'a Path>,
    pub seed: Option<u64>,
    pub tenancy: Option<&'a Tenancy>,
    pub coverage: Option<&'a report::Matrix>,
}

impl OutputArgs {
    /// Source locations: `--migrations` (an error when it cannot be read), else `migrations/` if
    /// present; the spec file as the fallback.
    fn locator(&self, spec_file: Option<&Path>) -> anyhow::Result<Option<report::Locator>> {
        let from_migrations = match &self.migrations {
            Some(dir) => Some(report::Locator::from_migrations(dir)?),
            None if Path::new("migrations").is_dir() => {
                report::Locator::from_migrations(Path::new("migrations")).ok()
            }
            None => None,
        };
        let locator = match (from_migrations, spec_file) {
            (Some(l), Some(spec)) => Some(l.with_spec(spec)),
            (Some(l), None) => Some(l),
            (None, Some(spec)) => Some(report::Locator::default().with_spec(spec)),
            (None, None) => None,
        };
        Ok(locator)
    }

    /// Applies waivers and the baseline, collapses duplicates, writes the report, and decides the
    /// exit status.
    pub fn emit<'a>(
        &self,
        spec: Option<&'a Spec>,
        facts: RunFacts<'a>,
        report: Report<'a>,
        findings: &'a mut Vec<Finding>,
    ) -> anyhow::Result<ExitStatus> {
        report::collapse_duplicates(findings);
        if let Some(spec) = spec {
            report::apply_waivers(findings, &spec.waivers);
        }
        if let Some(path) = &self.baseline {
            report::apply_baseline(findings, path)?;
        }
        // Evidence and details quote what the target answered and how it was reached (curl
        // commands name the API's URL): no secret we were given may appear in any format.
        for f in findings.iter_mut() {
            for text in [&mut f.object, &mut f.title, &mut f.detail] {
                scrub_in_place(text);
            }
            if let Some(evidence) = &mut f.evidence {
                scrub_in_place(evidence);
            }
        }
        let notes: Vec<String> = report.notes.iter().map(|n| scrub(n).into_owned()).collect();
        let target = scrub(report.target).into_owned();
        let locator = match self.format {
            FormatArg::Sarif | FormatArg::Github | FormatArg::Human => {
                self.locator(facts.spec_file)?
            }
            _ => None,
        };
        if locator.is_none() && matches!(self.format, FormatArg::Sarif | FormatArg::Github) {
            // Code scanning hides results without a file; say how to give them one.
            tracing::warn!(
                "findings have no file location: pass --migrations DIR (or run where migrations/ is) or --target SPEC"
            );
        }
        let findings: &[Finding] = findings;
        let coverage = facts.coverage.map(|m| m.marked(findings));
        let report = Report {
            findings,
            notes: &notes,
            target: &target,
            fail_on: self.fail_on,
            spec_name: spec.map(|s| s.name.as_str()),
            seed: facts.seed,
            tenancy: facts.tenancy,
            coverage: coverage.as_ref(),
            locator: locator.as_ref(),
            ..report
        };
        let to_terminal = self.output.is_none() && std::io::stdout().is_terminal();
        let color = match self.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => to_terminal && std::env::var_os("NO_COLOR").is_none(),
        };
        let format = match self.format {
            FormatArg::Human => Format::Human {
                color,
                width: report::wrap::width(to_terminal),
            },
            FormatArg::Json => Format::Json,
            FormatArg::Junit => Format::Junit,
            FormatArg::Sarif => Format::Sarif,
            FormatArg::Github => Format::Github,
            FormatArg::Html => Format::Html,
            FormatArg::Markdown => Format::Markdown,
        };
        let mut out: Box<dyn Write> = match &self.output {
            Some(path) => Box::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write `{}`", path.display()))?,
            ),
            None => Box::new(std::io::stdout().lock()),
        };
        report::write(format, &report, &mut out)?;
        out.flush()?;
        tracing::info!(
            findings = findings.len(),
            active = report.summary().active,
            "report written"
        );
        drop(out);
        if self.format == FormatArg::Human
            && std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
        {
            report::write(Format::Github, &report, &mut std::io::stdout().lock())?;
        }
        Ok(if report::fails(findings, self.fail_on) {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        })
    }
}

/// The process environment, with `--base-url` (when given) standing in for the variable the
/// spec's `[api] base_url_env` names.
pub fn api_env(spec: &Spec, base_url: Option<String>) -> impl Fn(&str) -> Option<String> + use<> {
    let api_env = spec
        .api
        .as_ref()
        .map(|a| a.base_url_env.clone())
        .unwrap_or_default();
    move |name: &str| {
        if name == api_env && base_url.is_some() {
            base_url.clone()
        } else {
            tenantprobe::target::process_env(name)
        }
    }
}
