//! tenantprobe proves that a multi-tenant SaaS keeps its tenants apart: a catalog audit,
//! property-based cross-tenant attacks on the database and the API, Redis key checks, and a
//! production probe. The binary (`src/main.rs`, `src/cli/`) is a thin layer over this library.

pub mod attack;
pub mod audit;
pub mod cache;
pub mod error;
pub mod exit;
pub mod finding;
pub mod marker;
pub mod monitor;
pub mod oracle;
pub mod placement;
pub mod redact;
pub mod report;
pub mod rules;
pub mod session;
pub mod spec;
pub mod sql;
pub mod target;
pub mod tenancy;
pub mod visibility;

pub use error::Error;
