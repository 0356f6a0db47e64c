//! Arguments every checking command shares: the target spec and its overrides, and the output
//! (format, file, `--fail-on`, `--baseline`), with the code that turns a report into an exit status.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use sqlx::PgConnection;
use sqlx::postgres::PgConnectOptions;
use tenantprobe::exit::ExitStatus;
use tenantprobe::finding::{Finding, Severity};
use tenantprobe::report::{self, Format, Report};
use tenantprobe::servers::{ServerError, redact};
use tenantprobe::spec::Spec;
use tenantprobe::sql::QualifiedName;
use tenantprobe::tenancy::Tenancy;

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
}

/// A resolved database target.
pub struct DatabaseTarget {
    pub url: String,
    pub tenancy: Tenancy,
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
        Ok(DatabaseTarget {
            url,
            tenancy,
            url_source,
        })
    }
}

impl DatabaseTarget {
    /// Connection options, after checking that the server answers (a failure is exit 3).
    pub async fn options(&self) -> anyhow::Result<PgConnectOptions> {
        let conn = self.connect().await?;
        let _ = sqlx::Connection::close(conn).await;
        self.parsed()
    }

    fn parsed(&self) -> anyhow::Result<PgConnectOptions> {
        tenantprobe::sql::connect_options(&self.url)
            .map_err(|e| anyhow::anyhow!("invalid database URL ({}): {e}", self.url_source))
    }

    /// Connects (10 s timeout); failure is "target unreachable" (exit 3).
    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        let unreachable = |reason: String| ServerError::Unreachable {
            what: "PostgreSQL",
            url: redact(&self.url),
            variable: leak(self.url_source.clone()),
            reason,
        };
        let options = self.parsed()?;
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

/// `ServerError::Unreachable` names its variable with a `&'static str`; command lines are few.
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
}

impl OutputArgs {
    /// Applies waivers and the baseline, writes the report, and decides the exit status.
    pub fn emit<'a>(
        &self,
        spec: Option<&Spec>,
        mut report: Report<'a>,
        findings: &'a mut [Finding],
    ) -> anyhow::Result<ExitStatus> {
        if let Some(spec) = spec {
            report::apply_waivers(findings, &spec.waivers);
        }
        if let Some(path) = &self.baseline {
            report::apply_baseline(findings, path)?;
        }
        let findings: &'a [Finding] = findings;
        report.findings = findings;
        let to_terminal = self.output.is_none() && std::io::stdout().is_terminal();
        let color = match self.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => to_terminal && std::env::var_os("NO_COLOR").is_none(),
        };
        let format = match self.format {
            FormatArg::Human => Format::Human { color },
            FormatArg::Json => Format::Json,
            FormatArg::Junit => Format::Junit,
            FormatArg::Sarif => Format::Sarif,
            FormatArg::Github => Format::Github,
        };
        let mut out: Box<dyn Write> = match &self.output {
            Some(path) => Box::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write `{}`", path.display()))?,
            ),
            None => Box::new(std::io::stdout().lock()),
        };
        report::write(format, &report, &mut out)?;
        if self.format == FormatArg::Human
            && std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
        {
            report::write(Format::Github, &report, &mut std::io::stdout().lock())?;
        }
        out.flush()?;
        Ok(if report::fails(findings, self.fail_on) {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        })
    }
}
