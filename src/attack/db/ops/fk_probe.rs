//! `fk-oracle`: the actor inserts a row of its own whose foreign key names one of the victim's
//! rows, next to a control that names a key nobody has.
//!
//! Why: a foreign key without the tenant column is checked across tenants: the insert succeeds
//! (a reference into another tenant) or fails differently from the control (an existence
//! oracle), and the error DETAIL may quote the victim's values.
//!
//! Statement: `INSERT INTO child (…, parent_id) VALUES (…, $n::T)` with the victim's parent key.

use serde_json::Value;

use super::{Attempt, Pair, Pick, Planner, Property, insert_statement, pick};
use crate::sql::json_text;

pub(super) fn plan(
    p: &mut Planner<'_>,
    pair: Pair,
    table: Pick,
    key: Pick,
    row: Pick,
) -> Option<Attempt> {
    let (ti, t) = p.keyed_table_with(&table, pair.actor, |app| app.insert)?;
    let tenant_key = t.key.clone()?;
    let fks: Vec<_> = t
        .foreign_keys
        .iter()
        .filter(|fk| fk.target.is_some() && fk.columns.iter().any(|c| *c != tenant_key))
        .collect();
    let fk = *pick(&fks, &key)?;
    let parent = pick(&p.rows(fk.target?, pair.victim), &row)?.clone();
    let template = p.rows(ti, pair.actor).first()?.clone();
    let mut theirs: Vec<(String, Value)> = Vec::new();
    for (col, target_col) in fk.columns.iter().zip(&fk.target_columns) {
        if *col != tenant_key {
            theirs.push((col.clone(), parent.get(target_col)?.clone()));
        }
    }
    let attack = p.fresh_copy(t, &template, &theirs);
    // The control references a key nobody has: fresh values in the same columns.
    let nobody: Vec<(String, Value)> = theirs
        .iter()
        .filter_map(|(col, _)| {
            let c = t.column(col)?;
            let fresh = p
                .fresh
                .value(&c.kind, 0, &[], &mut crate::oracle::Ownership::default())?;
            Some((col.clone(), Value::String(fresh)))
        })
        .collect();
    let control = p.fresh_copy(t, &template, &nobody);
    let mut a = Attempt::by(
        pair,
        Property::ForeignKey,
        t.name.to_string(),
        insert_statement(t, &attack),
    );
    a.returns_rows = false;
    a.supplied = theirs.iter().filter_map(|(_, v)| json_text(v)).collect();
    a.control = Some(insert_statement(t, &control));
    Some(a)
}
