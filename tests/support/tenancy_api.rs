//! A notes API whose tenant travels in a header (`X-Org: <slug>`, which must match the bearer
//! token's tenant), with `{"data": …}` envelopes, a required query parameter (`limit`) and
//! header (`X-Api-Version: 2`), a search (`/notes/search?q=`) and a CSV export (`/export`).
//! Each `Flaw` plants one cross-tenant bug; with none it is correct. `notes_left` tells what the
//! attack left behind.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// The `X-Org` header picks the tenant; the token is only checked to be valid.
    HeaderTrust,
    /// `?org=<slug>` switches the tenant.
    OrgParam,
    /// The search looks through every tenant's notes.
    SearchGlobal,
    /// The export lists every tenant's notes.
    ExportGlobal,
}

#[derive(Clone)]
struct Store {
    tokens: Arc<Vec<(String, String)>>,
    /// (tenant, id, text)
    notes: Arc<Mutex<Vec<(String, String, String)>>>,
    flaw: Option<Flaw>,
}

type Params = Query<HashMap<String, String>>;

fn refused(status: StatusCode) -> Response {
    (status, Json(json!({ "error": status.canonical_reason() }))).into_response()
}

impl Store {
    /// The tenant of the request, or the status that refuses it.
    fn tenant(
        &self,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
    ) -> Result<String, StatusCode> {
        if headers.get("x-api-version").and_then(|v| v.to_str().ok()) != Some("2") {
            return Err(StatusCode::BAD_REQUEST);
        }
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(own) = self
            .tokens
            .iter()
            .find(|(_, t)| Some(t.as_str()) == token)
            .map(|(tenant, _)| tenant.clone())
        else {
            return Err(StatusCode::UNAUTHORIZED);
        };
        let org = headers.get("x-org").and_then(|v| v.to_str().ok());
        if self.flaw == Some(Flaw::OrgParam)
            && let Some(org) = params.get("org")
        {
            return Ok(org.clone());
        }
        match org {
            Some(org) if self.flaw == Some(Flaw::HeaderTrust) => Ok(org.to_owned()),
            Some(org) if org == own => Ok(own),
            _ => Err(StatusCode::FORBIDDEN),
        }
    }
}

async fn list_or_create(
    State(s): State<Store>,
    Query(params): Params,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let tenant = match s.tenant(&headers, &params) {
        Ok(t) => t,
        Err(status) => return refused(status),
    };
    if let Some(Json(body)) = body {
        let Some(text) = body.get("text").and_then(Value::as_str) else {
            return refused(StatusCode::UNPROCESSABLE_ENTITY);
        };
        let id = uuid::Uuid::new_v4().to_string();
        s.notes
            .lock()
            .unwrap()
            .push((tenant, id.clone(), text.to_owned()));
        return (
            StatusCode::CREATED,
            Json(json!({ "data": { "id": id, "text": text } })),
        )
            .into_response();
    }
    if !params.contains_key("limit") {
        return refused(StatusCode::BAD_REQUEST);
    }
    let items: Vec<Value> = s
        .notes
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, _)| *t == tenant)
        .map(|(_, id, text)| json!({ "id": id, "text": text }))
        .collect();
    Json(json!({ "data": items })).into_response()
}

async fn search(State(s): State<Store>, Query(params): Params, headers: HeaderMap) -> Response {
    let tenant = match s.tenant(&headers, &params) {
        Ok(t) => t,
        Err(status) => return refused(status),
    };
    let q = params.get("q").cloned().unwrap_or_default();
    let items: Vec<Value> = s
        .notes
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, text)| {
            (*t == tenant || s.flaw == Some(Flaw::SearchGlobal)) && text.contains(&q)
        })
        .map(|(_, id, text)| json!({ "id": id, "text": text }))
        .collect();
    Json(json!({ "query": q, "data": items })).into_response()
}

async fn export(State(s): State<Store>, Query(params): Params, headers: HeaderMap) -> Response {
    let tenant = match s.tenant(&headers, &params) {
        Ok(t) => t,
        Err(status) => return refused(status),
    };
    let lines: Vec<String> = s
        .notes
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, _)| *t == tenant || s.flaw == Some(Flaw::ExportGlobal))
        .map(|(_, id, text)| format!("{id},{text}"))
        .collect();
    (
        [("content-type", "text/csv")],
        format!("id,text\n{}\n", lines.join("\n")),
    )
        .into_response()
}

async fn note(
    State(s): State<Store>,
    Path(id): Path<String>,
    Query(params): Params,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let tenant = match s.tenant(&headers, &params) {
        Ok(t) => t,
        Err(status) => return refused(status),
    };
    let mut notes = s.notes.lock().unwrap();
    let Some(position) = notes.iter().position(|(t, i, _)| *t == tenant && *i == id) else {
        return refused(StatusCode::NOT_FOUND);
    };
    if method == axum::http::Method::DELETE {
        notes.remove(position);
        return StatusCode::NO_CONTENT.into_response();
    }
    if let Some(text) = body
        .as_ref()
        .and_then(|b| b.get("text"))
        .and_then(Value::as_str)
    {
        notes[position].2 = text.to_owned();
    }
    let (_, id, text) = &notes[position];
    Json(json!({ "data": { "id": id, "text": text } })).into_response()
}

/// A running API: its address, the tenants' tokens, and its notes.
pub struct TenancyApi {
    pub addr: SocketAddr,
    pub tokens: Vec<(String, String)>,
    notes: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl TenancyApi {
    /// Notes still stored.
    pub fn notes_left(&self) -> usize {
        self.notes.lock().unwrap().len()
    }
}

/// Serves the API on a free port.
pub async fn start(flaw: Option<Flaw>) -> TenancyApi {
    let tokens: Vec<(String, String)> = ["alpha", "beta"]
        .iter()
        .map(|t| {
            (
                (*t).to_owned(),
                format!("{t}-{}", uuid::Uuid::new_v4().simple()),
            )
        })
        .collect();
    let notes = Arc::new(Mutex::new(Vec::new()));
    let store = Store {
        tokens: Arc::new(tokens.clone()),
        notes: Arc::clone(&notes),
        flaw,
    };
    let app = Router::new()
        .route("/notes", get(list_or_create).post(list_or_create))
        .route("/notes/search", get(search))
        .route("/notes/{id}", get(note).patch(note).delete(note))
        .route("/export", get(export))
        .with_state(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    TenancyApi {
        addr,
        tokens,
        notes,
    }
}
