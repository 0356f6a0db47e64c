//! One property engine for `attack db` and `attack http` (`PropertyEngine`, run by `drive`).
//!
//! An engine knows its target: how to seed a world, which cases to generate, how to run and judge
//! one case, and how to replay a minimal case alone. The driver owns everything the two attacks
//! have in common, so they cannot drift apart: the proptest case loop with fixed seeds, the time
//! budget and the stop flag (a partial run says so), shrinking within a per-finding budget,
//! confirmation by replay, one finding per (rule, object), cases to first detection, progress.

mod driver;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use proptest::strategy::BoxedStrategy;

pub use driver::{DriveError, drive};

use crate::finding::Finding;

/// What makes two leaks the same finding: (rule id, object).
pub type Signature = (&'static str, String);

pub use crate::progress::ProgressHook;

/// Why a case runs: to search for a leak (its work counts in coverage), or while shrinking one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Search,
    Shrink,
}

/// One target's side of a property-based attack. Methods take `&self` because proptest's
/// property is an `Fn`: an engine keeps what it tallies (coverage, timings) in cells.
pub trait PropertyEngine {
    /// A world and a sequence of steps, as proptest generates and shrinks it.
    type Case: Clone + std::fmt::Debug;
    /// One leak, with what its reproducer needs.
    type Leak;
    /// What stops the run (the target went away); the engine absorbs what only spoils one case.
    type Error;

    /// The case generator.
    fn strategy(&self) -> BoxedStrategy<Self::Case>;

    /// Seeds the case's world, runs its steps, judges every answer and cleans up; the leaks seen.
    fn execute(&self, case: &Self::Case, phase: Phase) -> Result<Vec<Self::Leak>, Self::Error>;

    /// Runs a minimal case again, alone, before its leaks are reported.
    fn replay(&self, case: &Self::Case) -> Result<Vec<Self::Leak>, Self::Error>;

    fn signature(leak: &Self::Leak) -> Signature;

    /// Other findings that, once reported, cover this leak's cause too (none by default).
    fn also_known_as(_leak: &Self::Leak) -> Vec<Signature> {
        Vec::new()
    }

    /// The finding for a confirmed leak, seen in `reproduced` of `replays` replays.
    fn finding(&self, leak: &Self::Leak, reproduced: u32, replays: u32) -> Finding;
}

/// One test case: the world to seed and the steps to run in it, generated and shrunk together.
#[derive(Debug, Clone)]
pub struct Case<W, S> {
    pub world: W,
    pub steps: Vec<S>,
}

/// `n` per second of `elapsed` (throughput figures).
pub fn per_second(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// What every property run is given, whichever engine runs it: how many cases from which seed,
/// how long it may take, where failing seeds are kept, and how it reports progress and is stopped.
#[derive(Debug, Clone)]
pub struct RunControls {
    /// Test cases in all.
    pub cases: u32,
    /// Seed of the case generator: the same seed replays the same cases.
    pub seed: u64,
    /// No case starts after this long; the run is then partial.
    pub time_budget: Option<Duration>,
    /// Time spent shrinking one failing case, at most: the finding is reported with the smallest
    /// case found by then.
    pub shrink_budget: Duration,
    /// Where proptest keeps the seeds of failing cases, replayed first on later runs.
    pub regressions: Option<PathBuf>,
    /// Set from outside (SIGINT, SIGTERM): the case under way ends, the run is then partial.
    pub stop: Option<Arc<AtomicBool>>,
    /// Called after every case (progress bars).
    pub on_case: Option<ProgressHook>,
    /// Called before every shrinking step, so progress shows the run is not stuck.
    pub on_shrink: Option<ProgressHook>,
}

impl RunControls {
    /// `cases` cases from `seed`, with no time budget, no regressions file, no hooks, and
    /// `shrink_budget` per failing case.
    pub fn new(cases: u32, seed: u64, shrink_budget: Duration) -> Self {
        Self {
            cases,
            seed,
            time_budget: None,
            shrink_budget,
            regressions: None,
            stop: None,
            on_case: None,
            on_shrink: None,
        }
    }

    pub fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }
}

/// How the driver runs an engine: the run's controls (`cases` and `seed` this driver's share)
/// and what the engine decides.
#[derive(Debug, Clone)]
pub struct Settings {
    pub run: RunControls,
    /// Byte 16 of the generator's seed: keeps the engines' case streams apart for one seed.
    pub stream: u8,
    /// Shrinking steps per failing case, at most.
    pub max_shrink_iters: u32,
    /// Times a minimal case is replayed alone; a leak seen in none of them is not reported.
    pub replays: u32,
    /// No case starts after this (the run's time budget, from when the whole run began).
    pub deadline: Option<Instant>,
}

impl Settings {
    pub fn stopped(&self) -> bool {
        self.run.stopped()
    }

    pub fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d) || self.stopped()
    }
}

/// What a driven run found.
#[derive(Debug, Default)]
pub struct Run {
    pub findings: Vec<Finding>,
    /// Test cases run (shrinking and replays not counted).
    pub cases: u64,
    /// Per finding (rule, object): test cases run before it was first seen.
    pub first_seen: BTreeMap<(String, String), u64>,
    /// Leaks seen once that did not reproduce when replayed alone (`rule on object`).
    pub unconfirmed: Vec<String>,
    /// Why the run ended before its cases were all run (`interrupted`, `time budget reached`).
    pub partial: Option<String>,
}
