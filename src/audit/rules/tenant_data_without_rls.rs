//! `tenant-data-without-rls`: a table without the tenant column that still holds tenant data (it
//! references a tenant table) has RLS off.

use crate::audit::catalog::Relation;
use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "tenant-data-without-rls",
    severity: Critical,
    title: "a table that holds tenant data through a foreign key has no row-level security",
    explanation: "The table has no tenant column, but its rows reference a tenant's rows, so each row belongs to a tenant. Without RLS the app role reads and writes every tenant's child rows; tenant-column checks alone never see this table.",
    remediation: "Add the tenant column (and include it in the foreign key), then enable and force RLS with the tenant policy; or enable RLS with a policy that joins to the parent.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    let parents_of = |r: &Relation| -> Vec<String> {
        cx.catalog
            .constraints
            .iter()
            .filter(|c| c.kind == 'f' && c.relid == r.oid)
            .filter_map(|c| c.ref_relid.and_then(|p| cx.catalog.relation(p)))
            .map(|p| format!("`{}`", p.name))
            .collect()
    };
    RULE.on_each(
        &cx.catalog.relations,
        |r| {
            super::reachable_without_rls(r)
                && cx.is_tenant_data(r)
                && !cx.tenant_key.contains_key(&r.oid)
        },
        |r| format!("`{}` references {} but has no tenant column and no RLS: the app role sees every tenant's rows.", r.name, parents_of(r).join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways, objects};

    const CHILD: &str = "
        CREATE TABLE notes (item_tenant uuid NOT NULL, item_id uuid NOT NULL, body text,
                            FOREIGN KEY (item_tenant, item_id) REFERENCES items (tenant_id, id));
        GRANT SELECT ON notes TO {app};";

    #[tokio::test]
    async fn flags_a_child_table_without_the_column_or_rls() {
        let bad = format!("{BASE} {CHILD}");
        let fixed = format!(
            "{BASE} {CHILD} ALTER TABLE notes ENABLE ROW LEVEL SECURITY; ALTER TABLE notes FORCE ROW LEVEL SECURITY;"
        );
        assert_eq!(
            objects(&both_ways("tenant-data-without-rls", &bad, &fixed).await),
            ["notes"]
        );
    }
}
