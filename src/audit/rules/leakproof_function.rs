//! `leakproof-function`: a user-defined function is marked LEAKPROOF.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "leakproof-function",
    severity: Medium,
    title: "a user-defined function is marked LEAKPROOF",
    explanation: "The planner may run LEAKPROOF functions on rows before RLS filters them. A function that is not truly leak-proof (one that raises errors or logs depending on its input) can reveal other tenants' values through its errors or side effects.",
    remediation: "ALTER FUNCTION … NOT LEAKPROOF, unless it provably reveals nothing about its arguments (no errors, no output that depends on them).",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        &cx.catalog.functions,
        |f| f.user_defined && f.leakproof,
        |f| {
            format!(
                "`{}` is LEAKPROOF: it may see rows before RLS removes them.",
                f.signature
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_user_defined_leakproof_function() {
        let f = "CREATE FUNCTION same(a text, b text) RETURNS bool LANGUAGE sql IMMUTABLE";
        let bad = format!("{BASE} {f} LEAKPROOF AS $$ SELECT a = b $$;");
        let fixed = format!("{BASE} {f} AS $$ SELECT a = b $$;");
        both_ways("leakproof-function", &bad, &fixed).await;
    }
}
