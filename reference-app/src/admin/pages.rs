//! The panel's handlers: login, tenant directory, impersonation (start, escalate, end) and the
//! impersonated tenant's pages. Every page inside a tenant checks the impersonation cookie against
//! the operator's session, the tenant in the path and the time box, then reads as that tenant
//! through `TenantDb::run`, writing the tenant's audit event in the same transaction.

use axum::Form;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Panel;
use super::cookies;
use super::sessions::{Impersonation, OperatorSession};
use crate::error::ApiError;
use crate::faults::Fault;
use crate::startup::AppState;

/// Longest accepted reason.
const REASON_MAX: usize = 500;

/// What the panel answers instead of a page.
#[derive(Debug)]
pub enum Refusal {
    /// The panel is not configured: it does not exist.
    NotFound,
    /// Not logged in: to the login page.
    Login,
    /// Logged in but not allowed (CSRF, no impersonation, read-only).
    Forbidden(&'static str),
    /// Bad form input.
    Invalid(String),
    Failed(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Self::Failed(e)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::NotFound => return ApiError::NotFound("route").into_response(),
            Self::Login => return Redirect::to("/panel/login").into_response(),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, m.to_owned()),
            Self::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            Self::Failed(e) => return e.into_response(),
        };
        let page = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Not allowed</title></head><body><h1>Not allowed</h1><p id=\"error\">{}</p><p><a href=\"/panel/tenants\">Back</a></p></body></html>",
            escape(&message)
        );
        (status, axum::response::Html(page)).into_response()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn panel(state: &AppState) -> Result<&Panel, Refusal> {
    state.panel.as_ref().ok_or(Refusal::NotFound)
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A logged-in operator, and the impersonation their cookie names when it is still live.
pub struct Operator {
    session_id: String,
    session: OperatorSession,
    /// The impersonation cookie's entry, if it belongs to this session (whatever its tenant and
    /// expiry: `acting_as` judges those).
    impersonation: Option<Impersonation>,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        let panel = panel(state)?;
        let session_id = cookies::get(&parts.headers, cookies::SESSION).ok_or(Refusal::Login)?;
        let session = panel
            .sessions
            .session(session_id, now())
            .ok_or(Refusal::Login)?;
        let impersonation = cookies::get(&parts.headers, cookies::IMPERSONATION)
            .and_then(|id| panel.sessions.impersonation(id))
            .filter(|i| i.session == session_id);
        Ok(Self {
            session_id: session_id.to_owned(),
            session,
            impersonation,
        })
    }
}

impl Operator {
    /// Refuses a form whose CSRF token is not this session's.
    fn check_csrf(&self, given: &str) -> Result<(), Refusal> {
        if same(given, &self.session.csrf) {
            Ok(())
        } else {
            Err(Refusal::Forbidden(
                "the form expired or came from another site: reload the page and try again",
            ))
        }
    }

    /// The impersonation that lets this operator act as `tenant` now.
    fn acting_as(&self, state: &AppState, tenant: Uuid) -> Result<&Impersonation, Refusal> {
        let impersonation = self.impersonation.as_ref().filter(|i| {
            if state.faults.has(Fault::ImpersonationSticky) {
                // FAULT(impersonation-sticky): any impersonation of this session opens any
                // tenant, and the time box is never checked.
                true
            } else {
                i.allows(&self.session_id, tenant, now())
            }
        });
        impersonation.ok_or(Refusal::Forbidden(
            "no active impersonation of this tenant: start one from the tenant list, with a reason",
        ))
    }

    /// The banner's impersonation: live ones only (every one, under the sticky fault).
    fn banner(&self, state: &AppState) -> Option<&Impersonation> {
        self.impersonation
            .as_ref()
            .filter(|i| state.faults.has(Fault::ImpersonationSticky) || i.expires_at > now())
    }

    /// Renders a panel page: `page`'s data plus what every page shows (the operator, the CSRF
    /// token, the impersonation banner).
    fn render(
        &self,
        state: &AppState,
        panel: &Panel,
        template: &str,
        page: serde_json::Value,
    ) -> Response {
        let mut context = json!({
            "operator": self.session.username,
            "csrf": self.session.csrf,
            "impersonation": self.banner(state),
        });
        if let (Some(context), serde_json::Value::Object(page)) = (context.as_object_mut(), page) {
            context.extend(page);
        }
        panel.templates.page(StatusCode::OK, template, context)
    }

    /// The checks every page of a tenant's data shares: the panel is on, the address names a
    /// tenant, and this operator impersonates it now.
    fn viewing<'a>(
        &'a self,
        state: &'a AppState,
        path: Result<Path<Uuid>, PathRejection>,
    ) -> Result<(&'a Panel, Uuid, &'a Impersonation), Refusal> {
        let panel = panel(state)?;
        let tenant = tenant_id(path)?;
        Ok((panel, tenant, self.acting_as(state, tenant)?))
    }

    /// Once the form's CSRF token checks out, ends this operator's impersonation (if any),
    /// logged like its start.
    async fn stop_impersonating<'s>(
        &self,
        state: &'s AppState,
        csrf: &str,
    ) -> Result<&'s Panel, Refusal> {
        self.check_csrf(csrf)?;
        let panel = panel(state)?;
        if let Some(impersonation) = &self.impersonation {
            panel.sessions.end(&impersonation.id);
            record_step(
                state,
                panel,
                impersonation,
                "admin.impersonation.end",
                &impersonation.reason,
            )
            .await?;
        }
        Ok(panel)
    }
}

fn tenant_id(path: Result<Path<Uuid>, PathRejection>) -> Result<Uuid, Refusal> {
    path.map(|Path(id)| id)
        .map_err(|_| Refusal::Invalid("the tenant id in the address is not a UUID".into()))
}

fn reason(text: &str) -> Result<String, Refusal> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > REASON_MAX {
        return Err(Refusal::Invalid(format!(
            "a reason is required (1 to {REASON_MAX} characters): say why you need this tenant's data"
        )));
    }
    Ok(text.to_owned())
}

/// Writes one event to the impersonated tenant's audit log, inside the tenant's transaction.
async fn audit(
    tx: &mut PgConnection,
    impersonation: &Impersonation,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let mut detail = detail;
    if let Some(d) = detail.as_object_mut() {
        d.insert("admin".into(), json!(impersonation.admin));
        d.insert("reason".into(), json!(impersonation.reason));
        d.insert("expires_at".into(), json!(impersonation.expires_at));
        d.insert("escalated".into(), json!(impersonation.escalated));
    }
    sqlx::query(
        "INSERT INTO audit_events (tenant_id, actor, action, detail) VALUES ($1, $2, $3, $4)",
    )
    .bind(impersonation.tenant)
    .bind(format!("admin:{}", impersonation.admin))
    .bind(action)
    .bind(detail)
    .execute(tx)
    .await?;
    Ok(())
}

/// Records a step of an impersonation in the tenant's audit log and in the global admin log.
async fn record_step(
    state: &AppState,
    panel: &Panel,
    impersonation: &Impersonation,
    action: &'static str,
    reason: &str,
) -> Result<(), Refusal> {
    if state.faults.has(Fault::ImpersonationUnlogged) {
        // FAULT(impersonation-unlogged): the step leaves no trace, neither for the tenant nor in
        // the admin log.
        return Ok(());
    }
    let imp = impersonation.clone();
    let step_reason = reason.to_owned();
    state
        .db
        .for_tenant(Some(impersonation.tenant))
        .run(move |tx| {
            Box::pin(
                async move { audit(tx, &imp, action, json!({ "step_reason": step_reason })).await },
            )
        })
        .await?;
    panel
        .directory
        .log(
            &impersonation.admin,
            action,
            impersonation.tenant,
            reason,
            json!({ "expires_at": impersonation.expires_at }),
        )
        .await?;
    Ok(())
}

fn redirect_with(to: &str, cookies: impl IntoIterator<Item = String>) -> Response {
    let mut response = Redirect::to(to).into_response();
    for cookie in cookies {
        set_cookie(&mut response, cookie);
    }
    response
}

/// Appends a `Set-Cookie` header; a cookie that is not a valid header value is dropped.
fn set_cookie(response: &mut Response, cookie: String) {
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

pub async fn home(_: Operator) -> Redirect {
    Redirect::to("/panel/tenants")
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

fn login_page(panel: &Panel, failed: bool) -> Response {
    let token = super::sessions::random_id();
    let mut response = panel.templates.page(
        if failed {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        },
        "login.html",
        json!({ "login_csrf": token, "failed": failed }),
    );
    let cookie = cookies::set(cookies::LOGIN_CSRF, &token, panel.config.secure_cookies);
    set_cookie(&mut response, cookie);
    response
}

pub async fn login_form(State(state): State<AppState>) -> Result<Response, Refusal> {
    Ok(login_page(panel(&state)?, false))
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, Refusal> {
    let panel = panel(&state)?;
    // Double submit: the form's token must equal the cookie this browser got with the form, which
    // another site can neither read nor set.
    let cookie = cookies::get(&headers, cookies::LOGIN_CSRF).unwrap_or_default();
    if cookie.is_empty() || !same(cookie, &form.csrf) {
        return Err(Refusal::Forbidden(
            "the login form expired: reload the login page and try again",
        ));
    }
    let user_ok = same(&form.username, &panel.config.username);
    let password_ok = same(&form.password, panel.config.password.expose_secret());
    if !(user_ok && password_ok) {
        tracing::warn!("panel login refused");
        return Ok(login_page(panel, true));
    }
    let session = panel.sessions.login(&panel.config.username, now());
    tracing::info!(admin = %panel.config.username, "panel login");
    let secure = panel.config.secure_cookies;
    Ok(redirect_with(
        "/panel/tenants",
        [
            cookies::set(cookies::SESSION, &session, secure),
            cookies::clear(cookies::LOGIN_CSRF, secure),
        ],
    ))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    operator: Operator,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    let panel = operator.stop_impersonating(&state, &form.csrf).await?;
    panel.sessions.logout(&operator.session_id);
    let secure = panel.config.secure_cookies;
    Ok(redirect_with(
        "/panel/login",
        [
            cookies::clear(cookies::SESSION, secure),
            cookies::clear(cookies::IMPERSONATION, secure),
        ],
    ))
}

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub async fn tenants(
    State(state): State<AppState>,
    operator: Operator,
    Query(search): Query<Search>,
) -> Result<Response, Refusal> {
    let panel = panel(&state)?;
    let query = search.q.trim();
    let tenants = panel.directory.search(query).await?;
    Ok(operator.render(
        &state,
        panel,
        "tenants.html",
        json!({
            "tenants": tenants,
            "query": query,
            "ttl_minutes": panel.config.impersonation_ttl.as_secs().div_ceil(60),
        }),
    ))
}

#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

impl ReasonForm {
    /// The checks every reasoned step shares: the session's CSRF token, the tenant id in the
    /// address and a non-blank reason. Returns the panel, the tenant and the reason.
    fn checked<'s>(
        &self,
        state: &'s AppState,
        operator: &Operator,
        path: Result<Path<Uuid>, PathRejection>,
    ) -> Result<(&'s Panel, Uuid, String), Refusal> {
        operator.check_csrf(&self.csrf)?;
        let panel = panel(state)?;
        let tenant = tenant_id(path)?;
        Ok((panel, tenant, reason(&self.reason)?))
    }
}

pub async fn impersonate(
    State(state): State<AppState>,
    operator: Operator,
    path: Result<Path<Uuid>, PathRejection>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, Refusal> {
    let (panel, tenant, reason) = form.checked(&state, &operator, path)?;
    let entry = panel
        .directory
        .tenant(tenant)
        .await?
        .ok_or(Refusal::Failed(ApiError::NotFound("tenant")))?;
    let impersonation = panel.sessions.start(
        &operator.session_id,
        &operator.session.username,
        tenant,
        entry.name,
        entry.slug,
        reason.clone(),
        now(),
    );
    // No audit trail, no impersonation: a failed write ends it before the cookie is handed out.
    if let Err(e) = record_step(
        &state,
        panel,
        &impersonation,
        "admin.impersonation.start",
        &reason,
    )
    .await
    {
        panel.sessions.end(&impersonation.id);
        return Err(e);
    }
    tracing::info!(admin = %impersonation.admin, tenant_id = %tenant, "impersonation started");
    Ok(redirect_with(
        &format!("/panel/tenants/{tenant}"),
        [cookies::set(
            cookies::IMPERSONATION,
            &impersonation.id,
            panel.config.secure_cookies,
        )],
    ))
}

#[derive(Serialize, sqlx::FromRow)]
struct ProjectRow {
    id: Uuid,
    name: String,
    status: String,
}

#[derive(Serialize, sqlx::FromRow)]
struct TaskRow {
    project_id: Uuid,
    title: String,
    done: bool,
}

#[derive(Serialize, sqlx::FromRow)]
struct UserRow {
    email: String,
    role: String,
}

#[derive(Serialize, sqlx::FromRow)]
struct AuditRow {
    actor: String,
    action: String,
    detail: serde_json::Value,
    created_at: DateTime<Utc>,
}

/// Runs `work` as the impersonated tenant, recording the page view in its audit log first.
async fn read_as<T: Send + 'static>(
    state: &AppState,
    impersonation: &Impersonation,
    tenant: Uuid,
    page: String,
    work: impl for<'c> FnOnce(
        &'c mut PgConnection,
    ) -> futures::future::BoxFuture<'c, Result<T, ApiError>>
    + Send
    + 'static,
) -> Result<T, Refusal> {
    let mut imp = impersonation.clone();
    // The path's tenant, which the checks made equal to the impersonation's (except under the
    // sticky fault, where this is exactly the damage: another tenant's trail and data).
    imp.tenant = tenant;
    let unlogged = state.faults.has(Fault::ImpersonationUnlogged);
    Ok(state
        .db
        .for_tenant(Some(tenant))
        .run(move |tx| {
            Box::pin(async move {
                if !unlogged {
                    audit(
                        &mut *tx,
                        &imp,
                        "admin.impersonation.view",
                        json!({ "page": page }),
                    )
                    .await?;
                }
                work(tx).await
            })
        })
        .await?)
}

pub async fn tenant(
    State(state): State<AppState>,
    operator: Operator,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Response, Refusal> {
    let (panel, tenant, impersonation) = operator.viewing(&state, path)?;
    let (projects, tasks, users) = read_as(
        &state,
        impersonation,
        tenant,
        format!("/panel/tenants/{tenant}"),
        |tx| {
            Box::pin(async move {
                let projects: Vec<ProjectRow> =
                    sqlx::query_as("SELECT id, name, status FROM projects ORDER BY created_at, id")
                        .fetch_all(&mut *tx)
                        .await?;
                let tasks: Vec<TaskRow> = sqlx::query_as(
                    "SELECT project_id, title, done FROM tasks ORDER BY created_at, id",
                )
                .fetch_all(&mut *tx)
                .await?;
                let users: Vec<UserRow> =
                    sqlx::query_as("SELECT email, role FROM users ORDER BY created_at, id")
                        .fetch_all(&mut *tx)
                        .await?;
                Ok((projects, tasks, users))
            })
        },
    )
    .await?;
    let projects: Vec<serde_json::Value> = projects
        .iter()
        .map(|p| {
            let own: Vec<&TaskRow> = tasks.iter().filter(|t| t.project_id == p.id).collect();
            json!({ "id": p.id, "name": p.name, "status": p.status, "tasks": own })
        })
        .collect();
    Ok(operator.render(
        &state,
        panel,
        "tenant.html",
        json!({ "projects": projects, "users": users }),
    ))
}

pub async fn audit_page(
    State(state): State<AppState>,
    operator: Operator,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Response, Refusal> {
    let (panel, tenant, impersonation) = operator.viewing(&state, path)?;
    let events: Vec<AuditRow> = read_as(
        &state,
        impersonation,
        tenant,
        format!("/panel/tenants/{tenant}/audit"),
        |tx| {
            Box::pin(async move {
                Ok(sqlx::query_as(
                    "SELECT actor, action, detail, created_at FROM audit_events \
                     ORDER BY created_at DESC, id LIMIT 200",
                )
                .fetch_all(tx)
                .await?)
            })
        },
    )
    .await?;
    Ok(operator.render(&state, panel, "audit.html", json!({ "events": events })))
}

pub async fn escalate(
    State(state): State<AppState>,
    operator: Operator,
    path: Result<Path<Uuid>, PathRejection>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, Refusal> {
    let (panel, tenant, reason) = form.checked(&state, &operator, path)?;
    let mut impersonation = operator.acting_as(&state, tenant)?.clone();
    impersonation.escalated = true;
    record_step(
        &state,
        panel,
        &impersonation,
        "admin.impersonation.escalate",
        &reason,
    )
    .await?;
    panel.sessions.escalate(&impersonation.id);
    tracing::warn!(admin = %impersonation.admin, tenant_id = %tenant, "impersonation escalated to writes");
    Ok(Redirect::to(&format!("/panel/tenants/{tenant}")).into_response())
}

pub async fn archive_project(
    State(state): State<AppState>,
    operator: Operator,
    path: Result<Path<(Uuid, Uuid)>, PathRejection>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    operator.check_csrf(&form.csrf)?;
    let Ok(Path((tenant, project))) = path else {
        return Err(Refusal::Invalid(
            "the ids in the address are not UUIDs".into(),
        ));
    };
    let impersonation = operator.acting_as(&state, tenant)?;
    if !impersonation.escalated {
        return Err(Refusal::Forbidden(
            "this impersonation is read-only: allow writes first (a separate, logged step)",
        ));
    }
    let archived = read_as(
        &state,
        impersonation,
        tenant,
        format!("/panel/tenants/{tenant}/projects/{project}/archive"),
        move |tx| {
            Box::pin(async move {
                Ok(
                    sqlx::query("UPDATE projects SET status = 'archived' WHERE id = $1")
                        .bind(project)
                        .execute(tx)
                        .await?
                        .rows_affected(),
                )
            })
        },
    )
    .await?;
    if archived == 0 {
        return Err(Refusal::Failed(ApiError::NotFound("project")));
    }
    Ok(Redirect::to(&format!("/panel/tenants/{tenant}")).into_response())
}

pub async fn end_impersonation(
    State(state): State<AppState>,
    operator: Operator,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    let panel = operator.stop_impersonating(&state, &form.csrf).await?;
    Ok(redirect_with(
        "/panel/tenants",
        [cookies::clear(
            cookies::IMPERSONATION,
            panel.config.secure_cookies,
        )],
    ))
}

pub async fn admin_log(
    State(state): State<AppState>,
    operator: Operator,
) -> Result<Response, Refusal> {
    let panel = panel(&state)?;
    let entries = panel.directory.recent_log(100).await?;
    Ok(operator.render(
        &state,
        panel,
        "admin_log.html",
        json!({ "entries": entries }),
    ))
}
