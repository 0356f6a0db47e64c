//! The demo with PgBouncer between the reference app and PostgreSQL: clean, and with the
//! session-context leak caught through the pooler.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reference_app::faults::Fault;
use tenantprobe_demo::{self as demo, DemoOptions, Pooler};

#[tokio::test]
async fn the_demo_runs_through_pgbouncer_and_catches_the_leak_there() {
    let clean = demo::run(DemoOptions {
        pooler: Some(Pooler::PgBouncer),
        ..DemoOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        clean
            .environment
            .iter()
            .any(|l| l.contains("PgBouncer (transaction mode)")),
        "{:#?}",
        clean.environment
    );
    let pooled = clean
        .steps
        .iter()
        .find(|s| s.name == "pooled connections")
        .expect("a pooled-connections step");
    assert!(
        clean.steps.iter().all(|s| s.passed) && clean.findings.is_empty(),
        "{:#?} {:#?}",
        clean.steps,
        clean.findings
    );
    assert!(
        pooled.summary.contains("through PgBouncer"),
        "{}",
        pooled.summary
    );

    let faulty = demo::run(DemoOptions {
        pooler: Some(Pooler::PgBouncer),
        faults: [Fault::SessionContextLeak].into_iter().collect(),
        ..DemoOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let failed: Vec<&str> = faulty
        .steps
        .iter()
        .filter(|s| !s.passed)
        .map(|s| s.name.as_str())
        .collect();
    assert!(
        failed.contains(&"pooled connections") && failed.contains(&"API attack"),
        "{failed:?}"
    );
    assert!(
        faulty
            .findings
            .iter()
            .any(|f| f.rule == "pooled-context-leak"),
        "{:#?}",
        faulty.findings
    );
}
