//! `/api/projects/{id}/tasks` and `/api/tasks/{id}`. A task can only join a project (and an
//! assignee) of its own tenant: RLS hides foreign projects, and the composite foreign keys refuse
//! them even where RLS would not look (FK checks bypass RLS).

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ApiJson, Id, Items, not_found_on_rls, required_text};
use crate::error::ApiError;
use crate::tenant::Tenant;

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Task {
    pub id: Uuid,
    pub project_id: Uuid,
    pub assignee_id: Option<Uuid>,
    pub title: String,
    pub done: bool,
    pub due_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
pub struct NewTask {
    pub title: String,
    #[serde(default)]
    pub assignee_id: Option<Uuid>,
    #[serde(default)]
    pub due_on: Option<NaiveDate>,
}

#[derive(Debug, Deserialize)]
pub struct TaskChanges {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub done: Option<bool>,
    #[serde(default)]
    pub due_on: Option<NaiveDate>,
}

pub async fn list(tenant: Tenant, Id(project): Id) -> Result<Json<Items<Task>>, ApiError> {
    let items = tenant
        .db
        .run(move |tx| {
            Box::pin(async move {
                let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1").bind(project).fetch_optional(&mut *tx).await?;
                exists.ok_or(ApiError::NotFound("project"))?;
                Ok(sqlx::query_as(
                    "SELECT id, project_id, assignee_id, title, done, due_on, created_at FROM tasks WHERE project_id = $1 ORDER BY created_at, id",
                )
                .bind(project)
                .fetch_all(tx)
                .await?)
            })
        })
        .await?;
    Ok(Json(Items { items }))
}

pub async fn create(
    tenant: Tenant,
    Id(project): Id,
    ApiJson(new): ApiJson<NewTask>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let title = required_text("title", &new.title, 500)?;
    let tenant_id = tenant.id;
    let task = tenant
        .db
        .run(move |tx| {
            Box::pin(async move {
                let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1").bind(project).fetch_optional(&mut *tx).await?;
                exists.ok_or(ApiError::NotFound("project"))?;
                sqlx::query_as(
                    "INSERT INTO tasks (tenant_id, project_id, assignee_id, title, due_on) VALUES ($1, $2, $3, $4, $5)
                     RETURNING id, project_id, assignee_id, title, done, due_on, created_at",
                )
                .bind(tenant_id)
                .bind(project)
                .bind(new.assignee_id)
                .bind(title)
                .bind(new.due_on)
                .fetch_one(tx)
                .await
                .map_err(not_found_on_rls("assignee"))
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(task)))
}

pub async fn get(tenant: Tenant, Id(id): Id) -> Result<Json<Task>, ApiError> {
    let task = tenant
        .db
        .run(move |tx| {
            Box::pin(async move {
                sqlx::query_as("SELECT id, project_id, assignee_id, title, done, due_on, created_at FROM tasks WHERE id = $1")
                    .bind(id)
                    .fetch_optional(tx)
                    .await?
                    .ok_or(ApiError::NotFound("task"))
            })
        })
        .await?;
    Ok(Json(task))
}

pub async fn update(
    tenant: Tenant,
    Id(id): Id,
    ApiJson(changes): ApiJson<TaskChanges>,
) -> Result<Json<Task>, ApiError> {
    let title = changes
        .title
        .as_deref()
        .map(|t| required_text("title", t, 500))
        .transpose()?;
    let task = tenant
        .db
        .run(move |tx| {
            Box::pin(async move {
                sqlx::query_as(
                    "UPDATE tasks SET title = COALESCE($2, title), done = COALESCE($3, done), due_on = COALESCE($4, due_on) WHERE id = $1
                     RETURNING id, project_id, assignee_id, title, done, due_on, created_at",
                )
                .bind(id)
                .bind(title)
                .bind(changes.done)
                .bind(changes.due_on)
                .fetch_optional(tx)
                .await
                .map_err(not_found_on_rls("task"))?
                .ok_or(ApiError::NotFound("task"))
            })
        })
        .await?;
    Ok(Json(task))
}

pub async fn delete(tenant: Tenant, Id(id): Id) -> Result<StatusCode, ApiError> {
    let deleted = tenant
        .db
        .run(move |tx| {
            Box::pin(async move {
                Ok(sqlx::query("DELETE FROM tasks WHERE id = $1")
                    .bind(id)
                    .execute(tx)
                    .await?
                    .rows_affected())
            })
        })
        .await?;
    if deleted == 0 {
        return Err(ApiError::NotFound("task"));
    }
    Ok(StatusCode::NO_CONTENT)
}
