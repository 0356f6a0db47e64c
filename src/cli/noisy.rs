//! `tenantprobe attack noisy`: arguments and report of the noisy-neighbour probe.

use std::time::{Duration, Instant};

use clap::Args;
use tenantprobe::Error;
use tenantprobe::attack::noisy::{self, NoisySpec, ms};
use tenantprobe::exit::ExitStatus;
use tenantprobe::report::Report;
use tenantprobe::rules::RuleInfo;
use tenantprobe::target::{HttpTarget, process_env};

use super::common::{ApiTargetArgs, OutputArgs, RunFacts, create_two_tenants};

#[derive(Debug, Args)]
pub struct AttackNoisyArgs {
    #[command(flatten)]
    pub target: ApiTargetArgs,
    /// Most requests the noisy tenant sends [default: the spec's `noisy.requests`, else 2000].
    #[arg(long)]
    pub requests: Option<u32>,
    /// Longest the noisy tenant sends, e.g. `5s` [default: the spec's `noisy.duration`, else 10s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Requests the noisy tenant keeps in flight [default: the spec's, else 16].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: Option<u32>,
    /// Slugs of the noisy tenant and of the victim (the spec's [tenants] decides how they are
    /// obtained).
    #[arg(long = "tenant", value_name = "SLUG", num_args = 1, default_values_t = ["tenantprobe-noisy".to_owned(), "tenantprobe-victim".to_owned()])]
    pub tenants: Vec<String>,
    /// Allow a target that is not on this machine (a staging or canary deployment). This command
    /// generates load: never point it at production.
    #[arg(long)]
    pub allow_remote: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl AttackNoisyArgs {
    pub async fn exec(self) -> Result<ExitStatus, Error> {
        let begun = Instant::now();
        let resolved = self.target.load()?;
        let spec = resolved.require_spec("attack noisy")?;
        if self.tenants.len() != 2 {
            return Err(Error::usage(
                "attack noisy takes exactly two --tenant slugs: the noisy tenant, then the victim",
            ));
        }
        let mut settings: NoisySpec = spec.noisy.clone().unwrap_or_default();
        if let Some(n) = self.requests {
            settings.requests = n;
        }
        if let Some(d) = self.duration {
            settings.duration = d;
        }
        if let Some(c) = self.concurrency {
            settings.concurrency = c;
        }
        settings.validate().map_err(Error::failed)?;
        let target = resolved.api()?;
        // The load goes to loopback or to the spec's own URL, never to one typed on the command
        // line: --allow-remote opens the spec's target, not any host.
        if self.target.base_url.is_some()
            && !self.is_specs_url(spec, &target)
            && noisy::check_host(&target, false).is_err()
        {
            let variable = spec.api.as_ref().map_or("", |a| a.base_url_env.as_str());
            return Err(Error::usage(format!(
                "`{}` is neither on this machine nor the spec's API URL (`{variable}`): attack noisy sends load only to loopback or to the URL the spec names; for a staging target set `{variable}` and pass --allow-remote",
                target.base_url
            )));
        }
        noisy::check_host(&target, self.allow_remote).map_err(Error::failed)?;
        let [noisy_tenant, victim] = create_two_tenants(&resolved, &self.tenants, &target).await?;
        let outcome = noisy::noisy(&target, &noisy_tenant, &victim, &settings)
            .await
            .map_err(Error::failed)?;
        let notes = vec![
            format!(
                "{} {}: `{}` sends at most {} requests for at most {} ({} in flight) while `{}` measures",
                target.base_url,
                outcome.endpoint,
                noisy_tenant.slug,
                settings.requests,
                humantime::format_duration(settings.duration),
                settings.concurrency,
                victim.slug
            ),
            format!("victim alone:        {}", outcome.baseline.describe()),
            format!("victim under load:   {}", outcome.loaded.describe()),
            format!(
                "noisy tenant:        {} requests in {:.1} s ({:.0}/s), {} answered 429 ({:.1} %), {} errors",
                outcome.load.sent,
                outcome.load.elapsed.as_secs_f64(),
                outcome.load.rate(),
                outcome.load.throttled,
                outcome.load.throttled_share() * 100.0,
                outcome.load.errors
            ),
            format!(
                "margins: p99 at most ×{:.1} or +{} over the baseline, error rate +{:.1} points; at least {:.0} % of the noisy load answered 429",
                1.0 + settings.p99_margin,
                ms(settings.min_slowdown),
                settings.error_margin * 100.0,
                settings.min_throttled_share * 100.0
            ),
        ];
        let rules: Vec<&'static RuleInfo> = noisy::RULES.to_vec();
        let stats = outcome.stats(&settings);
        let mut findings = outcome.findings;
        let report = Report {
            stats: Some(stats),
            ..Report::new("attack noisy", &spec.name, &rules, begun.elapsed(), &notes)
        };
        let facts = RunFacts {
            spec_file: resolved.spec_file(),
            ..RunFacts::default()
        };
        self.output.emit(Some(spec), facts, report, &mut findings)
    }
}

impl AttackNoisyArgs {
    /// Whether the resolved base URL is the one the spec's variable names.
    fn is_specs_url(&self, spec: &tenantprobe::spec::Spec, target: &HttpTarget) -> bool {
        spec.api
            .as_ref()
            .and_then(|api| process_env(&api.base_url_env))
            .and_then(|url| url.parse::<reqwest::Url>().ok())
            .is_some_and(|url| url == target.base_url)
    }
}
