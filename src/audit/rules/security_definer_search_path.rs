//! `security-definer-search-path`: a SECURITY DEFINER function without a pinned search_path.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "security-definer-search-path",
    severity: High,
    title: "a SECURITY DEFINER function does not pin its search_path",
    explanation: "The function resolves unqualified names through the caller's search_path. A caller who can create objects in any schema on that path can plant a table or operator that the function then uses with its owner's rights.",
    remediation: "ALTER FUNCTION … SET search_path = pg_catalog, pg_temp, and qualify every name in the body.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        &cx.catalog.functions,
        |f| {
            f.in_scope
                && f.security_definer
                && !f.config.iter().any(|c| c.starts_with("search_path="))
        },
        |f| {
            format!(
                "`{}` is SECURITY DEFINER (runs as `{}`) and has no SET search_path.",
                f.signature, f.owner
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways};

    #[tokio::test]
    async fn flags_a_definer_function_without_search_path() {
        let body =
            "LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT count(*) FROM {schema}.items $$;";
        let bad = format!(
            "{BASE} CREATE FUNCTION item_count() RETURNS bigint {body} REVOKE EXECUTE ON FUNCTION item_count() FROM PUBLIC;"
        );
        let fixed = format!(
            "{BASE} CREATE FUNCTION item_count() RETURNS bigint SET search_path = pg_catalog, pg_temp {body} REVOKE EXECUTE ON FUNCTION item_count() FROM PUBLIC;"
        );
        both_ways("security-definer-search-path", &bad, &fixed).await;
    }
}
