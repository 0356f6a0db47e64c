//! Running one step (`run_step`) as its actor: one module per operation, each judging its answers
//! through the shared `Judge` — by ownership (whose values came back), by status (a 2xx on another
//! tenant's resource, any 5xx), by comparison with a missing id, and by what the victim sees
//! afterwards.

mod by_id;
mod create;
mod delete_then_get;
mod export;
mod judge;
mod list;
mod own;
mod present;
mod search;

use std::sync::Mutex;

use serde_json::Value;

use super::ops::{Actor, Op, Step};
use crate::actor::Identity;
use crate::actor::world::{Item, World};
use crate::actor::{Client, Exchange, values_for};
use crate::oracle::{Markers, TenantIdx};
use crate::rules::RuleInfo;
use crate::spec::{Endpoint, Operation, Values};
use crate::target::TestTenant;

use self::judge::Judge;
pub use self::judge::is_confusion;
use self::present::{Presented, present};
pub use super::world::ExecError;

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

/// The step's acting tenant A, its victim B, the resource it names (an index into the target's
/// resources), and how A presents itself.
struct Acting {
    a: TenantIdx,
    b: TenantIdx,
    r: usize,
    p: Presented,
}

/// Runs `step`; its leaks come back with the exchanges that show them. `None`: the step did not
/// apply (no such endpoint or carrier) and sent nothing.
pub async fn run_step(ctx: &Ctx<'_>, step: &Step) -> Result<Option<Vec<Leak>>, ExecError> {
    let n = ctx.tenants.len();
    if n < 2 || ctx.client.target.resources.is_empty() {
        return Ok(None);
    }
    let a = usize::from(step.actor_tenant) % n;
    let b = (a + 1 + usize::from(step.victim) % (n - 1)) % n;
    let Some(p) = present(ctx, step.actor, a, b) else {
        return Ok(None);
    };
    let r = usize::from(step.op.resource()) % ctx.client.target.resources.len();
    let acting = Acting { a, b, r, p };
    let mut judge = Judge::new(ctx, step.actor);
    match &step.op {
        Op::List {
            parent,
            foreign_parent,
            ..
        } => list::run(ctx, &mut judge, acting, *parent, *foreign_parent).await?,
        Op::Get { .. } | Op::Update { .. } | Op::Delete { .. } => {
            by_id::run(ctx, &mut judge, acting, &step.op).await?;
        }
        Op::Create { parent, .. } => create::run(ctx, &mut judge, acting, *parent).await?,
        Op::Own { item, .. } => own::run(ctx, &mut judge, acting, *item).await?,
        Op::DeleteThenGet { .. } => delete_then_get::run(ctx, &mut judge, acting).await?,
        Op::Search { item, own, .. } => search::run(ctx, &mut judge, acting, *item, *own).await?,
        Op::Export { .. } => export::run(ctx, &mut judge, acting).await?,
    }
    Ok(judge.into_leaks())
}

fn tag(i: TenantIdx) -> char {
    char::from(b'A' + u8::try_from(i % 26).unwrap_or(0))
}

fn pick<T>(items: &[T], choice: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(choice) % items.len()])
}

/// The endpoint as findings name it (`METHOD path`).
fn object(method: &str, endpoint: &Endpoint) -> String {
    format!("{method} {}", endpoint.path.1)
}

/// A request to an endpoint as the presented actor: the endpoint's path, query and headers
/// rendered from `values` (`{marker}` empty means the path tenant's own marker), the actor's
/// tenant parameters added to the query and its tenant fields to the JSON body.
struct Outgoing {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

impl Outgoing {
    fn new(endpoint: &Endpoint, method: String, mut values: Values, p: &Presented) -> Option<Self> {
        if values.get("marker").is_none_or(String::is_empty) {
            values.insert("marker".into(), p.path_tenant.marker.clone());
        }
        let rendered = super::world::render(endpoint, &values, &p.query)?;
        let body = body_for(endpoint, &values, &p.body_tenant);
        Some(Self {
            method,
            path: rendered.path,
            headers: rendered.headers,
            body,
        })
    }

    async fn send(&self, ctx: &Ctx<'_>, p: &Presented) -> Result<Exchange, reqwest::Error> {
        ctx.client
            .send_with(
                &p.label,
                &p.creds,
                &self.method,
                &self.path,
                &self.headers,
                self.body.as_ref(),
            )
            .await
    }
}

/// Sends `operation` to `endpoint` as the presented actor and judges the answer (recorded, and
/// inspected for foreign values). `None`: the endpoint cannot be rendered from `values`, and
/// nothing was sent. The exchange comes back with the endpoint as findings name it.
async fn attempt(
    judge: &mut Judge<'_>,
    endpoint: &Endpoint,
    operation: Operation,
    values: Values,
    p: &Presented,
) -> Result<Option<(Exchange, String)>, ExecError> {
    let method = endpoint.method_for(operation);
    let Some(request) = Outgoing::new(endpoint, method.clone(), values, p) else {
        return Ok(None);
    };
    let e = request.send(judge.ctx, p).await?;
    judge.record(&e);
    let object = object(&method, endpoint);
    judge.inspect(&e, &object, p);
    Ok(Some((e, object)))
}

/// What tenant `t` itself (its own credentials, no tricks) gets from `operation` on `endpoint`
/// for the item `id` under `parent`: how a victim checks what an attack changed. `None`: the
/// endpoint cannot be rendered for `t`, and nothing was sent.
async fn seen_by(
    ctx: &Ctx<'_>,
    t: TenantIdx,
    endpoint: &Endpoint,
    operation: Operation,
    id: Option<&str>,
    parent: Option<&str>,
) -> Result<Option<Exchange>, reqwest::Error> {
    let values = values_for(&ctx.tenants[t], "", id, parent);
    let Some(request) = super::world::render(endpoint, &values, &[]) else {
        return Ok(None);
    };
    let own = &ctx.identities[t];
    let method = endpoint.method_for(operation);
    let e = ctx
        .client
        .send_with(
            &own.label,
            &own.creds,
            &method,
            &request.path,
            &request.headers,
            None,
        )
        .await?;
    Ok(Some(e))
}

/// Keeps an item a step created, to be deleted at the end of the case.
fn delete_later(ctx: &Ctx<'_>, item: Item) {
    ctx.world
        .extra
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(item);
}

/// The endpoint's JSON body, with the actor's tenant fields set in it (a body of their own when
/// the endpoint has none).
fn body_for(
    endpoint: &Endpoint,
    values: &Values,
    tenant_fields: &[(String, String)],
) -> Option<Value> {
    let mut body = endpoint
        .body
        .as_ref()
        .and_then(|b| crate::spec::render_json(&b.0, values).ok());
    if !tenant_fields.is_empty() {
        let mut object = match body.take() {
            Some(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        for (field, value) in tenant_fields {
            object.insert(field.clone(), Value::String(value.clone()));
        }
        body = Some(Value::Object(object));
    }
    body
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
