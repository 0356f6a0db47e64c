//! `app-role-owns-tenant-table`: the app role owns a relation that holds tenant data.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "app-role-owns-tenant-table",
    severity: High,
    title: "the app role owns a relation that holds tenant data",
    explanation: "An owner can ALTER TABLE … DISABLE ROW LEVEL SECURITY, NO FORCE, DROP POLICY. Even with RLS forced, any SQL the app runs can switch isolation off for everyone.",
    remediation: "ALTER TABLE … OWNER TO <owner role>, a role that runs migrations and that the app never connects as; GRANT the app only the privileges it needs.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        &cx.catalog.relations,
        |r| r.app_is_owner && cx.is_tenant_data(r),
        |r| {
            format!(
                "`{}` is owned by `{}`; the app role `{}` holds the owner's rights.",
                r.name, r.owner, cx.tenancy.app_role
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{both_ways_on_base, objects};

    #[tokio::test]
    async fn flags_an_app_owned_tenant_table() {
        let found = both_ways_on_base(
            "app-role-owns-tenant-table",
            "ALTER TABLE items OWNER TO {app};",
        )
        .await;
        assert_eq!(objects(&found), ["items"]);
    }
}
