//! The cache check itself (`check`): discover the keyspaces, scan and classify every key, keep a
//! reservoir sample, then read the sampled values and judge them by ownership.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use redis::aio::MultiplexedConnection;

use super::keyspace::{self, Keyspace};
use super::values::{self, Value};
use super::{CacheError, CacheOptions, CacheOutcome, Class, Classifier, Owners, Tally, rules};
use crate::finding::Finding;
use crate::oracle::{Ownership, Sighting, TenantIdx};

/// A sampled key: its keyspace, the key, and whose it is (`None`: global or not namespaced).
type Sampled = (usize, String, Option<String>);

async fn connect(url: &str) -> Result<MultiplexedConnection, CacheError> {
    let unreachable = |cause| CacheError::Unreachable {
        url: crate::redact::redact(url),
        cause,
    };
    let client = redis::Client::open(url).map_err(unreachable)?;
    match tokio::time::timeout(
        Duration::from_secs(10),
        client.get_multiplexed_async_connection(),
    )
    .await
    {
        Ok(result) => result.map_err(unreachable),
        Err(_) => Err(unreachable(redis::RedisError::from(std::io::Error::from(
            std::io::ErrorKind::TimedOut,
        )))),
    }
}

/// Scans every keyspace behind `url` (a `redis://` URL: a cluster node reaches every primary; a
/// path such as `/2` chooses that database, else every database with keys is read, unless
/// `options.databases` names them), classifies every key, checks the values of a sample, and
/// reports. Values are judged only when `owners` knows something; the outcome says how many were.
pub async fn check(
    url: &str,
    classifier: &Classifier,
    owners: &Owners,
    options: &CacheOptions,
) -> Result<CacheOutcome, CacheError> {
    let begun = Instant::now();
    let mut seed = connect(url).await?;
    let keyspaces = keyspace::discover(url, &mut seed, &options.databases).await?;
    let mut conns = Vec::with_capacity(keyspaces.len());
    for ks in &keyspaces {
        conns.push(connect(&ks.url).await?);
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<super::scan::Batch>(4);
    let scanner = tokio::spawn(super::scan::scan(conns.clone(), options.clone(), tx));
    let mut outcome = CacheOutcome::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5CA7);
    // Without owners there is nothing to judge values by: sample nothing.
    let capacity = if owners.is_empty() { 0 } else { options.sample };
    let mut sample: Vec<Sampled> = Vec::with_capacity(capacity);
    let mut considered: u64 = 0;
    let keep = options.examples;
    while let Some((index, batch)) = rx.recv().await {
        let ks = &keyspaces[index];
        for raw in batch {
            let key = String::from_utf8_lossy(&raw);
            outcome.keys += 1;
            let locate = || ks.locate(&key);
            let owner = match classifier.classify(&key) {
                Class::Tenant { pattern, tenant } => {
                    outcome
                        .per_pattern
                        .entry(classifier.patterns[pattern].source.clone())
                        .or_default()
                        .add(locate, keep);
                    Some(Some(tenant.to_owned()))
                }
                Class::Global { .. } => {
                    outcome.global.add(locate, keep);
                    Some(None)
                }
                Class::NotNamespaced => {
                    outcome.not_namespaced.add(locate, keep);
                    Some(None)
                }
                Class::Orphan { pattern, .. } => {
                    tally(&mut outcome.orphaned, classifier, pattern).add(locate, keep);
                    None
                }
                Class::Malformed { pattern } => {
                    tally(&mut outcome.malformed, classifier, pattern).add(locate, keep);
                    None
                }
            };
            let Some(owner) = owner else { continue };
            if capacity == 0 {
                continue;
            }
            considered += 1;
            if sample.len() < capacity {
                sample.push((index, key.into_owned(), owner));
            } else {
                let slot = rng.random_range(0..considered);
                if let Ok(slot) = usize::try_from(slot)
                    && slot < capacity
                {
                    sample[slot] = (index, key.into_owned(), owner);
                }
            }
        }
    }
    let stats = scanner
        .await
        .map_err(|e| CacheError::Task(e.to_string()))??;
    outcome.scan_calls = stats.calls;
    outcome.keyspaces = keyspaces
        .iter()
        .zip(&stats.per_keyspace)
        .map(|(ks, (keys, calls))| (ks.name(), *keys, *calls))
        .collect();
    outcome.scan = stats;

    let mut ownership = owners.ownership.clone();
    for (index, ks) in keyspaces.iter().enumerate() {
        let mine: Vec<&Sampled> = sample.iter().filter(|s| s.0 == index).collect();
        if mine.is_empty() {
            continue;
        }
        let keys: Vec<&str> = mine.iter().map(|s| s.1.as_str()).collect();
        let read = values::read(&mut conns[index], &keys).await?;
        for ((_, key, owner), value) in mine.into_iter().zip(read) {
            let Some(value) = value else { continue };
            outcome.values_checked += 1;
            let verb = value.command.split(' ').next().unwrap_or("").to_owned();
            *outcome.values_by_command.entry(verb).or_default() += 1;
            let viewer = owner
                .as_ref()
                .and_then(|segment| owners.by_segment.get(segment).copied());
            let seen = sightings(&mut ownership, &value.parts, viewer, key);
            if !seen.is_empty() {
                outcome.findings.push(value_finding(
                    ks,
                    key,
                    owner.as_deref(),
                    viewer,
                    owners,
                    &seen,
                    &value,
                ));
            }
        }
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

fn tally<'o>(
    map: &'o mut std::collections::BTreeMap<String, Tally>,
    classifier: &Classifier,
    pattern: usize,
) -> &'o mut Tally {
    map.entry(classifier.patterns[pattern].source.clone())
        .or_default()
}

/// Other tenants' values in a value's parts: JSON documents are walked (numbers match only
/// whole), other text is searched for registered strings, and a part that is a whole integer is
/// looked up as a number. What the key itself names is no leak (`oracle::is_echo`): the key is
/// what the request asked for, so a value that repeats it tells the tenant nothing new.
fn sightings(
    ownership: &mut Ownership,
    parts: &[String],
    viewer: Option<TenantIdx>,
    key: &str,
) -> Vec<Sighting> {
    let supplied: HashSet<String> = [key.to_owned()].into();
    let mut found: Vec<Sighting> = Vec::new();
    for part in parts {
        let t = part.trim();
        let json = (t.starts_with('{') || t.starts_with('['))
            .then(|| serde_json::from_str::<serde_json::Value>(t).ok())
            .flatten();
        let mut seen = match json {
            Some(json) => ownership.foreign_in_json(&json, viewer, &supplied),
            None => ownership.foreign_in_text(part, viewer, &supplied),
        };
        if !t.is_empty()
            && t.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            && let Some(owner) = ownership.owner_of(t)
            && Some(owner) != viewer
            && !crate::oracle::is_number_echo(t, &supplied)
        {
            seen.push(Sighting {
                value: t.to_owned(),
                owner,
            });
        }
        for s in seen {
            if !found.iter().any(|f| f.value == s.value) {
                found.push(s);
            }
        }
    }
    found
}

fn value_finding(
    ks: &Keyspace,
    key: &str,
    segment: Option<&str>,
    viewer: Option<TenantIdx>,
    owners: &Owners,
    seen: &[Sighting],
    value: &Value,
) -> Finding {
    let shown: Vec<String> = seen
        .iter()
        .take(3)
        .map(|s| format!("`{}` (tenant {})", s.value, owners.name(s.owner)))
        .collect();
    let more = seen.len().saturating_sub(3);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    let object = ks.locate(key);
    let finding = match segment {
        Some(segment) => {
            let whose = viewer.map_or_else(|| segment.to_owned(), |v| owners.name(v));
            rules::FOREIGN_VALUE.finding(
                &object,
                "",
                format!(
                    "`{object}` belongs to tenant {whose} but holds values of other tenants: {}{more}.",
                    shown.join(", ")
                ),
            )
        }
        None => rules::GLOBAL_VALUE.finding(
            &object,
            "",
            format!(
                "`{object}` is not a tenant's key but holds tenant values: {}{more}.",
                shown.join(", ")
            ),
        ),
    };
    finding.with_evidence(format!(
        "{} {}\n{}",
        ks.cli(),
        value.command,
        truncate(&value.text(), 600)
    ))
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
