//! Judging answers (`Judge`): foreign values by ownership (minus the actor's own input), 5xx,
//! and answers that echo another request (desynchronisation), which silence the step's other
//! verdicts: a misparsed connection says nothing about tenants.

use std::collections::HashSet;

use super::super::ops::Actor;
use super::super::rules;
use super::{Ctx, Leak, Presented, tag};
use crate::actor::Exchange;
use crate::rules::RuleInfo;

/// The rule for foreign data reaching this actor.
pub(super) fn read_rule(actor: Actor) -> &'static RuleInfo {
    match actor {
        Actor::Tenant => &rules::CROSS_TENANT_READ,
        Actor::Anonymous | Actor::AnonymousOnVictimHost => &rules::ANONYMOUS_READ,
        Actor::Forged | Actor::Unsigned => &rules::FORGED_TOKEN,
        Actor::UnknownTenantHost
        | Actor::VictimHost
        | Actor::BodyTenant
        | Actor::QueryTenant
        | Actor::VictimHeader => &rules::TENANT_CONFUSION,
    }
}

pub(super) fn write_rule(actor: Actor) -> &'static RuleInfo {
    match actor {
        Actor::Tenant => &rules::CROSS_TENANT_WRITE,
        other => read_rule(other),
    }
}

/// Whether `rule` is tenant confusion (its cause may be the endpoint itself: see `confirm`).
pub fn is_confusion(rule: &RuleInfo) -> bool {
    std::ptr::eq(rule, &rules::TENANT_CONFUSION)
}

pub(super) struct Judge<'a> {
    pub ctx: &'a Ctx<'a>,
    pub actor: Actor,
    leaks: Vec<Leak>,
    pub exchanges: Vec<Exchange>,
    /// An answer echoed another request: only the desynchronisation is reported.
    desynced: bool,
}

impl<'a> Judge<'a> {
    pub fn new(ctx: &'a Ctx<'a>, actor: Actor) -> Self {
        Self {
            ctx,
            actor,
            leaks: Vec::new(),
            exchanges: Vec::new(),
            desynced: false,
        }
    }

    /// The leaks found; `None` when the step sent nothing at all.
    pub fn into_leaks(self) -> Option<Vec<Leak>> {
        (!self.exchanges.is_empty()).then_some(self.leaks)
    }

    pub fn has_leak(&self, rule: &RuleInfo, object: &str) -> bool {
        self.leaks
            .iter()
            .any(|l| std::ptr::eq(l.rule, rule) && l.object == object)
    }

    pub fn record(&mut self, e: &Exchange) {
        self.exchanges.push(e.clone());
        self.ctx
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(e.clone());
    }

    pub fn leak(&mut self, rule: &'static RuleInfo, object: &str, detail: String) {
        if self.desynced && !std::ptr::eq(rule, &rules::REQUEST_DESYNC) {
            return;
        }
        self.leaks.push(Leak {
            rule,
            object: object.to_owned(),
            detail,
            actor: self.actor,
            exchanges: self.exchanges.clone(),
        });
    }

    /// Whether `e` echoes another request's body: another request's body read as the start of
    /// this one. Reported once as desynchronisation, and nothing else from this step (its answers
    /// are not the server's to these requests).
    pub fn desynced(&mut self, e: &Exchange, who: &str) -> bool {
        if self.desynced {
            return true;
        }
        if !self.ctx.client.echoes_other_request(&e.response, e.seq) {
            return false;
        }
        self.leaks.clear();
        if self.exchanges.last().map(|x| x.seq) != Some(e.seq) {
            self.exchanges.push(e.clone());
        }
        self.leak(
            &rules::REQUEST_DESYNC,
            "connection reuse",
            format!(
                "{who} ({}) got an answer repeating the body of an earlier request, sent on the \
                 same connection: {} {}.",
                e.status, e.method, e.path
            ),
        );
        self.desynced = true;
        true
    }

    /// Desynchronisation, 5xx and foreign values in one answer.
    pub fn inspect(&mut self, e: &Exchange, object: &str, p: &Presented) {
        if self.desynced(e, &p.label) {
            return;
        }
        if e.status >= 500 {
            self.leak(
                &rules::SERVER_ERROR,
                object,
                format!("{} got {} from {} {}.", p.label, e.status, e.method, e.path),
            );
        }
        // The response text is scanned as it came (no JSON round trip, any content type): every
        // registered value here is text (ids, markers), so no number matching is needed.
        let sightings = {
            let mut ownership = self
                .ctx
                .world
                .ownership
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // The echo rule: whatever registered value this attempt itself sent (path, query,
            // headers, body, Host) is the actor's own input coming back, never a leak.
            let headers: Vec<&str> = e.headers.iter().map(|(_, v)| v.as_str()).collect();
            let sent = format!(
                "{} {} {}\n{}",
                e.path,
                e.host.as_deref().unwrap_or_default(),
                headers.join(" "),
                e.body.as_ref().map(ToString::to_string).unwrap_or_default()
            );
            let mut supplied = p.supplied.clone();
            supplied.extend(
                ownership
                    .foreign_in_text(&sent, None, &HashSet::new())
                    .into_iter()
                    .map(|s| s.value),
            );
            ownership.foreign_in_text(&e.response, p.viewer, &supplied)
        };
        if !sightings.is_empty() {
            let shown: Vec<String> = sightings
                .iter()
                .take(3)
                .map(|s| format!("`{}` (tenant {})", s.value, tag(s.owner)))
                .collect();
            self.leak(
                read_rule(self.actor),
                object,
                format!(
                    "{} ({}) received {} value(s) of other tenants: {}.",
                    p.label,
                    e.status,
                    sightings.len(),
                    shown.join(", ")
                ),
            );
        }
    }
}
