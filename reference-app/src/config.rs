//! Typed configuration from the environment (`Config`). Secrets are `SecretString`s: they never
//! reach a log line or a `Debug` dump.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::faults::Faults;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Everything the app needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: the app's own connection, as the non-privileged app role.
    pub database_url: SecretString,
    /// `MIGRATION_DATABASE_URL`: the owner's connection, for `migrate` only.
    pub migration_database_url: Option<SecretString>,
    /// `REDIS_URL`: the cache; without it the app serves everything from PostgreSQL.
    pub redis_url: Option<SecretString>,
    /// `JWT_SECRET`: HS256 key, at least 32 bytes.
    pub jwt_secret: SecretString,
    /// `BASE_DOMAIN`: tenants live at `{slug}.{BASE_DOMAIN}`.
    pub base_domain: String,
    /// `ADMIN_TOKEN`: enables `/admin/…` impersonation when set.
    pub admin_token: Option<SecretString>,
    /// The admin panel (`/panel`): on only when its credentials and connection are all set.
    pub panel: Option<PanelConfig>,
    /// `DATABASE_POOL_SIZE` (default 10).
    pub pool_size: u32,
    /// `TENANT_MAX_CONNECTIONS`: connections one tenant may hold at once (default half the pool).
    pub tenant_connections: u32,
    /// `DATABASE_POOLS`: tenants with a database entry of their own, by plan or by tenant id
    /// (`free=app_free,enterprise=app_enterprise,<uuid>=app_acme`), on `DATABASE_URL`'s server
    /// with its user and options; everyone else, and all work under the `no-tenant-limits` fault,
    /// uses `DATABASE_URL` itself.
    pub database_pools: Vec<crate::pools::PoolRoute>,
    /// `DATABASE_POOLER=transaction`: `DATABASE_URL` goes through a transaction-mode pooler
    /// (PgBouncer before 1.21 keeps no prepared statements across transactions).
    pub behind_transaction_pooler: bool,
    /// `RATE_LIMIT_PER_SECOND` and `RATE_LIMIT_BURST` per tenant (defaults 100 and 200).
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// `CACHE_TTL_SECONDS` (default 300).
    pub cache_ttl: Duration,
    /// `REFERENCE_APP_FAULTS` plus `--fault`: deliberate bugs, none by default.
    pub faults: Faults,
}

impl Config {
    /// Reads the environment. Fails on the first missing or malformed variable, naming it.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Like `from_env`, from any lookup (tests, embedding).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let secret = |name| get(name).map(SecretString::from);
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            get(name).map_or(Ok(default), |v| {
                v.parse()
                    .map_err(|e: std::num::ParseIntError| ConfigError::Invalid {
                        name,
                        reason: e.to_string(),
                    })
            })
        };
        let jwt_secret = secret("JWT_SECRET").ok_or(ConfigError::Missing("JWT_SECRET"))?;
        if jwt_secret.expose_secret().len() < 32 {
            return Err(ConfigError::Invalid {
                name: "JWT_SECRET",
                reason: "shorter than 32 bytes".into(),
            });
        }
        let base_domain = get("BASE_DOMAIN")
            .ok_or(ConfigError::Missing("BASE_DOMAIN"))?
            .to_ascii_lowercase();
        if base_domain.starts_with('.') || base_domain.contains(':') || base_domain.contains('/') {
            return Err(ConfigError::Invalid {
                name: "BASE_DOMAIN",
                reason: "expected a bare domain such as `app.example.com`".into(),
            });
        }
        let faults = Faults::parse_list(&get("REFERENCE_APP_FAULTS").unwrap_or_default()).map_err(
            |reason| ConfigError::Invalid {
                name: "REFERENCE_APP_FAULTS",
                reason,
            },
        )?;
        let small = |name: &'static str, default| -> Result<u32, ConfigError> {
            let n = number(name, default)?;
            u32::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Invalid {
                    name,
                    reason: "must be between 1 and 2^32-1".into(),
                })
        };
        let pool_size = small("DATABASE_POOL_SIZE", 10)?;
        Ok(Self {
            database_url: secret("DATABASE_URL").ok_or(ConfigError::Missing("DATABASE_URL"))?,
            migration_database_url: secret("MIGRATION_DATABASE_URL"),
            redis_url: secret("REDIS_URL"),
            jwt_secret,
            base_domain,
            admin_token: secret("ADMIN_TOKEN"),
            panel: PanelConfig::from_lookup(&get)?,
            pool_size,
            database_pools: crate::pools::parse_routes(&get("DATABASE_POOLS").unwrap_or_default())
                .map_err(|reason| ConfigError::Invalid {
                    name: "DATABASE_POOLS",
                    reason,
                })?,
            tenant_connections: small("TENANT_MAX_CONNECTIONS", u64::from(pool_size.div_ceil(2)))?,
            behind_transaction_pooler: match get("DATABASE_POOLER").as_deref() {
                None => false,
                Some("transaction") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "DATABASE_POOLER",
                        reason: format!("`{other}`: the only pooler mode is `transaction`"),
                    });
                }
            },
            rate_limit_per_second: small("RATE_LIMIT_PER_SECOND", 100)?,
            rate_limit_burst: small("RATE_LIMIT_BURST", 200)?,
            cache_ttl: Duration::from_secs(number("CACHE_TTL_SECONDS", 300)?),
            faults,
        })
    }
}

/// The admin panel's settings.
#[derive(Debug, Clone)]
pub struct PanelConfig {
    /// `ADMIN_USERNAME` and `ADMIN_PASSWORD`: the one operator login, separate from tenant tokens.
    pub username: String,
    pub password: SecretString,
    /// `ADMIN_DATABASE_URL`: the panel's own connection, for the tenant directory and the global
    /// admin log only (tenant data is read as the impersonated tenant, through `DATABASE_URL`).
    pub database_url: SecretString,
    /// `IMPERSONATION_SECONDS` (default 900): how long one impersonation lasts.
    pub impersonation_ttl: Duration,
    /// `ADMIN_COOKIE_SECURE` (default true): mark the panel's cookies `Secure` (HTTPS only).
    pub secure_cookies: bool,
}

impl PanelConfig {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let (Some(username), Some(password), Some(database_url)) = (
            get("ADMIN_USERNAME"),
            get("ADMIN_PASSWORD"),
            get("ADMIN_DATABASE_URL"),
        ) else {
            return Ok(None);
        };
        if password.len() < 12 {
            return Err(ConfigError::Invalid {
                name: "ADMIN_PASSWORD",
                reason: "shorter than 12 characters".into(),
            });
        }
        let seconds = get("IMPERSONATION_SECONDS").map_or(Ok(900), |v| {
            v.parse::<u64>()
                .ok()
                .filter(|s| (1..=86_400).contains(s))
                .ok_or(ConfigError::Invalid {
                    name: "IMPERSONATION_SECONDS",
                    reason: format!("`{v}`: expected 1 to 86400 seconds"),
                })
        })?;
        let secure_cookies = match get("ADMIN_COOKIE_SECURE").as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "ADMIN_COOKIE_SECURE",
                    reason: format!("`{other}`: expected `true` or `false`"),
                });
            }
        };
        Ok(Some(Self {
            username,
            password: SecretString::from(password),
            database_url: SecretString::from(database_url),
            impersonation_ttl: Duration::from_secs(seconds),
            secure_cookies,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://app_user:hunter2@db/app"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("BASE_DOMAIN", "App.Example.com"),
        ]))
        .unwrap();
        let dump = format!("{config:?}");
        assert!(
            !dump.contains("hunter2") && !dump.contains("0123456789abcdef"),
            "{dump}"
        );
        assert_eq!(config.base_domain, "app.example.com");
        assert!(config.faults.is_empty());
    }

    #[test]
    fn missing_and_malformed_variables_are_named() {
        let err = Config::from_lookup(lookup(&[("JWT_SECRET", "short"), ("BASE_DOMAIN", "x")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "JWT_SECRET is invalid: shorter than 32 bytes"
        );
        let err = Config::from_lookup(lookup(&[
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("BASE_DOMAIN", "x"),
        ]))
        .unwrap_err();
        assert_eq!(err.to_string(), "DATABASE_URL is not set");
    }
}
