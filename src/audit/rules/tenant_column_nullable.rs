//! `tenant-column-nullable`: the tenant column allows NULL.

use super::tenant_keyed_tables;
use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "tenant-column-nullable",
    severity: High,
    title: "the tenant column allows NULL",
    explanation: "A row with no tenant belongs to nobody: no tenant policy admits it (so it silently disappears), or a fail-open policy admits it to everyone. Either way it is a bug waiting, and unique keys that include the column stop being unique for NULLs.",
    remediation: "ALTER TABLE … ALTER COLUMN <tenant column> SET NOT NULL (after backfilling).",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    tenant_keyed_tables(cx)
        .filter_map(|(r, key)| Some((r, r.column(key)?)))
        .filter(|(_, col)| !col.not_null)
        .map(|(r, col)| {
            let detail = format!("`{}.{}` is nullable.", r.name, col.name);
            RULE.info.finding(r.name.to_string(), &col.name, detail)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_nullable_tenant_column() {
        both_ways(
            "tenant-column-nullable",
            &format!("{BASE} CREATE TABLE logs (tenant_id uuid, line text);"),
            &format!("{BASE} CREATE TABLE logs (tenant_id uuid NOT NULL, line text);"),
        )
        .await;
    }
}
