//! `policy-always-true`: a permissive policy that admits every row, OR-ed into the app's policies.

use super::AuditRule;
use crate::audit::context::{Context, Side};
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "policy-always-true",
        category: Category::Audit,
        severity: Severity::Critical,
        title: "a permissive policy admits every row",
        explanation: "Permissive policies are OR-ed together. One that is always true (`USING (true)`, `1 = 1`, a missing clause) makes the whole set admit every tenant's rows, however well the tenant policy is written.",
        remediation: "DROP the policy, or make it RESTRICTIVE, or add the tenant predicate to it; a policy meant for another role must name that role (TO …).",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    cx.offences(|j, o| j.side == Side::Using && o.always_true)
        .into_iter()
        .map(|o| {
            RULE.info
                .finding(o.relation.name.to_string(), &o.policy, o.describe())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_true_policy_ored_with_the_tenant_policy() {
        both_ways(
            "policy-always-true",
            &format!("{BASE} CREATE POLICY open ON items FOR SELECT USING (true);"),
            BASE,
        )
        .await;
        both_ways(
            "policy-always-true",
            &format!("{BASE} CREATE POLICY open ON items FOR DELETE USING (1 = 1);"),
            BASE,
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
