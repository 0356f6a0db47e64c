//! `GET /api/users`: the tenant's members.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Items;
use crate::error::ApiError;
use crate::faults::Fault;
use crate::startup::AppState;
use crate::tenant::Tenant;

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

/// Every member the tenant may see, oldest first (the API's list and the admin's).
pub const LIST: &str = "SELECT id, email, role, created_at FROM users ORDER BY created_at, id";

pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<Items<User>>, ApiError> {
    if state.faults.has(Fault::RlsBypassHandler) {
        // FAULT(rls-bypass-handler): see `Database::all_users_bypassing_rls`.
        return Ok(Json(Items {
            items: state.db.all_users_bypassing_rls().await?,
        }));
    }
    let items = tenant.db.fetch_all(LIST).await?;
    Ok(Json(Items { items }))
}
