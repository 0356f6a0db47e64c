//! The canary marker of a synthetic tenant (`marker_for`): the text every value it owns carries,
//! so that the oracle can attribute what it sees.

/// Fixed-length and derived from the slug, so it is stable across runs (re-provisioning is
/// idempotent) and no marker is a substring of another.
pub fn marker_for(slug: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(slug.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("tpcanary{hex}")
}
