//! The HTML report: one self-contained page (inline CSS, no scripts, nothing fetched) with the
//! verdict, the run's settings, the isolation matrix (objects × properties, each cell passed,
//! leaked or not attacked, with counts), the rules checked, then every finding with its evidence.

use std::fmt::Write as _;
use std::io::Write;

use super::matrix::Verdict;
use super::{CheckStatus, Report};

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem}
.verdict{font-size:1.1rem;font-weight:600;padding:.6rem .9rem;border-radius:6px;display:inline-block;margin:.5rem 0}
.ok{background:#dafbe1;color:#116329}.bad{background:#ffebe9;color:#a40e26}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.5rem 0}dl.meta dt{color:#59636e}dl.meta dd{margin:0}
table{border-collapse:collapse;margin:.5rem 0;font-size:13px}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.passed{background:#dafbe1;color:#116329;text-align:center}td.leaked{background:#ff8182;color:#fff;font-weight:700;text-align:center}
td.not-attacked{background:#f6f8fa;color:#8c959f;text-align:center}.legend span{display:inline-block;padding:0 .5rem;margin-right:.5rem;border-radius:3px}
.finding{border:1px solid #d0d7de;border-left:6px solid #8c959f;border-radius:6px;padding:.5rem 1rem;margin:.75rem 0}
.finding.critical,.finding.high{border-left-color:#cf222e}.finding.medium{border-left-color:#bf8700}.finding.low{border-left-color:#0969da}
.finding.quiet{opacity:.6}.sev{font-weight:700;text-transform:uppercase;font-size:12px}
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}code{font-size:12px}
";

pub fn write(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let mut h = String::new();
    // `write!` into a String cannot fail; the results are ignored for that reason.
    let s = report.summary();
    let title = format!("tenantprobe {} — {}", report.command, report.target);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    if s.active == 0 {
        let _ = writeln!(
            h,
            "<div class=\"verdict ok\" id=\"verdict\">No active findings</div>"
        );
    } else {
        let _ = writeln!(
            h,
            "<div class=\"verdict bad\" id=\"verdict\">{} active finding(s): {} critical, {} high, {} medium, {} low, {} info</div>",
            s.active, s.critical, s.high, s.medium, s.low, s.info
        );
    }
    let _ = writeln!(h, "<dl class=\"meta\">");
    let mut meta = vec![
        (
            "finished",
            report.finished.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        ),
        ("duration", format!("{} ms", report.duration.as_millis())),
        ("tenantprobe", env!("CARGO_PKG_VERSION").to_owned()),
        ("fail on", format!("{} and above", report.fail_on)),
    ];
    if let Some(seed) = report.seed {
        meta.push(("seed", format!("{seed} (--seed {seed} replays the cases)")));
    }
    if let Some(t) = report.tenancy {
        meta.push((
            "tenancy",
            format!(
                "app role {}, tenant column {}, setting {}, schemas {}{}",
                t.app_role,
                t.tenant_column,
                t.tenant_setting,
                t.schemas.join(", "),
                t.tenants_table
                    .as_ref()
                    .map(|t| format!(", tenants table {t}"))
                    .unwrap_or_default()
            ),
        ));
    }
    if s.waived + s.in_baseline > 0 {
        meta.push((
            "accepted",
            format!("{} waived, {} in baseline", s.waived, s.in_baseline),
        ));
    }
    for (k, v) in meta {
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    for note in report.notes {
        let _ = writeln!(h, "<dt>·</dt><dd>{}</dd>", esc(note));
    }
    let _ = writeln!(h, "</dl>");

    if let Some(matrix) = report.coverage.filter(|m| !m.rows.is_empty()) {
        let totals = matrix.totals();
        let _ = writeln!(
            h,
            "<h2>Isolation matrix</h2>\n<p class=\"legend\" id=\"matrix-totals\"><span class=\"passed\" style=\"background:#dafbe1\">{} passed</span><span style=\"background:#ff8182;color:#fff\">{} leaked</span><span style=\"background:#f6f8fa\">{} not attacked</span> Numbers are attempts; a leaked cell shows findings / attempts.</p>",
            totals.get("passed").unwrap_or(&0),
            totals.get("leaked").unwrap_or(&0),
            totals.get("not attacked").unwrap_or(&0)
        );
        let _ = write!(
            h,
            "<table id=\"matrix\"><thead><tr><th>object</th><th>kind</th>"
        );
        for c in &matrix.columns {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        let _ = writeln!(h, "</tr></thead><tbody>");
        for row in &matrix.rows {
            let _ = write!(
                h,
                "<tr><th><code>{}</code>{}</th><td>{}</td>",
                esc(&row.object),
                row.gap
                    .as_deref()
                    .map(|g| format!("<br><small>not attackable: {}</small>", esc(g)))
                    .unwrap_or_default(),
                row.kind.as_str()
            );
            for c in &matrix.columns {
                let cell = row.cells.get(c).copied().unwrap_or_default();
                let (class, text) = match cell.verdict() {
                    Verdict::Passed => ("passed", format!("{}", cell.attempts)),
                    Verdict::Leaked => ("leaked", format!("{}/{}", cell.leaks, cell.attempts)),
                    Verdict::NotAttacked => ("not-attacked", "–".to_owned()),
                };
                let _ = write!(
                    h,
                    "<td class=\"{class}\" title=\"{}: {}, {} attempts, {} refused\">{text}</td>",
                    esc(c),
                    cell.verdict().as_str(),
                    cell.attempts,
                    cell.refused
                );
            }
            let _ = writeln!(h, "</tr>");
        }
        let _ = writeln!(h, "</tbody></table>");
    }

    let checks = report.checks();
    let _ = writeln!(
        h,
        "<h2>Rules checked</h2>\n<table id=\"checks\"><thead><tr><th>rule</th><th>result</th><th>active findings</th><th>waived or baseline</th></tr></thead><tbody>"
    );
    for c in &checks {
        let class = match c.status {
            CheckStatus::Passed => "passed",
            CheckStatus::Warned => "not-attacked",
            CheckStatus::Failed => "leaked",
        };
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(c.rule),
            c.status.as_str(),
            c.findings,
            c.accepted
        );
    }
    let _ = writeln!(h, "</tbody></table>");

    let _ = writeln!(h, "<h2>Findings</h2>");
    if report.findings.is_empty() {
        let _ = writeln!(h, "<p>None.</p>");
    }
    for f in report.findings {
        let quiet = if f.is_active() { "" } else { " quiet" };
        let _ = writeln!(
            h,
            "<section class=\"finding {}{quiet}\"><div><span class=\"sev\">{}</span> <strong>{}</strong> <code>{}</code></div>\
             <div>on <code>{}</code></div><p>{}</p><p><em>Fix:</em> {}</p>",
            f.severity,
            f.severity,
            esc(&f.title),
            esc(&f.rule),
            esc(&f.object),
            esc(&f.detail),
            esc(&f.remediation)
        );
        if let Some(reason) = &f.waived {
            let _ = writeln!(h, "<p><em>Waived:</em> {}</p>", esc(reason));
        } else if f.in_baseline {
            let _ = writeln!(h, "<p><em>In the baseline.</em></p>");
        }
        if let Some(evidence) = &f.evidence {
            let _ = writeln!(h, "<div>Reproducer:</div><pre>{}</pre>", esc(evidence));
        }
        let _ = writeln!(
            h,
            "<div><small>fingerprint <code>{}</code></small></div></section>",
            f.fingerprint
        );
    }
    let _ = writeln!(h, "</body></html>");
    out.write_all(h.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_findings_is_escaped() {
        assert_eq!(
            esc("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
