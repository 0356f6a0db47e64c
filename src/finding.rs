//! The one shape every check reports in: `Finding`, with its `Severity`, `Category` and a stable
//! fingerprint for waivers and baselines.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How bad a finding is; ordered, so `--fail-on high` means "high or critical". Its name (serde
/// and strum spell it alike) is in every report format: never rename a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[derive(strum::Display, strum::IntoStaticStr, strum::EnumString)]
#[strum(
    serialize_all = "lowercase",
    ascii_case_insensitive,
    parse_err_ty = String,
    parse_err_fn = unknown_severity
)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Self::Critical,
        Self::High,
        Self::Medium,
        Self::Low,
        Self::Info,
    ];

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The `--fail-on` error for a name that is no severity.
fn unknown_severity(s: &str) -> String {
    format!("unknown severity `{s}` (expected critical, high, medium, low or info)")
}

/// Which part of tenantprobe found it. Its name (serde and strum spell it alike) is in every
/// report format and part of every fingerprint: never rename a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[derive(strum::Display, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum Category {
    Audit,
    AttackDb,
    AttackHttp,
    Cache,
    Monitor,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One isolation problem (the splinter shape). `evidence` is the minimal reproducer: SQL, an HTTP
/// exchange or Redis keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub category: Category,
    pub object: String,
    pub title: String,
    pub detail: String,
    pub remediation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    pub fingerprint: String,
    /// For a finding of `attack db` explained by a catalog finding: that audit rule's id. The two
    /// share the fingerprint (one cause, one finding for waivers and baselines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Set when a waiver in the target spec covers this finding: the waiver's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waived: Option<String>,
    /// Set when `--baseline` already knew this finding.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_baseline: bool,
}

impl Finding {
    /// A finding whose fingerprint is derived from (category, rule, object, `key`): stable across
    /// runs and machines, so waivers and baselines keep matching. `key` distinguishes several
    /// findings of one rule on one object (e.g. the policy or column name); "" when there is one.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rule: &str,
        severity: Severity,
        category: Category,
        object: impl Into<String>,
        key: &str,
        title: impl Into<String>,
        detail: impl Into<String>,
        remediation: impl Into<String>,
    ) -> Self {
        let object = object.into();
        Self {
            fingerprint: fingerprint(category, rule, &object, key),
            rule: rule.to_owned(),
            severity,
            category,
            object,
            title: title.into(),
            detail: detail.into(),
            remediation: remediation.into(),
            evidence: None,
            cause: None,
            waived: None,
            in_baseline: false,
        }
    }

    pub fn with_evidence(mut self, evidence: impl Into<String>) -> Self {
        self.evidence = Some(evidence.into());
        self
    }

    /// Ties this finding to the catalog finding `reason` that explains it: same fingerprint, the
    /// reason's rule as `cause`, and its detail next to the reproducer.
    pub fn caused_by(mut self, reason: &Finding) -> Self {
        self.fingerprint = reason.fingerprint.clone();
        self.cause = Some(reason.rule.clone());
        self.detail = format!(
            "{} Catalog reason (`{}`): {}",
            self.detail, reason.rule, reason.detail
        );
        self
    }

    /// The same finding found on one of several databases: the object names the database
    /// (`database:object`) and the fingerprint tells the databases apart.
    pub fn in_database(mut self, database: &str) -> Self {
        self.object = format!("{database}:{}", self.object);
        self.fingerprint = fingerprint(self.category, &self.rule, &self.object, &self.fingerprint);
        self
    }

    /// Counts toward `--fail-on`: not waived, not in the baseline.
    pub fn is_active(&self) -> bool {
        self.waived.is_none() && !self.in_baseline
    }
}

/// First 16 hex digits of SHA-256 over the identifying parts.
pub fn fingerprint(category: Category, rule: &str, object: &str, key: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [category.as_str(), rule, object, key] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Counts per severity, for summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub active: usize,
    pub waived: usize,
    pub in_baseline: usize,
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
}

impl Summary {
    /// Severity counts are over active findings only: what still needs fixing.
    pub fn of(findings: &[Finding]) -> Self {
        let mut s = Self {
            total: findings.len(),
            ..Self::default()
        };
        for f in findings {
            if f.waived.is_some() {
                s.waived += 1;
                continue;
            }
            if f.in_baseline {
                s.in_baseline += 1;
                continue;
            }
            s.active += 1;
            match f.severity {
                Severity::Critical => s.critical += 1,
                Severity::High => s.high += 1,
                Severity::Medium => s.medium += 1,
                Severity::Low => s.low += 1,
                Severity::Info => s.info += 1,
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_distinguish_their_parts() {
        let a = fingerprint(Category::Audit, "rls-disabled", "public.t", "");
        assert_eq!(
            a,
            fingerprint(Category::Audit, "rls-disabled", "public.t", "")
        );
        assert_eq!(a.len(), 16);
        assert_ne!(
            a,
            fingerprint(Category::Audit, "rls-disabled", "public.u", "")
        );
        // The separator keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(
            fingerprint(Category::Audit, "r", "ab", "c"),
            fingerprint(Category::Audit, "r", "a", "bc")
        );
    }

    /// The names are in every report format and in fingerprints; serde and strum must agree.
    #[test]
    fn names_are_the_same_in_every_form() {
        let severities = Severity::ALL;
        assert_eq!(
            severities.map(Severity::as_str),
            ["critical", "high", "medium", "low", "info"]
        );
        for severity in severities {
            let name = severity.as_str();
            assert_eq!(severity.to_string(), name);
            assert_eq!(serde_json::json!(severity), name);
            assert_eq!(name.parse::<Severity>(), Ok(severity));
        }
        let categories = [
            Category::Audit,
            Category::AttackDb,
            Category::AttackHttp,
            Category::Cache,
            Category::Monitor,
        ];
        assert_eq!(
            categories.map(Category::as_str),
            ["audit", "attack-db", "attack-http", "cache", "monitor"]
        );
        for category in categories {
            assert_eq!(category.to_string(), category.as_str());
            assert_eq!(serde_json::json!(category), category.as_str());
        }
    }

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert_eq!(
            "urgent".parse::<Severity>(),
            Err("unknown severity `urgent` (expected critical, high, medium, low or info)".into())
        );
    }
}
