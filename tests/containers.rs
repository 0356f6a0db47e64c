//! The test kit's containers backend (cargo feature `containers`; `.ci/run` runs this file with
//! `TENANTPROBE_TESTKIT_BACKEND=containers`): PostgreSQL and Redis in containers of an image made
//! here from Debian packages (debootstrap with `postgresql-15` and `redis-server`, then `docker
//! import`; the root filesystem is cached in `/var/cache/tenantprobe`, see
//! tests/support/debian_image.rs), on host networking. The servers answer, take a reference
//! database that audits and attacks clean, run the whole `demo` when the backend variable picks
//! them, and are removed at the end, also when the process that started them is killed. A missing
//! image is an error that says how to make it, never a pull.
//!
//! Needs Docker (ignored without `docker` on PATH, failing under TENANTPROBE_REQUIRE_TOOLS=1) and,
//! the first time on a machine, root and `debootstrap`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/debian_image.rs"]
mod debian_image;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use debian_image::{DebianImage, docker, text};
use tenantprobe_testkit::servers::{
    BACKEND_VARIABLE, Backend, ContainerPostgres, DEFAULT_IMAGE, OWNER_LABEL, Postgres, Redis,
    ServerError,
};

/// The test kit's default image: both servers from Debian bookworm.
const TESTKIT: DebianImage = DebianImage {
    tag: DEFAULT_IMAGE,
    tarball: "bookworm-testkit-servers.tar",
    include: &["postgresql-15", "redis-server"],
};

fn testkit_image() {
    debian_image::require_daemon();
    let demo =
        std::path::Path::new(env!("CARGO_BIN_EXE_tenantprobe")).with_file_name("tenantprobe-demo");
    assert!(
        demo.is_file(),
        "{} is missing: build it first with `cargo build -p tenantprobe-demo --features tenantprobe-testkit/containers`",
        demo.display()
    );
    TESTKIT.ensure().unwrap_or_else(|why| panic!("{why}"));
}

/// Ids of the containers (in any state) that process `pid` started.
fn containers_of(pid: u32) -> Vec<String> {
    list_containers(pid, &["--all"])
}

fn list_containers(pid: u32, extra: &[&str]) -> Vec<String> {
    let filter = format!("label={OWNER_LABEL}={pid}");
    let mut args = vec!["ps", "--quiet", "--filter", &filter];
    args.extend_from_slice(extra);
    let out = docker(&args);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Waits (at most `patience`) until process `pid` has no container left.
fn wait_until_removed(pid: u32, patience: Duration) {
    let deadline = Instant::now() + patience;
    while !containers_of(pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "containers of pid {pid} still there after {patience:?}: {:?}",
            containers_of(pid)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(has_docker), ignore = "needs Docker: apt-get install docker.io")]
async fn containers_serve_a_reference_database_that_audits_and_attacks_clean_and_are_removed() {
    testkit_image();
    let postgres = Postgres::start(Backend::Containers)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let redis = Redis::start(Backend::Containers)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}; {}", postgres.describe(), redis.describe());
    assert!(matches!(postgres, Postgres::Container(_)));
    assert!(matches!(redis, Redis::Container(_)));
    assert_eq!(containers_of(std::process::id()).len(), 2);

    // Both answer on loopback.
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&postgres.url())
        .await
        .unwrap();
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(version.starts_with("PostgreSQL"), "{version}");
    drop(admin);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");

    // A reference database, audited and attacked through its spec.
    let db =
        tenantprobe_testkit::provision::ReferenceDatabase::create(&postgres.url(), "tp_containers")
            .await
            .unwrap();
    let spec = support::repo_path("probes/reference-app.toml");
    let env = [("TENANTPROBE_DATABASE_URL", db.admin_url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let commands: [&[&str]; 2] = [
        &["audit", "--target", &spec],
        &[
            "attack", "db", "--target", &spec, "--cases", "8", "--seed", "1",
        ],
    ];
    for args in commands {
        let (code, stdout, stderr) = support::tenantprobe(args, &env);
        assert_eq!(code, 0, "{args:?}:\n{stdout}\n{stderr}");
    }

    drop((db, postgres, redis));
    wait_until_removed(std::process::id(), Duration::from_secs(30));
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs Docker: apt-get install docker.io")]
fn demo_runs_on_containers_when_the_backend_variable_says_so_and_leaves_none() {
    testkit_image();
    let child = Command::new(env!("CARGO_BIN_EXE_tenantprobe"))
        .arg("demo")
        .env(BACKEND_VARIABLE, "containers")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("PostgreSQL in a container of"), "{all}");
    assert!(all.contains("Redis in a container of"), "{all}");
    wait_until_removed(pid, Duration::from_secs(30));
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs Docker: apt-get install docker.io")]
fn a_killed_demo_leaves_no_container_behind() {
    testkit_image();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantprobe"))
        .arg("demo")
        .env(BACKEND_VARIABLE, "containers")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Killed once a server runs (killed between create and start, a container would stay).
    while list_containers(pid, &["--filter", "status=running"]).is_empty() {
        assert!(Instant::now() < deadline, "the demo started no container");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // No drop ran: the watcher in each container sees the pid gone, stops the server, and the
    // daemon removes the exited container.
    wait_until_removed(pid, Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(has_docker), ignore = "needs Docker: apt-get install docker.io")]
async fn a_missing_image_is_an_error_that_says_how_to_make_it_and_is_never_pulled() {
    debian_image::require_daemon();
    let absent = "tenantprobe-testkit:never-made";
    let error = ContainerPostgres::start_image(absent)
        .await
        .err()
        .expect("no image, no server");
    assert!(matches!(error, ServerError::ImageMissing { .. }), "{error}");
    let message = error.to_string();
    for part in [
        absent,
        "never pulled",
        "cargo test --features containers --test containers",
        "TENANTPROBE_POSTGRES_IMAGE",
    ] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    assert!(
        !docker(&["image", "inspect", absent]).status.success(),
        "the image was pulled"
    );
}
