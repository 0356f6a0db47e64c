//! `empty`, `malformed`, `unknown`: a whole relation read with the tenant setting set to `''`,
//! to a value that is no tenant id, or to a well-formed id no tenant has.
//!
//! Why: `''` is what a pooled connection holds after an earlier transaction set the tenant;
//! policies with `COALESCE` or `IS NULL OR` fallbacks fail open on it. A malformed value for a
//! text key is `%`, which admits everyone into a policy that matches tenants with LIKE.
//!
//! Statement: the `read` statement, run under that setting instead of the actor's tenant.

use super::{
    Attempt, Context, NoTenant, Pair, Pick, Planner, Property, Statement, pick, select_json,
};
use crate::attack::db::schema::ValueKind;

/// Which relation to read, and what the tenant setting holds instead of a tenant.
#[derive(Debug, Clone)]
pub struct NoTenantRead {
    pub rel: Pick,
    pub how: NoTenant,
}

impl NoTenantRead {
    pub(super) fn plan(&self, p: &mut Planner<'_>, pair: Pair) -> Option<Attempt> {
        let r = pick(&p.schema.readable, &self.rel)?;
        let (property, value) = match self.how {
            NoTenant::Empty => (Property::Empty, String::new()),
            NoTenant::Malformed => (Property::Malformed, malformed_tenant(p)),
            NoTenant::Unknown => (Property::Unknown, unknown_tenant(p)),
        };
        let mut a = Attempt::by(
            pair,
            property,
            r.name.to_string(),
            Statement {
                sql: select_json(&r.name.quoted()),
                binds: vec![],
            },
        );
        a.context = Context::Value(value);
        a.victim = None;
        Some(a)
    }
}

fn unknown_tenant(p: &mut Planner<'_>) -> String {
    match &p.schema.tenant_type.1 {
        ValueKind::Int { .. } => "987654321".into(),
        ValueKind::Text { .. } => p.fresh.marker(),
        _ => p.fresh.uuid(),
    }
}

fn malformed_tenant(p: &Planner<'_>) -> String {
    match &p.schema.tenant_type.1 {
        // For a text key the malformed value is a LIKE wildcard: policies that match tenants by
        // pattern admit everyone with it.
        ValueKind::Text { .. } => "%".into(),
        _ => "not-a-tenant".into(),
    }
}
