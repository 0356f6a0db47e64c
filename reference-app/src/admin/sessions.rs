//! Operator sessions and impersonations, kept server-side (`Sessions`): the browser holds only
//! random ids, so a cookie can be revoked, expires on the server's clock and carries nothing to
//! forge. One app instance keeps them in memory; several instances would keep them in a shared
//! store instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// How long an operator stays logged in without logging in again.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// A logged-in operator.
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub username: String,
    /// The synchronizer token every POST form of this session must carry.
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

/// One operator acting as one tenant, for a limited time.
#[derive(Debug, Clone, Serialize)]
pub struct Impersonation {
    pub id: String,
    /// The operator session that started it: the cookie is worthless in any other session.
    #[serde(skip)]
    pub session: String,
    pub admin: String,
    pub tenant: Uuid,
    pub tenant_name: String,
    pub tenant_slug: String,
    pub reason: String,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Writes allowed: a separate, logged step after the start.
    pub escalated: bool,
}

impl Impersonation {
    /// Whether this impersonation lets `session` act as `tenant` at `now`.
    pub fn allows(&self, session: &str, tenant: Uuid, now: DateTime<Utc>) -> bool {
        self.session == session && self.tenant == tenant && now < self.expires_at
    }
}

#[derive(Default)]
struct Store {
    sessions: HashMap<String, OperatorSession>,
    impersonations: HashMap<String, Impersonation>,
}

/// The server-side store.
pub struct Sessions {
    ttl: Duration,
    store: Mutex<Store>,
}

/// 244 random bits from the OS generator (two v4 UUIDs), as hex.
pub fn random_id() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX)
}

impl Sessions {
    pub fn new(impersonation_ttl: Duration) -> Self {
        Self {
            ttl: impersonation_ttl,
            store: Mutex::new(Store::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // A poisoned lock only means another request panicked mid-update of plain maps.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session for `username`; returns its id. Expired entries are dropped on the way, so
    /// the store stays bounded by what is live.
    pub fn login(&self, username: &str, now: DateTime<Utc>) -> String {
        let mut store = self.lock();
        store.sessions.retain(|_, s| s.expires_at > now);
        store.impersonations.retain(|_, i| i.expires_at > now);
        let id = random_id();
        store.sessions.insert(
            id.clone(),
            OperatorSession {
                username: username.to_owned(),
                csrf: random_id(),
                expires_at: later(now, SESSION_TTL),
            },
        );
        id
    }

    /// The live session `id`.
    pub fn session(&self, id: &str, now: DateTime<Utc>) -> Option<OperatorSession> {
        self.lock()
            .sessions
            .get(id)
            .filter(|s| s.expires_at > now)
            .cloned()
    }

    /// Ends session `id` and every impersonation it started.
    pub fn logout(&self, id: &str) {
        let mut store = self.lock();
        store.sessions.remove(id);
        store.impersonations.retain(|_, i| i.session != id);
    }

    /// Starts an impersonation for `session`, ending any earlier one of that session.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &self,
        session: &str,
        admin: &str,
        tenant: Uuid,
        tenant_name: String,
        tenant_slug: String,
        reason: String,
        now: DateTime<Utc>,
    ) -> Impersonation {
        let impersonation = Impersonation {
            id: random_id(),
            session: session.to_owned(),
            admin: admin.to_owned(),
            tenant,
            tenant_name,
            tenant_slug,
            reason,
            started_at: now,
            expires_at: later(now, self.ttl),
            escalated: false,
        };
        let mut store = self.lock();
        store.impersonations.retain(|_, i| i.session != session);
        store
            .impersonations
            .insert(impersonation.id.clone(), impersonation.clone());
        impersonation
    }

    /// Impersonation `id` as stored, expired or not: callers decide with `Impersonation::allows`.
    pub fn impersonation(&self, id: &str) -> Option<Impersonation> {
        self.lock().impersonations.get(id).cloned()
    }

    /// Allows writes for impersonation `id`.
    pub fn escalate(&self, id: &str) {
        if let Some(i) = self.lock().impersonations.get_mut(id) {
            i.escalated = true;
        }
    }

    /// Ends impersonation `id`.
    pub fn end(&self, id: &str) -> Option<Impersonation> {
        self.lock().impersonations.remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impersonation_allows_only_its_session_its_tenant_and_its_time_box() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = Utc::now();
        let session = sessions.login("ops", now);
        let tenant = Uuid::new_v4();
        let imp = sessions.start(
            &session,
            "ops",
            tenant,
            "A".into(),
            "a".into(),
            "why".into(),
            now,
        );
        assert!(imp.allows(&session, tenant, now));
        assert!(!imp.allows(&session, Uuid::new_v4(), now), "another tenant");
        assert!(!imp.allows("other-session", tenant, now), "another session");
        assert!(
            !imp.allows(&session, tenant, later(now, Duration::from_secs(60))),
            "expired"
        );
        let second = sessions.start(
            &session,
            "ops",
            tenant,
            "A".into(),
            "a".into(),
            "again".into(),
            now,
        );
        assert!(
            sessions.impersonation(&imp.id).is_none(),
            "a new start ends the old one"
        );
        sessions.logout(&session);
        assert!(
            sessions.impersonation(&second.id).is_none()
                && sessions.session(&session, now).is_none()
        );
    }
}
