//! What tenantprobe's tests, benches and demo run against, kept out of the published tool:
//! throwaway or existing servers (`servers`), reference databases (`provision`), the in-process
//! reference app (`reference`), synthetic tenants in it (`synthetic`) and a generator of large
//! schemas (`large_schema`).

pub mod large_schema;
pub mod provision;
pub mod reference;
pub mod servers;
pub mod sql;
pub mod synthetic;
