//! Read-through Redis cache (`Cache`, `TenantCache`). Every key starts with `tenant:{tenant_id}:`;
//! `TenantCache` builds them, so a handler cannot forget the tenant. Redis trouble never fails a
//! request: it is logged, `/readyz` says degraded, and the data comes from PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::faults::{Fault, Faults};

/// Redis operations give up after this long: a slow cache must not make a slow API.
const OP_TIMEOUT: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Cache {
    conn: Option<ConnectionManager>,
    ttl_secs: u64,
    healthy: Arc<AtomicBool>,
    faults: Faults,
}

impl Cache {
    /// Connects lazily; without a URL the cache is off and everything comes from PostgreSQL.
    pub fn connect(
        url: Option<&SecretString>,
        ttl: Duration,
        faults: Faults,
    ) -> Result<Self, redis::RedisError> {
        let conn = match url {
            Some(url) => {
                let client = redis::Client::open(url.expose_secret())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(OP_TIMEOUT))
                    .set_response_timeout(Some(OP_TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                Some(ConnectionManager::new_lazy_with_config(client, config)?)
            }
            None => None,
        };
        Ok(Self {
            conn,
            ttl_secs: ttl.as_secs().max(1),
            healthy: Arc::new(AtomicBool::new(true)),
            faults,
        })
    }

    pub fn for_tenant(&self, tenant: Option<Uuid>) -> TenantCache {
        TenantCache {
            cache: self.clone(),
            tenant,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.conn.is_some()
    }

    /// PING with the operation timeout; records the outcome for `/readyz`.
    pub async fn ping(&self) -> bool {
        let Some(mut conn) = self.conn.clone() else {
            return false;
        };
        let ok = matches!(
            tokio::time::timeout(
                OP_TIMEOUT,
                redis::cmd("PING").query_async::<String>(&mut conn)
            )
            .await,
            Ok(Ok(_))
        );
        self.healthy.store(ok, Ordering::Relaxed);
        ok
    }

    fn note(&self, what: &str, ok: bool, error: Option<String>) {
        let was = self.healthy.swap(ok, Ordering::Relaxed);
        if !ok && was {
            tracing::warn!(
                operation = what,
                error = error.as_deref().unwrap_or("timeout"),
                "cache unavailable, serving from PostgreSQL"
            );
        } else if ok && !was {
            tracing::info!("cache available again");
        }
    }

    async fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let mut conn = self.conn.clone()?;
        match tokio::time::timeout(OP_TIMEOUT, conn.get::<_, Option<String>>(key)).await {
            Ok(Ok(value)) => {
                self.note("get", true, None);
                value.and_then(|v| serde_json::from_str(&v).ok())
            }
            Ok(Err(e)) => {
                self.note("get", false, Some(e.to_string()));
                None
            }
            Err(_) => {
                self.note("get", false, None);
                None
            }
        }
    }

    async fn put<T: Serialize>(&self, key: &str, value: &T) {
        let (Some(mut conn), Ok(json)) = (self.conn.clone(), serde_json::to_string(value)) else {
            return;
        };
        let outcome = tokio::time::timeout(
            OP_TIMEOUT,
            conn.set_ex::<_, _, ()>(key, json, self.ttl_secs),
        )
        .await;
        self.note(
            "set",
            matches!(outcome, Ok(Ok(()))),
            outcome.ok().and_then(Result::err).map(|e| e.to_string()),
        );
    }

    async fn invalidate(&self, keys: &[String]) {
        let Some(mut conn) = self.conn.clone() else {
            return;
        };
        let outcome = tokio::time::timeout(OP_TIMEOUT, conn.del::<_, ()>(keys)).await;
        // A failed invalidation leaves a stale entry until its TTL: bounded, and logged.
        self.note(
            "del",
            matches!(outcome, Ok(Ok(()))),
            outcome.ok().and_then(Result::err).map(|e| e.to_string()),
        );
    }
}

/// The cache as one tenant sees it.
#[derive(Clone)]
pub struct TenantCache {
    cache: Cache,
    tenant: Option<Uuid>,
}

impl TenantCache {
    pub fn project_list_key(&self) -> Option<String> {
        let tenant = self.tenant?;
        if self.cache.faults.has(Fault::GlobalCacheKey) {
            // FAULT(global-cache-key): the list is cached under a key without the tenant, so the
            // first tenant to fill it serves its projects to everyone.
            return Some("projects:list".to_owned());
        }
        Some(format!("tenant:{tenant}:projects:list"))
    }

    pub fn project_key(&self, project: Uuid) -> Option<String> {
        Some(format!("tenant:{}:projects:{project}", self.tenant?))
    }

    pub async fn get<T: DeserializeOwned>(&self, key: Option<&String>) -> Option<T> {
        self.cache.get(key?).await
    }

    pub async fn put<T: Serialize>(&self, key: Option<&String>, value: &T) {
        if let Some(key) = key {
            self.cache.put(key, value).await;
        }
    }

    /// Drops the list and, when given, one project's entry (after any project write).
    pub async fn invalidate_projects(&self, project: Option<Uuid>) {
        let keys: Vec<String> = self
            .project_list_key()
            .into_iter()
            .chain(project.and_then(|p| self.project_key(p)))
            .collect();
        if !keys.is_empty() {
            self.cache.invalidate(&keys).await;
        }
    }
}
