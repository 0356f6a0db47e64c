//! `tenantprobe audit`.

use std::time::Instant;

use clap::Args;
use tenantprobe::Error;
use tenantprobe::exit::ExitStatus;
use tenantprobe::report::Report;
use tenantprobe::rules::RuleInfo;
use tenantprobe::target::{AppRole, Flags};

use super::common::{DatabaseArgs, OutputArgs, RunFacts, TargetArgs};
use super::premium;

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
    pub async fn exec(self) -> Result<ExitStatus, Error> {
        let begun = Instant::now();
        let target = self.target.load(Flags {
            database: Some(self.database.flags(None)),
            ..Flags::default()
        })?;
        let db = target.database(AppRole::Required)?;
        let options = db.checked_options().await?;
        let outcome = tenantprobe::audit::audit_parallel(&options, &db.tenancy)
            .await
            .map_err(Error::failed)?;
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
        let name = target.name(&db.url);
        let mut findings = outcome.findings;
        if let Some(premium) = premium::premium_databases(&db).await? {
            findings = premium::in_shared_database(findings, &options);
            let found = premium::examine_each(
                &premium,
                &options,
                &db.tenancy,
                &mut notes,
                async |on, tenancy, _| {
                    let outcome = tenantprobe::audit::audit_parallel(on, tenancy)
                        .await
                        .map_err(Error::failed)?;
                    let summary = format!(
                        "{} relations, {} finding(s)",
                        outcome.relations,
                        outcome.findings.len()
                    );
                    Ok((outcome.findings, summary))
                },
            )
            .await?;
            findings.extend(found);
            let located = tenantprobe::checks::placement::check(&options, &db.tenancy, &premium)
                .await
                .map_err(Error::failed)?;
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
        let report = Report::new("audit", &name, &rules, begun.elapsed(), &notes);
        let facts = RunFacts {
            spec_file: target.spec_file(),
            tenancy: Some(&db.tenancy),
            ..RunFacts::default()
        };
        self.output
            .emit(target.spec(), facts, report, &mut findings)
    }
}
