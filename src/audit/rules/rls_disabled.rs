//! `rls-disabled`: a table with the tenant column that the app role can reach has RLS switched off.

use super::AuditRule;
use crate::audit::context::Context;
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "rls-disabled",
        category: Category::Audit,
        severity: Severity::Critical,
        title: "row-level security is disabled on a tenant table",
        explanation: "The table carries the tenant column and the app role may use it, but RLS is off: every statement the app runs sees and changes every tenant's rows. One forgotten WHERE clause is a breach.",
        remediation: "ALTER TABLE … ENABLE ROW LEVEL SECURITY, ALTER TABLE … FORCE ROW LEVEL SECURITY, and CREATE POLICY … USING (tenant_column = (SELECT NULLIF(current_setting('<setting>', true), '')::<type>)) WITH CHECK (same).",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    cx.catalog
        .relations
        .iter()
        .filter(|r| {
            r.is_table()
                && !r.is_partition
                && !r.rls_enabled
                && r.app.any()
                && cx.tenant_key.contains_key(&r.oid)
                // A tenants table the app may only read is its own, milder cause.
                && !super::tenant_directory_readable::is_readable_directory(cx, r)
        })
        .map(|r| {
            RULE.info.finding(
                r.name.to_string(),
                "",
                format!(
                    "RLS is disabled on `{}`; the app role `{}` can reach every tenant's rows.",
                    r.name, cx.tenancy.app_role
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways, objects};

    #[tokio::test]
    async fn flags_a_tenant_table_without_rls() {
        let found = both_ways(
            "rls-disabled",
            &format!("{BASE} ALTER TABLE items DISABLE ROW LEVEL SECURITY;"),
            BASE,
        )
        .await;
        assert_eq!(objects(&found), ["items"]);
    }
}
