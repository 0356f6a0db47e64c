//! The HTTP side of a target (`HttpTarget`): base URL, how to act as a tenant (tokens, hosts),
//! and the API's resources, resolved from the spec and the variables it names.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{Env, Tenant};
use crate::Error;
use crate::spec::{
    AuthSpec, Carrier, ClaimTemplate, HostTemplate, ResourceSpec, Spec, TenancySpec, Values,
};

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
    pub fn resolve(spec: &Spec, env: Env<'_>) -> Result<Self, Error> {
        let api = spec.api.as_ref().ok_or(Error::MissingSection("api"))?;
        let raw = env(&api.base_url_env)
            .ok_or_else(|| Error::MissingVariable(api.base_url_env.clone()))?;
        let base_url = reqwest::Url::parse(&raw).map_err(|e| Error::Invalid {
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
                    env(secret_env).ok_or_else(|| Error::MissingVariable(secret_env.clone()))?,
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

    fn claims(&self, tenant: &Tenant, tenant_id: &str) -> Option<serde_json::Map<String, Value>> {
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
    pub fn token_for(&self, tenant: &Tenant) -> Option<String> {
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
    pub fn forged_token(&self, tenant: &Tenant) -> Option<String> {
        let claims = self.claims(tenant, &tenant.tenant_id)?;
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"tenantprobe-forged-key-not-the-real-one"),
        )
        .ok()
    }

    /// An unsigned (`alg: none`) token claiming `tenant` (JWT targets only).
    pub fn unsigned_token(&self, tenant: &Tenant) -> Option<String> {
        let claims = self.claims(tenant, &tenant.tenant_id)?;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string());
        Some(format!("{header}.{payload}."))
    }
}
