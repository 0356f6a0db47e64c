//! `tenantprobe-demo` end to end, as a user runs it: the real binary, exit code and report;
//! steps appear as they run, not all at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_runs_end_to_end_and_reports_every_check_passed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantprobe-demo"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let begun = Instant::now();
    // Each stdout line with when it arrived.
    let mut lines: Vec<(Duration, String)> = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        lines.push((begun.elapsed(), line.unwrap()));
    }
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    let status = child.wait().unwrap();
    let stdout: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    assert_eq!(
        status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // Live: the first step's verdict arrives well before the last one's (not all at exit), and
    // each step is announced before its verdict.
    let at = |text: &str| {
        lines
            .iter()
            .find(|(_, l)| l.contains(text))
            .unwrap_or_else(|| panic!("{text} missing:\n{stdout}"))
            .0
    };
    let first = at("PASS database isolation sweep");
    let last = at("PASS monitor cycle");
    assert!(
        last - first > Duration::from_millis(500),
        "steps were printed together ({first:?}, {last:?})"
    );
    assert!(at("     catalog audit…") <= at("PASS catalog audit"));
    // Not a terminal: no ANSI escapes on either stream, and no line runs past 100 columns.
    assert!(!stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'));
    assert!(
        lines.iter().all(|(_, l)| l.chars().count() <= 100),
        "unwrapped lines:\n{stdout}"
    );
    for step in [
        "PASS database isolation sweep",
        "PASS catalog audit",
        "PASS database attack",
        "PASS API attack",
        "PASS cache check",
        "PASS monitor cycle",
        "PASS admin panel",
        "PASS premium tier",
    ] {
        assert!(stdout.contains(step), "{step} missing:\n{stdout}");
    }
    assert!(stdout.contains("tenants are isolated"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

/// `tenantprobe demo --fault FAULT`: it must exit with 1 (findings) and print every one of
/// `lines`. Returns its stdout, lines re-joined (long lines wrap at 100 columns off a terminal).
fn demo_with_fault_fails_printing(fault: &str, lines: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantprobe-demo"))
        .args(["--fault", fault])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for line in lines {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
    }
    stdout
}

#[test]
fn demo_with_promote_leftovers_fails_only_the_premium_tier() {
    demo_with_fault_fails_printing(
        "promote-leftovers",
        &[
            "PASS API attack",
            "PASS monitor cycle",
            "PASS admin panel",
            "FAIL premium tier",
            "[tenant-data-misplaced]",
        ],
    );
}

#[test]
fn demo_with_a_fault_fails_the_step_that_catches_it() {
    let stdout = demo_with_fault_fails_printing(
        "global-cache-key",
        &[
            "PASS catalog audit",
            "FAIL cache check",
            "FAIL monitor cycle",
            "[cache-key-not-namespaced]",
            "[cache-cross-tenant-response]",
            "WITH DELIBERATE FAULTS: global-cache-key",
        ],
    );
    // Each finding once, with the fingerprint a waiver needs.
    let fingerprints: Vec<&str> = stdout
        .split("fingerprint ")
        .skip(1)
        .map(|rest| &rest[..16])
        .collect();
    assert!(!fingerprints.is_empty());
    let mut distinct = fingerprints.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), fingerprints.len(), "{stdout}");
}

#[test]
fn demo_with_impersonation_unlogged_fails_only_the_admin_panel() {
    demo_with_fault_fails_printing(
        "impersonation-unlogged",
        &[
            "PASS API attack",
            "PASS monitor cycle",
            "FAIL admin panel",
            "PASS premium tier",
            "[admin-impersonation-unlogged]",
        ],
    );
}

/// A missing server binary is a clear message and exit code 2, not a panic.
#[test]
fn demo_without_server_binaries_fails_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantprobe-demo"))
        .env("PATH", "/nonexistent")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // pg_config and /usr/lib/postgresql may still be found; then it is Redis that is missing.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("install the Debian package"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The markers the kit seeds are the ones the tool derives for the same slugs (the kit does not
/// depend on the tool, so each has its own `marker_for`).
#[test]
fn the_kit_and_the_tool_derive_the_same_canary_markers() {
    for slug in ["acme", "globex", "initech", "tp-canary-a", ""] {
        assert_eq!(
            tenantprobe_testkit::synthetic::marker_for(slug),
            tenantprobe::marker::marker_for(slug)
        );
    }
}
