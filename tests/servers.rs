//! Throwaway servers: they start from local binaries, fail with clear messages, and leave nothing
//! behind; existing servers that cannot be reached are reported as such.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use tenantprobe::servers::{Postgres, Redis, ServerError, ThrowawayPostgres, ThrowawayRedis};

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

/// The CLI turns a missing binary into that message and exit code 2, not a panic.
#[test]
fn demo_without_server_binaries_fails_with_a_clear_message() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenantprobe"))
        .arg("demo")
        .env("PATH", "/nonexistent")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // pg_config and /usr/lib/postgresql may still be found; then it is Redis that is missing.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("install the Debian package"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
