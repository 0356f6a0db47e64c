//! A spec resolved against the environment: the HTTP side (`HttpTarget`: base URL, how to act as
//! a tenant, hosts, resources) and the test tenants (`obtain_tenants`). URLs and secrets come from
//! the variables the spec names, read through a lookup so tests and `demo` can supply their own.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Column, Connection, PgConnection, Row};

use crate::spec::{
    AuthSpec, Carrier, ClaimTemplate, HostTemplate, ResourceSpec, Spec, TenancySpec, TenantsSpec,
    Values, render_json,
};

/// Reads an environment variable (or a stand-in for it).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as an `Env`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("the spec has no [{0}] section, which this command needs")]
    MissingSection(&'static str),
    #[error("{0} is not set (the spec names it)")]
    MissingVariable(String),
    #[error("{what} is invalid: {reason}")]
    Invalid { what: String, reason: String },
    #[error("cannot provision test tenants over `{variable}`")]
    Provision {
        variable: String,
        #[source]
        cause: sqlx::Error,
    },
    #[error("cannot provision test tenants through the API: {0}")]
    ProvisionApi(String),
}

/// How tenantprobe acts as a tenant over HTTP.
#[derive(Debug, Clone)]
pub enum Auth {
    Jwt {
        secret: SecretString,
        claims: BTreeMap<String, ClaimTemplate>,
        ttl: u64,
    },
    Static,
}

/// A tenant tenantprobe may act as.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub slug: String,
    pub tenant_id: String,
    pub user_id: Option<String>,
    /// A static token (from provisioning or the environment).
    pub token: Option<SecretString>,
    /// Text that identifies everything tenantprobe creates for this tenant.
    pub marker: String,
}

/// The HTTP side of a target.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub base_url: reqwest::Url,
    pub host: Option<HostTemplate>,
    pub foreign_status: Vec<u16>,
    pub auth: Auth,
    pub resources: Vec<ResourceSpec>,
    /// Where a request names its tenant (`ApiSpec::carriers`): what tenant confusion tries.
    pub carriers: Vec<Carrier>,
    /// The tenant header and the body/query field names that may name a tenant.
    pub tenancy: TenancySpec,
}

impl HttpTarget {
    pub fn resolve(spec: &Spec, env: Env<'_>) -> Result<Self, TargetError> {
        let api = spec
            .api
            .as_ref()
            .ok_or(TargetError::MissingSection("api"))?;
        let raw = env(&api.base_url_env)
            .ok_or_else(|| TargetError::MissingVariable(api.base_url_env.clone()))?;
        let base_url = reqwest::Url::parse(&raw).map_err(|e| TargetError::Invalid {
            what: api.base_url_env.clone(),
            reason: e.to_string(),
        })?;
        let auth = match &api.auth {
            AuthSpec::JwtHs256 {
                secret_env,
                claims,
                ttl_seconds,
            } => Auth::Jwt {
                secret: SecretString::from(
                    env(secret_env)
                        .ok_or_else(|| TargetError::MissingVariable(secret_env.clone()))?,
                ),
                claims: claims.clone(),
                ttl: *ttl_seconds,
            },
            AuthSpec::Static => Auth::Static,
        };
        Ok(Self {
            base_url,
            host: api.host.clone(),
            foreign_status: api.foreign_status.clone(),
            auth,
            resources: api.resources.clone(),
            carriers: api.carriers(),
            tenancy: api.tenancy.clone(),
        })
    }

    /// The headers that name `tenant` (`[api.tenancy] header`), when the API has one.
    pub fn tenant_headers(&self, slug: &str, tenant_id: &str) -> Vec<(String, String)> {
        let Some(header) = &self.tenancy.header else {
            return Vec::new();
        };
        let values: Values = [
            ("slug".to_owned(), slug.to_owned()),
            ("tenant_id".to_owned(), tenant_id.to_owned()),
        ]
        .into();
        header
            .value
            .render(&values)
            .map(|value| vec![(header.name.clone(), value)])
            .unwrap_or_default()
    }

    /// The URL for a path (which may carry a query).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url.as_str().trim_end_matches('/'), path)
    }

    /// The Host header that selects `tenant`, when the API uses subdomains.
    pub fn host_for(&self, slug: &str, tenant_id: &str) -> Option<String> {
        let host = self.host.as_ref()?;
        let values: Values = [
            ("slug".to_owned(), slug.to_owned()),
            ("tenant_id".to_owned(), tenant_id.to_owned()),
        ]
        .into();
        let name = host.render(&values).ok()?;
        Some(match self.base_url.port() {
            Some(port) => format!("{name}:{port}"),
            None => name,
        })
    }

    fn claims(
        &self,
        tenant: &TestTenant,
        tenant_id: &str,
    ) -> Option<serde_json::Map<String, Value>> {
        let Auth::Jwt { claims, ttl, .. } = &self.auth else {
            return None;
        };
        let values: Values = [
            ("tenant_id".to_owned(), tenant_id.to_owned()),
            (
                "user_id".to_owned(),
                tenant.user_id.clone().unwrap_or_default(),
            ),
            ("slug".to_owned(), tenant.slug.clone()),
        ]
        .into();
        let mut map = serde_json::Map::new();
        for (name, template) in claims {
            map.insert(name.clone(), Value::String(template.render(&values).ok()?));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        map.insert("exp".into(), Value::from(now + ttl));
        Some(map)
    }

    /// A valid token for `tenant`.
    pub fn token_for(&self, tenant: &TestTenant) -> Option<String> {
        match &self.auth {
            Auth::Jwt { secret, .. } => {
                let claims = self.claims(tenant, &tenant.tenant_id)?;
                jsonwebtoken::encode(
                    &Header::new(Algorithm::HS256),
                    &claims,
                    &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
                )
                .ok()
            }
            Auth::Static => tenant.token.as_ref().map(|t| t.expose_secret().to_owned()),
        }
    }

    /// A token claiming `tenant` signed with a key the target does not know (JWT targets only).
    pub fn forged_token(&self, tenant: &TestTenant) -> Option<String> {
        let claims = self.claims(tenant, &tenant.tenant_id)?;
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"tenantprobe-forged-key-not-the-real-one"),
        )
        .ok()
    }

    /// An unsigned (`alg: none`) token claiming `tenant` (JWT targets only).
    pub fn unsigned_token(&self, tenant: &TestTenant) -> Option<String> {
        let claims = self.claims(tenant, &tenant.tenant_id)?;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string());
        Some(format!("{header}.{payload}."))
    }
}

/// Gets (creating them if the spec says so, idempotently) a tenant for each slug.
pub async fn obtain_tenants(
    spec: &Spec,
    env: Env<'_>,
    slugs: &[String],
    http: &reqwest::Client,
    target: Option<&HttpTarget>,
) -> Result<Vec<TestTenant>, TargetError> {
    obtain(spec, env, slugs, http, target, true).await
}

/// Like `obtain_tenants`, but an SQL provisioning statement runs in a transaction that is rolled
/// back: for probes that must not write (`monitor run`), on tenants an earlier run created.
/// A tenant that did not exist comes back with an id nothing has, so its canaries are missing.
pub async fn lookup_tenants(
    spec: &Spec,
    env: Env<'_>,
    slugs: &[String],
    http: &reqwest::Client,
    target: Option<&HttpTarget>,
) -> Result<Vec<TestTenant>, TargetError> {
    obtain(spec, env, slugs, http, target, false).await
}

async fn obtain(
    spec: &Spec,
    env: Env<'_>,
    slugs: &[String],
    http: &reqwest::Client,
    target: Option<&HttpTarget>,
    commit: bool,
) -> Result<Vec<TestTenant>, TargetError> {
    let tenants = spec
        .tenants
        .as_ref()
        .ok_or(TargetError::MissingSection("tenants"))?;
    match tenants {
        TenantsSpec::Sql { url_env, statement } => {
            let url = env(url_env).ok_or_else(|| TargetError::MissingVariable(url_env.clone()))?;
            let limits = spec
                .database
                .as_ref()
                .map(|d| d.limits())
                .unwrap_or_default();
            let options = crate::sql::connect_options(&url)
                .map(|o| limits.apply(o))
                .map_err(|e| TargetError::Invalid {
                    what: url_env.clone(),
                    reason: e.to_string(),
                })?;
            let provision = |cause| TargetError::Provision {
                variable: url_env.clone(),
                cause,
            };
            let mut conn = PgConnection::connect_with(&options)
                .await
                .map_err(provision)?;
            let mut tx = conn.begin().await.map_err(provision)?;
            let (sql, names) = statement.0.to_sql();
            let mut out = Vec::new();
            for slug in slugs {
                let values = provision_values(slug);
                let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
                for name in &names {
                    query = query.bind(values.get(name).cloned().unwrap_or_default());
                }
                let row = query.fetch_one(&mut *tx).await.map_err(provision)?;
                let text = |column: &str| {
                    row.columns()
                        .iter()
                        .any(|c| c.name() == column)
                        .then(|| row.try_get::<Option<String>, _>(column).ok().flatten())
                        .flatten()
                };
                out.push(TestTenant {
                    slug: slug.clone(),
                    tenant_id: text("tenant_id").ok_or_else(|| TargetError::Invalid {
                        what: "[tenants] statement".into(),
                        reason: "it must return a `tenant_id` column (text)".into(),
                    })?,
                    user_id: text("user_id"),
                    token: text("token").map(SecretString::from),
                    marker: crate::synthetic::marker_for(slug),
                });
            }
            if commit {
                tx.commit().await.map_err(provision)?;
            } else {
                tx.rollback().await.map_err(provision)?;
            }
            let _ = conn.close().await;
            Ok(out)
        }
        TenantsSpec::Api {
            request,
            tenant_id,
            user_id,
            token,
        } => {
            let target = target.ok_or(TargetError::MissingSection("api"))?;
            let mut out = Vec::new();
            for slug in slugs {
                let values = provision_values(slug);
                let path = request
                    .path
                    .render(&values)
                    .map_err(|reason| TargetError::Invalid {
                        what: "[tenants] request path".into(),
                        reason,
                    })?;
                let body = request
                    .body
                    .as_ref()
                    .map(|b| render_json(&b.0, &values))
                    .transpose()
                    .map_err(|reason| TargetError::Invalid {
                        what: "[tenants] request body".into(),
                        reason,
                    })?;
                let method = reqwest::Method::from_bytes(
                    request
                        .method_for(crate::spec::Operation::Create)
                        .as_bytes(),
                )
                .unwrap_or(reqwest::Method::POST);
                let mut req = http.request(method, target.url(&path));
                if let Some(body) = body {
                    req = req.json(&body);
                }
                let response = req
                    .send()
                    .await
                    .map_err(|e| TargetError::ProvisionApi(e.to_string()))?;
                let status = response.status();
                let json: Value = response
                    .json()
                    .await
                    .map_err(|e| TargetError::ProvisionApi(e.to_string()))?;
                if !status.is_success() {
                    return Err(TargetError::ProvisionApi(format!("{status}: {json}")));
                }
                let at =
                    |pointer: &str| json.pointer(pointer).and_then(crate::attack::db::json_text);
                out.push(TestTenant {
                    slug: slug.clone(),
                    tenant_id: at(tenant_id).ok_or_else(|| {
                        TargetError::ProvisionApi(format!("no `{tenant_id}` in {json}"))
                    })?,
                    user_id: user_id.as_deref().and_then(at),
                    token: token.as_deref().and_then(at).map(SecretString::from),
                    marker: crate::synthetic::marker_for(slug),
                });
            }
            Ok(out)
        }
        TenantsSpec::Existing { tenants } => {
            // The listed tenants the caller named, when it named at least two of them; else every
            // listed tenant (an `attack http` run uses them all, not the first two).
            let named: Vec<_> = tenants.iter().filter(|t| slugs.contains(&t.slug)).collect();
            let chosen = if named.len() >= 2 {
                named
            } else {
                tenants.iter().collect()
            };
            let mut out = Vec::new();
            for t in chosen {
                let token = match &t.token_env {
                    Some(name) => Some(SecretString::from(
                        env(name).ok_or_else(|| TargetError::MissingVariable(name.clone()))?,
                    )),
                    None => None,
                };
                out.push(TestTenant {
                    slug: t.slug.clone(),
                    tenant_id: t.tenant_id.clone().unwrap_or_else(|| t.slug.clone()),
                    user_id: t.user_id.clone(),
                    token,
                    marker: crate::synthetic::marker_for(&t.slug),
                });
            }
            if out.len() < 2 {
                return Err(TargetError::Invalid {
                    what: "[tenants] existing".into(),
                    reason: "at least two tenants are needed".into(),
                });
            }
            Ok(out)
        }
    }
}

/// The placeholder values for provisioning `slug`: its name, an email and its marker.
fn provision_values(slug: &str) -> Values {
    let marker = crate::synthetic::marker_for(slug);
    [
        ("slug".to_owned(), slug.to_owned()),
        (
            "name".to_owned(),
            format!("tenantprobe synthetic {slug} {marker}"),
        ),
        (
            "email".to_owned(),
            format!("{slug}+{marker}@tenantprobe.invalid"),
        ),
        ("marker".to_owned(), marker),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: &str = r#"
name = "three"
[tenants]
provision = "existing"
tenants = [
    { slug = "alpha", tenant_id = "1" },
    { slug = "beta", tenant_id = "2" },
    { slug = "gamma", tenant_id = "3" },
]
"#;

    #[tokio::test]
    async fn every_listed_existing_tenant_is_used_unless_two_or_more_are_named() {
        let spec = Spec::parse(THREE, "three.toml").unwrap_or_else(|e| panic!("{e:?}"));
        let env = |_: &str| None;
        let http = reqwest::Client::new();
        let slugs = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let all = obtain_tenants(
            &spec,
            &env,
            &slugs(&["tenantprobe-attack-a", "tenantprobe-attack-b"]),
            &http,
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = all.iter().map(|t| t.tenant_id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        let named = obtain_tenants(&spec, &env, &slugs(&["gamma", "alpha"]), &http, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let slugs: Vec<&str> = named.iter().map(|t| t.slug.as_str()).collect();
        assert_eq!(slugs, ["alpha", "gamma"]);
    }
}
