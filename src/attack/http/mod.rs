//! `tenantprobe attack http`: stateful cross-tenant attacks on an API described by a target
//! spec (`attack`). Each proptest case builds a world through the API (every test tenant creates
//! items with canary markers), runs a sequence of steps by various actors — the tenant itself,
//! anonymous callers, unknown subdomains, forged and unsigned tokens, tenant confusion through the
//! carriers the spec declares (host, path, header) and its body and query fields — in concurrent
//! waves, judges every answer by ownership and status, and deletes what it created (`steps/`, one
//! module per operation). Failing cases shrink to a minimal sequence of curl commands.

mod ops;
pub mod rules;
mod steps;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use proptest::strategy::{BoxedStrategy, Strategy};

pub use crate::actor::client::Sent;
pub use ops::Actor;

use self::ops::{Case, Step};
use self::steps::{Ctx, ExecError, Leak, is_confusion};
use crate::actor::world;
use crate::actor::{ActorError, Client, Identity, identities};
use crate::attack::engine::{
    self, DriveError, Phase, PropertyEngine, RunControls, Settings, Signature,
};
use crate::finding::Finding;
use crate::oracle::Markers;
use crate::target::{HttpTarget, TestTenant};

#[derive(Debug, Clone)]
pub struct HttpAttackConfig {
    /// Cases, seed, budgets, progress and stop (a stopped run ends at its next step, `partial`).
    pub run: RunControls,
    pub max_steps: usize,
    /// Steps run at once (parallel clients), so leaks through pools and caches surface.
    pub concurrency: usize,
    /// Keep every request sent (`HttpOutcome::sent`), for benchmarks that replay the same mix.
    pub record: bool,
}

impl HttpAttackConfig {
    /// `cases` cases from `seed`; everything else the default.
    pub fn new(cases: u32, seed: u64) -> Self {
        Self {
            run: RunControls::new(cases, seed, Duration::from_secs(2)),
            max_steps: 32,
            concurrency: 4,
            record: false,
        }
    }
}

impl Default for HttpAttackConfig {
    fn default() -> Self {
        Self::new(64, 0)
    }
}

#[derive(Debug, Default)]
pub struct HttpOutcome {
    pub findings: Vec<Finding>,
    pub cases: u64,
    pub requests: u64,
    pub throttled: u64,
    pub elapsed: Duration,
    /// (operation, actor) → steps run.
    pub coverage: BTreeMap<(String, String), u64>,
    /// Items the test tenants created for their worlds, over all cases (0: nothing was attacked).
    pub items_created: u64,
    /// Items deleted again at the end of each case (and of each shrinking step and replay).
    pub items_deleted: u64,
    /// Items that could not be deleted (`resource id: statuses`).
    pub items_left: Vec<String>,
    /// (endpoint as `METHOD path`, actor) → steps that sent to it.
    pub endpoints: BTreeMap<(String, String), u64>,
    /// Per finding (rule, object): test cases run before it was first seen.
    pub first_seen: BTreeMap<(String, String), u64>,
    /// Every request sent, when `record` was asked for.
    pub sent: Vec<Sent>,
    /// Leaks seen once that did not reproduce when replayed alone (`rule on object`): not
    /// reported as findings.
    pub unconfirmed: Vec<String>,
    /// Why the run ended before its cases were all run (`interrupted`, `time budget reached`):
    /// the findings so far are real, but the run is incomplete.
    pub partial: Option<String>,
}

impl HttpOutcome {
    pub fn requests_per_second(&self) -> f64 {
        engine::per_second(self.requests, self.elapsed)
    }
}

/// Attacks `target` as `tenants` (at least two). Runs on a thread of its own with its own runtime.
pub async fn attack(
    target: HttpTarget,
    tenants: Vec<TestTenant>,
    config: HttpAttackConfig,
) -> Result<HttpOutcome, ActorError> {
    if tenants.len() < 2 {
        return Err(ActorError::TooFewTenants(tenants.len()));
    }
    tokio::task::spawn_blocking(move || Engine::new(target, tenants, config)?.run())
        .await
        .map_err(|e| ActorError::Worker(e.to_string()))?
}

/// Times a failing case is replayed alone before its findings are reported.
const REPLAYS: u32 = 3;

struct Engine {
    runtime: tokio::runtime::Runtime,
    client: Client,
    tenants: Vec<TestTenant>,
    identities: Vec<Identity>,
    config: HttpAttackConfig,
    /// How the shared driver runs the cases.
    settings: Settings,
    markers: Mutex<Markers>,
    begun: Instant,
    /// Coverage and items created, tallied by the cases that search (not shrinking, not replays).
    tally: RefCell<HttpOutcome>,
    /// What cleaning up after every case achieved.
    cleaned: Mutex<world::Cleanup>,
}

impl Engine {
    fn new(
        target: HttpTarget,
        tenants: Vec<TestTenant>,
        config: HttpAttackConfig,
    ) -> Result<Self, ActorError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ActorError::Worker(e.to_string()))?;
        let mut client = runtime
            .block_on(async { Client::new(target) })
            .map_err(|e| ActorError::Worker(e.to_string()))?;
        if config.record {
            client.recorded = Some(Mutex::new(Vec::new()));
        }
        let identities = identities(&client, &tenants)?;
        let begun = Instant::now();
        let settings = Settings {
            run: config.run.clone(),
            stream: 0x48,
            // Every shrink step replays a case over HTTP; a few dozen find the minimal sequence.
            max_shrink_iters: 96,
            replays: REPLAYS,
            deadline: config.run.time_budget.map(|b| begun + b),
        };
        let markers = Mutex::new(Markers::new(config.run.seed ^ 0xA77AC));
        Ok(Self {
            runtime,
            client,
            tenants,
            identities,
            config,
            settings,
            markers,
            begun,
            tally: RefCell::new(HttpOutcome::default()),
            cleaned: Mutex::new(world::Cleanup::default()),
        })
    }

    fn run(self) -> Result<HttpOutcome, ActorError> {
        // Fail early, and clearly, when the API is not there.
        let probe = self
            .runtime
            .block_on(self.client.http.get(self.client.target.url("/")).send());
        if let Err(cause) = probe
            && (cause.is_connect() || cause.is_timeout())
        {
            return Err(ActorError::Unreachable {
                url: self.client.target.base_url.to_string(),
                cause,
            });
        }
        let run = engine::drive(&self, &self.settings, HashSet::new()).map_err(|e| match e {
            DriveError::Engine(ExecError::Http(cause)) => ActorError::Unreachable {
                url: self.client.target.base_url.to_string(),
                cause,
            },
            DriveError::Engine(ExecError::Shape(mismatch)) => mismatch.into(),
            DriveError::Runner(reason) => ActorError::Worker(reason),
        })?;
        let mut outcome = self.tally.take();
        outcome.findings = run.findings;
        outcome.cases = run.cases;
        outcome.first_seen = run.first_seen;
        outcome.unconfirmed = run.unconfirmed;
        outcome.partial = run.partial;
        let cleaned = std::mem::take(
            &mut *self
                .cleaned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        outcome.items_deleted = cleaned.deleted;
        outcome.items_left = cleaned.left;
        outcome.requests = self.client.requests.load(Ordering::Relaxed);
        outcome.throttled = self.client.throttled.load(Ordering::Relaxed);
        outcome.elapsed = self.begun.elapsed();
        if let Some(recorded) = &self.client.recorded {
            outcome.sent = std::mem::take(
                &mut recorded
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
        }
        outcome.findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.object.cmp(&b.object))
                .then_with(|| a.rule.cmp(&b.rule))
        });
        Ok(outcome)
    }

    /// Builds the case's world, runs its steps in concurrent waves (one step at a time when
    /// `sequential`), cleans up.
    async fn execute(
        &self,
        case: &Case,
        coverage: Option<&RefCell<HttpOutcome>>,
        sequential: bool,
    ) -> Result<Vec<Leak>, ExecError> {
        let world = world::build(
            &self.client,
            &self.tenants,
            &self.identities,
            case.rows,
            &self.markers,
        )
        .await?;
        if let Some(outcome) = coverage {
            outcome.borrow_mut().items_created += world.items.len() as u64;
        }
        let ctx = Ctx {
            client: &self.client,
            tenants: &self.tenants,
            identities: &self.identities,
            world: &world,
            markers: &self.markers,
            history: Mutex::new(Vec::new()),
        };
        let mut leaks = Vec::new();
        let mut failure = None;
        let wave_size = if sequential {
            1
        } else {
            self.config.concurrency.max(1)
        };
        for wave in case.steps.chunks(wave_size) {
            let earlier = if sequential {
                ctx.history
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
            } else {
                Vec::new()
            };
            let results =
                futures::future::join_all(wave.iter().map(|step| steps::run_step(&ctx, step)))
                    .await;
            for (step, result) in wave.iter().zip(results) {
                match result {
                    // One step at a time: every earlier step belongs to the reproducer.
                    Ok(Some(found)) if sequential => {
                        leaks.extend(found.into_iter().map(|mut l| {
                            l.exchanges = earlier.iter().cloned().chain(l.exchanges).collect();
                            l
                        }));
                    }
                    Ok(Some(found)) => leaks.extend(found),
                    // Sent nothing (no such endpoint or carrier): not coverage either.
                    Ok(None) => continue,
                    Err(e) => failure = Some(e),
                }
                if let Some(outcome) = coverage {
                    let mut outcome = outcome.borrow_mut();
                    *outcome
                        .coverage
                        .entry((step.op.name().to_owned(), step.actor.as_str().to_owned()))
                        .or_default() += 1;
                    for endpoint in step.op.endpoints(&self.client.target.resources) {
                        *outcome
                            .endpoints
                            .entry((endpoint, step.actor.as_str().to_owned()))
                            .or_default() += 1;
                    }
                }
            }
            if failure.is_some() {
                break;
            }
        }
        let cleaned = world::cleanup(&self.client, &world, &self.identities, &self.tenants).await;
        {
            let mut total = self
                .cleaned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            total.deleted += cleaned.deleted;
            total.left.extend(cleaned.left);
        }
        match failure {
            Some(ExecError::Http(e)) if e.is_connect() || e.is_timeout() => Err(ExecError::Http(e)),
            Some(e @ ExecError::Shape(_)) => Err(e),
            _ => Ok(leaks
                .into_iter()
                .map(|mut l| {
                    l.exchanges = world
                        .setup
                        .iter()
                        .filter(|e| e.status != 0)
                        .cloned()
                        .chain(l.exchanges)
                        .collect();
                    l
                })
                .collect()),
        }
    }

    fn finding(&self, leak: &Leak) -> Finding {
        leak.rule
            .finding(&leak.object, leak.actor.as_str(), leak.detail.clone())
            .with_evidence(self.reproducer(leak))
    }

    /// The minimal case as curl commands, each with the answer that proves the leak.
    fn reproducer(&self, leak: &Leak) -> String {
        let base = self.client.target.base_url.as_str();
        let tenants: Vec<String> = self
            .tenants
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    "{} = {} ({})",
                    char::from(b'A' + u8::try_from(i % 26).unwrap_or(0)),
                    t.slug,
                    t.tenant_id
                )
            })
            .collect();
        let mut lines = vec![
            format!("# tenantprobe attack http: {} on {} (seed {})", leak.rule.id, leak.object, self.config.run.seed),
            format!("# tenants: {}", tenants.join(", ")),
            "# $TOKEN_X: a valid token of tenant X (minted from the spec's secret, or its own token)".to_owned(),
        ];
        lines.extend(leak.exchanges.iter().map(|e| e.curl(base)));
        lines.join("\n")
    }
}

/// The HTTP side of the property engine: steps sent through the API, judged by ownership.
impl PropertyEngine for Engine {
    type Case = Case;
    type Leak = Leak;
    type Error = ExecError;

    fn strategy(&self) -> BoxedStrategy<Case> {
        ops::arb_case(self.config.max_steps).boxed()
    }

    fn execute(&self, case: &Case, phase: Phase) -> Result<Vec<Leak>, ExecError> {
        let tally = (phase == Phase::Search).then_some(&self.tally);
        self.runtime.block_on(self.execute(case, tally, false))
    }

    /// One request at a time, on fresh connections: what reproduces so owes nothing to the
    /// concurrency or the connections of the case that found it. A tenant-confusion leak whose
    /// request leaks just as well without naming the other tenant is that plain cross-tenant
    /// leak (one finding per cause).
    fn replay(&self, case: &Case) -> Result<Vec<Leak>, ExecError> {
        self.client.fresh_connections();
        let mut leaks = self.runtime.block_on(self.execute(case, None, true))?;
        if leaks.iter().any(|l| is_confusion(l.rule)) {
            let plain = Case {
                rows: case.rows,
                steps: case
                    .steps
                    .iter()
                    .map(|s| Step {
                        actor: if s.actor.is_confusion() {
                            Actor::Tenant
                        } else {
                            s.actor
                        },
                        ..s.clone()
                    })
                    .collect(),
            };
            self.client.fresh_connections();
            let plain_leaks = self.runtime.block_on(self.execute(&plain, None, true))?;
            for leak in leaks.iter_mut().filter(|l| is_confusion(l.rule)) {
                if let Some(same) = plain_leaks
                    .iter()
                    .find(|p| p.actor == Actor::Tenant && p.object == leak.object)
                {
                    let mut same = same.clone();
                    same.detail = format!(
                        "{} (Found as {}; the same request without naming the other tenant \
                         leaks too.)",
                        same.detail,
                        leak.actor.as_str()
                    );
                    *leak = same;
                }
            }
        }
        Ok(leaks)
    }

    fn signature(leak: &Leak) -> Signature {
        leak.signature()
    }

    /// A tenant-confusion leak on an endpoint that already has a cross-tenant finding has the
    /// same cause: the endpoint, not the confusion.
    fn also_known_as(leak: &Leak) -> Vec<Signature> {
        if is_confusion(leak.rule) {
            [&rules::CROSS_TENANT_READ, &rules::CROSS_TENANT_WRITE]
                .iter()
                .map(|r| (r.id, leak.object.clone()))
                .collect()
        } else {
            Vec::new()
        }
    }

    fn finding(&self, leak: &Leak, reproduced: u32, replays: u32) -> Finding {
        let mut finding = self.finding(leak);
        finding.detail = format!(
            "{} Reproduced {reproduced}/{replays} when replayed alone, one request at a time, on \
             fresh connections.",
            finding.detail
        );
        finding
    }
}
