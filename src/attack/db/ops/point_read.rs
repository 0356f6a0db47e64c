//! `point-read`: the actor reads one of the victim's rows by its key.
//!
//! Why: a policy can hide rows from a scan and still answer a lookup by key (an index-only path,
//! a `USING` clause that ORs in the key); the key is what an attacker would guess or know.
//!
//! Statement: `SELECT row_to_json(tp_r)::text FROM (SELECT * FROM t WHERE k = $1::T …) tp_r`.

use super::{Attempt, Pair, Pick, Planner, Property, Statement, select_json, where_key};

/// Which of the victim's rows to read: a table, and a row there.
#[derive(Debug, Clone)]
pub struct PointRead {
    pub table: Pick,
    pub row: Pick,
}

impl PointRead {
    pub(super) fn plan(&self, p: &Planner<'_>, pair: Pair) -> Option<Attempt> {
        let (_, t, target) = p.row_with(&self.table, &self.row, pair.victim, |t| t.app.select)?;
        let (filter, binds) = where_key(t, &target, 1)?;
        Some(Attempt::by(
            pair,
            Property::PointRead,
            t.name.to_string(),
            Statement {
                sql: select_json(&format!("{} WHERE {filter}", t.name.quoted())),
                binds,
            },
        ))
    }
}
