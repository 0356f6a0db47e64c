//! `tenantprobe attack db`: property-based cross-tenant attempts as the app role, judged by
//! ownership, shrunk to a minimal reproducer (`attack`).
//!
//! Each worker holds one connection and one transaction that is rolled back at the end. Every
//! case seeds a world under a savepoint, runs its steps (each under its own savepoint, as the app
//! role) and rolls the world back; nothing is ever committed. A failing case is shrunk by proptest;
//! the minimal case's leak becomes a finding with a runnable SQL reproducer, and the search goes on
//! for leaks of other kinds.

mod batch;
mod causes;
mod effects;
mod execute;
mod ops;
pub mod rules;
mod schema;
mod timings;
mod values;
mod world;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::strategy::{BoxedStrategy, Strategy};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

pub use crate::progress::ProgressHook;
pub use ops::Property;
pub use schema::AttackSchema;
pub use timings::Timings;

use self::batch::Link;
use self::execute::{Fingerprints, Leak};
use self::ops::{Attempt, Case, Context, Planner};
use self::timings::add_since;
use self::values::ValueGen;
use self::world::{World, WorldParams};
use crate::attack::engine::{
    self, DriveError, Phase, PropertyEngine, RunControls, Settings, Signature,
};
use crate::catalog::{Catalog, CatalogError};

use crate::finding::Finding;
use crate::sql::quote_ident;
use crate::tenancy::Tenancy;

#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("database error during the attack")]
    Database(#[from] sqlx::Error),
    #[error(
        "the app role `{role}` cannot be assumed: the connecting role must be a superuser or a member of it ({cause})"
    )]
    CannotSetRole { role: String, cause: String },
    #[error("attack worker failed: {0}")]
    Worker(String),
}

/// How hard to attack.
#[derive(Debug, Clone)]
pub struct AttackConfig {
    /// Cases (split between workers), seed, budgets, progress and stop.
    pub run: RunControls,
    pub max_tenants: usize,
    pub max_steps: usize,
    pub jobs: usize,
    /// No writes at all (for production replicas): a sampled world of existing rows, reads only,
    /// in READ ONLY transactions, calling only STABLE and IMMUTABLE functions.
    pub read_only: bool,
    /// The server is tenantprobe's own (a throwaway server, `demo`): attempts that take a strong
    /// lock (TRUNCATE) may run there, with a lock timeout of at most 50 ms. Elsewhere such
    /// privileges are judged from the catalog, so nothing of ours can queue before the app.
    pub own_server: bool,
    /// Functions never called, beyond the built-in list of functions with effects outside the
    /// transaction (`schema.name` or `name`, `*` wildcards).
    pub skip_functions: Vec<String>,
    /// Ties findings to their catalog reasons (`causes`): the audit of the same snapshot, passed
    /// in by the caller (`tenantprobe::audit::findings`), since one engine never imports another.
    pub explain: Option<Explain>,
    /// How attempts travel to the server (the default: batched and prepared).
    pub pipeline: Pipeline,
}

/// How attempts travel to the server. Either way each attempt runs alone under its own savepoint,
/// rolled back before the next; the findings and coverage are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pipeline {
    /// Most attempts sent in one round trip (at least 1).
    pub depth: usize,
    /// Attack statements prepared once per connection, then executed with arguments, instead
    /// of being parsed and planned anew as literal SQL every time.
    pub prepare: bool,
}

impl Pipeline {
    /// One attempt per round trip, literal SQL (for comparisons).
    pub const ONE_AT_A_TIME: Pipeline = Pipeline {
        depth: 1,
        prepare: false,
    };
}

impl Default for Pipeline {
    fn default() -> Self {
        Self {
            depth: batch::PIPELINE,
            prepare: true,
        }
    }
}

/// What a catalog snapshot's audit finds, under a tenancy: the reasons behind attack findings.
pub type Explain = fn(&Catalog, &Tenancy) -> Vec<Finding>;

impl AttackConfig {
    /// `cases` cases from `seed`; everything else the default.
    pub fn new(cases: u32, seed: u64) -> Self {
        Self {
            run: RunControls::new(cases, seed, Duration::from_secs(20)),
            max_tenants: 3,
            max_steps: 64,
            jobs: 1,
            read_only: false,
            own_server: false,
            skip_functions: Vec::new(),
            explain: None,
            pipeline: Pipeline::default(),
        }
    }
}

impl Default for AttackConfig {
    fn default() -> Self {
        Self::new(128, 0)
    }
}

/// How many attempts of each property ran against each object, and how many were refused.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// (object, property) → (attempts, refused with an error).
    pub cells: BTreeMap<(String, Property), (u64, u64)>,
    /// Objects that could not be attacked, with the reason.
    pub gaps: Vec<(String, String)>,
    /// Attempts per object that hit the statement or lock timeout; such an object is not tried
    /// again, and one whose every attempt timed out counts as not attacked.
    pub timed_out: BTreeMap<String, u64>,
    /// Objects deliberately left alone or judged another way, with why (functions not called,
    /// privileges judged from the catalog).
    pub notes: Vec<(String, String)>,
    /// Rows seeded per tenant table and leaf partition, over all cases.
    pub seeded: BTreeMap<String, u64>,
}

impl Coverage {
    fn add(&mut self, object: &str, property: Property, refused: bool) {
        let cell = self.cells.entry((object.to_owned(), property)).or_default();
        cell.0 += 1;
        cell.1 += u64::from(refused);
    }

    /// Counts one attempt: refused when the database said no, timed out when a limit cut it off
    /// (then it is neither passed nor refused).
    fn record(&mut self, attempt: &Attempt, outcome: &execute::Outcome) {
        let timed_out = outcome.timed_out();
        let refused = matches!(outcome.ending, execute::Ending::Failed { .. });
        self.add(&attempt.object, attempt.property, refused && !timed_out);
        if timed_out {
            *self.timed_out.entry(attempt.object.clone()).or_default() += 1;
        }
    }

    fn note(&mut self, object: &str, note: String) {
        let entry = (object.to_owned(), note);
        if !self.notes.contains(&entry) {
            self.notes.push(entry);
        }
    }

    fn merge(&mut self, other: Coverage) {
        for (key, (n, r)) in other.cells {
            let cell = self.cells.entry(key).or_default();
            cell.0 += n;
            cell.1 += r;
        }
        for gap in other.gaps {
            if !self.gaps.contains(&gap) {
                self.gaps.push(gap);
            }
        }
        for (object, n) in other.timed_out {
            *self.timed_out.entry(object).or_default() += n;
        }
        for (object, note) in other.notes {
            self.note(&object, note);
        }
        for (object, n) in other.seeded {
            *self.seeded.entry(object).or_default() += n;
        }
    }

    /// Attempts that reached `object` (any property).
    pub fn attempts_on(&self, object: &str) -> u64 {
        self.cells
            .iter()
            .filter(|((o, _), _)| o == object)
            .map(|(_, (n, _))| n)
            .sum()
    }

    /// Tenant tables and leaf partitions that were not both seeded and attacked, with why: the
    /// verdict's coverage. `read_only`: nothing is seeded, so only attacks count.
    pub fn uncovered(&self, schema: &AttackSchema, read_only: bool) -> Vec<(String, String)> {
        let reason_for = |object: &str| {
            self.gaps
                .iter()
                .find(|(o, _)| o == object)
                .map(|(_, r)| r.clone())
        };
        let not_attacked = self.not_attacked();
        let mut out: Vec<(String, String)> = Vec::new();
        for table in &schema.tables {
            let name = table.name.to_string();
            let objects = std::iter::once((name.clone(), None, true)).chain(
                table
                    .partitions
                    .iter()
                    .map(|p| (p.name.to_string(), Some(name.clone()), p.steerable)),
            );
            for (object, parent, steerable) in objects {
                let seeded = self.seeded.get(&object).copied().unwrap_or(0);
                let attacked_as = parent.as_deref().unwrap_or(&object);
                let reason = if !read_only && seeded == 0 {
                    Some(reason_for(&object).unwrap_or_else(|| {
                        if steerable {
                            "no row was seeded in it".into()
                        } else {
                            "it is partitioned by the tenant key alone and no seeded tenant's id \
                             fell in it (more cases reach it)"
                                .into()
                        }
                    }))
                } else if self.attempts_on(attacked_as) == 0 {
                    Some(format!("no attempt reached `{attacked_as}`"))
                } else if not_attacked.contains(&attacked_as) {
                    Some(format!("every attempt on `{attacked_as}` timed out"))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    out.push((object, reason));
                }
            }
        }
        for (object, reason) in &schema.unseedable {
            out.push((object.to_string(), reason.clone()));
        }
        out
    }

    /// Objects none of whose attempts ran to an answer: every one hit a timeout.
    pub fn not_attacked(&self) -> Vec<&str> {
        self.timed_out
            .iter()
            .filter(|(object, timeouts)| {
                let attempts: u64 = self
                    .cells
                    .iter()
                    .filter(|((o, _), _)| o == *object)
                    .map(|(_, (n, _))| n)
                    .sum();
                attempts <= **timeouts
            })
            .map(|(object, _)| object.as_str())
            .collect()
    }

    /// Rows per object: the properties attempted there (attempts, refused), timeouts and notes.
    pub fn table(&self) -> Vec<String> {
        let mut by_object: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for ((object, property), (n, refused)) in &self.cells {
            by_object.entry(object).or_default().push(format!(
                "{} {n}{}",
                property.as_str(),
                if *refused == *n { " (all refused)" } else { "" }
            ));
        }
        let not_attacked = self.not_attacked();
        for (object, n) in &self.timed_out {
            by_object
                .entry(object)
                .or_default()
                .push(if not_attacked.contains(&object.as_str()) {
                    format!("timed out {n} (not attacked)")
                } else {
                    format!("timed out {n} (not tried again)")
                });
        }
        for (object, n) in &self.seeded {
            by_object
                .entry(object)
                .or_default()
                .insert(0, format!("seeded {n}"));
        }
        for (object, note) in &self.notes {
            by_object.entry(object).or_default().push(note.clone());
        }
        by_object
            .into_iter()
            .map(|(object, cells)| format!("{object}: {}", cells.join(", ")))
            .collect()
    }
}

/// What an attack found and did.
#[derive(Debug, Default)]
pub struct AttackOutcome {
    pub findings: Vec<Finding>,
    /// What the property engine reports (`engine::Run`): per finding (rule, object) the test
    /// cases run before it was first seen; leaks the minimal case did not show again (not
    /// reported); why the run ended early, if it did.
    pub first_seen: BTreeMap<(String, String), u64>,
    pub unconfirmed: Vec<String>,
    pub partial: Option<String>,
    pub cases: u64,
    pub attempts: u64,
    pub elapsed: Duration,
    pub coverage: Coverage,
    /// Sequences that moved during the run (name, by how much): values drawn by statements
    /// tenantprobe could not give explicit keys (the app role's refused inserts, say).
    pub sequences_advanced: Vec<(String, i64)>,
    pub tables: usize,
    pub relations: usize,
    pub functions: usize,
    /// Where the workers' time went, and the round trips and statements they sent.
    pub timings: Timings,
}

impl AttackOutcome {
    pub fn attempts_per_second(&self) -> f64 {
        engine::per_second(self.attempts, self.elapsed)
    }
}

/// Attacks the database at `options` (the observer) as `tenancy.app_role`.
pub async fn attack(
    options: &PgConnectOptions,
    tenancy: &Tenancy,
    config: &AttackConfig,
) -> Result<AttackOutcome, AttackError> {
    let begun = Instant::now();
    let mut conn = PgConnection::connect_with(options).await?;
    let mut schema =
        AttackSchema::load(&mut conn, tenancy, &config.skip_functions, config.explain).await?;
    check_set_role(&mut conn, &tenancy.app_role).await?;
    let sequences_before = sequences(&mut conn, &tenancy.schemas).await?;
    let mut coverage = Coverage::default();
    schema
        .functions
        .retain(|f| match f.not_called(config.read_only) {
            Some(reason) => {
                coverage.note(&f.signature, reason);
                false
            }
            None => true,
        });
    for (object, note) in &schema.library {
        coverage.note(object, note.clone());
    }
    let mut catalog_findings = Vec::new();
    if !config.own_server {
        for t in schema.tables.iter().filter(|t| t.app.truncate) {
            coverage.note(
                &t.name.to_string(),
                "TRUNCATE judged from the catalog (it would take an ACCESS EXCLUSIVE lock)".into(),
            );
            catalog_findings.push(truncate_from_catalog(&schema, &t.name));
        }
    }
    let schema = Arc::new(schema);

    let deadline = config.run.time_budget.map(|b| begun + b);
    let jobs = config.jobs.max(1);
    let mut handles = Vec::new();
    for worker in 0..jobs {
        let all = config.run.cases;
        let cases = all / jobs as u32 + u32::from((worker as u32) < all % jobs as u32);
        let (schema, options, config) = (Arc::clone(&schema), options.clone(), config.clone());
        handles.push(tokio::task::spawn_blocking(move || {
            Worker::new(schema, config, worker, cases, deadline)?.run(&options)
        }));
    }
    let mut outcome = AttackOutcome {
        tables: schema.tables.len(),
        relations: schema.readable.len(),
        functions: schema.functions.len(),
        coverage,
        ..AttackOutcome::default()
    };
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for f in catalog_findings {
        seen.insert((f.rule.clone(), f.object.clone()));
        outcome.findings.push(f);
    }
    for handle in handles {
        let result = handle
            .await
            .map_err(|e| AttackError::Worker(e.to_string()))??;
        outcome.cases += result.cases;
        outcome.attempts += result.attempts;
        outcome.timings.merge(&result.timings);
        outcome.coverage.merge(result.coverage);
        outcome.unconfirmed.extend(result.unconfirmed);
        outcome.partial = outcome.partial.or(result.partial);
        for (key, n) in result.first_seen {
            outcome
                .first_seen
                .entry(key)
                .and_modify(|m| *m = (*m).min(n))
                .or_insert(n);
        }
        for f in result.findings {
            if seen.insert((f.rule.clone(), f.object.clone())) {
                outcome.findings.push(f);
            }
        }
    }
    for table in &schema.tables {
        for partition in &table.partitions {
            outcome.coverage.note(
                &partition.name.to_string(),
                format!("attacked through `{}`", table.name),
            );
        }
    }
    for (object, reason) in outcome.coverage.uncovered(&schema, config.read_only) {
        if seen.insert((rules::NOT_COVERED.id.to_owned(), object.clone())) {
            outcome.findings.push(rules::NOT_COVERED.finding(
                &object,
                "",
                format!(
                    "`{object}` holds tenant data but was not seeded and attacked: {reason}. \
                     Nothing is known about its isolation."
                ),
            ));
        }
    }
    let sequences_after = sequences(&mut conn, &tenancy.schemas).await?;
    conn.close().await?;
    outcome.sequences_advanced = sequences_after
        .iter()
        .filter_map(|(name, after)| {
            let before = sequences_before.get(name).copied().flatten().unwrap_or(0);
            let moved = after.unwrap_or(0) - before;
            (moved != 0).then(|| (name.clone(), moved))
        })
        .collect();
    outcome.findings = causes::attach(std::mem::take(&mut outcome.findings), &schema.reasons);
    outcome.findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    outcome.elapsed = begun.elapsed();
    Ok(outcome)
}

/// The last value of every sequence in `schemas` the observer may read (NULL: never used, or not
/// readable), to report what a run consumed.
async fn sequences(
    conn: &mut PgConnection,
    schemas: &[String],
) -> Result<BTreeMap<String, Option<i64>>, sqlx::Error> {
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences WHERE schemaname = ANY($1)",
    )
    .bind(schemas)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// `truncate-allowed` judged from the catalog, with the statement tenantprobe did not run.
fn truncate_from_catalog(schema: &AttackSchema, table: &crate::sql::QualifiedName) -> Finding {
    let role = &schema.tenancy.app_role;
    rules::TRUNCATE_ALLOWED
        .finding(
            table.to_string(),
            "",
            format!(
                "The app role `{role}` holds TRUNCATE on `{table}` (judged from the catalog: TRUNCATE \
                 ignores row-level security and empties the table for every tenant). Not attempted \
                 here: it takes an ACCESS EXCLUSIVE lock that would queue in front of the application."
            ),
        )
        .with_evidence(format!(
            "-- judged from the catalog; tenantprobe did not run the TRUNCATE\n\
             SELECT has_table_privilege({}, {}, 'TRUNCATE');  -- true\n\
             -- as the app role, this would empty the table for every tenant:\n\
             -- SET ROLE {}; TRUNCATE {};",
            crate::sql::quote_literal(role),
            crate::sql::quote_literal(&table.quoted()),
            quote_ident(role),
            table.quoted()
        ))
}

async fn check_set_role(conn: &mut PgConnection, role: &str) -> Result<(), AttackError> {
    let sql = format!("BEGIN; SET LOCAL ROLE {}; ROLLBACK", quote_ident(role));
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|e| AttackError::CannotSetRole {
            role: role.to_owned(),
            cause: e
                .as_database_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned()),
        })
}

/// One worker's results.
#[derive(Default)]
struct WorkerResult {
    findings: Vec<Finding>,
    cases: u64,
    attempts: u64,
    coverage: Coverage,
    first_seen: BTreeMap<(String, String), u64>,
    timings: Timings,
    unconfirmed: Vec<String>,
    partial: Option<String>,
}

struct Worker {
    /// A runtime of the worker's own: connection, reactor and proptest loop on one thread, so a
    /// round trip never hops threads.
    handle: tokio::runtime::Runtime,
    schema: Arc<AttackSchema>,
    config: AttackConfig,
    /// How the shared driver runs this worker's share of the cases, from its own seed.
    settings: Settings,
}

/// State the engine's `&self` methods mutate while proptest runs.
struct Shared {
    conn: RefCell<PgConnection>,
    known: RefCell<HashSet<(&'static str, String)>>,
    result: RefCell<WorkerResult>,
    /// (object, property) an attempt timed out on: not tried again.
    timed_out: RefCell<HashSet<(String, Property)>>,
    link: RefCell<Link>,
}

/// The database side of the property engine: one worker with its connection.
struct DbEngine<'w> {
    worker: &'w Worker,
    shared: &'w Shared,
}

impl PropertyEngine for DbEngine<'_> {
    type Case = Case;
    /// The leak with the world it was seen in (its reproducer seeds that world again).
    type Leak = (Leak, World);
    type Error = sqlx::Error;

    fn strategy(&self) -> BoxedStrategy<Case> {
        let config = &self.worker.config;
        ops::arb_case(config.max_tenants, config.max_steps, config.read_only).boxed()
    }

    fn execute(&self, case: &Case, phase: Phase) -> Result<Vec<(Leak, World)>, sqlx::Error> {
        let t0 = Instant::now();
        let executed = self
            .worker
            .run_one(self.shared, case, phase == Phase::Search);
        if phase == Phase::Shrink {
            add_since(&mut self.shared.result.borrow_mut().timings.shrinking, t0);
        }
        executed
    }

    /// The minimal case once more, counted like any case: it runs on the same connection, and
    /// the database answers the same way every time.
    fn replay(&self, case: &Case) -> Result<Vec<(Leak, World)>, sqlx::Error> {
        self.worker.run_one(self.shared, case, true)
    }

    fn signature((leak, _): &(Leak, World)) -> Signature {
        leak.signature()
    }

    fn finding(&self, (leak, world): &(Leak, World), _reproduced: u32, _replays: u32) -> Finding {
        self.worker.finding(leak, world)
    }
}

impl Worker {
    fn new(
        schema: Arc<AttackSchema>,
        config: AttackConfig,
        index: usize,
        cases: u32,
        deadline: Option<Instant>,
    ) -> Result<Self, AttackError> {
        let handle = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AttackError::Worker(e.to_string()))?;
        let seed = config
            .run
            .seed
            .wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let settings = Settings {
            run: RunControls {
                cases,
                seed,
                ..config.run.clone()
            },
            stream: 0,
            max_shrink_iters: 256,
            replays: 1,
            deadline,
        };
        Ok(Self {
            handle,
            schema,
            config,
            settings,
        })
    }

    fn run(self, options: &PgConnectOptions) -> Result<WorkerResult, AttackError> {
        let started = Instant::now();
        let conn = self.handle.block_on(PgConnection::connect_with(options))?;
        let shared = Shared {
            conn: RefCell::new(conn),
            known: RefCell::new(HashSet::new()),
            result: RefCell::new(WorkerResult::default()),
            timed_out: RefCell::new(HashSet::new()),
            link: RefCell::new(Link::new(self.config.pipeline.prepare)),
        };
        // A fresh session has never defined the setting, so `current_setting(name, true)` is NULL
        // only now: probe every relation "unset" before anything else touches it.
        self.handle.block_on(self.probe_unset(
            &mut shared.conn.borrow_mut(),
            &mut shared.link.borrow_mut(),
            &shared,
        ))?;
        shared.result.borrow_mut().timings.startup = started.elapsed();

        let engine = DbEngine {
            worker: &self,
            shared: &shared,
        };
        let run =
            engine::drive(&engine, &self.settings, shared.known.take()).map_err(|e| match e {
                DriveError::Engine(e) => AttackError::from(e),
                DriveError::Runner(reason) => AttackError::Worker(reason),
            })?;
        let conn = shared.conn.into_inner();
        self.handle.block_on(conn.close())?;
        let mut result = shared.result.into_inner();
        result.cases = run.cases;
        result.findings.extend(run.findings);
        for (key, n) in run.first_seen {
            result.first_seen.entry(key).or_insert(n);
        }
        result.unconfirmed = run.unconfirmed;
        result.partial = run.partial;
        result.timings.merge(&shared.link.into_inner().sent);
        result.timings.workers = started.elapsed();
        Ok(result)
    }

    /// One case in its own transaction; `count`: its attempts and coverage count in the results.
    /// A case the database refused outside an attempt (a seeding trigger that timed out, say)
    /// was rolled back: it is noted and yields nothing, and the run goes on.
    fn run_one(
        &self,
        shared: &Shared,
        case: &Case,
        count: bool,
    ) -> Result<Vec<(Leak, World)>, sqlx::Error> {
        let conn: &mut PgConnection = &mut shared.conn.borrow_mut();
        let link: &mut Link = &mut shared.link.borrow_mut();
        let executed = self.handle.block_on(async {
            // One case, one transaction.
            let (leaks, spent) = rolled_back(conn, self.begin(), async |conn| {
                self.run_case(conn, link, shared, case, count).await
            })
            .await?;
            link.sent.round_trips += 2;
            link.sent.statements += 2;
            if count {
                shared.result.borrow_mut().timings.begin_rollback += spent;
            }
            leaks
        });
        match executed {
            Err(sqlx::Error::Database(e)) => {
                shared.result.borrow_mut().coverage.note(
                    "(run)",
                    format!(
                        "a case was abandoned: {} (SQLSTATE {})",
                        e.message(),
                        e.code().unwrap_or_default()
                    ),
                );
                Ok(Vec::new())
            }
            other => other,
        }
    }
    /// `BEGIN`, `READ ONLY` in read-only mode (the server then refuses every write, sequences
    /// included, whatever a function tries).
    fn begin(&self) -> &'static str {
        if self.config.read_only {
            "BEGIN READ ONLY"
        } else {
            "BEGIN"
        }
    }

    /// Seeds the case's world and runs its steps; returns the leaks.
    async fn run_case(
        &self,
        conn: &mut PgConnection,
        link: &mut Link,
        shared: &Shared,
        case: &Case,
        count: bool,
    ) -> Result<Vec<(Leak, World)>, sqlx::Error> {
        let mut spent = Timings::default();
        let seeding = Instant::now();
        let mut world = if self.config.read_only {
            world::sample(conn, &self.schema, case.world.tenants).await?
        } else {
            world::seed(
                conn,
                &self.schema,
                &case.world,
                !self.schema.observer_bypasses,
            )
            .await?
        };
        tracing::debug!(elapsed = ?seeding.elapsed(), rows = world.rows.len(), "world seeded");
        add_since(&mut spent.seeding, seeding);
        let planning = Instant::now();
        let mut planner = Planner {
            schema: &self.schema,
            world: &world.clone(),
            fresh: ValueGen::new(case.world.salt ^ 0x5EED),
            strong_locks: self.config.own_server,
        };
        let attempts: Vec<Attempt> = case
            .steps
            .iter()
            .flat_map(|s| planner.plan_all(s))
            .collect();
        add_since(&mut spent.planning, planning);
        let mut prints = Fingerprints::new();
        link.start_case();
        let mut leaks = Vec::new();
        let mut next = 0;
        while next < attempts.len() && !self.settings.stopped() {
            let t0 = Instant::now();
            // The next attempts whose object has not timed out, up to a batch's worth.
            let window: Vec<&Attempt> = {
                let timed_out = shared.timed_out.borrow();
                let mut window = Vec::new();
                while next < attempts.len() && window.len() < self.config.pipeline.depth.max(1) {
                    let attempt = &attempts[next];
                    next += 1;
                    // No key is built on the hot path until something has timed out.
                    if timed_out.is_empty()
                        || !timed_out.contains(&(attempt.object.clone(), attempt.property))
                    {
                        window.push(attempt);
                    }
                }
                window
            };
            let t1 = Instant::now();
            spent.bookkeeping += t1 - t0;
            if window.is_empty() {
                continue;
            }
            let outcomes =
                batch::run_window(conn, link, &self.schema, &world, &window, &mut prints).await?;
            let t2 = Instant::now();
            spent.executing += t2 - t1;
            tracing::trace!(
                attempts = outcomes.len(),
                elapsed_us = (t2 - t1).as_micros() as u64,
                "batch"
            );
            if outcomes.len() < window.len() {
                // One timed out: those after it go through the check again.
                let resume = window[outcomes.len()];
                next = attempts
                    .iter()
                    .position(|a| std::ptr::eq(a, resume))
                    .unwrap_or(next);
            }
            for (attempt, outcome) in window.iter().zip(&outcomes) {
                let t3 = Instant::now();
                let timed_out = outcome.timed_out();
                if timed_out {
                    shared
                        .timed_out
                        .borrow_mut()
                        .insert((attempt.object.clone(), attempt.property));
                }
                if count {
                    let mut result = shared.result.borrow_mut();
                    result.attempts += 1 + u64::from(attempt.control.is_some());
                    result.coverage.record(attempt, outcome);
                }
                let t4 = Instant::now();
                spent.bookkeeping += t4 - t3;
                if timed_out {
                    continue;
                }
                for leak in execute::judge(&mut world, attempt, outcome) {
                    leaks.push((leak, world.clone()));
                }
                add_since(&mut spent.judging, t4);
            }
        }
        tracing::debug!(elapsed = ?seeding.elapsed(), "case done");
        if count {
            let mut result = shared.result.borrow_mut();
            result.timings.merge(&spent);
            for (table, reason) in &world.unseedable {
                let gap = (table.to_string(), reason.clone());
                if !result.coverage.gaps.contains(&gap) {
                    result.coverage.gaps.push(gap);
                }
            }
            for (object, n) in &world.seeded {
                *result.coverage.seeded.entry(object.clone()).or_default() += n;
            }
        }
        Ok(leaks)
    }

    /// Every readable relation with the setting never defined on this session.
    async fn probe_unset(
        &self,
        conn: &mut PgConnection,
        link: &mut Link,
        shared: &Shared,
    ) -> Result<(), sqlx::Error> {
        if self.config.read_only || !self.schema.observer_bypasses {
            // An observer subject to RLS must set the tenant to seed; then "unset" is impossible
            // on this session, and `empty` covers the pooled-connection case.
            return Ok(());
        }
        let (found, _) = rolled_back(conn, "BEGIN", async |conn| {
            self.probe_unset_in_transaction(conn, link, shared).await
        })
        .await?;
        let (found, world) = found?;
        for leak in found {
            if shared.known.borrow_mut().insert(leak.signature()) {
                let finding = self.finding(&leak, &world);
                let mut result = shared.result.borrow_mut();
                result
                    .first_seen
                    .insert((leak.rule.id.to_owned(), leak.object.clone()), 0);
                result.findings.push(finding);
            }
        }
        Ok(())
    }

    async fn probe_unset_in_transaction(
        &self,
        conn: &mut PgConnection,
        link: &mut Link,
        shared: &Shared,
    ) -> Result<(Vec<Leak>, World), sqlx::Error> {
        let params = WorldParams {
            tenants: 2,
            rows: 1,
            salt: self.settings.run.seed,
            sparse: 0,
        };
        let mut world = world::seed(conn, &self.schema, &params, false).await?;
        let mut prints = Fingerprints::new();
        link.start_case();
        let attempts: Vec<Attempt> = self
            .schema
            .readable
            .iter()
            .map(|r| Attempt {
                property: Property::Unset,
                object: r.name.to_string(),
                actor: 0,
                victim: None,
                context: Context::Unset,
                statement: ops::Statement {
                    sql: ops::select_json(&r.name.quoted()),
                    binds: vec![],
                },
                returns_rows: true,
                supplied: HashSet::new(),
                watch: None,
                control: None,
                liveness: None,
            })
            .collect();
        let mut found = Vec::new();
        let mut next = 0;
        while next < attempts.len() {
            let window: Vec<&Attempt> = attempts[next..]
                .iter()
                .take(self.config.pipeline.depth.max(1))
                .collect();
            let outcomes =
                batch::run_window(conn, link, &self.schema, &world, &window, &mut prints).await?;
            next += outcomes.len().max(1);
            for (attempt, outcome) in window.iter().zip(&outcomes) {
                let mut result = shared.result.borrow_mut();
                result.attempts += 1;
                result.coverage.record(attempt, outcome);
                if !outcome.timed_out() {
                    found.extend(execute::judge(&mut world, attempt, outcome));
                }
            }
        }
        Ok((found, world))
    }

    fn finding(&self, leak: &Leak, world: &World) -> Finding {
        leak.rule
            .finding(&leak.object, "", leak.detail.clone())
            .with_evidence(execute::reproducer(
                &self.schema,
                world,
                leak,
                self.config.run.seed,
            ))
    }
}

/// Runs `body` in a transaction opened with `begin` and always rolled back, also after an error,
/// so nothing is kept and no lock outlives it. `Err` when BEGIN fails (nothing ran); else
/// `body`'s result (its error first, then ROLLBACK's) and the time BEGIN and ROLLBACK took.
async fn rolled_back<T>(
    conn: &mut PgConnection,
    begin: &'static str,
    body: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
) -> Result<(Result<T, sqlx::Error>, Duration), sqlx::Error> {
    let t0 = Instant::now();
    sqlx::raw_sql(begin).execute(&mut *conn).await?;
    let mut spent = t0.elapsed();
    let result = body(&mut *conn).await;
    let t1 = Instant::now();
    let rollback = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    spent += t1.elapsed();
    Ok((result.and_then(|value| rollback.map(|_| value)), spent))
}
