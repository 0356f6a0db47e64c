//! Requests as some actor (`Client::send`), each recorded as an `Exchange` that renders as a curl
//! command with its answer, for reproducers. Secrets never appear: tokens are shown as variables.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::target::HttpTarget;

/// What a request carries to say who it is.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The bearer token, and how to show it (`$TOKEN_A`).
    pub token: Option<(String, String)>,
    pub host: Option<String>,
}

/// One request and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Who sent it, for humans (`tenant A`, `anonymous`, …).
    pub who: String,
    pub method: String,
    pub path: String,
    pub host: Option<String>,
    pub token_shown: Option<String>,
    /// Extra request headers (the endpoint's own), shown in the reproducer.
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    pub status: u16,
    pub response: String,
    /// The request's number in this run (tells it from other requests' bodies).
    pub seq: u64,
}

impl Exchange {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.response).unwrap_or(Value::Null)
    }

    /// `curl …` plus `# → status body` (the body cut at 400 characters).
    pub fn curl(&self, base: &str) -> String {
        let mut parts = vec![format!(
            "curl -sS -X {} '{}{}'",
            self.method,
            base.trim_end_matches('/'),
            self.path
        )];
        if let Some(host) = &self.host {
            parts.push(format!("-H 'Host: {host}'"));
        }
        if let Some(token) = &self.token_shown {
            parts.push(format!("-H \"Authorization: Bearer {token}\""));
        }
        for (name, value) in &self.headers {
            parts.push(format!("-H '{name}: {}'", value.replace('\'', "'\\''")));
        }
        if let Some(body) = &self.body {
            parts.push(format!(
                "-H 'Content-Type: application/json' -d '{}'",
                body.to_string().replace('\'', "'\\''")
            ));
        }
        let mut shown: String = self.response.chars().take(400).collect();
        if self.response.chars().count() > 400 {
            shown.push('…');
        }
        format!(
            "# {}\n{}\n# → {} {}",
            self.who,
            parts.join(" "),
            self.status,
            shown
        )
    }
}

/// A request as sent, for replaying the same mix without the attack around it (benchmarks).
#[derive(Debug, Clone)]
pub struct Sent {
    pub method: String,
    pub url: String,
    pub host: Option<String>,
    pub token: Option<String>,
    pub body: Option<Value>,
}

/// An identity as the server sees it: its bearer token and its Host header.
type IdentityKey = (Option<String>, Option<String>);

/// Request bodies kept for telling an echoed request (desynchronisation) from a leak.
const RECENT_BODIES: usize = 256;

/// An HTTP client bound to one target, counting requests. Every identity (token and host) gets a
/// connection pool of its own: a connection is never shared between identities, so a body one
/// left unread on a connection cannot reach another's request.
pub struct Client {
    /// For requests that are no identity's (the reachability probe).
    pub http: reqwest::Client,
    pools: Mutex<HashMap<IdentityKey, reqwest::Client>>,
    /// Recent request bodies as sent, with their sequence number.
    recent: Mutex<VecDeque<(u64, String)>>,
    pub target: HttpTarget,
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    /// When set, every request is recorded here.
    pub recorded: Option<Mutex<Vec<Sent>>>,
}

impl Client {
    pub fn new(target: HttpTarget) -> Result<Self, reqwest::Error> {
        let http = Self::builder().build()?;
        Ok(Self {
            http,
            pools: Mutex::new(HashMap::new()),
            recent: Mutex::new(VecDeque::new()),
            target,
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            recorded: None,
        })
    }

    fn builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(64)
    }

    /// Drops every identity's pool: the next requests open fresh connections (confirmation
    /// replays must not ride on connections an earlier case left in some state).
    pub fn fresh_connections(&self) {
        self.pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// The connection pool of the identity presenting `creds`.
    fn pool_for(&self, creds: &Credentials) -> Result<reqwest::Client, reqwest::Error> {
        let key = (
            creds.token.as_ref().map(|(token, _)| token.clone()),
            creds.host.clone(),
        );
        let mut pools = self
            .pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pool) = pools.get(&key) {
            return Ok(pool.clone());
        }
        let pool = Self::builder().build()?;
        pools.insert(key, pool.clone());
        Ok(pool)
    }

    /// Whether `response` repeats the body of a request other than number `own` (as sent, or
    /// escaped inside a JSON string): an answer to a desynchronised connection, not data.
    pub fn echoes_other_request(&self, response: &str, own: u64) -> bool {
        let recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        recent.iter().any(|(seq, body)| {
            *seq != own
                && body.len() >= 16
                && (response.contains(body.as_str())
                    || serde_json::to_string(body)
                        .is_ok_and(|quoted| response.contains(quoted.trim_matches('"'))))
        })
    }

    /// Sends one request; a 429 is retried after its Retry-After (at most three times, at most 2 s
    /// each), so rate limits slow the attack down instead of hiding answers.
    pub async fn send(
        &self,
        who: &str,
        creds: &Credentials,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Exchange, reqwest::Error> {
        self.send_with(who, creds, method, path, &[], body).await
    }

    /// `send` with extra request headers (an endpoint's own `headers`).
    pub async fn send_with(
        &self,
        who: &str,
        creds: &Credentials,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Exchange, reqwest::Error> {
        let method_value =
            reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let pool = self.pool_for(creds)?;
        let mut attempt = 0;
        loop {
            let mut request = pool.request(method_value.clone(), self.target.url(path));
            if let Some(host) = &creds.host {
                request = request.header(reqwest::header::HOST, host);
            }
            if let Some((token, _)) = &creds.token {
                request = request.bearer_auth(token);
            }
            for (name, value) in headers {
                request = request.header(name.as_str(), value.as_str());
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let seq = self.requests.fetch_add(1, Ordering::Relaxed);
            if let Some(body) = body {
                let mut recent = self
                    .recent
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                recent.push_back((seq, body.to_string()));
                if recent.len() > RECENT_BODIES {
                    recent.pop_front();
                }
            }
            if let Some(recorded) = &self.recorded {
                recorded
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(Sent {
                        method: method.to_owned(),
                        url: self.target.url(path),
                        host: creds.host.clone(),
                        token: creds.token.as_ref().map(|(t, _)| t.clone()),
                        body: body.cloned(),
                    });
            }
            let response = request.send().await?;
            let status = response.status().as_u16();
            if status == 429 && attempt < 3 {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                let wait = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.2);
                tokio::time::sleep(Duration::from_secs_f64(wait.clamp(0.05, 2.0))).await;
                attempt += 1;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            return Ok(Exchange {
                who: who.to_owned(),
                method: method.to_owned(),
                path: path.to_owned(),
                host: creds.host.clone(),
                token_shown: creds.token.as_ref().map(|(_, shown)| shown.clone()),
                headers: headers.to_vec(),
                body: body.cloned(),
                status,
                response: text,
                seq,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SPEC: &str =
        "name = \"x\"\n[api]\nbase_url_env = \"U\"\n[api.auth]\nscheme = \"static\"\n";

    #[tokio::test]
    async fn an_answer_repeating_an_earlier_requests_body_is_an_echo_and_its_own_body_is_not() {
        let spec = crate::spec::Spec::parse(SPEC, "x.toml").unwrap();
        let env = |_: &str| Some("http://127.0.0.1:9".to_owned());
        let client = Client::new(HttpTarget::resolve(&spec, &env).unwrap()).unwrap();
        let earlier = serde_json::json!({"title": "task tp0123456789abcd", "tenant_id": "b"});
        client
            .recent
            .lock()
            .unwrap()
            .push_back((4, earlier.to_string()));
        // As sent, and quoted inside a JSON error message.
        let raw = format!("bad request line: {earlier}GET /api/projects HTTP/1.1");
        let quoted = serde_json::json!({ "error": raw }).to_string();
        assert!(client.echoes_other_request(&raw, 5));
        assert!(client.echoes_other_request(&quoted, 5));
        // The request's own body coming back, or the value alone (as stored data), is no echo.
        assert!(!client.echoes_other_request(&raw, 4));
        assert!(!client.echoes_other_request("{\"title\":\"task tp0123456789abcd\"}", 5));
    }
}
