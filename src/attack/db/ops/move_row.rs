//! `move`: the actor sets the tenant column of one of its own rows to the victim's id: by key,
//! by key with `RETURNING`, and bare (every visible row).
//!
//! Why: an UPDATE policy without a `WITH CHECK` on the tenant lets a tenant push rows into
//! another's account. A bare `UPDATE … SET tenant = …` skips the SELECT policy on the new row
//! that `RETURNING` or a WHERE would check, so all three shapes are tried.
//!
//! Statement: `UPDATE t AS tp_row SET tenant = $1::T WHERE k = $2::K … [RETURNING …]`, or
//! `UPDATE t SET tenant = $1::T`.

use super::{
    Attempt, MoveShape, Pair, Pick, Planner, Property, Statement, pick, supplied, where_key,
};
use crate::attack::db::values::SqlValue;
use crate::sql::quote_ident;

pub(super) fn plan(
    p: &Planner<'_>,
    pair: Pair,
    table: Pick,
    row: Pick,
    shape: MoveShape,
) -> Option<Attempt> {
    let (ti, t) = p.keyed_table_with(&table, pair.actor, |app| app.update)?;
    let own = pick(&p.rows(ti, pair.actor), &row)?.clone();
    let key = t.key.as_ref()?;
    let column = t.column(key)?;
    let mut binds = vec![SqlValue::new(
        p.world.tenant_ids[pair.victim].clone(),
        &column.sql_type,
    )];
    let (filter, keys) = where_key(t, &own, 2)?;
    let sql = match shape {
        MoveShape::Bare => format!(
            "UPDATE {} SET {} = $1::{}",
            t.name.quoted(),
            quote_ident(key),
            column.sql_type
        ),
        MoveShape::Where | MoveShape::Returning => {
            binds.extend(keys);
            let returning = if shape == MoveShape::Returning {
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
        Statement {
            sql,
            binds: binds.clone(),
        },
    );
    a.returns_rows = shape == MoveShape::Returning;
    a.supplied = supplied(&binds);
    a.watch = Some((ti, pair.victim));
    Some(a)
}
