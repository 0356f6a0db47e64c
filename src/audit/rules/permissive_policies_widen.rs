//! `permissive-policies-widen`: a correct tenant policy is OR-ed with another permissive policy
//! that admits rows of other tenants.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "permissive-policies-widen",
    severity: Critical,
    title: "another permissive policy widens the tenant policy",
    explanation: "PostgreSQL ORs permissive policies together. The tenant policy is right, but this other policy applies to the app role too and admits rows without pinning the tenant, so together they admit other tenants' rows.",
    remediation: "Make the extra policy RESTRICTIVE (AND-ed), add the tenant predicate to it, or restrict it TO the role it is meant for.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_offences(super::leaking_using(cx, true))
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_second_permissive_policy_and_not_a_restrictive_one() {
        let bad = format!(
            "{BASE} CREATE POLICY public_items ON items FOR SELECT USING (name LIKE 'public%');"
        );
        let fixed = format!(
            "{BASE} CREATE POLICY public_items ON items AS RESTRICTIVE FOR SELECT USING (name LIKE 'public%');"
        );
        let found = both_ways("permissive-policies-widen", &bad, &fixed).await;
        assert!(
            found[0].detail.contains("`public_items`"),
            "{}",
            found[0].detail
        );
    }
}
