//! Reporters: one stream of findings, written by independent formats (`Format`), each to any
//! `io::Write`. Also waivers, baselines and the `--fail-on` decision, shared by every command.

mod github;
mod html;
mod human;
mod json;
mod junit;
pub mod locate;
mod markdown;
pub mod matrix;
mod sarif;
pub mod wrap;

use std::io::Write;
use std::time::Duration;

use crate::finding::{Finding, Severity, Summary};
use crate::rules::RuleInfo;
use crate::spec::Waiver;
use crate::tenancy::Tenancy;

pub use locate::{Location, Locator};
pub use matrix::Matrix;

/// Output formats, as `--format` names them: `human` (grouped by object, with remediation),
/// `json` (the versioned document, `schemas/report.schema.json`), `junit` (one test case per rule
/// checked), `sarif` (SARIF 2.1.0, for code-scanning dashboards) and `github` (workflow
/// annotations). A variant's own doc comment is its line in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
    Sarif,
    Github,
    /// One self-contained HTML page: the isolation matrix, then every finding.
    Html,
    /// Markdown for $GITHUB_STEP_SUMMARY and pull-request comments.
    Markdown,
}

/// How the human format looks; the other formats ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanStyle {
    /// ANSI styles (a terminal, no `NO_COLOR`).
    pub color: bool,
    /// Prose wraps at this many columns.
    pub width: usize,
}

impl Default for HumanStyle {
    fn default() -> Self {
        Self {
            color: false,
            width: wrap::DEFAULT_WIDTH,
        }
    }
}

/// Everything a reporter needs.
#[derive(Debug)]
pub struct Report<'a> {
    /// `audit`, `attack db`, …
    pub command: &'a str,
    /// The target's name (spec name or database).
    pub target: &'a str,
    pub findings: &'a [Finding],
    /// The rules that were checked (passing ones included).
    pub rules: &'a [&'static RuleInfo],
    pub duration: Duration,
    /// Extra lines for humans (what was examined, coverage).
    pub notes: &'a [String],
    /// When the report was made (the run ended).
    pub finished: chrono::DateTime<chrono::Utc>,
    /// The seed that replays a property-based run.
    pub seed: Option<u64>,
    /// The tenancy conventions the run assumed.
    pub tenancy: Option<&'a Tenancy>,
    /// What was attacked, object by property.
    pub coverage: Option<&'a Matrix>,
    /// The spec's name (for SARIF's stable category), when a spec was used.
    pub spec_name: Option<&'a str>,
    /// Source locations (migrations, spec) for SARIF and annotations.
    pub locator: Option<&'a Locator>,
    /// The `--fail-on` threshold: JUnit fails only what fails the run.
    pub fail_on: Severity,
    /// Counts and rates for machines (the JSON report's `stats`), where a command has them.
    pub stats: Option<serde_json::Value>,
    /// Colour and width of the human format.
    pub style: HumanStyle,
}

impl<'a> Report<'a> {
    /// A report of `command` on `target` that checked `rules`; the rest is set by the caller.
    pub fn new(
        command: &'a str,
        target: &'a str,
        rules: &'a [&'static RuleInfo],
        duration: Duration,
        notes: &'a [String],
    ) -> Self {
        Self {
            command,
            target,
            findings: &[],
            rules,
            duration,
            notes,
            finished: chrono::Utc::now(),
            seed: None,
            tenancy: None,
            coverage: None,
            spec_name: None,
            locator: None,
            fail_on: Severity::High,
            stats: None,
            style: HumanStyle::default(),
        }
    }

    pub fn summary(&self) -> Summary {
        Summary::of(self.findings)
    }

    /// When the run started.
    pub fn started(&self) -> chrono::DateTime<chrono::Utc> {
        self.finished - chrono::Duration::from_std(self.duration).unwrap_or_default()
    }

    /// Each rule checked, with its verdict: what a clean report proves.
    pub fn checks(&self) -> Vec<CheckResult> {
        self.rules
            .iter()
            .map(|rule| {
                let of_rule = self.findings.iter().filter(|f| f.rule == rule.id);
                let (mut active, mut failing, mut accepted) = (0, 0, 0);
                for f in of_rule {
                    if !f.is_active() {
                        accepted += 1;
                    } else {
                        active += 1;
                        failing += usize::from(f.severity >= self.fail_on);
                    }
                }
                let status = if failing > 0 {
                    CheckStatus::Failed
                } else if active > 0 {
                    CheckStatus::Warned
                } else {
                    CheckStatus::Passed
                };
                CheckResult {
                    rule: rule.id,
                    status,
                    findings: active,
                    accepted,
                }
            })
            .collect()
    }
}

/// A rule's verdict in one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckResult {
    pub rule: &'static str,
    pub status: CheckStatus,
    /// Active findings.
    pub findings: usize,
    /// Waived or baseline findings.
    pub accepted: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// No active finding.
    Passed,
    /// Active findings, all below `--fail-on`.
    Warned,
    /// Active findings at or above `--fail-on`.
    Failed,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Warned => "warned",
            Self::Failed => "failed",
        }
    }
}

/// Writes `report` in `format`.
pub fn write(format: Format, report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Human => human::write(report, out),
        Format::Json => json::write(report, out),
        Format::Junit => junit::write(report, out),
        Format::Sarif => sarif::write(report, out),
        Format::Github => github::write(report, out),
        Format::Html => html::write(report, out),
        Format::Markdown => markdown::write(report, out),
    }
}

/// Collapses duplicate findings (the same fingerprint: one cause reached twice, e.g. by two
/// checks of one cycle, or by `audit` and by `attack db`). One stays, in the first one's place:
/// the most severe, and among equals the one with a reproducer (the attack's, which also carries
/// the catalog reason). Returns how many were dropped.
pub fn collapse_duplicates(findings: &mut Vec<Finding>) -> usize {
    let before = findings.len();
    let mut first: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut kept: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings.drain(..) {
        match first.get(&f.fingerprint) {
            Some(&at) => {
                let held = &kept[at];
                let better =
                    (f.severity, f.evidence.is_some()) > (held.severity, held.evidence.is_some());
                if better {
                    kept[at] = f;
                }
            }
            None => {
                first.insert(f.fingerprint.clone(), kept.len());
                kept.push(f);
            }
        }
    }
    *findings = kept;
    before - findings.len()
}

/// Marks findings covered by a waiver (keeping them, with the reason).
pub fn apply_waivers(findings: &mut [Finding], waivers: &[Waiver]) {
    for finding in findings {
        if let Some(w) = waivers.iter().find(|w| w.matches(finding)) {
            finding.waived = Some(w.reason.0.clone());
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read baseline `{path}`: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("baseline `{path}` is not a tenantprobe JSON report: {cause}")]
    Parse {
        path: String,
        cause: serde_json::Error,
    },
}

/// Marks findings whose fingerprint the baseline (an earlier JSON report) already holds.
pub fn apply_baseline(
    findings: &mut [Finding],
    path: &std::path::Path,
) -> Result<usize, BaselineError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|cause| BaselineError::Read {
        path: p.clone(),
        cause,
    })?;
    let known =
        json::fingerprints(&text).map_err(|cause| BaselineError::Parse { path: p, cause })?;
    let mut matched = 0;
    for f in findings
        .iter_mut()
        .filter(|f| known.contains(&f.fingerprint))
    {
        f.in_baseline = true;
        matched += 1;
    }
    Ok(matched)
}

/// True when an active finding is at or above `threshold`: the run fails.
pub fn fails(findings: &[Finding], threshold: Severity) -> bool {
    findings
        .iter()
        .any(|f| f.is_active() && f.severity >= threshold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Category;

    fn finding(rule: &str, object: &str, severity: Severity) -> Finding {
        Finding::new(rule, severity, Category::Audit, object, "", "t", "d", "r")
    }

    #[test]
    fn duplicates_collapse_to_one() {
        let mut findings = vec![
            finding("rls-disabled", "public.a", Severity::High),
            finding("rls-disabled", "public.b", Severity::High),
            finding("rls-disabled", "public.a", Severity::High),
        ];
        assert_eq!(collapse_duplicates(&mut findings), 1);
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[1].object, "public.b");
    }

    #[test]
    fn an_audit_finding_and_the_attack_finding_it_explains_collapse_to_the_attack_one() {
        let audit = Finding::new(
            "unique-without-tenant",
            Severity::Medium,
            Category::Audit,
            "public.members",
            "members_email_key",
            "t",
            "The unique index `members_email_key` …",
            "r",
        );
        let attack = Finding::new(
            "unique-key-existence-oracle",
            Severity::High,
            Category::AttackDb,
            "public.members",
            "",
            "t",
            "Inserting tenant 1's value(s) …",
            "r",
        )
        .with_evidence("BEGIN; … ROLLBACK;")
        .caused_by(&audit);
        assert_eq!(attack.fingerprint, audit.fingerprint);
        assert!(
            attack
                .detail
                .contains("Catalog reason (`unique-without-tenant`)")
        );
        let mut findings = vec![audit, attack.clone()];
        assert_eq!(collapse_duplicates(&mut findings), 1);
        assert_eq!(findings, std::slice::from_ref(&attack));
        // A waiver written for the audit rule covers the attack finding too.
        let waiver: Waiver = toml::from_str(
            "rule = \"unique-without-tenant\"\nobject = \"public.members\"\nreason = \"emails are global logins\"",
        )
        .unwrap();
        assert!(waiver.matches(&attack));
    }

    #[test]
    fn checks_fail_only_at_or_above_fail_on() {
        let rules: Vec<&'static RuleInfo> = crate::audit::rules::RULES
            .iter()
            .map(|r| &r.info)
            .take(2)
            .collect();
        let findings = vec![finding(rules[0].id, "public.a", Severity::Medium)];
        let mut report = Report::new("audit", "t", &rules, Duration::ZERO, &[]);
        report.findings = &findings;
        report.fail_on = Severity::High;
        let checks = report.checks();
        assert_eq!(checks[0].status, CheckStatus::Warned);
        assert_eq!(checks[1].status, CheckStatus::Passed);
        report.fail_on = Severity::Medium;
        assert_eq!(report.checks()[0].status, CheckStatus::Failed);
    }
}
