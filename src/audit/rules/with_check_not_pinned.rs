//! `with-check-not-pinned`: rows may be written (inserted, or updated into) for another tenant.

use crate::audit::context::{Context, Side};
use crate::audit::policy::Verdict;
use crate::finding::Finding;

audit_rule! {
    id: "with-check-not-pinned",
    severity: Critical,
    title: "an INSERT or UPDATE policy lets rows be written for another tenant",
    explanation: "WITH CHECK decides which new rows may be written. If it does not pin the tenant column, the app can insert rows into another tenant, or move its own rows there with UPDATE … SET tenant_id = …, even though reads are isolated.",
    remediation: "Give every INSERT, UPDATE and ALL policy a WITH CHECK that pins the tenant column exactly like USING does.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    let read_side = cx.offences(|j, _| j.side == Side::Using);
    let mut write_side =
        cx.offences(|j, o| j.side == Side::Check && matches!(o.verdict, Verdict::Leaks(_)));
    write_side.retain(|o| {
        !read_side
            .iter()
            .any(|r| r.relation.oid == o.relation.oid && r.policy == o.policy)
    });
    RULE.on_offences(write_side)
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    const PIN: &str =
        "tenant_id = (SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid)";

    #[tokio::test]
    async fn flags_a_check_that_does_not_pin() {
        let bad = format!(
            "{BASE} DROP POLICY iso ON items; CREATE POLICY iso ON items USING ({PIN}) WITH CHECK (true);"
        );
        both_ways("with-check-not-pinned", &bad, BASE).await;
    }

    #[tokio::test]
    async fn flags_an_insert_policy_without_the_tenant() {
        let bad = format!("{BASE} CREATE POLICY ins ON items FOR INSERT WITH CHECK (name <> '');");
        let found = both_ways("with-check-not-pinned", &bad, BASE).await;
        assert!(found[0].detail.contains("INSERT"), "{}", found[0].detail);
    }

    #[tokio::test]
    async fn flags_an_update_policy_that_lets_rows_move() {
        let bad = format!(
            "{BASE} CREATE POLICY mv ON items FOR UPDATE USING ({PIN}) WITH CHECK (tenant_id IS NOT NULL);"
        );
        let found = both_ways("with-check-not-pinned", &bad, BASE).await;
        assert!(
            found[0].detail.contains("UPDATE (WITH CHECK)"),
            "{}",
            found[0].detail
        );
    }
}
