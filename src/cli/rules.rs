//! `tenantprobe rules`.

use std::io::Write;

use clap::{Args, ValueEnum};
use tenantprobe::exit::ExitStatus;
use tenantprobe::registry;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RulesFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Show only this rule, with its full explanation.
    pub rule: Option<String>,
    #[arg(long, value_enum, default_value_t = RulesFormat::Text)]
    pub format: RulesFormat,
}

impl RulesArgs {
    pub fn exec(self) -> Result<ExitStatus, tenantprobe::Error> {
        let mut out = std::io::stdout().lock();
        let all = match &self.rule {
            Some(id) => vec![registry::find(id).ok_or_else(|| {
                tenantprobe::Error::usage(format!(
                    "no rule `{id}` (run `tenantprobe rules` for the list)"
                ))
            })?],
            None => registry::catalogue(),
        };
        match self.format {
            RulesFormat::Markdown if self.rule.is_none() => {
                write!(out, "{}", registry::markdown())?
            }
            RulesFormat::Json => {
                let items: Vec<serde_json::Value> = all
                    .iter()
                    .map(|r| {
                        serde_json::json!({"id": r.id, "category": r.category, "severity": r.severity, "title": r.title,
                                           "explanation": r.explanation, "remediation": r.remediation})
                    })
                    .collect();
                serde_json::to_writer_pretty(&mut out, &items)
                    .map_err(tenantprobe::Error::failed)?;
                writeln!(out)?;
            }
            _ => {
                for r in all {
                    writeln!(
                        out,
                        "{} ({}, {})\n  {}\n  why: {}\n  fix: {}\n",
                        r.id, r.category, r.severity, r.title, r.explanation, r.remediation
                    )?;
                }
            }
        }
        Ok(ExitStatus::Clean)
    }
}
