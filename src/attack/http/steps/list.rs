//! `list`: list a resource (a child resource under A's parent, or B's): nothing of another tenant
//! may show, and A listing under its own parent sees every item it owns there.

use super::super::ops::Actor;
use super::super::rules;
use super::super::world::{Item, check_items, parent_index};
use super::{Acting, Ctx, ExecError, Judge, attempt, pick, tag};
use crate::actor::values_for;
use crate::spec::Operation;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    acting: Acting,
    parent: u8,
    foreign_parent: bool,
) -> Result<(), ExecError> {
    let Acting { a, b, r, mut p } = acting;
    let resources = &ctx.client.target.resources;
    let Some(endpoint) = &resources[r].list else {
        return Ok(());
    };
    let parent_owner = if foreign_parent { b } else { a };
    let parent_item = match parent_index(resources, r) {
        Some(pr) => match pick(&ctx.world.items_of(pr, parent_owner), parent) {
            Some(item) => Some((*item).clone()),
            None => return Ok(()),
        },
        None => None,
    };
    let values = values_for(
        &p.path_tenant,
        "",
        None,
        parent_item.as_ref().map(|i| i.id.as_str()),
    );
    if let (true, Some(item)) = (foreign_parent, &parent_item) {
        p.supplied.insert(item.id.clone());
    }
    let Some((e, object)) = attempt(judge, endpoint, Operation::List, values, &p).await? else {
        return Ok(());
    };
    // Liveness: A, listing under its own parent, sees every item it owns there.
    if judge.actor == Actor::Tenant && !foreign_parent {
        check_items(&resources[r], &e)?;
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
        let missing = own
            .iter()
            .filter(|i| !e.response.contains(&i.marker))
            .count();
        if !own.is_empty() && (!e.is_success() || missing > 0) {
            judge.leak(
                &rules::TENANT_LOCKED_OUT,
                &object,
                format!(
                    "Tenant {} listed `{}` ({}) and {missing} of its {} item(s) were missing.",
                    tag(a),
                    resources[r].name,
                    e.status,
                    own.len()
                ),
            );
        }
    }
    Ok(())
}
