//! `attack http` on the kanban API (tests/support/kanban_api.rs), from its spec alone
//! (tests/kanban-api.toml): the correct API yields nothing at medium or above after a run that
//! really attacked; each planted fault is found, and only on the routes it concerns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::kanban_api;
use tenantprobe::attack::http::{self, HttpAttackConfig, HttpOutcome};
use tenantprobe::finding::Severity;
use tenantprobe::target::{HttpTarget, obtain_tenants};

/// One run at the default case count with a fixed seed, `fault` switched on (if any).
async fn attack(fault: Option<&str>) -> HttpOutcome {
    let db = support::empty_db().await;
    let api = kanban_api::start(db.admin_options()).await;
    if let Some(fault) = fault {
        api.set(fault, true);
    }
    let spec = kanban_api::spec();
    let env = api.env();
    let target = HttpTarget::resolve(&spec, &env).unwrap();
    let tenants = obtain_tenants(&spec, &env, &[], &reqwest::Client::new(), Some(&target))
        .await
        .unwrap();
    http::attack(
        target,
        tenants,
        HttpAttackConfig {
            seed: 14,
            ..HttpAttackConfig::default()
        },
    )
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

#[tokio::test]
async fn a_nested_card_route_that_checks_only_the_board_is_found() {
    let outcome = attack(Some("nested-parent-only")).await;
    let found = serious(&outcome);
    assert!(
        found
            .iter()
            .any(|(_, object)| object == "GET /v1/boards/{parent_id}/cards/{id}"),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .all(|(_, object)| object.contains("/v1/boards/{parent_id}/cards/{id}")),
        "only the nested card routes: {found:?}"
    );
}

#[tokio::test]
#[ignore = "needs attack http's search (http14 branch; at eec9bef it still misses this: the returned item's only text value is the marker the attacker sent, an echo, and its id is an integer)"]
async fn a_search_that_ignores_the_tenant_is_found() {
    let outcome = attack(Some("search-ignores-tenant")).await;
    let found = serious(&outcome);
    assert!(
        found.iter().any(|(_, object)| object == "GET /v1/cards"),
        "{found:?}"
    );
    assert!(
        found.iter().all(|(_, object)| object == "GET /v1/cards"),
        "only the search: {found:?}"
    );
}

#[tokio::test]
#[ignore = "needs attack http's export (http14 branch; passes in a trial merge of eec9bef)"]
async fn an_export_that_ignores_the_tenant_is_found() {
    let outcome = attack(Some("export-ignores-tenant")).await;
    let found = serious(&outcome);
    assert!(
        found
            .iter()
            .any(|(_, object)| object == "GET /v1/cards/export"),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .all(|(_, object)| object == "GET /v1/cards/export"),
        "only the export: {found:?}"
    );
}

#[tokio::test]
#[ignore = "needs attack http's tenant query parameters from the spec (`org`; http14 branch; at eec9bef it still misses this)"]
async fn a_leftover_org_query_parameter_is_found_through_the_specs_query_params() {
    let outcome = attack(Some("org-query-param")).await;
    let found = serious(&outcome);
    assert!(
        found.iter().any(|(_, object)| object == "GET /v1/boards"),
        "{found:?}"
    );
    assert!(
        found.iter().all(|(_, object)| object == "GET /v1/boards"),
        "only the board list: {found:?}"
    );
}
