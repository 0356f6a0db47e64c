//! `tenantprobe demo`: hands over to the `tenantprobe-demo` binary (the `demo/` crate of the source
//! tree), which the published tool does not carry.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Args;
use tenantprobe::exit::ExitStatus;

/// The command that builds and runs the demo from a source checkout.
pub const HOW_TO_RUN: &str = "cargo run --release -p tenantprobe-demo";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Passed on to `tenantprobe-demo` (`--fault NAME`, `--pooler pgbouncer`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "DEMO ARGS"
    )]
    pub args: Vec<OsString>,
}

impl DemoArgs {
    /// Replaces this process with `tenantprobe-demo` from this binary's directory (where cargo
    /// builds both); when it is not there, says how to get it (exit 2).
    pub fn exec(self) -> anyhow::Result<ExitStatus> {
        let demo = beside_this_binary("tenantprobe-demo");
        let Some(demo) = demo.filter(|p| p.is_file()) else {
            anyhow::bail!(
                "the demo is not part of the installed tool: from a source checkout run `{HOW_TO_RUN}`"
            );
        };
        let mut command = std::process::Command::new(&demo);
        if super::ui::quiet() {
            command.arg("--quiet");
        }
        command.args(self.args);
        use std::os::unix::process::CommandExt;
        let error = command.exec();
        anyhow::bail!("cannot run `{}`: {error}", demo.display())
    }
}

fn beside_this_binary(name: &str) -> Option<PathBuf> {
    Some(std::env::current_exe().ok()?.parent()?.join(name))
}
