//! Running attempts (`run_window`) as the app role, each under the savepoint `tp_attempt` that is
//! rolled back before anything else runs, several attempts to a round trip, each statement
//! prepared once per connection (`Link`).
//!
//! A window of attempts becomes one simple-query batch of units: an attempt's statement (rolling
//! back to the savepoint, assuming the app role, setting the tenant, then the statement), the
//! observer's fingerprint of watched rows before and after it, and its control. PostgreSQL stops
//! a batch at the first error, so everything up to the error ran exactly as it would have alone,
//! the failing unit is that attempt's refusal, and the rest is sent again in the next batch. The
//! fingerprint after a write directly follows it, so it runs exactly when the write succeeded.
//!
//! Attack statements are sent as `PREPARE` on first use (as the app role, so names resolve with
//! its rights) and `EXECUTE` afterwards with literal arguments: the server parses and plans each
//! shape once per connection instead of once per attempt. Prepared statements outlive the rolled
//! back transactions; they are dropped with the connection.

use std::collections::HashMap;

use futures::TryStreamExt;
use sqlx::postgres::PgDatabaseError;
use sqlx::{AssertSqlSafe, Column, PgConnection, Row};

use super::execute::{Ending, Fingerprints, Outcome};
use super::ops::{Attempt, Context, Statement};
use super::schema::AttackSchema;
use super::timings::Timings;
use super::values::SqlValue;
use super::world::{World, set_tenant_sql};
use crate::oracle::TenantIdx;
use crate::sql::{quote_ident, quote_literal};

/// Attempts sent in one round trip by default. An error ends a batch early (the rest is sent
/// again), so deeper batches mostly re-send; this depth already makes the round trip a small share.
pub const PIPELINE: usize = 8;

/// Most statements prepared on one connection; later shapes are sent as literal SQL.
const MAX_PREPARED: usize = 1024;

/// SQLSTATE 26000: a prepared statement that does not exist (`DEALLOCATE` or `DISCARD` ran).
const NO_SUCH_STATEMENT: &str = "26000";

/// One connection's state between attempts: whether the savepoint `tp_attempt` exists, the
/// statements prepared on the connection, and what was sent.
#[derive(Debug, Default)]
pub struct Link {
    /// `tp_attempt` exists in the current transaction, so a unit starts by rolling back to it.
    /// False at the start of every case.
    savepoint: bool,
    /// Parameterised SQL → its prepared statement.
    prepared: HashMap<String, Prepared>,
    /// Everything is sent as literal SQL: asked for, or a prepared statement vanished.
    literal_only: bool,
    /// Round trips, statements and query forms sent (counters only).
    pub sent: Timings,
}

#[derive(Debug)]
struct Prepared {
    name: String,
    /// PREPARE completed on this connection.
    ready: bool,
}

impl Link {
    /// `prepare`: attack statements are prepared on first use (else always literal SQL).
    pub fn new(prepare: bool) -> Self {
        Self {
            literal_only: !prepare,
            ..Self::default()
        }
    }

    /// A new case (a new transaction): no savepoint yet.
    pub fn start_case(&mut self) {
        self.savepoint = false;
    }
}

/// Which part of an attempt a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The observer's fingerprint of the watched rows, before any attempt on them.
    Before,
    /// The attempt's statement, as the app role.
    Main,
    /// The observer's fingerprint again, inside the attempt's savepoint (only reached when the
    /// statement succeeded).
    After,
    /// The control statement (fresh values instead of the victim's), as the app role.
    Control,
}

/// How a unit's query was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `EXECUTE` of a statement prepared earlier on this connection.
    Prepared,
    /// `PREPARE` then `EXECUTE`.
    Preparing,
    Literal,
}

/// A unit of a batch: its statements end at `end`; `main..end` are the query itself.
struct Unit {
    attempt: usize,
    part: Part,
    main: usize,
    end: usize,
    form: Form,
    /// The SQL this unit prepares (its PREPARE is statement `main`).
    prepares: Option<String>,
}

/// The text of a batch and how many statements it holds.
#[derive(Default)]
struct Batch {
    pieces: Vec<String>,
    statements: usize,
    /// Statements prepared earlier in this batch (an EXECUTE after them runs only if they did).
    preparing: Vec<String>,
}

impl Batch {
    fn push(&mut self, piece: String, statements: usize) {
        self.pieces.push(piece);
        self.statements += statements;
    }
}

/// What one statement of a batch returned: (column, value) of its `tp_result` or `tp_print`
/// rows, and its affected-row count.
#[derive(Default)]
struct Returned {
    rows: Vec<(&'static str, Option<String>)>,
    affected: u64,
}

/// An attempt's progress through its units.
#[derive(Default)]
struct Progress {
    ending: Option<Ending>,
    changed: bool,
    control: Option<Ending>,
}

fn is_timeout(ending: &Ending) -> bool {
    matches!(ending, Ending::Failed { code, .. } if crate::session::is_timeout(code))
}

/// Runs `window` (attempts in order) and returns the outcomes of a prefix of it: all of them,
/// unless one timed out (those after it are then left to the caller, which does not try a
/// timed-out object again). Fingerprints taken are kept in `prints`. An error outside an
/// attempt's own statements (the observer's fingerprint failing) is returned as `Err`.
pub async fn run_window(
    conn: &mut PgConnection,
    link: &mut Link,
    schema: &AttackSchema,
    world: &World,
    window: &[&Attempt],
    prints: &mut Fingerprints,
) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut progress: Vec<Progress> = window.iter().map(|_| Progress::default()).collect();
    // Units still to run, in order.
    let mut todo: Vec<(usize, Part)> = Vec::new();
    let mut printing: Vec<(usize, TenantIdx)> = Vec::new();
    for (i, attempt) in window.iter().enumerate() {
        if let Some(key) = attempt.watch
            && !prints.contains_key(&key)
            && !printing.contains(&key)
        {
            // Once per watched (table, tenant): every attempt is rolled back, so the rows are
            // the same for the later attempts on them.
            printing.push(key);
            todo.push((i, Part::Before));
        }
        todo.push((i, Part::Main));
        if attempt.watch.is_some() {
            todo.push((i, Part::After));
        }
        if attempt.control.is_some() {
            todo.push((i, Part::Control));
        }
    }
    // The attempt that timed out: nothing after it runs.
    let mut stop_after: Option<usize> = None;
    while !todo.is_empty() {
        let (batch, units) = build(link, schema, world, window, &todo);
        let (returned, error) = send(conn, link, batch).await?;
        let completed = returned.len();
        if completed > 0 {
            link.savepoint = true;
        }
        for unit in &units {
            if let Some(sql) = &unit.prepares
                && unit.main < completed
                && let Some(p) = link.prepared.get_mut(sql)
            {
                p.ready = true;
            }
        }
        let mut ran = 0;
        for unit in units.iter().take_while(|u| u.end <= completed) {
            finish(unit, &returned, window, &mut progress, prints);
            count(link, unit);
            ran += 1;
        }
        if let Some(error) = error {
            // The error came from a statement of the first unit that did not complete; those
            // after it never ran.
            let (Some(unit), Some(ending)) = (units.get(ran), failed(&error)) else {
                return Err(error);
            };
            if matches!(&ending, Ending::Failed { code, .. } if code == NO_SUCH_STATEMENT)
                && !link.literal_only
            {
                // Someone deallocated our statements: from now on send literal SQL, and run
                // this unit again.
                link.prepared.clear();
                link.literal_only = true;
            } else {
                count(link, unit);
                ran += 1;
                match unit.part {
                    Part::Main => {
                        // The statement failed: the fingerprint after it is not taken.
                        todo.retain(|u| *u != (unit.attempt, Part::After));
                        if is_timeout(&ending) {
                            stop_after = Some(unit.attempt);
                        }
                        progress[unit.attempt].ending = Some(ending);
                    }
                    Part::Control => {
                        if is_timeout(&ending) {
                            stop_after = Some(unit.attempt);
                        }
                        progress[unit.attempt].control = Some(ending);
                    }
                    // The observer could not read the watched rows: the case cannot go on.
                    Part::Before | Part::After => return Err(error),
                }
            }
        }
        let done: Vec<(usize, Part)> = units
            .iter()
            .take(ran)
            .map(|u| (u.attempt, u.part))
            .collect();
        todo.retain(|u| !done.contains(u));
        if let Some(s) = stop_after {
            todo.retain(|(a, _)| *a <= s);
        }
    }
    let complete = stop_after.map_or(window.len(), |s| s + 1);
    Ok(progress
        .into_iter()
        .take(complete)
        .map(|p| Outcome {
            ending: p.ending.unwrap_or(Ending::Ok {
                rows: Vec::new(),
                affected: 0,
            }),
            changed: p.changed,
            control: p.control,
        })
        .collect())
}

/// Counts how a unit's query was sent.
fn count(link: &mut Link, unit: &Unit) {
    match unit.form {
        Form::Prepared => link.sent.prepared_hits += 1,
        Form::Preparing => link.sent.prepared_new += 1,
        Form::Literal => link.sent.literal += 1,
    }
}

/// Records a unit that ran to its end.
fn finish(
    unit: &Unit,
    returned: &[Returned],
    window: &[&Attempt],
    progress: &mut [Progress],
    prints: &mut Fingerprints,
) {
    let statements = &returned[unit.main..unit.end];
    let values = |column: &str| -> Vec<String> {
        statements
            .iter()
            .flat_map(|r| &r.rows)
            .filter(|(name, _)| *name == column)
            .filter_map(|(_, value)| value.clone())
            .collect()
    };
    let affected = statements.last().map_or(0, |r| r.affected);
    let p = &mut progress[unit.attempt];
    match (unit.part, window[unit.attempt].watch) {
        (Part::Before, Some(key)) => {
            let print = values("tp_print").into_iter().next().unwrap_or_default();
            prints.insert(key, print);
        }
        (Part::After, Some(key)) => {
            let print = values("tp_print").into_iter().next().unwrap_or_default();
            p.changed = prints.get(&key).is_some_and(|before| *before != print);
        }
        (Part::Main, _) => {
            p.ending = Some(Ending::Ok {
                rows: values("tp_result"),
                affected,
            });
        }
        (Part::Control, _) => {
            p.control = Some(Ending::Ok {
                rows: values("tp_result"),
                affected,
            });
        }
        (Part::Before | Part::After, None) => {}
    }
}

/// The batch for `todo` (every unit still to run; an error ends it early) and where each unit's
/// statements are in it.
fn build(
    link: &mut Link,
    schema: &AttackSchema,
    world: &World,
    window: &[&Attempt],
    todo: &[(usize, Part)],
) -> (String, Vec<Unit>) {
    let mut batch = Batch::default();
    let mut units = Vec::new();
    let mut savepoint = link.savepoint;
    let setting = &schema.tenancy.tenant_setting;
    for &(i, part) in todo {
        let attempt = window[i];
        let query = match (part, attempt.watch, &attempt.control) {
            (Part::Before | Part::After, Some(key), _) => print_statement(schema, world, key),
            (Part::Main, _, _) => attempt.statement.clone(),
            (Part::Control, _, Some(control)) => control.clone(),
            _ => continue,
        };
        match (part, attempt.watch) {
            (Part::Before | Part::After, Some((_, tenant))) => {
                // Before: back to a clean savepoint, as the observer. After: the attempt's
                // changes stay visible; only the role is dropped.
                let first = if part == Part::Before {
                    undo(savepoint)
                } else {
                    "RESET ROLE"
                };
                batch.push(first.into(), 1);
                batch.push(set_tenant_sql(setting, &world.tenant_ids[tenant]), 1);
            }
            _ => {
                batch.push(undo(savepoint).into(), 1);
                batch.push(
                    format!("SET LOCAL ROLE {}", quote_ident(&schema.tenancy.app_role)),
                    1,
                );
                match &attempt.context {
                    Context::Tenant(t) => {
                        batch.push(set_tenant_sql(setting, &world.tenant_ids[*t]), 1)
                    }
                    Context::Value(v) => batch.push(set_tenant_sql(setting, v), 1),
                    // Never set on this session: nothing to send.
                    Context::Unset => {}
                }
            }
        }
        savepoint = true;
        let main = batch.statements;
        let (form, prepares) = push_query(link, &mut batch, &query);
        units.push(Unit {
            attempt: i,
            part,
            main,
            end: batch.statements,
            form,
            prepares,
        });
    }
    (batch.pieces.join(";\n"), units)
}

fn undo(savepoint: bool) -> &'static str {
    if savepoint {
        "ROLLBACK TO SAVEPOINT tp_attempt"
    } else {
        "SAVEPOINT tp_attempt"
    }
}

/// Appends `query`: `EXECUTE` of its prepared statement (preceded by the `PREPARE` on first use),
/// else its literal SQL.
fn push_query(link: &mut Link, batch: &mut Batch, query: &Statement) -> (Form, Option<String>) {
    let text = aliased(&query.sql);
    let room = link.prepared.len() < MAX_PREPARED || link.prepared.contains_key(&text);
    if link.literal_only || !room || !is_preparable(&text) {
        batch.push(aliased(&query.literal()), statements_in(&query.sql));
        return (Form::Literal, None);
    }
    let next = link.prepared.len();
    let entry = link
        .prepared
        .entry(text.clone())
        .or_insert_with(|| Prepared {
            name: format!("tp_s{next}"),
            ready: false,
        });
    let name = entry.name.clone();
    let mut form = Form::Prepared;
    let mut prepares = None;
    if !entry.ready && !batch.preparing.contains(&text) {
        batch.push(format!("PREPARE {name} AS {text}"), 1);
        batch.preparing.push(text.clone());
        form = Form::Preparing;
        prepares = Some(text);
    }
    batch.push(execute_statement(&name, &query.binds), 1);
    (form, prepares)
}

/// `EXECUTE name('v1', NULL, …)`: untyped literals, each taking the type its `$n::type` cast gave
/// the parameter, so a value the type rejects fails exactly as its literal would.
fn execute_statement(name: &str, binds: &[SqlValue]) -> String {
    if binds.is_empty() {
        return format!("EXECUTE {name}");
    }
    let args: Vec<String> = binds
        .iter()
        .map(|b| {
            b.text
                .as_deref()
                .map_or_else(|| "NULL".into(), quote_literal)
        })
        .collect();
    format!("EXECUTE {name}({})", args.join(", "))
}

/// One statement that PREPARE accepts.
fn is_preparable(sql: &str) -> bool {
    let head = sql.split_whitespace().next().unwrap_or("");
    ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"]
        .iter()
        .any(|k| head.eq_ignore_ascii_case(k))
        && statements_in(sql) == 1
}

/// Statements in `sql` (semicolons outside quoted literals and identifiers followed by more
/// SQL; ours have no comments or dollar quotes).
fn statements_in(sql: &str) -> usize {
    let mut quote: Option<char> = None;
    let mut count = 1;
    let mut pending = false;
    for c in sql.chars() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c == ';' {
            pending = true;
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if pending {
            count += 1;
            pending = false;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
        }
    }
    count
}

/// The observer's fingerprint of `tenant`'s rows in a table (count and digest), read with the
/// observer's own rights and, for an observer subject to RLS, that tenant's context (set before).
fn print_statement(
    schema: &AttackSchema,
    world: &World,
    (table, tenant): (usize, TenantIdx),
) -> Statement {
    let t = &schema.tables[table];
    let (filter, binds) = match &t.key {
        // Typed, so the tenant-leading index serves it.
        Some(key) => {
            let sql_type = t.column(key).map_or("text", |c| c.sql_type.as_str());
            (
                format!("WHERE {} = $1::{sql_type}", quote_ident(key)),
                vec![SqlValue::new(world.tenant_ids[tenant].clone(), sql_type)],
            )
        }
        None => (String::new(), Vec::new()),
    };
    Statement {
        sql: format!(
            "SELECT count(*)::text || ':' || coalesce(md5(string_agg(row_to_json(tp_t)::text, '|' ORDER BY row_to_json(tp_t)::text)), '') AS tp_print FROM {} tp_t {filter}",
            t.name.quoted()
        ),
        binds,
    }
}

/// Result rows of attack statements are JSON text in a column named `tp_result`.
fn aliased(sql: &str) -> String {
    sql.replacen(
        "SELECT row_to_json(tp_r)::text FROM",
        "SELECT row_to_json(tp_r)::text AS tp_result FROM",
        1,
    )
    .replace(
        "RETURNING row_to_json(tp_row.*)::text",
        "RETURNING row_to_json(tp_row.*)::text AS tp_result",
    )
}

/// Sends `batch` as one simple query: what each statement returned until the first error, and
/// that error (a database error; anything else is returned as `Err`).
async fn send(
    conn: &mut PgConnection,
    link: &mut Link,
    batch: String,
) -> Result<(Vec<Returned>, Option<sqlx::Error>), sqlx::Error> {
    link.sent.round_trips += 1;
    let mut returned: Vec<Returned> = Vec::new();
    let mut current = Returned::default();
    let columns: [&'static str; 2] = ["tp_result", "tp_print"];
    let mut stream = sqlx::raw_sql(AssertSqlSafe(batch)).fetch_many(&mut *conn);
    let error = loop {
        match stream.try_next().await {
            Ok(Some(sqlx::Either::Left(done))) => {
                current.affected = done.rows_affected();
                returned.push(std::mem::take(&mut current));
            }
            Ok(Some(sqlx::Either::Right(row))) => {
                let name = row.columns().first().map(|c| c.name());
                if let Some(&name) = columns.iter().find(|c| Some(**c) == name) {
                    let value = row.try_get::<Option<String>, _>(0).ok().flatten();
                    current.rows.push((name, value));
                }
            }
            Ok(None) => break None,
            Err(e @ sqlx::Error::Database(_)) => break Some(e),
            Err(other) => return Err(other),
        }
    };
    drop(stream);
    link.sent.statements += returned.len() as u64 + u64::from(error.is_some());
    Ok((returned, error))
}

/// A database error as a statement's ending (`None`: not a database error).
fn failed(error: &sqlx::Error) -> Option<Ending> {
    let sqlx::Error::Database(e) = error else {
        return None;
    };
    let (code, text) = match e.try_downcast_ref::<PgDatabaseError>() {
        Some(pg) => (
            pg.code().to_owned(),
            [Some(pg.message()), pg.detail(), pg.hint()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
        ),
        None => (
            e.code().map(|c| c.to_string()).unwrap_or_default(),
            e.message().to_owned(),
        ),
    };
    Some(Ending::Failed { code, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_counted_outside_quotes() {
        assert_eq!(statements_in("SELECT 1"), 1);
        assert_eq!(statements_in("SELECT 1;"), 1);
        assert_eq!(
            statements_in("SET LOCAL lock_timeout = '50ms'; TRUNCATE \"a;b\" CASCADE"),
            2
        );
        assert_eq!(statements_in("SELECT ';' || \"x;\" FROM t"), 1);
        assert_eq!(statements_in("SELECT 'it''s; here'"), 1);
    }

    #[test]
    fn only_single_statements_of_the_kinds_prepare_takes_are_prepared() {
        assert!(is_preparable(
            "SELECT row_to_json(tp_r)::text AS tp_result FROM t"
        ));
        assert!(is_preparable("insert into t (a) values ($1::int4)"));
        assert!(!is_preparable(
            "SET LOCAL lock_timeout = '50ms'; TRUNCATE t CASCADE"
        ));
        assert!(!is_preparable("TRUNCATE t"));
    }

    #[test]
    fn arguments_are_untyped_literals_and_nulls() {
        let binds = vec![
            SqlValue::new("it's", "text"),
            SqlValue {
                text: None,
                sql_type: "uuid".into(),
            },
        ];
        assert_eq!(
            execute_statement("tp_s3", &binds),
            "EXECUTE tp_s3('it''s', NULL)"
        );
        assert_eq!(execute_statement("tp_s4", &[]), "EXECUTE tp_s4");
    }
}
