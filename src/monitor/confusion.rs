//! Tenant confusion between the synthetic tenants, read-only: synthetic tenant `i`'s own token
//! while the request names another synthetic tenant through each carrier the API has (`[api.tenancy]`,
//! declared or inferred) — its subdomain, its path segment, its tenant header, and the query
//! parameters that name a tenant. The first top-level list must not serve the other's data.

use std::collections::HashSet;

use crate::actor::client::Credentials;
use crate::actor::values_for;
use crate::spec::{Carrier, Operation};

use super::MonitorError;
use super::checks::{Found, reachable};
use super::probe::{Actor, Probe};
use super::request::render;

/// One way of naming tenant `j` in `i`'s request, and how the finding describes it.
struct Attempt {
    /// Short name for the finding's key (`host` keeps the key `i@j` it always had).
    carrier: &'static str,
    creds: Credentials,
    /// Values the path is rendered with: `j`'s where the path carries the tenant, else `i`'s.
    as_owner_path: bool,
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    what: String,
}

/// As tenant `i`, every carrier naming each other synthetic tenant, on the first top-level list.
pub async fn tenant_confusion(probe: &Probe, i: usize) -> Result<Found, MonitorError> {
    let target = &probe.client.target;
    let resources = &target.resources;
    let tenant = &probe.tenants[i];
    let own = &probe.identities[i].creds;
    let mut found = Found::default();
    let Some((ri, endpoint)) = resources
        .iter()
        .enumerate()
        .find(|(_, r)| r.parent.is_none())
        .and_then(|(ri, r)| r.list.as_ref().map(|e| (ri, e)))
    else {
        return Ok(found);
    };
    let path_names_tenant = endpoint.path.0.uses("slug") || endpoint.path.0.uses("tenant_id");
    let mut ownership = probe.ownership.clone();
    for (j, owner) in probe.tenants.iter().enumerate().filter(|(j, _)| *j != i) {
        let mut attempts = Vec::new();
        for carrier in &probe.carriers {
            match carrier {
                Carrier::Host => {
                    if let Some(host) = target.host_for(&owner.slug, &owner.tenant_id) {
                        let mut creds = own.clone();
                        creds.host = Some(host);
                        attempts.push(Attempt {
                            carrier: "host",
                            creds,
                            as_owner_path: true,
                            headers: Vec::new(),
                            query: Vec::new(),
                            what: format!("on `{}`'s subdomain", owner.slug),
                        });
                    }
                }
                Carrier::Path if path_names_tenant => attempts.push(Attempt {
                    carrier: "path",
                    creds: own.clone(),
                    as_owner_path: true,
                    headers: Vec::new(),
                    query: Vec::new(),
                    what: format!("on `{}`'s path", owner.slug),
                }),
                Carrier::Header => {
                    if let Some(header) = &probe.tenancy.header {
                        let values = values_for(owner, "", None, None);
                        if let Ok(value) = header.value.render(&values) {
                            attempts.push(Attempt {
                                carrier: "header",
                                creds: own.clone(),
                                as_owner_path: false,
                                headers: vec![(header.name.clone(), value.clone())],
                                query: Vec::new(),
                                what: format!("with `{}: {value}`", header.name),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        // Query parameters are no carrier of their own: any API may honour a leftover one.
        for param in &probe.tenancy.query_params {
            let mut named = vec![owner.tenant_id.clone()];
            if owner.slug != owner.tenant_id {
                named.push(owner.slug.clone());
            }
            for value in named {
                attempts.push(Attempt {
                    carrier: "query",
                    creds: own.clone(),
                    as_owner_path: false,
                    headers: Vec::new(),
                    what: format!("with `?{param}={value}`"),
                    query: vec![(param.clone(), value)],
                });
            }
        }
        for attempt in attempts {
            let who = if attempt.as_owner_path { owner } else { tenant };
            let Ok(mut request) = render(endpoint, &values_for(who, "", None, None)) else {
                continue;
            };
            request =
                request.with_query(attempt.query.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            request.headers.extend(attempt.headers);
            let exchange = probe
                .send(
                    Actor::Tenant(i),
                    &attempt.creds,
                    &endpoint.method_for(Operation::List),
                    &request,
                    None,
                )
                .await
                .map_err(MonitorError::request(format!("as `{}`", tenant.slug)))?;
            // The tenant id or slug `i` put in the request comes back as an echo, not a leak.
            let supplied: HashSet<String> = attempt.query.iter().map(|(_, v)| v.clone()).collect();
            let leaked = ownership.foreign_in_text(&exchange.response, Some(i), &supplied);
            if exchange.is_success() && !leaked.is_empty() {
                let key = match attempt.carrier {
                    "host" => format!("{}@{}", tenant.slug, owner.slug),
                    carrier => format!("{}@{}:{carrier}", tenant.slug, owner.slug),
                };
                found.violations.push(reachable(
                    &format!("GET {}", endpoint.path.1),
                    &key,
                    format!(
                        "Synthetic tenant `{}`'s token {} listed {} and got `{}`'s data (value `{}`): the request's tenant name is trusted over the token.",
                        tenant.slug,
                        attempt.what,
                        resources[ri].name,
                        probe.tenants[j].slug,
                        leaked[0].value
                    ),
                    &exchange,
                    probe,
                ));
            }
        }
    }
    Ok(found)
}
