//! `attack http` against the real reference app on a random port: the correct app yields nothing
//! (several seeds, default and 10× cases); each of the isolation faults is found, with a reproducer of
//! curl commands.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reference_app::faults::Fault;
use support::targets::{http_target_and_tenants, one_fault};
use tenantprobe::attack::http::{self, HttpAttackConfig, HttpOutcome};
use tenantprobe::spec::Spec;
use tenantprobe_testkit::reference::Options;

async fn attack(w: &support::AppWorld, cases: u32, seed: u64) -> HttpOutcome {
    let spec = support::reference_spec();
    let env = w.app.env(&w.db, None);
    let (target, tenants) =
        http_target_and_tenants(&spec, &env, &["tp-attack-a", "tp-attack-b"]).await;
    http::attack(target, tenants, config(cases, seed))
        .await
        .unwrap()
}

/// `cases` cases from `seed`, otherwise the defaults.
fn config(cases: u32, seed: u64) -> HttpAttackConfig {
    HttpAttackConfig::new(cases, seed)
}

#[tokio::test]
async fn the_correct_app_yields_no_finding_over_several_seeds() {
    let w = support::app_world(Options::default()).await;
    for seed in [1, 2, 3] {
        let outcome = attack(&w, 64, seed).await;
        eprintln!(
            "figures: correct app, seed {seed}: {:.1} s, {} cases",
            outcome.elapsed.as_secs_f64(),
            outcome.cases
        );
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
        // Every kind of actor but the tenant header, which the reference app does not have.
        assert_eq!(actors.len(), 9, "every kind of actor ran: {actors:?}");
        assert!(!actors.contains("victim-header"));
        assert!(outcome.items_deleted > 0);
        assert!(outcome.items_left.is_empty(), "{:?}", outcome.items_left);
    }
}

#[tokio::test]
async fn the_correct_app_stays_clean_at_ten_times_the_cases() {
    let w = support::app_world(Options::default()).await;
    let outcome = attack(&w, 640, 11).await;
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
}

/// The fault is found as `rule` (on `object`, when given), with a curl reproducer; returns the
/// reproducer and every finding as (rule, object).
async fn assert_caught(
    f: Fault,
    rule: &str,
    object: Option<&str>,
) -> (String, Vec<(String, String)>) {
    let mut options = one_fault(f);
    if f == Fault::SessionContextLeak {
        options.pool_size = 2;
    }
    let w = support::app_world(options).await;
    let outcome = attack(&w, 64, 7).await;
    // Figures for the report (`--nocapture`); not asserted: timing depends on the machine.
    eprintln!(
        "figures: {f}: {:.1} s, {} cases, {} findings, first detection after {:?} cases",
        outcome.elapsed.as_secs_f64(),
        outcome.cases,
        outcome.findings.len(),
        outcome.first_seen.values().min()
    );
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
    // One finding per cause: tenant confusion on an endpoint that leaks without it too is that
    // plain cross-tenant leak, reported once.
    for confusion in outcome
        .findings
        .iter()
        .filter(|x| x.rule == "http-tenant-confusion")
    {
        assert!(
            !outcome.findings.iter().any(|x| x.object == confusion.object
                && (x.rule == "http-cross-tenant-read" || x.rule == "http-cross-tenant-write")),
            "{f}: the same cause twice on {}",
            confusion.object
        );
    }
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
    let all = outcome
        .findings
        .iter()
        .map(|x| (x.rule.clone(), x.object.clone()))
        .collect();
    (evidence.to_owned(), all)
}

#[tokio::test]
async fn catches_global_cache_key_with_the_request_that_filled_the_cache_in_the_reproducer() {
    let (evidence, _) = assert_caught(
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

/// One test per fault (named tests that run in parallel), each caught as `rule` on `object`.
macro_rules! each_fault_caught_as {
    ($($test:ident: $fault:ident, $rule:literal, $object:expr;)*) => {$(
        #[tokio::test]
        async fn $test() {
            assert_caught(Fault::$fault, $rule, $object).await;
        }
    )*};
}

each_fault_caught_as! {
    catches_subdomain_trust: SubdomainTrust, "http-tenant-confusion", None;
    catches_jwt_no_verify: JwtNoVerify, "http-forged-token-accepted", None;
    catches_session_context_leak: SessionContextLeak, "http-anonymous-read", None;
    catches_rls_bypass_handler: RlsBypassHandler, "http-cross-tenant-read", Some("GET /api/users");
    catches_body_tenant_override: BodyTenantOverride, "http-tenant-confusion", None;
    catches_debug_tenant_param: DebugTenantParam, "http-tenant-confusion", None;
}

#[tokio::test]
async fn catches_nested_parent_only_through_a_parent_of_the_attacker_and_a_child_of_the_victim() {
    // Under this fault B's task under B's project is refused (the parent check holds, see
    // tests/reference_app.rs), so only A's project with B's task can leak it.
    let (_, all) = assert_caught(
        Fault::NestedParentOnly,
        "http-cross-tenant-read",
        Some("GET /api/projects/{parent_id}/tasks/{id}"),
    )
    .await;
    // Found through every tenant-confusion variant too, but reported once per cause.
    assert!(
        all.iter().all(|(rule, _)| rule != "http-tenant-confusion"),
        "{all:?}"
    );
}

/// `attack http` on a test API of tests/support/ at `addr` through its spec alone, whose
/// variables are `{prefix}_URL` and `{prefix}_TOKEN_ALPHA` / `_BETA` (the first two `tokens`).
async fn attack_spec(
    spec: &Spec,
    prefix: &str,
    addr: std::net::SocketAddr,
    tokens: &[(String, String)],
    config: HttpAttackConfig,
) -> Result<HttpOutcome, tenantprobe::actor::ActorError> {
    let vars = [
        (format!("{prefix}_URL"), format!("http://{addr}")),
        (format!("{prefix}_TOKEN_ALPHA"), tokens[0].1.clone()),
        (format!("{prefix}_TOKEN_BETA"), tokens[1].1.clone()),
    ];
    let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (target, tenants) = http_target_and_tenants(spec, &env, &[]).await;
    http::attack(target, tenants, config).await
}

/// `attack_spec` with the spec `spec_file` of tests/, on an API that must not make it fail.
async fn attack_test_api(
    spec_file: &str,
    prefix: &str,
    (addr, tokens): (std::net::SocketAddr, Vec<(String, String)>),
    config: HttpAttackConfig,
) -> HttpOutcome {
    let path = support::repo_path(&format!("tests/{spec_file}"));
    let spec = Spec::load(std::path::Path::new(&path)).unwrap();
    attack_spec(&spec, prefix, addr, &tokens, config)
        .await
        .unwrap()
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
    let rules = support::rules_and_objects(&idor.findings);
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
    let mut config = HttpAttackConfig::new(1_000_000, 4);
    config.run.time_budget = Some(std::time::Duration::from_secs(1));
    let outcome = attack_early_api(config).await;
    assert_eq!(outcome.partial.as_deref(), Some("time budget reached"));
    assert!(outcome.cases > 0 && outcome.cases < 1_000_000);
}

/// `attack http` on the raw-TCP API of tests/support/desync_api.rs.
async fn attack_desync_api(desync: bool) -> HttpOutcome {
    let api = support::desync_api::start(desync).await;
    attack_test_api("desync-api.toml", "DESYNC_API", api, config(64, 3)).await
}

#[tokio::test]
async fn a_server_that_leaves_unread_bodies_on_kept_connections_is_one_request_desync_finding() {
    let outcome = attack_desync_api(true).await;
    let rules = support::rules_and_objects(&outcome.findings);
    assert_eq!(
        rules,
        [("http-request-desync", "connection reuse")],
        "{:#?}",
        outcome.findings
    );
}

#[tokio::test]
async fn the_same_raw_server_reading_every_body_first_yields_no_finding() {
    let outcome = attack_desync_api(false).await;
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    assert!(outcome.items_created > 0 && outcome.requests > 500);
}

use support::tenancy_api::{Flaw, TenancyApi};

/// `attack http` on the API of tests/support/tenancy_api.rs, from tests/tenancy-api.toml with
/// `edit` applied to the spec's text.
async fn attack_tenancy_api(
    flaw: Option<Flaw>,
    edit: impl Fn(String) -> String,
) -> (
    TenancyApi,
    Result<HttpOutcome, tenantprobe::actor::ActorError>,
) {
    let api = support::tenancy_api::start(flaw).await;
    let text = std::fs::read_to_string(support::repo_path("tests/tenancy-api.toml")).unwrap();
    let spec = Spec::parse(&edit(text), "tenancy-api.toml").unwrap();
    let outcome = attack_spec(&spec, "TENANCY_API", api.addr, &api.tokens, config(64, 12)).await;
    (api, outcome)
}

#[tokio::test]
async fn a_header_tenant_api_is_attacked_through_its_carriers_search_and_export_and_is_clean_when_correct()
 {
    let (api, outcome) = attack_tenancy_api(None, |t| t).await;
    let outcome = outcome.unwrap();
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    let ran = |what: &str| {
        outcome
            .coverage
            .keys()
            .any(|(op, actor)| op == what || actor == what)
    };
    for expected in [
        "search",
        "export",
        "victim-header",
        "body-tenant",
        "query-tenant",
    ] {
        assert!(
            ran(expected),
            "{expected} ran: {:?}",
            outcome.coverage.keys()
        );
    }
    // The spec declares a header carrier only: no host or path confusion is tried.
    for absent in [
        "victim-host",
        "unknown-tenant-host",
        "anonymous-on-victim-host",
    ] {
        assert!(!ran(absent), "{absent} ran: {:?}", outcome.coverage.keys());
    }
    // Everything created was deleted again, and the API holds nothing of the run.
    assert!(outcome.items_deleted > 0);
    assert!(outcome.items_left.is_empty(), "{:?}", outcome.items_left);
    assert_eq!(api.notes_left(), 0);
}

/// A run on the tenancy API with `flaw` finds `rule` (on `object`, when given).
async fn assert_tenancy_finds(flaw: Flaw, rule: &str, object: Option<&str>) {
    let (_, outcome) = attack_tenancy_api(Some(flaw), |t| t).await;
    support::assert_found(&outcome.unwrap().findings, rule, object);
}

#[tokio::test]
async fn a_tenant_header_trusted_without_checking_the_token_is_tenant_confusion() {
    assert_tenancy_finds(Flaw::HeaderTrust, "http-tenant-confusion", None).await;
}

#[tokio::test]
async fn a_query_parameter_named_in_the_spec_that_switches_the_tenant_is_tenant_confusion() {
    assert_tenancy_finds(Flaw::OrgParam, "http-tenant-confusion", None).await;
}

#[tokio::test]
async fn a_search_through_every_tenant_is_a_cross_tenant_read_on_the_search_endpoint() {
    assert_tenancy_finds(
        Flaw::SearchGlobal,
        "http-cross-tenant-read",
        Some("GET /notes/search"),
    )
    .await;
}

#[tokio::test]
async fn an_export_of_every_tenant_is_a_cross_tenant_read_on_the_export_endpoint() {
    assert_tenancy_finds(
        Flaw::ExportGlobal,
        "http-cross-tenant-read",
        Some("GET /export"),
    )
    .await;
}

#[tokio::test]
async fn an_id_pointer_that_matches_no_create_response_is_a_usage_error_showing_the_response() {
    let (_, outcome) =
        attack_tenancy_api(None, |t| t.replace("id = \"/data/id\"", "id = \"/id\"")).await;
    let error = outcome.unwrap_err();
    assert!(
        matches!(error, tenantprobe::actor::ActorError::Shape(_)),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("`/id`") && message.contains("\"data\"") && message.contains("201"),
        "{message}"
    );
}

#[tokio::test]
async fn an_items_pointer_that_matches_no_list_is_a_usage_error() {
    let (_, outcome) = attack_tenancy_api(None, |t| {
        t.replace("items = \"/data\"", "items = \"/items\"")
    })
    .await;
    let message = outcome.unwrap_err().to_string();
    assert!(
        message.contains("`/items`") && message.contains("list"),
        "{message}"
    );
}

#[tokio::test]
async fn the_cli_exits_2_on_a_pointer_mismatch_and_shows_the_pointer_and_the_response() {
    let api = support::tenancy_api::start(None).await;
    let text = std::fs::read_to_string(support::repo_path("tests/tenancy-api.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("tenancy-api.toml");
    std::fs::write(&spec, text.replace("id = \"/data/id\"", "id = \"/id\"")).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantprobe"))
        .args(["attack", "http", "--cases", "4", "--seed", "1", "--target"])
        .arg(&spec)
        .env("TENANCY_API_URL", format!("http://{}", api.addr))
        .env("TENANCY_API_TOKEN_ALPHA", &api.tokens[0].1)
        .env("TENANCY_API_TOKEN_BETA", &api.tokens[1].1)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`/id`") && stderr.contains("\"data\""),
        "{stderr}"
    );
}
