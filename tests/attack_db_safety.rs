//! `attack db` on a hostile but realistic target, against real PostgreSQL: a function that sleeps
//! times out and the run finishes; TRUNCATE is judged from the catalog while an application
//! workload runs (nothing of ours ever blocks it), and on a server of our own its lock wait is
//! capped; functions that write outside the transaction (dblink) are never called; `--read-only`
//! leaves every row and sequence as it was; a killed or interrupted run leaves no session behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tenantprobe::attack::db::{self, AttackConfig, AttackOutcome};
use tenantprobe::session::SessionLimits;
use tenantprobe::tenancy::Tenancy;

/// The reference schema with two tenants' data and `extra` applied as the administrator.
async fn target(extra: &str) -> support::TestDb {
    let db = support::reference_db().await;
    support::provision_tenants(&db, ["acme", "globex"]).await;
    support::run_sql(&db.admin_options(), extra).await;
    db
}

fn limits(statement: Duration) -> SessionLimits {
    SessionLimits {
        statement,
        ..SessionLimits::default()
    }
}

/// `cases` cases from `seed`, otherwise the defaults.
fn config(cases: u32, seed: u64) -> AttackConfig {
    AttackConfig::new(cases, seed)
}

async fn attack(options: &PgConnectOptions, config: AttackConfig) -> AttackOutcome {
    tokio::time::timeout(
        Duration::from_secs(300),
        db::attack(options, &Tenancy::reference(), &config),
    )
    .await
    .expect("the attack did not finish within 5 minutes")
    .unwrap()
}

/// `attack` on `db` within the default session limits, as the CLI runs it.
async fn attack_in_default_limits(db: &support::TestDb, config: AttackConfig) -> AttackOutcome {
    attack(&SessionLimits::default().apply(db.admin_options()), config).await
}

/// An application workload on its own connection until stopped: short transactions reading and
/// writing the tenant tables. Records the slowest transaction and whether any of its sessions was
/// ever seen waiting on a lock.
struct Workload {
    stop: Arc<AtomicBool>,
    slowest_us: Arc<AtomicU64>,
    blocked: Arc<AtomicU64>,
    transactions: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workload {
    async fn start(options: &PgConnectOptions) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let slowest_us = Arc::new(AtomicU64::new(0));
        let blocked = Arc::new(AtomicU64::new(0));
        let transactions = Arc::new(AtomicU64::new(0));
        let app = options.clone().application_name("workload");
        let mut conn = PgConnection::connect_with(&app).await.unwrap();
        let (s, slow, n) = (stop.clone(), slowest_us.clone(), transactions.clone());
        let worker = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                sqlx::raw_sql(
                    "BEGIN; SELECT count(*) FROM public.tasks; SELECT count(*) FROM public.projects;
                     UPDATE public.projects SET name = name WHERE id = (SELECT id FROM public.projects LIMIT 1); COMMIT",
                )
                .execute(&mut conn)
                .await
                .unwrap();
                slow.fetch_max(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
                n.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let mut watch = PgConnection::connect_with(options).await.unwrap();
        let (s, b) = (stop.clone(), blocked.clone());
        let watcher = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE application_name = 'workload' AND cardinality(pg_blocking_pids(pid)) > 0",
                )
                .fetch_one(&mut watch)
                .await
                .unwrap();
                b.fetch_add(u64::try_from(waiting).unwrap(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Self {
            stop,
            slowest_us,
            blocked,
            transactions,
            tasks: vec![worker, watcher],
        }
    }

    /// (slowest transaction, times a workload session was seen blocked, transactions run).
    async fn finish(self) -> (Duration, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        (
            Duration::from_micros(self.slowest_us.load(Ordering::Relaxed)),
            self.blocked.load(Ordering::Relaxed),
            self.transactions.load(Ordering::Relaxed),
        )
    }
}

const SLEEPING_FUNCTION: &str = "
    CREATE FUNCTION public.slow_title(p uuid) RETURNS text LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(30); RETURN (SELECT name FROM public.projects WHERE id = p); END $$;
    GRANT EXECUTE ON FUNCTION public.slow_title(uuid) TO app_user;";

#[tokio::test]
async fn a_sleeping_function_times_out_and_truncate_is_judged_without_blocking_the_workload() {
    let db = target(&format!(
        "{SLEEPING_FUNCTION} GRANT TRUNCATE ON public.tasks TO app_user;"
    ))
    .await;
    let workload = Workload::start(&db.admin_options()).await;
    let options = limits(Duration::from_secs(1)).apply(db.admin_options());
    let begun = Instant::now();
    let outcome = attack(
        &options,
        AttackConfig {
            jobs: 2,
            ..config(24, 1)
        },
    )
    .await;
    let elapsed = begun.elapsed();
    let (slowest, blocked, transactions) = workload.finish().await;
    eprintln!(
        "attack {elapsed:?}; workload: {transactions} transactions, slowest {slowest:?}, seen blocked {blocked} times; timeouts {:?}",
        outcome.coverage.timed_out
    );

    let slow = "public.slow_title(uuid)";
    assert!(
        outcome.coverage.timed_out.contains_key(slow),
        "no timeout recorded: {:?}",
        outcome.coverage.table()
    );
    assert!(
        outcome.coverage.not_attacked().contains(&slow),
        "{:?}",
        outcome.coverage.table()
    );
    // One timeout per worker at most: the function is not tried again.
    assert!(
        outcome.coverage.timed_out[slow] <= 2,
        "{:?}",
        outcome.coverage.timed_out
    );
    assert!(elapsed < Duration::from_secs(120), "{elapsed:?}");

    let truncate = outcome
        .findings
        .iter()
        .find(|f| f.rule == "truncate-allowed" && f.object == "public.tasks")
        .unwrap_or_else(|| panic!("{:#?}", outcome.findings));
    assert!(
        truncate.detail.contains("judged from the catalog"),
        "{}",
        truncate.detail
    );
    assert!(
        !outcome
            .coverage
            .cells
            .keys()
            .any(|(_, p)| *p == db::Property::Truncate),
        "TRUNCATE was attempted on a server that is not tenantprobe's own"
    );

    assert!(transactions > 50, "the workload barely ran: {transactions}");
    assert_eq!(blocked, 0, "a workload transaction waited on a lock");
    assert!(
        slowest < Duration::from_secs(1),
        "slowest workload transaction {slowest:?}"
    );
}

#[tokio::test]
async fn on_its_own_server_a_truncate_waits_at_most_fifty_milliseconds_for_its_lock() {
    let db = target("GRANT TRUNCATE ON public.tasks TO app_user;").await;
    // An ordinary reader holds its lock for the whole run: a TRUNCATE must queue behind it.
    let mut reader =
        PgConnection::connect_with(&db.admin_options().application_name("workload-reader"))
            .await
            .unwrap();
    sqlx::raw_sql("BEGIN; SELECT count(*) FROM public.tasks")
        .execute(&mut reader)
        .await
        .unwrap();
    let workload = Workload::start(&db.admin_options()).await;
    let outcome = attack_in_default_limits(
        &db,
        AttackConfig {
            own_server: true,
            ..config(48, 2)
        },
    )
    .await;
    let (slowest, blocked, transactions) = workload.finish().await;
    eprintln!(
        "workload behind a TRUNCATE capped at 50 ms: {transactions} transactions, slowest {slowest:?}, seen blocked {blocked} times; timeouts {:?}",
        outcome.coverage.timed_out
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut reader)
        .await
        .unwrap();

    let tried = outcome
        .coverage
        .cells
        .iter()
        .filter(|((_, p), _)| *p == db::Property::Truncate)
        .map(|(_, (n, _))| n)
        .sum::<u64>();
    assert!(
        tried > 0,
        "no TRUNCATE attempt: {:?}",
        outcome.coverage.table()
    );
    assert!(
        outcome.coverage.timed_out.contains_key("public.tasks"),
        "the TRUNCATE behind the reader did not give up: {:?}",
        outcome.coverage.table()
    );
    assert!(transactions > 50, "the workload barely ran: {transactions}");
    // Queued behind our TRUNCATE for at most its 50 ms lock timeout, never seconds.
    assert!(
        slowest < Duration::from_secs(1),
        "slowest workload transaction {slowest:?}"
    );
}

fn dblink_functions(db: &support::TestDb) -> String {
    let o = db.admin_options();
    let conninfo = format!(
        "host={} port={} dbname={} user={}",
        o.get_host(),
        o.get_port(),
        db.name,
        o.get_username()
    );
    format!(
        "CREATE EXTENSION IF NOT EXISTS dblink;
         CREATE TABLE public.side_effects (note text);
         CREATE FUNCTION public.remember(p text) RETURNS text LANGUAGE sql SECURITY DEFINER
           SET search_path = public AS $$
           SELECT dblink_exec('{conninfo}', 'INSERT INTO public.side_effects VALUES (' || quote_literal(p) || ')') $$;
         CREATE FUNCTION public.remember_stable(p text) RETURNS text LANGUAGE sql STABLE AS $$
           SELECT public.remember(p) $$;
         GRANT EXECUTE ON FUNCTION public.remember(text), public.remember_stable(text) TO app_user;"
    )
}

async fn side_effects(db: &support::TestDb) -> i64 {
    let mut conn = PgConnection::connect_with(&db.admin_options())
        .await
        .unwrap();
    sqlx::query_scalar("SELECT count(*) FROM public.side_effects")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_function_that_writes_through_dblink_is_never_called_in_either_mode() {
    let db = support::reference_db().await;
    support::provision_tenants(&db, ["acme", "globex"]).await;
    support::run_sql(&db.admin_options(), &dblink_functions(&db)).await;

    // The danger is real: a rolled-back transaction does not undo the remote write.
    support::run_sql(
        &db.admin_options(),
        "BEGIN; SET LOCAL ROLE app_user; SELECT public.remember_stable('x'); ROLLBACK",
    )
    .await;
    assert_eq!(
        side_effects(&db).await,
        1,
        "dblink's write should outlive the rollback"
    );
    support::run_sql(&db.admin_options(), "DELETE FROM public.side_effects").await;

    for read_only in [false, true] {
        let outcome = attack_in_default_limits(
            &db,
            AttackConfig {
                read_only,
                ..config(48, 3)
            },
        )
        .await;
        assert!(
            outcome.attempts > 100,
            "read_only {read_only}: {}",
            outcome.attempts
        );
        assert_eq!(
            side_effects(&db).await,
            0,
            "read_only {read_only}: a remote write stayed"
        );
        for f in ["public.remember(text)", "public.remember_stable(text)"] {
            assert!(
                outcome
                    .coverage
                    .notes
                    .iter()
                    .any(|(o, note)| o == f && note.starts_with("not called")),
                "read_only {read_only}: {f} not reported as skipped: {:?}",
                outcome.coverage.notes
            );
            assert!(
                !outcome.coverage.cells.keys().any(|(o, _)| o == f),
                "read_only {read_only}: {f} was called"
            );
        }
        // dblink's own functions are library code of an extension: not called either.
        assert!(
            outcome
                .coverage
                .notes
                .iter()
                .any(|(o, note)| o.starts_with("public.dblink") && note.starts_with("not called")),
            "{:?}",
            outcome.coverage.notes
        );
    }
}

/// Every row of every table in `public` (as the superuser, past RLS) and every sequence.
async fn snapshot(db: &support::TestDb) -> (Vec<(String, String)>, Vec<(String, Option<i64>)>) {
    let mut conn = PgConnection::connect_with(&db.admin_options())
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut rows = Vec::new();
    for t in tables {
        let digest: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*)::text || ':' || coalesce(md5(string_agg(row_to_json(r)::text, '|' ORDER BY row_to_json(r)::text)), '') FROM {t} r"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        rows.push((t, digest.unwrap_or_default()));
    }
    let sequences = sqlx::query_as(
        "SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    (rows, sequences)
}

/// A tenant table keyed by sequences (bigserial and an ALWAYS identity), with data, and functions
/// that write or draw from a sequence, all callable by the app role.
const SEQUENCES_AND_WRITERS: &str = "
    CREATE TABLE public.invoices (
        id bigserial PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES public.tenants (id),
        number int GENERATED ALWAYS AS IDENTITY,
        note text NOT NULL
    );
    ALTER TABLE public.invoices OWNER TO tenant_owner;
    ALTER TABLE public.invoices ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON public.invoices
        USING (tenant_id = (SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid))
        WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid));
    GRANT SELECT, INSERT, UPDATE, DELETE ON public.invoices TO app_user;
    GRANT USAGE ON SEQUENCE public.invoices_id_seq TO app_user;
    INSERT INTO public.invoices (tenant_id, note) SELECT id, 'first invoice of ' || slug FROM public.tenants;
    CREATE FUNCTION public.purge_tasks() RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
        WITH d AS (DELETE FROM public.tasks RETURNING 1) SELECT count(*) FROM d $$;
    ALTER FUNCTION public.purge_tasks() OWNER TO tenant_owner;
    CREATE FUNCTION public.next_invoice_number() RETURNS bigint LANGUAGE sql AS $$
        SELECT nextval('public.invoices_id_seq') $$;
    GRANT EXECUTE ON FUNCTION public.purge_tasks(), public.next_invoice_number() TO app_user;";

#[tokio::test]
async fn read_only_mode_leaves_every_row_and_every_sequence_as_it_was() {
    let db = target(SEQUENCES_AND_WRITERS).await;
    let before = snapshot(&db).await;
    assert!(
        before
            .0
            .iter()
            .any(|(t, d)| t == "public.tasks" && !d.starts_with("0:"))
    );
    let outcome = attack_in_default_limits(
        &db,
        AttackConfig {
            read_only: true,
            ..config(64, 4)
        },
    )
    .await;
    assert!(outcome.attempts > 100, "{}", outcome.attempts);
    assert_eq!(
        snapshot(&db).await,
        before,
        "read-only mode changed the database"
    );
    assert!(
        outcome.sequences_advanced.is_empty(),
        "{:?}",
        outcome.sequences_advanced
    );
    for f in ["public.purge_tasks()", "public.next_invoice_number()"] {
        assert!(
            outcome
                .coverage
                .notes
                .iter()
                .any(|(o, n)| o == f && n.contains("VOLATILE")),
            "{f}: {:?}",
            outcome.coverage.notes
        );
    }
}

#[tokio::test]
async fn full_mode_keeps_nothing_and_reports_every_sequence_it_moved() {
    let db = target(SEQUENCES_AND_WRITERS).await;
    let before = snapshot(&db).await;
    let outcome = attack_in_default_limits(&db, config(64, 5)).await;
    assert!(outcome.attempts > 500, "{}", outcome.attempts);
    // The seeded tenant table was attacked.
    support::assert_attacked(&outcome.coverage, "public.invoices", db::Property::Insert);
    let after = snapshot(&db).await;
    assert_eq!(
        after.0, before.0,
        "rows changed outside the rolled-back transactions"
    );
    let moved: Vec<(String, i64)> = after
        .1
        .iter()
        .zip(&before.1)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, b)| (a.0.clone(), a.1.unwrap_or(0) - b.1.unwrap_or(0)))
        .collect();
    eprintln!(
        "full mode: {} attempts; sequences moved {moved:?}",
        outcome.attempts
    );
    assert_eq!(
        moved, outcome.sequences_advanced,
        "the report must name exactly the sequences that moved"
    );
}

/// Sessions of the process `pid` still on the server.
async fn sessions_of(options: &PgConnectOptions, pid: u32) -> i64 {
    let mut conn = PgConnection::connect_with(options).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1")
        .bind(format!("tenantprobe/{pid}-%"))
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// Starts `attack db` on the sleeping function with a long statement timeout and waits until it
/// is inside the sleep. The caller kills (or interrupts) and waits for it.
#[allow(clippy::zombie_processes)]
async fn attack_inside_a_sleep(db: &support::TestDb) -> std::process::Child {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tenantprobe"))
        .args([
            "attack",
            "db",
            "--database-url",
            &db.admin_url(),
            "--app-role",
            "app_user",
            "--statement-timeout",
            "60s",
            "--cases",
            "200",
            "--seed",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let app = format!("tenantprobe/{}-%", child.id());
    let mut conn = PgConnection::connect_with(&db.admin_options())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let sleeping: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1 AND state = 'active' AND wait_event = 'PgSleep'",
        )
        .bind(&app)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if sleeping > 0 {
            return child;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the attack never reached the sleeping function");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn assert_no_session_left(db: &support::TestDb, pid: u32, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = sessions_of(&db.admin_options(), pid).await;
        if left == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{left} session(s) still open after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_killed_run_leaves_no_session_or_transaction_behind() {
    let db = target(SLEEPING_FUNCTION).await;
    let mut child = attack_inside_a_sleep(&db).await;
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    // The server notices the closed socket within client_connection_check_interval (1 s), not
    // after the 30 s sleep or the 60 s statement timeout.
    assert_no_session_left(&db, pid, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_interrupted_run_cancels_its_statements_and_exits() {
    let db = target(SLEEPING_FUNCTION).await;
    let mut child = attack_inside_a_sleep(&db).await;
    let pid = child.id();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let begun = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(10),
            "SIGINT did not stop the run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_no_session_left(&db, pid, Duration::from_secs(3)).await;
}
