//! `export`: the tenant's export, whatever its content type: the whole body is scanned for other
//! tenants' values.

use super::{Acting, Ctx, ExecError, Judge, Outgoing, object};
use crate::actor::values_for;
use crate::spec::Operation;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    acting: Acting,
    resource: u8,
) -> Result<(), ExecError> {
    let Acting { p, .. } = acting;
    let resources = &ctx.client.target.resources;
    let r = usize::from(resource) % resources.len();
    let Some(endpoint) = &resources[r].export else {
        return Ok(());
    };
    let values = values_for(&p.path_tenant, "", None, None);
    let method = endpoint.method_for(Operation::Get);
    let Some(request) = Outgoing::new(endpoint, method.clone(), values, &p) else {
        return Ok(());
    };
    let e = request.send(ctx, &p).await?;
    judge.record(&e);
    judge.inspect(&e, &object(&method, endpoint), &p);
    Ok(())
}
