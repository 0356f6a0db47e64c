//! `materialized-view-readable`: the app role can read a materialized view of tenant data.

use super::AuditRule;
use crate::audit::context::Context;
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "materialized-view-readable",
        category: Category::Audit,
        severity: Severity::High,
        title: "the app role can read a materialized view of tenant data",
        explanation: "A materialized view stores a copy of the rows its owner could see, and RLS cannot be enabled on it. Every tenant's copied rows are readable by anyone with SELECT on it.",
        remediation: "Revoke SELECT from the app role and serve the data through a security_invoker view or a table with RLS; or keep one materialized view per tenant outside the app's reach.",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    cx.catalog
        .relations
        .iter()
        .filter(|r| r.kind == 'm' && r.app.select && cx.is_tenant_data(r))
        .map(|r| RULE.info.finding(r.name.to_string(), "", format!("`{}` holds a copy of tenant data without RLS, and the app role may SELECT from it.", r.name)))
        .collect()
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
