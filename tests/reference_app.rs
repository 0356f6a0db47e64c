//! The reference app against real PostgreSQL and Redis on a random port: the correct app keeps
//! tenants apart through every endpoint; each deliberate fault really leaks (the leaked data is
//! asserted, so later checks hunt real bugs); bad input is a documented 4xx, never a 5xx.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reference_app::auth::Claims;
use reference_app::faults::{Fault, Faults};
use reqwest::Method;
use serde_json::{Value, json};
use support::{AppWorld, app_world, send};
use tenantprobe_testkit::reference::Options;

fn faults(list: &[Fault]) -> Options {
    Options {
        faults: list.iter().copied().collect::<Faults>(),
        ..Options::default()
    }
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn mentions(body: &Value, marker: &str) -> bool {
    body.to_string().contains(marker)
}

// ---- the correct app -------------------------------------------------------------------------

#[tokio::test]
async fn tenant_a_lists_only_its_own_projects_users_and_tasks() {
    let w = app_world(Options::default()).await;
    let (status, projects) = send(w.as_tenant(&w.a, Method::GET, "/api/projects")).await;
    assert_eq!(status, 200);
    let mut expected: Vec<String> = w.a.project_ids.iter().map(ToString::to_string).collect();
    let mut got = ids(&projects);
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert!(!mentions(&projects, &w.b.marker));
    // Twice: the second answer comes from the cache and must be the same.
    let (_, cached) = send(w.as_tenant(&w.a, Method::GET, "/api/projects")).await;
    assert_eq!(cached, projects);

    let (status, users) = send(w.as_tenant(&w.a, Method::GET, "/api/users")).await;
    assert_eq!((status, ids(&users)), (200, vec![w.a.user_id.to_string()]));
    let (status, me) = send(w.as_tenant(&w.a, Method::GET, "/api/me")).await;
    assert_eq!(status, 200);
    assert_eq!(me["tenant"]["id"], json!(w.a.id));
    assert_eq!(me["user"]["id"], json!(w.a.user_id));
    let (status, tasks) = send(w.as_tenant(
        &w.a,
        Method::GET,
        &format!("/api/projects/{}/tasks", w.a.project_ids[0]),
    ))
    .await;
    assert_eq!(status, 200);
    assert!(!ids(&tasks).is_empty() && !mentions(&tasks, &w.b.marker));
}

#[tokio::test]
async fn another_tenants_ids_answer_exactly_like_missing_ids() {
    let w = app_world(Options::default()).await;
    let missing = uuid::Uuid::new_v4();
    let b_project = w.b.project_ids[0];
    let b_task = w.b.task_ids[0];
    let cases = [
        (Method::GET, "/api/projects/{}", b_project, None),
        (
            Method::PATCH,
            "/api/projects/{}",
            b_project,
            Some(json!({"name": "hijacked"})),
        ),
        (Method::DELETE, "/api/projects/{}", b_project, None),
        (Method::GET, "/api/projects/{}/tasks", b_project, None),
        (
            Method::POST,
            "/api/projects/{}/tasks",
            b_project,
            Some(json!({"title": "planted"})),
        ),
        (Method::GET, "/api/tasks/{}", b_task, None),
        (
            Method::PATCH,
            "/api/tasks/{}",
            b_task,
            Some(json!({"done": true})),
        ),
        (Method::DELETE, "/api/tasks/{}", b_task, None),
    ];
    for (method, template, foreign, body) in cases {
        let request = |id: uuid::Uuid| {
            let r = w.as_tenant(
                &w.a,
                method.clone(),
                &template.replace("{}", &id.to_string()),
            );
            match &body {
                Some(b) => r.json(b),
                None => r,
            }
        };
        let (status, foreign_answer) = send(request(foreign)).await;
        let (missing_status, missing_answer) = send(request(missing)).await;
        assert_eq!(status, 404, "{method} {template} on B's id");
        assert_eq!(
            (status, &foreign_answer),
            (missing_status, &missing_answer),
            "{method} {template}: foreign and missing differ"
        );
    }
    // B's data is untouched.
    let (status, project) =
        send(w.as_tenant(&w.b, Method::GET, &format!("/api/projects/{b_project}"))).await;
    assert_eq!(status, 200);
    assert!(mentions(&project, &w.b.marker));
    let (status, _) = send(w.as_tenant(&w.b, Method::GET, &format!("/api/tasks/{b_task}"))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_nested_task_is_found_only_under_its_own_project_of_the_callers_tenant() {
    let w = app_world(Options::default()).await;
    // Synthetic tenants: tasks 0 and 1 live in project 0 ("alpha"), task 2 in project 1.
    let nested =
        |project: uuid::Uuid, task: uuid::Uuid| format!("/api/projects/{project}/tasks/{task}");
    let (status, own) = send(w.as_tenant(
        &w.a,
        Method::GET,
        &nested(w.a.project_ids[0], w.a.task_ids[0]),
    ))
    .await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["id"], json!(w.a.task_ids[0]));
    // The parent applies even within one tenant: task 2 is not under project 0.
    let (status, _) = send(w.as_tenant(
        &w.a,
        Method::GET,
        &nested(w.a.project_ids[0], w.a.task_ids[2]),
    ))
    .await;
    assert_eq!(status, 404);
    let missing = uuid::Uuid::new_v4();
    for (project, task) in [
        (w.a.project_ids[0], w.b.task_ids[0]),
        (w.b.project_ids[0], w.a.task_ids[0]),
        (w.b.project_ids[0], w.b.task_ids[0]),
    ] {
        for (method, body) in [
            (Method::GET, None),
            (Method::PATCH, Some(json!({"title": "hijacked"}))),
            (Method::DELETE, None),
        ] {
            let request = |task| {
                let r = w.as_tenant(&w.a, method.clone(), &nested(project, task));
                match &body {
                    Some(b) => r.json(b),
                    None => r,
                }
            };
            let (status, answer) = send(request(task)).await;
            let (_, missing_answer) = send(request(missing)).await;
            assert_eq!(
                status,
                404,
                "{method} {} by A: {answer}",
                nested(project, task)
            );
            assert_eq!(
                answer, missing_answer,
                "{method}: foreign and missing differ"
            );
        }
    }
    let (status, task) = send(w.as_tenant(
        &w.b,
        Method::GET,
        &format!("/api/tasks/{}", w.b.task_ids[0]),
    ))
    .await;
    assert_eq!(status, 200);
    assert!(mentions(&task, &w.b.marker) && !mentions(&task, "hijacked"));
}

#[tokio::test]
async fn subdomain_and_token_must_agree_and_unknown_slugs_reveal_nothing() {
    let w = app_world(Options::default()).await;
    let on_host = |tenant, slug: &str| {
        w.as_tenant(tenant, Method::GET, "/api/projects")
            .header("host", w.app.host_for(slug))
    };
    let (status, own) = send(on_host(&w.a, "acme")).await;
    assert_eq!(status, 200);
    assert!(mentions(&own, &w.a.marker));
    let (foreign_status, foreign) = send(on_host(&w.a, "globex")).await;
    let (unknown_status, unknown) = send(on_host(&w.a, "no-such-tenant")).await;
    assert_eq!(foreign_status, 403);
    assert_eq!(
        (foreign_status, &foreign),
        (unknown_status, &unknown),
        "an existing and a missing tenant must look alike"
    );
    assert!(!mentions(&foreign, &w.b.marker));
    // Without credentials the answer is 401 whatever the subdomain.
    for slug in ["globex", "no-such-tenant"] {
        let (status, _) = send(
            w.anonymous(Method::GET, "/api/projects")
                .header("host", w.app.host_for(slug)),
        )
        .await;
        assert_eq!(status, 401, "{slug}");
    }
}

#[tokio::test]
async fn a_token_whose_user_is_not_a_member_of_its_tenant_is_refused() {
    let w = app_world(Options::default()).await;
    // Validly signed, but claiming A's user in B's tenant.
    let token = w.app.sign(&Claims::new(w.a.user_id, w.b.id, "owner", 600));
    let (status, body) = send(w.anonymous(Method::GET, "/api/projects").bearer_auth(token)).await;
    assert_eq!(status, 403);
    assert!(!mentions(&body, &w.b.marker));
}

#[tokio::test]
async fn tenant_fields_in_bodies_and_query_strings_are_ignored() {
    let w = app_world(Options::default()).await;
    let (status, created) = send(
        w.as_tenant(&w.a, Method::POST, "/api/projects")
            .json(&json!({"name": "body names B", "tenant_id": w.b.id})),
    )
    .await;
    assert_eq!(status, 201);
    let created_id = created["id"].as_str().unwrap().to_owned();
    let (_, a_list) = send(w.as_tenant(&w.a, Method::GET, "/api/projects")).await;
    let (_, b_list) = send(w.as_tenant(&w.b, Method::GET, "/api/projects")).await;
    assert!(ids(&a_list).contains(&created_id) && !ids(&b_list).contains(&created_id));
    let (status, b_project) = send(
        w.as_tenant(
            &w.a,
            Method::PATCH,
            &format!("/api/projects/{}", w.b.project_ids[0]),
        )
        .json(&json!({"name": "x", "tenant_id": w.b.id})),
    )
    .await;
    assert_eq!(status, 404, "{b_project}");
    let (status, list) = send(w.as_tenant(
        &w.a,
        Method::GET,
        &format!("/api/projects?tenant={}", w.b.id),
    ))
    .await;
    assert_eq!(status, 200);
    assert!(!mentions(&list, &w.b.marker));
    let (_, list) = send(w.as_tenant(&w.a, Method::GET, "/api/projects?tenant=globex")).await;
    assert!(!mentions(&list, &w.b.marker));
}

#[tokio::test]
async fn writes_invalidate_the_cache() {
    let w = app_world(Options::default()).await;
    let (_, before) = send(w.as_tenant(&w.a, Method::GET, "/api/projects")).await;
    let (_, created) = send(
        w.as_tenant(&w.a, Method::POST, "/api/projects")
            .json(&json!({"name": "fresh"})),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, after) = send(w.as_tenant(&w.a, Method::GET, "/api/projects")).await;
    assert_eq!(ids(&after).len(), ids(&before).len() + 1);
    let (_, detail) = send(w.as_tenant(&w.a, Method::GET, &format!("/api/projects/{id}"))).await;
    assert_eq!(detail["name"], "fresh");
    send(
        w.as_tenant(&w.a, Method::PATCH, &format!("/api/projects/{id}"))
            .json(&json!({"name": "renamed"})),
    )
    .await;
    let (_, detail) = send(w.as_tenant(&w.a, Method::GET, &format!("/api/projects/{id}"))).await;
    assert_eq!(detail["name"], "renamed");
    send(w.as_tenant(&w.a, Method::GET, "/api/projects")).await;
    // List and detail are cached, under keys that carry the tenant.
    let mut redis = w.redis.as_ref().unwrap().connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis)
        .await
        .unwrap();
    keys.sort();
    let mut expected = [
        format!("tenant:{}:projects:list", w.a.id),
        format!("tenant:{}:projects:{id}", w.a.id),
    ];
    expected.sort();
    assert_eq!(keys, expected);
    let (status, _) = send(w.as_tenant(&w.a, Method::DELETE, &format!("/api/projects/{id}"))).await;
    assert_eq!(status, 204);
    let (status, _) = send(w.as_tenant(&w.a, Method::GET, &format!("/api/projects/{id}"))).await;
    assert_eq!(status, 404);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        keys.is_empty(),
        "deleting invalidated list and detail: {keys:?}"
    );
}

// ---- bad input ---------------------------------------------------------------------------------

fn unsigned_token(claims: &Value) -> String {
    format!(
        "{}.{}.",
        base64_url(&json!({"alg": "none", "typ": "JWT"})),
        base64_url(claims)
    )
}

fn base64_url(value: &Value) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = value.to_string().into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn bad_tokens_are_401_and_never_5xx() {
    let w = app_world(Options::default()).await;
    let expired = w.app.sign(&Claims {
        exp: 1_000_000,
        ..Claims::new(w.a.user_id, w.a.id, "owner", 0)
    });
    let wrong_key = Claims::new(w.b.user_id, w.b.id, "owner", 600)
        .sign(b"not-the-secret-not-the-secret-!!")
        .unwrap();
    let none_alg = unsigned_token(
        &json!({"sub": w.b.user_id, "tenant_id": w.b.id, "role": "owner", "exp": 4_000_000_000u64}),
    );
    for (what, header) in [
        ("malformed", "Bearer not.a.jwt".to_owned()),
        ("garbage", "Bearer %%%".to_owned()),
        ("expired", format!("Bearer {expired}")),
        ("wrongly signed", format!("Bearer {wrong_key}")),
        ("alg none", format!("Bearer {none_alg}")),
        ("wrong scheme", "Basic YTpi".to_owned()),
        ("empty", "Bearer ".to_owned()),
    ] {
        let (status, body) = send(
            w.anonymous(Method::GET, "/api/projects")
                .header("authorization", header),
        )
        .await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{what}");
    }
}

#[tokio::test]
async fn bad_hosts_ids_and_bodies_are_documented_4xx() {
    let w = app_world(Options::default()).await;
    for host in [
        "a.b.app.localhost",
        "-bad.app.localhost",
        "under_score.app.localhost",
    ] {
        let (status, body) = send(
            w.as_tenant(&w.a, Method::GET, "/api/projects")
                .header("host", host),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{host}"
        );
    }
    let (status, _) = send(w.as_tenant(&w.a, Method::GET, "/api/projects/not-a-uuid")).await;
    assert_eq!(status, 400);
    let (status, _) = send(w.as_tenant(&w.a, Method::GET, "/api/tasks/123")).await;
    assert_eq!(status, 400);
    let post = || w.as_tenant(&w.a, Method::POST, "/api/projects");
    let (status, _) = send(
        post()
            .header("content-type", "application/json")
            .body("{\"name\": "),
    )
    .await;
    assert_eq!(status, 400, "malformed JSON");
    let (status, _) = send(
        post()
            .header("content-type", "application/json")
            .body(format!("{{\"name\": \"{}\"}}", "x".repeat(100_000))),
    )
    .await;
    assert_eq!(status, 413, "oversized body");
    let (status, _) = send(post().body("name=x")).await;
    assert_eq!(status, 415, "not JSON");
    let (status, _) = send(post().json(&json!({"name": ""}))).await;
    assert_eq!(status, 422, "empty name");
    let (status, _) = send(post().json(&json!({"name": 7}))).await;
    assert_eq!(status, 422, "wrong type");
    let (status, _) = send(post().json(&json!({"name": "ok", "status": "deleted"}))).await;
    assert_eq!(status, 422, "unknown status");
    let (status, body) = send(w.as_tenant(&w.a, Method::GET, "/api/nope")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = send(w.as_tenant(&w.a, Method::PUT, "/api/projects")).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn with_redis_stopped_mid_test_requests_still_succeed_and_readiness_says_degraded() {
    let redis = tenantprobe_testkit::servers::ThrowawayRedis::start()
        .await
        .unwrap();
    let w = app_world(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await;
    let (status, ready) = send(w.anonymous(Method::GET, "/readyz")).await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));
    let (_, warm) = send(w.as_tenant(&w.a, Method::GET, "/api/projects")).await;
    drop(redis);
    for _ in 0..3 {
        let (status, body) = send(w.as_tenant(&w.a, Method::GET, "/api/projects")).await;
        assert_eq!(status, 200);
        assert_eq!(ids(&body), ids(&warm));
    }
    let (status, created) = send(
        w.as_tenant(&w.a, Method::POST, "/api/projects")
            .json(&json!({"name": "while redis is down"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, ready) = send(w.anonymous(Method::GET, "/readyz")).await;
    assert_eq!(
        (status, ready["status"].as_str(), ready["cache"].as_str()),
        (200, Some("degraded"), Some("unavailable"))
    );
}

#[tokio::test]
async fn one_tenant_hitting_its_rate_limit_does_not_starve_another() {
    let w = app_world(Options {
        rate_limit_per_second: 2,
        rate_limit_burst: 5,
        ..Options::default()
    })
    .await;
    let mut limited = 0;
    let mut retry_after = None;
    for i in 0..20 {
        let response = w
            .as_tenant(&w.a, Method::GET, "/api/projects")
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            limited += 1;
            retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
        // B, within its own budget, keeps being served while A is limited.
        if i % 5 == 4 {
            let (status, _) = send(w.as_tenant(&w.b, Method::GET, "/api/me")).await;
            assert_eq!(
                status, 200,
                "B was starved by A (A limited {limited} times so far)"
            );
        }
    }
    assert!(limited >= 10, "A was limited only {limited} times");
    let seconds: u64 = retry_after
        .expect("429 carries Retry-After")
        .parse()
        .unwrap();
    assert!((1..=5).contains(&seconds));
}

#[tokio::test]
async fn admin_impersonation_needs_the_token_and_leaves_an_audit_event() {
    let w = app_world(Options::default()).await;
    let path = format!("/admin/tenants/{}/projects", w.b.id);
    let (status, _) = send(w.anonymous(Method::GET, &path)).await;
    assert_eq!(status, 401);
    let (status, _) = send(w.anonymous(Method::GET, &path).bearer_auth("wrong")).await;
    assert_eq!(status, 401);
    let (status, _) = send(w.as_tenant(&w.a, Method::GET, &path)).await;
    assert_eq!(status, 401, "a tenant token is not an admin token");
    let (status, body) = send(
        w.anonymous(Method::GET, &path)
            .bearer_auth(&w.app.admin_token),
    )
    .await;
    assert_eq!(status, 200);
    assert!(mentions(&body, &w.b.marker) && !mentions(&body, &w.a.marker));
    let (_, events) = send(
        w.anonymous(
            Method::GET,
            &format!("/admin/tenants/{}/audit-events", w.b.id),
        )
        .bearer_auth(&w.app.admin_token),
    )
    .await;
    let impersonations: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "admin.impersonate")
        .collect();
    assert_eq!(
        impersonations.len(),
        2,
        "the projects read and this read: {events}"
    );
    assert_eq!(impersonations[0]["detail"]["path"], json!(path));
}

// ---- each fault really leaks --------------------------------------------------------------------

async fn b_leaks_to_a(w: &AppWorld, request: reqwest::RequestBuilder) -> Value {
    let (status, body) = send(request).await;
    assert!((200..300).contains(&status), "{status} {body}");
    assert!(
        mentions(&body, &w.b.marker),
        "expected B's data in A's answer: {body}"
    );
    body
}

#[tokio::test]
async fn fault_global_cache_key_serves_one_tenants_list_to_another() {
    let w = app_world(faults(&[Fault::GlobalCacheKey])).await;
    send(w.as_tenant(&w.b, Method::GET, "/api/projects")).await;
    let body = b_leaks_to_a(&w, w.as_tenant(&w.a, Method::GET, "/api/projects")).await;
    assert!(!mentions(&body, &w.a.marker));
    let mut redis = w.redis.as_ref().unwrap().connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(keys.contains(&"projects:list".to_owned()), "{keys:?}");
}

#[tokio::test]
async fn fault_subdomain_trust_lets_a_token_read_another_subdomain() {
    let w = app_world(faults(&[Fault::SubdomainTrust])).await;
    b_leaks_to_a(
        &w,
        w.as_tenant(&w.a, Method::GET, "/api/projects")
            .header("host", w.app.host_for("globex")),
    )
    .await;
}

#[tokio::test]
async fn fault_jwt_no_verify_accepts_forged_tokens() {
    let w = app_world(faults(&[Fault::JwtNoVerify])).await;
    let forged = Claims::new(w.b.user_id, w.b.id, "owner", 600)
        .sign(b"attacker-chosen-key-attacker-key")
        .unwrap();
    b_leaks_to_a(
        &w,
        w.anonymous(Method::GET, "/api/projects")
            .bearer_auth(forged),
    )
    .await;
    let unsigned = unsigned_token(
        &json!({"sub": w.b.user_id, "tenant_id": w.b.id, "role": "owner", "exp": 1}),
    );
    b_leaks_to_a(
        &w,
        w.anonymous(Method::GET, "/api/users").bearer_auth(unsigned),
    )
    .await;
}

#[tokio::test]
async fn fault_session_context_leak_serves_anonymous_requests_the_previous_tenant() {
    let w = app_world(Options {
        pool_size: 1,
        ..faults(&[Fault::SessionContextLeak])
    })
    .await;
    let (status, _) = send(w.as_tenant(&w.b, Method::GET, "/api/users")).await;
    assert_eq!(status, 200);
    b_leaks_to_a(&w, w.anonymous(Method::GET, "/api/projects")).await;
}

#[tokio::test]
async fn fault_rls_bypass_handler_lists_every_tenants_users() {
    let w = app_world(faults(&[Fault::RlsBypassHandler])).await;
    let body = b_leaks_to_a(&w, w.as_tenant(&w.a, Method::GET, "/api/users")).await;
    assert!(ids(&body).contains(&w.b.user_id.to_string()));
}

#[tokio::test]
async fn fault_body_tenant_override_lets_a_body_write_into_another_tenant() {
    let w = app_world(faults(&[Fault::BodyTenantOverride])).await;
    let target = w.b.project_ids[0];
    let (status, body) = send(
        w.as_tenant(&w.a, Method::PATCH, &format!("/api/projects/{target}"))
            .json(&json!({"name": "renamed by A", "tenant_id": w.b.id})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, seen_by_b) =
        send(w.as_tenant(&w.b, Method::GET, &format!("/api/projects/{target}"))).await;
    assert_eq!(seen_by_b["name"], "renamed by A");
}

#[tokio::test]
async fn fault_debug_tenant_param_switches_tenant_from_the_query_string() {
    let w = app_world(faults(&[Fault::DebugTenantParam])).await;
    b_leaks_to_a(
        &w,
        w.as_tenant(&w.a, Method::GET, "/api/projects?tenant=globex"),
    )
    .await;
    b_leaks_to_a(
        &w,
        w.as_tenant(&w.a, Method::GET, &format!("/api/users?tenant={}", w.b.id)),
    )
    .await;
}

#[tokio::test]
async fn fault_nested_parent_only_reads_changes_and_deletes_a_task_under_the_callers_project() {
    let w = app_world(faults(&[Fault::NestedParentOnly])).await;
    let path = format!(
        "/api/projects/{}/tasks/{}",
        w.a.project_ids[0], w.b.task_ids[0]
    );
    b_leaks_to_a(&w, w.as_tenant(&w.a, Method::GET, &path)).await;
    let (status, body) = send(
        w.as_tenant(&w.a, Method::PATCH, &path)
            .json(&json!({"title": "renamed by A"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let b_task = format!("/api/tasks/{}", w.b.task_ids[0]);
    let (_, seen_by_b) = send(w.as_tenant(&w.b, Method::GET, &b_task)).await;
    assert_eq!(seen_by_b["title"], "renamed by A");
    let (status, _) = send(w.as_tenant(&w.a, Method::DELETE, &path)).await;
    assert_eq!(status, 204);
    let (status, _) = send(w.as_tenant(&w.b, Method::GET, &b_task)).await;
    assert_eq!(status, 404, "A deleted B's task");
    // The parent check itself still holds: B's project with A's task is refused.
    let (status, _) = send(w.as_tenant(
        &w.a,
        Method::GET,
        &format!(
            "/api/projects/{}/tasks/{}",
            w.b.project_ids[0], w.a.task_ids[0]
        ),
    ))
    .await;
    assert_eq!(status, 404);
}
