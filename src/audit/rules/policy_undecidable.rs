//! `policy-undecidable`: tenantprobe cannot tell whether a policy pins the tenant.

use super::AuditRule;
use crate::audit::context::Context;
use crate::audit::policy::Verdict;
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "policy-undecidable",
        category: Category::Audit,
        severity: Severity::Medium,
        title: "cannot decide whether a policy pins rows to the current tenant",
        explanation: "The policy consults a subquery (a membership table, say) or a function tenantprobe cannot follow. It may be right, but a catalog audit cannot prove it: this is reported as undecided, never as clean. `attack db` tests its behaviour.",
        remediation: "Prefer the plain form `tenant_column = (SELECT NULLIF(current_setting(…), '')::type)`, adding other conditions with AND or a RESTRICTIVE policy; or waive this finding with the reason the policy is safe.",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    cx.offences(|_, o| matches!(o.verdict, Verdict::Undecided(_)))
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
    async fn flags_a_membership_subquery_instead_of_calling_it_clean() {
        let bad = format!(
            "{BASE} CREATE TABLE memberships (tenant_id uuid, member name);
             DROP POLICY iso ON items;
             CREATE POLICY iso ON items USING (tenant_id IN (SELECT m.tenant_id FROM memberships m WHERE m.member = current_user));"
        );
        both_ways("policy-undecidable", &bad, BASE).await;
    }
}
