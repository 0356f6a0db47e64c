//! `insert`: the actor inserts a row carrying the victim's tenant id (a copy of a victim's row
//! with fresh keys).
//!
//! Why: an INSERT policy whose `WITH CHECK` does not pin the tenant lets a tenant plant data in
//! another's account.
//!
//! Statement: `INSERT INTO t (cols) [OVERRIDING SYSTEM VALUE] VALUES ($1::T, …)`.

use super::{Attempt, Pair, Pick, Planner, Property, insert_statement, keyed};

/// Which table to insert into.
#[derive(Debug, Clone)]
pub struct Insert {
    pub table: Pick,
}

impl Insert {
    pub(super) fn plan(&self, p: &mut Planner<'_>, pair: Pair) -> Option<Attempt> {
        let (ti, t) = p.table_with(&self.table, pair.victim, keyed(|app| app.insert))?;
        let template = p.rows(ti, pair.victim).first()?.clone();
        let values = p.fresh_copy(t, &template, &[]);
        let mut a = Attempt::by(
            pair,
            Property::Insert,
            t.name.to_string(),
            insert_statement(t, &values),
        );
        a.returns_rows = false;
        Some(a)
    }
}
