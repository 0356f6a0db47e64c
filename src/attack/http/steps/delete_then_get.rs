//! `delete-then-get`: A creates an item, fetches it, deletes it and fetches it again: the last
//! fetch must not find it (a cache not invalidated on writes).

use super::super::ops::Actor;
use super::super::rules;
use super::super::world::{Item, create, next_marker, parent_index};
use super::{Acting, Ctx, ExecError, Judge, Outgoing, delete_later, object, tag};
use crate::actor::values_for;
use crate::spec::Operation;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    acting: Acting,
) -> Result<(), ExecError> {
    let Acting { a, r, p, .. } = acting;
    if judge.actor != Actor::Tenant {
        return Ok(());
    }
    let resources = &ctx.client.target.resources;
    let (Some(get), Some(delete)) = (&resources[r].get, &resources[r].delete) else {
        return Ok(());
    };
    let parent = match parent_index(resources, r) {
        Some(pr) => match ctx.world.items_of(pr, a).first() {
            Some(item) => Some(item.id.clone()),
            None => return Ok(()),
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
        return Ok(());
    };
    judge.record(&created);
    delete_later(
        ctx,
        Item {
            resource: r,
            owner: a,
            id: id.clone(),
            parent: parent.clone(),
            marker: marker.clone(),
        },
    );
    let values = values_for(&ctx.tenants[a], &marker, Some(&id), parent.as_deref());
    let (Some(fetch), Some(remove)) = (
        Outgoing::new(get, get.method_for(Operation::Get), values.clone(), &p),
        Outgoing::new(delete, delete.method_for(Operation::Delete), values, &p),
    ) else {
        return Ok(());
    };
    let object = object(&fetch.method, get);
    for request in [&fetch, &remove, &fetch] {
        let e = request.send(ctx, &p).await?;
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
    Ok(())
}
