//! `export`: the tenant's export, whatever its content type: the whole body is scanned for other
//! tenants' values.

use super::{Acting, Ctx, ExecError, Judge, attempt};
use crate::actor::values_for;
use crate::spec::Operation;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    acting: Acting,
) -> Result<(), ExecError> {
    let Acting { r, p, .. } = acting;
    let Some(endpoint) = &ctx.client.target.resources[r].export else {
        return Ok(());
    };
    let values = values_for(&p.path_tenant, "", None, None);
    attempt(judge, endpoint, Operation::Get, values, &p).await?;
    Ok(())
}
