//! The `attack db` hook for the pooled-connection property: where the pooler URL comes from, and
//! one line of report notes.

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use tenantprobe::checks::pooled::{self, PooledConfig};
use tenantprobe::finding::Finding;
use tenantprobe::spec::Spec;
use tenantprobe::tenancy::Tenancy;

/// Where the pooler URL comes from: `--pooler-url`, else the variable the spec names in
/// `database.pooler_url_env`.
pub enum PoolerUrl {
    Url(String),
    /// The spec names a variable that is not set: the property does not run, and the report says so.
    Unset(String),
    NotAsked,
}

pub fn pooler_url(flag: Option<&str>, spec: Option<&Spec>) -> PoolerUrl {
    if let Some(url) = flag {
        return PoolerUrl::Url(url.to_owned());
    }
    let Some(name) = spec
        .and_then(|s| s.database.as_ref())
        .and_then(|d| d.pooler_url_env.as_deref())
    else {
        return PoolerUrl::NotAsked;
    };
    match std::env::var(name) {
        Ok(url) if !url.is_empty() => PoolerUrl::Url(url),
        _ => PoolerUrl::Unset(name.to_owned()),
    }
}

/// Runs the property; its findings and a note for the report.
pub async fn run(
    observer: &PgConnectOptions,
    url: &str,
    tenancy: &Tenancy,
) -> anyhow::Result<(Vec<Finding>, String)> {
    let pooled_options = tenantprobe::sql::connect_options(url)
        .context("invalid pooler URL (--pooler-url or the spec's pooler_url_env)")?;
    let outcome =
        pooled::check_pooled(observer, &pooled_options, tenancy, &PooledConfig::default()).await?;
    let note = format!(
        "pooled connections: {} transactions through the pooler as {} on {} server connection(s){}: {} finding(s)",
        outcome.transactions,
        tenancy.app_role,
        outcome.server_connections,
        if outcome.sequence_on_one_connection {
            ", including a tenant transaction and the next one on the same server connection"
        } else {
            "; the tenant transaction and the next one never met on one server connection"
        },
        outcome.findings.len()
    );
    Ok((outcome.findings, note))
}
