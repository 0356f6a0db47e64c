//! `attack http` against the real reference app on a random port: the correct app yields nothing
//! (several seeds, default and 10× cases); each of the isolation faults is found, with a reproducer of
//! curl commands.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reference_app::faults::{Fault, Faults};
use tenantprobe::attack::http::{self, HttpAttackConfig, HttpOutcome};
use tenantprobe::reference::Options;
use tenantprobe::target::{HttpTarget, obtain_tenants};

async fn attack(w: &support::AppWorld, cases: u32, seed: u64) -> HttpOutcome {
    let spec = tenantprobe::reference::spec();
    let env = w.app.env(&w.db, None);
    let target = HttpTarget::resolve(&spec, &env).unwrap();
    let slugs = vec!["tp-attack-a".to_owned(), "tp-attack-b".to_owned()];
    let tenants = obtain_tenants(&spec, &env, &slugs, &reqwest::Client::new(), Some(&target))
        .await
        .unwrap();
    http::attack(target, tenants, config(cases, seed))
        .await
        .unwrap()
}

/// `cases` cases from `seed`, otherwise the defaults.
fn config(cases: u32, seed: u64) -> HttpAttackConfig {
    HttpAttackConfig {
        cases,
        seed,
        ..HttpAttackConfig::default()
    }
}

fn fault(f: Fault) -> Options {
    Options {
        faults: [f].into_iter().collect::<Faults>(),
        ..Options::default()
    }
}

#[tokio::test]
async fn the_correct_app_yields_no_finding_over_several_seeds() {
    let w = support::app_world(Options::default()).await;
    for seed in [1, 2, 3] {
        let outcome = attack(&w, 64, seed).await;
        assert!(
            outcome.findings.is_empty(),
            "seed {seed}: {:#?}",
            outcome.findings
        );
        assert!(
            outcome.requests > 1000,
            "seed {seed}: only {} requests",
            outcome.requests
        );
        let actors: std::collections::HashSet<&str> =
            outcome.coverage.keys().map(|(_, a)| a.as_str()).collect();
        assert_eq!(actors.len(), 9, "every kind of actor ran: {actors:?}");
    }
}

#[tokio::test]
async fn the_correct_app_stays_clean_at_ten_times_the_cases() {
    let w = support::app_world(Options::default()).await;
    let outcome = attack(&w, 640, 11).await;
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
}

/// The fault is found as `rule` (on `object`, when given), with a curl reproducer.
async fn assert_caught(f: Fault, rule: &str, object: Option<&str>) -> String {
    let mut options = fault(f);
    if f == Fault::SessionContextLeak {
        options.pool_size = 2;
    }
    let w = support::app_world(options).await;
    let outcome = attack(&w, 64, 7).await;
    let found = outcome
        .findings
        .iter()
        .find(|x| x.rule == rule && object.is_none_or(|o| x.object == o));
    let Some(found) = found else {
        panic!(
            "{f}: no `{rule}` ({object:?}) in {:#?}",
            outcome
                .findings
                .iter()
                .map(|x| (&x.rule, &x.object, &x.detail))
                .collect::<Vec<_>>()
        );
    };
    let evidence = found.evidence.as_deref().unwrap();
    assert!(
        evidence.contains("curl -sS -X") && evidence.contains("# →"),
        "{evidence}"
    );
    assert!(
        !evidence.contains(&w.app.jwt_secret),
        "the secret leaked into the reproducer"
    );
    assert!(
        found.detail.contains("/3 when replayed alone"),
        "confirmed before being reported: {}",
        found.detail
    );
    evidence.to_owned()
}

#[tokio::test]
async fn catches_global_cache_key_with_the_request_that_filled_the_cache_in_the_reproducer() {
    let evidence = assert_caught(
        Fault::GlobalCacheKey,
        "http-cross-tenant-read",
        Some("GET /api/projects"),
    )
    .await;
    // One tenant's list fills the cache, the other's reads it: both are in the reproducer.
    let lists: Vec<&str> = evidence
        .lines()
        .filter(|l| l.starts_with("curl -sS -X GET") && l.contains("/api/projects'"))
        .collect();
    assert!(lists.len() >= 2, "{evidence}");
}

#[tokio::test]
async fn catches_subdomain_trust() {
    assert_caught(Fault::SubdomainTrust, "http-tenant-confusion", None).await;
}

#[tokio::test]
async fn catches_jwt_no_verify() {
    assert_caught(Fault::JwtNoVerify, "http-forged-token-accepted", None).await;
}

#[tokio::test]
async fn catches_session_context_leak() {
    assert_caught(Fault::SessionContextLeak, "http-anonymous-read", None).await;
}

#[tokio::test]
async fn catches_rls_bypass_handler() {
    assert_caught(
        Fault::RlsBypassHandler,
        "http-cross-tenant-read",
        Some("GET /api/users"),
    )
    .await;
}

#[tokio::test]
async fn catches_body_tenant_override() {
    assert_caught(Fault::BodyTenantOverride, "http-tenant-confusion", None).await;
}

#[tokio::test]
async fn catches_debug_tenant_param() {
    assert_caught(Fault::DebugTenantParam, "http-tenant-confusion", None).await;
}

#[tokio::test]
async fn catches_nested_parent_only_through_a_parent_of_the_attacker_and_a_child_of_the_victim() {
    // Under this fault B's task under B's project is refused (the parent check holds, see
    // tests/reference_app.rs), so only A's project with B's task can leak it.
    assert_caught(
        Fault::NestedParentOnly,
        "http-cross-tenant-read",
        Some("GET /api/projects/{parent_id}/tasks/{id}"),
    )
    .await;
}

/// `attack http` on a test API of tests/support/ through its spec alone: `spec_file` in tests/,
/// whose variables are `{prefix}_URL` and `{prefix}_TOKEN_ALPHA` / `_BETA`.
async fn attack_test_api(
    spec_file: &str,
    prefix: &str,
    (addr, tokens): (std::net::SocketAddr, Vec<(String, String)>),
    config: HttpAttackConfig,
) -> HttpOutcome {
    let path = support::repo_path(&format!("tests/{spec_file}"));
    let spec = tenantprobe::spec::Spec::load(std::path::Path::new(&path)).unwrap();
    let vars = [
        (format!("{prefix}_URL"), format!("http://{addr}")),
        (format!("{prefix}_TOKEN_ALPHA"), tokens[0].1.clone()),
        (format!("{prefix}_TOKEN_BETA"), tokens[1].1.clone()),
    ];
    let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let target = HttpTarget::resolve(&spec, &env).unwrap();
    let tenants = obtain_tenants(&spec, &env, &[], &reqwest::Client::new(), Some(&target))
        .await
        .unwrap();
    http::attack(target, tenants, config).await.unwrap()
}

/// A different API — tenant in the path, static tokens — attacked through a spec alone.
async fn attack_path_api(idor: bool) -> HttpOutcome {
    let api = support::path_api::start(idor).await;
    attack_test_api("path-api.toml", "PATH_API", api, config(64, 5)).await
}

#[tokio::test]
async fn a_path_tenant_api_with_static_tokens_is_attacked_from_its_spec_alone() {
    let clean = attack_path_api(false).await;
    assert!(clean.findings.is_empty(), "{:#?}", clean.findings);
    let idor = attack_path_api(true).await;
    let rules: Vec<(&str, &str)> = idor
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.object.as_str()))
        .collect();
    assert!(
        rules.contains(&("http-cross-tenant-read", "GET /t/{slug}/notes/{id}")),
        "{rules:?}"
    );
    assert!(
        rules.iter().all(|(_, o)| *o == "GET /t/{slug}/notes/{id}"),
        "only the planted IDOR: {rules:?}"
    );
}

/// `attack http` on the early-answering API of tests/support/early_api.rs.
async fn attack_early_api(config: HttpAttackConfig) -> HttpOutcome {
    let api = support::early_api::start().await;
    attack_test_api("early-api.toml", "EARLY_API", api, config).await
}

#[tokio::test]
async fn an_api_that_refuses_before_reading_the_body_yields_no_finding_when_correct() {
    let outcome = attack_early_api(config(64, 9)).await;
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    assert!(outcome.partial.is_none());
    assert!(
        outcome.items_created > 0 && outcome.requests > 500,
        "the run examined something: {} items, {} requests",
        outcome.items_created,
        outcome.requests
    );
}

#[tokio::test]
async fn a_run_that_reaches_its_time_budget_stops_starting_cases_and_is_marked_partial() {
    let outcome = attack_early_api(HttpAttackConfig {
        cases: 1_000_000,
        seed: 4,
        time_budget: Some(std::time::Duration::from_secs(1)),
        ..HttpAttackConfig::default()
    })
    .await;
    assert_eq!(outcome.partial.as_deref(), Some("time budget reached"));
    assert!(outcome.cases > 0 && outcome.cases < 1_000_000);
}
