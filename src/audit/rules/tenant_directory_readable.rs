//! `tenant-directory-readable`: the tenants table has no RLS and the app role may only read it, so
//! every tenant can list every tenant: one design choice, reported once with its remedy.

use crate::audit::catalog::Relation;
use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "tenant-directory-readable",
    // Medium, not critical: it exposes who the other tenants are (ids, names, slugs), not
    // their data, and the app cannot change it. A tenants table the app role may also write
    // without RLS is `rls-disabled` (critical) instead.
    severity: Medium,
    title: "every tenant can read the whole tenants table",
    explanation: "The tenants table has row-level security off and the app role may read it (and nothing more), usually so that the login flow can resolve a tenant by slug or domain before any tenant is set. Every tenant can then list every other tenant: names, ids and whatever else the table holds. It exposes the directory, not tenant data; `attack db` reports its reads of this table under this one cause.",
    remediation: "Enable and force RLS on the tenants table with a policy on the tenant's own row, and give the login flow a narrow resolver: CREATE FUNCTION resolve_tenant(slug text) RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT id FROM public.tenants WHERE tenants.slug = resolve_tenant.slug $$; owned by a role without login, EXECUTE granted to the app role only.",
}

/// The tenants table, when it is a readable directory: RLS off, the app role may SELECT and
/// nothing else (a writable one stays `rls-disabled`).
pub fn is_readable_directory(cx: &Context<'_>, r: &Relation) -> bool {
    Some(&r.name) == cx.tenancy.tenants_table.as_ref()
        && r.is_table()
        && !r.rls_enabled
        && r.app.select
        && !(r.app.insert || r.app.update || r.app.delete || r.app.truncate)
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        &cx.catalog.relations,
        |r| is_readable_directory(cx, r),
        |r| {
            format!(
                "RLS is disabled on the tenants table `{}` and the app role `{}` may read it: \
                 every tenant can list every tenant ({}).",
                r.name,
                cx.tenancy.app_role,
                r.columns
                    .iter()
                    .map(|c| format!("`{}`", c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, audit, both_ways, objects};
    use crate::finding::Severity;

    const OPEN_DIRECTORY: &str = "ALTER TABLE tenants DISABLE ROW LEVEL SECURITY;";

    #[tokio::test]
    async fn a_readable_tenants_table_is_one_medium_finding_of_its_own_rule() {
        let bad = format!("{BASE} {OPEN_DIRECTORY}");
        let found = both_ways("tenant-directory-readable", &bad, BASE).await;
        assert_eq!(objects(&found), ["tenants"]);
        assert_eq!(found[0].severity, Severity::Medium);
        // One cause, one finding: not `rls-disabled` (critical) as well.
        let all = audit(&bad).await;
        let on_tenants: Vec<&str> = all
            .iter()
            .filter(|f| f.object.ends_with(".tenants"))
            .map(|f| f.rule.as_str())
            .collect();
        assert_eq!(on_tenants, ["tenant-directory-readable"], "{all:#?}");
    }

    #[tokio::test]
    async fn a_tenants_table_the_app_may_write_without_rls_stays_critical() {
        let bad = format!("{BASE} {OPEN_DIRECTORY} GRANT UPDATE ON tenants TO {{app}};");
        let all = audit(&bad).await;
        let on_tenants: Vec<(&str, Severity)> = all
            .iter()
            .filter(|f| f.object.ends_with(".tenants"))
            .map(|f| (f.rule.as_str(), f.severity))
            .collect();
        assert_eq!(on_tenants, [("rls-disabled", Severity::Critical)]);
    }
}
