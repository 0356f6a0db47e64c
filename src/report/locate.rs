//! Source locations for findings (`Locator`): the migration file and line of the last statement
//! that created or changed a finding's object (CREATE TABLE / VIEW / FUNCTION / POLICY, ALTER,
//! GRANT, CREATE ROLE), else the target spec, so SARIF and GitHub annotations can point at a file.
//!
//! Statements are found with sqlparser's tokenizer rather than its parser: it knows quoting,
//! dollar quotes and comments (so a `;` inside a function body does not split it), carries line
//! numbers, and does not give up on PostgreSQL syntax the parser lacks (`CREATE POLICY … USING`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// A file (relative to the working directory, `/`-separated, as code scanning wants) and a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    /// 1-based.
    pub line: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("cannot read migrations `{path}`: {cause}")]
    Read { path: String, cause: std::io::Error },
}

/// Where each object was last created or changed, and where the spec is.
#[derive(Debug, Clone, Default)]
pub struct Locator {
    objects: HashMap<String, Location>,
    /// Table → its policies (name, where created), for findings about one policy.
    policies: HashMap<String, Vec<(String, Location)>>,
    spec: Option<(String, String)>,
}

impl Locator {
    /// Indexes every `*.sql` file under `dir` (recursively, in path order: migration tools apply
    /// them in that order, so a later statement wins).
    pub fn from_migrations(dir: &Path) -> Result<Self, LocateError> {
        let mut files = Vec::new();
        collect_sql(dir, &mut files).map_err(|cause| LocateError::Read {
            path: dir.display().to_string(),
            cause,
        })?;
        files.sort();
        let mut locator = Self::default();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|cause| LocateError::Read {
                path: file.display().to_string(),
                cause,
            })?;
            locator.index_sql(&display_path(&file), &text);
        }
        Ok(locator)
    }

    /// The spec file: the fallback location, with the line that names an object when one does.
    pub fn with_spec(mut self, path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        self.spec = Some((display_path(path), text));
        self
    }

    /// True when no migration statement was indexed.
    pub fn has_migrations(&self) -> bool {
        !self.objects.is_empty()
    }

    /// Indexes one SQL file's statements.
    pub fn index_sql(&mut self, file: &str, sql: &str) {
        let dialect = PostgreSqlDialect {};
        // A file the tokenizer rejects (an unterminated string) gives no locations, not an error:
        // the finding falls back to the spec.
        let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
            return;
        };
        let mut statement: Vec<(Token, u64)> = Vec::new();
        for t in tokens {
            match t.token {
                Token::SemiColon => {
                    self.index_statement(file, &statement);
                    statement.clear();
                }
                Token::Whitespace(_) => {}
                token => statement.push((token, t.span.start.line)),
            }
        }
        self.index_statement(file, &statement);
    }

    fn index_statement(&mut self, file: &str, tokens: &[(Token, u64)]) {
        let Some(&(_, line)) = tokens.first() else {
            return;
        };
        let at = Location {
            file: file.to_owned(),
            line,
        };
        let words: Vec<Option<String>> = tokens
            .iter()
            .map(|(t, _)| match t {
                Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
                _ => None,
            })
            .collect();
        let is = |i: usize, kw: &str| words.get(i).and_then(Option::as_deref) == Some(kw);
        let mut i;
        if is(0, "CREATE") {
            i = 1;
            if is(i, "OR") && is(i + 1, "REPLACE") {
                i += 2;
            }
            while [
                "TEMP",
                "TEMPORARY",
                "UNLOGGED",
                "MATERIALIZED",
                "RECURSIVE",
                "FOREIGN",
            ]
            .iter()
            .any(|kw| is(i, kw))
            {
                i += 1;
            }
            match words.get(i).and_then(Option::as_deref) {
                Some("TABLE" | "VIEW" | "FUNCTION" | "PROCEDURE") => {
                    i += 1;
                    if is(i, "IF") && is(i + 1, "NOT") && is(i + 2, "EXISTS") {
                        i += 3;
                    }
                    if let Some((name, _)) = name_at(tokens, i) {
                        self.objects.insert(name, at);
                    }
                }
                Some("POLICY") => {
                    let Some((policy, next)) = ident_at(tokens, i + 1) else {
                        return;
                    };
                    if words.get(next).and_then(Option::as_deref) == Some("ON")
                        && let Some((table, _)) = name_at(tokens, next + 1)
                    {
                        let policies = self.policies.entry(table.clone()).or_default();
                        policies.retain(|(p, _)| *p != policy);
                        policies.push((policy, at.clone()));
                    }
                }
                Some("ROLE" | "USER") => {
                    if let Some((role, _)) = ident_at(tokens, i + 1) {
                        self.objects.insert(role, at);
                    }
                }
                _ => {}
            }
        } else if is(0, "ALTER") {
            i = 1;
            if is(i, "MATERIALIZED") || is(i, "FOREIGN") {
                i += 1;
            }
            match words.get(i).and_then(Option::as_deref) {
                Some("TABLE" | "VIEW" | "FUNCTION" | "PROCEDURE") => {
                    i += 1;
                    if is(i, "IF") && is(i + 1, "EXISTS") {
                        i += 2;
                    }
                    if is(i, "ONLY") {
                        i += 1;
                    }
                    if let Some((name, _)) = name_at(tokens, i) {
                        self.objects.insert(name, at);
                    }
                }
                Some("ROLE" | "USER") => {
                    if let Some((role, _)) = ident_at(tokens, i + 1) {
                        self.objects.insert(role, at);
                    }
                }
                Some("POLICY") => {
                    if let Some((policy, next)) = ident_at(tokens, i + 1)
                        && words.get(next).and_then(Option::as_deref) == Some("ON")
                        && let Some((table, _)) = name_at(tokens, next + 1)
                    {
                        let policies = self.policies.entry(table).or_default();
                        policies.retain(|(p, _)| *p != policy);
                        policies.push((policy, at));
                    }
                }
                _ => {}
            }
        } else if is(0, "GRANT") {
            // GRANT … ON [TABLE | FUNCTION | …] a, b TO …: every object named touches.
            let Some(on) = (1..words.len()).find(|&j| is(j, "ON")) else {
                return;
            };
            i = on + 1;
            if is(i, "ALL") {
                return; // ALL TABLES IN SCHEMA: no one object to point at
            }
            if ["TABLE", "FUNCTION", "PROCEDURE", "SEQUENCE", "ROUTINE"]
                .iter()
                .any(|kw| is(i, kw))
            {
                i += 1;
            }
            while let Some((name, next)) = name_at(tokens, i) {
                self.objects.insert(name, at.clone());
                // Skip a function's argument list, then a comma.
                let mut j = next;
                if matches!(tokens.get(j), Some((Token::LParen, _))) {
                    let mut depth = 0;
                    while let Some((t, _)) = tokens.get(j) {
                        j += 1;
                        match t {
                            Token::LParen => depth += 1,
                            Token::RParen => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                if matches!(tokens.get(j), Some((Token::Comma, _))) {
                    i = j + 1;
                } else {
                    break;
                }
            }
        }
    }

    /// Where `object` (a finding's object: `schema.table`, `schema.fn(args)`, a role) was last
    /// touched. `detail` picks the policy a policy finding is about, when it names one.
    pub fn migration(&self, object: &str, detail: &str) -> Option<&Location> {
        let name = object.split('(').next().unwrap_or(object).trim();
        let key = normalise(name);
        if let Some(policies) = self.policies.get(&key) {
            // The detail names the policy in backticks (`open_read`); the last one named wins.
            let named = policies
                .iter()
                .rev()
                .find(|(p, _)| detail.contains(&format!("`{p}`")));
            if let Some((_, at)) = named {
                return Some(at);
            }
        }
        self.objects
            .get(&key)
            .or_else(|| self.objects.get(name))
            .or_else(|| {
                // A column or constraint (`schema.table.column`): its table.
                let parent = key.rsplit_once('.').map(|(p, _)| p)?;
                self.objects.get(parent)
            })
    }

    /// The location for a finding: its migration, else the spec (the line naming the object, or
    /// line 1), else none.
    pub fn locate(&self, object: &str, detail: &str) -> Option<Location> {
        if let Some(at) = self.migration(object, detail) {
            return Some(at.clone());
        }
        let (file, text) = self.spec.as_ref()?;
        let needle = object.split('(').next().unwrap_or(object);
        let short = needle.rsplit('.').next().unwrap_or(needle);
        let line = text
            .lines()
            .position(|l| l.contains(needle))
            .or_else(|| {
                (short.len() > 2)
                    .then(|| text.lines().position(|l| l.contains(short)))
                    .flatten()
            })
            .map_or(1, |i| i as u64 + 1);
        Some(Location {
            file: file.clone(),
            line,
        })
    }
}

/// `schema.name` for an identifier at `tokens[i]` (with an optional `schema.` prefix); unquoted
/// parts fold to lower case as PostgreSQL does; unqualified names are in `public`.
fn name_at(tokens: &[(Token, u64)], i: usize) -> Option<(String, usize)> {
    let (first, mut next) = ident_at(tokens, i)?;
    let mut parts = vec![first];
    while matches!(tokens.get(next), Some((Token::Period, _))) {
        let (part, after) = ident_at(tokens, next + 1)?;
        parts.push(part);
        next = after;
    }
    if parts.len() == 1 {
        parts.insert(0, "public".to_owned());
    }
    Some((parts.join("."), next))
}

fn ident_at(tokens: &[(Token, u64)], i: usize) -> Option<(String, usize)> {
    match tokens.get(i) {
        Some((Token::Word(w), _)) => Some((
            if w.quote_style.is_some() {
                w.value.clone()
            } else {
                w.value.to_lowercase()
            },
            i + 1,
        )),
        _ => None,
    }
}

/// A finding's object in the index's form: unqualified names are in `public`.
fn normalise(name: &str) -> String {
    let name = name.replace('"', "");
    if name.contains('.') {
        name
    } else {
        format!("public.{name}")
    }
}

fn collect_sql(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_sql(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}

/// Relative to the working directory when it lies below it (code scanning resolves URIs against
/// the checkout), with `/` separators.
fn display_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let text = relative.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "-- the schema
CREATE TABLE projects (id uuid, tenant_id uuid);
CREATE TABLE \"Odd\".\"Name\" (x int);

CREATE OR REPLACE FUNCTION public.tenant_id_for_slug(s text) RETURNS uuid
LANGUAGE sql AS $$ SELECT 1; SELECT id FROM tenants WHERE slug = s $$;
ALTER TABLE ONLY projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY isolation ON projects USING (true);
CREATE POLICY open_read ON public.projects FOR SELECT USING (true);
GRANT SELECT, INSERT ON TABLE projects, public.tasks TO app_user;
GRANT EXECUTE ON FUNCTION tenant_id_for_slug(text), other(int) TO app_user;
CREATE ROLE app_user LOGIN;
";

    fn locator() -> Locator {
        let mut l = Locator::default();
        l.index_sql("migrations/0001.sql", SQL);
        l
    }

    fn line(l: &Locator, object: &str, detail: &str) -> u64 {
        l.migration(object, detail)
            .unwrap_or_else(|| panic!("{object} not located"))
            .line
    }

    #[test]
    fn the_last_statement_that_touched_an_object_wins() {
        let l = locator();
        // CREATE TABLE (2), ALTER (7), GRANT (10): the GRANT is the last.
        assert_eq!(line(&l, "public.projects", ""), 10);
        assert_eq!(line(&l, "public.tasks", ""), 10);
        assert_eq!(line(&l, "Odd.Name", ""), 3);
        // The `;` inside the dollar-quoted body does not split the statement; GRANT at 11.
        assert_eq!(line(&l, "public.tenant_id_for_slug(text)", ""), 11);
        assert_eq!(line(&l, "public.other(integer)", ""), 11);
        assert_eq!(line(&l, "app_user", ""), 12);
    }

    #[test]
    fn policy_findings_point_at_their_policy() {
        let l = locator();
        assert_eq!(
            line(&l, "public.projects", "policy `open_read` is always true"),
            9
        );
        assert_eq!(line(&l, "public.projects", "policy `isolation` …"), 8);
    }

    #[test]
    fn unknown_objects_fall_back_to_the_spec_line_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("app.toml");
        std::fs::write(
            &spec,
            "name = \"x\"\n[redis]\nkey_patterns = [\"tenant:*\"]\n",
        )
        .unwrap();
        let l = locator().with_spec(&spec);
        let at = l.locate("tenant:*", "").unwrap();
        assert_eq!(at.line, 3);
        assert!(at.file.ends_with("app.toml"));
        assert_eq!(l.locate("GET /nowhere", "").unwrap().line, 1);
        assert_eq!(
            l.locate("public.projects", "").unwrap().file,
            "migrations/0001.sql"
        );
        assert!(Locator::default().locate("public.projects", "").is_none());
    }
}
