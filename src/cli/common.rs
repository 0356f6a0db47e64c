//! Arguments every checking command shares: the target spec and its overrides, and the output
//! (format, file, `--fail-on`, `--baseline`), with the code that turns a report into an exit status.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use tenantprobe::Error;
use tenantprobe::exit::ExitStatus;
use tenantprobe::finding::{Finding, Severity};
use tenantprobe::redact::scrub;
use tenantprobe::report::{self, Format, Report};
use tenantprobe::spec::Spec;
use tenantprobe::target::{DatabaseFlags, Flags, HttpTarget, Provisioning, Target, Tenant};
use tenantprobe::tenancy::Tenancy;

#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Target spec (`probes/<name>.toml`): where the system is and its tenancy conventions.
    /// Flags below override single fields; without a spec, flags alone describe the target.
    #[arg(long, short = 't', value_name = "FILE")]
    pub target: Option<PathBuf>,
}

impl TargetArgs {
    /// The target: the spec (if given) with `flags` over it, read against the environment.
    pub fn load(&self, flags: Flags) -> Result<Target<'static>, Error> {
        Target::load(self.target.as_deref(), flags)
    }
}

/// The target of the commands that go through the spec's API (`attack http`, `attack noisy`,
/// `attack admin`): the spec, and the one flag that overrides where its API is.
#[derive(Debug, Clone, Args)]
pub struct ApiTargetArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Override the API's base URL (instead of the variable the spec names).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

impl ApiTargetArgs {
    /// The target: the spec (if given) with `--base-url` over it, read against the environment.
    pub fn load(&self) -> Result<Target<'static>, Error> {
        self.target.load(Flags {
            base_url: self.base_url.clone(),
            ..Flags::default()
        })
    }
}

/// A test tenant for each of `slugs`, created through `api` as the spec's `[tenants]` says.
pub async fn create_tenants(
    target: &Target<'_>,
    slugs: &[String],
    api: &HttpTarget,
) -> Result<Vec<Tenant>, Error> {
    target
        .tenants(
            slugs,
            &reqwest::Client::new(),
            Some(api),
            Provisioning::Create,
        )
        .await
}

/// The two test tenants of a command that pits one tenant against another.
pub async fn create_two_tenants(
    target: &Target<'_>,
    slugs: &[String],
    api: &HttpTarget,
) -> Result<[Tenant; 2], Error> {
    let tenants = create_tenants(target, slugs, api).await?;
    <[Tenant; 2]>::try_from(tenants).map_err(|tenants| {
        Error::failed(anyhow::anyhow!(
            "expected two tenants, got {}",
            tenants.len()
        ))
    })
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

impl DatabaseArgs {
    /// The flags as the target reads them; `pooler_url` is `attack db`'s own flag.
    pub fn flags(&self, pooler_url: Option<String>) -> DatabaseFlags {
        DatabaseFlags {
            url: self.database_url.clone(),
            app_role: self.app_role.clone(),
            tenant_column: self.tenant_column.clone(),
            tenant_setting: self.tenant_setting.clone(),
            tenants_table: self.tenants_table.clone(),
            schemas: self.schemas.clone(),
            statement_timeout: self.statement_timeout,
            lock_timeout: self.lock_timeout,
            idle_in_transaction_timeout: self.idle_in_transaction_timeout,
            pooler_url,
        }
    }
}

fn scrub_in_place(text: &mut String) {
    if let std::borrow::Cow::Owned(clean) = scrub(text) {
        *text = clean;
    }
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
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
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
    fn locator(&self, spec_file: Option<&Path>) -> Result<Option<report::Locator>, Error> {
        let from_migrations = match &self.migrations {
            Some(dir) => Some(report::Locator::from_migrations(dir).map_err(Error::failed)?),
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
    ) -> Result<ExitStatus, Error> {
        report::collapse_duplicates(findings);
        if let Some(spec) = spec {
            report::apply_waivers(findings, &spec.waivers);
        }
        if let Some(path) = &self.baseline {
            report::apply_baseline(findings, path).map_err(Error::failed)?;
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
            Format::Sarif | Format::Github | Format::Human => self.locator(facts.spec_file)?,
            _ => None,
        };
        if locator.is_none() && matches!(self.format, Format::Sarif | Format::Github) {
            // Code scanning hides results without a file; say how to give them one.
            tracing::warn!(
                "findings have no file location: pass --migrations DIR (or run where migrations/ is) or --target SPEC"
            );
        }
        let findings: &[Finding] = findings;
        let coverage = facts.coverage.map(|m| m.marked(findings));
        let to_terminal = self.output.is_none() && std::io::stdout().is_terminal();
        let color = match self.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => to_terminal && std::env::var_os("NO_COLOR").is_none(),
        };
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
            style: report::HumanStyle {
                color,
                width: report::wrap::width(to_terminal),
            },
            ..report
        };
        let mut out: Box<dyn Write> = match &self.output {
            Some(path) => Box::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write `{}`", path.display()))?,
            ),
            None => Box::new(std::io::stdout().lock()),
        };
        report::write(self.format, &report, &mut out).map_err(Error::failed)?;
        out.flush()?;
        tracing::info!(
            findings = findings.len(),
            active = report.summary().active,
            "report written"
        );
        drop(out);
        if self.format == Format::Human
            && std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
        {
            report::write(Format::Github, &report, &mut std::io::stdout().lock())
                .map_err(Error::failed)?;
        }
        Ok(if report::fails(findings, self.fail_on) {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        })
    }
}
