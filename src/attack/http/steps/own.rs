//! `own`: A fetches its own item: it must get it, and the answer must have the id where the
//! spec's `id` pointer says.

use super::super::ops::Actor;
use super::super::rules;
use super::super::world::id_of;
use super::{Acting, Ctx, ExecError, Judge, Outgoing, object, pick, tag};
use crate::actor::values_for;
use crate::spec::Operation;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    acting: Acting,
    resource: u8,
    item: u8,
) -> Result<(), ExecError> {
    let Acting { a, p, .. } = acting;
    if judge.actor != Actor::Tenant {
        return Ok(());
    }
    let resources = &ctx.client.target.resources;
    let r = usize::from(resource) % resources.len();
    let Some(endpoint) = &resources[r].get else {
        return Ok(());
    };
    let Some(own) = pick(&ctx.world.items_of(r, a), item).map(|i| (*i).clone()) else {
        return Ok(());
    };
    let values = values_for(&ctx.tenants[a], "", Some(&own.id), own.parent.as_deref());
    let method = endpoint.method_for(Operation::Get);
    let Some(request) = Outgoing::new(endpoint, method.clone(), values, &p) else {
        return Ok(());
    };
    let e = request.send(ctx, &p).await?;
    judge.record(&e);
    let object = object(&method, endpoint);
    judge.inspect(&e, &object, &p);
    id_of(&resources[r], Operation::Get, &e)?;
    if !e.is_success() || !e.response.contains(&own.marker) {
        judge.leak(
            &rules::TENANT_LOCKED_OUT,
            &object,
            format!(
                "Tenant {} fetched its own `{}` {} and got {}.",
                tag(a),
                resources[r].name,
                own.id,
                e.status
            ),
        );
    }
    Ok(())
}
