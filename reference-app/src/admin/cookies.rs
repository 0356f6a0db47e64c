//! The panel's cookies (`get`, `set`, `clear`): read from the `Cookie` header and written with
//! HttpOnly, SameSite=Strict and a `/panel` path, so no script and no other site ever sends them.

use axum::http::HeaderMap;
use axum::http::header;

/// The operator's session id.
pub const SESSION: &str = "panel_session";
/// The current impersonation's id.
pub const IMPERSONATION: &str = "panel_impersonation";
/// The login form's CSRF token (double submit: before login there is no session to hold it).
pub const LOGIN_CSRF: &str = "panel_login_csrf";

/// The value of cookie `name`, if the request carries it.
pub fn get<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value; ids are hex, so nothing needs quoting.
pub fn set(name: &str, value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/panel; HttpOnly; SameSite=Strict{secure}")
}

/// A `Set-Cookie` value that deletes `name`.
pub fn clear(name: &str, secure: bool) -> String {
    format!("{}; Max-Age=0", set(name, "", secure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_and_set_strictly() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; panel_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(get(&headers, SESSION), Some("abc"));
        assert_eq!(get(&headers, IMPERSONATION), None);
        let cookie = set(SESSION, "abc", true);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(cookie.ends_with("; Secure"));
        assert!(clear(SESSION, false).ends_with("Max-Age=0"));
    }
}
