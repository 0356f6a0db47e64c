//! `/api/projects/{id}/tasks`, `/api/projects/{project_id}/tasks/{task_id}` and
//! `/api/tasks/{id}`. A task can only join a project (and an
//! assignee) of its own tenant: RLS hides foreign projects, and the composite foreign keys refuse
//! them even where RLS would not look (FK checks bypass RLS).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ApiJson, Id, Items, ParentAndId, not_found_on_rls, required_text};
use crate::error::ApiError;
use crate::faults::Fault;
use crate::startup::AppState;
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

impl TaskChanges {
    /// The new title, held to the same rule as a new task's; `None` keeps the old one.
    fn checked_title(&self) -> Result<Option<String>, ApiError> {
        self.title
            .as_deref()
            .map(|t| required_text("title", t, 500))
            .transpose()
    }
}

/// 404 unless `project` is the tenant's: RLS hides other tenants' projects.
async fn require_project(tx: &mut PgConnection, project: Uuid) -> Result<(), ApiError> {
    let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1")
        .bind(project)
        .fetch_optional(tx)
        .await?;
    exists.map(|_| ()).ok_or(ApiError::NotFound("project"))
}

pub async fn list(tenant: Tenant, Id(project): Id) -> Result<Json<Items<Task>>, ApiError> {
    let items = tenant
        .db
        .run(move |tx| {
            Box::pin(async move {
                require_project(&mut *tx, project).await?;
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
                require_project(&mut *tx, project).await?;
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
        .fetch_by_id(
            "SELECT id, project_id, assignee_id, title, done, due_on, created_at FROM tasks WHERE id = $1",
            id,
            "task",
        )
        .await?;
    Ok(Json(task))
}

pub async fn update(
    tenant: Tenant,
    Id(id): Id,
    ApiJson(changes): ApiJson<TaskChanges>,
) -> Result<Json<Task>, ApiError> {
    let title = changes.checked_title()?;
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
    tenant
        .db
        .delete_by_id("DELETE FROM tasks WHERE id = $1", id, "task")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- nested: /api/projects/{project_id}/tasks/{task_id} ---------------------------------------

/// What a nested request does to its task.
enum NestedOp {
    Get,
    Update {
        title: Option<String>,
        changes: TaskChanges,
    },
    Delete,
}

impl NestedOp {
    /// The statement on the task: `$1` is the task id, `$2` the project it must live under (NULL:
    /// any project, only under the fault).
    fn sql(&self) -> &'static str {
        match self {
            Self::Get => {
                "SELECT id, project_id, assignee_id, title, done, due_on, created_at FROM tasks
                 WHERE id = $1 AND ($2::uuid IS NULL OR project_id = $2)"
            }
            Self::Update { .. } => {
                "UPDATE tasks SET title = COALESCE($3, title), done = COALESCE($4, done),
                 due_on = COALESCE($5, due_on) WHERE id = $1 AND ($2::uuid IS NULL OR project_id = $2)
                 RETURNING id, project_id, assignee_id, title, done, due_on, created_at"
            }
            Self::Delete => {
                "DELETE FROM tasks WHERE id = $1 AND ($2::uuid IS NULL OR project_id = $2)
                 RETURNING id, project_id, assignee_id, title, done, due_on, created_at"
            }
        }
    }

    /// Runs it on `executor`; `None` when no task matched.
    async fn run<'e, E: sqlx::PgExecutor<'e>>(
        self,
        executor: E,
        project: Option<Uuid>,
        task: Uuid,
    ) -> Result<Option<Task>, ApiError> {
        let sql = self.sql();
        let query = sqlx::query_as::<_, Task>(sql).bind(task).bind(project);
        let query = match self {
            Self::Update { title, changes } => {
                query.bind(title).bind(changes.done).bind(changes.due_on)
            }
            Self::Get | Self::Delete => query,
        };
        query
            .fetch_optional(executor)
            .await
            .map_err(not_found_on_rls("task"))
    }
}

/// One nested request: the task must be the tenant's (RLS) and live under the project.
async fn nested(
    state: &AppState,
    tenant: Tenant,
    project: Uuid,
    task: Uuid,
    op: NestedOp,
) -> Result<Task, ApiError> {
    if state.faults.has(Fault::NestedParentOnly) {
        // FAULT(nested-parent-only): the parent is checked (under RLS), then the child is touched
        // by its id alone through the owner's pool, which bypasses RLS: "checked the parent, not
        // the child".
        tenant
            .db
            .run(move |tx| Box::pin(require_project(tx, project)))
            .await?;
        let pool = state.db.owner_pool_bypassing_rls()?;
        return op
            .run(pool, None, task)
            .await?
            .ok_or(ApiError::NotFound("task"));
    }
    tenant
        .db
        .run(move |tx| Box::pin(async move { op.run(tx, Some(project), task).await }))
        .await?
        .ok_or(ApiError::NotFound("task"))
}

pub async fn get_nested(
    State(state): State<AppState>,
    tenant: Tenant,
    ParentAndId(project, task): ParentAndId,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(
        nested(&state, tenant, project, task, NestedOp::Get).await?,
    ))
}

pub async fn update_nested(
    State(state): State<AppState>,
    tenant: Tenant,
    ParentAndId(project, task): ParentAndId,
    ApiJson(changes): ApiJson<TaskChanges>,
) -> Result<Json<Task>, ApiError> {
    let title = changes.checked_title()?;
    let op = NestedOp::Update { title, changes };
    Ok(Json(nested(&state, tenant, project, task, op).await?))
}

pub async fn delete_nested(
    State(state): State<AppState>,
    tenant: Tenant,
    ParentAndId(project, task): ParentAndId,
) -> Result<StatusCode, ApiError> {
    nested(&state, tenant, project, task, NestedOp::Delete).await?;
    Ok(StatusCode::NO_CONTENT)
}
