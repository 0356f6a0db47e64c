//! `tenantprobe audit`.

use std::time::Instant;

use clap::Args;
use tenantprobe::exit::ExitStatus;
use tenantprobe::report::Report;
use tenantprobe::rules::RuleInfo;

use super::common::{DatabaseArgs, OutputArgs, TargetArgs};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl AuditArgs {
    pub async fn exec(self) -> anyhow::Result<ExitStatus> {
        let begun = Instant::now();
        let spec = self.target.load()?;
        let db = self.database.resolve(spec.as_ref())?;
        let options = db.options().await?;
        let outcome = tenantprobe::audit::audit_parallel(&options, &db.tenancy).await?;
        let rules: Vec<&'static RuleInfo> = tenantprobe::audit::rules::RULES
            .iter()
            .map(|r| &r.info)
            .collect();
        let notes = vec![
            format!(
                "app role `{}`, tenant column `{}`, setting `{}`, schemas {}, tenants table {}",
                db.tenancy.app_role,
                db.tenancy.tenant_column,
                db.tenancy.tenant_setting,
                db.tenancy.schemas.join(", "),
                match (&db.tenancy.tenants_table, &outcome.tenants_table) {
                    (Some(t), _) => format!("`{t}`"),
                    (None, Some(t)) => format!("`{t}` (inferred from foreign keys)"),
                    (None, None) => "none".to_owned(),
                }
            ),
            format!(
                "{} relations ({} hold tenant data), {} policies, {} functions; catalog read in {} ms, {} rules in {} ms",
                outcome.relations,
                outcome.tenant_relations,
                outcome.policies,
                outcome.functions,
                outcome.snapshot_time.as_millis(),
                rules.len(),
                outcome.rules_time.as_millis()
            ),
        ];
        let target = spec.as_ref().map_or_else(
            || tenantprobe::servers::without_credentials(&db.url),
            |s| s.name.clone(),
        );
        let mut findings = outcome.findings;
        let report = Report {
            command: "audit",
            target: &target,
            findings: &[],
            rules: &rules,
            duration: begun.elapsed(),
            notes: &notes,
            stats: None,
        };
        self.output.emit(spec.as_ref(), report, &mut findings)
    }
}
