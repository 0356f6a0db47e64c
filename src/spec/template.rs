//! `{placeholder}` templates in specs (`Template`): paths, hosts, bodies, claims and SQL. Names are
//! checked when the spec is loaded, so a typo fails at once with its line, not mid-run.

use std::collections::BTreeMap;

use super::braces::{BraceError, Token, tokens};

/// A string with `{name}` placeholders; `{{` and `}}` are literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(String),
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, String> {
        let is_name = |name: &str| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let mut parts = Vec::new();
        let mut text_buf = String::new();
        for token in tokens(text) {
            match token {
                Ok(Token::Char(c)) => text_buf.push(c),
                Ok(Token::Placeholder(name)) if is_name(name) => {
                    if !text_buf.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text_buf)));
                    }
                    parts.push(Part::Var(name.to_owned()));
                }
                Ok(Token::Placeholder(name)) | Err(BraceError::Unclosed(name)) => {
                    return Err(format!("bad placeholder `{{{name}` in `{text}`"));
                }
                Err(BraceError::Unmatched) => return Err(format!("unmatched `}}` in `{text}`")),
            }
        }
        if !text_buf.is_empty() {
            parts.push(Part::Text(text_buf));
        }
        Ok(Self { parts })
    }

    /// Placeholder names in order of appearance.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Whether the placeholder `name` appears.
    pub fn uses(&self, name: &str) -> bool {
        self.vars().any(|v| v == name)
    }

    /// Fails with the first name not in `allowed`.
    pub fn check(&self, allowed: &[&str]) -> Result<(), String> {
        match self.vars().find(|v| !allowed.contains(v)) {
            Some(v) => Err(format!(
                "unknown placeholder `{{{v}}}` (allowed here: {})",
                allowed
                    .iter()
                    .map(|a| format!("{{{a}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => Ok(()),
        }
    }

    /// Substitutes every placeholder; a missing value is an error naming it.
    pub fn render(&self, values: &Values) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => out.push_str(
                    values
                        .get(v)
                        .ok_or_else(|| format!("no value for `{{{v}}}`"))?,
                ),
            }
        }
        Ok(out)
    }

    /// The SQL form: each placeholder becomes a bind parameter `$n`, returned with the names to
    /// bind in order (the same name reuses its number). Values are never spliced into SQL.
    pub fn to_sql(&self) -> (String, Vec<String>) {
        let mut names: Vec<String> = Vec::new();
        let mut sql = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => sql.push_str(t),
                Part::Var(v) => {
                    let n = match names.iter().position(|x| x == v) {
                        Some(i) => i + 1,
                        None => {
                            names.push(v.clone());
                            names.len()
                        }
                    };
                    sql.push_str(&format!("${n}"));
                }
            }
        }
        (sql, names)
    }
}

/// Placeholder values.
pub type Values = BTreeMap<String, String>;

/// Renders every string inside a JSON value.
pub fn render_json(
    value: &serde_json::Value,
    values: &Values,
) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => Value::String(Template::parse(s)?.render(values)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_json(v, values))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(v, values)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Checks every string inside a JSON value.
pub fn check_json(value: &serde_json::Value, allowed: &[&str]) -> Result<(), String> {
    use serde_json::Value;
    match value {
        Value::String(s) => Template::parse(s)?.check(allowed),
        Value::Array(items) => items.iter().try_for_each(|v| check_json(v, allowed)),
        Value::Object(map) => map.values().try_for_each(|v| check_json(v, allowed)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn renders_checks_and_binds() {
        let t = Template::parse("/t/{slug}/projects/{id}").unwrap();
        assert_eq!(
            t.render(&values(&[("slug", "acme"), ("id", "7")])).unwrap(),
            "/t/acme/projects/7"
        );
        assert!(t.check(&["slug"]).unwrap_err().contains("`{id}`"));
        assert!(
            t.render(&values(&[("slug", "acme")]))
                .unwrap_err()
                .contains("{id}")
        );
        let (sql, names) = Template::parse("INSERT INTO t VALUES ({slug}, {name}, {slug})")
            .unwrap()
            .to_sql();
        assert_eq!(sql, "INSERT INTO t VALUES ($1, $2, $1)");
        assert_eq!(names, ["slug", "name"]);
        assert_eq!(
            Template::parse("{{literal}}")
                .unwrap()
                .render(&Values::new())
                .unwrap(),
            "{literal}"
        );
        assert!(Template::parse("{bad name}").is_err() && Template::parse("x}").is_err());
        assert_eq!(
            Template::parse("/t/{slug").unwrap_err(),
            "bad placeholder `{slug` in `/t/{slug`"
        );
    }
}
