//! The premium database-per-tenant tier end to end, on real PostgreSQL: the promotion procedure
//! (interrupted after every step and resumed, run twice, verified by counts and checksums), the
//! app's routing, each premium fault caught by tenantprobe and the correct app clean, and the
//! many-database spec (`placements_query`) on one shared and two premium databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reference_app::faults::{Fault, Faults};
use reference_app::promote::{self, PromoteError, STEPS};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::postgres::PgArguments;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use support::{TestDb, repo_path, send, tenantprobe};
use tenantprobe::checks::placement::{self, PremiumDatabase};
use tenantprobe_testkit::reference::{Options, ReferenceApp};
use tenantprobe_testkit::synthetic::{SyntheticTenant, provision_reference};

/// The reference spec's catalog query: routed tenants, `cleaned` once the promotion is done.
const PLACEMENTS_QUERY: &str = "SELECT tenant_id::text, database_name AS database, app_role, state = 'done' AS cleaned FROM control.tenant_placements WHERE state IN ('routed', 'done')";

struct World {
    db: TestDb,
    acme: SyntheticTenant,
    globex: SyntheticTenant,
    initech: SyntheticTenant,
}

async fn world() -> World {
    let db = support::reference_db().await;
    let mut owner = db.connect_as_owner().await.unwrap();
    let acme = provision_reference(&mut owner, "acme").await.unwrap();
    let globex = provision_reference(&mut owner, "globex").await.unwrap();
    let initech = provision_reference(&mut owner, "initech").await.unwrap();
    World {
        db,
        acme,
        globex,
        initech,
    }
}

impl World {
    /// Promotes `tenant` by the correct procedure (stopping after `stop_after` when given).
    async fn promote(
        &self,
        tenant: &SyntheticTenant,
        stop_after: Option<&str>,
    ) -> Result<promote::Promotion, PromoteError> {
        self.promote_with(tenant, &Faults::none(), stop_after).await
    }

    async fn promote_with(
        &self,
        tenant: &SyntheticTenant,
        faults: &Faults,
        stop_after: Option<&str>,
    ) -> Result<promote::Promotion, PromoteError> {
        promote::promote(&self.db.admin_options(), &tenant.slug, faults, stop_after).await
    }

    async fn admin_on(&self, database: &str) -> PgConnection {
        PgConnection::connect_with(&self.db.admin_options().database(database))
            .await
            .unwrap()
    }

    /// Runs `statement` on the shared database as the administrator.
    async fn on_shared(&self, statement: sqlx::query::Query<'_, sqlx::Postgres, PgArguments>) {
        let mut shared = self.admin_on(&self.db.name).await;
        statement.execute(&mut shared).await.unwrap();
    }

    async fn placements(&self) -> Vec<PremiumDatabase> {
        let mut conn = self.admin_on(&self.db.name).await;
        placement::list(&mut conn, PLACEMENTS_QUERY).await.unwrap()
    }

    async fn located(&self) -> placement::PlacementOutcome {
        let placements = self.placements().await;
        placement::check(
            &self.db.admin_options(),
            &support::reference_spec().database.unwrap().tenancy(),
            &placements,
        )
        .await
        .unwrap()
    }
}

fn premium_db(tenant: &SyntheticTenant) -> String {
    format!("tenant_{}", tenant.id.simple())
}

/// Count and md5 of one tenant's rows per tenant table, as the administrator (no RLS).
async fn contents(conn: &mut PgConnection, tenant: &SyntheticTenant) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for (table, key) in promote::TENANT_TABLES {
        let (n, sum): (i64, String) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {table} t WHERE {key} = $1"
        )))
        .bind(tenant.id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        out.push((table.to_owned(), n, sum));
    }
    out
}

/// Everything of `tenant` except its directory row in `tenants`.
async fn data_rows(conn: &mut PgConnection, tenant: &SyntheticTenant) -> i64 {
    contents(conn, tenant)
        .await
        .iter()
        .filter(|(t, _, _)| t != "tenants")
        .map(|(_, n, _)| n)
        .sum()
}

async fn state_of(w: &World, tenant: &SyntheticTenant) -> String {
    let mut conn = w.admin_on(&w.db.name).await;
    sqlx::query_scalar("SELECT state FROM control.tenant_placements WHERE tenant_id = $1")
        .bind(tenant.id)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

// ---- the promotion procedure -------------------------------------------------------------------

#[tokio::test]
async fn a_promotion_interrupted_after_any_step_is_finished_by_the_next_run() {
    for (i, step) in STEPS[..STEPS.len() - 1].iter().enumerate() {
        let w = world().await;
        let mut shared = w.admin_on(&w.db.name).await;
        let before = contents(&mut shared, &w.acme).await;
        let globex_before = contents(&mut shared, &w.globex).await;
        assert!(data_rows(&mut shared, &w.acme).await > 0);

        let first = w.promote(&w.acme, Some(step)).await.unwrap();
        assert_eq!(
            first.performed,
            STEPS[..=i].to_vec(),
            "stopped after {step}"
        );
        assert_eq!(state_of(&w, &w.acme).await, *step);

        let second = w.promote(&w.acme, None).await.unwrap();
        assert_eq!(
            second.performed,
            STEPS[i + 1..].to_vec(),
            "resumed after {step}"
        );
        assert_eq!(second.placement.state, "done");

        let mut premium = w.admin_on(&premium_db(&w.acme)).await;
        assert_eq!(
            contents(&mut premium, &w.acme).await,
            before,
            "after {step}"
        );
        assert_eq!(data_rows(&mut shared, &w.acme).await, 0, "after {step}");
        assert_eq!(contents(&mut shared, &w.globex).await, globex_before);
        assert!(w.located().await.findings.is_empty());
    }
}

#[tokio::test]
async fn promoting_a_promoted_tenant_again_changes_nothing() {
    let w = world().await;
    let done = w.promote(&w.acme, None).await.unwrap();
    assert_eq!(done.performed, STEPS.to_vec());
    assert_eq!(
        done.rows.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        promote::TENANT_TABLES.map(|(t, _)| t).to_vec()
    );
    assert!(done.rows.iter().all(|(_, n)| *n > 0), "{:?}", done.rows);
    let mut premium = w.admin_on(&premium_db(&w.acme)).await;
    let copied = contents(&mut premium, &w.acme).await;

    let again = w.promote(&w.acme, None).await.unwrap();
    assert!(again.performed.is_empty(), "{again:?}");
    assert_eq!(again.placement, done.placement);
    assert_eq!(contents(&mut premium, &w.acme).await, copied);
    // By slug or by id, the same tenant.
    let by_id = promote::promote(
        &w.db.admin_options(),
        &w.acme.id.to_string(),
        &Faults::none(),
        None,
    )
    .await
    .unwrap();
    assert!(by_id.performed.is_empty());
}

#[tokio::test]
async fn a_copy_that_no_longer_matches_the_shared_rows_is_neither_routed_nor_cleaned() {
    let w = world().await;
    w.promote(&w.acme, Some("copied")).await.unwrap();
    w.on_shared(
        sqlx::query("UPDATE projects SET name = name || ' (renamed meanwhile)' WHERE tenant_id = $1 AND id = $2")
            .bind(w.acme.id)
            .bind(w.acme.project_ids[0]),
    )
    .await;
    let err = w.promote(&w.acme, None).await.unwrap_err();
    assert!(
        matches!(
            &err,
            PromoteError::VerifyFailed {
                table: "projects",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("run promote again"), "{err}");
    assert_eq!(state_of(&w, &w.acme).await, "migrated");
    assert!(w.placements().await.is_empty(), "not routed");

    let done = w.promote(&w.acme, None).await.unwrap();
    assert_eq!(done.performed, ["copied", "verified", "routed", "done"]);
    let mut premium = w.admin_on(&premium_db(&w.acme)).await;
    let renamed: String = sqlx::query_scalar("SELECT name FROM projects WHERE id = $1")
        .bind(w.acme.project_ids[0])
        .fetch_one(&mut premium)
        .await
        .unwrap();
    assert!(renamed.ends_with("(renamed meanwhile)"), "{renamed}");
}

#[tokio::test]
async fn an_unknown_tenant_or_state_is_a_clear_error() {
    let w = world().await;
    let err = promote::promote(
        &w.db.admin_options(),
        "no-such-tenant",
        &Faults::none(),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no tenant `no-such-tenant` in the shared database: give an existing tenant's id or slug"
    );
    // A failed verification leaves `migrated`; a state nobody wrote is refused, not guessed at.
    w.promote(&w.acme, Some("placed")).await.unwrap();
    w.on_shared(
        sqlx::query("UPDATE control.tenant_placements SET state = 'halfway' WHERE tenant_id = $1")
            .bind(w.acme.id),
    )
    .await;
    let err = w.promote(&w.acme, None).await.unwrap_err();
    assert!(err.to_string().contains("unknown state `halfway`"), "{err}");
}

// ---- the app's routing and its fault ------------------------------------------------------------

async fn app(w: &World, faults: &[Fault]) -> ReferenceApp {
    ReferenceApp::start(
        &w.db,
        Options {
            faults: faults.iter().copied().collect(),
            ..Options::default()
        },
    )
    .await
    .unwrap()
}

fn as_tenant(
    app: &ReferenceApp,
    tenant: &SyntheticTenant,
    method: Method,
    path: &str,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", app.url()))
        .bearer_auth(app.token_for(tenant))
}

fn ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_promoted_tenant_is_served_from_its_own_database_and_writes_land_there() {
    let w = world().await;
    w.promote(&w.acme, None).await.unwrap();
    let app = app(&w, &[]).await;
    let (status, body) = send(as_tenant(&app, &w.acme, Method::GET, "/api/projects")).await;
    assert_eq!(status, 200, "{body}");
    let mut expected: Vec<String> = w.acme.project_ids.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(ids(&body), expected);
    let (status, created) = send(
        as_tenant(&app, &w.acme, Method::POST, "/api/projects")
            .json(&json!({"name": "premium work"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let mut premium = w.admin_on(&premium_db(&w.acme)).await;
    let there: i64 =
        sqlx::query_scalar("SELECT count(*) FROM projects WHERE name = 'premium work'")
            .fetch_one(&mut premium)
            .await
            .unwrap();
    assert_eq!(there, 1);
    let mut shared = w.admin_on(&w.db.name).await;
    assert_eq!(data_rows(&mut shared, &w.acme).await, 0);
    // A shared tenant on the same app is still served from the shared database.
    let (status, body) = send(as_tenant(&app, &w.globex, Method::GET, "/api/projects")).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body).len(), w.globex.project_ids.len());
    assert!(w.located().await.findings.is_empty());
}

#[tokio::test]
async fn a_tenant_is_fenced_off_between_its_copy_and_the_switch() {
    let w = world().await;
    w.promote(&w.acme, Some("copied")).await.unwrap();
    let app = app(&w, &[]).await;
    let (status, _) = send(as_tenant(&app, &w.acme, Method::GET, "/api/projects")).await;
    assert_eq!(status, 503);
    let (status, _) = send(as_tenant(&app, &w.globex, Method::GET, "/api/projects")).await;
    assert_eq!(status, 200);
    w.promote(&w.acme, None).await.unwrap();
    let (status, body) = send(as_tenant(&app, &w.acme, Method::GET, "/api/projects")).await;
    assert_eq!((status, ids(&body).len()), (200, w.acme.project_ids.len()));
}

/// A promotion stopped after the route switch (clean-up to come), then the tenant's database
/// becomes unreachable for the app (its role may no longer log in), then the tenant writes.
async fn write_while_the_premium_database_is_down(faults: &[Fault]) -> (u16, World) {
    let w = world().await;
    w.promote(&w.acme, Some("routed")).await.unwrap();
    let mut shared = w.admin_on(&w.db.name).await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "ALTER ROLE app_{} NOLOGIN",
        w.acme.id.simple()
    )))
    .execute(&mut shared)
    .await
    .unwrap();
    let app = app(&w, faults).await;
    let (status, body) = send(
        as_tenant(&app, &w.acme, Method::POST, "/api/projects")
            .json(&json!({"name": "written during the outage"})),
    )
    .await;
    assert!(status == 201 || status == 503, "{status} {body}");
    (status, w)
}

#[tokio::test]
async fn premium_route_fallback_is_caught_by_the_data_location_check() {
    let (status, w) =
        write_while_the_premium_database_is_down(&[Fault::PremiumRouteFallback]).await;
    assert_eq!(
        status, 201,
        "the fault served the write from the shared database"
    );
    let found = w.located().await.findings;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule, "tenant-data-misplaced");
    assert_eq!(found[0].object, format!("{}:public.projects", w.db.name));
    assert!(
        found[0]
            .detail
            .contains("written to the shared database after the switch"),
        "{}",
        found[0].detail
    );
}

#[tokio::test]
async fn the_correct_app_refuses_a_premium_tenant_whose_database_is_down() {
    let (status, w) = write_while_the_premium_database_is_down(&[]).await;
    assert_eq!(status, 503);
    let located = w.located().await;
    assert_eq!(located.databases, 2);
    assert!(located.findings.is_empty(), "{:#?}", located.findings);
}

// ---- the data-location check --------------------------------------------------------------------

#[tokio::test]
async fn promote_leftovers_is_caught_by_the_data_location_check() {
    let w = world().await;
    let faulty: Faults = [Fault::PromoteLeftovers].into_iter().collect();
    let done = w.promote_with(&w.acme, &faulty, None).await.unwrap();
    assert_eq!(done.placement.state, "done");
    let mut shared = w.admin_on(&w.db.name).await;
    assert!(
        data_rows(&mut shared, &w.acme).await > 0,
        "the fault leaves the rows"
    );
    let found = w.located().await.findings;
    let objects: Vec<&str> = found.iter().map(|f| f.object.as_str()).collect();
    for table in ["users", "projects", "tasks", "audit_events"] {
        assert!(
            objects.contains(&format!("{}:public.{table}", w.db.name).as_str()),
            "{objects:?}"
        );
    }
    assert!(found.iter().all(|f| f.rule == "tenant-data-misplaced"
        && f.severity == tenantprobe::finding::Severity::Critical
        && f.detail.contains("left in the shared schema")));
}

#[tokio::test]
async fn one_shared_and_two_premium_databases_are_clean_and_a_planted_row_is_caught() {
    let w = world().await;
    w.promote(&w.acme, None).await.unwrap();
    w.promote(&w.globex, None).await.unwrap();
    let located = w.located().await;
    assert_eq!(located.databases, 3);
    assert!(located.tables >= 10, "{}", located.tables);
    assert!(located.findings.is_empty(), "{:#?}", located.findings);

    // initech's tenant row and one project, planted in acme's premium database.
    let mut acme_db = w.admin_on(&premium_db(&w.acme)).await;
    sqlx::query("INSERT INTO tenants (id, name, slug) VALUES ($1, 'Initech', 'initech')")
        .bind(w.initech.id)
        .execute(&mut acme_db)
        .await
        .unwrap();
    sqlx::query("INSERT INTO projects (tenant_id, name) VALUES ($1, 'planted')")
        .bind(w.initech.id)
        .execute(&mut acme_db)
        .await
        .unwrap();
    let found = w.located().await.findings;
    let mut objects: Vec<String> = found.iter().map(|f| f.object.clone()).collect();
    objects.sort();
    let acme_name = premium_db(&w.acme);
    assert_eq!(
        objects,
        [
            format!("{acme_name}:public.projects"),
            format!("{acme_name}:public.tenants")
        ]
    );
    assert!(found[0].evidence.as_ref().unwrap().contains(&acme_name));
}

#[tokio::test]
async fn a_premium_role_that_may_connect_to_another_premium_database_is_caught() {
    let w = world().await;
    w.promote(&w.acme, None).await.unwrap();
    w.promote(&w.globex, None).await.unwrap();
    let mut shared = w.admin_on(&w.db.name).await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "GRANT CONNECT ON DATABASE {} TO app_{}",
        premium_db(&w.globex),
        w.acme.id.simple()
    )))
    .execute(&mut shared)
    .await
    .unwrap();
    let found = w.located().await.findings;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule, "premium-database-cross-connect");
    assert_eq!(
        found[0].object,
        format!("{}:app_{}", premium_db(&w.globex), w.acme.id.simple())
    );
    // And it really can: the grant is not a catalog artefact.
    let can = PgConnection::connect_with(
        &w.db
            .options_as(&format!("app_{}", w.acme.id.simple()))
            .database(&premium_db(&w.globex)),
    )
    .await;
    assert!(can.is_ok());
    let cannot = PgConnection::connect_with(
        &w.db
            .options_as(&format!("app_{}", w.globex.id.simple()))
            .database(&premium_db(&w.acme)),
    )
    .await;
    assert!(
        cannot.is_err(),
        "globex's role may not connect to acme's database"
    );
}

// ---- the many-database spec through the CLI -------------------------------------------------------

/// The reference spec with the catalog query added under [database].
fn premium_spec() -> tempfile::NamedTempFile {
    let text = std::fs::read_to_string(repo_path("probes/reference-app.toml")).unwrap();
    let text = text.replacen(
        "[database]\n",
        &format!("[database]\nplacements_query = \"{PLACEMENTS_QUERY}\"\n"),
        1,
    );
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    file
}

fn run(w: &World, spec: &tempfile::NamedTempFile, command: &[&str]) -> (i32, Value, String) {
    let (code, stdout, stderr) = run_as(w, spec, command, "json");
    let report =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (code, report, stderr)
}

/// Exit code and the report in `format` (the human one carries the per-database notes).
fn run_as(
    w: &World,
    spec: &tempfile::NamedTempFile,
    command: &[&str],
    format: &str,
) -> (i32, String, String) {
    let url = w.db.admin_url();
    let path = spec.path().to_str().unwrap();
    let mut args = command.to_vec();
    args.extend(["--target", path, "--format", format]);
    tenantprobe(&args, &[("TENANTPROBE_DATABASE_URL", &url)])
}

fn check_ran(report: &Value, rule: &str) -> bool {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["rule"] == rule && c["status"] == "passed")
}

#[tokio::test]
async fn audit_and_attack_db_run_on_the_shared_and_both_premium_databases() {
    let w = world().await;
    w.promote(&w.acme, None).await.unwrap();
    w.promote(&w.globex, None).await.unwrap();
    let spec = premium_spec();
    let (code, report, stderr) = run(&w, &spec, &["audit"]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert!(
        check_ran(&report, "tenant-data-misplaced")
            && check_ran(&report, "premium-database-cross-connect")
    );
    let (code, text, _) = run_as(&w, &spec, &["audit"], "human");
    assert_eq!(code, 0, "{text}");
    for tenant in [&w.acme, &w.globex] {
        assert!(
            text.contains(&format!("premium database `{}`", premium_db(tenant))),
            "{text}"
        );
    }
    assert!(text.contains("data location: 3 database(s)"), "{text}");
    // The slug function's waiver (an object without a database) covers it on every database.
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 3, "{findings:#?}");
    assert!(findings.iter().all(|f| f["waived"].is_string()));
    let mut objects: Vec<&str> = findings
        .iter()
        .map(|f| f["object"].as_str().unwrap())
        .collect();
    objects.sort_unstable();
    let mut expected = vec![
        format!("{}:public.tenant_id_for_slug(text)", w.db.name),
        format!("{}:public.tenant_id_for_slug(text)", premium_db(&w.acme)),
        format!("{}:public.tenant_id_for_slug(text)", premium_db(&w.globex)),
    ];
    expected.sort();
    assert_eq!(objects, expected);

    let attack = [
        "attack",
        "db",
        "--cases",
        "8",
        "--seed",
        "19",
        "--max-steps",
        "16",
    ];
    let (code, text, stderr) = run_as(&w, &spec, &attack, "human");
    assert_eq!(code, 0, "{text}\n{stderr}");
    for tenant in [&w.acme, &w.globex] {
        assert!(
            text.contains(&format!("premium database `{}`", premium_db(tenant)))
                && text.contains("8 cases"),
            "{text}"
        );
    }
    assert!(!text.contains(" 0 attempts"), "{text}");

    // A row of acme planted back into the shared schema fails the audit.
    w.on_shared(
        sqlx::query("INSERT INTO projects (tenant_id, name) VALUES ($1, 'stray')").bind(w.acme.id),
    )
    .await;
    let (code, report, _) = run(&w, &spec, &["audit"]);
    assert_eq!(code, 1);
    let misplaced: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "tenant-data-misplaced")
        .collect();
    assert_eq!(misplaced.len(), 1, "{report:#}");
    assert_eq!(
        misplaced[0]["object"],
        format!("{}:public.projects", w.db.name)
    );
}

/// A premium database that holds no table gets no attempt: `attack db` must not pass on it
/// (exit 2, the database named). The same run passes while the tables are there.
#[tokio::test]
async fn attack_db_fails_on_a_premium_database_it_could_not_attack() {
    let w = world().await;
    w.promote(&w.acme, None).await.unwrap();
    let spec = premium_spec();
    let attack = [
        "attack",
        "db",
        "--cases",
        "4",
        "--seed",
        "3",
        "--max-steps",
        "8",
    ];
    let (code, text, stderr) = run_as(&w, &spec, &attack, "human");
    assert_eq!(code, 0, "{text}\n{stderr}");
    assert!(!text.contains(" 0 attempts"), "{text}");

    let mut premium = w.admin_on(&premium_db(&w.acme)).await;
    sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        .execute(&mut premium)
        .await
        .unwrap();
    let (code, text, stderr) = run_as(&w, &spec, &attack, "human");
    assert_eq!(code, 2, "{text}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "attack db made no attempt on premium database `{}`",
            premium_db(&w.acme)
        )),
        "{stderr}"
    );
}

// ---- the monitor's premium synthetic tenant -------------------------------------------------------

/// The reference spec for two existing synthetic tenants, `acme` premium: the catalog query under
/// [database], `premium_tenants` under [monitor].
fn monitor_spec(w: &World) -> tenantprobe::spec::Spec {
    let text = std::fs::read_to_string(repo_path("probes/reference-app.toml")).unwrap();
    let start = text.find("[tenants]").unwrap();
    let end = text.find("[api]").unwrap();
    let tenants = format!(
        "[tenants]\nprovision = \"existing\"\n{}\n",
        [&w.acme, &w.globex]
            .iter()
            .map(|t| format!(
                "[[tenants.tenants]]\nslug = \"{}\"\ntenant_id = \"{}\"\nuser_id = \"{}\"\n",
                t.slug, t.id, t.user_id
            ))
            .collect::<String>()
    );
    let text = format!("{}{tenants}{}", &text[..start], &text[end..])
        .replacen(
            "[database]\n",
            &format!("[database]\nplacements_query = \"{PLACEMENTS_QUERY}\"\n"),
            1,
        )
        .replace(
            "synthetic_tenants = [\"tenantprobe-synthetic-a\", \"tenantprobe-synthetic-b\"]",
            "synthetic_tenants = [\"acme\", \"globex\"]\npremium_tenants = [\"acme\"]",
        );
    tenantprobe::spec::Spec::parse(&text, "premium-monitor.toml").unwrap()
}

async fn monitor_cycle(faults: &Faults) -> tenantprobe::monitor::CycleReport {
    use tenantprobe::monitor::{Probe, Provisioning};
    let w = world().await;
    w.promote_with(&w.acme, faults, None).await.unwrap();
    let redis = support::redis_db().await;
    let app = ReferenceApp::start(
        &w.db,
        Options {
            redis_url: Some(redis.url.clone()),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let env = app.env(&w.db, Some(&redis.url));
    let probe = Probe::setup(&monitor_spec(&w), &env, Provisioning::Create, None)
        .await
        .unwrap();
    probe.init().await.unwrap();
    probe.cycle().await
}

#[tokio::test]
async fn the_monitor_checks_a_premium_synthetic_tenant_in_its_own_database() {
    use tenantprobe::monitor::{Check, CheckStatus};
    let report = monitor_cycle(&Faults::none()).await;
    let premium: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.check == Check::DbPremium)
        .collect();
    assert_eq!(premium.len(), 1, "{:#?}", report.results);
    assert_eq!(premium[0].synthetic_tenant, "acme");
    assert_eq!(premium[0].status(), CheckStatus::Pass, "{:#?}", premium[0]);
    assert!(report.passed(), "{:#?}", report.results);
}

#[tokio::test]
async fn the_monitor_catches_promote_leftovers_for_its_premium_synthetic_tenant() {
    use tenantprobe::monitor::{Check, CheckStatus};
    let report = monitor_cycle(&[Fault::PromoteLeftovers].into_iter().collect()).await;
    let premium = report
        .results
        .iter()
        .find(|r| r.check == Check::DbPremium)
        .unwrap();
    assert_eq!(premium.status(), CheckStatus::Fail);
    assert!(
        premium
            .found
            .violations
            .iter()
            .any(|f| f.rule == "tenant-data-misplaced"),
        "{premium:#?}"
    );
    assert!(!report.passed());
}
