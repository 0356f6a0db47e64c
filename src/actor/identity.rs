//! Who an actor is (`Identity`): its label in reproducers and its credentials (token, subdomain).
//! `identities` gives each test tenant its own, labelled A, B, C… so a reproducer never shows a
//! real token (`$TOKEN_A`).

use super::client::{Client, Credentials};
use crate::target::TestTenant;

/// A tenant's own way in: its token and subdomain.
#[derive(Debug, Clone)]
pub struct Identity {
    pub label: String,
    pub creds: Credentials,
}

/// A tenant for which the target gives no token, so it cannot act.
#[derive(Debug, thiserror::Error)]
#[error("cannot act as tenant `{0}`: no token (set the spec's [api.auth] or the tenant's token)")]
pub struct NoToken(pub String);

/// Each tenant's own way in: its token (shown as `$TOKEN_A`…) and its subdomain.
pub fn identities(client: &Client, tenants: &[TestTenant]) -> Result<Vec<Identity>, NoToken> {
    tenants
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let token = client
                .target
                .token_for(t)
                .ok_or_else(|| NoToken(t.slug.clone()))?;
            let tag = char::from(b'A' + u8::try_from(i % 26).unwrap_or(0));
            Ok(Identity {
                label: format!("tenant {tag}"),
                creds: Credentials {
                    token: Some((token, format!("$TOKEN_{tag}"))),
                    host: client.target.host_for(&t.slug, &t.tenant_id),
                    headers: client.target.tenant_headers(&t.slug, &t.tenant_id),
                },
            })
        })
        .collect()
}
