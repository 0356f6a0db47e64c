//! `materialized-view-readable`: the app role can read a materialized view of tenant data.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "materialized-view-readable",
    severity: High,
    title: "the app role can read a materialized view of tenant data",
    explanation: "A materialized view stores a copy of the rows its owner could see, and RLS cannot be enabled on it. Every tenant's copied rows are readable by anyone with SELECT on it.",
    remediation: "Revoke SELECT from the app role and serve the data through a security_invoker view or a table with RLS; or keep one materialized view per tenant outside the app's reach.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        &cx.catalog.relations,
        |r| r.kind == 'm' && r.app.select && cx.is_tenant_data(r),
        |r| format!("`{}` holds a copy of tenant data without RLS, and the app role may SELECT from it.", r.name),
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_readable_materialized_view() {
        let mv = "CREATE MATERIALIZED VIEW item_counts AS SELECT tenant_id, count(*) FROM items GROUP BY tenant_id;";
        let bad = format!("{BASE} {mv} GRANT SELECT ON item_counts TO {{app}};");
        let fixed = format!("{BASE} {mv}");
        both_ways("materialized-view-readable", &bad, &fixed).await;
    }
}
