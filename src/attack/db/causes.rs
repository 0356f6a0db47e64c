//! The catalog reasons behind `attack db` findings (`attach`): the attack reads the same catalog
//! snapshot as `audit`, so a finding it confirms on an object that the audit also flags is tied
//! to that audit finding — same fingerprint (one cause for waivers and baselines), the audit
//! rule as `cause` and its detail next to the reproducer. A readable tenants directory takes the
//! directory rule's milder severity: reading it is that one design choice, not a breach.

use crate::finding::Finding;

/// An audit rule that can explain an attack finding, with a word the audit finding's detail
/// must contain when the rule reports several things per object.
type Explanation = (&'static str, Option<&'static str>);

/// Row-level security missing, bypassed or too wide: explains reads and writes alike.
const RLS: &[Explanation] = &[
    ("rls-disabled", None),
    ("tenant-data-without-rls", None),
    ("partition-without-rls", None),
    ("rls-not-forced", None),
    ("policy-always-true", None),
    ("policy-not-tenant-scoped", None),
    ("permissive-policies-widen", None),
];

/// Ways to read rows that go around a table's policies.
const AROUND_RLS: &[Explanation] = &[
    ("view-without-security-invoker", None),
    ("materialized-view-readable", None),
    ("foreign-table-readable", None),
    ("security-definer-executable", None),
];

/// Audit rules that explain an attack rule, most specific first.
fn explanations(attack_rule: &str) -> Vec<Explanation> {
    match attack_rule {
        "cross-tenant-read" | "no-tenant-read" => {
            [&[("tenant-directory-readable", None)], RLS, AROUND_RLS].concat()
        }
        "cross-tenant-write" | "cross-tenant-insert" | "row-moved-to-other-tenant" => {
            [&[("with-check-not-pinned", None)], RLS].concat()
        }
        "truncate-allowed" => vec![("app-role-dangerous-privilege", Some("TRUNCATE"))],
        "foreign-key-existence-oracle" => vec![("foreign-key-without-tenant", None)],
        "unique-key-existence-oracle" => vec![("unique-without-tenant", None)],
        _ => Vec::new(),
    }
}

/// The audit finding in `reasons` that explains `finding`, if any: on the same object, of the
/// first matching rule in `explanations`; among several of one rule, the most severe.
pub fn reason_for<'r>(finding: &Finding, reasons: &'r [Finding]) -> Option<&'r Finding> {
    explanations(&finding.rule)
        .into_iter()
        .find_map(|(rule, word)| {
            reasons
                .iter()
                .filter(|r| r.rule == rule && r.object == finding.object)
                .filter(|r| word.is_none_or(|w| r.detail.contains(w)))
                .max_by_key(|r| r.severity)
        })
}

/// Ties each attack finding to its catalog reason, where there is one.
pub fn attach(findings: Vec<Finding>, reasons: &[Finding]) -> Vec<Finding> {
    findings
        .into_iter()
        .map(|f| match reason_for(&f, reasons) {
            Some(reason) => {
                let directory = reason.rule == "tenant-directory-readable";
                let mut f = f.caused_by(reason);
                if directory {
                    f.severity = reason.severity;
                }
                f
            }
            None => f,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::rules;
    use super::*;
    use crate::finding::{Category, Severity};

    fn audit(rule: &str, object: &str, key: &str, detail: &str, severity: Severity) -> Finding {
        Finding::new(
            rule,
            severity,
            Category::Audit,
            object,
            key,
            "t",
            detail,
            "r",
        )
    }

    #[test]
    fn attack_findings_take_their_catalog_reasons_fingerprint() {
        let reasons = vec![
            audit(
                "app-role-dangerous-privilege",
                "public.t",
                "TRIGGER",
                "holds TRIGGER",
                Severity::Medium,
            ),
            audit(
                "app-role-dangerous-privilege",
                "public.t",
                "TRUNCATE",
                "holds TRUNCATE",
                Severity::High,
            ),
            audit(
                "rls-disabled",
                "public.u",
                "",
                "RLS is disabled",
                Severity::Critical,
            ),
            audit(
                "tenant-directory-readable",
                "public.tenants",
                "",
                "every tenant can list every tenant",
                Severity::Medium,
            ),
        ];
        let truncate = rules::TRUNCATE_ALLOWED.finding("public.t", "", "emptied");
        let read = rules::CROSS_TENANT_READ.finding("public.u", "", "saw");
        let directory = rules::NO_TENANT_READ.finding("public.tenants", "", "saw");
        let unexplained = rules::CROSS_TENANT_READ.finding("public.v", "", "saw");
        let attached = attach(
            vec![truncate, read, directory, unexplained.clone()],
            &reasons,
        );
        assert_eq!(attached[0].fingerprint, reasons[1].fingerprint);
        assert_eq!(
            attached[0].cause.as_deref(),
            Some("app-role-dangerous-privilege")
        );
        assert_eq!(attached[1].fingerprint, reasons[2].fingerprint);
        assert_eq!(attached[1].severity, Severity::Critical);
        assert!(
            attached[1]
                .detail
                .ends_with("Catalog reason (`rls-disabled`): RLS is disabled")
        );
        assert_eq!(attached[2].fingerprint, reasons[3].fingerprint);
        assert_eq!(attached[2].severity, Severity::Medium);
        assert_eq!(attached[3], unexplained);
    }
}
