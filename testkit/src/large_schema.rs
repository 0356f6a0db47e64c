//! A generator of large, correct multi-tenant schemas (`sql`), for benchmarks: thousands of tenant
//! tables with forced RLS and tenant policies, composite foreign keys, tenant-leading indexes,
//! hash-partitioned tables and security_invoker views.

/// The shape of a generated schema.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Plain tenant tables (every fourth references the one before through a composite key).
    pub tables: usize,
    /// Hash-partitioned tenant tables.
    pub partitioned: usize,
    /// Partitions of each partitioned table.
    pub partitions_each: usize,
}

impl Shape {
    /// ≈ 2,000 tenant tables: 1,600 plain, 100 partitioned × 4 partitions.
    pub const LARGE: Shape = Shape {
        tables: 1600,
        partitioned: 100,
        partitions_each: 4,
    };

    pub fn total_tables(&self) -> usize {
        self.tables + self.partitioned * (1 + self.partitions_each)
    }
}

const POLICY: &str =
    "tenant_id = (SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid)";

fn secure(out: &mut String, table: &str) {
    out.push_str(&format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\nALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
         CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY});\n"
    ));
}

/// Tables per batch: one batch is one implicit transaction, and each table holds a few locks until
/// commit, so batches keep within a stock server's lock table (`max_locks_per_transaction`).
const BATCH: usize = 100;

/// SQL batches (run them in order, each on its own) that create the schema `schema` and grant
/// `app_role` what an app needs. Run them as the owner role (not the app role).
pub fn sql(schema: &str, app_role: &str, shape: Shape) -> Vec<String> {
    let mut batches = Vec::new();
    let mut out = format!(
        "CREATE SCHEMA {schema};\nSET search_path = {schema};\nGRANT USAGE ON SCHEMA {schema} TO {app_role};\n\
         CREATE TABLE tenants (id uuid PRIMARY KEY, name text NOT NULL);\n"
    );
    out.push_str(&format!(
        "ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;\nALTER TABLE tenants FORCE ROW LEVEL SECURITY;\n\
         CREATE POLICY tenant_isolation ON tenants USING (id = (SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid));\n\
         GRANT SELECT ON tenants TO {app_role};\n"
    ));
    for i in 0..shape.tables {
        if i % BATCH == BATCH - 1 {
            batches.push(std::mem::replace(
                &mut out,
                format!("SET search_path = {schema};\n"),
            ));
        }
        let t = format!("t{i:05}");
        let reference = if i % 4 == 3 {
            format!(
                ",\n  parent_id uuid NOT NULL,\n  FOREIGN KEY (tenant_id, parent_id) REFERENCES t{:05} (tenant_id, id)",
                i - 1
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "CREATE TABLE {t} (\n  tenant_id uuid NOT NULL REFERENCES tenants (id),\n  id uuid NOT NULL,\n  name text NOT NULL,\n  \
             amount numeric,\n  created_at timestamptz NOT NULL DEFAULT now(),\n  PRIMARY KEY (tenant_id, id),\n  UNIQUE (tenant_id, name){reference}\n);\n\
             CREATE INDEX {t}_created ON {t} (tenant_id, created_at);\n"
        ));
        secure(&mut out, &t);
        out.push_str(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {app_role};\n"
        ));
        if i % 50 == 0 {
            out.push_str(&format!(
                "CREATE VIEW {t}_summary WITH (security_invoker = true) AS SELECT tenant_id, count(*) AS n FROM {t} GROUP BY tenant_id;\n\
                 GRANT SELECT ON {t}_summary TO {app_role};\n"
            ));
        }
    }
    for i in 0..shape.partitioned {
        if i % (BATCH / (1 + shape.partitions_each)).max(1) == 0 {
            batches.push(std::mem::replace(
                &mut out,
                format!("SET search_path = {schema};\n"),
            ));
        }
        let p = format!("p{i:04}");
        out.push_str(&format!(
            "CREATE TABLE {p} (tenant_id uuid NOT NULL REFERENCES tenants (id), id uuid NOT NULL, body text, \
             PRIMARY KEY (tenant_id, id)) PARTITION BY HASH (tenant_id);\n"
        ));
        secure(&mut out, &p);
        for r in 0..shape.partitions_each {
            let part = format!("{p}_{r}");
            out.push_str(&format!("CREATE TABLE {part} PARTITION OF {p} FOR VALUES WITH (MODULUS {}, REMAINDER {r});\n", shape.partitions_each));
            secure(&mut out, &part);
        }
        out.push_str(&format!("GRANT SELECT, INSERT ON {p} TO {app_role};\n"));
    }
    out.push_str("RESET search_path;\n");
    batches.push(out);
    batches
}
