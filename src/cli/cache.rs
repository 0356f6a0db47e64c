//! `tenantprobe cache`.

use std::time::Instant;

use clap::Args;
use tenantprobe::Error;
use tenantprobe::cache::{self, CacheOptions, Databases, LearnOptions, Owners};
use tenantprobe::exit::ExitStatus;
use tenantprobe::finding::Severity;
use tenantprobe::redact::redact;
use tenantprobe::report::Report;
use tenantprobe::rules::RuleInfo;
use tenantprobe::target::{AppRole, Flags, Provisioning, RedisFlags};

use super::common::{DatabaseArgs, OutputArgs, RunFacts, TargetArgs};

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Redis URL. Default: the variable the spec names in `redis.url_env`, else REDIS_URL.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Logical database to scan (repeatable). Default: the one the URL's path names, else every
    /// database `INFO keyspace` lists. A cluster is read on every primary.
    #[arg(long, value_name = "INDEX")]
    pub db: Vec<u16>,
    /// A pattern tenant keys must match, e.g. `tenant:{tenant_id:uuid}:*` (repeatable; adds to
    /// the spec's `key_patterns`).
    #[arg(long = "key-pattern", value_name = "PATTERN")]
    pub key_patterns: Vec<String>,
    /// A glob of keys that are global by design (repeatable; adds to the spec's `global_keys`).
    #[arg(long = "global-key", value_name = "GLOB")]
    pub global_keys: Vec<String>,
    /// Only keys matching this glob (SCAN MATCH).
    #[arg(long = "match", value_name = "GLOB")]
    pub match_glob: Option<String>,
    /// Stop after this many keys.
    #[arg(long, value_name = "N")]
    pub max_keys: Option<u64>,
    /// At most this many keys per second (for a busy production Redis).
    #[arg(long, value_name = "KEYS_PER_S")]
    pub rate_limit: Option<u64>,
    /// Check the values of a uniform sample of this many keys.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub sample: usize,
    /// With a database: rows read per tenant and tenant table to learn each tenant's distinctive
    /// values (emails, names, external ids, large numbers); 0 learns ids and slugs only.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub learn_rows: i64,
    /// Also run the dynamic check through the API (needs the spec's [api] and [tenants]).
    #[arg(long)]
    pub dynamic: bool,
    /// With a database (spec or --database-url): tenants it does not know make orphaned keys.
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl CacheArgs {
    pub async fn exec(self) -> Result<ExitStatus, Error> {
        let begun = Instant::now();
        let target = self.target.load(Flags {
            database: Some(self.database.flags(None)),
            redis: Some(RedisFlags {
                url: self.redis_url.clone(),
                key_patterns: self.key_patterns.clone(),
                global_keys: self.global_keys.clone(),
            }),
            ..Flags::default()
        })?;
        let redis = target.redis()?;
        if redis.patterns.is_empty() {
            return Err(Error::usage(
                "no key patterns: pass --key-pattern 'tenant:{tenant_id:uuid}:*' or set `key_patterns` under [redis] in the spec",
            ));
        }
        let url = redis.url.clone();

        // Known tenants, when a database is at hand: orphans, and whose values are whose.
        let mut owners = Owners::default();
        let mut known = None;
        let mut notes = Vec::new();
        if target.has_database() {
            // Only read as the observer: the app role plays no part, so none is required (the
            // catalog is read as the connecting role).
            let mut db = target.database(AppRole::Optional)?;
            let mut conn = db.connect().await?;
            db.tenancy.app_role = sqlx::query_scalar("SELECT current_user::text")
                .fetch_one(&mut conn)
                .await?;
            let learned = cache::learn(
                &mut conn,
                &db.tenancy,
                LearnOptions {
                    rows_per_tenant: self.learn_rows,
                    ..LearnOptions::default()
                },
            )
            .await
            .map_err(Error::failed)?;
            let _ = sqlx::Connection::close(conn).await;
            notes.push(format!(
                "{} tenants known to the database; {} distinctive values learned from {} rows of {} tenant tables (at most {} rows per tenant and table)",
                learned.tenants.len(),
                learned.values(),
                learned.rows,
                learned.tables,
                self.learn_rows.max(0)
            ));
            for (table, reason) in &learned.unreadable {
                notes.push(format!("could not sample `{table}`: {reason}"));
            }
            if learned.tenants.is_empty() {
                notes.push("the database names no tenants (no tenants table given or inferable: pass --tenants-table): orphaned keys and values are NOT checked".into());
            } else {
                owners = Owners::from_learned(&learned.tenants);
                known = Some(owners.segments());
            }
        } else {
            notes.push(
                "no database (--database-url or the spec's [database]): keys are checked by shape only — keys without a tenant and malformed tenant segments are found; keys of tenants that do not exist and values holding another tenant's data are NOT checked".into(),
            );
        }
        let classifier = redis.classifier(known);
        let options = CacheOptions {
            match_glob: self.match_glob.clone(),
            max_keys: self.max_keys,
            rate_limit: self.rate_limit,
            sample: self.sample,
            databases: if self.db.is_empty() {
                Databases::Listed
            } else {
                Databases::Only(self.db.clone())
            },
            ..CacheOptions::default()
        };
        let outcome = cache::check(&url, &classifier, &owners, &options).await?;
        // An empty keyspace (or a --match that matches nothing) proves nothing: never green.
        if outcome.keys == 0 {
            return Err(Error::NothingExamined(format!(
                "no key was scanned in `{}`{}: nothing was examined (the URL's database or --db, \
                 --match)",
                redact(&url),
                self.match_glob
                    .as_deref()
                    .map(|m| format!(" matching `{m}`"))
                    .unwrap_or_default()
            )));
        }
        let values = if owners.is_empty() {
            "no values checked".to_owned()
        } else {
            let by: Vec<String> = outcome
                .values_by_command
                .iter()
                .map(|(c, n)| format!("{n} {c}"))
                .collect();
            format!(
                "values of {} sampled keys checked ({})",
                outcome.values_checked,
                by.join(", ")
            )
        };
        let spaces: Vec<String> = outcome
            .keyspaces
            .iter()
            .map(|(name, keys, _)| format!("{name}: {keys}"))
            .collect();
        let spaces = if spaces.is_empty() {
            "no keyspace (the server is empty)".to_owned()
        } else {
            spaces.join(", ")
        };
        notes.insert(
            0,
            format!(
                "{} keys in {:.2} s ({:.0} keys/s, {} SCAN calls, COUNT adapted to {} for ≤ ~1 ms per call) in {spaces}; {values}",
                outcome.keys,
                outcome.elapsed.as_secs_f64(),
                outcome.keys_per_second(),
                outcome.scan_calls,
                outcome.scan.final_count,
            ),
        );
        for (pattern, t) in &outcome.per_pattern {
            notes.push(format!("{pattern}: {} tenant keys", t.keys));
        }
        notes.push(format!(
            "global by design: {}; not namespaced: {}; orphaned: {}; malformed: {}",
            outcome.global.keys,
            outcome.not_namespaced.keys,
            outcome.orphaned.values().map(|t| t.keys).sum::<u64>(),
            outcome.malformed.values().map(|t| t.keys).sum::<u64>()
        ));
        let matrix = tenantprobe::report::matrix::from_cache(&outcome);
        let stats = outcome.stats();
        let mut findings = outcome.findings;
        if self.dynamic {
            if target.spec().is_none() {
                return Err(Error::usage(
                    "--dynamic needs a target spec with [api] and [tenants]",
                ));
            }
            let api = target.api()?;
            let slugs = vec![
                "tenantprobe-cache-a".to_owned(),
                "tenantprobe-cache-b".to_owned(),
            ];
            let tenants = target
                .tenants(
                    &slugs,
                    &reqwest::Client::new(),
                    Some(&api),
                    Provisioning::Create,
                )
                .await?;
            let dynamic = cache::cross_check(api, tenants).await?;
            notes.push(format!(
                "dynamic check through the API: {} finding(s)",
                dynamic.len()
            ));
            findings.extend(dynamic);
        }
        // Orphaned and malformed keys are medium: say so when they will not fail this run.
        let medium = findings
            .iter()
            .filter(|f| f.is_active() && f.severity == Severity::Medium)
            .count();
        if medium > 0 && self.output.fail_on > Severity::Medium {
            notes.push(format!(
                "{medium} medium finding(s) (orphaned or malformed keys) do not fail this run at --fail-on {}; pass --fail-on medium to gate on them",
                self.output.fail_on
            ));
        }
        let rules: Vec<&'static RuleInfo> = cache::rules::RULES.to_vec();
        let name = target.name(&url);
        let report = Report {
            stats: Some(stats),
            ..Report::new("cache", &name, &rules, begun.elapsed(), &notes)
        };
        let facts = RunFacts {
            spec_file: target.spec_file(),
            coverage: Some(&matrix),
            ..RunFacts::default()
        };
        self.output
            .emit(target.spec(), facts, report, &mut findings)
    }
}
