//! `tenantprobe attack http`: stateful cross-tenant attacks on an API described by a target
//! spec (`attack`). Each proptest case builds a world through the API (every test tenant creates
//! items with canary markers), runs a sequence of steps by various actors — the tenant itself,
//! anonymous callers, unknown subdomains, forged and unsigned tokens, tenant confusion through the
//! carriers the spec declares (host, path, header) and its body and query fields — in concurrent
//! waves, judges every answer by ownership and status, and deletes what it created (`steps/`, one
//! module per operation). Failing cases shrink to a minimal sequence of curl commands.

mod cache_check;
pub(crate) mod client;
mod ops;
pub mod rules;
mod steps;
pub(crate) mod world;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};

pub use cache_check::cross_check;
pub use client::Sent;
pub use ops::Actor;

use self::client::{Client, Credentials};
use self::ops::{Case, Step};
use self::steps::{Ctx, ExecError, Leak, is_confusion};
use self::world::Identity;
use crate::attack::db::ProgressHook;
use crate::finding::Finding;
use crate::oracle::Markers;
use crate::target::{HttpTarget, TestTenant};

#[derive(Debug, thiserror::Error)]
pub enum HttpAttackError {
    #[error("cannot reach the API at `{url}`")]
    Unreachable {
        url: String,
        #[source]
        cause: reqwest::Error,
    },
    #[error(
        "cannot act as tenant `{0}`: no token (set the spec's [api.auth] or the tenant's token)"
    )]
    NoToken(String),
    #[error("at least two test tenants are needed, got {0}")]
    TooFewTenants(usize),
    #[error("attack worker failed: {0}")]
    Worker(String),
    /// The API answered in a shape the spec does not describe (a usage error: fix the spec).
    #[error("{0}; fix the pointer in the spec's [[api.resources]]")]
    Shape(#[from] Box<world::ShapeMismatch>),
}

#[derive(Debug, Clone)]
pub struct HttpAttackConfig {
    pub cases: u32,
    pub seed: u64,
    pub max_steps: usize,
    /// Steps run at once (parallel clients), so leaks through pools and caches surface.
    pub concurrency: usize,
    pub time_budget: Option<Duration>,
    pub regressions: Option<PathBuf>,
    pub on_case: Option<ProgressHook>,
    /// Called before every shrinking step, so progress shows the run is not stuck.
    pub on_shrink: Option<ProgressHook>,
    /// Keep every request sent (`HttpOutcome::sent`), for benchmarks that replay the same mix.
    pub record: bool,
    /// Time spent shrinking one failing case, at most: a finding is reported with the smallest
    /// sequence found by then.
    pub shrink_budget: Duration,
    /// Set from outside (SIGINT) to stop at the next step: the outcome is then `partial`.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for HttpAttackConfig {
    fn default() -> Self {
        Self {
            cases: 64,
            seed: 0,
            max_steps: 32,
            concurrency: 4,
            time_budget: None,
            regressions: None,
            on_case: None,
            on_shrink: None,
            record: false,
            shrink_budget: Duration::from_secs(2),
            stop: None,
        }
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
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Attacks `target` as `tenants` (at least two). Runs on a thread of its own with its own runtime.
pub async fn attack(
    target: HttpTarget,
    tenants: Vec<TestTenant>,
    config: HttpAttackConfig,
) -> Result<HttpOutcome, HttpAttackError> {
    if tenants.len() < 2 {
        return Err(HttpAttackError::TooFewTenants(tenants.len()));
    }
    tokio::task::spawn_blocking(move || Engine::new(target, tenants, config)?.run())
        .await
        .map_err(|e| HttpAttackError::Worker(e.to_string()))?
}

/// Each tenant's own way in: its token (shown as `$TOKEN_A`…) and its subdomain.
pub(crate) fn identities(
    client: &Client,
    tenants: &[TestTenant],
) -> Result<Vec<Identity>, HttpAttackError> {
    tenants
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let token = client
                .target
                .token_for(t)
                .ok_or_else(|| HttpAttackError::NoToken(t.slug.clone()))?;
            let tag = char::from(b'A' + u8::try_from(i % 26).unwrap_or(0));
            Ok(Identity {
                label: format!("tenant {tag}"),
                creds: Credentials {
                    token: Some((token, format!("$TOKEN_{tag}"))),
                    host: client.target.host_for(&t.slug, &t.tenant_id),
                    headers: client.target.tenant_headers(&t.slug, &t.tenant_id),
                },
            })
        })
        .collect()
}

/// Times a failing case is replayed alone before its findings are reported.
const REPLAYS: u32 = 3;

struct Engine {
    runtime: tokio::runtime::Runtime,
    client: Client,
    tenants: Vec<TestTenant>,
    identities: Vec<Identity>,
    config: HttpAttackConfig,
    markers: Mutex<Markers>,
    deadline: Option<Instant>,
    begun: Instant,
    /// What cleaning up after every case achieved.
    cleaned: Mutex<world::Cleanup>,
}

struct State {
    known: RefCell<HashSet<(&'static str, String)>>,
    outcome: RefCell<HttpOutcome>,
    fatal: RefCell<Option<ExecError>>,
    cases_this_round: Cell<u64>,
    failed_at: Cell<Option<u64>>,
    /// The signature that failed the current round's case.
    failing: RefCell<Option<(&'static str, String)>>,
    /// The run was stopped or its time budget spent: the rest of the round is skipped.
    ended: Cell<bool>,
}

impl Engine {
    fn new(
        target: HttpTarget,
        tenants: Vec<TestTenant>,
        config: HttpAttackConfig,
    ) -> Result<Self, HttpAttackError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| HttpAttackError::Worker(e.to_string()))?;
        let mut client = runtime
            .block_on(async { Client::new(target) })
            .map_err(|e| HttpAttackError::Worker(e.to_string()))?;
        if config.record {
            client.recorded = Some(Mutex::new(Vec::new()));
        }
        let mut identities = Vec::new();
        for (i, t) in tenants.iter().enumerate() {
            let token = client
                .target
                .token_for(t)
                .ok_or_else(|| HttpAttackError::NoToken(t.slug.clone()))?;
            let tag = char::from(b'A' + u8::try_from(i % 26).unwrap_or(0));
            identities.push(Identity {
                label: format!("tenant {tag}"),
                creds: Credentials {
                    token: Some((token, format!("$TOKEN_{tag}"))),
                    host: client.target.host_for(&t.slug, &t.tenant_id),
                    headers: client.target.tenant_headers(&t.slug, &t.tenant_id),
                },
            });
        }
        let begun = Instant::now();
        let deadline = config.time_budget.map(|b| begun + b);
        let markers = Mutex::new(Markers::new(config.seed ^ 0xA77AC));
        Ok(Self {
            runtime,
            client,
            tenants,
            identities,
            config,
            markers,
            deadline,
            begun,
            cleaned: Mutex::new(world::Cleanup::default()),
        })
    }

    fn run(self) -> Result<HttpOutcome, HttpAttackError> {
        // Fail early, and clearly, when the API is not there.
        let probe = self
            .runtime
            .block_on(self.client.http.get(self.client.target.url("/")).send());
        if let Err(cause) = probe
            && (cause.is_connect() || cause.is_timeout())
        {
            return Err(HttpAttackError::Unreachable {
                url: self.client.target.base_url.to_string(),
                cause,
            });
        }
        let state = State {
            known: RefCell::new(HashSet::new()),
            outcome: RefCell::new(HttpOutcome::default()),
            fatal: RefCell::new(None),
            cases_this_round: Cell::new(0),
            failed_at: Cell::new(None),
            failing: RefCell::new(None),
            ended: Cell::new(false),
        };
        let strategy = ops::arb_case(self.config.max_steps);
        let mut remaining = u64::from(self.config.cases);
        let mut round = 0u64;
        while remaining > 0 && !self.out_of_time() {
            state.cases_this_round.set(0);
            state.failed_at.set(None);
            *state.failing.borrow_mut() = None;
            let mut runner = self.runner(remaining, round);
            let result = runner.run(&strategy, |case| self.property(&state, &case));
            match state.fatal.borrow_mut().take() {
                Some(ExecError::Http(cause)) => {
                    return Err(HttpAttackError::Unreachable {
                        url: self.client.target.base_url.to_string(),
                        cause,
                    });
                }
                Some(ExecError::Shape(mismatch)) => return Err(mismatch.into()),
                None => {}
            }
            let consumed = state
                .failed_at
                .get()
                .unwrap_or_else(|| state.cases_this_round.get());
            remaining = remaining.saturating_sub(consumed.max(1));
            match result {
                Ok(()) => break,
                Err(TestError::Fail(..))
                    if state.ended.get() && state.failing.borrow().is_none() =>
                {
                    break;
                }
                Err(TestError::Fail(_, minimal)) => {
                    let before = state.outcome.borrow().cases;
                    let known = state.known.borrow().clone();
                    let confirmed = if self.stopped() {
                        Vec::new()
                    } else {
                        match self.confirm(&minimal, &known) {
                            Ok(confirmed) => confirmed,
                            Err(ExecError::Shape(mismatch)) => return Err(mismatch.into()),
                            Err(e) => return Err(HttpAttackError::Worker(e.to_string())),
                        }
                    };
                    if confirmed.is_empty() {
                        // Seen once, never again alone: not reported, and not hunted again.
                        if let Some(signature) = state.failing.borrow_mut().take()
                            && state.known.borrow_mut().insert(signature.clone())
                        {
                            state
                                .outcome
                                .borrow_mut()
                                .unconfirmed
                                .push(format!("{} on {}", signature.0, signature.1));
                        }
                    }
                    for (leak, reproduced) in confirmed {
                        if state.known.borrow_mut().insert(leak.signature()) {
                            let mut outcome = state.outcome.borrow_mut();
                            outcome
                                .first_seen
                                .entry((leak.rule.id.to_owned(), leak.object.clone()))
                                .or_insert(before);
                            let mut finding = self.finding(&leak);
                            finding.detail = format!(
                                "{} Reproduced {reproduced}/{REPLAYS} when replayed alone, one \
                                 request at a time, on fresh connections.",
                                finding.detail
                            );
                            outcome.findings.push(finding);
                        }
                    }
                }
                Err(TestError::Abort(reason)) => {
                    return Err(HttpAttackError::Worker(reason.to_string()));
                }
            }
            round += 1;
        }
        let mut outcome = state.outcome.into_inner();
        if self.stopped() {
            outcome.partial = Some("interrupted".into());
        } else if outcome.cases < u64::from(self.config.cases) && self.out_of_time() {
            outcome.partial = Some("time budget reached".into());
        }
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

    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d) || self.stopped()
    }

    fn stopped(&self) -> bool {
        self.config
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    fn runner(&self, cases: u64, round: u64) -> TestRunner {
        let config = Config {
            cases: u32::try_from(cases).unwrap_or(u32::MAX),
            // Every shrink step replays a case over HTTP; a few dozen find the minimal sequence.
            max_shrink_iters: 96,
            max_shrink_time: u32::try_from(self.config.shrink_budget.as_millis())
                .unwrap_or(u32::MAX)
                .max(1),
            failure_persistence: self.config.regressions.as_ref().map(|p| {
                let path: &'static str = Box::leak(p.display().to_string().into_boxed_str());
                Box::new(FileFailurePersistence::Direct(path))
                    as Box<dyn proptest::test_runner::FailurePersistence>
            }),
            ..Config::default()
        };
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.config.seed.to_le_bytes());
        seed[8..16].copy_from_slice(&round.to_le_bytes());
        seed[16] = 0x48;
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
    }

    fn property(&self, state: &State, case: &Case) -> Result<(), TestCaseError> {
        let shrinking = state.failed_at.get().is_some();
        if state.fatal.borrow().is_some() || state.ended.get() {
            return Ok(());
        }
        if (!shrinking && self.out_of_time()) || self.stopped() {
            // End the round now rather than generate its remaining cases for nothing: a failure
            // the round loop knows as `ended`, whose shrinking costs no request.
            state.ended.set(true);
            if !shrinking {
                state.failed_at.set(Some(state.cases_this_round.get()));
                return Err(TestCaseError::fail("the run was stopped"));
            }
            return Ok(());
        }
        if !shrinking {
            state.cases_this_round.set(state.cases_this_round.get() + 1);
            state.outcome.borrow_mut().cases += 1;
            if let Some(hook) = &self.config.on_case {
                (hook.0)();
            }
        } else if let Some(hook) = &self.config.on_shrink {
            (hook.0)();
        }
        let coverage = (!shrinking).then_some(&state.outcome);
        match self.runtime.block_on(self.execute(case, coverage, false)) {
            Ok(leaks) => {
                let known = state.known.borrow();
                match leaks.iter().find(|l| !self.is_known(&known, l)) {
                    Some(leak) => {
                        if !shrinking {
                            state.failed_at.set(Some(state.cases_this_round.get()));
                            *state.failing.borrow_mut() = Some(leak.signature());
                        }
                        Err(TestCaseError::fail(format!(
                            "{} on {}",
                            leak.rule.id, leak.object
                        )))
                    }
                    None => Ok(()),
                }
            }
            Err(e) => {
                *state.fatal.borrow_mut() = Some(e);
                Ok(())
            }
        }
    }

    /// Whether `leak` is a cause already reported: its own signature, or — for tenant confusion —
    /// a cross-tenant read or write on the same endpoint (the endpoint, not the confusion, is the
    /// cause: one finding per cause).
    fn is_known(&self, known: &HashSet<(&'static str, String)>, leak: &Leak) -> bool {
        known.contains(&leak.signature())
            || (is_confusion(leak.rule)
                && [&rules::CROSS_TENANT_READ, &rules::CROSS_TENANT_WRITE]
                    .iter()
                    .any(|r| known.contains(&(r.id, leak.object.clone()))))
    }

    /// Replays `minimal` alone `REPLAYS` times, one request at a time, each on fresh connections;
    /// returns each new leak that reproduced, with how often. A tenant-confusion leak whose
    /// request leaks just as well without naming the other tenant is reported as that plain
    /// cross-tenant leak instead.
    fn confirm(
        &self,
        minimal: &Case,
        known: &HashSet<(&'static str, String)>,
    ) -> Result<Vec<(Leak, u32)>, ExecError> {
        let mut seen: BTreeMap<(&'static str, String), (Leak, u32)> = BTreeMap::new();
        for _ in 0..REPLAYS {
            self.client.fresh_connections();
            let leaks = self.runtime.block_on(self.execute(minimal, None, true))?;
            let mut this_replay = HashSet::new();
            for leak in leaks {
                let signature = leak.signature();
                if known.contains(&signature) || !this_replay.insert(signature.clone()) {
                    continue;
                }
                seen.entry(signature).or_insert((leak, 0)).1 += 1;
            }
        }
        let mut confirmed: Vec<(Leak, u32)> = seen.into_values().collect();
        if confirmed.iter().any(|(l, _)| is_confusion(l.rule)) {
            let plain = Case {
                rows: minimal.rows,
                steps: minimal
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
            for (leak, _) in &mut confirmed {
                if !is_confusion(leak.rule) {
                    continue;
                }
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
            let mut signatures = HashSet::new();
            confirmed.retain(|(l, _)| {
                !known.contains(&l.signature()) && signatures.insert(l.signature())
            });
        }
        Ok(confirmed)
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
            format!("# tenantprobe attack http: {} on {} (seed {})", leak.rule.id, leak.object, self.config.seed),
            format!("# tenants: {}", tenants.join(", ")),
            "# $TOKEN_X: a valid token of tenant X (minted from the spec's secret, or its own token)".to_owned(),
        ];
        lines.extend(leak.exchanges.iter().map(|e| e.curl(base)));
        lines.join("\n")
    }
}
