//! `get`, `update`, `delete` of B's item by id — through a nested route also with A's parent and
//! B's child (and B's parent with A's child). Success on B's item is a leak; a refusal must look
//! exactly like a missing id; after a write, B must not see the change.

use super::super::ops::{Actor, Op, ParentMix};
use super::super::rules;
use super::super::world::{Item, next_marker, parent_index};
use super::judge::{read_rule, write_rule};
use super::{Acting, Ctx, ExecError, Judge, Outgoing, missing_id, object, pick, seen_by, tag};
use crate::actor::Exchange;
use crate::actor::values_for;
use crate::oracle::TenantIdx;
use crate::spec::Operation;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    acting: Acting,
    op: &Op,
) -> Result<(), ExecError> {
    let Acting { a, b, r, mut p } = acting;
    let resources = &ctx.client.target.resources;
    let (item, parent, operation) = match op {
        Op::Get { item, parent, .. } => (item, parent, Operation::Get),
        Op::Update { item, parent, .. } => (item, parent, Operation::Update),
        Op::Delete { item, parent, .. } => (item, parent, Operation::Delete),
        _ => return Ok(()),
    };
    let endpoint = match operation {
        Operation::Get => &resources[r].get,
        Operation::Update => &resources[r].update,
        _ => &resources[r].delete,
    };
    let Some(endpoint) = endpoint else {
        return Ok(());
    };
    // A nested route names the parent beside the child: mix the two tenants' objects.
    let nested_parent =
        parent_index(resources, r).filter(|_| endpoint.path.1.contains("{parent_id}"));
    let (child_owner, parent_from) = match nested_parent.map(|pr| (*parent, pr)) {
        None | Some((ParentMix::Own, _)) => (b, None),
        Some((ParentMix::ActorsParent(choice), pr)) => (b, Some((pr, a, choice))),
        Some((ParentMix::VictimsParent(choice), pr)) => (a, Some((pr, b, choice))),
    };
    let Some(target) = pick(&ctx.world.items_of(r, child_owner), *item).map(|i| (*i).clone())
    else {
        return Ok(());
    };
    let path_parent = match parent_from {
        None => target.parent.clone(),
        Some((pr, owner, choice)) => match pick(&ctx.world.items_of(pr, owner), choice) {
            Some(item) => Some(item.id.clone()),
            None => return Ok(()),
        },
    };
    let marker = next_marker(ctx.markers);
    let method = endpoint.method_for(operation);
    let object = object(&method, endpoint);
    p.supplied.insert(target.id.clone());
    p.supplied.extend(target.parent.clone());
    p.supplied.extend(path_parent.clone());
    let p = p;
    let request = |id: &str, parent: Option<&str>| {
        let values = values_for(&p.path_tenant, &marker, Some(id), parent);
        Outgoing::new(endpoint, method.clone(), values, &p)
    };
    let Some(sent) = request(&target.id, path_parent.as_deref()) else {
        return Ok(());
    };
    let e = sent.send(ctx, &p).await?;
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
    // A's own child under B's parent: only B's parent is foreign, so nothing of B is at stake but
    // what the answer shows (judged by ownership) and how it differs from a missing parent.
    if child_owner == a {
        if p.viewer.is_some() && !e.is_success() {
            let missing = path_parent.as_deref().map(missing_id);
            if let Some(control) = request(&target.id, missing.as_deref()) {
                let control = control.send(ctx, &p).await?;
                if judge.desynced(&control, &p.label) {
                    return Ok(());
                }
                let normal = |x: &Exchange, id: Option<&str>| {
                    let text = id.map_or_else(
                        || x.response.clone(),
                        |id| x.response.replace(id, "{parent_id}"),
                    );
                    (x.status, text)
                };
                if normal(&e, path_parent.as_deref()) != normal(&control, missing.as_deref()) {
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
        return Ok(());
    }
    if e.is_success() {
        let rule = if operation == Operation::Get {
            read_rule(judge.actor)
        } else {
            write_rule(judge.actor)
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
        if let Some(control) = request(&missing, path_parent.as_deref()) {
            let control = control.send(ctx, &p).await?;
            if judge.desynced(&control, &p.label) {
                return Ok(());
            }
            let normal = |x: &Exchange, id: &str| (x.status, x.response.replace(id, "{id}"));
            // The spec's foreign status applies where the API accepts the caller as A; a caller
            // it refuses outright (A on B's host) only has to be refused alike.
            let accepted_as_a = matches!(
                judge.actor,
                Actor::Tenant | Actor::BodyTenant | Actor::QueryTenant
            );
            let allowed = !accepted_as_a || ctx.client.target.foreign_status.contains(&e.status);
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
        verify_victim_item(ctx, judge, b, r, &target, &marker, &object, operation).await?;
    }
    Ok(())
}

/// After an update or delete aimed at B's item: does B see A's change, or miss its item?
#[allow(clippy::too_many_arguments)]
async fn verify_victim_item(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    b: TenantIdx,
    r: usize,
    item: &Item,
    marker: &str,
    object: &str,
    operation: Operation,
) -> Result<(), ExecError> {
    let Some(get) = &ctx.client.target.resources[r].get else {
        return Ok(());
    };
    let id = Some(item.id.as_str());
    let Some(seen) = seen_by(ctx, b, get, Operation::Get, id, item.parent.as_deref()).await? else {
        return Ok(());
    };
    if judge.desynced(&seen, &ctx.identities[b].label) {
        return Ok(());
    }
    let changed = match operation {
        Operation::Delete => !seen.is_success(),
        _ => seen.response.contains(marker),
    };
    let rule = write_rule(judge.actor);
    if changed && !judge.has_leak(rule, object) {
        judge.record(&seen);
        judge.leak(
            rule,
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
