//! The actors that speak to a target's API: who they are (`Identity`), their own HTTP client and
//! connection pool (`Client`), the resources they seed and clean up (`world`), and the values a
//! request carries or an answer yields (`values`). Attack http, the cache cross-check, attack
//! noisy and the monitor all act through this layer.

pub mod client;
mod error;
pub mod identity;
pub mod values;
pub mod world;

pub use client::{Client, Credentials, Exchange};
pub use error::ActorError;

/// What sets an API's URL, for an "unreachable" error to name.
pub const API_URL_SOURCE: &str = "the spec's base_url_env or --base-url";
pub use identity::{Identity, NoToken, identities};
pub use values::{json_text, values_for};
