//! JUnit XML (via nextest's quick-junit): one test suite per command, one test case per rule
//! checked; a rule with active findings fails, listing them; waived ones are noted in its output.

use std::io::Write;

use quick_junit::{NonSuccessKind, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use super::Report;

pub fn write(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let mut junit = JunitReport::new("tenantprobe");
    let mut suite = TestSuite::new(format!(
        "tenantprobe {} — {}",
        report.command, report.target
    ));
    for rule in report.rules {
        let findings: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.rule == rule.id)
            .collect();
        let active: Vec<_> = findings.iter().filter(|f| f.is_active()).collect();
        let mut status = if active.is_empty() {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{} finding(s): {}", active.len(), rule.title));
            s.set_type(rule.severity.as_str());
            let description: Vec<String> = active
                .iter()
                .map(|f| {
                    format!(
                        "[{}] {}: {}\nfix: {}{}",
                        f.severity,
                        f.object,
                        f.detail,
                        f.remediation,
                        f.evidence
                            .as_deref()
                            .map(|e| format!("\n{e}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            s.set_description(description.join("\n\n"));
            s
        };
        if active.is_empty() && !findings.is_empty() {
            status = TestCaseStatus::success();
        }
        let mut case = TestCase::new(rule.id, status);
        case.set_classname(format!("tenantprobe.{}", rule.category));
        let waived: Vec<String> = findings
            .iter()
            .filter(|f| !f.is_active())
            .map(|f| {
                format!(
                    "{} (waived or in baseline: {})",
                    f.object,
                    f.waived.as_deref().unwrap_or("baseline")
                )
            })
            .collect();
        if !waived.is_empty() {
            case.set_system_out(waived.join("\n"));
        }
        suite.add_test_case(case);
    }
    junit.add_test_suite(suite);
    let xml = junit.to_string().map_err(std::io::Error::other)?;
    out.write_all(xml.as_bytes())
}
