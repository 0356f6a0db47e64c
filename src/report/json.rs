//! The JSON report: `{"schema_version": 1, "tool": "tenantprobe", "version", "command", "target",
//! "findings", "summary"}`, described by `schemas/report.schema.json`.

use std::collections::HashSet;
use std::io::Write;

use serde::Serialize;

use super::Report;
use crate::finding::{Finding, Summary};

/// Bumped on any incompatible change to the document's shape.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    tool: &'static str,
    version: &'static str,
    command: &'a str,
    target: &'a str,
    duration_ms: u128,
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
        duration_ms: report.duration.as_millis(),
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
