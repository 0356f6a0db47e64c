//! Writes that must be refused, tried every cycle between the synthetic tenants only: one tenant
//! updates and deletes the other's canaries by id (and through nested routes under its own parent)
//! and creates children under the other's parent canaries (`foreign_writes`); a caller without
//! valid credentials (no token, a forged or unsigned one) reads, updates and deletes every
//! declared endpoint (`anonymous`). Whatever a write
//! that got through destroyed or changed is reported and put back in the same cycle (`restore`).

use std::collections::HashSet;

use crate::actor::{Credentials, Exchange, values_for, world};
use crate::finding::Finding;
use crate::spec::{Operation, render_json};

use super::MonitorError;
use super::checks::{Found, attempt_parents};
use super::probe::{Actor, Canary, Probe};
use super::request::render;
use super::restore::{self, Damage};
use super::rules::{ANONYMOUS_ACCESS, FOREIGN_WRITE, FORGED_TOKEN_ACCEPTED, OWN_CANARIES_MISSING};
use crate::rules::RuleInfo;

pub use super::restore::Restored;

/// Canaries that changed in a check: (owner, its canaries now).
pub type Replaced = Vec<(usize, Vec<Canary>)>;

/// One write that the API accepted.
struct Accepted {
    /// The canary it aimed at (`None` for a create under the canary's parent).
    target: Option<String>,
    object: String,
    how: &'static str,
    exchange: Exchange,
}

fn evidence(probe: &Probe, exchange: &Exchange) -> String {
    exchange.curl(probe.client.target.base_url.as_str())
}

/// The canaries of one tenant, children before parents: deleting a parent first would take the
/// children's attempts with it.
fn children_first(probe: &Probe, canaries: &[Canary]) -> Vec<Canary> {
    let order = world::creation_order(&probe.client.target.resources);
    let mut sorted = canaries.to_vec();
    sorted.sort_by_key(|c| {
        std::cmp::Reverse(order.iter().position(|r| *r == c.resource).unwrap_or(0))
    });
    sorted
}

/// As tenant `i`: update and delete every other synthetic tenant's canaries, and create under
/// their parent canaries; each must be refused. Then each victim's canaries are checked as their
/// owner and put back.
pub async fn foreign_writes(
    probe: &Probe,
    i: usize,
    canaries: &[Vec<Canary>],
) -> Result<(Found, Replaced), MonitorError> {
    let resources = &probe.client.target.resources;
    let tenant = &probe.tenants[i];
    let identity = &probe.identities[i];
    let actor = Actor::Tenant(i);
    let context = || format!("as `{}`", tenant.slug);
    let mut found = Found::default();
    let mut replaced = Replaced::new();
    for (j, theirs) in canaries.iter().enumerate().filter(|(j, _)| *j != i) {
        if theirs.is_empty() {
            continue;
        }
        let owner = &probe.tenants[j];
        let mut accepted: Vec<Accepted> = Vec::new();
        for canary in children_first(probe, theirs) {
            // A child of one's own under the other tenant's parent.
            for (ri, child) in resources.iter().enumerate() {
                if world::parent_index(resources, ri) != Some(canary.resource)
                    || !probe.keeps_canaries(ri)
                {
                    continue;
                }
                let Some(endpoint) = &child.create else {
                    continue;
                };
                let (id, exchange) = world::create(
                    probe.client_for(actor),
                    tenant,
                    identity,
                    ri,
                    Some(&canary.id),
                    &tenant.marker,
                )
                .await
                .map_err(MonitorError::exec(context()))?;
                if exchange.is_success() {
                    if let Some(id) = id {
                        plant_removed(probe, ri, &id, &canary.id, &[i, j]).await;
                    }
                    accepted.push(Accepted {
                        target: None,
                        object: format!(
                            "{} {}",
                            endpoint.method_for(Operation::Create),
                            endpoint.path.1
                        ),
                        how: "under its parent",
                        exchange,
                    });
                }
            }
            let routes = probe.routes_to(canary.resource);
            for (op, endpoint) in routes.iter().flat_map(|&r| {
                [
                    (Operation::Update, &resources[r].update),
                    (Operation::Delete, &resources[r].delete),
                ]
            }) {
                let Some(endpoint) = endpoint else {
                    continue;
                };
                for parent in attempt_parents(probe, i, &canary, &endpoint.path.1, canaries) {
                    let values =
                        values_for(tenant, &tenant.marker, Some(&canary.id), parent.as_deref());
                    let Ok(path) = render(endpoint, &values) else {
                        continue;
                    };
                    let body = endpoint
                        .body
                        .as_ref()
                        .and_then(|b| render_json(&b.0, &values).ok());
                    let exchange = probe
                        .send_own(i, endpoint, op, &path, body.as_ref())
                        .await
                        .map_err(MonitorError::request(context()))?;
                    if exchange.is_success() {
                        accepted.push(Accepted {
                            target: Some(canary.id.clone()),
                            object: format!("{} {}", endpoint.method_for(op), endpoint.path.1),
                            how: if parent.as_deref() == canary.parent.as_deref() {
                                "by id"
                            } else {
                                "by id under its own parent"
                            },
                            exchange,
                        });
                    }
                }
            }
        }
        let outcome = restore::restore(probe, j, theirs).await;
        let who = format!("`{}` on `{}`'s canaries", tenant.slug, owner.slug);
        for a in &accepted {
            let damage = a.target.as_deref().and_then(|id| outcome.damage_of(id));
            found.violations.push(
                FOREIGN_WRITE
                    .finding(
                        &a.object,
                        &format!("{}>{}:{}", tenant.slug, owner.slug, a.how),
                        format!(
                            "Synthetic tenant {who}: `{}` {} was accepted with {}{}.",
                            a.exchange.method,
                            a.how,
                            a.exchange.status,
                            consequence(damage)
                        ),
                    )
                    .with_evidence(evidence(probe, &a.exchange)),
            );
        }
        // Damage without an accepted write (an error answer after the harm was done).
        for (canary, d) in &outcome.damaged {
            if accepted
                .iter()
                .any(|a| a.target.as_deref() == Some(canary.id.as_str()))
            {
                continue;
            }
            let resource = &resources[canary.resource].name;
            found.violations.push(FOREIGN_WRITE.finding(
                resource,
                &format!("{}>{}:refused", tenant.slug, owner.slug),
                format!(
                    "Synthetic tenant {who}: every write was refused, yet the {resource} canary was {} afterwards{}.",
                    d.as_str(),
                    consequence(Some(*d))
                ),
            ));
        }
        settle(probe, j, outcome, &mut found, &mut replaced);
    }
    Ok((found, replaced))
}

/// Takes in what `restore` did for tenant `j`: the canaries put back, `j`'s canaries now when any
/// was damaged, and a problem when they could not be checked or put back.
fn settle(
    probe: &Probe,
    j: usize,
    outcome: restore::Outcome,
    found: &mut Found,
    replaced: &mut Replaced,
) {
    found.problems.extend(not_restored(probe, j, &outcome));
    found.restored.extend(outcome.restored);
    if !outcome.damaged.is_empty() {
        replaced.push((j, outcome.canaries));
    }
}

/// A problem when tenant `j`'s canaries could not be checked or put back (for example because
/// the API still serves a deleted parent from a cache): the next cycles report them missing until
/// `monitor init` recreates them.
fn not_restored(probe: &Probe, j: usize, outcome: &restore::Outcome) -> Option<Finding> {
    let error = outcome.error.as_ref()?;
    let slug = &probe.tenants[j].slug;
    Some(OWN_CANARIES_MISSING.finding(
        "canaries",
        &format!("{slug}:restore"),
        format!("The canaries of synthetic tenant `{slug}` could not be checked or put back after the writes of this cycle: {error}."),
    ))
}

fn consequence(damage: Option<Damage>) -> &'static str {
    match damage {
        Some(Damage::Destroyed) => "; the canary was destroyed, and recreated in this cycle",
        Some(Damage::Changed) => "; the canary was changed, and put back in this cycle",
        None => "",
    }
}

/// Deletes an item a refused-but-accepted create planted under another tenant's parent, as each
/// of `tenants` in turn (best effort: what remains shows up in the next cycle's lists).
async fn plant_removed(probe: &Probe, resource: usize, id: &str, parent: &str, tenants: &[usize]) {
    let Some(endpoint) = &probe.client.target.resources[resource].delete else {
        return;
    };
    for &t in tenants {
        let values = values_for(&probe.tenants[t], "", Some(id), Some(parent));
        let Ok(path) = render(endpoint, &values) else {
            continue;
        };
        let sent = probe
            .send_own(t, endpoint, Operation::Delete, &path, None)
            .await;
        if sent.is_ok_and(|e| e.is_success()) {
            return;
        }
    }
}

/// Callers without valid credentials, on tenant `j`'s subdomain when the spec has one: nobody (no
/// token); on JWT targets also a token claiming `j` signed with another key, and an unsigned one.
fn callers(probe: &Probe, j: usize) -> Vec<(&'static str, Credentials, &'static RuleInfo)> {
    let target = &probe.client.target;
    let tenant = &probe.tenants[j];
    let host = target.host_for(&tenant.slug, &tenant.tenant_id);
    let mut callers = vec![(
        "without credentials",
        Credentials {
            token: None,
            host: host.clone(),
            ..Credentials::default()
        },
        &ANONYMOUS_ACCESS,
    )];
    for (caller, token, shown) in [
        (
            "with a token signed with another key",
            target.forged_token(tenant),
            "$FORGED_TOKEN",
        ),
        (
            "with an unsigned token",
            target.unsigned_token(tenant),
            "$UNSIGNED_TOKEN",
        ),
    ] {
        if let Some(token) = token {
            callers.push((
                caller,
                Credentials {
                    token: Some((token, shown.to_owned())),
                    host: host.clone(),
                    ..Credentials::default()
                },
                &FORGED_TOKEN_ACCEPTED,
            ));
        }
    }
    callers
}

/// Without valid credentials (`callers`): every list (children under the tenant's parent
/// canaries), and get, update and delete of every canary, must be refused. Creates are not sent:
/// one that got through would write into a tenant nobody chose, possibly a real one.
pub async fn anonymous(
    probe: &Probe,
    canaries: &[Vec<Canary>],
) -> Result<(Found, Replaced), MonitorError> {
    let target = &probe.client.target;
    let resources = &target.resources;
    let mut found = Found::default();
    let mut replaced = Replaced::new();
    let mut ownership = probe.ownership.clone();
    let mut sent: HashSet<(&str, String, String, Option<String>)> = HashSet::new();
    let transport = |cause| MonitorError::Request {
        context: "without valid credentials".into(),
        cause,
    };
    for (j, tenant) in probe.tenants.iter().enumerate() {
        let theirs = canaries.get(j).map_or(&[][..], Vec::as_slice);
        // (operation, endpoint, values)
        let mut requests = Vec::new();
        for (ri, resource) in resources.iter().enumerate() {
            if let Some(endpoint) = &resource.list {
                for parent in probe.parents(ri, theirs) {
                    requests.push((
                        Operation::List,
                        endpoint,
                        values_for(tenant, &tenant.marker, None, parent.as_deref()),
                    ));
                }
            }
            // Searches (for the tenant's own marker) and exports are reads of its data too.
            for endpoint in resource.search.iter().chain(&resource.export) {
                requests.push((
                    Operation::List,
                    endpoint,
                    values_for(tenant, &tenant.marker, None, None),
                ));
            }
        }
        let ordered = children_first(probe, theirs);
        for op in [Operation::Get, Operation::Update, Operation::Delete] {
            for (canary, route) in ordered
                .iter()
                .flat_map(|c| probe.routes_to(c.resource).into_iter().map(move |r| (c, r)))
            {
                let resource = &resources[route];
                let endpoint = match op {
                    Operation::Get => &resource.get,
                    Operation::Update => &resource.update,
                    _ => &resource.delete,
                };
                if let Some(endpoint) = endpoint {
                    requests.push((
                        op,
                        endpoint,
                        values_for(
                            tenant,
                            &tenant.marker,
                            Some(&canary.id),
                            canary.parent.as_deref(),
                        ),
                    ));
                }
            }
        }
        let mut wrote = false;
        // The rule of the first caller whose write got through: damage is laid at its door.
        let mut damaged_by: Option<&'static RuleInfo> = None;
        for (caller, creds, rule) in callers(probe, j) {
            for (op, endpoint, values) in &requests {
                let Ok(path) = render(endpoint, values) else {
                    continue;
                };
                let method = endpoint.method_for(*op);
                if !sent.insert((
                    caller,
                    method.clone(),
                    path.path.clone(),
                    creds.host.clone(),
                )) {
                    continue;
                }
                let body = match op {
                    Operation::Update => endpoint
                        .body
                        .as_ref()
                        .and_then(|b| render_json(&b.0, values).ok()),
                    _ => None,
                };
                let writes = matches!(op, Operation::Update | Operation::Delete);
                wrote |= writes;
                let exchange = probe
                    .send(Actor::Anonymous, &creds, &method, &path, body.as_ref())
                    .await
                    .map_err(transport)?;
                if !exchange.is_success() {
                    continue;
                }
                if writes {
                    damaged_by.get_or_insert(rule);
                }
                let seen = ownership.foreign_in_text(&exchange.response, None, &HashSet::new());
                let data = match seen.first() {
                    Some(s) => format!(
                        " and served data of `{}` (value `{}`)",
                        probe.tenants[s.owner].slug, s.value
                    ),
                    None => String::new(),
                };
                found.violations.push(
                    rule.finding(
                        format!("{method} {}", endpoint.path.1),
                        &tenant.slug,
                        format!(
                            "A request {caller} to `{method} {path}` (on `{}`'s canaries) was answered {}{data}.",
                            tenant.slug, exchange.status
                        ),
                    )
                    .with_evidence(evidence(probe, &exchange)),
                );
            }
        }
        if wrote && !theirs.is_empty() {
            let outcome = restore::restore(probe, j, theirs).await;
            for (canary, d) in &outcome.damaged {
                let resource = &resources[canary.resource].name;
                found
                    .violations
                    .push(damaged_by.unwrap_or(&ANONYMOUS_ACCESS).finding(
                    resource,
                    &format!("{}:canary", tenant.slug),
                    format!(
                        "Requests without valid credentials left `{}`'s {resource} canary {}{}.",
                        tenant.slug,
                        d.as_str(),
                        consequence(Some(*d))
                    ),
                ));
            }
            settle(probe, j, outcome, &mut found, &mut replaced);
        }
    }
    Ok((found, replaced))
}
