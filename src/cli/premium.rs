//! The premium databases a spec's `placements_query` lists, for the commands that run on each
//! database (`premium_databases`), and how findings then name the database they were found on.

use sqlx::postgres::PgConnectOptions;
use tenantprobe::Error;
use tenantprobe::checks::placement::{self, PremiumDatabase};
use tenantprobe::finding::Finding;
use tenantprobe::target::DatabaseTarget;
use tenantprobe::tenancy::Tenancy;

/// The premium databases, or `None` when the spec declares no `placements_query`.
pub async fn premium_databases(db: &DatabaseTarget) -> Result<Option<Vec<PremiumDatabase>>, Error> {
    let Some(query) = db.placements_query.as_deref() else {
        return Ok(None);
    };
    let mut conn = db.connect().await?;
    let listed = placement::list(&mut conn, query).await;
    let _ = sqlx::Connection::close(conn).await;
    Ok(Some(listed.map_err(Error::failed)?))
}

/// Runs `check` on every premium database, as that database's app role; the findings of all,
/// each naming its database. `notes` gets a line on each: which database, and `check`'s summary.
pub async fn examine_each(
    premium: &[PremiumDatabase],
    options: &PgConnectOptions,
    tenancy: &Tenancy,
    notes: &mut Vec<String>,
    check: impl AsyncFn(
        &PgConnectOptions,
        &Tenancy,
        &PremiumDatabase,
    ) -> Result<(Vec<Finding>, String), Error>,
) -> Result<Vec<Finding>, Error> {
    let mut findings = Vec::new();
    for p in premium {
        let (on, tenancy) = on_premium(options, tenancy, p);
        let (found, summary) = check(&on, &tenancy, p).await?;
        notes.push(format!("{}: {summary}", describe(p, &tenancy)));
        findings.extend(in_database(found, &p.database));
    }
    Ok(findings)
}

/// Where and as whom to examine one premium database: its connection options, and the tenancy
/// with its own app role when the catalog names one.
fn on_premium(
    options: &PgConnectOptions,
    tenancy: &Tenancy,
    premium: &PremiumDatabase,
) -> (PgConnectOptions, Tenancy) {
    let mut tenancy = tenancy.clone();
    if let Some(role) = &premium.app_role {
        tenancy.app_role.clone_from(role);
    }
    (options.clone().database(&premium.database), tenancy)
}

/// How notes name one premium database, and as whom it was examined.
fn describe(premium: &PremiumDatabase, tenancy: &Tenancy) -> String {
    format!(
        "premium database `{}` (tenant {}, app role `{}`)",
        premium.database, premium.tenant_id, tenancy.app_role
    )
}

/// The shared database's findings, each naming it: with several databases examined, a finding
/// must say which one it was found on.
pub fn in_shared_database(findings: Vec<Finding>, options: &PgConnectOptions) -> Vec<Finding> {
    in_database(findings, options.get_database().unwrap_or("postgres"))
}

/// The findings of one of several databases, each naming `database`.
fn in_database(findings: Vec<Finding>, database: &str) -> Vec<Finding> {
    findings
        .into_iter()
        .map(|f| f.in_database(database))
        .collect()
}
