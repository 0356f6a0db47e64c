//! The human report: findings grouped by object, most severe first, each with what to do; waived
//! and baseline findings shown dimmed. Colour only on a terminal (anstream strips it otherwise).

use std::collections::BTreeMap;
use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::Report;
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

/// `color`: emit ANSI styles (the caller decides: a terminal, and no `NO_COLOR`).
pub fn write(report: &Report<'_>, out: &mut dyn Write, color: bool) -> std::io::Result<()> {
    let paint = |style: Style| if color { style } else { Style::new() };
    let bold = paint(Style::new().bold());
    let dim = paint(Style::new().dimmed());
    writeln!(
        out,
        "{bold}tenantprobe {}{bold:#} — {}",
        report.command, report.target
    )?;
    for note in report.notes {
        writeln!(out, "  {dim}·{dim:#} {note}")?;
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
                writeln!(
                    out,
                    "  {sev}{:<8}{sev:#} {bold}{}{bold:#} [{}]",
                    f.severity, f.title, f.rule
                )?;
                writeln!(out, "           {}", f.detail)?;
                writeln!(out, "           {dim}fix:{dim:#} {}", f.remediation)?;
                if let Some(evidence) = &f.evidence {
                    for line in evidence.lines() {
                        writeln!(out, "           {dim}│{dim:#} {line}")?;
                    }
                }
            } else {
                let why = f
                    .waived
                    .as_deref()
                    .map_or_else(|| "in baseline".to_owned(), |r| format!("waived: {r}"));
                writeln!(
                    out,
                    "  {dim}{:<8} {} [{}] — {why}{dim:#}",
                    f.severity, f.title, f.rule
                )?;
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
    writeln!(
        out,
        "{headline}{extras}; {} rules checked in {} ms",
        report.rules.len(),
        report.duration.as_millis()
    )?;
    Ok(())
}
