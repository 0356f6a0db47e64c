//! The multi-tenant reference API that tenantprobe tests against: correct by default, with
//! switchable, clearly labelled isolation faults (`faults`).
//!
//! The architecture: the tenant comes from a verified JWT and, when present, a matching
//! subdomain, with a membership check (`tenant`); every database touch goes through
//! `TenantDb::run`, a transaction that sets the tenant transaction-locally (`db`) on the tenant's
//! pool (`pools`: per plan or per large tenant, e.g. PgBouncer entries); cache keys carry
//! the tenant (`cache`); each tenant has its own rate limit (`rate_limit`); every log line carries
//! the request and tenant ids (`telemetry`).

pub mod admin;
pub mod auth;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod db;
pub mod error;
pub mod faults;
pub mod migrations;
pub mod pools;
pub mod promote;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod tenant;
pub mod tenant_slots;
