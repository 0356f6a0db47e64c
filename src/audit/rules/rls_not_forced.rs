//! `rls-not-forced`: the app role owns a tenant table whose RLS is not forced, so it bypasses RLS.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "rls-not-forced",
    severity: Critical,
    title: "row-level security is not forced on a table the app role owns",
    explanation: "A table's owner bypasses its RLS policies unless RLS is forced. The app role owns this table (or is a member of its owner), so every policy on it is silently ignored for the app.",
    remediation: "ALTER TABLE … FORCE ROW LEVEL SECURITY, and better: give the table to a separate owner role that runs migrations, so the app role owns nothing.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        &cx.catalog.relations,
        |r| r.is_table() && r.rls_enabled && !r.rls_forced && r.app_is_owner && cx.is_tenant_data(r),
        |r| format!("`{}` is owned by `{}`, which the app role `{}` is or belongs to, and RLS is not forced: its policies do not apply to the app.", r.name, r.owner, cx.tenancy.app_role),
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways, objects};

    #[tokio::test]
    async fn flags_an_app_owned_table_without_force() {
        let bad = format!(
            "{BASE} ALTER TABLE items OWNER TO {{app}}; ALTER TABLE items NO FORCE ROW LEVEL SECURITY;"
        );
        let fixed = format!("{BASE} ALTER TABLE items OWNER TO {{app}};");
        assert_eq!(
            objects(&both_ways("rls-not-forced", &bad, &fixed).await),
            ["items"]
        );
    }
}
