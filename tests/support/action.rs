//! Runs the shell steps of the composite action (`action.yml`) on this machine as a GitHub runner
//! would (`Runner`): `bash --noprofile --norc -eo pipefail`, the step's `env` with `${{ … }}`
//! expressions resolved from the inputs (or their defaults) and earlier steps' outputs, and the
//! runner's files (`GITHUB_OUTPUT`, `GITHUB_PATH`, `GITHUB_STEP_SUMMARY`) read back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_norway::Value;

fn repo(relative: &str) -> String {
    format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"))
}

pub fn action() -> Value {
    let text = std::fs::read_to_string(repo("action.yml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

/// One job's worth of runner state.
pub struct Runner {
    pub action: Value,
    pub inputs: BTreeMap<String, String>,
    /// Outputs by step id.
    pub outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// Directories steps added with `GITHUB_PATH`, latest first.
    pub path: Vec<PathBuf>,
    pub summary: String,
    pub temp: tempfile::TempDir,
    /// Extra environment, as the workflow's `env` would give.
    pub env: Vec<(String, String)>,
    /// The working directory (the workspace); a scratch directory unless set.
    pub workdir: Option<PathBuf>,
}

pub struct StepRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Runner {
    pub fn new(inputs: &[(&str, &str)]) -> Self {
        let action = action();
        let mut values = BTreeMap::new();
        for (name, spec) in action["inputs"].as_mapping().unwrap() {
            if let Some(default) = spec.get("default").and_then(Value::as_str) {
                values.insert(name.as_str().unwrap().to_owned(), default.to_owned());
            }
        }
        for (k, v) in inputs {
            assert!(
                action["inputs"].get(*k).is_some(),
                "`{k}` is not an input of action.yml"
            );
            values.insert((*k).to_owned(), (*v).to_owned());
        }
        Runner {
            action,
            inputs: values,
            outputs: BTreeMap::new(),
            path: Vec::new(),
            summary: String::new(),
            temp: tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap(),
            env: Vec::new(),
            workdir: None,
        }
    }

    /// Resolves the expressions the action uses; anything else is a test failure, so the
    /// action's expressions stay this simple.
    pub fn resolve(&self, value: &str) -> String {
        let mut out = String::new();
        let mut rest = value;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").unwrap() + start;
            let expr = rest[start + 3..end].trim();
            let parts: Vec<&str> = expr.split('.').collect();
            let resolved = match parts.as_slice() {
                ["inputs", name] => self.inputs.get(*name).cloned().unwrap_or_default(),
                ["steps", id, "outputs", name] => self
                    .outputs
                    .get(*id)
                    .and_then(|o| o.get(*name))
                    .cloned()
                    .unwrap_or_default(),
                _ => panic!("unsupported expression `{expr}` in action.yml"),
            };
            out.push_str(&resolved);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    pub fn step(&self, id: &str) -> &Value {
        self.action["runs"]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|s| s.get("id").and_then(Value::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no step `{id}` in action.yml"))
    }

    /// Runs the shell step `id`; its outputs are kept for the steps after it.
    pub fn run(&mut self, id: &str) -> StepRun {
        let step = self.step(id).clone();
        assert_eq!(step["shell"].as_str(), Some("bash"), "step {id}");
        let script = step["run"].as_str().unwrap();
        let dir = self.temp.path().join(format!("step-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (output, path, summary) = (dir.join("output"), dir.join("path"), dir.join("summary"));
        for f in [&output, &path, &summary] {
            std::fs::write(f, "").unwrap();
        }
        let script_file = dir.join("script.sh");
        std::fs::write(&script_file, script).unwrap();
        let runner_temp = self.temp.path().join("runner-temp");
        std::fs::create_dir_all(&runner_temp).unwrap();
        let system_path = std::env::var("PATH").unwrap_or_default();
        let search: Vec<String> = self
            .path
            .iter()
            .map(|p| p.display().to_string())
            .chain([system_path])
            .collect();
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_file)
            .current_dir(self.workdir.as_deref().unwrap_or(self.temp.path()))
            .env("PATH", search.join(":"))
            .env("GITHUB_ACTION_PATH", env!("CARGO_MANIFEST_DIR"))
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_PATH", &path)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("RUNNER_TEMP", &runner_temp)
            .env("RUNNER_TOOL_CACHE", self.temp.path().join("tool-cache"))
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("GITHUB_ACTIONS", "true")
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(env) = step.get("env").and_then(Value::as_mapping) {
            for (k, v) in env {
                cmd.env(k.as_str().unwrap(), self.resolve(v.as_str().unwrap()));
            }
        }
        let out = cmd.output().unwrap();
        let mut outputs = BTreeMap::new();
        for line in std::fs::read_to_string(&output).unwrap().lines() {
            let (k, v) = line.split_once('=').unwrap();
            outputs.insert(k.to_owned(), v.to_owned());
        }
        self.outputs.insert(id.to_owned(), outputs);
        for line in std::fs::read_to_string(&path).unwrap().lines().rev() {
            self.path.insert(0, PathBuf::from(line));
        }
        self.summary
            .push_str(&std::fs::read_to_string(&summary).unwrap());
        StepRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn output(&self, id: &str, name: &str) -> Option<&str> {
        self.outputs.get(id)?.get(name).map(String::as_str)
    }
}
