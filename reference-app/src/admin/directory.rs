//! The panel's own connection (`Directory`): the one place that looks across tenants, and only at
//! the tenant directory (id, name, slug, plan) and the global admin log. Tenant data never goes
//! through it: pages read that as the impersonated tenant, through `TenantDb::run`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use crate::error::ApiError;

/// A row of the tenant directory.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TenantEntry {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub plan: String,
}

/// A row of the global admin log.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AdminLogEntry {
    pub admin: String,
    pub action: String,
    pub tenant_id: Option<Uuid>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub struct Directory {
    pool: PgPool,
}

impl Directory {
    /// Connects lazily, with a statement timeout on every session.
    pub fn connect(url: &SecretString) -> Result<Self, sqlx::Error> {
        let options = url
            .expose_secret()
            .parse::<PgConnectOptions>()?
            .application_name("reference-app-panel")
            .options([("statement_timeout", "5s")]);
        Ok(Self {
            pool: PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(5))
                .connect_lazy_with(options),
        })
    }

    /// Tenants whose name or slug contains `query` (case-insensitive; all when empty), at most 100.
    pub async fn search(&self, query: &str) -> Result<Vec<TenantEntry>, ApiError> {
        // strpos, not LIKE: the operator's text is matched literally, `%` and `_` included.
        Ok(sqlx::query_as(
            "SELECT id, name, slug, plan FROM public.tenants \
             WHERE $1 = '' OR strpos(lower(name), lower($1)) > 0 OR strpos(slug, lower($1)) > 0 \
             ORDER BY name, id LIMIT 100",
        )
        .bind(query)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn tenant(&self, id: Uuid) -> Result<Option<TenantEntry>, ApiError> {
        Ok(
            sqlx::query_as("SELECT id, name, slug, plan FROM public.tenants WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Appends to the global admin log.
    pub async fn log(
        &self,
        admin: &str,
        action: &str,
        tenant: Uuid,
        reason: &str,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        sqlx::query(
            "INSERT INTO admin.admin_log (admin, action, tenant_id, reason, detail) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(admin)
        .bind(action)
        .bind(tenant)
        .bind(reason)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest entries of the global admin log, newest first.
    pub async fn recent_log(&self, limit: i64) -> Result<Vec<AdminLogEntry>, ApiError> {
        Ok(sqlx::query_as(
            "SELECT admin, action, tenant_id, reason, created_at FROM admin.admin_log \
             ORDER BY created_at DESC, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
