//! `create`: a child under B's parent, or a top-level item with the actor's tenant tricks: B must
//! not find the new item among its own.

use super::super::ops::Actor;
use super::super::world::{Item, id_of, next_marker, parent_index, render};
use super::judge::write_rule;
use super::{Acting, Ctx, ExecError, Judge, Outgoing, object, pick, tag};
use crate::actor::values_for;
use crate::spec::Operation;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    acting: Acting,
    resource: u8,
    parent: u8,
) -> Result<(), ExecError> {
    let Acting { b, mut p, .. } = acting;
    let resources = &ctx.client.target.resources;
    let r = usize::from(resource) % resources.len();
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
    let marker = next_marker(ctx.markers);
    let values = values_for(
        &p.path_tenant,
        &marker,
        None,
        parent_item.as_ref().map(|i| i.id.as_str()),
    );
    let method = endpoint.method_for(Operation::Create);
    let Some(request) = Outgoing::new(endpoint, method.clone(), values, &p) else {
        return Ok(());
    };
    let object = object(&method, endpoint);
    if let Some(item) = &parent_item {
        p.supplied.insert(item.id.clone());
    }
    let e = request.send(ctx, &p).await?;
    judge.record(&e);
    judge.inspect(&e, &object, &p);
    // Whatever was created is deleted at the end, as whichever tenant can.
    if let Ok(Some(id)) = id_of(&resources[r], Operation::Create, &e) {
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
    let Some(list) = &resources[r].list else {
        return Ok(());
    };
    let own_b = &ctx.identities[b];
    let values = values_for(
        &ctx.tenants[b],
        "",
        None,
        parent_item.as_ref().map(|i| i.id.as_str()),
    );
    let Some(request) = render(list, &values, &[]) else {
        return Ok(());
    };
    let seen = ctx
        .client
        .send_with(
            &own_b.label,
            &own_b.creds,
            &list.method_for(Operation::List),
            &request.path,
            &request.headers,
            None,
        )
        .await?;
    if !judge.desynced(&seen, &own_b.label) && seen.response.contains(&marker) {
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
