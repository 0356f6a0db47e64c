//! `rls-no-policy`: RLS is on but no policy applies to the app role: it sees nothing (deny-all).

use super::AuditRule;
use crate::audit::context::Context;
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "rls-no-policy",
        category: Category::Audit,
        severity: Severity::Medium,
        title: "row-level security is on but no policy applies to the app role",
        explanation: "With RLS enabled and no policy for the role, every query returns no rows and every write fails. That is safe but broken: a deny-all table usually means a policy was dropped or written for the wrong role, and someone will soon 'fix' it by disabling RLS.",
        remediation: "CREATE POLICY … (for the app role or PUBLIC) with the tenant predicate, or revoke the app role's privileges if it should not use the table.",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    cx.catalog
        .relations
        .iter()
        .filter(|r| {
            r.is_table() && r.rls_enabled && r.app.any() && cx.tenant_key.contains_key(&r.oid)
        })
        .filter(|r| {
            cx.judgements
                .get(&r.oid)
                .is_some_and(|js| !js.is_empty() && js.iter().all(|j| j.denied))
        })
        .map(|r| {
            RULE.info.finding(
                r.name.to_string(),
                "",
                format!(
                    "No policy on `{}` applies to `{}`: it can read and write nothing there.",
                    r.name, cx.tenancy.app_role
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_deny_all_table() {
        both_ways(
            "rls-no-policy",
            &format!("{BASE} DROP POLICY iso ON items;"),
            BASE,
        )
        .await;
    }
}
