//! `reference-app serve | migrate`: wires configuration, telemetry and startup; nothing else.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use reference_app::config::Config;
use reference_app::faults::Fault;
use reference_app::startup::Application;

/// The multi-tenant reference API for tenantprobe.
///
/// Configuration comes from the environment: DATABASE_URL (as app_user), MIGRATION_DATABASE_URL
/// (as the owner; for `migrate`), DATABASE_POOLS (tenants' own pools, by plan or tenant id),
/// REDIS_URL, JWT_SECRET (≥ 32 bytes), BASE_DOMAIN, ADMIN_TOKEN,
/// REFERENCE_APP_FAULTS, LOG_FORMAT=text|json, RUST_LOG.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API; prints the bound address on stdout.
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Switch on a deliberate isolation fault (repeatable), for testing tenantprobe only.
        #[arg(long = "fault", value_name = "NAME")]
        faults: Vec<Fault>,
    },
    /// Apply pending migrations over MIGRATION_DATABASE_URL.
    Migrate {
        /// Apply them in a transaction and roll back.
        #[arg(long)]
        dry_run: bool,
    },
    /// Move a tenant into a premium database of its own, over PROMOTE_DATABASE_URL (the shared
    /// database, as a role that may create roles and databases). Resumable: re-run after an
    /// interruption; a promoted tenant is left as it is.
    Promote {
        /// The tenant's id or slug.
        tenant: String,
        /// Stop once this step is recorded (placed, created, migrated, copied, verified, routed).
        #[arg(long, value_name = "STEP")]
        stop_after: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    reference_app::telemetry::init();
    match Cli::parse().command {
        Command::Serve { listen, faults } => {
            let mut config = Config::from_env()?;
            config.faults = config.faults.iter().chain(faults).collect();
            let app = Application::build(&config, listen).await?;
            println!("listening on http://{}", app.local_addr()?);
            app.run_until(shutdown_signal()).await?;
        }
        Command::Migrate { dry_run } => {
            let url = secrecy::SecretString::from(
                std::env::var("MIGRATION_DATABASE_URL")
                    .map_err(|_| anyhow::anyhow!("MIGRATION_DATABASE_URL is not set"))?,
            );
            reference_app::db::migrate(&url, dry_run).await?;
        }
        Command::Promote { tenant, stop_after } => {
            if let Some(step) = &stop_after
                && !reference_app::promote::STEPS.contains(&step.as_str())
            {
                anyhow::bail!(
                    "unknown step `{step}` for --stop-after (known: {})",
                    reference_app::promote::STEPS.join(", ")
                );
            }
            let url = std::env::var("PROMOTE_DATABASE_URL").map_err(|_| {
                anyhow::anyhow!(
                    "PROMOTE_DATABASE_URL is not set: give the shared database's URL as a role that may create roles and databases"
                )
            })?;
            let options: sqlx::postgres::PgConnectOptions = url
                .parse()
                .map_err(|e| anyhow::anyhow!("PROMOTE_DATABASE_URL is invalid: {e}"))?;
            let faults = reference_app::faults::Faults::parse_list(
                &std::env::var("REFERENCE_APP_FAULTS").unwrap_or_default(),
            )
            .map_err(|e| anyhow::anyhow!("REFERENCE_APP_FAULTS is invalid: {e}"))?;
            let run = tokio::time::timeout(
                reference_app::promote::TIMEOUT,
                reference_app::promote::promote(&options, &tenant, &faults, stop_after.as_deref()),
            )
            .await
            .map_err(|_| {
                anyhow::anyhow!("promote `{tenant}` timed out: run it again to resume")
            })??;
            if run.performed.is_empty() {
                println!(
                    "tenant {} already in `{}` (state {}): nothing to do",
                    run.placement.tenant_id, run.placement.database_name, run.placement.state
                );
            } else {
                println!(
                    "tenant {} -> `{}`: {} (state {})",
                    run.placement.tenant_id,
                    run.placement.database_name,
                    run.performed.join(", "),
                    run.placement.state
                );
                for (table, rows) in &run.rows {
                    println!("  {table}: {rows} rows verified");
                }
            }
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
