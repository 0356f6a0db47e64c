//! What the rules share (`Context`): which relations hold tenant data (`crate::catalog::TenantScope`),
//! and how each tenant table's policy set judges, command by command, for the app role.

use std::collections::{HashMap, HashSet};

use super::policy::{self, Analysis, Subject, Verdict};
use crate::catalog::{Catalog, Policy, Relation, Role, TenantScope};
use crate::tenancy::Tenancy;

/// A SQL command the app role may run, and the policy side that governs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Select,
    Insert,
    Update,
    Delete,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Select => "SELECT",
            Self::Insert => "INSERT",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
        }
    }

    fn policy_cmd(self) -> char {
        match self {
            Self::Select => 'r',
            Self::Insert => 'a',
            Self::Update => 'w',
            Self::Delete => 'd',
        }
    }
}

/// Which clause a judgement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// USING: which existing rows are visible, updatable, deletable.
    Using,
    /// WITH CHECK (or USING standing in for it): which rows may be written.
    Check,
}

/// A policy that keeps one command from being pinned to the tenant.
#[derive(Debug, Clone)]
pub struct Offender {
    pub policy: String,
    pub verdict: Verdict,
    pub always_true: bool,
    /// The expression that was judged.
    pub expr: String,
}

/// How the app role's policies judge one command on one side.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub command: Command,
    pub side: Side,
    /// No policy applies: the command sees or writes nothing (deny-all).
    pub denied: bool,
    pub pinned: bool,
    /// At least one permissive policy pins (so the offenders widen it).
    pub some_permissive_pins: bool,
    pub offenders: Vec<Offender>,
}

/// Analyses of a policy's USING and WITH CHECK clauses, by (relation oid, policy name).
pub type PolicyAnalyses = HashMap<(i64, String), (Option<Analysis>, Option<Analysis>)>;

/// Everything rules need, computed once.
pub struct Context<'a> {
    pub catalog: &'a Catalog,
    pub tenancy: &'a Tenancy,
    /// Relations with the tenant key (tenant column, or the tenants table's key), by oid.
    pub tenant_key: HashMap<i64, String>,
    /// Relations that hold tenant data: tenant-keyed ones and those tied to them by foreign keys.
    pub tenant_data: HashSet<i64>,
    /// Per tenant table with RLS: the judgements of the commands the app role may run.
    pub judgements: HashMap<i64, Vec<Judgement>>,
    /// Per policy (relid, name): analyses of its USING and WITH CHECK clauses.
    pub analyses: PolicyAnalyses,
}

impl<'a> Context<'a> {
    pub fn new(catalog: &'a Catalog, tenancy: &'a Tenancy) -> Self {
        let TenantScope {
            tenant_key,
            tenant_data,
            ..
        } = TenantScope::new(catalog, tenancy);

        let function_body = |name: &str| {
            catalog
                .functions
                .iter()
                .find(|f| f.name.name == name && f.arg_types.is_empty() && f.language == "sql")
                .map(|f| f.source.clone())
        };
        // Schemas repeat a handful of policy texts over hundreds of tables: analyse each text once.
        let mut memo: HashMap<(String, &str), Analysis> = HashMap::new();
        let mut by_relation: HashMap<i64, Vec<&Policy>> = HashMap::new();
        for p in catalog.policies.iter().filter(|p| p.applies_to_app) {
            by_relation.entry(p.relid).or_default().push(p);
        }
        let mut analyses = HashMap::new();
        let mut judgements = HashMap::new();
        for rel in catalog
            .relations
            .iter()
            .filter(|r| r.is_table() && r.rls_enabled)
        {
            let Some(key) = tenant_key.get(&rel.oid) else {
                continue;
            };
            let subject = Subject {
                key_column: key,
                setting: &tenancy.tenant_setting,
                function_body: &function_body,
            };
            let policies: &[&Policy] = by_relation.get(&rel.oid).map_or(&[], Vec::as_slice);
            let mut analyse = |expr: &Option<String>| {
                expr.as_ref().map(|e| {
                    memo.entry((e.clone(), key.as_str()))
                        .or_insert_with(|| policy::analyse(e, &subject))
                        .clone()
                })
            };
            for p in policies {
                analyses.insert(
                    (rel.oid, p.name.clone()),
                    (analyse(&p.using), analyse(&p.check)),
                );
            }
            let mut rel_judgements = Vec::new();
            for (command, allowed) in [
                (Command::Select, rel.app.select),
                (Command::Insert, rel.app.insert),
                (Command::Update, rel.app.update),
                (Command::Delete, rel.app.delete),
            ] {
                if !allowed {
                    continue;
                }
                let sides: &[Side] = match command {
                    Command::Select | Command::Delete => &[Side::Using],
                    Command::Insert => &[Side::Check],
                    Command::Update => &[Side::Using, Side::Check],
                };
                for side in sides {
                    rel_judgements.push(judge(rel, policies, &analyses, command, *side));
                }
            }
            judgements.insert(rel.oid, rel_judgements);
        }
        Self {
            catalog,
            tenancy,
            tenant_key,
            tenant_data,
            judgements,
            analyses,
        }
    }

    pub fn is_tenant_data(&self, rel: &Relation) -> bool {
        self.tenant_data.contains(&rel.oid)
    }

    /// The app role's own entry (attributes).
    pub fn app_role(&self) -> Option<&Role> {
        self.catalog.roles.iter().find(|r| r.is_app)
    }

    /// Whether `role` bypasses RLS (superuser or BYPASSRLS).
    pub fn role_bypasses(&self, role: &str) -> bool {
        self.catalog
            .role(role)
            .is_some_and(|r| r.superuser || r.bypassrls)
    }

    /// `note` when `role` bypasses RLS, else nothing: for details that name an owner whose rights
    /// the app borrows.
    pub fn note_if_bypasses<'n>(&self, role: &str, note: &'n str) -> &'n str {
        if self.role_bypasses(role) { note } else { "" }
    }
}

fn judge(
    rel: &Relation,
    policies: &[&Policy],
    analyses: &PolicyAnalyses,
    command: Command,
    side: Side,
) -> Judgement {
    let applicable: Vec<&&Policy> = policies
        .iter()
        .filter(|p| p.cmd == '*' || p.cmd == command.policy_cmd())
        .collect();
    let evaluate = |p: &Policy| -> (Analysis, String) {
        let (using, check) = analyses
            .get(&(rel.oid, p.name.clone()))
            .cloned()
            .unwrap_or((None, None));
        // WITH CHECK falls back to USING; a clause that is absent altogether admits everything.
        let (analysis, expr) = match side {
            Side::Using => (using, p.using.clone()),
            Side::Check => match check {
                Some(c) => (Some(c), p.check.clone()),
                None => (using, p.using.clone()),
            },
        };
        match analysis {
            Some(a) => (a, expr.unwrap_or_default()),
            None => (
                Analysis {
                    verdict: Verdict::Leaks("the clause is absent, which admits every row".into()),
                    always_true: true,
                    per_row_setting: false,
                },
                "(absent)".into(),
            ),
        }
    };
    let permissive: Vec<(&Policy, Analysis, String)> = applicable
        .iter()
        .filter(|p| p.permissive)
        .map(|p| {
            let (analysis, expr) = evaluate(p);
            (**p, analysis, expr)
        })
        .collect();
    let restrictive_pins = applicable
        .iter()
        .filter(|p| !p.permissive)
        .any(|p| evaluate(p).0.verdict == Verdict::Pins);
    let denied = permissive.is_empty();
    let some_permissive_pins = permissive
        .iter()
        .any(|(_, a, _)| a.verdict == Verdict::Pins);
    let offenders: Vec<Offender> = if restrictive_pins || denied {
        Vec::new()
    } else {
        permissive
            .iter()
            .filter(|(_, a, _)| a.verdict != Verdict::Pins)
            .map(|(p, a, expr)| Offender {
                policy: p.name.clone(),
                verdict: a.verdict.clone(),
                always_true: a.always_true,
                expr: expr.clone(),
            })
            .collect()
    };
    Judgement {
        command,
        side,
        denied,
        pinned: offenders.is_empty(),
        some_permissive_pins,
        offenders,
    }
}

/// One policy keeping one or more commands of one table from being pinned.
#[derive(Debug, Clone)]
pub struct Offence<'c> {
    pub relation: &'c Relation,
    pub policy: String,
    /// e.g. `SELECT`, `UPDATE (WITH CHECK)`.
    pub commands: Vec<String>,
    pub reason: String,
    pub expr: String,
}

impl Offence<'_> {
    /// A standard detail line for a finding.
    pub fn describe(&self) -> String {
        format!(
            "Policy `{}` on `{}` ({}): {}. Expression: {}",
            self.policy,
            self.relation.name,
            self.commands.join(", "),
            self.reason,
            self.expr
        )
    }
}

impl Context<'_> {
    /// Offending policies chosen by `pick`, grouped per (table, policy), tables in catalog order.
    pub fn offences(&self, pick: impl Fn(&Judgement, &Offender) -> bool) -> Vec<Offence<'_>> {
        let mut out: Vec<Offence<'_>> = Vec::new();
        for rel in &self.catalog.relations {
            let Some(judgements) = self.judgements.get(&rel.oid) else {
                continue;
            };
            for j in judgements {
                for o in j.offenders.iter().filter(|o| pick(j, o)) {
                    let command = match j.side {
                        Side::Check if j.command == Command::Update => {
                            "UPDATE (WITH CHECK)".to_owned()
                        }
                        _ => j.command.as_str().to_owned(),
                    };
                    let reason = match &o.verdict {
                        Verdict::Leaks(why) | Verdict::Undecided(why) => why.clone(),
                        Verdict::Pins => String::new(),
                    };
                    match out
                        .iter_mut()
                        .find(|x| x.relation.oid == rel.oid && x.policy == o.policy)
                    {
                        Some(existing) => {
                            if !existing.commands.contains(&command) {
                                existing.commands.push(command);
                            }
                        }
                        None => out.push(Offence {
                            relation: rel,
                            policy: o.policy.clone(),
                            commands: vec![command],
                            reason,
                            expr: o.expr.clone(),
                        }),
                    }
                }
            }
        }
        out
    }
}
