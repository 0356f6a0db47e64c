//! `GET /api/me`: the caller and its tenant.

use axum::Json;
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::tenant::Tenant;

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct TenantInfo {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub plan: String,
}

#[derive(Debug, Serialize)]
pub struct Me {
    pub user: super::users::User,
    pub tenant: TenantInfo,
}

pub async fn me(tenant: Tenant) -> Result<Json<Me>, ApiError> {
    let user = tenant.user_id;
    let me = tenant
        .db
        .run(move |tx| {
            Box::pin(async move {
                let user =
                    sqlx::query_as("SELECT id, email, role, created_at FROM users WHERE id = $1")
                        .bind(user)
                        .fetch_optional(&mut *tx)
                        .await?;
                let info = sqlx::query_as("SELECT id, slug, name, plan FROM tenants")
                    .fetch_optional(&mut *tx)
                    .await?;
                match (user, info) {
                    (Some(user), Some(tenant)) => Ok(Me { user, tenant }),
                    _ => Err(ApiError::NotFound("user")),
                }
            })
        })
        .await?;
    Ok(Json(me))
}
