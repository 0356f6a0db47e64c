//! The human report: findings grouped by object, most severe first, each with what to do, its
//! fingerprint and a waiver ready to paste; waived and baseline findings shown dimmed. Lines wrap
//! at the given width. Colour only when the caller says so (a terminal, no `NO_COLOR`).

use std::collections::BTreeMap;
use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::wrap::indented;
use super::{HumanStyle, Report};
use crate::finding::{Finding, Severity};

fn severity_style(s: Severity, color: bool) -> Style {
    if !color {
        return Style::new();
    }
    let colour = match s {
        Severity::Critical => AnsiColor::BrightRed,
        Severity::High => AnsiColor::Red,
        Severity::Medium => AnsiColor::Yellow,
        Severity::Low => AnsiColor::Cyan,
        Severity::Info => AnsiColor::White,
    };
    Style::new().fg_color(Some(colour.into())).bold()
}

/// Where the detail lines of a finding start.
const INDENT: &str = "           ";

/// The `[[waivers]]` entry that accepts `f` (by fingerprint: it survives renames of nothing else).
pub fn waiver_snippet(f: &Finding) -> String {
    format!(
        "[[waivers]]  # {} on {}\nfingerprint = \"{}\"\nreason = \"\"\"why this is acceptable\"\"\"",
        f.rule,
        f.object.replace('\n', " "),
        f.fingerprint
    )
}

/// Styled and wrapped as `report.style` says.
pub fn write(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let HumanStyle { color, width } = report.style;
    let paint = |style: Style| if color { style } else { Style::new() };
    let bold = paint(Style::new().bold());
    let dim = paint(Style::new().dimmed());
    writeln!(
        out,
        "{bold}tenantprobe {}{bold:#} — {}",
        report.command, report.target
    )?;
    for note in report.notes {
        for line in indented(note, width, "  · ", "    ") {
            writeln!(out, "{line}")?;
        }
    }
    writeln!(out)?;

    let mut by_object: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in report.findings {
        by_object.entry(f.object.as_str()).or_default().push(f);
    }
    let mut objects: Vec<(&str, Vec<&Finding>)> = by_object.into_iter().collect();
    // Objects with the worst active finding first; quiet (waived) objects last.
    let rank = |fs: &Vec<&Finding>| {
        fs.iter()
            .filter(|f| f.is_active())
            .map(|f| f.severity)
            .max()
    };
    objects.sort_by(|a, b| rank(&b.1).cmp(&rank(&a.1)).then(a.0.cmp(b.0)));
    for (object, findings) in objects {
        writeln!(out, "{bold}{object}{bold:#}")?;
        for f in findings {
            let sev = severity_style(f.severity, color);
            if f.is_active() {
                // The title line starts with the styled severity, whose escapes textwrap must
                // not count: wrap with a plain prefix, then paint it.
                let prefix = format!("  {:<8} ", f.severity);
                let head = format!("{} [{}]", f.title, f.rule);
                for (i, line) in indented(&head, width, &prefix, INDENT)
                    .into_iter()
                    .enumerate()
                {
                    if i == 0 {
                        let rest = line.strip_prefix(prefix.as_str()).unwrap_or(&line);
                        writeln!(out, "  {sev}{:<8}{sev:#} {bold}{rest}{bold:#}", f.severity)?;
                    } else {
                        writeln!(out, "{bold}{line}{bold:#}")?;
                    }
                }
                for line in indented(&f.detail, width, INDENT, INDENT) {
                    writeln!(out, "{line}")?;
                }
                let fix = indented(
                    &format!("fix: {}", f.remediation),
                    width,
                    INDENT,
                    &format!("{INDENT}     "),
                );
                for line in fix {
                    writeln!(out, "{dim}{line}{dim:#}")?;
                }
                if let Some(evidence) = &f.evidence {
                    // Reproducers are code: never re-flowed, so they still run when pasted.
                    for line in evidence.lines() {
                        writeln!(out, "{INDENT}{dim}│{dim:#} {line}")?;
                    }
                }
                writeln!(
                    out,
                    "{INDENT}{dim}fingerprint {} · to accept it, add to the spec:{dim:#}",
                    f.fingerprint
                )?;
                for line in waiver_snippet(f).lines() {
                    writeln!(out, "{INDENT}{dim}│{dim:#} {line}")?;
                }
            } else {
                let why = f
                    .waived
                    .as_deref()
                    .map_or_else(|| "in baseline".to_owned(), |r| format!("waived: {r}"));
                let text = format!(
                    "  {:<8} {} [{}] ({}) — {why}",
                    f.severity, f.title, f.rule, f.fingerprint
                );
                for line in indented(&text, width, "", INDENT) {
                    writeln!(out, "{dim}{line}{dim:#}")?;
                }
            }
        }
        writeln!(out)?;
    }

    let s = report.summary();
    let counts: Vec<String> = [
        ("critical", s.critical),
        ("high", s.high),
        ("medium", s.medium),
        ("low", s.low),
        ("info", s.info),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(name, n)| format!("{n} {name}"))
    .collect();
    let headline = if s.active == 0 {
        let ok = paint(Style::new().fg_color(Some(AnsiColor::Green.into())).bold());
        format!("{ok}no active findings{ok:#}")
    } else {
        format!("{} active finding(s): {}", s.active, counts.join(", "))
    };
    let mut extras = Vec::new();
    if s.waived > 0 {
        extras.push(format!("{} waived", s.waived));
    }
    if s.in_baseline > 0 {
        extras.push(format!("{} in baseline", s.in_baseline));
    }
    let extras = if extras.is_empty() {
        String::new()
    } else {
        format!(" ({})", extras.join(", "))
    };
    let passed = report
        .checks()
        .iter()
        .filter(|c| c.status == super::CheckStatus::Passed)
        .count();
    writeln!(
        out,
        "{headline}{extras}; {} rules checked ({passed} passed) in {} ms",
        report.rules.len(),
        report.duration.as_millis()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Category;
    use std::time::Duration;

    fn long_finding() -> Finding {
        Finding::new(
            "rls-disabled",
            Severity::Critical,
            Category::Audit,
            "public.projects",
            "",
            "row-level security is disabled on a tenant table",
            "`public.projects` holds tenant data. ".repeat(12),
            "ALTER TABLE public.projects ENABLE ROW LEVEL SECURITY; ".repeat(5),
        )
        .with_evidence("SELECT * FROM public.projects WHERE tenant_id <> current_setting('app.current_tenant')::uuid AND true AND true;")
    }

    fn render(color: bool, width: usize) -> String {
        let findings = vec![long_finding()];
        let rules = vec![crate::registry::find("rls-disabled").unwrap()];
        let notes = vec!["a note ".repeat(30)];
        let mut report = Report::new("audit", "ref", &rules, Duration::ZERO, &notes);
        report.findings = &findings;
        report.style = HumanStyle { color, width };
        let mut out = Vec::new();
        write(&report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prose_wraps_and_each_finding_carries_its_fingerprint_and_a_waiver() {
        let text = render(false, 100);
        let f = long_finding();
        for line in text.lines().filter(|l| !l.contains('│')) {
            assert!(line.chars().count() <= 100, "too long: {line}");
        }
        assert!(text.contains(&format!("fingerprint {}", f.fingerprint)));
        assert!(text.contains(&format!("│ fingerprint = \"{}\"", f.fingerprint)));
        assert!(text.contains("│ [[waivers]]"));
        // Evidence stays one line (it is SQL to paste).
        assert!(text.contains(f.evidence.as_deref().unwrap()));
        assert!(!text.contains('\u{1b}'), "no ANSI without colour");
        assert!(render(true, 100).contains('\u{1b}'));
    }

    #[test]
    fn the_waiver_snippet_is_a_spec_waiver() {
        #[derive(serde::Deserialize)]
        struct Doc {
            waivers: Vec<crate::spec::Waiver>,
        }
        let f = long_finding();
        let doc: Doc = toml::from_str(&waiver_snippet(&f)).unwrap();
        assert!(doc.waivers[0].matches(&f));
    }
}
