//! `tenantprobe cache` against real Redis: the correct reference app's keys classify clean and
//! hold only their tenant's data; the `global-cache-key` fault is found statically (key scan and
//! values) and dynamically (a cached answer crossing tenants); planted orphaned, malformed and
//! cross-tenant entries are found.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use redis::AsyncCommands;
use reference_app::faults::Fault;
use reqwest::Method;
use sqlx::{Connection, PgConnection};
use support::targets::{http_target_and_tenants, one_fault};
use tenantprobe::cache::{self, CacheOptions, CacheOutcome, Classifier, KeyPattern, Owners};
use tenantprobe::tenancy::Tenancy;
use tenantprobe_testkit::reference::Options;

/// Makes A and B use the API so that their lists and items are cached.
async fn warm(w: &support::AppWorld) {
    for tenant in [&w.a, &w.b] {
        support::send(w.as_tenant(tenant, Method::GET, "/api/projects")).await;
        for project in &tenant.project_ids {
            support::send(w.as_tenant(tenant, Method::GET, &format!("/api/projects/{project}")))
                .await;
        }
    }
}

async fn scan(w: &support::AppWorld) -> CacheOutcome {
    let mut conn = PgConnection::connect_with(&w.db.admin_options())
        .await
        .unwrap();
    let known = cache::known_tenants(&mut conn, &Tenancy::reference())
        .await
        .unwrap();
    let owners = Owners::from_learned(&known);
    let classifier = Classifier {
        patterns: vec![KeyPattern::parse("tenant:{tenant_id:uuid}:*").unwrap()],
        globals: vec![],
        tenants: Some(owners.segments()),
    };
    cache::check(
        &w.redis.as_ref().unwrap().url,
        &classifier,
        &owners,
        &CacheOptions::default(),
    )
    .await
    .unwrap()
}

fn rules(outcome: &CacheOutcome) -> Vec<&str> {
    outcome.findings.iter().map(|f| f.rule.as_str()).collect()
}

#[tokio::test]
async fn the_correct_apps_keys_classify_clean_and_hold_only_their_tenants_data() {
    let w = support::app_world(Options::default()).await;
    warm(&w).await;
    let outcome = scan(&w).await;
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    assert_eq!(outcome.keys, 6, "two lists and four projects cached");
    assert_eq!(outcome.per_pattern["tenant:{tenant_id:uuid}:*"].keys, 6);
    assert_eq!(outcome.values_checked, 6);
}

#[tokio::test]
async fn the_global_cache_key_fault_is_found_by_key_and_by_value() {
    let w = support::app_world(one_fault(Fault::GlobalCacheKey)).await;
    warm(&w).await;
    let outcome = scan(&w).await;
    let found = rules(&outcome);
    assert!(found.contains(&"cache-key-not-namespaced"), "{found:?}");
    assert!(
        found.contains(&"cache-global-key-holds-tenant-data"),
        "{found:?}"
    );
    let key = outcome
        .findings
        .iter()
        .find(|f| f.rule == "cache-key-not-namespaced")
        .unwrap();
    assert!(key.detail.contains("`projects:list`"), "{}", key.detail);
}

#[tokio::test]
async fn the_global_cache_key_fault_is_found_dynamically_and_the_correct_app_is_not() {
    for (options, expect) in [
        (Options::default(), false),
        (one_fault(Fault::GlobalCacheKey), true),
    ] {
        let w = support::app_world(options).await;
        let spec = support::reference_spec();
        let env = w.app.env(&w.db, None);
        let (target, tenants) =
            http_target_and_tenants(&spec, &env, &["tp-cache-a", "tp-cache-b"]).await;
        let findings = cache::cross_check(target, tenants).await.unwrap();
        if expect {
            let cross = findings
                .iter()
                .find(|f| f.rule == "cache-cross-tenant-response")
                .expect("dynamic check missed the fault");
            assert_eq!(cross.object, "GET /api/projects");
            assert!(cross.evidence.as_deref().unwrap().contains("curl"));
        } else {
            assert!(findings.is_empty(), "{findings:#?}");
        }
    }
}

#[tokio::test]
async fn orphaned_malformed_and_cross_tenant_entries_are_found() {
    let w = support::app_world(Options::default()).await;
    warm(&w).await;
    let mut redis = w.redis.as_ref().unwrap().connection().await.unwrap();
    let deleted_tenant = uuid::Uuid::new_v4();
    let planted: [(String, String); 4] = [
        (
            format!("tenant:{deleted_tenant}:projects:list"),
            "[]".into(),
        ),
        ("tenant:None:projects:list".into(), "[]".into()),
        ("tenant::settings".into(), "{}".into()),
        // A's key holding B's canary marker.
        (
            format!("tenant:{}:report", w.a.id),
            format!("{{\"rows\": [\"{}\"]}}", w.b.marker),
        ),
    ];
    for (k, v) in &planted {
        let () = redis.set(k, v).await.unwrap();
    }
    let outcome = scan(&w).await;
    let found = rules(&outcome);
    for rule in [
        "cache-key-orphaned",
        "cache-key-malformed-tenant",
        "cache-value-foreign",
    ] {
        assert!(found.contains(&rule), "{rule} missing from {found:?}");
    }
    assert_eq!(outcome.malformed["tenant:{tenant_id:uuid}:*"].keys, 2);
    let foreign = outcome
        .findings
        .iter()
        .find(|f| f.rule == "cache-value-foreign")
        .unwrap();
    assert_eq!(foreign.object, format!("tenant:{}:report", w.a.id));
    assert!(foreign.detail.contains(&w.b.marker), "{}", foreign.detail);
    assert!(!found.contains(&"cache-key-not-namespaced"), "{found:?}");
}

#[tokio::test]
async fn production_safety_options_bound_the_scan() {
    let r = support::redis_db().await;
    let mut conn = r.connection().await.unwrap();
    let tenant = uuid::Uuid::new_v4();
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("SET")
            .arg(format!("tenant:{tenant}:{i}"))
            .arg(i)
            .ignore();
    }
    pipe.cmd("SET").arg("users:list").arg("[]").ignore();
    let () = pipe.query_async(&mut conn).await.unwrap();
    let classifier = Classifier {
        patterns: vec![KeyPattern::parse("tenant:{tenant_id:uuid}:*").unwrap()],
        globals: vec![],
        tenants: None,
    };
    // Values are sampled only when some tenant's values are known.
    let mut owners = Owners::default();
    owners.add(0, &[&tenant.to_string()], &[]);
    let run = |options: CacheOptions| {
        let (url, classifier, owners) = (r.url.clone(), classifier.clone(), owners.clone());
        async move {
            cache::check(&url, &classifier, &owners, &options)
                .await
                .unwrap()
        }
    };

    let full = run(CacheOptions::default()).await;
    assert_eq!(full.keys, 20_001);
    assert_eq!(full.not_namespaced.keys, 1);
    assert_eq!(full.values_checked, 1000, "a bounded sample of values");

    let capped = run(CacheOptions {
        max_keys: Some(5_000),
        ..CacheOptions::default()
    })
    .await;
    assert_eq!(capped.keys, 5_000);

    let matched = run(CacheOptions {
        match_glob: Some("users:*".into()),
        ..CacheOptions::default()
    })
    .await;
    assert_eq!(matched.keys, 1);
    assert_eq!(rules(&matched), ["cache-key-not-namespaced"]);

    // 4,000 keys at 10,000 keys/s cannot take less than 0.4 s (SCAN calls of ~1,000 keys).
    let slow = run(CacheOptions {
        max_keys: Some(4_000),
        rate_limit: Some(10_000),
        ..CacheOptions::default()
    })
    .await;
    assert_eq!(slow.keys, 4_000);
    assert!(slow.elapsed.as_secs_f64() >= 0.3, "{:?}", slow.elapsed);
    assert!(slow.scan_calls >= 4, "{}", slow.scan_calls);
}

#[tokio::test]
async fn the_cli_scans_read_only_and_reports_with_exit_codes() {
    let r = support::redis_db().await;
    let mut conn = r.connection().await.unwrap();
    let tenant = uuid::Uuid::new_v4();
    for k in [
        format!("tenant:{tenant}:a"),
        "users:list".to_owned(),
        "flags:beta".to_owned(),
    ] {
        let () = conn.set(&k, "x").await.unwrap();
    }
    // The server's URL and `--db`: the same logical database as `r.url`.
    let server = r.url.trim_end_matches(&format!("/{}", r.index)).to_owned();
    let index = r.index.to_string();
    let (code, stdout, stderr) = support::tenantprobe(
        &[
            "cache",
            "--redis-url",
            &server,
            "--db",
            &index,
            "--key-pattern",
            "tenant:{tenant_id:uuid}:*",
            "--global-key",
            "flags:*",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    support::assert_valid_json("schemas/report.schema.json", &report);
    assert_eq!(report["findings"][0]["rule"], "cache-key-not-namespaced");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 3, "the scan wrote nothing");

    let (code, _, stderr) = support::tenantprobe(
        &[
            "cache",
            "--redis-url",
            "redis://127.0.0.1:1",
            "--key-pattern",
            "t:{tenant_id}:*",
        ],
        &[],
    );
    assert_eq!(code, 3, "{stderr}");
    let (code, _, stderr) = support::tenantprobe(
        &[
            "cache",
            "--redis-url",
            &r.url,
            "--key-pattern",
            "no-tenant:*",
        ],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("exactly one {tenant_id:…} segment"),
        "{stderr}"
    );
}
