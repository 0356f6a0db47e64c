//! The dynamic cache check (`cross_check`), shared by `tenantprobe cache --dynamic` and `monitor`:
//! tenant A warms the caches through the API (every list, every item by id), then tenant B calls
//! the same routes; any of A's values in B's answers is a cached answer crossing tenants.

use std::collections::HashSet;
use std::sync::Mutex;

use super::rules;
use crate::actor::world;
use crate::actor::{ActorError, Client, Credentials, Exchange, Identity, identities, values_for};
use crate::finding::Finding;
use crate::oracle::Markers;
use crate::spec::Operation;
use crate::target::{HttpTarget, TestTenant};

/// Runs the check with the first two tenants; returns findings (with curl evidence).
pub async fn cross_check(
    target: HttpTarget,
    tenants: Vec<TestTenant>,
) -> Result<Vec<Finding>, ActorError> {
    if tenants.len() < 2 {
        return Err(ActorError::TooFewTenants(tenants.len()));
    }
    let client = Client::new(target).map_err(ActorError::Client)?;
    let identities = identities(&client, &tenants)?;
    let markers = Mutex::new(Markers::new(0xCAC4E));
    let unreachable = |cause: reqwest::Error| ActorError::Unreachable {
        url: client.target.base_url.to_string(),
        cause,
    };
    let world = world::build(&client, &tenants, &identities, 1, &markers)
        .await
        .map_err(|e| match e {
            world::ExecError::Http(cause) => unreachable(cause),
            world::ExecError::Shape(mismatch) => mismatch.into(),
        })?;
    let mut findings = Vec::new();
    for (ri, resource) in client.target.resources.iter().enumerate() {
        for (operation, endpoint) in [
            (Operation::List, &resource.list),
            (Operation::Get, &resource.get),
        ] {
            let Some(endpoint) = endpoint else { continue };
            // The routes A uses: its list (under its first parent) and its first item.
            let item = world.items_of(ri, 0).first().map(|i| (*i).clone());
            let parent = match world::parent_index(&client.target.resources, ri) {
                Some(pr) => world.items_of(pr, 0).first().map(|i| i.id.clone()),
                None => None,
            };
            let (id, parent) = match operation {
                Operation::Get => match &item {
                    Some(i) => (Some(i.id.clone()), i.parent.clone()),
                    None => continue,
                },
                _ => (None, parent),
            };
            let values = values_for(&tenants[0], "", id.as_deref(), parent.as_deref());
            let Ok(path) = endpoint.path.render(&values) else {
                continue;
            };
            let method = endpoint.method_for(operation);
            let warm = send(&client, &identities[0], &method, &path)
                .await
                .map_err(unreachable)?;
            let cross = send(&client, &identities[1], &method, &path)
                .await
                .map_err(unreachable)?;
            let supplied: HashSet<String> = id.iter().chain(parent.iter()).cloned().collect();
            let sightings = world
                .ownership
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .foreign_in_text(&cross.response, Some(1), &supplied);
            if !sightings.is_empty() {
                let object = format!("{method} {}", endpoint.path.1);
                let base = client.target.base_url.to_string();
                let evidence = [&warm, &cross]
                    .iter()
                    .map(|e| e.curl(&base))
                    .collect::<Vec<_>>()
                    .join("\n");
                findings.push(
                    rules::CROSS_RESPONSE
                        .finding(&object, "", format!("After tenant A called `{object}`, tenant B calling the same route got {} of A's value(s), e.g. `{}`.", sightings.len(), sightings[0].value))
                        .with_evidence(evidence),
                );
            }
        }
    }
    world::cleanup(&client, &world, &identities, &tenants).await;
    Ok(findings)
}

async fn send(
    client: &Client,
    who: &Identity,
    method: &str,
    path: &str,
) -> Result<Exchange, reqwest::Error> {
    let creds: &Credentials = &who.creds;
    client.send(&who.label, creds, method, path, None).await
}
