//! The admin panel in a real browser: headless Chromium, driven over WebDriver (chromedriver) with
//! fantoccini, logs in as the operator, impersonates one tenant with a reason, sees only that
//! tenant's data under the impersonation banner, and finds the audit row. Screenshots are saved
//! under Cargo's target tmp dir (the path is printed).
//!
//! Chromium and chromedriver are Debian's `chromium` and `chromium-driver`. Where either is
//! missing the test is ignored (build.rs), unless TENANTPROBE_REQUIRE_TOOLS=1 (as in CI), where it
//! fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use tenantprobe_testkit::reference::Options;

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(chromedriver: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("{}/status", driver.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {}", driver.url);
}

async fn browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-sync",
                "--hide-scrollbars", "--window-size=1100,760",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap()
}

async fn screenshot(client: &Client, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, client.screenshot().await.unwrap()).unwrap();
    path
}

/// Logs in through the panel's form at `base` and waits for the tenant directory.
async fn log_in(client: &Client, base: &str, username: &str, password: &str) {
    client.goto(&format!("{base}/panel/login")).await.unwrap();
    for (field, text) in [("username", username), ("password", password)] {
        client
            .find(Locator::Id(field))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
    client
        .find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(client, "tenants").await;
}

/// The element with id `id`, once the page has one.
async fn wait_for(client: &Client, id: &str) -> Element {
    client.wait().for_element(Locator::Id(id)).await.unwrap()
}

#[tokio::test]
#[cfg_attr(
    not(all(has_chromium, has_chromedriver)),
    ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
)]
async fn an_operator_impersonates_one_tenant_in_chromium_sees_only_its_data_and_the_audit_row() {
    let missing = "chromium or chromedriver is missing: apt-get install chromium chromium-driver";
    let chromium = tenantprobe_testkit::servers::find_program("chromium").expect(missing);
    let chromedriver = tenantprobe_testkit::servers::find_program("chromedriver").expect(missing);
    let w = support::app_world(Options {
        impersonation_seconds: 900,
        ..Options::default()
    })
    .await;
    let driver = start_driver(&chromedriver).await;
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, &chromium, profile.path()).await;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("admin-panel");
    std::fs::create_dir_all(&shots).unwrap();

    let base = w.app.url();
    log_in(&client, &base, &w.app.admin_username, &w.app.admin_password).await;
    let list = client.source().await.unwrap();
    assert!(
        list.contains(&w.a.marker) && list.contains(&w.b.marker),
        "the directory lists both"
    );
    assert!(
        client
            .find(Locator::Id("impersonation-banner"))
            .await
            .is_err(),
        "no banner before impersonating"
    );

    let row = client
        .find(Locator::Css(&format!("tr[data-tenant='{}']", w.a.id)))
        .await
        .unwrap();
    let reason = "ticket 4711: exports fail for this customer";
    row.find(Locator::Css("input[name='reason']"))
        .await
        .unwrap()
        .send_keys(reason)
        .await
        .unwrap();
    row.find(Locator::Css("button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let banner = wait_for(&client, "impersonation-banner").await;
    let banner_text = banner.text().await.unwrap();
    assert!(
        banner_text.contains("read-only") && banner_text.contains(reason),
        "{banner_text}"
    );
    assert_eq!(
        client.current_url().await.unwrap().path(),
        format!("/panel/tenants/{}", w.a.id)
    );
    let page = client.source().await.unwrap();
    assert!(
        page.contains(&w.a.marker),
        "the impersonated tenant's data is shown"
    );
    assert!(
        !page.contains(&w.b.marker),
        "no other tenant's data on the page"
    );
    let tenant_shot = screenshot(&client, &shots, "tenant.png").await;

    client
        .goto(&format!("{base}/panel/tenants/{}/audit", w.a.id))
        .await
        .unwrap();
    let audit = wait_for(&client, "audit-events")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        audit.contains("admin.impersonation.start") && audit.contains(reason),
        "{audit}"
    );
    assert!(
        client
            .find(Locator::Id("impersonation-banner"))
            .await
            .is_ok()
    );
    let audit_shot = screenshot(&client, &shots, "audit.png").await;

    // The other tenant stays closed to this impersonation, in the browser too.
    client
        .goto(&format!("{base}/panel/tenants/{}", w.b.id))
        .await
        .unwrap();
    let refused = client.source().await.unwrap();
    assert!(refused.contains("no active impersonation") && !refused.contains(&w.b.marker));
    client.close().await.unwrap();
    drop(driver);

    let mut conn = support::connect(&w.db.admin_options()).await;
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'admin.impersonation.start' AND detail->>'reason' = $2",
    )
    .bind(w.a.id)
    .bind(reason)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows, 1);
    println!(
        "screenshots: {} and {}",
        tenant_shot.display(),
        audit_shot.display()
    );
}
