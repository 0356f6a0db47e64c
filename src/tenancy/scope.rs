//! Whether a run would examine anything (`check_scope`): every schema named exists, and some
//! table in them carries the tenant column. A misconfiguration that examines nothing (a typo in
//! `--tenant-column` or `--schema`, the wrong or an empty database) must never pass as clean: each
//! error says what exists instead.

use sqlx::PgConnection;

use super::Tenancy;

/// What the run will examine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// Tables (plain and partitioned, partitions included) in the examined schemas.
    pub tables: i64,
    /// Those of them that carry the tenant column.
    pub tenant_tables: i64,
}

/// A configuration under which the run would examine nothing, with a did-you-mean.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error(
        "schema `{schema}` does not exist{} (--schema NAME, or `schemas` under [database])",
        did_you_mean(.suggestions)
    )]
    UnknownSchema {
        schema: String,
        suggestions: Vec<String>,
    },
    #[error(
        "{} no tables: nothing to examine (an empty database, or the wrong one?)",
        hold(.schemas)
    )]
    NoTables { schemas: Vec<String> },
    #[error(
        "no table in {} has the tenant column `{column}`{}{} (--tenant-column NAME, or \
         `tenant_column` under [database])",
        schema_list(.schemas),
        elsewhere_hint(.elsewhere),
        did_you_mean_counted(.suggestions)
    )]
    UnknownTenantColumn {
        column: String,
        schemas: Vec<String>,
        /// Columns that look like a tenant column, with how many tables have them.
        suggestions: Vec<(String, i64)>,
        /// Other schemas where tables do have the column.
        elsewhere: Vec<String>,
    },
    #[error("cannot read the catalog to check what the run would examine")]
    Catalog(#[source] sqlx::Error),
}

fn did_you_mean(names: &[String]) -> String {
    if names.is_empty() {
        return String::new();
    }
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("; did you mean {}?", names.join(", "))
}

fn did_you_mean_counted(columns: &[(String, i64)]) -> String {
    if columns.is_empty() {
        return "; no column looks like a tenant column".to_owned();
    }
    let names: Vec<String> = columns
        .iter()
        .map(|(name, n)| format!("`{name}` ({n} table{})", if *n == 1 { "" } else { "s" }))
        .collect();
    format!("; did you mean {}?", names.join(", "))
}

fn elsewhere_hint(schemas: &[String]) -> String {
    if schemas.is_empty() {
        return String::new();
    }
    format!(" (tables in {} have it)", schema_list(schemas))
}

fn schema_list(schemas: &[String]) -> String {
    let names: Vec<String> = schemas.iter().map(|s| format!("`{s}`")).collect();
    match names.len() {
        1 => format!("schema {}", names[0]),
        _ => format!("schemas {}", names.join(", ")),
    }
}

fn hold(schemas: &[String]) -> String {
    match schemas.len() {
        0 => "no schema is examined, so it holds".to_owned(),
        1 => format!("{} holds", schema_list(schemas)),
        _ => format!("{} hold", schema_list(schemas)),
    }
}

/// Schemas that are the system's, never suggested.
const SYSTEM_SCHEMAS: &str = "nspname !~ '^pg_' AND nspname <> 'information_schema'";

/// Checks that `tenancy` names existing schemas and a tenant column some table in them has.
/// Reads only the catalog (any role may), in at most four queries.
pub async fn check_scope(conn: &mut PgConnection, tenancy: &Tenancy) -> Result<Scope, ScopeError> {
    let existing: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT nspname::text FROM pg_namespace WHERE {SYSTEM_SCHEMAS} ORDER BY 1"
    )))
    .fetch_all(&mut *conn)
    .await
    .map_err(ScopeError::Catalog)?;
    for schema in &tenancy.schemas {
        if !existing.contains(schema) {
            return Err(ScopeError::UnknownSchema {
                schema: schema.clone(),
                suggestions: suggest_schemas(schema, &existing),
            });
        }
    }
    let (tables, tenant_tables): (i64, i64) = sqlx::query_as(
        "SELECT count(*)::int8,
                count(*) FILTER (WHERE EXISTS (
                    SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0
                      AND NOT a.attisdropped))::int8
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p')",
    )
    .bind(&tenancy.schemas)
    .bind(&tenancy.tenant_column)
    .fetch_one(&mut *conn)
    .await
    .map_err(ScopeError::Catalog)?;
    if tables == 0 {
        return Err(ScopeError::NoTables {
            schemas: tenancy.schemas.clone(),
        });
    }
    if tenant_tables > 0 {
        return Ok(Scope {
            tables,
            tenant_tables,
        });
    }
    let columns: Vec<(String, i64)> = sqlx::query_as(
        "SELECT a.attname::text, count(DISTINCT c.oid)::int8
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p')
         GROUP BY 1",
    )
    .bind(&tenancy.schemas)
    .fetch_all(&mut *conn)
    .await
    .map_err(ScopeError::Catalog)?;
    let elsewhere: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT n.nspname::text
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE a.attname = $1 AND c.relkind IN ('r', 'p') AND {SYSTEM_SCHEMAS}
         ORDER BY 1"
    )))
    .bind(&tenancy.tenant_column)
    .fetch_all(&mut *conn)
    .await
    .map_err(ScopeError::Catalog)?;
    Err(ScopeError::UnknownTenantColumn {
        column: tenancy.tenant_column.clone(),
        schemas: tenancy.schemas.clone(),
        suggestions: suggest_columns(&tenancy.tenant_column, &columns),
        elsewhere,
    })
}

/// The existing schemas nearest to `wanted` by edit distance (at most three).
pub fn suggest_schemas(wanted: &str, existing: &[String]) -> Vec<String> {
    let mut ranked: Vec<(usize, &String)> = existing
        .iter()
        .map(|s| (strsim::damerau_levenshtein(wanted, s), s))
        .collect();
    ranked.sort();
    ranked.into_iter().take(3).map(|(_, s)| s.clone()).collect()
}

/// Words that tenant columns are named after.
const TENANT_WORDS: &[&str] = &[
    "tenant",
    "org",
    "account",
    "company",
    "workspace",
    "customer",
    "team",
];

/// Columns (with the number of tables that have them) that may be the tenant column meant:
/// near-misses of `wanted` first, then names with a tenant word and `*_id` columns several tables
/// share, most widespread first; at most five.
pub fn suggest_columns(wanted: &str, columns: &[(String, i64)]) -> Vec<(String, i64)> {
    // A near-miss: at most two edits, and few for the name's length ("x" is not a typo of "id").
    let typo = |name: &str| {
        let edits = strsim::damerau_levenshtein(wanted, name);
        edits <= 2 && edits * 3 <= wanted.chars().count()
    };
    let mut ranked: Vec<(bool, i64, &String)> = columns
        .iter()
        .filter(|(name, count)| {
            let lower = name.to_lowercase();
            name != wanted
                && (typo(name)
                    || TENANT_WORDS.iter().any(|w| lower.contains(w))
                    || (lower.ends_with("_id") && *count >= 2))
        })
        .map(|(name, count)| (!typo(name), -count, name))
        .collect();
    ranked.sort();
    ranked
        .into_iter()
        .take(5)
        .map(|(_, count, name)| (name.clone(), -count))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(list: &[(&str, i64)]) -> Vec<(String, i64)> {
        list.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
    }

    #[test]
    fn column_suggestions_put_typos_first_then_the_most_widespread() {
        let columns = cols(&[
            ("id", 9),
            ("tenant_id", 4),
            ("org_id", 2),
            ("project_id", 3),
            ("user_id", 1),
            ("title", 5),
            ("account_name", 1),
        ]);
        let got = suggest_columns("tenant_idd", &columns);
        assert_eq!(
            got,
            cols(&[
                ("tenant_id", 4),
                ("project_id", 3),
                ("org_id", 2),
                ("account_name", 1)
            ])
        );
        assert!(suggest_columns("x", &cols(&[("title", 3), ("id", 3)])).is_empty());
    }

    #[test]
    fn schema_suggestions_are_the_nearest() {
        let existing: Vec<String> = ["app", "public", "billing", "audit"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let got = suggest_schemas("pubilc", &existing);
        assert_eq!((got[0].as_str(), got.len()), ("public", 3), "{got:?}");
    }

    #[test]
    fn messages_name_what_exists() {
        let e = ScopeError::UnknownTenantColumn {
            column: "tenant_idd".into(),
            schemas: vec!["public".into()],
            suggestions: cols(&[("tenant_id", 4), ("org_id", 1)]),
            elsewhere: vec![],
        };
        assert_eq!(
            e.to_string(),
            "no table in schema `public` has the tenant column `tenant_idd`; did you mean \
             `tenant_id` (4 tables), `org_id` (1 table)? (--tenant-column NAME, or \
             `tenant_column` under [database])"
        );
        let e = ScopeError::NoTables {
            schemas: vec!["public".into()],
        };
        assert!(e.to_string().starts_with("schema `public` holds no tables"));
    }
}
