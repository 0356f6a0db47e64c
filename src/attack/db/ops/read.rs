//! `read`: the actor reads a whole relation (table, view, materialized view, foreign table).
//!
//! Why: a view without `security_invoker`, a missing or permissive policy, or a relation without
//! RLS shows the actor other tenants' rows. The same read proves liveness: on a table where the
//! actor has rows, seeing none of them means the policy refuses everyone, not only strangers.
//!
//! Statement: `SELECT row_to_json(tp_r)::text FROM (SELECT * FROM rel LIMIT 1000) tp_r`.

use super::{Attempt, Pair, Pick, Planner, Property, Statement, pick, select_json};

/// Which relation to read.
#[derive(Debug, Clone)]
pub struct Read {
    pub rel: Pick,
}

impl Read {
    pub(super) fn plan(&self, p: &Planner<'_>, pair: Pair) -> Option<Attempt> {
        let r = pick(&p.schema.readable, &self.rel)?;
        let mut a = Attempt::by(
            pair,
            Property::Read,
            r.name.to_string(),
            Statement {
                sql: select_json(&r.name.quoted()),
                binds: vec![],
            },
        );
        a.liveness = r
            .table
            .filter(|t| matches!(r.kind, 'r' | 'p') && p.world.has_rows(*t, pair.actor));
        Some(a)
    }
}
