//! `attack admin`: proves that an admin panel's impersonation is safe (`check`, `AdminOutcome`).
//! Operator-only routes refuse anonymous callers and tenant tokens; an impersonation of tenant A
//! leaves A's audit trail carrying the reason (and B's not), never opens tenant B, and ends with
//! its time box. Drives the panel like a browser (`panel`), reads the trail back over SQL.

mod panel;
mod rules;

use std::time::{Duration, Instant};

use reqwest::header;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

pub use crate::spec::admin::{AdminSpec, AuditQuery, MAX_TIME_BOX};
pub use panel::{PanelClient, hidden_value};
pub use rules::*;

use crate::finding::Finding;
use crate::spec::{Spec, Values};
use crate::target::{Env, HttpTarget, Tenant};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot reach the admin panel at `{url}`: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("{0}")]
    Precondition(String),
    #[error("cannot read the audit trail back over `{variable}`: {cause}")]
    Audit { variable: String, cause: String },
}

impl From<AdminError> for crate::Error {
    /// An admin panel that does not answer is unreachable (exit 3); the rest stops the run (2).
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Unreachable { url, cause } => Self::unreachable(
                "the admin panel",
                url,
                "the spec's [admin] base_url_env (or [api]'s) or --base-url",
                cause,
            ),
            e => Self::failed(e),
        }
    }
}

/// The resolved `[admin]` section.
pub struct AdminTarget {
    pub base_url: String,
    pub username: String,
    pub password: SecretString,
    pub spec: AdminSpec,
    /// The `[database]` connection the audit trail is read back over, and its variable.
    pub database_url: SecretString,
    pub database_env: String,
    pub limits: crate::session::SessionLimits,
}

impl AdminTarget {
    pub fn resolve(spec: &Spec, env: Env<'_>) -> Result<Self, crate::Error> {
        let admin = spec
            .admin
            .clone()
            .ok_or(crate::Error::MissingSection("admin"))?;
        let base_env = match &admin.base_url_env {
            Some(name) => name.clone(),
            None => spec
                .api
                .as_ref()
                .map(|a| a.base_url_env.clone())
                .ok_or(crate::Error::MissingSection("api"))?,
        };
        let var = |name: &str| env(name).ok_or_else(|| crate::Error::MissingVariable(name.into()));
        let database = spec
            .database
            .as_ref()
            .ok_or(crate::Error::MissingSection("database"))?;
        Ok(Self {
            base_url: var(&base_env)?,
            username: var(&admin.username_env)?,
            password: SecretString::from(var(&admin.password_env)?),
            database_url: SecretString::from(var(&database.url_env)?),
            database_env: database.url_env.clone(),
            limits: database.limits(),
            spec: admin,
        })
    }
}

/// What one run examined and found.
#[derive(Debug, Default)]
pub struct AdminOutcome {
    pub findings: Vec<Finding>,
    /// One line per check that ran, with its verdict.
    pub examined: Vec<String>,
    /// Checks that could not run, and why (never silently green).
    pub skipped: Vec<String>,
    pub requests: u32,
}

fn tenant_values(tenant: &Tenant) -> Values {
    [
        ("tenant_id".to_owned(), tenant.tenant_id.clone()),
        ("slug".to_owned(), tenant.slug.clone()),
        ("id".to_owned(), tenant.tenant_id.clone()),
        ("parent_id".to_owned(), tenant.tenant_id.clone()),
    ]
    .into()
}

fn render(template: &crate::spec::PathTemplate, tenant: &Tenant) -> Result<String, AdminError> {
    template
        .render(&tenant_values(tenant))
        .map_err(|e| AdminError::Precondition(format!("admin path `{}`: {e}", template.1)))
}

/// Runs every check with tenants `a` (impersonated) and `b` (the other one).
pub async fn check(
    target: &AdminTarget,
    api: &HttpTarget,
    a: &Tenant,
    b: &Tenant,
) -> Result<AdminOutcome, AdminError> {
    let spec = &target.spec;
    let mut outcome = AdminOutcome::default();
    closed_routes(target, api, a, &mut outcome).await?;

    // Log in like a browser: the form first (its cookie and CSRF token), then the POST.
    let mut panel = PanelClient::new(&target.base_url)?;
    let form = panel.get(&spec.login).await?;
    let mut fields = vec![
        (spec.username_field.as_str(), target.username.clone()),
        (
            spec.password_field.as_str(),
            target.password.expose_secret().to_owned(),
        ),
    ];
    if !spec.csrf_field.is_empty() {
        fields.push((
            spec.csrf_field.as_str(),
            hidden_value(&form.body, &spec.csrf_field).unwrap_or_default(),
        ));
    }
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    panel.post_form(&spec.login, &pairs).await?;
    let forms = panel.get(&spec.forms_page).await?;
    if !forms.served() {
        return Err(AdminError::Precondition(format!(
            "cannot log in to the admin panel: after POST `{}`, `{}` answered {} — check the \
             credentials in `{}` / `{}` and the login field names",
            spec.login, spec.forms_page, forms.status, spec.username_env, spec.password_env
        )));
    }
    let csrf = if spec.csrf_field.is_empty() {
        String::new()
    } else {
        hidden_value(&forms.body, &spec.csrf_field).ok_or_else(|| {
            AdminError::Precondition(format!(
                "`{}` carries no `{}` field: set `csrf_field` (\"\" when the panel has none)",
                spec.forms_page, spec.csrf_field
            ))
        })?
    };

    // Impersonate A with a reason nobody else could write.
    let reason = format!(
        "tenantprobe admin check {} {}",
        a.marker,
        uuid::Uuid::new_v4().simple()
    );
    let start_path = render(&spec.impersonate, a)?;
    let mut start_fields = vec![(spec.reason_field.as_str(), reason.as_str())];
    if !spec.csrf_field.is_empty() {
        start_fields.push((spec.csrf_field.as_str(), csrf.as_str()));
    }
    let started = Instant::now();
    let start = panel.post_form(&start_path, &start_fields).await?;
    let view_a = render(&spec.view, a)?;
    let page_a = panel.get(&view_a).await?;
    if !(start.status < 400 && page_a.served()) {
        return Err(AdminError::Precondition(format!(
            "impersonating `{}` did not open its page: POST `{start_path}` answered {}, then \
             GET `{view_a}` answered {} — check `impersonate`, `reason_field` and `view`",
            a.slug, start.status, page_a.status
        )));
    }
    let exchange = format!(
        "POST {} (log in as `{}`)\nPOST {start_path} {}={reason:?}\nGET {view_a} → {}",
        spec.login, target.username, spec.reason_field, page_a.status
    );

    audit_trail(target, a, b, &reason, &exchange, &mut outcome).await?;

    // The same cookies, another tenant's page.
    let view_b = render(&spec.view, b)?;
    let page_b = panel.get(&view_b).await?;
    let object = format!("GET {}", spec.view.1);
    if page_b.served() {
        let shows_b = page_b.body.contains(&b.marker) || page_b.body.contains(&b.tenant_id);
        outcome.findings.push(
            CROSSES_TENANTS
                .finding(
                    &object,
                    "",
                    format!(
                        "An impersonation of `{}` opened `{}`'s page ({}){}.",
                        a.slug,
                        b.slug,
                        page_b.status,
                        if shows_b {
                            ", which showed that tenant's data"
                        } else {
                            ""
                        }
                    ),
                )
                .with_evidence(format!(
                    "{exchange}\nGET {view_b} → {} (expected a refusal)",
                    page_b.status
                )),
        );
    }
    outcome.examined.push(format!(
        "impersonation of `{}` bound to it: `{}`'s page answered {}",
        a.slug, b.slug, page_b.status
    ));

    match spec.time_box {
        None => outcome.skipped.push(
            "expiry: the spec gives no `time_box`, so the time box was not checked".to_owned(),
        ),
        Some(time_box) if time_box > MAX_TIME_BOX => outcome.skipped.push(format!(
            "expiry: the time box ({}) is longer than tenantprobe waits ({}); configure a short \
             one on the target under test",
            humantime::format_duration(time_box),
            humantime::format_duration(MAX_TIME_BOX)
        )),
        Some(time_box) => {
            let deadline = started + time_box + Duration::from_secs(1);
            tokio::time::sleep_until(deadline.into()).await;
            let late = panel.get(&view_a).await?;
            if late.served() {
                outcome.findings.push(
                    OUTLIVES_TIME_BOX
                        .finding(&object, "", format!(
                            "The impersonation of `{}` still opened its page {} after it started (time box {}).",
                            a.slug,
                            humantime::format_duration(Duration::from_secs(started.elapsed().as_secs())),
                            humantime::format_duration(time_box)
                        ))
                        .with_evidence(format!("{exchange}\n(wait {} + 1s)\nGET {view_a} → {} (expected a refusal)", humantime::format_duration(time_box), late.status)),
                );
            }
            outcome.examined.push(format!(
                "expiry: after the time box `{}`'s page answered {}",
                a.slug, late.status
            ));
        }
    }
    outcome.requests += panel.requests;
    Ok(outcome)
}

/// Operator-only routes, asked anonymously and with tenant A's own credentials.
async fn closed_routes(
    target: &AdminTarget,
    api: &HttpTarget,
    a: &Tenant,
    outcome: &mut AdminOutcome,
) -> Result<(), AdminError> {
    let spec = &target.spec;
    if spec.routes.is_empty() {
        outcome.skipped.push(
            "admin routes: the spec lists no `routes`, so none was tried without operator credentials"
                .to_owned(),
        );
        return Ok(());
    }
    let mut tenant_headers = Vec::new();
    if let Some(token) = api.token_for(a) {
        tenant_headers.push((header::AUTHORIZATION, format!("Bearer {token}")));
    }
    if let Some(host) = api.host_for(&a.slug, &a.tenant_id) {
        tenant_headers.push((header::HOST, host));
    }
    for route in &spec.routes {
        let path = render(route, a)?;
        let object = format!("GET {}", route.1);
        let mut anonymous = PanelClient::new(&target.base_url)?;
        let answer = anonymous.get(&path).await?;
        if answer.served() {
            outcome.findings.push(
                OPEN_TO_ANONYMOUS
                    .finding(
                        &object,
                        "",
                        format!("GET {path} without credentials answered {}.", answer.status),
                    )
                    .with_evidence(format!("curl -i {}", anonymous.url(&path))),
            );
        }
        let mut tenant = PanelClient::new(&target.base_url)?;
        let as_tenant = tenant.get_with(&path, &tenant_headers).await?;
        if as_tenant.served() {
            outcome.findings.push(
                OPEN_TO_TENANT
                    .finding(
                        &object,
                        "",
                        format!(
                            "GET {path} with tenant `{}`'s own token answered {}.",
                            a.slug, as_tenant.status
                        ),
                    )
                    .with_evidence(format!(
                        "curl -i -H 'Authorization: Bearer <token of {}>' {}",
                        a.slug,
                        tenant.url(&path)
                    )),
            );
        }
        outcome.examined.push(format!(
            "{path}: anonymous {}, tenant token {}",
            answer.status, as_tenant.status
        ));
        outcome.requests += anonymous.requests + tenant.requests;
    }
    Ok(())
}

/// A's trail must carry the reason; B's must not.
async fn audit_trail(
    target: &AdminTarget,
    a: &Tenant,
    b: &Tenant,
    reason: &str,
    exchange: &str,
    outcome: &mut AdminOutcome,
) -> Result<(), AdminError> {
    let failed = |cause: String| AdminError::Audit {
        variable: target.database_env.clone(),
        cause,
    };
    let options = crate::sql::connect_options(target.database_url.expose_secret())
        .map(|o| target.limits.apply(o))
        .map_err(|e| failed(e.to_string()))?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(10),
        PgConnection::connect_with(&options),
    )
    .await
    .map_err(|_| failed("timed out connecting".into()))?
    .map_err(|e| failed(e.to_string()))?;
    let (sql, names) = target.spec.audit_query.0.to_sql();
    let trail = |tenant: &Tenant| {
        let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
        for _ in &names {
            query = query.bind(tenant.tenant_id.clone());
        }
        query
    };
    let rows_of = |rows: Vec<sqlx::postgres::PgRow>| -> Vec<String> {
        rows.iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .collect()
    };
    let in_a = rows_of(
        trail(a)
            .fetch_all(&mut conn)
            .await
            .map_err(|e| failed(e.to_string()))?,
    );
    let in_b = rows_of(
        trail(b)
            .fetch_all(&mut conn)
            .await
            .map_err(|e| failed(e.to_string()))?,
    );
    let _ = conn.close().await;
    let logged_a = in_a.iter().any(|r| r.contains(reason));
    let logged_b = in_b.iter().any(|r| r.contains(reason));
    if !logged_a || logged_b {
        let detail = if logged_b {
            format!(
                "The impersonation of `{}` was written to `{}`'s audit trail.",
                a.slug, b.slug
            )
        } else {
            format!(
                "After impersonating `{}` and opening its page, its audit trail ({} row(s)) did not carry the reason given.",
                a.slug,
                in_a.len()
            )
        };
        outcome.findings.push(
            UNLOGGED
                .finding(format!("POST {}", target.spec.impersonate.1), "", detail)
                .with_evidence(format!(
                    "{exchange}\n-- audit_query for {} (tenant {}): no row contains {reason:?}",
                    a.slug, a.tenant_id
                )),
        );
    }
    outcome.examined.push(format!(
        "audit trail: reason in `{}`'s trail {logged_a}, in `{}`'s {logged_b}",
        a.slug, b.slug
    ));
    Ok(())
}
