//! `tenant-column-nullable`: the tenant column allows NULL.

use super::AuditRule;
use crate::audit::context::Context;
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "tenant-column-nullable",
        category: Category::Audit,
        severity: Severity::High,
        title: "the tenant column allows NULL",
        explanation: "A row with no tenant belongs to nobody: no tenant policy admits it (so it silently disappears), or a fail-open policy admits it to everyone. Either way it is a bug waiting, and unique keys that include the column stop being unique for NULLs.",
        remediation: "ALTER TABLE … ALTER COLUMN <tenant column> SET NOT NULL (after backfilling).",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    let tenants_table = cx.tenancy.tenants_table.as_ref();
    cx.catalog
        .relations
        .iter()
        .filter(|r| r.is_table() && Some(&r.name) != tenants_table)
        .filter_map(|r| Some((r, r.column(cx.tenant_key.get(&r.oid)?)?)))
        .filter(|(_, col)| !col.not_null)
        .map(|(r, col)| {
            RULE.info.finding(
                r.name.to_string(),
                &col.name,
                format!("`{}.{}` is nullable.", r.name, col.name),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_nullable_tenant_column() {
        both_ways(
            "tenant-column-nullable",
            &format!("{BASE} CREATE TABLE logs (tenant_id uuid, line text);"),
            &format!("{BASE} CREATE TABLE logs (tenant_id uuid NOT NULL, line text);"),
        )
        .await;
    }
}
