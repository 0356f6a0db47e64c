//! The properties `attack db` checks, as rules of the public catalogue.

use crate::rules::rule;

rule!(
    AttackDb,
    CROSS_TENANT_READ,
    "cross-tenant-read",
    Critical,
    "a tenant read another tenant's values",
    "Acting as the app role with tenant A's context, a value tenantprobe seeded for tenant B appeared in a result set or an error message: through a table, a view, a function or a point read by B's key. Values are judged by ownership, so leaks without a tenant column (a view that drops it, a function that returns titles) count too.",
    "Follow the reproducer: enable and force RLS with a tenant policy on the table; make views security_invoker; make functions SECURITY INVOKER or keep them from returning other tenants' data."
);
rule!(
    AttackDb,
    CROSS_TENANT_WRITE,
    "cross-tenant-write",
    Critical,
    "a tenant changed or deleted another tenant's rows",
    "As tenant A, an UPDATE or DELETE aimed at tenant B's row changed B's data, as the observer saw it inside the same transaction.",
    "The table's policies must pin the tenant for UPDATE and DELETE (USING), not only for SELECT."
);
rule!(
    AttackDb,
    CROSS_TENANT_INSERT,
    "cross-tenant-insert",
    Critical,
    "a tenant inserted a row into another tenant",
    "As tenant A, an INSERT carrying tenant B in the tenant column succeeded: A can plant data in B's account.",
    "Give the INSERT (or ALL) policy a WITH CHECK that pins the tenant column to the setting."
);
rule!(
    AttackDb,
    ROW_MOVED,
    "row-moved-to-other-tenant",
    Critical,
    "a tenant moved its own row into another tenant",
    "As tenant A, `UPDATE … SET tenant_column = B` on A's own row succeeded (with or without RETURNING or a WHERE clause): data can be pushed into another tenant, or a row hidden from audits.",
    "Give the UPDATE (or ALL) policy a WITH CHECK that pins the tenant column; the USING clause alone does not check new rows."
);
rule!(
    AttackDb,
    TRUNCATE_ALLOWED,
    "truncate-allowed",
    Critical,
    "the app role can truncate a tenant table",
    "TRUNCATE ignores row-level security. As tenant A the app emptied the table, deleting every tenant's rows.",
    "REVOKE TRUNCATE ON … FROM <app role>."
);
rule!(
    AttackDb,
    FK_ORACLE,
    "foreign-key-existence-oracle",
    High,
    "a foreign key reveals or references another tenant's rows",
    "Foreign-key checks ignore RLS. Inserting a row that references tenant B's key behaved differently from referencing a key that does not exist, so A learns which of B's ids exist; where it succeeded, A's row now points into B.",
    "Include the tenant column in the foreign key: FOREIGN KEY (tenant_id, x_id) REFERENCES parent (tenant_id, id)."
);
rule!(
    AttackDb,
    UNIQUE_ORACLE,
    "unique-key-existence-oracle",
    High,
    "a unique key reveals another tenant's values",
    "Uniqueness is checked across tenants, ignoring RLS. Inserting tenant B's value as A failed with a unique violation where a fresh value succeeded, so A can test which values B uses (and block them). Only keys whose values a tenant chooses are attacked (an email, an external id): keys the server fills (identity ALWAYS, a random uuid default) are no oracle, and overridable sequences are left to the audit's low `unique-without-tenant`. Confirmed by a reproducer, hence high; it shares its fingerprint with the audit's `unique-without-tenant` on the same table.",
    "Make the unique key per tenant: UNIQUE (tenant_id, …)."
);
rule!(
    AttackDb,
    NO_TENANT_READ,
    "no-tenant-read",
    Critical,
    "rows are visible without a valid tenant",
    "With the tenant setting unset (fresh connection), empty (pooled connection after an earlier transaction), malformed or naming an unknown tenant, the app role could see seeded rows: a code path that forgets or botches the tenant reads somebody's data.",
    "Read the setting as NULLIF(current_setting(name, true), '') and compare with `=`; never fall back with COALESCE or `IS NULL OR`."
);
rule!(
    AttackDb,
    TENANT_LOCKED_OUT,
    "tenant-locked-out",
    High,
    "a tenant cannot see its own rows",
    "With its own context set, tenant A saw none of the rows seeded for it (or reading failed). A deny-all policy is broken, not secure: the product fails for the tenant, and the usual fix is to disable RLS.",
    "Check that the policy compares the tenant column with the setting the application sets, with the same type."
);
rule!(
    AttackDb,
    NOT_COVERED,
    "tenant-object-not-attacked",
    High,
    "a tenant table or partition was not seeded and attacked",
    "Coverage is part of the verdict. tenantprobe seeds every tenant table and every leaf partition inside the attack's transaction and attacks them as the app role; this one refused every row it generated (a CHECK it could not satisfy, a type it cannot produce, a parent without rows, key values outside every partition), or no attempt reached it, or every attempt timed out. Its isolation is unknown, so the run is not green.",
    "Read the reason in the detail and make the object seedable (a CHECK tenantprobe can satisfy, a parent it can seed), or, if it really cannot be attacked here, waive it in the spec with the reason: [[waivers]] rule = \"tenant-object-not-attacked\", object = \"schema.table\", reason = \"…\"."
);

/// Every `attack db` rule, for the catalogue.
pub static RULES: &[&crate::rules::RuleInfo] = &[
    &CROSS_TENANT_READ,
    &CROSS_TENANT_WRITE,
    &CROSS_TENANT_INSERT,
    &ROW_MOVED,
    &TRUNCATE_ALLOWED,
    &FK_ORACLE,
    &UNIQUE_ORACLE,
    &NO_TENANT_READ,
    &TENANT_LOCKED_OUT,
    &NOT_COVERED,
];
