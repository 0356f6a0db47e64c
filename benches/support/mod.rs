//! What the HTTP benches share: the reference app as the reference spec's API target, with test
//! tenants of its own.

use tenantprobe::target::{HttpTarget, Tenant, obtain_tenants};
use tenantprobe_testkit::provision::ReferenceDatabase;
use tenantprobe_testkit::reference::ReferenceApp;

/// The reference spec's API target for `app`, and the test tenants `slugs`, provisioned as the
/// spec says.
pub async fn reference_target(
    app: &ReferenceApp,
    db: &ReferenceDatabase,
    redis_url: Option<&str>,
    slugs: &[String],
) -> anyhow::Result<(HttpTarget, Vec<Tenant>)> {
    let spec = tenantprobe::spec::Spec::parse(
        tenantprobe_testkit::reference::SPEC,
        tenantprobe_testkit::reference::SPEC_PATH,
    )?;
    let env = app.env(db, redis_url);
    let target = HttpTarget::resolve(&spec, &env)?;
    let tenants =
        obtain_tenants(&spec, &env, slugs, &reqwest::Client::new(), Some(&target)).await?;
    Ok((target, tenants))
}
