//! The Redis key check (`check`): key namespacing and cross-tenant values, run by `tenantprobe
//! cache` and by the monitor.
//!
//! Keys are read with SCAN (never KEYS) on every keyspace (each logical database with keys, or
//! each primary of a cluster), streamed through a bounded channel so that scanning and classifying
//! overlap and memory stays flat whatever the keyspace: only counts and a few samples per class
//! are kept. Values are read for a bounded reservoir sample of keys, pipelined, with type-aware
//! commands, and matched against what each tenant owns (`Owners`). Nothing is written.

mod check;
pub mod keyspace;
mod pattern;
pub mod rules;
mod scan;
mod values;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

pub use check::check;
pub use keyspace::Databases;
pub use pattern::{Class, Classifier, Glob, KeyPattern, SegmentKind};
pub use scan::ScanStats;

use crate::oracle::{Ownership, TenantIdx};

/// One tenant as the database knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownTenant {
    /// The tenants table's key, as text.
    pub id: String,
    pub slug: Option<String>,
    /// Distinctive strings of its rows.
    pub texts: BTreeSet<String>,
    /// Distinctive integers of its rows.
    pub numbers: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot reach Redis at `{url}`")]
    Unreachable {
        url: String,
        #[source]
        cause: redis::RedisError,
    },
    #[error("Redis failed during the scan")]
    Redis(#[from] redis::RedisError),
    #[error("invalid Redis URL: {0}")]
    Url(String),
    #[error("the scan task failed: {0}")]
    Task(String),
}

impl From<CacheError> for crate::Error {
    /// A Redis that does not answer is unreachable (exit 3); the rest stops the run (exit 2).
    fn from(e: CacheError) -> Self {
        match e {
            CacheError::Unreachable { url, cause } => {
                Self::unreachable("Redis", url, "--redis-url or the spec's url_env", cause)
            }
            e => Self::failed(e),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Largest COUNT per SCAN call; the count actually used adapts to the server's time per call.
    pub count: usize,
    /// Only keys matching this glob (SCAN MATCH).
    pub match_glob: Option<String>,
    /// Stop after this many keys.
    pub max_keys: Option<u64>,
    /// At most this many keys per second (production safety).
    pub rate_limit: Option<u64>,
    /// Values checked: a uniform sample of at most this many keys.
    pub sample: usize,
    /// Samples kept per class and pattern, for the report.
    pub examples: usize,
    /// Which logical databases of a single server to read.
    pub databases: Databases,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            count: 10_000,
            match_glob: None,
            max_keys: None,
            rate_limit: None,
            sample: 1000,
            examples: 5,
            databases: Databases::default(),
        }
    }
}

/// Who owns which values, for the value check: tenants by index, the key segments that name
/// them (id, slug), their names for reports, and the values registered to each.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    pub ownership: Ownership,
    /// Tenant segment as keys spell it → tenant index.
    pub by_segment: HashMap<String, TenantIdx>,
    /// How reports name a tenant: `42 (acme)`.
    pub names: HashMap<TenantIdx, String>,
    /// Values registered (ids, slugs, markers, learned values), before the oracle's own filters.
    pub values: usize,
}

impl Owners {
    /// Owners from what `learn` (or `known_tenants`) found: ids and slugs (keys may name either,
    /// values may hold either), tenantprobe's canary marker of the slug, and each tenant's
    /// distinctive values.
    pub fn from_learned(tenants: &[KnownTenant]) -> Self {
        let mut owners = Self::default();
        for (i, t) in tenants.iter().enumerate() {
            let segments: Vec<&str> = std::iter::once(t.id.as_str())
                .chain(t.slug.as_deref())
                .collect();
            let marker = t.slug.as_deref().map(crate::marker::marker_for);
            let values: Vec<&str> = marker
                .as_deref()
                .into_iter()
                .chain(t.texts.iter().map(String::as_str))
                .collect();
            owners.add(i, &segments, &values);
            for n in t.numbers.iter().chain(
                // An integer tenant id of 6+ digits is as distinctive as any learned number.
                std::iter::once(&t.id).filter(|id| id.len() >= 6 && id.parse::<i64>().is_ok()),
            ) {
                owners.ownership.register_number(n.clone(), i);
                owners.values += 1;
            }
        }
        owners
    }

    /// The segments keys may use for the known tenants.
    pub fn segments(&self) -> HashSet<String> {
        self.by_segment.keys().cloned().collect()
    }

    /// Registers a tenant: the segments its keys use (id, slug) and values only it has. The first
    /// registration names it: `id (slug)`.
    pub fn add(&mut self, idx: TenantIdx, segments: &[&str], values: &[&str]) {
        self.names.entry(idx).or_insert_with(|| match segments {
            [] => format!("#{idx}"),
            [id] => (*id).to_owned(),
            [id, slug, ..] => format!("{id} ({slug})"),
        });
        for s in segments {
            self.by_segment.insert((*s).to_owned(), idx);
            self.ownership.register(*s, idx);
        }
        for v in values {
            self.ownership.register(*v, idx);
        }
        self.values += segments.len() + values.len();
    }

    /// How reports name tenant `idx`.
    pub fn name(&self, idx: TenantIdx) -> String {
        self.names
            .get(&idx)
            .cloned()
            .unwrap_or_else(|| format!("#{idx}"))
    }

    /// Whether any value is registered: without, values cannot be judged.
    pub fn is_empty(&self) -> bool {
        self.values == 0
    }
}

/// Counts and samples of one class of keys.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub keys: u64,
    /// Keys as reports name them (`key`, or `key (db 3)`).
    pub examples: Vec<String>,
}

impl Tally {
    fn add(&mut self, key: impl FnOnce() -> String, keep: usize) {
        self.keys += 1;
        if self.examples.len() < keep {
            self.examples.push(key());
        }
    }
}

#[derive(Debug, Default)]
pub struct CacheOutcome {
    pub findings: Vec<crate::finding::Finding>,
    pub keys: u64,
    pub elapsed: Duration,
    pub scan_calls: u64,
    /// Per keyspace (`db0`, `db3`, or a cluster primary's `host:port`): keys and SCAN calls.
    pub keyspaces: Vec<(String, u64, u64)>,
    pub scan: ScanStats,
    /// Per pattern source: tenant keys.
    pub per_pattern: BTreeMap<String, Tally>,
    pub global: Tally,
    pub not_namespaced: Tally,
    /// Per pattern source.
    pub orphaned: BTreeMap<String, Tally>,
    pub malformed: BTreeMap<String, Tally>,
    /// Sampled keys whose values were read and judged.
    pub values_checked: usize,
    /// Values read, by command (`GETRANGE`, `HSCAN`, `XRANGE`, …).
    pub values_by_command: BTreeMap<String, usize>,
}

impl CacheOutcome {
    pub fn keys_per_second(&self) -> f64 {
        self.keys as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Counts and rates for machine-readable reports.
    pub fn stats(&self) -> serde_json::Value {
        let sum = |m: &BTreeMap<String, Tally>| m.values().map(|t| t.keys).sum::<u64>();
        serde_json::json!({
            "keys": self.keys,
            "seconds": self.elapsed.as_secs_f64(),
            "keys_per_second": self.keys_per_second().round(),
            "scan_calls": self.scan_calls,
            "scan_count_final": self.scan.final_count,
            "scan_call_usec_max_mean": self.scan.max_call_usec.round(),
            "scan_call_timed_by_server": self.scan.server_timed,
            "keyspaces": self.keyspaces.iter().map(|(name, keys, calls)| {
                serde_json::json!({"keyspace": name, "keys": keys, "scan_calls": calls})
            }).collect::<Vec<_>>(),
            "tenant_keys": self.per_pattern.iter().map(|(p, t)| (p.clone(), t.keys)).collect::<BTreeMap<_, _>>(),
            "global_keys": self.global.keys,
            "not_namespaced_keys": self.not_namespaced.keys,
            "orphaned_keys": sum(&self.orphaned),
            "malformed_keys": sum(&self.malformed),
            "values_checked": self.values_checked,
            "values_by_command": self.values_by_command,
        })
    }
}
