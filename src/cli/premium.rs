//! The premium databases a spec's `placements_query` lists, for the commands that run on each
//! database (`premium_databases`).

use tenantprobe::Error;
use tenantprobe::checks::placement::{self, PremiumDatabase};
use tenantprobe::target::DatabaseTarget;

/// The premium databases, or `None` when the spec declares no `placements_query`.
pub async fn premium_databases(db: &DatabaseTarget) -> Result<Option<Vec<PremiumDatabase>>, Error> {
    let Some(query) = db.placements_query.as_deref() else {
        return Ok(None);
    };
    let mut conn = db.connect().await?;
    let listed = placement::list(&mut conn, query).await;
    let _ = sqlx::Connection::close(conn).await;
    Ok(Some(listed.map_err(Error::failed)?))
}

/// The tenancy on one premium database: its own app role when the catalog names one.
pub fn tenancy_for(
    tenancy: &tenantprobe::tenancy::Tenancy,
    premium: &PremiumDatabase,
) -> tenantprobe::tenancy::Tenancy {
    let mut tenancy = tenancy.clone();
    if let Some(role) = &premium.app_role {
        tenancy.app_role.clone_from(role);
    }
    tenancy
}
