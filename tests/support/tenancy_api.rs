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

use super::{Note, body_text, note_json, notes_of, tenant_of};

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
    notes: Arc<Mutex<Vec<Note>>>,
    flaw: Option<Flaw>,
}

type Params = Query<HashMap<String, String>>;

/// The API's one error shape: the status and its reason.
struct Refused(StatusCode);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let reason = self.0.canonical_reason();
        (self.0, Json(json!({ "error": reason }))).into_response()
    }
}

type Answer = Result<Response, Refused>;

impl Store {
    /// The tenant of the request, or the refusal it gets.
    fn tenant(
        &self,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
    ) -> Result<String, Refused> {
        if headers.get("x-api-version").and_then(|v| v.to_str().ok()) != Some("2") {
            return Err(Refused(StatusCode::BAD_REQUEST));
        }
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(own) = token.and_then(|token| tenant_of(&self.tokens, token)) else {
            return Err(Refused(StatusCode::UNAUTHORIZED));
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
            _ => Err(Refused(StatusCode::FORBIDDEN)),
        }
    }
}

async fn list_or_create(
    State(s): State<Store>,
    Query(params): Params,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Answer {
    let tenant = s.tenant(&headers, &params)?;
    if let Some(Json(body)) = body {
        let Some(text) = body.get("text").and_then(Value::as_str) else {
            return Err(Refused(StatusCode::UNPROCESSABLE_ENTITY));
        };
        let id = uuid::Uuid::new_v4().to_string();
        s.notes
            .lock()
            .unwrap()
            .push((tenant, id.clone(), text.to_owned()));
        return Ok((
            StatusCode::CREATED,
            Json(json!({ "data": { "id": id, "text": text } })),
        )
            .into_response());
    }
    if !params.contains_key("limit") {
        return Err(Refused(StatusCode::BAD_REQUEST));
    }
    let items = notes_of(&s.notes.lock().unwrap(), &tenant);
    Ok(Json(json!({ "data": items })).into_response())
}

async fn search(State(s): State<Store>, Query(params): Params, headers: HeaderMap) -> Answer {
    let tenant = s.tenant(&headers, &params)?;
    let q = params.get("q").cloned().unwrap_or_default();
    let items: Vec<Value> = s
        .notes
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, text)| {
            (*t == tenant || s.flaw == Some(Flaw::SearchGlobal)) && text.contains(&q)
        })
        .map(note_json)
        .collect();
    Ok(Json(json!({ "query": q, "data": items })).into_response())
}

async fn export(State(s): State<Store>, Query(params): Params, headers: HeaderMap) -> Answer {
    let tenant = s.tenant(&headers, &params)?;
    let lines: Vec<String> = s
        .notes
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, _)| *t == tenant || s.flaw == Some(Flaw::ExportGlobal))
        .map(|(_, id, text)| format!("{id},{text}"))
        .collect();
    Ok((
        [("content-type", "text/csv")],
        format!("id,text\n{}\n", lines.join("\n")),
    )
        .into_response())
}

async fn note(
    State(s): State<Store>,
    Path(id): Path<String>,
    Query(params): Params,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Answer {
    let tenant = s.tenant(&headers, &params)?;
    let mut notes = s.notes.lock().unwrap();
    let Some(position) = notes.iter().position(|(t, i, _)| *t == tenant && *i == id) else {
        return Err(Refused(StatusCode::NOT_FOUND));
    };
    if method == axum::http::Method::DELETE {
        notes.remove(position);
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if let Some(text) = body_text(&body) {
        notes[position].2 = text.to_owned();
    }
    Ok(Json(json!({ "data": note_json(&notes[position]) })).into_response())
}

/// A running API: its address, the tenants' tokens, and its notes.
pub struct TenancyApi {
    pub addr: SocketAddr,
    pub tokens: Vec<(String, String)>,
    notes: Arc<Mutex<Vec<Note>>>,
}

impl TenancyApi {
    /// Notes still stored.
    pub fn notes_left(&self) -> usize {
        self.notes.lock().unwrap().len()
    }
}

/// Serves the API on a free port.
pub async fn start(flaw: Option<Flaw>) -> TenancyApi {
    let tokens = super::static_tokens(&["alpha", "beta"]);
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
    TenancyApi {
        addr: super::serve(app).await,
        tokens,
        notes,
    }
}
