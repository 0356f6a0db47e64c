//! SARIF 2.1.0 for GitHub code scanning: the rules as the tool driver's rules (with `helpUri` and
//! `help.markdown`), each finding as a result with a physical location (the migration that created
//! or last changed its object, else the spec: code scanning shows no alert without one) and a
//! logical one (the object), stable partial fingerprints, and a suppression when waived.

use std::io::Write;

use serde_json::{Value, json};

use super::Report;
use crate::finding::Severity;
use crate::rules::RuleInfo;

/// Where the rules are explained: README's rule index (GitHub anchors headings, not table rows;
/// `help.markdown` carries the rule's own text).
fn help_uri() -> String {
    format!(
        "{}/blob/main/README.md#rule-index",
        env!("CARGO_PKG_REPOSITORY")
    )
}

/// The rule's explanation and remediation, shown on the alert page.
fn help_markdown(rule: &RuleInfo) -> String {
    format!(
        "**{}** ({} severity, {})\n\n{}\n\n**How to fix:** {}\n\nRun `tenantprobe rules {}` for the same text in a terminal.",
        rule.title, rule.severity, rule.category, rule.explanation, rule.remediation, rule.id
    )
}

/// `tenantprobe/<command>/<spec name>/`: the same for every run of one command on one target,
/// wherever the database is (code scanning keeps one alert set per category). Without a spec the
/// target is ad hoc; its URL never goes in.
fn automation_id(report: &Report<'_>) -> String {
    let name: String = report
        .spec_name
        .unwrap_or("adhoc")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("tenantprobe/{}/{name}/", report.command.replace(' ', "-"))
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning's 0–10 scale.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

pub fn write(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let rules: Vec<Value> = report
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": { "text": r.title },
                "fullDescription": { "text": r.explanation },
                "help": { "text": r.remediation, "markdown": help_markdown(r) },
                "helpUri": help_uri(),
                "defaultConfiguration": { "level": level(r.severity) },
                "properties": { "category": r.category.as_str(), "security-severity": security_severity(r.severity), "tags": ["security", "multi-tenancy"] }
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": { "text": format!("{}: {}", f.title, f.detail) },
                "locations": [{ "logicalLocations": [{ "fullyQualifiedName": f.object, "kind": "object" }] }],
                // The fingerprint hashes (category, rule, object, key), not the line: an alert
                // keeps its identity when migrations above it move.
                "partialFingerprints": {
                    "primaryLocationLineHash": format!("{}:1", f.fingerprint),
                    "tenantprobe/v1": f.fingerprint
                },
                "baselineState": if f.in_baseline { "unchanged" } else { "new" },
                "properties": { "severity": f.severity.as_str(), "category": f.category.as_str(), "remediation": f.remediation }
            });
            if let Some(at) = report.locator.and_then(|l| l.locate(&f.object, &f.detail)) {
                // Relative paths resolve against the checkout; a file outside the working
                // directory can only be named absolutely.
                let artifact = if at.file.starts_with('/') {
                    json!({ "uri": format!("file://{}", at.file) })
                } else {
                    json!({ "uri": at.file, "uriBaseId": "%SRCROOT%" })
                };
                result["locations"][0]["physicalLocation"] = json!({
                    "artifactLocation": artifact,
                    "region": { "startLine": at.line }
                });
            }
            if let Some(index) = report.rules.iter().position(|r| r.id == f.rule) {
                result["ruleIndex"] = json!(index);
            }
            if let Some(evidence) = &f.evidence {
                result["properties"]["evidence"] = json!(evidence);
            }
            if let Some(reason) = &f.waived {
                result["suppressions"] = json!([{ "kind": "external", "status": "accepted", "justification": reason }]);
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "tenantprobe",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules
            }},
            "automationDetails": { "id": automation_id(report) },
            "results": results
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
