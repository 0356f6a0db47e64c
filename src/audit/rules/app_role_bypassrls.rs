//! `app-role-bypassrls`: the app role has BYPASSRLS.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "app-role-bypassrls",
    severity: Critical,
    title: "the app role has BYPASSRLS",
    explanation: "A role with BYPASSRLS ignores every row-level security policy, forced or not. Through this role the app sees and changes every tenant's rows.",
    remediation: "ALTER ROLE <app role> NOBYPASSRLS. Keep BYPASSRLS for migration or support roles the app never connects as.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        cx.app_role(),
        |r| r.bypassrls && !r.superuser,
        |r| format!("`{}` has BYPASSRLS: no policy applies to it.", r.name),
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::both_ways_on_base;

    #[tokio::test]
    async fn flags_a_bypassing_app_role() {
        both_ways_on_base("app-role-bypassrls", "ALTER ROLE {app} BYPASSRLS;").await;
    }
}
