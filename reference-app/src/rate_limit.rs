//! Per-tenant rate limiting (`TenantRateLimiter`): a GCRA bucket per tenant (governor), so one
//! tenant hammering the API is answered 429 while every other tenant keeps its own budget.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

use crate::error::ApiError;

#[derive(Clone)]
pub struct TenantRateLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<Uuid>>,
    clock: DefaultClock,
}

impl TenantRateLimiter {
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let limiter = Arc::new(DefaultKeyedRateLimiter::keyed(
            Quota::per_second(per_second).allow_burst(burst),
        ));
        // Forget idle tenants now and then, so memory follows active tenants, not all tenants ever.
        let weak = Arc::downgrade(&limiter);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(limiter) = weak.upgrade() else { break };
                limiter.retain_recent();
            }
        });
        Self {
            limiter,
            clock: DefaultClock::default(),
        }
    }

    /// `Err(RateLimited)` with the seconds until the tenant may try again (at least 1).
    pub fn check(&self, tenant: Uuid) -> Result<(), ApiError> {
        self.limiter.check_key(&tenant).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }
}
