//! Which relations hold tenant data (`TenantScope`), decided once over a catalog snapshot: the
//! audit's rules, the database attack's plan, the visibility sweep of `monitor` and `demo`, and the
//! pooled-connection check all read it, so no two of them can disagree about a relation.

use std::collections::{HashMap, HashSet};

use super::snapshot::{Catalog, Column, Relation};
use crate::sql::QualifiedName;
use crate::tenancy::Tenancy;

/// The tenant relations of one snapshot under one tenancy.
#[derive(Debug, Clone, Default)]
pub struct TenantScope {
    /// The tenants table: the spec's, or the one foreign keys on the tenant column point at.
    pub tenants_table: Option<QualifiedName>,
    /// Relations keyed by tenant, by oid: the tenant column, or the tenants table's primary key.
    pub tenant_key: HashMap<i64, String>,
    /// Relations that hold tenant data: the keyed ones and those tied to them by foreign keys,
    /// inheritance or a view's dependencies.
    pub tenant_data: HashSet<i64>,
}

impl TenantScope {
    pub fn new(catalog: &Catalog, tenancy: &Tenancy) -> Self {
        let tenants_table = catalog.complete(tenancy).tenants_table;
        let is_tenants_table = |oid: i64| {
            catalog
                .relation(oid)
                .is_some_and(|r| Some(&r.name) == tenants_table.as_ref())
        };
        let mut tenant_key = HashMap::new();
        for rel in &catalog.relations {
            if Some(&rel.name) == tenants_table.as_ref() {
                let pk = catalog
                    .constraints
                    .iter()
                    .find(|c| c.relid == rel.oid && c.kind == 'p' && c.columns.len() == 1);
                if let Some(pk) = pk {
                    tenant_key.insert(rel.oid, pk.columns[0].clone());
                }
            } else if rel.column(&tenancy.tenant_column).is_some() {
                tenant_key.insert(rel.oid, tenancy.tenant_column.clone());
            }
        }
        // Tenant data spreads along foreign keys: a row that references a tenant's row is that
        // tenant's, with or without the tenant column; partitions and children inherit it.
        let mut tenant_data: HashSet<i64> = tenant_key.keys().copied().collect();
        loop {
            let before = tenant_data.len();
            for fk in catalog.constraints.iter().filter(|c| c.kind == 'f') {
                if fk.ref_relid.is_some_and(|r| tenant_data.contains(&r))
                    && !is_tenants_table(fk.relid)
                {
                    tenant_data.insert(fk.relid);
                }
            }
            for (child, parent) in &catalog.inherits {
                if tenant_data.contains(parent) {
                    tenant_data.insert(*child);
                }
            }
            for (view, rel) in &catalog.view_deps {
                if tenant_data.contains(rel) {
                    tenant_data.insert(*view);
                }
            }
            if tenant_data.len() == before {
                break;
            }
        }
        Self {
            tenants_table,
            tenant_key,
            tenant_data,
        }
    }

    pub fn is_tenant_data(&self, rel: &Relation) -> bool {
        self.tenant_data.contains(&rel.oid)
    }

    /// The relations keyed by tenant, with their key column, in the snapshot's (name) order.
    pub fn keyed<'c>(&self, catalog: &'c Catalog) -> Vec<(&'c Relation, &'c Column)> {
        catalog
            .relations
            .iter()
            .filter_map(|rel| Some((rel, rel.column(self.tenant_key.get(&rel.oid)?)?)))
            .collect()
    }
}
