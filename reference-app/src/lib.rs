//! The multi-tenant reference API that tenantprobe tests against: correct by default, with
//! switchable, clearly labelled isolation faults.

pub mod migrations;
