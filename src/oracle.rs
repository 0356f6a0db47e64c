//! The ownership oracle (`Ownership`): every value tenantprobe seeds is unique and registered to
//! the tenant it seeded it for; anything observed while acting as one tenant that contains a value
//! owned by another is a leak. This catches leaks that carry no tenant column at all: a view that
//! drops it, a function that returns titles, an error message's DETAIL, a cached JSON document.
//!
//! Only what the actor could not know is a leak: `is_echo` is the one judgement of that, shared by
//! `attack db`, `attack http` and the cache checks. Callers pass what the actor supplied in the
//! attempt (arguments, inserted values, literals, request bodies, paths, queries, a cache key) and
//! the sightings that merely repeat it are dropped.

use std::collections::{HashMap, HashSet};

use aho_corasick::{AhoCorasick, MatchKind};

/// Index of a tenant in a world (0, 1, …).
pub type TenantIdx = usize;

/// Values registered to tenants. A value registered to two tenants is shared and never a leak.
#[derive(Debug, Clone, Default)]
pub struct Ownership {
    owners: HashMap<String, Option<TenantIdx>>,
    numbers: HashMap<String, Option<TenantIdx>>,
    matcher: Option<AhoCorasick>,
    patterns: Vec<String>,
}

/// One foreign value found in an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub value: String,
    pub owner: TenantIdx,
}

/// Fresh canary markers: `tp` and 14 hex digits, unique per source and call. Fixed length, so no
/// marker is a prefix of another.
#[derive(Debug)]
pub struct Markers {
    salt: u64,
    seq: u64,
}

impl Markers {
    pub fn new(salt: u64) -> Self {
        Self { salt, seq: 0 }
    }

    pub fn fresh(&mut self) -> String {
        self.seq += 1;
        let mixed = self.salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ self.seq.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        format!("tp{:014x}", mixed & 0x00FF_FFFF_FFFF_FFFF)
    }
}

/// Text values shorter than this are too likely to occur by chance to be registered.
const MIN_TEXT: usize = 8;

impl Ownership {
    /// Registers a text value (an id, a canary marker) to `owner`.
    pub fn register(&mut self, value: impl Into<String>, owner: TenantIdx) {
        let value = value.into();
        if value.chars().count() < MIN_TEXT {
            return;
        }
        Self::insert(&mut self.owners, value, owner);
        self.matcher = None;
    }

    /// Registers a number, matched only as a whole JSON number (never inside other text).
    pub fn register_number(&mut self, value: impl Into<String>, owner: TenantIdx) {
        Self::insert(&mut self.numbers, value.into(), owner);
    }

    fn insert(map: &mut HashMap<String, Option<TenantIdx>>, value: String, owner: TenantIdx) {
        map.entry(value)
            .and_modify(|o| {
                if *o != Some(owner) {
                    *o = None
                }
            })
            .or_insert(Some(owner));
    }

    /// The owner of exactly this value, if it has exactly one.
    pub fn owner_of(&self, value: &str) -> Option<TenantIdx> {
        self.owners
            .get(value)
            .copied()
            .flatten()
            .or_else(|| self.numbers.get(value).copied().flatten())
    }

    /// Every value owned by `tenant`.
    pub fn values_of(&self, tenant: TenantIdx) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .owners
            .iter()
            .chain(&self.numbers)
            .filter(|(_, o)| **o == Some(tenant))
            .map(|(k, _)| k.as_str())
            .collect();
        v.sort_unstable();
        v
    }

    fn matcher(&mut self) -> &AhoCorasick {
        if self.matcher.is_none() {
            self.patterns = self
                .owners
                .iter()
                .filter(|(_, o)| o.is_some())
                .map(|(k, _)| k.clone())
                .collect();
            // Leftmost-longest: a value that extends another tenant's value (a shared prefix)
            // is attributed to its real owner.
            self.matcher = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&self.patterns)
                .ok();
        }
        self.matcher.get_or_insert_with(|| {
            AhoCorasick::new(Vec::<String>::new()).unwrap_or_else(|_| unreachable!())
        })
    }

    /// Values in `text` owned by a tenant other than `viewer`, except those in `supplied` (what
    /// the viewer itself sent: echoing one's own input back is not a leak).
    pub fn foreign_in_text(
        &mut self,
        text: &str,
        viewer: Option<TenantIdx>,
        supplied: &HashSet<String>,
    ) -> Vec<Sighting> {
        let mut found: Vec<Sighting> = Vec::new();
        let matches: Vec<usize> = self
            .matcher()
            .find_iter(text)
            .map(|m| m.pattern().as_usize())
            .collect();
        for pattern in matches {
            let value = &self.patterns[pattern];
            if let Some(Some(owner)) = self.owners.get(value)
                && Some(*owner) != viewer
                && !is_echo(value, supplied)
                && !found.iter().any(|s| &s.value == value)
            {
                found.push(Sighting {
                    value: value.clone(),
                    owner: *owner,
                });
            }
        }
        found
    }

    /// Like `foreign_in_text` for a JSON document, also matching registered numbers exactly.
    pub fn foreign_in_json(
        &mut self,
        json: &serde_json::Value,
        viewer: Option<TenantIdx>,
        supplied: &HashSet<String>,
    ) -> Vec<Sighting> {
        let mut found = self.foreign_in_text(&json.to_string(), viewer, supplied);
        let mut numbers = Vec::new();
        collect_numbers(json, &mut numbers);
        for n in numbers {
            if let Some(Some(owner)) = self.numbers.get(&n)
                && Some(*owner) != viewer
                && !is_number_echo(&n, supplied)
                && !found.iter().any(|s| s.value == n)
            {
                found.push(Sighting {
                    value: n,
                    owner: *owner,
                });
            }
        }
        found
    }

    /// Whether `text` contains any value of `tenant` (liveness: can a tenant see its own data?).
    pub fn mentions(&mut self, text: &str, tenant: TenantIdx) -> bool {
        let matches: Vec<usize> = self
            .matcher()
            .find_iter(text)
            .map(|m| m.pattern().as_usize())
            .collect();
        if matches
            .into_iter()
            .any(|p| self.owners.get(&self.patterns[p]) == Some(&Some(tenant)))
        {
            return true;
        }
        // A row of ids and numbers only (its text columns NULL) still shows its owner's numbers.
        let mut numbers = Vec::new();
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
            collect_numbers(&json, &mut numbers);
        }
        numbers
            .iter()
            .any(|n| self.numbers.get(n) == Some(&Some(tenant)))
    }
}

/// Whether `value` (a registered text value) is an echo of what the actor supplied: it occurs in
/// one of the `supplied` texts. Seeded values are often dressed (`shared tp…`, `{"tp":"tp…"}`,
/// `\x7470…`, an array literal) or embedded in a longer argument, so an exact comparison is not
/// enough: a function that returns or complains about its own argument teaches the actor nothing.
pub fn is_echo(value: &str, supplied: &HashSet<String>) -> bool {
    supplied.contains(value) || supplied.iter().any(|s| s.contains(value))
}

/// Like `is_echo` for a registered number: it must appear whole (not inside a longer number).
pub fn is_number_echo(number: &str, supplied: &HashSet<String>) -> bool {
    supplied.contains(number)
        || supplied.iter().any(|s| {
            s.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .any(|token| token == number)
        })
}

/// The sightings the actor could not have known: those that are no echo of `supplied`.
pub fn unknown_to_actor(sightings: Vec<Sighting>, supplied: &HashSet<String>) -> Vec<Sighting> {
    sightings
        .into_iter()
        .filter(|s| {
            if s.value.parse::<f64>().is_ok() {
                !is_number_echo(&s.value, supplied)
            } else {
                !is_echo(&s.value, supplied)
            }
        })
        .collect()
}

fn collect_numbers(json: &serde_json::Value, out: &mut Vec<String>) {
    match json {
        serde_json::Value::Number(n) => out.push(n.to_string()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_numbers(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_numbers(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ownership table of `values` and `numbers`, each with the tenant that owns it.
    fn owning(values: &[(&str, TenantIdx)], numbers: &[(&str, TenantIdx)]) -> Ownership {
        let mut o = Ownership::default();
        for &(value, owner) in values {
            o.register(value, owner);
        }
        for &(number, owner) in numbers {
            o.register_number(number, owner);
        }
        o
    }

    #[test]
    fn foreign_values_are_found_and_own_echoed_and_shared_ones_are_not() {
        let mut o = owning(
            &[
                ("tpaaaaaaaaaaaaaa", 0),
                ("tpbbbbbbbbbbbbbb", 1),
                ("sharedvalue12345", 0),
                ("sharedvalue12345", 1),
                ("short", 1),
            ],
            &[("7340021", 1)],
        );
        let none = HashSet::new();
        let text = r#"{"a":"tpaaaaaaaaaaaaaa","b":"x tpbbbbbbbbbbbbbb y","c":"sharedvalue12345","d":"short"}"#;
        assert_eq!(
            o.foreign_in_text(text, Some(0), &none),
            vec![Sighting {
                value: "tpbbbbbbbbbbbbbb".into(),
                owner: 1
            }]
        );
        assert!(
            o.foreign_in_text(text, Some(1), &none)
                .iter()
                .all(|s| s.owner == 0)
        );
        let echoed: HashSet<String> = ["tpbbbbbbbbbbbbbb".to_owned()].into();
        assert!(o.foreign_in_text(text, Some(0), &echoed).is_empty());
        let json = serde_json::json!({"n": 7340021, "m": 73400210});
        assert_eq!(o.foreign_in_json(&json, Some(0), &none).len(), 1);
        assert!(o.mentions(text, 0) && o.mentions(text, 1));
    }

    #[test]
    fn a_dressed_or_embedded_argument_coming_back_is_an_echo_and_a_value_not_passed_is_not() {
        let mut o = owning(
            &[("tpbbbbbbbbbbbbbb", 1), ("tpcccccccccccccc", 1)],
            &[("7340021", 1)],
        );
        // The actor passed tenant 1's dressed value, a JSON document and a bytea holding markers.
        let supplied: HashSet<String> = [
            "shared tpbbbbbbbbbbbbbb".to_owned(),
            r#"{"id": 7340021}"#.to_owned(),
        ]
        .into();
        let echo = r#"ERROR: invalid input syntax for type uuid: "shared tpbbbbbbbbbbbbbb""#;
        assert!(o.foreign_in_text(echo, Some(0), &supplied).is_empty());
        let json = serde_json::json!({"hstore": "\"k\"=>\"tpbbbbbbbbbbbbbb\"", "n": 7340021});
        assert!(o.foreign_in_json(&json, Some(0), &supplied).is_empty());
        // A value of tenant 1 that the actor did not pass is a leak, next to the echo.
        let leak = serde_json::json!({"echo": "tpbbbbbbbbbbbbbb", "title": "tpcccccccccccccc"});
        assert_eq!(
            o.foreign_in_json(&leak, Some(0), &supplied),
            vec![Sighting {
                value: "tpcccccccccccccc".into(),
                owner: 1
            }]
        );
        // A number is an echo only when passed whole, not inside a longer one.
        let longer: HashSet<String> = ["73400219".to_owned()].into();
        assert_eq!(
            o.foreign_in_json(&serde_json::json!({"n": 7340021}), Some(0), &longer)
                .len(),
            1
        );
        let sightings = vec![
            Sighting {
                value: "tpbbbbbbbbbbbbbb".into(),
                owner: 1,
            },
            Sighting {
                value: "tpcccccccccccccc".into(),
                owner: 1,
            },
        ];
        assert_eq!(unknown_to_actor(sightings, &supplied).len(), 1);
    }

    #[test]
    fn a_value_that_extends_another_tenants_value_belongs_to_its_own_owner() {
        let mut o = owning(&[("tenant-acme", 0), ("tenant-acme-2", 1)], &[]);
        let none = HashSet::new();
        assert!(
            o.foreign_in_text("row of tenant-acme", Some(0), &none)
                .is_empty()
        );
        assert_eq!(
            o.foreign_in_text("row of tenant-acme-2", Some(0), &none)[0].owner,
            1
        );
    }
}
