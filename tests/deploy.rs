//! `deploy/`: every manifest and workflow is valid YAML; every tenantprobe command line in them is
//! one the CLI accepts; the alerting rules use only metrics tenantprobe exports, pass
//! `promtool check rules`, and their unit tests (`alerts_test.yml`) pass.
//!
//! promtool comes from Debian's `prometheus` package. Where it is missing the promtool test says
//! so and passes, unless TENANTPROBE_REQUIRE_TOOLS=1 (as in CI), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use std::time::Duration;

use serde_norway::Value;
use tenantprobe::monitor::{Check, CheckResult, CycleReport, Found};

fn files(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from(support::repo_path(dir))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| {
            <Value as serde::Deserialize>::deserialize(d)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

/// Every `args` list of a container that runs tenantprobe, every `run: tenantprobe …` line and
/// every `command` given to the tenantprobe action.
fn command_lines(value: &Value, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Mapping(map) => {
            let image = map.get("image").and_then(Value::as_str).unwrap_or("");
            if image.contains("tenantprobe")
                && let Some(Value::Sequence(args)) = map.get("args")
            {
                out.push(
                    args.iter()
                        .map(|a| a.as_str().unwrap().to_owned())
                        .collect(),
                );
            }
            // The tenantprobe action's `command` input.
            let uses = map.get("uses").and_then(Value::as_str).unwrap_or("");
            if uses.starts_with("tenantprobe/tenantprobe@")
                && let Some(command) = map
                    .get("with")
                    .and_then(|w| w.get("command"))
                    .and_then(Value::as_str)
            {
                out.push(command.split_whitespace().map(str::to_owned).collect());
            }
            if let Some(run) = map.get("run").and_then(Value::as_str) {
                for line in run.lines() {
                    if let Some(rest) = line.trim().strip_prefix("tenantprobe ") {
                        out.push(rest.split_whitespace().map(str::to_owned).collect());
                    }
                }
            }
            map.values().for_each(|v| command_lines(v, out));
        }
        Value::Sequence(items) => items.iter().for_each(|v| command_lines(v, out)),
        _ => {}
    }
}

#[test]
fn every_manifest_parses_and_every_command_line_in_it_is_accepted() {
    let paths = files("deploy");
    assert!(paths.len() >= 5, "{paths:?}");
    let mut lines = Vec::new();
    for path in &paths {
        for doc in documents(path) {
            command_lines(&doc, &mut lines);
        }
    }
    let subcommands: std::collections::HashSet<String> = lines
        .iter()
        .map(|l| l[..2.min(l.len())].join(" "))
        .collect();
    for expected in [
        "audit --target",
        "attack db",
        "monitor serve",
        "monitor run",
        "monitor canary",
        "monitor init",
    ] {
        assert!(
            subcommands.contains(expected),
            "{expected} in deploy/: {subcommands:?}"
        );
    }
    for line in &lines {
        // Point --target at a file that does not exist: the command line parses (no usage
        // error), and then the missing spec is reported.
        let mut args: Vec<&str> = line.iter().map(String::as_str).collect();
        if let Some(i) = args.iter().position(|a| *a == "--target") {
            args[i + 1] = "/nonexistent/target.toml";
        }
        let (code, _, stderr) = support::tenantprobe(&args, &[]);
        assert!(
            !stderr.contains("Usage:") && !stderr.contains("unexpected argument"),
            "{args:?} is not a valid command line: {stderr}"
        );
        assert_ne!(code, 0, "{args:?}");
    }
}

#[test]
fn the_alert_rules_use_only_exported_metrics() {
    let rules =
        std::fs::read_to_string(support::repo_path("deploy/prometheus/alerts.yml")).unwrap();
    // Every series, as after one cycle (some appear only once a surface has been checked).
    let metrics = tenantprobe::monitor::metrics::Metrics::new(&["a".into(), "b".into()]);
    metrics.record(&CycleReport {
        results: Check::ALL
            .into_iter()
            .map(|check| CheckResult {
                synthetic_tenant: "a".into(),
                check,
                found: Found::default(),
                error: None,
                duration: Duration::from_millis(1),
            })
            .collect(),
        elapsed: Duration::from_millis(5),
    });
    let exported = metrics.render();
    let mut used = 0;
    for doc in documents(Path::new(&support::repo_path(
        "deploy/prometheus/alerts.yml",
    ))) {
        for group in doc["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                let expr = rule["expr"].as_str().unwrap();
                for name in expr
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| w.starts_with("tenantprobe_"))
                {
                    used += 1;
                    assert!(
                        exported.contains(&format!("# TYPE {name} ")),
                        "{name} (in `{expr}`) is not exported"
                    );
                }
            }
        }
    }
    assert!(used >= 4, "{rules}");
}

#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "needs promtool: apt-get install prometheus"
)]
fn promtool_accepts_the_alert_rules_and_their_unit_tests_pass() {
    let promtool = tenantprobe_testkit::servers::find_program("promtool")
        .expect("promtool is missing: apt-get install prometheus");
    let dir = support::repo_path("deploy/prometheus");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let out = std::process::Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
