//! `app-role-owns-tenant-table`: the app role owns a relation that holds tenant data.

use super::AuditRule;
use crate::audit::context::Context;
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "app-role-owns-tenant-table",
        category: Category::Audit,
        severity: Severity::High,
        title: "the app role owns a relation that holds tenant data",
        explanation: "An owner can ALTER TABLE … DISABLE ROW LEVEL SECURITY, NO FORCE, DROP POLICY. Even with RLS forced, any SQL the app runs can switch isolation off for everyone.",
        remediation: "ALTER TABLE … OWNER TO <owner role>, a role that runs migrations and that the app never connects as; GRANT the app only the privileges it needs.",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    cx.catalog
        .relations
        .iter()
        .filter(|r| r.app_is_owner && cx.is_tenant_data(r))
        .map(|r| {
            RULE.info.finding(
                r.name.to_string(),
                "",
                format!(
                    "`{}` is owned by `{}`; the app role `{}` holds the owner's rights.",
                    r.name, r.owner, cx.tenancy.app_role
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways, objects};

    #[tokio::test]
    async fn flags_an_app_owned_tenant_table() {
        let found = both_ways(
            "app-role-owns-tenant-table",
            &format!("{BASE} ALTER TABLE items OWNER TO {{app}};"),
            BASE,
        )
        .await;
        assert_eq!(objects(&found), ["items"]);
    }
}
