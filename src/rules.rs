//! The public catalogue of checks (`RuleInfo`, `catalogue`): every audit rule, attack property,
//! cache and monitor check, with a stable kebab-case id, a severity and its explanation. The
//! `rules` command prints it and README's rule index is generated from it.

use crate::finding::{Category, Finding, Severity};

/// Declares one rule of a category as a `pub static RuleInfo`, so each check's rules file is a
/// list of rules and nothing else: `rule_of!(AttackDb: NAME, "id", High, "title", "why", "fix")`.
macro_rules! rule_of {
    ($category:ident: $name:ident, $id:literal, $severity:ident, $title:literal, $why:literal, $fix:literal) => {
        pub static $name: $crate::rules::RuleInfo = $crate::rules::RuleInfo {
            id: $id,
            category: $crate::finding::Category::$category,
            severity: $crate::finding::Severity::$severity,
            title: $title,
            explanation: $why,
            remediation: $fix,
        };
    };
}
pub(crate) use rule_of;

/// What a rule checks and how to fix what it finds.
#[derive(Debug)]
pub struct RuleInfo {
    pub id: &'static str,
    pub category: Category,
    pub severity: Severity,
    pub title: &'static str,
    /// Why it matters, in a few sentences.
    pub explanation: &'static str,
    pub remediation: &'static str,
}

impl RuleInfo {
    /// A finding of this rule about `object`; `key` tells apart several on one object.
    pub fn finding(
        &'static self,
        object: impl Into<String>,
        key: &str,
        detail: impl Into<String>,
    ) -> Finding {
        let object = object.into();
        Finding::new(
            self.id,
            self.severity,
            self.category,
            object,
            key,
            self.title,
            detail,
            self.remediation,
        )
    }
}

/// Every rule of every command, in a stable order.
pub fn catalogue() -> Vec<&'static RuleInfo> {
    let mut all: Vec<&'static RuleInfo> =
        crate::audit::rules::RULES.iter().map(|r| &r.info).collect();
    all.extend(crate::attack::db::rules::RULES);
    all.extend(crate::attack::db::pooled::RULES);
    all.extend(crate::attack::http::rules::RULES);
    all.extend(crate::attack::noisy::RULES);
    all.extend(crate::attack::admin::RULES);
    all.extend(crate::cache::rules::RULES);
    all.extend(crate::visibility::RULES);
    all.extend(crate::monitor::rules::RULES);
    all.extend(crate::placement::RULES);
    all
}

/// Looks a rule up by id.
pub fn find(id: &str) -> Option<&'static RuleInfo> {
    catalogue().into_iter().find(|r| r.id == id)
}

/// The catalogue as Markdown (README's rule index).
pub fn markdown() -> String {
    let mut out =
        String::from("| id | category | severity | what it finds |\n| --- | --- | --- | --- |\n");
    for rule in catalogue() {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            rule.id, rule.category, rule.severity, rule.title
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_kebab_case_and_documented() {
        let all = catalogue();
        let mut ids: Vec<&str> = all.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "duplicate rule ids");
        for rule in all {
            assert!(
                rule.id.split('-').all(|w| !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())),
                "`{}` is not kebab-case",
                rule.id
            );
            assert!(
                rule.title.len() > 10 && rule.explanation.len() > 40 && rule.remediation.len() > 20,
                "`{}` is not documented",
                rule.id
            );
            assert!(
                !rule.title.ends_with('.'),
                "`{}`: titles are fragments, without a full stop",
                rule.id
            );
        }
    }

    #[test]
    fn readme_rule_index_is_current() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        assert!(
            readme.contains(&markdown()),
            "README.md's rule index is stale: paste `tenantprobe rules --format markdown`"
        );
    }
}
