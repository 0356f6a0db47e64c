//! `fk-oracle`: the actor inserts a row of its own whose foreign key names one of the victim's
//! rows, next to a control that names a key nobody has.
//!
//! Why: a foreign key without the tenant column is checked across tenants: the insert succeeds
//! (a reference into another tenant) or fails differently from the control (an existence
//! oracle), and the error DETAIL may quote the victim's values.
//!
//! Statement: `INSERT INTO child (…, parent_id) VALUES (…, $n::T)` with the victim's parent key.

use serde_json::Value;

use super::{Attempt, Pair, Pick, Planner, Property, keyed, pick};

/// Which of the actor's tables to insert into, which of its foreign keys to aim, and which of
/// the victim's parent rows to name.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub table: Pick,
    pub key: Pick,
    pub row: Pick,
}

impl ForeignKey {
    pub(super) fn plan(&self, p: &mut Planner<'_>, pair: Pair) -> Option<Attempt> {
        let (ti, t) = p.table_with(&self.table, pair.actor, keyed(|app| app.insert))?;
        let tenant_key = t.key.clone()?;
        let fks: Vec<_> = t
            .foreign_keys
            .iter()
            .filter(|fk| fk.target.is_some() && fk.columns.iter().any(|c| *c != tenant_key))
            .collect();
        let fk = *pick(&fks, &self.key)?;
        let parent = pick(&p.rows(fk.target?, pair.victim), &self.row)?.clone();
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
                let fresh =
                    p.fresh
                        .value(&c.kind, 0, &[], &mut crate::oracle::Ownership::default())?;
                Some((col.clone(), Value::String(fresh)))
            })
            .collect();
        let control = p.fresh_copy(t, &template, &nobody);
        Some(Attempt::oracle(
            pair,
            Property::ForeignKey,
            t,
            &theirs,
            &attack,
            &control,
        ))
    }
}
