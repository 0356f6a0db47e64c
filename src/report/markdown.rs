//! GitHub-flavoured Markdown, for `$GITHUB_STEP_SUMMARY` and pull-request comments: the verdict,
//! the rules checked, the isolation matrix, then each active finding with its reproducer folded.

use std::io::Write;

use super::matrix::Verdict;
use super::{CheckStatus, Report};

/// Table cells may hold neither `|` nor line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A fence longer than any backtick run inside, so evidence cannot close it.
fn fence(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

pub fn write(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let s = report.summary();
    let verdict = if s.active == 0 {
        "✅ no active findings".to_owned()
    } else {
        format!(
            "❌ {} active finding(s): {} critical, {} high, {} medium, {} low, {} info",
            s.active, s.critical, s.high, s.medium, s.low, s.info
        )
    };
    writeln!(
        out,
        "## tenantprobe {} — {}\n",
        report.command,
        cell(report.target)
    )?;
    writeln!(out, "**{verdict}**")?;
    if s.waived + s.in_baseline > 0 {
        writeln!(out, " ({} waived, {} in baseline)", s.waived, s.in_baseline)?;
    }
    writeln!(
        out,
        "\n{} · {} ms · tenantprobe {}{}\n",
        report.finished.format("%Y-%m-%d %H:%M:%S UTC"),
        report.duration.as_millis(),
        env!("CARGO_PKG_VERSION"),
        report
            .seed
            .map(|s| format!(" · seed {s}"))
            .unwrap_or_default()
    )?;

    let checks = report.checks();
    let passed = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Passed)
        .count();
    writeln!(
        out,
        "<details><summary>{} rules checked, {passed} passed</summary>\n",
        checks.len()
    )?;
    writeln!(out, "| rule | result | findings |\n| --- | --- | --- |")?;
    for c in &checks {
        let mark = match c.status {
            CheckStatus::Passed => "✅ passed",
            CheckStatus::Warned => "⚠️ below --fail-on",
            CheckStatus::Failed => "❌ failed",
        };
        writeln!(out, "| `{}` | {mark} | {} |", c.rule, c.findings)?;
    }
    writeln!(out, "\n</details>\n")?;

    if let Some(matrix) = report.coverage.filter(|m| !m.rows.is_empty()) {
        let totals = matrix.totals();
        writeln!(
            out,
            "### Isolation matrix\n\n{} passed · {} leaked · {} not attacked (attempts per cell)\n",
            totals.get("passed").unwrap_or(&0),
            totals.get("leaked").unwrap_or(&0),
            totals.get("not attacked").unwrap_or(&0)
        )?;
        write!(out, "| object |")?;
        for c in &matrix.columns {
            write!(out, " {} |", cell(c))?;
        }
        write!(out, "\n| --- |")?;
        for _ in &matrix.columns {
            write!(out, " --- |")?;
        }
        writeln!(out)?;
        for row in &matrix.rows {
            write!(out, "| `{}` ({}) |", cell(&row.object), row.kind.as_str())?;
            for c in &matrix.columns {
                let v = row.cells.get(c).copied().unwrap_or_default();
                let text = match v.verdict() {
                    Verdict::Passed => format!("✅ {}", v.attempts),
                    Verdict::Leaked => format!("❌ {}/{}", v.leaks, v.attempts),
                    Verdict::NotAttacked => "·".to_owned(),
                };
                write!(out, " {text} |")?;
            }
            writeln!(out)?;
        }
        writeln!(out)?;
    }

    let active: Vec<_> = report.findings.iter().filter(|f| f.is_active()).collect();
    if !active.is_empty() {
        writeln!(out, "### Findings\n")?;
    }
    for f in active {
        writeln!(
            out,
            "- **{}** `{}` on `{}` — {}\n  {}\n  *Fix:* {}\n  fingerprint `{}`",
            f.severity,
            f.rule,
            cell(&f.object),
            cell(&f.title),
            cell(&f.detail),
            cell(&f.remediation),
            f.fingerprint
        )?;
        if let Some(evidence) = &f.evidence {
            let fence = fence(evidence);
            writeln!(
                out,
                "  <details><summary>reproducer</summary>\n\n{fence}\n{evidence}\n{fence}\n\n  </details>"
            )?;
        }
    }
    Ok(())
}
