//! Running one step (`run_step`) as its actor and judging the answers: by ownership (whose
//! values came back), by status (a 2xx on another tenant's resource, any 5xx), by comparison with
//! a missing id, and by what the victim sees afterwards.

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::Value;

use super::client::{Client, Credentials, Exchange};
use super::ops::{Actor, Op, ParentMix, Step};
use super::rules;
use super::world::{Identity, Item, World, create, next_marker, parent_index, values_for};
use crate::oracle::{Markers, TenantIdx};
use crate::rules::RuleInfo;
use crate::spec::{Endpoint, Operation, render_json};
use crate::target::TestTenant;

/// One leak, with the exchanges that show it.
#[derive(Debug, Clone)]
pub struct Leak {
    pub rule: &'static RuleInfo,
    pub object: String,
    pub detail: String,
    pub actor: Actor,
    pub exchanges: Vec<Exchange>,
}

impl Leak {
    pub fn signature(&self) -> (&'static str, String) {
        (self.rule.id, self.object.clone())
    }
}

/// What a step needs.
pub struct Ctx<'a> {
    pub client: &'a Client,
    pub tenants: &'a [TestTenant],
    pub identities: &'a [Identity],
    pub world: &'a World,
    pub markers: &'a Mutex<Markers>,
    /// Every exchange of the case so far, in order (a sequential replay's reproducer needs the
    /// steps before the leak too, e.g. the request that filled a shared cache).
    pub history: Mutex<Vec<Exchange>>,
}

/// How the actor presents itself, and whose data it may legitimately see.
struct Presented {
    label: String,
    creds: Credentials,
    /// The tenant whose data it may see (`None`: nobody's).
    viewer: Option<TenantIdx>,
    /// The tenant named in paths (`{slug}`, `{tenant_id}`).
    path_tenant: TestTenant,
    /// Values of B the request itself names (echoing them is not a leak).
    supplied: HashSet<String>,
    /// Extra query string.
    query: String,
    /// Whether B is named in the JSON body.
    body_tenant: Option<String>,
}

fn present(ctx: &Ctx<'_>, actor: Actor, a: TenantIdx, b: TenantIdx) -> Option<Presented> {
    let target = &ctx.client.target;
    let (ta, tb) = (&ctx.tenants[a], &ctx.tenants[b]);
    let own = &ctx.identities[a];
    let tag = |i: TenantIdx| char::from(b'A' + u8::try_from(i % 26).unwrap_or(0));
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
        query: String::new(),
        body_tenant: None,
    };
    match actor {
        Actor::Tenant => {}
        Actor::Anonymous => {
            p = Presented {
                label: "anonymous".into(),
                creds: Credentials::default(),
                viewer: None,
                path_tenant: tb.clone(),
                ..p
            };
        }
        Actor::AnonymousOnVictimHost => {
            target.host.as_ref()?;
            let host = target.host_for(&tb.slug, &tb.tenant_id);
            p = Presented {
                label: format!("anonymous on tenant {}'s host", tag(b)),
                creds: Credentials { token: None, host },
                viewer: None,
                path_tenant: tb.clone(),
                ..p
            };
        }
        Actor::UnknownTenantHost => {
            let host = target.host_for(&unknown.slug, &unknown.tenant_id);
            host.as_ref()
                .or(target.host.as_ref().map(|_| &unknown.slug))?;
            p.label = format!("tenant {} on an unknown tenant's host", tag(a));
            p.creds.host = host;
            p.path_tenant = unknown;
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
            let host = target.host_for(&tb.slug, &tb.tenant_id);
            p = Presented {
                label: format!(
                    "a {} token claiming tenant {}",
                    if actor == Actor::Forged {
                        "forged"
                    } else {
                        "unsigned"
                    },
                    tag(b)
                ),
                creds: Credentials {
                    token: Some((token, shown)),
                    host,
                },
                viewer: None,
                path_tenant: tb.clone(),
                ..p
            };
        }
        Actor::VictimHost => {
            // Subdomain or tenant-in-path APIs: A's token, B's tenant in the host and the path.
            let host = target.host_for(&tb.slug, &tb.tenant_id);
            p.label = format!("tenant {} on tenant {}'s host/path", tag(a), tag(b));
            p.creds.host = host.or(p.creds.host);
            p.path_tenant = tb.clone();
            p.supplied.extend([tb.slug.clone(), tb.tenant_id.clone()]);
        }
        Actor::BodyTenant => {
            p.label = format!("tenant {} naming tenant {} in the body", tag(a), tag(b));
            p.body_tenant = Some(tb.tenant_id.clone());
            p.supplied.insert(tb.tenant_id.clone());
        }
        Actor::QueryTenant => {
            p.label = format!("tenant {} naming tenant {} in the query", tag(a), tag(b));
            p.query = format!("tenant={}&tenant_id={}", tb.slug, tb.tenant_id);
            p.supplied.extend([tb.slug.clone(), tb.tenant_id.clone()]);
        }
    }
    Some(p)
}

fn with_query(path: &str, query: &str) -> String {
    match (query.is_empty(), path.contains('?')) {
        (true, _) => path.to_owned(),
        (false, true) => format!("{path}&{query}"),
        (false, false) => format!("{path}?{query}"),
    }
}

fn object(method: &str, endpoint: &Endpoint) -> String {
    format!("{method} {}", endpoint.path.1)
}

fn body_for(
    endpoint: &Endpoint,
    values: &crate::spec::Values,
    body_tenant: Option<&String>,
) -> Option<Value> {
    let mut body = endpoint
        .body
        .as_ref()
        .and_then(|b| render_json(&b.0, values).ok());
    if let Some(tenant) = body_tenant {
        let mut object = match body.take() {
            Some(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        object.insert("tenant_id".into(), Value::String(tenant.clone()));
        body = Some(Value::Object(object));
    }
    body
}

/// The rule for foreign data reaching this actor.
fn read_rule(actor: Actor) -> &'static RuleInfo {
    match actor {
        Actor::Tenant => &rules::CROSS_TENANT_READ,
        Actor::Anonymous | Actor::AnonymousOnVictimHost => &rules::ANONYMOUS_READ,
        Actor::Forged | Actor::Unsigned => &rules::FORGED_TOKEN,
        Actor::UnknownTenantHost | Actor::VictimHost | Actor::BodyTenant | Actor::QueryTenant => {
            &rules::TENANT_CONFUSION
        }
    }
}

fn write_rule(actor: Actor) -> &'static RuleInfo {
    match actor {
        Actor::Tenant => &rules::CROSS_TENANT_WRITE,
        other => read_rule(other),
    }
}

struct Judge<'a> {
    ctx: &'a Ctx<'a>,
    actor: Actor,
    leaks: Vec<Leak>,
    exchanges: Vec<Exchange>,
}

impl Judge<'_> {
    fn record(&mut self, e: &Exchange) {
        self.exchanges.push(e.clone());
        self.ctx
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(e.clone());
    }

    fn leak(&mut self, rule: &'static RuleInfo, object: &str, detail: String) {
        self.leaks.push(Leak {
            rule,
            object: object.to_owned(),
            detail,
            actor: self.actor,
            exchanges: self.exchanges.clone(),
        });
    }

    /// 5xx and foreign values in one answer.
    fn inspect(&mut self, e: &Exchange, object: &str, p: &Presented) {
        if e.status >= 500 {
            self.leak(
                &rules::SERVER_ERROR,
                object,
                format!("{} got {} from {} {}.", p.label, e.status, e.method, e.path),
            );
        }
        // The response text is scanned as it came (no JSON round trip): every registered value
        // here is text (ids, markers), so no number matching is needed.
        let sightings = {
            let mut ownership = self
                .ctx
                .world
                .ownership
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // The echo rule: whatever registered value this attempt itself sent (path, query,
            // body, Host) is the actor's own input coming back, never a leak.
            let sent = format!(
                "{} {}\n{}",
                e.path,
                e.host.as_deref().unwrap_or_default(),
                e.body.as_ref().map(ToString::to_string).unwrap_or_default()
            );
            let mut supplied = p.supplied.clone();
            supplied.extend(
                ownership
                    .foreign_in_text(&sent, None, &HashSet::new())
                    .into_iter()
                    .map(|s| s.value),
            );
            ownership.foreign_in_text(&e.response, p.viewer, &supplied)
        };
        if !sightings.is_empty() && self.ctx.client.echoes_other_request(&e.response, e.seq) {
            // Another request's body read as the start of this one: one finding of its own.
            self.leak(
                &rules::REQUEST_DESYNC,
                "connection reuse",
                format!(
                    "{} ({}) got an answer repeating the body of an earlier request, sent on \
                     the same connection: {} {}.",
                    p.label, e.status, e.method, e.path
                ),
            );
        } else if !sightings.is_empty() {
            let shown: Vec<String> = sightings
                .iter()
                .take(3)
                .map(|s| format!("`{}` (tenant {})", s.value, tag(s.owner)))
                .collect();
            self.leak(
                read_rule(self.actor),
                object,
                format!(
                    "{} ({}) received {} value(s) of other tenants: {}.",
                    p.label,
                    e.status,
                    sightings.len(),
                    shown.join(", ")
                ),
            );
        }
    }
}

fn tag(i: TenantIdx) -> char {
    char::from(b'A' + u8::try_from(i % 26).unwrap_or(0))
}

fn pick<T>(items: &[T], choice: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(choice) % items.len()])
}

/// An id no tenant has, shaped like `like`.
fn missing_id(like: &str) -> String {
    if uuid::Uuid::parse_str(like).is_ok() {
        uuid::Uuid::new_v4().to_string()
    } else if like.chars().all(|c| c.is_ascii_digit()) {
        "987654321".into()
    } else {
        format!(
            "tpmissing{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    }
}

/// Runs `step`; its leaks come back with the exchanges that show them.
pub async fn run_step(ctx: &Ctx<'_>, step: &Step) -> Result<Vec<Leak>, reqwest::Error> {
    let n = ctx.tenants.len();
    if n < 2 {
        return Ok(Vec::new());
    }
    let a = usize::from(step.actor_tenant) % n;
    let b = (a + 1 + usize::from(step.victim) % (n - 1)) % n;
    let Some(p) = present(ctx, step.actor, a, b) else {
        return Ok(Vec::new());
    };
    let resources = &ctx.client.target.resources;
    if resources.is_empty() {
        return Ok(Vec::new());
    }
    let mut judge = Judge {
        ctx,
        actor: step.actor,
        leaks: Vec::new(),
        exchanges: Vec::new(),
    };
    match &step.op {
        Op::List {
            resource,
            parent,
            foreign_parent,
        } => {
            let r = usize::from(*resource) % resources.len();
            let Some(endpoint) = &resources[r].list else {
                return Ok(Vec::new());
            };
            let parent_owner = if *foreign_parent { b } else { a };
            let parent_item = match parent_index(resources, r) {
                Some(pr) => match pick(&ctx.world.items_of(pr, parent_owner), *parent) {
                    Some(item) => Some((*item).clone()),
                    None => return Ok(Vec::new()),
                },
                None => None,
            };
            let values = values_for(
                &p.path_tenant,
                "",
                None,
                parent_item.as_ref().map(|i| i.id.as_str()),
            );
            let Ok(path) = endpoint.path.render(&values) else {
                return Ok(Vec::new());
            };
            let method = endpoint.method_for(Operation::List);
            let body = p
                .body_tenant
                .as_ref()
                .map(|t| serde_json::json!({ "tenant_id": t }));
            let mut supplied = p.supplied.clone();
            if let (true, Some(item)) = (*foreign_parent, &parent_item) {
                supplied.insert(item.id.clone());
            }
            let p = Presented { supplied, ..p };
            let e = ctx
                .client
                .send(
                    &p.label,
                    &p.creds,
                    &method,
                    &with_query(&path, &p.query),
                    body.as_ref(),
                )
                .await?;
            judge.record(&e);
            let object = object(&method, endpoint);
            judge.inspect(&e, &object, &p);
            // Liveness: A, listing under its own parent, sees every item it owns there.
            if step.actor == Actor::Tenant && !*foreign_parent {
                let own: Vec<&Item> = ctx
                    .world
                    .items
                    .iter()
                    .filter(|i| {
                        i.resource == r
                            && i.owner == a
                            && i.parent == parent_item.as_ref().map(|x| x.id.clone())
                    })
                    .collect();
                let missing: Vec<&&Item> = own
                    .iter()
                    .filter(|i| !e.response.contains(&i.marker))
                    .collect();
                if !own.is_empty() && (!e.is_success() || !missing.is_empty()) {
                    judge.leak(
                        &rules::TENANT_LOCKED_OUT,
                        &object,
                        format!(
                            "Tenant {} listed `{}` ({}) and {} of its {} item(s) were missing.",
                            tag(a),
                            resources[r].name,
                            e.status,
                            missing.len(),
                            own.len()
                        ),
                    );
                }
            }
        }
        Op::Get {
            resource,
            item,
            parent,
        }
        | Op::Update {
            resource,
            item,
            parent,
        }
        | Op::Delete {
            resource,
            item,
            parent,
        } => {
            let r = usize::from(*resource) % resources.len();
            let (endpoint, operation) = match &step.op {
                Op::Get { .. } => (&resources[r].get, Operation::Get),
                Op::Update { .. } => (&resources[r].update, Operation::Update),
                _ => (&resources[r].delete, Operation::Delete),
            };
            let Some(endpoint) = endpoint else {
                return Ok(Vec::new());
            };
            // A nested route names the parent beside the child: mix the two tenants' objects.
            let nested_parent =
                parent_index(resources, r).filter(|_| endpoint.path.1.contains("{parent_id}"));
            let mix = nested_parent.map(|pr| (*parent, pr));
            let (child_owner, parent_from) = match mix {
                None | Some((ParentMix::Own, _)) => (b, None),
                Some((ParentMix::ActorsParent(choice), pr)) => (b, Some((pr, a, choice))),
                Some((ParentMix::VictimsParent(choice), pr)) => (a, Some((pr, b, choice))),
            };
            let Some(target) =
                pick(&ctx.world.items_of(r, child_owner), *item).map(|i| (*i).clone())
            else {
                return Ok(Vec::new());
            };
            let path_parent = match parent_from {
                None => target.parent.clone(),
                Some((pr, owner, choice)) => match pick(&ctx.world.items_of(pr, owner), choice) {
                    Some(item) => Some(item.id.clone()),
                    None => return Ok(Vec::new()),
                },
            };
            // A's own child under B's parent: only B's parent is foreign, so nothing of B is at
            // stake but what the answer shows (judged by ownership) and how it differs from a
            // missing parent.
            let own_child_foreign_parent = child_owner == a;
            let marker = next_marker(ctx.markers);
            let method = endpoint.method_for(operation);
            let object = object(&method, endpoint);
            let mut p = p;
            p.supplied.insert(target.id.clone());
            p.supplied.extend(target.parent.clone());
            p.supplied.extend(path_parent.clone());
            let p = p;
            let request = |id: &str, parent: Option<&str>| {
                let values = values_for(&p.path_tenant, &marker, Some(id), parent);
                let path = endpoint.path.render(&values).ok()?;
                Some((
                    with_query(&path, &p.query),
                    body_for(endpoint, &values, p.body_tenant.as_ref()),
                ))
            };
            let Some((path, body)) = request(&target.id, path_parent.as_deref()) else {
                return Ok(Vec::new());
            };
            let e = ctx
                .client
                .send(&p.label, &p.creds, &method, &path, body.as_ref())
                .await?;
            judge.record(&e);
            judge.inspect(&e, &object, &p);
            let under = match (&parent_from, &path_parent) {
                (Some((pr, owner, _)), Some(id)) => format!(
                    " under tenant {}'s `{}` {id}",
                    tag(*owner),
                    resources[*pr].name
                ),
                _ => String::new(),
            };
            if own_child_foreign_parent {
                if p.viewer.is_some() && !e.is_success() {
                    // B's parent must answer exactly like a parent that does not exist.
                    let missing = path_parent.as_deref().map(missing_id);
                    if let Some((path, body)) = request(&target.id, missing.as_deref()) {
                        let control = ctx
                            .client
                            .send(&p.label, &p.creds, &method, &path, body.as_ref())
                            .await?;
                        let normal = |x: &Exchange, id: Option<&str>| {
                            let text = id.map_or_else(
                                || x.response.clone(),
                                |id| x.response.replace(id, "{parent_id}"),
                            );
                            (x.status, text)
                        };
                        if normal(&e, path_parent.as_deref())
                            != normal(&control, missing.as_deref())
                        {
                            judge.record(&control);
                            judge.leak(
                                &rules::FOREIGN_ID_DISTINGUISHABLE,
                                &object,
                                format!(
                                    "Its own `{}`{under} answered {} and under a missing parent {}.",
                                    resources[r].name, e.status, control.status
                                ),
                            );
                        }
                    }
                }
                return Ok(judge.leaks);
            }
            if e.is_success() {
                let rule = if operation == Operation::Get {
                    read_rule(step.actor)
                } else {
                    write_rule(step.actor)
                };
                judge.leak(
                    rule,
                    &object,
                    format!(
                        "{} {} tenant {}'s `{}` {}{under}: {}.",
                        p.label,
                        operation.as_str(),
                        tag(b),
                        resources[r].name,
                        target.id,
                        e.status
                    ),
                );
            } else if p.viewer.is_some() {
                // Another tenant's id must answer exactly like an id that does not exist.
                let missing = missing_id(&target.id);
                if let Some((path, body)) = request(&missing, path_parent.as_deref()) {
                    let control = ctx
                        .client
                        .send(&p.label, &p.creds, &method, &path, body.as_ref())
                        .await?;
                    let normal =
                        |x: &Exchange, id: &str| (x.status, x.response.replace(id, "{id}"));
                    // The spec's foreign status applies where the API accepts the caller as A; a
                    // caller it refuses outright (A on B's host) only has to be refused alike.
                    let accepted_as_a = matches!(
                        step.actor,
                        Actor::Tenant | Actor::BodyTenant | Actor::QueryTenant
                    );
                    let allowed =
                        !accepted_as_a || ctx.client.target.foreign_status.contains(&e.status);
                    if !allowed || normal(&e, &target.id) != normal(&control, &missing) {
                        judge.record(&control);
                        judge.leak(
                            &rules::FOREIGN_ID_DISTINGUISHABLE,
                            &object,
                            format!(
                                "Tenant {}'s id answered {} and a missing id {} (allowed: {:?}).",
                                tag(b),
                                e.status,
                                control.status,
                                ctx.client.target.foreign_status
                            ),
                        );
                    }
                }
            }
            if operation != Operation::Get {
                verify_victim_item(
                    ctx, &mut judge, step.actor, b, r, &target, &marker, &object, operation,
                )
                .await?;
            }
        }
        Op::Create { resource, parent } => {
            let r = usize::from(*resource) % resources.len();
            let Some(endpoint) = &resources[r].create else {
                return Ok(Vec::new());
            };
            let parent_resource = parent_index(resources, r);
            // A child goes under B's parent; a top-level item is created as A with the actor's tricks.
            let parent_item = match parent_resource {
                Some(pr) => match pick(&ctx.world.items_of(pr, b), *parent) {
                    Some(item) => Some((*item).clone()),
                    None => return Ok(Vec::new()),
                },
                None => None,
            };
            if parent_item.is_none() && step.actor == Actor::Tenant {
                return Ok(Vec::new());
            }
            let marker = next_marker(ctx.markers);
            let values = values_for(
                &p.path_tenant,
                &marker,
                None,
                parent_item.as_ref().map(|i| i.id.as_str()),
            );
            let Ok(path) = endpoint.path.render(&values) else {
                return Ok(Vec::new());
            };
            let body = body_for(endpoint, &values, p.body_tenant.as_ref());
            let method = endpoint.method_for(Operation::Create);
            let object = object(&method, endpoint);
            let mut supplied = p.supplied.clone();
            if let Some(item) = &parent_item {
                supplied.insert(item.id.clone());
            }
            let p = Presented { supplied, ..p };
            let e = ctx
                .client
                .send(
                    &p.label,
                    &p.creds,
                    &method,
                    &with_query(&path, &p.query),
                    body.as_ref(),
                )
                .await?;
            judge.record(&e);
            judge.inspect(&e, &object, &p);
            if let Some(id) = e
                .is_success()
                .then(|| {
                    e.json()
                        .pointer(&resources[r].id)
                        .and_then(crate::attack::db::json_text)
                })
                .flatten()
            {
                ctx.world
                    .extra
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(Item {
                        resource: r,
                        owner: usize::MAX,
                        id,
                        parent: parent_item.as_ref().map(|i| i.id.clone()),
                        marker: marker.clone(),
                    });
            }
            // Does B now see A's new item among its own?
            if let Some(list) = &resources[r].list {
                let own_b = &ctx.identities[b];
                let values = values_for(
                    &ctx.tenants[b],
                    "",
                    None,
                    parent_item.as_ref().map(|i| i.id.as_str()),
                );
                if let Ok(path) = list.path.render(&values) {
                    let seen = ctx
                        .client
                        .send(
                            &own_b.label,
                            &own_b.creds,
                            &list.method_for(Operation::List),
                            &path,
                            None,
                        )
                        .await?;
                    if seen.response.contains(&marker) {
                        judge.record(&seen);
                        judge.leak(
                            write_rule(step.actor),
                            &object,
                            format!(
                                "{} created an item that tenant {} now lists as its own.",
                                p.label,
                                tag(b)
                            ),
                        );
                    }
                }
            }
        }
        Op::Own { resource, item } => {
            if step.actor != Actor::Tenant {
                return Ok(Vec::new());
            }
            let r = usize::from(*resource) % resources.len();
            let Some(endpoint) = &resources[r].get else {
                return Ok(Vec::new());
            };
            let Some(own) = pick(&ctx.world.items_of(r, a), *item).map(|i| (*i).clone()) else {
                return Ok(Vec::new());
            };
            let values = values_for(&ctx.tenants[a], "", Some(&own.id), own.parent.as_deref());
            let Ok(path) = endpoint.path.render(&values) else {
                return Ok(Vec::new());
            };
            let method = endpoint.method_for(Operation::Get);
            let e = ctx
                .client
                .send(&p.label, &p.creds, &method, &path, None)
                .await?;
            judge.record(&e);
            let object = object(&method, endpoint);
            judge.inspect(&e, &object, &p);
            if !e.is_success() || !e.response.contains(&own.marker) {
                judge.leak(
                    &rules::TENANT_LOCKED_OUT,
                    &object,
                    format!(
                        "Tenant {} fetched its own `{}` {} and got {}.",
                        tag(a),
                        resources[r].name,
                        own.id,
                        e.status
                    ),
                );
            }
        }
        Op::DeleteThenGet { resource } => {
            if step.actor != Actor::Tenant {
                return Ok(Vec::new());
            }
            let r = usize::from(*resource) % resources.len();
            let (Some(get), Some(delete)) = (&resources[r].get, &resources[r].delete) else {
                return Ok(Vec::new());
            };
            let parent = match parent_index(resources, r) {
                Some(pr) => match ctx.world.items_of(pr, a).first() {
                    Some(item) => Some(item.id.clone()),
                    None => return Ok(Vec::new()),
                },
                None => None,
            };
            let marker = next_marker(ctx.markers);
            let (Some(id), created) = create(
                ctx.client,
                &ctx.tenants[a],
                &ctx.identities[a],
                r,
                parent.as_deref(),
                &marker,
            )
            .await?
            else {
                return Ok(Vec::new());
            };
            judge.record(&created);
            ctx.world
                .extra
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Item {
                    resource: r,
                    owner: a,
                    id: id.clone(),
                    parent: parent.clone(),
                    marker: marker.clone(),
                });
            let values = values_for(&ctx.tenants[a], &marker, Some(&id), parent.as_deref());
            let (Ok(get_path), Ok(delete_path)) =
                (get.path.render(&values), delete.path.render(&values))
            else {
                return Ok(Vec::new());
            };
            let object = object(&get.method_for(Operation::Get), get);
            for (method, path) in [
                (get.method_for(Operation::Get), &get_path),
                (delete.method_for(Operation::Delete), &delete_path),
                (get.method_for(Operation::Get), &get_path),
            ] {
                let e = ctx
                    .client
                    .send(&p.label, &p.creds, &method, path, None)
                    .await?;
                judge.record(&e);
                judge.inspect(&e, &object, &p);
            }
            let last = judge.exchanges.last().cloned();
            if let Some(last) = last
                && last.is_success()
                && last.response.contains(&marker)
            {
                judge.leak(
                    &rules::STALE_AFTER_DELETE,
                    &object,
                    format!(
                        "Tenant {} deleted `{}` {id} and could still fetch it ({}).",
                        tag(a),
                        resources[r].name,
                        last.status
                    ),
                );
            }
        }
    }
    Ok(judge.leaks)
}

/// After an update or delete aimed at B's item: does B see A's change, or miss its item?
#[allow(clippy::too_many_arguments)]
async fn verify_victim_item(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    actor: Actor,
    b: TenantIdx,
    r: usize,
    item: &Item,
    marker: &str,
    object: &str,
    operation: Operation,
) -> Result<(), reqwest::Error> {
    let Some(get) = &ctx.client.target.resources[r].get else {
        return Ok(());
    };
    let own_b = &ctx.identities[b];
    let values = values_for(&ctx.tenants[b], "", Some(&item.id), item.parent.as_deref());
    let Ok(path) = get.path.render(&values) else {
        return Ok(());
    };
    let seen = ctx
        .client
        .send(
            &own_b.label,
            &own_b.creds,
            &get.method_for(Operation::Get),
            &path,
            None,
        )
        .await?;
    let changed = match operation {
        Operation::Delete => !seen.is_success(),
        _ => seen.response.contains(marker),
    };
    if changed
        && !judge
            .leaks
            .iter()
            .any(|l| std::ptr::eq(l.rule, write_rule(actor)) && l.object == object)
    {
        judge.record(&seen);
        judge.leak(
            write_rule(actor),
            object,
            format!(
                "After the {} aimed at its `{}`, tenant {} sees the change ({}).",
                operation.as_str(),
                ctx.client.target.resources[r].name,
                tag(b),
                seen.status
            ),
        );
    }
    Ok(())
}
