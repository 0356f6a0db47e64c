//! The audit rules: one file per rule, one registry (`RULES`). Each rule reads the `Context` and
//! returns findings; each file holds its tests, proving the rule both ways against PostgreSQL.

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

use super::context::Context;
use crate::finding::Finding;
use crate::rules::RuleInfo;

/// A catalog rule: what it is, and the check.
pub struct AuditRule {
    pub info: RuleInfo,
    pub check: fn(&Context<'_>) -> Vec<Finding>,
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
