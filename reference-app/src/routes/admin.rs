//! Admin impersonation: `/admin/tenants/{id}/…`, protected by `ADMIN_TOKEN`, acting as the tenant
//! through the same `with_tenant` path as everyone else, and recording an `audit_events` row for
//! every use in the same transaction as the read (no audit row, no data).

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::projects::Project;
use super::users::User;
use super::{Id, Items};
use crate::db::TenantDb;
use crate::error::ApiError;
use crate::startup::AppState;

/// An authenticated administrator acting as the tenant in the path.
pub struct Impersonation {
    tenant: Uuid,
    db: TenantDb,
    path: String,
}

impl FromRequestParts<AppState> for Impersonation {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Without a configured token the admin surface does not exist.
        let expected = state
            .admin_token
            .as_ref()
            .ok_or(ApiError::NotFound("route"))?;
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given
            .is_some_and(|g| constant_time_eq(g.as_bytes(), expected.expose_secret().as_bytes()))
        {
            return Err(ApiError::Unauthorized);
        }
        let Id(tenant) = Id::from_request_parts(parts, state).await?;
        tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
        Ok(Self {
            tenant,
            db: state.db.for_tenant(Some(tenant)),
            path: parts.uri.path().to_owned(),
        })
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn record(tx: &mut PgConnection, tenant: Uuid, path: &str) -> Result<(), ApiError> {
    sqlx::query("INSERT INTO audit_events (tenant_id, actor, action, detail) VALUES ($1, 'admin', 'admin.impersonate', $2)")
        .bind(tenant)
        .bind(json!({ "path": path }))
        .execute(tx)
        .await?;
    Ok(())
}

/// Records the impersonation, then reads every row `sql` selects: one transaction, so there is
/// no data without its audit row.
async fn read_recorded<T>(
    admin: Impersonation,
    sql: &'static str,
) -> Result<Json<Items<T>>, ApiError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin + 'static,
{
    let Impersonation { tenant, db, path } = admin;
    let items = db
        .run(move |tx| {
            Box::pin(async move {
                record(&mut *tx, tenant, &path).await?;
                Ok(sqlx::query_as(sql).fetch_all(tx).await?)
            })
        })
        .await?;
    Ok(Json(Items { items }))
}

pub async fn projects(admin: Impersonation) -> Result<Json<Items<Project>>, ApiError> {
    read_recorded(admin, super::projects::LIST).await
}

pub async fn users(admin: Impersonation) -> Result<Json<Items<User>>, ApiError> {
    read_recorded(admin, super::users::LIST).await
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: Uuid,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

pub async fn audit_events(
    State(_): State<AppState>,
    admin: Impersonation,
) -> Result<Json<Items<AuditEvent>>, ApiError> {
    read_recorded(
        admin,
        "SELECT id, actor, action, detail, created_at FROM audit_events ORDER BY created_at, id",
    )
    .await
}
