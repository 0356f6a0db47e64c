//! SARIF 2.1.0: the rules as the tool driver's rules, each finding as a result with a logical
//! location (the database object), a partial fingerprint, and a suppression when waived.

use std::io::Write;

use serde_json::{Value, json};

use super::Report;
use crate::finding::Severity;

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
                "help": { "text": r.remediation },
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
                "partialFingerprints": { "tenantprobe/v1": f.fingerprint },
                "baselineState": if f.in_baseline { "unchanged" } else { "new" },
                "properties": { "severity": f.severity.as_str(), "category": f.category.as_str(), "remediation": f.remediation }
            });
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
            "automationDetails": { "id": format!("tenantprobe/{}/{}", report.command.replace(' ', "-"), report.target) },
            "results": results
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
