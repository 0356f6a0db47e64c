//! The admin panel (`Panel`, `router`): server-rendered pages under `/panel`, behind an operator
//! login that is separate from tenant tokens, with time-boxed, audited, read-only-by-default
//! impersonation of one tenant at a time.
//!
//! How the pieces fit: `sessions` keeps the operator sessions and impersonations (random ids in
//! HttpOnly, SameSite=Strict cookies; a CSRF token per session); `directory` is the panel's own
//! connection, used only for the tenant list and the global admin log; everything inside a tenant
//! is read through `TenantDb::run` as the impersonated tenant, so RLS applies exactly as for the
//! API; `pages` holds the handlers and `render` the templates.

mod cookies;
mod directory;
mod pages;
mod render;
mod sessions;

use axum::Router;
use axum::routing::{get, post};

pub use directory::Directory;
pub use sessions::Sessions;

use crate::config::PanelConfig;
use crate::startup::AppState;

/// Everything the panel needs, built once from `PanelConfig`.
pub struct Panel {
    pub config: PanelConfig,
    pub sessions: Sessions,
    pub directory: Directory,
    templates: render::Templates,
}

impl Panel {
    pub fn new(config: PanelConfig) -> Result<Self, sqlx::Error> {
        Ok(Self {
            sessions: Sessions::new(config.impersonation_ttl),
            directory: Directory::connect(&config.database_url)?,
            templates: render::Templates::new(),
            config,
        })
    }
}

/// The panel's routes; without a configured panel every one of them is 404.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/panel", get(pages::home))
        .route("/panel/login", get(pages::login_form).post(pages::login))
        .route("/panel/logout", post(pages::logout))
        .route("/panel/tenants", get(pages::tenants))
        .route("/panel/tenants/{id}", get(pages::tenant))
        .route("/panel/tenants/{id}/audit", get(pages::audit_page))
        .route("/panel/tenants/{id}/impersonate", post(pages::impersonate))
        .route("/panel/tenants/{id}/escalate", post(pages::escalate))
        .route(
            "/panel/tenants/{id}/projects/{project}/archive",
            post(pages::archive_project),
        )
        .route("/panel/impersonation/end", post(pages::end_impersonation))
        .route("/panel/admin-log", get(pages::admin_log))
}
