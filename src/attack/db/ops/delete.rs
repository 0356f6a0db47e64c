//! `delete`: the actor deletes one of the victim's rows by its key.
//!
//! Why: a policy that pins the tenant for SELECT but not for DELETE lets a tenant destroy
//! another's data blind; the observer fingerprints the victim's rows before and after.
//!
//! Statement: `DELETE FROM t WHERE k = $1::K …`.

use super::{Attempt, Pair, Pick, Planner, Property, Statement, pick, supplied, where_key};

pub(super) fn plan(p: &Planner<'_>, pair: Pair, table: Pick, row: Pick) -> Option<Attempt> {
    let (ti, t) = p.table_with(&table, pair.victim, |t| t.app.delete)?;
    let target = pick(&p.rows(ti, pair.victim), &row)?.clone();
    let (filter, binds) = where_key(t, &target, 1)?;
    let mut a = Attempt::by(
        pair,
        Property::Delete,
        t.name.to_string(),
        Statement {
            sql: format!("DELETE FROM {} WHERE {filter}", t.name.quoted()),
            binds: binds.clone(),
        },
    );
    a.returns_rows = false;
    a.supplied = supplied(&binds);
    a.watch = Some((ti, pair.victim));
    Some(a)
}
