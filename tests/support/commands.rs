//! Command lines shared by the CLI tests: README's documented one (`documented_db_command`) and
//! the same check over several subcommands at once (`assert_each_exits`).

/// Runs each of `commands` with `--target spec` and `env`: each must exit with `code` and say
/// every one of `expected` on stderr. A failure names the command.
pub fn assert_each_exits(
    commands: &[&[&str]],
    spec: &str,
    env: &[(&str, &str)],
    code: i32,
    expected: &[&str],
) {
    for command in commands {
        let mut args = command.to_vec();
        args.extend(["--target", spec]);
        let (exit, _, stderr) = super::tenantprobe(&args, env);
        assert_eq!(exit, code, "{command:?}: {stderr}");
        for text in expected {
            assert!(stderr.contains(text), "{command:?}: {stderr}");
        }
    }
}

/// README's documented command line for subcommand `words` (`audit`, `attack db`) on the database
/// `url`, then `rest`.
pub fn documented_db_command<'a>(
    words: &[&'a str],
    url: &'a str,
    rest: &[&'a str],
) -> Vec<&'a str> {
    let documented = [
        "--tenant-column",
        "tenant_id",
        "--tenant-setting",
        "app.current_tenant",
        "--format",
        "json",
    ];
    super::db_command(words, url, &[&documented[..], rest].concat())
}
