//! `app-role-dangerous-privilege`: TRUNCATE, REFERENCES or TRIGGER on tenant data for the app role.

use super::AuditRule;
use crate::audit::context::Context;
use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;

pub static RULE: AuditRule = AuditRule {
    info: RuleInfo {
        id: "app-role-dangerous-privilege",
        category: Category::Audit,
        severity: Severity::High,
        title: "the app role holds TRUNCATE, REFERENCES or TRIGGER on tenant data",
        explanation: "These privileges act outside row-level security: TRUNCATE empties every tenant's rows at once; REFERENCES lets the app declare foreign keys that probe for other tenants' values (foreign-key checks ignore RLS); TRIGGER lets it attach code that sees every row written.",
        remediation: "REVOKE TRUNCATE, REFERENCES, TRIGGER ON … FROM <app role>; grant only SELECT, INSERT, UPDATE, DELETE as needed.",
    },
    check,
};

fn check(cx: &Context<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for r in cx
        .catalog
        .relations
        .iter()
        .filter(|r| r.is_table() && cx.is_tenant_data(r))
    {
        for (privilege, held) in [
            ("TRUNCATE", r.app.truncate),
            ("REFERENCES", r.app.references),
            ("TRIGGER", r.app.trigger),
        ] {
            if held {
                findings.push(RULE.info.finding(
                    r.name.to_string(),
                    privilege,
                    format!(
                        "The app role `{}` holds {privilege} on `{}`.",
                        cx.tenancy.app_role, r.name
                    ),
                ));
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_truncate_and_references() {
        let found = both_ways(
            "app-role-dangerous-privilege",
            &format!("{BASE} GRANT TRUNCATE, REFERENCES ON items TO {{app}};"),
            BASE,
        )
        .await;
        assert_eq!(found.len(), 2);
    }
}
