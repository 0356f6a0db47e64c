//! Each command that stops before a verdict exits with the documented code of its cause: a bad
//! spec or command line 2, a target that does not answer 3. No server is needed: every address
//! here is a closed loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::commands::assert_each_exits;
use support::{repo_path, tenantprobe};

const CLOSED_DB: &str = "postgres://nobody@127.0.0.1:1/none";
const CLOSED_API: &str = "http://127.0.0.1:9";

#[test]
fn a_spec_that_does_not_parse_exits_2_for_every_command_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("broken.toml");
    std::fs::write(&spec, "name = \"x\"\n[api\n").unwrap();
    let commands: [&[&str]; 8] = [
        &["audit"],
        &["attack", "db"],
        &["attack", "http"],
        &["attack", "noisy"],
        &["attack", "admin"],
        &["cache"],
        &["monitor", "run"],
        &["monitor", "init"],
    ];
    let expected = ["error: ", "broken.toml:2:"];
    assert_each_exits(&commands, spec.to_str().unwrap(), &[], 2, &expected);
}

#[test]
fn commands_that_need_a_spec_say_so_and_exit_2() {
    for (command, name) in [
        (&["attack", "http"][..], "attack http"),
        (&["attack", "noisy"], "attack noisy"),
        (&["attack", "admin"], "attack admin"),
        (&["monitor", "canary"], "monitor"),
    ] {
        let (code, _, stderr) = tenantprobe(command, &[]);
        assert_eq!(code, 2, "{command:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{name} needs a target spec: pass --target probes/<name>.toml"
            )),
            "{command:?}: {stderr}"
        );
    }
    let (code, _, stderr) = tenantprobe(&["rules", "no-such-rule"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no rule `no-such-rule`"), "{stderr}");
}

#[test]
fn a_database_that_does_not_answer_exits_3_for_every_database_command() {
    for command in [&["audit"][..], &["attack", "db"]] {
        let mut args = command.to_vec();
        args.extend(["--database-url", CLOSED_DB, "--app-role", "app_user"]);
        let (code, _, stderr) = tenantprobe(&args, &[]);
        assert_eq!(code, 3, "{command:?}: {stderr}");
        assert!(
            stderr.contains(
                "cannot reach PostgreSQL at `postgres://nobody@127.0.0.1:1/none` (--database-url)"
            ),
            "{command:?}: {stderr}"
        );
    }
    // The same URL from the environment names its variable.
    let (code, _, stderr) = tenantprobe(
        &["audit", "--app-role", "app_user"],
        &[("DATABASE_URL", CLOSED_DB)],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("(DATABASE_URL)"), "{stderr}");
    // A URL that is not one is the user's to fix, not an unreachable server.
    let (code, _, stderr) = tenantprobe(
        &[
            "audit",
            "--database-url",
            "postgres://nobody@127.0.0.1:port/none",
            "--app-role",
            "app_user",
        ],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid database URL"), "{stderr}");
}

#[test]
fn an_api_that_does_not_answer_exits_3() {
    let spec = repo_path("tests/early-api.toml");
    let env = [
        ("EARLY_API_URL", CLOSED_API),
        ("EARLY_API_TOKEN_ALPHA", "alpha-token"),
        ("EARLY_API_TOKEN_BETA", "beta-token"),
    ];
    let (code, _, stderr) =
        tenantprobe(&["attack", "http", "--target", &spec, "--cases", "1"], &env);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("cannot reach the API at `http://127.0.0.1:9"),
        "{stderr}"
    );
    // Without the variable the spec names: a configuration error.
    let (code, _, stderr) = tenantprobe(
        &["attack", "http", "--target", &spec, "--cases", "1"],
        &env[1..],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("EARLY_API_URL is not set (the spec names it)"),
        "{stderr}"
    );
}

#[test]
fn tenants_that_cannot_be_provisioned_exit_3() {
    let spec = repo_path("probes/reference-app.toml");
    let env = [
        ("REFERENCE_APP_URL", CLOSED_API),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ("TENANTPROBE_DATABASE_URL", CLOSED_DB),
        ("TENANTPROBE_ADMIN_DATABASE_URL", CLOSED_DB),
        ("REDIS_URL", "redis://127.0.0.1:9"),
    ];
    let commands: [&[&str]; 2] = [&["attack", "http"], &["monitor", "init"]];
    let expected = "cannot provision test tenants over `TENANTPROBE_ADMIN_DATABASE_URL`";
    assert_each_exits(&commands, &spec, &env, 3, &[expected]);
}
