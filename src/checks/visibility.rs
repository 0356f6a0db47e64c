//! The cross-tenant visibility sweep (`sweep`): as the app role with one tenant's context, is any
//! other tenant's row visible in any tenant relation? And with no tenant set, is anything visible?
//!
//! Each relation costs two index range probes (`key < me`, `key > me`, `LIMIT 1` each) instead of
//! a scan, so the sweep stays cheap on production-sized tables and can run every minute.

use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

use crate::catalog::{Catalog, CatalogError, TenantScope};
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;
use crate::sql::{QualifiedName, quote_ident};
use crate::tenancy::Tenancy;

/// A relation that holds tenant data, with the column that names the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRelation {
    pub name: QualifiedName,
    /// `r` table, `p` partitioned table, `v` view, `m` materialized view, `f` foreign table.
    pub kind: char,
    pub key_column: String,
    /// SQL type of the key column, for casting the bound tenant id.
    pub key_type: String,
    pub key_nullable: bool,
    /// Whether the app role has SELECT on it.
    pub readable_by_app: bool,
}

/// What one tenant saw in one relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub relation: QualifiedName,
    /// A row of another tenant (or of no tenant) was visible.
    pub foreign_visible: bool,
    /// A row of this tenant was visible.
    pub own_visible: bool,
    /// The probe itself failed (e.g. permission denied): neither visible nor proven safe.
    pub error: Option<String>,
}

/// The relations the tenant scope keys by tenant (`TenantScope`: the tenant column, or the tenants
/// table's key, named or inferred), with what the app role may read. The same set the audit and
/// `attack db` judge, read from a scope-sized snapshot.
pub async fn tenant_relations(
    conn: &mut PgConnection,
    tenancy: &Tenancy,
) -> Result<Vec<TenantRelation>, CatalogError> {
    let catalog = Catalog::snapshot_scope(conn, tenancy).await?;
    Ok(from_catalog(&catalog, tenancy))
}

/// The tenant-keyed relations of a snapshot (see `tenant_relations`).
pub fn from_catalog(catalog: &Catalog, tenancy: &Tenancy) -> Vec<TenantRelation> {
    let scope = TenantScope::new(catalog, tenancy);
    scope
        .keyed(catalog)
        .into_iter()
        .map(|(rel, column)| TenantRelation {
            name: rel.name.clone(),
            kind: rel.kind,
            key_column: column.name.clone(),
            key_type: column.type_name.clone(),
            key_nullable: !column.not_null,
            readable_by_app: rel.app.select,
        })
        .collect()
}

/// With `tenant` set (transaction-local) and, when `set_role` is given, as that role: what is
/// visible in each readable relation. Runs in one transaction that is rolled back; a savepoint per
/// relation keeps one failure from hiding the rest.
pub async fn sweep(
    conn: &mut PgConnection,
    tenancy: &Tenancy,
    relations: &[TenantRelation],
    set_role: Option<&str>,
    tenant: &str,
) -> Result<Vec<Observation>, sqlx::Error> {
    let mut tx = begin_as(conn, set_role).await?;
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(&tenancy.tenant_setting)
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    probe_readable(tx, relations, Some(tenant), |rel| {
        let (foreign, own) = probe_exprs(rel);
        vec![foreign, own]
    })
    .await
}

/// The probe of one relation, `$1` the tenant: (any other tenant's row visible, any own row
/// visible). Index-backed: each EXISTS stops at the first row of a range on the tenant key.
pub fn probe_sql(rel: &TenantRelation) -> String {
    let (foreign, own) = probe_exprs(rel);
    format!("SELECT {foreign}, {own}")
}

/// The two boolean expressions of `probe_sql`.
fn probe_exprs(rel: &TenantRelation) -> (String, String) {
    let key = quote_ident(&rel.key_column);
    let table = rel.name.quoted();
    let ty = &rel.key_type;
    let null_probe = if rel.key_nullable {
        format!(" OR EXISTS (SELECT 1 FROM {table} WHERE {key} IS NULL)")
    } else {
        String::new()
    };
    (
        format!(
            "(EXISTS (SELECT 1 FROM {table} WHERE {key} < $1::{ty} LIMIT 1) \
              OR EXISTS (SELECT 1 FROM {table} WHERE {key} > $1::{ty} LIMIT 1){null_probe})"
        ),
        format!("EXISTS (SELECT 1 FROM {table} WHERE {key} = $1::{ty} LIMIT 1)"),
    )
}

/// Begins a sweep's transaction, as `set_role` when one is given.
async fn begin_as<'c>(
    conn: &'c mut PgConnection,
    set_role: Option<&str>,
) -> Result<sqlx::Transaction<'c, sqlx::Postgres>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    if let Some(role) = set_role {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "SET LOCAL ROLE {}",
            quote_ident(role)
        )))
        .execute(&mut *tx)
        .await?;
    }
    Ok(tx)
}

/// Probes each readable relation with the boolean expressions `exprs` gives it (other tenants'
/// rows visible, then optionally own rows visible), then rolls `tx` back. Every probe runs in one
/// statement (one round trip); only if that fails, one by one, so that one broken relation cannot
/// hide the others.
async fn probe_readable(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    relations: &[TenantRelation],
    bind: Option<&str>,
    exprs: impl Fn(&TenantRelation) -> Vec<String>,
) -> Result<Vec<Observation>, sqlx::Error> {
    let readable: Vec<&TenantRelation> = relations.iter().filter(|r| r.readable_by_app).collect();
    let probes: Vec<Vec<String>> = readable.iter().map(|rel| exprs(rel)).collect();
    let mut observations = Vec::new();
    if let Ok(values) = select_bools(&mut tx, &probes.concat(), bind).await? {
        let mut values = values.into_iter();
        for (rel, probe) in readable.iter().zip(&probes) {
            let seen: Vec<bool> = values.by_ref().take(probe.len()).collect();
            observations.push(Observation::seen(rel, &seen));
        }
    } else {
        for (rel, probe) in readable.iter().zip(&probes) {
            observations.push(match select_bools(&mut tx, probe, bind).await? {
                Ok(seen) => Observation::seen(rel, &seen),
                Err(e) => Observation::failed(rel, &e),
            });
        }
    }
    tx.rollback().await?;
    Ok(observations)
}

/// `SELECT e1, e2, …` in a savepoint: the values, or the error of the statement (the savepoint is
/// then rolled back and the transaction stays usable).
async fn select_bools(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    exprs: &[String],
    bind: Option<&str>,
) -> Result<Result<Vec<bool>, sqlx::Error>, sqlx::Error> {
    if exprs.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let sql = format!("SELECT {}", exprs.join(", "));
    let mut sp = tx.begin().await?;
    let mut query = sqlx::query(AssertSqlSafe(sql));
    if let Some(value) = bind {
        query = query.bind(value);
    }
    match query.fetch_one(&mut *sp).await {
        Ok(row) => {
            sp.commit().await?;
            Ok((0..exprs.len())
                .map(|i| Row::try_get::<bool, _>(&row, i))
                .collect())
        }
        Err(e) => {
            sp.rollback().await?;
            Ok(Err(e))
        }
    }
}

impl Observation {
    /// What a probe's values say: other tenants' rows visible, then (when probed) own rows.
    fn seen(rel: &TenantRelation, values: &[bool]) -> Self {
        Self {
            relation: rel.name.clone(),
            foreign_visible: values.first() == Some(&true),
            own_visible: values.get(1) == Some(&true),
            error: None,
        }
    }

    /// A probe that failed: nothing counts as visible, and the error is kept.
    fn failed(rel: &TenantRelation, error: &sqlx::Error) -> Self {
        Self {
            relation: rel.name.clone(),
            foreign_visible: false,
            own_visible: false,
            error: Some(error.to_string()),
        }
    }
}

/// How "no tenant" can look to a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoTenant {
    /// Never set on this connection: `current_setting(name, true)` is NULL.
    Unset,
    /// Set to '' — what a pooled connection holds after an earlier transaction set it.
    Empty,
}

/// With no tenant (as `how` describes), which readable relations show any row at all. A probe
/// that fails here fails closed (e.g. a policy that casts '' to uuid): nothing leaked.
pub async fn sweep_without_tenant(
    conn: &mut PgConnection,
    tenancy: &Tenancy,
    relations: &[TenantRelation],
    set_role: Option<&str>,
    how: NoTenant,
) -> Result<Vec<Observation>, sqlx::Error> {
    let mut tx = begin_as(conn, set_role).await?;
    if how == NoTenant::Empty {
        sqlx::query("SELECT set_config($1, '', true)")
            .bind(&tenancy.tenant_setting)
            .execute(&mut *tx)
            .await?;
    }
    probe_readable(tx, relations, None, |rel| {
        vec![format!(
            "EXISTS (SELECT 1 FROM {} LIMIT 1)",
            rel.name.quoted()
        )]
    })
    .await
}

pub static FOREIGN_ROWS_VISIBLE: RuleInfo = RuleInfo {
    id: "foreign-rows-visible",
    category: Category::Monitor,
    severity: Severity::Critical,
    title: "a tenant sees other tenants' rows",
    explanation: "With one tenant's context set, the app role could see a row whose tenant column names another tenant (or none). Whatever the policies say, this is a live cross-tenant read.",
    remediation: "Enable and force RLS on the relation and give it a policy that pins the tenant column to the tenant setting; for views, set security_invoker.",
};

pub static ROWS_VISIBLE_WITHOUT_TENANT: RuleInfo = RuleInfo {
    id: "rows-visible-without-tenant",
    category: Category::Monitor,
    severity: Severity::Critical,
    title: "rows are visible with no tenant set",
    explanation: "With the tenant setting unset (a fresh connection) or empty (a pooled connection after an earlier transaction), the app role could see rows. Any code path that forgets to set the tenant reads somebody's data.",
    remediation: "Read the setting as NULLIF(current_setting(name, true), '') and compare with `=`; never fall back with COALESCE or `IS NULL OR`.",
};

pub static OWN_ROWS_INVISIBLE: RuleInfo = RuleInfo {
    id: "own-rows-invisible",
    category: Category::Monitor,
    severity: Severity::High,
    title: "a tenant cannot see its own rows",
    explanation: "The tenant has rows in the relation but none was visible with its context set. A deny-everything policy is broken, not secure: the product fails for that tenant, and the usual 'fix' is to disable RLS.",
    remediation: "Check that the policy compares the tenant column with the same setting, and the same type, that the application sets.",
};

pub static PROBE_FAILED: RuleInfo = RuleInfo {
    id: "sweep-probe-failed",
    category: Category::Monitor,
    severity: Severity::High,
    title: "the visibility probe of a relation failed",
    explanation: "The app role may read the relation, but reading it failed, so isolation could not be checked there. A relation the app may read but cannot query is broken for the app too.",
    remediation: "Read the error in the finding's detail; check the relation's policies, grants and the setting's type.",
};

/// The visibility rules, for the catalogue.
pub static RULES: &[&RuleInfo] = &[
    &FOREIGN_ROWS_VISIBLE,
    &ROWS_VISIBLE_WITHOUT_TENANT,
    &OWN_ROWS_INVISIBLE,
    &PROBE_FAILED,
];

/// Findings of one tenant's sweep: foreign rows visible, own rows invisible, probes that failed.
pub fn tenant_findings(observations: &[Observation], tenant: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for o in observations {
        let object = o.relation.to_string();
        if o.foreign_visible {
            findings.push(FOREIGN_ROWS_VISIBLE.finding(
                &object,
                tenant,
                format!("Tenant `{tenant}` sees rows of other tenants in `{object}`."),
            ));
        }
        match &o.error {
            Some(error) => findings.push(PROBE_FAILED.finding(
                &object,
                tenant,
                format!("Probing `{object}` as tenant `{tenant}` failed: {error}"),
            )),
            None if !o.own_visible => {
                findings.push(OWN_ROWS_INVISIBLE.finding(
                    &object,
                    tenant,
                    format!("Tenant `{tenant}` has rows in `{object}` but sees none of them."),
                ));
            }
            None => {}
        }
    }
    findings
}

/// Findings of a no-tenant sweep (`how`: "unset" or "empty").
pub fn no_tenant_findings(observations: &[Observation], how: &str) -> Vec<Finding> {
    observations
        .iter()
        .filter(|o| o.foreign_visible)
        .map(|o| {
            let object = o.relation.to_string();
            ROWS_VISIBLE_WITHOUT_TENANT.finding(
                &object,
                how,
                format!("Rows of `{object}` are visible with the tenant setting {how}."),
            )
        })
        .collect()
}
