//! Keeping secrets out of everything tenantprobe prints: `redact` and `without_credentials` mask
//! a URL's password in its user info and in its query (`?password=`, `sslpassword`, `token` …);
//! `remember_secrets` and `scrub` mask, in any text (errors of other crates, log lines), every
//! secret found in the URLs the process was given; `ScrubbedStderr` is the log writer that does it.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

/// What a masked secret reads as.
pub const MASK: &str = "***";

/// Query parameters whose value is a secret, compared case-insensitively with `-` read as `_`.
const SECRET_PARAMS: &[&str] = &[
    "password",
    "sslpassword",
    "pass",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_token",
];

/// Fragments that make any parameter a secret (`client_secret`, `refresh_token`, `x_api_key` …).
const SECRET_FRAGMENTS: &[&str] = &["password", "passwd", "secret", "token", "api_key", "apikey"];

/// True when a URL query parameter named `key` carries a secret.
pub fn is_secret_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    SECRET_PARAMS.contains(&key.as_str()) || SECRET_FRAGMENTS.iter().any(|f| key.contains(f))
}

/// The URL with any password replaced, in the user info and in the query: safe for messages and
/// logs. An unparseable URL is not shown at all (it may be a secret pasted in the wrong place).
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some(MASK));
            }
            mask_query(&mut parsed);
            parsed.to_string()
        }
        Err(_) => "<unparseable URL>".into(),
    }
}

/// The URL without user or password and with secret query parameters masked:
/// `scheme://host:port/path`, for report headers.
pub fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            mask_query(&mut parsed);
            parsed.to_string()
        }
        Err(_) => "<unparseable URL>".into(),
    }
}

/// Replaces the values of secret query parameters; leaves a query without them untouched.
fn mask_query(url: &mut reqwest::Url) {
    if !url.query_pairs().any(|(k, _)| is_secret_param(&k)) {
        return;
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if is_secret_param(&k) {
                MASK.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
}

/// Every form in which a URL's secrets may show up in text: the password and the values of secret
/// query parameters, as written (percent-encoded) and decoded.
pub fn secrets_of(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let (password, query) = match reqwest::Url::parse(url) {
        Ok(parsed) => {
            for (key, value) in parsed.query_pairs() {
                if is_secret_param(&key) {
                    found.push(value.into_owned());
                }
            }
            (
                parsed.password().map(str::to_owned),
                parsed.query().unwrap_or("").to_owned(),
            )
        }
        // A URL too malformed to parse may still be echoed by someone: find its parts by hand.
        Err(_) => rough_parts(url),
    };
    if let Some(password) = password {
        found.push(percent_decode(&password));
        found.push(password);
    }
    for raw in query.split('&') {
        if let Some((key, value)) = raw.split_once('=')
            && is_secret_param(&percent_decode(key))
        {
            found.push(value.to_owned());
            found.push(percent_decode(value));
        }
    }
    found.retain(|s| !s.is_empty() && s != MASK);
    found.sort();
    found.dedup();
    found
}

/// The password (`scheme://user:PASSWORD@host…`) and the query of a URL that does not parse.
fn rough_parts(url: &str) -> (Option<String>, String) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let query = query.split('#').next().unwrap_or("").to_owned();
    let authority = before_query.split('/').next().unwrap_or("");
    let password = authority
        .rsplit_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password.to_owned());
    (password, query)
}

/// `%XX` sequences decoded (not `+`: user info does not use form encoding); invalid UTF-8 is
/// replaced, which only matters for matching.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Secrets shorter than this are not scrubbed from free text: masking every `ab` in a log line
/// would garble it (and a password that short protects nothing).
pub const MIN_SCRUBBED_LEN: usize = 3;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers the secrets of `text` when it is (or ends with, as in `--database-url=URL`) a URL,
/// so that `scrub` masks them wherever they show up: in other crates' error messages and log
/// lines, which tenantprobe does not format itself.
pub fn remember_secrets(text: &str) {
    let url = match text.find("://") {
        Some(at) => {
            let start = text[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
                .map_or(0, |i| i + 1);
            &text[start..]
        }
        None => return,
    };
    let found = secrets_of(url);
    if found.is_empty() {
        return;
    }
    if let Ok(mut secrets) = SECRETS.write() {
        for secret in found {
            if secret.len() >= MIN_SCRUBBED_LEN && !secrets.contains(&secret) {
                secrets.push(secret);
            }
        }
        // Longest first, so that a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every remembered secret masked.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let Ok(secrets) = SECRETS.read() else {
        return Cow::Borrowed(text);
    };
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

/// A log writer for `tracing_subscriber`: each event is buffered, scrubbed and written to stderr
/// whole (the formatter writes one event per writer).
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrubbedStderr;

/// One event's bytes, written scrubbed when dropped.
#[derive(Debug, Default)]
pub struct ScrubbedLine(Vec<u8>);

impl Write for ScrubbedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::stderr().lock().write_all(scrub(&text).as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedLine;
    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedLine::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_in_user_info_and_query() {
        assert_eq!(
            redact("postgres://u:hunter22@db:5432/app"),
            "postgres://u:***@db:5432/app"
        );
        let r = redact("postgres://u@db/app?sslmode=require&Password=hunter22&application_name=x");
        assert!(!r.contains("hunter22"), "{r}");
        assert!(
            r.contains("Password=***") || r.contains("Password=%2A%2A%2A"),
            "{r}"
        );
        assert!(
            r.contains("sslmode=require") && r.contains("application_name=x"),
            "{r}"
        );
        for key in [
            "sslpassword",
            "PASS",
            "passwd",
            "secret",
            "token",
            "api_key",
            "apiKey",
            "access_token",
            "client_secret",
            "x-api-key",
        ] {
            let r = redact(&format!("redis://h:6379/0?{key}=hunter22"));
            assert!(!r.contains("hunter22"), "{key}: {r}");
            let r = without_credentials(&format!("redis://u:pw1@h:6379/0?{key}=hunter22"));
            assert!(!r.contains("hunter22") && !r.contains("pw1"), "{key}: {r}");
        }
        assert_eq!(
            redact("postgres://u@db/app?sslmode=disable"),
            "postgres://u@db/app?sslmode=disable",
            "a URL without secrets is unchanged"
        );
        assert_eq!(redact("not a url hunter22"), "<unparseable URL>");
    }

    #[test]
    fn secrets_are_found_encoded_and_decoded() {
        let s = secrets_of("postgres://u:p%40ss@db/app?password=a%2Fb&sslmode=x");
        for expected in ["p%40ss", "p@ss", "a%2Fb", "a/b"] {
            assert!(s.contains(&expected.to_owned()), "{expected} in {s:?}");
        }
        assert!(!s.contains(&"x".to_owned()));
    }

    #[test]
    fn secrets_of_a_url_that_does_not_parse_are_found_too() {
        let s = secrets_of("postgres://u:Pw%21x@db:port/app?sslmode=x&password=Qp1#frag");
        for expected in ["Pw%21x", "Pw!x", "Qp1"] {
            assert!(s.contains(&expected.to_owned()), "{expected} in {s:?}");
        }
    }

    #[test]
    fn scrub_masks_remembered_secrets_in_any_text() {
        remember_secrets("--database-url=postgres://u:Sc0rpion%21@db/app?sslpassword=Kiwi-77");
        let line = "connect failed for Sc0rpion! and Sc0rpion%21, ignoring sslpassword Kiwi-77";
        let out = scrub(line);
        assert!(
            !out.contains("Sc0rpion") && !out.contains("Kiwi-77"),
            "{out}"
        );
        assert_eq!(scrub("nothing here"), "nothing here");
    }
}
