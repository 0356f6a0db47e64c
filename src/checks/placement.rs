//! Many databases (`PremiumDatabase`, `check`): the premium databases a target's catalog lists, and
//! the data-location check that each tenant's rows live only where the catalog says and that one
//! premium database's app role cannot connect to another's.
//!
//! The check reads every tenant's rows, so the observer must bypass RLS (superuser or BYPASSRLS);
//! it reads in READ ONLY transactions under the spec's session limits and changes nothing.

use std::collections::BTreeSet;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::finding::{Category, Finding, Severity};
use crate::rules::RuleInfo;
use crate::sql::quote_ident;
use crate::tenancy::Tenancy;

pub static TENANT_DATA_MISPLACED: RuleInfo = RuleInfo {
    id: "tenant-data-misplaced",
    category: Category::Audit,
    severity: Severity::Critical,
    title: "tenant rows stored outside the database the tenant catalog assigns",
    explanation: "In a hybrid deployment the tenant catalog says where each tenant lives: the shared \
        database or a premium database of its own. Rows of a premium tenant left in the shared \
        schema (a promotion that did not clean up, or writes that fell back to the shared database \
        after the route was switched) are readable by every bug that breaks RLS there and are lost \
        or diverge from the tenant's real data; rows of another tenant inside a premium database \
        break the promise that the database holds one customer only.",
    remediation: "Finish the promotion (delete the tenant's rows from the shared schema in the \
        same transaction that records it), never fall back to the shared database when a premium \
        route fails, and move foreign rows out of premium databases.",
};

pub static PREMIUM_DATABASE_CROSS_CONNECT: RuleInfo = RuleInfo {
    id: "premium-database-cross-connect",
    category: Category::Audit,
    severity: Severity::High,
    title: "a premium database's app role may connect to another premium database",
    explanation: "Database-per-tenant isolation rests on each premium database's app role being \
        able to connect to its own database only. When CONNECT is left to PUBLIC or granted to a \
        role the others share, a confused route or a stolen credential of one tenant reaches \
        another tenant's whole database, where no tenant column or policy stands in the way.",
    remediation: "REVOKE CONNECT ON DATABASE … FROM PUBLIC on every premium database and GRANT \
        CONNECT to that database's own app role only; give each premium database its own role.",
};

pub static RULES: &[&RuleInfo] = &[&TENANT_DATA_MISPLACED, &PREMIUM_DATABASE_CROSS_CONNECT];

#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    #[error(
        "the placements query failed: {0} (it must return `tenant_id` and `database`, optionally `app_role` and `cleaned`)"
    )]
    Query(#[source] sqlx::Error),
    #[error("cannot read `{database}`: {source}")]
    Database {
        database: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the data-location check reads every tenant's rows, but `{role}` is subject to RLS: connect as a superuser or a role with BYPASSRLS"
    )]
    ObserverUnderRls { role: String },
}

/// One premium database of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PremiumDatabase {
    /// The tenant it serves, as text (whatever type the tenant key has).
    pub tenant_id: String,
    pub database: String,
    /// The role the application uses on it; the spec's app role when the query gives none.
    #[sqlx(default)]
    pub app_role: Option<String>,
    /// The promotion is finished: the shared schema must hold none of the tenant's rows. While it
    /// is false (the route is switched, the clean-up still to come) the shared rows may remain, but
    /// a row the premium database does not have was written to the wrong database.
    #[sqlx(default)]
    pub cleaned: Option<bool>,
}

/// Runs the spec's `placements_query` on the shared database.
pub async fn list(
    conn: &mut PgConnection,
    query: &str,
) -> Result<Vec<PremiumDatabase>, PlacementError> {
    sqlx::query_as(AssertSqlSafe(query.to_owned()))
        .fetch_all(conn)
        .await
        .map_err(PlacementError::Query)
}

/// What the check found and what it looked at.
#[derive(Debug, Default)]
pub struct PlacementOutcome {
    pub findings: Vec<Finding>,
    /// Databases whose rows were read (the shared one included).
    pub databases: usize,
    /// Tables whose rows were compared, over all databases.
    pub tables: usize,
}

/// A table holding tenant rows, with its primary key.
#[derive(Debug, Clone)]
struct TenantTable {
    schema: String,
    name: String,
    key: String,
    primary_key: Vec<String>,
}

impl TenantTable {
    fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
    fn object(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

async fn connect(
    options: &PgConnectOptions,
    database: &str,
) -> Result<PgConnection, PlacementError> {
    let options = options.clone().database(database);
    let err = |source| PlacementError::Database {
        database: database.to_owned(),
        source,
    };
    let mut conn = PgConnection::connect_with(&options).await.map_err(err)?;
    let (role, bypasses): (String, bool) = sqlx::query_as(
        "SELECT rolname::text, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(err)?;
    if !bypasses {
        return Err(PlacementError::ObserverUnderRls { role });
    }
    sqlx::raw_sql("SET default_transaction_read_only = on")
        .execute(&mut conn)
        .await
        .map_err(err)?;
    Ok(conn)
}

/// Tables (and partitioned parents, not their partitions) with the tenant column, and the tenants
/// table keyed by its primary key.
async fn tenant_tables(
    conn: &mut PgConnection,
    tenancy: &Tenancy,
) -> Result<Vec<TenantTable>, sqlx::Error> {
    let rows: Vec<(String, String, Option<String>, Vec<String>)> = sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text,
                (SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped),
                coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
                            FROM pg_index i
                            CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                           WHERE i.indrelid = c.oid AND i.indisprimary), '{}')
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          ORDER BY 1, 2",
    )
    .bind(&tenancy.schemas)
    .bind(&tenancy.tenant_column)
    .fetch_all(&mut *conn)
    .await?;
    let tenants_table = tenancy.tenants_table.as_ref();
    Ok(rows
        .into_iter()
        .filter_map(|(schema, name, tenant_column, primary_key)| {
            let is_tenants = tenants_table.is_some_and(|t| t.name == name && t.schema == schema);
            let key = match tenant_column {
                Some(column) => column,
                None if is_tenants => primary_key.first()?.clone(),
                None => return None,
            };
            Some(TenantTable {
                schema,
                name,
                key,
                primary_key,
            })
        })
        .collect())
}

/// Only the tenants table is keyed by something other than the tenant column.
fn is_tenants_table(table: &TenantTable, tenancy: &Tenancy) -> bool {
    table.key != tenancy.tenant_column
}

/// Primary keys (as text) of the rows of `tenants` (text ids) in `table`; `negate` reads the rows
/// of every other tenant instead.
async fn keys(
    conn: &mut PgConnection,
    table: &TenantTable,
    tenants: &[String],
    negate: bool,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let columns = if table.primary_key.is_empty() {
        "t::text".to_owned()
    } else {
        format!(
            "concat_ws('/', {})",
            table
                .primary_key
                .iter()
                .map(|c| format!("t.{}::text", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let sql = format!(
        "SELECT {columns} FROM {} t WHERE {}(t.{}::text = ANY($1))",
        table.qualified(),
        if negate { "NOT " } else { "" },
        quote_ident(&table.key)
    );
    let mut tx = conn.begin().await?;
    let found: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(tenants)
        .fetch_all(&mut *tx)
        .await?;
    tx.rollback().await?;
    Ok(found.into_iter().collect())
}

fn sample(keys: &BTreeSet<String>) -> String {
    let shown: Vec<&str> = keys.iter().take(3).map(String::as_str).collect();
    let more = keys.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The data-location check over the shared database (`shared`'s database) and every premium one.
pub async fn check(
    shared: &PgConnectOptions,
    tenancy: &Tenancy,
    premium: &[PremiumDatabase],
) -> Result<PlacementOutcome, PlacementError> {
    let shared_name = shared.get_database().unwrap_or("postgres").to_owned();
    let mut outcome = PlacementOutcome::default();
    let mut shared_conn = connect(shared, &shared_name).await?;
    let shared_err = |source| PlacementError::Database {
        database: shared_name.clone(),
        source,
    };
    let shared_tables = tenant_tables(&mut shared_conn, tenancy)
        .await
        .map_err(shared_err)?;
    outcome.databases = 1;
    for db in premium {
        let premium_err = |source| PlacementError::Database {
            database: db.database.clone(),
            source,
        };
        let mut conn = connect(shared, &db.database).await?;
        outcome.databases += 1;
        let tables = tenant_tables(&mut conn, tenancy)
            .await
            .map_err(premium_err)?;
        let own = vec![db.tenant_id.clone()];
        // No other tenant's rows in a premium database.
        for table in &tables {
            outcome.tables += 1;
            let foreign = keys(&mut conn, table, &own, true)
                .await
                .map_err(premium_err)?;
            if !foreign.is_empty() {
                outcome.findings.push(
                    TENANT_DATA_MISPLACED
                        .finding(
                            format!("{}:{}", db.database, table.object()),
                            "foreign",
                            format!(
                                "the premium database `{}` of tenant {} holds {} row(s) of other tenants in `{}` (keys {})",
                                db.database,
                                db.tenant_id,
                                foreign.len(),
                                table.object(),
                                sample(&foreign)
                            ),
                        )
                        .with_evidence(format!(
                            "-- on database {}\nSELECT * FROM {} WHERE {} <> '{}';",
                            db.database,
                            table.qualified(),
                            quote_ident(&table.key),
                            db.tenant_id
                        )),
                );
            }
        }
        // None of its rows in the shared schema, except those a promotion still has to clean up
        // and that its own database holds too. The tenants table stays as the shared directory.
        for table in shared_tables
            .iter()
            .filter(|t| !is_tenants_table(t, tenancy))
        {
            outcome.tables += 1;
            let left = keys(&mut shared_conn, table, &own, false)
                .await
                .map_err(shared_err)?;
            if left.is_empty() {
                continue;
            }
            let (misplaced, why) = if db.cleaned.unwrap_or(true) {
                (
                    left,
                    "were left in the shared schema after the promotion finished",
                )
            } else {
                let there = match tables
                    .iter()
                    .find(|t| t.schema == table.schema && t.name == table.name)
                {
                    Some(t) => keys(&mut conn, t, &own, false).await.map_err(premium_err)?,
                    None => BTreeSet::new(),
                };
                let diverged: BTreeSet<String> = left.difference(&there).cloned().collect();
                (
                    diverged,
                    "exist only in the shared schema although the route is switched: they were written to the shared database after the switch and the clean-up will delete them",
                )
            };
            if misplaced.is_empty() {
                continue;
            }
            outcome.findings.push(
                TENANT_DATA_MISPLACED
                    .finding(
                        format!("{shared_name}:{}", table.object()),
                        &db.tenant_id,
                        format!(
                            "{} row(s) of premium tenant {} (database `{}`) {why} (`{}`, keys {})",
                            misplaced.len(),
                            db.tenant_id,
                            db.database,
                            table.object(),
                            sample(&misplaced)
                        ),
                    )
                    .with_evidence(format!(
                        "-- on database {shared_name}\nSELECT * FROM {} WHERE {} = '{}';",
                        table.qualified(),
                        quote_ident(&table.key),
                        db.tenant_id
                    )),
            );
        }
        let _ = conn.close().await;
    }
    // Each premium app role connects to its own database only.
    for db in premium {
        let role = db.app_role.as_deref().unwrap_or(&tenancy.app_role);
        for other in premium.iter().filter(|o| o.database != db.database) {
            let can: Option<bool> = sqlx::query_scalar(
                "SELECT has_database_privilege(r.oid, d.oid, 'CONNECT') OR r.rolsuper
                   FROM pg_roles r, pg_database d WHERE r.rolname = $1 AND d.datname = $2",
            )
            .bind(role)
            .bind(&other.database)
            .fetch_optional(&mut shared_conn)
            .await
            .map_err(shared_err)?;
            if can == Some(true) {
                outcome.findings.push(
                    PREMIUM_DATABASE_CROSS_CONNECT
                        .finding(
                            format!("{}:{role}", other.database),
                            "",
                            format!(
                                "`{role}`, the app role of premium database `{}` (tenant {}), may connect to `{}` (tenant {})",
                                db.database, db.tenant_id, other.database, other.tenant_id
                            ),
                        )
                        .with_evidence(format!(
                            "SELECT has_database_privilege('{role}', '{}', 'CONNECT'); -- true",
                            other.database
                        )),
                );
            }
        }
    }
    let _ = shared_conn.close().await;
    Ok(outcome)
}
