//! The tenancy conventions of a target (`Tenancy`): which column carries the tenant, which
//! setting holds the current tenant, which role the application connects as.

pub mod scope;

pub use scope::{Scope, ScopeError, check_scope};

use crate::sql::QualifiedName;

/// How a shared-schema database marks and selects tenants. Nothing in tenantprobe assumes the
/// reference schema's names; they all come from here.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tenancy {
    /// Column that carries the tenant on every tenant table (`tenant_id`).
    pub tenant_column: String,
    /// Custom setting the policies read (`app.current_tenant`).
    pub tenant_setting: String,
    /// Role the application connects as; RLS must hold for it (`app_user`).
    pub app_role: String,
    /// Table whose rows are the tenants, keyed by its primary key (optional).
    pub tenants_table: Option<QualifiedName>,
    /// Schemas to examine (`public`).
    pub schemas: Vec<String>,
}

impl Default for Tenancy {
    fn default() -> Self {
        Self {
            tenant_column: "tenant_id".into(),
            tenant_setting: "app.current_tenant".into(),
            app_role: "app_user".into(),
            tenants_table: None,
            schemas: vec!["public".into()],
        }
    }
}

impl Tenancy {
    /// The conventions of the bundled reference schema.
    pub fn reference() -> Self {
        Self {
            tenants_table: Some(QualifiedName::new("public", "tenants")),
            ..Self::default()
        }
    }
}
