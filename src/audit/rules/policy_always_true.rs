//! `policy-always-true`: a permissive policy that admits every row, OR-ed into the app's policies.

use crate::audit::context::{Context, Side};
use crate::finding::Finding;

audit_rule! {
    id: "policy-always-true",
    severity: Critical,
    title: "a permissive policy admits every row",
    explanation: "Permissive policies are OR-ed together. One that is always true (`USING (true)`, `1 = 1`, a missing clause) makes the whole set admit every tenant's rows, however well the tenant policy is written.",
    remediation: "DROP the policy, or make it RESTRICTIVE, or add the tenant predicate to it; a policy meant for another role must name that role (TO …).",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_offences(cx.offences(|j, o| j.side == Side::Using && o.always_true))
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways_on_base};

    #[tokio::test]
    async fn flags_a_true_policy_ored_with_the_tenant_policy() {
        both_ways_on_base(
            "policy-always-true",
            "CREATE POLICY open ON items FOR SELECT USING (true);",
        )
        .await;
        both_ways_on_base(
            "policy-always-true",
            "CREATE POLICY open ON items FOR DELETE USING (1 = 1);",
        )
        .await;
    }

    #[tokio::test]
    async fn a_true_policy_for_another_role_or_under_a_restrictive_tenant_policy_is_silent() {
        let other_role = format!(
            "{BASE} CREATE ROLE {{app}}_support; CREATE POLICY support ON items FOR SELECT TO {{app}}_support USING (true);"
        );
        let restricted = format!(
            "{BASE} CREATE POLICY open ON items FOR SELECT USING (true);
             CREATE POLICY pin ON items AS RESTRICTIVE USING (tenant_id = (SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid));"
        );
        for sql in [other_role, restricted] {
            let findings = crate::audit::rules::testing::audit(&sql).await;
            assert!(
                findings.iter().all(|f| f.rule != "policy-always-true"),
                "{findings:#?}"
            );
        }
    }
}
