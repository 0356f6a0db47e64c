//! `own`: A fetches its own item: it must get it, and the answer must have the id where the
//! spec's `id` pointer says.

use super::super::ops::Actor;
use super::super::rules;
use super::super::world::id_of;
use super::{Acting, Ctx, ExecError, Judge, attempt, pick, tag};
use crate::actor::values_for;
use crate::spec::Operation;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    acting: Acting,
    item: u8,
) -> Result<(), ExecError> {
    let Acting { a, r, p, .. } = acting;
    if judge.actor != Actor::Tenant {
        return Ok(());
    }
    let resource = &ctx.client.target.resources[r];
    let Some(endpoint) = &resource.get else {
        return Ok(());
    };
    let Some(own) = pick(&ctx.world.items_of(r, a), item).map(|i| (*i).clone()) else {
        return Ok(());
    };
    let values = values_for(&ctx.tenants[a], "", Some(&own.id), own.parent.as_deref());
    let Some((e, object)) = attempt(judge, endpoint, Operation::Get, values, &p).await? else {
        return Ok(());
    };
    id_of(resource, Operation::Get, &e)?;
    if !e.is_success() || !e.response.contains(&own.marker) {
        judge.leak(
            &rules::TENANT_LOCKED_OUT,
            &object,
            format!(
                "Tenant {} fetched its own `{}` {} and got {}.",
                tag(a),
                resource.name,
                own.id,
                e.status
            ),
        );
    }
    Ok(())
}
