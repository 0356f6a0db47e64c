//! `tenant-setting-per-row`: a policy reads the tenant setting outside `(SELECT …)`.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "tenant-setting-per-row",
    severity: Low,
    title: "a policy evaluates the tenant setting once per row",
    explanation: "`tenant_id = current_setting(…)::uuid` calls the function for every row examined and can keep the planner from using the tenant index; wrapped as `(SELECT current_setting(…))` it becomes an InitPlan evaluated once per statement.",
    remediation: "Write the comparison as `tenant_id = (SELECT NULLIF(current_setting('<setting>', true), '')::<type>)`.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    cx.catalog
        .policies
        .iter()
        .filter(|p| {
            cx.analyses
                .get(&(p.relid, p.name.clone()))
                .is_some_and(|(using, check)| {
                    [using, check]
                        .into_iter()
                        .flatten()
                        .any(|a| a.per_row_setting)
                })
        })
        .filter_map(|p| {
            let rel = cx.catalog.relation(p.relid)?;
            let detail = format!(
                "Policy `{}` on `{}` calls current_setting() outside a scalar subquery.",
                p.name, rel.name
            );
            Some(RULE.info.finding(rel.name.to_string(), &p.name, detail))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_setting_read_per_row() {
        let bad = format!(
            "{BASE} DROP POLICY iso ON items;
             CREATE POLICY iso ON items USING (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid);"
        );
        both_ways("tenant-setting-per-row", &bad, BASE).await;
    }
}
