//! `partition-without-rls`: a partition or inheritance child of tenant data has no RLS of its own.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "partition-without-rls",
    severity: High,
    title: "a partition or inheritance child of tenant data has no row-level security",
    explanation: "Policies belong to the table they are created on. Queries through the parent use the parent's policies, but a query that names the partition or child directly uses the child's own, and this one has RLS off: anyone granted access to it sees every tenant.",
    remediation: "Enable and force RLS on every partition and child with the same tenant policy (and grant the app role nothing on them directly).",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    cx.catalog
        .inherits
        .iter()
        .filter_map(|(child, parent)| {
            Some((cx.catalog.relation(*child)?, cx.catalog.relation(*parent)?))
        })
        .filter(|(child, parent)| {
            child.is_table() && !child.rls_enabled && cx.is_tenant_data(parent)
        })
        .map(|(child, parent)| {
            let reach = if child.app.any() {
                "; the app role can reach it directly"
            } else {
                ""
            };
            RULE.info.finding(
                child.name.to_string(),
                "",
                format!(
                    "`{}` (child of `{}`) has RLS disabled{reach}.",
                    child.name, parent.name
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways, objects};

    fn events(partition_rls: &[&str]) -> String {
        let mut sql = format!(
            "{BASE} CREATE TABLE events (tenant_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id)) PARTITION BY HASH (tenant_id);
             CREATE TABLE events_0 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 0);
             CREATE TABLE events_1 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 1);"
        );
        for table in std::iter::once("events").chain(partition_rls.iter().copied()) {
            sql.push_str(&format!(
                "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
                 CREATE POLICY iso ON {table} USING (tenant_id = (SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid));"
            ));
        }
        sql
    }

    #[tokio::test]
    async fn flags_the_partition_without_rls() {
        let found = both_ways(
            "partition-without-rls",
            &events(&["events_0"]),
            &events(&["events_0", "events_1"]),
        )
        .await;
        assert_eq!(objects(&found), ["events_1"]);
    }
}
