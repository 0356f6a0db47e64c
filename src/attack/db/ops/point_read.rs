//! `point-read`: the actor reads one of the victim's rows by its key.
//!
//! Why: a policy can hide rows from a scan and still answer a lookup by key (an index-only path,
//! a `USING` clause that ORs in the key); the key is what an attacker would guess or know.
//!
//! Statement: `SELECT row_to_json(tp_r)::text FROM (SELECT * FROM t WHERE k = $1::T …) tp_r`.

use super::{
    Attempt, Pair, Pick, Planner, Property, Statement, pick, select_json, supplied, where_key,
};

pub(super) fn plan(p: &Planner<'_>, pair: Pair, table: Pick, row: Pick) -> Option<Attempt> {
    let (ti, t) = p.table_with(&table, pair.victim, |t| t.app.select)?;
    let target = pick(&p.rows(ti, pair.victim), &row)?.clone();
    let (filter, binds) = where_key(t, &target, 1)?;
    let mut a = Attempt::by(
        pair,
        Property::PointRead,
        t.name.to_string(),
        Statement {
            sql: select_json(&format!("{} WHERE {filter}", t.name.quoted())),
            binds: binds.clone(),
        },
    );
    a.supplied = supplied(&binds);
    Some(a)
}
