//! `rls-disabled`: a table with the tenant column that the app role can reach has RLS switched off.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "rls-disabled",
    severity: Critical,
    title: "row-level security is disabled on a tenant table",
    explanation: "The table carries the tenant column and the app role may use it, but RLS is off: every statement the app runs sees and changes every tenant's rows. One forgotten WHERE clause is a breach.",
    remediation: "ALTER TABLE … ENABLE ROW LEVEL SECURITY, ALTER TABLE … FORCE ROW LEVEL SECURITY, and CREATE POLICY … USING (tenant_column = (SELECT NULLIF(current_setting('<setting>', true), '')::<type>)) WITH CHECK (same).",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        &cx.catalog.relations,
        |r| {
            super::reachable_without_rls(r)
                && cx.tenant_key.contains_key(&r.oid)
                // A tenants table the app may only read is its own, milder cause.
                && !super::tenant_directory_readable::is_readable_directory(cx, r)
        },
        |r| {
            format!(
                "RLS is disabled on `{}`; the app role `{}` can reach every tenant's rows.",
                r.name, cx.tenancy.app_role
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{both_ways_on_base, objects};

    #[tokio::test]
    async fn flags_a_tenant_table_without_rls() {
        let found = both_ways_on_base(
            "rls-disabled",
            "ALTER TABLE items DISABLE ROW LEVEL SECURITY;",
        )
        .await;
        assert_eq!(objects(&found), ["items"]);
    }
}
