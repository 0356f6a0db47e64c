//! GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` annotation per active
//! finding, so findings show on the run's summary page — and, with `file=`/`line=` (the same
//! locations as SARIF: the migration that made the object, else the spec), on the diff.

use std::io::Write;

use super::Report;
use crate::finding::Severity;

/// Workflow-command data must escape `%`, CR and LF (and `:`/`,` in properties).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn write(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    for f in report.findings.iter().filter(|f| f.is_active()) {
        let command = match f.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Info => "notice",
        };
        let title = escape_property(&format!("{} [{}] {}", f.severity, f.rule, f.object));
        let at = report
            .locator
            .and_then(|l| l.locate(&f.object, &f.detail))
            .map(|at| format!("file={},line={},", escape_property(&at.file), at.line))
            .unwrap_or_default();
        writeln!(
            out,
            "::{command} {at}title={title}::{}",
            escape_data(&format!("{}: {} Fix: {}", f.title, f.detail, f.remediation))
        )?;
    }
    Ok(())
}
