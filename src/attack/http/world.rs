//! The resources a case runs against (`World`): every test tenant creates items of every creatable
//! resource through the API (children under its own parents), each carrying a fresh canary
//! marker; `cleanup` deletes them again as their owners.

use std::collections::HashSet;
use std::sync::Mutex;

use super::client::{Client, Credentials, Exchange};
use crate::oracle::{Markers, Ownership, TenantIdx};
use crate::spec::{Operation, ResourceSpec, Values, render_json};
use crate::target::TestTenant;

#[derive(Debug, Clone)]
pub struct Item {
    pub resource: usize,
    pub owner: TenantIdx,
    pub id: String,
    pub parent: Option<String>,
    pub marker: String,
}

/// A tenant's own way in: its token and subdomain.
#[derive(Debug, Clone)]
pub struct Identity {
    pub label: String,
    pub creds: Credentials,
}

#[derive(Debug)]
pub struct World {
    pub items: Vec<Item>,
    /// The creates that made the items (shown in reproducers).
    pub setup: Vec<Exchange>,
    pub ownership: Mutex<Ownership>,
    /// Items created during the case (by attacks that should have failed, or by A itself).
    pub extra: Mutex<Vec<Item>>,
}

impl World {
    pub fn items_of(&self, resource: usize, owner: TenantIdx) -> Vec<&Item> {
        self.items
            .iter()
            .filter(|i| i.resource == resource && i.owner == owner)
            .collect()
    }
}

/// Resources in creation order: parents before children.
pub fn creation_order(resources: &[ResourceSpec]) -> Vec<usize> {
    let mut done: Vec<usize> = Vec::new();
    while done.len() < resources.len() {
        let before = done.len();
        for (i, r) in resources.iter().enumerate() {
            if done.contains(&i) {
                continue;
            }
            let parent_done = r.parent.as_ref().is_none_or(|p| {
                resources
                    .iter()
                    .position(|x| x.name == *p.get_ref())
                    .is_some_and(|pi| done.contains(&pi))
            });
            if parent_done {
                done.push(i);
            }
        }
        if done.len() == before {
            done.extend(
                (0..resources.len())
                    .filter(|i| !done.contains(i))
                    .collect::<Vec<_>>(),
            );
        }
    }
    done
}

pub fn parent_index(resources: &[ResourceSpec], resource: usize) -> Option<usize> {
    let name = resources[resource].parent.as_ref()?;
    resources.iter().position(|r| r.name == *name.get_ref())
}

/// The placeholder values of a request by `tenant`.
pub fn values_for(
    tenant: &TestTenant,
    marker: &str,
    id: Option<&str>,
    parent: Option<&str>,
) -> Values {
    let mut v: Values = [
        ("slug".to_owned(), tenant.slug.clone()),
        ("tenant_id".to_owned(), tenant.tenant_id.clone()),
        (
            "user_id".to_owned(),
            tenant.user_id.clone().unwrap_or_default(),
        ),
        ("marker".to_owned(), marker.to_owned()),
        ("name".to_owned(), format!("tenantprobe {marker}")),
        ("email".to_owned(), format!("{marker}@tenantprobe.invalid")),
    ]
    .into();
    if let Some(id) = id {
        v.insert("id".into(), id.to_owned());
    }
    if let Some(parent) = parent {
        v.insert("parent_id".into(), parent.to_owned());
    }
    v
}

/// Creates one item of `resource` as `tenant` (under `parent`); `None` when the API refused.
pub async fn create(
    client: &Client,
    tenant: &TestTenant,
    identity: &Identity,
    resource: usize,
    parent: Option<&str>,
    marker: &str,
) -> Result<(Option<String>, Exchange), reqwest::Error> {
    let spec = &client.target.resources[resource];
    let Some(endpoint) = &spec.create else {
        return Ok((None, empty_exchange()));
    };
    let values = values_for(tenant, marker, None, parent);
    let Ok(path) = endpoint.path.render(&values) else {
        return Ok((None, empty_exchange()));
    };
    let body = endpoint
        .body
        .as_ref()
        .and_then(|b| render_json(&b.0, &values).ok());
    let exchange = client
        .send(
            &identity.label,
            &identity.creds,
            &endpoint.method_for(Operation::Create),
            &path,
            body.as_ref(),
        )
        .await?;
    let id = exchange
        .is_success()
        .then(|| {
            exchange
                .json()
                .pointer(&spec.id)
                .and_then(crate::attack::db::json_text)
        })
        .flatten();
    Ok((id, exchange))
}

fn empty_exchange() -> Exchange {
    Exchange {
        who: String::new(),
        method: String::new(),
        path: String::new(),
        host: None,
        token_shown: None,
        headers: Vec::new(),
        body: None,
        status: 0,
        response: String::new(),
        seq: u64::MAX,
    }
}

/// Every tenant creates `rows` items of every creatable resource.
pub async fn build(
    client: &Client,
    tenants: &[TestTenant],
    identities: &[Identity],
    rows: usize,
    markers: &Mutex<Markers>,
) -> Result<World, reqwest::Error> {
    let mut ownership = Ownership::default();
    for (i, t) in tenants.iter().enumerate() {
        ownership.register(&t.tenant_id, i);
        ownership.register(&t.marker, i);
        if let Some(user) = &t.user_id {
            ownership.register(user, i);
        }
    }
    let resources = &client.target.resources;
    let mut items: Vec<Item> = Vec::new();
    let mut setup = Vec::new();
    for resource in creation_order(resources) {
        if resources[resource].create.is_none() {
            continue;
        }
        let parent_resource = parent_index(resources, resource);
        // Everything of one resource at once: each tenant's items under each of its parents.
        let mut planned = Vec::new();
        for (owner, _) in tenants.iter().enumerate() {
            let parents: Vec<Option<String>> = match parent_resource {
                Some(p) => items
                    .iter()
                    .filter(|i| i.resource == p && i.owner == owner)
                    .map(|i| Some(i.id.clone()))
                    .collect(),
                None => vec![None],
            };
            // `rows` top-level items per tenant; one child under each parent keeps worlds small.
            let count = if parent_resource.is_some() { 1 } else { rows };
            for parent in parents {
                for _ in 0..count {
                    planned.push((owner, parent.clone(), next_marker(markers)));
                }
            }
        }
        let created = futures::future::join_all(planned.iter().map(|(owner, parent, marker)| {
            create(
                client,
                &tenants[*owner],
                &identities[*owner],
                resource,
                parent.as_deref(),
                marker,
            )
        }))
        .await;
        for ((owner, parent, marker), result) in planned.into_iter().zip(created) {
            let (id, exchange) = result?;
            setup.push(exchange);
            if let Some(id) = id {
                ownership.register(&id, owner);
                ownership.register(&marker, owner);
                items.push(Item {
                    resource,
                    owner,
                    id,
                    parent,
                    marker,
                });
            }
        }
    }
    Ok(World {
        items,
        setup,
        ownership: Mutex::new(ownership),
        extra: Mutex::new(Vec::new()),
    })
}

pub fn next_marker(markers: &Mutex<Markers>) -> String {
    markers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .fresh()
}

/// Deletes what the case created, children first, each as its owner (and, for items an attack
/// may have planted in another tenant, as every tenant). Failures are ignored: the next case
/// starts from new items anyway.
pub async fn cleanup(
    client: &Client,
    world: &World,
    identities: &[Identity],
    tenants: &[TestTenant],
) {
    let extra = world
        .extra
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut all: Vec<Item> = world.items.iter().cloned().chain(extra).collect();
    let order = creation_order(&client.target.resources);
    let mut seen = HashSet::new();
    all.retain(|i| seen.insert((i.resource, i.id.clone())));
    // Children before parents; the items of one resource all at once.
    for resource in order.into_iter().rev() {
        let Some(endpoint) = &client.target.resources[resource].delete else {
            continue;
        };
        let mut deletes = Vec::new();
        for item in all.iter().filter(|i| i.resource == resource) {
            let owners: Vec<TenantIdx> = if item.owner < tenants.len() {
                vec![item.owner]
            } else {
                (0..tenants.len()).collect()
            };
            for owner in owners {
                let values =
                    values_for(&tenants[owner], "", Some(&item.id), item.parent.as_deref());
                if let Ok(path) = endpoint.path.render(&values) {
                    deletes.push((owner, path));
                }
            }
        }
        let method = endpoint.method_for(Operation::Delete);
        futures::future::join_all(deletes.iter().map(|(owner, path)| {
            client.send(
                &identities[*owner].label,
                &identities[*owner].creds,
                &method,
                path,
                None,
            )
        }))
        .await;
    }
}
