//! Safe pieces of dynamic SQL: identifier and literal quoting, and `QualifiedName`.
//!
//! Catalog-driven checks must name relations that are only known at run time; bind parameters
//! cannot stand for identifiers, so every name is quoted here and nowhere else.

use std::fmt;
use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// Parses a PostgreSQL URL for tenantprobe's own connections: statements are not logged (they
/// are many, and some carry tenant values), and the connection names itself `tenantprobe`.
///
/// When the URL does not choose an `sslmode` and the server is on this machine (loopback or a
/// Unix socket), TLS is not attempted: the default `prefer` costs ≈ 90 ms per connection here
/// (building the TLS client) and protects nothing on loopback. An explicit `sslmode` is obeyed.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .disable_statement_logging()
        .application_name("tenantprobe");
    let chose_ssl = url.contains("sslmode=") || std::env::var_os("PGSSLMODE").is_some();
    let host = options.get_host();
    let local = host.starts_with('/')
        || host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    Ok(if !chose_ssl && local {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    })
}

/// `"name"`, with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with embedded quotes doubled (for reproducer scripts, never for executed queries
/// with user data, which use bind parameters).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A schema-qualified relation or function name as the catalog spells it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// Parses `schema.name` or `name` (schema `public`); no quoting rules, catalog names only.
    pub fn parse(text: &str) -> Self {
        match text.split_once('.') {
            Some((schema, name)) => Self::new(schema, name),
            None => Self::new("public", text),
        }
    }

    /// `"schema"."name"`, ready to splice into SQL.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// A JSON value as the text PostgreSQL accepts for a cast; also how an id read from a JSON answer
/// is compared and sent back (`None` for null).
pub fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_embedded_quotes() {
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(QualifiedName::parse("app.t").quoted(), r#""app"."t""#);
        assert_eq!(QualifiedName::parse("t").to_string(), "public.t");
    }
}
