//! Throwaway servers: they start from local binaries, fail with clear messages, and leave nothing
//! behind; existing servers that cannot be reached are reported as such.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use tenantprobe_testkit::servers::{
    Postgres, Redis, ServerError, ThrowawayPostgres, ThrowawayRedis,
};

#[tokio::test]
async fn throwaway_postgres_starts_quickly_and_is_removed_on_drop() {
    let pg = ThrowawayPostgres::start().await.unwrap();
    eprintln!("throwaway PostgreSQL ready in {:?}", pg.startup_time());
    let mut conn = PgConnection::connect(&pg.url()).await.unwrap();
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(superuser);
    conn.close().await.unwrap();
    let dir = pg.dir().to_path_buf();
    let url = pg.url();
    drop(pg);
    assert!(
        !dir.exists(),
        "data directory `{}` left behind",
        dir.display()
    );
    let refused = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url))
        .await
        .unwrap();
    assert!(refused.is_err(), "server still answers after drop");
}

#[tokio::test]
async fn throwaway_redis_starts_quickly_and_stops_on_drop() {
    let redis = ThrowawayRedis::start().await.unwrap();
    eprintln!("throwaway Redis ready in {:?}", redis.startup_time());
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");
    let url = redis.url();
    drop(conn);
    drop(redis);
    let err = Redis::external(url)
        .await
        .err()
        .expect("Redis still answers after drop");
    assert!(err.is_unreachable());
}

#[tokio::test]
async fn an_unreachable_database_url_is_reported_with_the_variable_to_fix() {
    let err = Postgres::external("postgres://app:secret@127.0.0.1:1/db".into())
        .await
        .err()
        .unwrap();
    assert!(err.is_unreachable());
    let message = err.to_string();
    assert!(message.contains("DATABASE_URL"), "{message}");
    assert!(
        !message.contains("secret"),
        "password leaked into `{message}`"
    );
    assert!(message.contains("***"), "{message}");
}

#[tokio::test]
async fn an_unreachable_redis_url_is_reported_with_the_variable_to_fix() {
    let err = Redis::external("redis://127.0.0.1:1".into())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            &err,
            ServerError::Unreachable {
                variable: "REDIS_URL",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_missing_server_binary_names_the_package_and_the_variable() {
    let err = ServerError::MissingBinary {
        program: "redis-server",
        package: "redis-server",
        variable: "REDIS_URL",
    };
    let message = err.to_string();
    assert!(
        message.contains("install the Debian package `redis-server`"),
        "{message}"
    );
    assert!(message.contains("REDIS_URL"), "{message}");
}

/// `tenantprobe demo` hands over to `tenantprobe-demo` beside it; an installed tool has none, and
/// says how to run the demo from a source checkout (exit 2), not a panic.
#[test]
fn demo_without_the_demo_binary_says_how_to_run_it() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let tool = dir.path().join("tenantprobe");
    std::fs::hard_link(env!("CARGO_BIN_EXE_tenantprobe"), &tool)
        .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_tenantprobe"), &tool).map(|_| ()))
        .unwrap();
    let out = std::process::Command::new(&tool)
        .args(["demo", "--fault", "global-cache-key"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cargo run --release -p tenantprobe-demo"),
        "{stderr}"
    );
}
