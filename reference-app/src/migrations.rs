//! The reference schema's migrations: `MIGRATOR` (sqlx's, with its advisory lock and its
//! `_sqlx_migrations` log of duration and success), a dry run that applies pending migrations in a
//! transaction and rolls back, and the backward-compatibility lint every new migration must pass.

use std::time::{Duration, Instant};

use sqlx::migrate::Migrator;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Every migration in `migrations/`, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Cluster-wide roles (`tenant_owner`, `app_user`); run once per cluster by a superuser.
pub const ROLES_SQL: &str = include_str!("../../migrations/roles.sql");

/// The role that owns every object and runs the migrations.
pub const OWNER_ROLE: &str = "tenant_owner";
/// The role the application connects as.
pub const APP_ROLE: &str = "app_user";

/// One row of the migration log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoggedMigration {
    pub version: i64,
    pub description: String,
    pub success: bool,
    pub execution_time: i64,
}

/// What a dry run found for one pending migration.
#[derive(Debug, Clone)]
pub struct DryRunStep {
    pub version: i64,
    pub description: String,
    pub duration: Duration,
}

/// Applies pending migrations (serialised with other migrators by sqlx's advisory lock) and
/// returns the whole log.
pub async fn run(conn: &mut PgConnection) -> Result<Vec<LoggedMigration>, sqlx::Error> {
    // `run_direct` is `run` without the `Acquire` indirection, whose higher-ranked bound makes the
    // future unusable in `tokio::spawn` (sqlx's own comment on it says as much).
    MIGRATOR
        .run_direct(None, &mut *conn, false)
        .await
        .map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => e,
            other => sqlx::Error::Migrate(Box::new(other)),
        })?;
    log(conn).await
}

/// The migration log, oldest first; empty before the first migration.
pub async fn log(conn: &mut PgConnection) -> Result<Vec<LoggedMigration>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT version, description, success, execution_time FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(conn)
    .await
}

/// Applies every pending migration inside one transaction and rolls it back: proves they apply
/// (and how long they take) without changing anything.
pub async fn dry_run(conn: &mut PgConnection) -> Result<Vec<DryRunStep>, sqlx::Error> {
    let applied: Vec<i64> = log(conn).await?.into_iter().map(|m| m.version).collect();
    let mut tx = conn.begin().await?;
    let mut steps = Vec::new();
    for migration in MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
    {
        if applied.contains(&migration.version) {
            continue;
        }
        let begun = Instant::now();
        sqlx::raw_sql(AssertSqlSafe(migration.sql.as_str()))
            .execute(&mut *tx)
            .await?;
        steps.push(DryRunStep {
            version: migration.version,
            description: migration.description.to_string(),
            duration: begun.elapsed(),
        });
    }
    tx.rollback().await?;
    Ok(steps)
}

/// Statements that break code still running against the previous schema (rolling deploys run old
/// and new code side by side). The first migration creates the schema and is exempt.
pub fn backward_compatibility_problems(sql: &str) -> Vec<&'static str> {
    let upper = strip_comments(sql).to_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    let mut problems = Vec::new();
    let has = |seq: &[&str]| words.windows(seq.len()).any(|w| w == seq);
    if words.contains(&"RENAME") {
        problems.push("renames an object or column");
    }
    if words.contains(&"DROP") && !has(&["DROP", "DEFAULT"]) && !has(&["DROP", "NOT"]) {
        problems.push("drops an object or column");
    }
    if has(&["SET", "NOT", "NULL"]) {
        problems.push("makes an existing column NOT NULL");
    }
    if has(&["ADD", "COLUMN"]) && has(&["NOT", "NULL"]) && !words.contains(&"DEFAULT") {
        problems.push("adds a NOT NULL column without a default");
    }
    if has(&["ALTER", "COLUMN"]) && words.contains(&"TYPE") {
        problems.push("changes a column's type");
    }
    problems
}

fn strip_comments(sql: &str) -> String {
    sql.lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_after_the_first_is_backward_compatible() {
        for migration in MIGRATOR.iter().skip(1) {
            let problems = backward_compatibility_problems(migration.sql.as_str());
            assert!(
                problems.is_empty(),
                "migration {} {}: {problems:?}",
                migration.version,
                migration.description
            );
        }
    }

    #[test]
    fn the_lint_flags_each_breaking_change() {
        let cases = [
            (
                "ALTER TABLE t RENAME COLUMN a TO b",
                "renames an object or column",
            ),
            ("ALTER TABLE t DROP COLUMN a", "drops an object or column"),
            (
                "ALTER TABLE t ALTER COLUMN a SET NOT NULL",
                "makes an existing column NOT NULL",
            ),
            (
                "ALTER TABLE t ADD COLUMN a int NOT NULL",
                "adds a NOT NULL column without a default",
            ),
            (
                "ALTER TABLE t ALTER COLUMN a TYPE bigint",
                "changes a column's type",
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(
                backward_compatibility_problems(sql),
                vec![expected],
                "{sql}"
            );
        }
        assert!(
            backward_compatibility_problems("ALTER TABLE t ADD COLUMN a int NOT NULL DEFAULT 0")
                .is_empty()
        );
        assert!(
            backward_compatibility_problems("ALTER TABLE t ALTER COLUMN a DROP DEFAULT").is_empty()
        );
        assert!(
            backward_compatibility_problems("-- we never DROP anything\nCREATE INDEX i ON t (a)")
                .is_empty()
        );
    }
}
