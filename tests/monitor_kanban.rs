//! One monitor cycle against the kanban API (tests/support/kanban_api.rs: integer ids, `{"data": …}`
//! envelopes, cards nested under boards, a search with a query parameter, an NDJSON export that
//! needs its `Accept` header, HS256 tokens with an `org` claim, existing organisations, two of them
//! real customers), from its spec alone: the correct API gives a clean cycle that did search and export; each planted fault
//! is caught by one cycle, and the next cycle with the fault off is clean again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use support::kanban_api::{self, KanbanApi};
use tenantprobe::finding::Severity;
use tenantprobe::monitor::{CycleReport, Probe, Provisioning};

async fn probe(api: &KanbanApi) -> Probe {
    support::api_probe(&kanban_api::spec(), &api.env()).await
}

/// (rule, object) of every finding at medium or above.
fn caught(report: &CycleReport) -> BTreeSet<(String, String)> {
    report
        .findings()
        .into_iter()
        .filter(|f| f.severity >= Severity::Medium)
        .map(|f| (f.rule, f.object))
        .collect()
}

#[tokio::test]
async fn one_cycle_catches_nested_bola_and_searches_and_exports_that_ignore_the_tenant() {
    let db = support::empty_db().await;
    let api = kanban_api::start(db.admin_options()).await;
    let probe = probe(&api).await;
    assert_eq!(
        probe
            .tenants
            .iter()
            .map(|t| t.slug.as_str())
            .collect::<Vec<_>>(),
        ["probe-a", "probe-b"],
        "only the synthetic tenants"
    );
    let created = probe.init().await.unwrap();
    assert_eq!(
        created.created.len(),
        4,
        "a board and a card each: {created:?}"
    );

    let clean = probe.cycle().await;
    assert!(clean.passed(), "{:#?}", clean.findings());
    // The clean cycle looked: both tenants searched (own marker and the other's) and exported,
    // with the spec's query parameter and header (without them the API answers 400 and 406, and
    // the checks that search and export find the tenant's own canary would fail); anonymous
    // callers tried both too.
    let served = api.served();
    assert!(served.searches.load(Ordering::Relaxed) >= 4);
    assert!(served.exports.load(Ordering::Relaxed) >= 2);
    assert!(served.nested.load(Ordering::Relaxed) > 0);

    let cases: [(&str, &[(&str, &str)]); 4] = [
        (
            "nested-parent-only",
            &[
                (
                    "monitor-foreign-canary-reachable",
                    "GET /v1/boards/{parent_id}/cards/{id}",
                ),
                (
                    "monitor-foreign-write",
                    "PATCH /v1/boards/{parent_id}/cards/{id}",
                ),
                (
                    "monitor-foreign-write",
                    "DELETE /v1/boards/{parent_id}/cards/{id}",
                ),
            ],
        ),
        (
            "search-ignores-tenant",
            &[("monitor-foreign-search-result", "GET /v1/cards")],
        ),
        (
            "export-ignores-tenant",
            &[("monitor-foreign-export-data", "GET /v1/cards/export")],
        ),
        // Found through the spec's own `query_params` (`org`), not a built-in name.
        (
            "org-query-param",
            &[("monitor-foreign-canary-reachable", "GET /v1/boards")],
        ),
    ];
    let mut table = Vec::new();
    for (fault, expected) in cases {
        api.set(fault, true);
        let report = probe.cycle().await;
        api.set(fault, false);
        let found = caught(&report);
        for (rule, object) in expected {
            assert!(
                found.contains(&((*rule).to_owned(), (*object).to_owned())),
                "{fault}: {rule} on {object} missing: {found:?}"
            );
        }
        // Nothing else: each fault is caught by the properties that concern it.
        let rules: BTreeSet<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
        let wanted: BTreeSet<&str> = expected.iter().map(|(r, _)| *r).collect();
        assert_eq!(rules, wanted, "{fault}: {found:?}");
        table.push(format!(
            "| `{fault}` | {} | {:.2} s |",
            rules.into_iter().collect::<Vec<_>>().join(", "),
            report.elapsed.as_secs_f64()
        ));
        let after = probe.cycle().await;
        assert!(after.passed(), "{fault} off: {:#?}", after.findings());
    }
    eprintln!("{}", table.join("\n"));
    // The canaries are all there at the end (the nested deletes were put back in their cycle).
    for i in 0..probe.tenants.len() {
        assert_eq!(probe.find_canaries(i).await.unwrap().len(), 2);
    }
    // The real organisations were never acted as, and their data is as it was.
    let acted_as = api.served().orgs.lock().unwrap().clone();
    assert_eq!(acted_as, BTreeSet::from([3, 4]));
    assert_eq!(
        api.holdings(1).await,
        (
            vec!["TPS reports".to_owned()],
            vec!["New cover sheets".to_owned()]
        )
    );
    assert_eq!(
        api.holdings(2).await,
        (
            vec!["Hive projects".to_owned()],
            vec!["Containment".to_owned()]
        )
    );
}

/// Tenant query parameters come from the spec: with `query_params = []` the monitor sends none,
/// so the leftover `?org=` goes untried (and the same cycle still searches and exports).
#[tokio::test]
async fn tenant_query_parameters_are_the_specs_own() {
    let db = support::empty_db().await;
    let api = kanban_api::start(db.admin_options()).await;
    let text = std::fs::read_to_string(support::repo_path("tests/kanban-api.toml")).unwrap();
    let without = text.replace(r#"query_params = ["org", "org_id"]"#, "query_params = []");
    assert_ne!(text, without);
    let spec = tenantprobe::spec::Spec::parse(&without, "kanban-api.toml").unwrap();
    let env = api.env();
    let probe = Probe::setup(&spec, &env, Provisioning::Create, None)
        .await
        .unwrap();
    probe.init().await.unwrap();
    api.set("org-query-param", true);
    let report = probe.cycle().await;
    assert!(report.passed(), "{:#?}", report.findings());
    assert!(api.served().searches.load(Ordering::Relaxed) >= 4);
}
