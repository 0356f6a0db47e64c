//! Search and export endpoints (`search`, `export` of a resource), read by each synthetic tenant:
//! searching for the other tenant's marker finds nothing of theirs, an export holds no foreign
//! value, and both do find the tenant's own canary (else the check saw nothing and says so).

use std::collections::HashSet;

use crate::actor::client::Exchange;
use crate::actor::values_for;
use crate::finding::Finding;
use crate::rules::RuleInfo;
use crate::spec::{Endpoint, Values};

use super::MonitorError;
use super::checks::Found;
use super::probe::{Actor, Canary, Probe};
use super::request::render;
use super::rules::{FOREIGN_EXPORT_DATA, FOREIGN_SEARCH_RESULT, OWN_CANARIES_MISSING};

/// Searches and exports of every resource that declares them, as synthetic tenant `i`.
pub async fn search_and_export(
    probe: &Probe,
    i: usize,
    canaries: &[Vec<Canary>],
) -> Result<Found, MonitorError> {
    let mut found = Found::default();
    for (ri, resource) in probe.client.target.resources.iter().enumerate() {
        // Only a resource whose canary `i` has can show whether the endpoint finds anything.
        let has_canary = canaries
            .get(i)
            .is_some_and(|own| own.iter().any(|c| c.resource == ri));
        if let Some(endpoint) = &resource.search {
            search(probe, i, ri, endpoint, has_canary, &mut found).await?;
        }
        if let Some(endpoint) = &resource.export {
            export(probe, i, endpoint, &resource.name, has_canary, &mut found).await?;
        }
    }
    Ok(found)
}

/// One GET of `endpoint` filled with `values`, as tenant `i`; a server error means the check could
/// not look.
async fn get(
    probe: &Probe,
    i: usize,
    endpoint: &Endpoint,
    values: &Values,
) -> Result<Exchange, MonitorError> {
    let request = render(endpoint, values).map_err(|reason| MonitorError::Render {
        object: format!("GET {}", endpoint.path.1),
        reason,
    })?;
    let exchange = probe
        .send(
            Actor::Tenant(i),
            &probe.identities[i].creds,
            "GET",
            &request,
            None,
        )
        .await
        .map_err(MonitorError::request(format!(
            "as `{}`",
            probe.tenants[i].slug
        )))?;
    if exchange.status >= 500 {
        return Err(MonitorError::Refused(format!(
            "GET {request} answered {}",
            exchange.status
        )));
    }
    Ok(exchange)
}

/// Searching for each tenant's marker as `i`: its own finds its canary, another's finds no item
/// holding that tenant's values. The query `i` sent (the other marker) may come back outside the
/// items; only the items are judged.
async fn search(
    probe: &Probe,
    i: usize,
    ri: usize,
    endpoint: &Endpoint,
    has_canary: bool,
    found: &mut Found,
) -> Result<(), MonitorError> {
    let tenant = &probe.tenants[i];
    let object = format!("GET {}", endpoint.path.1);
    let mut ownership = probe.ownership.clone();
    for (j, owner) in probe.tenants.iter().enumerate() {
        // Top-level only: a search path with `{parent_id}` cannot be filled and says so.
        let values = values_for(tenant, &owner.marker, None, None);
        let exchange = get(probe, i, endpoint, &values).await?;
        let json = exchange.json();
        let items = probe.items(ri, &json);
        if j == i {
            let own = items
                .iter()
                .any(|item| item.to_string().contains(owner.marker.as_str()));
            if has_canary && !own {
                found.problems.push(finding(
                    probe,
                    &OWN_CANARIES_MISSING,
                    &object,
                    &format!("{}:search", tenant.slug),
                    format!(
                        "Synthetic tenant `{}` searched {} for its own marker and did not find its canary ({}): the search cannot show a leak.",
                        tenant.slug, probe.client.target.resources[ri].name, exchange.status
                    ),
                    &exchange,
                ));
            }
            continue;
        }
        let leaked = items
            .iter()
            .flat_map(|item| ownership.foreign_in_json(item, Some(i), &HashSet::new()))
            .next();
        if let Some(s) = leaked {
            found.violations.push(finding(
                probe,
                &FOREIGN_SEARCH_RESULT,
                &object,
                &tenant.slug,
                format!(
                    "Synthetic tenant `{}` searched {} for the marker of `{}` and got its data (value `{}`).",
                    tenant.slug,
                    probe.client.target.resources[ri].name,
                    probe.tenants[s.owner].slug,
                    s.value
                ),
                &exchange,
            ));
        }
    }
    Ok(())
}

/// The export as `i`: every value in its body is `i`'s own, and its canary is in it.
async fn export(
    probe: &Probe,
    i: usize,
    endpoint: &Endpoint,
    resource: &str,
    has_canary: bool,
    found: &mut Found,
) -> Result<(), MonitorError> {
    let tenant = &probe.tenants[i];
    let object = format!("GET {}", endpoint.path.1);
    let values = values_for(tenant, &tenant.marker, None, None);
    let exchange = get(probe, i, endpoint, &values).await?;
    let mut ownership = probe.ownership.clone();
    if let Some(s) = ownership
        .foreign_in_text(&exchange.response, Some(i), &HashSet::new())
        .first()
    {
        found.violations.push(finding(
            probe,
            &FOREIGN_EXPORT_DATA,
            &object,
            &tenant.slug,
            format!(
                "Synthetic tenant `{}` exported {resource} and got data of `{}` (value `{}`).",
                tenant.slug, probe.tenants[s.owner].slug, s.value
            ),
            &exchange,
        ));
    }
    let own = exchange.is_success() && exchange.response.contains(tenant.marker.as_str());
    if has_canary && !own {
        found.problems.push(finding(
            probe,
            &OWN_CANARIES_MISSING,
            &object,
            &format!("{}:export", tenant.slug),
            format!(
                "Synthetic tenant `{}` exported {resource} and its canary was not in it ({}): the export cannot show a leak.",
                tenant.slug, exchange.status
            ),
            &exchange,
        ));
    }
    Ok(())
}

/// `rule`'s finding on `object` (`key` tells several apart), with `exchange` as its reproducer: the
/// curl command that asked.
fn finding(
    probe: &Probe,
    rule: &'static RuleInfo,
    object: &str,
    key: &str,
    detail: String,
    exchange: &Exchange,
) -> Finding {
    let curl = exchange.curl(probe.client.target.base_url.as_str());
    rule.finding(object, key, detail).with_evidence(curl)
}
