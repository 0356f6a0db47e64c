//! `insert`: the actor inserts a row carrying the victim's tenant id (a copy of a victim's row
//! with fresh keys).
//!
//! Why: an INSERT policy whose `WITH CHECK` does not pin the tenant lets a tenant plant data in
//! another's account.
//!
//! Statement: `INSERT INTO t (cols) [OVERRIDING SYSTEM VALUE] VALUES ($1::T, …)`.

use super::{Attempt, Pair, Pick, Planner, Property, insert_statement, supplied};

pub(super) fn plan(p: &mut Planner<'_>, pair: Pair, table: Pick) -> Option<Attempt> {
    let (ti, t) = p.keyed_table_with(&table, pair.victim, |app| app.insert)?;
    let template = p.rows(ti, pair.victim).first()?.clone();
    let values = p.fresh_copy(t, &template, &[]);
    let mut a = Attempt::by(
        pair,
        Property::Insert,
        t.name.to_string(),
        insert_statement(t, &values),
    );
    a.returns_rows = false;
    a.supplied = supplied(&values.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>());
    Some(a)
}
