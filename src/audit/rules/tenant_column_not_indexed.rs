//! `tenant-column-not-indexed`: no index of a tenant table leads with the tenant column.

use std::collections::HashSet;

use super::tenant_keyed_tables;
use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "tenant-column-not-indexed",
    severity: Low,
    title: "no index leads with the tenant column",
    explanation: "Every query under RLS filters on the tenant column. Without an index that starts with it, each tenant's query scans every tenant's rows: slow, and a noisy neighbour for everyone.",
    remediation: "Lead the primary key and the other indexes with the tenant column: PRIMARY KEY (tenant_id, id), CREATE INDEX … (tenant_id, …).",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    let leading: HashSet<(i64, &str)> = cx
        .catalog
        .indexes
        .iter()
        .filter(|i| !i.partial)
        .filter_map(|i| Some((i.relid, i.columns.first()?.as_str())))
        .collect();
    tenant_keyed_tables(cx)
        .filter(|(r, key)| !leading.contains(&(r.oid, *key)))
        .map(|(r, key)| {
            let detail = format!("No index on `{}` starts with `{key}`.", r.name);
            RULE.info.finding(r.name.to_string(), "", detail)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_table_whose_indexes_ignore_the_tenant() {
        let bad =
            format!("{BASE} CREATE TABLE logs (tenant_id uuid NOT NULL, id bigint PRIMARY KEY);");
        let fixed = format!(
            "{BASE} CREATE TABLE logs (tenant_id uuid NOT NULL, id bigint, PRIMARY KEY (tenant_id, id));"
        );
        both_ways("tenant-column-not-indexed", &bad, &fixed).await;
    }
}
