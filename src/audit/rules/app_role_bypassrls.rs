//! `app-role-bypassrls`: the app role has BYPASSRLS.

use super::AuditRule;
use crate::audit::context::Context;
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "app-role-bypassrls",
        category: Category::Audit,
        severity: Severity::Critical,
        title: "the app role has BYPASSRLS",
        explanation: "A role with BYPASSRLS ignores every row-level security policy, forced or not. Through this role the app sees and changes every tenant's rows.",
        remediation: "ALTER ROLE <app role> NOBYPASSRLS. Keep BYPASSRLS for migration or support roles the app never connects as.",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    cx.app_role()
        .filter(|r| r.bypassrls && !r.superuser)
        .map(|r| {
            RULE.info.finding(
                r.name.clone(),
                "",
                format!("`{}` has BYPASSRLS: no policy applies to it.", r.name),
            )
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_bypassing_app_role() {
        both_ways(
            "app-role-bypassrls",
            &format!("{BASE} ALTER ROLE {{app}} BYPASSRLS;"),
            BASE,
        )
        .await;
    }
}
