//! Connection options and identifier quoting for the kit's own administrative SQL.

use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// Options for `url`, without TLS to a loopback server unless the URL or `PGSSLMODE` asks for it
/// (throwaway servers have no certificates); statements are not logged.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .disable_statement_logging()
        .application_name("tenantprobe-testkit");
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
