//! `promote TENANT` (`promote`, `Promotion`): moves one tenant from the shared schema into a
//! database of its own, step by step, recording each finished step in the catalog's `state` so that
//! a run interrupted anywhere is finished by the next one, and a finished promotion is a no-op.
//!
//! The steps (the state each one leaves behind):
//! 1. `placed`: the catalog row, naming the database `tenant_<id>` and its role `app_<id>`;
//! 2. `created`: the role (LOGIN, member of `app_user`, no BYPASSRLS) and the database, owned by
//!    `tenant_owner`, with CONNECT revoked from PUBLIC and granted to that role alone;
//! 3. `migrated`: the reference migrations, applied as `tenant_owner`;
//! 4. `copied`: the tenant's rows copied in foreign-key order, in one transaction that first
//!    removes whatever an earlier, interrupted copy left; from here until the switch the app
//!    answers the tenant 503, so no write lands in the shared database after the copy;
//! 5. `verified`: per table, row count and checksum (md5 over the sorted rows) equal on both sides;
//!    a mismatch sends the state back to `migrated` and fails, so the next run copies again;
//! 6. `routed`: the switch: from now on the app serves the tenant from its own database;
//! 7. `done`: the tenant's rows deleted from the shared schema (children first), in the same
//!    transaction as the state change. The `tenants` row stays in the shared database: it is the
//!    directory that resolves slugs and that the catalog hangs from.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

use crate::catalog::{CATALOG_SQL, Placement, placement};
use crate::faults::{Fault, Faults};
use crate::migrations::{APP_ROLE, OWNER_ROLE};

/// The reference schema's tenant tables in foreign-key order (parents first), each with the column
/// that holds the tenant.
pub const TENANT_TABLES: [(&str, &str); 5] = [
    ("tenants", "id"),
    ("users", "tenant_id"),
    ("projects", "tenant_id"),
    ("tasks", "tenant_id"),
    ("audit_events", "tenant_id"),
];

/// The steps, in order; the catalog's `state` holds the last one finished.
pub const STEPS: [&str; 7] = [
    "placed", "created", "migrated", "copied", "verified", "routed", "done",
];

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("no tenant `{0}` in the shared database: give an existing tenant's id or slug")]
    UnknownTenant(String),
    #[error("the catalog row of `{tenant}` has the unknown state `{state}`: repair it by hand")]
    UnknownState { tenant: Uuid, state: String },
    #[error(
        "table `{table}` differs after the copy ({shared} in the shared database, {premium} in `{database}`): the state is back at `migrated`, run promote again"
    )]
    VerifyFailed {
        table: &'static str,
        database: String,
        shared: String,
        premium: String,
    },
    #[error("{context}: {source}")]
    Database {
        context: String,
        #[source]
        source: sqlx::Error,
    },
}

fn db_err(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> PromoteError {
    let context = context.into();
    move |source| PromoteError::Database { context, source }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub placement: Placement,
    /// The steps this run performed, in order; empty when the tenant was already promoted.
    pub performed: Vec<&'static str>,
    /// Rows copied per table (from the verification), when this run verified.
    pub rows: Vec<(&'static str, i64)>,
}

/// Promotes `tenant` (an id or a slug) over `admin`, a connection to the shared database as a role
/// that may create roles and databases (a superuser in the reference setup). `stop_after` ends the
/// run once that step is recorded, as an interruption would (tests and step-by-step operation).
pub async fn promote(
    admin: &PgConnectOptions,
    tenant: &str,
    faults: &Faults,
    stop_after: Option<&str>,
) -> Result<Promotion, PromoteError> {
    let mut shared = connect(admin).await?;
    sqlx::raw_sql(CATALOG_SQL)
        .execute(&mut shared)
        .await
        .map_err(db_err("cannot create the tenant catalog"))?;
    let tenant_id = resolve(&mut shared, tenant).await?;
    let mut run_placed = false;
    let mut current = match placement(&mut shared, tenant_id)
        .await
        .map_err(db_err("cannot read the tenant catalog"))?
    {
        Some(p) => p,
        None => {
            let simple = tenant_id.simple().to_string();
            let p = Placement {
                tenant_id,
                database_name: format!("tenant_{simple}"),
                app_role: format!("app_{simple}"),
                state: "placed".into(),
            };
            run_placed = true;
            sqlx::query("INSERT INTO control.tenant_placements (tenant_id, database_name, app_role, state) VALUES ($1, $2, $3, 'placed') ON CONFLICT (tenant_id) DO NOTHING")
                .bind(p.tenant_id)
                .bind(&p.database_name)
                .bind(&p.app_role)
                .execute(&mut shared)
                .await
                .map_err(db_err("cannot write the tenant catalog"))?;
            placement(&mut shared, tenant_id)
                .await
                .map_err(db_err("cannot read the tenant catalog"))?
                .unwrap_or(p)
        }
    };
    let mut run = Promotion {
        placement: current.clone(),
        performed: if run_placed {
            vec!["placed"]
        } else {
            Vec::new()
        },
        rows: Vec::new(),
    };
    loop {
        if stop_after == Some(current.state.as_str()) && !run.performed.is_empty() {
            break;
        }
        let next = match current.state.as_str() {
            "placed" => {
                create(&mut shared, &current).await?;
                "created"
            }
            "created" => {
                migrate(admin, &current).await?;
                "migrated"
            }
            "migrated" => {
                copy(&mut shared, admin, &current).await?;
                "copied"
            }
            "copied" => {
                // The fence holds for longer than any app instance trusts a catalog row, so no
                // write reaches the shared rows once they are verified.
                tokio::time::sleep(crate::catalog::ROUTE_TTL * 2).await;
                match verify(&mut shared, admin, &current).await {
                    Ok(rows) => run.rows = rows,
                    Err(e) => {
                        set_state(&mut shared, tenant_id, "migrated").await?;
                        return Err(e);
                    }
                }
                "verified"
            }
            "verified" => "routed",
            "routed" => {
                clean_shared(&mut shared, tenant_id, faults).await?;
                run.performed.push("done");
                current.state = "done".into();
                continue;
            }
            "done" => break,
            other => {
                return Err(PromoteError::UnknownState {
                    tenant: tenant_id,
                    state: other.to_owned(),
                });
            }
        };
        set_state(&mut shared, tenant_id, next).await?;
        run.performed.push(next);
        current.state = next.into();
    }
    run.placement = current;
    let _ = shared.close().await;
    Ok(run)
}

async fn connect(options: &PgConnectOptions) -> Result<PgConnection, PromoteError> {
    let mut conn = PgConnection::connect_with(options)
        .await
        .map_err(db_err(format!(
            "cannot connect to `{}`",
            options.get_database().unwrap_or("postgres")
        )))?;
    // Never queue behind the application's locks for long, never hang.
    sqlx::raw_sql("SET lock_timeout = '5s'; SET statement_timeout = '300s'")
        .execute(&mut conn)
        .await
        .map_err(db_err("cannot set session timeouts"))?;
    Ok(conn)
}

/// An id, or a slug looked up in the shared `tenants` table.
async fn resolve(shared: &mut PgConnection, tenant: &str) -> Result<Uuid, PromoteError> {
    let id: Option<Uuid> = match tenant.parse::<Uuid>() {
        Ok(id) => sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *shared)
            .await
            .map_err(db_err("cannot read `tenants`"))?,
        Err(_) => sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
            .bind(tenant)
            .fetch_optional(&mut *shared)
            .await
            .map_err(db_err("cannot read `tenants`"))?,
    };
    id.ok_or_else(|| PromoteError::UnknownTenant(tenant.to_owned()))
}

async fn set_state(conn: &mut PgConnection, tenant: Uuid, state: &str) -> Result<(), PromoteError> {
    sqlx::query(
        "UPDATE control.tenant_placements SET state = $2, updated_at = now() WHERE tenant_id = $1",
    )
    .bind(tenant)
    .bind(state)
    .execute(conn)
    .await
    .map_err(db_err("cannot record the promotion's state"))?;
    Ok(())
}

/// Quotes an identifier (names here are generated from a uuid, but quoting costs nothing).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn exec(conn: &mut PgConnection, sql: String, context: &str) -> Result<(), PromoteError> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map_err(db_err(context))?;
    Ok(())
}

/// Whether the system catalog `catalog` has a row whose `column` is `name`.
async fn listed(
    conn: &mut PgConnection,
    catalog: &'static str,
    column: &'static str,
    name: &str,
) -> Result<bool, PromoteError> {
    let sql = format!("SELECT EXISTS (SELECT FROM {catalog} WHERE {column} = $1)");
    sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(name)
        .fetch_one(conn)
        .await
        .map_err(db_err(format!("cannot read `{catalog}`")))
}

/// Step 2: the role and the database, each created only if missing (neither statement has IF
/// NOT EXISTS).
async fn create(shared: &mut PgConnection, p: &Placement) -> Result<(), PromoteError> {
    let role = ident(&p.app_role);
    let database = ident(&p.database_name);
    if !listed(shared, "pg_roles", "rolname", &p.app_role).await? {
        exec(
            shared,
            format!(
                "CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE IN ROLE {}",
                ident(APP_ROLE)
            ),
            "cannot create the premium app role",
        )
        .await?;
    }
    if !listed(shared, "pg_database", "datname", &p.database_name).await? {
        exec(
            shared,
            format!("CREATE DATABASE {database} OWNER {}", ident(OWNER_ROLE)),
            "cannot create the premium database",
        )
        .await?;
    }
    exec(
        shared,
        format!(
            "REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM PUBLIC; GRANT CONNECT ON DATABASE {database} TO {role}"
        ),
        "cannot restrict CONNECT on the premium database",
    )
    .await
}

/// The premium database, as the administrator switched to the owner role.
async fn connect_premium_as_owner(
    admin: &PgConnectOptions,
    p: &Placement,
) -> Result<PgConnection, PromoteError> {
    let mut conn = connect(&admin.clone().database(&p.database_name)).await?;
    exec(
        &mut conn,
        format!("SET ROLE {}", ident(OWNER_ROLE)),
        "cannot switch to the owner role",
    )
    .await?;
    Ok(conn)
}

/// Step 3: sqlx's migrator skips what is applied, so a repeat is harmless.
async fn migrate(admin: &PgConnectOptions, p: &Placement) -> Result<(), PromoteError> {
    let mut conn = connect_premium_as_owner(admin, p).await?;
    crate::migrations::run(&mut conn)
        .await
        .map_err(db_err(format!(
            "migrations failed on `{}`",
            p.database_name
        )))?;
    let _ = conn.close().await;
    Ok(())
}

fn select_rows(table: &str, key: &str, tenant: Uuid) -> String {
    // `tenant` is a parsed uuid: its text form cannot break out of the literal.
    format!(
        "SELECT * FROM {} WHERE {} = '{tenant}'",
        ident(table),
        ident(key)
    )
}

/// Step 4: one transaction on the premium database: clear the tenant's rows (an earlier copy may
/// have been cut short), then COPY every table across, parents first.
async fn copy(
    shared: &mut PgConnection,
    admin: &PgConnectOptions,
    p: &Placement,
) -> Result<(), PromoteError> {
    let mut premium = connect_premium_as_owner(admin, p).await?;
    let mut tx = premium
        .begin()
        .await
        .map_err(db_err("cannot begin the copy"))?;
    for (table, key) in TENANT_TABLES.iter().rev() {
        exec(
            &mut tx,
            format!(
                "DELETE FROM {} WHERE {} = '{}'",
                ident(table),
                ident(key),
                p.tenant_id
            ),
            &format!("cannot clear `{table}` in the premium database"),
        )
        .await?;
    }
    // The shared side reads one consistent snapshot of all tables.
    let mut snapshot = shared
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(db_err("cannot begin the read of the shared rows"))?;
    for (table, key) in TENANT_TABLES {
        let out = format!(
            "COPY ({}) TO STDOUT (FORMAT binary)",
            select_rows(table, key, p.tenant_id)
        );
        let data: Vec<u8> = {
            use futures::TryStreamExt;
            let read = db_err(format!("cannot read `{table}` from the shared database"));
            let stream = snapshot.copy_out_raw(&out).await;
            match stream {
                Ok(stream) => stream
                    .try_fold(Vec::new(), |mut all, chunk| async move {
                        all.extend_from_slice(&chunk);
                        Ok(all)
                    })
                    .await
                    .map_err(read)?,
                Err(e) => return Err(read(e)),
            }
        };
        let mut sink = tx
            .copy_in_raw(&format!("COPY {} FROM STDIN (FORMAT binary)", ident(table)))
            .await
            .map_err(db_err(format!(
                "cannot write `{table}` to the premium database"
            )))?;
        sink.send(data).await.map_err(db_err(format!(
            "cannot write `{table}` to the premium database"
        )))?;
        sink.finish().await.map_err(db_err(format!(
            "cannot write `{table}` to the premium database"
        )))?;
    }
    snapshot
        .rollback()
        .await
        .map_err(db_err("cannot end the read of the shared rows"))?;
    tx.commit()
        .await
        .map_err(db_err("cannot commit the copy"))?;
    let _ = premium.close().await;
    Ok(())
}

/// Row count and checksum of one tenant's rows in one table.
async fn fingerprint(
    conn: &mut PgConnection,
    table: &str,
    key: &str,
    tenant: Uuid,
) -> Result<(i64, String), sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT count(*), coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text)), '') FROM ({}) r",
        select_rows(table, key, tenant)
    )))
    .fetch_one(conn)
    .await
}

/// Step 5: equal counts and checksums, table by table.
async fn verify(
    shared: &mut PgConnection,
    admin: &PgConnectOptions,
    p: &Placement,
) -> Result<Vec<(&'static str, i64)>, PromoteError> {
    let mut premium = connect_premium_as_owner(admin, p).await?;
    let mut rows = Vec::new();
    for (table, key) in TENANT_TABLES {
        let here = fingerprint(shared, table, key, p.tenant_id)
            .await
            .map_err(db_err(format!(
                "cannot checksum `{table}` in the shared database"
            )))?;
        let there = fingerprint(&mut premium, table, key, p.tenant_id)
            .await
            .map_err(db_err(format!(
                "cannot checksum `{table}` in the premium database"
            )))?;
        if here != there {
            return Err(PromoteError::VerifyFailed {
                table,
                database: p.database_name.clone(),
                shared: format!("{} rows, md5 {}", here.0, here.1),
                premium: format!("{} rows, md5 {}", there.0, there.1),
            });
        }
        rows.push((table, here.0));
    }
    let _ = premium.close().await;
    Ok(rows)
}

/// Step 7: the tenant's rows leave the shared schema, children first, together with the state.
async fn clean_shared(
    shared: &mut PgConnection,
    tenant: Uuid,
    faults: &Faults,
) -> Result<(), PromoteError> {
    let mut tx = shared
        .begin()
        .await
        .map_err(db_err("cannot begin the clean-up"))?;
    if !faults.has(Fault::PromoteLeftovers) {
        // FAULT(promote-leftovers): skipped, the rows stay readable in the shared schema.
        for (table, key) in TENANT_TABLES.iter().rev().filter(|(t, _)| *t != "tenants") {
            exec(
                &mut tx,
                format!(
                    "DELETE FROM {} WHERE {} = '{tenant}'",
                    ident(table),
                    ident(key)
                ),
                &format!("cannot delete the tenant's rows from `{table}`"),
            )
            .await?;
        }
    }
    set_state(&mut tx, tenant, "done").await?;
    tx.commit()
        .await
        .map_err(db_err("cannot commit the clean-up"))?;
    Ok(())
}

/// How long tests and the CLI may wait for one whole promotion.
pub const TIMEOUT: Duration = Duration::from_secs(600);
