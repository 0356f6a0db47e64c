//! `foreign-table-readable`: the app role can read a foreign table of tenant data (no RLS possible).

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "foreign-table-readable",
    severity: High,
    title: "the app role can read a foreign table of tenant data",
    explanation: "Row-level security cannot be enabled on foreign tables. A foreign table with tenant data that the app role can read exposes every tenant's rows of the remote source.",
    remediation: "Revoke the app role's privileges on the foreign table; expose it through a security_invoker view over a local table with RLS, or filter on the remote side per tenant.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        &cx.catalog.relations,
        |r| r.kind == 'f' && (r.app.select || r.app.insert || r.app.update || r.app.delete) && cx.is_tenant_data(r),
        |r| format!("`{}` is a foreign table with tenant data and the app role may use it; RLS cannot apply.", r.name),
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_readable_foreign_table() {
        // A wrapper without handler is enough to declare foreign tables (they cannot be queried).
        let ft = "CREATE FOREIGN DATA WRAPPER {app}_fdw; CREATE SERVER {app}_srv FOREIGN DATA WRAPPER {app}_fdw;
                  CREATE FOREIGN TABLE remote_items (tenant_id uuid, secret text) SERVER {app}_srv;";
        let bad = format!("{BASE} {ft} GRANT SELECT ON remote_items TO {{app}};");
        let fixed = format!("{BASE} {ft}");
        both_ways("foreign-table-readable", &bad, &fixed).await;
    }
}
