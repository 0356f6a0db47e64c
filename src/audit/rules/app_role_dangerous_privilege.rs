//! `app-role-dangerous-privilege`: TRUNCATE, REFERENCES or TRIGGER on tenant data for the app role.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "app-role-dangerous-privilege",
    severity: High,
    title: "the app role holds TRUNCATE, REFERENCES or TRIGGER on tenant data",
    explanation: "These privileges act outside row-level security: TRUNCATE empties every tenant's rows at once; REFERENCES lets the app declare foreign keys that probe for other tenants' values (foreign-key checks ignore RLS); TRIGGER lets it attach code that sees every row written.",
    remediation: "REVOKE TRUNCATE, REFERENCES, TRIGGER ON … FROM <app role>; grant only SELECT, INSERT, UPDATE, DELETE as needed.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    let tenant_tables = cx
        .catalog
        .relations
        .iter()
        .filter(|r| r.is_table() && cx.is_tenant_data(r));
    tenant_tables
        .flat_map(|r| {
            [
                ("TRUNCATE", r.app.truncate),
                ("REFERENCES", r.app.references),
                ("TRIGGER", r.app.trigger),
            ]
            .into_iter()
            .filter(|(_, held)| *held)
            .map(move |(privilege, _)| {
                let app = &cx.tenancy.app_role;
                let detail = format!("The app role `{app}` holds {privilege} on `{}`.", r.name);
                RULE.info.finding(r.name.to_string(), privilege, detail)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::both_ways_on_base;

    #[tokio::test]
    async fn flags_truncate_and_references() {
        let found = both_ways_on_base(
            "app-role-dangerous-privilege",
            "GRANT TRUNCATE, REFERENCES ON items TO {app};",
        )
        .await;
        assert_eq!(found.len(), 2);
    }
}
