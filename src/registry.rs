//! The public catalogue of checks (`catalogue`): every audit rule, attack property, cache, monitor
//! and shared check (`crate::rules::RuleInfo`). The `rules` command prints it and README's rule
//! index is generated from it; it sits above every engine, which never imports another.

use crate::rules::RuleInfo;

/// Every rule of every command, in a stable order.
pub fn catalogue() -> Vec<&'static RuleInfo> {
    let mut all: Vec<&'static RuleInfo> =
        crate::audit::rules::RULES.iter().map(|r| &r.info).collect();
    all.extend(crate::attack::db::rules::RULES);
    all.extend(crate::checks::pooled::RULES);
    all.extend(crate::attack::http::rules::RULES);
    all.extend(crate::attack::noisy::RULES);
    all.extend(crate::attack::admin::RULES);
    all.extend(crate::checks::keys::rules::RULES);
    all.extend(crate::checks::visibility::RULES);
    all.extend(crate::monitor::rules::RULES);
    all.extend(crate::checks::placement::RULES);
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
