//! `update`: the actor overwrites a column of one of the victim's rows, by its key, with and
//! without `RETURNING`.
//!
//! Why: a policy that pins the tenant for SELECT only lets UPDATE through; `RETURNING` also
//! checks the SELECT policy on the new row, so both shapes are tried. The observer fingerprints
//! the victim's rows before and after, so a change is seen even when nothing comes back.
//!
//! Statement: `UPDATE t AS tp_row SET col = $1::T WHERE k = $2::K … [RETURNING …]`.

use std::collections::HashSet;

use super::{Attempt, Pair, Pick, Planner, Property, Statement, where_key};
use crate::attack::db::schema::{SeedTable, ValueKind};
use crate::attack::db::values::SqlValue;
use crate::sql::quote_ident;

/// Which of the victim's rows to overwrite (a table, a row there), and whether with `RETURNING`.
#[derive(Debug, Clone)]
pub struct Update {
    pub table: Pick,
    pub row: Pick,
    pub returning: bool,
}

impl Update {
    pub(super) fn plan(&self, p: &mut Planner<'_>, pair: Pair) -> Option<Attempt> {
        let (ti, t, target) = p.row_with(&self.table, &self.row, pair.victim, |t| t.app.update)?;
        let (column, value) = settable(p, t);
        let (assignment, mut binds, first) = match value {
            Some(v) => (
                format!("{} = $1::{}", quote_ident(&column), v.sql_type),
                vec![v],
                2,
            ),
            None => (format!("{0} = {0}", quote_ident(&column)), vec![], 1),
        };
        let (filter, keys) = where_key(t, &target, first)?;
        binds.extend(keys);
        let returning = if self.returning {
            " RETURNING row_to_json(tp_row.*)::text"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE {} AS tp_row SET {assignment} WHERE {filter}{returning}",
            t.name.quoted()
        );
        let mut a = Attempt::by(
            pair,
            Property::Update,
            t.name.to_string(),
            Statement { sql, binds },
        );
        a.returns_rows = !returning.is_empty();
        a.watch = Some((ti, pair.victim));
        Some(a)
    }
}

/// A column the attacker overwrites (a writable, non-key text column) with a new value; else any
/// writable column, set to itself (`None`): still a write that RLS must refuse.
fn settable(p: &mut Planner<'_>, t: &SeedTable) -> (String, Option<SqlValue>) {
    let keys: HashSet<&String> = t
        .primary_key
        .iter()
        .chain(t.unique_keys.iter().flatten())
        .chain(t.key.iter())
        .collect();
    let fk_columns: HashSet<&String> = t
        .foreign_keys
        .iter()
        .flat_map(|fk| fk.columns.iter())
        .collect();
    let candidate = t.columns.iter().find(|c| {
        !c.not_writable
            && matches!(c.kind, ValueKind::Text { max: None })
            && c.check_literals.is_empty()
            && !keys.contains(&c.name)
            && !fk_columns.contains(&c.name)
    });
    match candidate {
        Some(c) => (
            c.name.clone(),
            Some(SqlValue::new(p.fresh.marker(), &c.sql_type)),
        ),
        None => (
            t.columns
                .iter()
                .find(|c| !c.not_writable)
                .map_or_else(String::new, |c| c.name.clone()),
            None,
        ),
    }
}
