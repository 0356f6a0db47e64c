//! Per-tenant connection limits (`TenantSlots`): a tenant may hold at most `per_tenant` of the
//! app's database connections at once, so one busy tenant queues behind itself and the rest of
//! the pool stays free for the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::error::ApiError;

/// Tenants idle for a while are forgotten once this many are tracked.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Clone)]
pub struct TenantSlots {
    per_tenant: usize,
    wait: Duration,
    slots: Arc<Mutex<HashMap<Uuid, Arc<Semaphore>>>>,
}

impl TenantSlots {
    /// `per_tenant` connections per tenant; a request that waits longer than `wait` for one is
    /// answered 429, as the tenant is over its share.
    pub fn new(per_tenant: usize, wait: Duration) -> Self {
        Self {
            per_tenant: per_tenant.max(1),
            wait,
            slots: Arc::default(),
        }
    }

    pub fn per_tenant(&self) -> usize {
        self.per_tenant
    }

    /// Waits for one of the tenant's slots; the permit frees it when dropped.
    pub async fn acquire(&self, tenant: Uuid) -> Result<OwnedSemaphorePermit, ApiError> {
        let semaphore = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            if slots.len() > PRUNE_ABOVE {
                // Only the map holds it and nobody waits: the tenant is idle.
                slots.retain(|_, s| Arc::strong_count(s) > 1);
            }
            Arc::clone(
                slots
                    .entry(tenant)
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant))),
            )
        };
        match tokio::time::timeout(self.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(ApiError::Unavailable),
            Err(_) => Err(ApiError::RateLimited {
                retry_after_secs: 1,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tenant_over_its_share_waits_while_another_tenant_does_not() {
        let slots = TenantSlots::new(2, Duration::from_millis(50));
        let (busy, other) = (Uuid::new_v4(), Uuid::new_v4());
        let _a = slots.acquire(busy).await.unwrap();
        let _b = slots.acquire(busy).await.unwrap();
        assert!(matches!(
            slots.acquire(busy).await,
            Err(ApiError::RateLimited { .. })
        ));
        assert!(slots.acquire(other).await.is_ok());
        drop(_a);
        assert!(slots.acquire(busy).await.is_ok());
    }
}
