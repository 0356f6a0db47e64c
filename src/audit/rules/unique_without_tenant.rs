//! `unique-without-tenant`: a unique key on a tenant table that does not include the tenant.

use super::AuditRule;
use crate::audit::context::Context;
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "unique-without-tenant",
        category: Category::Audit,
        severity: Severity::Medium,
        title: "a unique key on a tenant table does not include the tenant column",
        explanation: "Uniqueness is checked across all rows, ignoring row-level security. Tenant A inserting a value that tenant B already uses gets a unique violation (often with the value in the error's DETAIL): an existence oracle on B's data, and a way to block B's names.",
        remediation: "Make the key per tenant: UNIQUE (tenant_id, …). Keep globally unique keys only for values that are public by design (slugs, random ids), and waive them with that reason.",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    let tenants_table = cx.tenancy.tenants_table.as_ref();
    let mut findings = Vec::new();
    for index in cx.catalog.indexes.iter().filter(|i| i.unique) {
        let Some(key) = cx.tenant_key.get(&index.relid) else {
            continue;
        };
        let Some(rel) = cx.catalog.relation(index.relid) else {
            continue;
        };
        if Some(&rel.name) == tenants_table || rel.is_partition || index.columns.contains(key) {
            continue;
        }
        let what = if index.backs_constraint {
            "unique constraint"
        } else {
            "unique index"
        };
        findings.push(RULE.info.finding(
            rel.name.to_string(),
            &index.name,
            format!(
                    "The {what} `{}` on `{}` ({}) does not include `{key}`.",
                    index.name,
                    rel.name,
                    index
                        .columns
                        .iter()
                        .map(|c| if c.is_empty() {
                            "<expression>"
                        } else {
                            c.as_str()
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_global_unique_key() {
        let bad = format!("{BASE} CREATE UNIQUE INDEX items_name_key ON items (name);");
        let fixed =
            format!("{BASE} CREATE UNIQUE INDEX items_name_key ON items (tenant_id, name);");
        let found = both_ways("unique-without-tenant", &bad, &fixed).await;
        assert!(found[0].detail.contains("`items_name_key`"));
    }
}
