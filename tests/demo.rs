//! `tenantprobe demo` end to end, as a user runs it: the real binary, exit code and report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn demo_runs_end_to_end_and_reports_every_check_passed() {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantprobe"))
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for step in [
        "PASS database isolation sweep",
        "PASS catalog audit",
        "PASS database attack",
        "PASS API attack",
        "PASS cache check",
        "PASS monitor cycle",
    ] {
        assert!(stdout.contains(step), "{step} missing:\n{stdout}");
    }
    assert!(stdout.contains("tenants are isolated"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn demo_with_a_fault_fails_the_step_that_catches_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantprobe"))
        .args(["demo", "--fault", "global-cache-key"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for line in [
        "PASS catalog audit",
        "FAIL cache check",
        "FAIL monitor cycle",
        "[cache-key-not-namespaced]",
        "[cache-cross-tenant-response]",
        "WITH DELIBERATE FAULTS: global-cache-key",
    ] {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
    }
}
