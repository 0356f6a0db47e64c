//! `view-without-security-invoker`: a view over tenant data runs with its owner's rights.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "view-without-security-invoker",
    severity: Critical,
    title: "a view over tenant data runs with its owner's rights",
    explanation: "Without `security_invoker`, a view reads its tables as the view's owner, and owners (or BYPASSRLS roles) skip RLS. The app role reads every tenant's rows through the view even though the tables underneath are protected.",
    remediation: "ALTER VIEW … SET (security_invoker = true) (PostgreSQL 15+), so the caller's RLS applies; or revoke the app role's SELECT on the view.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        &cx.catalog.relations,
        |r| r.kind == 'v' && !r.security_invoker && r.app.select && cx.is_tenant_data(r),
        |r| {
            let bypass = cx.note_if_bypasses(&r.owner, ", which bypasses RLS");
            format!(
                "`{}` reads tenant data as its owner `{}`{bypass}; the app role may SELECT from it.",
                r.name, r.owner
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways, objects};

    #[tokio::test]
    async fn flags_definer_views_and_not_invoker_views_even_without_the_tenant_column() {
        // (view, its query, the invoker option of the fixed view); `names` drops the tenant
        // column and is still tenant data.
        for (view, query, invoker) in [
            (
                "item_names",
                "SELECT tenant_id, name FROM items",
                "security_invoker = true",
            ),
            ("names", "SELECT name FROM items", "security_invoker"),
        ] {
            let grant = format!("GRANT SELECT ON {view} TO {{app}};");
            let bad = format!("{BASE} CREATE VIEW {view} AS {query}; {grant}");
            let fixed = format!("{BASE} CREATE VIEW {view} WITH ({invoker}) AS {query}; {grant}");
            let found = both_ways("view-without-security-invoker", &bad, &fixed).await;
            assert_eq!(objects(&found), [view]);
        }
    }
}
