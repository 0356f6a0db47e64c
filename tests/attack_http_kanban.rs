//! `attack http` on the kanban API (tests/support/kanban_api.rs), from its spec alone
//! (tests/kanban-api.toml): the correct API yields nothing at medium or above after a run that
//! really attacked; each planted fault is found, and only on the routes it concerns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::kanban_api;
use tenantprobe::attack::http::{self, HttpAttackConfig, HttpOutcome};
use tenantprobe::finding::Severity;

/// One run at the default case count with a fixed seed, `fault` switched on (if any).
async fn attack(fault: Option<&str>) -> HttpOutcome {
    let db = support::empty_db().await;
    let api = kanban_api::start(db.admin_options()).await;
    if let Some(fault) = fault {
        api.set(fault, true);
    }
    let spec = kanban_api::spec();
    let env = api.env();
    let (target, tenants) = support::targets::http_target_and_tenants(&spec, &env, &[]).await;
    http::attack(target, tenants, HttpAttackConfig::new(64, 14))
        .await
        .unwrap()
}

/// (rule, object) of every finding at medium or above.
fn serious(outcome: &HttpOutcome) -> Vec<(String, String)> {
    outcome
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium)
        .map(|f| (f.rule.clone(), f.object.clone()))
        .collect()
}

#[tokio::test]
async fn the_correct_kanban_api_yields_nothing_at_medium_or_above() {
    let outcome = attack(None).await;
    assert!(outcome.partial.is_none(), "{:?}", outcome.partial);
    assert!(outcome.cases >= 64, "cases run: {}", outcome.cases);
    assert!(outcome.items_created > 0, "nothing was attacked");
    // The nested card routes were exercised, not just the boards.
    assert!(
        outcome
            .endpoints
            .keys()
            .any(|(endpoint, _)| endpoint == "GET /v1/boards/{parent_id}/cards/{id}"),
        "{:?}",
        outcome.endpoints.keys().collect::<Vec<_>>()
    );
    assert!(serious(&outcome).is_empty(), "{:#?}", outcome.findings);
}

/// A run with `fault` finds something at medium or above on `object`, and nothing on a route
/// `concerned` rejects (`what` names those routes).
async fn assert_found_within(
    fault: &str,
    object: &str,
    concerned: impl Fn(&str) -> bool,
    what: &str,
) {
    let outcome = attack(Some(fault)).await;
    let found = serious(&outcome);
    assert!(found.iter().any(|(_, o)| o == object), "{fault}: {found:?}");
    assert!(
        found.iter().all(|(_, o)| concerned(o)),
        "{fault}: only {what}: {found:?}"
    );
}

#[tokio::test]
async fn a_nested_card_route_that_checks_only_the_board_is_found() {
    assert_found_within(
        "nested-parent-only",
        "GET /v1/boards/{parent_id}/cards/{id}",
        |o| o.contains("/v1/boards/{parent_id}/cards/{id}"),
        "the nested card routes",
    )
    .await;
}

#[tokio::test]
async fn a_search_export_or_org_parameter_that_ignores_the_tenant_is_found_on_its_route_alone() {
    // The org parameter is found through the spec's `query_params`.
    for (fault, route, what) in [
        ("search-ignores-tenant", "GET /v1/cards", "the search"),
        (
            "export-ignores-tenant",
            "GET /v1/cards/export",
            "the export",
        ),
        ("org-query-param", "GET /v1/boards", "the board list"),
    ] {
        assert_found_within(fault, route, |o| o == route, what).await;
    }
}
