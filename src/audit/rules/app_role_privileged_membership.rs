//! `app-role-privileged-membership`: the app role may SET ROLE to a role that bypasses RLS.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "app-role-privileged-membership",
    severity: High,
    title: "the app role can switch to a role that bypasses row-level security",
    explanation: "The app role is a member of a superuser or BYPASSRLS role. Any SQL the app runs (or an injection runs for it) can SET ROLE to that role and read every tenant.",
    remediation: "REVOKE the membership; the app role should belong to no privileged role.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    let app = &cx.tenancy.app_role;
    cx.catalog
        .roles
        .iter()
        .filter(|r| r.app_is_member && (r.superuser || r.bypassrls))
        .map(|r| {
            let what = if r.superuser {
                "a superuser"
            } else {
                "BYPASSRLS"
            };
            RULE.info.finding(
                app.clone(),
                &r.name,
                format!(
                    "`{app}` is a member of `{}` ({what}) and can SET ROLE to it.",
                    r.name
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_membership_in_a_bypassing_role() {
        let bad =
            format!("{BASE} CREATE ROLE {{app}}_admin BYPASSRLS; GRANT {{app}}_admin TO {{app}};");
        let fixed = format!("{BASE} CREATE ROLE {{app}}_helper; GRANT {{app}}_helper TO {{app}};");
        both_ways("app-role-privileged-membership", &bad, &fixed).await;
    }
}
