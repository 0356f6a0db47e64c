//! The checks of one cycle. Each returns what it found (`Found`) or why it could not look (an
//! error: a surface down, a timeout); none writes anything.

use std::collections::HashSet;

use crate::attack::http::client::{Credentials, Exchange};
use crate::attack::http::world::{self, values_for};
use crate::cache::{self, CacheOptions};
use crate::finding::Finding;
use crate::spec::Operation;
use crate::visibility::{self, NoTenant, TenantRelation};

use super::probe::{Actor, Canary, Probe};
use super::request::{Rendered, render};
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
}

/// API: every resource listed as tenant `i`; every item its own, its canaries present.
/// Returns the canaries found, which the foreign check then tries from the other tenants.
pub async fn api_own(probe: &Probe, i: usize) -> Result<(Found, Vec<Canary>), String> {
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
            let Some(exchange) = probe
                .list(i, ri, parent.as_deref())
                .await
                .map_err(|e| format!("listing {} as `{}`: {e}", resource.name, tenant.slug))?
            else {
                continue;
            };
            let curl = exchange.curl(probe.client.target.base_url.as_str());
            if exchange.status >= 500 {
                return Err(format!(
                    "{} answered {} to `{}`",
                    object, exchange.status, tenant.slug
                ));
            }
            if !exchange.is_success() {
                found.problems.push(
                    OWN_CANARIES_MISSING
                        .finding(
                            &object,
                            &tenant.slug,
                            format!(
                                "Listing {} as synthetic tenant `{}` was refused with {}.",
                                resource.name, tenant.slug, exchange.status
                            ),
                        )
                        .with_evidence(curl),
                );
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
                found.problems.push(
                    OWN_CANARIES_MISSING
                        .finding(
                            &object,
                            &tenant.slug,
                            format!(
                                "Synthetic tenant `{}` listed {} and its own canary was not there.",
                                tenant.slug, resource.name
                            ),
                        )
                        .with_evidence(curl),
                );
            }
        }
    }
    Ok((found, canaries))
}

/// One read as synthetic tenant `i` and the other tenants' values in its answer. A server error
/// means the check could not look, not a verdict.
async fn read_as(
    probe: &Probe,
    i: usize,
    ownership: &mut crate::oracle::Ownership,
    creds: &Credentials,
    method: &str,
    path: &Rendered,
) -> Result<(Exchange, Vec<crate::oracle::Sighting>), String> {
    let exchange = probe
        .send(Actor::Tenant(i), creds, method, path, None)
        .await
        .map_err(|e| format!("as `{}`: {e}", probe.tenants[i].slug))?;
    if exchange.status >= 500 {
        return Err(format!("GET {path} answered {}", exchange.status));
    }
    let leaked = ownership.foreign_in_text(&exchange.response, Some(i), &HashSet::new());
    Ok((exchange, leaked))
}

/// API: as tenant `i`, the other synthetic tenants' canaries answer like missing ids (by id, through
/// nested routes under `i`'s own parent, and in lists under their parent canaries).
pub async fn api_foreign(
    probe: &Probe,
    i: usize,
    canaries: &[Vec<Canary>],
) -> Result<Found, String> {
    let target = &probe.client.target;
    let resources = &target.resources;
    let tenant = &probe.tenants[i];
    let identity = &probe.identities[i];
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
                let Ok(path) = render(endpoint, &values) else {
                    continue;
                };
                let method = endpoint.method_for(Operation::Get);
                let (exchange, leaked) =
                    read_as(probe, i, &mut ownership, &identity.creds, &method, &path).await?;
                if !leaked.is_empty() || !like_missing(probe, exchange.status) {
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
                            if leaked.is_empty() { "not the status of a missing id" } else { "its data" }
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
                let Ok(path) = render(endpoint, &values) else {
                    continue;
                };
                let method = endpoint.method_for(Operation::List);
                let (exchange, leaked) =
                    read_as(probe, i, &mut ownership, &identity.creds, &method, &path).await?;
                if !leaked.is_empty() || !like_missing(probe, exchange.status) {
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
                            if leaked.is_empty() { "not the status of a missing parent" } else { "its data" }
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

/// The relations to sweep, read once per cycle.
pub async fn relations(probe: &Probe) -> Result<Vec<TenantRelation>, String> {
    let db = probe.database.as_ref().ok_or("no [database] in the spec")?;
    let mut conn = db.connection(probe.options.check_timeout).await?;
    let relations = visibility::tenant_relations(&mut conn, &db.tenancy)
        .await
        .map_err(|e| format!("reading the catalog: {e}"))?;
    db.keep(conn).await;
    Ok(relations)
}

/// Database: as the app role with tenant `i`'s context, no other tenant's row is visible; and
/// where the observer sees the tenant's own rows, the app role sees them too (deny-everything).
pub async fn db_tenant(
    probe: &Probe,
    i: usize,
    relations: &[TenantRelation],
) -> Result<Found, String> {
    let db = probe.database.as_ref().ok_or("no [database] in the spec")?;
    let tenant = &probe.tenants[i];
    let mut conn = db.connection(probe.options.check_timeout).await?;
    let sweep = |role: Option<&'static str>| format!("sweep as `{}` ({role:?}): ", tenant.slug);
    // What is there: the observer's view (a superuser or owner bypasses RLS; an observer that
    // does not merely sees less, and then nothing is reported as missing).
    let truth = visibility::sweep(&mut conn, &db.tenancy, relations, None, &tenant.tenant_id)
        .await
        .map_err(|e| format!("{}{e}", sweep(Some("observer"))))?;
    let seen = visibility::sweep(
        &mut conn,
        &db.tenancy,
        relations,
        Some(&db.tenancy.app_role),
        &tenant.tenant_id,
    )
    .await
    .map_err(|e| format!("{}{e}", sweep(Some("app role"))))?;
    db.keep(conn).await;
    let mut found = Found::default();
    for finding in visibility::tenant_findings(&seen, &tenant.slug) {
        if finding.rule == visibility::FOREIGN_ROWS_VISIBLE.id {
            found.violations.push(finding);
        } else if finding.rule == visibility::PROBE_FAILED.id {
            found.problems.push(finding);
        }
    }
    for (there, app) in truth.iter().zip(&seen) {
        if there.error.is_none() && app.error.is_none() && there.own_visible && !app.own_visible {
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
    }
    Ok(found)
}

/// Database: with the tenant setting unset and empty, no row is visible to the app role.
pub async fn db_no_tenant(probe: &Probe, relations: &[TenantRelation]) -> Result<Found, String> {
    let db = probe.database.as_ref().ok_or("no [database] in the spec")?;
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
        .map_err(|e| format!("sweep with the tenant {name}: {e}"))?;
        found
            .violations
            .extend(visibility::no_tenant_findings(&observations, name));
    }
    db.keep(conn).await;
    // Behind a transaction pooler, "no tenant set" is also what the application's own pooled
    // connections hold when a transaction starts: a session-level SET would still be there.
    if let Some(url) = &db.pooler_url {
        use crate::attack::db::pooled::{PooledConfig, look_at_pool};
        let options = crate::sql::connect_options(url).map_err(|e| format!("pooler URL: {e}"))?;
        let config = PooledConfig {
            clients: 4,
            ..PooledConfig::default()
        };
        let look = look_at_pool(&options, &db.tenancy, relations, &config)
            .await
            .map_err(|e| e.to_string())?;
        found.violations.extend(look.finding(&db.tenancy));
    }
    Ok(found)
}

/// Redis: a bounded scan for keys without a tenant and a sample of values for foreign data.
pub async fn redis_keys(probe: &Probe, canaries: &[Vec<Canary>]) -> Result<Found, String> {
    let redis = probe.redis.as_ref().ok_or("no [redis] in the spec")?;
    let options = CacheOptions {
        max_keys: Some(probe.options.redis_max_keys),
        sample: probe.options.redis_sample,
        ..CacheOptions::default()
    };
    let outcome = cache::check(
        &redis.url,
        &redis.classifier,
        &probe.owners(canaries),
        &options,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(Found {
        violations: outcome
            .findings
            .into_iter()
            .filter(|f| f.rule != cache::rules::ORPHANED.id)
            .collect(),
        ..Found::default()
    })
}

/// Database, premium tier: the synthetic tenant's database (from `placements_query`) holds its
/// rows and only its rows, its own app role sees them and nothing foreign, and none of its rows is
/// left in the shared database.
pub async fn db_premium(probe: &Probe, i: usize) -> Result<Found, String> {
    let db = probe.database.as_ref().ok_or("no [database] in the spec")?;
    let query = db
        .placements_query
        .as_deref()
        .ok_or("no placements_query under [database]")?;
    let tenant = &probe.tenants[i];
    let mut conn = db.connection(probe.options.check_timeout).await?;
    let placements = crate::placement::list(&mut conn, query)
        .await
        .map_err(|e| e.to_string())?;
    db.keep(conn).await;
    let placement = placements
        .into_iter()
        .find(|p| p.tenant_id == tenant.tenant_id)
        .ok_or_else(|| {
            format!(
                "synthetic tenant `{}` is declared premium but the placements query lists no database for it (promote it after `monitor init`)",
                tenant.slug
            )
        })?;
    let observer = crate::sql::connect_options(&db.url)
        .map(|o| db.limits.apply(o))
        .map_err(|e| e.to_string())?;
    let mut found = Found::default();
    let located = crate::placement::check(&observer, &db.tenancy, std::slice::from_ref(&placement))
        .await
        .map_err(|e| e.to_string())?;
    found.violations.extend(located.findings);

    let mut premium = <sqlx::PgConnection as sqlx::Connection>::connect_with(
        &observer.clone().database(&placement.database),
    )
    .await
    .map_err(|e| format!("cannot connect to `{}`: {e}", placement.database))?;
    let relations = visibility::tenant_relations(&mut premium, &db.tenancy)
        .await
        .map_err(|e| format!("reading the catalog of `{}`: {e}", placement.database))?;
    let role = placement
        .app_role
        .as_deref()
        .unwrap_or(&db.tenancy.app_role);
    let truth = visibility::sweep(
        &mut premium,
        &db.tenancy,
        &relations,
        None,
        &tenant.tenant_id,
    )
    .await
    .map_err(|e| format!("sweep of `{}` as the observer: {e}", placement.database))?;
    let seen = visibility::sweep(
        &mut premium,
        &db.tenancy,
        &relations,
        Some(role),
        &tenant.tenant_id,
    )
    .await
    .map_err(|e| format!("sweep of `{}` as `{role}`: {e}", placement.database))?;
    let _ = sqlx::Connection::close(premium).await;
    for finding in visibility::tenant_findings(&seen, &tenant.slug) {
        let finding = finding.in_database(&placement.database);
        if finding.rule == visibility::FOREIGN_ROWS_VISIBLE.id {
            found.violations.push(finding);
        } else if finding.rule == visibility::PROBE_FAILED.id {
            found.problems.push(finding);
        }
    }
    if !truth.iter().any(|o| o.own_visible) {
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
    for (there, app) in truth.iter().zip(&seen) {
        if there.error.is_none() && app.error.is_none() && there.own_visible && !app.own_visible {
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
    }
    Ok(found)
}
