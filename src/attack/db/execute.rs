//! What an attempt came to (`Outcome`), judged by ownership (`judge`), and the reproducer of a
//! leak (`reproducer`); `batch` runs the attempts.

use std::collections::HashMap;

use super::ops::{Attempt, Context, Property};
use super::rules;
use super::schema::AttackSchema;
use super::world::{World, set_tenant_sql};
use crate::oracle::{Sighting, TenantIdx};
use crate::rules::RuleInfo;
use crate::sql::quote_ident;

/// How a statement ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Rows returned (as JSON text), rows affected.
    Ok { rows: Vec<String>, affected: u64 },
    /// SQLSTATE and the full text (message, detail, hint).
    Failed { code: String, text: String },
}

impl Ending {
    fn class(&self) -> String {
        match self {
            Self::Ok { .. } => "success".into(),
            Self::Failed { code, .. } => format!("SQLSTATE {code}"),
        }
    }

    fn succeeded(&self) -> bool {
        matches!(self, Self::Ok { .. })
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub ending: Ending,
    /// The watched rows changed (observer fingerprint before ≠ after).
    pub changed: bool,
    pub control: Option<Ending>,
}

impl Outcome {
    /// The statement or its control hit the statement or lock timeout: it neither passed nor
    /// failed, and its object is not tried again.
    pub fn timed_out(&self) -> bool {
        [Some(&self.ending), self.control.as_ref()]
            .into_iter()
            .flatten()
            .any(|e| matches!(e, Ending::Failed { code, .. } if crate::session::is_timeout(code)))
    }
}

/// A leak found by one attempt.
#[derive(Debug, Clone)]
pub struct Leak {
    pub rule: &'static RuleInfo,
    pub object: String,
    pub detail: String,
    pub attempt: Attempt,
    pub outcome: Outcome,
}

impl Leak {
    /// What makes two leaks the same finding.
    pub fn signature(&self) -> (&'static str, String) {
        (self.rule.id, self.object.clone())
    }
}

/// Observer fingerprints of watched rows, per (table, tenant), valid for one world.
pub type Fingerprints = HashMap<(usize, TenantIdx), String>;

fn context_sql(schema: &AttackSchema, world: &World, context: &Context) -> String {
    match context {
        Context::Tenant(t) => set_tenant_sql(&schema.tenancy.tenant_setting, &world.tenant_ids[*t]),
        Context::Unset => "SELECT 1".into(),
        Context::Value(v) => set_tenant_sql(&schema.tenancy.tenant_setting, v),
    }
}

/// The leaks one outcome shows.
pub fn judge(world: &mut World, attempt: &Attempt, outcome: &Outcome) -> Vec<Leak> {
    let mut leaks = Vec::new();
    let mut leak = |rule: &'static RuleInfo, detail: String| {
        leaks.push(Leak {
            rule,
            object: attempt.object.clone(),
            detail,
            attempt: attempt.clone(),
            outcome: outcome.clone(),
        });
    };
    let viewer = match attempt.context {
        Context::Tenant(t) => Some(t),
        _ => None,
    };
    let no_tenant = matches!(
        attempt.property,
        Property::Unset | Property::Empty | Property::Malformed | Property::Unknown
    );
    let mut sightings: Vec<Sighting> = Vec::new();
    match &outcome.ending {
        Ending::Ok { rows, .. } => {
            for row in rows {
                let json: serde_json::Value =
                    serde_json::from_str(row).unwrap_or(serde_json::Value::Null);
                for s in world
                    .ownership
                    .foreign_in_json(&json, viewer, &attempt.supplied)
                {
                    if !sightings.contains(&s) {
                        sightings.push(s);
                    }
                }
            }
        }
        Ending::Failed { text, .. } => {
            sightings = world
                .ownership
                .foreign_in_text(text, viewer, &attempt.supplied)
        }
    }
    if !sightings.is_empty() {
        let owners: Vec<String> = sightings
            .iter()
            .take(3)
            .map(|s| format!("`{}` (tenant {})", s.value, s.owner))
            .collect();
        let how = match &outcome.ending {
            Ending::Ok { .. } => "in the result",
            Ending::Failed { .. } => "in the error message",
        };
        if no_tenant {
            leak(
                &rules::NO_TENANT_READ,
                format!(
                    "With the tenant setting {}, `{}` showed {} seeded value(s) {how}: {}.",
                    describe_context(attempt),
                    attempt.object,
                    sightings.len(),
                    owners.join(", ")
                ),
            );
        } else {
            leak(
                &rules::CROSS_TENANT_READ,
                format!(
                    "Tenant {} ({}) saw {} value(s) of other tenants {how}: {}.",
                    attempt.actor,
                    attempt.property.as_str(),
                    sightings.len(),
                    owners.join(", ")
                ),
            );
        }
    }
    if let Some(table) = attempt.liveness {
        let sees_own = match &outcome.ending {
            Ending::Ok { rows, .. } => rows
                .iter()
                .any(|r| world.ownership.mentions(r, attempt.actor)),
            Ending::Failed { .. } => false,
        };
        let _ = table;
        if !sees_own {
            let why = match &outcome.ending {
                Ending::Failed { text, .. } => format!("reading failed: {text}"),
                Ending::Ok { .. } => "none of its rows was visible".into(),
            };
            leak(
                &rules::TENANT_LOCKED_OUT,
                format!(
                    "Tenant {} has rows in `{}` but {why}.",
                    attempt.actor, attempt.object
                ),
            );
        }
    }
    let ok = outcome.ending.succeeded();
    let affected = matches!(outcome.ending, Ending::Ok { affected, .. } if affected > 0);
    match attempt.property {
        Property::Update | Property::Delete if outcome.changed || (ok && affected) => leak(
            &rules::CROSS_TENANT_WRITE,
            format!(
                "Tenant {}'s {} of tenant {}'s row succeeded and the observer saw tenant {}'s rows change.",
                attempt.actor,
                attempt.property.as_str(),
                victim(attempt),
                victim(attempt)
            ),
        ),
        Property::Insert if ok => leak(
            &rules::CROSS_TENANT_INSERT,
            format!(
                "Tenant {} inserted a row carrying tenant {}.",
                attempt.actor,
                victim(attempt)
            ),
        ),
        Property::Move if ok && affected => leak(
            &rules::ROW_MOVED,
            format!(
                "Tenant {} moved its own row into tenant {}.",
                attempt.actor,
                victim(attempt)
            ),
        ),
        Property::Truncate if ok => leak(
            &rules::TRUNCATE_ALLOWED,
            format!(
                "Tenant {} truncated `{}`{}.",
                attempt.actor,
                attempt.object,
                if outcome.changed {
                    ", deleting other tenants' rows"
                } else {
                    ""
                }
            ),
        ),
        Property::ForeignKey | Property::Unique => {
            if let Some(control) = &outcome.control
                && control.class() != outcome.ending.class()
            {
                let rule = if attempt.property == Property::ForeignKey {
                    &rules::FK_ORACLE
                } else {
                    &rules::UNIQUE_ORACLE
                };
                let also = if attempt.property == Property::ForeignKey && ok {
                    format!(
                        " Tenant {}'s new row now references tenant {}'s row.",
                        attempt.actor,
                        victim(attempt)
                    )
                } else {
                    String::new()
                };
                leak(
                    rule,
                    format!(
                        "Inserting tenant {}'s value(s) ended in {}; a fresh value ended in {}: tenant {} can tell which of tenant {}'s values exist.{also}",
                        victim(attempt),
                        outcome.ending.class(),
                        control.class(),
                        attempt.actor,
                        victim(attempt)
                    ),
                );
            }
        }
        _ => {}
    }
    leaks
}

/// The attacked table and its foreign-key ancestors (`None`: not a table, keep the whole world —
/// a view or function may read anything).
fn tables_needed(schema: &AttackSchema, object: &str) -> Option<Vec<usize>> {
    let start = schema
        .tables
        .iter()
        .position(|t| t.name.to_string() == object)?;
    let mut needed = vec![start];
    let mut i = 0;
    while i < needed.len() {
        for fk in &schema.tables[needed[i]].foreign_keys {
            if let Some(t) = fk.target
                && !needed.contains(&t)
            {
                needed.push(t);
            }
        }
        i += 1;
    }
    Some(needed)
}

fn victim(attempt: &Attempt) -> String {
    attempt.victim.map_or_else(|| "?".into(), |v| v.to_string())
}

fn describe_context(attempt: &Attempt) -> String {
    match (&attempt.context, attempt.property) {
        (_, Property::Unset) => "unset (a fresh connection)".into(),
        (_, Property::Empty) => "empty (a pooled connection after an earlier transaction)".into(),
        (Context::Value(v), Property::Malformed) => format!("malformed (`{v}`)"),
        (Context::Value(v), _) => format!("naming an unknown tenant (`{v}`)"),
        _ => "set".into(),
    }
}

/// A runnable SQL script that shows the leak: the world, then the attempt as the app role.
pub fn reproducer(schema: &AttackSchema, world: &World, leak: &Leak, seed: u64) -> String {
    let a = &leak.attempt;
    let mut lines = vec![
        format!(
            "-- tenantprobe attack db: {} on {}",
            leak.rule.id, leak.object
        ),
        format!(
            "-- seed {seed}; tenants: {}",
            world
                .tenant_ids
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{i} = {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "BEGIN;".into(),
        "-- the world, as the observer".into(),
    ];
    let needed = tables_needed(schema, &a.object);
    lines.extend(
        world
            .setup
            .iter()
            .filter(|(t, _)| t.is_none_or(|t| needed.as_ref().is_none_or(|n| n.contains(&t))))
            .map(|(_, sql)| sql.clone()),
    );
    lines.push(format!(
        "-- the attempt, as the app role ({})",
        match a.context {
            Context::Tenant(t) => format!("tenant {t}"),
            _ => describe_context(a),
        }
    ));
    lines.push(format!(
        "SET LOCAL ROLE {};",
        quote_ident(&schema.tenancy.app_role)
    ));
    if !matches!(a.context, Context::Unset) {
        lines.push(format!("{};", context_sql(schema, world, &a.context)));
    }
    if a.control.is_some() {
        lines.push("SAVEPOINT attempt;".into());
    }
    lines.push(format!(
        "{}; -- {}",
        a.statement.literal(),
        leak.outcome.ending.class()
    ));
    if let Some(control) = &a.control {
        lines.push("ROLLBACK TO SAVEPOINT attempt;".into());
        lines.push(format!(
            "{}; -- control with fresh values: {}",
            control.literal(),
            leak.outcome
                .control
                .as_ref()
                .map_or_else(String::new, Ending::class)
        ));
    }
    lines.push("ROLLBACK;".into());
    lines.join("\n")
}
