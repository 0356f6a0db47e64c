//! `policy-not-tenant-scoped`: the app's policies for a command admit rows of other tenants, and
//! none of them pins the tenant.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "policy-not-tenant-scoped",
    severity: Critical,
    title: "a policy does not pin rows to the current tenant",
    explanation: "The policy is judged by meaning: it must admit only rows whose tenant column equals the tenant setting. An `IS NULL OR …` branch, a COALESCE fallback, a LIKE prefix match or a comparison with a constant admits other tenants' rows (or every row when no tenant is set).",
    remediation: "USING (tenant_column = (SELECT NULLIF(current_setting('<setting>', true), '')::<type>)): compare with `=`, read the setting through NULLIF(…, '') and never fall back.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_offences(super::leaking_using(cx, false))
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    const SETTING: &str = "NULLIF(current_setting('app.current_tenant', true), '')";

    fn replacing_policy(using: &str) -> String {
        format!("{BASE} DROP POLICY iso ON items; CREATE POLICY iso ON items USING ({using});")
    }

    #[tokio::test]
    async fn flags_a_policy_that_fails_open_when_no_tenant_is_set() {
        let bad = replacing_policy(&format!("{SETTING} IS NULL OR tenant_id = {SETTING}::uuid"));
        let found = both_ways("policy-not-tenant-scoped", &bad, BASE).await;
        assert!(found[0].detail.contains("OR branch"), "{}", found[0].detail);
    }

    #[tokio::test]
    async fn flags_fallbacks_and_prefix_matches() {
        both_ways("policy-not-tenant-scoped", &replacing_policy("tenant_id = COALESCE(current_setting('app.current_tenant', true), '00000000-0000-0000-0000-000000000000')::uuid"), BASE).await;
        both_ways(
            "policy-not-tenant-scoped",
            &replacing_policy(
                "tenant_id::text LIKE current_setting('app.current_tenant', true) || '%'",
            ),
            BASE,
        )
        .await;
    }
}
