//! The audit rules: one file per rule, one registry (`RULES`). Each rule reads the `Context` and
//! returns findings; each file holds its tests, proving the rule both ways against PostgreSQL.

/// Declares a rule file's `RULE`: an audit rule whose check is that file's `fn check`. Keeps the
/// shared fields (category, registry type, check wiring) in one place.
macro_rules! audit_rule {
    (
        id: $id:literal,
        severity: $severity:ident,
        title: $title:literal,
        explanation: $explanation:literal,
        remediation: $remediation:literal $(,)?
    ) => {
        pub static RULE: $crate::audit::rules::AuditRule = $crate::audit::rules::AuditRule {
            info: $crate::rules::RuleInfo {
                id: $id,
                category: $crate::finding::Category::Audit,
                severity: $crate::finding::Severity::$severity,
                title: $title,
                explanation: $explanation,
                remediation: $remediation,
            },
            check,
        };
    };
}

mod app_role_bypassrls;
mod app_role_dangerous_privilege;
mod app_role_owns_tenant_table;
mod app_role_privileged_membership;
mod app_role_superuser;
mod foreign_key_without_tenant;
mod foreign_table_readable;
mod leakproof_function;
mod materialized_view_readable;
mod partition_without_rls;
mod permissive_policies_widen;
mod policy_always_true;
mod policy_not_tenant_scoped;
mod policy_undecidable;
mod rls_disabled;
mod rls_no_policy;
mod rls_not_forced;
mod security_definer_executable;
mod security_definer_search_path;
mod tenant_column_not_indexed;
mod tenant_column_nullable;
mod tenant_data_without_rls;
pub(crate) mod tenant_directory_readable;
mod tenant_setting_per_row;
mod unique_without_tenant;
mod view_without_security_invoker;
mod with_check_not_pinned;

#[cfg(test)]
pub(crate) mod testing;

use super::context::{Context, Offence, Side};
use super::policy::Verdict;
use crate::catalog::{Function, Relation, Role};
use crate::finding::Finding;
use crate::rules::RuleInfo;

/// A catalog rule: what it is, and the check.
pub struct AuditRule {
    pub info: RuleInfo,
    pub check: fn(&Context<'_>) -> Vec<Finding>,
}

/// What a finding is about: a relation, a function or a role, named as the finding's object.
pub trait Subject {
    fn object(&self) -> String;
}

impl Subject for Relation {
    fn object(&self) -> String {
        self.name.to_string()
    }
}

impl Subject for Function {
    fn object(&self) -> String {
        self.signature.clone()
    }
}

impl Subject for Role {
    fn object(&self) -> String {
        self.name.clone()
    }
}

/// The two shapes most checks take, so that each rule file states only what it picks and what it
/// says: one finding per catalog object, or one per policy offence.
impl AuditRule {
    /// One finding on each of `subjects` that `pick` selects, with the detail `detail` writes.
    pub fn on_each<'c, S: Subject + 'c>(
        &'static self,
        subjects: impl IntoIterator<Item = &'c S>,
        pick: impl Fn(&S) -> bool,
        detail: impl Fn(&S) -> String,
    ) -> Vec<Finding> {
        subjects
            .into_iter()
            .filter(|s| pick(s))
            .map(|s| self.info.finding(s.object(), "", detail(s)))
            .collect()
    }

    /// One finding per policy offence, on its relation, keyed by the policy.
    pub fn on_offences(&'static self, offences: Vec<Offence<'_>>) -> Vec<Finding> {
        offences
            .into_iter()
            .map(|o| {
                self.info
                    .finding(o.relation.name.to_string(), &o.policy, o.describe())
            })
            .collect()
    }
}

/// Tables that carry the tenant column, other than the tenants table itself, with that column.
fn tenant_keyed_tables<'c>(cx: &'c Context<'_>) -> impl Iterator<Item = (&'c Relation, &'c str)> {
    let tenants_table = cx.tenancy.tenants_table.as_ref();
    cx.catalog
        .relations
        .iter()
        .filter(move |r| r.is_table() && Some(&r.name) != tenants_table)
        .filter_map(|r| Some((r, cx.tenant_key.get(&r.oid)?.as_str())))
}

/// USING-side offences that admit other tenants' rows (always-true ones are `policy-always-true`'s),
/// on relations where some permissive policy pins the tenant (`widened`: another policy widens it,
/// `permissive-policies-widen`) or where none does (`policy-not-tenant-scoped`).
fn leaking_using<'c>(cx: &'c Context<'_>, widened: bool) -> Vec<Offence<'c>> {
    cx.offences(|j, o| {
        j.side == Side::Using
            && j.some_permissive_pins == widened
            && !o.always_true
            && matches!(o.verdict, Verdict::Leaks(_))
    })
}

/// A table the app role can use with RLS off (partitions are `partition-without-rls`'s).
fn reachable_without_rls(r: &Relation) -> bool {
    r.is_table() && !r.is_partition && !r.rls_enabled && r.app.any()
}

/// Every audit rule, most severe first.
pub static RULES: &[&AuditRule] = &[
    &rls_disabled::RULE,
    &tenant_data_without_rls::RULE,
    &rls_not_forced::RULE,
    &app_role_superuser::RULE,
    &app_role_bypassrls::RULE,
    &policy_always_true::RULE,
    &policy_not_tenant_scoped::RULE,
    &permissive_policies_widen::RULE,
    &with_check_not_pinned::RULE,
    &view_without_security_invoker::RULE,
    &app_role_privileged_membership::RULE,
    &app_role_owns_tenant_table::RULE,
    &partition_without_rls::RULE,
    &materialized_view_readable::RULE,
    &foreign_table_readable::RULE,
    &security_definer_executable::RULE,
    &security_definer_search_path::RULE,
    &app_role_dangerous_privilege::RULE,
    &foreign_key_without_tenant::RULE,
    &tenant_column_nullable::RULE,
    &tenant_directory_readable::RULE,
    &unique_without_tenant::RULE,
    &leakproof_function::RULE,
    &policy_undecidable::RULE,
    &rls_no_policy::RULE,
    &tenant_setting_per_row::RULE,
    &tenant_column_not_indexed::RULE,
];
