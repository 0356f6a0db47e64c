//! The demo (`tenantprobe-demo`): the whole product on a fresh machine — throwaway servers (or the ones
//! `DATABASE_URL`/`REDIS_URL` name), the reference schema with two synthetic tenants, then every
//! check — as one report (`run`, `DemoReport`).

use std::time::{Duration, Instant};

use reference_app::migrations::APP_ROLE;
use sqlx::{Connection, PgConnection};

use tenantprobe::checks::visibility::{self, NoTenant};
use tenantprobe::finding::Finding;
use tenantprobe::spec::Spec;
use tenantprobe::tenancy::Tenancy;
use tenantprobe_testkit::provision::{ProvisionError, ReferenceDatabase};
use tenantprobe_testkit::servers::{
    PoolerConfig, Postgres, Redis, ScratchDb, ServerError, ThrowawayPgBouncer,
};
use tenantprobe_testkit::synthetic::{self, SyntheticTenant};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error("audit failed")]
    Audit(#[source] tenantprobe::catalog::CatalogError),
    #[error("reference app: {0}")]
    App(String),
    #[error("cache check failed")]
    Cache(#[source] tenantprobe::cache::CacheError),
    #[error("database attack failed")]
    Attack(#[source] tenantprobe::attack::db::AttackError),
    #[error("{context}: {cause}")]
    Database {
        context: &'static str,
        cause: sqlx::Error,
    },
}

/// The parsed reference spec (`probes/reference-app.toml`, built into the kit).
pub fn reference_spec() -> Spec {
    use tenantprobe_testkit::reference::{SPEC, SPEC_PATH};
    // The file is tested to parse (tenantprobe's spec tests), so this cannot fail.
    Spec::parse(SPEC, SPEC_PATH).unwrap_or_else(|e| panic!("{e}"))
}

fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> DemoError {
    move |cause| DemoError::Database { context, cause }
}

/// One thing the demo verified.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    /// What was checked and what came out, in one line.
    pub summary: String,
    pub passed: bool,
    pub duration: Duration,
}

/// Everything the demo did and found.
#[derive(Debug, Default)]
pub struct DemoReport {
    /// Where it ran: servers, database.
    pub environment: Vec<String>,
    pub steps: Vec<Step>,
    pub findings: Vec<Finding>,
    hook: Option<DemoHook>,
}

impl DemoReport {
    fn env(&mut self, line: String) {
        if let Some(hook) = &self.hook {
            (hook.0)(DemoEvent::Environment(&line));
        }
        self.environment.push(line);
    }

    /// Runs one step: announces it, times it, then records its verdict and the findings it
    /// leaves active. The hook hears of both ends, for live output.
    async fn step(
        &mut self,
        name: &str,
        work: impl Future<Output = Result<Outcome, DemoError>>,
    ) -> Result<(), DemoError> {
        if let Some(hook) = &self.hook {
            (hook.0)(DemoEvent::StepStarted(name));
        }
        let begun = Instant::now();
        let outcome = work.await?;
        let step = Step {
            name: name.into(),
            summary: outcome.summary,
            passed: outcome.passed,
            duration: begun.elapsed(),
        };
        if let Some(hook) = &self.hook {
            (hook.0)(DemoEvent::StepFinished(&step));
        }
        self.steps.push(step);
        self.findings.extend(outcome.findings);
        Ok(())
    }
}

/// What a step found: its summary line, its verdict and the findings it leaves active.
struct Outcome {
    summary: String,
    passed: bool,
    findings: Vec<Finding>,
}

/// What the demo is doing, as it happens (for live output).
#[derive(Debug)]
pub enum DemoEvent<'a> {
    /// A line about where it runs (servers, database, app).
    Environment(&'a str),
    /// A step began (its name).
    StepStarted(&'a str),
    StepFinished(&'a Step),
}

/// Called with every `DemoEvent`.
#[derive(Clone)]
pub struct DemoHook(pub std::sync::Arc<dyn Fn(DemoEvent<'_>) + Send + Sync>);

impl std::fmt::Debug for DemoHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoHook")
    }
}

/// What the demo runs against.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Deliberate faults to switch on in the reference app (to watch them being caught).
    pub faults: reference_app::faults::Faults,
    /// Told about each step as it starts and ends.
    pub progress: Option<DemoHook>,
    /// A connection pooler between the reference app and PostgreSQL.
    pub pooler: Option<Pooler>,
}

/// The connection poolers the demo can put in front of PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooler {
    /// A throwaway PgBouncer in transaction mode.
    PgBouncer,
}

impl std::str::FromStr for Pooler {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pgbouncer" => Ok(Self::PgBouncer),
            other => Err(format!("unknown pooler `{other}` (known: pgbouncer)")),
        }
    }
}

/// Runs the demo end to end. Servers started here are stopped and removed when this returns (or
/// when the future is dropped, e.g. on Ctrl-C); a database created on an existing server is dropped.
pub async fn run(options: DemoOptions) -> Result<DemoReport, DemoError> {
    let mut report = DemoReport {
        hook: options.progress.clone(),
        ..DemoReport::default()
    };
    let postgres = Postgres::from_env_or_start().await?;
    report.env(postgres.describe());
    let redis = Redis::from_env_or_start().await?;
    report.env(redis.describe());
    // The app's cache gets a logical database of its own: the cache check scans all of it.
    let cache = ScratchDb::claim(&redis.url(), Duration::from_secs(30)).await?;

    let begun = Instant::now();
    let database = ReferenceDatabase::create(&postgres.url(), "tenantprobe_demo").await?;
    report.env(format!(
        "database `{}`: reference schema migrated in {} ms",
        database.name,
        begun.elapsed().as_millis()
    ));
    let pooler = match options.pooler {
        Some(Pooler::PgBouncer) => {
            let bouncer = start_pgbouncer(&database).await?;
            report.env(bouncer.describe());
            report.env(format!(
                "per-plan pools (server connections): {}",
                tenantprobe_testkit::reference::PlanPools::default()
                    .entries(&database.name)
                    .iter()
                    .map(|e| format!("`{}` {}", e.name, e.max_db_connections))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            Some(bouncer)
        }
        None => None,
    };
    let outcome = run_checks(
        &database,
        &cache.url,
        &options,
        pooler.as_ref(),
        &mut report,
    )
    .await;
    drop(pooler);
    if matches!(postgres, Postgres::External { .. }) {
        database.drop_database().await?;
    }
    outcome.map(|()| report)
}

/// A throwaway PgBouncer in transaction mode in front of the demo's database, for `app_user`,
/// with the reference app's per-plan entries (`PlanPools`).
async fn start_pgbouncer(database: &ReferenceDatabase) -> Result<ThrowawayPgBouncer, DemoError> {
    let upstream = database.admin_options();
    let mut config =
        PoolerConfig::transparent(upstream.get_host(), upstream.get_port(), &[APP_ROLE]);
    config.entries = tenantprobe_testkit::reference::PlanPools::default().entries(&database.name);
    Ok(ThrowawayPgBouncer::start(&config).await?)
}

async fn run_checks(
    database: &ReferenceDatabase,
    redis_url: &str,
    options: &DemoOptions,
    pooler: Option<&ThrowawayPgBouncer>,
    report: &mut DemoReport,
) -> Result<(), DemoError> {
    let mut owner = database.connect_as_owner().await?;
    let mut tenants = Vec::new();
    for slug in ["acme", "globex"] {
        tenants.push(
            synthetic::provision_reference(&mut owner, slug)
                .await
                .map_err(db("cannot provision synthetic tenants"))?,
        );
    }
    let _ = owner.close().await;
    report.env(format!(
        "synthetic tenants: {}",
        tenants
            .iter()
            .map(|t| format!("{} ({})", t.slug, t.id))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    report
        .step(
            "database isolation sweep",
            database_sweep(database, &tenants),
        )
        .await?;
    report
        .step("catalog audit", catalog_audit(database))
        .await?;
    report
        .step("database attack", database_attack(database))
        .await?;

    let pooler_url = pooler.map(|p| p.url_for(APP_ROLE, &database.name));
    let app_options = tenantprobe_testkit::reference::Options {
        faults: options.faults.clone(),
        redis_url: Some(redis_url.to_owned()),
        pooler_url: pooler_url.clone(),
        database_pools: pooler
            .map(|_| tenantprobe_testkit::reference::PlanPools::routes(&database.name)),
        ..Default::default()
    };
    let app = tenantprobe_testkit::reference::ReferenceApp::start(database, app_options)
        .await
        .map_err(|e| DemoError::App(e.to_string()))?;
    let faults = if options.faults.is_empty() {
        String::new()
    } else {
        format!(" WITH DELIBERATE FAULTS: {}", options.faults)
    };
    report.env(format!(
        "reference app at {} (Redis cache on, in {}{}){faults}",
        app.url(),
        tenantprobe::redact::redact(redis_url),
        if pooler.is_some() {
            "; database through PgBouncer"
        } else {
            ""
        }
    ));
    let mut result = report
        .step("API attack", api_attack(database, &app, redis_url))
        .await;
    if result.is_ok() {
        result = report
            .step(
                "cache check",
                cache_check(database, &app, &tenants, redis_url),
            )
            .await;
    }
    if result.is_ok() {
        result = report
            .step("monitor cycle", monitor_cycle(database, &app, redis_url))
            .await;
    }
    if result.is_ok() {
        result = report
            .step("admin panel", admin_panel(database, &app, redis_url))
            .await;
    }
    if result.is_ok()
        && let Some(url) = &pooler_url
    {
        result = report
            .step("pooled connections", pooled_connections(database, url))
            .await;
    }
    app.stop().await;
    if result.is_ok() {
        result = report
            .step("premium tier", premium_tier(database, options))
            .await;
    }
    result
}

/// The admin panel's impersonation (`attack admin`): logged for the right tenant, bound to it,
/// expiring with its time box, closed to tenant tokens and to anonymous callers.
async fn admin_panel(
    database: &ReferenceDatabase,
    app: &tenantprobe_testkit::reference::ReferenceApp,
    redis_url: &str,
) -> Result<Outcome, DemoError> {
    use tenantprobe::attack::admin::{self, AdminTarget};
    let (spec, api, tenants) = spec_tenants(database, app, redis_url, "admin").await?;
    let env = app.env(database, Some(redis_url));
    let target = AdminTarget::resolve(&spec, &env).map_err(|e| DemoError::App(e.to_string()))?;
    let [a, b] = &tenants[..] else {
        return Err(DemoError::App(
            "the admin check needs two test tenants".into(),
        ));
    };
    let outcome = admin::check(&target, &api, a, b)
        .await
        .map_err(|e| DemoError::App(e.to_string()))?;
    Ok(Outcome {
        summary: format!(
            "{} checks, {} requests (operator login, impersonation with a reason, audit read-back, another tenant, expiry, tenant token and anonymous on operator routes){}: {}",
            outcome.examined.len(),
            outcome.requests,
            if outcome.skipped.is_empty() {
                String::new()
            } else {
                format!("; NOT checked: {}", outcome.skipped.join("; "))
            },
            caught(&outcome.findings)
        ),
        passed: outcome.findings.is_empty() && outcome.skipped.is_empty(),
        findings: outcome.findings,
    })
}

/// The premium tier: one more tenant promoted into a database of its own (`promote`, with the
/// demo's faults), then the data-location check over the shared and the premium database.
async fn premium_tier(
    database: &ReferenceDatabase,
    options: &DemoOptions,
) -> Result<Outcome, DemoError> {
    let mut owner = database.connect_as_owner().await?;
    let tenant = synthetic::provision_reference(&mut owner, "initech")
        .await
        .map_err(db("cannot provision the premium tenant"))?;
    let _ = owner.close().await;
    let promoted = reference_app::promote::promote(
        &database.admin_options(),
        &tenant.slug,
        &options.faults,
        None,
    )
    .await
    .map_err(|e| DemoError::App(format!("promote `{}`: {e}", tenant.slug)))?;
    let premium = vec![tenantprobe::checks::placement::PremiumDatabase {
        tenant_id: tenant.id.to_string(),
        database: promoted.placement.database_name.clone(),
        app_role: Some(promoted.placement.app_role.clone()),
        cleaned: Some(promoted.placement.state == "done"),
    }];
    let tenancy = reference_spec()
        .tenancy()
        .unwrap_or_else(Tenancy::reference);
    let located =
        tenantprobe::checks::placement::check(&database.admin_options(), &tenancy, &premium)
            .await
            .map_err(|e| DemoError::App(e.to_string()))?;
    Ok(Outcome {
        summary: format!(
            "`{}` promoted into `{}` ({}; {} rows verified by count and checksum); data location over {} databases, {} table reads: {} finding(s)",
            tenant.slug,
            promoted.placement.database_name,
            promoted.performed.join(", "),
            promoted.rows.iter().map(|(_, n)| n).sum::<i64>(),
            located.databases,
            located.tables,
            located.findings.len()
        ),
        passed: located.findings.is_empty() && located.databases == 2,
        findings: located.findings,
    })
}

/// The app's Redis: through the API (A warms the caches, B calls the same routes); then, with the
/// synthetic tenants' lists and projects cached, every key classified and a sample of values
/// checked for other tenants' data.
async fn cache_check(
    database: &ReferenceDatabase,
    app: &tenantprobe_testkit::reference::ReferenceApp,
    synthetic: &[SyntheticTenant],
    redis_url: &str,
) -> Result<Outcome, DemoError> {
    use tenantprobe::cache::{self, CacheOptions, Classifier, Glob, KeyPattern, Owners};
    let (spec, target, tenants) = spec_tenants(database, app, redis_url, "cache").await?;
    let routes = target.resources.len();
    let mut findings = cache::cross_check(target, tenants)
        .await
        .map_err(|e| DemoError::App(e.to_string()))?;
    let dynamic = findings.len();
    warm_caches(app, synthetic)
        .await
        .map_err(|e| DemoError::App(format!("cannot warm the caches: {e}")))?;

    let redis = spec
        .redis
        .clone()
        .ok_or_else(|| DemoError::App("the reference spec has no [redis]".into()))?;
    let patterns = redis
        .key_patterns
        .iter()
        .map(|p| KeyPattern::parse(p).map_err(DemoError::App))
        .collect::<Result<Vec<_>, _>>()?;
    let mut admin = PgConnection::connect_with(&database.admin_options())
        .await
        .map_err(db("cannot connect to read the tenants"))?;
    let known = cache::known_tenants(&mut admin, &Tenancy::reference())
        .await
        .map_err(DemoError::Audit)?;
    let _ = admin.close().await;
    let owners = Owners::from_learned(&known);
    let classifier = Classifier {
        patterns,
        globals: redis.global_keys.into_iter().map(Glob).collect(),
        tenants: Some(owners.segments()),
    };
    let outcome = cache::check(redis_url, &classifier, &owners, &CacheOptions::default())
        .await
        .map_err(DemoError::Cache)?;
    let tenant_keys: u64 = outcome.per_pattern.values().map(|t| t.keys).sum();
    findings.extend(outcome.findings);
    let (active, _waived) = waive(findings, &spec);
    Ok(Outcome {
        summary: format!(
            "through the API, tenant A warmed the caches of {routes} resources and tenant B called the same routes: {dynamic} leak(s); then {} keys scanned ({tenant_keys} namespaced by a known tenant, {} not namespaced, {} orphaned, {} malformed) and the values of {} checked for other tenants' ids and markers: {} active finding(s)",
            outcome.keys,
            outcome.not_namespaced.keys,
            outcome.orphaned.values().map(|t| t.keys).sum::<u64>(),
            outcome.malformed.values().map(|t| t.keys).sum::<u64>(),
            outcome.values_checked,
            active.len(),
        ),
        passed: active.is_empty(),
        findings: active,
    })
}

/// The production probe: `monitor init` (synthetic tenants with canaries), then one cycle of
/// every check through the API, the database and Redis, recorded as Prometheus metrics.
async fn monitor_cycle(
    database: &ReferenceDatabase,
    app: &tenantprobe_testkit::reference::ReferenceApp,
    redis_url: &str,
) -> Result<Outcome, DemoError> {
    use tenantprobe::monitor::{Probe, Provisioning, metrics::Metrics};
    let spec = reference_spec();
    let env = app.env(database, Some(redis_url));
    let probe = Probe::setup(&spec, &env, Provisioning::Create, None)
        .await
        .map_err(|e| DemoError::App(format!("monitor: {e}")))?;
    let init = probe
        .init()
        .await
        .map_err(|e| DemoError::App(format!("monitor init: {e}")))?;
    let slugs: Vec<String> = probe.tenants.iter().map(|t| t.slug.clone()).collect();
    let metrics = Metrics::new(&slugs);
    let cycle = probe.cycle().await;
    metrics.record(&cycle);
    let (active, _waived) = waive(cycle.findings(), &spec);
    let errors: Vec<String> = cycle
        .results
        .iter()
        .filter_map(|r| {
            r.error
                .as_ref()
                .map(|e| format!("{}: {e}", r.check.as_str()))
        })
        .collect();
    let series = metrics
        .render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    Ok(Outcome {
        summary: format!(
            "monitor init created {} canaries for {}; one cycle ran {} checks (API, database as the app role, Redis) in {} ms, {} ms of it in the database: {} violation(s), {} other finding(s){}; {series} Prometheus series exported",
            init.created.len(),
            slugs.join(" and "),
            cycle.results.len(),
            cycle.elapsed.as_millis(),
            cycle.db_time().as_millis(),
            cycle.violations().count(),
            active.len().saturating_sub(cycle.violations().count()),
            if errors.is_empty() {
                String::new()
            } else {
                format!(", checks that could not run: {}", errors.join("; "))
            },
        ),
        passed: cycle.passed() && active.is_empty(),
        findings: active,
    })
}

/// After the app's traffic, through PgBouncer as `app_user`: does any pooled server connection
/// start a transaction with a tenant already set?
async fn pooled_connections(
    database: &ReferenceDatabase,
    pooler_url: &str,
) -> Result<Outcome, DemoError> {
    use tenantprobe::checks::pooled::{PooledConfig, check_pooled};
    let spec = reference_spec();
    let tenancy = spec.tenancy().unwrap_or_else(Tenancy::reference);
    let pooled = tenantprobe::sql::connect_options(pooler_url).map_err(db("invalid pooler URL"))?;
    let outcome = check_pooled(
        &database.admin_options(),
        &pooled,
        &tenancy,
        &PooledConfig::default(),
    )
    .await
    .map_err(|e| DemoError::App(format!("pooled connections: {e}")))?;
    let (active, _waived) = waive(outcome.findings, &spec);
    Ok(Outcome {
        summary: format!(
            "after the app's traffic, {} transactions through PgBouncer (transaction mode) as {APP_ROLE} on {} server connection(s), none setting a tenant{}: {} finding(s)",
            outcome.transactions,
            outcome.server_connections,
            if outcome.sequence_on_one_connection {
                ", one right after a tenant's transaction on the same server connection"
            } else {
                ""
            },
            active.len()
        ),
        passed: active.is_empty(),
        findings: active,
    })
}

/// Each synthetic tenant reads its project list and each of its projects, as users do.
async fn warm_caches(
    app: &tenantprobe_testkit::reference::ReferenceApp,
    tenants: &[SyntheticTenant],
) -> Result<(), reqwest::Error> {
    let http = reqwest::Client::new();
    for tenant in tenants {
        let token = app.token_for(tenant);
        let paths = std::iter::once("/api/projects".to_owned()).chain(
            tenant
                .project_ids
                .iter()
                .map(|id| format!("/api/projects/{id}")),
        );
        for path in paths {
            http.get(format!("{}{path}", app.url()))
                .bearer_auth(&token)
                .send()
                .await?
                .error_for_status()?;
        }
    }
    Ok(())
}

/// The reference spec, its API target for `app`, and two test tenants of its own for a step
/// (`tenantprobe-{step}-a` and `-b`), provisioned as the spec says.
async fn spec_tenants(
    database: &ReferenceDatabase,
    app: &tenantprobe_testkit::reference::ReferenceApp,
    redis_url: &str,
    step: &str,
) -> Result<
    (
        Spec,
        tenantprobe::target::HttpTarget,
        Vec<tenantprobe::target::Tenant>,
    ),
    DemoError,
> {
    let spec = reference_spec();
    let env = app.env(database, Some(redis_url));
    let app_error = |e: tenantprobe::Error| DemoError::App(e.to_string());
    let target = tenantprobe::target::HttpTarget::resolve(&spec, &env).map_err(app_error)?;
    let slugs = vec![
        format!("tenantprobe-{step}-a"),
        format!("tenantprobe-{step}-b"),
    ];
    let tenants = tenantprobe::target::obtain_tenants(
        &spec,
        &env,
        &slugs,
        &reqwest::Client::new(),
        Some(&target),
    )
    .await
    .map_err(app_error)?;
    Ok((spec, target, tenants))
}

/// Property-based attacks over HTTP against the running reference app.
async fn api_attack(
    database: &ReferenceDatabase,
    app: &tenantprobe_testkit::reference::ReferenceApp,
    redis_url: &str,
) -> Result<Outcome, DemoError> {
    use tenantprobe::attack::http::{self, HttpAttackConfig};
    let (spec, target, tenants) = spec_tenants(database, app, redis_url, "attack").await?;
    let config = HttpAttackConfig::new(32, 1);
    let outcome = http::attack(target, tenants, config)
        .await
        .map_err(|e| DemoError::App(e.to_string()))?;
    let rate = outcome.requests_per_second();
    let (active, _waived) = waive(outcome.findings, &spec);
    Ok(Outcome {
        summary: format!(
            "{} cases, {} requests ({:.0}/s) as 2 tenants, anonymous callers, unknown subdomains, forged and unsigned tokens, and tenant confusion via Host, body and query: {}",
            outcome.cases,
            outcome.requests,
            rate,
            caught(&active)
        ),
        passed: active.is_empty(),
        findings: active,
    })
}

/// The findings the spec's waivers leave active, and what they waived (`rule on object`).
fn waive(mut findings: Vec<Finding>, spec: &Spec) -> (Vec<Finding>, Vec<String>) {
    tenantprobe::report::apply_waivers(&mut findings, &spec.waivers);
    let waived = findings
        .iter()
        .filter(|f| f.waived.is_some())
        .map(rule_on_object)
        .collect();
    (
        findings.into_iter().filter(Finding::is_active).collect(),
        waived,
    )
}

/// How a summary names a finding.
fn rule_on_object(finding: &Finding) -> String {
    format!("{} on {}", finding.rule, finding.object)
}

/// A summary's verdict: no findings, or how many and which.
fn caught(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "0 findings".to_owned();
    }
    let named: Vec<String> = findings.iter().map(rule_on_object).collect();
    format!("{} finding(s): {}", findings.len(), named.join(", "))
}

/// What a summary says the spec waived.
fn waived_list(waived: &[String]) -> String {
    if waived.is_empty() {
        "none".to_owned()
    } else {
        waived.join(", ")
    }
}

/// Property-based attacks at the database, as app_user, with the reference spec's waivers.
async fn database_attack(database: &ReferenceDatabase) -> Result<Outcome, DemoError> {
    let spec = reference_spec();
    let tenancy = spec.tenancy().unwrap_or_else(Tenancy::reference);
    let config = tenantprobe::attack::db::AttackConfig {
        // The demo's database is its own: a TRUNCATE (capped at a 50 ms lock wait) stalls no one.
        own_server: true,
        explain: Some(tenantprobe::audit::findings),
        ..tenantprobe::attack::db::AttackConfig::new(64, 1)
    };
    let outcome = tenantprobe::attack::db::attack(&database.admin_options(), &tenancy, &config)
        .await
        .map_err(DemoError::Attack)?;
    let rate = outcome.attempts_per_second();
    let (active, waived) = waive(outcome.findings, &spec);
    Ok(Outcome {
        summary: format!(
            "{} property-based cases, {} cross-tenant attempts as app_user ({:.0}/s) over {} tables, {} relations, {} functions: {} active finding(s); waived: {}",
            outcome.cases,
            outcome.attempts,
            rate,
            outcome.tables,
            outcome.relations,
            outcome.functions,
            active.len(),
            waived_list(&waived)
        ),
        passed: active.is_empty(),
        findings: active,
    })
}

/// The catalog audit of the reference schema, with the reference spec's waivers.
async fn catalog_audit(database: &ReferenceDatabase) -> Result<Outcome, DemoError> {
    let spec = reference_spec();
    let tenancy = spec.tenancy().unwrap_or_else(Tenancy::reference);
    let outcome = tenantprobe::audit::audit_parallel(&database.admin_options(), &tenancy)
        .await
        .map_err(DemoError::Audit)?;
    let (active, waived) = waive(outcome.findings, &spec);
    Ok(Outcome {
        summary: format!(
            "{} rules over {} relations and {} policies: {} active finding(s); waived with a reason in the spec: {}",
            tenantprobe::audit::rules::RULES.len(),
            outcome.relations,
            outcome.policies,
            active.len(),
            waived_list(&waived)
        ),
        passed: active.is_empty(),
        findings: active,
    })
}

/// As `app_user`, each tenant sees its own rows and none of the other's, in every tenant table,
/// partition and view; with no tenant set (fresh or pooled connection) it sees nothing.
async fn database_sweep(
    database: &ReferenceDatabase,
    tenants: &[SyntheticTenant],
) -> Result<Outcome, DemoError> {
    let tenancy = Tenancy::reference();
    let app = database.options_as(APP_ROLE);
    let mut conn = PgConnection::connect_with(&app)
        .await
        .map_err(db("cannot connect as app_user"))?;
    // A fresh connection first: the setting has never been set on it.
    let relations = visibility::tenant_relations(&mut conn, &tenancy)
        .await
        .map_err(DemoError::Audit)?;
    let unset =
        visibility::sweep_without_tenant(&mut conn, &tenancy, &relations, None, NoTenant::Unset)
            .await
            .map_err(db("sweep failed"))?;
    let mut findings = visibility::no_tenant_findings(&unset, "unset");
    for tenant in tenants {
        let seen = visibility::sweep(
            &mut conn,
            &tenancy,
            &relations,
            None,
            &tenant.id.to_string(),
        )
        .await
        .map_err(db("sweep failed"))?;
        findings.extend(visibility::tenant_findings(&seen, &tenant.slug));
    }
    let empty =
        visibility::sweep_without_tenant(&mut conn, &tenancy, &relations, None, NoTenant::Empty)
            .await
            .map_err(db("sweep failed"))?;
    findings.extend(visibility::no_tenant_findings(&empty, "empty"));
    let _ = conn.close().await;

    let readable = relations.iter().filter(|r| r.readable_by_app).count();
    Ok(Outcome {
        summary: format!(
            "as {APP_ROLE}: {} tenants × {readable} readable tenant relations ({} in all, partitions included), plus no tenant set (fresh and pooled connection): {} problem(s)",
            tenants.len(),
            relations.len(),
            findings.len()
        ),
        passed: findings.is_empty(),
        findings,
    })
}
