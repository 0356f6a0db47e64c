//! `move`: the actor sets the tenant column of one of its own rows to the victim's id: by key,
//! by key with `RETURNING`, and bare (every visible row).
//!
//! Why: an UPDATE policy without a `WITH CHECK` on the tenant lets a tenant push rows into
//! another's account. A bare `UPDATE … SET tenant = …` skips the SELECT policy on the new row
//! that `RETURNING` or a WHERE would check, so all three shapes are tried.
//!
//! Statement: `UPDATE t AS tp_row SET tenant = $1::T WHERE k = $2::K … [RETURNING …]`, or
//! `UPDATE t SET tenant = $1::T`.

use super::{Attempt, MoveShape, Pair, Pick, Planner, Property, Statement, keyed, where_key};
use crate::attack::db::values::SqlValue;
use crate::sql::quote_ident;

/// Which of the actor's own rows to move (a table, a row there), and in which statement shape.
#[derive(Debug, Clone)]
pub struct Move {
    pub table: Pick,
    pub row: Pick,
    pub shape: MoveShape,
}

impl Move {
    pub(super) fn plan(&self, p: &Planner<'_>, pair: Pair) -> Option<Attempt> {
        let (ti, t, own) =
            p.row_with(&self.table, &self.row, pair.actor, keyed(|app| app.update))?;
        let key = t.key.as_ref()?;
        let column = t.column(key)?;
        let mut binds = vec![SqlValue::new(
            p.world.tenant_ids[pair.victim].clone(),
            &column.sql_type,
        )];
        let (filter, keys) = where_key(t, &own, 2)?;
        let sql = match self.shape {
            MoveShape::Bare => format!(
                "UPDATE {} SET {} = $1::{}",
                t.name.quoted(),
                quote_ident(key),
                column.sql_type
            ),
            MoveShape::Where | MoveShape::Returning => {
                binds.extend(keys);
                let returning = if self.shape == MoveShape::Returning {
                    " RETURNING row_to_json(tp_row.*)::text"
                } else {
                    ""
                };
                format!(
                    "UPDATE {} AS tp_row SET {} = $1::{} WHERE {filter}{returning}",
                    t.name.quoted(),
                    quote_ident(key),
                    column.sql_type
                )
            }
        };
        let mut a = Attempt::by(
            pair,
            Property::Move,
            t.name.to_string(),
            Statement { sql, binds },
        );
        a.returns_rows = self.shape == MoveShape::Returning;
        a.watch = Some((ti, pair.victim));
        Some(a)
    }
}
