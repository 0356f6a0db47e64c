//! `app-role-superuser`: the app role is a superuser, which bypasses RLS everywhere.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "app-role-superuser",
    severity: Critical,
    title: "the app role is a superuser",
    explanation: "Superusers bypass row-level security even where it is forced: no policy in this database protects any tenant from the app.",
    remediation: "ALTER ROLE <app role> NOSUPERUSER; connect the app as a role that owns nothing and holds only the grants it needs.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        cx.app_role(),
        |r| r.superuser,
        |r| format!("`{}` is a superuser: RLS does not apply to it.", r.name),
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::both_ways_on_base;

    #[tokio::test]
    async fn flags_a_superuser_app_role() {
        both_ways_on_base("app-role-superuser", "ALTER ROLE {app} SUPERUSER;").await;
    }
}
