//! `attack admin` is generic: here it checks an operator console written in another style than the
//! reference panel (other paths and field names, no CSRF token, a `justification` instead of a
//! reason, its journal in a table of its own), served by this test on a random port. The correct
//! console yields nothing; open routes and a journal written for the wrong tenant are caught.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sqlx::PgPool;
use tenantprobe::attack::admin::{self, AdminOutcome, AdminTarget};
use tenantprobe::spec::Spec;
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq)]
enum Bug {
    None,
    /// The org list answers without a session.
    OpenRoutes,
    /// The journal entry names another org than the one assumed.
    JournalWrongOrg,
}

/// The org a session assumed and when that ends, if it assumed one.
type Assumed = Option<(Uuid, std::time::Instant)>;

#[derive(Clone)]
struct Console {
    bug: Bug,
    pool: PgPool,
    /// session id → (assumed org, when it ends)
    sessions: Arc<Mutex<HashMap<String, Assumed>>>,
    /// The org the buggy journal names instead: the other test tenant, set once it exists.
    other_org: Arc<Mutex<Uuid>>,
}

fn session(console: &Console, headers: &HeaderMap) -> Option<String> {
    let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
    let sid = cookie
        .split(';')
        .find_map(|p| p.trim().strip_prefix("sid="))?
        .to_owned();
    console
        .sessions
        .lock()
        .unwrap()
        .contains_key(&sid)
        .then_some(sid)
}

async fn sign_in(State(c): State<Console>, Form(f): Form<HashMap<String, String>>) -> Response {
    if f.get("user").map(String::as_str) != Some("root")
        || f.get("pass").map(String::as_str) != Some("correct horse battery")
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let sid = Uuid::new_v4().simple().to_string();
    c.sessions.lock().unwrap().insert(sid.clone(), None);
    (
        StatusCode::FOUND,
        [
            (header::SET_COOKIE, format!("sid={sid}; HttpOnly")),
            (header::LOCATION, "/ops/orgs".to_owned()),
        ],
    )
        .into_response()
}

async fn orgs(State(c): State<Console>, headers: HeaderMap) -> Response {
    if c.bug != Bug::OpenRoutes && session(&c, &headers).is_none() {
        return StatusCode::FORBIDDEN.into_response();
    }
    "<ul><li>every org</li></ul>".into_response()
}

async fn assume(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(org): Path<Uuid>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let Some(sid) = session(&c, &headers) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let Some(why) = f.get("justification").filter(|j| !j.trim().is_empty()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let journal_org = if c.bug == Bug::JournalWrongOrg {
        *c.other_org.lock().unwrap()
    } else {
        org
    };
    sqlx::query("INSERT INTO ops_journal (org, entry) VALUES ($1, $2)")
        .bind(journal_org)
        .bind(format!("assumed by root: {why}"))
        .execute(&c.pool)
        .await
        .unwrap();
    c.sessions.lock().unwrap().insert(
        sid,
        Some((
            org,
            std::time::Instant::now() + std::time::Duration::from_secs(1),
        )),
    );
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("/ops/orgs/{org}/overview"))],
    )
        .into_response()
}

async fn overview(State(c): State<Console>, headers: HeaderMap, Path(org): Path<Uuid>) -> Response {
    let Some(sid) = session(&c, &headers) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let assumed = c.sessions.lock().unwrap().get(&sid).copied().flatten();
    match assumed {
        Some((o, until)) if o == org && std::time::Instant::now() < until => {
            format!("<h1>org {org}</h1>").into_response()
        }
        _ => StatusCode::FORBIDDEN.into_response(),
    }
}

const SPEC: &str = r#"
name = "ops-console"

[database]
url_env = "TENANTPROBE_DATABASE_URL"
app_role = "app_user"

[tenants]
provision = "sql"
url_env = "TENANTPROBE_ADMIN_DATABASE_URL"
statement = """
WITH tenant AS (
    INSERT INTO tenants (name, slug) VALUES ({name}, {slug})
    ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name RETURNING id
)
SELECT id::text AS tenant_id, NULL::text AS user_id FROM tenant
"""

[api]
base_url_env = "OPS_URL"

[api.auth]
scheme = "jwt-hs256"
secret_env = "JWT_SECRET"

[api.auth.claims]
org = "{tenant_id}"

[admin]
username_env = "OPS_USER"
password_env = "OPS_PASS"
login = "/ops/sign-in"
username_field = "user"
password_field = "pass"
csrf_field = ""
forms_page = "/ops/orgs"
impersonate = "/ops/orgs/{tenant_id}/assume"
reason_field = "justification"
view = "/ops/orgs/{tenant_id}/overview"
audit_query = "SELECT entry FROM ops_journal WHERE org = {tenant_id}::uuid"
time_box = "1s"
routes = ["/ops/orgs"]
"#;

async fn run(bug: Bug) -> AdminOutcome {
    let db = support::reference_db().await;
    let pool = PgPool::connect_with(db.admin_options()).await.unwrap();
    sqlx::query("CREATE TABLE ops_journal (org uuid NOT NULL, entry text NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let console = Console {
        bug,
        pool,
        sessions: Arc::default(),
        other_org: Arc::default(),
    };
    let app = Router::new()
        .route(
            "/ops/sign-in",
            get(|| async { "<form method=post></form>" }).post(sign_in),
        )
        .route("/ops/orgs", get(orgs))
        .route("/ops/orgs/{org}/assume", post(assume))
        .route("/ops/orgs/{org}/overview", get(overview))
        .with_state(console.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let spec = Spec::parse(SPEC, "ops-console.toml").unwrap();
    let vars: HashMap<&str, String> = [
        ("OPS_URL", url),
        ("OPS_USER", "root".to_owned()),
        ("OPS_PASS", "correct horse battery".to_owned()),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef".to_owned()),
        ("TENANTPROBE_DATABASE_URL", db.admin_url()),
        ("TENANTPROBE_ADMIN_DATABASE_URL", db.admin_url()),
    ]
    .into();
    let env = move |name: &str| vars.get(name).cloned();
    let target = AdminTarget::resolve(&spec, &env).unwrap();
    let (api, tenants) =
        support::targets::http_target_and_tenants(&spec, &env, &["ops-a", "ops-b"]).await;
    *console.other_org.lock().unwrap() = tenants[1].tenant_id.parse().unwrap();
    let outcome = admin::check(&target, &api, &tenants[0], &tenants[1])
        .await
        .unwrap();
    server.abort();
    outcome
}

fn rules(outcome: &AdminOutcome) -> Vec<&str> {
    let mut rules: Vec<&str> = outcome.findings.iter().map(|f| f.rule.as_str()).collect();
    rules.sort_unstable();
    rules
}

#[tokio::test]
async fn a_correct_console_in_another_style_yields_nothing() {
    let outcome = run(Bug::None).await;
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    assert!(outcome.skipped.is_empty(), "{:?}", outcome.skipped);
    assert_eq!(outcome.examined.len(), 4, "{:?}", outcome.examined);
}

#[tokio::test]
async fn a_console_route_open_without_a_session_is_caught_for_anonymous_callers_and_tenant_tokens()
{
    let outcome = run(Bug::OpenRoutes).await;
    assert_eq!(
        rules(&outcome),
        [
            "admin-route-open-to-anonymous",
            "admin-route-open-to-tenant-token"
        ],
        "{:#?}",
        outcome.findings
    );
}

#[tokio::test]
async fn a_journal_entry_written_for_another_org_is_caught() {
    let outcome = run(Bug::JournalWrongOrg).await;
    assert_eq!(
        rules(&outcome),
        ["admin-impersonation-unlogged"],
        "{:#?}",
        outcome.findings
    );
    assert!(
        outcome.findings[0].detail.contains("`ops-b`'s audit trail"),
        "{}",
        outcome.findings[0].detail
    );
}
