//! Tenant resolution (`Tenant`, the extractor every tenant route takes).
//!
//! The tenant comes from a verified token; the Host's subdomain (`{slug}.{BASE_DOMAIN}`), when
//! there is one, must name the same tenant; and the token's user must be a member of it. An
//! unknown slug and a slug of another tenant answer the same 403, so the answer does not reveal
//! whether a tenant exists; without a valid token every tenant route answers 401, whatever the
//! Host. Requests to other host names (an IP address, a load balancer's name) resolve the tenant
//! from the token alone.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

use crate::cache::TenantCache;
use crate::db::TenantDb;
use crate::error::ApiError;
use crate::faults::Fault;
use crate::startup::AppState;

/// What the Host header says about the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostTenant {
    /// No subdomain tenancy: the base domain itself, or a host outside it.
    None,
    /// `{slug}.{BASE_DOMAIN}`.
    Slug(String),
}

/// Parses a Host header value (with or without port). Subdomains of the base domain must be one
/// valid slug label; anything unparseable is 400.
pub fn parse_host(host: &str, base_domain: &str) -> Result<HostTenant, ApiError> {
    let bad = || ApiError::BadRequest("invalid Host header".into());
    let authority: axum::http::uri::Authority = host.parse().map_err(|_| bad())?;
    let name = authority.host().trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return Err(bad());
    }
    if name == base_domain {
        return Ok(HostTenant::None);
    }
    match name
        .strip_suffix(base_domain)
        .and_then(|rest| rest.strip_suffix('.'))
    {
        Some(slug) if is_slug(slug) => Ok(HostTenant::Slug(slug.to_owned())),
        Some(_) => Err(bad()),
        None => Ok(HostTenant::None),
    }
}

/// `^[a-z0-9][a-z0-9-]{0,62}$`, the schema's rule for slugs.
pub fn is_slug(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// The resolved tenant of a request, with the only handles to its data.
pub struct Tenant {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The member's role, from the database (not from the token).
    pub role: String,
    pub db: TenantDb,
    pub cache: TenantCache,
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let tenant = resolve(parts, state).await?;
        tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
        Ok(tenant)
    }
}

async fn resolve(parts: &Parts, state: &AppState) -> Result<Tenant, ApiError> {
    let faults = &state.faults;
    let host = host_of(parts)
        .map(|h| parse_host(h, &state.base_domain))
        .transpose()?
        .unwrap_or(HostTenant::None);
    let Some(token) = bearer(parts)? else {
        if faults.has(Fault::SessionContextLeak) {
            // FAULT(session-context-leak): a request without credentials is served "publicly"
            // instead of refused, on whatever tenant its pooled connection last had.
            return Ok(Tenant {
                id: Uuid::nil(),
                user_id: Uuid::nil(),
                role: "anonymous".into(),
                db: state.db.for_tenant(None),
                cache: state.cache.for_tenant(None),
            });
        }
        return Err(ApiError::Unauthorized);
    };
    let claims = state.verifier.verify(token)?;
    // The token's tenant pays for the request before any database work, so a throttled request
    // costs no connection. FAULT(no-tenant-limits): skipped, one tenant may send as much as it likes.
    if !faults.has(Fault::NoTenantLimits) {
        state.limiter.check(claims.tenant_id)?;
    }
    let mut tenant = claims.tenant_id;

    if let HostTenant::Slug(slug) = &host {
        let host_tenant = state
            .db
            .tenant_for_slug(Some(claims.tenant_id), slug)
            .await?;
        if faults.has(Fault::SubdomainTrust) {
            // FAULT(subdomain-trust): the naive middleware: the subdomain decides the tenant and
            // the token only proves that *some* user signed in.
            tenant = host_tenant.ok_or(ApiError::Forbidden)?;
        } else if host_tenant != Some(claims.tenant_id) {
            return Err(ApiError::Forbidden);
        }
    }

    // Membership: the token's user must exist in the token's tenant (read under that tenant's RLS).
    let user = claims.sub;
    let role: Option<String> = state
        .db
        .for_tenant(Some(claims.tenant_id))
        .run(move |tx| {
            Box::pin(async move {
                Ok(sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
                    .bind(user)
                    .fetch_optional(tx)
                    .await?)
            })
        })
        .await?;
    let role = role.ok_or(ApiError::Forbidden)?;

    if faults.has(Fault::DebugTenantParam)
        && let Some(value) = query_param(&parts.uri, "tenant")
    {
        // FAULT(debug-tenant-param): a debugging shortcut left in: `?tenant=<id or slug>` switches
        // the tenant after authentication.
        tenant = match value.parse::<Uuid>() {
            Ok(id) => id,
            Err(_) => state
                .db
                .tenant_for_slug(Some(claims.tenant_id), &value)
                .await?
                .ok_or(ApiError::Forbidden)?,
        };
    }
    if let Some(BodyTenant(id)) = parts.extensions.get::<BodyTenant>() {
        tenant = *id;
    }

    Ok(Tenant {
        id: tenant,
        user_id: claims.sub,
        role,
        db: state.db.for_tenant(Some(tenant)),
        cache: state.cache.for_tenant(Some(tenant)),
    })
}

fn host_of(parts: &Parts) -> Option<&str> {
    match parts.headers.get(header::HOST) {
        Some(value) => Some(value.to_str().unwrap_or("\u{0}")),
        None => parts.uri.authority().map(|a| a.as_str()),
    }
}

/// The bearer token, if any; a malformed Authorization header is 401.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::Unauthorized)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized);
    }
    Ok(Some(token.trim()))
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The tenant a JSON body named, under the `body-tenant-override` fault.
#[derive(Debug, Clone, Copy)]
struct BodyTenant(Uuid);

/// FAULT(body-tenant-override): a middleware that peeks into JSON bodies and lets a `tenant_id`
/// field switch the tenant context ("so admins can act for a sub-account"). A pass-through
/// while the fault is off.
pub async fn body_tenant_override(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if !state.faults.has(Fault::BodyTenantOverride) {
        return Ok(next.run(request).await);
    }
    let (mut parts, body) = request.into_parts();
    let bytes = to_bytes(body, state.body_limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let named = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("tenant_id")
                .and_then(|t| t.as_str())
                .and_then(|t| t.parse::<Uuid>().ok())
        });
    if let Some(tenant) = named {
        parts.extensions.insert(BodyTenant(tenant));
    }
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_resolve_to_a_slug_or_to_no_subdomain() {
        let base = "app.test";
        assert_eq!(
            parse_host("acme.app.test", base).unwrap(),
            HostTenant::Slug("acme".into())
        );
        assert_eq!(
            parse_host("ACME.App.Test:8080", base).unwrap(),
            HostTenant::Slug("acme".into())
        );
        assert_eq!(
            parse_host("acme.app.test.", base).unwrap(),
            HostTenant::Slug("acme".into())
        );
        assert_eq!(parse_host("app.test", base).unwrap(), HostTenant::None);
        assert_eq!(
            parse_host("127.0.0.1:3000", base).unwrap(),
            HostTenant::None
        );
        assert_eq!(parse_host("[::1]:3000", base).unwrap(), HostTenant::None);
        assert_eq!(parse_host("evilapp.test", base).unwrap(), HostTenant::None);
    }

    #[test]
    fn garbage_hosts_are_bad_requests() {
        for host in [
            "",
            "a.b.app.test",
            "-x.app.test",
            "x_y.app.test",
            "a b",
            "ac/me.app.test",
            ".app.test",
            "é.app.test",
        ] {
            assert!(
                matches!(parse_host(host, "app.test"), Err(ApiError::BadRequest(_))),
                "{host:?}"
            );
        }
    }
}
