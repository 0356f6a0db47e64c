//! A minimal browser for server-rendered admin panels (`PanelClient`): keeps cookies, never
//! follows redirects (a redirect to the login page is a refusal, not a page), and fills forms,
//! carrying the CSRF token the panel put in them.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header;

use super::AdminError;

/// One answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// A page was served (not a refusal, not a redirect elsewhere).
    pub fn served(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

pub struct PanelClient {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
    /// Requests sent, for the report.
    pub requests: u32,
}

/// Per-request timeout: every exchange with the target is bounded.
const TIMEOUT: Duration = Duration::from_secs(10);

impl PanelClient {
    pub fn new(base: &str) -> Result<Self, AdminError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| AdminError::Unreachable {
                url: base.to_owned(),
                cause: e.to_string(),
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            cookies: BTreeMap::new(),
            requests: 0,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Result<Answer, AdminError> {
        let request = match self.cookie_header() {
            Some(cookies) => request.header(header::COOKIE, cookies),
            None => request,
        };
        self.requests += 1;
        let response = request.send().await.map_err(|e| AdminError::Unreachable {
            url: self.base.clone(),
            cause: e.to_string(),
        })?;
        for value in response.headers().get_all(header::SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            let mut attributes = value.split(';');
            let Some((name, v)) = attributes.next().and_then(|p| p.trim().split_once('=')) else {
                continue;
            };
            let removed =
                v.is_empty() || attributes.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if removed {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), v.to_owned());
            }
        }
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Ok(Answer { status, body })
    }

    pub async fn get(&mut self, path: &str) -> Result<Answer, AdminError> {
        let request = self.http.get(self.url(path));
        self.send(request).await
    }

    /// GET with extra headers (a tenant's token and Host), cookies included if any.
    pub async fn get_with(
        &mut self,
        path: &str,
        headers: &[(header::HeaderName, String)],
    ) -> Result<Answer, AdminError> {
        let mut request = self.http.get(self.url(path));
        for (name, value) in headers {
            request = request.header(name.clone(), value);
        }
        self.send(request).await
    }

    /// POSTs an `application/x-www-form-urlencoded` form.
    pub async fn post_form(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<Answer, AdminError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = self
            .http
            .post(self.url(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }
}

/// The value of the first `<input name="{field}" value="…">` in `html` (attributes in any order).
pub fn hidden_value(html: &str, field: &str) -> Option<String> {
    let input = regex::Regex::new(r"(?is)<input\b[^>]*>").ok()?;
    let name = format!("name=\"{field}\"");
    let value = regex::Regex::new(r#"(?i)\bvalue="([^"]*)""#).ok()?;
    input
        .find_iter(html)
        .map(|m| m.as_str())
        .find(|tag| tag.contains(&name))
        .and_then(|tag| value.captures(tag))
        .and_then(|c| c.get(1))
        .map(|v| v.as_str().replace("&amp;", "&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_values_are_found_whatever_the_attribute_order() {
        let html = r#"<form><input type="text" name="q" value="x"><INPUT value="t0k&amp;en" type="hidden" name="csrf"></form>"#;
        assert_eq!(hidden_value(html, "csrf").as_deref(), Some("t0k&en"));
        assert_eq!(hidden_value(html, "q").as_deref(), Some("x"));
        assert_eq!(hidden_value(html, "missing"), None);
    }
}
