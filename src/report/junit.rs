//! JUnit XML (via nextest's quick-junit): one test suite per command, one test case per rule
//! checked. A rule fails only with active findings at or above `--fail-on` (as the exit code
//! does); findings below it, waived or in the baseline are listed in the case's output. The run's
//! duration and start time are recorded (`time`, `timestamp`).

use std::io::Write;

use quick_junit::{NonSuccessKind, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use super::Report;
use crate::finding::Finding;

fn describe(f: &Finding) -> String {
    format!(
        "[{}] {}: {}\nfix: {}\nfingerprint: {}{}",
        f.severity,
        f.object,
        f.detail,
        f.remediation,
        f.fingerprint,
        f.evidence
            .as_deref()
            .map(|e| format!("\n{e}"))
            .unwrap_or_default()
    )
}

pub fn write(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let mut junit = JunitReport::new("tenantprobe");
    junit.set_time(report.duration);
    junit.set_timestamp(report.started().fixed_offset());
    let mut suite = TestSuite::new(format!(
        "tenantprobe {} — {}",
        report.command, report.target
    ));
    suite.set_time(report.duration);
    suite.set_timestamp(report.started().fixed_offset());
    for rule in report.rules {
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.rule == rule.id)
            .collect();
        let failing: Vec<&Finding> = findings
            .iter()
            .copied()
            .filter(|f| f.is_active() && f.severity >= report.fail_on)
            .collect();
        let status = if failing.is_empty() {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{} finding(s): {}", failing.len(), rule.title));
            s.set_type(rule.severity.as_str());
            let description: Vec<String> = failing.iter().map(|f| describe(f)).collect();
            s.set_description(description.join("\n\n"));
            s
        };
        let mut case = TestCase::new(rule.id, status);
        case.set_classname(format!("tenantprobe.{}", rule.category));
        let others: Vec<String> = findings
            .iter()
            .filter(|f| !failing.contains(f))
            .map(|f| {
                let why = if let Some(reason) = &f.waived {
                    format!("waived: {reason}")
                } else if f.in_baseline {
                    "in baseline".to_owned()
                } else {
                    format!("below --fail-on {}", report.fail_on)
                };
                format!("{} ({why})\n{}", f.object, describe(f))
            })
            .collect();
        if !others.is_empty() {
            case.set_system_out(others.join("\n\n"));
        }
        suite.add_test_case(case);
    }
    junit.add_test_suite(suite);
    let xml = junit.to_string().map_err(std::io::Error::other)?;
    out.write_all(xml.as_bytes())
}
