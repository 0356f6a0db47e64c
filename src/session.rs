//! Limits every session on a target carries (`SessionLimits`), so that tenantprobe can neither
//! hang on a hostile target nor queue a lock in front of the application.
//!
//! They are sent as startup parameters, so they hold from the first statement and need no `SET`
//! (a session-level `SET` would outlive us on a pooled server connection). A killed process
//! leaves nothing open: an idle transaction ends after `idle_in_transaction`, a running statement
//! within `statement` (or within a second, when the server notices the closed socket through
//! `client_connection_check_interval`).

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

/// Timeouts for one database session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SessionLimits {
    /// Longest statement (`statement_timeout`).
    pub statement: Duration,
    /// Longest wait for a lock (`lock_timeout`): short, so no request of ours waits in a lock
    /// queue where it would hold up the application's requests behind it.
    pub lock: Duration,
    /// Longest idle time inside a transaction (`idle_in_transaction_session_timeout`).
    pub idle_in_transaction: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            statement: Duration::from_secs(5),
            lock: Duration::from_millis(50),
            idle_in_transaction: Duration::from_secs(10),
        }
    }
}

/// The most an attempt that takes a strong lock (TRUNCATE) may wait, even on a server tenantprobe
/// started itself.
pub const STRONG_LOCK_TIMEOUT: Duration = Duration::from_millis(50);

impl SessionLimits {
    /// `options` with these limits as startup parameters and `application_name` set to
    /// `tenantprobe/<pid>-<random>`, which names this process's sessions for
    /// `cancel_own_sessions`.
    pub fn apply(&self, options: PgConnectOptions) -> PgConnectOptions {
        let ms = |d: Duration| d.as_millis().max(1).to_string();
        options.application_name(&application_name()).options([
            ("statement_timeout", ms(self.statement)),
            ("lock_timeout", ms(self.lock)),
            (
                "idle_in_transaction_session_timeout",
                ms(self.idle_in_transaction),
            ),
            ("client_connection_check_interval", "1000".to_owned()),
        ])
    }
}

/// `tenantprobe/<pid>-<random>`: what `pg_stat_activity.application_name` shows for this
/// process. The random part keeps processes apart that share a pid on other hosts (every
/// container's first process is pid 1), so that cancelling our sessions never touches theirs.
pub fn application_name() -> String {
    static NAME: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let token = uuid::Uuid::new_v4().simple().to_string();
        format!("tenantprobe/{}-{}", std::process::id(), &token[..16])
    });
    NAME.clone()
}

/// Cancels every statement this process is running on the server at `options` (used on SIGINT
/// and SIGTERM before exiting, so that nothing of ours keeps running). Returns how many sessions
/// were signalled.
pub async fn cancel_own_sessions(options: &PgConnectOptions) -> Result<u64, sqlx::Error> {
    use sqlx::Connection;
    let mut conn =
        sqlx::PgConnection::connect_with(&options.clone().application_name("tenantprobe-cancel"))
            .await?;
    let cancelled: i64 = sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity
         WHERE application_name = $1 AND pid <> pg_backend_pid() AND state <> 'idle'",
    )
    .bind(application_name())
    .fetch_one(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(u64::try_from(cancelled).unwrap_or(0))
}

/// Whether a database error is one of these limits being hit (statement or lock timeout, or a
/// cancel), rather than the database refusing the statement.
pub fn is_timeout(sqlstate: &str) -> bool {
    // 57014 query_canceled (statement_timeout, cancel), 55P03 lock_not_available (lock_timeout).
    matches!(sqlstate, "57014" | "55P03")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_become_startup_parameters_in_milliseconds() {
        let options = SessionLimits::default().apply(PgConnectOptions::new());
        let text = format!("{options:?}");
        assert!(text.contains("statement_timeout"), "{text}");
        assert!(text.contains("5000"), "{text}");
        assert!(text.contains("lock_timeout"), "{text}");
        assert!(
            text.contains("idle_in_transaction_session_timeout"),
            "{text}"
        );
        assert_eq!(
            options.get_application_name(),
            Some(application_name().as_str())
        );
    }

    #[test]
    fn timeouts_are_told_apart_from_refusals() {
        assert!(is_timeout("57014"));
        assert!(is_timeout("55P03"));
        assert!(!is_timeout("42501"));
    }
}
