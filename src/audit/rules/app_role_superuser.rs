//! `app-role-superuser`: the app role is a superuser, which bypasses RLS everywhere.

use super::AuditRule;
use crate::audit::context::Context;
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "app-role-superuser",
        category: Category::Audit,
        severity: Severity::Critical,
        title: "the app role is a superuser",
        explanation: "Superusers bypass row-level security even where it is forced: no policy in this database protects any tenant from the app.",
        remediation: "ALTER ROLE <app role> NOSUPERUSER; connect the app as a role that owns nothing and holds only the grants it needs.",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    cx.app_role()
        .filter(|r| r.superuser)
        .map(|r| {
            RULE.info.finding(
                r.name.clone(),
                "",
                format!("`{}` is a superuser: RLS does not apply to it.", r.name),
            )
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_superuser_app_role() {
        both_ways(
            "app-role-superuser",
            &format!("{BASE} ALTER ROLE {{app}} SUPERUSER;"),
            BASE,
        )
        .await;
    }
}
