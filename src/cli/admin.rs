//! `tenantprobe attack admin`: arguments and report of the admin-panel impersonation checks.

use std::time::Instant;

use clap::Args;
use tenantprobe::Error;
use tenantprobe::attack::admin::{self, AdminTarget};
use tenantprobe::exit::ExitStatus;
use tenantprobe::report::Report;
use tenantprobe::rules::RuleInfo;

use super::common::{ApiTargetArgs, OutputArgs, RunFacts, create_two_tenants};

#[derive(Debug, Args)]
pub struct AttackAdminArgs {
    #[command(flatten)]
    pub target: ApiTargetArgs,
    /// Slugs of the impersonated tenant and of the other one (the spec's [tenants] decides how
    /// they are obtained).
    #[arg(long = "tenant", value_name = "SLUG", num_args = 1, default_values_t = ["tenantprobe-admin-a".to_owned(), "tenantprobe-admin-b".to_owned()])]
    pub tenants: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl AttackAdminArgs {
    pub async fn exec(self) -> Result<ExitStatus, Error> {
        let begun = Instant::now();
        let resolved = self.target.load()?;
        let spec = resolved.require_spec("attack admin")?;
        let [a, b] = self.tenants.as_slice() else {
            return Err(Error::usage(
                "attack admin takes exactly two --tenant slugs: the impersonated tenant, then another",
            ));
        };
        if a == b {
            return Err(Error::usage("the two --tenant slugs must differ"));
        }
        let api = resolved.api()?;
        let target = AdminTarget::resolve(spec, &|name| resolved.var(name))?;
        let [a, b] = create_two_tenants(&resolved, &self.tenants, &api).await?;
        let outcome = admin::check(&target, &api, &a, &b).await?;
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
            spec_file: resolved.spec_file(),
            ..RunFacts::default()
        };
        self.output.emit(Some(spec), facts, report, &mut findings)
    }
}
