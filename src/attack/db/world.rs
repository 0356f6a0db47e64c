//! A seeded world (`World`): tenants and rows created as the observer inside the attack's
//! transaction, every distinctive value registered to its tenant, and the SQL that recreates it
//! for reproducers. In read-only mode the world is a sample of existing rows instead.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};
use sqlx::{AssertSqlSafe, Column, PgConnection, Row};

use super::schema::{AttackSchema, KeyValues, Partition, SeedTable, ValueKind};
use super::values::{SqlValue, ValueGen};
use crate::oracle::{Ownership, TenantIdx};
use crate::sql::json_text;
use crate::sql::{QualifiedName, quote_ident, quote_literal};

/// What proptest chooses about a world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldParams {
    pub tenants: usize,
    pub rows: usize,
    pub salt: u64,
    /// Bit `t` set: tenant `t` gets no rows in child tables (those referencing another seeded
    /// table), so its parent rows have no dependents (a bare `UPDATE … SET tenant = …` is then
    /// not blocked by foreign keys, and "a tenant with no rows here" is exercised).
    pub sparse: u8,
}

#[derive(Debug, Clone)]
pub struct SeededRow {
    /// Index into `AttackSchema::tables`.
    pub table: usize,
    pub tenant: TenantIdx,
    /// The row as the database stored it (defaults included).
    pub values: Map<String, Value>,
}

#[derive(Debug, Clone, Default)]
pub struct World {
    pub tenant_ids: Vec<String>,
    pub rows: Vec<SeededRow>,
    pub ownership: Ownership,
    /// Statements that recreate the world, for reproducer scripts, with the table each inserts
    /// into (`None`: a context switch).
    pub setup: Vec<(Option<usize>, String)>,
    /// Tables and partitions that could not be seeded, with the reason.
    pub unseedable: Vec<(QualifiedName, String)>,
    /// Rows seeded per table and per leaf partition (by name), for the coverage.
    pub seeded: BTreeMap<String, u64>,
}

impl World {
    pub fn rows_of(&self, table: usize, tenant: TenantIdx) -> impl Iterator<Item = &SeededRow> {
        self.rows
            .iter()
            .filter(move |r| r.table == table && r.tenant == tenant)
    }

    pub fn has_rows(&self, table: usize, tenant: TenantIdx) -> bool {
        self.rows_of(table, tenant).next().is_some()
    }
}

/// `SELECT set_config(setting, value, true)` as literal SQL (the value is ours, quoted).
pub fn set_tenant_sql(setting: &str, value: &str) -> String {
    format!(
        "SELECT set_config({}, {}, true)",
        quote_literal(setting),
        quote_literal(value)
    )
}

/// Seeds a world. Runs inside the caller's transaction; every insert has its own savepoint so a
/// refused row is retried with fewer columns, and a table that cannot be seeded is reported with
/// the reason. `set_context`: set the tenant before each tenant's rows (an observer subject to RLS
/// needs it; a bypassing one does not, which keeps the setting undefined on this session).
pub async fn seed(
    conn: &mut PgConnection,
    schema: &AttackSchema,
    params: &WorldParams,
    set_context: bool,
) -> Result<World, sqlx::Error> {
    let mut seeder = Seeder {
        conn,
        schema,
        set_context,
        values_gen: ValueGen::new(params.salt),
        world: World::default(),
        foreign_cache: HashMap::new(),
    };
    seeder.add_tenants(params.tenants);
    seeder.seed_tables(params).await?;
    let mut world = seeder.world;
    for (ti, table) in schema.tables.iter().enumerate() {
        let n = world.rows.iter().filter(|r| r.table == ti).count() as u64;
        if n > 0 {
            world.seeded.insert(table.name.to_string(), n);
        }
    }
    Ok(world)
}

/// One world being seeded: the session, the schema, and what seeding every row reads and adds to.
struct Seeder<'a> {
    conn: &'a mut PgConnection,
    schema: &'a AttackSchema,
    /// Set the tenant before each tenant's rows (see `seed`).
    set_context: bool,
    values_gen: ValueGen,
    world: World,
    /// A row of each referenced table that is not seeded, read once (`None`: it has none).
    foreign_cache: HashMap<QualifiedName, Option<Map<String, Value>>>,
}

impl Seeder<'_> {
    /// Generates the ids of `n` tenants and registers each to its tenant.
    fn add_tenants(&mut self, n: usize) {
        let tenant_kind = self.schema.tenant_type.1.clone();
        for idx in 0..n {
            let first = self.world.tenant_ids.first().cloned();
            let id = self
                .values_gen
                .tenant_id(&tenant_kind, idx, first.as_deref());
            if matches!(tenant_kind, ValueKind::Int { .. }) {
                self.world.ownership.register_number(&id, idx);
            } else {
                self.world.ownership.register(&id, idx);
            }
            self.world.tenant_ids.push(id);
        }
    }

    /// Seeds every table in order (parents first); a table whose parent could not be seeded is
    /// not tried.
    async fn seed_tables(&mut self, params: &WorldParams) -> Result<(), sqlx::Error> {
        let schema = self.schema;
        let mut dead: Vec<usize> = Vec::new();
        for (ti, table) in schema.tables.iter().enumerate() {
            if let Some(reason) = table.foreign_keys.iter().find_map(|fk| {
                fk.target
                    .filter(|t| dead.contains(t))
                    .map(|_| format!("its parent `{}` could not be seeded", fk.target_name))
            }) {
                self.world.unseedable.push((table.name.clone(), reason));
                dead.push(ti);
                continue;
            }
            let rows = if table.is_tenants_table {
                1
            } else {
                params.rows
            };
            let is_child = table.foreign_keys.iter().any(|fk| {
                fk.target
                    .is_some_and(|t| t != ti && !schema.tables[t].is_tenants_table)
            });
            let tenants: Vec<TenantIdx> = (0..params.tenants)
                .filter(|t| !(is_child && *t < 8 && params.sparse & (1 << t) != 0))
                .collect();
            if !table.partitions.is_empty() {
                self.seed_partitions(ti, &tenants, rows).await?;
                if !self.world.rows.iter().any(|r| r.table == ti) {
                    dead.push(ti);
                }
                continue;
            }
            // Fast path: every row of every tenant in one round trip.
            if self.seed_table_at_once(ti, &tenants, rows).await? {
                continue;
            }
            'tenants: for tenant in tenants {
                self.enter(tenant).await?;
                for _ in 0..rows {
                    if let Err(reason) = self.insert_row(ti, None, tenant).await? {
                        self.world.unseedable.push((table.name.clone(), reason));
                        self.world.rows.retain(|r| r.table != ti);
                        self.world.setup.retain(|(t, _)| *t != Some(ti));
                        dead.push(ti);
                        break 'tenants;
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes `tenant` the session's tenant for the rows that follow, when seeding sets it, and
    /// records the switch for reproducers.
    async fn enter(&mut self, tenant: TenantIdx) -> Result<(), sqlx::Error> {
        if self.set_context {
            let sql = set_tenant_sql(
                &self.schema.tenancy.tenant_setting,
                &self.world.tenant_ids[tenant],
            );
            sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                .execute(&mut *self.conn)
                .await?;
            self.world.setup.push((None, format!("{sql};")));
        }
        Ok(())
    }

    /// Seeds a partitioned table leaf by leaf: each tenant gets a row in every leaf partition (at least
    /// `rows` in all), inserted into the leaf itself with key values inside its bounds, so every
    /// partition is seeded and attacked through its parent. A leaf no tenant could be given a row is
    /// reported unseedable with the last refusal.
    async fn seed_partitions(
        &mut self,
        ti: usize,
        tenants: &[TenantIdx],
        rows: usize,
    ) -> Result<(), sqlx::Error> {
        let schema = self.schema;
        let table = &schema.tables[ti];
        let leaves = &table.partitions;
        let mut refusals: BTreeMap<usize, String> = BTreeMap::new();
        // Fast path: one batch through the parent; then only the leaves it missed, row by row.
        let batched = self.seed_table_at_once(ti, tenants, rows).await?;
        let missed: Vec<usize> = (0..leaves.len())
            .filter(|l| !batched || !self.world.seeded.contains_key(&leaves[*l].name.to_string()))
            .filter(|l| !batched || leaves[*l].steerable)
            .collect();
        for &tenant in tenants.iter().filter(|_| !missed.is_empty()) {
            self.enter(tenant).await?;
            let targets: Vec<usize> = if batched {
                missed.clone()
            } else {
                (0..rows.max(leaves.len()))
                    .map(|r| r % leaves.len())
                    .collect()
            };
            for leaf in targets {
                match self.insert_row(ti, Some(&leaves[leaf]), tenant).await? {
                    Ok(()) => {
                        *self
                            .world
                            .seeded
                            .entry(leaves[leaf].name.to_string())
                            .or_default() += 1;
                    }
                    Err(reason) => {
                        refusals.insert(leaf, reason);
                    }
                }
            }
        }
        // A leaf partitioned by the tenant alone takes only the tenants whose ids fall in it: missing
        // it in one case is no refusal (the run's coverage still requires some case to reach it).
        for (leaf, partition) in leaves.iter().enumerate().filter(|(_, p)| p.steerable) {
            if !self.world.seeded.contains_key(&partition.name.to_string()) {
                let reason = refusals
                    .remove(&leaf)
                    .unwrap_or_else(|| "no tenant was given a row in it".into());
                self.world.unseedable.push((partition.name.clone(), reason));
            }
        }
        Ok(())
    }

    /// Inserts all rows of one table (every tenant) in one simple-query batch under a savepoint.
    /// `false` when the batch was refused: nothing was kept, and the caller retries row by row.
    async fn seed_table_at_once(
        &mut self,
        ti: usize,
        tenants: &[TenantIdx],
        rows: usize,
    ) -> Result<bool, sqlx::Error> {
        let schema = self.schema;
        let table = &schema.tables[ti];
        let leaves = &table.partitions;
        // A partitioned table: row r of each tenant aims at leaf r (its first candidate key values),
        // through the parent; where each row landed comes back as `tableoid`.
        let rows = if leaves.is_empty() {
            rows
        } else {
            rows.max(leaves.len())
        };
        let mut batch = vec!["SAVEPOINT tp_seed".to_owned()];
        let mut planned: Vec<TenantIdx> = Vec::new();
        for &tenant in tenants {
            if self.set_context {
                batch.push(set_tenant_sql(
                    &schema.tenancy.tenant_setting,
                    &self.world.tenant_ids[tenant],
                ));
            }
            for r in 0..rows {
                match self.row_values(ti, tenant, Level::Full).await? {
                    Ok(mut values) => {
                        if let Some(first) = leaves
                            .get(r % leaves.len().max(1))
                            .and_then(|l| l.candidates.first())
                        {
                            force(table, &mut values, first);
                        }
                        batch.push(insert_literal(table, &values));
                        planned.push(tenant);
                    }
                    Err(_) => return Ok(false),
                }
            }
        }
        batch.push("RELEASE SAVEPOINT tp_seed".to_owned());
        match sqlx::raw_sql(AssertSqlSafe(batch.join(";\n")))
            .fetch_all(&mut *self.conn)
            .await
        {
            Ok(returned) => {
                let seeded: Vec<(String, Option<i64>)> = returned
                    .iter()
                    .filter(|r| r.columns().first().is_some_and(|c| c.name() == "tp_seeded"))
                    .filter_map(|r| {
                        let json = r.try_get::<String, _>(0).ok()?;
                        Some((json, r.try_get::<i64, _>(1).ok()))
                    })
                    .collect();
                let mut tenant_now = None;
                for ((json, leaf), tenant) in seeded.iter().zip(planned) {
                    if let Some(leaf) = leaves.iter().find(|l| Some(l.oid) == *leaf) {
                        *self.world.seeded.entry(leaf.name.to_string()).or_default() += 1;
                    }
                    if self.set_context && tenant_now != Some(tenant) {
                        self.world.setup.push((
                            None,
                            format!(
                                "{};",
                                set_tenant_sql(
                                    &schema.tenancy.tenant_setting,
                                    &self.world.tenant_ids[tenant]
                                )
                            ),
                        ));
                        tenant_now = Some(tenant);
                    }
                    keep_row(&mut self.world, table, ti, tenant, json);
                }
                Ok(true)
            }
            Err(sqlx::Error::Database(_)) => {
                sqlx::raw_sql("ROLLBACK TO SAVEPOINT tp_seed; RELEASE SAVEPOINT tp_seed")
                    .execute(&mut *self.conn)
                    .await?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Inserts one row (into the leaf partition `into`, when given); `Ok(Err(reason))` when the
    /// table cannot be seeded. A refusal is learnt from: dressed text, then bare markers, then only
    /// the columns that must be given; for a partition, each candidate key value in turn, then
    /// generated ones (a hash or DEFAULT partition refuses values outside it).
    async fn insert_row(
        &mut self,
        ti: usize,
        into: Option<&Partition>,
        tenant: TenantIdx,
    ) -> Result<Result<(), String>, sqlx::Error> {
        let schema = self.schema;
        let table = &schema.tables[ti];
        let mut last_error = String::new();
        let no_forced = Vec::new();
        let forced_sets: Vec<&KeyValues> = match into {
            Some(p) => p
                .candidates
                .iter()
                .chain(std::iter::repeat_n(
                    &no_forced,
                    if p.steerable { PARTITION_TRIES } else { 1 },
                ))
                .collect(),
            None => vec![&no_forced],
        };
        for forced in forced_sets {
            for level in [Level::Full, Level::Plain, Level::Minimal] {
                self.values_gen.plain = level != Level::Full;
                let mut values = match self.row_values(ti, tenant, level).await? {
                    Ok(v) => v,
                    Err(reason) => return Ok(Err(reason)),
                };
                force(table, &mut values, forced);
                let (sql, binds) = insert_sql(table, into.map(|p| &p.name), &values);
                sqlx::raw_sql("SAVEPOINT tp_seed")
                    .execute(&mut *self.conn)
                    .await?;
                let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
                for v in &binds {
                    query = query.bind(v.text.clone());
                }
                match query.fetch_one(&mut *self.conn).await {
                    Ok(json) => {
                        sqlx::raw_sql("RELEASE SAVEPOINT tp_seed")
                            .execute(&mut *self.conn)
                            .await?;
                        keep_row(&mut self.world, table, ti, tenant, &json);
                        return Ok(Ok(()));
                    }
                    Err(e) => {
                        sqlx::raw_sql("ROLLBACK TO SAVEPOINT tp_seed; RELEASE SAVEPOINT tp_seed")
                            .execute(&mut *self.conn)
                            .await?;
                        last_error = e
                            .as_database_error()
                            .map_or_else(|| e.to_string(), |d| d.message().to_owned());
                        // Other text or fewer columns cannot move a row into a partition's bounds.
                        if last_error.contains("partition constraint") {
                            break;
                        }
                    }
                }
            }
        }
        self.values_gen.plain = false;
        Ok(Err(format!(
            "every row the observer tried to insert was refused: {last_error}"
        )))
    }

    /// The values of one new row, by column.
    async fn row_values(
        &mut self,
        ti: usize,
        tenant: TenantIdx,
        level: Level,
    ) -> Result<Result<Vec<(String, SqlValue)>, String>, sqlx::Error> {
        let schema = self.schema;
        let table = &schema.tables[ti];
        let mut values: Vec<(String, SqlValue)> = Vec::new();
        // Foreign keys first: all columns of one key come from one parent row of the same tenant.
        for fk in &table.foreign_keys {
            let parent: Option<Map<String, Value>> = match fk.target {
                Some(t) if t == ti => None,
                Some(t) => self
                    .world
                    .rows_of(t, tenant)
                    .last()
                    .map(|r| r.values.clone()),
                None => match self.foreign_cache.get(&fk.target_name) {
                    Some(cached) => cached.clone(),
                    None => {
                        let sql = format!(
                            "SELECT row_to_json(r)::text FROM (SELECT * FROM {} LIMIT 1) r",
                            fk.target_name.quoted()
                        );
                        let found: Option<String> = sqlx::query_scalar(AssertSqlSafe(sql))
                            .fetch_optional(&mut *self.conn)
                            .await
                            .ok()
                            .flatten();
                        let parsed = found.and_then(|j| serde_json::from_str(&j).ok());
                        self.foreign_cache
                            .insert(fk.target_name.clone(), parsed.clone());
                        parsed
                    }
                },
            };
            for (col, target_col) in fk.columns.iter().zip(&fk.target_columns) {
                if values.iter().any(|(c, _)| c == col) || Some(col) == table.key.as_ref() {
                    continue;
                }
                let Some(column) = table.column(col) else {
                    continue;
                };
                match parent
                    .as_ref()
                    .and_then(|p| p.get(target_col))
                    .and_then(json_text)
                {
                    Some(text) => values.push((col.clone(), SqlValue::new(text, &column.sql_type))),
                    None if !column.not_null => values.push((
                        col.clone(),
                        SqlValue {
                            text: None,
                            sql_type: column.sql_type.clone(),
                        },
                    )),
                    None => {
                        return Ok(Err(format!(
                            "column `{col}` must reference `{}`, which has no row to reference",
                            fk.target_name
                        )));
                    }
                }
            }
        }
        for column in &table.columns {
            let writable = !column.not_writable || column.identity_always;
            if !writable || values.iter().any(|(c, _)| *c == column.name) {
                continue;
            }
            if Some(&column.name) == table.key.as_ref() {
                values.push((
                    column.name.clone(),
                    SqlValue::new(self.world.tenant_ids[tenant].clone(), &column.sql_type),
                ));
                continue;
            }
            let is_key = table.primary_key.contains(&column.name)
                || table.unique_keys.iter().any(|k| k.contains(&column.name));
            let optional = column.has_default || !column.not_null;
            // A sequence-filled column always gets a value: `nextval` is not rolled back.
            if level == Level::Minimal && optional && !column.sequence {
                continue;
            }
            if !column.not_null && !is_key && self.values_gen.null_now() {
                continue;
            }
            match self
                .values_gen
                .value_for(column, tenant, &mut self.world.ownership)
            {
                Some(text) => {
                    values.push((column.name.clone(), SqlValue::new(text, &column.sql_type)))
                }
                None if optional => {}
                None => {
                    return Ok(Err(format!(
                        "cannot generate a value of type `{}` for the NOT NULL column `{}`",
                        column.sql_type, column.name
                    )));
                }
            }
        }
        Ok(Ok(values))
    }
}

fn keep_row(world: &mut World, table: &SeedTable, ti: usize, tenant: TenantIdx, json: &str) {
    let row: Map<String, Value> = serde_json::from_str(json).unwrap_or_default();
    register_row(&mut world.ownership, &row, tenant);
    world.setup.push((Some(ti), replay_sql(table, &row)));
    world.rows.push(SeededRow {
        table: ti,
        tenant,
        values: row,
    });
}

fn insert_literal(table: &SeedTable, values: &[(String, SqlValue)]) -> String {
    // The leaf partition each row landed in, for the coverage.
    let leaf = if table.partitions.is_empty() {
        ""
    } else {
        ", tp_row.tableoid::int8 AS tp_leaf"
    };
    if values.is_empty() {
        return format!(
            "INSERT INTO {} AS tp_row DEFAULT VALUES RETURNING {} AS tp_seeded{leaf}",
            table.name.quoted(),
            returning(table)
        );
    }
    format!(
        "INSERT INTO {} AS tp_row {} RETURNING {} AS tp_seeded{leaf}",
        table.name.quoted(),
        insert_values(table, values, |v, _| v.literal()),
        returning(table)
    )
}

/// The stored row as a JSON object of each column's text form (what its type's input accepts:
/// arrays as `{…}`, hstore as `"k"=>"v"`, ranges as `[a,b)`), json and jsonb columns as JSON, so
/// every value can be cast back by attacks and replayed by `json_populate_record`.
fn returning(table: &SeedTable) -> String {
    let pairs: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let column = format!("tp_row.{}", quote_ident(&c.name));
            let value = if c.kind == ValueKind::Json {
                column
            } else {
                format!("{column}::text")
            };
            format!("{}, {value}", quote_literal(&c.name))
        })
        .collect();
    if pairs.is_empty() {
        return "row_to_json(tp_row.*)::text".into();
    }
    // Functions take at most 100 arguments: 50 columns per object.
    let objects: Vec<String> = pairs
        .chunks(50)
        .map(|chunk| format!("jsonb_build_object({})", chunk.join(", ")))
        .collect();
    format!("({})::text", objects.join(" || "))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Every writable column gets a value, text dressed for edge cases.
    Full,
    /// The same with bare markers (lowercase letters and digits pass most CHECKs on text).
    Plain,
    /// Only what must be given: NOT NULL columns without default, keys, the tenant.
    Minimal,
}

/// Generated rows tried for a leaf partition after its candidate key values (a hash partition of
/// modulus m takes one in m).
const PARTITION_TRIES: usize = 12;

/// Puts partition key values into a row (never over the tenant key: the row stays its tenant's).
fn force(table: &SeedTable, values: &mut Vec<(String, SqlValue)>, forced: &KeyValues) {
    for (column, text) in forced {
        let Some(c) = table.column(column) else {
            continue;
        };
        if Some(column) == table.key.as_ref() {
            continue;
        }
        let value = SqlValue {
            text: text.clone(),
            sql_type: c.sql_type.clone(),
        };
        match values.iter_mut().find(|(name, _)| name == column) {
            Some(slot) => slot.1 = value,
            None => values.push((column.clone(), value)),
        }
    }
}

fn insert_sql(
    table: &SeedTable,
    into: Option<&QualifiedName>,
    values: &[(String, SqlValue)],
) -> (String, Vec<SqlValue>) {
    let target = into.unwrap_or(&table.name).quoted();
    if values.is_empty() {
        return (
            format!(
                "INSERT INTO {target} AS tp_row DEFAULT VALUES RETURNING {}",
                returning(table)
            ),
            Vec::new(),
        );
    }
    (
        format!(
            "INSERT INTO {target} AS tp_row {} RETURNING {}",
            insert_values(table, values, SqlValue::param),
            returning(table)
        ),
        values.iter().map(|(_, v)| v.clone()).collect(),
    )
}

/// `(a, b) VALUES (x, y)`: an INSERT's columns and values, each value as `render` writes it
/// from the value and its parameter number (a `$n::T` parameter or a literal), with
/// ` OVERRIDING SYSTEM VALUE` where an identity column is given.
pub fn insert_values(
    table: &SeedTable,
    values: &[(String, SqlValue)],
    render: impl Fn(&SqlValue, usize) -> String,
) -> String {
    let columns: Vec<String> = values.iter().map(|(c, _)| quote_ident(c)).collect();
    let rendered: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, (_, v))| render(v, i + 1))
        .collect();
    format!(
        "({}){} VALUES ({})",
        columns.join(", "),
        overriding(table, values.iter().map(|(c, _)| c)),
        rendered.join(", ")
    )
}

/// The statement that recreates a stored row exactly (defaults included), for reproducers.
fn replay_sql(table: &SeedTable, row: &Map<String, Value>) -> String {
    let names: Vec<&String> = table
        .columns
        .iter()
        .filter(|c| !c.not_writable || c.identity_always)
        .map(|c| &c.name)
        .collect();
    let list = names
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} ({list}){} SELECT {list} FROM json_populate_record(NULL::{table}, {});",
        overriding(table, names.iter().copied()),
        quote_literal(&Value::Object(row.clone()).to_string()),
        table = table.name.quoted()
    )
}

/// ` OVERRIDING SYSTEM VALUE` when an explicit value goes into a `GENERATED ALWAYS` identity
/// column: seeding names every key itself rather than drawing from the sequence.
fn overriding<'c>(
    table: &SeedTable,
    columns: impl IntoIterator<Item = &'c String>,
) -> &'static str {
    let always = |name: &String| table.column(name).is_some_and(|c| c.identity_always);
    if columns.into_iter().any(always) {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    }
}

/// Registers what a stored row holds that the generator did not choose (defaults: ids above all).
fn register_row(ownership: &mut Ownership, row: &Map<String, Value>, tenant: TenantIdx) {
    for value in row.values() {
        if let Value::String(s) = value
            && uuid::Uuid::parse_str(s).is_ok()
            && ownership.owner_of(s).is_none()
        {
            ownership.register(s.clone(), tenant);
        }
    }
}

/// Read-only mode: a world of existing rows (no writes at all). Up to `tenants` tenants, a few rows
/// of each per table, read as the observer; their distinctive values registered to their tenant.
pub async fn sample(
    conn: &mut PgConnection,
    schema: &AttackSchema,
    tenants: usize,
) -> Result<World, sqlx::Error> {
    let mut world = World::default();
    let source = schema
        .tables
        .iter()
        .find(|t| t.is_tenants_table)
        .or_else(|| schema.tables.iter().find(|t| t.key.is_some()));
    let Some(source) = source else {
        return Ok(world);
    };
    let Some(key) = &source.key else {
        return Ok(world);
    };
    let sql = format!(
        "SELECT DISTINCT {key}::text FROM {} WHERE {key} IS NOT NULL LIMIT {}",
        source.name.quoted(),
        tenants.max(2),
        key = quote_ident(key)
    );
    world.tenant_ids = sqlx::query_scalar(AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?;
    for (idx, id) in world.tenant_ids.iter().enumerate() {
        world.ownership.register(id.clone(), idx);
    }
    for (ti, table) in schema.tables.iter().enumerate() {
        let Some(key) = &table.key else { continue };
        for (tenant, id) in world.tenant_ids.clone().iter().enumerate() {
            let sql = format!(
                "SELECT row_to_json(r)::text FROM (SELECT * FROM {} WHERE {}::text = $1 LIMIT 2) r",
                table.name.quoted(),
                quote_ident(key)
            );
            let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
            for json in rows {
                let values: Map<String, Value> = serde_json::from_str(&json).unwrap_or_default();
                // Only primary-key values are known to be this row's own: other columns may hold
                // values every tenant shares (a country id, a status), which would read as leaks.
                for column in table
                    .primary_key
                    .iter()
                    .filter(|c| Some(*c) != table.key.as_ref())
                {
                    if let Some(Value::String(s)) = values.get(column)
                        && s.chars().count() >= 12
                    {
                        world.ownership.register(s.clone(), tenant);
                    }
                }
                world.rows.push(SeededRow {
                    table: ti,
                    tenant,
                    values,
                });
            }
        }
    }
    Ok(world)
}
