//! `tenantprobe audit`.

use std::time::Instant;

use clap::Args;
use tenantprobe::exit::ExitStatus;
use tenantprobe::report::Report;
use tenantprobe::rules::RuleInfo;

use super::common::{DatabaseArgs, OutputArgs, RunFacts, TargetArgs};

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
        let options = db.checked_options().await?;
        let outcome = tenantprobe::audit::audit_parallel(&options, &db.tenancy).await?;
        let mut rules: Vec<&'static RuleInfo> = tenantprobe::audit::rules::RULES
            .iter()
            .map(|r| &r.info)
            .collect();
        let mut notes = vec![
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
        if let Some(premium) = super::premium::premium_databases(&db, spec.as_ref()).await? {
            // Several databases: every finding names the one it was found on.
            let shared = options.get_database().unwrap_or("postgres").to_owned();
            findings = findings
                .into_iter()
                .map(|f| f.in_database(&shared))
                .collect();
            for p in &premium {
                let tenancy = super::premium::tenancy_for(&db.tenancy, p);
                let on = options.clone().database(&p.database);
                let outcome = tenantprobe::audit::audit_parallel(&on, &tenancy).await?;
                notes.push(format!(
                    "premium database `{}` (tenant {}, app role `{}`): {} relations, {} finding(s)",
                    p.database,
                    p.tenant_id,
                    tenancy.app_role,
                    outcome.relations,
                    outcome.findings.len()
                ));
                findings.extend(
                    outcome
                        .findings
                        .into_iter()
                        .map(|f| f.in_database(&p.database)),
                );
            }
            let located =
                tenantprobe::checks::placement::check(&options, &db.tenancy, &premium).await?;
            notes.push(format!(
                "data location: {} database(s), {} table reads, {} finding(s){}",
                located.databases,
                located.tables,
                located.findings.len(),
                if premium.is_empty() {
                    "; the placements query listed no premium database"
                } else {
                    ""
                }
            ));
            findings.extend(located.findings);
            rules.extend(tenantprobe::checks::placement::RULES);
        }
        let report = Report::new("audit", &target, &rules, begun.elapsed(), &notes);
        let facts = RunFacts {
            spec_file: self.target.target.as_deref(),
            tenancy: Some(&db.tenancy),
            ..RunFacts::default()
        };
        self.output
            .emit(spec.as_ref(), facts, report, &mut findings)
    }
}
