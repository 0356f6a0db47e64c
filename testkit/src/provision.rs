//! Sets up the reference database on a server (`ReferenceDatabase`): cluster roles, a fresh
//! database owned by `tenant_owner`, and the reference migrations, applied as that owner.

use std::time::Duration;

use reference_app::migrations::{self, OWNER_ROLE};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::sql::quote_ident;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("invalid administrative database URL: {0}")]
    Url(sqlx::Error),
    #[error("{context}: {cause}")]
    Database { context: String, cause: sqlx::Error },
    #[error("migrations failed on `{database}`: {cause}")]
    Migrate {
        database: String,
        cause: sqlx::Error,
    },
}

fn db_err(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> ProvisionError {
    let context = context.into();
    move |cause| ProvisionError::Database { context, cause }
}

/// A database created for one demo run or one test, with the reference schema migrated.
#[derive(Debug, Clone)]
pub struct ReferenceDatabase {
    pub name: String,
    server: PgConnectOptions,
}

impl ReferenceDatabase {
    /// Creates the roles if missing, a new database `{prefix}_{random}` owned by `tenant_owner`,
    /// and applies every migration as `tenant_owner`.
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self, ProvisionError> {
        let db = Self::create_empty(admin_url, prefix).await?;
        let mut conn = db.connect_as_owner().await?;
        migrations::run(&mut conn)
            .await
            .map_err(|e| ProvisionError::Migrate {
                database: db.name.clone(),
                cause: e,
            })?;
        let _ = conn.close().await;
        Ok(db)
    }

    /// Roles and an empty database, without migrations (for migration tests).
    pub async fn create_empty(admin_url: &str, prefix: &str) -> Result<Self, ProvisionError> {
        let server = crate::sql::connect_options(admin_url).map_err(ProvisionError::Url)?;
        let mut admin = PgConnection::connect_with(&server)
            .await
            .map_err(db_err("cannot connect as administrator"))?;
        ensure_roles(&mut admin).await?;
        let name = format!(
            "{prefix}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let create = format!(
            "CREATE DATABASE {} OWNER {}",
            quote_ident(&name),
            quote_ident(OWNER_ROLE)
        );
        sqlx::raw_sql(AssertSqlSafe(create))
            .execute(&mut admin)
            .await
            .map_err(db_err(format!("cannot create database `{name}`")))?;
        let _ = admin.close().await;
        Ok(Self { name, server })
    }

    /// Connection options for `role` on this database (same host, port and credentials source as
    /// the administrative URL; the reference roles log in without a password on trust servers).
    pub fn options_as(&self, role: &str) -> PgConnectOptions {
        self.server
            .clone()
            .database(&self.name)
            .username(role)
            .password("")
    }

    /// The administrator on this database.
    pub fn admin_options(&self) -> PgConnectOptions {
        self.server.clone().database(&self.name)
    }

    /// A URL for `role` on this database, for configuration that takes URLs (the reference app).
    pub fn url_as(&self, role: &str) -> String {
        let host = self.server.get_host();
        let port = self.server.get_port();
        format!(
            "postgres://{role}@{host}:{port}/{}{}",
            self.name,
            self.ssl_query()
        )
    }

    /// Carries a decided `sslmode` into URLs built from these options.
    fn ssl_query(&self) -> &'static str {
        match self.server.get_ssl_mode() {
            sqlx::postgres::PgSslMode::Disable => "?sslmode=disable",
            _ => "",
        }
    }

    /// The administrator's URL on this database.
    pub fn admin_url(&self) -> String {
        self.url_as(self.server.get_username())
    }

    /// The administrator, switched to `tenant_owner` so that everything created belongs to it
    /// (works whatever authentication the owner role would need to log in itself).
    pub async fn connect_as_owner(&self) -> Result<PgConnection, ProvisionError> {
        let mut conn = PgConnection::connect_with(&self.admin_options())
            .await
            .map_err(db_err(format!("cannot connect to `{}`", self.name)))?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "SET ROLE {}",
            quote_ident(OWNER_ROLE)
        )))
        .execute(&mut conn)
        .await
        .map_err(db_err("cannot switch to the owner role"))?;
        Ok(conn)
    }

    /// Drops the database, disconnecting anyone still on it, then the premium databases and
    /// roles its tenant catalog placed (`promote`): on a server that is not throwaway, nothing of
    /// a test may stay behind.
    pub async fn drop_database(&self) -> Result<(), ProvisionError> {
        let placed = self.placed_databases().await;
        let mut admin = PgConnection::connect_with(&self.server)
            .await
            .map_err(db_err("cannot connect as administrator"))?;
        drop_database(&mut admin, &self.name).await?;
        for (database, role) in placed {
            drop_database(&mut admin, &database).await?;
            // Best effort: a role still granted something elsewhere stays (and harms nothing).
            let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP ROLE IF EXISTS {}",
                quote_ident(&role)
            )))
            .execute(&mut admin)
            .await;
        }
        let _ = admin.close().await;
        Ok(())
    }

    /// The premium databases and their roles in this database's tenant catalog (none when it
    /// has no catalog or cannot be read).
    async fn placed_databases(&self) -> Vec<(String, String)> {
        let Ok(mut conn) = PgConnection::connect_with(&self.admin_options()).await else {
            return Vec::new();
        };
        let placed = sqlx::query_as::<_, (String, String)>(
            "SELECT database_name, app_role FROM control.tenant_placements",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        let _ = conn.close().await;
        placed
    }
}

/// Drops `name` if it exists, disconnecting anyone still on it.
async fn drop_database(admin: &mut PgConnection, name: &str) -> Result<(), ProvisionError> {
    let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
    sqlx::raw_sql(AssertSqlSafe(drop))
        .execute(admin)
        .await
        .map_err(db_err(format!("cannot drop `{name}`")))?;
    Ok(())
}

/// Creates the cluster-wide reference roles if missing. Roles are shared by every database on the
/// server, so concurrent callers (parallel tests) serialise on an advisory lock.
pub async fn ensure_roles(admin: &mut PgConnection) -> Result<(), ProvisionError> {
    const LOCK: &str = "SELECT pg_advisory_lock(hashtext('tenantprobe:ensure_roles'))";
    const UNLOCK: &str = "SELECT pg_advisory_unlock(hashtext('tenantprobe:ensure_roles'))";
    sqlx::query(LOCK)
        .execute(&mut *admin)
        .await
        .map_err(db_err("cannot take the roles lock"))?;
    let mut result = Ok(());
    for attempt in 0..3 {
        result = sqlx::raw_sql(migrations::ROLES_SQL)
            .execute(&mut *admin)
            .await
            .map(|_| ());
        // Another process on another database may still race us into the catalog.
        let racing = matches!(&result, Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("23505" | "42710" | "XX000")));
        if !racing || attempt == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query(UNLOCK)
        .execute(&mut *admin)
        .await
        .map_err(db_err("cannot release the roles lock"))?;
    result.map_err(db_err(
        "cannot create the reference roles (the administrative role needs CREATEROLE or superuser)",
    ))
}
