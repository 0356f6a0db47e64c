//! The JSON report: `{"schema_version": 2, "tool": "tenantprobe", "version", "command", "target",
//! "started_at", "finished_at", "seed", "tenancy", "checks", "coverage", "findings", "summary"}`,
//! described by `schemas/report.schema.json`.

use std::collections::HashSet;
use std::io::Write;

use serde::Serialize;

use super::{CheckResult, Matrix, Report};
use crate::finding::{Finding, Summary};
use crate::tenancy::Tenancy;

/// Bumped on any change to the document's shape. 2: timestamps, seed, tenancy, per-check results,
/// coverage matrix; duplicate findings (same fingerprint) collapsed.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    tool: &'static str,
    version: &'static str,
    command: &'a str,
    target: &'a str,
    started_at: String,
    finished_at: String,
    duration_ms: u128,
    seed: Option<u64>,
    tenancy: Option<&'a Tenancy>,
    fail_on: &'static str,
    checks: Vec<CheckResult>,
    coverage: Option<&'a Matrix>,
    findings: &'a [Finding],
    summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<&'a serde_json::Value>,
}

pub fn write(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let doc = Document {
        schema_version: SCHEMA_VERSION,
        tool: "tenantprobe",
        version: env!("CARGO_PKG_VERSION"),
        command: report.command,
        target: report.target,
        started_at: report
            .started()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: report
            .finished
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: report.duration.as_millis(),
        seed: report.seed,
        tenancy: report.tenancy,
        fail_on: report.fail_on.as_str(),
        checks: report.checks(),
        coverage: report.coverage,
        findings: report.findings,
        summary: report.summary(),
        stats: report.stats.as_ref(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// The fingerprints of an earlier JSON report (for `--baseline`).
pub fn fingerprints(text: &str) -> Result<HashSet<String>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Doc {
        findings: Vec<Fingerprinted>,
    }
    #[derive(serde::Deserialize)]
    struct Fingerprinted {
        fingerprint: String,
    }
    let doc: Doc = serde_json::from_str(text)?;
    Ok(doc.findings.into_iter().map(|f| f.fingerprint).collect())
}
