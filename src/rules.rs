//! What a rule is (`RuleInfo`): a stable kebab-case id, a category, a severity, its explanation and
//! remediation; each engine and shared check declares its own, `crate::registry` lists them all.

use crate::finding::{Category, Finding, Severity};

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

/// Declares `pub static $name: RuleInfo` of one category. Each engine's `rules.rs` wraps it with
/// its category, so a rule reads as its id, severity, title, explanation and remediation.
macro_rules! rule {
    ($category:ident, $name:ident, $id:literal, $severity:ident, $title:literal, $why:literal, $fix:literal) => {
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

pub(crate) use rule;
