//! Functions with effects outside the transaction (`effect_of`): `attack db` never calls them,
//! because rolling back cannot undo what they did (a row written through dblink, a notification
//! sent, a file or large object written, a session-level advisory lock, a backend terminated).
//!
//! The list is documented in README.md ("Safety") and extended by the spec's `skip_functions`.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::catalog::Function;

/// Built-in and well-known extension functions with effects outside the transaction, as
/// unqualified names; a trailing `*` matches any suffix.
pub const EFFECTFUL_FUNCTIONS: &[&str] = &[
    "dblink*",
    "pg_notify",
    "lo_*",
    "loread",
    "lowrite",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_*",
    "pg_stat_file",
    "pg_file_*",
    "pg_logdir_ls",
    "pg_advisory_lock*",
    "pg_advisory_unlock*",
    "pg_try_advisory_lock*",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_switch_wal",
    "pg_create_restore_point",
    "pg_promote",
    "http",
    "http_*",
    "pg_background_*",
    "postgres_fdw_disconnect*",
];

/// What, in the body of a SQL or PL/pgSQL function, reaches outside the transaction: a call of a
/// listed function, NOTIFY, or COPY to or from a file or program.
static EFFECT_IN_BODY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(dblink\w*|pg_notify|notify|lo_import|lo_export|lo_unlink|lo_create|lo_from_bytea|lo_put|pg_read_file|pg_read_binary_file|pg_file_write|pg_ls_dir|pg_advisory_lock\w*|pg_try_advisory_lock\w*|pg_terminate_backend|pg_cancel_backend|pg_reload_conf|http_(get|post|put|patch|delete|head|request)|pg_background_launch)\b|\bcopy\b[^;]*\b(to|from)\s+(program\b|')",
    )
    .ok()
});

/// Why calling `f` could have effects that a rollback does not undo, or `None`. `extra` holds
/// the spec's `skip_functions` (`schema.name` or `name`, `*` as a wildcard).
pub fn effect_of(f: &Function, extra: &[String]) -> Option<String> {
    let qualified = f.name.to_string();
    if let Some(pattern) = extra
        .iter()
        .find(|p| glob(p, &qualified) || glob(p, &f.name.name))
    {
        return Some(format!(
            "listed in the spec's `skip_functions` (`{pattern}`)"
        ));
    }
    if let Some(pattern) = EFFECTFUL_FUNCTIONS.iter().find(|p| glob(p, &f.name.name)) {
        return Some(format!(
            "has effects outside the transaction (built-in list: `{pattern}`)"
        ));
    }
    if !f.trusted_language && f.extension.is_none() {
        return Some(format!(
            "written in the untrusted language `{}`: it may reach outside the transaction",
            f.language
        ));
    }
    let body_effect = matches!(f.language.as_str(), "sql" | "plpgsql")
        .then(|| EFFECT_IN_BODY.as_ref()?.find(&f.source))
        .flatten();
    body_effect.map(|m| {
        format!(
            "its body reaches outside the transaction (`{}`)",
            m.as_str()
                .split_whitespace()
                .take(4)
                .collect::<Vec<_>>()
                .join(" ")
        )
    })
}

/// Why each function in scope has effects outside the transaction (by oid), following calls: a
/// STABLE wrapper around a function that writes through dblink is skipped too.
pub fn effects_in_scope(functions: &[Function], extra: &[String]) -> HashMap<i64, String> {
    let mut effects: HashMap<i64, String> = functions
        .iter()
        .filter_map(|f| effect_of(f, extra).map(|e| (f.oid, e)))
        .collect();
    loop {
        let callees: Vec<(String, Regex)> = functions
            .iter()
            .filter(|f| effects.contains_key(&f.oid))
            .filter_map(|f| {
                let word = format!(r"(?i)\b{}\s*\(", regex::escape(&f.name.name));
                Regex::new(&word).ok().map(|re| (f.name.to_string(), re))
            })
            .collect();
        let newly: Vec<(i64, String)> = functions
            .iter()
            .filter(|f| !effects.contains_key(&f.oid))
            .filter(|f| matches!(f.language.as_str(), "sql" | "plpgsql"))
            .filter_map(|f| {
                let (callee, _) = callees.iter().find(|(_, re)| re.is_match(&f.source))?;
                Some((
                    f.oid,
                    format!("it calls `{callee}`, which has effects outside the transaction"),
                ))
            })
            .collect();
        if newly.is_empty() {
            return effects;
        }
        effects.extend(newly);
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::QualifiedName;

    fn function(name: &str, language: &str, source: &str) -> Function {
        Function {
            oid: 20_000,
            signature: format!("public.{name}(text)"),
            name: QualifiedName::new("public", name),
            security_definer: false,
            config: vec![],
            leakproof: false,
            returns_set: false,
            return_type: "text".into(),
            arg_types: vec!["text".into()],
            language: language.into(),
            source: source.into(),
            app_can_execute: true,
            owner: "owner".into(),
            in_scope: true,
            user_defined: true,
            volatility: 'v',
            extension: None,
            trusted_language: matches!(language, "sql" | "plpgsql"),
        }
    }

    #[test]
    fn listed_functions_and_bodies_that_reach_outside_are_skipped() {
        assert!(effect_of(&function("dblink_exec", "c", ""), &[]).is_some());
        assert!(effect_of(&function("pg_notify", "internal", ""), &[]).is_some());
        let remote = "SELECT dblink_exec('dbname=app', 'INSERT INTO log VALUES (1)')";
        assert!(effect_of(&function("log_remote", "sql", remote), &[]).is_some());
        let copy = "BEGIN COPY t TO PROGRAM 'curl x'; END";
        assert!(effect_of(&function("export", "plpgsql", copy), &[]).is_some());
        assert!(
            effect_of(
                &function("notify_all", "plpgsql", "BEGIN NOTIFY chan; END"),
                &[]
            )
            .is_some()
        );
        assert!(effect_of(&function("shell", "plpython3u", "import os"), &[]).is_some());
        let spec = vec!["public.send_*".to_owned()];
        assert!(effect_of(&function("send_email", "sql", "SELECT 1"), &spec).is_some());
    }

    #[test]
    fn ordinary_functions_are_called() {
        let lookup = "SELECT title FROM projects WHERE id = $1";
        assert_eq!(
            effect_of(&function("project_title", "sql", lookup), &[]),
            None
        );
        let copy_out = "SELECT 'copy of ' || $1 || ' to archive'";
        assert_eq!(effect_of(&function("label", "sql", copy_out), &[]), None);
        assert_eq!(
            effect_of(&function("location", "sql", "SELECT 1"), &["lo_*".into()]),
            None
        );
    }

    #[test]
    fn wrappers_of_effectful_functions_are_skipped_too() {
        let mut remote = function("remember", "sql", "SELECT dblink_exec('x', 'INSERT 1')");
        remote.oid = 1;
        let mut wrapper = function("remember_stable", "sql", "SELECT public.remember($1)");
        wrapper.oid = 2;
        let mut plain = function("title", "sql", "SELECT 'remembered'");
        plain.oid = 3;
        let effects = effects_in_scope(&[remote, wrapper, plain], &[]);
        assert!(effects.contains_key(&1));
        assert!(effects[&2].contains("public.remember"), "{effects:?}");
        assert!(!effects.contains_key(&3));
    }

    #[test]
    fn globs_match_prefixes_suffixes_and_middles() {
        assert!(glob("lo_*", "lo_import"));
        assert!(!glob("lo_*", "location"));
        assert!(glob("*_email", "send_email"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("a*c*e", "abde"));
        assert!(glob("exact", "exact"));
    }
}
