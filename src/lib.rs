//! tenantprobe proves that a multi-tenant SaaS keeps its tenants apart: a catalog audit,
//! property-based cross-tenant attacks on the database and the API, Redis key checks, and a
//! production probe. The binary (`src/main.rs`, `src/cli/`) is a thin layer over this library.
//!
//! Layers: the CLI, `registry`, `report` and `demo` compose the engines (`audit`, `attack::db`,
//! `attack::http`, `attack::admin`, `attack::noisy`, `cache`, `monitor`); each engine uses only
//! its own modules and the primitives below it (`catalog`, `actor`, `checks`, `spec`, `target`,
//! `finding`, `oracle`, `sql`, …), never another engine. `tests/architecture.rs` holds that.

pub mod actor;
pub mod attack;
pub mod audit;
pub mod cache;
pub mod catalog;
pub mod checks;
pub mod error;
pub mod exit;
pub mod finding;
pub mod marker;
pub mod monitor;
pub mod oracle;
pub mod progress;
pub mod redact;
pub mod registry;
pub mod report;
pub mod rules;
pub mod session;
pub mod spec;
pub mod sql;
pub mod target;
pub mod tenancy;

pub use error::Error;
