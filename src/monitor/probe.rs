//! The probe's fixed state (`Probe`): the resolved target, the synthetic tenants and their
//! credentials, who owns which value, and the database connection it keeps between cycles.
//! `init` provisions the synthetic tenants and their canaries; everything else only reads.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tokio::sync::Mutex;

use super::MonitorError;
use crate::Error;
use crate::actor::{Client, Credentials, Exchange};
use crate::actor::{Identity, values_for, world};
use crate::checks::keys::{Classifier, Owners};
use crate::oracle::Ownership;
use crate::spec::{Carrier, Endpoint, MonitorSpec, Operation, Spec, TenancySpec};
pub use crate::target::Provisioning;
use crate::target::{AppRole, Env, Flags, Pooler, Target, Tenant};
use crate::tenancy::Tenancy;

use super::request::{Rendered, render};

/// The spec has no `[monitor]` section (a usage error).
pub fn no_monitor_section() -> Error {
    Error::usage(
        "the spec has no [monitor] section: add one with `schedule` and `synthetic_tenants`",
    )
}

/// Limits of one cycle.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Each check's own timeout.
    pub check_timeout: Duration,
    /// Redis: stop the key scan after this many keys.
    pub redis_max_keys: u64,
    /// Redis: check the values of this many sampled keys.
    pub redis_sample: usize,
}

impl ProbeOptions {
    pub fn from_spec(monitor: &MonitorSpec) -> Self {
        Self {
            check_timeout: monitor.check_timeout,
            redis_max_keys: 10_000,
            redis_sample: 100,
        }
    }
}

/// The database side: an observer URL that may `SET ROLE` to the app role.
pub struct DatabaseProbe {
    pub url: String,
    pub tenancy: Tenancy,
    /// Timeouts every probe session carries.
    pub limits: crate::session::SessionLimits,
    /// The app role through the application's transaction-mode pooler (`pooler_url_env`), when the
    /// spec names one and it is set: the no-tenant check then looks at pooled connections too.
    pub pooler_url: Option<String>,
    /// Kept between cycles; dropped after any error and reconnected by the next check.
    pub conn: Mutex<Option<PgConnection>>,
    /// The spec's `placements_query`: where premium tenants live.
    pub placements_query: Option<String>,
}

impl DatabaseProbe {
    /// The kept connection, or a new one (bounded by `timeout`).
    pub async fn connection(&self, timeout: Duration) -> Result<PgConnection, MonitorError> {
        let kept = self.conn.lock().await.take();
        if let Some(mut conn) = kept {
            // A connection that outlived a server restart fails its first query: check first.
            if tokio::time::timeout(timeout, conn.ping())
                .await
                .is_ok_and(|r| r.is_ok())
            {
                return Ok(conn);
            }
        }
        let options = crate::sql::connect_options(&self.url)
            .map(|o| self.limits.apply(o))
            .map_err(|e| MonitorError::DatabaseUrl(e.to_string()))?;
        match tokio::time::timeout(timeout, PgConnection::connect_with(&options)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(MonitorError::Connect(e)),
            Err(_) => Err(MonitorError::ConnectTimeout(timeout)),
        }
    }

    /// Gives a healthy connection back for the next check.
    pub async fn keep(&self, conn: PgConnection) {
        *self.conn.lock().await = Some(conn);
    }
}

/// The Redis side.
pub struct RedisProbe {
    pub url: String,
    pub classifier: Classifier,
}

/// Who sends a request: one synthetic tenant, or nobody (no credentials at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Tenant(usize),
    Anonymous,
}

/// Everything a cycle needs, set up once.
pub struct Probe {
    pub name: String,
    /// Provisioning and pushing only; requests of a cycle go through `actor_clients`.
    pub client: Client,
    /// One client, and so one connection pool, per actor (each synthetic tenant, then the
    /// anonymous caller): no connection is ever shared between identities, so one actor's
    /// leftovers on a kept-alive connection cannot be mistaken for another's answer.
    actor_clients: Vec<Client>,
    pub tenants: Vec<Tenant>,
    pub identities: Vec<Identity>,
    /// Static values of every synthetic tenant: id, user id, canary marker.
    pub ownership: Ownership,
    pub database: Option<DatabaseProbe>,
    pub redis: Option<RedisProbe>,
    /// Indices (into `tenants`) of the synthetic tenants that live in premium databases.
    pub premium: Vec<usize>,
    /// Where a request can name its tenant (`[api.tenancy]`, declared or inferred): tenant
    /// confusion is tried only through these.
    pub carriers: Vec<Carrier>,
    pub tenancy: TenancySpec,
    pub options: ProbeOptions,
    /// Latency of every API request since the last `take_latencies` (for the canary's p99).
    latencies: std::sync::Mutex<Vec<Duration>>,
}

/// What `init` did.
#[derive(Debug, Default)]
pub struct InitReport {
    /// (tenant slug, resource, id) of every canary created now.
    pub created: Vec<(String, String, String)>,
    /// How many canaries were already there.
    pub existing: usize,
}

/// One canary item found in a tenant's own list.
#[derive(Debug, Clone)]
pub struct Canary {
    pub resource: usize,
    pub id: String,
    pub parent: Option<String>,
}

impl Probe {
    /// Resolves the spec's API, database and Redis from `env` and obtains the synthetic tenants.
    pub async fn setup(
        spec: &Spec,
        env: Env<'_>,
        provisioning: Provisioning,
        options: Option<ProbeOptions>,
    ) -> Result<Self, Error> {
        let monitor = spec.monitor.as_ref().ok_or_else(no_monitor_section)?;
        if monitor.synthetic_tenants.len() < 2 {
            return Err(Error::usage(format!(
                "[monitor] synthetic_tenants needs at least two slugs (it has {})",
                monitor.synthetic_tenants.len()
            )));
        }
        let (carriers, tenancy) = spec
            .api
            .as_ref()
            .map(|api| (api.carriers(), api.tenancy.clone()))
            .unwrap_or_default();
        let slugs = &monitor.synthetic_tenants;
        let resolved = Target::with_env(Some(only_synthetic(spec, slugs)?), Flags::default(), env);
        let target = resolved.api()?;
        let client = Client::new(target.clone()).map_err(Error::failed)?;
        let http = client.http.clone();
        let tenants = resolved
            .tenants(slugs, &http, Some(&target), provisioning)
            .await?;
        let actor_clients = (0..=tenants.len())
            .map(|_| Client::new(target.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Error::failed)?;
        let identities = crate::actor::identities(&client, &tenants).map_err(Error::failed)?;
        let mut ownership = Ownership::default();
        for (i, t) in tenants.iter().enumerate() {
            ownership.register(t.tenant_id.clone(), i);
            ownership.register(t.marker.clone(), i);
            if let Some(user) = &t.user_id {
                ownership.register(user.clone(), i);
            }
        }
        // Build the value matcher once; every check works on a cheap clone of it.
        ownership.foreign_in_text("", None, &HashSet::new());
        let database = match &spec.database {
            Some(_) => {
                let db = resolved.database(AppRole::Optional)?;
                Some(DatabaseProbe {
                    pooler_url: match db.pooler {
                        Pooler::Url(url) => Some(url),
                        Pooler::Unset(_) | Pooler::NotAsked => None,
                    },
                    conn: Mutex::new(None),
                    placements_query: db.placements_query,
                    url: db.url,
                    tenancy: db.tenancy,
                    limits: db.limits,
                })
            }
            None => None,
        };
        let mut premium = Vec::new();
        for slug in &monitor.premium_tenants {
            let i = tenants.iter().position(|t| &t.slug == slug).ok_or_else(|| {
                Error::usage(format!(
                    "[monitor] premium_tenants names `{slug}`, which is not one of synthetic_tenants"
                ))
            })?;
            if database
                .as_ref()
                .is_none_or(|d| d.placements_query.is_none())
            {
                return Err(Error::usage(format!(
                    "[monitor] premium_tenants names `{slug}` but [database] has no placements_query to find its database"
                )));
            }
            premium.push(i);
        }
        let redis = match &spec.redis {
            Some(_) => {
                let redis = resolved.redis()?;
                Some(RedisProbe {
                    // Real tenants are unknown to the probe: no orphan check in production.
                    classifier: redis.classifier(None),
                    url: redis.url,
                })
            }
            None => None,
        };
        Ok(Self {
            name: spec.name.clone(),
            client,
            actor_clients,
            tenants,
            identities,
            ownership,
            database,
            redis,
            premium,
            carriers,
            tenancy,
            options: options.unwrap_or_else(|| ProbeOptions::from_spec(monitor)),
            latencies: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Owners for the Redis value check: the synthetic tenants' ids, markers and canary ids.
    pub fn owners(&self, canaries: &[Vec<Canary>]) -> Owners {
        let mut owners = Owners::default();
        for (i, t) in self.tenants.iter().enumerate() {
            let mut values: Vec<&str> = vec![t.marker.as_str()];
            values.extend(t.user_id.as_deref());
            values.extend(canaries.get(i).into_iter().flatten().map(|c| c.id.as_str()));
            owners.add(i, &[t.tenant_id.as_str(), t.slug.as_str()], &values);
        }
        owners
    }

    /// The client (and connection pool) of `actor`.
    pub fn client_for(&self, actor: Actor) -> &Client {
        let index = match actor {
            Actor::Tenant(i) => i,
            Actor::Anonymous => self.tenants.len(),
        };
        self.actor_clients.get(index).unwrap_or(&self.client)
    }

    /// Sends one request as `actor`, timing it.
    pub async fn send(
        &self,
        actor: Actor,
        creds: &Credentials,
        method: &str,
        request: &Rendered,
        body: Option<&Value>,
    ) -> Result<Exchange, reqwest::Error> {
        let who = match actor {
            Actor::Tenant(i) => self.identities[i].label.as_str(),
            Actor::Anonymous => "anonymous",
        };
        let begun = std::time::Instant::now();
        let exchange = self
            .client_for(actor)
            .send_with(who, creds, method, &request.path, &request.headers, body)
            .await;
        self.latencies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(begun.elapsed());
        exchange
    }

    /// The request latencies recorded since the last call.
    pub fn take_latencies(&self) -> Vec<Duration> {
        std::mem::take(
            &mut *self
                .latencies
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Lists `resource` as tenant `i` (under `parent`).
    pub async fn list(
        &self,
        i: usize,
        resource: usize,
        parent: Option<&str>,
    ) -> Result<Option<Exchange>, reqwest::Error> {
        let spec = &self.client.target.resources[resource];
        let Some(endpoint) = &spec.list else {
            return Ok(None);
        };
        let values = values_for(&self.tenants[i], "", None, parent);
        let Ok(request) = render(endpoint, &values) else {
            return Ok(None);
        };
        self.send_own(i, endpoint, Operation::List, &request, None)
            .await
            .map(Some)
    }

    /// Sends `endpoint`'s `op` as synthetic tenant `i`, with its own credentials.
    pub async fn send_own(
        &self,
        i: usize,
        endpoint: &Endpoint,
        op: Operation,
        request: &Rendered,
        body: Option<&Value>,
    ) -> Result<Exchange, reqwest::Error> {
        let creds = &self.identities[i].creds;
        let method = endpoint.method_for(op);
        self.send(Actor::Tenant(i), creds, &method, request, body)
            .await
    }

    /// The items of a list response, by the resource's `items` pointer.
    pub fn items<'a>(&self, resource: usize, json: &'a Value) -> &'a [Value] {
        let pointer = &self.client.target.resources[resource].items;
        json.pointer(pointer)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// An item's id, by the resource's `id` pointer. The pointer is written for a created object,
    /// which an API may wrap (`/data/id` in `{"data": {"id": 7}}`) while its list items are bare:
    /// then the pointer's tails are tried, longest first (`/id`).
    pub fn id_of(&self, resource: usize, item: &Value) -> Option<String> {
        let pointer = self.client.target.resources[resource].id.as_str();
        let tails = pointer
            .match_indices('/')
            .map(|(at, _)| &pointer[at..])
            .collect::<Vec<_>>();
        tails
            .into_iter()
            .find_map(|tail| item.pointer(tail))
            .or_else(|| item.pointer(pointer))
            .and_then(crate::sql::json_text)
    }

    /// Tenant `i`'s canaries, found by its marker in its own lists (parents before children).
    pub async fn find_canaries(&self, i: usize) -> Result<Vec<Canary>, reqwest::Error> {
        let resources = &self.client.target.resources;
        let marker = &self.tenants[i].marker;
        let mut found: Vec<Canary> = Vec::new();
        for ri in world::creation_order(resources) {
            if !self.keeps_canaries(ri) {
                continue;
            }
            for parent in self.parents(ri, &found) {
                let Some(exchange) = self.list(i, ri, parent.as_deref()).await? else {
                    continue;
                };
                if !exchange.is_success() {
                    continue;
                }
                let json = exchange.json();
                for item in self.items(ri, &json) {
                    if item.to_string().contains(marker.as_str())
                        && let Some(id) = self.id_of(ri, item)
                    {
                        found.push(Canary {
                            resource: ri,
                            id,
                            parent: parent.clone(),
                        });
                        break;
                    }
                }
            }
        }
        Ok(found)
    }

    /// Whether `resource` gets canaries: it can be created, and listed to find them again.
    pub fn keeps_canaries(&self, resource: usize) -> bool {
        let r = &self.client.target.resources[resource];
        r.create.is_some() && r.list.is_some()
    }

    /// The resources whose routes reach `resource`'s objects: itself, then every resource without
    /// a `list` that creates at the same path under the same parent (another route to the same
    /// objects, such as `/api/projects/{parent_id}/tasks/{id}` beside `/api/tasks/{id}`).
    pub fn routes_to(&self, resource: usize) -> Vec<usize> {
        let resources = &self.client.target.resources;
        let this = &resources[resource];
        let create = this.create.as_ref().map(|e| e.path.1.as_str());
        let parent = this.parent.as_ref().map(|p| p.get_ref());
        let mut routes = vec![resource];
        routes.extend((0..resources.len()).filter(|&r| {
            let other = &resources[r];
            r != resource
                && other.list.is_none()
                && create.is_some()
                && other.create.as_ref().map(|e| e.path.1.as_str()) == create
                && other.parent.as_ref().map(|p| p.get_ref()) == parent
        }));
        routes
    }

    /// The parents to list `resource` under: none for a top-level resource, else the canaries of
    /// its parent resource found so far.
    pub fn parents(&self, resource: usize, found: &[Canary]) -> Vec<Option<String>> {
        match world::parent_index(&self.client.target.resources, resource) {
            None => vec![None],
            Some(pr) => found
                .iter()
                .filter(|c| c.resource == pr)
                .map(|c| Some(c.id.clone()))
                .collect(),
        }
    }

    /// Creates every missing canary (one per creatable resource, children under the tenant's
    /// canary parent), through the API as each synthetic tenant. Idempotent: a canary is found by
    /// the tenant's marker before anything is created.
    pub async fn init(&self) -> Result<InitReport, MonitorError> {
        let mut report = InitReport::default();
        for i in 0..self.tenants.len() {
            let (existing, created) = self.complete_canaries(i).await?;
            report.existing += existing;
            report
                .created
                .extend(created.into_iter().map(|(resource, id)| {
                    (
                        self.tenants[i].slug.clone(),
                        self.client.target.resources[resource].name.clone(),
                        id,
                    )
                }));
        }
        Ok(report)
    }

    /// Finds tenant `i`'s canaries and creates the missing ones, as tenant `i`. Returns how many
    /// were there and (resource, id) of each one created now.
    pub async fn complete_canaries(
        &self,
        i: usize,
    ) -> Result<(usize, Vec<(usize, String)>), MonitorError> {
        let resources = &self.client.target.resources;
        let slug = &self.tenants[i].slug;
        let existing = self
            .find_canaries(i)
            .await
            .map_err(MonitorError::request(format!(
                "finding `{slug}`'s canaries"
            )))?;
        let mut have = existing.clone();
        let mut created = Vec::new();
        for ri in world::creation_order(resources) {
            if !self.keeps_canaries(ri) {
                continue;
            }
            for parent in self.parents(ri, &have) {
                if have.iter().any(|c| c.resource == ri && c.parent == parent) {
                    continue;
                }
                let tenant = &self.tenants[i];
                let (id, exchange) = world::create(
                    self.client_for(Actor::Tenant(i)),
                    tenant,
                    &self.identities[i],
                    ri,
                    parent.as_deref(),
                    &tenant.marker,
                )
                .await
                .map_err(MonitorError::exec(format!(
                    "creating the {} canary of `{slug}`",
                    resources[ri].name
                )))?;
                let id = id.ok_or_else(|| {
                    MonitorError::Refused(format!(
                        "creating the {} canary of `{}` failed: {} {}",
                        resources[ri].name, tenant.slug, exchange.status, exchange.response
                    ))
                })?;
                created.push((ri, id.clone()));
                have.push(Canary {
                    resource: ri,
                    id,
                    parent: parent.clone(),
                });
            }
        }
        Ok((existing.len(), created))
    }

    /// Values tenant `i` itself owns, which never count as foreign in its answers.
    pub fn own_values(&self, i: usize) -> HashSet<String> {
        let t = &self.tenants[i];
        [
            Some(t.tenant_id.clone()),
            t.user_id.clone(),
            Some(t.marker.clone()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The spec as the monitor sees it: with `existing` tenants, only the synthetic ones (in the order
/// of `synthetic_tenants`), so that no other listed tenant is ever acted as.
fn only_synthetic(spec: &Spec, slugs: &[String]) -> Result<Spec, Error> {
    let mut spec = spec.clone();
    if let Some(crate::spec::TenantsSpec::Existing { tenants }) = &mut spec.tenants {
        let mut chosen = Vec::new();
        for slug in slugs {
            let tenant = tenants.iter().find(|t| t.slug == *slug).ok_or_else(|| {
                Error::usage(format!(
                    "[monitor] synthetic tenant `{slug}` is not among [tenants] existing: list it there with its token"
                ))
            })?;
            chosen.push(tenant.clone());
        }
        *tenants = chosen;
    }
    Ok(spec)
}
