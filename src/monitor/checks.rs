//! The checks of one cycle. Each returns what it found (`Found`) or why it could not look (an
//! error: a surface down, a timeout); none writes anything.

use std::collections::HashSet;

use sqlx::PgConnection;

use crate::actor::{Exchange, values_for, world};
use crate::checks::keys::{self, CacheOptions};
use crate::checks::visibility::{self, NoTenant, Observation, TenantRelation};
use crate::finding::Finding;
use crate::oracle::Ownership;
use crate::spec::{Endpoint, Operation, Values};

use super::MonitorError;
use super::probe::{Canary, DatabaseProbe, Probe};
use super::request::render;
use super::rules::{
    FOREIGN_CANARY_REACHABLE, FOREIGN_DATA_LISTED, OWN_CANARIES_MISSING, UNEXPECTED_ITEM,
};

/// What a check saw.
#[derive(Debug, Default)]
pub struct Found {
    /// Cross-tenant: one tenant's data reached another (counted in `isolation_violations_total`).
    pub violations: Vec<Finding>,
    /// Broken but not a leak: own data missing (deny-everything), a relation that cannot be read.
    pub problems: Vec<Finding>,
    /// Canaries a foreign or anonymous write destroyed or changed, put back in this cycle.
    pub restored: Vec<super::writes::Restored>,
}

impl Found {
    /// Adds what another part of the same check saw.
    pub fn absorb(&mut self, other: Found) {
        self.violations.extend(other.violations);
        self.problems.extend(other.problems);
        self.restored.extend(other.restored);
    }

    /// Adds the app role's visibility findings: foreign rows are violations, relations it could
    /// not read are problems.
    fn absorb_visibility(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for finding in findings {
            if finding.rule == visibility::FOREIGN_ROWS_VISIBLE.id {
                self.violations.push(finding);
            } else if finding.rule == visibility::PROBE_FAILED.id {
                self.problems.push(finding);
            }
        }
    }
}

/// One tenant's rows as the observer sees them (`truth`: a superuser or owner bypasses RLS; an
/// observer that does not merely sees less, and then nothing is reported as missing) and as the
/// app role sees them with the tenant's context set (`seen`).
struct Views {
    truth: Vec<Observation>,
    seen: Vec<Observation>,
}

impl Views {
    /// Both sweeps on `conn`; `contexts` name the observer's and the role's in an error.
    async fn sweep(
        conn: &mut PgConnection,
        db: &DatabaseProbe,
        relations: &[TenantRelation],
        role: &str,
        tenant_id: &str,
        [observer, as_role]: [String; 2],
    ) -> Result<Self, MonitorError> {
        let truth = visibility::sweep(conn, &db.tenancy, relations, None, tenant_id)
            .await
            .map_err(MonitorError::query(observer))?;
        let seen = visibility::sweep(conn, &db.tenancy, relations, Some(role), tenant_id)
            .await
            .map_err(MonitorError::query(as_role))?;
        Ok(Self { truth, seen })
    }

    /// The app role's view of the relations where the observer sees the tenant's own rows and the
    /// app role none of them (deny-everything); a relation either could not read is left out.
    fn own_rows_hidden(&self) -> impl Iterator<Item = &Observation> {
        self.truth
            .iter()
            .zip(&self.seen)
            .filter(|(there, app)| {
                there.error.is_none()
                    && app.error.is_none()
                    && there.own_visible
                    && !app.own_visible
            })
            .map(|(_, app)| app)
    }
}

/// API: every resource listed as tenant `i`; every item its own, its canaries present.
/// Returns the canaries found, which the foreign check then tries from the other tenants.
pub async fn api_own(probe: &Probe, i: usize) -> Result<(Found, Vec<Canary>), MonitorError> {
    let resources = &probe.client.target.resources;
    let tenant = &probe.tenants[i];
    let mut ownership = probe.ownership.clone();
    let mut found = Found::default();
    let mut canaries: Vec<Canary> = Vec::new();
    for ri in world::creation_order(resources) {
        let resource = &resources[ri];
        let Some(endpoint) = &resource.list else {
            continue;
        };
        let object = format!("GET {}", endpoint.path.1);
        let parents = probe.parents(ri, &canaries);
        for parent in parents {
            let listing = format!("listing {} as `{}`", resource.name, tenant.slug);
            let Some(exchange) = probe
                .list(i, ri, parent.as_deref())
                .await
                .map_err(MonitorError::request(listing))?
            else {
                continue;
            };
            let curl = exchange.curl(probe.client.target.base_url.as_str());
            if exchange.status >= 500 {
                return Err(MonitorError::Refused(format!(
                    "{} answered {} to `{}`",
                    object, exchange.status, tenant.slug
                )));
            }
            // The tenant's own canaries are missing from this list, for the reason given.
            let missing = |why: String| {
                OWN_CANARIES_MISSING
                    .finding(&object, &tenant.slug, why)
                    .with_evidence(curl.clone())
            };
            if !exchange.is_success() {
                found.problems.push(missing(format!(
                    "Listing {} as synthetic tenant `{}` was refused with {}.",
                    resource.name, tenant.slug, exchange.status
                )));
                continue;
            }
            let json = exchange.json();
            let mut own_seen = false;
            let mut unexpected: Vec<String> = Vec::new();
            for item in probe.items(ri, &json) {
                let sightings = ownership.foreign_in_json(item, Some(i), &HashSet::new());
                let id = probe.id_of(ri, item);
                if let Some(s) = sightings.first() {
                    found.violations.push(
                        FOREIGN_DATA_LISTED
                            .finding(
                                &object,
                                &tenant.slug,
                                format!(
                                    "Synthetic tenant `{}` listed {} and got an item of `{}` (value `{}`).",
                                    tenant.slug, resource.name, probe.tenants[s.owner].slug, s.value
                                ),
                            )
                            .with_evidence(format!("{curl}\n# answered {}: {item}", exchange.status)),
                    );
                } else if item.to_string().contains(tenant.marker.as_str()) {
                    own_seen = true;
                    if resource.create.is_some() {
                        match id {
                            Some(id) => canaries.push(Canary {
                                resource: ri,
                                id,
                                parent: parent.clone(),
                            }),
                            // Without its id no other check can aim at it: that is no pass.
                            None => found.problems.push(
                                OWN_CANARIES_MISSING
                                    .finding(
                                        &object,
                                        &format!("{}:id", tenant.slug),
                                        format!(
                                            "Synthetic tenant `{}` listed its {} canary but its id is not at `{}`: fix the resource's `id` pointer.",
                                            tenant.slug, resource.name, resource.id
                                        ),
                                    )
                                    .with_evidence(format!("{curl}\n# item: {item}")),
                            ),
                        }
                    }
                } else if id.is_some() && id == tenant.user_id {
                    own_seen = true;
                } else {
                    unexpected.push(id.unwrap_or_else(|| "(no id)".into()));
                }
            }
            if !unexpected.is_empty() {
                found.violations.push(
                    UNEXPECTED_ITEM
                        .finding(
                            &object,
                            &tenant.slug,
                            format!(
                                "Synthetic tenant `{}` listed {} and got {} item(s) that are not its own: ids {}.",
                                tenant.slug,
                                resource.name,
                                unexpected.len(),
                                unexpected.join(", ")
                            ),
                        )
                        .with_evidence(curl.clone()),
                );
            }
            let expects_own = resource.create.is_some() || tenant.user_id.is_some();
            if expects_own && !own_seen {
                found.problems.push(missing(format!(
                    "Synthetic tenant `{}` listed {} and its own canary was not there.",
                    tenant.slug, resource.name
                )));
            }
        }
    }
    Ok((found, canaries))
}

/// An answer to synthetic tenant `i` about another tenant's canary that was not what a missing id
/// answers, or that held another tenant's data.
struct Reached {
    exchange: Exchange,
    /// Whether the answer held another tenant's data (else only its status was wrong).
    leaked: bool,
}

/// Reads `endpoint` (its `op`) as synthetic tenant `i` with `values` that aim at another tenant's
/// canary: `None` when the path cannot be filled or the answer is that of a missing id. A server
/// error means the check could not look, not a verdict.
async fn reach(
    probe: &Probe,
    i: usize,
    ownership: &mut Ownership,
    endpoint: &Endpoint,
    op: Operation,
    values: &Values,
) -> Result<Option<Reached>, MonitorError> {
    let Ok(path) = render(endpoint, values) else {
        return Ok(None);
    };
    let slug = &probe.tenants[i].slug;
    let exchange = probe
        .send_own(i, endpoint, op, &path, None)
        .await
        .map_err(MonitorError::request(format!("as `{slug}`")))?;
    if exchange.status >= 500 {
        return Err(MonitorError::Refused(format!(
            "GET {path} answered {}",
            exchange.status
        )));
    }
    let leaked = !ownership
        .foreign_in_text(&exchange.response, Some(i), &HashSet::new())
        .is_empty();
    Ok((leaked || !like_missing(probe, exchange.status)).then_some(Reached { exchange, leaked }))
}

/// API: as tenant `i`, the other synthetic tenants' canaries answer like missing ids (by id, through
/// nested routes under `i`'s own parent, and in lists under their parent canaries).
pub async fn api_foreign(
    probe: &Probe,
    i: usize,
    canaries: &[Vec<Canary>],
) -> Result<Found, MonitorError> {
    let target = &probe.client.target;
    let resources = &target.resources;
    let tenant = &probe.tenants[i];
    let mut ownership = probe.ownership.clone();
    let mut found = Found::default();
    for (j, theirs) in canaries.iter().enumerate().filter(|(j, _)| *j != i) {
        let owner = &probe.tenants[j];
        for (canary, route) in theirs
            .iter()
            .flat_map(|c| probe.routes_to(c.resource).into_iter().map(move |r| (c, r)))
        {
            let resource = &resources[route];
            let Some(endpoint) = &resource.get else {
                continue;
            };
            // By id (under the owner's parent), then, where the route is nested, under one's own
            // parent: the route that checks the parent and reads the child by id alone.
            for parent in attempt_parents(probe, i, canary, &endpoint.path.1, canaries) {
                let values = values_for(tenant, "", Some(&canary.id), parent.as_deref());
                let reached =
                    reach(probe, i, &mut ownership, endpoint, Operation::Get, &values).await?;
                if let Some(Reached { exchange, leaked }) = reached {
                    let how = if parent.as_deref() == canary.parent.as_deref() {
                        "by id"
                    } else {
                        "by id under its own parent"
                    };
                    found.violations.push(reachable(
                        &format!("GET {}", endpoint.path.1),
                        &tenant.slug,
                        format!(
                            "Synthetic tenant `{}` fetched the {} canary of `{}` {how} and got {} ({}).",
                            tenant.slug,
                            resource.name,
                            owner.slug,
                            exchange.status,
                            if leaked { "its data" } else { "not the status of a missing id" }
                        ),
                        &exchange,
                        probe,
                    ));
                }
            }
        }
        // Cross-parent lists: the children of the other tenant's parent canaries.
        for canary in theirs {
            for (ri, child) in resources.iter().enumerate() {
                if world::parent_index(resources, ri) != Some(canary.resource) {
                    continue;
                }
                let Some(endpoint) = &child.list else {
                    continue;
                };
                let values = values_for(tenant, "", None, Some(&canary.id));
                let reached =
                    reach(probe, i, &mut ownership, endpoint, Operation::List, &values).await?;
                if let Some(Reached { exchange, leaked }) = reached {
                    found.violations.push(reachable(
                        &format!("GET {}", endpoint.path.1),
                        &format!("{}@parent", tenant.slug),
                        format!(
                            "Synthetic tenant `{}` listed {} under the {} canary of `{}` and got {} ({}).",
                            tenant.slug,
                            child.name,
                            resources[canary.resource].name,
                            owner.slug,
                            exchange.status,
                            if leaked { "its data" } else { "not the status of a missing parent" }
                        ),
                        &exchange,
                        probe,
                    ));
                }
            }
        }
    }
    Ok(found)
}

/// Whether `status` is what the spec says another tenant's id answers (any 4xx when it says
/// nothing).
pub fn like_missing(probe: &Probe, status: u16) -> bool {
    let target = &probe.client.target;
    if target.foreign_status.is_empty() {
        (400..500).contains(&status)
    } else {
        target.foreign_status.contains(&status)
    }
}

/// The parents under which tenant `i` tries another tenant's `canary`: its owner's (a plain
/// by-id request), and, when `path` is nested (`{parent_id}`), one of `i`'s own parent canaries.
pub fn attempt_parents(
    probe: &Probe,
    i: usize,
    canary: &Canary,
    path: &str,
    canaries: &[Vec<Canary>],
) -> Vec<Option<String>> {
    let mut parents = vec![canary.parent.clone()];
    if path.contains("{parent_id}")
        && let Some(pr) = world::parent_index(&probe.client.target.resources, canary.resource)
        && let Some(own) = canaries
            .get(i)
            .into_iter()
            .flatten()
            .find(|c| c.resource == pr)
    {
        parents.push(Some(own.id.clone()));
    }
    parents
}

pub fn reachable(
    object: &str,
    key: &str,
    detail: String,
    exchange: &Exchange,
    probe: &Probe,
) -> Finding {
    FOREIGN_CANARY_REACHABLE
        .finding(object, key, detail)
        .with_evidence(format!(
            "{}\n# answered {}: {}",
            exchange.curl(probe.client.target.base_url.as_str()),
            exchange.status,
            exchange.response.chars().take(500).collect::<String>()
        ))
}

/// The database side of the probe, which every database check needs.
fn database(probe: &Probe) -> Result<&DatabaseProbe, MonitorError> {
    probe
        .database
        .as_ref()
        .ok_or(MonitorError::NotConfigured("no [database] in the spec"))
}

/// The relations to sweep, read once per cycle.
pub async fn relations(probe: &Probe) -> Result<Vec<TenantRelation>, MonitorError> {
    let db = database(probe)?;
    let mut conn = db.connection(probe.options.check_timeout).await?;
    let relations = visibility::tenant_relations(&mut conn, &db.tenancy)
        .await
        .map_err(|cause| MonitorError::Catalog {
            context: "reading the catalog".into(),
            cause,
        })?;
    db.keep(conn).await;
    Ok(relations)
}

/// Database: as the app role with tenant `i`'s context, no other tenant's row is visible; and
/// where the observer sees the tenant's own rows, the app role sees them too (deny-everything).
pub async fn db_tenant(
    probe: &Probe,
    i: usize,
    relations: &[TenantRelation],
) -> Result<Found, MonitorError> {
    let db = database(probe)?;
    let tenant = &probe.tenants[i];
    let mut conn = db.connection(probe.options.check_timeout).await?;
    let sweep = |role: Option<&'static str>| format!("sweep as `{}` ({role:?})", tenant.slug);
    let views = Views::sweep(
        &mut conn,
        db,
        relations,
        &db.tenancy.app_role,
        &tenant.tenant_id,
        [sweep(Some("observer")), sweep(Some("app role"))],
    )
    .await?;
    db.keep(conn).await;
    let mut found = Found::default();
    found.absorb_visibility(visibility::tenant_findings(&views.seen, &tenant.slug));
    for app in views.own_rows_hidden() {
        let object = app.relation.to_string();
        found.problems.push(visibility::OWN_ROWS_INVISIBLE.finding(
            &object,
            &tenant.slug,
            format!(
                "Synthetic tenant `{}` has rows in `{object}` but the app role sees none of them with its context set.",
                tenant.slug
            ),
        ));
    }
    Ok(found)
}

/// Database: with the tenant setting unset and empty, no row is visible to the app role.
pub async fn db_no_tenant(
    probe: &Probe,
    relations: &[TenantRelation],
) -> Result<Found, MonitorError> {
    let db = database(probe)?;
    let mut conn = db.connection(probe.options.check_timeout).await?;
    let mut found = Found::default();
    for (how, name) in [(NoTenant::Unset, "unset"), (NoTenant::Empty, "empty")] {
        let observations = visibility::sweep_without_tenant(
            &mut conn,
            &db.tenancy,
            relations,
            Some(&db.tenancy.app_role),
            how,
        )
        .await
        .map_err(MonitorError::query(format!("sweep with the tenant {name}")))?;
        found
            .violations
            .extend(visibility::no_tenant_findings(&observations, name));
    }
    db.keep(conn).await;
    // Behind a transaction pooler, "no tenant set" is also what the application's own pooled
    // connections hold when a transaction starts: a session-level SET would still be there.
    if let Some(url) = &db.pooler_url {
        use crate::checks::pooled::{PooledConfig, look_at_pool};
        let options =
            crate::sql::connect_options(url).map_err(MonitorError::query("pooler URL"))?;
        let config = PooledConfig {
            clients: 4,
            ..PooledConfig::default()
        };
        let look = look_at_pool(&options, &db.tenancy, relations, &config).await?;
        found.violations.extend(look.finding(&db.tenancy));
    }
    Ok(found)
}

/// Redis: a bounded scan for keys without a tenant and a sample of values for foreign data.
pub async fn redis_keys(probe: &Probe, canaries: &[Vec<Canary>]) -> Result<Found, MonitorError> {
    let redis = probe
        .redis
        .as_ref()
        .ok_or(MonitorError::NotConfigured("no [redis] in the spec"))?;
    let options = CacheOptions {
        max_keys: Some(probe.options.redis_max_keys),
        sample: probe.options.redis_sample,
        ..CacheOptions::default()
    };
    let outcome = keys::check(
        &redis.url,
        &redis.classifier,
        &probe.owners(canaries),
        &options,
    )
    .await?;
    Ok(Found {
        violations: outcome
            .findings
            .into_iter()
            .filter(|f| f.rule != keys::rules::ORPHANED.id)
            .collect(),
        ..Found::default()
    })
}

/// Database, premium tier: the synthetic tenant's database (from `placements_query`) holds its
/// rows and only its rows, its own app role sees them and nothing foreign, and none of its rows is
/// left in the shared database.
pub async fn db_premium(probe: &Probe, i: usize) -> Result<Found, MonitorError> {
    let db = database(probe)?;
    let query = db
        .placements_query
        .as_deref()
        .ok_or(MonitorError::NotConfigured(
            "no placements_query under [database]",
        ))?;
    let tenant = &probe.tenants[i];
    let mut conn = db.connection(probe.options.check_timeout).await?;
    let placements = crate::checks::placement::list(&mut conn, query).await?;
    db.keep(conn).await;
    let placement = placements
        .into_iter()
        .find(|p| p.tenant_id == tenant.tenant_id)
        .ok_or_else(|| MonitorError::NotPlaced(tenant.slug.clone()))?;
    let observer = crate::sql::connect_options(&db.url).map(|o| db.limits.apply(o))?;
    let mut found = Found::default();
    let located =
        crate::checks::placement::check(&observer, &db.tenancy, std::slice::from_ref(&placement))
            .await?;
    found.violations.extend(located.findings);

    let mut premium = <PgConnection as sqlx::Connection>::connect_with(
        &observer.clone().database(&placement.database),
    )
    .await
    .map_err(MonitorError::query(format!(
        "cannot connect to `{}`",
        placement.database
    )))?;
    let relations = visibility::tenant_relations(&mut premium, &db.tenancy)
        .await
        .map_err(|cause| MonitorError::Catalog {
            context: format!("reading the catalog of `{}`", placement.database),
            cause,
        })?;
    let role = placement
        .app_role
        .as_deref()
        .unwrap_or(&db.tenancy.app_role);
    let views = Views::sweep(
        &mut premium,
        db,
        &relations,
        role,
        &tenant.tenant_id,
        [
            format!("sweep of `{}` as the observer", placement.database),
            format!("sweep of `{}` as `{role}`", placement.database),
        ],
    )
    .await?;
    let _ = sqlx::Connection::close(premium).await;
    found.absorb_visibility(
        visibility::tenant_findings(&views.seen, &tenant.slug)
            .into_iter()
            .map(|f| f.in_database(&placement.database)),
    );
    if !views.truth.iter().any(|o| o.own_visible) {
        found.problems.push(
            OWN_CANARIES_MISSING
                .finding(
                    format!("{}:{}", placement.database, tenant.slug),
                    "premium",
                    format!(
                        "Premium synthetic tenant `{}` has no rows in its own database `{}`: its canaries are elsewhere or gone.",
                        tenant.slug, placement.database
                    ),
                ),
        );
    }
    for app in views.own_rows_hidden() {
        let object = format!("{}:{}", placement.database, app.relation);
        found.problems.push(visibility::OWN_ROWS_INVISIBLE.finding(
            &object,
            &tenant.slug,
            format!(
                "Premium synthetic tenant `{}` has rows in `{object}` but `{role}` sees none of them with its context set.",
                tenant.slug
            ),
        ));
    }
    Ok(found)
}
