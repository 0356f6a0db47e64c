//! `view-without-security-invoker`: a view over tenant data runs with its owner's rights.

use super::AuditRule;
use crate::audit::context::Context;
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "view-without-security-invoker",
        category: Category::Audit,
        severity: Severity::Critical,
        title: "a view over tenant data runs with its owner's rights",
        explanation: "Without `security_invoker`, a view reads its tables as the view's owner, and owners (or BYPASSRLS roles) skip RLS. The app role reads every tenant's rows through the view even though the tables underneath are protected.",
        remediation: "ALTER VIEW … SET (security_invoker = true) (PostgreSQL 15+), so the caller's RLS applies; or revoke the app role's SELECT on the view.",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    cx.catalog
        .relations
        .iter()
        .filter(|r| r.kind == 'v' && !r.security_invoker && r.app.select && cx.is_tenant_data(r))
        .map(|r| {
            let owner_bypasses = cx.role_bypasses(&r.owner);
            RULE.info.finding(
                r.name.to_string(),
                "",
                format!(
                    "`{}` reads tenant data as its owner `{}`{}; the app role may SELECT from it.",
                    r.name,
                    r.owner,
                    if owner_bypasses {
                        ", which bypasses RLS"
                    } else {
                        ""
                    }
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways, objects};

    #[tokio::test]
    async fn flags_a_definer_view_and_not_an_invoker_view() {
        let bad = format!(
            "{BASE} CREATE VIEW item_names AS SELECT tenant_id, name FROM items; GRANT SELECT ON item_names TO {{app}};"
        );
        let fixed = format!(
            "{BASE} CREATE VIEW item_names WITH (security_invoker = true) AS SELECT tenant_id, name FROM items; GRANT SELECT ON item_names TO {{app}};"
        );
        assert_eq!(
            objects(&both_ways("view-without-security-invoker", &bad, &fixed).await),
            ["item_names"]
        );
    }

    #[tokio::test]
    async fn a_view_that_drops_the_tenant_column_is_still_tenant_data() {
        let bad = format!(
            "{BASE} CREATE VIEW names AS SELECT name FROM items; GRANT SELECT ON names TO {{app}};"
        );
        let fixed = format!(
            "{BASE} CREATE VIEW names WITH (security_invoker) AS SELECT name FROM items; GRANT SELECT ON names TO {{app}};"
        );
        assert_eq!(
            objects(&both_ways("view-without-security-invoker", &bad, &fixed).await),
            ["names"]
        );
    }
}
