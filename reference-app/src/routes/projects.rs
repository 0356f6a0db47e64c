//! `/api/projects`: list and detail are read through the tenant's cache; every write invalidates.
//! No query filters by tenant: RLS does, so there is one mechanism to trust and to test.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ApiJson, Id, Items, not_found_on_rls, required_text};
use crate::error::ApiError;
use crate::tenant::Tenant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Archived,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
pub struct NewProject {
    pub name: String,
    #[serde(default)]
    pub status: Option<Status>,
}

#[derive(Debug, Deserialize)]
pub struct ProjectChanges {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<Status>,
}

const COLUMNS: &str = "id, name, status, created_at";

/// Every project the tenant may see, oldest first (the API's list and the admin's).
pub const LIST: &str = "SELECT id, name, status, created_at FROM projects ORDER BY created_at, id";

pub async fn list(tenant: Tenant) -> Result<Json<Items<Project>>, ApiError> {
    let key = tenant.cache.project_list_key();
    if let Some(items) = tenant.cache.get::<Vec<Project>>(key.as_ref()).await {
        return Ok(Json(Items { items }));
    }
    let items: Vec<Project> = tenant.db.fetch_all(LIST).await?;
    tenant.cache.put(key.as_ref(), &items).await;
    Ok(Json(Items { items }))
}

pub async fn get(tenant: Tenant, Id(id): Id) -> Result<Json<Project>, ApiError> {
    let key = tenant.cache.project_key(id);
    if let Some(project) = tenant.cache.get::<Project>(key.as_ref()).await {
        return Ok(Json(project));
    }
    let project: Project = tenant
        .db
        .fetch_by_id(
            "SELECT id, name, status, created_at FROM projects WHERE id = $1",
            id,
            "project",
        )
        .await?;
    tenant.cache.put(key.as_ref(), &project).await;
    Ok(Json(project))
}

pub async fn create(
    tenant: Tenant,
    ApiJson(new): ApiJson<NewProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let name = required_text("name", &new.name, 200)?;
    let status = new.status.unwrap_or(Status::Active).as_str();
    let tenant_id = tenant.id;
    let project: Project = tenant
        .db
        .run(move |tx| {
            Box::pin(async move {
                let sql = format!("INSERT INTO projects (tenant_id, name, status) VALUES ($1, $2, $3) RETURNING {COLUMNS}");
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(name).bind(status).fetch_one(tx).await.map_err(not_found_on_rls("tenant"))
            })
        })
        .await?;
    tenant.cache.invalidate_projects(None).await;
    Ok((StatusCode::CREATED, Json(project)))
}

pub async fn update(
    tenant: Tenant,
    Id(id): Id,
    ApiJson(changes): ApiJson<ProjectChanges>,
) -> Result<Json<Project>, ApiError> {
    let name = changes
        .name
        .as_deref()
        .map(|n| required_text("name", n, 200))
        .transpose()?;
    let status = changes.status.map(Status::as_str);
    let project: Project = tenant
        .db
        .run(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE projects SET name = COALESCE($2, name), status = COALESCE($3, status) WHERE id = $1 RETURNING {COLUMNS}"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(name)
                    .bind(status)
                    .fetch_optional(tx)
                    .await
                    .map_err(not_found_on_rls("project"))?
                    .ok_or(ApiError::NotFound("project"))
            })
        })
        .await?;
    tenant.cache.invalidate_projects(Some(id)).await;
    Ok(Json(project))
}

pub async fn delete(tenant: Tenant, Id(id): Id) -> Result<StatusCode, ApiError> {
    tenant
        .db
        .delete_by_id("DELETE FROM projects WHERE id = $1", id, "project")
        .await?;
    tenant.cache.invalidate_projects(Some(id)).await;
    Ok(StatusCode::NO_CONTENT)
}
