//! `truncate`: the actor truncates a table where the victim has rows; only on tenantprobe's own
//! server (`Planner::strong_locks`).
//!
//! Why: TRUNCATE ignores row-level security and empties the table for every tenant. Elsewhere
//! the privilege is judged from the catalog: a TRUNCATE waiting for its ACCESS EXCLUSIVE lock
//! would stall every reader of the table behind it.
//!
//! Statement: `SET LOCAL lock_timeout = '50ms'; TRUNCATE t CASCADE`.

use super::{Attempt, Pair, Pick, Planner, Property, Statement};

/// Which table to truncate.
#[derive(Debug, Clone)]
pub struct Truncate {
    pub table: Pick,
}

impl Truncate {
    pub(super) fn plan(&self, p: &Planner<'_>, pair: Pair) -> Option<Attempt> {
        if !p.strong_locks {
            return None;
        }
        let (ti, t) = p.table_with(&self.table, pair.victim, |_| true)?;
        let mut a = Attempt::by(
            pair,
            Property::Truncate,
            t.name.to_string(),
            Statement {
                sql: format!(
                    "SET LOCAL lock_timeout = '{}ms'; TRUNCATE {} CASCADE",
                    crate::session::STRONG_LOCK_TIMEOUT.as_millis(),
                    t.name.quoted()
                ),
                binds: vec![],
            },
        );
        a.returns_rows = false;
        a.watch = Some((ti, pair.victim));
        Some(a)
    }
}
