//! `tenantprobe demo`: the whole product on a fresh machine — throwaway servers (or the ones
//! `DATABASE_URL`/`REDIS_URL` name), the reference schema with two synthetic tenants, then every
//! check — as one report (`run`, `DemoReport`).

use std::time::{Duration, Instant};

use reference_app::migrations::APP_ROLE;
use sqlx::{Connection, PgConnection};

use crate::finding::{Category, Finding, Severity};
use crate::provision::{ProvisionError, ReferenceDatabase};
use crate::servers::{Postgres, Redis, ServerError};
use crate::synthetic::{self, SyntheticTenant};
use crate::tenancy::Tenancy;
use crate::visibility::{self, NoTenant, Observation};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error("{context}: {cause}")]
    Database {
        context: &'static str,
        cause: sqlx::Error,
    },
}

fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> DemoError {
    move |cause| DemoError::Database { context, cause }
}

/// One thing the demo verified.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    /// What was checked and what came out, in one line.
    pub summary: String,
    pub passed: bool,
    pub duration: Duration,
}

/// Everything the demo did and found.
#[derive(Debug, Default)]
pub struct DemoReport {
    /// Where it ran: servers, database.
    pub environment: Vec<String>,
    pub steps: Vec<Step>,
    pub findings: Vec<Finding>,
}

/// Runs the demo end to end. Servers started here are stopped and removed when this returns (or
/// when the future is dropped, e.g. on Ctrl-C); a database created on an existing server is dropped.
pub async fn run() -> Result<DemoReport, DemoError> {
    let mut report = DemoReport::default();
    let postgres = Postgres::from_env_or_start().await?;
    report.environment.push(postgres.describe());
    let redis = Redis::from_env_or_start().await?;
    report.environment.push(redis.describe());

    let begun = Instant::now();
    let database = ReferenceDatabase::create(&postgres.url(), "tenantprobe_demo").await?;
    report.environment.push(format!(
        "database `{}`: reference schema migrated in {} ms",
        database.name,
        begun.elapsed().as_millis()
    ));
    let outcome = run_checks(&database, &mut report).await;
    if matches!(postgres, Postgres::External { .. }) {
        database.drop_database().await?;
    }
    outcome.map(|()| report)
}

async fn run_checks(
    database: &ReferenceDatabase,
    report: &mut DemoReport,
) -> Result<(), DemoError> {
    let mut owner = database.connect_as_owner().await?;
    let mut tenants = Vec::new();
    for slug in ["acme", "globex"] {
        tenants.push(
            synthetic::provision_reference(&mut owner, slug)
                .await
                .map_err(db("cannot provision synthetic tenants"))?,
        );
    }
    let _ = owner.close().await;
    report.environment.push(format!(
        "synthetic tenants: {}",
        tenants
            .iter()
            .map(|t| format!("{} ({})", t.slug, t.id))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    database_sweep(database, &tenants, report).await
}

/// As `app_user`, each tenant sees its own rows and none of the other's, in every tenant table,
/// partition and view; with no tenant set (fresh or pooled connection) it sees nothing.
async fn database_sweep(
    database: &ReferenceDatabase,
    tenants: &[SyntheticTenant],
    report: &mut DemoReport,
) -> Result<(), DemoError> {
    let begun = Instant::now();
    let tenancy = Tenancy::reference();
    let app = database.options_as(APP_ROLE);
    let mut conn = PgConnection::connect_with(&app)
        .await
        .map_err(db("cannot connect as app_user"))?;
    // A fresh connection first: the setting has never been set on it.
    let relations = visibility::tenant_relations(&mut conn, &tenancy)
        .await
        .map_err(db("cannot list tenant relations"))?;
    let unset =
        visibility::sweep_without_tenant(&mut conn, &tenancy, &relations, None, NoTenant::Unset)
            .await
            .map_err(db("sweep failed"))?;
    let mut findings = no_tenant_findings(&unset, "unset");
    for tenant in tenants {
        let seen = visibility::sweep(
            &mut conn,
            &tenancy,
            &relations,
            None,
            &tenant.id.to_string(),
        )
        .await
        .map_err(db("sweep failed"))?;
        findings.extend(tenant_findings(&seen, &tenant.slug));
    }
    let empty =
        visibility::sweep_without_tenant(&mut conn, &tenancy, &relations, None, NoTenant::Empty)
            .await
            .map_err(db("sweep failed"))?;
    findings.extend(no_tenant_findings(&empty, "empty"));
    let _ = conn.close().await;

    let readable = relations.iter().filter(|r| r.readable_by_app).count();
    report.steps.push(Step {
        name: "database isolation sweep".into(),
        summary: format!(
            "as {APP_ROLE}: {} tenants × {readable} readable tenant relations ({} in all, partitions included), plus no tenant set (fresh and pooled connection): {} problem(s)",
            tenants.len(),
            relations.len(),
            findings.len()
        ),
        passed: findings.is_empty(),
        duration: begun.elapsed(),
    });
    report.findings.extend(findings);
    Ok(())
}

/// Findings of one tenant's sweep: foreign rows visible, own rows invisible, probes that failed.
pub fn tenant_findings(observations: &[Observation], tenant: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for o in observations {
        let object = o.relation.to_string();
        if o.foreign_visible {
            findings.push(Finding::new(
                "foreign-rows-visible",
                Severity::Critical,
                Category::Monitor,
                &object,
                tenant,
                format!("tenant `{tenant}` sees other tenants' rows in `{object}`"),
                "With this tenant's context set, a row whose tenant is another tenant (or none) was visible to the app role.",
                "Enable and force RLS on the relation and give it a policy that pins the tenant column to the tenant setting.",
            ));
        }
        if let Some(error) = &o.error {
            findings.push(Finding::new(
                "sweep-probe-failed",
                Severity::High,
                Category::Monitor,
                &object,
                tenant,
                format!("the visibility probe of `{object}` failed for tenant `{tenant}`"),
                format!("The app role may read this relation, but the probe failed: {error}"),
                "Check the relation's policies and grants; a relation the app may read but cannot query is broken for the app too.",
            ));
        } else if !o.own_visible {
            findings.push(Finding::new(
                "own-rows-invisible",
                Severity::High,
                Category::Monitor,
                &object,
                tenant,
                format!("tenant `{tenant}` cannot see its own rows in `{object}`"),
                "The tenant has rows here, but none was visible with its context set: a deny-all policy is broken, not secure.",
                "Check that the policy compares the tenant column with the same setting the application sets.",
            ));
        }
    }
    findings
}

fn no_tenant_findings(observations: &[Observation], how: &str) -> Vec<Finding> {
    observations
        .iter()
        .filter(|o| o.foreign_visible)
        .map(|o| {
            let object = o.relation.to_string();
            Finding::new(
                "rows-visible-without-tenant",
                Severity::Critical,
                Category::Monitor,
                &object,
                how,
                format!("rows of `{object}` are visible with the tenant setting {how}"),
                format!("With no tenant set ({how}), the app role could see rows: the policy fails open."),
                "Read the setting as NULLIF(current_setting(name, true), '') and compare with `=`; never fall back with COALESCE or `IS NULL OR`.",
            )
        })
        .collect()
}
