//! A correct API that answers early: a request without a valid token gets 401, and another
//! tenant's (or a missing) note 404, before the handler reads the request body, which is left to
//! the server. Tenants come from static bearer tokens alone (no host, no path tenant); notes live
//! in memory. `attack http` must find nothing here: an unread body is no leak.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{Note, note_json, notes_of, tenant_of};

#[derive(Clone)]
struct Store {
    tokens: Arc<Vec<(String, String)>>,
    notes: Arc<Mutex<Vec<Note>>>,
}

fn refused(status: StatusCode) -> Response {
    (status, Json(json!({ "error": status.canonical_reason() }))).into_response()
}

impl Store {
    /// The token's tenant, looked at before anything else (the body is not touched).
    fn tenant(&self, request: &Request) -> Option<String> {
        let token = request
            .headers()
            .get("authorization")?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        tenant_of(&self.tokens, token)
    }
}

async fn text_of(request: Request) -> Option<String> {
    let bytes = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .ok()?;
    let body: Value = serde_json::from_slice(&bytes).ok()?;
    body.get("text").and_then(Value::as_str).map(str::to_owned)
}

async fn notes(State(s): State<Store>, request: Request) -> Response {
    let Some(tenant) = s.tenant(&request) else {
        return refused(StatusCode::UNAUTHORIZED);
    };
    if request.method() == Method::POST {
        let Some(text) = text_of(request).await else {
            return refused(StatusCode::UNPROCESSABLE_ENTITY);
        };
        let id = uuid::Uuid::new_v4().to_string();
        s.notes
            .lock()
            .unwrap()
            .push((tenant, id.clone(), text.clone()));
        return (StatusCode::CREATED, Json(json!({ "id": id, "text": text }))).into_response();
    }
    let items = notes_of(&s.notes.lock().unwrap(), &tenant);
    Json(json!({ "items": items })).into_response()
}

async fn note(State(s): State<Store>, Path(id): Path<String>, request: Request) -> Response {
    let Some(tenant) = s.tenant(&request) else {
        return refused(StatusCode::UNAUTHORIZED);
    };
    let owned = |notes: &Vec<Note>| notes.iter().position(|(t, i, _)| *t == tenant && *i == id);
    if owned(&s.notes.lock().unwrap()).is_none() {
        return refused(StatusCode::NOT_FOUND);
    }
    let method = request.method().clone();
    let text = if method == Method::PATCH {
        text_of(request).await
    } else {
        None
    };
    let mut notes = s.notes.lock().unwrap();
    let Some(position) = owned(&notes) else {
        return refused(StatusCode::NOT_FOUND);
    };
    if method == Method::DELETE {
        notes.remove(position);
        return StatusCode::NO_CONTENT.into_response();
    }
    if let Some(text) = text {
        notes[position].2 = text;
    }
    Json(note_json(&notes[position])).into_response()
}

/// Serves the API on a free port; returns its address and the two tenants' tokens.
pub async fn start() -> (SocketAddr, Vec<(String, String)>) {
    let tokens = super::static_tokens(&["alpha", "beta"]);
    let store = Store {
        tokens: Arc::new(tokens.clone()),
        notes: Arc::new(Mutex::new(Vec::new())),
    };
    let app = Router::new()
        .route("/notes", get(notes).post(notes))
        .route("/notes/{id}", get(note).patch(note).delete(note))
        .with_state(store);
    (super::serve(app).await, tokens)
}
