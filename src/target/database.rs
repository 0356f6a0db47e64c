//! The database side of a target (`DatabaseTarget`): the observer URL, the tenancy conventions,
//! session timeouts and the pooler, from the spec's `[database]` with flags over single fields.

use std::time::Duration;

use sqlx::PgConnection;
use sqlx::postgres::PgConnectOptions;

use super::Env;
use crate::Error;
use crate::redact::redact;
use crate::session::SessionLimits;
use crate::spec::Spec;
use crate::sql::QualifiedName;
use crate::tenancy::{ScopeError, Tenancy};

/// How long connecting may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The command line's database fields; each one given overrides the spec's.
#[derive(Debug, Clone, Default)]
pub struct DatabaseFlags {
    pub url: Option<String>,
    pub app_role: Option<String>,
    pub tenant_column: Option<String>,
    pub tenant_setting: Option<String>,
    pub tenants_table: Option<String>,
    pub schemas: Vec<String>,
    pub statement_timeout: Option<Duration>,
    pub lock_timeout: Option<Duration>,
    pub idle_in_transaction_timeout: Option<Duration>,
    pub pooler_url: Option<String>,
}

/// Whether the command acts as the app role (and so needs to know it) or only reads as the
/// observer (`cache`, which learns tenants; the monitor, whose spec may leave it out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppRole {
    Required,
    Optional,
}

/// Where the transaction-mode pooler URL comes from: `--pooler-url`, else the variable the spec
/// names in `database.pooler_url_env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pooler {
    Url(String),
    /// The spec names a variable that is not set: the property does not run, and reports say so.
    Unset(String),
    NotAsked,
}

/// A resolved database target.
#[derive(Debug, Clone)]
pub struct DatabaseTarget {
    pub url: String,
    /// Where the URL came from (`--database-url` or a variable), for messages.
    pub url_source: String,
    pub tenancy: Tenancy,
    /// Timeouts every session carries.
    pub limits: SessionLimits,
    /// Functions never called (the spec's `skip_functions`).
    pub skip_functions: Vec<String>,
    pub pooler: Pooler,
    /// The spec's `placements_query`: where premium tenants live.
    pub placements_query: Option<String>,
}

impl DatabaseTarget {
    /// Spec fields overridden by `flags` (when the command has database flags at all). A missing
    /// URL, or a missing app role where one is required, is a usage error.
    pub(super) fn resolve(
        spec: Option<&Spec>,
        flags: Option<&DatabaseFlags>,
        env: Env<'_>,
        app_role: AppRole,
    ) -> Result<Self, Error> {
        let none = DatabaseFlags::default();
        let has_flags = flags.is_some();
        let flags = flags.unwrap_or(&none);
        let from_spec = spec.and_then(|s| s.database.as_ref());
        let mut tenancy = from_spec.map(|d| d.tenancy()).unwrap_or_default();
        let role = flags
            .app_role
            .clone()
            .or_else(|| from_spec.map(|d| d.app_role.clone()))
            .filter(|r| !r.is_empty());
        tenancy.app_role = match (role, app_role) {
            (Some(role), _) => role,
            (None, AppRole::Optional) => String::new(),
            (None, AppRole::Required) => {
                return Err(Error::usage(
                    "no app role: pass --app-role ROLE or set `app_role` under [database] in the spec",
                ));
            }
        };
        if let Some(c) = &flags.tenant_column {
            tenancy.tenant_column.clone_from(c);
        }
        if let Some(s) = &flags.tenant_setting {
            tenancy.tenant_setting.clone_from(s);
        }
        if let Some(t) = &flags.tenants_table {
            tenancy.tenants_table = Some(QualifiedName::parse(t));
        }
        if !flags.schemas.is_empty() {
            tenancy.schemas.clone_from(&flags.schemas);
        }
        let env_name = from_spec.map_or("DATABASE_URL", |d| d.url_env.as_str());
        let (url, url_source) = super::url_and_source(
            "database",
            "--database-url",
            flags.url.as_ref(),
            has_flags,
            env_name,
            env,
        )?;
        let mut limits = from_spec.map(|d| d.limits()).unwrap_or_default();
        if let Some(d) = flags.statement_timeout {
            limits.statement = d;
        }
        if let Some(d) = flags.lock_timeout {
            limits.lock = d;
        }
        if let Some(d) = flags.idle_in_transaction_timeout {
            limits.idle_in_transaction = d;
        }
        let pooler = match (
            &flags.pooler_url,
            from_spec.and_then(|d| d.pooler_url_env.as_deref()),
        ) {
            (Some(url), _) => Pooler::Url(url.clone()),
            (None, Some(name)) => {
                env(name).map_or_else(|| Pooler::Unset(name.to_owned()), Pooler::Url)
            }
            (None, None) => Pooler::NotAsked,
        };
        Ok(Self {
            url,
            url_source,
            tenancy,
            limits,
            skip_functions: from_spec
                .map(|d| d.skip_functions.clone())
                .unwrap_or_default(),
            pooler,
            placements_query: from_spec.and_then(|d| d.placements_query.clone()),
        })
    }

    /// Connection options, with every session's timeouts. A URL that does not parse is a
    /// configuration error (exit 2), never an unreachable server.
    pub fn options(&self) -> Result<PgConnectOptions, Error> {
        crate::sql::connect_options(&self.url)
            .map(|o| self.limits.apply(o))
            .map_err(|e| {
                Error::usage(format!(
                    "invalid database URL `{}` ({}): {e}",
                    redact(&self.url),
                    self.url_source
                ))
            })
    }

    /// Connection options, after checking that the server answers (a failure is exit 3) and that
    /// the run would examine something (schemas that exist, tables with the tenant column; a
    /// failure is a usage error, exit 2, with a did-you-mean).
    pub async fn checked_options(&self) -> Result<PgConnectOptions, Error> {
        let mut conn = self.connect().await?;
        let scope = crate::tenancy::check_scope(&mut conn, &self.tenancy).await;
        let _ = sqlx::Connection::close(conn).await;
        scope?;
        self.options()
    }

    /// Connects, bounded by `timeout`; a failure is "target unreachable" (exit 3).
    pub async fn connect_within(&self, timeout: Duration) -> Result<PgConnection, Error> {
        let options = self.options()?;
        let unreachable = |reason: String| {
            Error::unreachable("PostgreSQL", redact(&self.url), &self.url_source, reason)
        };
        tracing::info!(url = %redact(&self.url), source = %self.url_source, "connecting to PostgreSQL");
        match tokio::time::timeout(
            timeout,
            <PgConnection as sqlx::Connection>::connect_with(&options),
        )
        .await
        {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable(format!(
                "no answer within {} s",
                timeout.as_secs()
            ))),
        }
    }

    /// Connects (10 s timeout); a failure is "target unreachable" (exit 3).
    pub async fn connect(&self) -> Result<PgConnection, Error> {
        self.connect_within(CONNECT_TIMEOUT).await
    }
}

impl From<ScopeError> for Error {
    /// A scope that would examine nothing is the user's to fix (exit 2), like any other failure
    /// to read the catalog once connected.
    fn from(e: ScopeError) -> Self {
        match e {
            ScopeError::Catalog(_) => Self::failed(e),
            _ => Self::NothingExamined(e.to_string()),
        }
    }
}
