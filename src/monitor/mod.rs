//! `tenantprobe monitor`: the production probe. Synthetic tenants (`monitor init` provisions them
//! and their canaries) are checked every cycle through the API, the database and Redis: each sees
//! only its own data, its own data is there, and nothing is visible without a tenant. Results
//! become Prometheus metrics (`metrics`), served by a daemon (`daemon`), pushed to a Pushgateway
//! (`push`), or gate a deployment (`canary`).

pub mod canary;
pub mod checks;
pub mod clock;
pub mod confusion;
pub mod daemon;
mod error;
pub mod metrics;
pub mod probe;
pub mod push;
pub mod request;
pub mod restore;
pub mod rules;
pub mod search;
pub mod writes;

use std::future::Future;
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::finding::Finding;
pub use checks::Found;
pub use error::MonitorError;
pub use probe::{Actor, Canary, InitReport, Probe, ProbeOptions, Provisioning, no_monitor_section};

/// Where a check looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    Api,
    Db,
    Redis,
}

impl Surface {
    pub const ALL: [Surface; 3] = [Self::Api, Self::Db, Self::Redis];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Db => "db",
            Self::Redis => "redis",
        }
    }
}

/// The checks of a cycle (the `check` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// Own lists: every item its own, own canaries present.
    ApiOwn,
    /// Other tenants' canaries by id (also nested, cross-parent), in searches and exports; tenant
    /// confusion through the API's carriers (subdomain, path, header) and tenant query parameters.
    ApiForeign,
    /// Updates, deletes and creates on other tenants' canaries; damaged canaries put back.
    ApiForeignWrites,
    /// Every declared endpoint without valid credentials (none, forged, unsigned).
    ApiAnonymous,
    /// Tenant context set: no foreign row visible.
    DbTenant,
    /// No tenant set: no row visible.
    DbNoTenant,
    /// Keys without a tenant, foreign values.
    RedisKeys,
    /// A premium synthetic tenant: its canaries in its own database, none of its rows elsewhere.
    /// Runs only for the spec's `premium_tenants`, so it is not one of `ALL`.
    DbPremium,
}

impl Check {
    pub const ALL: [Check; 7] = [
        Self::ApiOwn,
        Self::ApiForeign,
        Self::ApiForeignWrites,
        Self::ApiAnonymous,
        Self::DbTenant,
        Self::DbNoTenant,
        Self::RedisKeys,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiOwn => "api-own-data",
            Self::ApiForeign => "api-foreign-canaries",
            Self::ApiForeignWrites => "api-foreign-writes",
            Self::ApiAnonymous => "api-unauthenticated",
            Self::DbTenant => "db-tenant-visibility",
            Self::DbNoTenant => "db-no-tenant-visibility",
            Self::RedisKeys => "redis-keys",
            Self::DbPremium => "db-premium-placement",
        }
    }

    pub fn surface(self) -> Surface {
        match self {
            Self::ApiOwn | Self::ApiForeign | Self::ApiForeignWrites | Self::ApiAnonymous => {
                Surface::Api
            }
            Self::DbTenant | Self::DbNoTenant | Self::DbPremium => Surface::Db,
            Self::RedisKeys => Surface::Redis,
        }
    }

    /// Checks that concern no single synthetic tenant carry this `synthetic_tenant` label.
    pub const ALL_TENANTS: &'static str = "all";
}

/// How a check ended (the `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Pass,
    /// A violation or a problem was found.
    Fail,
    /// The check could not look: surface down, timeout.
    Error,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Error => "error",
        }
    }
}

/// One check of one cycle.
#[derive(Debug)]
pub struct CheckResult {
    pub synthetic_tenant: String,
    pub check: Check,
    pub found: Found,
    pub error: Option<MonitorError>,
    pub duration: Duration,
}

impl CheckResult {
    pub fn status(&self) -> CheckStatus {
        if !self.found.violations.is_empty() {
            CheckStatus::Fail
        } else if self.error.is_some() {
            CheckStatus::Error
        } else if self.found.problems.is_empty() {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        }
    }
}

/// One cycle: every check for every synthetic tenant.
#[derive(Debug)]
pub struct CycleReport {
    pub results: Vec<CheckResult>,
    pub elapsed: Duration,
}

impl CycleReport {
    /// Passed: every check passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.status() == CheckStatus::Pass)
    }

    pub fn violations(&self) -> impl Iterator<Item = &Finding> {
        self.results.iter().flat_map(|r| &r.found.violations)
    }

    /// Every finding: violations, then problems.
    pub fn findings(&self) -> Vec<Finding> {
        let mut all: Vec<Finding> = self.violations().cloned().collect();
        all.extend(
            self.results
                .iter()
                .flat_map(|r| r.found.problems.iter().cloned()),
        );
        all
    }

    /// Time spent in database checks.
    pub fn db_time(&self) -> Duration {
        self.results
            .iter()
            .filter(|r| r.check.surface() == Surface::Db)
            .map(|r| r.duration)
            .sum()
    }

    /// Whether any check of `surface` could not look.
    pub fn surface_down(&self, surface: Surface) -> bool {
        self.results
            .iter()
            .any(|r| r.check.surface() == surface && r.error.is_some())
    }
}

/// Runs one check with its timeout, in a span that puts the tenant and the check on every line.
async fn run_check<T: Default>(
    timeout: Duration,
    tenant: &str,
    check: Check,
    work: impl Future<Output = Result<(Found, T), MonitorError>>,
) -> (CheckResult, T) {
    let span = tracing::info_span!("check", synthetic_tenant = %tenant, check = check.as_str());
    let begun = Instant::now();
    let outcome = tokio::time::timeout(timeout, work)
        .instrument(span.clone())
        .await;
    let (found, extra, error) = match outcome {
        Ok(Ok((found, extra))) => (found, extra, None),
        Ok(Err(e)) => (Found::default(), T::default(), Some(e)),
        Err(_) => (
            Found::default(),
            T::default(),
            Some(MonitorError::Timeout(timeout)),
        ),
    };
    let result = CheckResult {
        synthetic_tenant: tenant.to_owned(),
        check,
        found,
        error,
        duration: begun.elapsed(),
    };
    span.in_scope(|| match result.status() {
        CheckStatus::Pass => tracing::debug!(ms = result.duration.as_millis() as u64, "pass"),
        CheckStatus::Error => {
            let error = result.error.as_ref().map(ToString::to_string);
            tracing::warn!(
                error = error.as_deref().unwrap_or(""),
                "check could not run"
            )
        }
        CheckStatus::Fail => {
            for f in result.found.violations.iter().chain(&result.found.problems) {
                tracing::error!(rule = %f.rule, object = %f.object, "{}", f.detail);
            }
        }
    });
    (result, extra)
}

impl Probe {
    /// One cycle. Never fails: a surface that is down makes its checks end in `error`.
    pub async fn cycle(&self) -> CycleReport {
        let begun = Instant::now();
        let timeout = self.options.check_timeout;
        let mut results = Vec::new();
        let mut canaries: Vec<Vec<Canary>> = vec![Vec::new(); self.tenants.len()];
        for (i, tenant) in self.tenants.iter().enumerate() {
            let (result, found) = run_check(
                timeout,
                &tenant.slug,
                Check::ApiOwn,
                checks::api_own(self, i),
            )
            .await;
            canaries[i] = found;
            results.push(result);
        }
        for (i, tenant) in self.tenants.iter().enumerate() {
            let work = async {
                let mut found = checks::api_foreign(self, i, &canaries).await?;
                found.absorb(confusion::tenant_confusion(self, i).await?);
                found.absorb(search::search_and_export(self, i, &canaries).await?);
                Ok((found, ()))
            };
            results.push(
                run_check(timeout, &tenant.slug, Check::ApiForeign, work)
                    .await
                    .0,
            );
        }
        // Writes last among the API checks: what one destroys is put back before the next.
        for (i, tenant) in self.tenants.iter().enumerate() {
            let (result, replaced) = run_check(
                timeout,
                &tenant.slug,
                Check::ApiForeignWrites,
                writes::foreign_writes(self, i, &canaries),
            )
            .await;
            results.push(result);
            for (j, now) in replaced {
                canaries[j] = now;
            }
        }
        let (result, replaced) = run_check(
            timeout,
            Check::ALL_TENANTS,
            Check::ApiAnonymous,
            writes::anonymous(self, &canaries),
        )
        .await;
        results.push(result);
        for (j, now) in replaced {
            canaries[j] = now;
        }
        if self.database.is_some() {
            let (result, relations) =
                run_check(timeout, Check::ALL_TENANTS, Check::DbNoTenant, async {
                    let relations = checks::relations(self).await?;
                    let found = checks::db_no_tenant(self, &relations).await?;
                    Ok((found, Some(relations)))
                })
                .await;
            results.push(result);
            for (i, tenant) in self.tenants.iter().enumerate() {
                let work = async {
                    let relations = match &relations {
                        Some(r) => r.clone(),
                        None => checks::relations(self).await?,
                    };
                    checks::db_tenant(self, i, &relations)
                        .await
                        .map(|f| (f, ()))
                };
                results.push(
                    run_check(timeout, &tenant.slug, Check::DbTenant, work)
                        .await
                        .0,
                );
            }
        }
        if self.database.is_some() {
            for &i in &self.premium {
                let work = async { checks::db_premium(self, i).await.map(|f| (f, ())) };
                results.push(
                    run_check(timeout, &self.tenants[i].slug, Check::DbPremium, work)
                        .await
                        .0,
                );
            }
        }
        if self.redis.is_some() {
            let work = async { checks::redis_keys(self, &canaries).await.map(|f| (f, ())) };
            results.push(
                run_check(timeout, Check::ALL_TENANTS, Check::RedisKeys, work)
                    .await
                    .0,
            );
        }
        CycleReport {
            results,
            elapsed: begun.elapsed(),
        }
    }
}
