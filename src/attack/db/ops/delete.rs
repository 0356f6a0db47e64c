//! `delete`: the actor deletes one of the victim's rows by its key.
//!
//! Why: a policy that pins the tenant for SELECT but not for DELETE lets a tenant destroy
//! another's data blind; the observer fingerprints the victim's rows before and after.
//!
//! Statement: `DELETE FROM t WHERE k = $1::K …`.

use super::{Attempt, Pair, Pick, Planner, Property, Statement, where_key};

/// Which of the victim's rows to delete: a table, and a row there.
#[derive(Debug, Clone)]
pub struct Delete {
    pub table: Pick,
    pub row: Pick,
}

impl Delete {
    pub(super) fn plan(&self, p: &Planner<'_>, pair: Pair) -> Option<Attempt> {
        let (ti, t, target) = p.row_with(&self.table, &self.row, pair.victim, |t| t.app.delete)?;
        let (filter, binds) = where_key(t, &target, 1)?;
        let mut a = Attempt::by(
            pair,
            Property::Delete,
            t.name.to_string(),
            Statement {
                sql: format!("DELETE FROM {} WHERE {filter}", t.name.quoted()),
                binds,
            },
        );
        a.returns_rows = false;
        a.watch = Some((ti, pair.victim));
        Some(a)
    }
}
