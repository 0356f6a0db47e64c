//! `search`: search a resource for the marker of B's item: the answer may carry nothing of B but
//! the marker the actor itself sent. A searching for its own item must find it, so a search that
//! never finds anything cannot pass for isolation.

use super::super::ops::Actor;
use super::super::rules;
use serde_json::Value;

use super::judge::read_rule;
use super::{Acting, Ctx, ExecError, Judge, attempt, pick, tag};
use crate::actor::values_for;
use crate::spec::Operation;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    judge: &mut Judge<'_>,
    acting: Acting,
    item: u8,
    own: bool,
) -> Result<(), ExecError> {
    let Acting { a, b, r, mut p } = acting;
    let resource = &ctx.client.target.resources[r];
    let Some(endpoint) = &resource.search else {
        return Ok(());
    };
    let own = own && judge.actor == Actor::Tenant;
    let Some(sought) =
        pick(&ctx.world.items_of(r, if own { a } else { b }), item).map(|i| (*i).clone())
    else {
        return Ok(());
    };
    let values = values_for(&p.path_tenant, &sought.marker, None, None);
    p.supplied.insert(sought.marker.clone());
    let Some((e, object)) = attempt(judge, endpoint, Operation::List, values, &p).await? else {
        return Ok(());
    };
    // Found: an item of the answer (at the `items` pointer) carries the marker; without such an
    // array, the item's id anywhere in the answer (the marker alone may be the query echoed).
    let found = match e.json().pointer(&resource.items).and_then(Value::as_array) {
        Some(items) => items.iter().any(|i| i.to_string().contains(&sought.marker)),
        None => e.response.contains(&sought.id),
    };
    if own && (!e.is_success() || !found) {
        judge.leak(
            &rules::TENANT_LOCKED_OUT,
            &object,
            format!(
                "Tenant {} searched for its own `{}` {} and did not find it ({}).",
                tag(a),
                resource.name,
                sought.id,
                e.status
            ),
        );
    }
    // Another tenant's item in the results is a leak even when all it shows is the marker the
    // actor searched for (an echo by value, not by item) and an id too short to recognise.
    let rule = read_rule(judge.actor);
    if !own && e.is_success() && found && !judge.has_leak(rule, &object) {
        judge.leak(
            rule,
            &object,
            format!(
                "{} searched for the marker of tenant {}'s `{}` {} and found it ({}).",
                p.label,
                tag(b),
                resource.name,
                sought.id,
                e.status
            ),
        );
    }
    Ok(())
}
