//! Learning the tenants from the database as the observer (`learn`): their ids and slugs (the
//! segments keys use) and, from a bounded sample of every tenant table, the values that only that
//! tenant has (emails, names, external ids, large numbers), so that a cached value holding another
//! tenant's data is recognised even when it carries no id or canary marker.
//!
//! Everything is read in one read-only transaction. What counts as distinctive (`distinctive`) is
//! deliberately narrow, because a value registered to tenant A and seen under B's key is reported
//! as a leak: strings of 8+ characters that are an email address, a UUID, text with a space
//! (names, titles, addresses) or a token mixing letters and digits (`cus_8f3kd92x`,
//! `INV-2026-0042`), never single words (statuses, enum values), dates or times; integers of 6+
//! digits, matched only as whole numbers. Short slugs and small numbers never count. A value seen
//! for two tenants belongs to neither.

use sqlx::{Connection, PgConnection};

use crate::catalog::{Catalog, CatalogError};
pub use crate::checks::keys::KnownTenant;
use crate::sql::quote_ident;
use crate::tenancy::Tenancy;

/// Strings shorter than this are never learned (the ownership oracle's own floor).
const MIN_TEXT: usize = 8;
/// Integers below this are never learned: small numbers occur everywhere.
const MIN_NUMBER: i64 = 100_000;

/// How much to read.
#[derive(Debug, Clone, Copy)]
pub struct LearnOptions {
    /// Rows per tenant and table (0: learn ids and slugs only).
    pub rows_per_tenant: i64,
    /// Rows per table, whatever the number of tenants.
    pub rows_per_table: i64,
}

impl Default for LearnOptions {
    fn default() -> Self {
        Self {
            rows_per_tenant: 20,
            rows_per_table: 10_000,
        }
    }
}

/// What was learned.
#[derive(Debug, Clone, Default)]
pub struct Learned {
    pub tenants: Vec<KnownTenant>,
    /// Tenant tables sampled, rows read, and tables that could not be read (name and reason).
    pub tables: usize,
    pub rows: u64,
    pub unreadable: Vec<(String, String)>,
}

impl Learned {
    /// Distinctive values learned, over all tenants.
    pub fn values(&self) -> usize {
        self.tenants
            .iter()
            .map(|t| t.texts.len() + t.numbers.len())
            .sum()
    }
}

/// Reads the tenants (the spec's tenants table, or the one foreign keys point at, keyed by its
/// primary key; `slug` when it has that column) and samples every tenant table for their values.
/// No tenants table: nothing is known.
pub async fn learn(
    conn: &mut PgConnection,
    tenancy: &Tenancy,
    options: LearnOptions,
) -> Result<Learned, CatalogError> {
    let mut tx = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    sqlx::raw_sql("SET LOCAL statement_timeout = '30s'; SET LOCAL lock_timeout = '1s'")
        .execute(&mut *tx)
        .await?;
    let catalog = Catalog::snapshot(&mut tx, tenancy).await?;
    let tenancy = catalog.complete(tenancy);
    let mut learned = Learned::default();
    let Some(table) = tenancy.tenants_table.clone() else {
        return Ok(learned);
    };
    let Some(rel) = catalog.relations.iter().find(|r| r.name == table) else {
        return Ok(learned);
    };
    let Some(key) = catalog
        .constraints
        .iter()
        .find(|c| c.relid == rel.oid && c.kind == 'p' && c.columns.len() == 1)
        .map(|c| c.columns[0].clone())
    else {
        return Ok(learned);
    };
    let slug = if rel.column("slug").is_some() {
        "k.slug::text"
    } else {
        "NULL::text"
    };
    let key_q = quote_ident(&key);
    let sql = format!(
        "SELECT k.{key_q}::text, {slug}, to_jsonb(k)::text FROM {} k ORDER BY 1",
        table.quoted()
    );
    let rows: Vec<(String, Option<String>, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *tx)
        .await?;
    let mut index = std::collections::HashMap::new();
    for (id, slug, doc) in rows {
        let mut tenant = KnownTenant {
            id: id.clone(),
            slug,
            ..KnownTenant::default()
        };
        if options.rows_per_tenant > 0 {
            collect(&doc, &[key.as_str(), "slug"], &mut tenant);
        }
        index.insert(id, learned.tenants.len());
        learned.tenants.push(tenant);
    }
    if options.rows_per_tenant <= 0 {
        return Ok(learned);
    }
    let column = quote_ident(&tenancy.tenant_column);
    for rel in catalog.relations.iter().filter(|r| {
        r.is_table()
            && !r.is_partition
            && r.name != table
            && r.column(&tenancy.tenant_column).is_some()
    }) {
        // Per tenant through the tenant column's index, so every tenant gets its share.
        let sql = format!(
            "SELECT k.{key_q}::text, to_jsonb(t)::text FROM {} k CROSS JOIN LATERAL \
             (SELECT * FROM {} t0 WHERE t0.{column} = k.{key_q} LIMIT $1) t LIMIT $2",
            table.quoted(),
            rel.name.quoted()
        );
        sqlx::raw_sql("SAVEPOINT learn").execute(&mut *tx).await?;
        let rows: Result<Vec<(String, String)>, sqlx::Error> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(options.rows_per_tenant)
                .bind(options.rows_per_table)
                .fetch_all(&mut *tx)
                .await;
        match rows {
            Ok(rows) => {
                learned.tables += 1;
                learned.rows += rows.len() as u64;
                for (id, doc) in rows {
                    if let Some(&i) = index.get(&id) {
                        collect(
                            &doc,
                            &[tenancy.tenant_column.as_str()],
                            &mut learned.tenants[i],
                        );
                    }
                }
                sqlx::raw_sql("RELEASE SAVEPOINT learn")
                    .execute(&mut *tx)
                    .await?;
            }
            Err(e) => {
                learned
                    .unreadable
                    .push((rel.name.to_string(), e.to_string()));
                sqlx::raw_sql("ROLLBACK TO SAVEPOINT learn")
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.rollback().await?;
    Ok(learned)
}

/// Adds the distinctive values of a row (`to_jsonb` text) to `tenant`, skipping `skip` columns.
fn collect(doc: &str, skip: &[&str], tenant: &mut KnownTenant) {
    let Ok(serde_json::Value::Object(row)) = serde_json::from_str::<serde_json::Value>(doc) else {
        return;
    };
    for (column, value) in &row {
        if !skip.contains(&column.as_str()) {
            walk(value, tenant);
        }
    }
}

fn walk(value: &serde_json::Value, tenant: &mut KnownTenant) {
    match value {
        serde_json::Value::String(s) => match distinctive(s) {
            Some(Distinct::Text) => {
                tenant.texts.insert(s.trim().to_owned());
            }
            Some(Distinct::Number) => {
                tenant.numbers.insert(s.trim().to_owned());
            }
            None => {}
        },
        serde_json::Value::Number(n) if n.as_i64().is_some_and(|i| i.abs() >= MIN_NUMBER) => {
            tenant.numbers.insert(n.to_string());
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, tenant)),
        serde_json::Value::Object(map) => map.values().for_each(|v| walk(v, tenant)),
        _ => {}
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Distinct {
    Text,
    Number,
}

/// Whether a string value is distinctive enough to be learned, and as what (see the module doc).
fn distinctive(s: &str) -> Option<Distinct> {
    let s = s.trim();
    if s.parse::<i64>().is_ok_and(|i| i.abs() >= MIN_NUMBER) && !s.starts_with('+') {
        return Some(Distinct::Number);
    }
    if s.chars().count() < MIN_TEXT || temporal(s) {
        return None;
    }
    let letters = s.chars().any(char::is_alphabetic);
    let digits = s.chars().any(|c| c.is_ascii_digit());
    let email = {
        let mut halves = s.splitn(2, '@');
        let (local, domain) = (halves.next().unwrap_or(""), halves.next().unwrap_or(""));
        !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace)
    };
    let words = s.split_whitespace().count() >= 2 && letters;
    let token = letters && digits && !s.contains(char::is_whitespace);
    (email || uuid::Uuid::parse_str(s).is_ok() || words || token).then_some(Distinct::Text)
}

/// Dates and times (`2026-12-04`, `2026-12-04T10:00:00Z`, `10:00:00`): shared by chance.
fn temporal(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && matches!(b[4], b'-' | b'/'))
        || (b.len() >= 5 && b[..2].iter().all(u8::is_ascii_digit) && b[2] == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_distinctive_values_are_learned() {
        for yes in [
            "ann@globex.example",
            "Ann Smith-Jones",
            "cus_8f3kd92x",
            "INV-2026-0042",
            "0b9f3c1e-8d4a-4c7e-9f1a-2b3c4d5e6f70",
            "12 Main Street",
        ] {
            assert_eq!(distinctive(yes), Some(Distinct::Text), "{yes}");
        }
        assert_eq!(distinctive("1000042"), Some(Distinct::Number));
        for no in [
            "acme",
            "globex",
            "completed",
            "in_progress",
            "IN_PROGRESS",
            "a@b.io",
            "2026-12-04",
            "2026-12-04T10:00:00Z",
            "2026-12-04 10:00:00+00",
            "10:00:00",
            "42",
            "99999",
            "true",
        ] {
            assert_eq!(distinctive(no), None, "{no}");
        }
    }

    #[test]
    fn a_row_gives_its_values_but_not_the_tenant_column() {
        let mut t = KnownTenant::default();
        collect(
            r#"{"org_id": 1000042, "id": 1000077, "email": "ann@globex.example", "status": "active",
                "n": 3, "meta": {"ref": "cus_8f3kd92x", "tags": ["Ann Smith"]}}"#,
            &["org_id"],
            &mut t,
        );
        assert_eq!(
            t.texts.iter().map(String::as_str).collect::<Vec<_>>(),
            ["Ann Smith", "ann@globex.example", "cus_8f3kd92x"]
        );
        assert_eq!(
            t.numbers.iter().map(String::as_str).collect::<Vec<_>>(),
            ["1000077"]
        );
    }
}
