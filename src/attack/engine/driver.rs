//! The shared case loop (`drive`): rounds of proptest cases from fixed seeds, shrinking a failing
//! case, confirming its leaks by replay, and going on to hunt leaks of other kinds.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};

use proptest::test_runner::{
    Config, FailurePersistence, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError,
    TestRng, TestRunner,
};

use super::{Phase, PropertyEngine, Run, Settings, Signature};

/// Most cases in one proptest round: a stop or the time budget is noticed between rounds too,
/// and a round that found a leak starts the next one where it failed.
const ROUND_CASES: u64 = 1024;

#[derive(Debug)]
pub enum DriveError<E> {
    /// The engine could not go on.
    Engine(E),
    /// Proptest gave up (too many rejected cases).
    Runner(String),
}

/// What the proptest property (an `Fn`) changes while a round runs.
struct State<E: PropertyEngine> {
    /// Leaks already reported (or already known not to reproduce): not hunted again.
    known: RefCell<HashSet<Signature>>,
    run: RefCell<Run>,
    fatal: RefCell<Option<E::Error>>,
    cases_this_round: Cell<u64>,
    /// The case of this round that failed: shrinking is under way.
    failed_at: Cell<Option<u64>>,
    /// The leak that failed it.
    failing: RefCell<Option<Signature>>,
    /// Reported findings another finding would cover (`also_known_as`): (index, covering
    /// signatures). Whichever of the two is confirmed first, one finding per cause remains.
    coverable: RefCell<Vec<(usize, Vec<Signature>)>>,
}

/// Runs `settings.run.cases` cases of `engine` (fewer when stopped or out of time); `known` leaks
/// are not reported again.
pub fn drive<E: PropertyEngine>(
    engine: &E,
    settings: &Settings,
    known: HashSet<Signature>,
) -> Result<Run, DriveError<E::Error>> {
    let state = State::<E> {
        known: RefCell::new(known),
        run: RefCell::new(Run::default()),
        fatal: RefCell::new(None),
        cases_this_round: Cell::new(0),
        failed_at: Cell::new(None),
        failing: RefCell::new(None),
        coverable: RefCell::new(Vec::new()),
    };
    // Proptest wants the file's path for the whole program's life: leaked once per run.
    let regressions: Option<&'static str> = settings
        .run
        .regressions
        .as_ref()
        .map(|p| &*Box::leak(p.display().to_string().into_boxed_str()));
    let strategy = engine.strategy();
    let mut remaining = u64::from(settings.run.cases);
    let mut round: u64 = 0;
    while remaining > 0 && !settings.out_of_time() {
        state.cases_this_round.set(0);
        state.failed_at.set(None);
        *state.failing.borrow_mut() = None;
        let mut runner = runner(settings, regressions, remaining.min(ROUND_CASES), round);
        let result = runner.run(&strategy, |case| property(engine, settings, &state, &case));
        if let Some(e) = state.fatal.borrow_mut().take() {
            return Err(DriveError::Engine(e));
        }
        let consumed = state
            .failed_at
            .get()
            .unwrap_or_else(|| state.cases_this_round.get());
        remaining = remaining.saturating_sub(consumed.max(1));
        match result {
            Ok(()) => {}
            Err(TestError::Fail(_, minimal)) => {
                confirm(engine, settings, &state, &minimal).map_err(DriveError::Engine)?;
            }
            Err(TestError::Abort(reason)) => return Err(DriveError::Runner(reason.to_string())),
        }
        round += 1;
    }
    let mut run = state.run.into_inner();
    if settings.stopped() {
        run.partial = Some("interrupted".into());
    } else if run.cases < u64::from(settings.run.cases) && settings.out_of_time() {
        run.partial = Some("time budget reached".into());
    }
    Ok(run)
}

/// A runner for one round: its cases come from the seed, the round and the engine's stream.
fn runner(
    settings: &Settings,
    regressions: Option<&'static str>,
    cases: u64,
    round: u64,
) -> TestRunner {
    let config = Config {
        cases: u32::try_from(cases).unwrap_or(u32::MAX),
        max_shrink_iters: settings.max_shrink_iters,
        max_shrink_time: u32::try_from(settings.run.shrink_budget.as_millis())
            .unwrap_or(u32::MAX)
            .max(1),
        failure_persistence: regressions.map(|path| {
            Box::new(FileFailurePersistence::Direct(path)) as Box<dyn FailurePersistence>
        }),
        ..Config::default()
    };
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&settings.run.seed.to_le_bytes());
    seed[8..16].copy_from_slice(&round.to_le_bytes());
    seed[16] = settings.stream;
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
}

/// The property: no leak of a kind not yet known. Once the run is stopped or out of time, the
/// round's remaining cases pass without running (and a shrink under way ends quickly).
fn property<E: PropertyEngine>(
    engine: &E,
    settings: &Settings,
    state: &State<E>,
    case: &E::Case,
) -> Result<(), TestCaseError> {
    let shrinking = state.failed_at.get().is_some();
    if state.fatal.borrow().is_some()
        || (!shrinking && settings.out_of_time())
        || settings.stopped()
    {
        return Ok(());
    }
    if shrinking {
        if let Some(hook) = &settings.run.on_shrink {
            (hook.0)();
        }
    } else {
        state.cases_this_round.set(state.cases_this_round.get() + 1);
        state.run.borrow_mut().cases += 1;
        if let Some(hook) = &settings.run.on_case {
            (hook.0)();
        }
    }
    let phase = if shrinking {
        Phase::Shrink
    } else {
        Phase::Search
    };
    match engine.execute(case, phase) {
        Ok(leaks) => {
            let known = state.known.borrow();
            let Some(signature) = leaks
                .iter()
                .find(|l| !is_known::<E>(&known, l))
                .map(E::signature)
            else {
                return Ok(());
            };
            let message = format!("{} on {}", signature.0, signature.1);
            if !shrinking {
                state.failed_at.set(Some(state.cases_this_round.get()));
                *state.failing.borrow_mut() = Some(signature);
            }
            Err(TestCaseError::fail(message))
        }
        Err(e) => {
            *state.fatal.borrow_mut() = Some(e);
            Ok(())
        }
    }
}

/// Whether `leak`'s cause is already reported (or known not to reproduce).
fn is_known<E: PropertyEngine>(known: &HashSet<Signature>, leak: &E::Leak) -> bool {
    known.contains(&E::signature(leak)) || E::also_known_as(leak).iter().any(|s| known.contains(s))
}

/// Replays the minimal case alone `settings.replays` times and reports each new leak that
/// reproduced, with how often. A failure that never reproduces is noted as unconfirmed and not
/// hunted again. Nothing is replayed once the run is stopped.
fn confirm<E: PropertyEngine>(
    engine: &E,
    settings: &Settings,
    state: &State<E>,
    minimal: &E::Case,
) -> Result<(), E::Error> {
    if settings.stopped() {
        return Ok(());
    }
    let before = state.run.borrow().cases;
    let known = state.known.borrow().clone();
    let mut seen: BTreeMap<Signature, (E::Leak, u32)> = BTreeMap::new();
    for _ in 0..settings.replays {
        let mut this_replay = HashSet::new();
        for leak in engine.replay(minimal)? {
            let signature = E::signature(&leak);
            if is_known::<E>(&known, &leak) || !this_replay.insert(signature.clone()) {
                continue;
            }
            seen.entry(signature).or_insert((leak, 0)).1 += 1;
        }
    }
    let mut run = state.run.borrow_mut();
    let mut known = state.known.borrow_mut();
    if seen.is_empty()
        && let Some(signature) = state.failing.borrow_mut().take()
        && known.insert(signature.clone())
    {
        run.unconfirmed
            .push(format!("{} on {}", signature.0, signature.1));
    }
    for (signature, (leak, reproduced)) in seen {
        if is_known::<E>(&known, &leak) {
            continue;
        }
        known.insert(signature.clone());
        let finding = engine.finding(&leak, reproduced, settings.replays);
        let mut coverable = state.coverable.borrow_mut();
        // A leak reported earlier under another name that this one covers: one cause, one
        // finding, in the earlier one's place.
        if let Some(at) = coverable.iter().position(|(_, by)| by.contains(&signature)) {
            let (index, _) = coverable.remove(at);
            let earlier = std::mem::replace(&mut run.findings[index], finding);
            let first = run
                .first_seen
                .remove(&(earlier.rule.clone(), earlier.object))
                .unwrap_or(before);
            run.first_seen
                .insert((signature.0.to_owned(), signature.1), first);
            run.findings[index].detail = format!(
                "{} (Found as {} too.)",
                run.findings[index].detail, earlier.rule
            );
            continue;
        }
        run.first_seen
            .entry((signature.0.to_owned(), signature.1))
            .or_insert(before);
        let covering = E::also_known_as(&leak);
        if !covering.is_empty() {
            coverable.push((run.findings.len(), covering));
        }
        run.findings.push(finding);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use proptest::prelude::*;
    use proptest::strategy::BoxedStrategy;

    use super::*;
    use crate::attack::engine::RunControls;
    use crate::finding::{Category, Finding, Severity};

    /// A target whose one endpoint leaks as `leaks[n]` after `n` replays (the last one from then
    /// on): a leak that depends on state, as a pooled one does, seen under one name then another.
    struct Drifting {
        replays: Cell<usize>,
        leaks: [&'static str; 2],
    }

    impl PropertyEngine for Drifting {
        type Case = u8;
        type Leak = &'static str;
        type Error = ();

        fn strategy(&self) -> BoxedStrategy<u8> {
            any::<u8>().boxed()
        }

        fn execute(&self, _: &u8, _: Phase) -> Result<Vec<&'static str>, ()> {
            Ok(vec![self.leaks[self.replays.get().min(1)]])
        }

        fn replay(&self, case: &u8) -> Result<Vec<&'static str>, ()> {
            let leaks = self.execute(case, Phase::Shrink);
            self.replays.set(self.replays.get() + 1);
            leaks
        }

        fn signature(leak: &&'static str) -> Signature {
            (leak, "GET /x".into())
        }

        /// A plain leak covers the same endpoint's confusion leak.
        fn also_known_as(leak: &&'static str) -> Vec<Signature> {
            match *leak {
                "confusion" => vec![("plain", "GET /x".into())],
                _ => Vec::new(),
            }
        }

        fn finding(&self, leak: &&'static str, _: u32, _: u32) -> Finding {
            Finding::new(
                leak,
                Severity::High,
                Category::AttackHttp,
                "GET /x",
                "",
                "a leak",
                "leaked",
                "",
            )
        }
    }

    /// A run of 50 cases, each minimal case replayed once.
    fn run(leaks: [&'static str; 2]) -> Run {
        let settings = Settings {
            run: RunControls::new(50, 1, Duration::from_secs(1)),
            stream: 0,
            max_shrink_iters: 4,
            replays: 1,
            deadline: None,
        };
        let engine = Drifting {
            replays: Cell::new(0),
            leaks,
        };
        drive(&engine, &settings, HashSet::new()).unwrap()
    }

    fn rules(run: &Run) -> Vec<&str> {
        run.findings.iter().map(|f| f.rule.as_str()).collect()
    }

    #[test]
    fn a_covered_leak_confirmed_first_gives_way_to_the_one_that_covers_it() {
        let run = run(["confusion", "plain"]);
        assert_eq!(rules(&run), ["plain"]);
        assert!(
            run.findings[0].detail.contains("(Found as confusion too.)"),
            "{}",
            run.findings[0].detail
        );
        let first: Vec<_> = run
            .first_seen
            .keys()
            .map(|(rule, _)| rule.as_str())
            .collect();
        assert_eq!(first, ["plain"]);
    }

    #[test]
    fn a_leak_covered_by_one_already_reported_is_not_reported() {
        let run = run(["plain", "confusion"]);
        assert_eq!(rules(&run), ["plain"]);
        assert_eq!(run.findings[0].detail, "leaked");
    }
}
