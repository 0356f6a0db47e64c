//! `tenantprobe audit`: reads a live database's catalog once (`Catalog`) and runs every rule in
//! `rules::RULES` over it in memory (`audit`).

pub mod context;
pub mod policy;
pub mod rules;

use std::time::{Duration, Instant};

use sqlx::PgConnection;
use sqlx::postgres::PgConnectOptions;

pub use crate::catalog::{Catalog, CatalogError};
use context::Context;

use crate::finding::Finding;
use crate::tenancy::Tenancy;

/// What an audit found and what it looked at.
#[derive(Debug)]
pub struct AuditOutcome {
    pub findings: Vec<Finding>,
    pub relations: usize,
    pub tenant_relations: usize,
    pub policies: usize,
    pub functions: usize,
    pub snapshot_time: Duration,
    pub rules_time: Duration,
    /// The tenants table the audit used (named, or inferred from foreign keys).
    pub tenants_table: Option<crate::sql::QualifiedName>,
}

/// Audits the schemas of `tenancy` as they concern `tenancy.app_role`, on one connection. Reads only.
pub async fn audit(
    conn: &mut PgConnection,
    tenancy: &Tenancy,
) -> Result<AuditOutcome, CatalogError> {
    let begun = Instant::now();
    let catalog = Catalog::snapshot(conn, tenancy).await?;
    Ok(judge(&catalog, tenancy, begun.elapsed()))
}

/// Like `audit`, reading the catalog over several connections at once (one shared snapshot).
pub async fn audit_parallel(
    options: &PgConnectOptions,
    tenancy: &Tenancy,
) -> Result<AuditOutcome, CatalogError> {
    let begun = Instant::now();
    let catalog = Catalog::snapshot_parallel(options, tenancy).await?;
    Ok(judge(&catalog, tenancy, begun.elapsed()))
}

/// The findings of every rule over a snapshot: what `attack db` ties its findings to
/// (`attack::db::AttackConfig::explain`).
pub fn findings(catalog: &Catalog, tenancy: &Tenancy) -> Vec<Finding> {
    judge(catalog, tenancy, Duration::ZERO).findings
}

/// Runs every rule over a snapshot (with the tenants table inferred when not named).
pub fn judge(catalog: &Catalog, tenancy: &Tenancy, snapshot_time: Duration) -> AuditOutcome {
    let begun = Instant::now();
    let tenancy = catalog.complete(tenancy);
    let cx = Context::new(catalog, &tenancy);
    let mut findings: Vec<Finding> = rules::RULES
        .iter()
        .flat_map(|rule| (rule.check)(&cx))
        .collect();
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    AuditOutcome {
        findings,
        relations: catalog.relations.len(),
        tenant_relations: cx.tenant_data.len(),
        policies: catalog.policies.len(),
        functions: catalog.functions.len(),
        snapshot_time,
        rules_time: begun.elapsed(),
        tenants_table: tenancy.tenants_table.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::rules::testing::{BASE, audit};

    #[tokio::test]
    async fn the_base_schema_of_the_rule_tests_is_clean() {
        let findings = audit(BASE).await;
        assert!(findings.is_empty(), "{findings:#?}");
    }
}
