//! `policy-undecidable`: tenantprobe cannot tell whether a policy pins the tenant.

use crate::audit::context::Context;
use crate::audit::policy::Verdict;
use crate::finding::Finding;

audit_rule! {
    id: "policy-undecidable",
    severity: Medium,
    title: "cannot decide whether a policy pins rows to the current tenant",
    explanation: "The policy consults a subquery (a membership table, say) or a function tenantprobe cannot follow. It may be right, but a catalog audit cannot prove it: this is reported as undecided, never as clean. `attack db` tests its behaviour.",
    remediation: "Prefer the plain form `tenant_column = (SELECT NULLIF(current_setting(…), '')::type)`, adding other conditions with AND or a RESTRICTIVE policy; or waive this finding with the reason the policy is safe.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_offences(cx.offences(|_, o| matches!(o.verdict, Verdict::Undecided(_))))
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_membership_subquery_instead_of_calling_it_clean() {
        let bad = format!(
            "{BASE} CREATE TABLE memberships (tenant_id uuid, member name);
             DROP POLICY iso ON items;
             CREATE POLICY iso ON items USING (tenant_id IN (SELECT m.tenant_id FROM memberships m WHERE m.member = current_user));"
        );
        both_ways("policy-undecidable", &bad, BASE).await;
    }
}
