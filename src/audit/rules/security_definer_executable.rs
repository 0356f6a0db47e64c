//! `security-definer-executable`: the app role may call a SECURITY DEFINER function.

use crate::audit::context::Context;
use crate::finding::Finding;

audit_rule! {
    id: "security-definer-executable",
    severity: High,
    title: "the app role may call a SECURITY DEFINER function",
    explanation: "A SECURITY DEFINER function runs with its owner's rights; if the owner bypasses RLS (or owns the tables), the function sees every tenant. Whatever it returns for the arguments it is given is a way around the policies.",
    remediation: "Prefer SECURITY INVOKER. Where a definer function is truly needed (resolving a tenant before one is set), keep it narrow (no tenant data out), pin its search_path, REVOKE EXECUTE FROM PUBLIC, GRANT it to the app role only, and waive this finding with the reason.",
}

fn check(cx: &Context<'_>) -> Vec<Finding> {
    RULE.on_each(
        &cx.catalog.functions,
        |f| f.in_scope && f.security_definer && f.app_can_execute,
        |f| {
            let bypass = cx.note_if_bypasses(&f.owner, " (which bypasses RLS)");
            format!(
                "`{}` runs as `{}`{bypass} and the app role may execute it.",
                f.signature, f.owner
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::rules::testing::{BASE, both_ways, objects};

    const FUNCTION: &str =
        "CREATE FUNCTION item_names(t uuid) RETURNS SETOF text LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog AS $$ SELECT name FROM {schema}.items WHERE tenant_id = t $$;";

    #[tokio::test]
    async fn flags_an_executable_definer_function() {
        let bad = format!("{BASE} {FUNCTION}");
        let fixed =
            format!("{BASE} {FUNCTION} REVOKE EXECUTE ON FUNCTION item_names(uuid) FROM PUBLIC;");
        assert_eq!(
            objects(&both_ways("security-definer-executable", &bad, &fixed).await),
            ["item_names(uuid)"]
        );
    }
}
