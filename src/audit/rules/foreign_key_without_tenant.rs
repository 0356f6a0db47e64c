//! `foreign-key-without-tenant`: a foreign key between tenant tables that does not match tenants.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "foreign-key-without-tenant",
    severity: High,
    title: "a foreign key between tenant tables does not include the tenant column",
    explanation: "Foreign-key checks ignore row-level security. A key on the id alone lets a row of tenant A point at a row of tenant B, and the error or success of that insert tells A whether B's id exists (an existence oracle).",
    remediation: "Make the key composite: FOREIGN KEY (tenant_id, x_id) REFERENCES parent (tenant_id, id), with a unique key (tenant_id, id) on the parent.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for fk in cx.catalog.constraints.iter().filter(|c| c.kind == 'f') {
        let (Some(child_key), Some(parent)) = (cx.tenant_key.get(&fk.relid), fk.ref_relid) else {
            continue;
        };
        let Some(parent_key) = cx.tenant_key.get(&parent) else {
            continue;
        };
        let matched = fk
            .columns
            .iter()
            .zip(&fk.ref_columns)
            .any(|(c, p)| c == child_key && p == parent_key);
        if matched {
            continue;
        }
        let (Some(child), Some(parent)) =
            (cx.catalog.relation(fk.relid), cx.catalog.relation(parent))
        else {
            continue;
        };
        findings.push(RULE.info.finding(
            child.name.to_string(),
            &fk.name,
            format!(
                "Foreign key `{}` ({}) → `{}` ({}) does not pair `{child_key}` with `{parent_key}`.",
                fk.name,
                fk.columns.join(", "),
                parent.name,
                fk.ref_columns.join(", ")
            ),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_key_on_the_id_alone() {
        let child = "CREATE TABLE parts (tenant_id uuid NOT NULL, id uuid NOT NULL, item_id uuid NOT NULL, PRIMARY KEY (tenant_id, id));";
        let bad = format!(
            "{BASE} {child} CREATE UNIQUE INDEX items_id ON items (id); ALTER TABLE parts ADD FOREIGN KEY (item_id) REFERENCES items (id);"
        );
        let fixed = format!(
            "{BASE} {child} ALTER TABLE parts ADD FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, id);"
        );
        both_ways("foreign-key-without-tenant", &bad, &fixed).await;
    }
}
