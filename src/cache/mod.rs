//! `tenantprobe cache`: learns the tenants and their values from the database (`learn`), runs the
//! shared Redis key check (`crate::checks::keys`, re-exported here) and, with `--dynamic`, checks
//! through the API that no cached answer crosses tenants (`cross_check`).

pub mod cross_check;
pub mod learn;

pub use crate::checks::keys::*;
pub use cross_check::cross_check;
pub use learn::{LearnOptions, Learned, learn};

/// The tenants the database knows: the tenants table's key as text and, when the table has a
/// `slug` column, the slug (keys may use either). The tenants table is the spec's, or inferred
/// from foreign keys. `learn` also reads what each tenant's rows hold.
pub async fn known_tenants(
    conn: &mut sqlx::PgConnection,
    tenancy: &crate::tenancy::Tenancy,
) -> Result<Vec<KnownTenant>, crate::catalog::CatalogError> {
    let options = LearnOptions {
        rows_per_tenant: 0,
        ..LearnOptions::default()
    };
    Ok(learn(conn, tenancy, options).await?.tenants)
}
