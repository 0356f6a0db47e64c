//! `tenantprobe attack admin`: arguments and report of the admin-panel impersonation checks.

use std::time::Instant;

use clap::Args;
use tenantprobe::attack::admin::{self, AdminTarget};
use tenantprobe::exit::ExitStatus;
use tenantprobe::report::Report;
use tenantprobe::rules::RuleInfo;
use tenantprobe::target::{HttpTarget, obtain_tenants};

use super::common::{OutputArgs, RunFacts, TargetArgs};

#[derive(Debug, Args)]
pub struct AttackAdminArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Override the API's base URL (instead of the variable the spec names).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Slugs of the impersonated tenant and of the other one (the spec's [tenants] decides how
    /// they are obtained).
    #[arg(long = "tenant", value_name = "SLUG", num_args = 1, default_values_t = ["tenantprobe-admin-a".to_owned(), "tenantprobe-admin-b".to_owned()])]
    pub tenants: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl AttackAdminArgs {
    pub async fn exec(self) -> anyhow::Result<ExitStatus> {
        let begun = Instant::now();
        let spec = self.target.load()?.ok_or_else(|| {
            anyhow::anyhow!("attack admin needs a target spec: pass --target probes/<name>.toml")
        })?;
        let [a, b] = self.tenants.as_slice() else {
            anyhow::bail!(
                "attack admin takes exactly two --tenant slugs: the impersonated tenant, then another"
            );
        };
        anyhow::ensure!(a != b, "the two --tenant slugs must differ");
        let env = super::common::api_env(&spec, self.base_url.clone());
        let api = HttpTarget::resolve(&spec, &env)?;
        let target = AdminTarget::resolve(&spec, &env)?;
        let tenants = obtain_tenants(
            &spec,
            &env,
            &self.tenants,
            &reqwest::Client::new(),
            Some(&api),
        )
        .await?;
        let [a, b] = tenants.as_slice() else {
            anyhow::bail!("expected two tenants, got {}", tenants.len());
        };
        let outcome = match admin::check(&target, &api, a, b).await {
            Err(admin::AdminError::Unreachable { url, cause }) => {
                return Err(tenantprobe::unreachable::Unreachable {
                    what: "the admin panel",
                    url,
                    variable: "the spec's [admin] base_url_env (or [api]'s) or --base-url",
                    reason: cause,
                }
                .into());
            }
            other => other?,
        };
        let mut notes = vec![format!(
            "{}: impersonating `{}`, `{}` as the other tenant; {} requests",
            tenantprobe::redact::redact(&target.base_url),
            a.slug,
            b.slug,
            outcome.requests
        )];
        notes.extend(outcome.examined.iter().map(|e| format!("checked: {e}")));
        notes.extend(outcome.skipped.iter().map(|s| format!("NOT checked: {s}")));
        let rules: Vec<&'static RuleInfo> = admin::RULES.to_vec();
        let mut findings = outcome.findings;
        let report = Report::new("attack admin", &spec.name, &rules, begun.elapsed(), &notes);
        let facts = RunFacts {
            spec_file: self.target.target.as_deref(),
            ..RunFacts::default()
        };
        self.output.emit(Some(&spec), facts, report, &mut findings)
    }
}
