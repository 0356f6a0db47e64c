//! Target specs (`Spec`, loaded from `probes/<name>.toml`): where a system's database, API and
//! Redis are (URLs come from environment variables the spec names, never from the spec), its
//! tenancy conventions, how to act as a tenant, its API resources, legal cache keys, the
//! monitor's schedule, and waivers. Documented field by field in `probes/README.md`.
//!
//! Values are checked while they are read, so every error names the file, line, column and field.
//! A field that may be left out is an `Option` (serde reads a missing one as `None`, no
//! `#[serde(default)]` needed) or has a `#[serde(default…)]`.

pub mod admin;
pub(crate) mod braces;
pub mod noisy;
pub mod schedule;
mod template;

use std::path::Path;

use serde::{Deserialize, Deserializer};

pub use template::{Template, Values, check_json, render_json};

use crate::sql::QualifiedName;
use crate::tenancy::Tenancy;

/// A spec that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct SpecError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The whole target spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    pub database: Option<DatabaseSpec>,
    pub tenants: Option<TenantsSpec>,
    pub api: Option<ApiSpec>,
    pub redis: Option<RedisSpec>,
    pub monitor: Option<MonitorSpec>,
    /// `[noisy]`: bounds and margins of `attack noisy`.
    pub noisy: Option<noisy::NoisySpec>,
    /// `[admin]`: the admin panel and its impersonation, checked by `attack admin`.
    pub admin: Option<admin::AdminSpec>,
    #[serde(default)]
    pub waivers: Vec<Waiver>,
}

/// `[database]`: the tenancy conventions and the observer connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    /// Variable holding the observer's URL: a role that can `SET ROLE` to the app role.
    #[serde(default = "default_database_env")]
    pub url_env: String,
    /// Empty when not given: `cache` only reads as the observer and needs none; the commands that
    /// act as the app role refuse to run without it.
    #[serde(default)]
    pub app_role: String,
    #[serde(default = "default_tenant_column")]
    pub tenant_column: String,
    #[serde(default = "default_tenant_setting")]
    pub tenant_setting: String,
    pub tenants_table: Option<String>,
    #[serde(default = "default_schemas")]
    pub schemas: Vec<String>,
    /// Longest statement of any tenantprobe session, e.g. `5s`.
    #[serde(default, with = "humantime_serde_option")]
    pub statement_timeout: Option<std::time::Duration>,
    /// Longest wait for a lock, e.g. `50ms`.
    #[serde(default, with = "humantime_serde_option")]
    pub lock_timeout: Option<std::time::Duration>,
    /// Longest idle time inside a transaction before the server ends the session, e.g. `10s`.
    #[serde(default, with = "humantime_serde_option")]
    pub idle_in_transaction_timeout: Option<std::time::Duration>,
    /// Functions `attack db` never calls (beyond the built-in list of functions with effects
    /// outside the transaction): `schema.name` or `name`, `*` as a wildcard.
    #[serde(default)]
    pub skip_functions: Vec<String>,
    /// Variable holding a URL that logs in as the app role through the application's connection
    /// pooler (PgBouncer in transaction mode): `attack db` then checks pooled connections too.
    pub pooler_url_env: Option<String>,
    /// Premium databases (database-per-tenant): a query run on this database that lists them,
    /// returning `tenant_id` and `database` (text), optionally `app_role` and `cleaned` (bool).
    /// `audit` and `attack db` then run on each, and `audit` checks where every tenant's data lives.
    pub placements_query: Option<String>,
}

impl DatabaseSpec {
    /// Session limits: the spec's, the defaults for what it leaves out.
    pub fn limits(&self) -> crate::session::SessionLimits {
        let default = crate::session::SessionLimits::default();
        crate::session::SessionLimits {
            statement: self.statement_timeout.unwrap_or(default.statement),
            lock: self.lock_timeout.unwrap_or(default.lock),
            idle_in_transaction: self
                .idle_in_transaction_timeout
                .unwrap_or(default.idle_in_transaction),
        }
    }

    pub fn tenancy(&self) -> Tenancy {
        Tenancy {
            tenant_column: self.tenant_column.clone(),
            tenant_setting: self.tenant_setting.clone(),
            app_role: self.app_role.clone(),
            tenants_table: self.tenants_table.as_deref().map(QualifiedName::parse),
            schemas: self.schemas.clone(),
        }
    }
}

fn default_database_env() -> String {
    "DATABASE_URL".into()
}
fn default_tenant_column() -> String {
    "tenant_id".into()
}
fn default_tenant_setting() -> String {
    "app.current_tenant".into()
}
fn default_schemas() -> Vec<String> {
    vec!["public".into()]
}

/// `[tenants]`: how tenantprobe gets test tenants of its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "provision", rename_all = "kebab-case")]
pub enum TenantsSpec {
    /// Runs `statement` once per tenant over the privileged connection in `url_env`; it must
    /// return `tenant_id` and `user_id` (and may return `token`). Must be idempotent.
    Sql {
        url_env: String,
        statement: SqlTemplate,
    },
    /// Calls the API (a signup endpoint); `tenant_id`, `user_id`, `token` are JSON pointers into
    /// the response.
    Api {
        request: Endpoint,
        tenant_id: String,
        user_id: Option<String>,
        token: Option<String>,
    },
    /// Tenants that already exist, with their credentials in environment variables.
    Existing { tenants: Vec<ExistingTenant> },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExistingTenant {
    pub slug: String,
    pub tenant_id: Option<String>,
    pub user_id: Option<String>,
    /// Variable holding this tenant's static bearer token.
    pub token_env: Option<String>,
}

/// `[api]`: the HTTP surface.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSpec {
    pub base_url_env: String,
    /// Host header that selects a tenant by subdomain, e.g. `{slug}.app.example.com`.
    pub host: Option<HostTemplate>,
    /// Statuses another tenant's id may answer; it must also answer exactly like a missing id.
    #[serde(default = "default_foreign_status")]
    pub foreign_status: Vec<u16>,
    pub auth: AuthSpec,
    /// How a request names its tenant: what tenant confusion is tried through.
    #[serde(default)]
    pub tenancy: TenancySpec,
    #[serde(default)]
    pub resources: Vec<ResourceSpec>,
}

/// `[api.tenancy]`: the places a request can name a tenant. Tenant confusion is tried only
/// through the carriers the API has, so an API without subdomains gets no host findings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancySpec {
    /// Which carriers select the tenant; `None` infers them from the spec (`host` when `[api].host`
    /// is set, `path` when a path uses `{slug}` or `{tenant_id}`, `claim` when a token claim does,
    /// `header` when `header` is set).
    pub carriers: Option<Vec<Carrier>>,
    /// A header that names the tenant, e.g. `{ name = "X-Tenant", value = "{slug}" }`.
    pub header: Option<TenantHeader>,
    /// JSON body fields that might switch the tenant when they name another one.
    #[serde(default = "default_tenant_fields")]
    pub body_fields: Vec<String>,
    /// Query parameters that might switch the tenant likewise.
    #[serde(default = "default_tenant_fields")]
    pub query_params: Vec<String>,
}

impl Default for TenancySpec {
    fn default() -> Self {
        Self {
            carriers: None,
            header: None,
            body_fields: default_tenant_fields(),
            query_params: default_tenant_fields(),
        }
    }
}

fn default_tenant_fields() -> Vec<String> {
    vec!["tenant_id".into(), "tenant".into()]
}

/// Where a request can carry its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Carrier {
    /// The Host header (subdomain).
    Host,
    /// A path segment (`{slug}` or `{tenant_id}` in a path).
    Path,
    /// A token claim.
    Claim,
    /// A request header (`[api.tenancy] header`).
    Header,
}

/// A request header that names the tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantHeader {
    pub name: String,
    pub value: HostTemplate,
}

impl ApiSpec {
    /// The tenant carriers this API has: declared, or inferred from the spec.
    pub fn carriers(&self) -> Vec<Carrier> {
        if let Some(declared) = &self.tenancy.carriers {
            return declared.clone();
        }
        let names_tenant = |t: &Template| t.uses("slug") || t.uses("tenant_id");
        let mut carriers = Vec::new();
        if self.host.is_some() {
            carriers.push(Carrier::Host);
        }
        let mut paths = self.resources.iter().flat_map(|r| {
            r.endpoints()
                .map(|(_, e)| e)
                .chain(r.search.iter())
                .chain(r.export.iter())
        });
        if paths.any(|e| names_tenant(&e.path.0)) {
            carriers.push(Carrier::Path);
        }
        if let AuthSpec::JwtHs256 { claims, .. } = &self.auth
            && claims.values().any(|c| names_tenant(&c.0))
        {
            carriers.push(Carrier::Claim);
        }
        if self.tenancy.header.is_some() {
            carriers.push(Carrier::Header);
        }
        carriers
    }
}

fn default_foreign_status() -> Vec<u16> {
    vec![404]
}

/// `[api.auth]`: how to act as a tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "scheme", rename_all = "kebab-case")]
pub enum AuthSpec {
    /// Mint HS256 tokens with the secret in `secret_env`; `claims` values are templates over
    /// `{tenant_id}`, `{user_id}`, `{slug}`; `exp` is added.
    JwtHs256 {
        secret_env: String,
        claims: std::collections::BTreeMap<String, ClaimTemplate>,
        #[serde(default = "default_ttl")]
        ttl_seconds: u64,
    },
    /// Each tenant's own static token (from `[tenants]`).
    Static,
}

fn default_ttl() -> u64 {
    3600
}

/// `[[api.resources]]`: one kind of tenant-owned object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    pub name: String,
    /// Another resource this one lives under (`{parent_id}` in its paths).
    pub parent: Option<toml::Spanned<String>>,
    /// JSON pointer to the id in a created or fetched object.
    #[serde(default = "default_id_pointer")]
    pub id: String,
    /// JSON pointer to the array in a list response ("" for a bare array).
    #[serde(default = "default_items_pointer")]
    pub items: String,
    pub list: Option<Endpoint>,
    pub create: Option<Endpoint>,
    pub get: Option<Endpoint>,
    pub update: Option<Endpoint>,
    pub delete: Option<Endpoint>,
    /// A list filtered by a query (GET): its `query` (or path) should use `{marker}`; searching
    /// for another tenant's marker must find nothing.
    pub search: Option<Endpoint>,
    /// An export of the tenant's data (GET, any format): its whole body is scanned for other
    /// tenants' values.
    pub export: Option<Endpoint>,
}

fn default_id_pointer() -> String {
    "/id".into()
}
fn default_items_pointer() -> String {
    "/items".into()
}

impl ResourceSpec {
    /// Its endpoints with the operation each performs.
    pub fn endpoints(&self) -> impl Iterator<Item = (Operation, &Endpoint)> {
        [
            (Operation::List, &self.list),
            (Operation::Create, &self.create),
            (Operation::Get, &self.get),
            (Operation::Update, &self.update),
            (Operation::Delete, &self.delete),
        ]
        .into_iter()
        .filter_map(|(op, e)| e.as_ref().map(|e| (op, e)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    List,
    Create,
    Get,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Create => "create",
            Self::Get => "get",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }

    fn default_method(self) -> &'static str {
        match self {
            Self::List | Self::Get => "GET",
            Self::Create => "POST",
            Self::Update => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// One HTTP request template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub method: Option<String>,
    pub path: PathTemplate,
    pub body: Option<BodyTemplate>,
    /// Query parameters, e.g. `{ q = "{marker}" }`; values use the body placeholders.
    #[serde(default)]
    pub query: std::collections::BTreeMap<String, ValueTemplate>,
    /// Extra request headers, e.g. `{ "X-Api-Version" = "2" }`; values use the body placeholders.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, ValueTemplate>,
}

impl Endpoint {
    pub fn method_for(&self, op: Operation) -> String {
        self.method
            .clone()
            .unwrap_or_else(|| op.default_method().to_owned())
            .to_ascii_uppercase()
    }
}

/// `[redis]`: where the cache is and which keys are legal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSpec {
    #[serde(default = "default_redis_env")]
    pub url_env: String,
    /// Patterns every tenant key must match, e.g. `tenant:{tenant_id:uuid}:*`.
    pub key_patterns: Vec<String>,
    /// Glob patterns of keys that are legitimately global (no tenant).
    #[serde(default)]
    pub global_keys: Vec<String>,
}

fn default_redis_env() -> String {
    "REDIS_URL".into()
}

/// `[monitor]`: the production probe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSpec {
    /// Cron line: 5 fields (as Kubernetes CronJob) or 6 with seconds; checked at load, so every
    /// command that reads the spec reports a bad line with its position.
    #[serde(deserialize_with = "cron_line")]
    pub schedule: String,
    /// Slugs of the synthetic tenants (at least two); they must not be real tenants.
    pub synthetic_tenants: Vec<String>,
    /// Timeout of each check, e.g. `10s`.
    #[serde(default = "default_check_timeout", with = "humantime_serde_compat")]
    pub check_timeout: std::time::Duration,
    /// Random delay before each cycle, e.g. `5s`.
    #[serde(default, with = "humantime_serde_compat")]
    pub jitter: std::time::Duration,
    /// Synthetic tenants (from `synthetic_tenants`) that live in a premium database of their own:
    /// each cycle checks their canaries there, and that none of their rows is elsewhere
    /// (`[database] placements_query` lists the databases).
    #[serde(default)]
    pub premium_tenants: Vec<String>,
}

fn default_check_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(10)
}

fn cron_line<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let line = String::deserialize(d)?;
    schedule::Schedule::parse(&line).map_err(serde::de::Error::custom)?;
    Ok(line)
}

/// Durations as humantime strings (`10s`, `1m 30s`).
pub(crate) mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a duration: {e}")))
    }
}

/// Optional durations as humantime strings (`with` needs `default` beside it: a missing field is
/// `None`).
pub(crate) mod humantime_serde_option {
    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<std::time::Duration>, D::Error> {
        super::humantime_serde_compat::deserialize(d).map(Some)
    }
}

/// `[[waivers]]`: a finding accepted on purpose. Matched by fingerprint, or by rule and object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    pub fingerprint: Option<String>,
    pub rule: Option<String>,
    pub object: Option<String>,
    /// Mandatory: why this is acceptable.
    pub reason: Reason,
}

impl Waiver {
    pub fn matches(&self, finding: &crate::finding::Finding) -> bool {
        if let Some(fp) = &self.fingerprint {
            return *fp == finding.fingerprint;
        }
        // An object without a database covers it on every database (`database:object`).
        let on_any_database = |object: &str| {
            finding
                .object
                .strip_suffix(object)
                .is_some_and(|db| db.ends_with(':') && !db[..db.len() - 1].contains([':', ' ']))
        };
        // A waiver of the audit rule also covers the attack finding it explains (one cause).
        let rule = self.rule.as_deref();
        (rule == Some(finding.rule.as_str())
            || (rule.is_some() && rule == finding.cause.as_deref()))
            && self
                .object
                .as_deref()
                .is_some_and(|o| o == finding.object || on_any_database(o))
    }
}

macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub Template, pub String);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                let template = Template::parse(&text).map_err(serde::de::Error::custom)?;
                let check: fn(&Template) -> Result<(), String> = $check;
                check(&template).map_err(serde::de::Error::custom)?;
                Ok(Self(template, text))
            }
        }

        impl $name {
            pub fn render(&self, values: &Values) -> Result<String, String> {
                self.0.render(values)
            }
        }
    };
}

/// Placeholders a request path may use.
pub const PATH_VARS: &[&str] = &["id", "parent_id", "slug", "tenant_id"];
/// Placeholders a request body may use.
pub const BODY_VARS: &[&str] = &[
    "marker",
    "slug",
    "tenant_id",
    "user_id",
    "name",
    "email",
    "parent_id",
];

checked_string!(
    /// A request path: `{id}`, `{parent_id}`, `{slug}`, `{tenant_id}`.
    PathTemplate,
    |t| t.check(PATH_VARS)
);
checked_string!(
    /// A query parameter or header value: the body placeholders.
    ValueTemplate,
    |t| t.check(BODY_VARS)
);
checked_string!(
    /// A Host header: `{slug}`, `{tenant_id}`.
    HostTemplate,
    |t| t.check(&["slug", "tenant_id"])
);
checked_string!(
    /// A claim value: `{tenant_id}`, `{user_id}`, `{slug}`.
    ClaimTemplate,
    |t| t.check(&["tenant_id", "user_id", "slug"])
);
checked_string!(
    /// Provisioning SQL: `{slug}`, `{name}`, `{email}`, `{marker}`, each bound as a parameter.
    SqlTemplate,
    |t| t.check(&["slug", "name", "email", "marker"])
);

/// A JSON body template (a TOML table); strings may use the body placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyTemplate(pub serde_json::Value);

impl<'de> Deserialize<'de> for BodyTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        check_json(&value, BODY_VARS).map_err(serde::de::Error::custom)?;
        Ok(Self(value))
    }
}

/// A non-empty, non-blank reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(pub String);

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Err(serde::de::Error::custom(
                "a waiver needs a reason: say why this finding is acceptable",
            ));
        }
        Ok(Self(text.trim().to_owned()))
    }
}

impl Spec {
    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            origin: origin.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &origin)
    }

    /// Parses and validates spec text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, SpecError> {
        let at = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = span.map_or((0, 0), |s| line_column(text, s.start));
            SpecError {
                origin: origin.to_owned(),
                line,
                column,
                message,
            }
        };
        // Variable names first, before any other message could echo a value put in their place.
        let document = toml::de::DeTable::parse(text)
            .map_err(|e| at(e.span(), e.message().trim().to_owned()))?;
        if let Some((path, span)) = bad_env_name(document.get_ref(), "") {
            return Err(at(
                Some(span),
                format!(
                    "`{path}` must name an environment variable (letters, digits and `_`, not \
                     starting with a digit); the value is not shown, as it may be a URL or a secret"
                ),
            ));
        }
        let spec: Spec =
            toml::from_str(text).map_err(|e| at(e.span(), e.message().trim().to_owned()))?;
        if let Some(api) = &spec.api {
            for resource in &api.resources {
                if let Some(parent) = &resource.parent
                    && !api.resources.iter().any(|r| r.name == *parent.get_ref())
                {
                    return Err(at(
                        Some(parent.span()),
                        format!(
                            "api.resources `{}`: unknown parent `{}`",
                            resource.name,
                            parent.get_ref()
                        ),
                    ));
                }
            }
        }
        for (i, waiver) in spec.waivers.iter().enumerate() {
            if waiver.fingerprint.is_none() && (waiver.rule.is_none() || waiver.object.is_none()) {
                return Err(at(
                    None,
                    format!("waivers[{i}]: give a `fingerprint`, or a `rule` and an `object`"),
                ));
            }
        }
        if spec.monitor.is_some()
            && spec
                .database
                .as_ref()
                .is_some_and(|d| d.app_role.is_empty())
        {
            return Err(at(
                None,
                "database.app_role: the monitor acts as the app role, name it".into(),
            ));
        }
        if let Some(monitor) = &spec.monitor
            && monitor.synthetic_tenants.len() < 2
        {
            return Err(at(None, "monitor.synthetic_tenants: at least two are needed (each must be unable to see the other)".into()));
        }
        Ok(spec)
    }

    /// The `[database]` tenancy, or an error naming what is missing.
    pub fn tenancy(&self) -> Option<Tenancy> {
        self.database.as_ref().map(DatabaseSpec::tenancy)
    }
}

/// The first `*_env` field (at any depth) whose value is not a variable name, with its span.
/// Generic on purpose: a section added later with its own `*_env` field is checked too.
fn bad_env_name(
    table: &toml::de::DeTable<'_>,
    prefix: &str,
) -> Option<(String, std::ops::Range<usize>)> {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        if let Some(found) = bad_env_value(&path, value) {
            return Some(found);
        }
    }
    None
}

fn bad_env_value(
    path: &str,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
) -> Option<(String, std::ops::Range<usize>)> {
    match value.get_ref() {
        toml::de::DeValue::String(text) if path.ends_with("_env") && !is_env_name(text) => {
            Some((path.to_owned(), value.span()))
        }
        toml::de::DeValue::Table(table) => bad_env_name(table, path),
        toml::de::DeValue::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| bad_env_value(&format!("{path}[{i}]"), item)),
        _ => None,
    }
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`: what a shell accepts as a variable name.
pub fn is_env_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_reference_spec_is_valid() {
        let spec = Spec::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/probes/reference-app.toml"
        )))
        .unwrap();
        let api = spec.api.as_ref().unwrap();
        assert_eq!(api.resources.len(), 4);
        assert_eq!(spec.tenancy().unwrap(), Tenancy::reference());
        assert!(!spec.waivers.is_empty());
    }

    #[test]
    fn app_role_is_needed_only_by_the_commands_that_act_as_it() {
        let cache_only = "name = \"x\"\n[database]\ntenants_table = \"public.orgs\"\n";
        let spec = Spec::parse(cache_only, "probes/x.toml").unwrap();
        assert_eq!(spec.database.unwrap().app_role, "");
        let e = error(&format!(
            "{cache_only}[monitor]\nschedule = \"*/5 * * * *\"\nsynthetic_tenants = [\"a\", \"b\"]\n"
        ));
        assert!(e.contains("database.app_role"), "{e}");
    }

    fn error(text: &str) -> String {
        Spec::parse(text, "probes/x.toml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let e = error("name = \"x\"\n[database]\napp_role = \"app\"\ntenant_colum = \"t\"\n");
        assert!(
            e.starts_with("probes/x.toml:4:1: unknown field `tenant_colum`"),
            "{e}"
        );
        let e = error("name = \"x\"\n[[waivers]]\nrule = \"r\"\nobject = \"o\"\nreason = \"  \"\n");
        assert!(
            e.starts_with("probes/x.toml:5:10: a waiver needs a reason"),
            "{e}"
        );
        let e = error("name = \"x\"\n[[waivers]]\nrule = \"r\"\nobject = \"o\"\n");
        assert!(e.contains("missing field `reason`"), "{e}");
        let e = error(
            "name = \"x\"\n[api]\nbase_url_env = \"U\"\n[api.auth]\nscheme = \"static\"\n[[api.resources]]\nname = \"p\"\nget = { path = \"/p/{idd}\" }\n",
        );
        assert!(
            e.starts_with("probes/x.toml:8:16: unknown placeholder `{idd}`"),
            "{e}"
        );
        let e = error(
            "name = \"x\"\n[api]\nbase_url_env = \"U\"\n[api.auth]\nscheme = \"static\"\n[[api.resources]]\nname = \"t\"\nparent = \"nope\"\n",
        );
        assert!(
            e.starts_with("probes/x.toml:8:10: api.resources `t`: unknown parent `nope`"),
            "{e}"
        );
        let e = error(
            "name = \"x\"\n[monitor]\nschedule = \"* * * * *\"\nsynthetic_tenants = [\"a\"]\n",
        );
        assert!(e.contains("at least two"), "{e}");
        let e = error(
            "name = \"x\"\n[monitor]\nschedule = \"* * * * *\"\nsynthetic_tenants = [\"a\", \"b\"]\ncheck_timeout = \"soon\"\n",
        );
        assert!(e.contains("`soon` is not a duration"), "{e}");
        assert!(
            error("name = ").starts_with("probes/x.toml:1:"),
            "syntax errors carry a position"
        );
    }

    #[test]
    fn an_env_field_holding_a_value_is_rejected_without_echoing_it() {
        let secret = "postgres://app:Hunter2-secret@db.internal/app";
        for (text, at) in [
            (
                format!("name = \"x\"\n[database]\napp_role = \"a\"\nurl_env = \"{secret}\"\n"),
                "probes/x.toml:4:11: `database.url_env`",
            ),
            (
                format!(
                    "name = \"x\"\n[api]\nbase_url_env = \"U\"\n[api.auth]\nscheme = \"jwt-hs256\"\nsecret_env = \"{secret}\"\nclaims = {{}}\n"
                ),
                "probes/x.toml:6:14: `api.auth.secret_env`",
            ),
            (
                format!(
                    "name = \"x\"\n[tenants]\nprovision = \"existing\"\ntenants = [{{ slug = \"a\", token_env = \"A\" }}, {{ slug = \"b\", token_env = \"{secret}\" }}]\n"
                ),
                "`tenants.tenants[1].token_env`",
            ),
            (
                format!(
                    "name = \"x\"\n[redis]\nurl_env = \"1X\"\nkey_patterns = []\nfuture_thing_env = \"{secret}\"\n"
                ),
                "`redis.future_thing_env`",
            ),
        ] {
            let e = error(&text);
            assert!(e.contains(at), "{e}");
            assert!(e.contains("must name an environment variable"), "{e}");
            assert!(!e.contains("Hunter2") && !e.contains("db.internal"), "{e}");
        }
        let e = error("name = \"x\"\n[redis]\nurl_env = \"1X\"\nkey_patterns = []\n");
        assert!(e.starts_with("probes/x.toml:3:11: `redis.url_env`"), "{e}");
        assert!(is_env_name("_A1") && is_env_name("REDIS_URL"));
        assert!(!is_env_name("") && !is_env_name("9A") && !is_env_name("A-B"));
    }

    const API: &str = "name = \"x\"\n[api]\nbase_url_env = \"U\"\n";

    #[test]
    fn tenant_carriers_are_inferred_from_the_spec_unless_declared() {
        let jwt = "[api.auth]\nscheme = \"jwt-hs256\"\nsecret_env = \"S\"\nclaims = { org = \"{tenant_id}\", sub = \"{user_id}\" }\n";
        let spec = Spec::parse(&format!("{API}{jwt}"), "x.toml").unwrap();
        let api = spec.api.unwrap();
        assert_eq!(api.carriers(), [Carrier::Claim]);
        assert_eq!(api.tenancy.body_fields, ["tenant_id", "tenant"]);

        let hosted = format!(
            "{API}host = \"{{slug}}.example.test\"\n{jwt}[[api.resources]]\nname = \"r\"\nlist = {{ path = \"/t/{{slug}}/r\" }}\n"
        );
        let api = Spec::parse(&hosted, "x.toml").unwrap().api.unwrap();
        assert_eq!(
            api.carriers(),
            [Carrier::Host, Carrier::Path, Carrier::Claim]
        );

        let declared = format!(
            "{API}[api.auth]\nscheme = \"static\"\n[api.tenancy]\ncarriers = [\"header\"]\nheader = {{ name = \"X-Org\", value = \"{{slug}}\" }}\nbody_fields = [\"org_id\"]\nquery_params = []\n"
        );
        let api = Spec::parse(&declared, "x.toml").unwrap().api.unwrap();
        assert_eq!(api.carriers(), [Carrier::Header]);
        assert_eq!(api.tenancy.body_fields, ["org_id"]);
        assert!(api.tenancy.query_params.is_empty());
        assert_eq!(api.tenancy.header.unwrap().name, "X-Org");

        let e = error(&format!(
            "{API}[api.auth]\nscheme = \"static\"\n[api.tenancy]\ncarriers = [\"cookie\"]\n"
        ));
        assert!(e.contains("unknown variant `cookie`"), "{e}");
    }

    #[test]
    fn endpoints_take_query_and_header_templates_and_resources_search_and_export() {
        let text = format!(
            "{API}[api.auth]\nscheme = \"static\"\n[[api.resources]]\nname = \"ticket\"\nid = \"/data/id\"\nitems = \"/data\"\nsearch = {{ path = \"/v2/tickets\", query = {{ q = \"{{marker}}\", limit = \"50\" }}, headers = {{ \"X-Api-Version\" = \"2\" }} }}\nexport = {{ path = \"/v2/export\" }}\n"
        );
        let api = Spec::parse(&text, "x.toml").unwrap().api.unwrap();
        let search = api.resources[0].search.as_ref().unwrap();
        assert_eq!(search.query["q"].1, "{marker}");
        assert_eq!(search.headers["X-Api-Version"].1, "2");
        assert_eq!(
            api.resources[0].export.as_ref().unwrap().path.1,
            "/v2/export"
        );
        assert_eq!(
            api.resources[0].endpoints().count(),
            0,
            "search and export are reads of their own"
        );

        let e = error(&format!(
            "{API}[api.auth]\nscheme = \"static\"\n[[api.resources]]\nname = \"t\"\nsearch = {{ path = \"/s\", query = {{ q = \"{{needle}}\" }} }}\n"
        ));
        assert!(e.contains("unknown placeholder `{needle}`"), "{e}");
    }

    #[test]
    fn a_bad_cron_line_is_reported_at_load_with_its_position() {
        let e = error(
            "name = \"x\"\n[monitor]\nschedule = \"61 * * * *\"\nsynthetic_tenants = [\"a\", \"b\"]\n",
        );
        assert!(
            e.starts_with("probes/x.toml:3:12: schedule `61 * * * *` is not a valid cron line"),
            "{e}"
        );
        let e = error(
            "name = \"x\"\n[monitor]\nschedule = \"* * * *\"\nsynthetic_tenants = [\"a\", \"b\"]\n",
        );
        assert!(
            e.starts_with("probes/x.toml:3:12:") && e.contains("has 4 fields"),
            "{e}"
        );
    }
}
