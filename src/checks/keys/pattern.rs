//! Redis key patterns (`KeyPattern`) and global-key globs (`Glob`), and the classification of a
//! key against them (`Classifier`): tenant key, legitimately global, not namespaced, orphaned
//! (a tenant that does not exist), or malformed tenant segment.
//!
//! Hand-written rather than built on `regex`: patterns are tiny, a key is matched against a few
//! of them millions of times, and the matcher needs to report *where* a key stopped matching (to
//! tell a malformed tenant segment from an unrelated key).
//!
//! Pattern syntax: `{tenant_id:KIND}` is the tenant segment, `*` any run of characters, `{{` and
//! `}}` literal braces (cluster hash tags: `{{org:{tenant_id:int}}}:*`). A pattern that starts
//! with `*` has no fixed prefix: it still classifies tenant keys, but a key that fails it can never
//! be recognised as malformed (nothing says it was meant for that pattern), and every key costs a
//! search; list each prefix as its own pattern instead where you can.

use std::collections::HashSet;

use crate::spec::braces::{BraceError, Token, tokens};

/// What the tenant segment must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    Uuid,
    Slug,
    Int,
    /// Any non-empty text up to the next literal.
    Any,
}

impl SegmentKind {
    fn accepts(self, s: &str) -> bool {
        !s.is_empty()
            && match self {
                Self::Uuid => s.len() == 36 && uuid::Uuid::parse_str(s).is_ok(),
                Self::Slug => {
                    s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && !s.starts_with('-')
                }
                Self::Int => s.bytes().all(|b| b.is_ascii_digit()),
                Self::Any => true,
            }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Tenant(SegmentKind),
    Star,
}

/// A key pattern such as `tenant:{tenant_id:uuid}:*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub source: String,
    parts: Vec<Part>,
    /// The literal text before the tenant segment: keys that start with it but do not match have
    /// a malformed tenant segment.
    prefix: String,
}

impl KeyPattern {
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut tenants = 0;
        for token in tokens(source) {
            match token {
                Ok(Token::Char('*')) => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Star);
                }
                Ok(Token::Char(c)) => literal.push(c),
                Ok(Token::Placeholder(inner)) => {
                    let (name, kind) = inner.split_once(':').unwrap_or((inner, "any"));
                    if name != "tenant_id" {
                        return Err(format!(
                            "`{source}`: unknown placeholder `{{{inner}}}` (use {{tenant_id:uuid|slug|int|any}}; write `{{{{` and `}}}}` for literal braces, as in a cluster hash tag)"
                        ));
                    }
                    let kind = match kind {
                        "uuid" => SegmentKind::Uuid,
                        "slug" => SegmentKind::Slug,
                        "int" => SegmentKind::Int,
                        "any" => SegmentKind::Any,
                        other => {
                            return Err(format!(
                                "`{source}`: unknown segment type `{other}` (uuid, slug, int or any)"
                            ));
                        }
                    };
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Tenant(kind));
                    tenants += 1;
                }
                Err(BraceError::Unmatched) => {
                    return Err(format!(
                        "`{source}`: unmatched `}}` (write `}}}}` for a literal brace)"
                    ));
                }
                Err(BraceError::Unclosed(_)) => {
                    return Err(format!(
                        "`{source}`: unclosed `{{` (write `{{{{` for a literal brace)"
                    ));
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if tenants != 1 {
            return Err(format!(
                "`{source}`: a key pattern needs exactly one {{tenant_id:…}} segment"
            ));
        }
        let prefix = match parts.first() {
            Some(Part::Literal(l)) => l.clone(),
            _ => String::new(),
        };
        Ok(Self {
            source: source.to_owned(),
            parts,
            prefix,
        })
    }

    /// The tenant segment of `key`, if it matches.
    pub fn tenant_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        match_parts(&self.parts, key, None)
    }

    /// Whether the key looks like it was meant for this pattern (its fixed prefix matches).
    pub fn claims(&self, key: &str) -> bool {
        !self.prefix.is_empty() && key.starts_with(&self.prefix)
    }
}

/// Matches `key` against `parts`; returns the tenant segment on success.
fn match_parts<'k>(parts: &[Part], key: &'k str, tenant: Option<&'k str>) -> Option<&'k str> {
    match parts.split_first() {
        None => key.is_empty().then_some(tenant.unwrap_or("")),
        Some((Part::Literal(l), rest)) => match_parts(rest, key.strip_prefix(l.as_str())?, tenant),
        Some((Part::Star, rest)) => {
            if rest.is_empty() {
                return Some(tenant.unwrap_or(""));
            }
            key.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(key.len()))
                .find_map(|i| match_parts(rest, &key[i..], tenant))
        }
        Some((Part::Tenant(kind), rest)) => {
            // The segment runs to the next literal (or the end); it never spans a ':'.
            let end = match rest.first() {
                Some(Part::Literal(l)) => key.find(l.as_str()).unwrap_or(key.len()),
                _ => key.find(':').unwrap_or(key.len()),
            };
            let segment = &key[..end];
            if !kind.accepts(segment) {
                return None;
            }
            match_parts(rest, &key[end..], Some(segment))
        }
    }
}

/// A glob for legitimately global keys: `*` any run, `?` one character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(pub String);

impl Glob {
    pub fn matches(&self, key: &str) -> bool {
        fn go(p: &[u8], k: &[u8]) -> bool {
            match (p.first(), k.first()) {
                (None, None) => true,
                (Some(b'*'), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
                (Some(b'?'), Some(_)) => go(&p[1..], &k[1..]),
                (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
                _ => false,
            }
        }
        go(self.0.as_bytes(), key.as_bytes())
    }
}

/// What a key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class<'k> {
    /// Matches pattern `pattern`, tenant segment `tenant` (known, or no tenant list given).
    Tenant { pattern: usize, tenant: &'k str },
    /// Allowed as global by the spec.
    Global { glob: usize },
    /// Matches no pattern and no global glob.
    NotNamespaced,
    /// Well-formed, but names a tenant that does not exist (deleted?).
    Orphan { pattern: usize, tenant: &'k str },
    /// Starts like pattern `pattern` but its tenant segment is malformed.
    Malformed { pattern: usize },
}

/// Classifies keys against patterns, global globs and (optionally) the known tenants.
#[derive(Debug, Clone)]
pub struct Classifier {
    pub patterns: Vec<KeyPattern>,
    pub globals: Vec<Glob>,
    /// Tenant ids and slugs that exist; `None` when unknown (then any well-formed tenant passes).
    pub tenants: Option<HashSet<String>>,
}

impl Classifier {
    pub fn classify<'k>(&self, key: &'k str) -> Class<'k> {
        for (i, p) in self.patterns.iter().enumerate() {
            if let Some(tenant) = p.tenant_of(key) {
                return match &self.tenants {
                    Some(known) if !known.contains(tenant) => Class::Orphan { pattern: i, tenant },
                    _ => Class::Tenant { pattern: i, tenant },
                };
            }
        }
        if let Some(glob) = self.globals.iter().position(|g| g.matches(key)) {
            return Class::Global { glob };
        }
        match self.patterns.iter().position(|p| p.claims(key)) {
            Some(pattern) => Class::Malformed { pattern },
            None => Class::NotNamespaced,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0b9f3c1e-8d4a-4c7e-9f1a-2b3c4d5e6f70";

    fn classifier(known: Option<&[&str]>) -> Classifier {
        Classifier {
            patterns: vec![
                KeyPattern::parse("tenant:{tenant_id:uuid}:*").unwrap(),
                KeyPattern::parse("sess/{tenant_id:slug}/*").unwrap(),
            ],
            globals: vec![Glob("feature-flags:*".into()), Glob("health".into())],
            tenants: known.map(|k| k.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn keys_are_classified() {
        let c = classifier(None);
        assert_eq!(
            c.classify(&format!("tenant:{A}:projects:list")),
            Class::Tenant {
                pattern: 0,
                tenant: A
            }
        );
        assert_eq!(
            c.classify("sess/acme-2/abc"),
            Class::Tenant {
                pattern: 1,
                tenant: "acme-2"
            }
        );
        assert_eq!(
            c.classify("feature-flags:dark-mode"),
            Class::Global { glob: 0 }
        );
        assert_eq!(c.classify("health"), Class::Global { glob: 1 });
        assert_eq!(c.classify("projects:list"), Class::NotNamespaced);
        assert_eq!(
            c.classify("tenant:not-a-uuid:projects"),
            Class::Malformed { pattern: 0 }
        );
        assert_eq!(
            c.classify("tenant::projects"),
            Class::Malformed { pattern: 0 }
        );
        assert_eq!(
            c.classify("sess/Bad_Slug/x"),
            Class::Malformed { pattern: 1 }
        );
    }

    #[test]
    fn unknown_tenants_are_orphans_when_the_tenants_are_known() {
        let c = classifier(Some(&["acme-2"]));
        assert_eq!(
            c.classify(&format!("tenant:{A}:x")),
            Class::Orphan {
                pattern: 0,
                tenant: A
            }
        );
        assert_eq!(
            c.classify("sess/acme-2/x"),
            Class::Tenant {
                pattern: 1,
                tenant: "acme-2"
            }
        );
    }

    #[test]
    fn doubled_braces_are_literal_so_cluster_hash_tags_can_be_written() {
        let p = KeyPattern::parse("{{org:{tenant_id:int}}}:*").unwrap();
        assert_eq!(p.tenant_of("{org:42}:invoices"), Some("42"));
        assert_eq!(p.tenant_of("{org:42}"), None);
        assert_eq!(p.tenant_of("org:42:invoices"), None);
        let c = Classifier {
            patterns: vec![p],
            globals: vec![],
            tenants: Some(["42".to_owned()].into()),
        };
        assert_eq!(c.classify("{org:abc}:x"), Class::Malformed { pattern: 0 });
        assert_eq!(
            c.classify("{org:7}:x"),
            Class::Orphan {
                pattern: 0,
                tenant: "7"
            }
        );
        for bad in [
            "t:{tenant_id:int}}:*",
            "t:{tenant_id:int",
            "{{org:{org}}}:*",
        ] {
            let e = KeyPattern::parse(bad).unwrap_err();
            assert!(e.contains("brace"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_leading_star_classifies_but_cannot_call_a_key_malformed() {
        let c = Classifier {
            patterns: vec![KeyPattern::parse("*:org:{tenant_id:int}:*").unwrap()],
            globals: vec![],
            tenants: None,
        };
        assert_eq!(
            c.classify("v2:org:42:x"),
            Class::Tenant {
                pattern: 0,
                tenant: "42"
            }
        );
        assert_eq!(c.classify("v2:org:abc:x"), Class::NotNamespaced);
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        for (pattern, reason) in [
            ("tenant:*", "exactly one"),
            ("t:{tenant_id:date}:*", "unknown segment type"),
            ("t:{org}:*", "unknown placeholder"),
        ] {
            let error = KeyPattern::parse(pattern).unwrap_err();
            assert!(error.contains(reason), "`{pattern}`: {error}");
        }
    }
}
