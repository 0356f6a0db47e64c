//! `rls-no-policy`: RLS is on but no policy applies to the app role: it sees nothing (deny-all).

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "rls-no-policy",
    severity: Medium,
    title: "row-level security is on but no policy applies to the app role",
    explanation: "With RLS enabled and no policy for the role, every query returns no rows and every write fails. That is safe but broken: a deny-all table usually means a policy was dropped or written for the wrong role, and someone will soon 'fix' it by disabling RLS.",
    remediation: "CREATE POLICY … (for the app role or PUBLIC) with the tenant predicate, or revoke the app role's privileges if it should not use the table.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    let denies_all = |oid: i64| {
        cx.judgements
            .get(&oid)
            .is_some_and(|js| !js.is_empty() && js.iter().all(|j| j.denied))
    };
    RULE.on_each(
        &cx.catalog.relations,
        |r| {
            r.is_table()
                && r.rls_enabled
                && r.app.any()
                && cx.tenant_key.contains_key(&r.oid)
                && denies_all(r.oid)
        },
        |r| {
            format!(
                "No policy on `{}` applies to `{}`: it can read and write nothing there.",
                r.name, cx.tenancy.app_role
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::both_ways_on_base;

    #[tokio::test]
    async fn flags_a_deny_all_table() {
        both_ways_on_base("rls-no-policy", "DROP POLICY iso ON items;").await;
    }
}
