//! The values an actor's requests carry (`values_for`: its slug, tenant id, user, marker, the item
//! and parent ids), rendered into path, query and body templates.

use crate::spec::Values;
use crate::target::TestTenant;

pub use crate::sql::json_text;

/// The placeholder values of a request by `tenant`.
pub fn values_for(
    tenant: &TestTenant,
    marker: &str,
    id: Option<&str>,
    parent: Option<&str>,
) -> Values {
    let mut v: Values = [
        ("slug".to_owned(), tenant.slug.clone()),
        ("tenant_id".to_owned(), tenant.tenant_id.clone()),
        (
            "user_id".to_owned(),
            tenant.user_id.clone().unwrap_or_default(),
        ),
        ("marker".to_owned(), marker.to_owned()),
        ("name".to_owned(), format!("tenantprobe {marker}")),
        ("email".to_owned(), format!("{marker}@tenantprobe.invalid")),
    ]
    .into();
    if let Some(id) = id {
        v.insert("id".into(), id.to_owned());
    }
    if let Some(parent) = parent {
        v.insert("parent_id".into(), parent.to_owned());
    }
    v
}
