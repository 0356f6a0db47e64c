//! The resources a case runs against (`World`): every test tenant creates items of every creatable
//! resource through the API (children under its own parents), each carrying a fresh canary
//! marker; `cleanup` deletes them again as their owners and says what it could not delete.
//! A response that does not match the spec's `id`/`items` pointers stops the run (`ShapeMismatch`):
//! an empty world would attack nothing and look clean.

use std::collections::HashSet;
use std::sync::Mutex;

use super::client::{Client, Exchange};
use super::identity::Identity;
use super::values::values_for;
use crate::oracle::{Markers, Ownership, TenantIdx};
use crate::spec::{Endpoint, Operation, ResourceSpec, Values, render_json};
use crate::target::TestTenant;

/// A response that does not have what the spec's pointer says it has.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the {operation} response of resource `{resource}` has no {what} at the JSON pointer \
     `{pointer}` (the spec's `{field}`): {status} {response}"
)]
pub struct ShapeMismatch {
    pub resource: String,
    pub operation: &'static str,
    /// `id` or `array of items`.
    pub what: &'static str,
    /// `id` or `items`.
    pub field: &'static str,
    pub pointer: String,
    pub status: u16,
    /// The response, cut at 300 characters.
    pub response: String,
}

impl ShapeMismatch {
    pub fn new(spec: &ResourceSpec, operation: Operation, e: &Exchange) -> Self {
        let items = operation == Operation::List;
        let mut response: String = e.response.chars().take(300).collect();
        if e.response.chars().count() > 300 {
            response.push('…');
        }
        Self {
            resource: spec.name.clone(),
            operation: operation.as_str(),
            what: if items { "array of items" } else { "id" },
            field: if items { "items" } else { "id" },
            pointer: if items {
                spec.items.clone()
            } else {
                spec.id.clone()
            },
            status: e.status,
            response,
        }
    }
}

/// Why a step or a world could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Shape(#[from] Box<ShapeMismatch>),
}

/// The id at the resource's `id` pointer of a successful answer; a success without one is a
/// `ShapeMismatch`, a refusal `None`.
pub fn id_of(
    spec: &ResourceSpec,
    operation: Operation,
    e: &Exchange,
) -> Result<Option<String>, Box<ShapeMismatch>> {
    if !e.is_success() {
        return Ok(None);
    }
    e.json()
        .pointer(&spec.id)
        .and_then(crate::sql::json_text)
        .map(Some)
        .ok_or_else(|| Box::new(ShapeMismatch::new(spec, operation, e)))
}

/// A successful list must have an array at the resource's `items` pointer.
pub fn check_items(spec: &ResourceSpec, e: &Exchange) -> Result<(), Box<ShapeMismatch>> {
    if !e.is_success()
        || e.json()
            .pointer(&spec.items)
            .is_some_and(serde_json::Value::is_array)
    {
        return Ok(());
    }
    Err(Box::new(ShapeMismatch::new(spec, Operation::List, e)))
}

/// An endpoint's path with its query (the endpoint's own parameters, then `extra`), and its
/// headers, rendered from `values`.
pub struct Rendered {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

pub fn render(
    endpoint: &Endpoint,
    values: &Values,
    extra: &[(String, String)],
) -> Option<Rendered> {
    let path = endpoint.path.render(values).ok()?;
    let mut query: Vec<(String, String)> = Vec::new();
    for (name, template) in &endpoint.query {
        query.push((name.clone(), template.render(values).ok()?));
    }
    query.extend(extra.iter().cloned());
    let path = if query.is_empty() {
        path
    } else {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&query)
            .finish();
        let joiner = if path.contains('?') { '&' } else { '?' };
        format!("{path}{joiner}{encoded}")
    };
    let mut headers = Vec::new();
    for (name, template) in &endpoint.headers {
        headers.push((name.clone(), template.render(values).ok()?));
    }
    Some(Rendered { path, headers })
}

#[derive(Debug, Clone)]
pub struct Item {
    pub resource: usize,
    pub owner: TenantIdx,
    pub id: String,
    pub parent: Option<String>,
    pub marker: String,
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

/// Creates one item of `resource` as `tenant` (under `parent`); `None` when the API refused.
pub async fn create(
    client: &Client,
    tenant: &TestTenant,
    identity: &Identity,
    resource: usize,
    parent: Option<&str>,
    marker: &str,
) -> Result<(Option<String>, Exchange), ExecError> {
    let spec = &client.target.resources[resource];
    let Some(endpoint) = &spec.create else {
        return Ok((None, empty_exchange()));
    };
    let values = values_for(tenant, marker, None, parent);
    let Some(request) = render(endpoint, &values, &[]) else {
        return Ok((None, empty_exchange()));
    };
    let body = endpoint
        .body
        .as_ref()
        .and_then(|b| render_json(&b.0, &values).ok());
    let exchange = client
        .send_with(
            &identity.label,
            &identity.creds,
            &endpoint.method_for(Operation::Create),
            &request.path,
            &request.headers,
            body.as_ref(),
        )
        .await?;
    let id = id_of(spec, Operation::Create, &exchange)?;
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
) -> Result<World, ExecError> {
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
        let mut failed = None;
        for ((owner, parent, marker), result) in planned.into_iter().zip(created) {
            let (id, exchange) = match result {
                Ok(created) => created,
                Err(e) => {
                    failed = Some(e);
                    continue;
                }
            };
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
        if let Some(e) = failed {
            // What was created before the failure is not left behind.
            let partial = World {
                items,
                setup,
                ownership: Mutex::new(ownership),
                extra: Mutex::new(Vec::new()),
            };
            cleanup(client, &partial, identities, tenants).await;
            return Err(e);
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

/// What `cleanup` achieved.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// Items a delete answered with success.
    pub deleted: u64,
    /// Items no delete removed (`resource id: status`), e.g. without a `delete` endpoint.
    pub left: Vec<String>,
}

/// Deletes what the case created, children before parents, each as its owner (and, for items an
/// attack may have planted in another tenant, as every tenant). Best effort: an item is left
/// behind when no delete succeeded and it was not already gone (404, 410).
pub async fn cleanup(
    client: &Client,
    world: &World,
    identities: &[Identity],
    tenants: &[TestTenant],
) -> Cleanup {
    let extra = world
        .extra
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut all: Vec<Item> = world.items.iter().cloned().chain(extra).collect();
    let order = creation_order(&client.target.resources);
    let mut seen = HashSet::new();
    all.retain(|i| seen.insert((i.resource, i.id.clone())));
    let mut report = Cleanup::default();
    // Children before parents; the items of one resource all at once.
    for resource in order.into_iter().rev() {
        let spec = &client.target.resources[resource];
        let items: Vec<&Item> = all.iter().filter(|i| i.resource == resource).collect();
        let Some(endpoint) = &spec.delete else {
            report.left.extend(
                items
                    .iter()
                    .map(|i| format!("{} {}: no delete endpoint", spec.name, i.id)),
            );
            continue;
        };
        let mut deletes = Vec::new();
        for (n, item) in items.iter().enumerate() {
            let owners: Vec<TenantIdx> = if item.owner < tenants.len() {
                vec![item.owner]
            } else {
                (0..tenants.len()).collect()
            };
            for owner in owners {
                let values =
                    values_for(&tenants[owner], "", Some(&item.id), item.parent.as_deref());
                if let Some(request) = render(endpoint, &values, &[]) {
                    deletes.push((n, owner, request));
                }
            }
        }
        let method = endpoint.method_for(Operation::Delete);
        let answers = futures::future::join_all(deletes.iter().map(|(_, owner, request)| {
            client.send_with(
                &identities[*owner].label,
                &identities[*owner].creds,
                &method,
                &request.path,
                &request.headers,
                None,
            )
        }))
        .await;
        let mut statuses: Vec<Vec<u16>> = vec![Vec::new(); items.len()];
        for ((n, _, _), answer) in deletes.iter().zip(answers) {
            statuses[*n].push(answer.map_or(0, |e| e.status));
        }
        for (item, statuses) in items.iter().zip(statuses) {
            if statuses.iter().any(|s| (200..300).contains(s)) {
                report.deleted += 1;
            } else if statuses.is_empty() || !statuses.iter().all(|s| matches!(s, 404 | 410)) {
                let shown: Vec<String> = statuses.iter().map(u16::to_string).collect();
                report
                    .left
                    .push(format!("{} {}: {}", spec.name, item.id, shown.join("/")));
            }
        }
    }
    report
}
