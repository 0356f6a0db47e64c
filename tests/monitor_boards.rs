//! One monitor cycle against an API of another style than the reference app (integer ids,
//! `{"data": …}` envelopes, nested card routes under boards, static tokens, a third real tenant
//! listed first in the spec): the correct API gives a clean cycle; a nested route that checks only
//! the parent, board writes by id alone and a default tenant for anonymous callers are each caught
//! by one cycle, and every canary a foreign write destroyed or changed is back when the cycle
//! ends; the third tenant is never acted as nor touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tenantprobe::monitor::metrics::Metrics;
use tenantprobe::monitor::{CycleReport, Probe, Provisioning};

/// The planted bugs, each switchable while the API runs.
#[derive(Default)]
struct Faults {
    /// Nested card routes check that the board is the caller's, then use the card by id alone.
    nested_parent_only: AtomicBool,
    /// `PUT`/`DELETE /v2/boards/{id}` find the board by id alone (reads are scoped).
    unscoped_board_writes: AtomicBool,
    /// A request without a token is served as `org_alpha`, "the default organisation".
    anonymous_default: AtomicBool,
}

#[derive(Clone)]
struct Row {
    id: u64,
    tenant: String,
    /// The board a card is on (0 for boards).
    board: u64,
    title: String,
}

/// (tenant the request was served as, method, path).
type Logged = (Option<String>, String, String);

#[derive(Clone)]
struct Api {
    tokens: Arc<Vec<(String, String)>>,
    boards: Arc<Mutex<Vec<Row>>>,
    cards: Arc<Mutex<Vec<Row>>>,
    next: Arc<AtomicU64>,
    faults: Arc<Faults>,
    /// Every request.
    log: Arc<Mutex<Vec<Logged>>>,
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "errors": [{ "code": "not_found" }] })),
    )
        .into_response()
}

fn row(r: &Row) -> Value {
    json!({ "id": r.id, "title": r.title })
}

impl Api {
    /// The caller's tenant (401 without a known token), logged with the request.
    fn caller(
        &self,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
    ) -> Result<String, Box<Response>> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let tenant = match token {
            Some(token) => support::tenant_of(&self.tokens, token),
            None if self.faults.anonymous_default.load(Ordering::Relaxed) => {
                Some("org_alpha".to_owned())
            }
            None => None,
        };
        self.log
            .lock()
            .unwrap()
            .push((tenant.clone(), method.to_string(), uri.path().to_owned()));
        tenant.ok_or_else(|| {
            Box::new(
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({ "errors": [{ "code": "unauthenticated" }] })),
                )
                    .into_response(),
            )
        })
    }

    fn own_board(&self, tenant: &str, id: u64) -> bool {
        self.boards
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.id == id && b.tenant == tenant)
    }
}

/// The caller's tenant, from its token (401 without a known one); every request is logged.
struct Caller(String);

impl FromRequestParts<Api> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Response> {
        api.caller(&parts.headers, &parts.method, &parts.uri)
            .map(Caller)
            .map_err(|r| *r)
    }
}

fn title(body: &Option<Json<Value>>) -> Option<String> {
    body.as_ref()
        .and_then(|b| b.get("title"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `POST` adds a row under `board` for `tenant`; `GET` lists the tenant's rows under it.
fn create_or_list(
    api: &Api,
    rows: &Mutex<Vec<Row>>,
    method: &Method,
    tenant: String,
    board: u64,
    body: &Option<Json<Value>>,
) -> Response {
    let mut rows = rows.lock().unwrap();
    if method == Method::POST {
        let r = Row {
            id: api.next.fetch_add(1, Ordering::Relaxed),
            tenant,
            board,
            title: title(body).unwrap_or_default(),
        };
        rows.push(r.clone());
        return (StatusCode::CREATED, Json(json!({ "data": row(&r) }))).into_response();
    }
    let data: Vec<Value> = rows
        .iter()
        .filter(|r| r.board == board && r.tenant == tenant)
        .map(row)
        .collect();
    Json(json!({ "data": data })).into_response()
}

/// `GET`, `PUT` or `DELETE` of the row at `position`, once the handler has decided who may.
fn read_update_delete(
    rows: &mut Vec<Row>,
    position: usize,
    method: &Method,
    body: &Option<Json<Value>>,
) -> Response {
    match *method {
        Method::DELETE => {
            rows.remove(position);
            StatusCode::NO_CONTENT.into_response()
        }
        Method::PUT => {
            if let Some(t) = title(body) {
                rows[position].title = t;
            }
            Json(json!({ "data": row(&rows[position]) })).into_response()
        }
        _ => Json(json!({ "data": row(&rows[position]) })).into_response(),
    }
}

async fn boards(
    State(api): State<Api>,
    Caller(tenant): Caller,
    method: Method,
    body: Option<Json<Value>>,
) -> Response {
    // Boards sit under board 0.
    create_or_list(&api, &api.boards, &method, tenant, 0, &body)
}

async fn board(
    State(api): State<Api>,
    Caller(tenant): Caller,
    method: Method,
    Path(id): Path<u64>,
    body: Option<Json<Value>>,
) -> Response {
    let unscoped =
        method != Method::GET && api.faults.unscoped_board_writes.load(Ordering::Relaxed);
    let mut boards = api.boards.lock().unwrap();
    let Some(position) = boards
        .iter()
        .position(|b| b.id == id && (b.tenant == tenant || unscoped))
    else {
        return not_found();
    };
    if method == Method::DELETE {
        api.cards.lock().unwrap().retain(|c| c.board != id);
    }
    read_update_delete(&mut boards, position, &method, &body)
}

async fn cards(
    State(api): State<Api>,
    Caller(tenant): Caller,
    method: Method,
    Path(board): Path<u64>,
    body: Option<Json<Value>>,
) -> Response {
    if !api.own_board(&tenant, board) {
        return not_found();
    }
    create_or_list(&api, &api.cards, &method, tenant, board, &body)
}

async fn card(
    State(api): State<Api>,
    Caller(tenant): Caller,
    method: Method,
    Path((board, id)): Path<(u64, u64)>,
    body: Option<Json<Value>>,
) -> Response {
    if !api.own_board(&tenant, board) {
        return not_found();
    }
    let parent_only = api.faults.nested_parent_only.load(Ordering::Relaxed);
    let mut cards = api.cards.lock().unwrap();
    let Some(position) = cards
        .iter()
        .position(|c| c.id == id && (parent_only || (c.board == board && c.tenant == tenant)))
    else {
        return not_found();
    };
    read_update_delete(&mut cards, position, &method, &body)
}

/// The boards API on a free port, with a real tenant (`org_gamma`) that has a board and a card.
async fn start() -> (SocketAddr, Api) {
    let api = Api {
        tokens: Arc::new(support::static_tokens(&[
            "org_gamma",
            "org_alpha",
            "org_beta",
        ])),
        boards: Arc::new(Mutex::new(vec![Row {
            id: 1,
            tenant: "org_gamma".into(),
            board: 0,
            title: "Gamma's roadmap".into(),
        }])),
        cards: Arc::new(Mutex::new(vec![Row {
            id: 2,
            tenant: "org_gamma".into(),
            board: 1,
            title: "Gamma's secret launch".into(),
        }])),
        next: Arc::new(AtomicU64::new(100)),
        faults: Arc::new(Faults::default()),
        log: Arc::new(Mutex::new(Vec::new())),
    };
    let app = Router::new()
        .route("/v2/boards", get(boards).post(boards))
        .route("/v2/boards/{id}", get(board).put(board).delete(board))
        .route("/v2/boards/{board}/cards", get(cards).post(cards))
        .route(
            "/v2/boards/{board}/cards/{id}",
            get(card).put(card).delete(card),
        )
        .with_state(api.clone());
    (support::serve(app).await, api)
}

/// The spec a user would write for it: `gamma` is a real tenant, listed first.
const SPEC: &str = r#"
name = "boards-api"

[tenants]
provision = "existing"
tenants = [
    { slug = "gamma", tenant_id = "org_gamma", token_env = "BOARDS_TOKEN_GAMMA" },
    { slug = "alpha", tenant_id = "org_alpha", token_env = "BOARDS_TOKEN_ALPHA" },
    { slug = "beta", tenant_id = "org_beta", token_env = "BOARDS_TOKEN_BETA" },
]

[api]
base_url_env = "BOARDS_URL"
foreign_status = [404]

[api.auth]
scheme = "static"

[[api.resources]]
name = "board"
id = "/data/id"
items = "/data"
list = { path = "/v2/boards" }
create = { path = "/v2/boards", body = { title = "board {marker}" } }
get = { path = "/v2/boards/{id}" }
update = { method = "PUT", path = "/v2/boards/{id}", body = { title = "board {marker}" } }
delete = { path = "/v2/boards/{id}" }

[[api.resources]]
name = "card"
parent = "board"
id = "/data/id"
items = "/data"
list = { path = "/v2/boards/{parent_id}/cards" }
create = { path = "/v2/boards/{parent_id}/cards", body = { title = "card {marker}" } }
get = { path = "/v2/boards/{parent_id}/cards/{id}" }
update = { method = "PUT", path = "/v2/boards/{parent_id}/cards/{id}", body = { title = "card {marker}" } }
delete = { path = "/v2/boards/{parent_id}/cards/{id}" }

[monitor]
schedule = "*/5 * * * *"
synthetic_tenants = ["alpha", "beta"]
"#;

async fn probe(addr: SocketAddr, api: &Api) -> Probe {
    let spec = tenantprobe::spec::Spec::parse(SPEC, "boards-api.toml").unwrap();
    let token = |tenant: &str| {
        api.tokens
            .iter()
            .find(|(t, _)| t == tenant)
            .map(|(_, token)| token.clone())
    };
    let vars = [
        ("BOARDS_URL".to_owned(), Some(format!("http://{addr}"))),
        ("BOARDS_TOKEN_GAMMA".to_owned(), token("org_gamma")),
        ("BOARDS_TOKEN_ALPHA".to_owned(), token("org_alpha")),
        ("BOARDS_TOKEN_BETA".to_owned(), token("org_beta")),
    ];
    let env = move |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    };
    support::api_probe(&spec, &env).await
}

fn rules(report: &CycleReport) -> HashSet<(String, String)> {
    report
        .findings()
        .into_iter()
        .map(|f| (f.rule, f.object))
        .collect()
}

/// What `tenant` holds now: (boards, cards) as (title, board title) pairs.
fn holdings(api: &Api, tenant: &str) -> (Vec<String>, Vec<(String, String)>) {
    let boards = api.boards.lock().unwrap().clone();
    let cards = api.cards.lock().unwrap().clone();
    let own: Vec<&Row> = boards.iter().filter(|b| b.tenant == tenant).collect();
    (
        own.iter().map(|b| b.title.clone()).collect(),
        cards
            .iter()
            .filter(|c| c.tenant == tenant)
            .filter_map(|c| {
                own.iter()
                    .find(|b| b.id == c.board)
                    .map(|b| (c.title.clone(), b.title.clone()))
            })
            .collect(),
    )
}

/// Each synthetic tenant has exactly its board and a card on it, both carrying its own marker.
fn assert_canaries_intact(api: &Api, probe: &Probe, when: &str) {
    for (slug, tenant) in [("alpha", "org_alpha"), ("beta", "org_beta")] {
        let marker = tenantprobe::marker::marker_for(slug);
        let (boards, cards) = holdings(api, tenant);
        assert_eq!(
            boards,
            vec![format!("board {marker}")],
            "{when}: {slug}'s boards"
        );
        assert_eq!(
            cards,
            vec![(format!("card {marker}"), format!("board {marker}"))],
            "{when}: {slug}'s cards"
        );
    }
    assert_eq!(probe.tenants.len(), 2);
}

/// A planted bug and the (rule, object) pairs one cycle must report for it.
type Case<'a> = (&'a AtomicBool, &'a [(&'a str, &'a str)]);

#[tokio::test]
async fn one_cycle_catches_nested_bola_foreign_writes_and_anonymous_access_on_a_boards_api() {
    let (addr, api) = start().await;
    let probe = probe(addr, &api).await;
    let slugs: Vec<String> = probe.tenants.iter().map(|t| t.slug.clone()).collect();
    assert_eq!(slugs, ["alpha", "beta"], "only the synthetic tenants");
    let created = probe.init().await.unwrap();
    assert_eq!(created.created.len(), 4, "{created:?}");
    let metrics = Metrics::new(&slugs);

    let clean = probe.cycle().await;
    metrics.record(&clean);
    assert!(clean.passed(), "{:#?}", clean.findings());
    assert_canaries_intact(&api, &probe, "after a clean cycle");

    // (fault, (rule, object) that must be reported); each damages canaries, which must be back
    let cases: [Case; 3] = [
        (
            &api.faults.nested_parent_only,
            &[
                (
                    "monitor-foreign-canary-reachable",
                    "GET /v2/boards/{parent_id}/cards/{id}",
                ),
                (
                    "monitor-foreign-write",
                    "PUT /v2/boards/{parent_id}/cards/{id}",
                ),
                (
                    "monitor-foreign-write",
                    "DELETE /v2/boards/{parent_id}/cards/{id}",
                ),
            ],
        ),
        (
            &api.faults.unscoped_board_writes,
            &[
                ("monitor-foreign-write", "PUT /v2/boards/{id}"),
                ("monitor-foreign-write", "DELETE /v2/boards/{id}"),
            ],
        ),
        (
            &api.faults.anonymous_default,
            &[
                ("monitor-anonymous-access", "GET /v2/boards"),
                ("monitor-anonymous-access", "DELETE /v2/boards/{id}"),
            ],
        ),
    ];
    for (fault, expected) in cases {
        fault.store(true, Ordering::Relaxed);
        let report = probe.cycle().await;
        metrics.record(&report);
        let found = rules(&report);
        for (rule, object) in expected {
            assert!(
                found.contains(&((*rule).to_owned(), (*object).to_owned())),
                "{rule} on {object} missing: {found:?}"
            );
        }
        let restored: Vec<_> = report
            .results
            .iter()
            .flat_map(|r| &r.found.restored)
            .collect();
        assert!(!restored.is_empty(), "{found:?}");
        // Put back in the same cycle, before the fault is switched off.
        assert_canaries_intact(&api, &probe, &format!("{found:?}"));
        fault.store(false, Ordering::Relaxed);
        let after = probe.cycle().await;
        metrics.record(&after);
        assert!(after.passed(), "clean again: {:#?}", after.findings());
    }
    let text = metrics.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("tenantprobe_canaries_restored_total{")
                && l.contains("synthetic_tenant=\"beta\"")
                && l.contains("reason=\"destroyed\"")
                && !l.ends_with(" 0")),
        "{text}"
    );

    // The real tenant was never acted as, and nothing of it was ever requested or changed.
    let log = api.log.lock().unwrap().clone();
    assert!(log.len() > 50, "the cycles sent requests: {}", log.len());
    assert!(
        log.iter()
            .all(|(tenant, _, _)| tenant.as_deref() != Some("org_gamma")),
        "a request was served as the real tenant"
    );
    let gamma_paths = ["/v2/boards/1", "/v2/boards/1/cards", "/v2/boards/1/cards/2"];
    assert!(
        log.iter().all(
            |(_, _, path)| !gamma_paths.contains(&path.as_str()) && !path.ends_with("/cards/2")
        ),
        "a request named the real tenant's objects"
    );
    assert_eq!(
        holdings(&api, "org_gamma"),
        (
            vec!["Gamma's roadmap".to_owned()],
            vec![(
                "Gamma's secret launch".to_owned(),
                "Gamma's roadmap".to_owned()
            )]
        )
    );
}

#[tokio::test]
async fn a_synthetic_tenant_missing_from_the_existing_tenants_is_a_clear_error() {
    let (addr, api) = start().await;
    let spec = tenantprobe::spec::Spec::parse(
        &SPEC.replace(r#"["alpha", "beta"]"#, r#"["alpha", "delta"]"#),
        "boards-api.toml",
    )
    .unwrap();
    let vars = [
        ("BOARDS_URL".to_owned(), format!("http://{addr}")),
        ("BOARDS_TOKEN_ALPHA".to_owned(), api.tokens[1].1.clone()),
    ];
    let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let error = Probe::setup(&spec, &env, Provisioning::LookUp, None)
        .await
        .err()
        .expect("a missing synthetic tenant is refused");
    assert!(
        error
            .to_string()
            .contains("synthetic tenant `delta` is not among [tenants] existing"),
        "{error}"
    );
}
