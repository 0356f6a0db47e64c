//! What `attack db` can seed and attack (`AttackSchema`): tenant-data tables in foreign-key order
//! with their columns' types, defaults, identity and generated columns, CHECK literals and enum
//! labels; every relation and function the app role can reach.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use super::Explain;
use crate::catalog::{Catalog, CatalogError, Picker, Privileges, TenantScope};
use crate::sql::QualifiedName;
use crate::tenancy::Tenancy;

/// How tenantprobe generates values of a column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueKind {
    Uuid,
    /// `max`: a varchar/char length limit.
    Text {
        max: Option<usize>,
    },
    Int {
        bits: u8,
    },
    Numeric,
    Float,
    Bool,
    Date,
    Timestamp,
    Json,
    Enum(Vec<String>),
    Bytea,
    /// An array of the element kind; `element_type` is the element's SQL type for casts.
    Array(Box<ValueKind>, String),
    /// A range over the element kind (`int4range`, `daterange`, `tstzrange` …).
    Range(Box<ValueKind>),
    /// `hstore` (the extension's key/value type).
    Hstore,
    /// Anything else: only NULL or the column default can be used.
    Other,
}

impl ValueKind {
    fn from_catalog(
        base_type: &str,
        typtype: &str,
        labels: Vec<String>,
        format: &str,
        element: Option<&str>,
    ) -> Self {
        if typtype == "e" {
            return Self::Enum(labels);
        }
        match base_type {
            "uuid" => Self::Uuid,
            "text" | "citext" | "name" => Self::Text { max: None },
            "varchar" | "bpchar" => Self::Text {
                max: length_limit(format),
            },
            "int2" => Self::Int { bits: 16 },
            "int4" => Self::Int { bits: 32 },
            "int8" => Self::Int { bits: 64 },
            "numeric" | "money" => Self::Numeric,
            "float4" | "float8" => Self::Float,
            "bool" => Self::Bool,
            "date" => Self::Date,
            "timestamp" | "timestamptz" => Self::Timestamp,
            "json" | "jsonb" => Self::Json,
            "bytea" => Self::Bytea,
            "hstore" => Self::Hstore,
            "int4range" => Self::Range(Box::new(Self::Int { bits: 32 })),
            "int8range" => Self::Range(Box::new(Self::Int { bits: 64 })),
            "numrange" => Self::Range(Box::new(Self::Numeric)),
            "daterange" => Self::Range(Box::new(Self::Date)),
            "tsrange" | "tstzrange" => Self::Range(Box::new(Self::Timestamp)),
            _ => match element {
                Some(e) => {
                    let inner = Self::from_catalog(e, "b", Vec::new(), e, None);
                    let element_type = format.trim_end_matches("[]").to_owned();
                    if matches!(inner, Self::Other | Self::Array(..)) {
                        Self::Other
                    } else {
                        Self::Array(Box::new(inner), element_type)
                    }
                }
                None => Self::Other,
            },
        }
    }
}

/// `character varying(40)` → 40.
fn length_limit(format: &str) -> Option<usize> {
    let open = format.find('(')?;
    format[open + 1..].trim_end_matches(')').parse().ok()
}

#[derive(Debug, Clone)]
pub struct SeedColumn {
    pub name: String,
    /// `format_type`, used for casts.
    pub sql_type: String,
    pub kind: ValueKind,
    pub not_null: bool,
    pub has_default: bool,
    /// `GENERATED ALWAYS AS IDENTITY` or a generated column: never written by UPDATE or by the
    /// app role's own rows. (Identity columns still get explicit values in seeded rows.)
    pub not_writable: bool,
    /// `GENERATED ALWAYS AS IDENTITY`: an explicit value needs `OVERRIDING SYSTEM VALUE`.
    pub identity_always: bool,
    /// Filled from a sequence (identity, serial, `nextval` default): always given an explicit
    /// value, so that seeding does not advance the sequence (sequences are not transactional).
    pub sequence: bool,
    /// String literals of CHECK constraints on this column (an IN list's values, say).
    pub check_literals: Vec<String>,
    /// Inclusive numeric bounds from CHECK constraints on this column alone (`score BETWEEN 0
    /// AND 100`), so generated numbers satisfy them.
    pub check_bounds: (Option<i64>, Option<i64>),
}

#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    /// Index into `AttackSchema::tables`, or `None` for a table that is not tenant data.
    pub target: Option<usize>,
    pub target_name: QualifiedName,
    pub target_columns: Vec<String>,
}

/// A tenant-data table that can be seeded and attacked.
#[derive(Debug, Clone)]
pub struct SeedTable {
    pub name: QualifiedName,
    pub columns: Vec<SeedColumn>,
    /// The column that names the tenant (tenant column, or the tenants table's key), if any.
    pub key: Option<String>,
    pub is_tenants_table: bool,
    pub primary_key: Vec<String>,
    /// Unique keys other than the primary key.
    pub unique_keys: Vec<Vec<String>>,
    /// Keys (primary or unique) without the tenant column and with a column the tenant does not
    /// pick (an identity, a random uuid default, a sequence): no existence oracle worth attacking
    /// (`catalog::picker`).
    pub unguessable_keys: Vec<Vec<String>>,
    pub foreign_keys: Vec<ForeignKey>,
    pub app: Privileges,
    /// Leaf partitions (all levels), each seeded on its own so that every one is attacked.
    pub partitions: Vec<Partition>,
}

/// Values for partition key columns (column → text, `None` for NULL).
pub type KeyValues = Vec<(String, Option<String>)>;

/// The values of one partition bound, in key order (`MINVALUE`/`MAXVALUE` kept as words).
type BoundValues = Vec<Option<String>>;

/// A leaf partition and key values that fall inside its bounds.
#[derive(Debug, Clone)]
pub struct Partition {
    pub oid: i64,
    pub name: QualifiedName,
    /// Candidate values for partition key columns, tried in order (column → text, `None` for
    /// NULL); read from the bounds of the partition and of its partitioned ancestors. Hash and
    /// DEFAULT partitions have none of their own: rows for them are found by refusal (PostgreSQL
    /// refuses a row outside a partition's bounds when it is inserted into it directly).
    pub candidates: Vec<KeyValues>,
    /// Some partition key on its path is more than the tenant key: other values can move a row
    /// into it. (Partitioned by the tenant alone, a tenant's rows land where its id hashes.)
    pub steerable: bool,
}

/// A partition as the catalog describes it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartitionRow {
    pub parent: i64,
    pub oid: i64,
    pub schema: String,
    pub name: String,
    /// `pg_get_expr(relpartbound)`: `FOR VALUES FROM (…) TO (…)`, `IN (…)`, `WITH (…)`, `DEFAULT`.
    pub bound: String,
    /// The parent's partition key columns (empty entries for expressions).
    pub key_columns: Vec<String>,
    /// Itself partitioned (not a leaf).
    pub partitioned: bool,
}

impl SeedTable {
    pub fn column(&self, name: &str) -> Option<&SeedColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Columns that identify a row: the primary key, else the first unique key, else all key-ish
    /// columns tenantprobe generated (uuids).
    pub fn row_key(&self) -> Vec<String> {
        if !self.primary_key.is_empty() {
            return self.primary_key.clone();
        }
        if let Some(k) = self.unique_keys.first() {
            return k.clone();
        }
        self.columns
            .iter()
            .filter(|c| c.kind == ValueKind::Uuid)
            .map(|c| c.name.clone())
            .collect()
    }
}

/// A relation the app role may read.
#[derive(Debug, Clone)]
pub struct Readable {
    pub name: QualifiedName,
    /// Index into `tables` when it is a seeded table (for liveness: own rows must show).
    pub table: Option<usize>,
    pub kind: char,
    /// The tenant key, when the relation has one (read-only mode compares it).
    pub key: Option<String>,
}

/// A function the app role may execute, with arguments tenantprobe can generate.
#[derive(Debug, Clone)]
pub struct Callable {
    pub signature: String,
    pub name: QualifiedName,
    pub args: Vec<(String, ValueKind)>,
    /// Why a rollback could not undo a call (see `effects`), if it could not.
    pub effect: Option<String>,
    /// VOLATILE: it may write, so read-only mode does not call it.
    pub volatile: bool,
    /// The extension that owns it, if any.
    pub extension: Option<String>,
    pub security_definer: bool,
}

impl Callable {
    /// Why this function is not called in this mode, if it is not.
    pub fn not_called(&self, read_only: bool) -> Option<String> {
        if let Some(effect) = &self.effect {
            return Some(format!("not called: {effect}"));
        }
        if let (Some(extension), false) = (&self.extension, self.security_definer) {
            return Some(format!(
                "not called: library code of the extension `{extension}` (not SECURITY DEFINER)"
            ));
        }
        (read_only && self.volatile).then(|| {
            "not called: VOLATILE (read-only mode calls only STABLE and IMMUTABLE functions)".into()
        })
    }
}

/// Everything `attack db` knows about the target.
#[derive(Debug, Clone)]
pub struct AttackSchema {
    pub tenancy: Tenancy,
    /// Seedable tenant-data tables, parents before children.
    pub tables: Vec<SeedTable>,
    pub readable: Vec<Readable>,
    pub functions: Vec<Callable>,
    /// Tables that hold tenant data but cannot be seeded, with the reason.
    pub unseedable: Vec<(QualifiedName, String)>,
    /// The connecting (observer) role bypasses RLS, so it can seed without setting a tenant.
    pub observer_bypasses: bool,
    /// SQL type of the tenant key (for tenant ids when there is no tenants table).
    pub tenant_type: (String, ValueKind),
    /// Tenant-data relations owned by an extension, with the coverage note saying why they were
    /// not attacked.
    pub library: Vec<(String, String)>,
    /// What the audit finds on the same catalog snapshot (`AttackConfig::explain`): the reasons
    /// behind attack findings.
    pub reasons: Vec<crate::finding::Finding>,
}

#[derive(sqlx::FromRow)]
struct ColumnRow {
    relid: i64,
    name: String,
    sql_type: String,
    not_null: bool,
    has_default: bool,
    not_writable: bool,
    identity_always: bool,
    sequence: bool,
    base_type: String,
    typtype: String,
    labels: Vec<String>,
    element: Option<String>,
}

impl AttackSchema {
    /// Reads the catalog (the audit's snapshot plus column details) on `conn`; `explain` gives
    /// the reasons on that same snapshot.
    pub async fn load(
        conn: &mut PgConnection,
        tenancy: &Tenancy,
        skip_functions: &[String],
        explain: Option<Explain>,
    ) -> Result<Self, CatalogError> {
        let catalog = Catalog::snapshot(conn, tenancy).await?;
        let columns: Vec<ColumnRow> = sqlx::query_as(
            "SELECT a.attrelid::int8 AS relid, a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS sql_type,
                    a.attnotnull AS not_null, a.atthasdef AS has_default,
                    a.attidentity = 'a' OR a.attgenerated <> '' AS not_writable,
                    a.attidentity = 'a' AS identity_always,
                    a.attidentity <> '' OR COALESCE(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false) AS sequence,
                    COALESCE(bt.typname, t.typname)::text AS base_type, t.typtype::text AS typtype,
                    ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels,
                    (SELECT et.typname::text FROM pg_type et WHERE et.oid = t.typelem AND t.typcategory = 'A') AS element
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_type t ON t.oid = a.atttypid
             LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attrelid, a.attnum",
        )
        .bind(&tenancy.schemas)
        .fetch_all(&mut *conn)
        .await?;
        let checks: Vec<(i64, Vec<String>, String)> = sqlx::query_as(
            "SELECT con.conrelid::int8,
                    ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = con.conrelid AND a.attnum = ANY(con.conkey)),
                    pg_get_constraintdef(con.oid)
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE con.contype = 'c' AND n.nspname = ANY($1)",
        )
        .bind(&tenancy.schemas)
        .fetch_all(&mut *conn)
        .await?;
        let partitions: Vec<PartitionRow> = sqlx::query_as(
            "SELECT i.inhparent::int8 AS parent, c.oid::int8 AS oid, n.nspname::text AS schema,
                    c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
                    ARRAY(SELECT COALESCE(a.attname::text, '')
                          FROM unnest(p.partattrs::int2[]) WITH ORDINALITY k(attnum, ord)
                          LEFT JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = k.attnum
                          ORDER BY k.ord) AS key_columns,
                    c.relkind = 'p' AS partitioned
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_inherits i ON i.inhrelid = c.oid
             JOIN pg_partitioned_table p ON p.partrelid = i.inhparent
             WHERE c.relispartition AND n.nspname = ANY($1)
             ORDER BY c.relname",
        )
        .bind(&tenancy.schemas)
        .fetch_all(&mut *conn)
        .await?;
        let observer_bypasses: bool = sqlx::query_scalar(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut *conn)
        .await?;
        let mut schema = Self::build(
            &catalog,
            tenancy,
            &columns,
            &checks,
            &partitions,
            observer_bypasses,
            skip_functions,
        );
        if let Some(explain) = explain {
            schema.reasons = explain(&catalog, tenancy);
        }
        Ok(schema)
    }

    fn build(
        catalog: &Catalog,
        tenancy: &Tenancy,
        columns: &[ColumnRow],
        checks: &[(i64, Vec<String>, String)],
        partitions: &[PartitionRow],
        observer_bypasses: bool,
        skip_functions: &[String],
    ) -> Self {
        let tenancy = &catalog.complete(tenancy);
        let scope = TenantScope::new(catalog, tenancy);
        let mut by_rel: HashMap<i64, Vec<SeedColumn>> = HashMap::new();
        for c in columns {
            let literals: Vec<String> = checks
                .iter()
                .filter(|(rel, cols, _)| *rel == c.relid && cols.contains(&c.name))
                .flat_map(|(_, _, def)| string_literals(def))
                .collect();
            by_rel.entry(c.relid).or_default().push(SeedColumn {
                name: c.name.clone(),
                sql_type: c.sql_type.clone(),
                kind: ValueKind::from_catalog(
                    &c.base_type,
                    &c.typtype,
                    c.labels.clone(),
                    &c.sql_type,
                    c.element.as_deref(),
                ),
                not_null: c.not_null,
                has_default: c.has_default,
                not_writable: c.not_writable,
                identity_always: c.identity_always,
                sequence: c.sequence,
                check_literals: literals,
                check_bounds: checks
                    .iter()
                    .filter(|(rel, cols, _)| {
                        *rel == c.relid && cols.len() == 1 && cols[0] == c.name
                    })
                    .map(|(_, _, def)| numeric_bounds(def, &c.name))
                    .fold((None, None), |(lo, hi), (l, h)| {
                        (
                            lo.max(l),
                            match (hi, h) {
                                (Some(a), Some(b)) => Some(a.min(b)),
                                (a, b) => a.or(b),
                            },
                        )
                    }),
            });
        }
        // Seedable: tenant-data tables and partitioned parents (their partitions fill through them).
        let candidates: Vec<&crate::catalog::Relation> = catalog
            .relations
            .iter()
            .filter(|r| {
                r.is_table()
                    && !r.is_partition
                    && r.extension.is_none()
                    && scope.is_tenant_data(r)
                    && !is_inheritance_child(catalog, r.oid)
            })
            .collect();
        let order = fk_order(catalog, &candidates);
        let index_of: HashMap<i64, usize> =
            order.iter().enumerate().map(|(i, oid)| (*oid, i)).collect();
        let mut tables = Vec::new();
        for oid in &order {
            let Some(rel) = catalog.relation(*oid) else {
                continue;
            };
            let keys_of = |kind: char| {
                catalog
                    .constraints
                    .iter()
                    .filter(move |c| c.relid == *oid && c.kind == kind)
            };
            tables.push(SeedTable {
                name: rel.name.clone(),
                columns: by_rel.remove(oid).unwrap_or_default(),
                key: scope.tenant_key.get(oid).cloned(),
                is_tenants_table: Some(&rel.name) == tenancy.tenants_table.as_ref(),
                primary_key: keys_of('p')
                    .next()
                    .map(|c| c.columns.clone())
                    .unwrap_or_default(),
                unique_keys: unique_keys(catalog, *oid),
                unguessable_keys: unguessable_keys(catalog, &scope, rel),
                foreign_keys: keys_of('f')
                    .filter_map(|c| {
                        let target = c.ref_relid?;
                        Some(ForeignKey {
                            columns: c.columns.clone(),
                            target: index_of.get(&target).copied(),
                            target_name: catalog.relation(target)?.name.clone(),
                            target_columns: c.ref_columns.clone(),
                        })
                    })
                    .collect(),
                app: rel.app,
                partitions: leaf_partitions(
                    partitions,
                    *oid,
                    scope.tenant_key.get(oid).map(String::as_str),
                ),
            });
        }
        // Relations an extension owns are library code: not attacked one by one (like its
        // functions), and said so in the coverage.
        let library: Vec<(String, String)> = catalog
            .relations
            .iter()
            .filter(|r| r.app.any() && scope.is_tenant_data(r))
            .filter_map(|r| {
                let extension = r.extension.as_ref()?;
                Some((
                    r.name.to_string(),
                    format!("not attacked: library relation of the extension `{extension}`"),
                ))
            })
            .collect();
        let readable = catalog
            .relations
            .iter()
            .filter(|r| r.app.select && r.extension.is_none() && scope.is_tenant_data(r))
            .map(|r| Readable {
                name: r.name.clone(),
                kind: r.kind,
                table: tables.iter().position(|t| t.name == r.name),
                key: scope.tenant_key.get(&r.oid).cloned(),
            })
            .collect();
        let effects = super::effects::effects_in_scope(&catalog.functions, skip_functions);
        let functions = catalog
            .functions
            .iter()
            .filter(|f| {
                f.in_scope
                    && f.app_can_execute
                    && !["trigger", "event_trigger", "void"].contains(&f.return_type.as_str())
            })
            .filter_map(|f| {
                let args: Vec<(String, ValueKind)> = f
                    .arg_types
                    .iter()
                    .map(|t| {
                        let base = t.split('(').next().unwrap_or(t);
                        let base = match base {
                            "character varying" => "varchar",
                            "integer" => "int4",
                            "bigint" => "int8",
                            "smallint" => "int2",
                            "boolean" => "bool",
                            other => other,
                        };
                        (
                            t.clone(),
                            ValueKind::from_catalog(base, "b", Vec::new(), t, None),
                        )
                    })
                    .collect();
                args.iter()
                    .all(|(_, k)| *k != ValueKind::Other)
                    .then(|| Callable {
                        signature: f.signature.clone(),
                        name: f.name.clone(),
                        args,
                        effect: effects.get(&f.oid).cloned(),
                        volatile: f.volatility == 'v',
                        extension: f.extension.clone(),
                        security_definer: f.security_definer,
                    })
            })
            .collect();
        let unseedable = catalog
            .relations
            .iter()
            .filter(|r| r.kind == 'f' && scope.is_tenant_data(r))
            .map(|r| {
                (
                    r.name.clone(),
                    "a foreign table: rows cannot be inserted from here".to_owned(),
                )
            })
            .collect();
        let tenant_type = tables
            .iter()
            .find_map(|t| {
                t.key
                    .as_ref()
                    .and_then(|k| t.column(k))
                    .map(|c| (c.sql_type.clone(), c.kind.clone()))
            })
            .unwrap_or_else(|| ("uuid".into(), ValueKind::Uuid));
        Self {
            tenancy: tenancy.clone(),
            tables,
            readable,
            functions,
            unseedable,
            observer_bypasses,
            tenant_type,
            library,
            reasons: Vec::new(),
        }
    }
}

/// The keys of `rel` not worth attacking as existence oracles: those without the tenant column
/// whose values the tenant does not pick (`Picker`), and every key sharing a column with one of
/// them — copying another tenant's server-filled id into a key that holds the tenant column
/// collides on the id's own key, which no tenant could have guessed.
fn unguessable_keys(
    catalog: &Catalog,
    scope: &TenantScope,
    rel: &crate::catalog::Relation,
) -> Vec<Vec<String>> {
    let all: Vec<Vec<String>> = catalog
        .constraints
        .iter()
        .filter(|c| c.relid == rel.oid && c.kind == 'p')
        .map(|c| c.columns.clone())
        .chain(unique_keys(catalog, rel.oid))
        .collect();
    let tenant = scope.tenant_key.get(&rel.oid);
    let server: Vec<&Vec<String>> = all
        .iter()
        .filter(|k| {
            tenant.is_none_or(|t| !k.contains(t)) && Picker::of_key(rel, k) != Picker::Tenant
        })
        .collect();
    all.iter()
        .filter(|k| server.iter().any(|s| s.iter().any(|c| k.contains(c))))
        .cloned()
        .collect()
}

/// The leaf partitions under `root`, each with candidate key values from its own bounds and its
/// ancestors' (a sub-partitioned partition's first candidate is merged into its leaves').
fn leaf_partitions(rows: &[PartitionRow], root: i64, tenant_key: Option<&str>) -> Vec<Partition> {
    let mut out = Vec::new();
    let mut stack: Vec<(i64, KeyValues, bool)> = vec![(root, Vec::new(), false)];
    while let Some((parent, inherited, steered_above)) = stack.pop() {
        let siblings: Vec<&PartitionRow> = rows.iter().filter(|r| r.parent == parent).collect();
        for row in &siblings {
            let mut candidates: Vec<KeyValues> = bound_candidates(row, &siblings)
                .into_iter()
                .map(|mut c| {
                    c.extend(inherited.iter().cloned());
                    c
                })
                .collect();
            if candidates.is_empty() && !inherited.is_empty() {
                candidates.push(inherited.clone());
            }
            let steerable = steered_above
                || row
                    .key_columns
                    .iter()
                    .any(|c| Some(c.as_str()) != tenant_key);
            if row.partitioned {
                stack.push((
                    row.oid,
                    candidates
                        .first()
                        .cloned()
                        .unwrap_or_else(|| inherited.clone()),
                    steerable,
                ));
            } else {
                out.push(Partition {
                    oid: row.oid,
                    name: QualifiedName::new(&row.schema, &row.name),
                    candidates,
                    steerable,
                });
            }
        }
    }
    out.sort_by_key(|p| p.name.to_string());
    out
}

/// Key values inside one partition's bounds: a range's lower bound (inclusive), each value of a
/// list; for a DEFAULT partition of a range, the siblings' upper bounds (exclusive, so the highest
/// is outside them all). Hash and list DEFAULT partitions get none (generated values are tried).
fn bound_candidates(row: &PartitionRow, siblings: &[&PartitionRow]) -> Vec<KeyValues> {
    let zip = |values: BoundValues| -> Option<KeyValues> {
        let pairs: KeyValues = row
            .key_columns
            .iter()
            .cloned()
            .zip(values)
            .filter(|(c, _)| !c.is_empty())
            .collect();
        (!pairs.is_empty()).then_some(pairs)
    };
    let bound = row.bound.trim();
    if bound == "DEFAULT" {
        return siblings
            .iter()
            .filter_map(|s| range_bounds(&s.bound))
            .filter_map(|(_, upper)| finite(upper))
            .filter_map(zip)
            .collect();
    }
    if let Some((lower, _)) = range_bounds(bound) {
        // A MINVALUE lower bound has no value to name: generated values are tried instead.
        return finite(lower).and_then(zip).into_iter().collect();
    }
    if let Some(list) = bound.strip_prefix("FOR VALUES IN (") {
        return split_values(list.trim_end_matches(')'))
            .into_iter()
            .filter_map(|v| zip(vec![v]))
            .collect();
    }
    Vec::new()
}

/// `FOR VALUES FROM (a, b) TO (c, d)` → the two value lists (`MINVALUE`/`MAXVALUE` kept as words).
fn range_bounds(bound: &str) -> Option<(BoundValues, BoundValues)> {
    let rest = bound.strip_prefix("FOR VALUES FROM (")?;
    let (lower, upper) = rest.split_once(") TO (")?;
    Some((
        split_values(lower),
        split_values(upper.trim_end_matches(')')),
    ))
}

/// A bound's values when none is `MINVALUE` or `MAXVALUE`.
fn finite(values: Vec<Option<String>>) -> Option<Vec<Option<String>>> {
    (!values
        .iter()
        .flatten()
        .any(|v| v == "MINVALUE" || v == "MAXVALUE"))
    .then_some(values)
}

/// Splits `'a''b', 10, NULL` into `a'b`, `10`, NULL (commas inside quotes kept).
fn split_values(list: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if in_quotes && chars.peek() == Some(&'\'') => {
                chars.next();
                current.push('\'');
            }
            '\'' if !quoted => {
                in_quotes = true;
                quoted = true;
            }
            '\'' if in_quotes => in_quotes = false,
            ',' if !in_quotes => {
                out.push(bound_value(&current, quoted));
                current.clear();
                quoted = false;
            }
            c if in_quotes => current.push(c),
            // After a closing quote only a cast can follow (`'x'::text`): not part of the value.
            _ if quoted => {}
            c if c.is_whitespace() => {}
            c => current.push(c),
        }
    }
    if !current.is_empty() || quoted {
        out.push(bound_value(&current, quoted));
    }
    out
}

fn bound_value(text: &str, quoted: bool) -> Option<String> {
    if quoted {
        return Some(text.to_owned());
    }
    let word = text.split("::").next().unwrap_or(text);
    (!word.eq_ignore_ascii_case("NULL")).then(|| word.to_owned())
}

/// Unique constraints and unique indexes (a unique index is a unique key without the name),
/// except the primary key and partial or expression indexes.
fn unique_keys(catalog: &Catalog, oid: i64) -> Vec<Vec<String>> {
    let primary: Option<&Vec<String>> = catalog
        .constraints
        .iter()
        .find(|c| c.relid == oid && c.kind == 'p')
        .map(|c| &c.columns);
    let mut keys: Vec<Vec<String>> = Vec::new();
    let candidates = catalog
        .constraints
        .iter()
        .filter(|c| c.relid == oid && c.kind == 'u')
        .map(|c| c.columns.clone())
        .chain(
            catalog
                .indexes
                .iter()
                .filter(|i| {
                    i.relid == oid
                        && i.unique
                        && !i.partial
                        && !i.columns.iter().any(String::is_empty)
                })
                .map(|i| i.columns.clone()),
        );
    for key in candidates {
        if Some(&key) != primary && !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

fn is_inheritance_child(catalog: &Catalog, oid: i64) -> bool {
    catalog.inherits.iter().any(|(child, _)| *child == oid)
}

/// Parents before children along foreign keys; cycles are broken arbitrarily (the child's key
/// column is then left NULL where allowed).
fn fk_order(catalog: &Catalog, candidates: &[&crate::catalog::Relation]) -> Vec<i64> {
    let set: HashSet<i64> = candidates.iter().map(|r| r.oid).collect();
    let mut done: Vec<i64> = Vec::new();
    let mut remaining: Vec<i64> = candidates.iter().map(|r| r.oid).collect();
    while !remaining.is_empty() {
        let ready: Vec<i64> = remaining
            .iter()
            .copied()
            .filter(|oid| {
                catalog
                    .constraints
                    .iter()
                    .filter(|c| c.kind == 'f' && c.relid == *oid)
                    .filter_map(|c| c.ref_relid)
                    .all(|p| p == *oid || !set.contains(&p) || done.contains(&p))
            })
            .collect();
        let next = if ready.is_empty() {
            vec![remaining[0]]
        } else {
            ready
        };
        remaining.retain(|r| !next.contains(r));
        done.extend(next);
    }
    done
}

/// The string literals in a CHECK definition: `(status = ANY (ARRAY['a'::text, 'b'::text]))`
/// gives `a`, `b` — values the column is likely to accept.
fn string_literals(def: &str) -> Vec<String> {
    let upper = def.to_ascii_uppercase();
    // In a pattern check the literal is the pattern, not a value.
    if def.contains('~') || upper.contains(" LIKE ") || upper.contains("SIMILAR") {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut chars = def.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut lit = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    lit.push('\'');
                } else {
                    break;
                }
            } else {
                lit.push(c);
            }
        }
        out.push(lit);
    }
    out
}

/// Inclusive integer bounds a CHECK definition puts on `column`: `(score >= 0) AND (score <=
/// 100)` gives `(Some(0), Some(100))`. Only comparisons with a number literal are read, and only
/// when nothing but AND joins them (an OR could admit values outside).
fn numeric_bounds(def: &str, column: &str) -> (Option<i64>, Option<i64>) {
    if def.to_ascii_uppercase().contains(" OR ") {
        return (None, None);
    }
    let quoted = crate::sql::quote_ident(column);
    let mut bounds = (None::<i64>, None::<i64>);
    for name in [column, quoted.as_str()] {
        let mut rest = def;
        while let Some(at) = rest.find(name) {
            let before_ok = rest[..at]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '"'));
            let after = &rest[at + name.len()..];
            rest = after;
            if !before_ok || after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let after = after.trim_start();
            let (op, tail) = [">=", "<=", ">", "<"]
                .iter()
                .find_map(|op| after.strip_prefix(op).map(|t| (*op, t)))
                .unwrap_or(("", ""));
            if op.is_empty() {
                continue;
            }
            let digits: String = tail
                .trim_start()
                .trim_start_matches(['(', '\''])
                .chars()
                .enumerate()
                .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '-'))
                .map(|(_, c)| c)
                .collect();
            let Ok(n) = digits.parse::<i64>() else {
                continue;
            };
            match op {
                ">=" => bounds.0 = bounds.0.max(Some(n)),
                ">" => bounds.0 = bounds.0.max(Some(n.saturating_add(1))),
                "<=" => bounds.1 = Some(bounds.1.map_or(n, |h| h.min(n))),
                _ => bounds.1 = Some(bounds.1.map_or(n - 1, |h| h.min(n - 1))),
            }
        }
    }
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_check_bounds_are_read_from_and_joined_comparisons_only() {
        assert_eq!(
            numeric_bounds("CHECK (((score >= 0) AND (score <= 100)))", "score"),
            (Some(0), Some(100))
        );
        assert_eq!(
            numeric_bounds("CHECK ((qty > (0)::numeric))", "qty"),
            (Some(1), None)
        );
        assert_eq!(
            numeric_bounds("CHECK (((a < 0) OR (a > 10)))", "a"),
            (None, None)
        );
        assert_eq!(numeric_bounds("CHECK ((ab >= 5))", "b"), (None, None));
    }

    fn partition(parent: i64, oid: i64, name: &str, bound: &str, keys: &[&str]) -> PartitionRow {
        PartitionRow {
            parent,
            oid,
            schema: "s".into(),
            name: name.into(),
            bound: bound.into(),
            key_columns: keys.iter().map(|k| (*k).to_owned()).collect(),
            partitioned: false,
        }
    }

    #[test]
    fn partition_bounds_give_values_inside_each_partition() {
        let rows = vec![
            partition(
                1,
                2,
                "r23",
                "FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')",
                &["d"],
            ),
            partition(
                1,
                3,
                "r24",
                "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
                &["d"],
            ),
            partition(1, 4, "rdef", "DEFAULT", &["d"]),
            partition(5, 6, "l1", "FOR VALUES IN ('it''s', 'us')", &["region"]),
            partition(5, 7, "lnull", "FOR VALUES IN (NULL)", &["region"]),
            partition(
                8,
                9,
                "h0",
                "FOR VALUES WITH (modulus 3, remainder 0)",
                &["n"],
            ),
        ];
        let range = leaf_partitions(&rows, 1, Some("t"));
        let by_name = |ps: &[Partition], n: &str| {
            ps.iter()
                .find(|p| p.name.to_string() == format!("s.{n}"))
                .unwrap()
                .candidates
                .clone()
        };
        let some = |c: &str, v: &str| vec![(c.to_owned(), Some(v.to_owned()))];
        assert_eq!(by_name(&range, "r23"), vec![some("d", "2023-01-01")]);
        assert_eq!(
            by_name(&range, "rdef"),
            vec![some("d", "2024-01-01"), some("d", "2025-01-01")]
        );
        let list = leaf_partitions(&rows, 5, Some("t"));
        assert_eq!(
            by_name(&list, "l1"),
            vec![some("region", "it's"), some("region", "us")]
        );
        assert_eq!(
            by_name(&list, "lnull"),
            vec![vec![("region".to_owned(), None)]]
        );
        assert!(by_name(&leaf_partitions(&rows, 8, Some("t")), "h0").is_empty());
        assert!(leaf_partitions(&rows, 8, Some("t"))[0].steerable);
        assert!(!leaf_partitions(&rows, 8, Some("n"))[0].steerable);
    }

    #[test]
    fn check_literals_and_length_limits_are_read() {
        assert_eq!(
            string_literals("CHECK ((status = ANY (ARRAY['active'::text, 'it''s'::text])))"),
            ["active", "it's"]
        );
        assert!(string_literals("CHECK ((slug ~ '^[a-z0-9-]+$'::text))").is_empty());
        assert_eq!(length_limit("character varying(40)"), Some(40));
        assert_eq!(
            ValueKind::from_catalog("varchar", "b", vec![], "character varying(12)", None),
            ValueKind::Text { max: Some(12) }
        );
    }
}
