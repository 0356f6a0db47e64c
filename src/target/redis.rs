//! The Redis side of a target (`RedisTarget`): its URL and the key classifier (tenant key patterns
//! and global globs), from the spec's `[redis]` with flags adding to it.

use super::Env;
use crate::Error;
use crate::checks::keys::{Classifier, Glob, KeyPattern};
use crate::redact::redact;
use crate::spec::Spec;

/// The command line's Redis fields: the URL overrides the spec's, patterns and globs add to it.
#[derive(Debug, Clone, Default)]
pub struct RedisFlags {
    pub url: Option<String>,
    pub key_patterns: Vec<String>,
    pub global_keys: Vec<String>,
}

/// A resolved Redis target.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    pub url: String,
    /// Where the URL came from (`--redis-url` or a variable), for messages.
    pub url_source: String,
    /// Tenant keys must match one of these (the spec's, then the flags').
    pub patterns: Vec<KeyPattern>,
    pub globals: Vec<Glob>,
}

impl RedisTarget {
    /// The spec's `[redis]` (or REDIS_URL without one) with `flags` over it. A missing or
    /// malformed URL, or a bad pattern, is a usage error.
    pub(super) fn resolve(
        spec: Option<&Spec>,
        flags: Option<&RedisFlags>,
        env: Env<'_>,
    ) -> Result<Self, Error> {
        let none = RedisFlags::default();
        let has_flags = flags.is_some();
        let flags = flags.unwrap_or(&none);
        let from_spec = spec.and_then(|s| s.redis.as_ref());
        let env_name = from_spec.map_or("REDIS_URL", |r| r.url_env.as_str());
        let (url, url_source) = super::url_and_source(
            "Redis",
            "--redis-url",
            flags.url.as_ref(),
            has_flags,
            env_name,
            env,
        )?;
        // A URL that does not parse is a configuration error (2), not an unreachable server (3).
        if let Err(e) = redis::Client::open(url.as_str()) {
            return Err(Error::usage(format!(
                "invalid Redis URL `{}` ({url_source}): {e}",
                redact(&url)
            )));
        }
        let patterns = from_spec
            .map(|r| r.key_patterns.as_slice())
            .unwrap_or_default()
            .iter()
            .chain(&flags.key_patterns)
            .map(|p| KeyPattern::parse(p).map_err(Error::Usage))
            .collect::<Result<Vec<_>, _>>()?;
        let globals = from_spec
            .map(|r| r.global_keys.as_slice())
            .unwrap_or_default()
            .iter()
            .chain(&flags.global_keys)
            .cloned()
            .map(Glob)
            .collect();
        Ok(Self {
            url,
            url_source,
            patterns,
            globals,
        })
    }

    /// The classifier for these patterns, knowing `tenants` (ids and slugs) when the database
    /// told us which exist.
    pub fn classifier(&self, tenants: Option<std::collections::HashSet<String>>) -> Classifier {
        Classifier {
            patterns: self.patterns.clone(),
            globals: self.globals.clone(),
            tenants,
        }
    }
}
