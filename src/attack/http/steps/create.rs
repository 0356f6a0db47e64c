//! `create`: a child under B's parent, or a top-level item with the actor's tenant tricks: B must
//! not find the new item among its own.

use super::super::ops::Actor;
use super::super::world::{Item, id_of, next_marker, parent_index};
use super::judge::write_rule;
use super::{Acting, Ctx, ExecError, Judge, attempt, delete_later, pick, seen_by, tag};
use crate::actor::values_for;
use crate::spec::Operation;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    acting: Acting,
    parent: u8,
) -> Result<(), ExecError> {
    let Acting { b, r, mut p, .. } = acting;
    let resources = &ctx.client.target.resources;
    let Some(endpoint) = &resources[r].create else {
        return Ok(());
    };
    // A child goes under B's parent; a top-level item is created as A with the actor's tricks.
    let parent_item = match parent_index(resources, r) {
        Some(pr) => match pick(&ctx.world.items_of(pr, b), parent) {
            Some(item) => Some((*item).clone()),
            None => return Ok(()),
        },
        None => None,
    };
    if parent_item.is_none() && judge.actor == Actor::Tenant {
        return Ok(());
    }
    let parent_id = parent_item.as_ref().map(|i| i.id.as_str());
    let marker = next_marker(ctx.markers);
    let values = values_for(&p.path_tenant, &marker, None, parent_id);
    if let Some(item) = &parent_item {
        p.supplied.insert(item.id.clone());
    }
    let Some((e, object)) = attempt(judge, endpoint, Operation::Create, values, &p).await? else {
        return Ok(());
    };
    // Whatever was created is deleted at the end, as whichever tenant can.
    if let Ok(Some(id)) = id_of(&resources[r], Operation::Create, &e) {
        delete_later(
            ctx,
            Item {
                resource: r,
                owner: usize::MAX,
                id,
                parent: parent_id.map(str::to_owned),
                marker: marker.clone(),
            },
        );
    }
    // Does B now see A's new item among its own?
    let Some(list) = &resources[r].list else {
        return Ok(());
    };
    let Some(seen) = seen_by(ctx, b, list, Operation::List, None, parent_id).await? else {
        return Ok(());
    };
    if !judge.desynced(&seen, &ctx.identities[b].label) && seen.response.contains(&marker) {
        judge.record(&seen);
        judge.leak(
            write_rule(judge.actor),
            &object,
            format!(
                "{} created an item that tenant {} now lists as its own.",
                p.label,
                tag(b)
            ),
        );
    }
    Ok(())
}
