//! One snapshot of the catalog (`Catalog`): a fixed number of queries whatever the schema's size,
//! after which every rule runs in memory.

use std::collections::HashMap;

use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::sql::QualifiedName;
use crate::tenancy::Tenancy;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("role `{0}` does not exist (check --app-role or `app_role` in the spec)")]
    NoSuchRole(String),
    #[error("cannot read the catalog")]
    Query(#[from] sqlx::Error),
}

/// What the app role may do to a relation (table or any column).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Privileges {
    pub select: bool,
    pub insert: bool,
    pub update: bool,
    pub delete: bool,
    pub truncate: bool,
    pub references: bool,
    pub trigger: bool,
}

impl Privileges {
    pub fn any(self) -> bool {
        self.select
            || self.insert
            || self.update
            || self.delete
            || self.truncate
            || self.references
            || self.trigger
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Column {
    pub num: i16,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub not_null: bool,
    /// `a` GENERATED ALWAYS AS IDENTITY, `d` BY DEFAULT, `` none.
    #[serde(default)]
    pub identity: String,
    /// `s` for a stored generated column, `` otherwise.
    #[serde(default)]
    pub generated: String,
    /// The default expression, if any (`nextval(…)`, `gen_random_uuid()`).
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Relation {
    pub oid: i64,
    pub name: QualifiedName,
    /// `r` table, `p` partitioned table, `v` view, `m` materialized view, `f` foreign table.
    pub kind: char,
    pub owner: String,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    pub is_partition: bool,
    pub security_invoker: bool,
    /// The app role has the owner's privileges (it is the owner, or a member of it).
    pub app_is_owner: bool,
    pub app: Privileges,
    pub columns: Vec<Column>,
    /// The extension that owns it (`pg_depend` deptype `e`): library code, not the app's schema.
    pub extension: Option<String>,
}

impl Relation {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn is_table(&self) -> bool {
        matches!(self.kind, 'r' | 'p')
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub relid: i64,
    pub name: String,
    pub permissive: bool,
    /// `r` SELECT, `a` INSERT, `w` UPDATE, `d` DELETE, `*` ALL.
    pub cmd: char,
    pub roles: Vec<String>,
    pub applies_to_app: bool,
    pub using: Option<String>,
    pub check: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Constraint {
    pub relid: i64,
    pub name: String,
    /// `p` primary key, `u` unique, `f` foreign key.
    pub kind: char,
    pub columns: Vec<String>,
    pub ref_relid: Option<i64>,
    pub ref_columns: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Index {
    pub relid: i64,
    pub name: String,
    pub unique: bool,
    pub partial: bool,
    /// Key columns in order; "" for an expression.
    pub columns: Vec<String>,
    pub backs_constraint: bool,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub oid: i64,
    /// `schema.name(argtypes)`: stable across runs, used as the finding's object.
    pub signature: String,
    pub name: QualifiedName,
    pub security_definer: bool,
    pub config: Vec<String>,
    pub leakproof: bool,
    pub returns_set: bool,
    pub return_type: String,
    pub arg_types: Vec<String>,
    pub language: String,
    pub source: String,
    pub app_can_execute: bool,
    pub owner: String,
    pub in_scope: bool,
    pub user_defined: bool,
    /// `i` immutable, `s` stable, `v` volatile.
    pub volatility: char,
    /// The extension that owns it (`pg_depend` deptype `e`): library code, not the app's.
    pub extension: Option<String>,
    /// Its language is trusted (sql, plpgsql, …): no file, network or process access of its own.
    pub trusted_language: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Role {
    pub name: String,
    pub superuser: bool,
    pub bypassrls: bool,
    /// The app role itself.
    pub is_app: bool,
    /// The app role is a member of it (may SET ROLE to it).
    pub app_is_member: bool,
    /// The app role has its privileges (member with INHERIT): its policies apply to the app.
    pub app_has_privileges: bool,
}

/// Everything the rules look at.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub relations: Vec<Relation>,
    pub policies: Vec<Policy>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
    /// (child, parent) for partitions and inheritance children.
    pub inherits: Vec<(i64, i64)>,
    /// (view or materialized view, relation it reads).
    pub view_deps: Vec<(i64, i64)>,
    pub functions: Vec<Function>,
    /// The app role, roles it belongs to, and every role that bypasses RLS.
    pub roles: Vec<Role>,
    by_oid: HashMap<i64, usize>,
}

impl Catalog {
    /// Reads the catalog for `tenancy.schemas` as seen by `tenancy.app_role`, on one connection.
    pub async fn snapshot(
        conn: &mut PgConnection,
        tenancy: &Tenancy,
    ) -> Result<Self, CatalogError> {
        check_role(conn, &tenancy.app_role).await?;
        let mut catalog = Self::default();
        catalog.read_roles_and_relations(conn, tenancy).await?;
        catalog.policies = policies(conn, &tenancy.schemas, &catalog.relations).await?;
        catalog.read_keys(conn, &tenancy.schemas).await?;
        catalog.finish(tenancy);
        Ok(catalog)
    }

    /// The same snapshot read over two connections at once: the first exports its snapshot and the
    /// second adopts it, so both see the same catalog state. Falls back to one connection where
    /// snapshots cannot be exported.
    pub async fn snapshot_parallel(
        options: &PgConnectOptions,
        tenancy: &Tenancy,
    ) -> Result<Self, CatalogError> {
        let begun = std::time::Instant::now();
        let mut first = PgConnection::connect_with(options).await?;
        tracing::debug!(elapsed = ?begun.elapsed(), "connected");
        check_role(&mut first, &tenancy.app_role).await?;
        sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut first)
            .await?;
        let exported: Result<String, sqlx::Error> =
            sqlx::query_scalar("SELECT pg_export_snapshot()")
                .fetch_one(&mut first)
                .await;
        let Ok(snapshot) = exported else {
            sqlx::raw_sql("ROLLBACK").execute(&mut first).await?;
            return Self::snapshot(&mut first, tenancy).await;
        };
        let mut second = PgConnection::connect_with(options).await?;
        sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut second)
            .await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "SET TRANSACTION SNAPSHOT {}",
            crate::sql::quote_literal(&snapshot)
        )))
        .execute(&mut second)
        .await?;
        tracing::debug!(elapsed = ?begun.elapsed(), "snapshot shared");
        let schemas = &tenancy.schemas;
        let mut catalog = Self::default();
        // Relations first (everything else maps column numbers with them); roles, functions and
        // views meanwhile on the second connection.
        let (relations, others) = tokio::join!(
            relations(&mut first, schemas, &tenancy.app_role),
            catalog.read_roles_and_views(&mut second, tenancy)
        );
        catalog.relations = relations?;
        others?;
        tracing::debug!(elapsed = ?begun.elapsed(), "relations, roles, functions, views read");
        let mut keys = Self {
            relations: catalog.relations.clone(),
            ..Self::default()
        };
        let (policies, read) = tokio::join!(
            policies(&mut first, schemas, &catalog.relations),
            keys.read_keys(&mut second, schemas)
        );
        catalog.policies = policies?;
        read?;
        tracing::debug!(elapsed = ?begun.elapsed(), "policies and keys read");
        catalog.constraints = keys.constraints;
        catalog.indexes = keys.indexes;
        catalog.inherits = keys.inherits;
        for conn in [first, second] {
            let _ = conn.close().await;
        }
        catalog.finish(tenancy);
        Ok(catalog)
    }

    /// The part of a snapshot that decides the tenant scope (`crate::catalog::TenantScope`):
    /// relations, keys, inheritance and views' dependencies, without policies, functions or roles.
    /// For checks that run often, such as the monitor's visibility sweep.
    pub async fn snapshot_scope(
        conn: &mut PgConnection,
        tenancy: &Tenancy,
    ) -> Result<Self, CatalogError> {
        check_role(conn, &tenancy.app_role).await?;
        let mut catalog = Self {
            relations: relations(conn, &tenancy.schemas, &tenancy.app_role).await?,
            view_deps: view_deps(conn, &tenancy.schemas).await?,
            ..Self::default()
        };
        catalog.read_keys(conn, &tenancy.schemas).await?;
        catalog.finish(tenancy);
        Ok(catalog)
    }

    async fn read_roles_and_relations(
        &mut self,
        conn: &mut PgConnection,
        tenancy: &Tenancy,
    ) -> Result<(), sqlx::Error> {
        self.relations = relations(conn, &tenancy.schemas, &tenancy.app_role).await?;
        self.read_roles_and_views(conn, tenancy).await
    }

    async fn read_roles_and_views(
        &mut self,
        conn: &mut PgConnection,
        tenancy: &Tenancy,
    ) -> Result<(), sqlx::Error> {
        let app = &tenancy.app_role;
        let schemas = &tenancy.schemas;
        self.roles = sqlx::query_as(
            "SELECT rolname::text AS name, rolsuper AS superuser, rolbypassrls AS bypassrls, rolname = $1 AS is_app,
                    rolname <> $1 AND pg_has_role($1, oid, 'MEMBER') AS app_is_member,
                    pg_has_role($1, oid, 'USAGE') AS app_has_privileges
             FROM pg_roles
             WHERE rolname = $1 OR pg_has_role($1, oid, 'MEMBER') OR rolsuper OR rolbypassrls",
        )
        .bind(app)
        .fetch_all(&mut *conn)
        .await?;
        self.view_deps = view_deps(conn, schemas).await?;
        self.functions = functions(conn, schemas, app).await?;
        Ok(())
    }

    async fn read_keys(
        &mut self,
        conn: &mut PgConnection,
        schemas: &[String],
    ) -> Result<(), sqlx::Error> {
        self.constraints = constraints(conn, schemas, &self.relations).await?;
        self.indexes = indexes(conn, schemas, &self.relations).await?;
        self.inherits = in_schemas(
            conn,
            "SELECT i.inhrelid::int8, i.inhparent::int8 FROM pg_inherits i
             JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'f')",
            schemas,
        )
        .await?;
        Ok(())
    }

    /// Derived facts: the oid lookup, and which policies apply to the app role (PUBLIC, the role
    /// itself, or a role whose privileges it has).
    fn finish(&mut self, tenancy: &Tenancy) {
        let privileged: Vec<&str> = self
            .roles
            .iter()
            .filter(|r| r.app_has_privileges)
            .map(|r| r.name.as_str())
            .collect();
        for p in &mut self.policies {
            p.applies_to_app = p.roles.iter().any(|r| {
                r == "public" || *r == tenancy.app_role || privileged.contains(&r.as_str())
            });
        }
        self.index();
    }

    /// Builds the oid lookup (call after changing `relations` by hand, as tests do).
    pub fn index(&mut self) {
        self.by_oid = self
            .relations
            .iter()
            .enumerate()
            .map(|(i, r)| (r.oid, i))
            .collect();
    }

    /// The tenants table when none is named: the table that single-column foreign keys on the
    /// tenant column reference most often (by its primary key).
    pub fn infer_tenants_table(&self, tenant_column: &str) -> Option<QualifiedName> {
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for fk in self
            .constraints
            .iter()
            .filter(|c| c.kind == 'f' && c.columns == [tenant_column])
        {
            let Some(target) = fk.ref_relid else { continue };
            let is_primary = self
                .constraints
                .iter()
                .any(|c| c.relid == target && c.kind == 'p' && c.columns == fk.ref_columns);
            if is_primary {
                *counts.entry(target).or_default() += 1;
            }
        }
        let best = counts
            .into_iter()
            .max_by_key(|(oid, n)| (*n, std::cmp::Reverse(*oid)))?;
        self.relation(best.0).map(|r| r.name.clone())
    }

    /// `tenancy`, with the tenants table inferred when it names none.
    pub fn complete(&self, tenancy: &Tenancy) -> Tenancy {
        let mut t = tenancy.clone();
        if t.tenants_table.is_none() {
            t.tenants_table = self.infer_tenants_table(&t.tenant_column);
        }
        t
    }

    pub fn relation(&self, oid: i64) -> Option<&Relation> {
        self.by_oid.get(&oid).map(|i| &self.relations[*i])
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }
}

/// (view or materialized view, relation it reads) in `schemas`.
async fn view_deps(
    conn: &mut PgConnection,
    schemas: &[String],
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    in_schemas(
        conn,
        "SELECT DISTINCT v.oid::int8, d.refobjid::int8
         FROM pg_class v
         JOIN pg_namespace n ON n.oid = v.relnamespace
         JOIN pg_rewrite r ON r.ev_class = v.oid
         JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
         WHERE v.relkind IN ('v', 'm') AND n.nspname = ANY($1) AND d.refobjid <> v.oid",
        schemas,
    )
    .await
}

#[derive(sqlx::FromRow)]
struct RelationRow {
    oid: i64,
    schema: String,
    name: String,
    kind: String,
    owner: String,
    rls_enabled: bool,
    rls_forced: bool,
    is_partition: bool,
    options: Vec<String>,
    app_is_owner: bool,
    #[sqlx(flatten)]
    app: Privileges,
    columns: Json<Vec<Column>>,
    extension: Option<String>,
}

async fn relations(
    conn: &mut PgConnection,
    schemas: &[String],
    app: &str,
) -> Result<Vec<Relation>, sqlx::Error> {
    let rows: Vec<RelationRow> = sqlx::query_as(
        "SELECT c.oid::int8 AS oid, n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind,
                pg_get_userbyid(c.relowner)::text AS owner, c.relrowsecurity AS rls_enabled,
                c.relforcerowsecurity AS rls_forced, c.relispartition AS is_partition,
                COALESCE(c.reloptions, '{}')::text[] AS options,
                pg_has_role($2, c.relowner, 'USAGE') AS app_is_owner,
                has_any_column_privilege($2, c.oid, 'SELECT') AS select,
                has_any_column_privilege($2, c.oid, 'INSERT') AS insert,
                has_any_column_privilege($2, c.oid, 'UPDATE') AS update,
                has_table_privilege($2, c.oid, 'DELETE') AS delete,
                has_table_privilege($2, c.oid, 'TRUNCATE') AS truncate,
                has_any_column_privilege($2, c.oid, 'REFERENCES') AS references,
                has_table_privilege($2, c.oid, 'TRIGGER') AS trigger,
                COALESCE((SELECT json_agg(json_build_object('num', a.attnum, 'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                                                           'not_null', a.attnotnull, 'identity', a.attidentity, 'generated', a.attgenerated,
                                                           'default', (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum))
                                            ORDER BY a.attnum)
                          FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns,
                (SELECT e.extname::text FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_extension'::regclass
                   AND d.deptype = 'e' LIMIT 1) AS extension
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND NOT (n.nspname = 'public' AND c.relname = '_sqlx_migrations')
         ORDER BY n.nspname, c.relname",
    )
    .bind(schemas)
    .bind(app)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Relation {
            oid: r.oid,
            name: QualifiedName::new(r.schema, r.name),
            kind: r.kind.chars().next().unwrap_or('r'),
            owner: r.owner,
            rls_enabled: r.rls_enabled,
            rls_forced: r.rls_forced,
            is_partition: r.is_partition,
            security_invoker: r.options.iter().any(|o| {
                let lower = o.to_ascii_lowercase();
                [
                    "security_invoker=true",
                    "security_invoker=on",
                    "security_invoker=1",
                    "security_invoker=yes",
                ]
                .contains(&lower.as_str())
            }),
            app_is_owner: r.app_is_owner,
            app: r.app,
            columns: r.columns.0,
            extension: r.extension,
        })
        .collect())
}

/// Policies with their expressions as SQL. `pg_get_expr` is by far the costliest catalog call, and
/// large schemas repeat a few policy texts over hundreds of tables, so each distinct expression is
/// deparsed once: expressions are grouped by their node tree (without source positions) and the
/// names of the columns they reference, which together determine the deparsed text.
async fn policies(
    conn: &mut PgConnection,
    schemas: &[String],
    relations: &[Relation],
) -> Result<Vec<Policy>, sqlx::Error> {
    let rows: Vec<PolicyRow> = in_schemas(
        &mut *conn,
        "SELECT p.oid::int8 AS oid, p.polrelid::int8 AS relid, p.polname::text AS name, p.polpermissive AS permissive,
                p.polcmd::text AS cmd,
                ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END FROM unnest(p.polroles) r) AS roles,
                p.polqual::text AS qual, p.polwithcheck::text AS checked
         FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY($1)
         ORDER BY p.polrelid, p.polname",
        schemas,
    )
    .await?;
    let columns = columns_by_relation(relations);
    // (node tree, referenced column names) → the policy oid and clause whose deparse stands for it.
    let mut representative: HashMap<ExprKey, (i64, bool)> = HashMap::new();
    let mut keys: Vec<[Option<ExprKey>; 2]> = Vec::with_capacity(rows.len());
    for row in &rows {
        let cols = columns.get(&row.relid).copied().unwrap_or(&[]);
        let mut pair = [None, None];
        for (slot, (tree, is_check)) in pair
            .iter_mut()
            .zip([(&row.qual, false), (&row.checked, true)])
        {
            if let Some(tree) = tree {
                let key = expression_key(tree, cols);
                representative
                    .entry(key.clone())
                    .or_insert((row.oid, is_check));
                *slot = Some(key);
            }
        }
        keys.push(pair);
    }
    let (quals, checks): (Vec<i64>, Vec<i64>) = {
        let mut q = Vec::new();
        let mut c = Vec::new();
        for (oid, is_check) in representative.values() {
            if *is_check {
                c.push(*oid)
            } else {
                q.push(*oid)
            }
        }
        (q, c)
    };
    let deparsed: Vec<(i64, bool, Option<String>)> = sqlx::query_as(
        "SELECT oid::int8, false, pg_get_expr(polqual, polrelid) FROM pg_policy WHERE oid = ANY($1::int8[]::oid[])
         UNION ALL
         SELECT oid::int8, true, pg_get_expr(polwithcheck, polrelid) FROM pg_policy WHERE oid = ANY($2::int8[]::oid[])",
    )
    .bind(&quals)
    .bind(&checks)
    .fetch_all(conn)
    .await?;
    let text: HashMap<(i64, bool), Option<String>> = deparsed
        .into_iter()
        .map(|(oid, is_check, t)| ((oid, is_check), t))
        .collect();
    let lookup = |key: &Option<ExprKey>| -> Option<String> {
        key.as_ref()
            .and_then(|k| representative.get(k))
            .and_then(|rep| text.get(rep).cloned().flatten())
    };
    Ok(rows
        .into_iter()
        .zip(&keys)
        .map(|(row, [qual_key, check_key])| Policy {
            relid: row.relid,
            name: row.name,
            permissive: row.permissive,
            cmd: row.cmd.chars().next().unwrap_or('*'),
            roles: row.roles,
            applies_to_app: false,
            using: lookup(qual_key),
            check: lookup(check_key),
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    oid: i64,
    relid: i64,
    name: String,
    permissive: bool,
    cmd: String,
    roles: Vec<String>,
    qual: Option<String>,
    checked: Option<String>,
}

/// A policy expression's node tree (without source positions) and the column names it uses.
type ExprKey = (String, Vec<String>);

/// What determines an expression's deparsed text: its node tree without source positions, and the
/// names of the policy table's columns at every attribute number it mentions.
fn expression_key(tree: &str, columns: &[Column]) -> ExprKey {
    let mut normalised = String::with_capacity(tree.len());
    let mut names = Vec::new();
    let mut rest = tree;
    while let Some(at) = rest.find(":location ") {
        normalised.push_str(&rest[..at]);
        let after = &rest[at + ":location ".len()..];
        rest = after.trim_start_matches(|c: char| c == '-' || c.is_ascii_digit());
    }
    normalised.push_str(rest);
    let mut scan = tree;
    while let Some(at) = scan.find(":varattno ") {
        scan = &scan[at + ":varattno ".len()..];
        let digits: String = scan
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        if let Ok(num) = digits.parse::<i16>() {
            names.push(
                columns
                    .iter()
                    .find(|c| c.num == num)
                    .map_or_else(|| format!("#{num}"), |c| c.name.clone()),
            );
        }
    }
    (normalised, names)
}

async fn check_role(conn: &mut PgConnection, role: &str) -> Result<(), CatalogError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(conn)
            .await?;
    if exists {
        Ok(())
    } else {
        Err(CatalogError::NoSuchRole(role.to_owned()))
    }
}

/// Runs a catalog query whose `$1` is the list of schemas in scope.
async fn in_schemas<R>(
    conn: &mut PgConnection,
    sql: &'static str,
    schemas: &[String],
) -> Result<Vec<R>, sqlx::Error>
where
    R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    sqlx::query_as(sql).bind(schemas).fetch_all(conn).await
}

/// Each relation's columns by oid, to name the attribute numbers that catalog rows carry.
fn columns_by_relation(relations: &[Relation]) -> HashMap<i64, &[Column]> {
    relations
        .iter()
        .map(|r| (r.oid, r.columns.as_slice()))
        .collect()
}

/// Maps attribute numbers to column names with the relations already read (no per-row subqueries).
fn column_names(columns: &HashMap<i64, &[Column]>, relid: i64, nums: &[i16]) -> Vec<String> {
    let cols = columns.get(&relid).copied().unwrap_or(&[]);
    nums.iter()
        .map(|n| {
            cols.iter()
                .find(|c| c.num == *n)
                .map_or_else(String::new, |c| c.name.clone())
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct ConstraintRow {
    relid: i64,
    name: String,
    kind: String,
    keys: Vec<i16>,
    ref_relid: Option<i64>,
    ref_keys: Option<Vec<i16>>,
}

async fn constraints(
    conn: &mut PgConnection,
    schemas: &[String],
    relations: &[Relation],
) -> Result<Vec<Constraint>, sqlx::Error> {
    // Constraints a partition inherited from its parent (conparentid <> 0) are the parent's.
    let rows: Vec<ConstraintRow> = in_schemas(
        conn,
        "SELECT con.conrelid::int8 AS relid, con.conname::text AS name, con.contype::text AS kind, con.conkey AS keys,
                NULLIF(con.confrelid, 0)::int8 AS ref_relid, con.confkey AS ref_keys
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY($1) AND con.contype IN ('p', 'u', 'f') AND con.conparentid = 0",
        schemas,
    )
    .await?;
    let columns = columns_by_relation(relations);
    Ok(rows
        .into_iter()
        .map(
            |ConstraintRow {
                 relid,
                 name,
                 kind,
                 keys,
                 ref_relid,
                 ref_keys,
             }| Constraint {
                columns: column_names(&columns, relid, &keys),
                ref_columns: ref_relid
                    .map(|r| column_names(&columns, r, &ref_keys.unwrap_or_default()))
                    .unwrap_or_default(),
                relid,
                name,
                kind: kind.chars().next().unwrap_or('u'),
                ref_relid,
            },
        )
        .collect())
}

#[derive(sqlx::FromRow)]
struct IndexRow {
    relid: i64,
    name: String,
    unique: bool,
    partial: bool,
    keys: Vec<i16>,
    key_count: i16,
    backs_constraint: bool,
}

async fn indexes(
    conn: &mut PgConnection,
    schemas: &[String],
    relations: &[Relation],
) -> Result<Vec<Index>, sqlx::Error> {
    let rows: Vec<IndexRow> = in_schemas(
        conn,
        "SELECT i.indrelid::int8 AS relid, ic.relname::text AS name, i.indisunique AS unique, i.indpred IS NOT NULL AS partial,
                string_to_array(i.indkey::text, ' ')::int2[] AS keys, i.indnkeyatts AS key_count,
                i.indexrelid IN (SELECT conindid FROM pg_constraint WHERE contype IN ('p', 'u')) AS backs_constraint
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY($1)",
        schemas,
    )
    .await?;
    let columns = columns_by_relation(relations);
    Ok(rows
        .into_iter()
        .map(
            |IndexRow {
                 relid,
                 name,
                 unique,
                 partial,
                 keys,
                 key_count,
                 backs_constraint,
             }| {
                // Attribute number 0 is an expression; "" stands for it. INCLUDE columns are not keys.
                let keys: Vec<i16> = keys
                    .into_iter()
                    .take(usize::try_from(key_count).unwrap_or(0))
                    .collect();
                Index {
                    columns: column_names(&columns, relid, &keys),
                    relid,
                    name,
                    unique,
                    partial,
                    backs_constraint,
                }
            },
        )
        .collect())
}

#[derive(sqlx::FromRow)]
struct FunctionRow {
    oid: i64,
    schema: String,
    name: String,
    args: String,
    security_definer: bool,
    config: Vec<String>,
    leakproof: bool,
    returns_set: bool,
    return_type: String,
    arg_types: Vec<String>,
    language: String,
    source: String,
    app_can_execute: bool,
    owner: String,
    in_scope: bool,
    volatility: String,
    extension: Option<String>,
    trusted_language: bool,
}

async fn functions(
    conn: &mut PgConnection,
    schemas: &[String],
    app: &str,
) -> Result<Vec<Function>, sqlx::Error> {
    // Functions in scope, plus user-defined LEAKPROOF functions anywhere (they weaken every
    // security barrier in the database, wherever they live).
    let rows: Vec<FunctionRow> = sqlx::query_as(
        "SELECT p.oid::int8 AS oid, n.nspname::text AS schema, p.proname::text AS name,
                oidvectortypes(p.proargtypes) AS args, p.prosecdef AS security_definer,
                COALESCE(p.proconfig, '{}')::text[] AS config, p.proleakproof AS leakproof, p.proretset AS returns_set,
                format_type(p.prorettype, NULL) AS return_type,
                ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) t) AS arg_types,
                l.lanname::text AS language, COALESCE(p.prosrc, '') AS source,
                has_function_privilege($2, p.oid, 'EXECUTE') AS app_can_execute,
                pg_get_userbyid(p.proowner)::text AS owner, n.nspname = ANY($1) AS in_scope,
                p.provolatile::text AS volatility, l.lanpltrusted AS trusted_language,
                (SELECT e.extname::text FROM pg_depend dep JOIN pg_extension e ON e.oid = dep.refobjid
                  WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid
                    AND dep.refclassid = 'pg_extension'::regclass AND dep.deptype = 'e' LIMIT 1) AS extension
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
         WHERE p.prokind IN ('f', 'p')
           AND (n.nspname = ANY($1) OR (p.proleakproof AND p.oid >= 16384))",
    )
    .bind(schemas)
    .bind(app)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Function {
            oid: r.oid,
            signature: format!("{}.{}({})", r.schema, r.name, r.args),
            name: QualifiedName::new(r.schema, r.name),
            security_definer: r.security_definer,
            config: r.config,
            leakproof: r.leakproof,
            returns_set: r.returns_set,
            return_type: r.return_type,
            arg_types: r.arg_types,
            language: r.language,
            source: r.source,
            app_can_execute: r.app_can_execute,
            owner: r.owner,
            in_scope: r.in_scope,
            user_defined: r.oid >= 16384,
            volatility: r.volatility.chars().next().unwrap_or('v'),
            extension: r.extension,
            trusted_language: r.trusted_language,
        })
        .collect())
}
