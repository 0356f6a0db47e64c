//! Putting a synthetic tenant's canaries back (`restore`) after writes that should all have been
//! refused: the owner's own view says which canaries were destroyed or changed; changed ones are
//! written back as their owner, destroyed ones recreated, in the same cycle, so the next cycle
//! (and the other checks of this one) start from intact canaries.

use std::collections::HashSet;

use crate::actor::values_for;
use crate::spec::{Operation, render_json};

use super::MonitorError;
use super::probe::{Canary, Probe};
use super::request::render;

/// What a write did to a canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Gone: its owner's request answers like a missing id.
    Destroyed,
    /// Still there, but no longer carrying (only) its owner's canary marker.
    Changed,
}

impl Damage {
    pub const ALL: [Damage; 2] = [Self::Destroyed, Self::Changed];

    /// The `reason` label of `tenantprobe_canaries_restored_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Destroyed => "destroyed",
            Self::Changed => "changed",
        }
    }
}

/// One canary put back in this cycle.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The canary's owner.
    pub synthetic_tenant: String,
    pub resource: String,
    /// The damaged canary's id (a recreated one has a new id).
    pub id: String,
    pub damage: Damage,
}

/// What `restore` saw and did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub damaged: Vec<(Canary, Damage)>,
    pub restored: Vec<Restored>,
    /// The owner's canaries now (the same as before when nothing was damaged).
    pub canaries: Vec<Canary>,
    /// Why the canaries could not be checked or put back (what was found is kept).
    pub error: Option<MonitorError>,
}

impl Outcome {
    pub fn damage_of(&self, id: &str) -> Option<Damage> {
        self.damaged
            .iter()
            .find(|(c, _)| c.id == id)
            .map(|(_, d)| *d)
    }
}

/// Tenant `j`'s view of one of its canaries: `None` when intact.
async fn damage(probe: &Probe, j: usize, canary: &Canary) -> Result<Option<Damage>, MonitorError> {
    let tenant = &probe.tenants[j];
    let resource = &probe.client.target.resources[canary.resource];
    let mut ownership = probe.ownership.clone();
    let intact = |text: &str, ownership: &mut crate::oracle::Ownership| {
        text.contains(tenant.marker.as_str())
            && ownership
                .foreign_in_text(text, Some(j), &HashSet::new())
                .is_empty()
    };
    let failed = |cause| MonitorError::Request {
        context: format!("checking `{}`'s canaries", tenant.slug),
        cause,
    };
    if let Some(endpoint) = &resource.get {
        let values = values_for(tenant, "", Some(&canary.id), canary.parent.as_deref());
        if let Ok(path) = render(endpoint, &values) {
            let exchange = probe
                .send_own(j, endpoint, Operation::Get, &path, None)
                .await
                .map_err(failed)?;
            if exchange.status >= 500 {
                return Err(MonitorError::Refused(format!(
                    "GET {path} answered {} to its owner `{}`",
                    exchange.status, tenant.slug
                )));
            }
            return Ok(if !exchange.is_success() {
                Some(Damage::Destroyed)
            } else if intact(&exchange.response, &mut ownership) {
                None
            } else {
                Some(Damage::Changed)
            });
        }
    }
    // No way to fetch it by id: look for it in its owner's list.
    let Some(exchange) = probe
        .list(j, canary.resource, canary.parent.as_deref())
        .await
        .map_err(failed)?
    else {
        return Ok(None);
    };
    if !exchange.is_success() {
        return Ok(Some(Damage::Destroyed));
    }
    let json = exchange.json();
    let item = probe
        .items(canary.resource, &json)
        .iter()
        .find(|item| probe.id_of(canary.resource, item).as_deref() == Some(canary.id.as_str()));
    Ok(match item {
        None => Some(Damage::Destroyed),
        Some(item) if intact(&item.to_string(), &mut ownership) => None,
        Some(_) => Some(Damage::Changed),
    })
}

/// Checks tenant `j`'s canaries `before` as `j` and puts back what was destroyed or changed. Never
/// fails: what went wrong is in `error`, beside what was found.
pub async fn restore(probe: &Probe, j: usize, before: &[Canary]) -> Outcome {
    let mut outcome = Outcome {
        canaries: before.to_vec(),
        ..Outcome::default()
    };
    if let Err(e) = check_and_put_back(probe, j, before, &mut outcome).await {
        outcome.error = Some(e);
    }
    outcome
}

async fn check_and_put_back(
    probe: &Probe,
    j: usize,
    before: &[Canary],
    outcome: &mut Outcome,
) -> Result<(), MonitorError> {
    let tenant = &probe.tenants[j];
    let resources = &probe.client.target.resources;
    for canary in before {
        if let Some(d) = damage(probe, j, canary).await? {
            outcome.damaged.push((canary.clone(), d));
        }
    }
    if outcome.damaged.is_empty() {
        return Ok(());
    }
    for (canary, d) in outcome.damaged.clone() {
        let resource = &resources[canary.resource];
        if d == Damage::Changed {
            // Written back with the owner's own update; if that cannot be done, deleted (as its
            // owner) and recreated below like a destroyed one.
            let mut back = false;
            if let Some(endpoint) = &resource.update {
                let values = values_for(
                    tenant,
                    &tenant.marker,
                    Some(&canary.id),
                    canary.parent.as_deref(),
                );
                let body = endpoint
                    .body
                    .as_ref()
                    .and_then(|b| render_json(&b.0, &values).ok());
                if let Ok(path) = render(endpoint, &values) {
                    let exchange = probe
                        .send_own(j, endpoint, Operation::Update, &path, body.as_ref())
                        .await
                        .map_err(MonitorError::request(format!(
                            "restoring `{}`'s canary",
                            tenant.slug
                        )))?;
                    back = exchange.is_success() && damage(probe, j, &canary).await?.is_none();
                }
            }
            if !back && let Some(endpoint) = &resource.delete {
                let values = values_for(tenant, "", Some(&canary.id), canary.parent.as_deref());
                if let Ok(path) = render(endpoint, &values) {
                    probe
                        .send_own(j, endpoint, Operation::Delete, &path, None)
                        .await
                        .map_err(MonitorError::request(format!(
                            "removing `{}`'s changed canary",
                            tenant.slug
                        )))?;
                }
            }
        }
        outcome.restored.push(Restored {
            synthetic_tenant: tenant.slug.clone(),
            resource: resource.name.clone(),
            id: canary.id.clone(),
            damage: d,
        });
    }
    probe.complete_canaries(j).await?;
    outcome.canaries = probe
        .find_canaries(j)
        .await
        .map_err(MonitorError::request(format!(
            "finding `{}`'s canaries again",
            tenant.slug
        )))?;
    Ok(())
}
