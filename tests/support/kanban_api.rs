//! A second test API in another style than the reference app, for `attack http` and the monitor:
//! integer ids, `{"data": …}` envelopes, cards nested under boards
//! (`/v1/boards/{board_id}/cards/{card_id}`), a search (`GET /v1/cards?q=…`), an NDJSON export
//! (`GET /v1/cards/export`, only with `Accept: application/x-ndjson`), HS256 tokens whose `org`
//! claim names the tenant, and organisations that already exist (nobody provisions them). Data
//! lives in its own small PostgreSQL schema, filtered by `org_id` in every query, as many real apps
//! do. Foreign and missing objects both answer 404 with the same body.
//!
//! Planted faults, switchable while it runs (`KanbanApi::set`):
//! - `nested-parent-only`: nested card routes check that the board is the caller's, then use the
//!   card by id alone (the classic nested-route BOLA);
//! - `search-ignores-tenant`: the search filters by the text only;
//! - `export-ignores-tenant`: the export writes every organisation's cards;
//! - `org-query-param`: a leftover `?org=` (a support tool's) picks the organisation whose boards
//!   are listed, whatever the token says.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The names `set` and the spec's tests use.
pub const FAULTS: [&str; 4] = [
    "nested-parent-only",
    "search-ignores-tenant",
    "export-ignores-tenant",
    "org-query-param",
];

/// The organisations that exist before any test runs: (id, slug). The first two are real
/// customers with data of their own; the last two were made empty for the monitor.
pub const ORGS: [(i32, &str); 4] = [
    (1, "initech"),
    (2, "umbrella"),
    (3, "probe-a"),
    (4, "probe-b"),
];

const SCHEMA: &str = r#"
CREATE TABLE orgs (id integer PRIMARY KEY, slug text NOT NULL UNIQUE);
CREATE TABLE boards (
    id serial PRIMARY KEY,
    org_id integer NOT NULL REFERENCES orgs,
    name text NOT NULL
);
CREATE TABLE cards (
    id serial PRIMARY KEY,
    org_id integer NOT NULL REFERENCES orgs,
    board_id integer NOT NULL REFERENCES boards ON DELETE CASCADE,
    title text NOT NULL
);
CREATE INDEX ON boards (org_id);
CREATE INDEX ON cards (org_id, board_id);
INSERT INTO orgs VALUES (1, 'initech'), (2, 'umbrella'), (3, 'probe-a'), (4, 'probe-b');
-- The real customers' own data.
INSERT INTO boards (org_id, name) VALUES (1, 'TPS reports'), (2, 'Hive projects');
INSERT INTO cards (org_id, board_id, title) VALUES (1, 1, 'New cover sheets'), (2, 2, 'Containment');
"#;

#[derive(Default)]
struct Faults {
    nested_parent_only: AtomicBool,
    search_ignores_tenant: AtomicBool,
    export_ignores_tenant: AtomicBool,
    org_query_param: AtomicBool,
}

/// Requests served, by kind: tests check that a run really exercised the search and export.
#[derive(Default)]
pub struct Served {
    pub searches: AtomicU64,
    pub exports: AtomicU64,
    pub nested: AtomicU64,
    /// Every organisation a valid token acted as.
    pub orgs: std::sync::Mutex<std::collections::BTreeSet<i32>>,
}

struct Inner {
    pool: PgPool,
    secret: String,
    faults: Faults,
    served: Served,
}

#[derive(Clone)]
struct AppState(Arc<Inner>);

/// The running API (stopped when dropped).
pub struct KanbanApi {
    pub addr: SocketAddr,
    /// The HS256 secret its tokens are signed with.
    pub secret: String,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl KanbanApi {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches a planted fault (one of `FAULTS`) on or off.
    pub fn set(&self, fault: &str, on: bool) {
        let f = &self.inner.faults;
        let flag = match fault {
            "nested-parent-only" => &f.nested_parent_only,
            "search-ignores-tenant" => &f.search_ignores_tenant,
            "export-ignores-tenant" => &f.export_ignores_tenant,
            "org-query-param" => &f.org_query_param,
            other => panic!("no fault `{other}` in the kanban API"),
        };
        flag.store(on, Ordering::Relaxed);
    }

    pub fn served(&self) -> &Served {
        &self.inner.served
    }

    /// The variables its spec (`tests/kanban-api.toml`) names, as an environment lookup.
    pub fn env(&self) -> impl Fn(&str) -> Option<String> + use<> {
        let vars = [
            ("KANBAN_API_URL", self.url()),
            ("KANBAN_API_SECRET", self.secret.clone()),
        ];
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    }

    /// Titles of `org`'s boards and cards, sorted (what a run left behind).
    pub async fn holdings(&self, org: i32) -> (Vec<String>, Vec<String>) {
        let titles = |sql: &'static str| {
            let pool = self.inner.pool.clone();
            async move {
                let mut v: Vec<String> = sqlx::query_scalar(sql)
                    .bind(org)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                v.sort();
                v
            }
        };
        (
            titles("SELECT name FROM boards WHERE org_id = $1").await,
            titles("SELECT title FROM cards WHERE org_id = $1").await,
        )
    }
}

impl Drop for KanbanApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Its spec, as a new user wrote it from probes/README.md.
pub fn spec() -> tenantprobe::spec::Spec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kanban-api.toml");
    tenantprobe::spec::Spec::load(std::path::Path::new(path)).unwrap()
}

/// Starts the API on a free port over `database`, an empty database it fills with its schema and
/// the two organisations (the caller creates and drops it).
pub async fn start(database: PgConnectOptions) -> KanbanApi {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(database)
        .await
        .unwrap();
    sqlx::raw_sql(SCHEMA).execute(&pool).await.unwrap();
    let inner = Arc::new(Inner {
        pool,
        secret: format!("kanban-{}", uuid::Uuid::new_v4().simple()),
        faults: Faults::default(),
        served: Served::default(),
    });
    let app = Router::new()
        .route("/v1/boards", get(list_boards).post(create_board))
        .route(
            "/v1/boards/{board_id}",
            get(get_board).patch(update_board).delete(delete_board),
        )
        .route(
            "/v1/boards/{board_id}/cards",
            get(list_cards).post(create_card),
        )
        .route(
            "/v1/boards/{board_id}/cards/{card_id}",
            get(get_card).patch(update_card).delete(delete_card),
        )
        .route("/v1/cards", get(search_cards))
        .route("/v1/cards/export", get(export_cards))
        .with_state(AppState(inner.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    KanbanApi {
        addr,
        secret: inner.secret.clone(),
        inner,
        server,
    }
}

/// The API's one error shape.
struct ApiError(StatusCode, &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": { "code": self.1 } }))).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(_: sqlx::Error) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal")
    }
}

const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, "not_found");

/// A write by id that touched no row was on another organisation's (or no) object: 404.
fn found(written: sqlx::postgres::PgQueryResult) -> Result<(), ApiError> {
    match written.rows_affected() {
        0 => Err(NOT_FOUND),
        _ => Ok(()),
    }
}

type Answer = Result<Response, ApiError>;

/// The caller's organisation, from the verified token's `org` claim (a number or a numeric string).
struct Org(i32);

impl FromRequestParts<AppState> for Org {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = ApiError(StatusCode::UNAUTHORIZED, "unauthorized");
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(unauthorized)?;
        let key = jsonwebtoken::DecodingKey::from_secret(state.0.secret.as_bytes());
        let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|_| ApiError(StatusCode::UNAUTHORIZED, "unauthorized"))?
            .claims;
        let org = match &claims["org"] {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .and_then(|n| i32::try_from(n).ok())
        .ok_or(ApiError(StatusCode::UNAUTHORIZED, "unauthorized"))?;
        if let Ok(mut orgs) = state.0.served.orgs.lock() {
            orgs.insert(org);
        }
        Ok(Org(org))
    }
}

fn board_json(id: i32, name: &str) -> Value {
    json!({ "id": id, "type": "board", "name": name })
}

fn card_json(id: i32, board: i32, title: &str) -> Value {
    json!({ "id": id, "type": "card", "board_id": board, "title": title })
}

fn data(status: StatusCode, value: Value) -> Response {
    (status, Json(json!({ "data": value }))).into_response()
}

fn text_field(body: &Value, field: &str) -> Result<String, ApiError> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or(ApiError(StatusCode::UNPROCESSABLE_ENTITY, "invalid"))
}

#[derive(serde::Deserialize)]
struct OrgParam {
    org: Option<i32>,
}

async fn list_boards(
    State(s): State<AppState>,
    Org(org): Org,
    Query(param): Query<OrgParam>,
) -> Answer {
    let org = match param.org {
        Some(named) if s.0.faults.org_query_param.load(Ordering::Relaxed) => named,
        _ => org,
    };
    let rows: Vec<(i32, String)> =
        sqlx::query_as("SELECT id, name FROM boards WHERE org_id = $1 ORDER BY id")
            .bind(org)
            .fetch_all(&s.0.pool)
            .await?;
    let items = rows
        .iter()
        .map(|(id, name)| board_json(*id, name))
        .collect();
    Ok(data(StatusCode::OK, Value::Array(items)))
}

async fn create_board(State(s): State<AppState>, Org(org): Org, Json(body): Json<Value>) -> Answer {
    let name = text_field(&body, "name")?;
    let id: i32 =
        sqlx::query_scalar("INSERT INTO boards (org_id, name) VALUES ($1, $2) RETURNING id")
            .bind(org)
            .bind(&name)
            .fetch_one(&s.0.pool)
            .await?;
    Ok(data(StatusCode::CREATED, board_json(id, &name)))
}

/// The caller's board, or 404.
async fn own_board(s: &AppState, org: i32, board: i32) -> Result<String, ApiError> {
    sqlx::query_scalar("SELECT name FROM boards WHERE id = $1 AND org_id = $2")
        .bind(board)
        .bind(org)
        .fetch_optional(&s.0.pool)
        .await?
        .ok_or(NOT_FOUND)
}

async fn get_board(State(s): State<AppState>, Org(org): Org, Path(board): Path<i32>) -> Answer {
    let name = own_board(&s, org, board).await?;
    Ok(data(StatusCode::OK, board_json(board, &name)))
}

async fn update_board(
    State(s): State<AppState>,
    Org(org): Org,
    Path(board): Path<i32>,
    Json(body): Json<Value>,
) -> Answer {
    let name = text_field(&body, "name")?;
    let updated = sqlx::query("UPDATE boards SET name = $3 WHERE id = $1 AND org_id = $2")
        .bind(board)
        .bind(org)
        .bind(&name)
        .execute(&s.0.pool)
        .await?;
    found(updated)?;
    Ok(data(StatusCode::OK, board_json(board, &name)))
}

async fn delete_board(State(s): State<AppState>, Org(org): Org, Path(board): Path<i32>) -> Answer {
    let deleted = sqlx::query("DELETE FROM boards WHERE id = $1 AND org_id = $2")
        .bind(board)
        .bind(org)
        .execute(&s.0.pool)
        .await?;
    found(deleted)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_cards(State(s): State<AppState>, Org(org): Org, Path(board): Path<i32>) -> Answer {
    own_board(&s, org, board).await?;
    let rows: Vec<(i32, String)> = sqlx::query_as(
        "SELECT id, title FROM cards WHERE board_id = $1 AND org_id = $2 ORDER BY id",
    )
    .bind(board)
    .bind(org)
    .fetch_all(&s.0.pool)
    .await?;
    let items = rows
        .iter()
        .map(|(id, title)| card_json(*id, board, title))
        .collect();
    Ok(data(StatusCode::OK, Value::Array(items)))
}

async fn create_card(
    State(s): State<AppState>,
    Org(org): Org,
    Path(board): Path<i32>,
    Json(body): Json<Value>,
) -> Answer {
    let title = text_field(&body, "title")?;
    own_board(&s, org, board).await?;
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO cards (org_id, board_id, title) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(org)
    .bind(board)
    .bind(&title)
    .fetch_one(&s.0.pool)
    .await?;
    Ok(data(StatusCode::CREATED, card_json(id, board, &title)))
}

/// The card scope of a nested route: the board must be the caller's; the card must belong to
/// that board and organisation, unless `nested-parent-only` is on (then the card id alone).
async fn nested_scope(s: &AppState, org: i32, board: i32) -> Result<bool, ApiError> {
    s.0.served.nested.fetch_add(1, Ordering::Relaxed);
    own_board(s, org, board).await?;
    Ok(s.0.faults.nested_parent_only.load(Ordering::Relaxed))
}

const CARD_SCOPE: &str = "id = $1 AND ($4 OR (board_id = $2 AND org_id = $3))";

/// Runs `statement` on card `card` of a nested route on `board`, as far as the caller's scope
/// reaches (see `nested_scope`): its condition is `CARD_SCOPE`, `title` (if any) is bound as `$5`,
/// and it returns the card's `board_id, title`; 404 when it reaches no card.
async fn in_card_scope(
    s: &AppState,
    (org, board, card): (i32, i32, i32),
    statement: &str,
    title: Option<&str>,
) -> Result<(i32, String), ApiError> {
    let by_id_alone = nested_scope(s, org, board).await?;
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(statement.to_owned()))
        .bind(card)
        .bind(board)
        .bind(org)
        .bind(by_id_alone);
    if let Some(title) = title {
        query = query.bind(title);
    }
    query.fetch_optional(&s.0.pool).await?.ok_or(NOT_FOUND)
}

async fn get_card(
    State(s): State<AppState>,
    Org(org): Org,
    Path((board, card)): Path<(i32, i32)>,
) -> Answer {
    let select = format!("SELECT board_id, title FROM cards WHERE {CARD_SCOPE}");
    let (board_id, title) = in_card_scope(&s, (org, board, card), &select, None).await?;
    Ok(data(StatusCode::OK, card_json(card, board_id, &title)))
}

async fn update_card(
    State(s): State<AppState>,
    Org(org): Org,
    Path((board, card)): Path<(i32, i32)>,
    Json(body): Json<Value>,
) -> Answer {
    let title = text_field(&body, "title")?;
    let update =
        format!("UPDATE cards SET title = $5 WHERE {CARD_SCOPE} RETURNING board_id, title");
    let (board_id, title) = in_card_scope(&s, (org, board, card), &update, Some(&title)).await?;
    Ok(data(StatusCode::OK, card_json(card, board_id, &title)))
}

async fn delete_card(
    State(s): State<AppState>,
    Org(org): Org,
    Path((board, card)): Path<(i32, i32)>,
) -> Answer {
    let delete = format!("DELETE FROM cards WHERE {CARD_SCOPE} RETURNING board_id, title");
    in_card_scope(&s, (org, board, card), &delete, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

/// `GET /v1/cards?q=…`: the caller's cards whose title contains `q` (required).
async fn search_cards(
    State(s): State<AppState>,
    Org(org): Org,
    Query(query): Query<SearchQuery>,
) -> Answer {
    s.0.served.searches.fetch_add(1, Ordering::Relaxed);
    let q = query
        .q
        .filter(|q| !q.is_empty())
        .ok_or(ApiError(StatusCode::BAD_REQUEST, "q_required"))?;
    let everyone = s.0.faults.search_ignores_tenant.load(Ordering::Relaxed);
    let rows: Vec<(i32, i32, String)> = sqlx::query_as(
        "SELECT id, board_id, title FROM cards
         WHERE strpos(title, $1) > 0 AND ($3 OR org_id = $2) ORDER BY id LIMIT 50",
    )
    .bind(&q)
    .bind(org)
    .bind(everyone)
    .fetch_all(&s.0.pool)
    .await?;
    let items = rows
        .iter()
        .map(|(id, board, title)| card_json(*id, *board, title))
        .collect();
    Ok((
        StatusCode::OK,
        Json(json!({ "data": Value::Array(items), "query": q })),
    )
        .into_response())
}

/// `GET /v1/cards/export`: every card of the caller as NDJSON; other formats are refused (406).
async fn export_cards(State(s): State<AppState>, Org(org): Org, headers: HeaderMap) -> Answer {
    s.0.served.exports.fetch_add(1, Ordering::Relaxed);
    let wants_ndjson = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/x-ndjson"));
    if !wants_ndjson {
        return Err(ApiError(StatusCode::NOT_ACCEPTABLE, "accept_ndjson"));
    }
    let everyone = s.0.faults.export_ignores_tenant.load(Ordering::Relaxed);
    let rows: Vec<(i32, i32, String)> =
        sqlx::query_as("SELECT id, board_id, title FROM cards WHERE $2 OR org_id = $1 ORDER BY id")
            .bind(org)
            .bind(everyone)
            .fetch_all(&s.0.pool)
            .await?;
    let body: String = rows
        .iter()
        .map(|(id, board, title)| format!("{}\n", card_json(*id, *board, title)))
        .collect();
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}
