//! Synthetic tenants in the reference schema (`SyntheticTenant`): provisioned idempotently by
//! slug, every row carrying the tenant's canary marker, so anything seen elsewhere is attributable.

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// A tenant tenantprobe created and owns, with the ids of everything it seeded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyntheticTenant {
    pub id: Uuid,
    pub slug: String,
    /// Text that appears in every text value this tenant owns.
    pub marker: String,
    pub user_id: Uuid,
    pub user_email: String,
    pub project_ids: Vec<Uuid>,
    pub task_ids: Vec<Uuid>,
}

impl SyntheticTenant {
    /// Every value registered to this tenant: ids and the marker.
    pub fn owned_values(&self) -> Vec<String> {
        let mut values = vec![
            self.id.to_string(),
            self.user_id.to_string(),
            self.marker.clone(),
        ];
        values.extend(
            self.project_ids
                .iter()
                .chain(&self.task_ids)
                .map(Uuid::to_string),
        );
        values
    }
}

/// Creates the tenant `slug` with one owner user, two projects, three tasks and an audit event,
/// unless it exists; returns it either way. Runs as a role that may write every tenant (the
/// owner), in one transaction.
pub async fn provision_reference(
    conn: &mut PgConnection,
    slug: &str,
) -> Result<SyntheticTenant, sqlx::Error> {
    let marker = marker_for(slug);
    let mut tx = conn.begin().await?;
    let existing: Option<Uuid> = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(&mut *tx)
        .await?;
    let id = match existing {
        Some(id) => id,
        None => {
            sqlx::query_scalar(
                "INSERT INTO tenants (name, slug, plan, settings) VALUES ($1, $2, 'pro', jsonb_build_object('synthetic', true, 'marker', $3::text)) RETURNING id",
            )
            .bind(format!("Synthetic {slug} {marker}"))
            .bind(slug)
            .bind(&marker)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    if existing.is_none() {
        seed_rows(&mut tx, id, &marker).await?;
    }
    let (user_id, user_email): (Uuid, String) = sqlx::query_as(
        "SELECT id, email FROM users WHERE tenant_id = $1 ORDER BY created_at, id LIMIT 1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let project_ids =
        sqlx::query_scalar("SELECT id FROM projects WHERE tenant_id = $1 ORDER BY name")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    let task_ids = sqlx::query_scalar("SELECT id FROM tasks WHERE tenant_id = $1 ORDER BY title")
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(SyntheticTenant {
        id,
        slug: slug.to_owned(),
        marker,
        user_id,
        user_email,
        project_ids,
        task_ids,
    })
}

/// The canary marker of a synthetic tenant: fixed-length and derived from the slug, so it is stable
/// across runs (re-provisioning is idempotent) and no marker is a substring of another. The same
/// as `tenantprobe::marker::marker_for`, which derives the markers of spec tenants (the kit does
/// not depend on the tool; `tenantprobe-demo`'s tests check that the two agree).
pub fn marker_for(slug: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(slug.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("tpcanary{hex}")
}

async fn seed_rows(tx: &mut PgConnection, tenant: Uuid, marker: &str) -> Result<(), sqlx::Error> {
    let user: Uuid = sqlx::query_scalar(
        "INSERT INTO users (tenant_id, email, role) VALUES ($1, $2, 'owner') RETURNING id",
    )
    .bind(tenant)
    .bind(format!("owner+{marker}@example.test"))
    .fetch_one(&mut *tx)
    .await?;
    for (p, tasks) in [("alpha", 2), ("beta", 1)] {
        let project: Uuid = sqlx::query_scalar(
            "INSERT INTO projects (tenant_id, name) VALUES ($1, $2) RETURNING id",
        )
        .bind(tenant)
        .bind(format!("{p} {marker}"))
        .fetch_one(&mut *tx)
        .await?;
        for t in 0..tasks {
            sqlx::query("INSERT INTO tasks (tenant_id, project_id, assignee_id, title) VALUES ($1, $2, $3, $4)")
                .bind(tenant)
                .bind(project)
                .bind(user)
                .bind(format!("{p} task {t} {marker}"))
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query("INSERT INTO audit_events (tenant_id, actor, action, detail) VALUES ($1, 'tenantprobe', 'synthetic.provisioned', jsonb_build_object('marker', $2::text))")
        .bind(tenant)
        .bind(marker)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
