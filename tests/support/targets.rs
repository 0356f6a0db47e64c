//! The HTTP target of a spec and its two test tenants, obtained as the attack, admin and cache
//! tests all need them (`http_target_and_tenants`), and reference app options with one fault
//! switched on (`one_fault`).

use reference_app::faults::{Fault, Faults};
use tenantprobe::spec::Spec;
use tenantprobe::target::{Env, HttpTarget, Tenant, obtain_tenants};
use tenantprobe_testkit::reference::Options;

/// `spec`'s API under `env`, and the tenants `slugs` obtained through it as the spec's
/// `[tenants]` says (an empty `slugs` when the spec names its own).
pub async fn http_target_and_tenants(
    spec: &Spec,
    env: Env<'_>,
    slugs: &[&str],
) -> (HttpTarget, Vec<Tenant>) {
    let target = HttpTarget::resolve(spec, env).unwrap();
    let slugs: Vec<String> = slugs.iter().map(|s| (*s).to_owned()).collect();
    let tenants = obtain_tenants(spec, env, &slugs, &reqwest::Client::new(), Some(&target))
        .await
        .unwrap();
    (target, tenants)
}

/// The default reference app with `fault` planted.
pub fn one_fault(fault: Fault) -> Options {
    Options {
        faults: [fault].into_iter().collect::<Faults>(),
        ..Options::default()
    }
}
