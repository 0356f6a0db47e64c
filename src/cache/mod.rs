//! `tenantprobe cache`: Redis key-namespacing and cross-tenant value checks (`check`).
//!
//! Keys are read with SCAN (never KEYS) and a large COUNT, streamed through a bounded channel so
//! that scanning and classifying overlap and memory stays flat whatever the keyspace: only counts
//! and a few samples per class are kept. Values are read for a bounded reservoir sample of keys,
//! pipelined, with type-aware commands. Nothing is written.

mod pattern;
pub mod rules;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use redis::aio::MultiplexedConnection;

pub use pattern::{Class, Classifier, Glob, KeyPattern, SegmentKind};

use crate::finding::Finding;
use crate::oracle::{Ownership, TenantIdx};

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
}

#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Keys per SCAN call.
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
        }
    }
}

/// Who owns which values, for the value check: tenants by index, with their id (as keys name
/// them) and any markers.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    pub ownership: Ownership,
    /// Tenant segment as keys spell it → tenant index.
    pub by_segment: std::collections::HashMap<String, TenantIdx>,
}

impl Owners {
    /// Owners from the tenants a database knows (id and slug): keys may name either, values
    /// may hold either, and tenantprobe's own canary marker of the slug counts too.
    pub fn from_known(tenants: &[(String, Option<String>)]) -> Self {
        let mut owners = Self::default();
        for (i, (id, slug)) in tenants.iter().enumerate() {
            let segments: Vec<&str> = std::iter::once(id.as_str())
                .chain(slug.as_deref())
                .collect();
            let marker = slug.as_deref().map(crate::synthetic::marker_for);
            owners.add(
                i,
                &segments,
                &marker.as_deref().into_iter().collect::<Vec<_>>(),
            );
        }
        owners
    }

    /// The segments keys may use for the known tenants.
    pub fn segments(&self) -> HashSet<String> {
        self.by_segment.keys().cloned().collect()
    }

    /// Registers a tenant: the segments its keys use (id, slug) and values only it has.
    pub fn add(&mut self, idx: TenantIdx, segments: &[&str], values: &[&str]) {
        for s in segments {
            self.by_segment.insert((*s).to_owned(), idx);
            self.ownership.register(*s, idx);
        }
        for v in values {
            self.ownership.register(*v, idx);
        }
    }
}

/// Counts and samples of one class of keys.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub keys: u64,
    pub examples: Vec<String>,
}

impl Tally {
    fn add(&mut self, key: &str, keep: usize) {
        self.keys += 1;
        if self.examples.len() < keep {
            self.examples.push(key.to_owned());
        }
    }
}

#[derive(Debug, Default)]
pub struct CacheOutcome {
    pub findings: Vec<Finding>,
    pub keys: u64,
    pub elapsed: Duration,
    pub scan_calls: u64,
    /// Per pattern source: tenant keys.
    pub per_pattern: BTreeMap<String, Tally>,
    pub global: Tally,
    pub not_namespaced: Tally,
    /// Per pattern source.
    pub orphaned: BTreeMap<String, Tally>,
    pub malformed: BTreeMap<String, Tally>,
    pub values_checked: usize,
}

impl CacheOutcome {
    pub fn keys_per_second(&self) -> f64 {
        self.keys as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Scans the keyspace of `url` (a `redis://` URL, its path choosing the database), classifies
/// every key, checks the values of a sample, and reports.
pub async fn check(
    url: &str,
    classifier: &Classifier,
    owners: &Owners,
    options: &CacheOptions,
) -> Result<CacheOutcome, CacheError> {
    let begun = Instant::now();
    let unreachable = |cause| CacheError::Unreachable {
        url: crate::servers::redact(url),
        cause,
    };
    let client = redis::Client::open(url).map_err(unreachable)?;
    let connect = client.get_multiplexed_async_connection();
    let conn = match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Ok(result) => result.map_err(unreachable)?,
        Err(_) => {
            return Err(unreachable(redis::RedisError::from(std::io::Error::from(
                std::io::ErrorKind::TimedOut,
            ))));
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Vec<u8>>>(4);
    let scanner = tokio::spawn(scan(conn.clone(), options.clone(), tx));
    let mut outcome = CacheOutcome::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5CA7);
    // Reservoir sample of (key, owner segment or None for global keys).
    let mut sample: Vec<(String, Option<String>)> = Vec::with_capacity(options.sample);
    let mut considered: u64 = 0;
    while let Some(batch) = rx.recv().await {
        for raw in batch {
            let key = String::from_utf8_lossy(&raw);
            outcome.keys += 1;
            let candidate = match classifier.classify(&key) {
                Class::Tenant { pattern, tenant } => {
                    outcome
                        .per_pattern
                        .entry(classifier.patterns[pattern].source.clone())
                        .or_default()
                        .add(&key, options.examples);
                    Some(Some(tenant.to_owned()))
                }
                Class::Global { .. } => {
                    outcome.global.add(&key, options.examples);
                    None
                }
                Class::NotNamespaced => {
                    outcome.not_namespaced.add(&key, options.examples);
                    Some(None)
                }
                Class::Orphan { pattern, .. } => {
                    outcome
                        .orphaned
                        .entry(classifier.patterns[pattern].source.clone())
                        .or_default()
                        .add(&key, options.examples);
                    None
                }
                Class::Malformed { pattern } => {
                    outcome
                        .malformed
                        .entry(classifier.patterns[pattern].source.clone())
                        .or_default()
                        .add(&key, options.examples);
                    None
                }
            };
            if let Some(owner) = candidate {
                considered += 1;
                if sample.len() < options.sample {
                    sample.push((key.into_owned(), owner));
                } else if options.sample > 0 {
                    let slot = rng.random_range(0..considered);
                    if let Ok(slot) = usize::try_from(slot)
                        && slot < options.sample
                    {
                        sample[slot] = (key.into_owned(), owner);
                    }
                }
            }
        }
    }
    outcome.scan_calls = scanner.await.map_err(|e| {
        CacheError::Redis(redis::RedisError::from(std::io::Error::other(
            e.to_string(),
        )))
    })??;
    outcome.values_checked = sample.len();
    let mut ownership = owners.ownership.clone();
    let values = read_values(conn, &sample).await?;
    for ((key, owner), value) in sample.iter().zip(values) {
        let Some(value) = value else { continue };
        let viewer = owner
            .as_ref()
            .and_then(|segment| owners.by_segment.get(segment).copied());
        let sightings = ownership.foreign_in_text(&value, viewer, &HashSet::new());
        if sightings.is_empty() {
            continue;
        }
        let shown: Vec<String> = sightings
            .iter()
            .take(3)
            .map(|s| format!("`{}` (tenant {})", s.value, s.owner))
            .collect();
        let finding = match owner {
            Some(segment) => rules::FOREIGN_VALUE.finding(
                key,
                "",
                format!(
                    "`{key}` belongs to tenant `{segment}` but holds values of other tenants: {}.",
                    shown.join(", ")
                ),
            ),
            None => rules::GLOBAL_VALUE.finding(
                key,
                "",
                format!(
                    "The global key `{key}` holds tenant values: {}.",
                    shown.join(", ")
                ),
            ),
        };
        outcome.findings.push(finding.with_evidence(format!(
            "redis-cli GET '{key}'   # or HGETALL/LRANGE/SMEMBERS by TYPE\n{}",
            truncate(&value, 600)
        )));
    }
    outcome.findings.extend(key_findings(&outcome));
    outcome.findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.object.cmp(&b.object))
    });
    outcome.elapsed = begun.elapsed();
    Ok(outcome)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// One finding per class and pattern, with counts and samples (not a line per key).
fn key_findings(o: &CacheOutcome) -> Vec<Finding> {
    let mut out = Vec::new();
    let examples = |t: &Tally| {
        t.examples
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if o.not_namespaced.keys > 0 {
        out.push(
            rules::NOT_NAMESPACED
                .finding(
                    "keys without a tenant",
                    "",
                    format!(
                        "{} key(s) match no tenant pattern and no global glob, e.g. {}.",
                        o.not_namespaced.keys,
                        examples(&o.not_namespaced)
                    ),
                )
                .with_evidence(o.not_namespaced.examples.join("\n")),
        );
    }
    for (pattern, t) in &o.orphaned {
        out.push(
            rules::ORPHANED
                .finding(pattern, "", format!("{} key(s) of `{pattern}` name tenants the database does not know, e.g. {}.", t.keys, examples(t)))
                .with_evidence(t.examples.join("\n")),
        );
    }
    for (pattern, t) in &o.malformed {
        out.push(
            rules::MALFORMED
                .finding(pattern, "", format!("{} key(s) start like `{pattern}` but their tenant segment is malformed, e.g. {}.", t.keys, examples(t)))
                .with_evidence(t.examples.join("\n")),
        );
    }
    out
}

/// The SCAN loop: sends batches of keys; returns how many SCAN calls it made.
async fn scan(
    mut conn: MultiplexedConnection,
    options: CacheOptions,
    tx: tokio::sync::mpsc::Sender<Vec<Vec<u8>>>,
) -> Result<u64, redis::RedisError> {
    let begun = Instant::now();
    let mut cursor: u64 = 0;
    let mut calls = 0;
    let mut seen: u64 = 0;
    // Rate-limited, a call asks for a tenth of a second's worth: smooth, not bursts of COUNT.
    let count = match options.rate_limit.filter(|r| *r > 0) {
        Some(rate) => usize::try_from(rate / 10)
            .unwrap_or(usize::MAX)
            .clamp(10, options.count.max(10)),
        None => options.count,
    };
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor).arg("COUNT").arg(count);
        if let Some(glob) = &options.match_glob {
            cmd.arg("MATCH").arg(glob);
        }
        let (next, mut keys): (u64, Vec<Vec<u8>>) = cmd.query_async(&mut conn).await?;
        calls += 1;
        if let Some(max) = options.max_keys {
            keys.truncate(usize::try_from(max.saturating_sub(seen)).unwrap_or(usize::MAX));
        }
        seen += keys.len() as u64;
        if !keys.is_empty() && tx.send(keys).await.is_err() {
            break;
        }
        if next == 0 || options.max_keys.is_some_and(|m| seen >= m) {
            break;
        }
        cursor = next;
        if let Some(rate) = options.rate_limit.filter(|r| *r > 0) {
            let due = Duration::from_secs_f64(seen as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(begun.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    Ok(calls)
}

/// The values of `keys` as text, by type, pipelined (one TYPE pipeline, one fetch pipeline per
/// 500 keys). Strings, hashes, lists, sets, sorted sets and RedisJSON documents; the first 100
/// elements of collections.
async fn read_values(
    mut conn: MultiplexedConnection,
    keys: &[(String, Option<String>)],
) -> Result<Vec<Option<String>>, redis::RedisError> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let mut types = redis::pipe();
        for (key, _) in chunk {
            types.cmd("TYPE").arg(key);
        }
        let kinds: Vec<String> = types.query_async(&mut conn).await?;
        let mut fetch = redis::pipe();
        for ((key, _), kind) in chunk.iter().zip(&kinds) {
            match kind.as_str() {
                "string" => fetch.cmd("GET").arg(key),
                "hash" => fetch.cmd("HGETALL").arg(key),
                "list" => fetch.cmd("LRANGE").arg(key).arg(0).arg(99),
                "set" => fetch.cmd("SRANDMEMBER").arg(key).arg(100),
                "zset" => fetch
                    .cmd("ZRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(99)
                    .arg("WITHSCORES"),
                "ReJSON-RL" => fetch.cmd("JSON.GET").arg(key),
                _ => fetch.cmd("ECHO").arg(""),
            };
        }
        let values: Vec<redis::Value> = fetch.query_async(&mut conn).await?;
        out.extend(values.into_iter().map(|v| Some(value_text(&v))));
    }
    Ok(out)
}

fn value_text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().map(value_text).collect::<Vec<_>>().join("\n")
        }
        redis::Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| format!("{}={}", value_text(k), value_text(v)))
            .collect::<Vec<_>>()
            .join("\n"),
        redis::Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

/// The tenants the database knows: the tenants table's key as text and, when the table has a
/// `slug` column, the slug (keys may use either). The tenants table is the spec's, or inferred
/// from foreign keys.
pub async fn known_tenants(
    conn: &mut sqlx::PgConnection,
    tenancy: &crate::tenancy::Tenancy,
) -> Result<Vec<(String, Option<String>)>, crate::audit::CatalogError> {
    let catalog = crate::audit::Catalog::snapshot(conn, tenancy).await?;
    let tenancy = catalog.complete(tenancy);
    let Some(table) = tenancy.tenants_table else {
        return Ok(Vec::new());
    };
    let Some(rel) = catalog.relations.iter().find(|r| r.name == table) else {
        return Ok(Vec::new());
    };
    let Some(key) = catalog
        .constraints
        .iter()
        .find(|c| c.relid == rel.oid && c.kind == 'p' && c.columns.len() == 1)
        .map(|c| c.columns[0].clone())
    else {
        return Ok(Vec::new());
    };
    let slug = if rel.column("slug").is_some() {
        "slug::text"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "SELECT {}::text, {slug} FROM {}",
        crate::sql::quote_ident(&key),
        table.quoted()
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?)
}
