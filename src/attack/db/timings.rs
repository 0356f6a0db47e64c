//! Where an attack's time went (`Timings`): wall time per phase of the attempt loop and the round
//! trips and statements sent, summed over workers, so a benchmark can say what an attempt costs.

use std::time::{Duration, Instant};

/// Time per phase (summed over workers) and what was sent to the server.
///
/// Phases of counted cases: `begin_rollback` (opening and rolling back the case's transaction),
/// `seeding` (the world, as the observer), `planning` (steps into statements), `executing`
/// (attempts and their controls and fingerprints: round trips, mostly waiting for the server),
/// `judging` (ownership matching of what came back) and `bookkeeping` (coverage, timeouts).
/// `shrinking` is every re-run of a failing case; `startup` the worker's connection and its
/// unset-context probe; `generation` what remains of the workers' time: proptest generating
/// cases and running its loop.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub workers: Duration,
    pub startup: Duration,
    pub begin_rollback: Duration,
    pub seeding: Duration,
    pub planning: Duration,
    pub executing: Duration,
    pub judging: Duration,
    pub bookkeeping: Duration,
    pub shrinking: Duration,
    /// Round trips of attempts (statement, control, fingerprints) and case transactions; seeding
    /// is timed but its round trips are not counted here.
    pub round_trips: u64,
    /// SQL statements in those round trips.
    pub statements: u64,
    /// Attempt statements that ran from a statement prepared earlier on the same connection.
    pub prepared_hits: u64,
    /// Attempt statements prepared on first use (one PREPARE each per connection).
    pub prepared_new: u64,
    /// Attempt statements sent as literal SQL (several statements in one, or the cache full).
    pub literal: u64,
}

impl Timings {
    /// Adds another worker's timings.
    pub fn merge(&mut self, other: &Timings) {
        self.workers += other.workers;
        self.startup += other.startup;
        self.begin_rollback += other.begin_rollback;
        self.seeding += other.seeding;
        self.planning += other.planning;
        self.executing += other.executing;
        self.judging += other.judging;
        self.bookkeeping += other.bookkeeping;
        self.shrinking += other.shrinking;
        self.round_trips += other.round_trips;
        self.statements += other.statements;
        self.prepared_hits += other.prepared_hits;
        self.prepared_new += other.prepared_new;
        self.literal += other.literal;
    }

    /// Worker time not spent in any timed phase: proptest's case generation and loop.
    pub fn generation(&self) -> Duration {
        self.workers.saturating_sub(
            self.startup
                + self.begin_rollback
                + self.seeding
                + self.planning
                + self.executing
                + self.judging
                + self.bookkeeping
                + self.shrinking,
        )
    }

    /// (phase, time) in a fixed order, for reports.
    pub fn phases(&self) -> [(&'static str, Duration); 9] {
        [
            ("executing attempts", self.executing),
            ("seeding worlds", self.seeding),
            ("BEGIN and ROLLBACK per case", self.begin_rollback),
            ("planning", self.planning),
            ("judging", self.judging),
            ("coverage bookkeeping", self.bookkeeping),
            ("proptest generation and loop", self.generation()),
            ("shrinking", self.shrinking),
            ("worker startup and unset probe", self.startup),
        ]
    }
}

/// Adds the time since `start` to `slot`.
pub(crate) fn add_since(slot: &mut Duration, start: Instant) {
    *slot += start.elapsed();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_what_the_timed_phases_leave_of_the_workers_time() {
        let mut a = Timings {
            workers: Duration::from_millis(100),
            seeding: Duration::from_millis(30),
            executing: Duration::from_millis(50),
            round_trips: 7,
            ..Timings::default()
        };
        let b = a.clone();
        a.merge(&b);
        assert_eq!(a.generation(), Duration::from_millis(40));
        assert_eq!(a.round_trips, 14);
        assert_eq!(
            a.phases().iter().map(|(_, d)| *d).sum::<Duration>(),
            a.workers
        );
    }
}
