//! Every log line the reference app writes for an authenticated request carries the request id
//! (also returned as `x-request-id`) and the tenant id, in JSON format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::Value;
use tenantprobe_testkit::reference::Options;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_request_log_line_carries_the_request_id_and_the_tenant_id() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter("info,reference_app=debug,tower_http=info")
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let w = support::app_world(Options::default()).await;
    let mut request_ids = Vec::new();
    for path in ["/api/projects", "/api/me", "/api/users"] {
        let response = w.as_tenant(&w.a, Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 200);
        request_ids.push(
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for id in &request_ids {
        let of_request: Vec<&Value> = lines
            .iter()
            .filter(|l| l["span"]["request_id"] == id.as_str())
            .collect();
        assert!(
            !of_request.is_empty(),
            "no log line for request {id}:\n{text}"
        );
        for line in of_request {
            assert_eq!(line["span"]["tenant_id"], w.a.id.to_string(), "{line}");
        }
    }
}
