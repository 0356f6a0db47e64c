//! The admin panel and `attack admin` against the real reference app on a random port: the
//! correct panel yields nothing (every check examined), each impersonation fault is caught, and
//! the panel's own rules hold (a reason is required, writes need a logged escalation, forms need
//! the session's CSRF token, the global admin log records every step).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reference_app::faults::Fault;
use support::targets::{http_target_and_tenants, one_fault};
use tenantprobe::attack::admin::{self, AdminOutcome, AdminTarget, PanelClient, hidden_value};
use tenantprobe_testkit::reference::Options;

async fn attack_admin(w: &support::AppWorld) -> AdminOutcome {
    let spec = support::reference_spec();
    let env = w.app.env(&w.db, None);
    let target = AdminTarget::resolve(&spec, &env).unwrap();
    let (api, tenants) = http_target_and_tenants(&spec, &env, &["tp-admin-a", "tp-admin-b"]).await;
    admin::check(&target, &api, &tenants[0], &tenants[1])
        .await
        .unwrap()
}

fn rules(outcome: &AdminOutcome) -> Vec<&str> {
    let mut rules: Vec<&str> = outcome.findings.iter().map(|f| f.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    rules
}

#[tokio::test]
async fn attack_admin_finds_nothing_on_the_correct_panel_and_examines_every_check() {
    let w = support::app_world(Options::default()).await;
    let outcome = attack_admin(&w).await;
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    assert!(outcome.skipped.is_empty(), "{:?}", outcome.skipped);
    let examined = outcome.examined.join("\n");
    for check in [
        "anonymous 303",
        "tenant token 401",
        "audit trail: reason in `tp-admin-a`'s trail true, in `tp-admin-b`'s false",
        "bound to it",
        "expiry",
    ] {
        assert!(
            examined.contains(check),
            "{check} missing from:\n{examined}"
        );
    }
}

#[tokio::test]
async fn attack_admin_catches_an_impersonation_that_leaves_no_audit_event() {
    let w = support::app_world(one_fault(Fault::ImpersonationUnlogged)).await;
    let outcome = attack_admin(&w).await;
    assert_eq!(
        rules(&outcome),
        ["admin-impersonation-unlogged"],
        "{:#?}",
        outcome.findings
    );
    let finding = &outcome.findings[0];
    assert_eq!(
        finding.object,
        "POST /panel/tenants/{tenant_id}/impersonate"
    );
    assert!(
        finding
            .evidence
            .as_deref()
            .unwrap()
            .contains("tenantprobe admin check")
    );
}

#[tokio::test]
async fn attack_admin_catches_an_impersonation_cookie_that_opens_another_tenant_and_never_expires()
{
    let w = support::app_world(one_fault(Fault::ImpersonationSticky)).await;
    let outcome = attack_admin(&w).await;
    assert_eq!(
        rules(&outcome),
        [
            "admin-impersonation-crosses-tenants",
            "admin-impersonation-outlives-time-box"
        ],
        "{:#?}",
        outcome.findings
    );
    let crossing = outcome
        .findings
        .iter()
        .find(|f| f.rule == "admin-impersonation-crosses-tenants")
        .unwrap();
    assert!(
        crossing.detail.contains("showed that tenant's data"),
        "{}",
        crossing.detail
    );
}

/// Posts `fields` as a form to `path`; returns the answer's status.
async fn post(panel: &mut PanelClient, path: &str, fields: &[(&str, &str)]) -> u16 {
    panel.post_form(path, fields).await.unwrap().status
}

/// Posts the login form as the app's operator with `password` and the form token `csrf`;
/// returns the answer's status.
async fn post_login(
    panel: &mut PanelClient,
    w: &support::AppWorld,
    password: &str,
    csrf: &str,
) -> u16 {
    let fields = [
        ("username", w.app.admin_username.as_str()),
        ("password", password),
        ("csrf", csrf),
    ];
    post(panel, "/panel/login", &fields).await
}

/// Posts a `step` that needs a reason (`impersonate`, `escalate`) for `tenant` with the form
/// token `csrf`; returns the answer's status.
async fn post_step(
    panel: &mut PanelClient,
    tenant: uuid::Uuid,
    step: &str,
    reason: &str,
    csrf: &str,
) -> u16 {
    let path = format!("/panel/tenants/{tenant}/{step}");
    post(panel, &path, &[("reason", reason), ("csrf", csrf)]).await
}

/// Logs in through the form; returns the client and the session's CSRF token.
async fn logged_in(w: &support::AppWorld) -> (PanelClient, String) {
    let mut panel = PanelClient::new(&w.app.url()).unwrap();
    let form = panel.get("/panel/login").await.unwrap();
    let login_csrf = hidden_value(&form.body, "csrf").unwrap();
    let login = post_login(&mut panel, w, &w.app.admin_password, &login_csrf).await;
    assert_eq!(login, 303);
    let page = panel.get("/panel/tenants").await.unwrap();
    assert_eq!(page.status, 200);
    let csrf = hidden_value(&page.body, "csrf").unwrap();
    (panel, csrf)
}

/// The status of `tenant`'s page in the panel: 200 only while impersonating it.
async fn tenant_page_status(panel: &mut PanelClient, tenant: uuid::Uuid) -> u16 {
    let page = panel
        .get(&format!("/panel/tenants/{tenant}"))
        .await
        .unwrap();
    page.status
}

async fn audit_actions(w: &support::AppWorld, tenant: uuid::Uuid) -> Vec<String> {
    let mut conn = support::connect(&w.db.admin_options()).await;
    sqlx::query_scalar("SELECT action FROM audit_events WHERE tenant_id = $1 AND action LIKE 'admin.%' ORDER BY created_at")
        .bind(tenant)
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_wrong_password_or_a_login_form_without_its_token_opens_nothing() {
    let w = support::app_world(Options::default()).await;
    let mut panel = PanelClient::new(&w.app.url()).unwrap();
    let form = panel.get("/panel/login").await.unwrap();
    let token = hidden_value(&form.body, "csrf").unwrap();
    let wrong = post_login(&mut panel, &w, "not-the-password", &token).await;
    assert_eq!(wrong, 401);
    let mut forged = PanelClient::new(&w.app.url()).unwrap();
    let no_token = post_login(&mut forged, &w, &w.app.admin_password, "guess").await;
    assert_eq!(no_token, 403);
    assert_eq!(forged.get("/panel/tenants").await.unwrap().status, 303);
}

#[tokio::test]
async fn impersonation_needs_a_reason_and_the_sessions_csrf_token() {
    let w = support::app_world(Options::default()).await;
    let (mut panel, csrf) = logged_in(&w).await;
    let blank = post_step(&mut panel, w.a.id, "impersonate", "  ", &csrf).await;
    assert_eq!(blank, 422);
    let forged = post_step(&mut panel, w.a.id, "impersonate", "ticket 42", "other").await;
    assert_eq!(forged, 403);
    assert_eq!(tenant_page_status(&mut panel, w.a.id).await, 403);
    assert!(
        audit_actions(&w, w.a.id).await.is_empty(),
        "nothing was logged for refused starts"
    );
}

#[tokio::test]
async fn an_impersonation_is_read_only_until_a_logged_escalation_and_every_step_is_in_both_logs() {
    let w = support::app_world(Options {
        impersonation_seconds: 600,
        ..Options::default()
    })
    .await;
    let (mut panel, csrf) = logged_in(&w).await;
    let reason = "ticket 42: export fails";
    let started = post_step(&mut panel, w.a.id, "impersonate", reason, &csrf).await;
    assert_eq!(started, 303);
    let page = panel
        .get(&format!("/panel/tenants/{}", w.a.id))
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"impersonation-banner\"") && page.body.contains("read-only"));
    assert!(page.body.contains(&w.a.marker) && !page.body.contains(&w.b.marker));
    // The banner follows the operator to every page while the impersonation lasts.
    let list = panel.get("/panel/tenants").await.unwrap();
    assert!(list.body.contains("id=\"impersonation-banner\""));

    let archive = format!(
        "/panel/tenants/{}/projects/{}/archive",
        w.a.id, w.a.project_ids[0]
    );
    let refused = post(&mut panel, &archive, &[("csrf", &csrf)]).await;
    assert_eq!(refused, 403, "writes need an escalation first");
    let reason = "customer asked to archive";
    let escalated = post_step(&mut panel, w.a.id, "escalate", reason, &csrf).await;
    assert_eq!(escalated, 303);
    let archived = post(&mut panel, &archive, &[("csrf", &csrf)]).await;
    assert_eq!(archived, 303);
    let ended = post(&mut panel, "/panel/impersonation/end", &[("csrf", &csrf)]).await;
    assert_eq!(ended, 303);
    assert_eq!(tenant_page_status(&mut panel, w.a.id).await, 403);

    let actions = audit_actions(&w, w.a.id).await;
    for action in [
        "admin.impersonation.start",
        "admin.impersonation.view",
        "admin.impersonation.escalate",
        "admin.impersonation.end",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing: {actions:?}"
        );
    }
    assert!(
        audit_actions(&w, w.b.id).await.is_empty(),
        "nothing in the other tenant's log"
    );
    let mut conn = support::connect(&w.db.admin_options()).await;
    let global: Vec<(String, String, Option<uuid::Uuid>)> =
        sqlx::query_as("SELECT admin, action, tenant_id FROM admin.admin_log ORDER BY created_at")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let steps: Vec<&str> = global.iter().map(|(_, a, _)| a.as_str()).collect();
    assert_eq!(
        steps,
        [
            "admin.impersonation.start",
            "admin.impersonation.escalate",
            "admin.impersonation.end"
        ]
    );
    assert!(
        global
            .iter()
            .all(|(admin, _, t)| admin == "operator" && *t == Some(w.a.id))
    );
    let status: String = sqlx::query_scalar("SELECT status FROM projects WHERE id = $1")
        .bind(w.a.project_ids[0])
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(status, "archived");
}

#[tokio::test]
async fn the_app_role_cannot_see_the_global_admin_log() {
    let w = support::app_world(Options::default()).await;
    let mut conn = support::connect(&w.db.options_as(reference_app::migrations::APP_ROLE)).await;
    let err = sqlx::query("SELECT 1 FROM admin.admin_log")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}
