//! One resolved target (`Target`): the spec, the environment and the command line's flags turned
//! into what every command runs against — database, API, Redis and key classifier, tenants — in
//! this one place. URLs and secrets come from the variables the spec names, read through a lookup
//! (`Env`) so tests and `demo` can supply their own.

mod database;
mod http;
mod redis;
mod tenants;

use std::path::{Path, PathBuf};

pub use database::{AppRole, DatabaseFlags, DatabaseTarget, Pooler};
pub use http::{Auth, HttpTarget};
pub use redis::{RedisFlags, RedisTarget};
pub use tenants::{Provisioning, Tenant, obtain_tenants, tenants};

use crate::Error;
use crate::spec::Spec;

/// The tenant type's former name, kept while branches that use it are merged.
pub type TestTenant = Tenant;

/// Reads an environment variable (or a stand-in for it).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as an `Env`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A URL and where it came from: the flag `flag_name` (given as `flag`), else the variable
/// `variable`. With neither, a usage error naming both when the command has such flags, else a
/// missing variable.
fn url_and_source(
    what: &str,
    flag_name: &str,
    flag: Option<&String>,
    has_flags: bool,
    variable: &str,
    env: Env<'_>,
) -> Result<(String, String), Error> {
    match (flag, env(variable)) {
        (Some(url), _) => Ok((url.clone(), flag_name.to_owned())),
        (None, Some(url)) => Ok((url, variable.to_owned())),
        (None, None) if has_flags => Err(Error::usage(format!(
            "no {what}: pass {flag_name} URL or set {variable}"
        ))),
        (None, None) => Err(Error::MissingVariable(variable.to_owned())),
    }
}

/// An owned `Env`: the environment a `Target` reads.
type Lookup<'e> = Box<dyn Fn(&str) -> Option<String> + 'e>;

/// What the command line says about the target. A part is `None` when the command has no flags
/// for it (messages then name only the spec's variable).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub database: Option<DatabaseFlags>,
    /// `--base-url`: stands in for the variable the spec's `[api] base_url_env` names.
    pub base_url: Option<String>,
    pub redis: Option<RedisFlags>,
}

/// A spec (or flags alone) resolved against the environment. Each part is resolved when a
/// command asks for it, so a command fails only for what it needs.
pub struct Target<'e> {
    spec: Option<Spec>,
    spec_file: Option<PathBuf>,
    flags: Flags,
    env: Lookup<'e>,
}

impl Target<'static> {
    /// Loads `--target FILE` (if given) and reads the process environment.
    pub fn load(spec_file: Option<&Path>, flags: Flags) -> Result<Self, Error> {
        let spec = spec_file.map(Spec::load).transpose()?;
        Ok(Self {
            spec,
            spec_file: spec_file.map(Path::to_path_buf),
            flags,
            env: Box::new(process_env),
        })
    }
}

impl<'e> Target<'e> {
    /// A spec read through `env` (tests, `demo`, the monitor's own callers).
    pub fn with_env(
        spec: Option<Spec>,
        flags: Flags,
        env: impl Fn(&str) -> Option<String> + 'e,
    ) -> Self {
        Self {
            spec,
            spec_file: None,
            flags,
            env: Box::new(env),
        }
    }

    pub fn spec(&self) -> Option<&Spec> {
        self.spec.as_ref()
    }

    /// The spec, which `command` cannot run without.
    pub fn require_spec(&self, command: &str) -> Result<&Spec, Error> {
        self.spec.as_ref().ok_or_else(|| {
            Error::usage(format!(
                "{command} needs a target spec: pass --target probes/<name>.toml"
            ))
        })
    }

    /// The file given with `--target`.
    pub fn spec_file(&self) -> Option<&Path> {
        self.spec_file.as_deref()
    }

    /// How reports name the target: the spec's name, else `url` without credentials.
    pub fn name(&self, url: &str) -> String {
        self.spec.as_ref().map_or_else(
            || crate::redact::without_credentials(url),
            |s| s.name.clone(),
        )
    }

    /// A variable as this target reads it: `--base-url` stands in for the spec's API variable.
    pub fn var(&self, name: &str) -> Option<String> {
        let api_variable = self
            .spec
            .as_ref()
            .and_then(|s| s.api.as_ref())
            .map(|a| a.base_url_env.as_str());
        match &self.flags.base_url {
            Some(url) if api_variable == Some(name) => Some(url.clone()),
            _ => (self.env)(name),
        }
    }

    /// The database, as the app role (`AppRole::Required`) or only as the observer.
    pub fn database(&self, app_role: AppRole) -> Result<DatabaseTarget, Error> {
        DatabaseTarget::resolve(
            self.spec.as_ref(),
            self.flags.database.as_ref(),
            &|name| self.var(name),
            app_role,
        )
    }

    /// Whether a database is named at all (a flag or the spec's `[database]`), for commands that
    /// use one only when it is there.
    pub fn has_database(&self) -> bool {
        self.flags
            .database
            .as_ref()
            .is_some_and(|d| d.url.is_some())
            || self.spec.as_ref().is_some_and(|s| s.database.is_some())
    }

    /// The API; needs the spec's `[api]`.
    pub fn api(&self) -> Result<HttpTarget, Error> {
        let spec = self.spec.as_ref().ok_or(Error::MissingSection("api"))?;
        HttpTarget::resolve(spec, &|name| self.var(name))
    }

    /// Redis and the key classifier.
    pub fn redis(&self) -> Result<RedisTarget, Error> {
        RedisTarget::resolve(self.spec.as_ref(), self.flags.redis.as_ref(), &|name| {
            self.var(name)
        })
    }

    /// A tenant for each of `slugs`, as the spec's `[tenants]` says, through `api`.
    pub async fn tenants(
        &self,
        slugs: &[String],
        http: &reqwest::Client,
        api: Option<&HttpTarget>,
        provisioning: Provisioning,
    ) -> Result<Vec<Tenant>, Error> {
        let spec = self.spec.as_ref().ok_or(Error::MissingSection("tenants"))?;
        tenants(spec, &|name| self.var(name), slugs, http, api, provisioning).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
name = "t"
[database]
url_env = "T_DB"
app_role = "app"
pooler_url_env = "T_POOLER"
[redis]
url_env = "T_REDIS"
key_patterns = ["tenant:{tenant_id}:*"]
"#;

    fn target<'e>(flags: Flags, vars: &'e [(&'e str, &'e str)]) -> Target<'e> {
        let spec = Spec::parse(SPEC, "t.toml").unwrap_or_else(|e| panic!("{e}"));
        Target::with_env(Some(spec), flags, move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    /// The database a target with `flags` resolves, as the app role.
    fn database(flags: DatabaseFlags, vars: &[(&str, &str)]) -> DatabaseTarget {
        let flags = Flags {
            database: Some(flags),
            ..Flags::default()
        };
        target(flags, vars)
            .database(AppRole::Required)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn flags_override_the_spec_and_the_environment_fills_the_rest() {
        let vars = [("T_DB", "postgres://obs@127.0.0.1/x")];
        let db = database(
            DatabaseFlags {
                app_role: Some("other".into()),
                schemas: vec!["billing".into()],
                ..DatabaseFlags::default()
            },
            &vars,
        );
        assert_eq!(db.url_source, "T_DB");
        assert_eq!(db.tenancy.app_role, "other");
        assert_eq!(db.tenancy.schemas, ["billing"]);
        assert_eq!(db.pooler, Pooler::Unset("T_POOLER".into()));
        let db = database(
            DatabaseFlags {
                url: Some("postgres://flag@127.0.0.1/y".into()),
                pooler_url: Some("postgres://pool@127.0.0.1/y".into()),
                ..DatabaseFlags::default()
            },
            &vars,
        );
        assert_eq!(db.url_source, "--database-url");
        assert_eq!(db.tenancy.app_role, "app");
        assert!(matches!(db.pooler, Pooler::Url(_)));
    }

    #[test]
    fn what_is_missing_is_a_usage_error_that_says_where_to_set_it() {
        let with_flags = Flags {
            database: Some(DatabaseFlags::default()),
            redis: Some(RedisFlags::default()),
            ..Flags::default()
        };
        let e = target(with_flags.clone(), &[])
            .database(AppRole::Required)
            .err()
            .map(|e| e.report());
        assert_eq!(
            e.as_deref(),
            Some("no database: pass --database-url URL or set T_DB")
        );
        let e = target(Flags::default(), &[])
            .database(AppRole::Optional)
            .err();
        assert_eq!(
            e.map(|e| e.report()).as_deref(),
            Some("T_DB is not set (the spec names it)")
        );
        let e = target(with_flags, &[("T_REDIS", "redis:/")]).redis().err();
        let text = e.as_ref().map(Error::report).unwrap_or_default();
        assert!(
            text.starts_with("invalid Redis URL `redis:/` (T_REDIS)"),
            "{text}"
        );
        assert_eq!(
            e.map(|e| e.exit_status()),
            Some(crate::exit::ExitStatus::Usage)
        );
        let e = target(Flags::default(), &[])
            .api()
            .err()
            .map(|e| e.report());
        assert_eq!(
            e.as_deref(),
            Some("the spec has no [api] section, which this command needs")
        );
    }

    #[test]
    fn base_url_stands_in_for_the_variable_the_spec_names() {
        let text =
            "name = \"a\"\n[api]\nbase_url_env = \"APP_URL\"\n[api.auth]\nscheme = \"static\"\n";
        let spec = Spec::parse(text, "a.toml").unwrap_or_else(|e| panic!("{e}"));
        let flags = Flags {
            base_url: Some("http://127.0.0.1:9".into()),
            ..Flags::default()
        };
        let target = Target::with_env(Some(spec), flags, |_| Some("http://elsewhere".into()));
        assert_eq!(target.var("APP_URL").as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(target.var("OTHER").as_deref(), Some("http://elsewhere"));
        let api = target.api().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(api.base_url.as_str(), "http://127.0.0.1:9/");
    }
}
