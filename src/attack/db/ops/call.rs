//! `call`: the actor calls a function it may execute, with the victim's values as arguments:
//! every source of values of each argument's type in turn (the victim's tenant id, a column of
//! a seeded table), fresh values where the victim has none.
//!
//! Why: a SECURITY DEFINER function, or one that reads without the tenant context, returns
//! other tenants' data when handed their ids; only a call with the victim's values shows it.
//!
//! Statement: `SELECT row_to_json(tp_r)::text FROM (SELECT * FROM f($1::T, …) AS tp_f) tp_r`.

use super::{Attempt, Pair, Pick, Planner, Property, Statement, pick};
use crate::attack::db::schema::ValueKind;
use crate::attack::db::values::SqlValue;
use crate::oracle::TenantIdx;
use crate::sql::json_text;

/// Where an argument value comes from.
#[derive(Debug, Clone)]
enum Source {
    TenantId,
    Column(usize, String),
}

/// Which function to call, and per argument where its values start among the sources.
#[derive(Debug, Clone)]
pub struct Call {
    pub function: Pick,
    pub args: Vec<Pick>,
}

impl Call {
    pub(super) fn plan(&self, p: &mut Planner<'_>, pair: Pair) -> Vec<Attempt> {
        let Some(f) = pick(&p.schema.functions, &self.function).cloned() else {
            return Vec::new();
        };
        let victim = pair.victim;
        let sources: Vec<Vec<Source>> = f.args.iter().map(|(_, kind)| sources(p, kind)).collect();
        let rounds = sources.iter().map(Vec::len).max().unwrap_or(0).clamp(1, 64);
        let mut attempts = Vec::new();
        for round in 0..rounds {
            let mut binds = Vec::new();
            for (i, (sql_type, kind)) in f.args.iter().enumerate() {
                let offset = usize::from(self.args.get(i).copied().unwrap_or(0));
                let value = (!sources[i].is_empty())
                    .then(|| &sources[i][(offset + round) % sources[i].len()])
                    .and_then(|source| value_from(p, source, victim));
                let value = match value {
                    Some(v) => v,
                    None => p
                        .fresh
                        .value(kind, victim, &[], &mut crate::oracle::Ownership::default())
                        .unwrap_or_default(),
                };
                binds.push(SqlValue::new(value, sql_type));
            }
            let params: Vec<String> = binds
                .iter()
                .enumerate()
                .map(|(i, b)| b.param(i + 1))
                .collect();
            let sql = format!(
                "SELECT row_to_json(tp_r)::text FROM (SELECT * FROM {}({}) AS tp_f) tp_r",
                f.name.quoted(),
                params.join(", ")
            );
            attempts.push(Attempt::by(
                pair,
                Property::Call,
                f.signature.clone(),
                Statement { sql, binds },
            ));
        }
        attempts
    }
}

/// Where arguments of `kind` can come from: the tenant id, or a column of a seeded table.
/// Derived from the schema, not the world, so an index keeps its meaning while proptest shrinks
/// the world.
fn sources(p: &Planner<'_>, kind: &ValueKind) -> Vec<Source> {
    let mut out = Vec::new();
    if matches!(kind, ValueKind::Uuid | ValueKind::Text { .. }) {
        out.push(Source::TenantId);
    }
    for (ti, t) in p.schema.tables.iter().enumerate() {
        for c in &t.columns {
            let fits = match kind {
                ValueKind::Text { .. } => {
                    matches!(c.kind, ValueKind::Text { .. } | ValueKind::Uuid)
                }
                ValueKind::Int { .. } | ValueKind::Numeric | ValueKind::Float => {
                    matches!(
                        c.kind,
                        ValueKind::Int { .. } | ValueKind::Numeric | ValueKind::Float
                    )
                }
                other => c.kind == *other,
            };
            if fits {
                out.push(Source::Column(ti, c.name.clone()));
            }
        }
    }
    out
}

/// The victim's value from `source` (its first row in that table), if it has one.
fn value_from(p: &Planner<'_>, source: &Source, tenant: TenantIdx) -> Option<String> {
    match source {
        Source::TenantId => Some(p.world.tenant_ids[tenant].clone()),
        Source::Column(table, column) => p
            .world
            .rows_of(*table, tenant)
            .find_map(|r| r.values.get(column).and_then(json_text)),
    }
}
