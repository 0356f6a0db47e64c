//! The `attack db` hook for the pooled-connection property: its run and one line of report notes
//! (where the pooler URL comes from is the target's: `target::Pooler`).

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use tenantprobe::Error;
use tenantprobe::checks::pooled::{self, PooledConfig};
use tenantprobe::finding::Finding;
use tenantprobe::tenancy::Tenancy;

/// Runs the property; its findings and a note for the report.
pub async fn run(
    observer: &PgConnectOptions,
    url: &str,
    tenancy: &Tenancy,
) -> Result<(Vec<Finding>, String), Error> {
    let pooled_options = tenantprobe::sql::connect_options(url)
        .context("invalid pooler URL (--pooler-url or the spec's pooler_url_env)")?;
    let outcome =
        pooled::check_pooled(observer, &pooled_options, tenancy, &PooledConfig::default())
            .await
            .map_err(Error::failed)?;
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
