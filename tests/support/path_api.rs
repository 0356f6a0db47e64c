//! A second API of a different shape, to show `attack http` needs only a spec: the tenant sits in
//! the path (`/t/{slug}/notes…`), tenants have static bearer tokens, notes live in memory. With
//! `idor` on, fetching a note by id checks the token against the path but forgets to check that
//! the note belongs to that tenant: the classic insecure direct object reference.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{Note, body_text, note_json, notes_of};

#[derive(Clone)]
struct Store {
    tokens: Arc<Vec<(String, String)>>,
    notes: Arc<Mutex<Vec<Note>>>,
    idor: bool,
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

impl Store {
    /// 401 without a token, 403 when the token is not the path tenant's (unknown tenants alike).
    fn authorize(&self, headers: &HeaderMap, slug: &str) -> Result<(), StatusCode> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(token) = token else {
            return Err(StatusCode::UNAUTHORIZED);
        };
        match self.tokens.iter().find(|(s, _)| s == slug) {
            Some((_, t)) if t == token => Ok(()),
            _ => Err(StatusCode::FORBIDDEN),
        }
    }
}

async fn list(State(s): State<Store>, headers: HeaderMap, Path(slug): Path<String>) -> Response {
    if let Err(status) = s.authorize(&headers, &slug) {
        return error(status, "refused");
    }
    Json(notes_of(&s.notes.lock().unwrap(), &slug)).into_response()
}

async fn create(
    State(s): State<Store>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(status) = s.authorize(&headers, &slug) {
        return error(status, "refused");
    }
    let text = body
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let id = uuid::Uuid::new_v4().to_string();
    s.notes
        .lock()
        .unwrap()
        .push((slug, id.clone(), text.clone()));
    (StatusCode::CREATED, Json(json!({ "id": id, "text": text }))).into_response()
}

async fn one(
    State(s): State<Store>,
    headers: HeaderMap,
    Path((slug, id)): Path<(String, String)>,
    method: axum::http::Method,
    body: Option<Json<Value>>,
) -> Response {
    if let Err(status) = s.authorize(&headers, &slug) {
        return error(status, "refused");
    }
    let mut notes = s.notes.lock().unwrap();
    // The planted bug: with `idor`, a GET looks the note up by id alone.
    let position = notes.iter().position(|(t, i, _)| {
        *i == id && (*t == slug || (s.idor && method == axum::http::Method::GET))
    });
    let Some(position) = position else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    match method {
        axum::http::Method::DELETE => {
            notes.remove(position);
            StatusCode::NO_CONTENT.into_response()
        }
        axum::http::Method::PATCH => {
            if let Some(text) = body_text(&body) {
                notes[position].2 = text.to_owned();
            }
            Json(note_json(&notes[position])).into_response()
        }
        _ => Json(note_json(&notes[position])).into_response(),
    }
}

/// Serves the API on a free port; returns its address and the two tenants' tokens.
pub async fn start(idor: bool) -> (SocketAddr, Vec<(String, String)>) {
    let tokens = super::static_tokens(&["alpha", "beta"]);
    let store = Store {
        tokens: Arc::new(tokens.clone()),
        notes: Arc::new(Mutex::new(Vec::new())),
        idor,
    };
    let app = Router::new()
        .route("/t/{slug}/notes", get(list).post(create))
        .route("/t/{slug}/notes/{id}", get(one).patch(one).delete(one))
        .with_state(store);
    (super::serve(app).await, tokens)
}
