//! `[admin]` in the target spec (`AdminSpec`): how to log in to an admin panel, start an
//! impersonation, open an impersonated tenant's page, read the audit trail back, and which routes
//! are for operators only. Documented in probes/README.md.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::spec::{PathTemplate, Template};

/// The admin panel of a target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSpec {
    /// The panel's base URL; default: the `[api]` one.
    pub base_url_env: Option<String>,
    /// Variables holding the operator's username and password.
    pub username_env: String,
    pub password_env: String,
    /// The login form: GET shows it (with its CSRF token), POST submits it.
    pub login: String,
    #[serde(default = "default_username_field")]
    pub username_field: String,
    #[serde(default = "default_password_field")]
    pub password_field: String,
    /// The hidden field that carries the CSRF token in every form; "" when the panel has none.
    #[serde(default = "default_csrf_field")]
    pub csrf_field: String,
    /// A page, once logged in, whose forms carry the session's CSRF token.
    pub forms_page: String,
    /// POST (a form with the reason) starts impersonating `{tenant_id}`.
    pub impersonate: PathTemplate,
    #[serde(default = "default_reason_field")]
    pub reason_field: String,
    /// A page that shows `{tenant_id}`'s data only while impersonating that tenant.
    pub view: PathTemplate,
    /// SQL over the `[database]` connection that returns `{tenant_id}`'s audit trail as rows of
    /// text (the reason tenantprobe gave must appear in the impersonated tenant's rows only).
    pub audit_query: AuditQuery,
    /// The deployment's impersonation time box; the expiry check waits this long (at most 60 s),
    /// so give the target a short one. Without it the expiry is not checked (and the report says
    /// so).
    #[serde(default, with = "crate::spec::humantime_serde_option")]
    pub time_box: Option<Duration>,
    /// Operator-only routes (GET) that neither a tenant's token nor an anonymous caller may reach.
    #[serde(default)]
    pub routes: Vec<PathTemplate>,
}

/// The longest time box the expiry check waits out.
pub const MAX_TIME_BOX: Duration = Duration::from_secs(60);

fn default_username_field() -> String {
    "username".into()
}
fn default_password_field() -> String {
    "password".into()
}
fn default_csrf_field() -> String {
    "csrf".into()
}
fn default_reason_field() -> String {
    "reason".into()
}

/// Audit read-back SQL: `{tenant_id}` (text), bound as a parameter.
#[derive(Debug, Clone)]
pub struct AuditQuery(pub Template);

impl<'de> Deserialize<'de> for AuditQuery {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let template = Template::parse(&text).map_err(serde::de::Error::custom)?;
        template
            .check(&["tenant_id"])
            .map_err(serde::de::Error::custom)?;
        Ok(Self(template))
    }
}
