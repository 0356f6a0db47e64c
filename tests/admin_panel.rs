//! The admin panel and `attack admin` against the real reference app on a random port: the
//! correct panel yields nothing (every check examined), each impersonation fault is caught, and
//! the panel's own rules hold (a reason is required, writes need a logged escalation, forms need
//! the session's CSRF token, the global admin log records every step).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reference_app::faults::{Fault, Faults};
use tenantprobe::attack::admin::{self, AdminOutcome, AdminTarget, PanelClient, hidden_value};
use tenantprobe::reference::Options;
use tenantprobe::target::{HttpTarget, obtain_tenants};

async fn attack_admin(w: &support::AppWorld) -> AdminOutcome {
    let spec = tenantprobe::reference::spec();
    let env = w.app.env(&w.db, None);
    let api = HttpTarget::resolve(&spec, &env).unwrap();
    let target = AdminTarget::resolve(&spec, &env).unwrap();
    let slugs = vec!["tp-admin-a".to_owned(), "tp-admin-b".to_owned()];
    let tenants = obtain_tenants(&spec, &env, &slugs, &reqwest::Client::new(), Some(&api))
        .await
        .unwrap();
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

fn fault(f: Fault) -> Options {
    Options {
        faults: [f].into_iter().collect::<Faults>(),
        ..Options::default()
    }
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
    let w = support::app_world(fault(Fault::ImpersonationUnlogged)).await;
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
    let w = support::app_world(fault(Fault::ImpersonationSticky)).await;
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

/// Logs in through the form; returns the client and the session's CSRF token.
async fn logged_in(w: &support::AppWorld) -> (PanelClient, String) {
    let mut panel = PanelClient::new(&w.app.url()).unwrap();
    let form = panel.get("/panel/login").await.unwrap();
    let login_csrf = hidden_value(&form.body, "csrf").unwrap();
    let login = panel
        .post_form(
            "/panel/login",
            &[
                ("username", &w.app.admin_username),
                ("password", &w.app.admin_password),
                ("csrf", &login_csrf),
            ],
        )
        .await
        .unwrap();
    assert_eq!(login.status, 303);
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
    let wrong = panel
        .post_form(
            "/panel/login",
            &[
                ("username", &w.app.admin_username),
                ("password", "not-the-password"),
                ("csrf", &token),
            ],
        )
        .await
        .unwrap();
    assert_eq!(wrong.status, 401);
    let mut forged = PanelClient::new(&w.app.url()).unwrap();
    let no_token = forged
        .post_form(
            "/panel/login",
            &[
                ("username", &w.app.admin_username),
                ("password", &w.app.admin_password),
                ("csrf", "guess"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(no_token.status, 403);
    assert_eq!(forged.get("/panel/tenants").await.unwrap().status, 303);
}

#[tokio::test]
async fn impersonation_needs_a_reason_and_the_sessions_csrf_token() {
    let w = support::app_world(Options::default()).await;
    let (mut panel, csrf) = logged_in(&w).await;
    let path = format!("/panel/tenants/{}/impersonate", w.a.id);
    let blank = panel
        .post_form(&path, &[("reason", "  "), ("csrf", &csrf)])
        .await
        .unwrap();
    assert_eq!(blank.status, 422);
    let forged = panel
        .post_form(&path, &[("reason", "ticket 42"), ("csrf", "other")])
        .await
        .unwrap();
    assert_eq!(forged.status, 403);
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
    let started = panel
        .post_form(
            &format!("/panel/tenants/{}/impersonate", w.a.id),
            &[("reason", "ticket 42: export fails"), ("csrf", &csrf)],
        )
        .await
        .unwrap();
    assert_eq!(started.status, 303);
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
    let refused = panel.post_form(&archive, &[("csrf", &csrf)]).await.unwrap();
    assert_eq!(refused.status, 403, "writes need an escalation first");
    let escalated = panel
        .post_form(
            &format!("/panel/tenants/{}/escalate", w.a.id),
            &[("reason", "customer asked to archive"), ("csrf", &csrf)],
        )
        .await
        .unwrap();
    assert_eq!(escalated.status, 303);
    let archived = panel.post_form(&archive, &[("csrf", &csrf)]).await.unwrap();
    assert_eq!(archived.status, 303);
    let ended = panel
        .post_form("/panel/impersonation/end", &[("csrf", &csrf)])
        .await
        .unwrap();
    assert_eq!(ended.status, 303);
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
