//! Reporters: one stream of findings, written by independent formats (`Format`), each to any
//! `io::Write`. Also waivers, baselines and the `--fail-on` decision, shared by every command.

mod github;
mod human;
mod json;
mod junit;
mod sarif;

use std::io::Write;
use std::time::Duration;

use crate::finding::{Finding, Severity, Summary};
use crate::rules::RuleInfo;
use crate::spec::Waiver;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Grouped by object, with remediation; `color` for ANSI styles.
    Human { color: bool },
    /// The versioned JSON document (`schemas/report.schema.json`).
    Json,
    /// JUnit XML: one test case per rule checked.
    Junit,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// GitHub Actions workflow annotations.
    Github,
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
    /// Counts and rates for machines (the JSON report's `stats`), where a command has them.
    pub stats: Option<serde_json::Value>,
}

impl Report<'_> {
    pub fn summary(&self) -> Summary {
        Summary::of(self.findings)
    }
}

/// Writes `report` in `format`.
pub fn write(format: Format, report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Human { color } => human::write(report, out, color),
        Format::Json => json::write(report, out),
        Format::Junit => junit::write(report, out),
        Format::Sarif => sarif::write(report, out),
        Format::Github => github::write(report, out),
    }
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
