//! How an actor presents itself (`Presented`): credentials, host, headers, and where it names
//! another tenant. Tenant confusion goes only through the carriers the API has
//! (`HttpTarget::carriers`) and the body and query fields its spec names.

use std::collections::HashSet;

use super::super::ops::Actor;
use super::{Ctx, tag};
use crate::actor::Credentials;
use crate::oracle::TenantIdx;
use crate::spec::Carrier;
use crate::target::TestTenant;

pub(super) struct Presented {
    pub label: String,
    pub creds: Credentials,
    /// The tenant whose data it may see (`None`: nobody's).
    pub viewer: Option<TenantIdx>,
    /// The tenant named in paths (`{slug}`, `{tenant_id}`).
    pub path_tenant: TestTenant,
    /// Values of B the request itself names (echoing them is not a leak).
    pub supplied: HashSet<String>,
    /// Query parameters that name B.
    pub query: Vec<(String, String)>,
    /// JSON body fields that name B.
    pub body_tenant: Vec<(String, String)>,
}

impl Presented {
    /// A caller that is not A: it names B in paths and may see nobody's data.
    fn stranger(self, label: String, creds: Credentials, tb: &TestTenant) -> Self {
        Self {
            label,
            creds,
            viewer: None,
            path_tenant: tb.clone(),
            ..self
        }
    }

    /// The values of B's `fields` are the request's own input: echoing them is not a leak.
    fn supply(&mut self, fields: &[(String, String)]) {
        self.supplied
            .extend(fields.iter().map(|(_, value)| value.clone()));
    }
}

/// The value a tenant field carries: the tenant id, or the slug for names that say so (`slug`,
/// `org_slug`). Ids are what handlers that take a tenant from a field parse most often.
fn field_value(name: &str, tenant: &TestTenant) -> String {
    if name.to_ascii_lowercase().contains("slug") {
        tenant.slug.clone()
    } else {
        tenant.tenant_id.clone()
    }
}

/// The tenant fields `names`, each carrying B's value; `None` when the spec names none.
fn naming(names: &[String], tb: &TestTenant) -> Option<Vec<(String, String)>> {
    (!names.is_empty()).then(|| {
        names
            .iter()
            .map(|f| (f.clone(), field_value(f, tb)))
            .collect()
    })
}

/// How `actor` presents itself when A acts on B; `None` when the API offers that actor no way
/// in (no such carrier, no unsigned tokens).
pub(super) fn present(
    ctx: &Ctx<'_>,
    actor: Actor,
    a: TenantIdx,
    b: TenantIdx,
) -> Option<Presented> {
    let target = &ctx.client.target;
    let has = |c: Carrier| target.carriers.contains(&c);
    let (ta, tb) = (&ctx.tenants[a], &ctx.tenants[b]);
    let own = &ctx.identities[a];
    let unknown = TestTenant {
        slug: "tp-no-such-tenant".into(),
        tenant_id: uuid::Uuid::nil().to_string(),
        user_id: None,
        token: None,
        marker: String::new(),
    };
    let mut p = Presented {
        label: format!("tenant {}", tag(a)),
        creds: own.creds.clone(),
        viewer: Some(a),
        path_tenant: ta.clone(),
        supplied: HashSet::new(),
        query: Vec::new(),
        body_tenant: Vec::new(),
    };
    match actor {
        Actor::Tenant => {}
        Actor::Anonymous => {
            p = p.stranger("anonymous".into(), Credentials::default(), tb);
        }
        Actor::AnonymousOnVictimHost => {
            if !has(Carrier::Host) {
                return None;
            }
            let creds = Credentials {
                token: None,
                host: Some(target.host_for(&tb.slug, &tb.tenant_id)?),
                headers: target.tenant_headers(&tb.slug, &tb.tenant_id),
            };
            p = p.stranger(format!("anonymous on tenant {}'s host", tag(b)), creds, tb);
        }
        Actor::UnknownTenantHost => {
            if !has(Carrier::Host) && !has(Carrier::Path) {
                return None;
            }
            if has(Carrier::Host) {
                p.creds.host = Some(target.host_for(&unknown.slug, &unknown.tenant_id)?);
            }
            p.label = format!("tenant {} on an unknown tenant's host/path", tag(a));
            if has(Carrier::Path) {
                p.path_tenant = unknown;
            }
        }
        Actor::Forged | Actor::Unsigned => {
            let (token, shown) = match actor {
                Actor::Forged => (
                    target
                        .forged_token(tb)
                        .unwrap_or_else(|| "tenantprobe-forged-token".into()),
                    format!("$FORGED_TOKEN_{}", tag(b)),
                ),
                _ => (
                    target.unsigned_token(tb)?,
                    format!("$UNSIGNED_TOKEN_{}", tag(b)),
                ),
            };
            let kind = if actor == Actor::Forged {
                "forged"
            } else {
                "unsigned"
            };
            let creds = Credentials {
                token: Some((token, shown)),
                host: target.host_for(&tb.slug, &tb.tenant_id),
                headers: target.tenant_headers(&tb.slug, &tb.tenant_id),
            };
            p = p.stranger(
                format!("a {kind} token claiming tenant {}", tag(b)),
                creds,
                tb,
            );
        }
        Actor::VictimHost => {
            // A's token, B's tenant in the host and the path (those of the two the API has).
            if !has(Carrier::Host) && !has(Carrier::Path) {
                return None;
            }
            if has(Carrier::Host) {
                p.creds.host = target.host_for(&tb.slug, &tb.tenant_id).or(p.creds.host);
            }
            if has(Carrier::Path) {
                p.path_tenant = tb.clone();
            }
            p.label = format!("tenant {} on tenant {}'s host/path", tag(a), tag(b));
            p.supplied.extend([tb.slug.clone(), tb.tenant_id.clone()]);
        }
        Actor::VictimHeader => {
            if !has(Carrier::Header) {
                return None;
            }
            let headers = target.tenant_headers(&tb.slug, &tb.tenant_id);
            if headers.is_empty() {
                return None;
            }
            p.supply(&headers);
            p.creds.headers = headers;
            p.label = format!("tenant {} with tenant {}'s tenant header", tag(a), tag(b));
        }
        Actor::BodyTenant => {
            let fields = naming(&target.tenancy.body_fields, tb)?;
            p.supply(&fields);
            p.body_tenant = fields;
            p.label = format!("tenant {} naming tenant {} in the body", tag(a), tag(b));
        }
        Actor::QueryTenant => {
            let fields = naming(&target.tenancy.query_params, tb)?;
            p.supply(&fields);
            p.query = fields;
            p.label = format!("tenant {} naming tenant {} in the query", tag(a), tag(b));
        }
    }
    Some(p)
}
