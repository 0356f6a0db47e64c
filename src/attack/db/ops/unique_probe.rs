//! `unique-oracle`: the actor inserts a row of its own that repeats the victim's values in a
//! unique key (the primary key or a unique constraint), next to a control with fresh values.
//!
//! Why: a unique key without the tenant column is enforced across tenants: a duplicate-key
//! error where the control succeeds tells the actor the victim's value exists, and its DETAIL
//! quotes it. Keys the server fills or a sequence numbers are no oracle a tenant could use, so
//! only tenant-chosen values are attacked (see `catalog::picker`).
//!
//! Statement: `INSERT INTO t (…, key) VALUES (…, $n::T)` with the victim's key values.

use serde_json::Value;

use super::{Attempt, Pair, Pick, Planner, Property, keyed, pick};

/// Which of the victim's tables to insert into, which unique key to repeat, and which of the
/// victim's rows to take its values from.
#[derive(Debug, Clone)]
pub struct Unique {
    pub table: Pick,
    pub key: Pick,
    pub row: Pick,
}

impl Unique {
    pub(super) fn plan(&self, p: &mut Planner<'_>, pair: Pair) -> Option<Attempt> {
        let (ti, t, target) =
            p.row_with(&self.table, &self.row, pair.victim, keyed(|app| app.insert))?;
        let tenant_key = t.key.clone()?;
        let keys: Vec<Vec<String>> = std::iter::once(t.primary_key.clone())
            .chain(t.unique_keys.iter().cloned())
            .filter(|k| k.iter().any(|c| *c != tenant_key))
            .filter(|k| !t.unguessable_keys.contains(k))
            .collect();
        let chosen = pick(&keys, &self.key)?;
        let template = p.rows(ti, pair.actor).first()?.clone();
        let theirs: Vec<(String, Value)> = chosen
            .iter()
            .filter(|c| **c != tenant_key)
            .map(|c| Some((c.clone(), target.get(c)?.clone())))
            .collect::<Option<_>>()?;
        let attack = p.fresh_copy(t, &template, &theirs);
        let control = p.fresh_copy(t, &template, &[]);
        Some(Attempt::oracle(
            pair,
            Property::Unique,
            t,
            &theirs,
            &attack,
            &control,
        ))
    }
}
