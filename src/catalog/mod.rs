//! The database's catalog as every engine sees it: one snapshot (`Catalog`), one definition of
//! which relations hold tenant data (`TenantScope`), and how a key's values are picked (`Picker`).
//! The audit judges it, `attack db` plans from it, `cache learn` and the visibility sweep read
//! their tenant relations from it, so they cannot disagree.

pub mod picker;
pub mod scope;
pub mod snapshot;

pub use picker::Picker;
pub use scope::TenantScope;
pub use snapshot::*;
