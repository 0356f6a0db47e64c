//! `/healthz` (the process is up) and `/readyz` (it can serve: PostgreSQL reachable; Redis
//! reachable or the app is serving degraded from PostgreSQL).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::startup::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (database, cache) = tokio::join!(state.db.ping(), state.cache.ping());
    let cache = match (state.cache.is_enabled(), cache) {
        (false, _) => "disabled",
        (true, true) => "ok",
        (true, false) => "unavailable",
    };
    let (status, word) = match (database, cache) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, "ok") => (StatusCode::OK, "ready"),
        (true, _) => (StatusCode::OK, "degraded"),
    };
    (
        status,
        Json(
            json!({ "status": word, "database": if database { "ok" } else { "unavailable" }, "cache": cache }),
        ),
    )
}
