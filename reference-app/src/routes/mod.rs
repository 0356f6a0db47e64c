//! The HTTP API (`router`): JSON in and out, one error shape, and extractors that turn every bad
//! input (malformed id, malformed or oversized JSON) into a 4xx in that shape.

mod admin;
mod health;
mod me;
mod projects;
mod tasks;
pub mod users;

use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/me", get(me::me))
        .route("/api/projects", get(projects::list).post(projects::create))
        .route(
            "/api/projects/{id}",
            get(projects::get)
                .patch(projects::update)
                .delete(projects::delete),
        )
        .route(
            "/api/projects/{id}/tasks",
            get(tasks::list).post(tasks::create),
        )
        .route(
            "/api/tasks/{id}",
            get(tasks::get).patch(tasks::update).delete(tasks::delete),
        )
        .route(
            "/api/projects/{project_id}/tasks/{task_id}",
            get(tasks::get_nested)
                .patch(tasks::update_nested)
                .delete(tasks::delete_nested),
        )
        .route("/api/users", get(users::list))
        .route("/admin/tenants/{id}/projects", get(admin::projects))
        .route("/admin/tenants/{id}/users", get(admin::users))
        .route("/admin/tenants/{id}/audit-events", get(admin::audit_events))
        .merge(crate::admin::router())
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                ApiError::BadRequest("method not allowed".into()),
            )
        })
}

/// A list response: `{"items": [...]}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// A UUID path segment; anything else is 400.
pub struct Id(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<Uuid>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|e: PathRejection| {
                ApiError::BadRequest(format!("invalid id: {}", e.body_text()))
            })
    }
}

/// Two UUID path segments, parent first (`/parents/{parent}/children/{child}`); anything else
/// is 400.
pub struct ParentAndId(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ParentAndId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<(Uuid, Uuid)>::from_request_parts(parts, state)
            .await
            .map(|Path((parent, id))| Self(parent, id))
            .map_err(|e: PathRejection| {
                ApiError::BadRequest(format!("invalid id: {}", e.body_text()))
            })
    }
}

/// A JSON body; syntax errors are 400, wrong fields 422, a missing content type 415, an oversized
/// body 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(v)| Self(v))
            .map_err(|e| match e {
                JsonRejection::JsonDataError(e) => ApiError::Unprocessable(e.body_text()),
                JsonRejection::JsonSyntaxError(_) => ApiError::BadRequest("malformed JSON".into()),
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
                e if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                e => ApiError::BadRequest(e.body_text()),
            })
    }
}

/// Trims and bounds a required text field.
pub fn required_text(field: &'static str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::Unprocessable(format!(
            "`{field}` must be 1 to {max} characters"
        )));
    }
    Ok(value.to_owned())
}

/// RLS refusing a row the request tried to write (SQLSTATE 42501) is the caller's fault, not ours:
/// answered like a missing object.
pub fn not_found_on_rls(what: &'static str) -> impl Fn(sqlx::Error) -> ApiError {
    move |e| match e.as_database_error().and_then(|d| d.code()).as_deref() {
        Some("42501") | Some("23503") => ApiError::NotFound(what),
        _ => e.into(),
    }
}
