//! Shared test fixtures: the servers a test binary runs against (`servers`) and a freshly migrated
//! reference database per test (`reference_db`).
//!
//! With `DATABASE_URL` / `REDIS_URL` unset, one throwaway PostgreSQL and one throwaway Redis serve
//! the whole test binary (started on first use, removed at exit); set, the existing servers are
//! used and every database a test creates is dropped when the test ends.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tenantprobe::provision::ReferenceDatabase;
use tenantprobe::servers::{Postgres, Redis};
use tokio::sync::OnceCell;

pub struct Servers {
    pub postgres: Postgres,
    pub redis: Redis,
}

static SERVERS: OnceCell<Servers> = OnceCell::const_new();

/// The servers of this test binary. Panics with the library's own message (what to install, which
/// variable to set) when neither is available.
pub async fn servers() -> &'static Servers {
    SERVERS
        .get_or_init(|| async {
            let postgres = Postgres::from_env_or_start()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let redis = Redis::from_env_or_start()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            eprintln!(
                "test servers: {}; {}",
                postgres.describe(),
                redis.describe()
            );
            Servers { postgres, redis }
        })
        .await
}

/// A reference database that is dropped again when the test ends if it lives on an existing server
/// (a throwaway cluster disappears as a whole).
pub struct TestDb {
    pub db: ReferenceDatabase,
    external: bool,
}

impl std::ops::Deref for TestDb {
    type Target = ReferenceDatabase;
    fn deref(&self) -> &ReferenceDatabase {
        &self.db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.external {
            return;
        }
        let db = self.db.clone();
        // Drop runs outside any runtime guarantee: use a private one on a private thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(db.drop_database())
        })
        .join();
    }
}

/// A fresh database with the reference schema migrated.
pub async fn reference_db() -> TestDb {
    let servers = servers().await;
    let db = ReferenceDatabase::create(&servers.postgres.url(), "tp_test")
        .await
        .unwrap();
    TestDb {
        db,
        external: matches!(servers.postgres, Postgres::External { .. }),
    }
}

/// A fresh database with roles but no migrations.
pub async fn empty_db() -> TestDb {
    let servers = servers().await;
    let db = ReferenceDatabase::create_empty(&servers.postgres.url(), "tp_test")
        .await
        .unwrap();
    TestDb {
        db,
        external: matches!(servers.postgres, Postgres::External { .. }),
    }
}

pub async fn connect(options: &PgConnectOptions) -> PgConnection {
    PgConnection::connect_with(options).await.unwrap()
}

/// A unique name for roles and other cluster-wide objects a test creates (roles are shared by every
/// database on the server, so tests must not reuse or alter the reference roles).
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
