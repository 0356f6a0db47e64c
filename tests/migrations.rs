//! The reference migrations: two migrators started at once serialise on sqlx's advisory lock, the
//! log records duration and success, a dry run changes nothing, a re-run is a no-op.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use reference_app::migrations;
use tokio::sync::Barrier;

async fn table_exists(conn: &mut sqlx::PgConnection, name: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn two_migrators_started_at_the_same_moment_serialise() {
    let db = support::empty_db().await;
    let start = Arc::new(Barrier::new(2));
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut conn = db.connect_as_owner().await.unwrap();
        let start = Arc::clone(&start);
        runs.push(tokio::spawn(async move {
            start.wait().await;
            migrations::run(&mut conn).await
        }));
    }
    for run in runs {
        let log = run
            .await
            .unwrap()
            .expect("both migrators succeed: the second waits for the first");
        assert_eq!(log.len(), migrations::MIGRATOR.iter().count());
    }
    let mut conn = db.connect_as_owner().await.unwrap();
    let log = migrations::log(&mut conn).await.unwrap();
    let versions: Vec<i64> = log.iter().map(|m| m.version).collect();
    assert_eq!(versions, [1, 2, 3], "each migration applied exactly once");
    assert!(
        log.iter().all(|m| m.success && m.execution_time > 0),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_dry_run_applies_pending_migrations_and_rolls_back() {
    let db = support::empty_db().await;
    let mut conn = db.connect_as_owner().await.unwrap();
    let steps = migrations::dry_run(&mut conn).await.unwrap();
    let planned: Vec<i64> = steps.iter().map(|s| s.version).collect();
    assert_eq!(planned, [1, 2, 3]);
    assert!(
        !table_exists(&mut conn, "tenants").await,
        "the dry run left tables behind"
    );
    assert!(migrations::log(&mut conn).await.unwrap().is_empty());

    migrations::run(&mut conn).await.unwrap();
    assert!(table_exists(&mut conn, "tenants").await);
    assert!(
        migrations::dry_run(&mut conn).await.unwrap().is_empty(),
        "nothing pending after a real run"
    );
    let again = migrations::run(&mut conn).await.unwrap();
    assert_eq!(again.len(), 3, "a re-run applies nothing new");
}

#[tokio::test]
async fn objects_belong_to_the_owner_role_and_the_app_role_owns_nothing() {
    let db = support::reference_db().await;
    let mut conn = db.connect_as_owner().await.unwrap();
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT pg_get_userbyid(c.relowner)::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(owners, [migrations::OWNER_ROLE]);
    let app_role: (bool, bool, bool) = sqlx::query_as(
        "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1",
    )
    .bind(migrations::APP_ROLE)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(app_role, (false, false, true));
}
