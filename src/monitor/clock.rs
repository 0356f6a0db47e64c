//! The time the monitor daemon schedules by (`Clock`): the system clock in production, a
//! `ManualClock` in tests, which fire each tick on demand instead of waiting for the wall clock
//! to reach it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// A boxed future, so that `Clock` stays object safe.
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Now, and waiting until a given time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
    /// Resolves once `now()` has reached `deadline` (at once if it already has).
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_>;
}

/// The wall clock, through tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told. `advance_to_next_sleeper` waits until someone sleeps on it
/// and moves time to their deadline: one call, one daemon tick.
#[derive(Debug)]
pub struct ManualClock {
    state: tokio::sync::watch::Sender<ManualState>,
    /// Serialises the bookkeeping of sleepers (the watch value is replaced whole).
    lock: Mutex<()>,
}

#[derive(Debug, Clone)]
struct ManualState {
    now: DateTime<Utc>,
    /// Deadlines of the sleeps in progress.
    sleepers: Vec<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        let (state, _) = tokio::sync::watch::channel(ManualState {
            now: start,
            sleepers: Vec::new(),
        });
        Self {
            state,
            lock: Mutex::new(()),
        }
    }

    /// Waits until something sleeps on this clock toward a time not reached yet, and returns the
    /// earliest such deadline. (A sleeper already woken may still be listed for a moment.)
    pub async fn sleeping(&self) -> DateTime<Utc> {
        let ahead = |s: &ManualState| s.sleepers.iter().copied().filter(|d| *d > s.now).min();
        let mut seen = self.state.subscribe();
        let state = seen.wait_for(|s| ahead(s).is_some()).await;
        // The sender lives in `self`, so the channel cannot close while we wait on it.
        state
            .ok()
            .and_then(|s| ahead(&s))
            .unwrap_or_else(|| self.now())
    }

    /// Waits until something sleeps on this clock, then moves time to the earliest deadline
    /// (waking that sleeper). Returns the new time.
    pub async fn advance_to_next_sleeper(&self) -> DateTime<Utc> {
        let deadline = self.sleeping().await;
        self.set(deadline);
        deadline
    }

    /// Moves time to `to` (never backwards).
    pub fn set(&self, to: DateTime<Utc>) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.state.send_modify(|s| s.now = s.now.max(to));
    }

    fn sleepers(&self, change: impl FnOnce(&mut Vec<DateTime<Utc>>)) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.state.send_modify(|s| change(&mut s.sleepers));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.state.borrow().now
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        /// Takes the sleeper off the list however the sleep ends (woken, or dropped by a select).
        struct Registered<'a>(&'a ManualClock, DateTime<Utc>);
        impl Drop for Registered<'_> {
            fn drop(&mut self) {
                let deadline = self.1;
                self.0.sleepers(|s| {
                    if let Some(i) = s.iter().position(|d| *d == deadline) {
                        s.swap_remove(i);
                    }
                });
            }
        }
        let mut seen = self.state.subscribe();
        Box::pin(async move {
            if seen.borrow().now >= deadline {
                return;
            }
            self.sleepers(|s| s.push(deadline));
            let _registered = Registered(self, deadline);
            let _ = seen.wait_for(|s| s.now >= deadline).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_a_sleeper_only_when_moved_to_its_deadline() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let deadline = start + chrono::Duration::seconds(5);
        let sleeper = {
            let clock = Arc::clone(&clock);
            tokio::spawn(async move { clock.sleep_until(deadline).await })
        };
        assert_eq!(clock.sleeping().await, deadline);
        clock.set(start + chrono::Duration::seconds(4));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!sleeper.is_finished(), "woke before its deadline");
        assert_eq!(clock.advance_to_next_sleeper().await, deadline);
        sleeper.await.unwrap();
        assert_eq!(clock.now(), deadline);
        // A deadline already passed does not wait, nor register.
        clock.sleep_until(start).await;
        assert!(clock.state.borrow().sleepers.is_empty());
    }
}
